#include "domain/account_state.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace referrald::domain {

namespace {

error corrupt(const event& e, const std::string& why) {
  return make_error(errc::internal, "event " + std::to_string(e.seq) + " (" +
                                        std::string(to_string(e.type)) + "): " + why);
}

}  // namespace

account_state::account_state(std::string account_id) : account_id_(std::move(account_id)) {}

const passthrough_referrer* account_state::find_referrer(std::int64_t id) const {
  const auto* e = referrers_.find(id);
  return e == nullptr ? nullptr : &(*e)->value;
}

std::optional<std::int64_t> account_state::referrer_with_domain(std::string_view domain) const {
  const auto* id = referrer_domains_.find(domain);
  if (id == nullptr) return std::nullopt;
  return *id;
}

status account_state::apply(const event& e) {
  if (e.seq != seq_ + 1) {
    return corrupt(e, "expected sequence number " + std::to_string(seq_ + 1));
  }
  if (e.prev_hash != head_hash_) return corrupt(e, "does not chain to the previous event");
  status st;
  switch (e.type) {
    case event_type::passthrough_referrer_created:
    case event_type::passthrough_referrer_updated:
    case event_type::passthrough_referrer_deleted:
      st = apply_passthrough(e);
      break;
    case event_type::referrer_mapping_created:
    case event_type::referrer_mapping_updated:
    case event_type::referrer_mapping_deleted:
      st = corrupt(e, "referrer mappings are not supported by this build");
      break;
  }
  if (!st) return st;
  seq_ = e.seq;
  head_hash_ = e.hash;
  last_timestamp_ = std::max(last_timestamp_, e.timestamp);
  return {};
}

status account_state::apply_passthrough(const event& e) {
  rapidjson::Document doc;
  doc.Parse(e.object.data(), e.object.size());
  if (doc.HasParseError()) return corrupt(e, "object is not valid JSON");
  auto decoded = passthrough_from_json(doc);
  if (!decoded) return corrupt(e, decoded.err().message);
  if (decoded->id != e.entity_id) return corrupt(e, "object id differs from the entity id");
  const std::int64_t id = decoded->id;
  const auto* existing = referrers_.find(id);

  switch (e.type) {
    case event_type::passthrough_referrer_created: {
      if (existing != nullptr || id < next_referrer_id_) {
        return corrupt(e, "id " + std::to_string(id) + " was already used");
      }
      if (referrer_domains_.find(decoded->domain) != nullptr) {
        return corrupt(e, "duplicate domain");
      }
      referrer_domains_ = referrer_domains_.set(decoded->domain, id);
      next_referrer_id_ = id + 1;
      if (decoded->is_active) ++active_referrers_;
      referrers_ = referrers_.set(
          id, entity_ref<passthrough_referrer>(std::make_shared<const entity<passthrough_referrer>>(
                  entity<passthrough_referrer>{std::move(*decoded), e.object})));
      return {};
    }
    case event_type::passthrough_referrer_updated: {
      if (existing == nullptr) return corrupt(e, "updates an unknown referrer");
      const passthrough_referrer& old = (*existing)->value;
      if (old.domain != decoded->domain) {
        if (referrer_domains_.find(decoded->domain) != nullptr) {
          return corrupt(e, "duplicate domain");
        }
        referrer_domains_ = referrer_domains_.erase(old.domain).set(decoded->domain, id);
      }
      if (old.is_active) --active_referrers_;
      if (decoded->is_active) ++active_referrers_;
      referrers_ = referrers_.set(
          id, entity_ref<passthrough_referrer>(std::make_shared<const entity<passthrough_referrer>>(
                  entity<passthrough_referrer>{std::move(*decoded), e.object})));
      return {};
    }
    case event_type::passthrough_referrer_deleted: {
      if (existing == nullptr) return corrupt(e, "deletes an unknown referrer");
      if ((*existing)->value.is_active) --active_referrers_;
      referrer_domains_ = referrer_domains_.erase((*existing)->value.domain);
      referrers_ = referrers_.erase(id);
      return {};
    }
    default:
      return corrupt(e, "not a passthrough event");
  }
}

std::string passthrough_list_json(const account_state& s, bool include_inactive) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("referrers");
  w.StartArray();
  for (auto [id, e] : s.referrers()) {
    if (include_inactive || e->value.is_active) {
      w.RawValue(e->json.data(), e->json.size(), rapidjson::kObjectType);
    }
  }
  w.EndArray();
  w.Key("total");
  w.Uint64(s.referrers().size());
  w.Key("active_count");
  w.Uint64(s.active_referrer_count());
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

result<std::string> passthrough_get_json(const account_state& s, std::int64_t id) {
  const auto* e = s.referrers().find(id);
  if (e == nullptr) {
    return make_error(errc::not_found,
                      "passthrough referrer " + std::to_string(id) + " does not exist");
  }
  return (*e)->json;
}

}  // namespace referrald::domain
