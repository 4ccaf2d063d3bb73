// The retry store of a single node (store/retry_records.hpp) against the retry store's
// contract (tests/interfaces/retry_store_suite.hpp), and the stored answers' fields both
// nodes' stores read (store/idempotency_store.hpp).

#include "store/retry_records.hpp"

#include <rapidjson/document.h>

#include <memory>

#include "domain/base/json.hpp"
#include "store/db.hpp"
#include "store/idempotency_store.hpp"
#include "tests/interfaces/retry_store_suite.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace referrald;

struct local_retry_harness {
  testing::test_clock clock{domain::now_ms()};
  testing::temp_dir dir;
  std::unique_ptr<store::db> d;
  bool shared_by_nodes = false;  // one process holds the store

  local_retry_harness() {
    auto opened = store::db::open({dir.path(), false, 0});
    BOOST_REQUIRE(opened.ok());
    d = std::move(*opened);
  }
  std::unique_ptr<interfaces::retry_store> open() {
    return store::make_local_retry_store(*d, clock);
  }
};

}  // namespace

REFERRALD_RETRY_STORE_SUITE(local_retry_store_contract, local_retry_harness)

// A stored answer is sent again byte for byte: one no server could have sent (a status outside
// HTTP's, a header that would end its line or start another) is not read as an answer.
BOOST_AUTO_TEST_CASE(stored_answers_that_http_cannot_carry_are_not_read) {
  auto read = [](const std::string& json) {
    rapidjson::Document d;
    BOOST_REQUIRE(referrald::domain::parse_json(json, d).ok());
    unsigned status = 0;
    std::string type, body;
    referrald::store::answer_headers headers;
    return referrald::store::read_answer_fields(d, status, type, headers, body);
  };
  auto answer = [](const std::string& status, const std::string& type, const std::string& name,
                   const std::string& value) {
    return R"({"status":)" + status + R"(,"content_type":")" + type + R"(","headers":[[")" + name +
           R"(",")" + value + R"("]],"body":"{}"})";
  };
  BOOST_TEST(read(answer("201", "application/json", "Referrald-Seq", "12")));
  BOOST_TEST(read(answer("599", "application/json", "ETag", R"(\"3\")")));
  BOOST_TEST(!read(answer("0", "application/json", "Referrald-Seq", "12")));
  BOOST_TEST(!read(answer("99", "application/json", "Referrald-Seq", "12")));
  BOOST_TEST(!read(answer("1000", "application/json", "Referrald-Seq", "12")));
  BOOST_TEST(!read(answer("201", "application/json", "X-A", "a\\r\\nSet-Cookie: x=1")));
  BOOST_TEST(!read(answer("201", "application/json", "X-A", "a\\nb")));
  BOOST_TEST(!read(answer("201", "application/json", "X-A", "a\\u0000b")));
  BOOST_TEST(!read(answer("201", "application/json\\r\\nX-B: 1", "X-A", "a")));
  BOOST_TEST(!read(answer("201", "application/json", "X A", "a")));
  BOOST_TEST(!read(answer("201", "application/json", "", "a")));
  BOOST_TEST(!read(answer("201", "application/json", "X-A:", "a")));
}
