// Durability across restarts: what was acknowledged is exactly what a restarted server
// serves, after SIGTERM and after SIGKILL, also in the middle of concurrent writes.

#include <rapidjson/pointer.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

const std::string k_base = "/passthrough-referrers?account_id=acme";

// Builds some history: creates, a patch, a delete, an inactive rule.
void make_history(http_client& c) {
  BOOST_REQUIRE(c.post(k_base, R"({"domain":"a.example.com","utm_source":"a"})").status == 201u);
  BOOST_REQUIRE(
      c.post(k_base, R"({"domain":"b.example.com","utm_source":"b","service_name":"B"})").status ==
      201u);
  BOOST_REQUIRE(c.post(k_base, R"({"domain":"c.example.com","utm_source":"c"})").status == 201u);
  BOOST_REQUIRE(
      c.patch("/passthrough-referrers/2?account_id=acme", R"({"utm_medium":"m","is_active":false})")
          .status == 200u);
  BOOST_REQUIRE(c.del("/passthrough-referrers/1?account_id=acme").status == 204u);
}

std::string snapshot(http_client& c) {
  auto r = c.get(k_base + "&include_inactive=true");
  BOOST_REQUIRE(r.status == 200u);
  return r.body;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(restart, server_fixture)

BOOST_AUTO_TEST_CASE(state_survives_sigterm) {
  auto c = client();
  make_history(*c);
  std::string before = snapshot(*c);
  int status = server->stop(SIGTERM);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  start();
  auto again = client();
  BOOST_TEST(snapshot(*again) == before);
  // Ids continue after the highest ever used.
  auto next = again->post(k_base, R"({"domain":"d.example.com","utm_source":"d"})");
  BOOST_TEST(next.json()["data"]["id"].GetInt() == 4);
}

BOOST_AUTO_TEST_CASE(state_survives_sigkill) {
  auto c = client();
  make_history(*c);
  std::string before = snapshot(*c);
  int status = server->stop(SIGKILL);
  BOOST_TEST(WIFSIGNALED(status));
  start();
  BOOST_TEST(snapshot(*client()) == before);
}

BOOST_AUTO_TEST_CASE(sigkill_during_concurrent_writes_keeps_every_acknowledged_write) {
  constexpr int writers = 8;
  std::atomic<bool> stop{false};
  std::mutex mu;
  // account -> (id -> domain) for every acknowledged create
  std::map<std::string, std::map<int, std::string>> acked;
  std::map<std::string, int> in_flight;  // writes without an answer when the server died
  std::vector<std::string> refused;      // answers other than 201 before the kill
  std::vector<std::thread> threads;
  auto port = server->port();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string account = "acct" + std::to_string(w % 4);
      http_client c(port, admin_secret);
      for (int i = 0; i < 100000 && !stop; ++i) {
        std::string domain = "w" + std::to_string(w) + "-" + std::to_string(i) + ".example.com";
        {
          std::lock_guard lock(mu);
          ++in_flight[account];
        }
        http_reply r;
        try {
          r = c.post("/passthrough-referrers?account_id=" + account,
                     R"({"utm_source":"s","domain":")" + domain + "\"}");
        } catch (...) {
          return;  // the server is gone: this write stays "in flight"
        }
        if (r.status != 201u) {
          // A whole answer came from the live server: anything but 201 is a failure.
          std::lock_guard lock(mu);
          refused.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
          return;
        }
        // Read without Boost.Test checks, which belong to the test's own thread.
        auto created = r.json_if_valid();
        const rapidjson::Value* id =
            created ? rapidjson::Pointer("/data/id").Get(*created) : nullptr;
        std::lock_guard lock(mu);
        if (id == nullptr || !id->IsInt()) {
          refused.push_back("201 without data.id: " + r.body.substr(0, 200));
          return;
        }
        --in_flight[account];
        acked[account][id->GetInt()] = domain;
      }
    });
  }
  // Killed while the writes go on, some of them acknowledged.
  BOOST_REQUIRE(eventually(
      [&] {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (const auto& [account, ids] : acked)
          n += ids.size();
        return n >= 100;
      },
      std::chrono::seconds(30)));
  server->stop(SIGKILL);
  stop = true;
  for (auto& t : threads)
    t.join();
  BOOST_TEST(refused.empty(), refused.size() << " writes were refused, the first: "
                                             << (refused.empty() ? "" : refused.front()));

  start();
  auto c = client();
  std::size_t total_acked = 0;
  for (int a = 0; a < 4; ++a) {
    std::string account = "acct" + std::to_string(a);
    std::map<int, std::string> found;  // every page of the list
    for (std::string after = "0";;) {
      auto list =
          c->get("/passthrough-referrers?include_inactive=1&limit=1000&account_id=" + account +
                 "&starting_after=" + after)
              .json();
      for (const auto& r : list["data"]["referrers"].GetArray()) {
        found[r["id"].GetInt()] = r["domain"].GetString();
      }
      if (!list["data"]["has_more"].GetBool()) break;
      after = std::to_string(list["data"]["next_starting_after"].GetInt64());
    }
    for (const auto& [id, domain] : acked[account]) {
      BOOST_TEST(found.count(id) == 1u, account << " lost acknowledged id " << id);
      BOOST_TEST(found[id] == domain);
    }
    // Anything beyond the acknowledged writes was in flight when the server died.
    std::size_t extra = found.size() - acked[account].size();
    BOOST_TEST(extra <= static_cast<std::size_t>(in_flight[account]), account);
    total_acked += acked[account].size();
  }
  BOOST_TEST_MESSAGE("acknowledged creates before the kill: " << total_acked);
  BOOST_TEST(total_acked > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
