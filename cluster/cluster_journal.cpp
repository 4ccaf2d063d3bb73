#include "cluster/cluster_journal.hpp"

#include <utility>

#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_committer.hpp"
#include "cluster/cluster_log.hpp"
#include "cluster/record_publisher.hpp"
#include "store/event_log.hpp"

namespace referrald::cluster {

using interfaces::journal;
using store::column;
using store::event_log;
using store::write_batch;

namespace {

domain::status status_of(const domain::result<std::uint64_t>& r) {
  return r ? domain::status{} : domain::status(r.err());
}

class cluster_journal final : public journal {
 public:
  cluster_journal(cluster_log& stream, cluster_committer& committer, record_publisher& records,
                  const cluster_cache& cache, const event_log& copy)
      : stream_(stream), committer_(committer), records_(records), cache_(cache), copy_(copy) {}

  bool shared() const override { return true; }

  domain::result<std::uint64_t> position(const std::string& account) const override {
    return cache_.stream_head(account);
  }
  domain::result<std::uint64_t> head(const std::string& account) const override {
    return copy_.head(account);
  }
  domain::status replay(const std::string& account, std::uint64_t from,
                        const std::function<bool(const domain::event&)>& fn) const override {
    return copy_.replay(account, from, fn);
  }
  void append(const std::string& account, std::uint64_t first_seq, std::vector<std::string> values,
              done_fn done) override {
    committer_.submit(
        account, first_seq, std::move(values),
        [done = std::move(done)](const domain::result<std::uint64_t>& r) { done(status_of(r)); });
  }
  std::optional<std::uint64_t> beaten_at(const std::string& account) override {
    return committer_.beaten_at(account);
  }
  void resume(const std::string& account, std::uint64_t position) override {
    committer_.reset(account, position);
  }

  domain::result<std::uint64_t> scope_position(const std::string& scope) const override {
    return cache_.scope_head(scope);
  }
  void append_records(std::string scope, const write_batch& batch, std::uint64_t expected,
                      done_fn done) override {
    records_.submit(
        std::move(scope), batch, expected,
        [done = std::move(done)](const domain::result<std::uint64_t>& r) { done(status_of(r)); });
  }

  domain::result<claim> claimed(const std::string& scope, column cf,
                                const std::string& key) override {
    auto last = stream_.last_records(scope);
    if (!last) return std::move(last).err();
    claim out;
    if (!last->has_value()) return out;
    out.position = (*last)->stream_seq;
    for (auto& r : (*last)->records) {
      if (r.cf == cf && r.key == key) out.value = std::move(r.value);
    }
    return out;
  }
  domain::status store(std::string scope, write_batch batch, std::optional<std::uint64_t> expected,
                       done_fn done) override {
    auto stored = stream_.append_records(records_of(std::move(scope), batch), expected);
    if (!stored && stored.err().code == domain::errc::beaten) return std::move(stored).err();
    if (!stored) {
      done(stored.err());
      return {};
    }
    records_.when_applied(
        *stored,
        [done = std::move(done)](const domain::result<std::uint64_t>& r) { done(status_of(r)); });
    return {};
  }

 private:
  cluster_log& stream_;
  cluster_committer& committer_;
  record_publisher& records_;
  const cluster_cache& cache_;
  const event_log& copy_;
};

}  // namespace

std::unique_ptr<journal> make_cluster_journal(cluster_log& stream, cluster_committer& committer,
                                              record_publisher& records, const cluster_cache& cache,
                                              const event_log& copy) {
  return std::make_unique<cluster_journal>(stream, committer, records, cache, copy);
}

}  // namespace referrald::cluster
