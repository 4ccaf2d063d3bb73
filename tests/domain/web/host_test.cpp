#include "domain/web/host.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

namespace {

std::string norm(std::string_view s, idna_mode mode = idna_mode::strict) {
  auto r = normalize_host(s, mode);
  BOOST_REQUIRE_MESSAGE(r.ok(),
                        "normalize_host(" << s << ") failed: " << (r.ok() ? "" : r.err().message));
  return *r;
}

bool fails(std::string_view s, idna_mode mode = idna_mode::strict) {
  return !normalize_host(s, mode).ok();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(host)

BOOST_AUTO_TEST_CASE(schemes_are_stripped) {
  BOOST_TEST(norm("https://booking.mirai.com") == "booking.mirai.com");
  BOOST_TEST(norm("http://booking.mirai.com") == "booking.mirai.com");
  BOOST_TEST(norm("HTTPS://Booking.Mirai.com") == "booking.mirai.com");
  BOOST_TEST(norm("android-app://com.openai.chatgpt") == "com.openai.chatgpt");
  BOOST_TEST(norm("android-app://Com.OpenAI.ChatGPT/") == "com.openai.chatgpt");
  BOOST_TEST(norm("git+ssh://host.example.org") == "host.example.org");
  BOOST_TEST(norm("//cdn.example.com/x.js") == "cdn.example.com");
}

BOOST_AUTO_TEST_CASE(path_query_and_fragment_are_dropped) {
  BOOST_TEST(norm("booking.mirai.com/path/to?x=1") == "booking.mirai.com");
  BOOST_TEST(norm("example.com?utm_source=a") == "example.com");
  BOOST_TEST(norm("example.com#top") == "example.com");
  BOOST_TEST(norm("https://example.com/a@b") == "example.com");
}

BOOST_AUTO_TEST_CASE(userinfo_and_ports_are_dropped) {
  BOOST_TEST(norm("https://user:pass@example.com:8443/x") == "example.com");
  BOOST_TEST(norm("user@example.com") == "example.com");
  BOOST_TEST(norm("example.com:80") == "example.com");
  BOOST_TEST(norm("a@b@example.com") == "example.com");
  BOOST_TEST(norm("http://[::1]:8080/x") == "[::1]");
}

BOOST_AUTO_TEST_CASE(case_whitespace_and_trailing_dot_are_normalized) {
  BOOST_TEST(norm("  EXAMPLE.Com.  ") == "example.com");
  BOOST_TEST(norm("example.com.") == "example.com");
}

BOOST_AUTO_TEST_CASE(one_leading_www_is_dropped) {
  BOOST_TEST(norm("www.example.com") == "example.com");
  BOOST_TEST(norm("https://WWW.example.com/") == "example.com");
  BOOST_TEST(norm("www.www.example.com") == "www.example.com");
  BOOST_TEST(norm("www2.example.com") == "www2.example.com");
  BOOST_TEST(norm("www.com") == "www.com");  // nothing would be left but a TLD
}

BOOST_AUTO_TEST_CASE(www_is_kept_when_a_public_suffix_would_remain) {
  BOOST_TEST(norm("www.github.io") == "www.github.io");
  BOOST_TEST(norm("www.co.uk") == "www.co.uk");
  BOOST_TEST(norm("www.example.github.io") == "example.github.io");
}

BOOST_AUTO_TEST_CASE(public_suffixes_are_known) {
  BOOST_TEST(is_public_suffix("com"));
  BOOST_TEST(is_public_suffix("co.uk"));
  BOOST_TEST(is_public_suffix("github.io"));
  BOOST_TEST(!is_public_suffix("example.com"));
  BOOST_TEST(!is_public_suffix("www.github.io"));
  BOOST_TEST(!is_public_suffix("localhost"));  // explicit rules only
}

BOOST_AUTO_TEST_CASE(public_suffix_answers_hold_across_many_names_and_repeats) {
  // Answers are kept per thread in slots shared by many names: asked again after
  // thousands of others (which take their slots back and forth), each name still gets
  // its own answer, a trailing dot included, and a name too long to keep is still asked.
  const std::pair<std::string, bool> known[] = {
      {"com", true},          {"co.uk", true},
      {"github.io", true},    {"blogspot.com", true},
      {"example.com", false}, {"www.github.io", false},
      {"co.uk.", true},       {"example.co.uk", false},
      {"localhost", false},   {std::string(60, 'a') + ".github.io", false},
  };
  for (int round = 0; round < 3; ++round) {
    for (const auto& [name, answer] : known)
      BOOST_TEST(is_public_suffix(name) == answer, name);
    for (int i = 0; i < 5000; ++i) {
      auto n = std::to_string(i * 7919 + round);
      BOOST_TEST(!is_public_suffix("site" + n + ".com"));
      BOOST_TEST(is_public_suffix(i % 2 ? "co.uk" : "github.io"));
    }
  }
  BOOST_TEST(!is_public_suffix(""));
  BOOST_TEST(!is_public_suffix("."));
}

BOOST_AUTO_TEST_CASE(internationalized_names_become_punycode) {
  BOOST_TEST(norm("b\xC3\xBC"
                  "cher.de") == "xn--bcher-kva.de");
  BOOST_TEST(norm("https://B\xC3\x9C"
                  "CHER.de/x") == "xn--bcher-kva.de");
  BOOST_TEST(norm("www.b\xC3\xBC"
                  "cher.de") == "xn--bcher-kva.de");
  BOOST_TEST(norm("\xE6\x97\xA5\xE6\x9C\xAC.jp") == "xn--wgv71a.jp");
  BOOST_TEST(norm("xn--bcher-kva.de") == "xn--bcher-kva.de");
}

BOOST_AUTO_TEST_CASE(values_without_a_host_are_errors) {
  BOOST_TEST(fails(""));
  BOOST_TEST(fails("   "));
  BOOST_TEST(fails("https://"));
  BOOST_TEST(fails("user@"));
  BOOST_TEST(fails(":8080"));
  BOOST_TEST(fails("."));
  BOOST_TEST(fails("about:blank"));
  BOOST_TEST(fails("javascript:alert(1)"));
  BOOST_TEST(fails("mailto:a@example.com"));
}

BOOST_AUTO_TEST_CASE(a_scheme_without_slashes_is_not_a_host_called_like_the_scheme) {
  BOOST_TEST(norm("http:foo.com") == "foo.com");  // special: the host follows anyway
  BOOST_TEST(norm("https:///path") == "path");    // as browsers read it
  BOOST_TEST(fails("about:blank", idna_mode::browser));
}

BOOST_AUTO_TEST_CASE(a_backslash_ends_the_host_in_http_urls) {
  BOOST_TEST(norm("https://evil.com\\@paypal.com/", idna_mode::browser) == "evil.com");
  BOOST_TEST(norm("https:\\\\evil.com\\x", idna_mode::browser) == "evil.com");
}

BOOST_AUTO_TEST_CASE(ip_addresses_are_canonical_and_invalid_ports_fail) {
  BOOST_TEST(norm("http://0x7f.0.0.1/") == "127.0.0.1");
  BOOST_TEST(norm("2130706433") == "127.0.0.1");
  BOOST_TEST(fails("http://256.0.0.1/"));
  BOOST_TEST(norm("http://[0:0:0:0:0:0:0:1]/") == "[::1]");
  BOOST_TEST(fails("http://[]/"));
  BOOST_TEST(fails("example.com:99999"));
  BOOST_TEST(fails("example.com:abc"));
}

BOOST_AUTO_TEST_CASE(hosts_with_spaces_or_odd_characters_fail_after_normalization) {
  BOOST_TEST(fails("ex ample.com"));
  BOOST_TEST(
      fails("example.com\xE3\x80\x80"
            "x"));                                               // ideographic space inside
  BOOST_TEST(norm("example.com\xE3\x80\x80") == "example.com");  // trimmed at the end
  BOOST_TEST(norm("\xC2\xA0"
                  "example.com\xC2\xA0") == "example.com");  // NBSP trimmed
  BOOST_TEST(fails("example.com ::="));
}

BOOST_AUTO_TEST_CASE(percent_encoded_host_bytes_are_decoded) {
  BOOST_TEST(norm("https://%65xample.com/") == "example.com");
}

BOOST_AUTO_TEST_CASE(browser_mode_accepts_names_browsers_accept) {
  BOOST_TEST(norm("https://xn--ls8h.la/", idna_mode::browser) == "xn--ls8h.la");
  BOOST_TEST(norm("i\xE2\x9D\xA4.ws", idna_mode::browser) == "xn--i-7iq.ws");
  BOOST_TEST(fails("xn--ls8h.la"));
}

BOOST_AUTO_TEST_CASE(a_trailing_dot_can_be_kept) {
  BOOST_TEST(*normalize_host("news.", idna_mode::strict, trailing_dot::keep) == "news.");
  BOOST_TEST(*normalize_host("news.", idna_mode::strict) == "news");
}

BOOST_AUTO_TEST_CASE(invalid_internationalized_names_are_errors) {
  BOOST_TEST(fails("\xE2\x98\x83\xE2\x80\x8D.com"));  // snowman + zero-width joiner
}

BOOST_AUTO_TEST_CASE(control_characters_are_refused_not_truncated) {
  BOOST_TEST(
      fails(std::string("b\xC3\xBC"
                        "cher.de\0evil",
                        15)));
  BOOST_TEST(fails(std::string("example.com\0evil", 16)));
  BOOST_TEST(norm("exa\tmple.com") == "example.com");  // tabs are removed, as browsers do
  BOOST_TEST(norm(std::string("example.com/\0path", 17)) == "example.com");  // not in the host
}

BOOST_AUTO_TEST_CASE(punycode_labels_must_be_valid_idna) {
  BOOST_TEST(norm("xn--bcher-kva.de") == "xn--bcher-kva.de");
  BOOST_TEST(norm("shop.XN--BCHER-KVA.de") == "shop.xn--bcher-kva.de");
  BOOST_TEST(fails("xn--ls8h.com"));  // an emoji
  BOOST_TEST(fails("xn--a.com"));     // decodes to a control character
  BOOST_TEST(fails("xn--.com"));
}

BOOST_AUTO_TEST_CASE(hostname_validation_follows_dns_label_rules) {
  BOOST_TEST(is_valid_hostname("booking.mirai.com"));
  BOOST_TEST(is_valid_hostname("a-b.example"));
  BOOST_TEST(is_valid_hostname("xn--bcher-kva.de"));
  BOOST_TEST(is_valid_hostname("1.2.3.4"));
  BOOST_TEST(!is_valid_hostname("localhost"));  // one label
  BOOST_TEST(!is_valid_hostname("-bad.com"));
  BOOST_TEST(!is_valid_hostname("bad-.com"));
  BOOST_TEST(!is_valid_hostname("under_score.com"));
  BOOST_TEST(!is_valid_hostname("a..com"));
  BOOST_TEST(!is_valid_hostname("sp ace.com"));
  BOOST_TEST(!is_valid_hostname("[::1]"));
  BOOST_TEST(is_valid_hostname(std::string(63, 'a') + ".com"));
  BOOST_TEST(!is_valid_hostname(std::string(64, 'a') + ".com"));
  std::string long_name;
  for (int i = 0; i < 4; ++i)
    long_name += std::string(62, 'a') + ".";
  long_name += "com";  // 4*63 + 3 = 255 chars
  BOOST_TEST(!is_valid_hostname(long_name));
}

BOOST_AUTO_TEST_CASE(domain_matching_respects_label_boundaries) {
  BOOST_TEST(host_matches_domain("paypal.com", "paypal.com"));
  BOOST_TEST(host_matches_domain("secure.paypal.com", "paypal.com"));
  BOOST_TEST(host_matches_domain("a.b.paypal.com", "paypal.com"));
  BOOST_TEST(!host_matches_domain("notpaypal.com", "paypal.com"));
  BOOST_TEST(!host_matches_domain("paypal.com.evil.net", "paypal.com"));
  BOOST_TEST(!host_matches_domain("com", "paypal.com"));
  BOOST_TEST(!host_matches_domain("paypal.com", ""));
}

BOOST_AUTO_TEST_SUITE_END()
