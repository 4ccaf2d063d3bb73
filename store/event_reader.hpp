#pragma once

// Reading accounts' event histories wherever they are kept: the embedded RocksDB log
// (store/event_log.hpp) or a cluster's stream (cluster/cluster_events.hpp). Replays,
// verification and the operator's CLI read through this, so that they work on both.
//
// Events are the stored values of store/event_log.cpp in both places. Thread-safety is the
// implementation's (both are safe for concurrent readers).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"
#include "domain/rules/event.hpp"

namespace referrald::store {

class event_reader {
 public:
  virtual ~event_reader() = default;

  // Calls `fn` with (seq, stored value) of each event of the account, in order, until it
  // returns false. No decoding.
  virtual domain::status scan_raw(
      std::string_view account_id,
      const std::function<bool(std::uint64_t, std::string_view)>& fn) const = 0;

  // Every account id that has at least one event, in id order.
  virtual domain::status for_each_account(
      const std::function<bool(const std::string&)>& fn) const = 0;

  // The last sequence number of the account's stream, 0 when it has none.
  virtual domain::result<std::uint64_t> head(std::string_view account_id) const = 0;

  // Calls `fn` with each event of the account with seq >= from_seq, decoded, in order,
  // until it returns false. Stops with an error at the first undecodable event, or, with
  // `verify_hashes`, at the first whose stored hash does not match its contents
  // (store_corrupted, naming the account and the event). The default reads scan_raw.
  virtual domain::status replay(std::string_view account_id, std::uint64_t from_seq,
                                const std::function<bool(const domain::event&)>& fn,
                                bool verify_hashes = false) const;

  // Event `seq` of the account; nullopt when absent. The default reads scan_raw.
  virtual domain::result<std::optional<domain::event>> get(std::string_view account_id,
                                                           std::uint64_t seq) const;

  // store_corrupted unless event `seq` exists, decodes and its hash matches its contents.
  // The default reads scan_raw.
  virtual domain::status check_event(std::string_view account_id, std::uint64_t seq) const;

 protected:
  event_reader() = default;
  event_reader(const event_reader&) = default;
  event_reader& operator=(const event_reader&) = default;
};

}  // namespace referrald::store
