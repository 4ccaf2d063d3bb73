#pragma once

// RocksDB access for store/ sources only.

#include <rocksdb/db.h>

#include <array>
#include <memory>
#include <string>

#include "store/db.hpp"

namespace referrald::store {

struct db::impl {
  std::string path;
  bool read_only = false;
  std::unique_ptr<rocksdb::DB> rdb;
  std::array<rocksdb::ColumnFamilyHandle*, column_count> handles{};

  rocksdb::ColumnFamilyHandle* cf(column c) const { return handles[static_cast<std::size_t>(c)]; }
};

// Maps a RocksDB status to an `internal` error naming the operation.
domain::error to_error(const rocksdb::Status& s, std::string_view what);

}  // namespace referrald::store
