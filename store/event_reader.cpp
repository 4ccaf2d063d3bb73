#include "store/event_reader.hpp"

#include "store/event_log.hpp"

namespace referrald::store {

domain::status event_reader::replay(std::string_view account_id, std::uint64_t from_seq,
                                    const std::function<bool(const domain::event&)>& fn,
                                    bool verify_hashes) const {
  domain::status failure;
  auto st = scan_raw(account_id, [&](std::uint64_t seq, std::string_view value) {
    if (seq < from_seq) return true;
    auto e = decode_event(account_id, seq, value);
    if (!e) {
      failure = std::move(e).err();
      return false;
    }
    if (verify_hashes && !verify_event_hash(account_id, seq, value)) {
      failure = corrupt_event(account_id, seq, "its hash does not match its contents");
      return false;
    }
    return fn(*e);
  });
  if (!st) return st;
  return failure;
}

domain::result<std::optional<domain::event>> event_reader::get(std::string_view account_id,
                                                               std::uint64_t seq) const {
  std::optional<domain::event> found;
  domain::status failure;
  auto st = scan_raw(account_id, [&](std::uint64_t s, std::string_view value) {
    if (s < seq) return true;
    if (s == seq) {
      auto e = decode_event(account_id, s, value);
      if (!e) {
        failure = std::move(e).err();
      } else {
        found = std::move(*e);
      }
    }
    return false;
  });
  if (!st) return std::move(st).err();
  if (!failure) return std::move(failure).err();
  return found;
}

domain::status event_reader::check_event(std::string_view account_id, std::uint64_t seq) const {
  bool seen = false;
  domain::status failure;
  auto st = scan_raw(account_id, [&](std::uint64_t s, std::string_view value) {
    if (s < seq) return true;
    if (s == seq) {
      seen = true;
      if (auto e = decode_event(account_id, s, value); !e) {
        failure = std::move(e).err();
      } else if (!verify_event_hash(account_id, s, value)) {
        failure = corrupt_event(account_id, s, "its hash does not match its contents");
      }
    }
    return false;
  });
  if (!st) return st;
  if (!failure) return failure;
  return seen ? domain::status{} : corrupt_event(account_id, seq, "missing");
}

}  // namespace referrald::store
