#pragma once

// The mappings changed since an account's last full index build, kept per change: each
// change costs O(log n) in persistent maps that share structure between versions, so an
// account state copies it in O(1) and a write never re-indexes what it did not change.
// A lookup layers it over the full build (mapping_index::over): the build's answers for
// changed ids are hidden; exact, ends_with and starts_with rules are found by key; the
// few changed contains and regex rules are tried one by one (the account has the index
// rebuilt in full off its actor before there are many, account_state::full_index_build_due).

#include <cstddef>
#include <cstdint>
#include <string>

#include "domain/base/persistent_map.hpp"
#include "domain/rules/entities.hpp"

namespace referrald::domain {

struct mapping_changes {
  persistent_map<std::int64_t, bool> hidden;  // every id changed since the full build
  persistent_map<std::string, entity_ref<referrer_mapping>> exact, suffix, prefix;
  persistent_map<std::size_t, std::size_t> prefix_lengths;  // starts_with length -> count
  persistent_map<std::int64_t, entity_ref<referrer_mapping>> scanned;  // contains, regex
  std::size_t active = 0;                                              // active changed mappings

  // Mapping `id` became `now` (null: deleted); `before` is what the changes held for it
  // (null when it had not changed since the full build).
  void change(std::int64_t id, const entity_ref<referrer_mapping>* before,
              const entity_ref<referrer_mapping>* now);
};

}  // namespace referrald::domain
