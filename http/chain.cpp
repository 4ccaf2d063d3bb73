#include "http/chain.hpp"

#include "http/framing.hpp"
#include "http/steps.hpp"

namespace referrald::http {

namespace {

// The body's limit checked and the body read, by the source of the request (a connection
// reads it from its socket; a forwarded request has it already).
class body_step final : public step {
 public:
  std::string_view name() const override { return "body"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    std::size_t limit = ex.match.entry->body_limit;
    auto length = ex.parser->content_length();
    if (length && *length > limit) return verdict::reply(too_large(limit));
    ex.parser->body_limit(limit);
    return f.source().take_body(ex, f.at() + 1) ? verdict::next() : verdict::wait();
  }
};

}  // namespace

std::unique_ptr<step> make_body_step() { return std::make_unique<body_step>(); }

std::optional<response> chain::run(exchange& ex, conversation& c, std::size_t at) const {
  for (std::size_t i = at; i < steps_.size(); ++i) {
    verdict v = steps_[i]->request(flow(ex, c, i));
    if (v.kind == verdict::go_on) continue;
    if (v.kind == verdict::waiting) return std::nullopt;
    return std::move(v.answer);
  }
  return failure(domain::make_error(domain::errc::internal, "no step answered the request"));
}

void chain::respond(exchange& ex, response& r) const {
  if (!r.forwarded) r.headers.reserve(r.headers.size() + 8);  // one allocation for them all
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
    if (r.forwarded && !(*it)->adds_to_relayed()) continue;
    (*it)->respond(ex, r);
  }
}

chain make_chain(const chain_parts& parts) {
  std::vector<std::unique_ptr<step>> steps;
  steps.push_back(make_request_id_step());
  steps.push_back(make_routing_step(parts));
  steps.push_back(make_authentication_step(parts));
  steps.push_back(make_publishable_step(parts));
  steps.push_back(make_cors_step(parts));
  steps.push_back(make_rate_limit_step(parts));
  steps.push_back(make_body_step());
  steps.push_back(make_query_step());
  steps.push_back(make_tenant_step());
  steps.push_back(make_owners_step(parts));
  steps.push_back(make_members_step(parts));
  steps.push_back(make_idempotency_step(parts));
  steps.push_back(make_entity_tag_step());
  steps.push_back(make_handler_step(parts));
  return chain(std::move(steps));
}

}  // namespace referrald::http
