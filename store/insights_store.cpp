#include "store/insights_store.hpp"

#include "domain/base/codec.hpp"

namespace referrald::store {

namespace {

constexpr std::string_view k_prefix = "insights.";
constexpr std::string_view k_end = "insights/";  // '/' follows '.'

std::string account_start(const std::string& account) {
  std::string k(k_prefix);
  k += account;
  k.push_back('\0');
  return k;
}

std::string day_key(const std::string& account, std::int64_t day) {
  std::string k = account_start(account);
  codec::put_fixed64_be(k, static_cast<std::uint64_t>(day < 0 ? 0 : day));
  return k;
}

}  // namespace

domain::status load_insights(const db& store, domain::insights_book& book, std::size_t& skipped) {
  return store.scan(column::meta, k_prefix, k_end, [&](std::string_view key, std::string_view v) {
    auto rest = key.substr(k_prefix.size());
    auto zero = rest.find('\0');
    if (zero == std::string_view::npos || rest.size() != zero + 9) {
      ++skipped;
      return true;
    }
    auto day = domain::decode_day(v);
    if (!day ||
        day->day != static_cast<std::int64_t>(codec::get_fixed64_be(rest.data() + zero + 1))) {
      ++skipped;
      return true;
    }
    book.restore(std::string(rest.substr(0, zero)), std::move(*day));
    return true;
  });
}

domain::status save_insights(db& store, const domain::insights_book& book,
                             const std::vector<std::pair<std::string, std::int64_t>>& changed,
                             const std::vector<std::pair<std::string, std::int64_t>>& gone) {
  write_batch batch;
  for (const auto& [account, day] : changed) {
    if (const auto* d = book.day(account, day)) {
      batch.put(column::meta, day_key(account, day), domain::encode_day(*d));
    }
  }
  for (const auto& [account, day] : gone)
    batch.erase(column::meta, day_key(account, day));
  if (batch.empty()) return {};
  return store.write(batch, db::durability::logged);
}

domain::status erase_insights(db& store, const std::string& account) {
  write_batch batch;
  auto from = account_start(account);
  std::string until = from;
  until.back() = '\x01';
  auto st = store.scan(column::meta, from, until, [&](std::string_view key, std::string_view) {
    batch.erase(column::meta, key);
    return true;
  });
  if (!st) return st;
  if (batch.empty()) return {};
  return store.write(batch, db::durability::logged);
}

}  // namespace referrald::store
