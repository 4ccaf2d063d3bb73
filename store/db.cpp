#include "store/db.hpp"

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>

#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <cstdio>

#include <fcntl.h>
#include <rocksdb/listener.h>
#include <rocksdb/sst_file_manager.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <filesystem>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "store/db_internal.hpp"

// Meta column family ("default"):
//   "format_version" := decimal text of the format version (currently 1)
//   "idempotency.<key id>.<key>" := an Idempotency-Key record (store/idempotency_store.hpp)
//   "audit.<scope>.<entry id>" := an admin audit entry (store/admin_audit.hpp)
//   "cluster.applied", "cluster.head.<account>" := a cluster node's position
//   (cluster/cluster_cache.hpp)
//   "insights.<account>" 0x00 <day> := a day of an account's insights
//   (store/insights_store.hpp)

namespace referrald::store {

namespace {

constexpr std::string_view k_column_names[column_count] = {
    "default", "events", "keys", "connections", "ai_rows", "ai_batches", "snapshots"};
constexpr std::string_view k_format_key = "format_version";

rocksdb::Options base_options() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.keep_log_file_num = 5;
  o.max_manifest_file_size = 64 << 20;
  // Reusing log files would spare each fdatasync the inode's size, but RocksDB turns it off
  // under point-in-time recovery (the WAL recovery mode used here) whatever is asked.
  o.recycle_log_file_num = 0;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

// The account of an event's key (account_id 0x00 seq:fixed64-big-endian, store/event_log.cpp):
// the memtable keeps, for each account, where its last event went in, and inserts the next
// one from there instead of searching the whole skip list from its top (an account's events
// come in sequence order). Only the memtable uses it: nothing stored depends on it.
class account_of_event_key final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "referrald.AccountOfEventKey"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > 8 && key[key.size() - 9] == '\0';
  }
};

// The keys a cluster node's copy writes again with each message it applies ("cluster.applied"
// and "cluster.head." account, cluster/cluster_cache.hpp), each key its own hint: a key's new
// version goes in right beside its last one instead of being searched for from the top of a
// memtable that holds many versions of the same few keys. Only the memtable uses it.
class cluster_copy_key final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "referrald.ClusterCopyKey"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return key; }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.starts_with(
        rocksdb::Slice(k_cluster_meta_prefix.data(), k_cluster_meta_prefix.size()));
  }
};

rocksdb::ColumnFamilyOptions cf_options(std::string_view name) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_size = 16 * 1024;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.write_buffer_size = 32 << 20;
  // Used when one writer fills the memtable at a time (the commit queue's groups, the
  // cluster follower's batches); RocksDB ignores it for writes inserted concurrently.
  if (name == "events")
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<account_of_event_key>();
  if (name == "default")
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<cluster_copy_key>();
  return o;
}

// Free bytes for an unprivileged writer on the file system holding `path` (through `dir_fd`,
// the directory at `path` open, when it is not -1), or nullopt when it cannot be read.
std::optional<std::uint64_t> free_bytes(const std::string& path, int dir_fd) {
  struct statvfs v {};
  int rc = dir_fd >= 0 ? ::fstatvfs(dir_fd, &v) : ::statvfs(path.c_str(), &v);
  if (rc != 0) return std::nullopt;
  return static_cast<std::uint64_t>(v.f_bavail) * static_cast<std::uint64_t>(v.f_frsize);
}

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// RocksDB's background errors (a flush or compaction that failed) and its recovery from
// them: logged, and writes are held back meanwhile so that they never reach a log
// writer that has failed.
class listener : public rocksdb::EventListener {
 public:
  explicit listener(db::impl* i) : impl_(i) {}

  void OnBackgroundError(rocksdb::BackgroundErrorReason, rocksdb::Status* bg_error) override {
    impl_->bg_error = true;
    infra::log(infra::log_level::warn,
               "the store hit a background error (" +
                   (bg_error != nullptr ? bg_error->ToString() : std::string("unknown")) +
                   "); writes are refused until it recovers");
  }

  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) {
      impl_->bg_error = false;
      infra::log(infra::log_level::info, "the store recovered from its background error");
    } else {
      infra::log(infra::log_level::warn, "the store could not recover from its background error: " +
                                             info.new_bg_error.ToString());
    }
  }

 private:
  db::impl* impl_;
};

void publish_health(const db::impl& i) {
  bool writable = !i.wedged && !i.disk_full && !i.degraded && !i.read_only;
  infra::metrics().store_writable.store(writable ? 1 : 0, std::memory_order_relaxed);
}

// Opens RocksDB at i.path into i.rdb and i.handles (both empty before).
domain::status open_rocks(db::impl& i, bool read_only) {
  rocksdb::Options opts = base_options();
  opts.listeners.push_back(i.listener);
  // Lets RocksDB recover by itself from a flush or compaction that met a full disk.
  opts.sst_file_manager.reset(rocksdb::NewSstFileManager(rocksdb::Env::Default()));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<std::string> present;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(i.path) / "CURRENT", ec)) {
    auto s = rocksdb::DB::ListColumnFamilies(opts, i.path, &present);
    if (!s.ok()) return to_error(s, "listing column families of '" + i.path + "'");
  }
  for (std::size_t c = 0; c < column_count; ++c) {
    std::string name(k_column_names[c]);
    bool on_disk = std::find(present.begin(), present.end(), name) != present.end();
    if (read_only && !on_disk) continue;
    descriptors.emplace_back(name, cf_options(name));
  }
  // Column families written by a newer build must be opened too.
  for (const auto& name : present) {
    if (std::find(std::begin(k_column_names), std::end(k_column_names), name) ==
        std::end(k_column_names)) {
      descriptors.emplace_back(name, cf_options(name));
    }
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = read_only
                          ? rocksdb::DB::OpenForReadOnly(opts, i.path, descriptors, &handles, &raw)
                          : rocksdb::DB::Open(opts, i.path, descriptors, &handles, &raw);
  if (!s.ok()) return to_error(s, "opening '" + i.path + "'");
  i.rdb.reset(raw);
  i.handles = {};
  for (auto* h : handles) {
    auto it = std::find(std::begin(k_column_names), std::end(k_column_names), h->GetName());
    if (it != std::end(k_column_names)) {
      i.handles[static_cast<std::size_t>(it - std::begin(k_column_names))] = h;
    } else {
      i.rdb->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }
  return {};
}

// Closes what open_rocks opened. With `sync`, the log is synced first.
void close_rocks(db::impl& i, bool sync) {
  if (!i.rdb) return;
  for (auto*& h : i.handles) {
    if (h != nullptr) i.rdb->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    h = nullptr;
  }
  if (sync) i.rdb->SyncWAL().PermitUncheckedError();
  i.rdb->Close().PermitUncheckedError();
  i.rdb.reset();
}

domain::error disk_full_error(std::uint64_t free, std::uint64_t reserve) {
  domain::error e = domain::make_error(
      domain::errc::insufficient_storage,
      "the disk holding the data is full (" + mib(free) + " free, below the " + mib(reserve) +
          " the server keeps in reserve); nothing was stored. Retry once space has been freed");
  return e;
}

// Starts a background flush of the column families `batch` wrote unlogged, unless one
// was started less than k_unlogged_flush_interval ago (see db::durability).
void flush_unlogged_soon(db::impl& i, const write_batch& batch) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto last = i.last_unlogged_flush_ms.load(std::memory_order_relaxed);
  auto interval = std::chrono::milliseconds(db::k_unlogged_flush_interval).count();
  if (last != 0 && now - last < interval) return;
  if (!i.last_unlogged_flush_ms.compare_exchange_strong(last, now)) return;  // another did
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  batch.for_each([&](const write_batch::op& o) {
    auto* h = i.cf(o.cf);
    if (std::find(cfs.begin(), cfs.end(), h) == cfs.end()) cfs.push_back(h);
  });
  rocksdb::FlushOptions fo;
  fo.wait = false;
  fo.allow_write_stall = true;
  auto s = i.rdb->Flush(fo, cfs);
  if (!s.ok()) {
    infra::log(infra::log_level::warn, "could not start a flush of snapshot data: " + s.ToString() +
                                           " (it is flushed at the next attempt or at exit)");
  }
}

}  // namespace

std::string_view column_name(column c) { return k_column_names[static_cast<std::size_t>(c)]; }

std::optional<column> column_named(std::string_view name) {
  for (std::size_t c = 0; c < column_count; ++c) {
    if (k_column_names[c] == name) return static_cast<column>(c);
  }
  return std::nullopt;
}

domain::error to_error(const rocksdb::Status& s, std::string_view what) {
  std::string doing(what.substr(0, what.find(" '")));
  domain::error e =
      s.IsNoSpace() ? domain::make_error(
                          domain::errc::insufficient_storage,
                          "the disk holding the data is full; nothing was stored during " + doing)
      : s.IsCorruption()
          // Damaged bytes (a checksum that does not match): a retry cannot help.
          ? domain::make_error(domain::errc::store_corrupted,
                               "stored data is damaged on disk (found during " + doing + ")")
          : domain::make_error(domain::errc::internal, "storage error during " + doing);
  e.cause = std::string(what) + ": " + s.ToString();
  return e;
}

domain::error closed_store() {
  return domain::make_error(domain::errc::unavailable,
                            "the store is closed after a failed reopen; restart the server");
}

write_batch::part& write_batch::last() {
  if (parts_.empty()) parts_.emplace_back();
  return parts_.back();
}

void write_batch::put(column cf, std::string_view key, std::string_view value) {
  part& p = last();
  p.ops.push_back(stored_op{cf, false, static_cast<std::uint32_t>(key.size()),
                            static_cast<std::uint32_t>(value.size()), p.data.size()});
  p.data.append(key);
  p.data.append(value);
  bytes_ += key.size() + value.size();
  ++count_;
}

void write_batch::erase(column cf, std::string_view key) {
  part& p = last();
  p.ops.push_back(stored_op{cf, true, static_cast<std::uint32_t>(key.size()), 0, p.data.size()});
  p.data.append(key);
  bytes_ += key.size();
  ++count_;
}

void write_batch::reserve(std::size_t ops, std::size_t bytes) {
  part& p = last();
  p.ops.reserve(p.ops.size() + ops);
  p.data.reserve(p.data.size() + bytes);
}

void write_batch::sort_since(std::size_t mark) {
  part& p = last();
  std::size_t before_last = count_ - p.ops.size();
  assert(mark >= before_last && mark <= count_);
  const std::string& data = p.data;
  auto key = [&data](const stored_op& o) {
    return std::string_view(data).substr(o.key_at, o.key_size);
  };
  std::sort(p.ops.begin() + static_cast<std::ptrdiff_t>(mark - before_last), p.ops.end(),
            [&key](const stored_op& x, const stored_op& y) {
              return x.cf != y.cf ? x.cf < y.cf : key(x) < key(y);
            });
}

void write_batch::append(write_batch&& other) {
  for (auto& p : other.parts_)
    parts_.push_back(std::move(p));
  count_ += other.count_;
  bytes_ += other.bytes_;
  other.parts_.clear();
  other.count_ = 0;
  other.bytes_ = 0;
}

db::db(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

db::~db() {
  if (!impl_ || !impl_->rdb) return;
  if (impl_->wedged) {
    // Closing would flush the failed log writer, which can abort the process; every
    // acknowledged write is already synced, so the instance is left to the exit.
    infra::log(infra::log_level::warn,
               "the store failed a write earlier; it is not closed cleanly (nothing "
               "acknowledged is lost)");
    for (auto*& h : impl_->handles)
      h = nullptr;
    (void)impl_->rdb.release();  // deliberately leaked
    return;
  }
  close_rocks(*impl_, !impl_->read_only && !impl_->degraded && !impl_->bg_error);
}

const std::string& db::path() const { return impl_->path; }
bool db::read_only() const { return impl_->read_only; }

db::impl::~impl() {
  if (dir_fd >= 0) ::close(dir_fd);
}

db::pinned db::pin() const { return pinned(*impl_); }

store_health db::health() const {
  if (impl_->wedged) return store_health::wedged;
  if (impl_->disk_full || impl_->degraded) return store_health::disk_full;
  return store_health::writable;
}

domain::result<std::unique_ptr<db>> db::open(const open_options& options) {
  namespace fs = std::filesystem;
  auto i = std::make_unique<impl>();
  i->path = options.path;
  i->read_only = options.read_only;
  i->min_free_bytes = options.read_only ? 0 : options.min_free_bytes;
  i->listener = std::make_shared<listener>(i.get());

  std::error_code ec;
  bool exists = fs::exists(fs::path(options.path) / "CURRENT", ec);
  if (options.read_only && !exists) {
    return domain::make_error(domain::errc::not_found, "'" + options.path +
                                                           "' is not a referrald data directory "
                                                           "(no RocksDB CURRENT file)");
  }
  if (!exists) {
    fs::create_directories(options.path, ec);
    if (ec) {
      return domain::make_error(domain::errc::internal, "cannot create data directory '" +
                                                            options.path + "': " + ec.message());
    }
  }
  if (!options.read_only)
    i->dir_fd = ::open(options.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  // Below the reserve, an existing store opens read-only: opening it for writing would
  // write (a new manifest and log) on a full disk.
  if (i->min_free_bytes > 0) {
    auto free = free_bytes(options.path, i->dir_fd);
    if (free) infra::metrics().store_free_bytes.store(static_cast<std::int64_t>(*free));
    if (free && *free < i->min_free_bytes) {
      if (!exists) {
        return domain::make_error(domain::errc::insufficient_storage,
                                  "cannot create a store in '" + options.path + "': only " +
                                      mib(*free) + " free, below the reserve of " +
                                      mib(i->min_free_bytes));
      }
      i->degraded = true;
    }
  }
  auto st = open_rocks(*i, options.read_only || i->degraded);
  if (!st && !options.read_only && !i->degraded &&
      st.err().code == domain::errc::insufficient_storage) {
    i->degraded = true;
    st = open_rocks(*i, true);
  }
  if (!st) return std::move(st).err();
  if (i->degraded) {
    infra::log(infra::log_level::warn,
               "the disk holding '" + options.path +
                   "' is full: the store is open for reading only, and reopens for writing "
                   "once at least " +
                   mib(i->min_free_bytes) + " are free");
  }
  publish_health(*i);

  std::unique_ptr<db> out(new db(std::move(i)));
  auto version = out->get(column::meta, k_format_key);
  if (!version) return std::move(version).err();
  if (version->has_value()) {
    if (**version != std::to_string(format_version)) {
      return domain::make_error(domain::errc::internal, "data directory '" + options.path +
                                                            "' has format version " + **version +
                                                            "; this build reads version " +
                                                            std::to_string(format_version));
    }
  } else if (!options.read_only && !out->impl_->degraded) {
    write_batch b;
    b.put(column::meta, std::string(k_format_key), std::to_string(format_version));
    if (auto wst = out->write(b, true); !wst) return std::move(wst).err();
  }
  return out;
}

void db::set_min_free_bytes(std::uint64_t bytes) {
  if (!impl_->read_only) impl_->min_free_bytes = bytes;
  if (bytes == 0) impl_->disk_full = false;
  check_space();
}

store_health db::check_space() {
  impl& i = *impl_;
  if (i.read_only || i.min_free_bytes == 0 || i.wedged) return health();
  auto free = free_bytes(i.path, i.dir_fd);
  if (!free) return health();
  infra::metrics().store_free_bytes.store(static_cast<std::int64_t>(*free),
                                          std::memory_order_relaxed);
  bool full = *free < i.min_free_bytes;
  if (full != i.disk_full.exchange(full)) {
    infra::log(full ? infra::log_level::warn : infra::log_level::info,
               full ? "the disk holding the data is full (" + mib(*free) +
                          " free, below the reserve of " + mib(i.min_free_bytes) +
                          "): writes are refused with 507, reads go on"
                    : "disk space is back (" + mib(*free) + " free): writes are accepted again");
  }
  if (!full && i.degraded) {
    // Reopen for writing; nothing else uses RocksDB meanwhile.
    std::unique_lock lock(i.swap_mu);
    if (i.degraded) {
      close_rocks(i, false);
      if (auto st = open_rocks(i, false); st) {
        i.degraded = false;
        infra::log(infra::log_level::info, "the store is open for writing again");
      } else {
        infra::log(infra::log_level::warn, "could not reopen the store for writing (" +
                                               st.err().message + ": " + st.err().cause +
                                               "); it stays read-only");
        if (auto back = open_rocks(i, true); !back) {
          infra::log(infra::log_level::error,
                     "could not reopen the store at all: " + back.err().cause);
        }
      }
    }
  }
  publish_health(i);
  return health();
}

domain::status db::write(const write_batch& batch, bool sync) {
  return write(batch, sync ? durability::synced : durability::logged);
}

domain::status db::write(const write_batch& batch, durability how) {
  impl& i = *impl_;
  if (i.read_only) {
    return domain::make_error(domain::errc::internal, "the store is open read-only");
  }
  if (i.wedged) {
    return domain::make_error(domain::errc::internal,
                              "the store stopped accepting writes after a storage failure; "
                              "restart the server once the disk is healthy");
  }
  if (i.min_free_bytes > 0) {
    check_space();
    auto free = static_cast<std::uint64_t>(infra::metrics().store_free_bytes.load());
    if (i.disk_full || i.degraded || free < i.min_free_bytes + 2 * batch.byte_size()) {
      infra::metrics().store_writes_refused_disk_full.fetch_add(1, std::memory_order_relaxed);
      return disk_full_error(free, i.min_free_bytes);
    }
  }
  if (i.bg_error) {
    return domain::make_error(domain::errc::unavailable,
                              "the store is recovering from a storage error; retry shortly");
  }
  pinned p(i);
  if (!p.open()) return closed_store();
  // Room for the data and each record's tag, column id and two lengths.
  rocksdb::WriteBatch wb(batch.byte_size() + 16 * batch.size() + 16);
  rocksdb::Status s;
  batch.for_each([&](const write_batch::op& o) {
    if (!s.ok()) return;
    s = o.erase ? wb.Delete(i.cf(o.cf), o.key) : wb.Put(i.cf(o.cf), o.key, o.value);
  });
  if (!s.ok()) return to_error(s, "building a write batch");
  rocksdb::WriteOptions wo;
  wo.sync = how == durability::synced;
  wo.disableWAL = how == durability::unlogged;
  // Batches put their keys in order (ai_store::put_rows); when several threads insert
  // into the memtable at once, this keeps each one's last position as the next hint.
  wo.memtable_insert_hint_per_batch = true;
  if (wo.sync) {
    // RocksDB times the write-ahead log's append and fsync itself (its perf context, on
    // for this thread's synced writes only). A write that another thread's group write
    // carried did no fsync of its own and is not counted.
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableTimeExceptForMutex);
    rocksdb::get_perf_context()->Reset();
  }
  s = i.rdb->Write(wo, &wb);
  if (wo.sync) {
    std::uint64_t wal_ns = rocksdb::get_perf_context()->write_wal_time;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    if (s.ok() && wal_ns > 0) infra::metrics().store_fsync_seconds.observe(wal_ns / 1e9);
  }
  if (!s.ok()) {
    i.wedged = true;
    publish_health(i);
    auto e = to_error(s, "write");
    infra::log(infra::log_level::error,
               "a write failed inside the store (" + e.cause +
                   "); every later write is refused until the server is restarted");
    return e;
  }
  if (how == durability::unlogged) flush_unlogged_soon(i, batch);
  return {};
}

void db::render_metrics(std::string& out) const {
  pinned p(*impl_);
  if (!p.open()) return;
  rocksdb::DB& r = *impl_->rdb;
  auto sum = [&](const std::string& property) {
    std::uint64_t v = 0;
    return r.GetAggregatedIntProperty(property, &v) ? std::to_string(v) : std::string("0");
  };
  auto one = [&](const std::string& property) {
    std::uint64_t v = 0;
    return r.GetIntProperty(property, &v) ? std::to_string(v) : std::string("0");
  };
  auto gauge = [&](const char* name, const char* help, const std::string& v) {
    out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + " gauge\n" + name +
           ' ' + v + '\n';
  };
  using props = rocksdb::DB::Properties;
  gauge("referrald_rocksdb_live_sst_bytes", "Bytes of the SST files of the current version.",
        sum(props::kLiveSstFilesSize));
  gauge("referrald_rocksdb_memtable_bytes", "Bytes of the active and unflushed memtables.",
        sum(props::kCurSizeAllMemTables));
  gauge("referrald_rocksdb_pending_compaction_bytes",
        "Estimated bytes compaction must rewrite to bring every level under its target.",
        sum(props::kEstimatePendingCompactionBytes));
  gauge("referrald_rocksdb_write_stopped", "1 while RocksDB stops writes (a write stall).",
        one(props::kIsWriteStopped));
  // The DB statistics text holds "Cumulative stall: HH:MM:SS.sss H:M:S, P percent".
  double stall = 0;
  std::string stats;
  if (r.GetProperty(props::kDBStats, &stats)) {
    auto at = stats.find("Cumulative stall: ");
    unsigned h = 0, m = 0;
    double s = 0;
    if (at != std::string::npos &&
        std::sscanf(stats.c_str() + at + 18, "%u:%u:%lf", &h, &m, &s) == 3) {
      stall = h * 3600.0 + m * 60.0 + s;
    }
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", stall);
  out +=
      "# HELP referrald_rocksdb_stall_seconds_total Time writes were delayed or stopped by "
      "RocksDB since the store was opened.\n"
      "# TYPE referrald_rocksdb_stall_seconds_total counter\n"
      "referrald_rocksdb_stall_seconds_total ";
  out += buf;
  out += '\n';
}

domain::status db::scan(column cf, std::string_view from, std::string_view until,
                        const std::function<bool(std::string_view, std::string_view)>& fn) const {
  pinned p(*impl_);
  if (!p.open()) return closed_store();
  if (impl_->cf(cf) == nullptr) return {};
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(until.data(), until.size());
  if (!until.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->rdb->NewIterator(ro, impl_->cf(cf)));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size()))) {
      return {};
    }
  }
  if (!it->status().ok()) return to_error(it->status(), "scanning");
  return {};
}

domain::status db::checkpoint(const std::string& dir) const {
  if (impl_->min_free_bytes > 0) {
    // A checkpoint flushes the memtables (new files) and may copy files.
    auto& self = const_cast<db&>(*this);
    auto health = self.check_space();
    if (health == store_health::wedged) {
      return domain::make_error(domain::errc::internal,
                                "the store stopped accepting writes after a storage failure; "
                                "restart the server once the disk is healthy");
    }
    if (health != store_health::writable) {
      auto free = static_cast<std::uint64_t>(infra::metrics().store_free_bytes.load());
      return disk_full_error(free, impl_->min_free_bytes);
    }
  }
  pinned p(*impl_);
  if (!p.open()) return closed_store();
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl_->rdb.get(), &raw);
  if (!s.ok()) return to_error(s, "preparing a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  s = cp->CreateCheckpoint(dir);
  if (!s.ok()) return to_error(s, "writing a checkpoint into '" + dir + "'");
  return {};
}

domain::status db::destroy(const std::string& dir) {
  rocksdb::Options o;
  rocksdb::Status s = rocksdb::DestroyDB(dir, o);
  if (!s.ok()) return to_error(s, "deleting the store in '" + dir + "'");
  return {};
}

domain::result<std::optional<std::string>> db::get(column cf, std::string_view key) const {
  pinned p(*impl_);
  if (!p.open()) return closed_store();
  if (impl_->cf(cf) == nullptr) return std::optional<std::string>{};
  std::string value;
  rocksdb::Status s = impl_->rdb->Get(rocksdb::ReadOptions(), impl_->cf(cf), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return to_error(s, "read");
  return std::optional<std::string>{std::move(value)};
}

}  // namespace referrald::store
