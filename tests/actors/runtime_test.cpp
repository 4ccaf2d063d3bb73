#include "actors/runtime.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "domain/rules/entities.hpp"
#include "infra/metrics.hpp"
#include "store/db_internal.hpp"
#include "store/event_log.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_clock.hpp"

using namespace referrald;
using namespace referrald::actors;
using namespace std::chrono_literals;

namespace {

// Sends a request built by `make(reply)` and waits (bounded) for its answer. No
// Boost.Test assertion here: it is called from several threads at once, and the test
// framework is not thread-safe; callers check the result.
template <class Make>
api_result ask(Make&& make) {
  auto promise = std::make_shared<std::promise<api_result>>();
  auto future = promise->get_future();
  make(make_reply([promise](api_result r) { promise->set_value(std::move(r)); }));
  if (future.wait_for(10s) != std::future_status::ready) {
    return domain::make_error(domain::errc::unavailable, "no answer in 10 s");
  }
  return future.get();
}

domain::passthrough_referrer input(const std::string& domain) {
  domain::passthrough_referrer r;
  r.domain = domain;
  r.utm_source = "src";
  return r;
}

domain::schema::patch<domain::passthrough_referrer> patch_of(const char* body) {
  rapidjson::Document d;
  d.Parse(body);
  auto p = domain::parse_patch<domain::passthrough_referrer>(d);
  BOOST_REQUIRE(p.ok());
  return *p;
}

// Lists and gets read the published state (once the account's actor has loaded it).
api_result list_of(runtime& rt, const std::string& account, bool include_inactive) {
  auto loaded = ask([&](reply_to r) { rt.tell(account, await_loaded_req{r}); });
  if (!loaded) return loaded;
  auto view = rt.view(account);
  if (!view) return domain::make_error(domain::errc::unavailable, "not loaded");
  return answer(domain::list_json<domain::passthrough_referrer>(*view, include_inactive));
}

api_result get_of(runtime& rt, const std::string& account, std::int64_t id) {
  auto loaded = ask([&](reply_to r) { rt.tell(account, await_loaded_req{r}); });
  if (!loaded) return loaded;
  auto view = rt.view(account);
  if (!view) return domain::make_error(domain::errc::unavailable, "not loaded");
  auto found = domain::get_json<domain::passthrough_referrer>(*view, id);
  if (!found) return std::move(found).err();
  return answer(std::move(*found));
}

api_result create(runtime& rt, const std::string& account, const std::string& domain) {
  return ask([&](reply_to reply) {
    rt.tell(account, passthrough_create_req{input(domain), 1, std::move(reply)});
  });
}

rapidjson::Document json(const api_result& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  rapidjson::Document d;
  d.Parse(r.value().data.c_str());
  BOOST_REQUIRE(!d.HasParseError());
  return d;
}

struct fixture {
  testing::temp_dir dir;
  std::unique_ptr<store::db> db = std::move(*store::db::open({dir.path(), false}));
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(runtime_suite, fixture)

BOOST_AUTO_TEST_CASE(a_create_is_durable_before_it_is_answered) {
  runtime rt(*db, {});
  auto created = create(rt, "acme", "booking.mirai.com");
  auto doc = json(created);
  BOOST_TEST(doc["id"].GetInt64() == 1);
  BOOST_TEST(created.value().created_id == "1");  // the answer's Location, without parsing
  BOOST_TEST(std::string(doc["account_id"].GetString()) == "acme");
  // The event is in the store at the moment the answer arrives.
  BOOST_TEST(*store::event_log(*db).head("acme") == 1u);
}

BOOST_AUTO_TEST_CASE(no_answer_is_sent_while_the_write_is_held) {
  runtime rt(*db, {});
  json(create(rt, "acme", "warm.example.com"));  // the account is loaded
  auto& rocks = *db->internals().rdb;
  BOOST_REQUIRE(rocks.LockWAL().ok());
  auto promise = std::make_shared<std::promise<api_result>>();
  auto answer = promise->get_future();
  rt.tell("acme", passthrough_create_req{
                      input("held.example.com"), 1,
                      make_reply([promise](api_result r) { promise->set_value(std::move(r)); })});
  bool answered_early = answer.wait_for(300ms) == std::future_status::ready;
  BOOST_REQUIRE(rocks.UnlockWAL().ok());
  BOOST_TEST(!answered_early);
  BOOST_REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(answer.get().ok());
  BOOST_TEST(*store::event_log(*db).head("acme") == 2u);
}

BOOST_AUTO_TEST_CASE(the_published_state_holds_a_write_when_it_is_answered) {
  runtime rt(*db, {});
  BOOST_TEST(!rt.view("acme"));  // no actor yet
  json(create(rt, "acme", "first.example.com"));
  BOOST_REQUIRE(rt.view("acme"));
  for (int i = 0; i < 100; ++i) {
    auto seen = std::make_shared<std::promise<std::size_t>>();
    auto future = seen->get_future();
    // Checked in the answering thread itself, before anything else can happen.
    rt.tell("acme",
            passthrough_create_req{input("d" + std::to_string(i) + ".example.com"), 1,
                                   make_reply([&rt, seen](api_result r) {
                                     auto v = rt.view("acme");
                                     seen->set_value(r.ok() && v ? v->referrers().size() : 0);
                                   })});
    BOOST_REQUIRE(future.wait_for(10s) == std::future_status::ready);
    BOOST_TEST(future.get() == static_cast<std::size_t>(i + 2));
  }
  // Deletes too.
  auto gone = std::make_shared<std::promise<bool>>();
  auto gone_future = gone->get_future();
  rt.tell("acme", passthrough_delete_req{
                      1,
                      1,
                      make_reply([&rt, gone](api_result r) {
                        gone->set_value(r.ok() && rt.view("acme")->find_referrer(1) == nullptr);
                      }),
                      {}});
  BOOST_REQUIRE(gone_future.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(gone_future.get());
}

BOOST_AUTO_TEST_CASE(list_get_patch_delete_follow_the_state) {
  runtime rt(*db, {});
  json(create(rt, "acme", "a.example.com"));
  json(create(rt, "acme", "b.example.com"));
  auto p = patch_of(R"({"is_active": false})");
  auto patched = json(ask([&](reply_to r) {
    rt.tell("acme", passthrough_patch_req{2, p, 1, std::move(r), {}});
  }));
  BOOST_TEST(!patched["is_active"].GetBool());

  auto listed = json(list_of(rt, "acme", false));
  BOOST_TEST(listed["referrers"].Size() == 1u);
  BOOST_TEST(listed["total"].GetInt() == 2);
  BOOST_TEST(listed["active_count"].GetInt() == 1);
  auto all = json(list_of(rt, "acme", true));
  BOOST_TEST(all["referrers"].Size() == 2u);

  auto deleted = ask([&](reply_to r) { rt.tell("acme", passthrough_delete_req{1, 1, r, {}}); });
  BOOST_REQUIRE(deleted.ok());
  BOOST_TEST(deleted.value().data.empty());
  auto gone = get_of(rt, "acme", 1);
  BOOST_REQUIRE(!gone.ok());
  BOOST_TEST((gone.err().code == domain::errc::not_found));
  BOOST_TEST(*store::event_log(*db).head("acme") == 4u);
}

BOOST_AUTO_TEST_CASE(duplicate_domains_conflict_and_a_noop_patch_writes_nothing) {
  runtime rt(*db, {});
  json(create(rt, "acme", "a.example.com"));
  auto dup = create(rt, "acme", "a.example.com");
  BOOST_REQUIRE(!dup.ok());
  BOOST_TEST((dup.err().code == domain::errc::conflict));
  json(create(rt, "acme", "b.example.com"));
  auto to_a = patch_of(R"({"domain": "a.example.com"})");
  auto clash = ask([&](reply_to r) { rt.tell("acme", passthrough_patch_req{2, to_a, 1, r, {}}); });
  BOOST_TEST((!clash.ok() && clash.err().code == domain::errc::conflict));
  auto same = patch_of(R"({"domain": "b.example.com"})");
  json(ask([&](reply_to r) { rt.tell("acme", passthrough_patch_req{2, same, 1, r, {}}); }));
  BOOST_TEST(*store::event_log(*db).head("acme") == 2u);
}

BOOST_AUTO_TEST_CASE(concurrent_creates_get_distinct_ids_and_a_gap_free_log) {
  runtime rt(*db, {});
  constexpr int n = 200;
  std::vector<std::future<api_result>> answers;
  std::vector<std::shared_ptr<std::promise<api_result>>> promises;
  for (int i = 0; i < n; ++i) {
    auto p = std::make_shared<std::promise<api_result>>();
    answers.push_back(p->get_future());
    rt.tell("acme",
            passthrough_create_req{input("d" + std::to_string(i) + ".example.com"), 1,
                                   make_reply([p](api_result r) { p->set_value(std::move(r)); })});
  }
  std::set<std::int64_t> ids;
  for (auto& f : answers) {
    BOOST_REQUIRE(f.wait_for(10s) == std::future_status::ready);
    ids.insert(json(f.get())["id"].GetInt64());
  }
  BOOST_TEST(ids.size() == static_cast<std::size_t>(n));
  BOOST_TEST(*ids.begin() == 1);
  BOOST_TEST(*ids.rbegin() == n);
  auto state = store::event_log(*db).load("acme");
  BOOST_REQUIRE(state.ok());  // folding checks seqs and the hash chain
  BOOST_TEST(state->seq() == static_cast<std::uint64_t>(n));
}

BOOST_AUTO_TEST_CASE(accounts_are_isolated) {
  runtime rt(*db, {});
  json(create(rt, "acme", "a.example.com"));
  BOOST_TEST(json(create(rt, "acme", "only-acme.example.com"))["id"].GetInt64() == 2);
  // The same domain in another account is fine, and ids are per account.
  BOOST_TEST(json(create(rt, "beta", "a.example.com"))["id"].GetInt64() == 1);
  // Acme's rule 2 exists; beta has no rule 2 and does not see acme's.
  BOOST_TEST(get_of(rt, "acme", 2).ok());
  auto other = get_of(rt, "beta", 2);
  BOOST_TEST((!other.ok() && other.err().code == domain::errc::not_found));
  auto beta = json(list_of(rt, "beta", true));
  BOOST_REQUIRE(beta["total"].GetInt() == 1);
  BOOST_TEST(beta["referrers"][0]["account_id"].GetString() == std::string("beta"));
  auto acme = json(list_of(rt, "acme", true));
  BOOST_TEST(acme["total"].GetInt() == 2);
  BOOST_TEST(rt.live_accounts() == 2u);
}

BOOST_AUTO_TEST_CASE(a_new_runtime_rebuilds_state_from_the_log) {
  {
    runtime rt(*db, {});
    json(create(rt, "acme", "a.example.com"));
    json(create(rt, "acme", "b.example.com"));
    BOOST_REQUIRE(ask([&](reply_to r) {
                    rt.tell("acme", passthrough_delete_req{1, 1, r, {}});
                  }).ok());
  }
  runtime rt(*db, {});
  auto listed = json(list_of(rt, "acme", true));
  BOOST_TEST(listed["total"].GetInt() == 1);
  BOOST_TEST(listed["referrers"][0]["id"].GetInt64() == 2);
  // Ids continue after the highest ever used, also across restarts.
  BOOST_TEST(json(create(rt, "acme", "c.example.com"))["id"].GetInt64() == 3);
}

BOOST_AUTO_TEST_CASE(a_full_disk_answers_insufficient_storage_keeps_the_state_and_recovers) {
  runtime rt(*db, {});
  json(create(rt, "acme", "a.example.com"));
  db->set_min_free_bytes(std::uint64_t{1} << 62);  // "the disk is full"
  auto failed = create(rt, "acme", "b.example.com");
  BOOST_REQUIRE(!failed.ok());
  BOOST_TEST((failed.err().code == domain::errc::insufficient_storage));
  auto listed = json(list_of(rt, "acme", true));
  BOOST_TEST(listed["total"].GetInt() == 1);
  db->set_min_free_bytes(0);  // space is back: the account writes again, gap-free
  auto again = json(create(rt, "acme", "b.example.com"));
  BOOST_TEST(again["id"].GetInt64() == 2);
  store::event_log log(*db);
  BOOST_TEST(*log.head("acme") == 2u);
  auto state = log.load("acme");
  BOOST_REQUIRE(state.ok());
  BOOST_TEST(state->seq() == 2u);
}

BOOST_AUTO_TEST_CASE(keys_are_created_listed_and_revoked_with_the_table_following) {
  runtime rt(*db, {});
  domain::api_key root;
  root.id = 0;
  root.role = domain::role::admin;
  root.grants = {true, {}, true, {}};
  auto created = json(ask([&](reply_to r) {
    rt.tell(key_create_req{
        {"ci", domain::role::editor, {false, {"acme"}, false, {}}, {}, {}}, root, r});
  }));
  std::string secret = created["secret"].GetString();
  std::int64_t id = created["id"].GetInt64();
  BOOST_REQUIRE(rt.keys()->find_by_secret(secret).key != nullptr);

  domain::api_key scoped;
  scoped.role = domain::role::admin;
  scoped.grants = {false, {"other"}, false, {}};
  auto hidden = ask([&](reply_to r) { rt.tell(key_get_req{id, scoped, r}); });
  BOOST_TEST((!hidden.ok() && hidden.err().code == domain::errc::not_found));
  auto escalate = ask([&](reply_to r) {
    rt.tell(key_create_req{{"x", domain::role::admin, {true, {}, false, {}}, {}, {}}, scoped, r});
  });
  BOOST_TEST((!escalate.ok() && escalate.err().code == domain::errc::forbidden));

  BOOST_REQUIRE(ask([&](reply_to r) { rt.tell(key_delete_req{id, root, r, {}}); }).ok());
  BOOST_TEST(rt.keys()->find_by_secret(secret).key == nullptr);
  auto listed = json(ask([&](reply_to r) {
    key_list_req list;
    list.caller = root;
    list.reply = r;
    rt.tell(std::move(list));
  }));
  BOOST_TEST(listed["keys"].Size() == 0u);
  BOOST_TEST(listed["total"].GetInt() == 1);  // the revoked one
  BOOST_TEST(listed["active_count"].GetInt() == 0);
}

BOOST_AUTO_TEST_CASE(a_revoked_key_fails_by_the_time_the_revocation_is_answered) {
  runtime rt(*db, {});
  domain::api_key root;
  root.role = domain::role::admin;
  root.grants = {true, {}, true, {}};
  for (int i = 0; i < 50; ++i) {
    auto created = json(ask([&](reply_to r) {
      rt.tell(key_create_req{{"k", domain::role::viewer, {true, {}, true, {}}, {}, {}}, root, r});
    }));
    std::string secret = created["secret"].GetString();
    // The table already holds a key when its creation is answered ...
    BOOST_REQUIRE(rt.keys()->find_by_secret(secret).key != nullptr);
    auto id = created["id"].GetInt64();
    auto deleted = std::make_shared<std::promise<bool>>();
    auto future = deleted->get_future();
    // ... and no longer holds it when its revocation is answered, checked in the
    // answering thread itself.
    rt.tell(key_delete_req{id,
                           root,
                           make_reply([&rt, secret, deleted](api_result r) {
                             deleted->set_value(r.ok() &&
                                                rt.keys()->find_by_secret(secret).key == nullptr);
                           }),
                           {}});
    BOOST_REQUIRE(future.wait_for(10s) == std::future_status::ready);
    BOOST_TEST(future.get());
  }
}

BOOST_AUTO_TEST_CASE(an_idle_account_leaves_and_comes_back_with_its_state) {
  runtime_options o;
  o.account_idle_timeout = 100ms;
  runtime rt(*db, o);
  json(create(rt, "acme", "a.example.com"));
  BOOST_TEST(rt.live_accounts() == 1u);
  testing::eventually([&] { return rt.live_accounts() == 0; }, 2s);
  BOOST_TEST(rt.live_accounts() == 0u);
  BOOST_TEST(!rt.view("acme"));
  // A new actor loads the account again; ids go on.
  BOOST_TEST(json(create(rt, "acme", "b.example.com"))["id"].GetInt64() == 2);
  BOOST_TEST(*store::event_log(*db).head("acme") == 2u);
}

BOOST_AUTO_TEST_CASE(reads_of_the_published_state_keep_an_account_alive) {
  testing::test_clock clock;
  runtime_options o;
  o.account_idle_timeout = 300ms;
  o.clock = &clock;
  runtime rt(*db, o);
  json(create(rt, "acme", "a.example.com"));
  // A second of reads, one every 50 ms: never 300 ms without use.
  for (int i = 0; i < 20; ++i) {
    clock.advance(50ms);
    BOOST_REQUIRE(rt.view("acme"));
  }
  BOOST_TEST(rt.live_accounts() == 1u);
  // Then 300 ms without a read: it leaves at its next idle check.
  clock.advance(299ms);
  BOOST_TEST(rt.live_accounts() == 1u);
  clock.advance(1ms);
  BOOST_TEST(testing::eventually([&] { return rt.live_accounts() == 0; }, 5s));
}

BOOST_AUTO_TEST_CASE(evictions_racing_with_writes_never_make_two_writers) {
  // The idle timeout is shorter than the pauses between writes, so accounts keep leaving
  // and coming back while writes arrive; every write must land, in one gap-free chain.
  runtime_options o;
  o.account_idle_timeout = 5ms;
  runtime rt(*db, o);
  auto evictions_before = infra::metrics().account_actor_evictions.load();
  constexpr int writers = 8;
  constexpr int per_writer = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      for (int i = 0; i < per_writer; ++i) {
        auto r = create(rt, "acct" + std::to_string(w % 2),
                        "w" + std::to_string(w) + "-" + std::to_string(i) + ".example.com");
        if (!r.ok()) ++failures;
        testing::pace(std::chrono::milliseconds(rng() % 40));
      }
    });
  }
  for (auto& t : threads)
    t.join();
  BOOST_TEST(failures.load() == 0);
  auto evictions = infra::metrics().account_actor_evictions.load() - evictions_before;
  BOOST_TEST_MESSAGE("evictions during the run: " << evictions);
  BOOST_TEST(evictions > 10u);
  for (int a = 0; a < 2; ++a) {
    auto state = store::event_log(*db).load("acct" + std::to_string(a));
    BOOST_REQUIRE_MESSAGE(state.ok(), (state.ok() ? "" : state.err().message));
    BOOST_TEST(state->seq() == static_cast<std::uint64_t>(writers / 2 * per_writer));
    BOOST_TEST(state->referrers().size() == static_cast<std::size_t>(writers / 2 * per_writer));
  }
}

BOOST_AUTO_TEST_CASE(requests_after_shutdown_are_answered_unavailable) {
  runtime rt(*db, {});
  rt.shutdown();
  auto late = create(rt, "acme", "a.example.com");
  BOOST_TEST((!late.ok() && late.err().code == domain::errc::unavailable));
}

BOOST_AUTO_TEST_SUITE_END()
