#include "http/forwarding.hpp"

#include <charconv>
#include <memory>
#include <mutex>
#include <vector>

#include "http/framing.hpp"
#include "http/request_id.hpp"
#include "http/steps.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

namespace bhttp = boost::beast::http;

std::string encode_forwarded_request(const exchange& ex, const std::string& request_id) {
  auto& req = ex.head();
  std::string out;
  out.reserve(512 + req.body().size());
  out.append(req.method_string().data(), req.method_string().size());
  out += ' ';
  out += ex.target;
  out += " HTTP/1.1\r\n";
  for (const auto& f : req) {
    switch (f.name()) {
      case bhttp::field::connection:
      case bhttp::field::keep_alive:
      case bhttp::field::transfer_encoding:
      case bhttp::field::te:
      case bhttp::field::expect:
      case bhttp::field::upgrade:
      case bhttp::field::content_length:
      case bhttp::field::proxy_connection:
        continue;
      default:
        break;
    }
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (iequals(name, "X-Request-Id")) continue;
    out += name;
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "X-Request-Id: " + request_id + "\r\n";
  out += "Content-Length: " + std::to_string(req.body().size()) + "\r\n\r\n";
  out += req.body();
  return out;
}

std::string encode_forwarded_answer(const response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " \r\n";
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [name, value] : r.headers)
    out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

std::optional<response> decode_forwarded_answer(std::string_view bytes) {
  response r;
  r.forwarded = true;
  r.content_type.clear();
  auto eol = bytes.find("\r\n");
  if (eol == std::string_view::npos || eol < 12 || !bytes.starts_with("HTTP/1.1 ")) {
    return std::nullopt;
  }
  unsigned status = 0;
  auto [end, ec] = std::from_chars(bytes.data() + 9, bytes.data() + 12, status);
  if (ec != std::errc() || end != bytes.data() + 12 || status < 100 || status > 599) {
    return std::nullopt;
  }
  r.status = status;
  std::size_t at = eol + 2;
  for (;;) {
    auto next = bytes.find("\r\n", at);
    if (next == std::string_view::npos) return std::nullopt;
    if (next == at) {
      at += 2;
      break;
    }
    std::string_view line = bytes.substr(at, next - at);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    if (iequals(name, "Content-Type")) {
      r.content_type = value;
    } else {
      r.headers.emplace_back(std::string(name), std::string(value));
    }
    at = next + 2;
  }
  r.body = bytes.substr(at);
  return r;
}

namespace {

// A write of a tenant another node owns goes to that node: its answer is this request's,
// once this node has applied the write too; when no owner takes it, it is made here (the
// chain goes on).
class owners_step final : public step {
 public:
  explicit owners_step(const chain_parts& parts) : p_(parts) {}
  std::string_view name() const override { return "owners"; }

  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (ex.forwarded_in || !ex.match.entry->owned) return verdict::next();
    std::string scope = ex.named.scope();
    if (scope.empty()) return verdict::next();
    auto owner = p_.placement.owner_elsewhere(scope);
    if (!owner) return verdict::next();
    auto take = p_.forward_take_timeout;
    // The owner says "working" every second while it runs the write: 3 s of silence means
    // it is gone or cut off. The owner answers within its own request timeout.
    auto silence = std::chrono::milliseconds(3000);
    later resume = f.wait(p_.clock.steady_now() + take + p_.request_timeout + silence);
    p_.placement.relay(*owner, encode_forwarded_request(ex, request_id_of(ex)),
                       std::string(ex.remote), take, silence,
                       [this, resume](interfaces::placement::relayed res) {
                         resume.then([this, resume, res = std::move(res)](bool current) {
                           if (current) relayed(resume, res);
                         });
                       });
    return verdict::wait();
  }

 private:
  void relayed(const later& resume, const interfaces::placement::relayed& res) const {
    using outcome = interfaces::placement::outcome;
    auto& counters = infra::metrics();
    if (res.how == outcome::not_taken) {
      counters.cluster_forward_fallbacks.fetch_add(1, std::memory_order_relaxed);
      return resume.go_on();
    }
    if (res.how == outcome::timed_out) {
      counters.cluster_forward_timeouts.fetch_add(1, std::memory_order_relaxed);
      response busy = failure(domain::make_error(
          domain::errc::unavailable,
          "the node that owns this write took it and went silent; it may or may not have taken "
          "effect"));
      busy.headers.emplace_back("Retry-After", "1");
      return resume.answer(std::move(busy));
    }
    counters.cluster_forwarded.fetch_add(1, std::memory_order_relaxed);
    auto answered = decode_forwarded_answer(res.response);
    if (!answered) {
      return resume.answer(failure(
          domain::make_error(domain::errc::internal, "the owner's answer could not be read")));
    }
    // Answered once this node has applied the write too, as when it writes itself: a read
    // sent here next finds it (within 2 s; after that the owner's answer goes out regardless).
    auto until = p_.clock.steady_now() + std::chrono::seconds(2);
    resume.extend(until);
    std::uint64_t seq = 0;
    for (const auto& [name, value] : answered->headers) {
      if (iequals(name, "Referrald-Seq"))
        std::from_chars(value.data(), value.data() + value.size(), seq);
    }
    exchange& ex = resume.source().ex();
    auto applied = [resume](auto&&...) {
      resume.then([resume](bool current) {
        if (!current) return;  // answered meanwhile (the sweep sent the owner's answer)
        auto& waiting = resume.source().ex().on_timeout;
        if (waiting) resume.answer(std::move(*std::exchange(waiting, std::nullopt)));
      });
    };
    if (ex.named.kind == tenant_of::account && ex.named.well_formed && seq != 0) {
      ex.on_timeout = std::move(*answered);
      p_.runtime.when_readable(ex.named.id, seq, until, applied);
      return;
    }
    if (res.applied <= p_.runtime.cluster_applied()) return resume.answer(std::move(*answered));
    ex.on_timeout = std::move(*answered);
    p_.runtime.when_applied(res.applied, applied);
  }

  chain_parts p_;
};

// A route answered from every node's part (route_spec::from_every_node): in cluster mode the
// node that takes the request relays it as it came to every other live node, each of which
// answers its own part (request_ctx::part_only), and the handler runs with their answers
// (request_ctx::parts). A node that does not take it within the take bound, or goes silent,
// is a missing part — the answer says so — never a wait past the request's time.
class members_step final : public step {
 public:
  explicit members_step(const chain_parts& parts) : p_(parts) {}
  std::string_view name() const override { return "members"; }

  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (!ex.match.entry->from_every_node) return verdict::next();
    request_ctx& ctx = ex.ctx;
    ctx.part_only = ex.forwarded_in;
    ctx.node.clear();
    ctx.parts.clear();
    if (ex.forwarded_in) return verdict::next();
    auto others = p_.placement.others();
    if (others.empty()) return verdict::next();
    ctx.node = p_.placement.self();
    struct gathering {
      std::mutex mu;
      std::vector<request_ctx::node_part> parts;
      std::size_t left = 0;
    };
    auto g = std::make_shared<gathering>();
    g->left = others.size();
    for (auto& n : others)
      g->parts.push_back({std::move(n), std::nullopt});
    auto take = p_.forward_take_timeout;
    auto silence = std::chrono::milliseconds(3000);
    later resume = f.wait(p_.clock.steady_now() + take + p_.request_timeout + silence);
    auto request = encode_forwarded_request(ex, request_id_of(ex));
    for (std::size_t i = 0; i < g->parts.size(); ++i) {
      p_.placement.relay(g->parts[i].node, request, std::string(ex.remote), take, silence,
                         [g, i, resume](interfaces::placement::relayed res) {
                           {
                             std::lock_guard lock(g->mu);
                             if (res.how == interfaces::placement::outcome::answered) {
                               g->parts[i].answer = decode_forwarded_answer(res.response);
                             }
                             if (--g->left != 0) return;
                           }
                           resume.then([g, resume](bool current) {
                             if (!current) return;
                             resume.source().ex().ctx.parts = std::move(g->parts);
                             resume.go_on();
                           });
                         });
    }
    return verdict::wait();
  }

 private:
  chain_parts p_;
};

}  // namespace

std::unique_ptr<step> make_owners_step(const chain_parts& parts) {
  return std::make_unique<owners_step>(parts);
}

std::unique_ptr<step> make_members_step(const chain_parts& parts) {
  return std::make_unique<members_step>(parts);
}

}  // namespace referrald::http
