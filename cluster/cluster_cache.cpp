#include "cluster/cluster_cache.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/base/codec.hpp"
#include "domain/base/ids.hpp"
#include "store/event_log.hpp"

namespace referrald::cluster {

using store::column;
using store::db;
using store::decode_event;
using store::encode_event_key;
using store::event_log;
using store::verify_event_hash;
using store::write_batch;

namespace {

constexpr std::string_view k_applied_key = "cluster.applied";
constexpr std::string_view k_head_prefix = "cluster.head.";
constexpr std::string_view k_scope_prefix = "cluster.scope.";
constexpr std::string_view k_scopes_kept = "cluster.scopes";
constexpr std::string_view k_diverged_key = "cluster.diverged";
constexpr std::string_view k_rebuilt_key = "cluster.rebuilt";
constexpr std::string_view k_refills_key = "cluster.refills";
// The store inserts these keys' new versions beside their last ones by this prefix.
static_assert(k_applied_key.starts_with(store::k_cluster_meta_prefix) &&
              k_head_prefix.starts_with(store::k_cluster_meta_prefix));

std::string head_key(std::string_view account_id) {
  return std::string(k_head_prefix) + std::string(account_id);
}

domain::result<std::uint64_t> read_fixed64(const db& d, std::string_view key) {
  auto v = d.get(column::meta, key);
  if (!v) return std::move(v).err();
  if (!v->has_value()) return std::uint64_t{0};
  codec::reader r(**v);
  std::uint64_t n = 0;
  if (!r.fixed64(n) || r.remaining() != 0) {
    return domain::make_error(domain::errc::store_corrupted,
                              "the record " + std::string(key) + " is damaged");
  }
  return n;
}

std::string fixed64(std::uint64_t n) {
  std::string out;
  codec::put_fixed64(out, n);
  return out;
}

// A marker of the copy as a whole, written alone and synced.
domain::status put_synced(db& d, std::string_view key, std::uint64_t n) {
  write_batch batch;
  batch.put(column::meta, key, fixed64(n));
  return d.write(batch, true);
}

}  // namespace

domain::result<bool> cluster_cache::is_copy() const {
  auto v = db_->get(column::meta, k_applied_key);
  if (!v) return std::move(v).err();
  return v->has_value();
}

domain::result<std::uint64_t> cluster_cache::applied() const {
  return read_fixed64(*db_, k_applied_key);
}

domain::result<std::uint64_t> cluster_cache::stream_head(std::string_view account_id) const {
  return read_fixed64(*db_, head_key(account_id));
}

domain::result<std::uint64_t> cluster_cache::scope_head(std::string_view scope) const {
  return read_fixed64(*db_, std::string(k_scope_prefix) + std::string(scope));
}

domain::result<bool> cluster_cache::scopes_kept() const {
  auto v = db_->get(column::meta, k_scopes_kept);
  if (!v) return std::move(v).err();
  return v->has_value();
}

domain::status cluster_cache::keep_scopes(
    const std::vector<std::pair<std::string, std::uint64_t>>& heads) {
  write_batch batch;
  for (const auto& [scope, seq] : heads)
    batch.put(column::meta, std::string(k_scope_prefix) + scope, fixed64(seq));
  batch.put(column::meta, k_scopes_kept, "");
  return db_->write(batch, false);
}

domain::result<std::uint64_t> cluster_cache::diverged() const {
  return read_fixed64(*db_, k_diverged_key);
}

domain::status cluster_cache::mark_diverged(std::uint64_t seq) {
  return put_synced(*db_, k_diverged_key, seq);
}

domain::result<std::uint64_t> cluster_cache::rebuilt_at() const {
  return read_fixed64(*db_, k_rebuilt_key);
}

domain::status cluster_cache::mark_rebuilt(std::uint64_t unix_ms, std::uint64_t refills) {
  if (auto st = put_synced(*db_, k_refills_key, refills); !st) return st;
  return put_synced(*db_, k_rebuilt_key, unix_ms);
}

domain::result<std::uint64_t> cluster_cache::refills() const {
  return read_fixed64(*db_, k_refills_key);
}

domain::result<std::uint64_t> cluster_cache::applied_for_write() {
  if (applied_) return *applied_;
  return applied();
}

void cluster_cache::forget() {
  applied_.reset();
  heads_.clear();
}

domain::status cluster_cache::apply(const cluster_write& w) {
  if (auto st = add(w); !st) return st;
  return commit();
}

domain::status cluster_cache::apply(const cluster_records& r) {
  if (auto st = add(r); !st) return st;
  return commit();
}

domain::status cluster_cache::add(const cluster_write& w, std::vector<domain::event>* decoded,
                                  bool* repeated) {
  auto done = applied_for_write();
  if (!done) return std::move(done).err();
  if (w.stream_seq <= *done) return {};
  auto misfit = [&](const std::string& why) {
    return domain::make_error(domain::errc::store_corrupted,
                              "the stream's write " + std::to_string(w.stream_seq) + " (account " +
                                  w.account_id + ", events " + std::to_string(w.first_seq) +
                                  "..) " + why);
  };
  if (!domain::is_valid_account_id(w.account_id)) return misfit("names no valid account");
  std::uint64_t head = 0;
  domain::sha256_digest prev{};
  if (auto known = heads_.find(w.account_id); known != heads_.end()) {
    head = known->second.seq;
    prev = known->second.hash;
  } else {
    // Not in the open group either (its accounts are remembered until it is committed).
    event_log log(*db_);
    auto read = log.head(w.account_id);
    if (!read) return std::move(read).err();
    head = *read;
    if (head > 0) {
      auto last = log.get(w.account_id, head);
      if (!last) return std::move(last).err();
      if (!last->has_value()) return misfit("follows an event missing here");
      prev = (*last)->hash;
    }
  }
  if (w.first_seq != head + 1) {
    auto repeat = repeats_applied(w, head, prev);
    if (!repeat) return std::move(repeat).err();
    if (*repeat) {
      if (decoded != nullptr) decoded->clear();
      if (repeated != nullptr) *repeated = true;
      group_heads_[w.account_id] = w.stream_seq;
      ++group_messages_;
      applied_ = w.stream_seq;
      return {};
    }
    return misfit("does not continue the " + std::to_string(head) + " events applied before");
  }
  // Checked whole before any of it joins the group.
  std::vector<domain::event> events;
  if (decoded != nullptr) events.reserve(w.values.size());
  for (std::size_t i = 0; i < w.values.size(); ++i) {
    std::uint64_t seq = w.first_seq + i;
    auto e = decode_event(w.account_id, seq, w.values[i]);
    if (!e) return misfit(e.err().message);
    if (!verify_event_hash(w.account_id, seq, w.values[i])) {
      return misfit("holds event " + std::to_string(seq) + ", whose hash does not match it");
    }
    if (e->prev_hash != prev) {
      return misfit("holds event " + std::to_string(seq) + ", which does not chain to " +
                    std::to_string(seq - 1));
    }
    prev = e->hash;
    if (decoded != nullptr) events.push_back(std::move(*e));
  }
  if (decoded != nullptr) *decoded = std::move(events);
  for (std::size_t i = 0; i < w.values.size(); ++i)
    group_.put(column::events, encode_event_key(w.account_id, w.first_seq + i), w.values[i]);
  group_heads_[w.account_id] = w.stream_seq;
  ++group_messages_;
  applied_ = w.stream_seq;
  heads_[w.account_id] = applied_head{w.first_seq + w.values.size() - 1, prev};
  return {};
}

// Whether `w` holds events the copy holds already (its last event at or before the
// account's `head`, whose hash is `head_hash`), byte for byte: each of its events decodes,
// matches its hash and chains to the one before, and its last event's hash is the one the
// copy holds at that sequence number, or the open group does (the hashes chain, so the
// events before it are the copy's too).
domain::result<bool> cluster_cache::repeats_applied(const cluster_write& w, std::uint64_t head,
                                                    const domain::sha256_digest& head_hash) {
  if (w.values.empty() || w.first_seq == 0) return false;
  std::uint64_t last = w.first_seq + w.values.size() - 1;
  if (last > head) return false;
  domain::sha256_digest prev{};
  for (std::size_t i = 0; i < w.values.size(); ++i) {
    std::uint64_t seq = w.first_seq + i;
    auto e = decode_event(w.account_id, seq, w.values[i]);
    if (!e || !verify_event_hash(w.account_id, seq, w.values[i])) return false;
    if (i > 0 && e->prev_hash != prev) return false;
    prev = e->hash;
  }
  if (last == head) return prev == head_hash;
  auto held = event_log(*db_).get(w.account_id, last);
  if (!held) return std::move(held).err();
  if (held->has_value()) return (*held)->hash == prev;
  // Not committed yet: in the open group (a copy filled anew applies long runs of messages
  // as one), looked up there.
  std::string key = encode_event_key(w.account_id, last);
  std::optional<bool> grouped;
  group_.for_each([&](const write_batch::op& op) {
    if (grouped || op.cf != column::events || op.erase || op.key != key) return;
    auto e = decode_event(w.account_id, last, op.value);
    grouped = e && e->hash == prev;
  });
  return grouped.value_or(false);
}

domain::status cluster_cache::add(const cluster_records& r) {
  auto done = applied_for_write();
  if (!done) return std::move(done).err();
  if (r.stream_seq <= *done) return {};
  for (const auto& rec : r.records)
    group_.put(rec.cf, rec.key, rec.value);
  group_scopes_[r.scope] = r.stream_seq;
  ++group_messages_;
  applied_ = r.stream_seq;
  return {};
}

domain::status cluster_cache::commit() {
  if (group_messages_ == 0) return {};
  for (const auto& [account, seq] : group_heads_)
    group_.put(column::meta, head_key(account), fixed64(seq));
  for (const auto& [scope, seq] : group_scopes_)
    group_.put(column::meta, std::string(k_scope_prefix) + scope, fixed64(seq));
  group_.put(column::meta, k_applied_key, fixed64(*applied_));
  auto st = db_->write(group_, false);
  group_ = write_batch();
  group_messages_ = 0;
  group_heads_.clear();
  group_scopes_.clear();
  if (!st) {
    forget();
    return st;
  }
  if (heads_.size() > k_remembered) heads_.clear();
  return {};
}

}  // namespace referrald::cluster
