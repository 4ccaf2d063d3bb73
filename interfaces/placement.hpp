#pragma once

// Placement: where a write goes, and how it is relayed there (docs/cluster.md "Owners"), one
// interface whatever the deployment. The runtime makes it once (actors/runtime.cpp):
//
// - single node: every write is made here (make_local_placement below);
// - cluster: each scope of writes ("account/<id>", "brand/<id>") has an owner among the live
//   nodes (cluster/cluster_placement.hpp: membership and forwarding over NATS), and a write of
//   another node's scope is relayed to it as the bytes of an HTTP request, whose answer comes
//   back as the bytes of an HTTP response.
//
// Placement only routes: every write stays fenced in the journal, so two nodes that both
// believe they own a scope for a moment (a membership change on its way) write correctly.
// Every implementation passes the conformance suite tests/interfaces/placement_suite.hpp.
// Thread-safe; callbacks run on the placement's threads and must be quick.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace boost::asio {
class io_context;
}

namespace referrald::interfaces {

class placement {
 public:
  virtual ~placement() = default;

  // The other node that owns writes of `scope`, or nullopt: this node makes them (its own
  // scope, no owner known, or an owner that lately did not take a relayed write).
  virtual std::optional<std::string> owner_elsewhere(std::string_view scope) = 0;

  // This node's name among the nodes ("" for a single node), and the other live nodes as
  // this node last saw them (none for a single node): for a read that asks every node
  // (insights' counts, which each node keeps of what it resolved).
  virtual std::string self() = 0;
  virtual std::vector<std::string> others() = 0;

  // How a relayed write ended: answered (`response`, and the position of the journal the
  // owner had applied when it answered); not_taken (nothing ran: write here); timed_out
  // (taken, then silent: it may or may not have taken effect).
  enum class outcome { answered, not_taken, timed_out };
  struct relayed {
    outcome how = outcome::not_taken;
    std::string response;
    std::uint64_t applied = 0;
  };
  // Relays `request` (from the client at `remote`) to `node`: `done` once. `take_within`
  // bounds the wait for the owner to take it, `answer_within` its silence after that.
  virtual void relay(const std::string& node, std::string_view request, std::string_view remote,
                     std::chrono::milliseconds take_within, std::chrono::milliseconds answer_within,
                     std::function<void(relayed)> done) = 0;

  // A write another node relayed here, and how to answer it (once, from any thread; the
  // placement adds the position this node had applied).
  struct incoming {
    std::string request;
    std::string remote;
  };
  using answer_fn = std::function<void(std::string response)>;
  // Joins the nodes that own writes and takes the writes relayed to this node with `fn` (on
  // a thread of the placement's, or of one of `loops`: it must hand them off, and should
  // keep one on the loop it runs on there). A placement may read relayed writes and their
  // answers on `loops` (the HTTP threads' event loops, which must outlive it or its
  // close()) instead of threads of its own, so that no other thread is woken for them; it
  // then keeps work on them until close(). An error when it cannot join.
  using loops = std::vector<boost::asio::io_context*>;
  virtual domain::status serve(std::function<void(incoming, answer_fn)> fn, loops on) = 0;
  // Stops taking relayed writes and leaves the owners (the others own this node's scopes
  // from then on); relays in flight go on. May ask the cluster, so not on an I/O thread.
  // Idempotent.
  virtual void leave() = 0;
  // After leave(): every relay still waiting is answered not_taken at once, and later ones
  // too, and nothing of the placement's is left on the loops given to serve(). For the end
  // of serving, before what the relays' callbacks reach goes away.
  virtual void close() = 0;
};

// The placement of a single node: every write is made here.
class local_placement : public placement {
 public:
  std::optional<std::string> owner_elsewhere(std::string_view) override { return std::nullopt; }
  std::string self() override { return {}; }
  std::vector<std::string> others() override { return {}; }
  void relay(const std::string&, std::string_view, std::string_view, std::chrono::milliseconds,
             std::chrono::milliseconds, std::function<void(relayed)> done) override {
    done(relayed{});
  }
  domain::status serve(std::function<void(incoming, answer_fn)>, loops) override { return {}; }
  void leave() override {}
  void close() override {}
};

}  // namespace referrald::interfaces
