#include "domain/rules/account_state.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

namespace {

struct fixture {
  account_state state{"acme"};
  sha256_digest head{};

  passthrough_referrer referrer(std::int64_t id, std::string domain, bool active = true) {
    passthrough_referrer r;
    r.id = id;
    r.domain = std::move(domain);
    r.utm_source = "src";
    r.is_active = active;
    r.created_at = r.updated_at = 1000 * id;
    return r;
  }

  event make(event_type type, const passthrough_referrer& r) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    write_json(w, "acme", r);
    event e;
    e.seq = state.seq() + 1;
    e.timestamp = r.updated_at;
    e.type = type;
    e.entity_id = r.id;
    e.object = buf.GetString();
    e.prev_hash = state.head_hash();
    e.hash = sha256("event " + std::to_string(e.seq));
    return e;
  }

  void apply_ok(const event& e) {
    auto st = state.apply(e);
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(account_state_fold, fixture)

BOOST_AUTO_TEST_CASE(created_updated_deleted_fold_into_state) {
  apply_ok(make(event_type::passthrough_referrer_created, referrer(1, "a.com")));
  apply_ok(make(event_type::passthrough_referrer_created, referrer(2, "b.com", false)));
  BOOST_TEST(state.referrers().size() == 2u);
  BOOST_TEST(state.referrers().active_count() == 1u);
  BOOST_TEST(*state.referrers().with_key("b.com") == 2);

  auto r2 = referrer(2, "c.com", true);
  apply_ok(make(event_type::passthrough_referrer_updated, r2));
  BOOST_TEST(!state.referrers().with_key("b.com").has_value());
  BOOST_TEST(*state.referrers().with_key("c.com") == 2);
  BOOST_TEST(state.referrers().active_count() == 2u);

  apply_ok(make(event_type::passthrough_referrer_deleted, referrer(1, "a.com")));
  BOOST_TEST(state.find_referrer(1) == nullptr);
  BOOST_TEST(!state.referrers().with_key("a.com").has_value());
  BOOST_TEST(state.referrers().active_count() == 1u);
  BOOST_TEST(state.seq() == 4u);
  BOOST_TEST(state.referrers().next_id() == 3);
}

BOOST_AUTO_TEST_CASE(ids_are_never_reused_after_a_delete) {
  apply_ok(make(event_type::passthrough_referrer_created, referrer(1, "a.com")));
  apply_ok(make(event_type::passthrough_referrer_deleted, referrer(1, "a.com")));
  BOOST_TEST(state.referrers().next_id() == 2);
  BOOST_TEST(
      !state.apply(make(event_type::passthrough_referrer_created, referrer(1, "a.com"))).ok());
}

BOOST_AUTO_TEST_CASE(out_of_sequence_or_unchained_events_are_refused) {
  auto e = make(event_type::passthrough_referrer_created, referrer(1, "a.com"));
  e.seq = 2;
  BOOST_TEST(!state.apply(e).ok());
  e.seq = 1;
  e.prev_hash[0] ^= 1;
  BOOST_TEST(!state.apply(e).ok());
  BOOST_TEST(state.seq() == 0u);
}

BOOST_AUTO_TEST_CASE(events_that_do_not_fit_the_state_leave_it_unchanged) {
  apply_ok(make(event_type::passthrough_referrer_created, referrer(1, "a.com")));
  account_state before = state;
  BOOST_TEST(
      !state.apply(make(event_type::passthrough_referrer_created, referrer(2, "a.com"))).ok());
  BOOST_TEST(
      !state.apply(make(event_type::passthrough_referrer_updated, referrer(9, "z.com"))).ok());
  BOOST_TEST(
      !state.apply(make(event_type::passthrough_referrer_deleted, referrer(9, "z.com"))).ok());
  auto garbled = make(event_type::passthrough_referrer_created, referrer(2, "b.com"));
  garbled.object = "{not json";
  BOOST_TEST(!state.apply(garbled).ok());
  BOOST_TEST((state == before));
}

BOOST_AUTO_TEST_SUITE_END()
