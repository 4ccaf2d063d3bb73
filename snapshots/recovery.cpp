#include "snapshots/recovery.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <unordered_map>

#include "infra/log.hpp"
#include "infra/metrics.hpp"

namespace referrald::snapshots {

namespace {

// The newest snapshot within `stop` that decodes and chains to the log, or a fresh state.
domain::result<domain::account_state> starting_state(const store::event_reader& log,
                                                     const snapshot_store& snaps,
                                                     std::string_view account_id,
                                                     const stop_at& stop, load_report& report) {
  auto infos = snaps.list(account_id);
  if (!infos) return std::move(infos).err();
  for (auto it = infos->rbegin(); it != infos->rend(); ++it) {
    if (it->readable && !stop.admits(it->seq, it->last_timestamp)) continue;
    auto skip = [&](const std::string& why) {
      std::string name = "snapshot " + std::string(account_id) + "@" + std::to_string(it->seq);
      report.skipped.push_back(why.starts_with(name) ? why : name + ": " + why);
      infra::metrics().snapshot_fallbacks.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::warn, report.skipped.back() + "; trying an older one");
    };
    auto bytes = snaps.read(account_id, it->seq);
    if (!bytes) return std::move(bytes).err();
    if (!bytes->has_value()) continue;  // pruned meanwhile
    auto state = decode_snapshot(account_id, it->seq, **bytes);
    if (!state) {
      skip(state.err().message);
      continue;
    }
    if (!stop.admits(state->seq(), state->last_timestamp())) continue;
    auto event = log.get(account_id, it->seq);
    if (!event) return std::move(event).err();
    if (!event->has_value()) {
      skip("the log has no event " + std::to_string(it->seq));
      continue;
    }
    if ((*event)->hash != state->head_hash()) {
      skip("its head hash differs from the hash of event " + std::to_string(it->seq));
      continue;
    }
    // The event the snapshot names must itself be intact: the chain goes on from it.
    if (auto intact = log.check_event(account_id, it->seq); !intact) return std::move(intact).err();
    report.snapshot_seq = it->seq;
    return state;
  }
  return domain::account_state{std::string(account_id)};
}

// Folds a run of events onto a starting state without decoding every object: it keeps,
// per entity, only the object of the last event that touched it, and decodes the
// survivors once at the end. Its checks are account_state::apply's: the same
// domain::event_misfit for each event (sequence, chain, known entities, fresh ids), and
// collection::restore for unique keys once decoded (object ids too), so the result is the
// same state, or an error for a log apply() would refuse; it is just cheaper when most
// events are superseded by later ones.
class tail_fold {
 public:
  explicit tail_fold(domain::account_state base) : base_(std::move(base)) {
    seq_ = base_.seq();
    head_ = base_.head_hash();
    last_timestamp_ = base_.last_timestamp();
    domain::for_each_kind([&]<class T>(std::type_identity<T>) {
      changes_[index_of<T>()].next_id = base_.entities<T>().next_id();
    });
  }

  domain::status add(const domain::event& e) {
    domain::status st =
        domain::visit_kind(domain::kind_of(e.type), [&]<class T>(std::type_identity<T>) {
          return step(e, changes_[index_of<T>()], base_.entities<T>());
        });
    if (!st) return st;
    seq_ = e.seq;
    head_ = e.hash;
    last_timestamp_ = std::max(last_timestamp_, e.timestamp);
    return {};
  }

  domain::result<domain::account_state> finish() && {
    if (seq_ == base_.seq()) return std::move(base_);
    domain::kind_collections kinds;
    std::optional<domain::error> bad;
    domain::for_each_kind([&]<class T>(std::type_identity<T>) {
      if (bad) return;
      auto c = build(changes_[index_of<T>()], base_.entities<T>());
      if (!c) {
        bad = std::move(c).err();
        return;
      }
      std::get<domain::collection<T>>(kinds) = std::move(*c);
    });
    if (bad) return std::move(*bad);
    return domain::account_state::restore(base_.account_id(), seq_, head_, last_timestamp_,
                                          std::move(kinds));
  }

 private:
  // The position of kind T in domain::rule_kinds.
  template <class T>
  static constexpr std::size_t index_of() {
    return static_cast<std::size_t>(domain::kind_traits<T>::kind) - 1;
  }

  struct kind_changes {
    struct stored {
      domain::object_format format;
      std::string bytes;
    };
    std::unordered_map<std::int64_t, std::optional<stored>> latest;  // nullopt: deleted
    std::int64_t next_id = 1;
  };

  domain::error corrupt(const domain::event& e, const std::string& why) const {
    return domain::make_error(domain::errc::store_corrupted,
                              "the stored history of account " + base_.account_id() +
                                  " is corrupt at event " + std::to_string(e.seq) + " (" +
                                  std::string(to_string(e.type)) + "): " + why);
  }

  template <class T>
  static bool exists(const kind_changes& k, const domain::collection<T>& base, std::int64_t id) {
    auto it = k.latest.find(id);
    if (it != k.latest.end()) return it->second.has_value();
    return base.find(id) != nullptr;
  }

  template <class T>
  domain::status step(const domain::event& e, kind_changes& k,
                      const domain::collection<T>& base) const {
    using traits = domain::kind_traits<T>;
    if (auto why = domain::event_misfit(e, seq_, head_, exists(k, base, e.entity_id), k.next_id)) {
      return corrupt(e, *why);
    }
    if (e.type == traits::created) k.next_id = e.entity_id + 1;
    if (e.type == traits::deleted) {
      k.latest[e.entity_id] = std::nullopt;
    } else {
      k.latest[e.entity_id] = typename kind_changes::stored{e.format, e.object};
    }
    return {};
  }

  template <class T>
  static domain::result<domain::collection<T>> build(kind_changes& k,
                                                     const domain::collection<T>& base) {
    using traits = domain::kind_traits<T>;
    if (k.latest.empty()) return base;
    std::vector<domain::entity_ref<T>> entities;
    entities.reserve(base.size() + k.latest.size());
    for (auto [id, e] : base.items()) {
      if (k.latest.find(id) == k.latest.end()) entities.push_back(e);
    }
    for (auto& [id, object] : k.latest) {
      if (!object) continue;
      auto value = domain::decode_object<T>(object->format, object->bytes);
      if (!value) {
        return domain::make_error(domain::errc::store_corrupted,
                                  "a stored " + std::string(traits::noun) + " " +
                                      std::to_string(id) +
                                      " does not decode: " + value.err().message);
      }
      if (value->id != id) {
        return domain::make_error(domain::errc::internal,
                                  "object id differs from the entity id " + std::to_string(id));
      }
      entities.push_back(domain::make_entity(std::move(*value)));
    }
    std::sort(entities.begin(), entities.end(),
              [](const auto& a, const auto& b) { return a->value.id < b->value.id; });
    return domain::collection<T>::restore(std::move(entities), k.next_id);
  }

  domain::account_state base_;
  std::uint64_t seq_ = 0;
  domain::sha256_digest head_{};
  domain::unix_ms last_timestamp_ = 0;
  std::array<kind_changes, domain::rule_kinds::size> changes_;
};

}  // namespace

domain::result<domain::account_state> load_account(const store::event_reader& log,
                                                   const snapshot_store* snaps,
                                                   std::string_view account_id, const stop_at& stop,
                                                   load_report* report) {
  load_report local;
  load_report& r = report != nullptr ? *report : local;
  r = load_report{};
  domain::account_state state{std::string(account_id)};
  if (snaps != nullptr) {
    auto start = starting_state(log, *snaps, account_id, stop, r);
    if (!start) return std::move(start).err();
    state = std::move(*start);
  }
  if (state.seq() >= stop.max_seq) return state;
  std::uint64_t from = state.seq() + 1;
  tail_fold fold(std::move(state));
  domain::status failure;
  auto st = log.replay(
      account_id, from,
      [&](const domain::event& e) {
        if (!stop.admits(e.seq, e.timestamp)) return false;
        failure = fold.add(e);
        if (!failure) return false;
        ++r.events_replayed;
        return true;
      },
      true);
  if (!st) return std::move(st).err();
  if (!failure) return std::move(failure).err();
  return std::move(fold).finish();
}

}  // namespace referrald::snapshots
