#include "domain/web/url.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

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

// The plain reading of the common URL gives what parse_url gives, on 400,000 inputs: the
// vectors' URLs, URLs like the visits of a site's traffic, and both mutated a byte or a few at
// a time with the bytes that change how a URL reads (case, '%', '@', ':', '[', '\\', spaces,
// controls, "xn--", numbers, UTF-8).
BOOST_AUTO_TEST_CASE(the_plain_reading_gives_what_parse_url_gives_on_400000_inputs) {
  auto doc =
      referrald::testing::parse(read_file(std::string(REFERRALD_VECTORS_DIR) + "/urls.json"));
  std::vector<std::string> seeds;
  for (const auto& c : doc["cases"].GetArray())
    seeds.emplace_back(c["input"].GetString());
  const std::vector<std::string> made = {
      "https://hotel.example/rooms/12",
      "https://www.google.com/search?q=hotel+rooms&hl=en#top",
      "http://secure.pay123.example:8443/3ds?token=abc%20def",
      "https://my-partner.net/page?utm_source=x&utm_medium=y",
      "https://news.ycombinator.com/item?id=1",
      "https://x.com/i/grok",
      "http://localhost:8080/",
      "https://a.b.c.d.example.co.uk/p/q/r?",
      "https://t.co",
      "https://www.bing.com/search?q=%E2%9D%A4",
  };
  seeds.insert(seeds.end(), made.begin(), made.end());
  const std::vector<std::string> pieces = {
      "A",      "Z",  "%",   "%41", "@",        ":",    ":99999", ":65535",
      "[",      "]",  "\\",  " ",   "\t",       "\x01", "xn--",   "xn--ls8h.",
      "0x7f",   "1",  "255", ".",   "..",       "-",    "/",      "?",
      "#",      "'",  "\"",  "<",   "\xC3\xA9", "\xFF", "www.",   "HTTP://",
      "https:", "//", "~",   "|",   "^",        "`",    "{"};
  std::mt19937 rng(400000);
  std::size_t plain = 0;
  parsed_url full;
  for (int i = 0; i < 400000; ++i) {
    // Half of them from the common URLs, half from every seed.
    std::string input = rng() % 2 == 0 ? made[rng() % made.size()] : seeds[rng() % seeds.size()];
    for (int e = 0, edits = static_cast<int>(rng() % 3); e < edits && !input.empty(); ++e) {
      std::size_t at = rng() % (input.size() + 1);
      const std::string& piece = pieces[rng() % pieces.size()];
      switch (rng() % 3) {
        case 0:
          input.insert(at, piece);
          break;
        case 1:
          input.replace(std::min(at, input.size() - 1), 1, piece);
          break;
        default:
          input.erase(std::min(at, input.size() - 1), 1);
      }
    }
    url_parts parts;
    if (!read_plain_url(input, parts)) continue;
    ++plain;
    auto st = parse_url(input, idna_mode::browser, full);
    BOOST_REQUIRE_MESSAGE(st.ok(), "read plainly, but parse_url refuses: " << input);
    BOOST_TEST((full.kind == host_kind::domain), input);
    BOOST_TEST(full.host == parts.host, input);
    BOOST_TEST(full.path == parts.path, input);
    BOOST_TEST(full.query.has_value() == parts.query.has_value(), input);
    if (full.query && parts.query) BOOST_TEST(*full.query == *parts.query, input);
  }
  // Most inputs are read plainly, and the mutations leave many that are not.
  BOOST_TEST(plain > 100000u);
  BOOST_TEST(plain < 400000u);
}

BOOST_AUTO_TEST_SUITE_END()
