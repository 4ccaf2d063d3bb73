// referralctl attribute end to end: a visit log resolved in-process against the real data
// directory while the server runs answers, visit by visit, byte for byte what
// POST /attribution/resolve?as_of= answers for the same visit at the same time; lines and
// records that are not visits become error records; a log far larger than the memory the
// command may use streams through.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "domain/base/clock.hpp"
#include "domain/base/csv.hpp"
#include "domain/base/json.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald;
using namespace referrald::testing;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);)
    out.push_back(line);
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// A few rule changes of account acme, 15 ms apart on the server's clock, so that visits can
// fall between them.
void make_history(http_client& c, test_clock& clock) {
  auto step = [&](http_reply r, unsigned status) {
    BOOST_REQUIRE_MESSAGE(r.status == status, r.body);
    clock.advance(std::chrono::milliseconds(15));
  };
  step(
      c.post(
          "/referrer-mappings?account_id=acme",
          R"({"referrer_pattern":"partner.example","utm_source":"partner","utm_medium":"affiliate"})"),
      201);
  step(c.post("/passthrough-referrers?account_id=acme",
              R"({"domain":"pay.example","utm_source":"pay"})"),
       201);
  step(c.patch("/referrer-mappings/1?account_id=acme", R"({"utm_source":"partner-2"})"), 200);
  step(c.post(
           "/referrer-mappings?account_id=acme",
           R"({"referrer_pattern":"google.com","match_type":"ends_with","utm_source":"g-mapped"})"),
       201);
  step(c.del("/referrer-mappings/1?account_id=acme"), 204);
  step(c.patch("/passthrough-referrers/1?account_id=acme", R"({"utm_source":"pay-2"})"), 200);
  step(c.post("/referrer-mappings?account_id=acme",
              R"({"referrer_pattern":"partner.example","utm_source":"partner-3"})"),
       201);
}

// The events' timestamps (ms), from referralctl events.
std::vector<domain::unix_ms> event_times(const std::string& data) {
  auto r = referralctl("--data " + data + " events --account acme");
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  std::vector<domain::unix_ms> out;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE(!d.HasParseError());
    out.push_back(*domain::parse_rfc3339(d["timestamp"].GetString()));
  }
  return out;
}

// Account acme with one mapping (partner.example -> partner); the data directory.
std::string one_mapping(http_client& c, const temp_dir& dir) {
  BOOST_REQUIRE(c.post("/referrer-mappings?account_id=acme",
                       R"({"referrer_pattern":"partner.example","utm_source":"partner"})")
                    .status == 201u);
  return dir.sub("data");
}

const char* const k_visits[] = {
    R"("referrer":"https://partner.example/deal","landing_url":"https://shop.example/")",
    R"("referrer":"https://pay.example/checkout","landing_url":"https://shop.example/back","session":{"utm_source":"newsletter","utm_medium":"email"})",
    R"("referrer":"https://www.google.com/search?q=shoes","landing_url":"https://shop.example/")",
    R"("referrer":null,"landing_url":"https://shop.example/?utm_source=x&utm_medium=y")",
    R"("referrer":"https://unknown.example/","landing_url":"https://shop.example/?gclid=abc")",
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(attribute, server_fixture)

BOOST_FIXTURE_TEST_CASE(each_visit_answers_as_resolve_as_of_its_time, in_process_fixture) {
  auto c = client();
  make_history(*c, clock);
  std::string data = dir.sub("data");
  auto times = event_times(data);
  BOOST_REQUIRE_EQUAL(times.size(), 7u);
  std::vector<domain::unix_ms> at = {times.front() - 1000, times.back() + 1000};
  for (auto t : times) {
    at.push_back(t - 1);
    at.push_back(t);
    at.push_back(t + 1);
  }
  // The log: every visit at every time, times alternately epoch ms and RFC 3339, and a
  // field of the log's own.
  std::string log;
  std::vector<std::pair<std::string, domain::unix_ms>> asked;  // the visit's body, its time
  for (std::size_t i = 0; i < at.size(); ++i) {
    for (std::size_t v = 0; v < std::size(k_visits); ++v) {
      std::string when =
          (i + v) % 2 == 0 ? std::to_string(at[i]) : "\"" + domain::format_rfc3339(at[i]) + "\"";
      log +=
          "{\"n\":" + std::to_string(asked.size()) + "," + k_visits[v] + ",\"t\":" + when + "}\n";
      asked.emplace_back(std::string("{") + k_visits[v] + "}", at[i]);
    }
  }
  write_file(dir.sub("visits.ndjson"), log);
  auto r = referralctl("--data " + data + " attribute --account acme --time-field t --input " +
                       dir.sub("visits.ndjson") + " --output " + dir.sub("out.ndjson"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  BOOST_TEST(
      r.output.find(std::to_string(asked.size()) + " visits, 0 error records") != std::string::npos,
      r.output);
  auto in = lines_of(dir.sub("visits.ndjson"));
  auto out = lines_of(dir.sub("out.ndjson"));
  BOOST_REQUIRE_EQUAL(out.size(), asked.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    // The output line is the input line's fields, then the resolution's members.
    BOOST_REQUIRE(out[i].compare(0, in[i].size() - 1, in[i], 0, in[i].size() - 1) == 0);
    std::string ours = "{" + out[i].substr(in[i].size());
    auto answer = c->post(
        "/attribution/resolve?account_id=acme&as_of=" + domain::format_rfc3339(asked[i].second),
        asked[i].first);
    BOOST_REQUIRE_MESSAGE(answer.status == 200u, answer.body);
    std::string open = "{\"success\":true,\"data\":";
    BOOST_REQUIRE(answer.body.starts_with(open) && answer.body.ends_with("}"));
    std::string theirs = answer.body.substr(open.size(), answer.body.size() - open.size() - 1);
    if (ours != theirs && differ++ < 3) {
      BOOST_ERROR("visit " << i << " at " << asked[i].second << ":\n ours   " << ours
                           << "\n server " << theirs);
    }
  }
  BOOST_TEST(differ == 0u);
  // The history matters: the same visit got different answers at different times.
  BOOST_TEST(log.find("partner") != std::string::npos);
  std::set<std::string> partner_sources;
  for (std::size_t i = 0; i < out.size(); i += std::size(k_visits)) {
    rapidjson::Document d;
    d.Parse(out[i].c_str());
    partner_sources.insert(d["utm_source"].GetString());
  }
  BOOST_TEST(partner_sources.size() >= 4u);  // before, partner, partner-2, referral, partner-3
}

BOOST_AUTO_TEST_CASE(lines_that_are_not_visits_become_error_records) {
  std::string data = one_mapping(*client(), dir);
  write_file(dir.sub("in.ndjson"),
             "{\"referrer\":\"https://partner.example/\",\"landing_url\":\"https://s.example/\"}\n"
             "not json\n"
             "[1,2]\n"
             "\n"
             "{\"id\":7,\"referrer\":\"https://partner.example/\"}\n"
             "{\"landing_url\":5,\"keep\":\"me\"}\n"
             "{\"landing_url\":\"https://s.example/\",\"channel\":\"old\",\"reason\":\"old\"}\n");
  auto r = referralctl("--data " + data + " attribute --account acme --input " +
                       dir.sub("in.ndjson") + " --output " + dir.sub("out.ndjson"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  BOOST_TEST(r.output.find("6 visits, 4 error records") != std::string::npos, r.output);
  auto out = lines_of(dir.sub("out.ndjson"));
  BOOST_REQUIRE_EQUAL(out.size(), 6u);
  auto json = [](const std::string& line) {
    auto d = std::make_unique<rapidjson::Document>();
    d->Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(!d->HasParseError(), line);
    return d;
  };
  BOOST_TEST((*json(out[0]))["utm_source"].GetString() == std::string("partner"));
  auto e1 = json(out[1]);
  BOOST_TEST((*e1)["error"]["line"].GetInt() == 2);
  BOOST_TEST((*e1)["error"]["field"].IsNull());
  BOOST_TEST(
      std::string((*e1)["error"]["message"].GetString()).starts_with("the line is not valid JSON"));
  auto e2 = json(out[2]);
  BOOST_TEST((*e2)["error"]["line"].GetInt() == 3);
  auto e3 = json(out[3]);
  BOOST_TEST((*e3)["id"].GetInt() == 7);  // the record's own fields stay
  BOOST_TEST((*e3)["error"]["line"].GetInt() == 5);
  BOOST_TEST((*e3)["error"]["field"].GetString() == std::string("landing_url"));
  BOOST_TEST((*e3)["error"]["message"].GetString() == std::string("is required"));
  auto e4 = json(out[4]);
  BOOST_TEST((*e4)["keep"].GetString() == std::string("me"));
  BOOST_TEST((*e4)["error"]["line"].GetInt() == 6);
  auto replaced = json(out[5]);
  BOOST_TEST((*replaced)["reason"].GetString() == std::string("direct"));
  BOOST_TEST(out[5].find("\"old\"") == std::string::npos, out[5]);
  auto strict =
      referralctl("--data " + data + " attribute --account acme --fail-on-error --input " +
                  dir.sub("in.ndjson") + " --output " + dir.sub("out2.ndjson"));
  BOOST_TEST(strict.exit == 1, strict.output);
  // A wrong time is an error record too.
  write_file(dir.sub("t.ndjson"),
             "{\"landing_url\":\"https://s.example/\",\"t\":\"yesterday\"}\n"
             "{\"landing_url\":\"https://s.example/\"}\n");
  auto timed = referralctl("--data " + data + " attribute --account acme --time-field t --input " +
                           dir.sub("t.ndjson") + " --output " + dir.sub("t.out"));
  BOOST_REQUIRE_MESSAGE(timed.exit == 0, timed.output);
  auto t = lines_of(dir.sub("t.out"));
  BOOST_REQUIRE_EQUAL(t.size(), 2u);
  BOOST_TEST((*json(t[0]))["error"]["field"].GetString() == std::string("t"));
  BOOST_TEST((*json(t[1]))["error"]["message"].GetString() ==
             std::string("is required (--time-field)"));
  // A time before 1970 is refused alike as a number and as a string (the number -1 was
  // taken); a byte order mark after the log's start makes a line that is not JSON.
  write_file(dir.sub("n.ndjson"),
             "{\"landing_url\":\"https://s.example/\",\"t\":-1}\n"
             "{\"landing_url\":\"https://s.example/\",\"t\":\"-1\"}\n"
             "\xEF\xBB\xBF{\"landing_url\":\"https://s.example/\",\"t\":1}\n");
  auto negative =
      referralctl("--data " + data + " attribute --account acme --time-field t --input " +
                  dir.sub("n.ndjson") + " --output " + dir.sub("n.out"));
  BOOST_REQUIRE_MESSAGE(negative.exit == 0, negative.output);
  auto n = lines_of(dir.sub("n.out"));
  BOOST_REQUIRE_EQUAL(n.size(), 3u);
  BOOST_TEST((*json(n[0]))["error"]["field"].GetString() == std::string("t"), n[0]);
  BOOST_TEST((*json(n[1]))["error"]["field"].GetString() == std::string("t"), n[1]);
  BOOST_TEST(n[2].find("byte order mark") != std::string::npos, n[2]);
  // The command line's own mistakes exit 2; an account without events 1.
  BOOST_TEST(referralctl("--data " + data + " attribute --account acme --format xml").exit == 2);
  BOOST_TEST(referralctl("--data " + data +
                         " attribute --account acme --time-field t --as-of "
                         "2026-01-01T00:00:00Z")
                 .exit == 2);
  BOOST_TEST(
      referralctl("--data " + data + " attribute --account nobody --input " + dir.sub("t.ndjson"))
          .exit == 1);
}

// Most lines are read without a JSON document (domain/base/json_scan.hpp); a line written
// another way (escapes, an exponent, a repeated key) goes through the document. Both
// readings give the same answer. A byte order mark starts the log only.
BOOST_AUTO_TEST_CASE(a_visit_answers_alike_however_its_line_is_written) {
  std::string data = one_mapping(*client(), dir);
  const std::pair<std::string, std::string> twins[] = {
      {R"({"referrer":"https://partner.example/deal","landing_url":"https://shop.example/","t":4102444800000})",
       R"({"referrer":"https:\/\/partner.example\/deal","landing_url":"https://shop.example/","t":4.1024448e12})"},
      {R"({"referrer":"https://shop.example/page","landing_url":"https://shop.example/","session":{"utm_source":"news","utm_medium":null},"t":"2026-11-22T10:00:00Z"})",
       R"({"refer\u0072er":"https://shop.example/page","landing_url":"https://shop.example/","session":{"utm_source":"n\u0065ws","utm_medium":null},"t":"2026-11-22T10:00:00Z"})"},
      {R"({"referrer":"https://www.google.com/search?q=x","landing_url":"https://shop.example/?utm_source=a","t":0})",
       R"({"referrer":"https://www.google.com/search?q=x","landing_url":"https://shop.example/?utm_source=a","t":0,"t":"not read"})"},
      {R"({"referrer":null,"landing_url":" https://shop.example/?gclid=1 ","t":5})",
       R"({"referrer":null,"landing_url":" https://shop.example/?gclid=1 ","t":5.0})"},
  };
  std::string in = "\xEF\xBB\xBF";
  for (const auto& [a, b] : twins)
    in += a + "\n" + b + "\n";
  in += "{\r}\n";  // no members: the error follows the brace, and the line stays JSON
  write_file(dir.sub("in.ndjson"), in);
  auto r = referralctl("--data " + data + " attribute --account acme --time-field t --input " +
                       dir.sub("in.ndjson") + " --output " + dir.sub("out.ndjson"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  auto out = lines_of(dir.sub("out.ndjson"));
  BOOST_REQUIRE_EQUAL(out.size(), 2 * std::size(twins) + 1);
  auto resolution = [](const std::string& line) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(!d.HasParseError() && d.IsObject(), line);
    BOOST_REQUIRE_MESSAGE(!d.HasMember("error"), line);
    std::string text;
    for (const char* name : {"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                             "reason", "rule", "referrer_host", "ai_platform", "known_referrer",
                             "click_id", "channel", "channel_rule", "warnings"}) {
      BOOST_REQUIRE_MESSAGE(d.HasMember(name), name << " in " << line);
      domain::append_canonical_json(text, d[name]);
      text += '\n';
    }
    return text;
  };
  for (std::size_t i = 0; i < std::size(twins); ++i)
    BOOST_TEST(resolution(out[2 * i]) == resolution(out[2 * i + 1]), out[2 * i + 1]);
  BOOST_TEST(out[0].find("\"utm_source\":\"partner\"") != std::string::npos, out[0]);
  BOOST_TEST(out[2].find("\"utm_source\":\"news\"") != std::string::npos, out[2]);
  rapidjson::Document last;
  last.Parse(out.back().c_str());
  BOOST_REQUIRE_MESSAGE(!last.HasParseError(), out.back());
  BOOST_TEST(last["error"]["line"].GetInt() == 9);
}

BOOST_AUTO_TEST_CASE(a_huge_line_or_bad_bytes_are_error_records_not_a_stop) {
  std::string data = one_mapping(*client(), dir);
  std::string huge =
      "{\"landing_url\":\"https://s.example/\",\"pad\":\"" + std::string(5u << 20, 'x') + "\"}\n";
  write_file(
      dir.sub("in.ndjson"),
      huge + "{\"landing_url\":\"https://s.example/\xff\xfe\"}\n" +
          "{\"referrer\":\"https://partner.example/\",\"landing_url\":\"https://s.example/\"}\n");
  auto r = referralctl("--data " + data + " attribute --account acme --input " +
                       dir.sub("in.ndjson") + " --output " + dir.sub("out.ndjson"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  BOOST_TEST(r.output.find("3 visits, 2 error records") != std::string::npos, r.output);
  auto out = lines_of(dir.sub("out.ndjson"));
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  BOOST_TEST(out[0].find("\"line\":1") != std::string::npos, out[0]);
  BOOST_TEST(out[0].find("longer than 4 MiB") != std::string::npos, out[0]);
  BOOST_TEST(out[1].find("\"line\":2") != std::string::npos, out[1]);
  BOOST_TEST(out[1].find("not valid JSON") != std::string::npos, out[1]);
  BOOST_TEST(out[2].find("\"utm_source\":\"partner\"") != std::string::npos, out[2]);
}

BOOST_AUTO_TEST_CASE(csv_records_keep_their_columns_and_errors_name_the_line) {
  std::string data = one_mapping(*client(), dir);
  write_file(dir.sub("in.csv"),
             "id,referrer,landing_url,session_utm_source,channel\r\n"
             "1,https://partner.example/,https://s.example/,,old\r\n"
             "2,\"https://pay.example/?a=1,2\",\"https://s.example/?utm_source=x\",,\r\n"
             "3,too,few\r\n"
             "\"4\nwith a line break\",,https://s.example/,news,\r\n"
             "5,https://x.example/,https://s.example/,\"bad\x01\",\r\n");
  auto r = referralctl("--data " + data + " attribute --account acme --input " + dir.sub("in.csv") +
                       " --output " + dir.sub("out.csv"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  BOOST_TEST(r.output.find("5 visits, 2 error records") != std::string::npos, r.output);
  std::ifstream f(dir.sub("out.csv"), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto records = domain::parse_csv(text, 100);
  BOOST_REQUIRE_MESSAGE(records.ok(), text);
  BOOST_REQUIRE_EQUAL(records->size(), 6u);
  const auto& h = (*records)[0];
  BOOST_REQUIRE_EQUAL(h.size(), 4u + 17u - 1u);  // channel is the resolution's; no explain
  BOOST_TEST(h[0] == "id");
  BOOST_TEST(h[4] == "utm_source");
  BOOST_TEST(h.back() == "error");
  auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(h.begin(), h.end(), name) - h.begin());
  };
  for (std::size_t i = 1; i < records->size(); ++i)
    BOOST_TEST((*records)[i].size() == h.size());
  BOOST_TEST((*records)[1][col("utm_source")] == "partner");
  BOOST_TEST((*records)[1][col("channel")] != "old");
  BOOST_TEST((*records)[2][col("utm_source")] == "x");
  BOOST_TEST((*records)[2][1] == "https://pay.example/?a=1,2");
  BOOST_TEST((*records)[3][col("error")].find("\"line\":4") != std::string::npos);
  BOOST_TEST((*records)[4][0] == "4\nwith a line break");
  BOOST_TEST((*records)[4][col("utm_source")] == "news");  // no referrer: the session's
  BOOST_TEST((*records)[5][col("error")].find("\"line\":7") != std::string::npos);
  BOOST_TEST((*records)[5][col("error")].find("session_utm_source") != std::string::npos);
}

// A visitor's link sets utm_* values, which the CSV output wrote as they were: a value a
// spreadsheet runs as a formula is written with an apostrophe before it.
BOOST_AUTO_TEST_CASE(csv_output_neutralizes_values_a_spreadsheet_would_run_as_formulas) {
  std::string data = one_mapping(*client(), dir);
  write_file(dir.sub("in.csv"),
             "note,referrer,landing_url\r\n"
             "=1+2,,https://s.example/?utm_source=%3DHYPERLINK(%22https://evil.example%22)"
             "&utm_medium=%40x&utm_campaign=-5\r\n"
             "'=kept,https://partner.example/,https://s.example/\r\n");
  auto r = referralctl("--data " + data + " attribute --account acme --input " + dir.sub("in.csv") +
                       " --output " + dir.sub("out.csv"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  std::ifstream f(dir.sub("out.csv"), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("\r\n'=1+2,,") != std::string::npos, text);
  BOOST_TEST(
      text.find(",\"'=HYPERLINK(\"\"https://evil.example\"\")\",'@x,'-5,") != std::string::npos,
      text);
  BOOST_TEST(text.find("\r\n'=kept,") != std::string::npos, text);
  // No line starts a cell with a formula character.
  for (const char* bad : {"\n=", ",=", "\n+", ",+", "\n@", ",@", ",-", "\n-"})
    BOOST_TEST(text.find(bad) == std::string::npos, bad);
  // Read back, every value is what it was.
  auto records = domain::parse_csv(text, 10);
  BOOST_REQUIRE(records.ok());
  BOOST_TEST((*records)[1][0] == "=1+2");
  BOOST_TEST((*records)[1][3] == "=HYPERLINK(\"https://evil.example\")");
  BOOST_TEST((*records)[2][0] == "=kept");
}

// An unterminated quote under 4 MiB swallowed the rest of the log into one error record
// (100,001 visits left out, exit 0); above 4 MiB the reader recovered at the next line.
BOOST_AUTO_TEST_CASE(an_unterminated_quote_is_one_error_record_and_the_log_goes_on) {
  std::string data = one_mapping(*client(), dir);
  std::string rest;
  for (int i = 0; i < 1000; ++i)
    rest += std::to_string(i) + ",https://partner.example/,https://s.example/\r\n";
  write_file(dir.sub("in.csv"),
             "id,referrer,landing_url\r\n"
             "x,\"https://partner.example/,https://s.example/\r\n" +
                 rest);
  // --quiet drops the progress lines, not the summary the docs promise.
  auto r = referralctl("--data " + data + " attribute --account acme --quiet --input " +
                       dir.sub("in.csv") + " --output " + dir.sub("out.csv"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  BOOST_TEST(r.output.find("1001 visits, 1 error records") != std::string::npos, r.output);
  std::ifstream f(dir.sub("out.csv"), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto records = domain::parse_csv(text, 2000);
  BOOST_REQUIRE_MESSAGE(records.ok(), (records.ok() ? "" : records.err().message));
  BOOST_REQUIRE_EQUAL(records->size(), 1002u);
  BOOST_TEST((*records)[1].back().find("\"line\":2") != std::string::npos, (*records)[1].back());
  BOOST_TEST((*records)[1].back().find("a quoted field is not closed") != std::string::npos);
  BOOST_TEST((*records)[2][0] == "0");
  BOOST_TEST((*records)[1001][0] == "999");
  BOOST_TEST((*records)[1001][3] == "partner");
}

BOOST_AUTO_TEST_CASE(a_log_larger_than_its_memory_streams_through) {
  std::string data = one_mapping(*client(), dir);
  // 256 MiB of visits through a pipe; the command's peak resident memory must stay under
  // half of it.
  // The peak is read from the command's own /proc/PID/status (VmHWM, its address space
  // since exec), while it runs: wait4's ru_maxrss would also count this test process's
  // memory, whose pages the child had until its exec.
  int in[2];
  BOOST_REQUIRE(pipe(in) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_addclose(&actions, in[0]);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::string binary = REFERRALCTL_BINARY;
  std::vector<std::string> args = {binary, "--data",    data, "attribute", "--account",
                                   "acme", "--threads", "2",  "--quiet"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  BOOST_REQUIRE(spawned == 0);
  close(in[0]);
  std::string line =
      R"({"referrer":"https://partner.example/some/path","landing_url":"https://shop.example/landing?x=1","pad":")" +
      std::string(120, 'p') + "\"}\n";
  std::string block;
  while (block.size() < (1u << 20))
    block += line;
  const std::size_t total = 256u << 20;
  std::size_t peak_kib = 0, samples = 0;
  auto sample = [&] {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string field; status >> field;) {
      if (field == "VmHWM:") {
        std::size_t kib = 0;
        status >> kib;
        peak_kib = std::max(peak_kib, kib);
        ++samples;
        return;
      }
    }
  };
  std::size_t sent = 0;
  while (sent < total) {
    ssize_t n = write(in[1], block.data(), block.size());
    BOOST_REQUIRE(n > 0);
    sent += static_cast<std::size_t>(n);
    sample();
  }
  close(in[1]);
  int status = 0;
  BOOST_REQUIRE(eventually(
      [&] {
        sample();  // until it exits (an exited process has no VmHWM)
        pid_t done = waitpid(pid, &status, WNOHANG);
        BOOST_REQUIRE(done >= 0);
        return done == pid;
      },
      std::chrono::minutes(10), std::chrono::milliseconds(2)));
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST_MESSAGE("peak RSS " << peak_kib << " KiB for " << (total >> 20) << " MiB of visits ("
                                 << samples << " samples)");
  BOOST_TEST(samples > 100u);
  BOOST_TEST(peak_kib > 0u);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer's shadow memory (and AddressSanitizer's quarantine of freed blocks) is in the
  // process's RSS: the peak then measures the sanitizer, not the streaming.
  BOOST_TEST_MESSAGE("the RSS bound is not checked under a sanitizer");
#else
  BOOST_TEST(peak_kib * 1024 < total / 2);
#endif
}

BOOST_AUTO_TEST_SUITE_END()
