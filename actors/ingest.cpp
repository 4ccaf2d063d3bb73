#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/ingest.hpp"

#include <rapidjson/document.h>
#include <caf/actor_pool.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/guard.hpp"
#include "actors/type_ids.hpp"
#include "domain/ai/ai_referrals.hpp"
#include "domain/base/json.hpp"
#include "infra/metrics.hpp"
#include "interfaces/journal.hpp"
#include "store/admin_audit.hpp"
#include "store/ai_store.hpp"

namespace referrald::actors {

namespace {

std::string batch_key(std::int64_t brand_id, const std::string& connection_id,
                      const std::string& batch_id) {
  std::string key = std::to_string(brand_id);
  key.push_back('\0');
  key += connection_id;
  key.push_back('\0');
  key += batch_id;
  return key;
}

// Who claimed a batch_id last: its batch record (none when it was never pushed, or its
// record expired) and the position a new claim must expect.
struct claim {
  std::optional<store::batch_record> record;
  std::uint64_t position = 0;
};
domain::result<claim> claimed_batch(interfaces::journal& journal, const std::string& scope,
                                    const std::string& key) {
  auto last = journal.claimed(scope, store::column::ai_batches, key);
  if (!last) return std::move(last).err();
  claim out;
  out.position = last->position;
  if (!last->value) return out;
  auto rec = store::decode_batch_record(*last->value);
  if (!rec) return std::move(rec).err();
  out.record = std::move(*rec);
  return out;
}

void count(const domain::push_outcome& o) {
  auto& m = infra::metrics();
  m.ingest_rows_accepted.fetch_add(o.accepted, std::memory_order_relaxed);
  m.ingest_rows_rejected.fetch_add(o.rejected, std::memory_order_relaxed);
}

// The push's entry in the brand's audit stream: who pushed what to which connection.
void audit_push(store::write_batch& batch, const push_req& req, const domain::push_outcome& o,
                domain::unix_ms now) {
  store::admin_audit::put(batch, "brand." + std::to_string(req.brand_id), "push", now,
                          [&](domain::json_writer& w) {
                            w.Key("connection_id");
                            domain::write_string(w, req.connection_id);
                            w.Key("batch_id");
                            domain::write_nullable(w, o.batch_id);
                            w.Key("accepted");
                            w.Uint64(o.accepted);
                            w.Key("rejected");
                            w.Uint64(o.rejected);
                            w.Key("by_key_id");
                            w.Int64(req.key_id);
                          });
}

void push(const ingest_services& svc, push_req& req) {
  std::string& body = *req.body;
  // A batch_id is an idempotency key for the rows, compared by their canonical JSON. The
  // raw body's digest is kept too, for batch records written before canonical digests
  // (they live 7 days); it is only needed when the body can carry a batch_id (spelled
  // out, or hidden in \u escapes), and must be taken before the in-place parse.
  std::optional<domain::sha256_digest> raw_digest;
  if (body.find("batch_id") != std::string::npos || body.find("\\u") != std::string::npos) {
    raw_digest = domain::sha256(body);
  }

  rapidjson::Document doc;
  if (auto st = domain::parse_json_insitu(body, doc); !st) {
    req.reply->deliver(std::move(st).err());
    return;
  }
  const auto now = svc.clock->now_ms();
  auto outcome = domain::validate_push(doc, *svc.platforms, now);
  if (!outcome) {
    req.reply->deliver(std::move(outcome).err());
    return;
  }
  std::string response = domain::push_response_json(*outcome);
  store::ai_store store(*svc.db);

  if (!outcome->batch_id || !raw_digest) {
    if (outcome->rows.empty()) {  // nothing to store
      count(*outcome);
      req.reply->deliver(std::move(response));
      return;
    }
    store::write_batch batch;
    store.put_rows(batch, req.brand_id, req.connection_id, outcome->rows);
    audit_push(batch, req, *outcome, now);
    auto counts = std::make_shared<domain::push_outcome>();
    counts->accepted = outcome->accepted;
    counts->rejected = outcome->rejected;
    auto done = [reply = std::move(req.reply), response = std::move(response),
                 counts](const domain::status& st) mutable {
      if (!st) return reply->deliver(st.err());
      count(*counts);
      reply->deliver(std::move(response));
    };
    // Rows of no batch_id claim nothing: never beaten.
    (void)svc.journal->store("ai." + std::to_string(req.brand_id), std::move(batch), std::nullopt,
                             std::move(done));
    return;
  }

  // Idempotent push: one owner per (brand, connection, batch_id) at a time.
  const std::string& batch_id = *outcome->batch_id;
  std::string canonical;
  canonical.reserve(body.size());
  domain::append_canonical_json(canonical, doc);
  const auto digest = std::optional<domain::sha256_digest>(domain::sha256(canonical));
  std::string key = batch_key(req.brand_id, req.connection_id, batch_id);
  if (!svc.registry->claim_or_wait(key, *digest, req.reply)) return;
  // Seen within 7 days: the stored answer for the same body, 409 for another.
  auto answer_known = [&](const store::batch_record& rec) {
    if (now - rec.created_at >=
        std::chrono::duration_cast<std::chrono::milliseconds>(k_batch_id_ttl).count()) {
      return false;
    }
    api_result stored = answer(rec.response);
    bool same = rec.body_digest ==
                (rec.kind == store::batch_record::digest_of::raw_body ? *raw_digest : *digest);
    // Waiters compare canonical digests: ours when this push is the same batch.
    svc.registry->finish(key, same ? *digest : rec.body_digest, stored);
    if (same) {
      req.reply->deliver(std::move(stored));
    } else {
      req.reply->deliver(batch_registry::conflict(batch_id));
    }
    return true;
  };
  auto fail = [&](const domain::error& e) {
    svc.registry->finish(key, *digest, e);
    req.reply->deliver(e);
  };
  const std::string scope = store::cluster_batch_scope(req.brand_id, req.connection_id, batch_id);
  const std::string record_key = store::batch_record_key(req.brand_id, req.connection_id, batch_id);
  auto claimed = claimed_batch(*svc.journal, scope, record_key);
  if (!claimed) return fail(claimed.err());
  if (claimed->record && answer_known(*claimed->record)) return;
  store::write_batch batch;
  store.put_rows(batch, req.brand_id, req.connection_id, outcome->rows);
  store.put_batch(
      batch, req.brand_id, req.connection_id, batch_id,
      store::batch_record{now, *digest, response, store::batch_record::digest_of::canonical_rows});
  audit_push(batch, req, *outcome, now);
  auto counts = std::make_shared<domain::push_outcome>();
  counts->accepted = outcome->accepted;
  counts->rejected = outcome->rejected;
  auto done = [registry = svc.registry, key, digest = *digest, reply = req.reply,
               response = std::move(response), counts](const domain::status& st) mutable {
    api_result result = st ? api_result(answer(response)) : api_result(st.err());
    if (st) count(*counts);
    registry->finish(key, digest, result);
    reply->deliver(std::move(result));
  };
  for (int attempt = 0;; ++attempt) {
    auto stored = svc.journal->store(scope, batch, claimed->position, done);
    if (stored) return;  // `done` answers
    if (attempt == 3) {
      return done(domain::make_error(domain::errc::unavailable,
                                     "other nodes kept pushing batch_id " + batch_id +
                                         " while this push was stored; retry it"));
    }
    // Another node pushed this batch_id first: its answer (or 409) is this one's.
    claimed = claimed_batch(*svc.journal, scope, record_key);
    if (!claimed) return done(claimed.err());
    if (claimed->record && answer_known(*claimed->record)) return;
  }
}

void report(const ingest_services& svc, report_req& req) {
  domain::report_builder builder(req.grouping, req.page);
  auto st = store::ai_store(*svc.db).scan_rows(
      req.brand_id, req.from, req.to, [&](const store::stored_ai_row& r) {
        if (!req.connection_id || r.connection_id == *req.connection_id) {
          builder.add(r.date, r.platform, r.page,
                      {r.pageviews, r.sessions, r.transactions, r.purchase_revenue});
        }
        return true;
      });
  if (!st) {
    req.reply->deliver(std::move(st).err());
    return;
  }
  req.reply->deliver(builder.json(req.brand_id, domain::format_date(req.from),
                                  domain::format_date(req.to), req.connection_id));
}

caf::behavior ingest_actor(caf::event_based_actor*, ingest_services svc) {
  return {
      [svc](push_req& req) {
        infra::metrics().ingest_queue_depth.fetch_sub(1, std::memory_order_relaxed);
        contain("ingest", req, [&] { push(svc, req); });
      },
      [svc](report_req& req) {
        infra::metrics().ingest_queue_depth.fetch_sub(1, std::memory_order_relaxed);
        contain("ingest", req, [&] { report(svc, req); });
      },
  };
}

}  // namespace

caf::actor spawn_ingest_pool(caf::actor_system& sys, const ingest_services& svc,
                             std::size_t workers) {
  return caf::actor_pool::make(
      sys.dummy_execution_unit(), workers,
      [&sys, svc] { return sys.spawn<caf::detached>(ingest_actor, svc); },
      caf::actor_pool::round_robin());
}

}  // namespace referrald::actors
