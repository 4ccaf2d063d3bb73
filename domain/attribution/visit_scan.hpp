#pragma once

// A visit read from the members of its JSON object as json_scan.hpp reports them, without a
// document: the hot path of batch resolution and of `referralctl attribute`. It reads the
// common visit only (plain strings, each member once) and says false for anything else,
// leaving the object to parse_visit (resolver.hpp), which gives the same visit or says what
// is wrong with it.

#include <span>
#include <vector>

#include "domain/attribution/resolver.hpp"
#include "domain/base/json_scan.hpp"

namespace referrald::domain {

// The members of a visit object that make the visit (null when absent).
struct visit_members {
  const json_member* referrer = nullptr;
  const json_member* landing_url = nullptr;
  const json_member* session = nullptr;
};

// Finds them among `members`. False when one is repeated or has an escaped name, or, unless
// `among_others` (a record of a visit log, whose other members are its own), when there is
// any other member.
bool find_visit_members(std::span<const json_member> members, bool among_others,
                        visit_members& out);

// The visit of `m`, into `out` (its strings' storage reused; `session_scratch` holds the
// session object's members): true with what parse_visit would give; false when a value is
// not a plain string (escaped, another type), the session holds another member, or
// parse_visit would refuse it.
bool read_visit_members(const visit_members& m, std::vector<json_member>& session_scratch,
                        visit& out);

}  // namespace referrald::domain
