#pragma once

// What the cluster suites share: a cluster log on a test cluster, and appending a
// generator's next events as one write.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cluster/cluster_log.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tools/workload/event_gen.hpp"

namespace referrald::testing {

// The fault tests hold a real fault (links cut, silenced, delayed or flapping, a server
// killed, wiped or frozen, a node killed over and over) in place for `held`, or watch what
// the servers and nodes do while it lasts: the one place they wait for time, not for a
// condition.
inline void hold_fault(std::chrono::milliseconds held) { std::this_thread::sleep_for(held); }

// One three-server cluster for the cases of the suites that share it (the conformance
// suites of cluster/: each case uses names of its own), started on first use.
inline nats_cluster& shared_cluster() {
  static nats_cluster c(3);
  return c;
}

// A log on every server of `c`, creating the stream with one replica per server.
inline std::unique_ptr<cluster::cluster_log> open_log(
    const nats_cluster& c, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  cluster::cluster_options o;
  for (int i = 0; i < c.size(); ++i)
    o.servers.push_back(c.url(i));
  o.node_name = "test";
  o.replicas = c.size();
  o.timeout = timeout;
  // A cluster just formed may not place a stream of all its servers for a while (nats-server
  // 2.10 learns each server's JetStream resources from the server's own reports): opening
  // retries that for up to 30 s, as a node's --cluster-wait does.
  o.start_wait = std::chrono::seconds(30);
  auto log = cluster::cluster_log::open(o);
  BOOST_REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.err().message));
  return std::move(*log);
}

// Appends the generator's next `n` events as one write of its account, expecting the
// account's last write at `expected`; the write's stream sequence.
inline std::uint64_t write_next(cluster::cluster_log& log, workload::event_generator& gen, int n,
                                std::uint64_t expected) {
  cluster::cluster_write w;
  w.account_id = gen.state().account_id();
  w.first_seq = gen.state().seq() + 1;
  w.values = gen.values(n);
  auto seq = log.append(w, expected);
  BOOST_REQUIRE_MESSAGE(seq.ok(), (seq.ok() ? "" : seq.err().message));
  return *seq;
}

// A test case's precondition: the NATS server the tests run is 2.10.23 or later.
struct nats_survives_leader_faults {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id id) const {
    const auto& v = nats_server_running();
    if (v.at_least(2, 10, 23)) return true;
    std::string why = "nats-server " + (v.text.empty() ? "of unknown version" : v.text) +
                      " is older than 2.10.23, whose raft may keep an isolated leader's "
                      "unreplicated writes (tools/dev test runs this case on the project's "
                      "2.10.27)";
    // Said in the test's log at any log level, not only in Boost's report of the skip.
    const auto& unit = boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY);
    std::printf("%s skipped: %s\n", unit.p_name.get().c_str(), why.c_str());
    std::fflush(stdout);
    boost::test_tools::assertion_result r(false);
    r.message() << why;
    return r;
  }
};

}  // namespace referrald::testing
