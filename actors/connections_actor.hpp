#pragma once

// The connections actor: the only writer of AI-referral connections. After every
// durable change it publishes an immutable connection_table, which request handling and
// the ingest pool read on any thread (a push to a connection that is not in the table
// as active for its brand is refused with 404).
//
// Interface:
//   connection_create_req{brand_id, request} -> connection (durable)
//   connection_delete_req{brand_id, id}      -> "" (durable) | not_found
//   commit_ack{ticket, ok, error}            -> (from the commit queue) completes writes

#include <caf/typed_actor.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/services.hpp"

namespace referrald::actors {

// Every connection by brand and id, deleted ones included (reports still name them).
class connection_table {
 public:
  connection_table() = default;
  explicit connection_table(const std::vector<domain::connection>& all);

  // The connection of the brand, active or deleted, or nullptr.
  const domain::connection* find(std::int64_t brand_id, std::string_view id) const;
  // The brand's active connections, oldest first (ULIDs sort by creation time).
  std::vector<const domain::connection*> active(std::int64_t brand_id) const;

 private:
  std::map<std::int64_t, std::map<std::string, domain::connection, std::less<>>> by_brand_;
};

using connections_actor =
    caf::typed_actor<caf::reacts_to<connection_create_req>, caf::reacts_to<connection_delete_req>,
                     caf::reacts_to<commit_ack>>;

using connection_table_publisher = std::function<void(std::shared_ptr<const connection_table>)>;

// `all` is every stored connection; `publish` is called with the initial table before
// this returns and after every durable change.
connections_actor spawn_connections_actor(caf::actor_system& sys,
                                          std::vector<domain::connection> all, services* svc,
                                          connection_table_publisher publish);

}  // namespace referrald::actors
