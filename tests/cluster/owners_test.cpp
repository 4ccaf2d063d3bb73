// Owners (docs/cluster.md "Owners"): a write sent to a node that does not own its account
// is answered by the owner, exactly as the owner answers it, once the node it came in at
// holds it too (without an actor started only for that); two nodes writing the same
// accounts are no longer beaten by each other; a node stopped on purpose fails no write;
// an owner killed loses nothing acknowledged and its accounts move; nodes joining and
// leaving never fork a history; a read of every node's insights merges them, or says whose
// are missing.

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <set>
#include <thread>

#include "actors/runtime.hpp"
#include "cluster/cluster_membership.hpp"
#include "store/db.hpp"
#include "tests/cluster/helpers.hpp"
#include "tests/cluster/nodes.hpp"
#include "tests/support/command.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::testing;
using namespace std::chrono_literals;

namespace {

// Stops `node` with `sig`: its exit status and how long the stop took, in seconds.
struct stop_taken {
  int status;
  double seconds;
};
stop_taken stop_timed(cluster_node& node, int sig, std::chrono::seconds within = 20s) {
  auto started = std::chrono::steady_clock::now();
  int status = node.server->stop(sig, within);
  return {status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()};
}

// The first accounts "acct<i>" the node `owner` owns among `nodes` (64 partitions).
std::vector<std::string> accounts_owned_by(const std::string& owner,
                                           const std::vector<std::string>& nodes,
                                           std::size_t count) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < count; ++i) {
    std::string id = "acct" + std::to_string(i);
    auto p = cluster::cluster_membership::partition_of("account/" + id, 64);
    if (cluster::cluster_membership::owner_among(nodes, p) == owner) out.push_back(id);
  }
  return out;
}

bool members_are(cluster_node& node, double n) {
  return metric_value(node, "referrald_cluster_members") == n;
}

// A client of a node's peer link written from its documentation (cluster/peer_link.hpp), as a
// stranger on the network would write one: frames sent and read over a plain socket.
struct peer_client {
  int fd = -1;
  explicit peer_client(const std::string& address) {
    auto colon = address.rfind(':');
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~peer_client() {
    if (fd >= 0) ::close(fd);
  }
  static std::string frame(char kind, std::uint64_t id, const std::string& payload) {
    std::string out;
    auto len = static_cast<std::uint32_t>(9 + payload.size());
    for (int i = 0; i < 4; ++i)
      out += static_cast<char>((len >> (8 * i)) & 0xff);
    out += kind;
    for (int i = 0; i < 8; ++i)
      out += static_cast<char>((id >> (8 * i)) & 0xff);
    return out + payload;
  }
  static std::string request(const std::string& remote, const std::string& http) {
    std::string out;
    out += static_cast<char>(remote.size() & 0xff);
    out += static_cast<char>(remote.size() >> 8);
    return out + remote + http;
  }
  bool send(const std::string& bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // The next frame's kind and payload; nullopt when the connection ends (or 10 s pass).
  std::optional<std::pair<char, std::string>> next() {
    auto exactly = [&](std::size_t n) -> std::optional<std::string> {
      std::string out(n, '\0');
      std::size_t got = 0;
      while (got < n) {
        ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
        if (r <= 0) return std::nullopt;
        got += static_cast<std::size_t>(r);
      }
      return out;
    };
    auto head = exactly(4);
    if (!head) return std::nullopt;
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<std::uint32_t>(static_cast<unsigned char>((*head)[i])) << (8 * i);
    auto rest = exactly(len);
    if (!rest || len < 9) return std::nullopt;
    return std::make_pair((*rest)[0], rest->substr(9));
  }
};

// Where `node` takes writes over its peer link, as its log says.
std::string peer_address_of(cluster_node& node) {
  std::string address;
  eventually([&] {
    auto log = node.server->stderr_text();
    constexpr std::string_view said = "peer link: taking writes on ";
    auto at = log.find(said);
    if (at == std::string::npos) return false;
    auto from = at + said.size();
    address = log.substr(from, log.find(',', from) - from);
    return true;
  });
  return address;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_owners)

BOOST_AUTO_TEST_CASE(owners_follow_the_documented_rendezvous_hashing) {
  // Two nodes share the partitions, and a third one takes from each only what it wins.
  std::vector<std::string> two{"a", "b"}, three{"a", "b", "c"};
  int a = 0, moved = 0;
  for (std::uint32_t p = 0; p < 64; ++p) {
    auto before = cluster::cluster_membership::owner_among(two, p);
    auto after = cluster::cluster_membership::owner_among(three, p);
    a += before == "a" ? 1 : 0;
    if (before != after) {
      BOOST_TEST(after == "c", "partition " << p << " moved from " << before << " to " << after);
      ++moved;
    }
  }
  BOOST_TEST(a > 16);
  BOOST_TEST(a < 48);
  BOOST_TEST(moved > 8);
  BOOST_TEST(moved < 40);
  BOOST_TEST(cluster::cluster_membership::partition_of("account/acme", 64) ==
             cluster::cluster_membership::partition_of("account/acme", 64));
  BOOST_TEST(cluster::cluster_membership::member_name("web-1.example") == "web-1_example");
}

BOOST_AUTO_TEST_CASE(a_forwarded_write_is_answered_as_the_owner_answers_it) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto account = accounts_owned_by("b", {"a", "b"}, 1).front();
  const std::string base = "/passthrough-referrers?account_id=" + account;
  auto ca = a.client(), cb = b.client();

  // Created through a (forwarded to b) and through b (its owner): the same answer but for
  // the id, the request id and the tag.
  auto via_a = ca->request("POST", base, body("one.com"), {{"X-Request-Id", "req-forwarded-1"}});
  auto via_b = cb->request("POST", base, body("two.com"), {{"X-Request-Id", "req-local-1"}});
  BOOST_REQUIRE_MESSAGE(via_a.status == 201, via_a.body);
  BOOST_REQUIRE_MESSAGE(via_b.status == 201, via_b.body);
  BOOST_TEST(via_a.header("x-request-id") == "req-forwarded-1");
  BOOST_TEST(via_a.header("referrald-seq") == "1");
  BOOST_TEST(via_b.header("referrald-seq") == "2");
  BOOST_TEST(via_a.header("location") == "/passthrough-referrers/1?account_id=" + account);
  BOOST_TEST(!via_a.header("etag").empty());
  BOOST_TEST(!via_a.header("ratelimit-remaining").empty());
  std::set<std::string> names_a, names_b;
  for (const auto& [name, value] : via_a.headers)
    names_a.insert(name);
  for (const auto& [name, value] : via_b.headers)
    names_b.insert(name);
  BOOST_TEST((names_a == names_b));
  auto one = via_a.json(), two = via_b.json();
  BOOST_TEST(std::string(one["data"]["domain"].GetString()) == "one.com");
  BOOST_TEST(one["data"]["id"].GetInt() == 1);
  BOOST_TEST(metric_value(a, "referrald_cluster_forwarded_total") == 1);
  BOOST_TEST(metric_value(b, "referrald_cluster_forwards_served_total") == 1);
  // Straight to b over its peer link, not through the NATS servers.
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_sent_total") == 1);
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_unreachable_total") == 0);

  // Answered once a has it too: a read right after, without Referrald-Min-Seq, finds it.
  auto read = ca->get("/passthrough-referrers/1?account_id=" + account);
  BOOST_TEST(read.status == 200u, read.body);

  // The NATS client's threads that ran the follower and the forwarding carry their names
  // (docs/operations.md, "The server's threads"); b's follower may apply its writes a moment
  // after b answered them.
  auto named = [](cluster_node& n, const char* name) {
    return eventually([&] { return thread_names(n.server->pid()).count(name) == 1u; });
  };
  BOOST_TEST(named(a, "log.follow"));
  BOOST_TEST(named(b, "log.follow"));
  BOOST_TEST(named(a, "cluster.peer"));
  BOOST_TEST(named(b, "cluster.peer"));
  BOOST_TEST(named(b, "log.acks"));  // b published both writes

  // 409 and 412 as the owner gives them.
  auto dup_a = ca->post(base, body("one.com"));
  auto dup_b = cb->post(base, body("one.com"));
  BOOST_TEST(dup_a.status == 409u);
  BOOST_TEST(dup_b.status == 409u);
  auto strip_id = [](std::string s) {
    auto at = s.find(",\"request_id\"");
    return at == std::string::npos ? s : s.substr(0, at);
  };
  BOOST_TEST(strip_id(dup_a.body) == strip_id(dup_b.body));
  auto stale = ca->request("PATCH", "/passthrough-referrers/1?account_id=" + account,
                           R"({"utm_source":"x"})", {{"If-Match", "\"0000000000\""}});
  BOOST_TEST(stale.status == 412u, stale.body);
  auto patched = ca->request("PATCH", "/passthrough-referrers/1?account_id=" + account,
                             R"({"utm_source":"x"})", {{"If-Match", via_a.header("etag")}});
  BOOST_TEST(patched.status == 200u, patched.body);

  // An Idempotency-Key holds across the nodes: the retry through b replays a's answer.
  auto first = ca->request("POST", base, body("three.com"), {{"Idempotency-Key", "k-3"}});
  auto again = cb->request("POST", base, body("three.com"), {{"Idempotency-Key", "k-3"}});
  BOOST_TEST(first.status == 201u, first.body);
  BOOST_TEST(again.status == 201u, again.body);
  BOOST_TEST(again.header("idempotent-replayed") == "true");
  BOOST_TEST(again.body == first.body);

  // A write of a's own account stays on a; a refused one is refused the same way.
  auto own = accounts_owned_by("a", {"a", "b"}, 1).front();
  BOOST_TEST(ca->post("/passthrough-referrers?account_id=" + own, body("own.com")).status == 201u);
  auto bad = ca->post(base, R"({"domain":""})");
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(bad.body.find("domain") != std::string::npos, bad.body);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
}

BOOST_AUTO_TEST_CASE(a_forwarded_write_starts_no_actor_where_it_came_in_and_is_read_there_next) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto ca = a.client();
  // Each account written once through a (b owns it) and read on a right after: a answers
  // once its copy holds the write, and starts no actor of the account only to wait for it.
  // The read then starts one, from the copy.
  for (const auto& account : accounts_owned_by("b", {"a", "b"}, 24)) {
    auto before = metric_value(a, "referrald_account_actors_registered");
    auto made = ca->post("/passthrough-referrers?account_id=" + account, body("one.com"));
    BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
    BOOST_TEST(metric_value(a, "referrald_account_actors_registered") == before, account);
    auto read = ca->get("/passthrough-referrers/1?account_id=" + account);
    BOOST_TEST(read.status == 200u, account << ": " << read.body);
    // With the actor running, the next write through a waits for it as before.
    auto next = ca->post("/passthrough-referrers?account_id=" + account, body("two.com"));
    BOOST_REQUIRE_MESSAGE(next.status == 201u, next.body);
    auto listed = ca->get("/passthrough-referrers?account_id=" + account);
    BOOST_TEST(listed.body.find("two.com") != std::string::npos, account << ": " << listed.body);
  }
  BOOST_TEST(metric_value(a, "referrald_cluster_forwarded_total") == 48);
}

BOOST_AUTO_TEST_CASE(a_node_tells_when_its_copy_holds_an_account_s_event) {
  // What a forwarded write's answer waits for where no actor of its account runs: a
  // runtime in this process as node "a" (no HTTP server: it owns nothing, and b writes, so
  // no actor of the account runs here), told of account events as its follower copies them.
  nats_cluster nats(3);
  temp_dir dir;
  auto opened = store::db::open({dir.path(), false, 0});
  BOOST_REQUIRE(opened);
  actors::runtime_options o;
  o.actor_threads = 1;
  o.ingest_workers = 1;
  o.verify_every = std::chrono::seconds(0);
  actors::runtime_options::cluster_settings c;
  for (int i = 0; i < nats.size(); ++i)
    c.servers.push_back(nats.url(i));
  c.node_name = "a";
  o.cluster = c;
  actors::runtime a(**opened, o);
  cluster_node b(nats, "b");
  auto cb = b.client();
  const std::string account = "copied1";

  auto told = [&](std::uint64_t event, std::chrono::steady_clock::duration within = 60s) {
    auto p = std::make_shared<std::promise<bool>>();
    a.when_readable(account, event, std::chrono::steady_clock::now() + within,
                    [p](bool ok) { p->set_value(ok); });
    return p->get_future();
  };
  // Nothing of the account yet: waits; told once b's write reaches a's copy.
  auto first = told(1);
  auto second = told(2);
  BOOST_TEST((first.wait_for(0s) == std::future_status::timeout));
  auto made = cb->post("/passthrough-referrers?account_id=" + account, body("one.com"));
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
  BOOST_REQUIRE((first.wait_for(10s) == std::future_status::ready));
  BOOST_TEST(first.get());
  // Event 2 is not written yet: still waiting. An event the copy holds: at once.
  BOOST_TEST((second.wait_for(0s) == std::future_status::timeout));
  auto held = told(1);
  BOOST_TEST((held.wait_for(0s) == std::future_status::ready));
  BOOST_TEST(held.get());
  // Waits past their time are dropped as more come (a follower that stopped applying keeps
  // none for long): of 300 already due, those before the 256th waiter are told no.
  std::vector<std::future<bool>> due;
  for (int i = 0; i < 300; ++i)
    due.push_back(told(99, -1s));
  for (std::size_t i = 0; i < due.size(); ++i) {
    bool dropped = due[i].wait_for(0s) == std::future_status::ready;
    BOOST_TEST(dropped == (i < 255), "wait " << i);
    if (dropped) BOOST_TEST(!due[i].get());
  }
  BOOST_TEST((second.wait_for(0s) == std::future_status::timeout));
  // Stopping, a node tells what still waits that it will not come here.
  a.shutdown();
  BOOST_REQUIRE((second.wait_for(0s) == std::future_status::ready));
  BOOST_TEST(!second.get());
  auto after = told(1);
  BOOST_REQUIRE((after.wait_for(0s) == std::future_status::ready));
  BOOST_TEST(!after.get());
}

BOOST_AUTO_TEST_CASE(insights_merge_every_live_node_s_counts_and_name_those_missing) {
  // Each node counts what it resolved; a read on either merges both. A node gone (killed,
  // still a member until its key expires) is named, and the answer is partial.
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto ca = a.client(), cb = b.client();
  const std::string visit =
      R"({"referrer":"https://blog.partner.example/p","landing_url":"https://shop.example/"})";
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(ca->post("/attribution/resolve?account_id=acme", visit).status == 200u);
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(cb->post("/attribution/resolve?account_id=acme", visit).status == 200u);
  for (auto* c : {ca.get(), cb.get()}) {
    auto r = c->get("/insights?account_id=acme");
    BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
    auto d = r.json();
    const auto& data = d["data"];
    BOOST_TEST(data["totals"]["resolutions"].GetUint64() == 5u, r.body);
    BOOST_TEST(data["partial"].GetBool() == false);
    BOOST_REQUIRE(data["nodes"].Size() == 2u);
    BOOST_TEST(std::string(data["nodes"][0].GetString()) == "a");
    BOOST_TEST(std::string(data["nodes"][1].GetString()) == "b");
    BOOST_TEST(data["nodes_missing"].Size() == 0u);
    auto refs = c->get("/insights/referrers?account_id=acme").json();
    BOOST_TEST(refs["data"]["referrers"][0]["visits"].GetUint64() == 5u);
    BOOST_TEST(std::string(refs["data"]["referrers"][0]["host"].GetString()) ==
               "blog.partner.example");
  }
  b.server->stop(SIGKILL);
  auto r = ca->get("/insights/referrers?account_id=acme");
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
  auto d = r.json();
  BOOST_TEST(d["data"]["partial"].GetBool() == true, r.body);
  BOOST_REQUIRE(d["data"]["nodes_missing"].Size() == 1u);
  BOOST_TEST(std::string(d["data"]["nodes_missing"][0].GetString()) == "b");
  BOOST_TEST(d["data"]["referrers"][0]["visits"].GetUint64() == 2u);
}

BOOST_AUTO_TEST_CASE(two_nodes_writing_the_same_accounts_are_not_beaten) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      auto c = (t % 2 == 0 ? a : b).client();
      for (int i = 0; i < 20; ++i) {
        std::string account = "shared" + std::to_string((t / 2 + i) % 4);
        auto r = c->post("/passthrough-referrers?account_id=" + account,
                         body("w" + std::to_string(t) + "-" + std::to_string(i) + ".com"));
        if (r.status != 201u) ++failed;
      }
    });
  }
  for (auto& w : writers)
    w.join();
  BOOST_TEST(failed.load() == 0);
  BOOST_TEST(metric_value(a, "referrald_cluster_writes_beaten_total") +
                 metric_value(b, "referrald_cluster_writes_beaten_total") ==
             0);
  BOOST_TEST(metric_value(a, "referrald_cluster_forwarded_total") +
                 metric_value(b, "referrald_cluster_forwarded_total") >
             0);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("160 events") != std::string::npos, verified.output);
}

// The members' bucket deleted by hand (`nats kv del REFERRALD_NODES`): the first node whose
// heartbeat finds no stream for it makes it again, every node puts its key back, and both
// still count each other once the deleted keys would have expired. Writes then are not
// beaten (each account has one writer again).
BOOST_AUTO_TEST_CASE(the_members_bucket_deleted_by_hand_is_made_again) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  natsConnection* nc = nullptr;
  BOOST_REQUIRE(natsConnection_ConnectTo(&nc, nats.urls().c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  BOOST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  BOOST_REQUIRE(js_DeleteKeyValue(js, "REFERRALD_NODES") == NATS_OK);
  auto both_keys = [&] {
    kvStore* kv = nullptr;
    if (js_KeyValue(&kv, js, "REFERRALD_NODES") != NATS_OK) return false;
    int found = 0;
    for (const char* key : {"node.a", "node.b"}) {
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, kv, key) == NATS_OK) {
        ++found;
        kvEntry_Destroy(e);
      }
    }
    kvStore_Destroy(kv);
    return found == 2;
  };
  BOOST_TEST(eventually(both_keys, 15s));
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  // Past the 10 s a key is kept without a put: the members counted from the new bucket.
  hold_fault(11s);
  BOOST_TEST(members_are(a, 2));
  BOOST_TEST(members_are(b, 2));
  std::string logs = a.server->stderr_text() + b.server->stderr_text();
  BOOST_TEST(logs.find("the bucket REFERRALD_NODES was gone") != std::string::npos);
  auto ca = a.client(), cb = b.client();
  for (int i = 0; i < 8; ++i) {
    std::string account = "shared" + std::to_string(i % 4);
    BOOST_TEST(ca->post("/passthrough-referrers?account_id=" + account,
                        body("a" + std::to_string(i) + ".com"))
                   .status == 201u);
    BOOST_TEST(cb->post("/passthrough-referrers?account_id=" + account,
                        body("b" + std::to_string(i) + ".com"))
                   .status == 201u);
  }
  BOOST_TEST(metric_value(a, "referrald_cluster_writes_beaten_total") +
                 metric_value(b, "referrald_cluster_writes_beaten_total") ==
             0);
}

BOOST_AUTO_TEST_CASE(a_node_stopped_gracefully_during_writes_fails_no_write) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto accounts = accounts_owned_by("b", {"a", "b"}, 4);
  std::atomic<bool> done{false};
  std::atomic<int> acknowledged{0};
  std::vector<std::string> problems;
  std::mutex mu;
  std::thread writer([&] {
    auto c = a.client();
    for (int i = 0; !done; ++i) {
      auto account = accounts[static_cast<std::size_t>(i) % accounts.size()];
      auto r = c->post("/passthrough-referrers?account_id=" + account,
                       body("g" + std::to_string(i) + ".com"));
      if (r.status == 201u) {
        ++acknowledged;
      } else {
        std::lock_guard lock(mu);
        problems.push_back(std::to_string(r.status) + " " + r.body);
      }
    }
  });
  BOOST_REQUIRE(eventually([&] { return acknowledged >= 20; }, 20s));
  auto before = acknowledged.load();
  // b reads a's writes on its HTTP threads' loops (its peer link's connections): they are
  // closed once b has answered what it took, so that its loops end and the stop does not wait
  // for the drain's bound (10 s).
  auto stopped = stop_timed(b, SIGTERM);
  BOOST_TEST(stopped.status == 0);
  BOOST_TEST(stopped.seconds < 5.0, "b's stop took " << stopped.seconds << " s");
  // b's accounts are a's at once (b deleted its key as it stopped).
  BOOST_TEST(eventually([&] { return members_are(a, 1); }, 2s));
  BOOST_REQUIRE(eventually([&] { return acknowledged >= before + 20; }, 20s));
  done = true;
  writer.join();
  BOOST_TEST(problems.empty(), problems.size() << " writes failed; first: "
                                               << (problems.empty() ? "" : problems.front()));
  BOOST_TEST(metric_value(a, "referrald_cluster_forward_timeouts_total") == 0);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
}

// A node that sent writes to their owner over its peer link keeps those connections on its
// HTTP threads' loops: its graceful stop closes them once its last request is answered, while
// the owner still runs, and ends well within the drain's bound (10 s).
BOOST_AUTO_TEST_CASE(a_node_that_sent_writes_over_its_peer_link_stops_at_once) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto accounts = accounts_owned_by("b", {"a", "b"}, 4);
  auto c = a.client();
  for (int i = 0; i < 16; ++i) {
    auto r = c->post("/passthrough-referrers?account_id=" + accounts[i % accounts.size()],
                     body("s" + std::to_string(i) + ".com"));
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
  }
  BOOST_REQUIRE(metric_value(a, "referrald_cluster_peer_sent_total") >= 16);
  c.reset();
  auto stopped = stop_timed(a, SIGTERM);
  BOOST_TEST(stopped.status == 0);
  BOOST_TEST(stopped.seconds < 5.0, "a's stop took " << stopped.seconds << " s");
  // b took them on its loops, and lost its connections from a there: it serves on.
  BOOST_TEST(b.client()
                 ->post("/passthrough-referrers?account_id=" + accounts[0], body("after.com"))
                 .status == 201u);
  stopped = stop_timed(b, SIGTERM);
  BOOST_TEST(stopped.status == 0);
  BOOST_TEST(stopped.seconds < 5.0, "b's stop took " << stopped.seconds << " s");
}

// A node of a one-server cluster, with a write made, is stopped after `fault(nats)` ends its
// server's answers; the stop must end within seconds, saying why it left without a word to
// the cluster.
template <class Fault>
void stops_within_seconds_after(const char* account, Fault&& fault) {
  nats_cluster nats(1);
  cluster_node a(nats, "a");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 1); }));
  auto created = a.client()->post(std::string("/passthrough-referrers?account_id=") + account,
                                  body("before.com"));
  BOOST_REQUIRE_MESSAGE(created.status == 201u, created.body);
  fault(nats);
  auto stopped = stop_timed(a, SIGTERM, 60s);
  nats.thaw(0);
  BOOST_TEST(stopped.status == 0);
  BOOST_TEST(stopped.seconds < 10.0, "the stop took " << stopped.seconds << " s");
  auto said = a.server->stderr_text();
  BOOST_TEST(said.find("stopping without the cluster's servers") != std::string::npos, said);
}

// Every request a stop makes of the cluster (the node's key deleted, the forward subscriptions
// drained, the follower's consumers deleted) waited out its own timeout when no server was
// left: such a stop took 19-25 s, near systemd's 30 s stop timeout. The node now closes its
// connection once no server has answered for 2 s, and the rest of the stop fails at once.
BOOST_AUTO_TEST_CASE(a_node_stopped_after_its_servers_are_gone_stops_within_seconds) {
  stops_within_seconds_after("gone", [](nats_cluster& nats) { nats.kill(0); });
}

// The same when the servers go as the stop begins (a machine's shutdown stopping its NATS
// server and its node at once): the connection still looked up when the stop first asked, so
// each request waited out its timeout (17-19 s, the bench's cleanup stopping both at once;
// 29 s here). A frozen server keeps its connection open until its PINGs go unanswered (about
// 3 s here): the node closes its connection 2 s after that, whenever in the stop it happens.
BOOST_AUTO_TEST_CASE(a_node_whose_servers_go_as_it_stops_stops_within_seconds) {
  stops_within_seconds_after("going", [](nats_cluster& nats) { nats.freeze(0); });
}

BOOST_AUTO_TEST_CASE(an_owner_killed_during_writes_loses_nothing_acknowledged) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto account = accounts_owned_by("b", {"a", "b"}, 1).front();
  rule_writer w{account, "k", {}, 0, {}};
  std::thread writer([&] {
    w.run(a, 60, [&](int n) {
      if (n == 20) b.server->stop(SIGKILL);
    });
  });
  writer.join();
  BOOST_TEST(w.problem.empty(), w.problem);
  // b is out of the members within the TTL (10 s) of its last put.
  BOOST_TEST(eventually([&] { return members_are(a, 1); }, 15s));
  expect_all_on(a, account, w.acknowledged);
  // Back again: it catches up, owns its accounts again and has every write.
  b.restart();
  BOOST_TEST(eventually([&] { return members_are(a, 2) && members_are(b, 2); }, 10s));
  expect_all_on(b, account, w.acknowledged);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
}

BOOST_AUTO_TEST_CASE(nodes_joining_and_leaving_never_fork_a_history) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  std::vector<rule_writer> writers;
  for (int i = 0; i < 4; ++i)
    writers.push_back(rule_writer{"churn" + std::to_string(i), "c" + std::to_string(i), {}, 0, {}});
  std::atomic<bool> churning{true};
  std::thread churn([&] {
    for (int round = 0; round < 3 && churning; ++round) {
      cluster_node c(nats, "c");
      hold_fault(1500ms);  // a node that comes, owns for a while, and goes
      c.server->stop(round % 2 == 0 ? SIGTERM : SIGKILL);
      hold_fault(500ms);
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < writers.size(); ++i) {
    threads.emplace_back([&, i] { writers[i].run(i % 2 == 0 ? a : b, 40, [](int) {}); });
  }
  for (auto& t : threads)
    t.join();
  churning = false;
  churn.join();
  for (auto& w : writers) {
    BOOST_TEST(w.problem.empty(), w.problem);
    expect_all_on(a, w.account, w.acknowledged);
    expect_all_on(b, w.account, w.acknowledged);
  }
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
}

// A node that takes no writes over a peer link (--cluster-peer-listen off, as a node of an
// earlier release has none) is sent its writes over NATS, and sends its own that way; the
// answers are the same.
BOOST_AUTO_TEST_CASE(an_owner_without_a_peer_link_is_sent_its_writes_over_nats) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats.urls(), "b", {"--cluster-peer-listen", "off"});
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto of_b = accounts_owned_by("b", {"a", "b"}, 1).front();
  auto of_a = accounts_owned_by("a", {"a", "b"}, 1).front();
  auto to_b = a.client()->post("/passthrough-referrers?account_id=" + of_b, body("one.com"));
  auto to_a = b.client()->post("/passthrough-referrers?account_id=" + of_a, body("two.com"));
  BOOST_TEST(to_b.status == 201u, to_b.body);
  BOOST_TEST(to_a.status == 201u, to_a.body);
  BOOST_TEST(metric_value(a, "referrald_cluster_forwarded_total") == 1);
  BOOST_TEST(metric_value(b, "referrald_cluster_forwarded_total") == 1);
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_sent_total") == 0);
  BOOST_TEST(metric_value(b, "referrald_cluster_peer_sent_total") == 0);
  BOOST_TEST(metric_value(a, "referrald_cluster_forward_fallbacks_total") == 0);
  BOOST_TEST(b.server->stderr_text().find("peer link: taking writes") == std::string::npos);
}

// A peer link on every address of the machine (0.0.0.0) is put in the members' value as one
// address the others reach: here, where the NATS servers are on 127.0.0.1, the machine's
// first IPv4 address other than loopback (or 127.0.0.1 on a machine without one).
BOOST_AUTO_TEST_CASE(a_peer_link_on_every_address_is_reached_at_one_of_them) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats.urls(), "b", {"--cluster-peer-listen", "0.0.0.0:0"});
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto log = b.server->stderr_text();
  auto at = log.find("peer link: taking writes on 0.0.0.0:");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, log);
  auto line = log.substr(at, log.find('\n', at) - at);
  auto reached = line.substr(line.find("reached at ") + 11);
  BOOST_TEST(!reached.starts_with("0.0.0.0"), line);
  BOOST_TEST(reached.find(':') != std::string::npos, line);
  auto account = accounts_owned_by("b", {"a", "b"}, 1).front();
  auto created = a.client()->post("/passthrough-referrers?account_id=" + account, body("x.com"));
  BOOST_TEST(created.status == 201u, created.body);
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_sent_total") == 1);
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_unreachable_total") == 0);
  BOOST_TEST(metric_value(b, "referrald_cluster_forwards_served_total") == 1);
}

// A stranger that reaches a node's peer link runs nothing there: a hello with another
// secret or another node's name is refused (and what follows it ignored), a request without
// a hello, a frame too large (before the hello, larger than any hello) or 5 s without a hello
// end the connection. The node's own peers are
// served on.
BOOST_AUTO_TEST_CASE(a_peer_link_runs_nothing_for_a_stranger) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(a, 2) && members_are(b, 2); }));
  auto account = accounts_owned_by("b", {"a", "b"}, 1).front();
  auto address = peer_address_of(b);
  BOOST_REQUIRE(!address.empty());
  auto post = [&](const std::string& domain) {
    std::string json = body(domain);
    return "POST /passthrough-referrers?account_id=" + account +
           " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_secret +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
           "\r\n\r\n" + json;
  };
  auto refused_for = [&](const std::string& hello, const std::string& why) {
    peer_client c(address);
    BOOST_REQUIRE(c.fd >= 0);
    BOOST_REQUIRE(c.send(
        peer_client::frame('H', 0, hello) +
        peer_client::frame('Q', 1, peer_client::request("203.0.113.9:1", post("stranger.com")))));
    auto reply = c.next();
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->first == 'X');
    BOOST_TEST(reply->second.find(why) != std::string::npos, reply->second);
    BOOST_TEST(!c.next().has_value(), "more than the refusal");
  };
  refused_for("referrald-peer/1 b 0000000000000000000000000000000000000000000000000000000000000000",
              "wrong peer secret");
  refused_for("referrald-peer/1 b", "not a referrald peer hello");
  refused_for("referrald-peer/1 a whatever", "this is node b, not a");
  refused_for("referrald-peer/2 b whatever", "not a referrald peer hello");
  {
    peer_client c(address);
    BOOST_REQUIRE(c.send(
        peer_client::frame('Q', 1, peer_client::request("203.0.113.9:1", post("stranger.com")))));
    BOOST_TEST(!c.next().has_value(), "a request without a hello was answered");
  }
  {
    peer_client c(address);
    BOOST_REQUIRE(c.send(std::string("\xff\xff\xff\xff", 4) + std::string(64, 'Q')));
    BOOST_TEST(!c.next().has_value(), "a frame of 4 GiB was taken");
  }
  {
    // A hello larger than any hello (a name of 1,000 bytes): closed unread, nothing said.
    peer_client c(address);
    BOOST_REQUIRE(c.send(
        peer_client::frame('H', 0, "referrald-peer/1 " + std::string(1000, 'b') + " secret")));
    BOOST_TEST(!c.next().has_value(), "a hello of 1,000 bytes was read");
  }
  {
    // Connected, and silent: closed once the hello's 5 s are over.
    peer_client c(address);
    auto opened = std::chrono::steady_clock::now();
    BOOST_TEST(!c.next().has_value());
    BOOST_TEST((std::chrono::steady_clock::now() - opened < 9s), "a silent stranger was kept");
  }
  BOOST_TEST(metric_value(b, "referrald_cluster_peer_hellos_refused_total") == 4);
  BOOST_TEST(metric_value(b, "referrald_cluster_forwards_served_total") == 0);
  // Nothing the strangers sent was written; a's writes reach b as before.
  auto listed = a.client()->get("/passthrough-referrers?account_id=" + account);
  BOOST_TEST(listed.body.find("stranger.com") == std::string::npos, listed.body);
  auto via_a = a.client()->post("/passthrough-referrers?account_id=" + account, body("ok.com"));
  BOOST_TEST(via_a.status == 201u, via_a.body);
  BOOST_TEST(metric_value(a, "referrald_cluster_peer_sent_total") == 1);
  BOOST_TEST(metric_value(b, "referrald_cluster_forwards_served_total") == 1);
  auto log = b.server->stderr_text();
  BOOST_TEST(log.find("peer link: refused a connection from 127.0.0.1") != std::string::npos);
}

// Strangers connected to a peer link when the node stops (one silent, one halfway through a
// frame) are closed with the link: they hold the stop up neither for the hello's 5 s nor for
// the drain's bound, and each sees its connection end.
BOOST_AUTO_TEST_CASE(strangers_on_a_peer_link_do_not_hold_up_a_stop) {
  nats_cluster nats(1);
  cluster_node b(nats, "b");
  BOOST_REQUIRE(eventually([&] { return members_are(b, 1); }));
  auto address = peer_address_of(b);
  BOOST_REQUIRE(!address.empty());
  peer_client silent(address), halfway(address);
  BOOST_REQUIRE(silent.fd >= 0);
  BOOST_REQUIRE(halfway.fd >= 0);
  // A hello's length and kind, and 10 of its 100 bytes.
  BOOST_REQUIRE(halfway.send(peer_client::frame('H', 0, std::string(91, 'x')).substr(0, 23)));
  auto stopped = stop_timed(b, SIGTERM);
  BOOST_TEST(stopped.status == 0);
  BOOST_TEST(stopped.seconds < 3.0, "the stop took " << stopped.seconds << " s");
  auto opened = std::chrono::steady_clock::now();
  BOOST_TEST(!silent.next().has_value());
  BOOST_TEST(!halfway.next().has_value());
  BOOST_TEST((std::chrono::steady_clock::now() - opened < 1s),
             "a stranger's connection stayed open");
}

BOOST_AUTO_TEST_SUITE_END()
