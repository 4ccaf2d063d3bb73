// The placement of cluster mode (cluster/cluster_placement.hpp) against the placement's
// contract (tests/interfaces/placement_suite.hpp), on three real NATS servers: each node
// opened has a cluster log of its own.

#include "cluster/cluster_placement.hpp"

#include <nats/nats.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_native.hpp"
#include "infra/metrics.hpp"
#include "tests/cluster/helpers.hpp"
#include "tests/interfaces/placement_suite.hpp"
#include "tests/support/fault_proxy.hpp"

namespace {

using namespace referrald;

struct cluster_placement_harness {
  bool shared_by_nodes = true;
  bool peer_links = false;  // relays over peer links (cluster/peer_link.hpp), not NATS
  std::vector<std::unique_ptr<cluster::cluster_log>> logs;

  std::unique_ptr<interfaces::placement> open(const std::string& node) {
    logs.push_back(testing::open_log(testing::shared_cluster()));
    cluster::placement_options o;
    o.node = node;
    o.partitions = 16;
    if (peer_links) o.peer_host = "127.0.0.1";
    return cluster::make_cluster_placement(*logs.back(), o, [] { return std::uint64_t{0}; });
  }
};

struct peer_placement_harness : cluster_placement_harness {
  peer_placement_harness() { peer_links = true; }
};

// An owner's way of serving writes in the forwarding tests: "POST /quick" answered at once,
// any other request answered "slow" after `held` (the write's own time) on a thread of its
// own, joined when this goes.
struct quick_or_slow {
  std::chrono::milliseconds held;
  std::thread slow;
  ~quick_or_slow() {
    if (slow.joinable()) slow.join();
  }
  std::function<void(interfaces::placement::incoming, interfaces::placement::answer_fn)> fn() {
    return [this](interfaces::placement::incoming in, interfaces::placement::answer_fn answer) {
      if (in.request == "POST /quick") return answer("quick");
      slow = std::thread([held = held, answer = std::move(answer)] {
        testing::hold_fault(held);
        answer("slow");
      });
    };
  }
};

// `request` relayed from `from` to the owner named `to`, and what came of it (waited for 60 s
// at most); `took`, when given, is how long that took.
interfaces::placement::relayed relay_and_wait(interfaces::placement& from, const std::string& to,
                                              const std::string& request,
                                              std::chrono::milliseconds take_within,
                                              std::chrono::milliseconds answer_within,
                                              std::chrono::milliseconds* took = nullptr) {
  auto done = std::make_shared<std::promise<interfaces::placement::relayed>>();
  auto f = done->get_future();
  auto sent = std::chrono::steady_clock::now();
  from.relay(to, request, "192.0.2.7:4000", take_within, answer_within,
             [done](interfaces::placement::relayed r) { done->set_value(std::move(r)); });
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  if (took != nullptr) {
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  sent);
  }
  return f.get();
}

// A counter of this process's metrics (infra/metrics.hpp).
std::int64_t metric_now(const std::string& name) {
  std::string text;
  infra::metrics().render(text);
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

}  // namespace

REFERRALD_PLACEMENT_SUITE(cluster_placement_contract, cluster_placement_harness)
REFERRALD_PLACEMENT_SUITE(cluster_placement_contract_over_peer_links, peer_placement_harness)

BOOST_AUTO_TEST_SUITE(cluster_placement_forwarding)

// A write that runs at its owner longer than its sender's bound of silence is still
// answered: the owner says "taken" at once and "working" every second while it runs.
void long_write_is_waited_for(cluster_placement_harness& h, const std::string& prefix) {
  auto a = h.open(prefix + "-a");
  auto b = h.open(prefix + "-b");
  quick_or_slow owner{std::chrono::milliseconds(3500), {}};
  BOOST_REQUIRE(b->serve(owner.fn(), {}).ok());
  BOOST_REQUIRE(a->serve([](interfaces::placement::incoming,
                            interfaces::placement::answer_fn answer) { answer("a"); },
                         {})
                    .ok());
  // Relays go out once a has joined the members and seen b.
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{b->self()}; },
                          std::chrono::seconds(15)));
  auto relay = [&](const std::string& request) {
    return relay_and_wait(*a, b->self(), request, std::chrono::milliseconds(500),
                          std::chrono::milliseconds(1500));
  };
  auto quick = relay("POST /quick");
  BOOST_TEST((quick.how == interfaces::placement::outcome::answered));
  BOOST_TEST(quick.response == "quick");
  auto slow = relay("POST /slow");
  owner.slow.join();
  BOOST_TEST((slow.how == interfaces::placement::outcome::answered),
             "outcome " << static_cast<int>(slow.how));
  BOOST_TEST(slow.response == "slow");
}

BOOST_AUTO_TEST_CASE(a_write_running_long_at_its_owner_is_taken_and_waited_for) {
  cluster_placement_harness h;
  long_write_is_waited_for(h, "long");
}

BOOST_AUTO_TEST_CASE(a_write_running_long_at_its_owner_is_waited_for_over_a_peer_link) {
  peer_placement_harness h;
  long_write_is_waited_for(h, "long-peer");
  BOOST_TEST(metric_now("referrald_cluster_peer_sent_total") >= 2);
}

// An owner whose follower halted (its copy differs from the stream, or a newer release wrote
// it) takes no write: it would answer each one 503 until it stops. Over a peer link it says
// "not taken" at once; over NATS it stays silent, and its sender's take bound passes. Either
// way nothing runs there, and the sender writes itself. At once it also leaves the members, so that
// the other node owns its partitions instead of offering it each write, and it sends no write to an
// owner itself (it answers them 503).
void halted_owner_takes_nothing(cluster_placement_harness& h, const std::string& prefix,
                                std::chrono::milliseconds refused_within) {
  auto a = h.open(prefix + "-a");
  auto b = h.open(prefix + "-b");
  std::atomic<int> served{0};
  auto serve = [&served](interfaces::placement::incoming, interfaces::placement::answer_fn answer) {
    ++served;
    answer("done");
  };
  BOOST_REQUIRE(b->serve(serve, {}).ok());
  BOOST_REQUIRE(a->serve(serve, {}).ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{b->self()}; },
                          std::chrono::seconds(15)));
  auto relay = [&](const std::string& request, std::chrono::milliseconds* took = nullptr) {
    return relay_and_wait(*a, b->self(), request, std::chrono::milliseconds(1000),
                          std::chrono::milliseconds(5000), took);
  };
  auto before = relay("POST /x");
  BOOST_TEST((before.how == interfaces::placement::outcome::answered));
  BOOST_TEST(served == 1);
  // A scope of each node's, as each sees it.
  std::string of_a, of_b;
  for (int i = 0; i < 200 && (of_a.empty() || of_b.empty()); ++i) {
    std::string scope = "account/" + prefix + "-" + std::to_string(i);
    auto elsewhere = a->owner_elsewhere(scope);
    if (elsewhere == b->self() && of_b.empty()) of_b = scope;
    if (!elsewhere && of_a.empty()) of_a = scope;
  }
  BOOST_REQUIRE(!of_a.empty());
  BOOST_REQUIRE(!of_b.empty());
  BOOST_TEST((b->owner_elsewhere(of_a) == a->self()));
  h.logs[1]->halt(1, "a test stops it");
  std::chrono::milliseconds took{0};
  auto after = relay("POST /y", &took);
  BOOST_TEST((after.how == interfaces::placement::outcome::not_taken),
             "outcome " << static_cast<int>(after.how));
  BOOST_TEST(served == 1);
  BOOST_TEST(took < refused_within);
  BOOST_TEST((b->owner_elsewhere(of_a) == std::nullopt));
  // Gone from a's members within about 200 ms.
  BOOST_TEST(testing::eventually([&] { return a->others().empty(); }, std::chrono::seconds(6)));
  BOOST_TEST((a->owner_elsewhere(of_b) == std::nullopt));
  BOOST_TEST(b->others() == std::vector<std::string>{a->self()});
}

BOOST_AUTO_TEST_CASE(an_owner_that_stopped_applying_the_stream_takes_no_write) {
  cluster_placement_harness h;
  halted_owner_takes_nothing(h, "halted", std::chrono::milliseconds(3000));
}

BOOST_AUTO_TEST_CASE(an_owner_that_stopped_applying_the_stream_refuses_writes_over_its_peer_link) {
  peer_placement_harness h;
  halted_owner_takes_nothing(h, "halted-peer", std::chrono::milliseconds(500));
}

// A node whose follower halted before it serves (as it caught up, after a restart) never
// puts its key: the others never count it, not even for a moment.
BOOST_AUTO_TEST_CASE(a_node_that_stopped_applying_the_stream_before_it_serves_never_joins) {
  cluster_placement_harness h;
  auto a = h.open("never-a");
  auto b = h.open("never-b");
  auto serve = [](interfaces::placement::incoming, interfaces::placement::answer_fn answer) {
    answer("done");
  };
  BOOST_REQUIRE(a->serve(serve, {}).ok());
  h.logs[1]->halt(1, "a test stops it");
  BOOST_REQUIRE(b->serve(serve, {}).ok());
  auto c = h.open("never-c");
  BOOST_REQUIRE(c->serve(serve, {}).ok());
  BOOST_REQUIRE(testing::eventually(
      [&] {
        return b->others() == std::vector<std::string>{a->self(), c->self()};
      },
      std::chrono::seconds(15)));
  BOOST_TEST(a->others() == std::vector<std::string>{c->self()});
  BOOST_TEST(c->others() == std::vector<std::string>{a->self()});
  // Nothing was ever stored under its key: neither a put nor a delete.
  jsCtx* js = cluster::cluster_native::jetstream(*h.logs[0]);
  kvStore* kv = nullptr;
  std::string bucket = cluster::cluster_native::options(*h.logs[0]).stream + "_NODES";
  BOOST_REQUIRE(js_KeyValue(&kv, js, bucket.c_str()) == NATS_OK);
  kvEntryList history{};
  natsStatus s = kvStore_History(&history, kv, ("node." + b->self()).c_str(), nullptr);
  BOOST_TEST((s == NATS_NOT_FOUND), natsStatus_GetText(s) << ", " << history.Count << " entries");
  if (s == NATS_OK) kvEntryList_Destroy(&history);
  kvStore_Destroy(kv);
}

// An owner that stops serving (leave(): a graceful stop) takes none of the writes sent to it
// over NATS that its client still hands on after that (delivered before, still queued): it
// stays silent, and each sender writes itself once its take bound passes. Taken, such a write
// could reach a server whose loops have ended, and its sender would answer 503 after the bound.
BOOST_AUTO_TEST_CASE(an_owner_that_stops_serving_takes_none_of_the_writes_still_queued) {
  cluster_placement_harness h;
  auto a = h.open("queued-a");
  auto b = h.open("queued-b");
  std::promise<void> release_first;
  auto first_held = release_first.get_future().share();
  std::atomic<bool> first_in{false};
  std::atomic<int> others_served{0};
  // The first write holds the delivery thread of b's requests, so that the next one queues.
  auto serve_b = [&](interfaces::placement::incoming in, interfaces::placement::answer_fn answer) {
    if (in.request == "POST /first") {
      first_in = true;
      first_held.wait();
      return answer("first");
    }
    ++others_served;
    answer("later");
  };
  BOOST_REQUIRE(b->serve(serve_b, {}).ok());
  BOOST_REQUIRE(a->serve([](auto, auto answer) { answer("a"); }, {}).ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{b->self()}; },
                          std::chrono::seconds(15)));
  // Another subscription to b's requests on b's own connection: a request it has received,
  // b's client has received too, and holds queued behind the first.
  natsConnection* nc = cluster::cluster_native::connection(*h.logs[1]);
  std::string subject =
      "referrald-fwd." + cluster::cluster_native::options(*h.logs[1]).stream + "." + b->self();
  natsSubscription* seen = nullptr;
  BOOST_REQUIRE(natsConnection_SubscribeSync(&seen, nc, subject.c_str()) == NATS_OK);
  BOOST_REQUIRE(natsConnection_Flush(nc) == NATS_OK);
  auto relay_async = [&](const std::string& request) {
    auto done = std::make_shared<std::promise<interfaces::placement::relayed>>();
    auto f = done->get_future();
    a->relay(b->self(), request, "192.0.2.7:4000", std::chrono::milliseconds(1000),
             std::chrono::milliseconds(10000),
             [done](interfaces::placement::relayed r) { done->set_value(std::move(r)); });
    return f;
  };
  auto received = [&](const std::string& request) {
    natsMsg* m = nullptr;
    BOOST_REQUIRE(natsSubscription_NextMsg(&m, seen, 5000) == NATS_OK);
    std::string data(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    natsMsg_Destroy(m);
    BOOST_TEST(data.find(request) != std::string::npos, data);
  };
  auto first = relay_async("POST /first");
  received("POST /first");
  BOOST_REQUIRE(testing::eventually([&] { return first_in.load(); }, std::chrono::seconds(5)));
  auto second = relay_async("POST /second");
  received("POST /second");
  b->leave();
  release_first.set_value();
  BOOST_REQUIRE(first.wait_for(std::chrono::seconds(15)) == std::future_status::ready);
  auto f = first.get();
  BOOST_TEST((f.how == interfaces::placement::outcome::answered));
  BOOST_TEST(f.response == "first");
  BOOST_REQUIRE(second.wait_for(std::chrono::seconds(15)) == std::future_status::ready);
  auto r = second.get();
  BOOST_TEST((r.how == interfaces::placement::outcome::not_taken),
             "outcome " << static_cast<int>(r.how) << ": " << r.response);
  BOOST_TEST(others_served == 0);
  natsSubscription_Destroy(seen);
}

// Two nodes with peer links, b's connection to NATS through a proxy of its own.
struct proxied_owner {
  testing::nats_cluster nats{1, [] {
                               testing::nats_cluster_options o;
                               o.proxy_clients = true;
                               o.ping_interval = std::chrono::milliseconds(500);
                               return o;
                             }()};
  std::unique_ptr<cluster::cluster_log> log_a, log_b;
  std::unique_ptr<interfaces::placement> a, b;

  explicit proxied_owner(const std::string& prefix) {
    log_a = testing::open_log(nats);
    cluster::cluster_options o;
    o.servers = {nats.proxied_url(0)};
    o.node_name = "test";
    o.replicas = 1;
    o.start_wait = std::chrono::seconds(30);
    auto opened = cluster::cluster_log::open(o);
    BOOST_REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.err().message));
    log_b = std::move(*opened);
    cluster::placement_options po;
    po.partitions = 16;
    po.peer_host = "127.0.0.1";
    po.node = prefix + "-a";
    a = cluster::make_cluster_placement(*log_a, po, [] { return std::uint64_t{0}; });
    po.node = prefix + "-b";
    b = cluster::make_cluster_placement(*log_b, po, [] { return std::uint64_t{7}; });
  }

  interfaces::placement::relayed relay(const std::string& request,
                                       std::chrono::milliseconds take_within,
                                       std::chrono::milliseconds answer_within,
                                       std::chrono::milliseconds* took = nullptr) {
    return relay_and_wait(*a, b->self(), request, take_within, answer_within, took);
  }
};

// An owner cut off from NATS (its packets dropped, its connection left open) could not store
// a write: over its peer link it says "not taken" at once, rather than taking writes it
// cannot store, and its sender writes them itself.
BOOST_AUTO_TEST_CASE(an_owner_cut_off_from_nats_does_not_take_writes_over_its_peer_link) {
  proxied_owner h("cut");
  std::atomic<int> served{0};
  auto serve = [&served](interfaces::placement::incoming, interfaces::placement::answer_fn answer) {
    ++served;
    answer("done");
  };
  BOOST_REQUIRE(h.b->serve(serve, {}).ok());
  BOOST_REQUIRE(h.a->serve(serve, {}).ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return h.a->others() == std::vector<std::string>{h.b->self()}; },
                          std::chrono::seconds(15)));
  auto before = h.relay("POST /x", std::chrono::seconds(5), std::chrono::seconds(5));
  BOOST_TEST((before.how == interfaces::placement::outcome::answered));
  BOOST_TEST(before.response == "done");
  BOOST_TEST(before.applied == 7u);
  BOOST_TEST(served == 1);
  h.nats.client_proxy(0).drop();
  // Within a second or so b stops taking; each refusal comes at once, well within the 5 s
  // a sender would wait for "taken".
  std::chrono::milliseconds took{0};
  BOOST_TEST(testing::eventually(
      [&] {
        auto r = h.relay("POST /y", std::chrono::seconds(5), std::chrono::seconds(5), &took);
        return r.how == interfaces::placement::outcome::not_taken &&
               took < std::chrono::milliseconds(2000);
      },
      std::chrono::seconds(10)));
  h.nats.client_proxy(0).pass();
  // Heard from again: b takes writes again.
  BOOST_TEST(testing::eventually(
      [&] {
        return h.relay("POST /w", std::chrono::seconds(5), std::chrono::seconds(5)).how ==
               interfaces::placement::outcome::answered;
      },
      std::chrono::seconds(15)));
}

// An owner whose peer link goes silent (a partition between the two nodes, both still
// reaching NATS: here a proxy in front of the link drops every byte) costs its sender one take
// bound; from then on the sender sends its writes over NATS, where the owner answers them.
BOOST_AUTO_TEST_CASE(an_owner_whose_peer_link_goes_silent_is_sent_its_writes_over_nats) {
  auto& nats = testing::shared_cluster();
  auto log_a = testing::open_log(nats), log_b = testing::open_log(nats);
  auto echo = [](interfaces::placement::incoming in, interfaces::placement::answer_fn answer) {
    answer("answered " + in.request);
  };
  cluster::placement_options po;
  po.partitions = 16;
  po.peer_host = "127.0.0.1";
  // b's link on a port of its own, reached through the proxy. The port is found free and
  // then bound by b: another process of the machine may take it in between (an outgoing
  // connection's local port), so a few ports are tried.
  std::unique_ptr<testing::fault_proxy> held;
  std::unique_ptr<interfaces::placement> b;
  for (int attempt = 0; attempt < 5 && !b; ++attempt) {
    std::uint16_t port = 0;
    {
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::acceptor probe(
          ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
      port = probe.local_endpoint().port();
    }
    held = std::make_unique<testing::fault_proxy>(port);
    po.node = "silent-b";
    po.peer_port = port;
    po.peer_advertise = "127.0.0.1:" + std::to_string(held->port());
    b = cluster::make_cluster_placement(*log_b, po, [] { return std::uint64_t{0}; });
    auto served = b->serve(echo, {});
    if (!served) {
      BOOST_TEST_MESSAGE("b could not serve on port " << port << ": " << served.err().message);
      b.reset();
    }
  }
  BOOST_REQUIRE(b);
  auto& proxy = *held;
  po.node = "silent-a";
  po.peer_port = 0;
  po.peer_advertise.clear();
  auto a = cluster::make_cluster_placement(*log_a, po, [] { return std::uint64_t{0}; });
  BOOST_REQUIRE(a->serve(echo, {}).ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{"silent-b"}; },
                          std::chrono::seconds(15)));
  auto relay = [&](const std::string& request) {
    return relay_and_wait(*a, "silent-b", request, std::chrono::milliseconds(500),
                          std::chrono::seconds(5));
  };
  auto sent_before = metric_now("referrald_cluster_peer_sent_total");
  auto unreachable_before = metric_now("referrald_cluster_peer_unreachable_total");
  auto first = relay("POST /1");
  BOOST_TEST((first.how == interfaces::placement::outcome::answered));
  BOOST_TEST(first.response == "answered POST /1");
  BOOST_TEST(proxy.stats().bytes_to_target > 0u, "not sent over the peer link");
  proxy.drop();
  auto silent = relay("POST /2");
  BOOST_TEST((silent.how == interfaces::placement::outcome::not_taken));
  BOOST_TEST(metric_now("referrald_cluster_peer_unreachable_total") == unreachable_before + 1);
  auto over_nats = relay("POST /3");
  BOOST_TEST((over_nats.how == interfaces::placement::outcome::answered));
  BOOST_TEST(over_nats.response == "answered POST /3");
  BOOST_TEST(metric_now("referrald_cluster_peer_sent_total") == sent_before + 2);
  proxy.pass();
}

// An owner that goes after taking a write (its peer link closed) leaves the write undecided
// at once: the sender does not wait out its bound of silence.
BOOST_AUTO_TEST_CASE(an_owner_gone_after_taking_a_write_leaves_it_undecided_at_once) {
  proxied_owner h("gone");
  std::promise<void> taken;
  interfaces::placement::answer_fn kept;
  BOOST_REQUIRE(
      h.b->serve(
             [&](interfaces::placement::incoming, interfaces::placement::answer_fn answer) {
               kept = std::move(answer);  // never answered
               taken.set_value();
             },
             {})
          .ok());
  BOOST_REQUIRE(h.a->serve([](interfaces::placement::incoming,
                              interfaces::placement::answer_fn answer) { answer("a"); },
                           {})
                    .ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return h.a->others() == std::vector<std::string>{h.b->self()}; },
                          std::chrono::seconds(15)));
  auto done = std::make_shared<std::promise<interfaces::placement::relayed>>();
  auto f = done->get_future();
  h.a->relay(h.b->self(), "POST /z", "192.0.2.7:4000", std::chrono::seconds(5),
             std::chrono::seconds(30),
             [done](interfaces::placement::relayed r) { done->set_value(std::move(r)); });
  BOOST_REQUIRE(taken.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto gone = std::chrono::steady_clock::now();
  h.b->leave();
  h.b->close();
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto r = f.get();
  BOOST_TEST((r.how == interfaces::placement::outcome::timed_out),
             "outcome " << static_cast<int>(r.how));
  BOOST_TEST((std::chrono::steady_clock::now() - gone < std::chrono::seconds(5)));
  kept = nullptr;
}

// On the wire, as a sender of another release would see it (a request published to the
// owner's subject with a reply inbox of a plain NATS client): every write, however quick, is
// told "taken" before its answer. A sender that hears nothing within its take bound writes
// the request itself, so "taken" must leave before anything of the write runs: an owner
// that stored the write and died before answering is then a 503 ("may or may not have taken
// effect") at the sender, never the same write made a second time there.
BOOST_AUTO_TEST_CASE(an_owner_says_taken_before_it_runs_a_write_so_silence_means_it_never_ran) {
  cluster_placement_harness h;
  auto b = h.open("wire-b");
  quick_or_slow owner{std::chrono::milliseconds(400), {}};
  BOOST_REQUIRE(b->serve(owner.fn(), {}).ok());
  natsConnection* nc = cluster::cluster_native::connection(*h.logs.back());
  std::string subject =
      "referrald-fwd." + cluster::cluster_native::options(*h.logs.back()).stream + "." + b->self();
  struct reply {
    std::string forward;  // "Referrald-Forward": "taken" or "working"; empty for the answer
    std::string data;
    std::chrono::milliseconds after;
  };
  // The replies to `request` until its answer and for 300 ms after it.
  auto replies_to = [&](const std::string& request) {
    natsInbox* inbox = nullptr;
    natsSubscription* sub = nullptr;
    BOOST_REQUIRE(natsInbox_Create(&inbox) == NATS_OK);
    BOOST_REQUIRE(natsConnection_SubscribeSync(&sub, nc, inbox) == NATS_OK);
    auto sent = std::chrono::steady_clock::now();
    BOOST_REQUIRE(natsConnection_PublishRequest(nc, subject.c_str(), inbox, request.data(),
                                                static_cast<int>(request.size())) == NATS_OK);
    std::vector<reply> got;
    bool answered = false;
    for (;;) {
      natsMsg* m = nullptr;
      if (natsSubscription_NextMsg(&m, sub, answered ? 300 : 5000) != NATS_OK) break;
      const char* value = nullptr;
      reply r;
      if (natsMsgHeader_Get(m, "Referrald-Forward", &value) == NATS_OK && value != nullptr)
        r.forward = value;
      r.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
      r.after = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - sent);
      answered = answered || r.forward.empty();
      got.push_back(std::move(r));
      natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return got;
  };
  auto quick = replies_to("POST /quick");
  BOOST_REQUIRE_EQUAL(quick.size(), 2u);
  BOOST_TEST(quick[0].forward == "taken");
  BOOST_TEST(quick[1].forward.empty());
  BOOST_TEST(quick[1].data == "quick");
  auto slow = replies_to("POST /slow");
  owner.slow.join();
  // "taken" first, before the write's own 400 ms are over, the answer last; a "working"
  // between them when the owner's once-a-second round fell within the write.
  BOOST_REQUIRE_GE(slow.size(), 2u);
  BOOST_TEST(slow.front().forward == "taken");
  BOOST_TEST(slow.front().after.count() < 400,
             "taken after " << slow.front().after.count() << " ms");
  for (std::size_t i = 1; i + 1 < slow.size(); ++i)
    BOOST_TEST(slow[i].forward == "working");
  BOOST_TEST(slow.size() <= 3u);
  BOOST_TEST(slow.back().forward.empty());
  BOOST_TEST(slow.back().data == "slow");
}

// Given the HTTP threads' loops, the peer link reads there: the owner takes a write on the
// loop its connection was accepted on, the sender reads the answer on the loop of the thread
// that relayed it, and close() leaves nothing on either, so that the loops run out of work.
BOOST_AUTO_TEST_CASE(writes_over_peer_links_are_read_on_the_loops_given_and_close_lets_them_go) {
  peer_placement_harness h;
  auto a = h.open("loops-a");
  auto b = h.open("loops-b");
  boost::asio::io_context loop_a(1), loop_b(1);
  auto guard_a = boost::asio::make_work_guard(loop_a);
  auto guard_b = boost::asio::make_work_guard(loop_b);
  std::promise<std::thread::id> runner_a, runner_b;
  auto ran_a = runner_a.get_future(), ran_b = runner_b.get_future();
  std::thread thread_a([&] {
    runner_a.set_value(std::this_thread::get_id());
    loop_a.run();
  });
  std::thread thread_b([&] {
    runner_b.set_value(std::this_thread::get_id());
    loop_b.run();
  });
  auto id_a = ran_a.get(), id_b = ran_b.get();
  std::promise<std::thread::id> served_on;
  auto served = served_on.get_future();
  BOOST_REQUIRE(
      b->serve(
           [&](interfaces::placement::incoming in, interfaces::placement::answer_fn answer) {
             served_on.set_value(std::this_thread::get_id());
             answer("answered " + in.request);
           },
           {&loop_b})
          .ok());
  BOOST_REQUIRE(a->serve([](interfaces::placement::incoming,
                            interfaces::placement::answer_fn answer) { answer("a"); },
                         {&loop_a})
                    .ok());
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{b->self()}; },
                          std::chrono::seconds(15)));
  auto before = infra::metrics().cluster_peer_sent.load();
  std::promise<std::pair<interfaces::placement::relayed, std::thread::id>> done;
  auto relayed = done.get_future();
  boost::asio::post(loop_a, [&] {
    a->relay(b->self(), "POST /x", "192.0.2.7:4000", std::chrono::seconds(5),
             std::chrono::seconds(5), [&done](interfaces::placement::relayed r) {
               done.set_value({std::move(r), std::this_thread::get_id()});
             });
  });
  BOOST_REQUIRE(relayed.wait_for(std::chrono::seconds(15)) == std::future_status::ready);
  auto [r, answered_on] = relayed.get();
  BOOST_TEST((r.how == interfaces::placement::outcome::answered));
  BOOST_TEST(r.response == "answered POST /x");
  BOOST_TEST(infra::metrics().cluster_peer_sent.load() == before + 1);
  BOOST_REQUIRE(served.wait_for(std::chrono::seconds(1)) == std::future_status::ready);
  BOOST_TEST((served.get() == id_b), "the owner took the write on a thread other than its loop's");
  BOOST_TEST((answered_on == id_a), "the sender read the answer on a thread other than its loop's");
  // Without their guards the loops keep running while the link's connections are open; once
  // both placements are closed they run out of work and return.
  guard_a.reset();
  guard_b.reset();
  a->leave();
  b->leave();
  a->close();
  b->close();
  auto ended = std::async(std::launch::async, [&] {
    thread_a.join();
    thread_b.join();
  });
  BOOST_TEST((ended.wait_for(std::chrono::seconds(10)) == std::future_status::ready),
             "a loop still had work after its placement was closed");
  if (ended.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    loop_a.stop();
    loop_b.stop();
  }
}

BOOST_AUTO_TEST_SUITE_END()
