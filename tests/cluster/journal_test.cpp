// The cluster's journal (cluster/cluster_node.hpp, cluster/cluster_journal.hpp) against the
// journal's contract (tests/interfaces/journal_suite.hpp), on three real NATS servers: two
// nodes, each with a copy of its own, write one stream.

#include <future>
#include <memory>
#include <string>

#include "cluster/cluster_node.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"
#include "tests/cluster/helpers.hpp"
#include "tests/interfaces/journal_suite.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace referrald;

struct cluster_journal_harness {
  struct node {
    std::string name;
    testing::temp_dir dir;
    std::unique_ptr<store::db> db;
    std::unique_ptr<store::event_log> log;
    std::unique_ptr<cluster::cluster_node> n;
  };
  node a, b;

  cluster_journal_harness() {
    a.name = "journal-a";
    b.name = "journal-b";
    open(a);
    open(b);
  }
  ~cluster_journal_harness() {
    a.n.reset();
    b.n.reset();
  }

  static void open(node& x) {
    auto opened = store::db::open({x.dir.path(), false, 0});
    BOOST_REQUIRE(opened.ok());
    x.db = std::move(*opened);
    x.log = std::make_unique<store::event_log>(*x.db);
    auto& c = testing::shared_cluster();
    cluster::cluster_options o;
    for (int i = 0; i < c.size(); ++i)
      o.servers.push_back(c.url(i));
    o.node_name = x.name;
    o.replicas = c.size();
    o.start_wait = std::chrono::seconds(30);
    x.n = std::make_unique<cluster::cluster_node>(*x.db, *x.log, o);
    x.n->start({});
  }

  interfaces::journal& journal() { return a.n->journal(); }
  interfaces::journal* other() { return &b.n->journal(); }

  // Both copies have applied the stream as it is now.
  void settle() {
    auto last = a.n->log().last_seq();
    BOOST_REQUIRE_MESSAGE(last.ok(), (last.ok() ? "" : last.err().message));
    for (auto* x : {&a, &b}) {
      auto reached = std::make_shared<std::promise<bool>>();
      x->n->when_applied(*last, [reached](bool ok) { reached->set_value(ok); });
      auto f = reached->get_future();
      BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
      BOOST_REQUIRE(f.get());
    }
  }

  void restart() {
    a.n.reset();
    a.log.reset();
    a.db.reset();
    open(a);
  }
};

}  // namespace

REFERRALD_JOURNAL_SUITE(cluster_journal_contract, cluster_journal_harness)
