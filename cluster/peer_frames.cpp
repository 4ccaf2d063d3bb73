#include "cluster/peer_frames.hpp"

#include "domain/base/codec.hpp"

namespace referrald::cluster::peer_frames {

step next(std::string_view in, std::uint32_t max, frame& out, std::size_t& used) {
  codec::reader r(in);
  std::uint32_t len = 0;
  if (!r.fixed32(len)) return step::partial;
  if (len < 9 || len > max) return step::invalid;
  if (r.remaining() < len) return step::partial;
  std::uint8_t kind = 0;
  r.u8(kind);
  r.fixed64(out.id);
  r.bytes(len - 9, out.payload);
  out.kind = static_cast<char>(kind);
  used = 4 + std::size_t{len};
  return step::complete;
}

std::string make(char kind, std::uint64_t id, std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(k_head + a.size() + b.size());
  codec::put_fixed32(out, static_cast<std::uint32_t>(9 + a.size() + b.size()));
  out += kind;
  codec::put_fixed64(out, id);
  out += a;
  out += b;
  return out;
}

std::string hello(std::string_view owner, std::string_view secret) {
  std::string text(k_version);
  text += ' ';
  text += owner;
  text += ' ';
  text += secret;
  return make('H', 0, text);
}

std::optional<hello_fields> read_hello(std::string_view payload) {
  auto sp1 = payload.find(' ');
  if (sp1 == std::string_view::npos || payload.substr(0, sp1) != k_version) return std::nullopt;
  auto sp2 = payload.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return std::nullopt;
  return hello_fields{payload.substr(sp1 + 1, sp2 - sp1 - 1), payload.substr(sp2 + 1)};
}

bool request_fits(std::size_t remote, std::size_t http) {
  return remote <= k_max_remote && http <= k_max_frame - 11 - remote;
}

std::string request(std::uint64_t id, std::string_view remote, std::string_view http) {
  std::string head;
  head += static_cast<char>(remote.size() & 0xff);
  head += static_cast<char>((remote.size() >> 8) & 0xff);
  head += remote;
  return make('Q', id, head, http);
}

std::optional<request_fields> read_request(std::string_view payload) {
  codec::reader r(payload);
  std::uint8_t low = 0, high = 0;
  request_fields f;
  if (!r.u8(low) || !r.u8(high) || !r.bytes(std::size_t{low} | std::size_t{high} << 8, f.remote)) {
    return std::nullopt;
  }
  f.http = r.rest();
  return f;
}

std::string answer(std::uint64_t id, std::uint64_t applied, std::string_view response) {
  std::string head;
  codec::put_fixed64(head, applied);
  return make('A', id, head, response);
}

std::optional<answer_fields> read_answer(std::string_view payload) {
  codec::reader r(payload);
  answer_fields f;
  if (!r.fixed64(f.applied)) return std::nullopt;
  f.response = r.rest();
  return f;
}

}  // namespace referrald::cluster::peer_frames
