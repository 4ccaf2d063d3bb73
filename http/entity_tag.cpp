#include "http/entity_tag.hpp"

#include "domain/base/digest.hpp"

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

}  // namespace referrald::http
