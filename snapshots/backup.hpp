#pragma once

// Online backups: a consistent copy of the whole store (RocksDB checkpoint) taken while
// the server runs, in `<data>/snapshots/<UTC timestamp>/`, with a manifest
// (`referrald-backup.json`) recording when it was taken, its size and every account's
// head sequence number in it. A backup directory is a complete data directory:
// `referrald --data <copy of it>` serves exactly its state.
//
// Thread-safety: create_backup serializes callers (one checkpoint at a time);
// list_backups only reads.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::snapshots {

inline constexpr const char* backup_manifest_name = "referrald-backup.json";

struct backup_info {
  std::string name;  // the directory name: UTC time "20261122T044543.833Z"
  std::string path;  // absolute
  domain::unix_ms created_at = 0;
  std::uint64_t size_bytes = 0;  // the files' sizes (shared with the live store by hard links)
  std::vector<std::pair<std::string, std::uint64_t>> heads;  // account -> head seq, by account
};

// The directory backups of the store at `data_dir` go into.
std::string backups_dir(const std::string& data_dir);

// Takes a backup of `live` into backups_dir(live.path()).
domain::result<backup_info> create_backup(const store::db& live,
                                          domain::unix_ms now = domain::now_ms());

// The backups in `dir` (those with a readable manifest), oldest first.
domain::result<std::vector<backup_info>> list_backups(const std::string& dir);

// {"name":..,"path":..,"created_at":..,"size_bytes":..,"accounts":{"acme":12,...}},
// preceded by "kind":kind when `kind` is not empty.
void write_json(domain::json_writer& w, const backup_info& b, std::string_view kind = {});

}  // namespace referrald::snapshots
