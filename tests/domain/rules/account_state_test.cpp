#include "domain/rules/account_state.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>

#include "domain/base/schema_ops.hpp"
#include "domain/rules/entities.hpp"

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

  event make(event_type type, const passthrough_referrer& r,
             object_format format = object_format::tagged) {
    event e;
    e.format = format;
    e.object = format == object_format::json ? entity_json("acme", r) : encode_object(r);
    e.seq = state.seq() + 1;
    e.timestamp = r.updated_at;
    e.type = type;
    e.entity_id = r.id;
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

BOOST_AUTO_TEST_CASE(format_1_and_format_2_events_fold_to_the_same_state) {
  // Format 1 (the API JSON, written by release 0.2) and format 2 (tagged) objects are read
  // alike, and a history may hold both: older events stay as they were written.
  apply_ok(
      make(event_type::passthrough_referrer_created, referrer(1, "a.com"), object_format::json));
  auto r2 = referrer(2, "b.com");
  r2.service_name = "B";
  apply_ok(make(event_type::passthrough_referrer_created, r2));
  auto r1 = referrer(1, "a2.com", false);
  apply_ok(make(event_type::passthrough_referrer_updated, r1, object_format::json));
  BOOST_TEST((state.find_referrer(1) != nullptr && *state.find_referrer(1) == r1));
  BOOST_TEST((state.find_referrer(2) != nullptr && *state.find_referrer(2) == r2));
  // The same object in both formats: the tagged one is shorter than the JSON.
  BOOST_TEST(encode_object(r2).size() < entity_json("acme", r2).size());
  auto v1 = decode_object<passthrough_referrer>(object_format::json, entity_json("acme", r2));
  auto v2 = decode_object<passthrough_referrer>(object_format::tagged, encode_object(r2));
  BOOST_REQUIRE(v1.ok());
  BOOST_REQUIRE(v2.ok());
  BOOST_TEST((*v1 == *v2));
}

BOOST_AUTO_TEST_CASE(a_tagged_object_without_a_field_takes_its_default) {
  // Adding a field with a default to a kind leaves stored objects meaning what they did:
  // an object stored before the field existed (here: encoded by a table without
  // utm_medium) decodes with the default.
  auto r = referrer(3, "c.com");
  std::vector<schema::field<passthrough_referrer>> older;
  for (const auto& f : passthrough_fields())
    if (f.name != "utm_medium") older.push_back(f);
  std::string without;
  schema::encode<passthrough_referrer>(older, r, without);
  BOOST_TEST(without.size() < encode_object(r).size());
  auto back = decode_object<passthrough_referrer>(object_format::tagged, without);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->utm_medium == "passthrough");
  BOOST_TEST((*back == r));
  // An unknown tag is corruption, not silently dropped.
  auto bad = decode_object<passthrough_referrer>(object_format::tagged, without + "\x63\x00");
  BOOST_TEST(!bad.ok());
}

// Every key a collection holds is found, and none it stopped holding, through adds, renames
// and deletes in random order, on versions that share their filter and on their copies.
BOOST_AUTO_TEST_CASE(a_collection_finds_exactly_the_keys_it_holds_through_any_changes) {
  std::mt19937_64 rng(7);
  collection<passthrough_referrer> c;
  std::map<std::string, std::int64_t> reference;
  std::vector<std::pair<collection<passthrough_referrer>, std::map<std::string, std::int64_t>>>
      versions;
  auto domain_of = [&] {
    return "d" + std::to_string(rng() % 3000) + ".com";
  };
  std::int64_t next = 1;
  for (int step = 0; step < 6000; ++step) {
    int op = static_cast<int>(rng() % 10);
    if (op < 6 || reference.empty()) {
      auto d = domain_of();
      bool fits = !reference.contains(d);
      BOOST_TEST_REQUIRE(c.add(make_entity(referrer(next, d))).ok() == fits);
      if (fits) reference[d] = next++;
    } else {
      auto it = std::next(reference.begin(), static_cast<long>(rng() % reference.size()));
      if (op < 8) {
        auto d = domain_of();
        bool fits = !reference.contains(d);
        BOOST_TEST_REQUIRE(c.replace(make_entity(referrer(it->second, d))).ok() == fits);
        if (fits) {
          reference[d] = it->second;
          reference.erase(it);
        }
      } else {
        BOOST_TEST_REQUIRE(c.remove(it->second).ok());
        reference.erase(it);
      }
    }
    if (step % 500 == 0) versions.emplace_back(c, reference);
  }
  versions.emplace_back(c, reference);
  for (auto& [version, held] : versions) {
    for (int i = 0; i < 3000; ++i) {
      auto d = "d" + std::to_string(i) + ".com";
      auto it = held.find(d);
      auto found = version.with_key(d);
      BOOST_TEST_REQUIRE(found.has_value() == (it != held.end()), d);
      if (found) BOOST_TEST_REQUIRE(*found == it->second);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
