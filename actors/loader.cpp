#include "actors/loader.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/actor_pool.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/guard.hpp"
#include "actors/type_ids.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "snapshots/recovery.hpp"
#include "store/admin_audit.hpp"

namespace referrald::actors {

namespace {

void store_snapshot(const loader_context& ctx, const domain::account_state& state) {
  auto started = std::chrono::steady_clock::now();
  store::write_batch batch;
  auto st = ctx.snaps->put(batch, state);
  // Not logged: a snapshot lost in a crash is only rebuilt from the log, and a large one
  // must not ride along with the next fsync of the event log.
  if (st) st = ctx.db->write(batch, store::db::durability::unlogged);
  if (!st) {
    infra::log(infra::log_level::warn, "could not store a snapshot of account " +
                                           state.account_id() + ": " + st.err().message);
    return;
  }
  auto& m = infra::metrics();
  m.snapshots_written.fetch_add(1, std::memory_order_relaxed);
  m.snapshot_write_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

loaded_account load(const loader_context& ctx, const std::string& account_id) {
  snapshots::load_report report;
  auto state = snapshots::load_account(*ctx.log, ctx.snaps, account_id, {}, &report);
  if (!state) {
    const auto& e = state.err();
    if (!e.cause.empty()) {
      infra::log(infra::log_level::error,
                 "loading account " + account_id + " failed: " + e.message + " (" + e.cause + ")");
    }
    return loaded_account{nullptr, e.message, 0, static_cast<std::uint8_t>(e.code)};
  }
  std::uint64_t snapshot_seq = report.snapshot_seq;
  std::size_t rules = 0;
  domain::for_each_kind(
      [&]<class T>(std::type_identity<T>) { rules += state->entities<T>().size(); });
  if (snapshots::snapshot_due(report.events_replayed, rules, ctx.snapshot_every)) {
    store_snapshot(ctx, *state);
    snapshot_seq = state->seq();
  }
  state->refresh_indexes();  // built here, off the actors' scheduler
  return loaded_account{
      std::make_shared<domain::account_state>(std::move(*state)), {}, snapshot_seq};
}

domain::result<domain::account_state> state_at(const loader_context& ctx,
                                               const std::string& account_id,
                                               domain::unix_ms as_of) {
  snapshots::stop_at stop;
  stop.max_time = as_of;
  return snapshots::load_account(*ctx.log, ctx.snaps, account_id, stop);
}

template <class T>
void list_as_of(const loader_context& ctx, list_as_of_req<T>& req) {
  auto state = state_at(ctx, req.account_id, req.as_of);
  if (!state) return req.reply->deliver(std::move(state).err());
  req.reply->deliver(domain::list_json<T>(*state, req.query));
}

template <class T>
void get_as_of(const loader_context& ctx, get_as_of_req<T>& req) {
  auto state = state_at(ctx, req.account_id, req.as_of);
  if (!state) return req.reply->deliver(std::move(state).err());
  req.reply->deliver(domain::get_json<T>(*state, req.id));
}

// {"account_id":..,"head_seq":N,"events":[...],"next_after_seq":M|null}
void audit(const loader_context& ctx, audit_req& req) {
  auto head = ctx.log->head(req.account_id);
  if (!head) return req.reply->deliver(std::move(head).err());
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("account_id");
  domain::write_string(w, req.account_id);
  w.Key("head_seq");
  w.Uint64(*head);
  w.Key("events");
  w.StartArray();
  std::size_t count = 0;
  std::uint64_t last = req.after_seq;
  domain::status written;
  auto st = ctx.log->replay(req.account_id, req.after_seq + 1, [&](const domain::event& e) {
    if (count == req.limit || e.seq > *head) return false;
    written = domain::write_json(w, req.account_id, e);
    if (!written) return false;
    last = e.seq;
    ++count;
    return true;
  });
  if (!st) return req.reply->deliver(std::move(st).err());
  if (!written) return req.reply->deliver(std::move(written).err());
  w.EndArray();
  w.Key("next_after_seq");
  if (last < *head) {
    w.Uint64(last);
  } else {
    w.Null();
  }
  w.EndObject();
  req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
}

caf::behavior loader(caf::event_based_actor*, const loader_context* ctx) {
  return {
      [ctx](load_account_req& req) -> loaded_account {
        loaded_account out;
        if (!contain("loader", req, [&] { out = load(*ctx, req.account_id); })) {
          out = loaded_account{nullptr, handler_failed().message, 0,
                               static_cast<std::uint8_t>(domain::errc::internal)};
        }
        return out;
      },
      [](build_indexes_req& req) -> built_indexes {
        built_indexes out;
        contain("loader", req, [&] {
          if (!req.state) return;
          out.indexes = req.state->build_full_indexes();
          infra::metrics().mapping_index_builds.fetch_add(1, std::memory_order_relaxed);
        });
        return out;  // no indexes: the account keeps layering and asks again later
      },
      [ctx](write_snapshot_req& req) {
        contain("loader", req, [&] {
          if (req.state) store_snapshot(*ctx, *req.state);
        });
      },
      [ctx](passthrough_list_as_of_req& r) { contain("loader", r, [&] { list_as_of(*ctx, r); }); },
      [ctx](passthrough_get_as_of_req& r) { contain("loader", r, [&] { get_as_of(*ctx, r); }); },
      [ctx](mapping_list_as_of_req& r) { contain("loader", r, [&] { list_as_of(*ctx, r); }); },
      [ctx](mapping_get_as_of_req& r) { contain("loader", r, [&] { get_as_of(*ctx, r); }); },
      [ctx](channel_list_as_of_req& r) { contain("loader", r, [&] { list_as_of(*ctx, r); }); },
      [ctx](channel_get_as_of_req& r) { contain("loader", r, [&] { get_as_of(*ctx, r); }); },
      [ctx](settings_get_as_of_req& r) { contain("loader", r, [&] { get_as_of(*ctx, r); }); },
      [ctx](audit_req& r) { contain("loader", r, [&] { audit(*ctx, r); }); },
      [ctx](admin_audit_req& r) {
        contain("loader", r, [&] {
          r.reply->deliver(store::admin_audit(*ctx->db).page(r.scope, r.starting_after, r.limit));
        });
      },
      [ctx](state_as_of_req& r) {
        contain("loader", r, [&] {
          auto state = state_at(*ctx, r.account_id, r.as_of);
          if (!state) return r.reply->deliver(std::move(state).err());
          state->refresh_indexes();
          r.reply->deliver(std::make_shared<const domain::account_state>(std::move(*state)));
        });
      },
  };
}

}  // namespace

caf::actor spawn_loader_pool(caf::actor_system& sys, const loader_context& ctx,
                             std::size_t workers) {
  const loader_context* ctx_ptr = &ctx;
  return caf::actor_pool::make(
      sys.dummy_execution_unit(), workers,
      [&sys, ctx_ptr] { return sys.spawn<caf::detached>(loader, ctx_ptr); },
      caf::actor_pool::round_robin());
}

}  // namespace referrald::actors
