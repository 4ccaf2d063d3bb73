#include "actors/backups.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/event_based_actor.hpp>

#include "actors/messages.hpp"
#include "snapshots/backup.hpp"

namespace referrald::actors {

namespace {

caf::behavior backup_actor(caf::event_based_actor*, const store::db* db) {
  return {
      [db](backup_create_req& req) {
        auto b = snapshots::create_backup(*db);
        if (!b) return req.reply->deliver(std::move(b).err());
        rapidjson::StringBuffer buf;
        domain::json_writer w(buf);
        snapshots::write_json(w, *b);
        req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
      },
      [db](backup_list_req& req) {
        auto list = snapshots::list_backups(snapshots::backups_dir(db->path()));
        if (!list) return req.reply->deliver(std::move(list).err());
        rapidjson::StringBuffer buf;
        domain::json_writer w(buf);
        w.StartObject();
        w.Key("snapshots");
        w.StartArray();
        for (const auto& b : *list)
          snapshots::write_json(w, b);
        w.EndArray();
        w.EndObject();
        req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
      },
  };
}

}  // namespace

caf::actor spawn_backup_actor(caf::actor_system& sys, const store::db& db) {
  return sys.spawn<caf::detached>(backup_actor, &db);
}

}  // namespace referrald::actors
