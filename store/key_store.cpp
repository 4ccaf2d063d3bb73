#include "store/key_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include "domain/base/codec.hpp"
#include "store/db_internal.hpp"

namespace referrald::store {

namespace {

constexpr char k_key_version = 2;
constexpr char k_key_version_json = 1;

std::string key_for(std::int64_t id) {
  std::string k;
  codec::put_fixed64_be(k, static_cast<std::uint64_t>(id));
  return k;
}

}  // namespace

domain::result<domain::api_key> decode_key_record(std::string_view key, std::string_view value) {
  if (value.empty() || (value[0] != k_key_version && value[0] != k_key_version_json)) {
    unsigned version = value.empty() ? 0 : static_cast<unsigned char>(value[0]);
    if (version > static_cast<unsigned>(k_key_version)) {
      return domain::make_error(domain::errc::store_corrupted,
                                "a stored API key was " + std::string(k_newer_release) +
                                    " (version " + std::to_string(version) + ")");
    }
    return domain::make_error(domain::errc::internal, "stored API key has an unknown version");
  }
  auto k = domain::decode_stored_key(value.substr(1), value[0] == k_key_version);
  if (!k) return k;
  if (key != key_for(k->id)) {
    return domain::make_error(domain::errc::internal,
                              "stored API key " + std::to_string(k->id) + " is not under its id");
  }
  return k;
}

domain::result<std::vector<domain::api_key>> key_store::load_all() const {
  std::vector<domain::api_key> keys;
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::keys) == nullptr) return keys;
  std::unique_ptr<rocksdb::Iterator> it(
      in.rdb->NewIterator(rocksdb::ReadOptions(), in.cf(column::keys)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto k = decode_key_record(std::string_view(it->key().data(), it->key().size()),
                               std::string_view(it->value().data(), it->value().size()));
    if (!k) return std::move(k).err();
    keys.push_back(std::move(*k));
  }
  if (!it->status().ok()) return to_error(it->status(), "reading API keys");
  return keys;
}

void key_store::put(write_batch& batch, const domain::api_key& k) const {
  std::string value(1, k_key_version);
  value += domain::encode_stored_key(k);
  batch.put(column::keys, key_for(k.id), std::move(value));
}

domain::result<domain::api_key> create_key_offline(db& d, const domain::api_key_request& req,
                                                   const std::string& secret) {
  key_store ks(d);
  auto all = ks.load_all();
  if (!all) return std::move(all).err();
  domain::api_key k;
  k.id = all->empty() ? 1 : all->back().id + 1;
  k.name = req.name;
  k.role = req.role;
  k.grants = req.grants;
  k.created_at = domain::now_ms();
  k.secret_digest = domain::sha256(secret);
  write_batch b;
  ks.put(b, k);
  if (auto st = d.write(b, true); !st) return std::move(st).err();
  return k;
}

}  // namespace referrald::store
