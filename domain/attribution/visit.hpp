#pragma once

// A visit to resolve (docs/api-guide.md, "Attribution resolution") and the one description
// of how it is written. Its fields are declared once, in visit_fields(): their names in
// JSON and in CSV, which are required and what they mean. Every reader is derived from that
// table, and each hands the text it found to one function, read_visit(), which makes the
// visit:
//
//   - parse_visit: a JSON object of a parsed document (any body; every problem named);
//   - read_visit_members: the members of an object found by the one-pass scanner
//     (domain/base/json_scan.hpp) without a document, the hot path of batches and logs;
//   - visit_columns: a record of a CSV visit log (`referralctl attribute --format csv`);
//   - visit_json_schema: the visit's JSON Schema for the published contract.
//
//   {"referrer": string|null, "landing_url": string,
//    "session": {"utm_source"|"utm_medium"|"utm_campaign"|"utm_term"|"utm_content":
//                string|null}|null}
//
// CSV columns: referrer, landing_url, session_utm_source ... session_utm_content (an empty
// session column is no value).
//
// Visits are read the way browsers read URLs (domain/web/url.hpp). A referrer with no host a
// browser can read ("about:blank", "http://[]/") is no referrer, with a warning; a landing URL
// that cannot be read has no host and no parameters, with a warning; a URL longer than 8,192
// bytes is read without its fragment, then its longest query parameters, then its path, with
// a warning. Session values are trimmed and may not hold control characters.
//
// Pure; safe from any thread.

#include <rapidjson/fwd.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/json_scan.hpp"
#include "domain/base/result.hpp"

namespace referrald::domain {

struct utm_values {
  std::string source, medium, campaign, term, content;
  bool any() const {
    return !source.empty() || !medium.empty() || !campaign.empty() || !term.empty() ||
           !content.empty();
  }
};

// The five utm_* names, in utm_values' order.
inline constexpr std::array<std::string_view, 5> k_utm_names = {
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"};

// u's value for k_utm_names[i].
std::string& utm_slot(utm_values& u, std::size_t i);

struct visit {
  std::string referrer;                       // trimmed; empty: no referrer
  std::string referrer_host;                  // normalized; empty when there is no usable referrer
  std::string referrer_path;                  // the referrer's path and query as parsed (for the
  std::optional<std::string> referrer_query;  // known-referrer list's paths and search terms)
  std::string landing_host;                   // normalized host of the landing URL; may be empty
  std::string landing_query;                  // the landing URL's raw query string
  std::string landing_path;                   // the landing URL's path as written ("" when unread)
  std::optional<utm_values> session;          // present only when it has a non-empty value
  std::vector<std::string> warnings;          // what could not be read, and how it was treated
};

// -- The description ----------------------------------------------------------------

enum class visit_field_id : std::uint8_t { referrer, landing_url, session };

struct visit_field {
  visit_field_id id;
  std::string_view name;  // in JSON, and the CSV column (session: the prefix of its columns)
  bool required;          // else it may be absent or null
  std::string_view description;
};

std::span<const visit_field> visit_fields();

// The text a reader found, before anything is made of it.
struct visit_text {
  std::optional<std::string_view> referrer;  // nullopt: absent or null
  std::string_view landing_url;
  bool has_session = false;                                // a session object (else absent or null)
  std::array<std::optional<std::string_view>, 5> session;  // k_utm_names order; nullopt: none
};

// What is wrong with one field: `field` is its JSON name ("landing_url", and for a session
// value "session" with `member` its utm_* name).
struct visit_problem {
  visit_field_id field;
  std::string_view member;
  std::string message;
};

// Makes the visit of `text` into `out` (its strings' storage reused). True when it is a
// visit; false with what is wrong appended to `problems` (when given).
bool read_visit(const visit_text& text, visit& out, std::vector<visit_problem>* problems = nullptr);

// -- Readers --------------------------------------------------------------------------

// A JSON object. In a batch, `index` names it in errors ("visits[3].referrer").
// `among_others`: the object is a record of a visit log, whose other fields are its own
// (referralctl attribute), not unknown fields of a visit.
result<visit> parse_visit(const rapidjson::Value& v,
                          std::optional<std::size_t> index = std::nullopt,
                          bool among_others = false);

// The members of one object as json_scan reports them. True with what parse_visit gives;
// false, leaving the object to parse_visit (which gives the same visit or says what is
// wrong), for anything but the common visit: a member repeated or escaped, a value that is
// not a plain string (or null), another member (unless `among_others`), or a visit
// read_visit refuses. `scratch` holds the session object's members.
bool read_visit_members(std::span<const json_member> members, bool among_others,
                        std::vector<json_member>& scratch, visit& out);

// The visit columns of a CSV header, and the visit of each record.
class visit_columns {
 public:
  explicit visit_columns(std::span<const std::string> header);

  // False when the header lacks a required column (landing_url).
  bool complete() const;
  // The column name of a field (and session member): "session_utm_term".
  static std::string column_name(visit_field_id field, std::string_view member = {});

  // The visit of a record's fields (as many as the header's); false with the first
  // problem's column name and message.
  bool read(std::span<const std::string> fields, visit& out, std::string& column,
            std::string& message) const;

 private:
  std::optional<std::size_t> referrer_, landing_url_;
  std::array<std::optional<std::size_t>, 5> session_{};
};

// The visit's JSON Schema (2020-12) as JSON text.
std::string visit_json_schema();

}  // namespace referrald::domain
