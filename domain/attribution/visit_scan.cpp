#include "domain/attribution/visit_scan.hpp"

#include <algorithm>
#include <iterator>

namespace referrald::domain {

namespace {

constexpr std::string_view k_session_names[] = {"utm_source", "utm_medium", "utm_campaign",
                                                "utm_term", "utm_content"};

bool plain_string(const json_member& m) { return m.kind == json_kind::string && !m.value_escaped; }

bool once(const json_member*& slot, const json_member& m) {
  if (slot != nullptr) return false;
  slot = &m;
  return true;
}

}  // namespace

bool find_visit_members(std::span<const json_member> members, bool among_others,
                        visit_members& out) {
  out = {};
  for (const auto& m : members) {
    if (m.key_escaped) return false;
    if (m.key == "referrer") {
      if (!once(out.referrer, m)) return false;
    } else if (m.key == "landing_url") {
      if (!once(out.landing_url, m)) return false;
    } else if (m.key == "session") {
      if (!once(out.session, m)) return false;
    } else if (!among_others) {
      return false;
    }
  }
  return true;
}

bool read_visit_members(const visit_members& m, std::vector<json_member>& session_scratch,
                        visit& out) {
  std::string_view referrer;
  const std::string_view* referrer_in = nullptr;
  if (m.referrer != nullptr && m.referrer->kind != json_kind::null) {
    if (!plain_string(*m.referrer)) return false;
    referrer = m.referrer->value;
    referrer_in = &referrer;
  }
  if (m.landing_url == nullptr || !plain_string(*m.landing_url)) return false;
  session_text session;
  const session_text* session_in = nullptr;
  if (m.session != nullptr && m.session->kind != json_kind::null) {
    if (m.session->kind != json_kind::object || !scan_object(m.session->value, session_scratch)) {
      return false;
    }
    unsigned seen = 0;  // a repeated name (even after a null) is the parser's to read
    for (const auto& s : session_scratch) {
      auto which = static_cast<std::size_t>(
          std::find(std::begin(k_session_names), std::end(k_session_names), s.key) -
          std::begin(k_session_names));
      if (s.key_escaped || which == std::size(k_session_names) || (seen >> which & 1u) != 0) {
        return false;
      }
      seen |= 1u << which;
      if (s.kind == json_kind::null) continue;
      if (!plain_string(s)) return false;
      session[which] = s.value;
    }
    session_in = &session;
  }
  return read_visit(referrer_in, m.landing_url->value, session_in, out);
}

}  // namespace referrald::domain
