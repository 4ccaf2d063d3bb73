#pragma once

// The contract of a retry store (interfaces/retry_store.hpp), one suite every
// implementation passes: REFERRALD_RETRY_STORE_SUITE(name, harness) declares it as a Boost.Test
// suite for `harness`, a fixture with
//
//   testing::test_clock clock;                       // the store's clock, set by the suite
//   std::unique_ptr<interfaces::retry_store> open();  // a store over the harness's storage:
//                                                     // a second one is a restart, or
//                                                     // another node
//   bool shared_by_nodes;                             // two may be open at once
//
// A store implementation is done when it passes the suite.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "interfaces/retry_store.hpp"
#include "tests/interfaces/unique_name.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/test_clock.hpp"

namespace referrald::testing::retry_suite {

using interfaces::kept_answer;
using interfaces::retry_store;
using verdict = retry_store::verdict;

// The store's answer to a begin, or nullopt when none came within 30 s. Safe on any thread
// (it checks nothing through Boost.Test, whose checks one thread at a time may make).
inline std::optional<retry_store::begun> begin_within(retry_store& s, const std::string& scope,
                                                      const std::string& fingerprint) {
  auto p = std::make_shared<std::promise<retry_store::begun>>();
  s.begin(scope, fingerprint, [p](retry_store::begun b) { p->set_value(std::move(b)); });
  auto f = p->get_future();
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return std::nullopt;
  return f.get();
}

inline retry_store::begun begin(retry_store& s, const std::string& scope,
                                const std::string& fingerprint) {
  auto b = begin_within(s, scope, fingerprint);
  BOOST_REQUIRE(b.has_value());
  return std::move(*b);
}

inline void complete(retry_store& s, const std::string& scope, kept_answer sent,
                     kept_answer durable) {
  auto p = std::make_shared<std::promise<void>>();
  s.complete(scope, std::move(sent), std::move(durable), [p] { p->set_value(); });
  auto f = p->get_future();
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
}

inline kept_answer answer(std::string body) {
  return {201, "application/json", {{"Location", "/v1/things/1"}}, std::move(body)};
}

// A scope (an API key's id and an Idempotency-Key) no other case of any run uses.
inline std::string scope_of(const std::string& name) { return "7." + unique_name(name); }

}  // namespace referrald::testing::retry_suite

#define REFERRALD_RETRY_STORE_SUITE(suite_name, harness)                                      \
  BOOST_FIXTURE_TEST_SUITE(suite_name, harness)                                               \
                                                                                              \
  BOOST_AUTO_TEST_CASE(the_first_claim_runs_and_a_second_waits_or_mismatches) {               \
    using namespace referrald::testing::retry_suite;                                          \
    auto s = open();                                                                          \
    auto scope = scope_of("first");                                                           \
    BOOST_TEST((begin(*s, scope, "f1").what == verdict::run));                                \
    BOOST_TEST((begin(*s, scope, "f1").what == verdict::in_progress));                        \
    BOOST_TEST((begin(*s, scope, "f2").what == verdict::mismatch));                           \
    BOOST_TEST((begin(*s, scope_of("other"), "f1").what == verdict::run));                    \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_CASE(a_kept_answer_is_replayed_to_the_same_request_only) {                  \
    using namespace referrald::testing::retry_suite;                                          \
    auto s = open();                                                                          \
    auto scope = scope_of("kept");                                                            \
    BOOST_REQUIRE((begin(*s, scope, "f1").what == verdict::run));                             \
    complete(*s, scope, answer("{\"secret\":\"s\"}"), answer("{\"secret\":null}"));           \
    auto again = begin(*s, scope, "f1");                                                      \
    BOOST_REQUIRE((again.what == verdict::replay));                                           \
    BOOST_TEST(again.kept.status == 201u);                                                    \
    BOOST_TEST(again.kept.content_type == "application/json");                                \
    BOOST_REQUIRE(again.kept.headers.size() == 1u);                                           \
    BOOST_TEST(again.kept.headers[0].second == "/v1/things/1");                               \
    /* what this process sent, or what was written down: never anything else */               \
    BOOST_TEST(                                                                               \
        (again.kept.body == "{\"secret\":\"s\"}" || again.kept.body == "{\"secret\":null}")); \
    BOOST_TEST((begin(*s, scope, "f2").what == verdict::mismatch));                           \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_CASE(an_abandoned_claim_is_claimed_again) {                                 \
    using namespace referrald::testing::retry_suite;                                          \
    auto s = open();                                                                          \
    auto scope = scope_of("abandoned");                                                       \
    BOOST_REQUIRE((begin(*s, scope, "f1").what == verdict::run));                             \
    s->abandon(scope);                                                                        \
    /* the request's retry (its answer, a 5xx, was not kept): abandoning may ask the */       \
    /* store on a thread of its own, so the retry runs once it has */                         \
    verdict v = verdict::in_progress;                                                         \
    referrald::testing::eventually(                                                           \
        [&] { return (v = begin(*s, scope, "f1").what) != verdict::in_progress; },            \
        std::chrono::seconds(10));                                                            \
    BOOST_TEST((v == verdict::run));                                                          \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_CASE(an_answer_expires_after_its_lifetime_and_a_claim_after_its_own) {      \
    using namespace referrald::testing::retry_suite;                                          \
    auto s = open();                                                                          \
    auto kept = scope_of("expires");                                                          \
    auto stuck = scope_of("stuck");                                                           \
    BOOST_REQUIRE((begin(*s, kept, "f1").what == verdict::run));                              \
    complete(*s, kept, answer("{}"), answer("{}"));                                           \
    BOOST_REQUIRE((begin(*s, stuck, "f1").what == verdict::run));                             \
    clock.advance(std::chrono::milliseconds(retry_store::claim_ms - 1000));                   \
    BOOST_TEST((begin(*s, stuck, "f2").what == verdict::mismatch));                           \
    BOOST_TEST((begin(*s, stuck, "f1").what == verdict::in_progress));                        \
    clock.advance(std::chrono::milliseconds(2000));                                           \
    /* a claim whose request never finished is taken over, by any request */                  \
    BOOST_TEST((begin(*s, stuck, "f2").what == verdict::run));                                \
    BOOST_TEST((begin(*s, kept, "f1").what == verdict::replay));                              \
    clock.advance(std::chrono::milliseconds(retry_store::keep_ms));                           \
    BOOST_TEST((begin(*s, kept, "f2").what == verdict::run));                                 \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_CASE(what_was_kept_survives_a_restart_without_what_was_not_written_down) {  \
    using namespace referrald::testing::retry_suite;                                          \
    auto scope = scope_of("restart");                                                         \
    auto claimed_only = scope_of("claimed-only");                                             \
    {                                                                                         \
      auto s = open();                                                                        \
      BOOST_REQUIRE((begin(*s, scope, "f1").what == verdict::run));                           \
      complete(*s, scope, answer("{\"secret\":\"s\"}"), answer("{\"secret\":null}"));         \
      BOOST_REQUIRE((begin(*s, claimed_only, "f1").what == verdict::run));                    \
      s->abandon(claimed_only);                                                               \
    }                                                                                         \
    auto s = open();                                                                          \
    auto again = begin(*s, scope, "f1");                                                      \
    BOOST_REQUIRE((again.what == verdict::replay));                                           \
    BOOST_TEST(again.kept.body == "{\"secret\":null}");                                       \
    BOOST_TEST((begin(*s, claimed_only, "f2").what == verdict::run));                         \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_CASE(of_requests_claiming_at_once_exactly_one_runs) {                       \
    using namespace referrald::testing::retry_suite;                                          \
    auto first = open();                                                                      \
    auto second = shared_by_nodes ? open() : nullptr;                                         \
    auto scope = scope_of("race");                                                            \
    std::vector<std::future<verdict>> claims;                                                 \
    for (int i = 0; i < 8; ++i) {                                                             \
      auto* s = (i % 2 == 1 && second) ? second.get() : first.get();                          \
      claims.push_back(std::async(std::launch::async, [s, scope] {                            \
        auto b = begin_within(*s, scope, "f1");                                               \
        if (!b) throw std::runtime_error("the store did not answer a begin within 30 s");     \
        return b->what;                                                                       \
      }));                                                                                    \
    }                                                                                         \
    int runs = 0;                                                                             \
    for (auto& c : claims) {                                                                  \
      auto v = c.get();                                                                       \
      runs += v == verdict::run;                                                              \
      BOOST_TEST((v == verdict::run || v == verdict::in_progress));                           \
    }                                                                                         \
    BOOST_TEST(runs == 1);                                                                    \
  }                                                                                           \
                                                                                              \
  BOOST_AUTO_TEST_SUITE_END()
