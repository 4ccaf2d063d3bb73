// The log syncs a RocksDB database made since it opened: the "M syncs" of "Cumulative WAL: N
// writes, M syncs, ..." in its DB stats (counted by the database itself, so reading them
// costs the puts nothing). 0 when the stats do not say. For the ceilings' benchmarks.
#pragma once

#include <rocksdb/db.h>

#include <cstdlib>
#include <string>

inline unsigned long long wal_syncs(rocksdb::DB& db) {
  std::string stats;
  if (!db.GetProperty(rocksdb::DB::Properties::kDBStats, &stats)) return 0;
  auto at = stats.find("Cumulative WAL:");
  auto writes = at == std::string::npos ? at : stats.find("writes, ", at);
  return writes == std::string::npos ? 0 : std::strtoull(stats.c_str() + writes + 8, nullptr, 10);
}
