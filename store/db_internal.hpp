#pragma once

// RocksDB access for store/ sources only.

#include <rocksdb/db.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "store/db.hpp"

namespace referrald::store {

struct db::impl {
  std::string path;
  bool read_only = false;  // asked for by the caller: never writes
  std::atomic<std::uint64_t> min_free_bytes{0};
  // Shared while RocksDB is used (db::pinned), exclusive while it is reopened.
  mutable std::shared_mutex swap_mu;
  std::unique_ptr<rocksdb::DB> rdb;  // null only if a reopen failed completely
  std::array<rocksdb::ColumnFamilyHandle*, column_count> handles{};
  std::atomic<bool> degraded{false};  // opened read-only for lack of space
  std::atomic<bool> wedged{false};    // a RocksDB write failed: refuse writes until restart
  std::atomic<bool> bg_error{false};  // a RocksDB background error not yet recovered from
  std::atomic<bool> disk_full{false};
  std::shared_ptr<rocksdb::EventListener> listener;
  // Steady-clock milliseconds of the last background flush of unlogged writes (0: none).
  std::atomic<std::int64_t> last_unlogged_flush_ms{0};
  // The data directory, open for the free-space check that comes before each write (its
  // file system asked through the descriptor, without resolving the path each time); -1
  // for a store opened read-only, or when the directory could not be opened (the path is
  // asked instead).
  int dir_fd = -1;

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl();

  rocksdb::ColumnFamilyHandle* cf(column c) const { return handles[static_cast<std::size_t>(c)]; }
};

class db::pinned {
 public:
  explicit pinned(const db::impl& i) : lock_(i.swap_mu), impl_(&i) {}
  const db::impl& operator*() const { return *impl_; }
  const db::impl* operator->() const { return impl_; }
  // False when the store could not be reopened and holds no database.
  bool open() const { return impl_->rdb != nullptr; }

 private:
  std::shared_lock<std::shared_mutex> lock_;
  const db::impl* impl_;
};

// The error for a store that holds no open database.
domain::error closed_store();

// Maps a RocksDB status to an error naming the operation: `insufficient_storage` for a
// full disk, `store_corrupted` for damaged bytes (a checksum that does not match: a retry
// cannot help), `internal` otherwise. The RocksDB text (which names files) is kept as the
// error's cause, for logs and the CLI, never for API clients.
domain::error to_error(const rocksdb::Status& s, std::string_view what);

}  // namespace referrald::store
