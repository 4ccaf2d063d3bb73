#pragma once

// The frames of a peer link (cluster/peer_link.hpp, where their grammar is written), made and
// read with no socket: the link reads its connections through these, and so do the tests and
// the fuzz target.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace referrald::cluster::peer_frames {

constexpr std::string_view k_version = "referrald-peer/1";
// What precedes a frame's payload: its length (4 bytes), kind (1) and id (8).
constexpr std::size_t k_head = 13;
// A frame larger than this ends the connection: no request or answer comes near it (a sender
// sends a larger request over NATS instead).
constexpr std::uint32_t k_max_frame = 256u << 20;
// Before its hello is accepted a connection's frames are at most this: a hello is a version,
// a node's name (at most 64 characters) and a secret of 64 digits.
constexpr std::uint32_t k_max_hello = 512;
// The longest client address a request carries.
constexpr std::size_t k_max_remote = 0xffff;

struct frame {
  char kind = 0;
  std::uint64_t id = 0;
  std::string_view payload;
};

// The frame at the start of `in`, whose length may be at most `max`: `complete` with the frame
// in `out` and its size in `used` (its payload points into `in`); `partial` when `in` holds
// less than one frame; `invalid` when its length is under 9 or over `max`.
enum class step { complete, partial, invalid };
step next(std::string_view in, std::uint32_t max, frame& out, std::size_t& used);

// A frame of `kind` and `id` whose payload is `a` followed by `b`.
std::string make(char kind, std::uint64_t id, std::string_view a = {}, std::string_view b = {});

// 'H': "referrald-peer/1 <owner> <secret>".
std::string hello(std::string_view owner, std::string_view secret);
struct hello_fields {
  std::string_view owner;
  std::string_view secret;
};
// Empty when the payload is not a hello of version 1 (the owner is one word; the secret is
// everything after it and may be empty).
std::optional<hello_fields> read_hello(std::string_view payload);

// 'Q': the client's address and the HTTP/1.1 request, when they fit: a remote of at most
// k_max_remote bytes in a frame of at most k_max_frame. A request that does not fit is not
// sent over a link.
bool request_fits(std::size_t remote, std::size_t http);
std::string request(std::uint64_t id, std::string_view remote, std::string_view http);
struct request_fields {
  std::string_view remote;
  std::string_view http;
};
std::optional<request_fields> read_request(std::string_view payload);

// 'A': the stream sequence the owner had applied, and the HTTP/1.1 response.
std::string answer(std::uint64_t id, std::uint64_t applied, std::string_view response);
struct answer_fields {
  std::uint64_t applied = 0;
  std::string_view response;
};
std::optional<answer_fields> read_answer(std::string_view payload);

}  // namespace referrald::cluster::peer_frames
