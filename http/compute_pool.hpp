#pragma once

// The threads that do CPU-heavy request work (batch resolution) off the I/O threads,
// fairly between accounts.
//
// Work comes as jobs made of steps: a step does a bounded amount of work (a slice of a
// batch, a few milliseconds) and says whether the job is done. Jobs are queued per
// tenant (account); tenants with work take turns, one step at a time, so an account that
// sends many large or costly batches delays another account's batch by at most one step
// per thread, never by its whole backlog. A tenant's jobs start in arrival order; several
// of them may run at once on different threads (a tenant alone uses every thread).
//
// Thread-safe. A step runs on a pool thread and must not block; it answers its request
// through the request's respond callback, which is thread-safe. A job that throws is
// logged and dropped (its request then times out with 503).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace referrald::http {

class compute_pool {
 public:
  // Returns true when the job is complete, false to be called again later.
  using step_fn = std::function<bool()>;

  explicit compute_pool(std::size_t threads);  // 0: one per core
  ~compute_pool();
  compute_pool(const compute_pool&) = delete;
  compute_pool& operator=(const compute_pool&) = delete;

  void submit(const std::string& tenant, step_fn job);

  // Finishes the steps running now, drops queued jobs and joins the threads. Idempotent.
  void stop();

 private:
  struct tenant_queue {
    std::deque<step_fn> ready;  // jobs waiting for a thread (a started one goes first)
    std::size_t running = 0;    // steps of this tenant on threads now
    bool in_turns = false;      // queued in turns_
  };
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, tenant_queue> tenants_;
  std::deque<std::string> turns_;  // tenants with a job ready, in turn order
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace referrald::http
