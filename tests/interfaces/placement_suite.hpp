#pragma once

// The contract of placement (interfaces/placement.hpp), one suite every implementation
// passes: REFERRALD_PLACEMENT_SUITE(name, harness) declares it as a Boost.Test suite for
// `harness`, a fixture with
//
//   std::unique_ptr<interfaces::placement> open(const std::string& node);  // a node's
//   bool shared_by_nodes;   // placements opened for two nodes share the writes' owners
//
// With one node, every write is made here. With nodes that share owners, every scope has
// exactly one owner among the nodes serving, a write relayed to it is answered by it with the
// position it had applied, and a node that leaves owns nothing from then on.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "interfaces/placement.hpp"
#include "tests/support/eventually.hpp"

namespace referrald::testing::placement_suite {

using interfaces::placement;

// Serves with an answer that names the node and echoes the request.
inline void serve_echo(placement& p, const std::string& node) {
  auto st = p.serve(
      [node](placement::incoming in, placement::answer_fn answer) {
        answer(node + " answered " + in.request + " from " + in.remote);
      },
      {});
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
}

inline placement::relayed relay(placement& p, const std::string& node, const std::string& req) {
  auto done = std::make_shared<std::promise<placement::relayed>>();
  p.relay(node, req, "192.0.2.7:4000", std::chrono::milliseconds(5000),
          std::chrono::milliseconds(3000),
          [done](placement::relayed r) { done->set_value(std::move(r)); });
  auto f = done->get_future();
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

inline std::vector<std::string> scopes(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back((i % 2 == 0 ? "account/acct_" : "brand/") + std::to_string(i));
  return out;
}

// Owners change as the members' updates arrive, which no clock of the test's can hurry: the
// suite waits for them with eventually(), up to owners_settle.
using referrald::testing::eventually;
inline constexpr std::chrono::seconds owners_settle{15};

// Nodes "node-a" and "node-b" of the harness `h`, each serving with serve_echo.
template <class Harness>
std::pair<std::unique_ptr<placement>, std::unique_ptr<placement>> two_nodes(Harness& h) {
  auto a = h.open("node-a");
  auto b = h.open("node-b");
  serve_echo(*a, "node-a");
  serve_echo(*b, "node-b");
  return {std::move(a), std::move(b)};
}

}  // namespace referrald::testing::placement_suite

#define REFERRALD_PLACEMENT_SUITE(suite_name, harness)                                             \
  BOOST_FIXTURE_TEST_SUITE(suite_name, harness)                                                    \
                                                                                                   \
  BOOST_AUTO_TEST_CASE(a_lone_node_makes_every_write_itself) {                                     \
    using namespace referrald::testing::placement_suite;                                           \
    auto a = open("lone");                                                                         \
    serve_echo(*a, "lone");                                                                        \
    for (const auto& s : scopes(64))                                                               \
      BOOST_TEST(!a->owner_elsewhere(s).has_value());                                              \
    if (!shared_by_nodes) BOOST_TEST(a->others().empty());                                         \
    a->leave();                                                                                    \
    a->close();                                                                                    \
    /* after close, a relay is never taken: the write is made here */                              \
    BOOST_TEST((relay(*a, "anyone", "POST /x").how == placement::outcome::not_taken));             \
  }                                                                                                \
                                                                                                   \
  BOOST_AUTO_TEST_CASE(nodes_share_each_scope_s_one_owner_and_relay_to_it) {                       \
    using namespace referrald::testing::placement_suite;                                           \
    if (!shared_by_nodes) return;                                                                  \
    auto [a, b] = two_nodes(*this);                                                                \
    auto all = scopes(64);                                                                         \
    /* once each has seen the other: one owner per scope, and both own some */                     \
    BOOST_TEST(eventually(                                                                         \
        [&] {                                                                                      \
          int a_owns = 0, b_owns = 0;                                                              \
          for (const auto& s : all) {                                                              \
            auto from_a = a->owner_elsewhere(s), from_b = b->owner_elsewhere(s);                   \
            if (from_a.has_value() == from_b.has_value()) return false;                            \
            a_owns += !from_a.has_value();                                                         \
            b_owns += !from_b.has_value();                                                         \
          }                                                                                        \
          return a_owns > 0 && b_owns > 0;                                                         \
        },                                                                                         \
        owners_settle));                                                                           \
    /* each names itself and sees the other */                                                     \
    BOOST_TEST(eventually([&] { return a->others() == std::vector<std::string>{"node-b"}; },       \
                          owners_settle));                                                         \
    BOOST_TEST(eventually([&] { return b->others() == std::vector<std::string>{"node-a"}; },       \
                          owners_settle));                                                         \
    BOOST_TEST(a->self() == "node-a");                                                             \
    for (const auto& s : all) {                                                                    \
      if (auto owner = a->owner_elsewhere(s)) {                                                    \
        auto r = relay(*a, *owner, "POST /" + s);                                                  \
        BOOST_REQUIRE_MESSAGE(r.how == placement::outcome::answered,                               \
                              "relayed to " << *owner << ": outcome " << static_cast<int>(r.how)); \
        BOOST_TEST(r.response == *owner + " answered POST /" + s + " from 192.0.2.7:4000");        \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
    /* a node that leaves owns nothing from then on; the other owns everything */                  \
    b->leave();                                                                                    \
    BOOST_TEST(eventually(                                                                         \
        [&] {                                                                                      \
          for (const auto& s : all)                                                                \
            if (a->owner_elsewhere(s)) return false;                                               \
          return true;                                                                             \
        },                                                                                         \
        owners_settle));                                                                           \
    BOOST_TEST((relay(*a, "node-b", "POST /late").how == placement::outcome::not_taken));          \
    BOOST_TEST(eventually([&] { return a->others().empty(); }, owners_settle));                    \
    b->close();                                                                                    \
    a->leave();                                                                                    \
    a->close();                                                                                    \
  }                                                                                                \
                                                                                                   \
  BOOST_AUTO_TEST_CASE(a_write_relayed_to_a_node_gone_is_not_taken) {                              \
    using namespace referrald::testing::placement_suite;                                           \
    if (!shared_by_nodes) return;                                                                  \
    auto [a, b] = two_nodes(*this);                                                                \
    auto all = scopes(64);                                                                         \
    std::optional<std::string> of_b;                                                               \
    BOOST_REQUIRE(eventually(                                                                      \
        [&] {                                                                                      \
          for (const auto& s : all)                                                                \
            if (a->owner_elsewhere(s)) {                                                           \
              of_b = s;                                                                            \
              return true;                                                                         \
            }                                                                                      \
          return false;                                                                            \
        },                                                                                         \
        owners_settle));                                                                           \
    b->leave();                                                                                    \
    b->close();                                                                                    \
    /* nothing ran: the sender may make the write itself, and from then on does */                 \
    BOOST_TEST((relay(*a, "node-b", "POST /" + *of_b).how == placement::outcome::not_taken));      \
    BOOST_TEST(!a->owner_elsewhere(*of_b).has_value());                                            \
    a->leave();                                                                                    \
    a->close();                                                                                    \
  }                                                                                                \
                                                                                                   \
  BOOST_AUTO_TEST_SUITE_END()
