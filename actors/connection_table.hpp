#pragma once

// The immutable table of AI-referral connections the connections actor publishes after
// every durable change (actors/connections_actor.hpp); read by request handling and the
// ingest pool on any thread. No CAF here.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ai/connection.hpp"

namespace referrald::actors {

// Every connection by brand and id, deleted ones included (reports still name them).
class connection_table {
 public:
  connection_table() = default;
  explicit connection_table(const std::vector<domain::connection>& all);

  // The connection of the brand, active or deleted, or nullptr.
  const domain::connection* find(std::int64_t brand_id, std::string_view id) const;
  // The brand's connections, deleted ones included, oldest first (ULIDs sort by creation
  // time).
  std::vector<const domain::connection*> of_brand(std::int64_t brand_id) const;

 private:
  std::map<std::int64_t, std::map<std::string, domain::connection, std::less<>>> by_brand_;
};

using connection_table_publisher = std::function<void(std::shared_ptr<const connection_table>)>;

}  // namespace referrald::actors
