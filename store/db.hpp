#pragma once

// The RocksDB database behind referrald: one directory, a fixed set of column families,
// a format version. RocksDB types never appear in store/ headers; other store/ sources
// reach them through store/db_internal.hpp.
//
// Threading: all methods are thread-safe (RocksDB's own guarantee); `write` blocks for
// the fsync when `sync` is set and must not be called from an actor or I/O thread — use
// commit_queue for that.
//
// A full disk never reaches RocksDB. Writes are refused (`insufficient_storage`, nothing
// written) while the data directory's file system has less free space than the reserve
// (`min_free_bytes`) plus twice the batch; they are accepted again as soon as space is
// back. A store opened on a disk below the reserve is opened read-only (reads work) and
// reopens itself for writing on the first write after space is back. If RocksDB still
// fails a write (a disk error, or space taken by another process between the check and
// the write), the store is "wedged": it refuses every later write until the process is
// restarted, and is not closed on exit (closing a RocksDB instance whose log writer
// failed can abort the process; everything acknowledged is already synced).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::store {

// Column families. The numeric values index the handle table; names are on disk.
enum class column : std::uint8_t {
  meta = 0,         // "default": format version and other small records
  events = 1,       // per-account event streams (store/event_log.cpp)
  keys = 2,         // API keys (store/key_store.cpp)
  connections = 3,  // AI-referral connections (store/ai_store.cpp)
  ai_rows = 4,      // AI-referral rows
  ai_batches = 5,   // batch_id idempotency records
  snapshots = 6,    // per-account state snapshots (snapshots/snapshot_store.cpp)
};
inline constexpr std::size_t column_count = 7;

// What every key of a cluster node's copy in the meta column starts with ("cluster.applied",
// "cluster.head." account..., cluster/cluster_cache.hpp): the store inserts each such key's
// new versions beside its last one (store/db.cpp).
inline constexpr std::string_view k_cluster_meta_prefix = "cluster.";

// Part of the message of a store_corrupted error for data in an encoding newer than this
// release reads (a version byte past the newest known, an event type, field tag or column
// it does not know): written by a newer release, not damaged. A cluster node stops
// applying the stream at such a message until it is upgraded (docs/storage.md).
inline constexpr std::string_view k_newer_release = "written by a newer release";

std::string_view column_name(column c);
// The column of that name, if this release has one.
std::optional<column> column_named(std::string_view name);

// The on-disk format this build reads and writes.
inline constexpr std::uint32_t format_version = 1;

// An ordered list of puts and deletes across column families, written atomically.
// Keys and values are copied into one buffer per part (no allocation per operation);
// append() moves whole parts, so merging batches copies no data.
class write_batch {
 public:
  struct op {
    column cf;
    bool erase;
    std::string_view key;
    std::string_view value;
  };

  void put(column cf, std::string_view key, std::string_view value);
  void erase(column cf, std::string_view key);
  // Room for `ops` more operations of `bytes` bytes in all.
  void reserve(std::size_t ops, std::size_t bytes);
  // Reorders the operations added since size() was `mark` by key. Only for operations on
  // distinct keys, whose order does not matter; the memtable inserts sorted runs faster.
  void sort_since(std::size_t mark);

  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  std::size_t byte_size() const { return bytes_; }
  void append(write_batch&& other);

  // Calls fn(const op&) for each operation, in order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& p : parts_) {
      for (const auto& r : p.ops) {
        fn(op{r.cf, r.erase, std::string_view(p.data).substr(r.key_at, r.key_size),
              std::string_view(p.data).substr(r.key_at + r.key_size, r.value_size)});
      }
    }
  }

 private:
  struct stored_op {
    column cf;
    bool erase;
    std::uint32_t key_size;
    std::uint32_t value_size;
    std::size_t key_at;  // the value follows the key
  };
  struct part {
    std::string data;
    std::vector<stored_op> ops;
  };
  part& last();

  std::vector<part> parts_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
};

struct open_options {
  std::string path;
  bool read_only = false;  // open without the lock, next to a running server
  // Free space the data directory's file system must keep (see above); 0: no checks.
  std::uint64_t min_free_bytes = 64u << 20;
};

// What the store can do at the moment.
enum class store_health : std::uint8_t {
  writable,   // writes are accepted
  disk_full,  // writes are refused until space is freed (reads work)
  wedged,     // a write failed inside RocksDB: writes are refused until a restart
};

class db {
 public:
  // Opens (creating when missing and not read-only) the database at `options.path`.
  // Errors: the directory is not a referrald data directory, a newer format version,
  // RocksDB refusing to open (lock held, corruption, permissions).
  static domain::result<std::unique_ptr<db>> open(const open_options& options);

  ~db();
  db(const db&) = delete;
  db& operator=(const db&) = delete;

  const std::string& path() const;
  bool read_only() const;

  // The state of the store as of the last write or check; check_space() looks at the
  // disk now (and reopens a store that was opened read-only for lack of space).
  store_health health() const;
  store_health check_space();
  // Changes the reserve (0: no checks). Thread-safe.
  void set_min_free_bytes(std::uint64_t bytes);

  // How a write is made durable: fsynced in the write-ahead log before write() returns;
  // in the log but not fsynced (lost if the machine, not just the process, stops); or
  // only in memory until the next flush — for derived data the store can do without
  // (snapshots), so that it never adds to the log the next fsync must write. Unlogged
  // data reaches the disk in a background flush of its column families, started by the
  // first unlogged write after a start and then by the first one at least
  // k_unlogged_flush_interval after the last flush; also at a clean close and in a
  // checkpoint. A crash loses at most what was written since the last flush.
  enum class durability { synced, logged, unlogged };
  static constexpr std::chrono::seconds k_unlogged_flush_interval{10};

  // Writes the batch atomically.
  domain::status write(const write_batch& batch, bool sync);
  domain::status write(const write_batch& batch, durability how);

  // A point read; nullopt when absent.
  domain::result<std::optional<std::string>> get(column cf, std::string_view key) const;

  // Calls fn(key, value) for each record of `cf` with from <= key < until (an empty
  // `until`: to the end), in key order, until fn returns false.
  domain::status scan(column cf, std::string_view from, std::string_view until,
                      const std::function<bool(std::string_view, std::string_view)>& fn) const;

  // Writes a consistent copy of the whole store into `dir` (which must not exist) while
  // writes go on: a RocksDB checkpoint, hard-linking files on the same file system.
  domain::status checkpoint(const std::string& dir) const;

  // Deletes the store in `dir` (closed: no db open on it): its RocksDB files only, so
  // that other files and directories there stay.
  static domain::status destroy(const std::string& dir);

  struct impl;
  impl& internals() const { return *impl_; }
  // Holds the store open (no reopen happens meanwhile) while RocksDB is used directly;
  // defined in store/db_internal.hpp.
  class pinned;
  pinned pin() const;

  // Appends the RocksDB figures an operator watches, in the Prometheus text format:
  // live SST bytes, memtable bytes, pending compaction bytes (over every column family),
  // the cumulative write stall time, and whether writes are stopped. Nothing while closed.
  void render_metrics(std::string& out) const;

 private:
  explicit db(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace referrald::store
