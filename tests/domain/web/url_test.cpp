#include "domain/web/url.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>

#include "tests/support/json_body.hpp"

using namespace referrald::domain;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(url)

BOOST_AUTO_TEST_CASE(hosts_are_read_as_browsers_read_them) {
  auto doc =
      referrald::testing::parse(read_file(std::string(REFERRALD_VECTORS_DIR) + "/urls.json"));
  const auto& cases = doc["cases"];
  BOOST_REQUIRE(cases.Size() > 50u);
  for (const auto& c : cases.GetArray()) {
    std::string name = c["name"].GetString();
    std::string input = c["input"].GetString();
    auto u = parse_url(input, idna_mode::browser);
    if (c.HasMember("fails")) {
      BOOST_TEST(!u.ok(), name << ": " << input << " parsed to host " << (u ? u->host : ""));
      continue;
    }
    BOOST_REQUIRE_MESSAGE(u.ok(), name << ": " << input << ": " << (u ? "" : u.err().message));
    if (c["host"].IsNull()) {
      BOOST_TEST((u->kind == host_kind::none), name << ": host " << u->host);
    } else {
      BOOST_TEST(u->host == c["host"].GetString(), name);
    }
    if (c["port"].IsNull()) {
      BOOST_TEST(!u->port.has_value(), name);
    } else {
      BOOST_TEST((u->port && *u->port == c["port"].GetInt()), name);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_value_without_a_scheme_is_read_as_a_host) {
  auto u = parse_url("shop.example/pricing?x=1#top", idna_mode::browser);
  BOOST_REQUIRE(u.ok());
  BOOST_TEST(u->scheme.empty());
  BOOST_TEST(u->host == "shop.example");
  BOOST_TEST(u->path == "/pricing");
  BOOST_TEST(*u->query == "x=1");
  BOOST_TEST(*u->fragment == "top");
  auto port = parse_url("localhost:8080/x", idna_mode::browser);
  BOOST_REQUIRE(port.ok());
  BOOST_TEST(port->host == "localhost");
  BOOST_TEST(*port->port == 8080);
  auto relative = parse_url("//cdn.example.com/a.js", idna_mode::browser);
  BOOST_REQUIRE(relative.ok());
  BOOST_TEST(relative->host == "cdn.example.com");
}

// The authority ends at '/', '?', '#' or (special URLs) '\\'; it divides at its last '@'
// (user information before it) and at the first ':' after that outside brackets (an IPv6
// literal's colons are the host's). A last label that starts with a digit may make the host
// an IPv4 address.
BOOST_AUTO_TEST_CASE(an_authority_divides_at_its_last_at_and_first_colon_outside_brackets) {
  struct parsed {
    std::string_view input, host;
    std::optional<std::uint16_t> port;
    std::string_view path;
  };
  for (const auto& c : std::initializer_list<parsed>{
           {"http://u:p@[::1]:8080/x", "[::1]", 8080, "/x"},
           {"http://a:b@c:d@example.com:81/", "example.com", 81, "/"},
           {"http://user@[::1]@host:1/", "host", 1, "/"},
           {"http://example.com:/", "example.com", std::nullopt, "/"},
           {"http://EXAMPLE.com:443/", "example.com", 443, "/"},
           {"https://example.com:443/", "example.com", std::nullopt, "/"},
           {"http://example.com\\path?q#f", "example.com", std::nullopt, "/path"},
           {"http://example.com.:8080", "example.com.", 8080, ""},
           {"http://a.1a/", "a.1a", std::nullopt, "/"},
           {"http://0x7F.1/", "127.0.0.1", std::nullopt, "/"},
       }) {
    auto u = parse_url(c.input, idna_mode::browser);
    BOOST_REQUIRE_MESSAGE(u.ok(), c.input);
    BOOST_TEST(u->host == c.host, c.input);
    BOOST_TEST((u->port == c.port), c.input);
    BOOST_TEST(u->path == c.path, c.input);
  }
  for (auto [input, message] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"http://[::1]:99999/", "has a port above 65535"},
           {"http://h:8x/", "has a port that is not a number"},
           {"http://a.09/", "is not a valid IPv4 address"},
           {"http://example.0x1/", "is not a valid IPv4 address"},
       }) {
    auto u = parse_url(input, idna_mode::browser);
    BOOST_REQUIRE_MESSAGE(!u.ok(), input);
    BOOST_TEST(u.err().message == message, input);
  }
}

// Parsing into a URL used before reuses its strings: nothing of the URL before is left.
BOOST_AUTO_TEST_CASE(a_url_parsed_into_used_storage_keeps_nothing_of_the_one_before) {
  parsed_url u;
  BOOST_REQUIRE(
      parse_url("HTTPS://user@Long-Host-Name.example.com:8443/a/b?q=1#frag", idna_mode::browser, u)
          .ok());
  BOOST_TEST(u.port.has_value());
  for (std::string_view next : {"http://x.io", "/only/a/path", "about:blank", "x.io?q",
                                "http://[::1]/", "https://user@Long-Host-Name.example.com"}) {
    BOOST_REQUIRE_MESSAGE(parse_url(next, idna_mode::browser, u).ok(), next);
    auto fresh = parse_url(next, idna_mode::browser);
    BOOST_REQUIRE(fresh.ok());
    BOOST_TEST(u.scheme == fresh->scheme, next);
    BOOST_TEST(u.special == fresh->special, next);
    BOOST_TEST((u.kind == fresh->kind), next);
    BOOST_TEST(u.host == fresh->host, next);
    BOOST_TEST((u.port == fresh->port), next);
    BOOST_TEST(u.path == fresh->path, next);
    BOOST_TEST((u.query == fresh->query), next);
    BOOST_TEST((u.fragment == fresh->fragment), next);
  }
  // A failed parse is not half of one: the next one starts clean again.
  BOOST_TEST(!parse_url("http://h:8x/", idna_mode::browser, u).ok());
  BOOST_REQUIRE(parse_url("/p", idna_mode::browser, u).ok());
  BOOST_TEST(u.host.empty());
  BOOST_TEST(!u.port.has_value());
}

BOOST_AUTO_TEST_CASE(backslashes_are_slashes_only_in_special_schemes) {
  auto special = parse_url("https://a.example\\b\\c?q", idna_mode::browser);
  BOOST_REQUIRE(special.ok());
  BOOST_TEST(special->host == "a.example");
  BOOST_TEST(special->path == "/b/c");
  auto opaque = parse_url("foo://a.example\\b/c", idna_mode::browser);
  BOOST_TEST(!opaque.ok());  // '\' is a forbidden host character there
}

BOOST_AUTO_TEST_CASE(strict_mode_refuses_names_only_browsers_accept) {
  BOOST_TEST(parse_url("https://xn--ls8h.la/", idna_mode::browser).ok());
  BOOST_TEST(!parse_url("https://xn--ls8h.la/", idna_mode::strict).ok());
  BOOST_TEST(!parse_url("https://i\xE2\x9D\xA4.ws/", idna_mode::strict).ok());
  auto ok = parse_url(
      "https://b\xC3\xBC"
      "cher.de/",
      idna_mode::strict);
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->host == "xn--bcher-kva.de");
}

BOOST_AUTO_TEST_CASE(form_decoding_is_lenient_and_clean) {
  BOOST_TEST(form_decode("Face%20Book+Ads") == "Face Book Ads");
  BOOST_TEST(form_decode("20%off") == "20%off");
  BOOST_TEST(form_decode("100%") == "100%");
  BOOST_TEST(form_decode("%zz%4") == "%zz%4");
  BOOST_TEST(form_decode("a%00b%0Ac%7F") == "abc");
  BOOST_TEST(form_decode("a%C2%85b") == "ab");  // C1 control
  BOOST_TEST(form_decode("caf%C3%A9") == "caf\xC3\xA9");
  BOOST_TEST(form_decode("%FF") == "\xEF\xBF\xBD");  // not UTF-8: U+FFFD
}

BOOST_AUTO_TEST_CASE(strict_percent_decoding_refuses_malformed_escapes) {
  BOOST_TEST(*percent_decode("a%20b+c", true) == "a b c");
  BOOST_TEST(!percent_decode("20%off", true).ok());
  BOOST_TEST(!percent_decode("%FF", false).ok());
}

BOOST_AUTO_TEST_SUITE_END()
