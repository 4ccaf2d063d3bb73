// check_record: every record this release writes (API keys, connections, AI-referral rows
// and batch records, admin audit entries) reads as its column's reader reads it, and one
// that reader would refuse is refused before it is stored, a newer release's as such.

#include "store/records.hpp"

#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>

#include <vector>

#include "domain/base/digest.hpp"
#include "store/admin_audit.hpp"
#include "store/ai_store.hpp"
#include "store/key_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

namespace {

const std::string k_conn = "01HZZZZZZZZZZZZZZZZZZZZZZZ";

struct record {
  column cf;
  std::string key;
  std::string value;
};

// One record of each kind, as the stores write them.
std::vector<record> written(const db& d) {
  write_batch b;
  domain::api_key k;
  k.id = 3;
  k.name = "pipeline";
  k.role = domain::role::editor;
  k.created_at = 1000;
  k.secret_digest = domain::sha256("rk_secret");
  key_store(d).put(b, k);
  ai_store ai(d);
  ai.put_connection(b, domain::connection{k_conn, 7, "GA4", domain::source_tool::ga4, 99, {}});
  domain::ai_row row;
  row.date = 20000;
  row.referrer = "chatgpt.com";
  row.platform = "chatgpt";
  row.raw_referrer = "https://chatgpt.com/";
  row.page = "/a";
  row.raw_page = "/a";
  row.pageviews = 2;
  row.list_version = "v1";
  row.received_at = 1000;
  ai.put_rows(b, 7, k_conn, {row});
  ai.put_batch(b, 7, k_conn, "batch-1",
               batch_record{1234, domain::sha256("body"), R"({"accepted":1})"});
  admin_audit::put(b, "brand.7", "connection.created", 1000, [](domain::json_writer& w) {
    w.Key("connection_id");
    domain::write_string(w, k_conn);
  });
  std::vector<record> out;
  b.for_each([&](const write_batch::op& op) {
    out.push_back(record{op.cf, std::string(op.key), std::string(op.value)});
  });
  return out;
}

bool refused(const record& r, std::string_view mentions = {}) {
  auto st = check_record(r.cf, r.key, r.value);
  if (st.ok()) return false;
  BOOST_TEST_MESSAGE(column_name(r.cf) << ": " << st.err().message);
  return st.err().message.find(mentions) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(records_suite)

BOOST_AUTO_TEST_CASE(what_the_stores_write_is_read_and_damage_is_refused) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  auto all = written(*d);
  BOOST_REQUIRE_EQUAL(all.size(), 5u);
  for (const auto& r : all) {
    auto st = check_record(r.cf, r.key, r.value);
    BOOST_TEST(st.ok(), column_name(r.cf) << ": " << (st.ok() ? "" : st.err().message));
    BOOST_TEST(refused({r.cf, r.key, ""}));
    BOOST_TEST(refused({r.cf, r.key, "garbage that no release wrote"}));
    // Cut inside its last field (a batch record: inside the digest; its answer is bytes).
    std::size_t cut = r.cf == column::ai_batches ? 20 : r.value.size() - 1;
    BOOST_TEST(refused({r.cf, r.key, r.value.substr(0, cut)}), column_name(r.cf) << " cut");
  }
}

BOOST_AUTO_TEST_CASE(a_record_under_a_key_that_is_not_its_own_is_refused) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  auto all = written(*d);
  auto& key = all[0];
  auto& connection = all[1];
  auto& audit = all[4];
  BOOST_TEST(refused({key.cf, std::string(8, '\x01'), key.value}, "not under its id"));
  BOOST_TEST(refused({connection.cf, connection.key + "X", connection.value}, "not under its id"));
  BOOST_TEST(refused({audit.cf, "audit.brand.7.0000000000001-other", audit.value},
                     "does not hold its id"));
  BOOST_TEST(refused({audit.cf, "audit.", audit.value}, "audit scope"));
  BOOST_TEST(refused({audit.cf, audit.key, R"({"id":1})"}, "does not hold its id"));
  std::string id = audit.key.substr(audit.key.rfind('.') + 1);
  BOOST_TEST(refused({audit.cf, audit.key, R"({"id":")" + id + R"(","at":"x"})"}, "\"type\""));
  BOOST_TEST(refused({audit.cf, audit.key, "[]"}, "not a JSON object"));
  // Columns and metadata no record is written to.
  BOOST_TEST(refused({column::events, "e", "v"}, "records never write events"));
  BOOST_TEST(refused({column::snapshots, "s", "v"}, "records never write snapshots"));
  BOOST_TEST(refused({column::meta, "format_version", "v"}, k_newer_release));
}

BOOST_AUTO_TEST_CASE(a_value_in_a_version_past_the_newest_is_a_newer_releases) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  for (auto r : written(*d)) {
    if (r.cf == column::meta) continue;  // JSON: no version byte
    r.value[0] = 9;
    BOOST_TEST(refused(r, k_newer_release), column_name(r.cf));
    BOOST_TEST((check_record(r.cf, r.key, r.value).err().code == domain::errc::store_corrupted));
    r.value[0] = 0;
    BOOST_TEST(refused(r), column_name(r.cf));
    BOOST_TEST(!refused(r, k_newer_release), column_name(r.cf));
  }
}

BOOST_AUTO_TEST_SUITE_END()
