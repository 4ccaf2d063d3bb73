#pragma once

// How an actor's answer reaches whoever asked (an HTTP session, a test, a CLI) without
// the asker blocking: the request message carries a reply channel, the actor delivers
// into it from its own thread, and the asker's handler moves the answer to its own
// executor. No CAF types appear here, so http/ sources need not include CAF.
//
// A channel delivers at most once. If it is destroyed undelivered — the message was
// dropped because the actor had died — it delivers `unavailable`, so a caller never
// waits for an answer that cannot come. Callers add their own timeout on top for actors
// that are alive but stuck.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "domain/base/result.hpp"

namespace referrald::actors {

// What an actor answers, for http/ to put into an HTTP answer: the JSON text of the
// payload (the `data` member; empty means "no content", as after a delete) and, after a
// create, the new object's id, which names it in the answer's Location. The payload is
// the entity's own JSON, made once and kept with it; nothing here is parsed again.
struct answer {
  std::string data;
  std::string created_id;

  answer() = default;
  answer(std::string json) : data(std::move(json)) {}  // NOLINT: most answers are data alone
  answer(std::string json, std::string id) : data(std::move(json)), created_id(std::move(id)) {}
};

// An answer, or an error.
using api_result = domain::result<answer>;

class reply_channel {
 public:
  using handler = std::function<void(api_result)>;
  // Also given the account's sequence number after a write that changed an account (0
  // for any other answer): the `Referrald-Seq` of the HTTP answer.
  using seq_handler = std::function<void(api_result, std::uint64_t)>;

  explicit reply_channel(handler h)
      : handler_([h = std::move(h)](api_result r, std::uint64_t) { h(std::move(r)); }) {}
  explicit reply_channel(seq_handler h) : handler_(std::move(h)) {}
  ~reply_channel() {
    if (!delivered_.exchange(true)) {
      handler_(domain::make_error(domain::errc::unavailable,
                                  "the request was dropped before it could be answered"),
               0);
    }
  }
  reply_channel(const reply_channel&) = delete;
  reply_channel& operator=(const reply_channel&) = delete;

  // Thread-safe; only the first call has an effect.
  void deliver(api_result r, std::uint64_t seq = 0) {
    if (!delivered_.exchange(true)) handler_(std::move(r), seq);
  }
  void deliver(answer a, std::uint64_t seq = 0) { deliver(api_result(std::move(a)), seq); }
  void deliver(std::string data, std::uint64_t seq = 0) { deliver(answer(std::move(data)), seq); }
  void deliver(domain::error e, std::uint64_t seq = 0) { deliver(api_result(std::move(e)), seq); }
  void deliver(domain::result<std::string> r, std::uint64_t seq = 0) {
    if (r) return deliver(answer(std::move(*r)), seq);
    deliver(std::move(r).err(), seq);
  }

 private:
  std::atomic<bool> delivered_{false};
  seq_handler handler_;
};

using reply_to = std::shared_ptr<reply_channel>;

inline reply_to make_reply(reply_channel::handler h) {
  return std::make_shared<reply_channel>(std::move(h));
}
inline reply_to make_seq_reply(reply_channel::seq_handler h) {
  return std::make_shared<reply_channel>(std::move(h));
}

}  // namespace referrald::actors
