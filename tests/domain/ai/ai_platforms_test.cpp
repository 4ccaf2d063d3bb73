#include "domain/ai/ai_platforms.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

namespace {

std::string platform_of(std::string_view raw) {
  const auto* p = ai_platform_list::builtin().lookup(raw);
  return p == nullptr ? "" : p->id;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ai_platforms)

BOOST_AUTO_TEST_CASE(the_built_in_list_is_versioned_and_complete) {
  const auto& list = ai_platform_list::builtin();
  BOOST_TEST(!list.version().empty());
  std::vector<std::string> ids;
  for (const auto& p : list.platforms())
    ids.push_back(p.id);
  for (const char* id :
       {"chatgpt", "perplexity", "claude", "gemini", "notebooklm", "copilot", "grok", "deepseek",
        "meta_ai", "mistral", "poe", "character_ai", "you", "duck_ai", "qwen", "phind"}) {
    BOOST_TEST((std::find(ids.begin(), ids.end(), id) != ids.end()), id);
  }
}

BOOST_AUTO_TEST_CASE(hosts_match_themselves_and_subdomains) {
  BOOST_TEST(platform_of("chatgpt.com") == "chatgpt");
  BOOST_TEST(platform_of("https://chatgpt.com/c/123") == "chatgpt");
  BOOST_TEST(platform_of("https://WWW.Perplexity.AI/search?q=x") == "perplexity");
  BOOST_TEST(platform_of("https://claude.ai") == "claude");
  BOOST_TEST(platform_of("https://gemini.google.com/app") == "gemini");
  BOOST_TEST(platform_of("bard.google.com") == "gemini");
  BOOST_TEST(platform_of("https://notebooklm.google.com/") == "notebooklm");
  BOOST_TEST(platform_of("https://copilot.microsoft.com/") == "copilot");
  BOOST_TEST(platform_of("https://m365.cloud.microsoft/chat") == "copilot");
  BOOST_TEST(platform_of("https://grok.com/") == "grok");
  BOOST_TEST(platform_of("https://chat.deepseek.com/") == "deepseek");
  BOOST_TEST(platform_of("https://www.meta.ai/") == "meta_ai");
  BOOST_TEST(platform_of("https://chat.mistral.ai/chat") == "mistral");
  BOOST_TEST(platform_of("poe.com") == "poe");
  BOOST_TEST(platform_of("https://character.ai/chat/x") == "character_ai");
  BOOST_TEST(platform_of("https://you.com/search") == "you");
  BOOST_TEST(platform_of("https://duck.ai/") == "duck_ai");
  BOOST_TEST(platform_of("https://chat.qwen.ai/") == "qwen");
  BOOST_TEST(platform_of("https://www.phind.com/search") == "phind");
  BOOST_TEST(platform_of("https://eu.chatgpt.com/") == "chatgpt");
}

BOOST_AUTO_TEST_CASE(assistants_of_the_public_lists_are_covered) {
  // Entries of Matomo's, Snowplow's, Plausible's, PostHog's and Adobe's AI lists that
  // an earlier list missed.
  for (const char* host : {"yiyan.baidu.com",
                           "ai.baidu.com",
                           "chatglm.cn",
                           "labs.openai.com",
                           "deepseek.com",
                           "mistral.ai",
                           "aistudio.google.com",
                           "pi.ai",
                           "kimi.com",
                           "doubao.com",
                           "yuanbao.tencent.com",
                           "chat.z.ai",
                           "iask.ai",
                           "app.jasper.ai",
                           "app.writesonic.com",
                           "chatplus.com",
                           "edgeservices.bing.com",
                           "copilot.com",
                           "pplx.ai",
                           "chat.com"}) {
    BOOST_TEST(!platform_of(std::string("https://") + host + "/x").empty(), host);
  }
  // Lookalikes of the new entries stay out.
  for (const char* host :
       {"baidu.com", "www.baidu.com", "tencent.com", "bing.com", "notdeepseek.com",
        "mistral.ai.evil.net", "jasper.ai.example", "google.com", "openai.com"}) {
    BOOST_TEST(platform_of(std::string("https://") + host + "/x").empty(), host);
  }
}

BOOST_AUTO_TEST_CASE(every_platform_names_its_sources) {
  const std::vector<std::string> known = {"matomo",  "snowplow", "plausible",
                                          "posthog", "adobe",    "referrald"};
  for (const auto& p : ai_platform_list::builtin().platforms()) {
    BOOST_TEST(!p.sources.empty(), p.id);
    for (const auto& s : p.sources)
      BOOST_TEST((std::find(known.begin(), known.end(), s) != known.end()), p.id << ": " << s);
  }
}

BOOST_AUTO_TEST_CASE(lookalikes_never_match) {
  BOOST_TEST(platform_of("chatgpt.com.evil.net") == "");
  BOOST_TEST(platform_of("https://notchatgpt.com/") == "");
  BOOST_TEST(platform_of("https://chatgpt.co/") == "");
  BOOST_TEST(platform_of("https://claude.ai.phish.io/") == "");
  BOOST_TEST(platform_of("https://google.com/") == "");
  BOOST_TEST(platform_of("https://openai.com/") == "");  // the company site, not the assistant
  BOOST_TEST(platform_of("") == "");
}

BOOST_AUTO_TEST_CASE(path_scoped_entries_need_their_path) {
  BOOST_TEST(platform_of("https://x.com/i/grok") == "grok");
  BOOST_TEST(platform_of("https://x.com/i/grok?conversation=1") == "grok");
  BOOST_TEST(platform_of("x.com/i/grok/share/abc") == "grok");
  BOOST_TEST(platform_of("https://twitter.com/i/grok") == "grok");
  BOOST_TEST(platform_of("https://X.com/I/Grok") == "grok");
  BOOST_TEST(platform_of("https://x.com/home") == "");
  BOOST_TEST(platform_of("https://x.com/i/grokker") == "");
  BOOST_TEST(platform_of("https://x.com/") == "");
  BOOST_TEST(platform_of("https://www.bing.com/chat") == "copilot");
  BOOST_TEST(platform_of("https://www.bing.com/search") == "");
}

BOOST_AUTO_TEST_CASE(app_ids_match_with_or_without_their_scheme) {
  BOOST_TEST(platform_of("android-app://com.openai.chatgpt") == "chatgpt");
  BOOST_TEST(platform_of("android-app://com.openai.chatgpt/") == "chatgpt");
  BOOST_TEST(platform_of("ANDROID-APP://com.anthropic.claude/x") == "claude");
  BOOST_TEST(platform_of("com.openai.chatgpt") == "chatgpt");
  BOOST_TEST(platform_of("android-app://com.google.android.gm") == "");
}

BOOST_AUTO_TEST_CASE(source_names_match_whole_values) {
  BOOST_TEST(platform_of("chatgpt") == "chatgpt");
  BOOST_TEST(platform_of("ChatGPT") == "chatgpt");
  BOOST_TEST(platform_of("  perplexity  ") == "perplexity");
  BOOST_TEST(platform_of("le chat") == "mistral");
  BOOST_TEST(platform_of("chatgpt-clone") == "");
}

BOOST_AUTO_TEST_CASE(a_list_is_validated_when_parsed) {
  BOOST_TEST(!ai_platform_list::parse("{}").ok());
  BOOST_TEST(!ai_platform_list::parse(R"({"version":"1","platforms":[{"id":"a"}]})").ok());
  auto dup = ai_platform_list::parse(R"({"version":"1","platforms":[
      {"id":"a","name":"A","hosts":["x.com"],"paths":[],"app_ids":[],"source_names":[]},
      {"id":"b","name":"B","hosts":["x.com"],"paths":[],"app_ids":[],"source_names":[]}]})");
  BOOST_TEST(!dup.ok());
  auto ok = ai_platform_list::parse(R"({"version":"v9","platforms":[
      {"id":"a","name":"A","hosts":["a.example"],"paths":["b.example/ai"],"app_ids":["com.a"],
       "source_names":["alpha"],"sources":["referrald"]}]})");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->version() == "v9");
  BOOST_TEST(ok->lookup("sub.a.example") != nullptr);
  BOOST_TEST(ok->lookup("b.example/ai/x") != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
