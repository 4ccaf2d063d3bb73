#pragma once

// What resolution asks about a referrer host under one version of an account's rules: the
// passthrough referrer covering it, the mapping that wins for it, whether it is one of the
// account's own domains, and its AI platform and known referrer by host. Each answer is
// computed when first asked and kept in tables of fixed size per thread (16,384 hosts each,
// in sets of two: a host whose set is full takes the place of the one used less recently): what the
// built-in lists say, once per host; what the account's rules say, once per host per rules version
// (account_state::version(), so that a log resolved against the rules at each visit's time still
// finds the lists' answers kept). A visit from a host seen before costs a hash and a comparison per
// table instead of a walk of each list per level of the host. The plain answer of the full
// mapping build a version's index starts from (mapping_index::build_plain) is kept by host and
// build (65,536 of them), so that the many versions layered over one build share it.
//
// Answers that depend on more than the host and the rules are computed for each visit, as
// before: an AI-list match by the raw referrer (an app id, a bare source name) or by a
// path, a known referrer by a path, and a mapping lookup that ran a regex (which spends the
// visit's regex budget).
//
// Per thread: the reference of() returns is valid until the next call on the same thread,
// and only while `s` lives unchanged.

#include <cstdint>
#include <string_view>

#include "domain/ai/ai_platforms.hpp"
#include "domain/attribution/channels.hpp"
#include "domain/attribution/known_referrers.hpp"
#include "domain/match/regex.hpp"
#include "domain/rules/account_state.hpp"

namespace referrald::domain {

class referrer_facts {
 public:
  // The facts of `host` (normalized, not empty) under `s`.
  static referrer_facts& of(const account_state& s, std::string_view host);

  const passthrough_referrer* passthrough();
  // The winning mapping; `budget` is the visit's (spent by a regex the lookup runs).
  const referrer_mapping* mapping(regex_budget& budget);
  bool own();
  // The AI platform of the referrer whose trimmed value is `raw`.
  const ai_platform* ai(std::string_view raw);
  // The known referrer at `path` (the referrer's path as parsed).
  const known_referrer* known(std::string_view path);

  // The default channel group's answer for a visit this host's mapping decided, whose AI
  // platform is `ai`: it depends on nothing else, so `decide()` makes it once (while the
  // mapping's lookup is kept and `ai` is the same).
  template <class Decide>
  channel_decision mapping_channel(const ai_platform* ai, Decide&& decide) {
    if ((known_bits_ & has_mapping) == 0) return decide();
    if ((known_bits_ & has_mapping_channel) == 0 || mapping_channel_ai_ != ai) {
      mapping_channel_ = decide();
      mapping_channel_ai_ = ai;
      known_bits_ |= has_mapping_channel;
    }
    return mapping_channel_;
  }

 private:
  // Hosts up to this many bytes are kept; a longer one is looked up anew for each visit.
  static constexpr std::size_t k_kept_host = 62;

  // What the built-in lists say of a host.
  struct listed {
    bool ai_paths = false;                  // the AI list has a path-scoped entry over the host
    bool known_paths = false;               // the known-referrer list has one
    const ai_platform* ai = nullptr;        // by host
    const known_referrer* known = nullptr;  // by host
  };
  // A host as a table keeps it: its hash, then its bytes (compared only when the hash is).
  struct kept_host {
    std::uint64_t hash = 0;
    std::uint8_t size = 0;
    char bytes[k_kept_host];
    bool is(std::uint64_t h, std::string_view host) const {
      return hash == h && size == host.size() && std::string_view(bytes, size) == host;
    }
    void keep(std::uint64_t h, std::string_view host);
  };
  struct listed_entry {
    listed facts;
    std::uint32_t generation = 0;  // renewed whenever the entry takes another host
    kept_host host;
  };
  // A host of the lists' table: its entry's place and generation (k_no_slot: not kept).
  static constexpr std::uint32_t k_no_slot = ~std::uint32_t{0};
  struct listed_slot {
    std::uint32_t slot = k_no_slot;
    std::uint32_t generation = 0;
  };
  struct tables;
  static tables& per_thread();

  static listed lists_of(std::string_view host);

  enum bit : std::uint8_t {
    has_passthrough = 1,
    has_mapping = 2,
    has_own = 4,
    has_mapping_channel = 8
  };

  // The first cache line: what a visit from a kept host reads.
  std::uint64_t version_ = 0;
  std::uint64_t hash_ = 0;  // the host's, compared before its bytes
  const account_state* state_ = nullptr;
  listed lists_;
  const passthrough_referrer* passthrough_ = nullptr;
  const referrer_mapping* mapping_ = nullptr;
  std::uint8_t known_bits_ = 0;
  bool own_ = false;
  listed_slot listed_;     // where the lists' table keeps the host
  std::string_view host_;  // the caller's, set by each of()
  channel_decision mapping_channel_;
  const ai_platform* mapping_channel_ai_ = nullptr;
  kept_host key_;
};

}  // namespace referrald::domain
