#include "actors/backups.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/event_based_actor.hpp>

#include "actors/guard.hpp"
#include "actors/type_ids.hpp"
#include "snapshots/backup.hpp"

namespace referrald::actors {

namespace {

void create(const store::db& db, backup_create_req& req) {
  auto b = snapshots::create_backup(db);
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
  for (const auto& b : *found)
    snapshots::write_json(w, b);
  w.EndArray();
  w.EndObject();
  req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
}

caf::behavior backup_actor(caf::event_based_actor*, const store::db* db) {
  return {
      [db](backup_create_req& req) { contain("backups", req, [&] { create(*db, req); }); },
      [db](backup_list_req& req) { contain("backups", req, [&] { list(*db, req); }); },
  };
}

}  // namespace

caf::actor spawn_backup_actor(caf::actor_system& sys, const store::db& db) {
  return sys.spawn<caf::detached>(backup_actor, &db);
}

}  // namespace referrald::actors
