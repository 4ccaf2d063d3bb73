#pragma once

// A TCP proxy for fault injection: listens on a free loopback port (port()) and forwards each
// connection it accepts to 127.0.0.1:target_port. What it does with the bytes is set, at any
// time, by pass(), delay(), drop() and cut().
//
// Threads: one I/O thread of its own, started by the constructor and joined by the
// destructor; every connection lives on it. The public calls may be made from any thread
// (not concurrently with the destructor). The mode calls are synchronous: when one returns,
// the I/O thread has applied the new mode to every open connection, and every connection
// accepted afterwards gets it too.
//
// Bounds: at most max_connections open connections (one more is accepted and closed at
// once); at most max_queued bytes held per direction of a connection (past that, reading
// from that side waits until the queue drains); only loopback addresses.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace referrald::testing {

class fault_proxy {
 public:
  static constexpr std::size_t max_connections = 256;
  static constexpr std::size_t max_queued = 1 << 20;

  // A snapshot; each field counts since construction except `open`. Bytes are counted when
  // their write has completed, which the reading peer may see a moment before stats() does.
  struct counters {
    std::uint64_t accepted = 0;           // connections accepted, refused ones included
    std::uint64_t refused = 0;            // accepted and closed at once (cut, or the limit)
    std::uint64_t open = 0;               // connections open now
    std::uint64_t bytes_to_target = 0;    // written to the target's side
    std::uint64_t bytes_from_target = 0;  // written to the connecting side
    std::uint64_t bytes_discarded = 0;    // read while dropped, or queued when drop() began
  };

  // Listens at once (the port is bound before the constructor returns) and starts in
  // pass(). Throws std::system_error when it cannot listen or start its thread.
  explicit fault_proxy(std::uint16_t target_port);
  // Closes every connection and the listener, and joins the I/O thread.
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  // The loopback port it listens on.
  std::uint16_t port() const { return port_; }
  std::uint16_t target_port() const { return target_port_; }

  // Forwards bytes both ways as they come (the default). Bytes a delay() still holds go
  // out at once, in order. A half-close (EOF from one side) is forwarded as one.
  void pass();
  // Forwards bytes both ways, each chunk read leaving no sooner than `d` after it was read
  // (order kept in each direction). A held chunk's time is measured against the delay in
  // force when it is due, so a new delay() applies to bytes already held as well.
  void delay(std::chrono::milliseconds d);
  // A silent link, as in a network partition: connections stay open, and new ones are
  // accepted and connected to the target, but every byte read from either side, and every
  // byte held for a side and not yet written, is discarded; no EOF is forwarded either.
  // When pass() or delay() ends the partition, each connection that discarded bytes is
  // closed on both sides (its byte streams have a gap no TCP peer would accept, so it ends
  // as a connection that timed out during a partition would); the others go on.
  void drop();
  // Closes every open connection on both sides, and from then on closes each new one as
  // soon as it is accepted, until pass() or delay().
  void cut();

  counters stats() const;

 private:
  struct impl;
  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  std::unique_ptr<impl> impl_;
};

}  // namespace referrald::testing
