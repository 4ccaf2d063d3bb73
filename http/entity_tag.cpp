#include "http/entity_tag.hpp"

#include "domain/base/digest.hpp"
#include "http/framing.hpp"
#include "http/steps.hpp"

namespace referrald::http {

void tag_answer(response& r, method verb, std::string_view if_none_match) {
  if ((r.status != 200 && r.status != 201) || r.body.empty()) return;
  // An envelope's tag is its data's (the object's); a file's is its bytes'.
  std::string_view data(r.body);
  if (r.enveloped) {
    data.remove_prefix(success_open.size());
    data.remove_suffix(success_close.size());
  }
  std::string tag = domain::entity_tag(data);
  if (!if_none_match.empty() && (verb == method::get || verb == method::head) &&
      domain::tag_listed(if_none_match, tag, true)) {
    r.status = 304;
    r.body.clear();
    r.content_type.clear();
  }
  r.headers.emplace_back("ETag", std::move(tag));
}

namespace {

class entity_tag_step final : public step {
 public:
  std::string_view name() const override { return "entity tag"; }
  verdict request(const flow&) override { return verdict::next(); }
  void respond(exchange& ex, response& r) const override {
    if (ex.routed() && ex.match.entry->etag) {
      tag_answer(r, to_method(ex.head().method()),
                 ex.field(boost::beast::http::field::if_none_match));
    }
  }
};

}  // namespace

std::unique_ptr<step> make_entity_tag_step() { return std::make_unique<entity_tag_step>(); }

}  // namespace referrald::http
