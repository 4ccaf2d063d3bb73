#pragma once

// Referrald nodes on a test NATS cluster, and what the tests of several nodes share: a
// writer of rules that retries what a cluster refuses for a moment, and the checks that
// every acknowledged write reached a node.

#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/helpers.hpp"
#include "tests/support/command.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace referrald::testing {

using namespace std::chrono_literals;

struct cluster_node {
  temp_dir dir;
  std::unique_ptr<server_process> server;

  server_process::options opts;

  cluster_node(const nats_cluster& c, const std::string& name) : cluster_node(c.urls(), name) {}
  // A node given `urls` (--cluster) and `more` arguments.
  cluster_node(const std::string& urls, const std::string& name,
               std::vector<std::string> more = {}) {
    opts.data_dir = dir.path();
    opts.args = {"--cluster", urls, "--node-name", name};
    opts.args.insert(opts.args.end(), more.begin(), more.end());
    server = std::make_unique<server_process>(opts);
  }
  // Starts the node again on its data directory (after a kill).
  void restart() {
    std::lock_guard lock(mu);
    server.reset();
    server = std::make_unique<server_process>(opts);
  }
  // The node's port, for threads other than the test's while it may be restarted.
  std::uint16_t port() const {
    std::lock_guard lock(mu);
    return server->port();
  }
  // As systemd's Restart=on-failure would: a node that exited by itself is started again
  // on its data directory. Its exit status (from the wait status) when it was.
  std::optional<int> restart_if_exited() {
    std::lock_guard lock(mu);
    auto status = server->exited();
    if (!status) return std::nullopt;
    server.reset();
    server = std::make_unique<server_process>(opts);
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }
  mutable std::mutex mu;
  std::unique_ptr<http_client> client() {
    return std::make_unique<http_client>(server->port(), admin_secret);
  }
};

inline std::string body(const std::string& domain) {
  return R"({"domain":")" + domain + R"(","utm_source":"s"})";
}

// Creates rules "<prefix><i>.com" in `account` through `node`, one after another, until
// `count` were acknowledged (201) or 120 s passed; a refused write (503, while the cluster
// elects a leader or the node reconnects) is made again. `pause` is called before each
// write. Runs on a thread of its own: it records what went wrong in `problem` (Boost.Test
// assertions belong to the test's thread), which the test checks after joining it.
struct rule_writer {
  std::string account;
  std::string prefix;
  std::vector<std::string> acknowledged;
  int refused = 0;
  std::string problem;

  template <class Pause>
  void run(cluster_node& node, int count, Pause&& pause) {
    std::uint16_t port = 0;
    std::unique_ptr<http_client> c;
    auto until = std::chrono::steady_clock::now() + 120s;
    for (int i = 0; static_cast<int>(acknowledged.size()) < count;) {
      if (std::chrono::steady_clock::now() > until) {
        problem = "only " + std::to_string(acknowledged.size()) + " of " + std::to_string(count) +
                  " writes acknowledged in 120 s";
        return;
      }
      pause(static_cast<int>(acknowledged.size()));
      if (!node.server || node.server->port() != port) {
        port = node.server->port();
        c = std::make_unique<http_client>(port, admin_secret);
      }
      std::string domain = prefix + std::to_string(i) + ".com";
      http_reply r;
      try {
        r = c->post("/passthrough-referrers?account_id=" + account, body(domain));
      } catch (const std::exception&) {
        c.reset();
        port = 0;
        pace(100ms);
        continue;
      }
      if (r.status == 201u) {
        acknowledged.push_back(domain);
        ++i;
      } else if (r.status == 409u) {
        ++i;  // an earlier attempt that was refused did land: not acknowledged, not lost
      } else if (r.status == 503u) {
        ++refused;
        pace(100ms);
      } else {
        problem = std::to_string(r.status) + " " + r.body;
        return;
      }
    }
  }
};

// Every acknowledged rule is on the node (waiting for it to catch up).
inline void expect_all_on(cluster_node& node, const std::string& account,
                          const std::vector<std::string>& domains) {
  std::string list, missing;
  bool all = eventually(
      [&] {
        list = node.client()->get("/passthrough-referrers?account_id=" + account).body;
        missing.clear();
        for (const auto& d : domains)
          if (list.find('"' + d + '"') == std::string::npos) missing += d + " ";
        return missing.empty();
      },
      10s);
  BOOST_TEST(
      all,
      "acknowledged rules missing on the node listening on "
          << node.server->port() << ": " << missing << "; "
          << list.substr(list.find("\"total\"") == std::string::npos ? 0 : list.find("\"total\"")));
  if (!all) {
    BOOST_TEST_MESSAGE("readyz: " << node.client()->get("/readyz").body);
    BOOST_TEST_MESSAGE("log: " << node.server->stderr_text());
  }
}

// A metric's value in a node's /metrics ("" when absent).
inline std::string metric(cluster_node& node, const std::string& name) {
  std::string text = http_client(node.server->port()).get("/metrics").body;
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return {};
  auto end = text.find('\n', at + 1);
  return text.substr(at + name.size() + 2, end - at - name.size() - 2);
}

// The same as a number (0 when absent).
inline double metric_value(cluster_node& node, const std::string& name) {
  auto value = metric(node, name);
  return value.empty() ? 0 : std::stod(value);
}

// `referralctl verify` of the cluster at `urls` until it passes, within a minute: right after
// a restart or an election a read may time out (exit 1, with the reason), but the history is
// never found broken (FAILED).
inline command_result verify_eventually(const std::string& urls) {
  using namespace std::chrono_literals;
  return retry_until(
      [&] {
        auto r = referralctl("--cluster " + urls + " verify");
        BOOST_TEST(r.output.find("FAILED") == std::string::npos, r.output);
        return r;
      },
      [](const command_result& r) { return r.exit == 0; }, 60s, 500ms);
}

// The index of the NATS server leading the stream (servers are named n1, n2, ...).
inline int stream_leader(const nats_cluster& nats) {
  auto log = open_log(nats);
  int index = -1;
  bool led = eventually(
      [&] {
        auto status = log->status();
        if (!status) return false;
        const std::string& leader = status->leader;
        if (leader.size() <= 1 || leader.front() != 'n') return false;
        index = std::stoi(leader.substr(1)) - 1;
        return true;
      },
      15s, 100ms);
  if (!led) BOOST_FAIL("the stream has no leader");
  return index;
}

}  // namespace referrald::testing
