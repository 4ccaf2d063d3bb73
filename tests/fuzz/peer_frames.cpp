// Fuzz target: a peer link's connection read as the link reads it (cluster/peer_frames.hpp,
// the grammar in cluster/peer_link.hpp). The first byte says which side reads (bit 0: a
// sender reading an owner's replies; otherwise an owner reading a hello, then requests) and
// in what pieces the bytes after it arrive (1 to 128 bytes at a time). Frames are cut under
// the bound of the connection's state (512 bytes before a hello is read, 256 MiB after) and
// each payload is read as its kind says. Every frame read, and every hello, request and
// answer read from one, must make again the bytes it was read from; an input that the link
// would end the connection on ends the run.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/peer_frames.hpp"

using namespace referrald::cluster;

namespace {

void same(const std::string& made, std::string_view read) {
  if (made != read) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool sender = (data[0] & 1) != 0;
  const std::size_t piece = (data[0] >> 1) + 1u;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool hello_read = false;
  std::string in;
  while (!rest.empty()) {
    std::size_t n = rest.size() < piece ? rest.size() : piece;
    in.append(rest.substr(0, n));
    rest.remove_prefix(n);
    std::size_t at = 0;
    for (;;) {
      peer_frames::frame f;
      std::size_t used = 0;
      auto max = sender || hello_read ? peer_frames::k_max_frame : peer_frames::k_max_hello;
      auto st = peer_frames::next(std::string_view(in).substr(at), max, f, used);
      if (st == peer_frames::step::partial) break;
      if (st == peer_frames::step::invalid) return 0;
      if (used < peer_frames::k_head || used > in.size() - at) std::abort();
      std::string_view whole = std::string_view(in).substr(at, used);
      at += used;
      same(peer_frames::make(f.kind, f.id, f.payload), whole);
      if (sender) {
        if (f.kind == 'A') {
          auto a = peer_frames::read_answer(f.payload);
          if (!a) return 0;
          same(peer_frames::answer(f.id, a->applied, a->response), whole);
        } else if (f.kind != 'T' && f.kind != 'W' && f.kind != 'R' && f.kind != 'X') {
          return 0;
        }
      } else if (!hello_read) {
        if (f.kind != 'H') return 0;
        auto h = peer_frames::read_hello(f.payload);
        if (!h) return 0;
        if (f.id == 0) same(peer_frames::hello(h->owner, h->secret), whole);
        hello_read = true;
      } else {
        if (f.kind != 'Q') return 0;
        auto q = peer_frames::read_request(f.payload);
        if (!q) return 0;
        if (!peer_frames::request_fits(q->remote.size(), q->http.size())) std::abort();
        same(peer_frames::request(f.id, q->remote, q->http), whole);
      }
    }
    in.erase(0, at);
  }
  return 0;
}
