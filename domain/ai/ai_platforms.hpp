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
//   - a URL or host on a path-scoped entry ("x.com/i/grok": that host or a subdomain,
//     and a path equal to the prefix or continuing it after '/');
//   - a URL or host equal to a listed host or one of its subdomains — never a lookalike:
//     "chatgpt.com.evil.net" and "notchatgpt.com" do not match "chatgpt.com".
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

  // {"version":"...","platforms":[{"id","name","hosts","paths","app_ids","source_names",
  //  "sources"}]}
  void write_json(json_writer& w) const;

 private:
  using table = string_table<std::size_t>;

  const ai_platform* find(const table& t, std::string_view key) const;
  // The platform owning `host` or a parent domain of it.
  const ai_platform* find_domain(const table& t, std::string_view host) const;

  std::string version_;
  std::vector<ai_platform> platforms_;
  table hosts_;
  table app_ids_;
  table names_;
  struct path_entry {
    std::string host;
    std::string prefix;  // "/i/grok"
    std::size_t platform;
  };
  std::vector<path_entry> paths_;
};

}  // namespace referrald::domain
