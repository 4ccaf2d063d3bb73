#pragma once

// Random, valid event streams for one account: creates, updates and deletes of passthrough
// referrers and referrer mappings (regex ones included), and with every_kind() of channel
// rules and the settings too, numbered and hash-chained, written
// through the real event log. For recovery, snapshot and audit tests and the replay
// benchmark.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"

namespace referrald::workload {

class event_generator {
 public:
  event_generator(std::string account, unsigned seed, domain::unix_ms start = 1763800000000)
      : rng_(seed), state_(account), account_(std::move(account)), now_(start) {}
  // Goes on from `from` (an account's state as loaded), with events of the current format.
  event_generator(domain::account_state from, unsigned seed)
      : rng_(seed),
        state_(std::move(from)),
        account_(state_.account_id()),
        now_(state_.last_timestamp()) {}

  // From now on, channel rules and the settings change too (off by default, so that the
  // streams of a seed stay what they were).
  event_generator& every_kind() {
    every_kind_ = true;
    return *this;
  }

  // The fold of every event generated so far.
  const domain::account_state& state() const { return state_; }
  // Every event generated so far, in order (hashes set).
  const std::vector<domain::event>& events() const { return events_; }

  // Generates `n` events and returns their stored values (store/event_log.cpp), without
  // writing them anywhere (for a cluster's stream).
  std::vector<std::string> values(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      domain::event e = next();
      out.push_back(store::encode_event_value(account_, e));
      auto st = state_.apply(e);
      if (!st) throw std::runtime_error("generator made an unfit event: " + st.err().message);
      events_.push_back(e);
    }
    return out;
  }

  // Generates `n` events and writes them, in batches of 1-5 events (synced unless
  // `sync` is false).
  void append(store::db& db, int n, bool sync = true) {
    store::event_log log(db);
    while (n > 0) {
      int in_batch = std::min(n, pick(1, 5));
      store::write_batch batch;
      for (int i = 0; i < in_batch; ++i) {
        domain::event e = next();
        log.append(batch, account_, e);
        auto st = state_.apply(e);
        if (!st) throw std::runtime_error("generator made an unfit event: " + st.err().message);
        events_.push_back(e);
      }
      auto st = db.write(batch, sync);
      if (!st) throw std::runtime_error(st.err().message);
      n -= in_batch;
    }
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  domain::event next() {
    domain::event e;
    e.seq = state_.seq() + 1;
    e.prev_hash = state_.head_hash();
    now_ += pick(0, 3);  // equal timestamps happen too
    e.timestamp = now_;
    e.key_id = pick(1, 3);
    if (every_kind_) {
      switch (pick(0, 5)) {
        case 4:
          return next_for(e, state_.entities<domain::channel_rule>());
        case 5:
          return next_settings(e);
        default:
          break;
      }
    }
    bool mapping = pick(0, 1) == 1;
    return mapping ? next_for(e, state_.mappings()) : next_for(e, state_.referrers());
  }

  // The settings: created by their first change, then changed; never deleted.
  domain::event next_settings(domain::event& e) {
    const auto* current = state_.settings();
    domain::account_settings v = current != nullptr ? *current : domain::account_settings{};
    v.known_referrers = !v.known_referrers;
    v.own_domains = {"own" + std::to_string(pick(0, 99)) + ".example.com"};
    if (current == nullptr) v.created_at = e.timestamp;
    v.updated_at = e.timestamp;
    e.type = current == nullptr ? domain::kind_traits<domain::account_settings>::created
                                : domain::kind_traits<domain::account_settings>::updated;
    e.entity_id = 1;
    e.changed = {"own_domains", "known_referrers"};
    e.object = domain::encode_object(v);
    return e;
  }

  template <class T>
  domain::event next_for(domain::event& e, const domain::collection<T>& c) {
    using traits = domain::kind_traits<T>;
    int op = c.size() == 0 ? 0 : pick(0, 9);  // 0-3 create, 4-7 update, 8-9 delete
    if (op <= 3) {
      T v = make<T>(c.next_id());
      v.created_at = v.updated_at = e.timestamp;
      e.type = traits::created;
      e.entity_id = v.id;
      e.object = domain::encode_object(v);
      return e;
    }
    // An existing entity, chosen at random.
    auto nth = static_cast<std::size_t>(pick(0, static_cast<int>(c.size()) - 1));
    const domain::entity_ref<T>* chosen = nullptr;
    for (auto [id, ent] : c.items()) {
      if (nth-- == 0) {
        chosen = c.find_entity(id);
        break;
      }
    }
    const T& current = (*chosen)->value;
    e.entity_id = current.id;
    if (op >= 8) {
      e.type = traits::deleted;
      e.object = domain::encode_object((*chosen)->value);
      return e;
    }
    T v = current;
    v.is_active = !v.is_active;
    if constexpr (std::is_same_v<T, domain::channel_rule>) {
      v.utm_source = {"src" + std::to_string(pick(0, 99))};
    } else {
      v.utm_source = "src" + std::to_string(pick(0, 99));
    }
    v.updated_at = e.timestamp;
    e.type = traits::updated;
    e.changed = {"is_active", "utm_source"};
    e.object = domain::encode_object(v);
    return e;
  }

  template <class T>
  T make(std::int64_t id) {
    T v;
    v.id = id;
    if constexpr (std::is_same_v<T, domain::channel_rule>) {
      v.name = "channel rule " + std::to_string(id);
      v.channel = "Channel " + std::to_string(pick(0, 3));
      v.utm_source = {"src" + std::to_string(id)};
      v.priority = pick(0, 5);
    } else if constexpr (std::is_same_v<T, domain::passthrough_referrer>) {
      v.utm_source = "src" + std::to_string(id);
      v.domain = "pass" + std::to_string(id) + ".example.com";
    } else {
      v.utm_source = "src" + std::to_string(id);
      int kind = pick(1, 5);
      v.match_type = static_cast<domain::match_type>(kind);
      v.referrer_pattern = "map" + std::to_string(id) + ".example.com";
      if (v.match_type == domain::match_type::regex) {
        v.referrer_pattern = "^map" + std::to_string(id) + "[0-9]*\\.example\\.com$";
      }
      v.priority = pick(-5, 5);
      v.label = "rule " + std::to_string(id);
    }
    return v;
  }

  std::mt19937 rng_;
  bool every_kind_ = false;
  domain::account_state state_;
  std::string account_;
  domain::unix_ms now_;
  std::vector<domain::event> events_;
};

}  // namespace referrald::workload
