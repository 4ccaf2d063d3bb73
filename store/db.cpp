#include "store/db.hpp"

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cassert>
#include <filesystem>

#include "store/db_internal.hpp"

// Meta column family ("default"):
//   "format_version" := decimal text of the format version (currently 1)

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
  o.recycle_log_file_num = 0;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return o;
}

rocksdb::ColumnFamilyOptions cf_options() {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_size = 16 * 1024;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.write_buffer_size = 32 << 20;
  return o;
}

}  // namespace

std::string_view column_name(column c) { return k_column_names[static_cast<std::size_t>(c)]; }

domain::error to_error(const rocksdb::Status& s, std::string_view what) {
  return domain::make_error(domain::errc::internal, std::string("storage error during ") +
                                                        std::string(what) + ": " + s.ToString());
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
  for (auto* h : impl_->handles) {
    if (h != nullptr) impl_->rdb->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  if (!impl_->read_only) impl_->rdb->SyncWAL().PermitUncheckedError();
  impl_->rdb->Close().PermitUncheckedError();
  impl_->rdb.reset();
}

const std::string& db::path() const { return impl_->path; }
bool db::read_only() const { return impl_->read_only; }

domain::result<std::unique_ptr<db>> db::open(const open_options& options) {
  namespace fs = std::filesystem;
  auto i = std::make_unique<impl>();
  i->path = options.path;
  i->read_only = options.read_only;

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

  rocksdb::Options opts = base_options();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<std::string> present;
  if (exists) {
    auto s = rocksdb::DB::ListColumnFamilies(opts, options.path, &present);
    if (!s.ok()) return to_error(s, "listing column families of '" + options.path + "'");
  }
  for (std::size_t c = 0; c < column_count; ++c) {
    std::string name(k_column_names[c]);
    bool on_disk = std::find(present.begin(), present.end(), name) != present.end();
    if (options.read_only && !on_disk) continue;
    descriptors.emplace_back(name, cf_options());
  }
  // Column families written by a newer build must be opened too.
  for (const auto& name : present) {
    if (std::find(std::begin(k_column_names), std::end(k_column_names), name) ==
        std::end(k_column_names)) {
      descriptors.emplace_back(name, cf_options());
    }
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(opts, options.path, descriptors, &handles, &raw)
          : rocksdb::DB::Open(opts, options.path, descriptors, &handles, &raw);
  if (!s.ok()) return to_error(s, "opening '" + options.path + "'");
  i->rdb.reset(raw);
  for (auto* h : handles) {
    auto it = std::find(std::begin(k_column_names), std::end(k_column_names), h->GetName());
    if (it != std::end(k_column_names)) {
      i->handles[static_cast<std::size_t>(it - std::begin(k_column_names))] = h;
    } else {
      i->rdb->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  }

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
  } else if (!options.read_only) {
    write_batch b;
    b.put(column::meta, std::string(k_format_key), std::to_string(format_version));
    if (auto st = out->write(b, true); !st) return std::move(st).err();
  }
  return out;
}

domain::status db::write(const write_batch& batch, bool sync) {
  if (impl_->read_only) {
    return domain::make_error(domain::errc::internal, "the store is open read-only");
  }
  // Room for the data and each record's tag, column id and two lengths.
  rocksdb::WriteBatch wb(batch.byte_size() + 16 * batch.size() + 16);
  rocksdb::Status s;
  batch.for_each([&](const write_batch::op& o) {
    if (!s.ok()) return;
    s = o.erase ? wb.Delete(impl_->cf(o.cf), o.key) : wb.Put(impl_->cf(o.cf), o.key, o.value);
  });
  if (!s.ok()) return to_error(s, "building a write batch");
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  // Batches put their keys in order (ai_store::put_rows); when several threads insert
  // into the memtable at once, this keeps each one's last position as the next hint.
  wo.memtable_insert_hint_per_batch = true;
  s = impl_->rdb->Write(wo, &wb);
  if (!s.ok()) return to_error(s, "write");
  return {};
}

domain::status db::scan(column cf, std::string_view from, std::string_view until,
                        const std::function<bool(std::string_view, std::string_view)>& fn) const {
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
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(impl_->rdb.get(), &raw);
  if (!s.ok()) return to_error(s, "preparing a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  s = cp->CreateCheckpoint(dir);
  if (!s.ok()) return to_error(s, "writing a checkpoint into '" + dir + "'");
  return {};
}

domain::result<std::optional<std::string>> db::get(column cf, std::string_view key) const {
  if (impl_->cf(cf) == nullptr) return std::optional<std::string>{};
  std::string value;
  rocksdb::Status s = impl_->rdb->Get(rocksdb::ReadOptions(), impl_->cf(cf), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return to_error(s, "read");
  return std::optional<std::string>{std::move(value)};
}

}  // namespace referrald::store
