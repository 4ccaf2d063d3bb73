#pragma once

// The owners step (http/chain.hpp; docs/cluster.md "Owners"): in cluster mode a write of
// an account or a brand another node owns is sent to that node as the bytes of an HTTP
// request (cluster/cluster_forward.hpp), and its answer comes back as the bytes of an HTTP
// response. These are the two encodings, and the step (make_owners_step) that
// forwards. The members step (make_members_step) sends a read of every node's part (a
// route_spec::from_every_node route: insights) the same way to every other live node.

#include <optional>
#include <string>
#include <string_view>

#include "http/exchange.hpp"
#include "http/response.hpp"

namespace referrald::http {

// The request as the owner reads it: the client's header fields without those of this
// connection, `request_id` as X-Request-Id, and the body with its length.
std::string encode_forwarded_request(const exchange& ex, const std::string& request_id);

// The owner's answer: a status line, header fields, a blank line and the body.
std::string encode_forwarded_answer(const response& r);

// The answer read back (marked `forwarded`); nullopt when the bytes are not one.
std::optional<response> decode_forwarded_answer(std::string_view bytes);

}  // namespace referrald::http
