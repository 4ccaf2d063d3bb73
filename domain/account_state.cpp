#include "domain/account_state.hpp"

#include <rapidjson/document.h>

namespace referrald::domain {

namespace {

error corrupt(const event& e, const std::string& why) {
  return make_error(errc::internal, "event " + std::to_string(e.seq) + " (" +
                                        std::string(to_string(e.type)) + "): " + why);
}

}  // namespace

account_state::account_state(std::string account_id) : account_id_(std::move(account_id)) {}

const passthrough_referrer* account_state::find_referrer(std::int64_t id) const {
  auto it = referrers_.find(id);
  return it == referrers_.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> account_state::referrer_with_domain(std::string_view domain) const {
  auto it = referrer_domains_.find(std::string(domain));
  if (it == referrer_domains_.end())
    return std::nullopt;
  return it->second;
}

status account_state::apply(const event& e) {
  if (e.seq != seq_ + 1) {
    return corrupt(e, "expected sequence number " + std::to_string(seq_ + 1));
  }
  if (e.prev_hash != head_hash_)
    return corrupt(e, "does not chain to the previous event");
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
  if (!st)
    return st;
  seq_ = e.seq;
  head_hash_ = e.hash;
  last_timestamp_ = std::max(last_timestamp_, e.timestamp);
  return {};
}

status account_state::apply_passthrough(const event& e) {
  rapidjson::Document doc;
  doc.Parse(e.object.data(), e.object.size());
  if (doc.HasParseError())
    return corrupt(e, "object is not valid JSON");
  auto decoded = passthrough_from_json(doc);
  if (!decoded)
    return corrupt(e, decoded.err().message);
  passthrough_referrer r = std::move(*decoded);
  if (r.id != e.entity_id)
    return corrupt(e, "object id differs from the entity id");

  auto existing = referrers_.find(r.id);
  switch (e.type) {
    case event_type::passthrough_referrer_created: {
      if (existing != referrers_.end() || r.id < next_referrer_id_) {
        return corrupt(e, "id " + std::to_string(r.id) + " was already used");
      }
      if (referrer_domains_.contains(r.domain))
        return corrupt(e, "duplicate domain");
      referrer_domains_.emplace(r.domain, r.id);
      next_referrer_id_ = r.id + 1;
      if (r.is_active)
        ++active_referrers_;
      referrers_.emplace(r.id, std::move(r));
      return {};
    }
    case event_type::passthrough_referrer_updated: {
      if (existing == referrers_.end())
        return corrupt(e, "updates an unknown referrer");
      passthrough_referrer& old = existing->second;
      if (old.domain != r.domain) {
        auto holder = referrer_domains_.find(r.domain);
        if (holder != referrer_domains_.end())
          return corrupt(e, "duplicate domain");
        referrer_domains_.erase(old.domain);
        referrer_domains_.emplace(r.domain, r.id);
      }
      if (old.is_active)
        --active_referrers_;
      if (r.is_active)
        ++active_referrers_;
      old = std::move(r);
      return {};
    }
    case event_type::passthrough_referrer_deleted: {
      if (existing == referrers_.end())
        return corrupt(e, "deletes an unknown referrer");
      if (existing->second.is_active)
        --active_referrers_;
      referrer_domains_.erase(existing->second.domain);
      referrers_.erase(existing);
      return {};
    }
    default:
      return corrupt(e, "not a passthrough event");
  }
}

}  // namespace referrald::domain
