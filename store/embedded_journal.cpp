#include "store/embedded_journal.hpp"

#include <utility>

#include "store/commit_queue.hpp"
#include "store/event_log.hpp"

namespace referrald::store {

namespace {

// An account's events in the commit queue build on each other: one stream per account.
std::string account_stream(const std::string& account) { return "account:" + account; }

class embedded_journal final : public interfaces::journal {
 public:
  embedded_journal(db& d, const event_log& log, commit_queue& commits)
      : db_(d), log_(log), commits_(commits) {}

  bool shared() const override { return false; }

  domain::result<std::uint64_t> position(const std::string&) const override { return 0; }
  domain::result<std::uint64_t> head(const std::string& account) const override {
    return log_.head(account);
  }
  domain::status replay(const std::string& account, std::uint64_t from,
                        const std::function<bool(const domain::event&)>& fn) const override {
    return log_.replay(account, from, fn);
  }
  void append(const std::string& account, std::uint64_t first_seq, std::vector<std::string> values,
              done_fn done) override {
    write_batch batch;
    for (std::size_t i = 0; i < values.size(); ++i) {
      batch.put(column::events, encode_event_key(account, first_seq + i), std::move(values[i]));
    }
    commits_.submit(std::move(batch), std::move(done), account_stream(account));
  }
  std::optional<std::uint64_t> beaten_at(const std::string&) override { return std::nullopt; }
  void resume(const std::string& account, std::uint64_t) override {
    commits_.resume(account_stream(account));
  }

  domain::result<std::uint64_t> scope_position(const std::string&) const override { return 0; }
  // Their actor writes them one at a time: nothing to chain them on.
  void append_records(std::string, const write_batch& batch, std::uint64_t, done_fn done) override {
    commits_.submit(batch, std::move(done));
  }

  domain::result<claim> claimed(const std::string&, column cf, const std::string& key) override {
    auto v = db_.get(cf, key);
    if (!v) return std::move(v).err();
    claim out;
    out.value = std::move(*v);
    return out;
  }
  domain::status store(std::string, write_batch batch, std::optional<std::uint64_t>,
                       done_fn done) override {
    commits_.submit(std::move(batch), std::move(done));
    return {};
  }

 private:
  db& db_;
  const event_log& log_;
  commit_queue& commits_;
};

}  // namespace

std::unique_ptr<interfaces::journal> make_embedded_journal(db& d, const event_log& log,
                                                           commit_queue& commits) {
  return std::make_unique<embedded_journal>(d, log, commits);
}

}  // namespace referrald::store
