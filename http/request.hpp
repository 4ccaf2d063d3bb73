#pragma once

// What a handler sees of a request, and how it answers.
//
// A handler runs on an I/O thread and must not block. It either returns a response at
// once (validation errors, static answers) or returns nullopt after handing the request
// to an actor, whose answer later arrives on the actor's thread: the handler's reply
// callback moves it to the session's executor (`on_session`) before building the
// response, and `respond` completes it there (the session keeps the request timeout).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/runtime.hpp"
#include "domain/auth/api_key.hpp"
#include "http/query.hpp"
#include "http/response.hpp"
#include "http/tenant.hpp"

namespace referrald::http {

enum class method : std::uint8_t { get, post, patch, put, del, head, options, other };

std::string_view to_string(method m);

class http_metrics;
class compute_pool;
class rate_limiter;

// The body of a streamed answer (response::streamed), as its producer makes it: handed to
// the session that sends it. Thread-safe, in order; ignored once the session gave up on the
// request.
class answer_stream {
 public:
  enum class end { more, done, failed };

  virtual ~answer_stream() = default;

  // `bytes` to send, then `how` done (the answer is complete) or failed (the connection is
  // closed without the end of the body, so that the client sees it cut short).
  virtual void send(std::string bytes, end how) = 0;

  // Backpressure: a producer stops making its answer while backed_up() (more than `backlog`
  // bytes it sent wait to be written to a slow reader) and hands when_drained() what
  // resumes it, which runs on the session's executor once half of that has been written
  // (or never, when the client leaves: it is then dropped).
  static constexpr std::size_t backlog = 4u << 20;
  virtual bool backed_up() const = 0;
  virtual void when_drained(std::function<void()> resume) = 0;
};

struct request_ctx {
  method verb = method::get;
  std::string_view path;
  query_params query;
  std::vector<std::string> params;  // decoded path parameters, in pattern order
  // The account or brand the request names (the tenant step's; null outside a server).
  const tenant* named = nullptr;
  std::string_view body;
  // The body's storage, which a handler may parse in place (it lives until the response
  // has been written).
  std::string* body_storage = nullptr;
  std::string_view content_type;
  // The authenticated caller; `keys` keeps the table that owns it alive.
  const domain::api_key* key = nullptr;
  std::shared_ptr<const domain::key_table> keys;
  actors::runtime* runtime = nullptr;
  const domain::clock* clock = &domain::system_clock();  // the server's
  const http_metrics* metrics = nullptr;
  compute_pool* compute = nullptr;  // CPU-heavy work goes there, not on the I/O thread
  // Answers the request: thread-safe; from the session's own executor it completes at
  // once, from any other thread it is posted there.
  std::function<void(response)> respond;
  // The rest of a `streamed` answer, on a route that streams (route::streams); null on
  // any other.
  std::shared_ptr<answer_stream> stream;
  // Runs `work` on the session's executor (posted; thread-safe). An actor's answer is
  // moved there before anything is built from it, so that no HTTP work runs on an actor
  // or store thread.
  std::function<void(std::function<void()>)> on_session;
  // When the session stops waiting and answers 503: work done for this request (batch
  // resolution) stops by then too.
  std::chrono::steady_clock::time_point deadline;
  // The If-Match header ("" when absent): a write to one object is refused with 412 unless
  // it names the object's current ETag (or "*").
  std::string_view if_match;
  std::string request_id;
  // The caller's rate-limit bucket, when limits are on: a push or a batch resolution is
  // charged for its rows or visits beyond the first (charge_rows).
  rate_limiter* limiter = nullptr;
  std::shared_ptr<std::atomic<std::int64_t>> rate_bucket;
  // A route answered from every node's part (route_spec::from_every_node). `part_only`: this
  // request was relayed here by another node, for this node's part. Otherwise, in cluster
  // mode, `node` is this node's name and `parts` the other live nodes' answers (nullopt: no
  // answer in time).
  bool part_only = false;
  std::string node;
  struct node_part {
    std::string node;
    std::optional<response> answer;
  };
  std::vector<node_part> parts;
};

// Charges the caller's rate-limit bucket (`limiter` null: limits are off) for `units` (rows,
// visits) of which the request's own token paid one.
void charge_rows(rate_limiter* limiter, const std::shared_ptr<std::atomic<std::int64_t>>& bucket,
                 std::size_t units);

using handler = std::optional<response> (*)(request_ctx&);

}  // namespace referrald::http
