#include "cluster/record_publisher.hpp"

#include "infra/thread_name.hpp"

namespace referrald::cluster {

using store::write_batch;

record_publisher::record_publisher(cluster_log& log, std::size_t threads) : log_(log) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      infra::name_thread("records.publish");
      run();
    });
}

record_publisher::~record_publisher() { stop(); }

void record_publisher::submit(cluster_records records, std::optional<std::uint64_t> expected,
                              done_fn done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queued_.push_back(job{std::move(records), expected, std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(domain::make_error(domain::errc::unavailable, "the server is stopping"));
}

cluster_records records_of(std::string scope, const write_batch& batch) {
  cluster_records records;
  records.scope = std::move(scope);
  records.records.reserve(batch.size());
  batch.for_each([&](const write_batch::op& op) {
    records.records.push_back(cluster_record{op.cf, std::string(op.key), std::string(op.value)});
  });
  return records;
}

void record_publisher::submit(std::string scope, const write_batch& batch,
                              std::optional<std::uint64_t> expected, done_fn done) {
  submit(records_of(std::move(scope), batch), expected, std::move(done));
}

void record_publisher::when_applied(std::uint64_t seq, done_fn done) {
  {
    std::lock_guard lock(mu_);
    if (seq > applied_ && !stopping_) {
      waiting_.add(seq, std::move(done));
      return;
    }
  }
  done(seq);
}

void record_publisher::applied(std::uint64_t seq) {
  std::vector<done_fn> ready;
  {
    std::lock_guard lock(mu_);
    applied_ = std::max(applied_, seq);
    ready = waiting_.take_through(applied_);
  }
  for (auto& done : ready)
    done(seq);
}

void record_publisher::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto next = queued_.end();
    cv_.wait(lock, [&] {
      if (stopping_) return true;
      // The first write of a scope with none in flight: a scope's writes keep their order.
      std::set<std::string> passed;
      for (auto it = queued_.begin(); it != queued_.end(); ++it) {
        if (!busy_.contains(it->records.scope) && !passed.contains(it->records.scope)) {
          next = it;
          return true;
        }
        passed.insert(it->records.scope);
      }
      return false;
    });
    if (stopping_) return;
    job j = std::move(*next);
    queued_.erase(next);
    busy_.insert(j.records.scope);
    lock.unlock();
    auto stored = log_.append_records(j.records, j.expected);
    lock.lock();
    busy_.erase(j.records.scope);
    cv_.notify_all();
    if (stored && *stored > applied_ && !stopping_) {
      waiting_.add(*stored, std::move(j.done));
      continue;
    }
    lock.unlock();
    j.done(stored);
    lock.lock();
  }
}

void record_publisher::stop() {
  std::vector<done_fn> failed;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& j : queued_)
      failed.push_back(std::move(j.done));
    queued_.clear();
    for (auto& done : waiting_.take_all())
      failed.push_back(std::move(done));
    cv_.notify_all();
  }
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  for (auto& done : failed)
    done(domain::make_error(domain::errc::unavailable, "the server is stopping"));
}

}  // namespace referrald::cluster
