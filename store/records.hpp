#pragma once

// A record of any column but events and snapshots, checked the way its column's reader
// reads it (key_store, ai_store, admin_audit): for records written elsewhere than this
// process (another node of a cluster) before they join the store, so that the store never
// holds one its readers refuse.

#include <string_view>

#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

// Ok when the record of `cf` under `key` reads as its column's reader reads it: an API key,
// a connection, an AI-referral row or batch record, or an admin audit entry (the metadata
// under "audit."). Anything else is refused: events and snapshots are never records, and
// other metadata may be a newer release's. A value in a version past the newest this
// release reads is refused as a newer release's (k_newer_release).
domain::status check_record(column cf, std::string_view key, std::string_view value);

}  // namespace referrald::store
