#include "domain/passthrough_index.hpp"

namespace referrald::domain {

std::shared_ptr<const passthrough_index> passthrough_index::build(
    const collection<passthrough_referrer>& c) {
  auto idx = std::make_shared<passthrough_index>();
  for (auto [id, e] : c.items()) {
    if (!e->value.is_active) continue;
    idx->rules_.push_back(e);
  }
  for (const auto& e : idx->rules_)
    idx->by_domain_.emplace(e->value.domain, &e->value);
  return idx;
}

const passthrough_referrer* passthrough_index::find(std::string_view host) const {
  if (by_domain_.empty()) return nullptr;
  // The host itself first, then ever shorter parent domains: the first hit is the most
  // specific rule.
  for (std::size_t pos = 0;;) {
    if (auto it = by_domain_.find(host.substr(pos)); it != by_domain_.end()) return it->second;
    pos = host.find('.', pos);
    if (pos == std::string_view::npos) return nullptr;
    ++pos;
  }
}

}  // namespace referrald::domain
