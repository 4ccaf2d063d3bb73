#include "actors/backups.hpp"

#include "domain/base/pager.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/event_based_actor.hpp>
#include <chrono>

#include "actors/guard.hpp"
#include "actors/type_ids.hpp"
#include "infra/metrics.hpp"
#include "snapshots/backup.hpp"

namespace referrald::actors {

namespace {

void create(const store::db& db, const domain::clock& clock, backup_create_req& req) {
  auto started = std::chrono::steady_clock::now();
  auto b = snapshots::create_backup(db, clock.now_ms());
  infra::metrics().backup_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!b) return req.reply->deliver(std::move(b).err());
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  snapshots::write_json(w, *b);
  req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
}

void list(const store::db& db, backup_list_req& req) {
  auto found = snapshots::list_backups(snapshots::backups_dir(db.path()));
  if (!found) return req.reply->deliver(std::move(found).err());
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("snapshots");
  w.StartArray();
  domain::pager<std::string> page(req.limit);
  for (const auto& b : *found) {
    if (b.name <= req.starting_after) continue;
    if (!page.room()) break;
    snapshots::write_json(w, b);
    page.wrote(b.name);
  }
  w.EndArray();
  w.Key("total");
  w.Uint64(found->size());
  page.finish(w);
  w.EndObject();
  req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
}

caf::behavior backup_actor(caf::event_based_actor*, const store::db* db,
                           const domain::clock* clock) {
  return {
      [db, clock](backup_create_req& req) {
        contain("backups", req, [&] { create(*db, *clock, req); });
      },
      [db](backup_list_req& req) { contain("backups", req, [&] { list(*db, req); }); },
  };
}

}  // namespace

caf::actor spawn_backup_actor(caf::actor_system& sys, const store::db& db,
                              const domain::clock& clock) {
  return sys.spawn<caf::detached>(backup_actor, &db, &clock);
}

}  // namespace referrald::actors
