// The retry store of a single node (store/retry_records.hpp) against the retry store's
// contract (tests/interfaces/retry_store_suite.hpp).

#include "store/retry_records.hpp"

#include <memory>

#include "store/db.hpp"
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
