#include "http/compute_pool.hpp"

#include <exception>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::http {

compute_pool::compute_pool(std::size_t threads) {
  if (threads == 0) threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      infra::name_thread("compute");
      run();
    });
}

compute_pool::~compute_pool() { stop(); }

void compute_pool::submit(const std::string& tenant, step_fn job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    auto& q = tenants_[tenant];
    q.ready.push_back(std::move(job));
    if (!q.in_turns) {
      q.in_turns = true;
      turns_.push_back(tenant);
    }
  }
  cv_.notify_one();
}

void compute_pool::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  tenants_.clear();
}

void compute_pool::run() {
  for (;;) {
    std::string tenant;
    step_fn job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
      if (stopping_) return;
      tenant = std::move(turns_.front());
      turns_.pop_front();
      auto& q = tenants_[tenant];
      job = std::move(q.ready.front());
      q.ready.pop_front();
      ++q.running;
      // The tenant's next job may go to another thread, after the other tenants' turns.
      q.in_turns = !q.ready.empty();
      if (q.in_turns) turns_.push_back(tenant);
    }
    bool done = true;
    try {
      done = job();
    } catch (const std::exception& e) {
      infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error,
                 std::string("a compute job failed with an exception: ") + e.what());
    } catch (...) {
      infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error, "a compute job failed with an exception");
    }
    {
      std::lock_guard lock(mu_);
      auto it = tenants_.find(tenant);
      if (it == tenants_.end()) continue;  // stopped meanwhile
      auto& q = it->second;
      --q.running;
      if (!done) q.ready.push_front(std::move(job));  // the same job goes on next turn
      if (!q.ready.empty() && !q.in_turns) {
        q.in_turns = true;
        turns_.push_back(tenant);  // after every other tenant waiting now
      } else if (q.ready.empty() && q.running == 0) {
        tenants_.erase(it);
      }
    }
    cv_.notify_one();
  }
}

}  // namespace referrald::http
