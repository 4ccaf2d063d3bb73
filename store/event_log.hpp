#pragma once

// Per-account, append-only event streams in the `events` column family. The layout is
// documented as a grammar at the top of event_log.cpp.
//
// Writers: only an account's actor appends to its stream (it owns the sequence numbers
// and the hash chain); appends go through a write_batch so they can be grouped and
// synced by commit_queue. Readers (replay, head, verify) are thread-safe and may run
// against a read-only open of a live data directory.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/event.hpp"
#include "store/db.hpp"
#include "store/event_reader.hpp"

namespace referrald::store {

// -- codec (exposed for tests and verification) --------------------------------------

std::string encode_event_key(std::string_view account_id, std::uint64_t seq);

// Encodes `e` as stored for `account_id` and sets `e.hash` from `e.prev_hash` and the
// contents. `e.seq` must be set.
std::string encode_event_value(std::string_view account_id, domain::event& e);

// Decodes a stored value. Checks the format version and the CRC; does not recompute the
// hash (see verify_event_hash). Errors are `internal` and say what is wrong.
domain::result<domain::event> decode_event(std::string_view account_id, std::uint64_t seq,
                                           std::string_view value);

// True when the stored hash of `value` equals the hash recomputed from its contents.
bool verify_event_hash(std::string_view account_id, std::uint64_t seq, std::string_view value);

// store_corrupted: the history of `account_id` is corrupt at event `seq` because `why`.
domain::error corrupt_event(std::string_view account_id, std::uint64_t seq, const std::string& why);

// -- log ----------------------------------------------------------------------------

class event_log final : public event_reader {
 public:
  explicit event_log(const db& d) : db_(&d) {}

  // Adds the put of `e` (already numbered and chained by the caller) to `batch` and sets
  // `e.hash`. Several appends for one account in one batch are written all-or-none.
  void append(write_batch& batch, std::string_view account_id, domain::event& e) const;

  // Event `seq` of the account; nullopt when absent.
  domain::result<std::optional<domain::event>> get(std::string_view account_id,
                                                   std::uint64_t seq) const override;

  // The last sequence number of the account's stream, 0 when it has none.
  domain::result<std::uint64_t> head(std::string_view account_id) const override;

  // Calls `fn` with each event of the account with seq >= from_seq, in order, until `fn`
  // returns false. Stops with an error at the first undecodable event, or, with
  // `verify_hashes`, at the first whose stored hash does not match its contents
  // (store_corrupted, naming the account and the event).
  domain::status replay(std::string_view account_id, std::uint64_t from_seq,
                        const std::function<bool(const domain::event&)>& fn,
                        bool verify_hashes = false) const override;

  // store_corrupted unless event `seq` exists, decodes and its hash matches its contents.
  domain::status check_event(std::string_view account_id, std::uint64_t seq) const override;

  // Calls `fn` with the stored bytes of each event: (seq, value). No decoding.
  domain::status scan_raw(
      std::string_view account_id,
      const std::function<bool(std::uint64_t, std::string_view)>& fn) const override;

  // The account's state: the fold of all its events.
  domain::result<domain::account_state> load(std::string_view account_id) const;

  // Every account id that has at least one event, in key order. When damaged bytes stop
  // the listing, the accounts the store's file metadata names past the last one listed are
  // given too, and the result is store_corrupted: the listing is incomplete.
  domain::status for_each_account(const std::function<bool(const std::string&)>& fn) const override;

 private:
  const db* db_;
};

}  // namespace referrald::store
