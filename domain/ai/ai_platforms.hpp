#pragma once

// The AI-platform allow-list (docs/api-guide.md, "AI referrals"): which referrer values are AI
// assistants, under which canonical platform id. The list is versioned data kept in
// domain/ai/data/ai_platforms.json and compiled in; every use records its version.
//
// A raw referrer value matches a platform when it is
//   - an app id: "android-app://com.openai.chatgpt/..." or the bare "com.openai.chatgpt"
//     (Android package names and iOS bundle ids);
//   - a source name as analytics tools export it ("chatgpt", "chatgpt.com"), compared
//     whole after trimming and lowercasing;
//   - a URL or host matching a platform's hosts and paths as domain/web/site_catalogue.hpp
//     matches them ("chatgpt.com" and its subdomains, never "chatgpt.com.evil.net" or
//     "notchatgpt.com"; "x.com/i/grok").
//
// Immutable; safe to use from any thread.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/base/string_table.hpp"
#include "domain/base/text.hpp"
#include "domain/web/site_catalogue.hpp"

namespace referrald::domain {

struct ai_platform {
  std::string id;  // canonical: "chatgpt", "perplexity", ...
  std::string name;
  std::vector<std::string> hosts;
  std::vector<std::string> paths;  // "host/path-prefix"
  std::vector<std::string> app_ids;
  std::vector<std::string> source_names;
  // The public lists that name this platform (matomo, snowplow, plausible, posthog,
  // adobe), or "referrald" for our own additions: docs/ai-platforms.md.
  std::vector<std::string> sources;
};

class ai_platform_list {
 public:
  // The list compiled into this build.
  static const ai_platform_list& builtin();

  // Parses a list in the format of domain/ai/data/ai_platforms.json.
  static result<ai_platform_list> parse(std::string_view json);

  const std::string& version() const { return version_; }
  const std::vector<ai_platform>& platforms() const { return platforms_; }

  // The platform of a raw referrer value, or nullptr.
  const ai_platform* lookup(std::string_view raw) const;
  // The same when the value's normalized host is already known (empty: none).
  const ai_platform* lookup(std::string_view raw, std::string_view host) const;

  // The parts of lookup() for a referrer URL: whether its raw value alone can decide
  // (an app id, a bare source name); the platform of a host by its app id or listed hosts
  // (ignoring paths); and whether a path-scoped entry covers the host.
  static bool raw_decides(std::string_view raw);
  const ai_platform* lookup_host(std::string_view host) const;
  bool has_paths(std::string_view host) const { return sites_.has_paths(host); }

  // {"version":"...","platforms":[{"id","name","hosts","paths","app_ids","source_names",
  //  "sources"}]}
  void write_json(json_writer& w) const;

 private:
  using table = string_table<std::size_t>;

  const ai_platform* find(const table& t, std::string_view key) const;

  std::string version_;
  std::vector<ai_platform> platforms_;
  site_catalogue sites_;  // every platform's hosts and paths
  table app_ids_;
  table names_;
};

}  // namespace referrald::domain
