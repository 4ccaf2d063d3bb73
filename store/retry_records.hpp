#pragma once

// The retry store (interfaces/retry_store.hpp) of a single node: every record of the last
// 24 hours in memory (loaded at start) and in RocksDB (store/idempotency_store.hpp). A claim
// lives in memory only; an answer is kept in memory at once (`sent`, with a new key's secret,
// for retries while the process lives) and written durably (`durable`) by one writer thread
// in groups, with one fsync per group, which also purges expired records hourly.

#include <memory>

#include "domain/base/clock.hpp"
#include "interfaces/retry_store.hpp"

namespace referrald::store {

class db;

// Loads the records of the last 24 hours from `d`; throws std::runtime_error when it
// cannot. `d` and `clock` must outlive the store.
std::unique_ptr<interfaces::retry_store> make_local_retry_store(
    db& d, const domain::clock& clock = domain::system_clock());

}  // namespace referrald::store
