#pragma once

// The journal (interfaces/journal.hpp) of a single node: its RocksDB. The account's events
// go through the commit queue (one fsync for every write waiting), its records likewise;
// nobody else writes, so a write is never beaten and every position is 0.

#include <memory>

#include "interfaces/journal.hpp"

namespace referrald::store {

class commit_queue;
class db;
class event_log;

// Every argument must outlive the journal.
std::unique_ptr<interfaces::journal> make_embedded_journal(db& d, const event_log& log,
                                                           commit_queue& commits);

}  // namespace referrald::store
