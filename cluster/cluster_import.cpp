#include "cluster/cluster_import.hpp"

#include <map>
#include <vector>

#include "domain/base/codec.hpp"
#include "store/ai_store.hpp"
#include "store/event_log.hpp"

namespace referrald::cluster {

using store::cluster_batch_scope;
using store::column;
using store::db;
using store::event_log;

namespace {

constexpr std::size_t k_max_events_per_write = 1000;
constexpr std::size_t k_max_bytes_per_message = 4u << 20;
constexpr std::size_t k_ulid_size = 26;

std::uint64_t big_endian64(std::string_view key) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < 8 && i < key.size(); ++i)
    n = (n << 8) | static_cast<unsigned char>(key[i]);
  return n;
}

domain::error refused(const std::vector<std::string>& held, const std::string& what) {
  std::string names;
  for (std::size_t i = 0; i < held.size() && i < 10; ++i)
    names += (i ? ", " : "") + held[i];
  if (held.size() > 10) names += ", ...";
  return domain::make_error(domain::errc::conflict, "the cluster's stream already holds " +
                                                        std::to_string(held.size()) + " of the " +
                                                        what + " to import (" + names +
                                                        "); nothing was imported");
}

// Appends records in messages of at most k_max_bytes_per_message.
class record_batcher {
 public:
  record_batcher(cluster_log& log, std::string scope) : log_(log) {
    pending_.scope = std::move(scope);
  }
  domain::status add(column cf, std::string_view key, std::string_view value) {
    if (bytes_ + key.size() + value.size() > k_max_bytes_per_message && !pending_.records.empty()) {
      if (auto st = flush(); !st) return st;
    }
    bytes_ += key.size() + value.size() + 16;
    pending_.records.push_back({cf, std::string(key), std::string(value)});
    return {};
  }
  domain::status flush() {
    if (pending_.records.empty()) return {};
    auto stored = log_.append_records(pending_, std::nullopt);
    if (!stored) return std::move(stored).err();
    pending_.records.clear();
    pending_.writer.clear();
    bytes_ = 0;
    return {};
  }

 private:
  cluster_log& log_;
  cluster_records pending_;
  std::size_t bytes_ = 0;
};

}  // namespace

domain::result<cluster_import_summary> import_into_cluster(
    const db& source, cluster_log& log,
    const std::function<void(const std::string&, std::uint64_t)>& progress) {
  cluster_import_summary out;
  event_log events(source);

  // What the stream must not hold yet.
  std::vector<std::string> accounts, held;
  if (auto st = events.for_each_account([&](const std::string& a) {
        accounts.push_back(a);
        return true;
      });
      !st) {
    return std::move(st).err();
  }
  for (const auto& a : accounts) {
    auto last = log.last(a);
    if (!last) return std::move(last).err();
    if (last->has_value()) held.push_back(a);
  }
  if (!held.empty()) return refused(held, "accounts");
  std::vector<std::pair<std::uint64_t, std::string>> keys;
  if (auto st = source.scan(column::keys, "", "",
                            [&](std::string_view k, std::string_view v) {
                              keys.emplace_back(big_endian64(k), std::string(v));
                              return true;
                            });
      !st) {
    return std::move(st).err();
  }
  for (const auto& [id, value] : keys) {
    auto last = log.last_records("keys." + std::to_string(id));
    if (!last) return std::move(last).err();
    if (last->has_value()) held.push_back("key " + std::to_string(id));
  }
  if (!held.empty()) return refused(held, "API keys");

  // The accounts' histories, byte for byte.
  for (const auto& a : accounts) {
    std::uint64_t expected = 0, count = 0;
    cluster_write w;
    w.account_id = a;
    std::size_t bytes = 0;
    domain::status failed;
    auto flush = [&]() -> domain::status {
      if (w.values.empty()) return {};
      auto stored = log.append(w, expected);
      if (!stored) return std::move(stored).err();
      expected = *stored;
      w.first_seq += w.values.size();
      w.values.clear();
      w.writer.clear();
      bytes = 0;
      return {};
    };
    w.first_seq = 1;
    auto st = events.scan_raw(a, [&](std::uint64_t seq, std::string_view value) {
      if (seq != w.first_seq + w.values.size()) {
        failed = domain::make_error(
            domain::errc::store_corrupted,
            "account " + a + " misses event " + std::to_string(w.first_seq + w.values.size()));
        return false;
      }
      if (w.values.size() == k_max_events_per_write ||
          (bytes + value.size() > k_max_bytes_per_message && !w.values.empty())) {
        failed = flush();
        if (!failed) return false;
      }
      w.values.emplace_back(value);
      bytes += value.size();
      ++count;
      return true;
    });
    if (!st) return std::move(st).err();
    if (!failed) return std::move(failed).err();
    if (auto f = flush(); !f) return std::move(f).err();
    ++out.accounts;
    out.events += count;
    if (progress) progress(a, count);
  }

  // API keys, each claiming its id.
  for (const auto& [id, value] : keys) {
    cluster_records r;
    r.scope = "keys." + std::to_string(id);
    std::string key;
    codec::put_fixed64_be(key, id);
    r.records.push_back({column::keys, key, value});
    auto stored = log.append_records(r, 0);
    if (!stored) return std::move(stored).err();
    ++out.keys;
  }

  // Connections and rows, per brand.
  std::map<std::uint64_t, std::unique_ptr<record_batcher>> brands;
  auto batcher = [&](const std::string& kind, std::uint64_t brand) -> record_batcher& {
    auto& b = brands[brand];
    if (!b) b = std::make_unique<record_batcher>(log, kind + "." + std::to_string(brand));
    return *b;
  };
  domain::status failed;
  auto scan = [&](column cf, const std::string& kind, std::size_t& counted) -> domain::status {
    brands.clear();
    auto st = source.scan(cf, "", "", [&](std::string_view k, std::string_view v) {
      failed = batcher(kind, big_endian64(k)).add(cf, k, v);
      ++counted;
      return failed.ok();
    });
    if (!st) return st;
    if (!failed) return failed;
    for (auto& [brand, b] : brands)
      if (auto f = b->flush(); !f) return f;
    return {};
  };
  if (auto st = scan(column::connections, "connections", out.connections); !st) {
    return std::move(st).err();
  }
  if (auto st = scan(column::ai_rows, "ai", out.rows); !st) return std::move(st).err();

  // Batch records, each on the subject its batch_id is claimed on.
  std::vector<std::pair<std::string, std::string>> batches;
  if (auto st = source.scan(column::ai_batches, "", "",
                            [&](std::string_view k, std::string_view v) {
                              batches.emplace_back(std::string(k), std::string(v));
                              return true;
                            });
      !st) {
    return std::move(st).err();
  }
  for (const auto& [k, v] : batches) {
    if (k.size() < 8 + k_ulid_size) {
      return domain::make_error(domain::errc::store_corrupted, "a batch record has a short key");
    }
    auto brand = static_cast<std::int64_t>(big_endian64(k));
    std::string connection = k.substr(8, k_ulid_size);
    std::string batch_id = k.substr(8 + k_ulid_size);
    cluster_records r;
    r.scope = cluster_batch_scope(brand, connection, batch_id);
    r.records.push_back({column::ai_batches, k, v});
    auto stored = log.append_records(r, 0);
    if (!stored && stored.err().code == domain::errc::beaten) {
      ++out.batches_skipped;
      continue;
    }
    if (!stored) return std::move(stored).err();
    ++out.batches;
  }
  return out;
}

}  // namespace referrald::cluster
