// One account must not be able to stall the others: regex option settings that switch
// safeguards off are refused, regex rules per account are capped (mappings and channel
// rules together), the regexes of one visit share a budget of the work they do, and
// batches run on the compute pool in fair slices, bounded by the request timeout — never on
// an I/O thread. A streamed answer waits for a slow reader instead of growing.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <regex>
#include <string>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"

using namespace referrald::testing;
using std::chrono::steady_clock;

namespace {

// Catastrophic backtracking on any host without a trailing digit; the comment makes each
// pattern distinct without changing what it matches.
std::string costly_regex(int i) {
  return R"j({"referrer_pattern":"^(?:[a-z]+\\.?)+[0-9]$(?#)j" + std::to_string(i) +
         R"j()","match_type":"regex","utm_source":"r)j" + std::to_string(i) + "\"}";
}

const std::string k_costly_visit =
    R"({"referrer":"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example/",)"
    R"("landing_url":"https://h.example/"})";

// Just under PCRE2's match limit on a host of 21 a's (92,732 steps with the JIT): no match
// is ever stopped by the limit, yet a few of them are a visit's whole budget.
std::string under_the_limit_channel_rule(int i) {
  return R"j({"name":"slow )j" + std::to_string(i) +
         R"j(","channel":"Slow","referrer_pattern":"^(a|aa)+[0-9]?$(?#)j" + std::to_string(i) +
         R"j()","match_type":"regex"})j";
}

const std::string k_under_the_limit_visit =
    R"({"referrer":"https://aaaaaaaaaaaaaaaaaaaaa.example/","landing_url":"https://h.example/"})";

// Imports `n` channel rules made by `rule` into `account`.
void import_channel_rules(http_client& c, const std::string& account, int n,
                          std::string (*rule)(int)) {
  std::string body = R"({"mode":"upsert","channel_rules":[)";
  for (int i = 0; i < n; ++i)
    body += (i > 0 ? "," : "") + rule(i);
  body += "]}";
  auto r = c.post("/channel-rules/import?account_id=" + account, body);
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body.substr(0, 300));
}

// An account whose explained visits are large: `n` mappings and `n` passthrough referrers,
// every mapping listed in each visit's explain.
void make_big_account(http_client& c, const std::string& account, int n) {
  std::string mappings = R"({"mode":"upsert","mappings":[)";
  std::string referrers = R"({"mode":"upsert","referrers":[)";
  for (int i = 0; i < n; ++i) {
    mappings += std::string(i > 0 ? "," : "") + R"({"referrer_pattern":"partner-)" +
                std::to_string(i) + R"(.example","match_type":"ends_with","utm_source":"p)" +
                std::to_string(i) + R"("})";
    referrers += std::string(i > 0 ? "," : "") + R"({"domain":"pay-)" + std::to_string(i) +
                 R"(.example","utm_source":"pay"})";
  }
  mappings += "]}";
  referrers += "]}";
  auto m = c.post("/referrer-mappings/import?account_id=" + account, mappings);
  BOOST_REQUIRE_MESSAGE(m.status == 200u, m.body.substr(0, 300));
  auto r = c.post("/passthrough-referrers/import?account_id=" + account, referrers);
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body.substr(0, 300));
}

// A connection that sends `request` and reads nothing (a small receive buffer, so that the
// server's writes block soon); closed by its destructor.
struct non_reading_client {
  int fd = -1;
  non_reading_client(std::uint16_t port, const std::string& request) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    for (std::size_t sent = 0; sent < request.size();) {
      auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      BOOST_REQUIRE(n > 0);
      sent += static_cast<std::size_t>(n);
    }
  }
  // Reads until the server closes the connection; returns what it read.
  std::string read_all() {
    std::string got;
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
  ~non_reading_client() { ::close(fd); }
};

double ms_since(steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(isolation, server_fixture)

BOOST_AUTO_TEST_CASE(regex_option_settings_that_switch_safeguards_off_are_refused) {
  auto c = client();
  for (const char* p : {"(*NO_JIT)^a", "(*LIMIT_MATCH=99999999)a+", "(*LIMIT_DEPTH=1)a",
                        "(*LIMIT_HEAP=1)a", "(*UTF)(*NO_JIT)a", "(*NO_START_OPT)a"}) {
    std::string body =
        std::string(R"({"referrer_pattern":")") + p + R"(","match_type":"regex","utm_source":"s"})";
    auto r = c->post("/referrer-mappings?account_id=acme", body);
    BOOST_TEST(r.status == 400u, p << ": " << r.body);
    BOOST_TEST(names_field(r, "referrer_pattern"), p);
    BOOST_TEST(r.body.find("option setting") != std::string::npos, r.body);
  }
  // Backtracking control verbs inside a pattern are part of the match and stay allowed.
  auto verb =
      c->post("/referrer-mappings?account_id=acme",
              R"({"referrer_pattern":"^a(*COMMIT)b","match_type":"regex","utm_source":"s"})");
  BOOST_TEST(verb.status == 201u, verb.body);
}

BOOST_AUTO_TEST_CASE(an_account_holds_at_most_the_configured_number_of_regex_mappings) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "3"});
  auto c = client();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme", costly_regex(i)).status == 201u);
  auto fourth = c->post("/referrer-mappings?account_id=acme", costly_regex(3));
  BOOST_TEST(fourth.status == 409u, fourth.body);
  BOOST_TEST(names_field(fourth, "match_type"));
  // Turning another mapping into a regex takes a place too.
  auto plain = c->post("/referrer-mappings?account_id=acme",
                       R"({"referrer_pattern":"p.example","utm_source":"s"})");
  BOOST_REQUIRE(plain.status == 201u);
  auto id = std::to_string(plain.json()["data"]["id"].GetInt());
  auto patched = c->patch("/referrer-mappings/" + id + "?account_id=acme",
                          R"({"referrer_pattern":"^p","match_type":"regex"})");
  BOOST_TEST(patched.status == 409u, patched.body);
  // Editing a regex mapping that already holds a place is fine; another account has its own.
  BOOST_TEST(c->patch("/referrer-mappings/1?account_id=acme", R"({"label":"x"})").status == 200u);
  BOOST_TEST(c->post("/referrer-mappings?account_id=other", costly_regex(0)).status == 201u);
}

// The budget was 2 ms of wall-clock time, so whether it ran out depended on the machine's
// speed; it is counted in PCRE2's steps, and so is this test.
BOOST_AUTO_TEST_CASE(the_regexes_of_one_visit_share_a_work_budget) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "300"});
  auto c = client();
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=evil", costly_regex(i)).status == 201u);
  http_client anon(server->port());
  auto r = c->post("/attribution/resolve?account_id=evil", k_costly_visit);
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  BOOST_TEST(d["data"]["reason"].GetString() == std::string("referral"));
  BOOST_REQUIRE(d["data"]["warnings"].Size() == 1u);
  std::string warning = d["data"]["warnings"][0].GetString();
  // Two searches stopped by the match limit (each charged its limits, 143,680 steps), the
  // third by what was left of the budget: they are named, the biggest spenders first.
  BOOST_TEST(
      std::regex_search(warning, std::regex("work budget of a visit \\(300000 steps\\): mapping "
                                            "[0-9]+ spent 143680, mapping [0-9]+ spent 143680, "
                                            "mapping [0-9]+ spent 12640; 297 regexes were not "
                                            "tried and count as not matching$")),
      warning);
  std::string metrics = anon.get("/metrics").body;
  BOOST_TEST(metrics.find("referrald_regex_budget_exhausted_total 1\n") != std::string::npos);
  BOOST_TEST(metrics.find("referrald_regex_match_limit_hits_total 2\n") != std::string::npos);
  // The same visit gets the same answer again.
  auto again = c->post("/attribution/resolve?account_id=evil", k_costly_visit);
  BOOST_TEST(again.body == r.body);
  // explain=true stays within the budget too.
  auto explained = c->post("/attribution/resolve?account_id=evil&explain=true", k_costly_visit);
  BOOST_TEST(explained.status == 200u);
  BOOST_TEST(explained.body.find("not tried: the regex budget") != std::string::npos);
}

// The budget counted only searches stopped by the match limit: rules that each stay just
// under it held a thread for seconds per visit, with no warning.
BOOST_AUTO_TEST_CASE(regexes_that_stay_under_the_match_limit_still_spend_the_visits_budget) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "300"});
  auto c = client();
  import_channel_rules(*c, "evil", 300, under_the_limit_channel_rule);
  http_client anon(server->port());
  auto hits_before = anon.get("/metrics").body;
  auto r = c->post("/attribution/resolve?account_id=evil", k_under_the_limit_visit);
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  BOOST_REQUIRE(d["data"]["warnings"].Size() == 1u);
  std::string warning = d["data"]["warnings"][0].GetString();
  BOOST_TEST(warning.find("channel rule 1 spent 143680, channel rule 2 spent 143680, channel "
                          "rule 3 spent 12640; 297 regexes were not tried") != std::string::npos,
             warning);
  BOOST_TEST(d["data"]["channel"].GetString() != std::string("Slow"));
  // None of them was stopped by the match limit: the budget counts the steps they spent.
  BOOST_TEST(anon.get("/metrics").body.find("referrald_regex_match_limit_hits_total 0\n") !=
             std::string::npos);
  // With explain, the channel rules are listed within the same budget.
  auto explained =
      c->post("/attribution/resolve?account_id=evil&explain=true", k_under_the_limit_visit);
  BOOST_TEST(explained.status == 200u);
  BOOST_TEST(explained.body.find("not tried: the regex budget") != std::string::npos);
  (void)hits_before;
}

BOOST_AUTO_TEST_CASE(regex_channel_rules_count_toward_the_regex_quota) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "3"});
  auto c = client();
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme", costly_regex(i)).status == 201u);
  BOOST_REQUIRE(c->post("/channel-rules?account_id=acme", under_the_limit_channel_rule(0)).status ==
                201u);
  // The fourth regex rule, of either kind, is refused; so is an import that would add one.
  auto rule = c->post("/channel-rules?account_id=acme", under_the_limit_channel_rule(1));
  BOOST_TEST(rule.status == 409u, rule.body);
  BOOST_TEST(names_field(rule, "match_type"));
  BOOST_TEST(rule.body.find("--max-regex-rules") != std::string::npos, rule.body);
  auto mapping = c->post("/referrer-mappings?account_id=acme", costly_regex(2));
  BOOST_TEST(mapping.status == 409u, mapping.body);
  auto imported =
      c->post("/channel-rules/import?account_id=acme",
              R"({"mode":"upsert","channel_rules":[)" + under_the_limit_channel_rule(1) + "]}");
  BOOST_TEST(imported.status == 409u, imported.body);
  // A channel rule without a pattern, or with another match type, is no regex rule.
  BOOST_TEST(c->post("/channel-rules?account_id=acme",
                     R"({"name":"plain","channel":"P","referrer_pattern":"p.example"})")
                 .status == 201u);
  // Replacing every rule of the kind frees their places.
  auto replaced =
      c->post("/channel-rules/import?account_id=acme",
              R"({"mode":"replace","channel_rules":[)" + under_the_limit_channel_rule(5) + "]}");
  BOOST_TEST(replaced.status == 200u, replaced.body);
}

// A batch read the clock every 16 visits; visits of costly rules ran long past the request
// timeout between two readings. The clock is read by work too.
BOOST_AUTO_TEST_CASE(a_batch_of_costly_visits_ends_by_its_request_timeout) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "10000", "--request-timeout", "1500"});
  auto c = client();
  import_channel_rules(*c, "evil", 2000, under_the_limit_channel_rule);
  std::string lines;
  for (int i = 0; i < 10000; ++i)
    lines += k_under_the_limit_visit + "\n";
  auto began = steady_clock::now();
  http_reply r;
  try {
    r = c->request("POST", "/attribution/resolve-batch?account_id=evil", lines,
                   {{"Content-Type", "application/x-ndjson"}});
  } catch (const std::exception&) {
    // Cut short after its first lines: the connection closes before the end of the body.
  }
  double took = ms_since(began);
  BOOST_TEST_MESSAGE("a costly NDJSON batch with a 1500 ms timeout took " << took << " ms");
  BOOST_TEST(took < 3000.0);
}

BOOST_AUTO_TEST_CASE(a_costly_account_does_not_hold_other_accounts_or_healthz) {
  server->stop(SIGTERM);
  start({"--max-regex-rules", "300", "--request-timeout", "3000"});
  auto c = client();
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=evil", costly_regex(i)).status == 201u);
  c->post("/passthrough-referrers?account_id=good",
          R"({"domain":"pay.example.com","utm_source":"pay"})");
  // Two batches of costly visits, as many as there are compute threads here.
  std::string batch = R"({"visits":[)";
  for (int i = 0; i < 10000; ++i)
    batch += (i > 0 ? "," : "") + k_costly_visit;
  batch += "]}";
  auto evil = [&] {
    http_client e(server->port(), admin_secret);
    auto began = steady_clock::now();
    auto r = e.post("/attribution/resolve-batch?account_id=evil", batch);
    return std::make_pair(r, ms_since(began));
  };
  auto first = std::async(std::launch::async, evil);
  auto second = std::async(std::launch::async, evil);
  // Both are being answered (with the request that asks, three in flight).
  eventually([&] {
    auto text = http_client(server->port()).get("/metrics").body;
    auto at = text.find("\nreferrald_http_requests_in_flight ");
    return at != std::string::npos &&
           std::stoi(text.substr(at + std::strlen("\nreferrald_http_requests_in_flight "))) >= 3;
  });
  // Meanwhile: health, another account's single visit and its batch answer promptly.
  http_client anon(server->port());
  auto began = steady_clock::now();
  BOOST_TEST(anon.get("/healthz").status == 200u);
  double healthz_ms = ms_since(began);
  http_client good(server->port(), admin_secret);
  began = steady_clock::now();
  auto one =
      good.post("/attribution/resolve?account_id=good",
                R"({"referrer":"https://pay.example.com/","landing_url":"https://h.example/"})");
  double one_ms = ms_since(began);
  BOOST_TEST(one.status == 200u);
  began = steady_clock::now();
  auto small = good.post(
      "/attribution/resolve-batch?account_id=good",
      R"({"visits":[{"referrer":"https://pay.example.com/","landing_url":"https://h.example/"}]})");
  double batch_ms = ms_since(began);
  BOOST_TEST(small.status == 200u);
  BOOST_TEST(small.json()["data"]["results"][0]["reason"].GetString() ==
             std::string("passthrough_fallback"));
  BOOST_TEST_MESSAGE("while two costly batches run: healthz "
                     << healthz_ms << " ms, a visit " << one_ms << " ms, a batch " << batch_ms
                     << " ms");
  // Generous bounds: before the compute pool, each of these waited for the costly batch.
  BOOST_TEST(healthz_ms < 500.0);
  BOOST_TEST(one_ms < 500.0);
  BOOST_TEST(batch_ms < 500.0);
  // The costly batches stop at the request timeout, with a 503 that says why.
  for (auto* f : {&first, &second}) {
    auto [r, took] = f->get();
    BOOST_TEST(r.status == 503u, r.body.substr(0, 200));
    BOOST_TEST(r.body.find("request timeout") != std::string::npos, r.body.substr(0, 300));
    BOOST_TEST(took < 6000.0);
  }
}

// The explained answers of a thousand mappings below take a sanitizer's build longer than the
// request timeout (10 s) to make, and the server rightly cuts them there: under a sanitizer
// the server gets the time it needs.
void give_big_answers_time(server_fixture& f) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  f.start({"--request-timeout", "300000"});
#else
  (void)f;
#endif
}

// The streamed answer was appended to without bound while a write was blocked: clients
// that never read took the server's memory up by hundreds of MB each.
BOOST_AUTO_TEST_CASE(a_streamed_answer_waits_for_a_slow_reader_instead_of_growing) {
  give_big_answers_time(*this);
  auto c = client();
  make_big_account(*c, "big", 1000);
  std::string lines;
  for (int i = 0; i < 600; ++i)
    lines += R"({"referrer":"https://shop.partner-7.example/","landing_url":"https://h.example/"})"
             "\n";
  // Each line's explain lists the 1,000 mappings: about 170 KB, 100 MB for the answer.
  std::string request =
      "POST /attribution/resolve-batch?account_id=big&explain=true HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nAuthorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(lines.size()) + "\r\n\r\n" + lines;
  BOOST_REQUIRE(c->get("/healthz").status == 200u);
  long before = rss_kib(server->pid());
  std::vector<std::unique_ptr<non_reading_client>> readers;
  for (int i = 0; i < 3; ++i)
    readers.push_back(std::make_unique<non_reading_client>(server->port(), request));
  // However long they wait, the server holds a few MB for each of them.
  long most = before;
  eventually(  // sampled every 50 ms for 3 s
      [&] {
        most = std::max(most, rss_kib(server->pid()));
        return false;
      },
      std::chrono::seconds(3), std::chrono::milliseconds(50));
  BOOST_TEST_MESSAGE("three clients that do not read: RSS " << before / 1024 << " MB -> "
                                                            << most / 1024 << " MB at most");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer's shadow memory (and AddressSanitizer's quarantine of freed blocks) is in the
  // process's RSS: the figure then measures the sanitizer, not the streaming.
  BOOST_TEST_MESSAGE("the RSS bound is not checked under a sanitizer");
#else
  BOOST_TEST(most - before < 64 * 1024);
#endif
  // Then one reads: its answer is whole, every line in place.
  std::string got = readers[0]->read_all();
  auto body_at = got.find("\r\n\r\n");
  BOOST_REQUIRE(body_at != std::string::npos);
  BOOST_TEST(got.rfind("HTTP/1.1 200", 0) == 0u);
  std::size_t results = 0;
  for (std::size_t at = got.find("{\"utm_source\""); at != std::string::npos;
       at = got.find("{\"utm_source\"", at + 1))
    ++results;
  BOOST_TEST(results == 600u);
  BOOST_TEST(got.ends_with("0\r\n\r\n"));  // the last chunk: the answer is complete
}

// A JSON answer with explain was built whole in memory, however large (560 MB seen): past
// 32 MiB it is streamed, the same document.
BOOST_AUTO_TEST_CASE(a_json_answer_larger_than_the_backlog_bound_is_streamed_whole) {
  give_big_answers_time(*this);
  auto c = client();
  make_big_account(*c, "big", 1000);
  std::string body = R"({"visits":[)";
  for (int i = 0; i < 250; ++i) {
    body += std::string(i > 0 ? "," : "") +
            R"({"referrer":"https://shop.partner-7.example/","landing_url":"https://h.example/"})";
  }
  body += "]}";
  auto r = c->post("/attribution/resolve-batch?account_id=big&explain=true", body);
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-length").empty());
  BOOST_TEST(r.header("transfer-encoding") == "chunked");
  BOOST_TEST(r.body.size() > (32u << 20));
  auto d = r.json();
  BOOST_REQUIRE(d["data"]["results"].Size() == 250u);
  BOOST_TEST(d["data"]["results"][249]["utm_source"].GetString() == std::string("p7"));
  // A small answer keeps its length.
  auto small = c->post(
      "/attribution/resolve-batch?account_id=big",
      R"({"visits":[{"referrer":"https://a.partner-7.example/","landing_url":"https://h.example/"}]})");
  BOOST_TEST(small.status == 200u, small.body);
  BOOST_TEST(!small.header("content-length").empty());
}

BOOST_AUTO_TEST_SUITE_END()
