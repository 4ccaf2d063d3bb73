#pragma once

// The active passthrough referrers of an account, by domain, for resolution: which rule
// covers a referrer host (the host itself or a parent domain of it, on label
// boundaries). When several do — `paypal.com` and `secure.paypal.com` — the most
// specific (longest) domain wins.
//
// Immutable once built; one index may be used from any number of threads. It keeps the
// referrers it refers to alive.

#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/account_state.hpp"

namespace referrald::domain {

class passthrough_index {
 public:
  static std::shared_ptr<const passthrough_index> build(const collection<passthrough_referrer>& c);

  // The active referrer covering `host` (normalized), or nullptr.
  const passthrough_referrer* find(std::string_view host) const;

  std::size_t size() const { return rules_.size(); }

 private:
  struct sv_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<entity_ref<passthrough_referrer>> rules_;
  std::unordered_map<std::string_view, const passthrough_referrer*, sv_hash, std::equal_to<>>
      by_domain_;
};

}  // namespace referrald::domain
