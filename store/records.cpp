#include "store/records.hpp"

#include <string>

#include "store/admin_audit.hpp"
#include "store/ai_store.hpp"
#include "store/key_store.hpp"

namespace referrald::store {

domain::status check_record(column cf, std::string_view key, std::string_view value) {
  switch (cf) {
    case column::keys:
      if (auto k = decode_key_record(key, value); !k) return std::move(k).err();
      return {};
    case column::connections:
      if (auto c = decode_connection_record(key, value); !c) return std::move(c).err();
      return {};
    case column::ai_rows: {
      stored_ai_row row;
      return decode_row_record(key, value, row);
    }
    case column::ai_batches:
      if (auto b = decode_batch_record(value); !b) return std::move(b).err();
      return {};
    case column::meta:
      if (key.starts_with(admin_audit::k_prefix)) return admin_audit::check_entry(key, value);
      return domain::make_error(domain::errc::store_corrupted,
                                "the metadata " + std::string(key) +
                                    " is not a record this release knows (" +
                                    std::string(k_newer_release) + "?)");
    case column::events:
    case column::snapshots:
      break;
  }
  return domain::make_error(domain::errc::store_corrupted,
                            "records never write " + std::string(column_name(cf)));
}

}  // namespace referrald::store
