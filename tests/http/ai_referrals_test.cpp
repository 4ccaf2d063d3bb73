// AI referrals end to end: connections, pushes, idempotency, reports, auth, and what a
// kill -9 during pushes leaves behind.

#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "domain/base/clock.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

std::string row(const std::string& date, const std::string& referrer, const std::string& page,
                const std::string& extra = "") {
  return R"({"date":")" + date + R"(","raw_referrer_value":")" + referrer +
         R"(","raw_page_value":")" + page + "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

struct ai_fixture : server_fixture {
  std::string connection(std::int64_t brand, const std::string& name = "GA4") {
    auto r = client()->post("/" + std::to_string(brand) + "/ai-referrals/connections",
                            R"({"name":")" + name + R"(","source_tool":"ga4"})");
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    return r.json()["data"]["id"].GetString();
  }
  static std::string events(std::int64_t brand, const std::string& id) {
    return "/" + std::to_string(brand) + "/ai-referrals/connections/" + id + "/events";
  }
  rapidjson::Document report(std::int64_t brand, const std::string& query) {
    auto r = client()->get("/" + std::to_string(brand) + "/ai-referrals/report?" + query);
    BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
    return r.json();
  }
  std::uint64_t metric(const std::string& name) {
    auto body = http_client(server->port()).get("/metrics").body;
    auto at = body.find("\n" + name + " ");
    BOOST_REQUIRE(at != std::string::npos);
    return std::stoull(body.substr(at + name.size() + 2));
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(ai_referrals, ai_fixture)

BOOST_AUTO_TEST_CASE(the_allow_list_is_served_with_its_version) {
  auto r = client()->get("/ai-platforms");
  BOOST_TEST(r.status == 200u);
  auto d = r.json();
  BOOST_TEST(std::string(d["data"]["version"].GetString()).size() == 10u);
  BOOST_TEST(d["data"]["platforms"].Size() >= 16u);
  BOOST_TEST(http_client(server->port()).get("/ai-platforms").status == 401u);
}

BOOST_AUTO_TEST_CASE(connections_are_created_listed_fetched_and_deleted) {
  auto c = client();
  auto created =
      c->post("/42/ai-referrals/connections", R"({"name":"Adobe EU","source_tool":"adobe"})");
  BOOST_TEST(created.status == 201u);
  auto d = created.json();
  std::string id = d["data"]["id"].GetString();
  BOOST_TEST(id.size() == 26u);
  BOOST_TEST(d["data"]["brand_id"].GetInt() == 42);
  BOOST_TEST(d["data"]["source_tool"].GetString() == std::string("adobe"));
  std::string second = connection(42, "GA4");
  auto list = c->get("/42/ai-referrals/connections").json();
  BOOST_TEST(list["data"]["connections"].Size() == 2u);
  BOOST_TEST(list["data"]["connections"][0]["id"].GetString() == id);  // oldest first
  BOOST_TEST(c->get("/42/ai-referrals/connections/" + id).status == 200u);
  std::string lower = id;
  for (auto& ch : lower)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  BOOST_TEST(c->get("/42/ai-referrals/connections/" + lower).status == 200u);
  BOOST_TEST(c->get("/43/ai-referrals/connections/" + id).status == 404u);
  BOOST_TEST(c->get("/42/ai-referrals/connections/not-a-ulid").status == 404u);
  BOOST_TEST(c->del("/42/ai-referrals/connections/" + id).status == 204u);
  BOOST_TEST(c->get("/42/ai-referrals/connections/" + id).status == 404u);
  BOOST_TEST(c->del("/42/ai-referrals/connections/" + id).status == 404u);
  BOOST_TEST(c->get("/42/ai-referrals/connections").json()["data"]["connections"].Size() == 1u);
  BOOST_REQUIRE(server->stop(SIGTERM) == 0);
  start();
  auto again = client()->get("/42/ai-referrals/connections").json();
  BOOST_REQUIRE(again["data"]["connections"].Size() == 1u);
  BOOST_TEST(again["data"]["connections"][0]["id"].GetString() == second);
}

BOOST_AUTO_TEST_CASE(connections_are_validated) {
  auto c = client();
  BOOST_TEST(
      names_field(c->post("/42/ai-referrals/connections", R"({"source_tool":"ga4"})"), "name"));
  BOOST_TEST(
      names_field(c->post("/42/ai-referrals/connections", R"({"name":"x","source_tool":"matomo"})"),
                  "source_tool"));
  BOOST_TEST(names_field(
      c->post("/42/ai-referrals/connections", R"({"name":"x","source_tool":"ga4","id":"x"})"),
      "id"));
  auto bad_brand = c->get("/0/ai-referrals/connections");
  BOOST_TEST(bad_brand.status == 400u);
  BOOST_TEST(names_field(bad_brand, "brand_id"));
  BOOST_TEST(c->get("/abc/ai-referrals/connections").status == 400u);
  BOOST_TEST(c->get("/99999999999999999999/ai-referrals/connections").status == 400u);
}

BOOST_AUTO_TEST_CASE(a_mixed_push_answers_with_exactly_the_seed_shape) {
  std::string id = connection(42);
  auto r = client()->post(
      events(42, id),
      "[" +
          row("2026-05-20", "chatgpt.com", "/blog/launch-notes",
              R"("pageviews":1,"sessions":1,"transactions":1,"purchase_revenue":1)") +
          "," + row("2026-05-20", "google.com", "/x") + "," + row("2026-02-30", "claude.ai", "/y") +
          "]");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(
      r.body ==
      R"json({"accepted":1,"rejected":2,"errors":["row 1: raw_referrer_value 'google.com' is not on the AI platform allow-list (version 2026-11-23)","row 2: date must be a real calendar date in the form YYYY-MM-DD"]})json");
  auto d = r.json();
  BOOST_TEST(d.MemberCount() == 3u);
}

BOOST_AUTO_TEST_CASE(bodies_that_are_not_one_to_ten_thousand_rows_are_400_and_too_big_is_413) {
  std::string id = connection(42);
  auto c = client();
  for (const char* body : {"{}", "[]", "\"x\""}) {
    auto r = c->post(events(42, id), body);
    BOOST_TEST(r.status == 400u, body);
    BOOST_TEST(names_field(r, "body"));
  }
  std::string many = "[";
  for (int i = 0; i < 10001; ++i)
    many += (i ? "," : "") + row("2026-05-20", "chatgpt.com", "/p" + std::to_string(i));
  many += "]";
  BOOST_TEST(c->post(events(42, id), many).status == 400u);
  BOOST_TEST(c->post(events(42, id), "[{").status == 400u);
  BOOST_TEST(error_code(c->post(events(42, id), "[{")) == "invalid_json");
  BOOST_TEST(c->request("POST", events(42, id), "[]", {{"Content-Type", "text/csv"}}).status ==
             415u);
  std::string huge =
      "[" + row("2026-05-20", "chatgpt.com", std::string((32u << 20) + 10, 'p')) + "]";
  BOOST_TEST(c->post(events(42, id), huge).status == 413u);
}

BOOST_AUTO_TEST_CASE(pushes_need_write_access_to_the_brand_and_a_live_connection_of_it) {
  std::string id = connection(42);
  std::string other = connection(77);
  std::string body = "[" + row("2026-05-20", "chatgpt.com", "/a") + "]";
  BOOST_TEST(http_client(server->port()).post(events(42, id), body).status == 401u);
  auto viewer = client(make_key("viewer", "[]", "[42]"));
  BOOST_TEST(viewer->post(events(42, id), body).status == 403u);
  BOOST_TEST(viewer->get("/42/ai-referrals/report?from=2026-05-01&to=2026-05-31").status == 200u);
  auto editor = client(make_key("editor", "[]", "[42]"));
  BOOST_TEST(editor->post(events(42, id), body).status == 200u);
  BOOST_TEST(editor->post(events(77, other), body).status == 403u);  // brand not held
  BOOST_TEST(editor->get("/77/ai-referrals/connections").status == 403u);
  auto admin = client();
  BOOST_TEST(admin->post(events(42, "01HZZZZZZZZZZZZZZZZZZZZZZZ"), body).status ==
             404u);                                                 // unknown
  BOOST_TEST(admin->post(events(42, other), body).status == 404u);  // another brand's connection
  BOOST_TEST(admin->del("/42/ai-referrals/connections/" + id).status == 204u);
  auto gone = admin->post(events(42, id), body);
  BOOST_TEST(gone.status == 404u);  // deleted
  BOOST_TEST(error_code(gone) == "not_found");
}

BOOST_AUTO_TEST_CASE(a_restated_day_replaces_and_never_double_counts) {
  std::string id = connection(42);
  auto c = client();
  std::string day1 = "[" +
                     row("2026-05-20", "chatgpt.com", "/a", R"("pageviews":10,"sessions":5)") +
                     "," + row("2026-05-20", "perplexity.ai", "/a", R"("pageviews":3)") + "]";
  BOOST_REQUIRE(c->post(events(42, id), day1).status == 200u);
  // The same day restated, with the referrer and page written differently.
  std::string restated = "[" +
                         row("2026-05-20", "https://chatgpt.com/c/1", "https://shop.example/a?x=1",
                             R"("pageviews":12,"sessions":6)") +
                         "]";
  BOOST_REQUIRE(c->post(events(42, id), restated).status == 200u);
  BOOST_REQUIRE(c->post(events(42, id), restated).status == 200u);
  auto d = report(42, "from=2026-05-20&to=2026-05-20&group_by=platform");
  const auto& g = d["data"]["groups"];
  BOOST_REQUIRE(g.Size() == 2u);
  BOOST_TEST(g[0]["platform"].GetString() == std::string("chatgpt"));
  BOOST_TEST(g[0]["rows"].GetInt() == 1);
  BOOST_TEST(g[0]["pageviews"].GetInt() == 12);
  BOOST_TEST(g[0]["sessions"].GetInt() == 6);
  BOOST_TEST(d["data"]["totals"]["pageviews"].GetInt() == 15);
  BOOST_TEST(d["data"]["totals"]["sessions"].GetInt() == 6);
  BOOST_TEST(d["data"]["totals"]["transactions"].IsNull());
}

BOOST_AUTO_TEST_CASE(a_report_groups_by_day_and_platform_for_a_stacked_chart) {
  std::string id = connection(42);
  auto c = client();
  std::string rows = "[" + row("2026-05-20", "chatgpt.com", "/a", R"("sessions":5)") + "," +
                     row("2026-05-20", "perplexity.ai", "/a", R"("sessions":3)") + "," +
                     row("2026-05-21", "chatgpt.com", "/b", R"("sessions":2)") + "," +
                     row("2026-05-21", "chatgpt.com", "/c", R"("sessions":4)") + "]";
  BOOST_REQUIRE(c->post(events(42, id), rows).status == 200u);
  auto d = report(42, "from=2026-05-01&to=2026-05-31&group_by=date,platform");
  BOOST_TEST(d["data"]["group_by"].GetString() == std::string("date,platform"));
  const auto& g = d["data"]["groups"];
  BOOST_REQUIRE(g.Size() == 3u);
  BOOST_TEST(g[0]["date"].GetString() == std::string("2026-05-20"));
  BOOST_TEST(g[0]["platform"].GetString() == std::string("chatgpt"));
  BOOST_TEST(g[0]["sessions"].GetInt() == 5);
  BOOST_TEST(g[1]["platform"].GetString() == std::string("perplexity"));
  BOOST_TEST(g[2]["date"].GetString() == std::string("2026-05-21"));
  BOOST_TEST(g[2]["sessions"].GetInt() == 6);
  BOOST_TEST(g[2]["rows"].GetInt() == 2);
  // Paged like every grouping: the cursor is the group's key.
  auto first = report(42, "from=2026-05-01&to=2026-05-31&group_by=date,platform&limit=2");
  BOOST_TEST(first["data"]["has_more"].GetBool());
  std::string after = first["data"]["next_starting_after"].GetString();
  BOOST_TEST(after == "2026-05-20 perplexity");
  auto next = report(42,
                     "from=2026-05-01&to=2026-05-31&group_by=date,platform&limit=2&"
                     "starting_after=2026-05-20%20perplexity");
  BOOST_REQUIRE(next["data"]["groups"].Size() == 1u);
  BOOST_TEST(next["data"]["groups"][0]["date"].GetString() == std::string("2026-05-21"));
}

BOOST_AUTO_TEST_CASE(reports_group_filter_and_validate) {
  std::string a = connection(42, "A");
  std::string b = connection(42, "B");
  auto c = client();
  BOOST_REQUIRE(
      c->post(
           events(42, a),
           "[" + row("2026-05-01", "chatgpt.com", "/x", R"("pageviews":1,"purchase_revenue":9.5)") +
               "," + row("2026-05-02", "claude.ai", "/y", R"("pageviews":2)") + "]")
          .status == 200u);
  BOOST_REQUIRE(c->post(events(42, b),
                        "[" + row("2026-05-02", "chatgpt.com", "/x", R"("pageviews":4)") + "," +
                            row("2026-06-01", "chatgpt.com", "/x", R"("pageviews":100)") + "]")
                    .status == 200u);
  auto by_date = report(42, "from=2026-05-01&to=2026-05-31&group_by=date");
  BOOST_REQUIRE(by_date["data"]["groups"].Size() == 2u);
  BOOST_TEST(by_date["data"]["groups"][0]["date"].GetString() == std::string("2026-05-01"));
  BOOST_TEST(by_date["data"]["groups"][1]["pageviews"].GetInt() == 6);
  auto by_page = report(42, "from=2026-05-01&to=2026-05-31&group_by=page");
  BOOST_TEST(by_page["data"]["groups"].Size() == 2u);
  auto only_b = report(42, "from=2026-05-01&to=2026-06-30&connection_id=" + b);
  BOOST_TEST(only_b["data"]["totals"]["pageviews"].GetInt() == 104);
  BOOST_TEST(only_b["data"]["connection_id"].GetString() == b);
  auto all = report(42, "from=2026-05-01&to=2026-05-31");
  BOOST_TEST(all["data"]["totals"]["rows"].GetInt() == 3);
  BOOST_TEST(all["data"]["totals"]["purchase_revenue"].GetDouble() == 9.5);
  BOOST_TEST(all["data"]["group_by"].IsNull());
  BOOST_TEST(report(43, "from=2026-05-01&to=2026-05-31")["data"]["totals"]["rows"].GetInt() == 0);
  // A deleted connection's rows stay and can still be reported on.
  BOOST_REQUIRE(c->del("/42/ai-referrals/connections/" + a).status == 204u);
  BOOST_TEST(
      report(42, "from=2026-05-01&to=2026-05-31&connection_id=" + a)["data"]["totals"]["rows"]
          .GetInt() == 2);
  for (const char* q :
       {"to=2026-05-31", "from=2026-05-01", "from=2026-05-32&to=2026-06-01",
        "from=2026-05-10&to=2026-05-01", "from=2026-05-01&to=2026-05-31&group_by=week",
        "from=2000-01-01&to=2026-01-01"}) {
    BOOST_TEST(c->get(std::string("/42/ai-referrals/report?") + q).status == 400u, q);
  }
  BOOST_TEST(c->get("/42/ai-referrals/"
                    "report?from=2026-05-01&to=2026-05-31&connection_id=01HZZZZZZZZZZZZZZZZZZZZZZZ")
                 .status == 404u);
}

BOOST_AUTO_TEST_CASE(a_batch_id_replays_the_stored_answer_and_refuses_another_body) {
  std::string id = connection(42);
  auto c = client();
  std::string body =
      "[" + row("2026-05-20", "chatgpt.com", "/a", R"("pageviews":1,"batch_id":"nightly-0520")") +
      "," + row("2026-05-20", "bing.com", "/b", R"("batch_id":"nightly-0520")") + "]";
  auto first = c->post(events(42, id), body);
  BOOST_REQUIRE(first.status == 200u);
  auto accepted_before = metric("referrald_ingest_rows_accepted_total");
  auto again = c->post(events(42, id), body);
  BOOST_TEST(again.status == 200u);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(metric("referrald_ingest_rows_accepted_total") == accepted_before);  // nothing written
  std::string changed =
      "[" + row("2026-05-20", "chatgpt.com", "/a", R"("pageviews":2,"batch_id":"nightly-0520")") +
      "]";
  auto conflict = c->post(events(42, id), changed);
  BOOST_TEST(conflict.status == 409u);
  BOOST_TEST(error_code(conflict) == "conflict");
  // The batch id is scoped to its connection.
  std::string other = connection(42, "other");
  BOOST_TEST(c->post(events(42, other), changed).status == 200u);
  BOOST_TEST(
      report(42, "from=2026-05-20&to=2026-05-20&connection_id=" + id)["data"]["totals"]["pageviews"]
          .GetInt() == 1);
  BOOST_REQUIRE(server->stop(SIGKILL) != 0);
  start();
  BOOST_TEST(client()->post(events(42, id), body).body == first.body);
  BOOST_TEST(client()->post(events(42, id), changed).status == 409u);
}

BOOST_AUTO_TEST_CASE(the_same_batch_id_pushed_concurrently_writes_once) {
  server->stop(SIGTERM);
  start({"--ingest-actors", "6"});  // more actors than cores: the pushes really race
  std::string id = connection(42);
  std::string body = "[";
  for (int i = 0; i < 500; ++i) {
    body += (i ? "," : "") + row("2026-05-20", "chatgpt.com", "/p" + std::to_string(i),
                                 R"("pageviews":1,"batch_id":"same")");
  }
  body += "]";
  auto accepted_before = metric("referrald_ingest_rows_accepted_total");
  std::vector<std::thread> threads;
  std::vector<http_reply> replies(10);
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&, t] {
      http_client c(server->port(), admin_secret);
      replies[t] = c.post(events(42, id), body);
    });
  }
  for (auto& t : threads)
    t.join();
  for (const auto& r : replies) {
    BOOST_TEST(r.status == 200u);
    BOOST_TEST(r.body == replies[0].body);
  }
  BOOST_TEST(replies[0].body == R"({"accepted":500,"rejected":0,"errors":[]})");
  BOOST_TEST(metric("referrald_ingest_rows_accepted_total") - accepted_before == 500u);
  BOOST_TEST(report(42, "from=2026-05-20&to=2026-05-20")["data"]["totals"]["pageviews"].GetInt() ==
             500);
}

BOOST_AUTO_TEST_CASE(concurrent_pushes_of_one_batch_id_with_different_bodies_get_one_winner) {
  std::string id = connection(42);
  std::vector<std::thread> threads;
  std::vector<unsigned> statuses(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      http_client c(server->port(), admin_secret);
      statuses[t] = c.post(events(42, id), "[" +
                                               row("2026-05-20", "chatgpt.com", "/a",
                                                   R"("pageviews":)" + std::to_string(t) +
                                                       R"(,"batch_id":"race")") +
                                               "]")
                        .status;
    });
  }
  for (auto& t : threads)
    t.join();
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 200u) == 1);
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 409u) == 7);
}

constexpr std::int64_t k_first_day = 18262;  // 2020-01-01

BOOST_AUTO_TEST_CASE(a_batch_is_whole_or_absent_after_sigkill_during_pushes) {
  std::string id = connection(42);
  constexpr int rows_per_batch = 400;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<int> acknowledged;
  std::vector<std::thread> pushers;
  for (int p = 0; p < 4; ++p) {
    pushers.emplace_back([&, p] {
      http_client c(server->port(), admin_secret);
      // Every row of a batch on the batch's own day (from 2020-01-01): a report by date has
      // a group per batch, counting its rows.
      for (int k = 0; k < 900 && !stop; ++k) {
        int batch = p * 900 + k;
        std::string day = referrald::domain::format_date(k_first_day + batch);
        std::string body = "[";
        for (int i = 0; i < rows_per_batch; ++i) {
          body += (i ? "," : "") +
                  row(day, "chatgpt.com", "/r" + std::to_string(i), R"("pageviews":1)");
        }
        body += "]";
        try {
          if (c.post(events(42, id), body).status != 200u) return;
        } catch (...) {
          return;
        }
        std::lock_guard lock(mu);
        acknowledged.insert(batch);
      }
    });
  }
  // Killed while the pushes go on, some batches acknowledged.
  BOOST_REQUIRE(eventually(
      [&] {
        std::lock_guard lock(mu);
        return acknowledged.size() >= 20;
      },
      std::chrono::seconds(30)));
  server->stop(SIGKILL);
  stop = true;
  for (auto& t : pushers)
    t.join();
  start();
  std::map<int, int> rows_of;  // batch -> rows found
  const std::string range =
      "from=2020-01-01&to=" + referrald::domain::format_date(k_first_day + 3599);
  for (std::string after;;) {
    auto d = report(42, range + "&group_by=date&limit=1000" +
                            (after.empty() ? "" : "&starting_after=" + after));
    for (const auto& g : d["data"]["groups"].GetArray()) {
      auto day = referrald::domain::parse_date(g["date"].GetString());
      rows_of[static_cast<int>(*day - k_first_day)] += g["rows"].GetInt();
    }
    if (!d["data"]["has_more"].GetBool()) break;
    after = d["data"]["next_starting_after"].GetString();
  }
  for (const auto& [batch, n] : rows_of)
    BOOST_TEST(n == rows_per_batch, "batch " << batch);
  for (int batch : acknowledged)
    BOOST_TEST(rows_of.count(batch) == 1u, "lost batch " << batch);
  BOOST_TEST_MESSAGE(acknowledged.size()
                     << " batches acknowledged, " << rows_of.size() << " found");
  BOOST_TEST(!acknowledged.empty());
}

BOOST_AUTO_TEST_SUITE_END()
