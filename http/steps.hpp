#pragma once

// The steps of the request chain (http/chain.hpp), each made in the file of what it
// decides; make_chain puts them in order.

#include <memory>

#include "http/chain.hpp"

namespace referrald::http {

std::unique_ptr<step> make_request_id_step();                              // http/request_id.cpp
std::unique_ptr<step> make_routing_step(const chain_parts& parts);         // http/router.cpp
std::unique_ptr<step> make_authentication_step(const chain_parts& parts);  // authentication.cpp
std::unique_ptr<step> make_publishable_step(const chain_parts& parts);     // http/publishable.cpp
std::unique_ptr<step> make_cors_step(const chain_parts& parts);            // http/cors.cpp
std::unique_ptr<step> make_rate_limit_step(const chain_parts& parts);      // http/rate_limit.cpp
std::unique_ptr<step> make_body_step();                                    // http/chain.cpp
std::unique_ptr<step> make_query_step();                                   // http/query.cpp
std::unique_ptr<step> make_tenant_step();                                  // http/tenant.cpp
std::unique_ptr<step> make_owners_step(const chain_parts& parts);          // http/forwarding.cpp
std::unique_ptr<step> make_members_step(const chain_parts& parts);         // http/forwarding.cpp
std::unique_ptr<step> make_idempotency_step(const chain_parts& parts);     // http/idempotency.cpp
std::unique_ptr<step> make_entity_tag_step();                              // http/entity_tag.cpp
std::unique_ptr<step> make_handler_step(const chain_parts& parts);         // http/handler_step.cpp

}  // namespace referrald::http
