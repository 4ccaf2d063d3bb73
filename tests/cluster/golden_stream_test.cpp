// Mixed releases in one cluster. Stream messages written by earlier releases (committed
// under tests/golden/stream-*, made by tests/golden/make_stream.py) are applied by this
// release: a node on a stream holding exactly those messages answers what the node that
// wrote them answered, and the stream verifies. A message in an encoding newer than this
// release reads stops the node there, not ready, until it is upgraded: never skipped, also
// after a restart.

#include <nats/nats.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "cluster/cluster_log.hpp"
#include "domain/base/text.hpp"
#include "tests/cluster/nodes.hpp"
#include "tests/support/command.hpp"

using namespace referrald;
using namespace referrald::testing;

namespace {

// The JSON's base64 fields, which must be well-formed.
std::string base64_decode(std::string_view in) {
  auto bytes = domain::from_base64(in);
  BOOST_REQUIRE_MESSAGE(bytes.has_value(), "not base64: " << in);
  return std::move(*bytes);
}

// Publishes `payload` under `subject` with the headers of a NATS header block
// ("NATS/1.0\r\nName: value\r\n..."); the stream sequence it got.
std::uint64_t publish(jsCtx* js, const std::string& subject, const std::string& header_block,
                      const std::string& payload) {
  natsMsg* m = nullptr;
  BOOST_REQUIRE(natsMsg_Create(&m, subject.c_str(), nullptr, payload.data(),
                               static_cast<int>(payload.size())) == NATS_OK);
  std::string_view rest = header_block;
  if (auto eol = rest.find("\r\n"); eol != std::string_view::npos) rest.remove_prefix(eol + 2);
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::string value(line.substr(colon + 1));
    value.erase(0, value.find_first_not_of(' '));
    BOOST_REQUIRE(natsMsgHeader_Add(m, name.c_str(), value.c_str()) == NATS_OK);
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_PublishMsg(&ack, js, m, nullptr, &code);
  natsMsg_Destroy(m);
  BOOST_REQUIRE_MESSAGE(s == NATS_OK, "publishing to " << subject << ": " << natsStatus_GetText(s)
                                                       << " " << static_cast<int>(code));
  std::uint64_t seq = ack->Sequence;
  jsPubAck_Destroy(ack);
  return seq;
}

struct nats_publisher {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit nats_publisher(const std::string& url) {
    BOOST_REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    BOOST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  }
  ~nats_publisher() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
};

// Whether every member of `expected` is in `actual` with the same value (arrays: the same
// length, element by element): a later release may add fields, never change or drop one.
bool contains(const rapidjson::Value& expected, const rapidjson::Value& actual,
              std::string& where) {
  if (expected.IsObject()) {
    if (!actual.IsObject()) return false;
    for (const auto& m : expected.GetObject()) {
      auto it = actual.FindMember(m.name);
      std::string at = where + "." + m.name.GetString();
      if (it == actual.MemberEnd()) {
        where = at + " missing";
        return false;
      }
      if (!contains(m.value, it->value, at)) {
        where = at;
        return false;
      }
    }
    return true;
  }
  if (expected.IsArray()) {
    if (!actual.IsArray() || actual.Size() != expected.Size()) return false;
    for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
      std::string at = where + "[" + std::to_string(i) + "]";
      if (!contains(expected[i], actual[i], at)) {
        where = at;
        return false;
      }
    }
    return true;
  }
  return expected == actual;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mixed_releases)

BOOST_AUTO_TEST_CASE(stream_messages_of_earlier_releases_are_applied_by_this_one) {
  int sets = 0;
  for (const auto& dir : std::filesystem::directory_iterator(REFERRALD_GOLDEN_DIR)) {
    std::string name = dir.path().filename().string();
    if (!name.starts_with("stream-")) continue;
    ++sets;
    BOOST_TEST_CONTEXT("golden set " << name) {
      nats_cluster nats(1);
      {
        // The stream as a node makes it, then every message as it was stored.
        auto log = open_log(nats);
        nats_publisher p(nats.url(0));
        std::ifstream in(dir.path() / "messages.jsonl");
        int count = 0;
        for (std::string line; std::getline(in, line);) {
          rapidjson::Document m;
          m.Parse(line.c_str());
          BOOST_REQUIRE(!m.HasParseError());
          auto seq =
              publish(p.js, m["subject"].GetString(), base64_decode(m["headers"].GetString()),
                      base64_decode(m["data"].GetString()));
          BOOST_REQUIRE_EQUAL(seq, m["seq"].GetUint64());
          ++count;
        }
        BOOST_TEST(count > 0);
      }
      cluster_node node(nats, "now");
      BOOST_REQUIRE(eventually([&] { return node.client()->get("/readyz").status == 200u; }, 30s));
      std::ifstream expected(dir.path() / "expected.jsonl");
      int reads = 0;
      for (std::string line; std::getline(expected, line); ++reads) {
        rapidjson::Document e;
        e.Parse(line.c_str());
        BOOST_REQUIRE(!e.HasParseError());
        std::string path = e["path"].GetString();
        auto r = node.client()->get(path);
        BOOST_TEST_CONTEXT("GET " << path) {
          BOOST_REQUIRE_EQUAL(r.status, 200u);
          auto got = r.json();
          std::string where = "data";
          BOOST_TEST(contains(e["data"], got["data"], where),
                     "differs at " << where << ": " << r.body);
        }
      }
      BOOST_TEST(reads > 0);
      auto verified = referralctl("--cluster " + nats.urls() + " verify");
      BOOST_TEST(verified.exit == 0, verified.output);
    }
  }
  BOOST_TEST(sets > 0, "no golden stream sets under " << REFERRALD_GOLDEN_DIR);
}

// A write in an encoding this release does not know (version 2) stops the node at it:
// /readyz says to upgrade (on every node of this release), reads go on from what was
// applied, it is no member, and a restart of the same release stops there again (it never
// skips it).
BOOST_AUTO_TEST_CASE(a_message_from_a_newer_release_stops_a_node_until_it_is_upgraded) {
  nats_cluster nats(1);
  cluster_node node(nats, "old");
  BOOST_REQUIRE_EQUAL(node.client()
                          ->post("/passthrough-referrers?account_id=acme",
                                 R"({"domain":"before.example","utm_source":"s"})")
                          .status,
                      201u);
  cluster::cluster_write future;
  future.account_id = "zeta";
  future.first_seq = 1;
  future.values = {"an event as a later release encodes it"};
  future.writer = "new/0000000000000001/1";
  std::string payload = cluster::encode_cluster_write(future);
  payload[0] = '\x02';
  std::uint64_t at = 0;
  {
    nats_publisher p(nats.url(0));
    at = publish(p.js, cluster::cluster_subject("zeta"), "NATS/1.0\r\n", payload);
  }
  std::string want =
      "a newer release wrote message " + std::to_string(at) + " of the stream: upgrade this node";
  auto says_upgrade = [&] {
    auto r = node.client()->get("/readyz");
    return r.status == 503u && r.body.find(want) != std::string::npos;
  };
  BOOST_TEST(eventually(says_upgrade, 10s), node.client()->get("/readyz").body);
  // Every node of this release stops there, also one started now.
  {
    cluster_node other(nats, "other");
    BOOST_TEST(eventually(
        [&] { return other.client()->get("/readyz").body.find(want) != std::string::npos; }, 10s));
  }
  node.restart();
  BOOST_TEST(eventually(says_upgrade, 30s), node.client()->get("/readyz").body);
  // Restarted at a message it cannot apply, it never joins the members, and counts only the
  // others: none, once the node stopped above is gone (within the members' TTL, 10 s).
  BOOST_TEST(eventually([&] { return metric_value(node, "referrald_cluster_members") == 0; }, 15s),
             metric_value(node, "referrald_cluster_members"));
  // Writes are refused (a write would be decided on a copy that stopped), reads go on from
  // what was applied.
  auto refused = node.client()->post("/passthrough-referrers?account_id=acme",
                                     R"({"domain":"after.example","utm_source":"s"})");
  BOOST_TEST(refused.status == 503u, refused.body);
  auto list = node.client()->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(list.status == 200u);
  BOOST_TEST(list.body.find("before.example") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
