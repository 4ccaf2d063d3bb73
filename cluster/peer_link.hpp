#pragma once

// Writes sent to their owner over a TCP connection between two nodes (cluster mode,
// docs/cluster.md "Owners"): the same request, replies and outcomes as over NATS
// (cluster/cluster_forward.hpp), without the NATS servers on the way. Each node listens on
// its peer address and puts it in its members' value (cluster/cluster_membership.hpp); a
// node sends another node's writes over one connection to it from each loop it sends from
// (peer_options::loops), kept open, on which requests and their replies are told apart by an
// id of the sender's:
//
//   frame    := length (u32 LE: of what follows) kind (u8) id (u64 LE) payload
//   hello    := kind 'H', id 0, payload "referrald-peer/1 " owner " " secret: the first
//               frame of a connection (owner: the member name the sender expects to reach;
//               secret: the cluster's, cluster_membership::peer_secret()). An owner of
//               another name or secret answers kind 'X', id 0, payload: why, and closes.
//   request  := kind 'Q', payload: remote's length (u16 LE), remote (the client's
//               address), the HTTP/1.1 request as over NATS
//   replies  := 'T' taken, empty: before anything of the write runs;
//               'W' working, empty: every second while it runs;
//               'A' answer: applied (u64 LE: the stream sequence the owner had applied), the
//               HTTP/1.1 response as over NATS;
//               or 'R' not taken, empty: the owner is stopping, has not heard from its
//               NATS server within the last second, or has stopped applying the stream
//               (it could not store the write).
//
// The sender tells four outcomes apart: answered; not taken ('R', no 'T' within the take
// bound, or the connection lost before 'T': nothing ran, or — past the bound — it runs
// fenced as any write); timed out ('T' or 'W', then silence past the answer bound, or the
// connection lost after 'T': it may or may not have run); and unreachable (no connection
// could be made within the take bound, the hello was refused, or the request would make a
// frame over 256 MiB: nothing was sent, the sender forwards over NATS). A connection that lets a
// take bound pass without 'T' is sent nothing more (the next request opens a new one) and is closed
// once nothing waits on it. Before its hello is accepted, a connection's frames are at most 512
// bytes, and it is closed when no hello comes within 5 s. Frames are made and read by
// cluster/peer_frames.hpp.
//
// One thread of its own ("cluster.peer") accepts and times; each connection is read, connected
// and closed on one event loop, the link's own or one it was given (peer_options::loops); a
// frame is written at once from the thread that makes it when the connection has nothing
// queued.
// Thread-safe. Callbacks run on the link's thread or the caller's; they must be quick.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace boost::asio {
class io_context;
}

namespace referrald::cluster {

struct peer_options {
  std::string listen_host;        // an address of this machine (IPv4 or IPv6; 0.0.0.0, :: for all)
  std::uint16_t listen_port = 0;  // 0: any free port
  std::string node;               // this node's member name (the hello's owner)
  // Whether this node can take a write now (it heard from its NATS server lately, and still
  // applies the stream): a request is refused ('R') when not.
  std::function<bool()> linked;
  // Event loops run by other threads (the HTTP threads') on which connections are read and
  // written: accepted ones in turn, and a sender's on the loop of the thread that sends, so
  // that a request is read on the thread that serves it and an answer on the thread that
  // waits for it, and no other thread is woken for either. None: the link's own thread.
  // While a connection is open its loop has work: the link must be destroyed for the loops
  // to run out of it, and before they are.
  std::vector<boost::asio::io_context*> loops;
};

class peer_link {
 public:
  // Listens (bad_request naming the address when it cannot bind) and starts the thread.
  static domain::result<std::unique_ptr<peer_link>> open(peer_options o);
  ~peer_link();  // what still waits for a reply is told not_taken (timed_out when taken)
  peer_link(const peer_link&) = delete;
  peer_link& operator=(const peer_link&) = delete;

  // The address it listens on ("host:port"; an IPv6 host in brackets).
  std::string bound() const;

  // Takes requests with `fn`, checking hellos against `secret` (on the link's thread: `fn`
  // must hand them off). Until then a request is refused ('R') and connections are taken
  // only to be told so. `secret` also signs this node's own hellos.
  using answer_fn = std::function<void(std::string response, std::uint64_t applied)>;
  using serve_fn = std::function<void(std::string request, std::string remote, answer_fn)>;
  void serve(std::string secret, serve_fn fn);
  // Refuses ('R') every request from now on; those taken are still answered. Idempotent.
  void stop_serving();

  enum class outcome { answered, not_taken, timed_out, unreachable };
  struct result {
    outcome how = outcome::not_taken;
    std::string response;
    std::uint64_t applied = 0;
    // not_taken because nothing at all came back within the take bound on a connection that
    // was open: the link to this owner may be out of reach.
    bool silent = false;
  };
  // Sends `request` to the node `owner` at `address` ("host:port"): `done` once.
  void send(const std::string& address, const std::string& owner, std::string_view request,
            std::string_view remote, std::chrono::milliseconds take_within,
            std::chrono::milliseconds answer_within, std::function<void(result)> done);

 private:
  struct impl;
  explicit peer_link(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace referrald::cluster
