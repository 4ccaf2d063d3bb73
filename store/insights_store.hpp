#pragma once

// Where insights' days are kept on the node (docs/insights.md): one record per account and
// day in the meta column, never in the event log (statistics, not rules).
//
//   key   := "insights." account_id 0x00 day:fixed64-big-endian   (days since 1970, UTC)
//   value := day_record (domain/insights/insights_book.hpp)
//
// Written to RocksDB's log without an fsync (store::db::durability::logged): a process
// killed keeps what was written; a machine that stops may lose the last writes, as it loses
// the counts not flushed yet.
//
// Thread-safe as store::db is.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/insights/insights_book.hpp"
#include "store/db.hpp"

namespace referrald::store {

// Reads every stored day into `book`. A record that does not read is skipped and counted
// in `skipped` (statistics: the rest stay usable).
domain::status load_insights(const db& store, domain::insights_book& book, std::size_t& skipped);

// Writes the book's days `changed` and deletes the records of the days `gone`, in one batch.
domain::status save_insights(db& store, const domain::insights_book& book,
                             const std::vector<std::pair<std::string, std::int64_t>>& changed,
                             const std::vector<std::pair<std::string, std::int64_t>>& gone);

// Deletes every stored day of `account`.
domain::status erase_insights(db& store, const std::string& account);

}  // namespace referrald::store
