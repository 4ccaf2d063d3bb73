#include "http/openapi.hpp"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>

#include "domain/ai/ai_referrals.hpp"
#include "domain/ai/connection.hpp"
#include "domain/attribution/resolution.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/auth/api_key.hpp"
#include "domain/rules/mapping.hpp"
#include "domain/rules/passthrough.hpp"
#include "http/error_table.hpp"
#include "http/handlers.hpp"
#include "http/router.hpp"

namespace referrald::http {

namespace {

using value = rapidjson::Value;
using alloc_t = rapidjson::Document::AllocatorType;

// -- what no table holds: one declaration per route ------------------------------------

// How a route is described beyond what the route table says. A schema is JSON text, or
// "$Name" for a component schema; `data` true wraps the success answer in the envelope
// {"success":true,"data":...}.
struct operation {
  method verb;
  std::string_view pattern;
  std::string_view id;  // operationId
  std::string_view tag;
  std::string_view summary;
  std::string_view request = {};  // the body's schema ("" : no body)
  bool csv_request = false;       // also takes text/csv
  unsigned status = 200;          // the success status
  std::string_view response = {};
  bool data = true;
  std::string_view response_type = "application/json";  // media types, comma-separated
  std::string_view extra_errors = {};  // statuses beyond the derived ones, space-separated
  std::string_view required_query = {};
  std::string_view description = {};
  // Also takes NDJSON (one request item per line) and answers it in NDJSON.
  bool ndjson = false;
};

constexpr std::string_view k_pass = "/passthrough-referrers";
constexpr std::string_view k_map = "/referrer-mappings";
constexpr std::string_view k_chan = "/channel-rules";
constexpr std::string_view k_conn = "/{brand_id}/ai-referrals/connections";

// clang-format off
const operation k_operations[] = {
  {method::get, "/healthz", "getHealth", "Health", "Liveness: the process answers",
   {}, false, 200, R"({"type":"object","required":["status"],"properties":{"status":{"const":"ok"}}})", false},
  {method::get, "/readyz", "getReadiness", "Health",
   "Readiness: the store takes writes and, in a cluster, the node is connected and caught up",
   {}, false, 200, "$Readiness", false, "application/json", "503", {},
   "200 when ready; 503 with the same body (status not_ready and the reasons) when not."},
  {method::get, "/metrics", "getMetrics", "Health", "Prometheus metrics (text exposition format 0.0.4)",
   {}, false, 200, R"({"type":"string"})", false, "text/plain; version=0.0.4; charset=utf-8"},
  {method::get, "/openapi.json", "getOpenApi", "Health", "This document",
   {}, false, 200, R"({"type":"object"})", false},
  {method::get, "/js/referrald.js", "getTrackerScript", "Attribution",
   "The tracker snippet web pages load (no API key needed)",
   {}, false, 200, R"({"type":"string"})", false, "text/javascript; charset=utf-8", {}, {},
   "Loaded by a script tag on a site's pages, with data-key (a publishable key's pk_ secret) "
   "and data-account: on every page load it resolves the visit with the key and keeps the "
   "session's attribution across passthrough domains (docs/tracker.md)."},

  {method::get, "/api-keys/me", "getOwnApiKey", "API keys",
   "The key making the request (any role): its name, role and grants", {}, false, 200, "$ApiKey"},
  {method::get, "/api-keys", "listApiKeys", "API keys", "List API keys",
   {}, false, 200, "$ApiKeyList"},
  {method::post, "/api-keys", "createApiKey", "API keys", "Create an API key (its secret is shown only in this answer)",
   "$ApiKeyCreate", false, 201, "$ApiKeyWithSecret"},
  {method::get, "/api-keys/{id}", "getApiKey", "API keys", "Get an API key", {}, false, 200, "$ApiKey"},
  {method::patch, "/api-keys/{id}", "updateApiKey", "API keys", "Rename a key, change its expiry or a publishable key's origins",
   "$ApiKeyPatch", false, 200, "$ApiKey", true, "application/json", "409"},
  {method::del, "/api-keys/{id}", "revokeApiKey", "API keys", "Revoke an API key", {}, false, 204, {}, false,
   "application/json", "409"},
  {method::post, "/api-keys/{id}/rotate", "rotateApiKey", "API keys",
   "Give a key a new secret; the old one keeps working for overlap_seconds",
   "$ApiKeyRotate", false, 200, "$ApiKeyWithSecret"},

  {method::get, "/passthrough-referrers/starter-pack", "getStarterPack", "Passthrough referrers",
   "The built-in starter pack of passthrough domains (payment pages, booking engines...)",
   {}, false, 200, "$StarterPack"},
  {method::get, k_pass, "listPassthroughReferrers", "Passthrough referrers", "List an account's passthrough referrers",
   {}, false, 200, "$PassthroughReferrerList", true, "application/json", {}, "account_id"},
  {method::post, k_pass, "createPassthroughReferrer", "Passthrough referrers", "Create a passthrough referrer",
   "$PassthroughReferrerCreate", false, 201, "$PassthroughReferrer", true, "application/json", {}, "account_id"},
  {method::post, "/passthrough-referrers/import", "importPassthroughReferrers", "Passthrough referrers",
   "Import passthrough referrers (JSON, CSV or the starter pack); all or nothing",
   "$PassthroughReferrerImport", true, 200, "$ImportResult", true, "application/json", {}, "account_id"},
  {method::get, "/passthrough-referrers/export", "exportPassthroughReferrers", "Passthrough referrers",
   "Export passthrough referrers as an import body (JSON or CSV)",
   {}, false, 200, "$PassthroughReferrerExport", false, "application/json,text/csv", {}, "account_id"},
  {method::get, "/passthrough-referrers/{id}", "getPassthroughReferrer", "Passthrough referrers",
   "Get a passthrough referrer", {}, false, 200, "$PassthroughReferrer", true, "application/json", {}, "account_id"},
  {method::patch, "/passthrough-referrers/{id}", "updatePassthroughReferrer", "Passthrough referrers",
   "Change any subset of a passthrough referrer's fields", "$PassthroughReferrerPatch", false, 200,
   "$PassthroughReferrer", true, "application/json", {}, "account_id"},
  {method::del, "/passthrough-referrers/{id}", "deletePassthroughReferrer", "Passthrough referrers",
   "Delete a passthrough referrer", {}, false, 204, {}, false, "application/json", {}, "account_id"},

  {method::get, k_map, "listReferrerMappings", "Referrer mappings", "List an account's referrer mappings",
   {}, false, 200, "$ReferrerMappingList", true, "application/json", {}, "account_id"},
  {method::post, k_map, "createReferrerMapping", "Referrer mappings", "Create a referrer mapping",
   "$ReferrerMappingCreate", false, 201, "$ReferrerMapping", true, "application/json", {}, "account_id"},
  {method::post, "/referrer-mappings/import", "importReferrerMappings", "Referrer mappings",
   "Import referrer mappings (JSON or CSV); all or nothing",
   "$ReferrerMappingImport", true, 200, "$ImportResult", true, "application/json", {}, "account_id"},
  {method::get, "/referrer-mappings/export", "exportReferrerMappings", "Referrer mappings",
   "Export referrer mappings as an import body (JSON or CSV)",
   {}, false, 200, "$ReferrerMappingExport", false, "application/json,text/csv", {}, "account_id"},
  {method::get, "/referrer-mappings/{id}", "getReferrerMapping", "Referrer mappings", "Get a referrer mapping",
   {}, false, 200, "$ReferrerMapping", true, "application/json", {}, "account_id"},
  {method::patch, "/referrer-mappings/{id}", "updateReferrerMapping", "Referrer mappings",
   "Change any subset of a referrer mapping's fields", "$ReferrerMappingPatch", false, 200,
   "$ReferrerMapping", true, "application/json", {}, "account_id"},
  {method::del, "/referrer-mappings/{id}", "deleteReferrerMapping", "Referrer mappings",
   "Delete a referrer mapping", {}, false, 204, {}, false, "application/json", {}, "account_id"},

  {method::get, k_chan, "listChannelRules", "Channel rules", "List an account's channel rules",
   {}, false, 200, "$ChannelRuleList", true, "application/json", {}, "account_id"},
  {method::post, k_chan, "createChannelRule", "Channel rules", "Create a channel rule",
   "$ChannelRuleCreate", false, 201, "$ChannelRule", true, "application/json", {}, "account_id"},
  {method::post, "/channel-rules/import", "importChannelRules", "Channel rules",
   "Import channel rules (JSON or CSV); all or nothing",
   "$ChannelRuleImport", true, 200, "$ImportResult", true, "application/json", {}, "account_id"},
  {method::get, "/channel-rules/export", "exportChannelRules", "Channel rules",
   "Export channel rules as an import body (JSON or CSV)",
   {}, false, 200, "$ChannelRuleExport", false, "application/json,text/csv", {}, "account_id"},
  {method::get, "/channel-rules/{id}", "getChannelRule", "Channel rules", "Get a channel rule",
   {}, false, 200, "$ChannelRule", true, "application/json", {}, "account_id"},
  {method::patch, "/channel-rules/{id}", "updateChannelRule", "Channel rules",
   "Change any subset of a channel rule's fields", "$ChannelRulePatch", false, 200,
   "$ChannelRule", true, "application/json", {}, "account_id"},
  {method::del, "/channel-rules/{id}", "deleteChannelRule", "Channel rules",
   "Delete a channel rule", {}, false, 204, {}, false, "application/json", {}, "account_id"},

  {method::get, "/settings", "getSettings", "Settings",
   "An account's settings (the defaults until first changed)", {}, false, 200, "$Settings", true,
   "application/json", {}, "account_id"},
  {method::patch, "/settings", "updateSettings", "Settings",
   "Change any subset of an account's settings", "$SettingsPatch", false, 200, "$Settings", true,
   "application/json", {}, "account_id"},

  {method::get, "/audit-log", "getAuditLog", "Audit",
   "An account's event log (scope=account, the default) or an admin audit stream (scope=keys, scope=brand)",
   {}, false, 200, R"({"oneOf":[{"$ref":"#/components/schemas/EventPage"},{"$ref":"#/components/schemas/AdminAuditPage"}]})"},
  {method::get, "/admin/snapshots", "listBackups", "Backups", "List the backups (snapshots) of the store",
   {}, false, 200, "$BackupList"},
  {method::post, "/admin/snapshots", "createBackup", "Backups", "Take a consistent backup of the whole store",
   {}, false, 201, "$Backup", true, "application/json", "409"},

  {method::post, "/attribution/resolve", "resolveVisit", "Attribution", "Resolve one visit's attribution",
   "$Visit", false, 200, "$Resolution", true, "application/json", {}, "account_id",
   "The one call a publishable key (role publishable, secret pk_...) may make: from a page of "
   "one of its allowed_origins (its Origin header; 403 otherwise), for its accounts, without "
   "explain or as_of (403), rate-limited per client address (--publishable-rate-limit-rps)."},
  {method::post, "/attribution/resolve-batch", "resolveVisits", "Attribution",
   "Resolve up to 10,000 visits; each invalid visit gets its own error", "$VisitBatch", false, 200,
   "$ResolutionBatch", true, "application/json,application/x-ndjson", {}, "account_id",
   "Sent as application/json ({\"visits\":[...]}), it is answered in one envelope. Sent as "
   "application/x-ndjson (or application/ndjson: one visit object per line, blank lines "
   "skipped), it is answered as application/x-ndjson, one line per visit in order, streamed "
   "(chunked): a resolution, or {\"line\":N,\"error\":{...}} for a line that is not a visit. "
   "A batch that runs out of time after its first lines went out is cut short (the "
   "connection closes before the end of the body).", true},

  {method::get, "/insights", "getInsights", "Insights",
   "What an account's live resolutions said by day (UTC): totals by reason, channel and rule",
   {}, false, 200, "$Insights", true, "application/json", {}, "account_id"},
  {method::get, "/insights/referrers", "listInsightReferrers", "Insights",
   "The fall-through referrer hosts and unknown utm_medium values of a range, with the rule that would catch each",
   {}, false, 200, "$InsightReferrers", true, "application/json", {}, "account_id",
   "Hosts are listed by their visits, most first; a page follows the host its "
   "next_starting_after names. A suggestion's request is a ready body for the endpoint it "
   "names: sending it is an ordinary, audited rule write."},
  {method::get, "/known-referrers", "listKnownReferrers", "Attribution",
   "The known-referrer list (search, social, email, video, shopping and ad sites) and the ad click ids, with its version",
   {}, false, 200, "$KnownReferrerList"},
  {method::get, "/ai-platforms", "listAiPlatforms", "AI referrals", "The AI-platform allow-list and its version",
   {}, false, 200, "$AiPlatformList"},
  {method::get, k_conn, "listConnections", "AI referrals", "List a brand's AI-referral connections",
   {}, false, 200, "$ConnectionList"},
  {method::post, k_conn, "createConnection", "AI referrals", "Create an AI-referral connection",
   "$ConnectionCreate", false, 201, "$Connection"},
  {method::get, "/{brand_id}/ai-referrals/connections/{connection_id}", "getConnection", "AI referrals",
   "Get a connection", {}, false, 200, "$Connection"},
  {method::del, "/{brand_id}/ai-referrals/connections/{connection_id}", "deleteConnection", "AI referrals",
   "Delete a connection (its rows stay in reports)", {}, false, 204, {}, false},
  {method::post, "/{brand_id}/ai-referrals/connections/{connection_id}/events", "pushAiReferrals", "AI referrals",
   "Push 1-10,000 AI-referral rows; each row is accepted or rejected on its own", "$AiRowPush", false, 200,
   "$PushResult", false, "application/json", "409"},
  {method::get, "/{brand_id}/ai-referrals/report", "getAiReferralReport", "AI referrals",
   "Sums of a brand's AI-referral rows over a date range, optionally grouped", {}, false, 200, "$Report",
   true, "application/json", {}, "from to"},
};
// clang-format on

// What each tag of the operations groups.
const std::pair<std::string_view, std::string_view> k_tags[] = {
    {"Health", "Liveness, readiness, metrics and this document: no API key needed"},

    {"API keys",
     "Keys, their roles (viewer, editor, admin; publishable for web pages) and grants; admin "
     "only"},
    {"Passthrough referrers",
     "Domains (booking engines, payment pages) that must not take a visit's attribution"},
    {"Referrer mappings", "Referrer host patterns mapped to utm values, by priority"},
    {"Channel rules", "An account's own channels, tried before the default channel group"},
    {"Settings", "An account's own domains, campaign parameters and attribution switches"},
    {"Audit", "Each account's hash-chained event log, and the admin audit streams"},
    {"Backups", "Consistent backups of the whole store; admin keys holding every account"},
    {"Attribution", "Where a visit came from: the precedence of utm, click ids and rules"},
    {"Insights", "What the rules saw, what fell through, and the rule that would catch it"},
    {"AI referrals", "AI-assistant referral data pushed per brand, and its reports"},
};

// The component schemas no field table describes.
// clang-format off
const std::pair<std::string_view, std::string_view> k_schemas[] = {
  {"ErrorObject", R"({"type":"object","required":["code","message","details"],"additionalProperties":false,
    "properties":{"code":{"$ref":"#/components/schemas/ErrorCode"},"message":{"type":"string"},
    "details":{"type":"array","items":{"type":"object","required":["field","message"],"additionalProperties":false,
      "properties":{"field":{"type":"string","description":"the field, parameter or header at fault: visits[3].landing_url, limit, If-Match..."},"message":{"type":"string"}}}},
    "request_id":{"type":"string","description":"the request's X-Request-Id"}}})"},
  {"Error", R"({"type":"object","required":["success","error"],"additionalProperties":false,
    "properties":{"success":{"const":false},"error":{"$ref":"#/components/schemas/ErrorObject"}}})"},
  {"Readiness", R"({"type":"object","required":["status"],"additionalProperties":false,"properties":{
    "status":{"enum":["ready","not_ready"]},
    "cluster":{"type":"object","required":["connected","caught_up","applied_seq","apply_lag_seconds"],"additionalProperties":false,
      "properties":{"connected":{"type":"boolean"},"caught_up":{"type":"boolean"},"applied_seq":{"type":"integer","minimum":0},"apply_lag_seconds":{"type":"number"}}},
    "reasons":{"type":"array","items":{"type":"string"}}}})"},
  {"ApiKeyPatch", R"({"type":"object","additionalProperties":false,"minProperties":1,"properties":{
    "name":{"type":"string","minLength":1,"maxLength":100},
    "expires_at":{"type":["string","null"],"format":"date-time"},
    "allowed_origins":{"type":"array","minItems":1,"maxItems":100,"items":{"type":"string"},"description":"a publishable key's web origins; no other key has any"}}})"},
  {"ApiKeyRotate", R"({"type":"object","additionalProperties":false,"properties":{
    "overlap_seconds":{"type":"integer","minimum":0,"maximum":2592000,"default":86400}}})"},
  {"StarterPack", R"({"type":"object","required":["version","entries"],"additionalProperties":false,"properties":{
    "version":{"type":"string"},"entries":{"type":"array","items":{"type":"object",
      "required":["domain","service_name","category","utm_source","source"],"additionalProperties":false,
      "properties":{"domain":{"type":"string"},"service_name":{"type":"string"},"category":{"type":"string"},"utm_source":{"type":"string"},"source":{"type":"string"}}}}}})"},
  {"ImportResult", R"({"type":"object","required":["mode","validate_only","created","updated","deleted","unchanged"],"additionalProperties":false,"properties":{
    "mode":{"$ref":"#/components/schemas/ImportMode"},"validate_only":{"type":"boolean"},
    "created":{"type":"integer","minimum":0},"updated":{"type":"integer","minimum":0},
    "deleted":{"type":"integer","minimum":0},"unchanged":{"type":"integer","minimum":0}}})"},
  {"ImportMode", R"({"enum":["create","upsert","replace"]})"},
  {"VisitBatch", R"({"type":"object","required":["visits"],"additionalProperties":false,"properties":{
    "visits":{"type":"array","maxItems":10000,"items":{"$ref":"#/components/schemas/Visit"}}}})"},
  {"ExplainStep", R"({"type":"object","required":["step","applies","decides","why"],"additionalProperties":false,"properties":{
    "step":{"enum":["utm","click_id","internal","passthrough","mapping","ai_platform","known_referrer","referral","direct","channel"]},
    "applies":{"type":"boolean"},"decides":{"type":"boolean"},"why":{"type":"string"},
    "rules":{"type":"array","items":{"type":"object","required":["id","matched","note"],"additionalProperties":false,"properties":{
      "id":{"type":"integer"},"domain":{"type":"string"},"referrer_pattern":{"type":"string"},
      "name":{"type":"string"},"channel":{"type":"string"},
      "match_type":{"type":"string"},"priority":{"type":"integer"},"matched":{"type":"boolean"},"note":{"type":"string"}}}}}})"},
  {"ResolutionBatch", R"({"type":"object","required":["results"],"additionalProperties":false,"properties":{
    "results":{"type":"array","description":"in the order of the visits","items":{"oneOf":[
      {"$ref":"#/components/schemas/Resolution"},
      {"type":"object","required":["error"],"additionalProperties":false,"properties":{"error":{"$ref":"#/components/schemas/ErrorObject"}}}]}}}})"},
  {"ReferrerCategory", R"({"enum":["search","social","email","video","shopping","paid","unknown"]})"},
  {"Channel", R"({"description":"the default channel group's channel","enum":["Direct","Cross-network","Paid Shopping","Paid Search","Paid Social","Paid Video","Display","Paid Other","AI assistants","Organic Shopping","Organic Social","Organic Video","Organic Search","Referral","Email","Affiliates","Audio","SMS","Mobile Push Notifications","Unassigned"]})"},
  {"KnownReferrerList", R"({"type":"object","required":["version","lists","click_ids","referrers"],"additionalProperties":false,"properties":{
    "version":{"type":"string"},
    "lists":{"type":"array","items":{"type":"object","required":["id","origin","revision"],"additionalProperties":false,
      "properties":{"id":{"type":"string"},"origin":{"type":"string"},"revision":{"type":"string"}}}},
    "click_ids":{"type":"array","items":{"type":"object","required":["name","source","medium","paid","platform","documentation"],"additionalProperties":false,
      "properties":{"name":{"type":"string"},"source":{"type":"string"},"medium":{"type":"string"},"paid":{"type":"boolean"},
        "platform":{"type":"string"},"documentation":{"type":"string"}}}},
    "referrers":{"type":"array","items":{"type":"object","required":["source","name","category","medium","hosts","paths","search_params","lists"],"additionalProperties":false,
      "properties":{"source":{"type":"string"},"name":{"type":"string"},"category":{"$ref":"#/components/schemas/ReferrerCategory"},
        "medium":{"type":"string"},"hosts":{"type":"array","items":{"type":"string"}},"paths":{"type":"array","items":{"type":"string"}},
        "search_params":{"type":"array","items":{"type":"string"}},"lists":{"type":"array","items":{"type":"string"}}}}}}})"},
  {"AiPlatformList", R"({"type":"object","required":["version","platforms"],"additionalProperties":false,"properties":{
    "version":{"type":"string"},"platforms":{"type":"array","items":{"type":"object",
      "required":["id","name","hosts","paths","app_ids","source_names","sources"],"additionalProperties":false,
      "properties":{"id":{"type":"string"},"name":{"type":"string"},
        "hosts":{"type":"array","items":{"type":"string"}},"paths":{"type":"array","items":{"type":"string"}},
        "app_ids":{"type":"array","items":{"type":"string"}},"source_names":{"type":"array","items":{"type":"string"}},
        "sources":{"type":"array","items":{"type":"string"}}}}}}})"},
  {"PushResult", R"({"type":"object","required":["accepted","rejected","errors"],"additionalProperties":false,"properties":{
    "accepted":{"type":"integer","minimum":0},"rejected":{"type":"integer","minimum":0},
    "errors":{"type":"array","items":{"type":"string"},"description":"one message per rejected row: row N: what is wrong"}}})"},
  {"ReportNumbers", R"({"type":"object","required":["rows","pageviews","sessions","transactions","purchase_revenue"],"properties":{
    "rows":{"type":"integer","minimum":0},"pageviews":{"type":["integer","null"]},"sessions":{"type":["integer","null"]},
    "transactions":{"type":["integer","null"]},"purchase_revenue":{"type":["number","null"]}}})"},
  {"InsightCounts", R"({"type":"object","required":["resolutions","by_reason","by_channel","by_rule"],"properties":{
    "resolutions":{"type":"integer","minimum":0},
    "by_reason":{"type":"object","additionalProperties":{"type":"integer","minimum":1},"description":"reasons with at least one resolution"},
    "by_channel":{"type":"object","additionalProperties":{"type":"integer","minimum":1},"description":"channels with at least one resolution; past 999 names a day, the rest are counted under the name (other) together"},
    "by_rule":{"type":"array","items":{"type":"object","required":["type","id","resolutions"],"additionalProperties":false,"properties":{
      "type":{"enum":["passthrough","mapping","channel_rule"]},"id":{"type":"integer"},"resolutions":{"type":"integer","minimum":1}}}}}})"},
  {"Insights", R"({"type":"object","required":["account_id","from","to","days_kept","partial","nodes","nodes_missing","totals","days"],"additionalProperties":false,"properties":{
    "account_id":{"type":"string"},"from":{"type":"string","format":"date"},"to":{"type":"string","format":"date"},
    "days_kept":{"type":"integer","minimum":1},
    "partial":{"type":"boolean","description":"cluster mode: a live node's counts are missing (it did not answer in time); they are in nodes_missing"},
    "nodes":{"type":"array","items":{"type":"string"},"description":"cluster mode: the nodes whose counts the answer holds (each node counts what it resolved); empty on a single node"},
    "nodes_missing":{"type":"array","items":{"type":"string"},"description":"cluster mode: the live nodes whose counts are missing"},
    "totals":{"$ref":"#/components/schemas/InsightCounts"},
    "days":{"type":"array","description":"every day of the range, oldest first",
      "items":{"allOf":[{"$ref":"#/components/schemas/InsightCounts"},{"type":"object","required":["date"],"properties":{"date":{"type":"string","format":"date"}}}]}}}})"},
  {"InsightSuggestion", R"({"type":"object","required":["kind","reason","request","dismiss"],"additionalProperties":false,"properties":{
    "kind":{"enum":["passthrough","mapping","own_domain","channel_rule","nothing","dismissed"]},"reason":{"type":"string"},
    "dismiss":{"description":"the request that dismisses this suggestion (the host or medium added to the settings' insights_dismissed_hosts or insights_dismissed_mediums); null once dismissed",
      "oneOf":[{"type":"null"},{"type":"object","required":["method","path","body"],"additionalProperties":false,"properties":{
      "method":{"enum":["PATCH"]},"path":{"enum":["/settings"]},"body":{"type":"object"}}}]},
    "request":{"oneOf":[{"type":"null"},{"type":"object","required":["method","path","body"],"additionalProperties":false,"properties":{
      "method":{"enum":["POST","PATCH"]},"path":{"enum":["/passthrough-referrers","/referrer-mappings","/channel-rules","/settings"]},
      "body":{"type":"object"}}}]}}})"},
  {"InsightReferrers", R"({"type":"object","required":["account_id","from","to","partial","nodes","nodes_missing","unlisted_at_most","hosts_forgotten","referrers","unknown_mediums","has_more","next_starting_after"],
    "additionalProperties":false,"properties":{
    "account_id":{"type":"string"},"from":{"type":"string","format":"date"},"to":{"type":"string","format":"date"},
    "partial":{"type":"boolean","description":"cluster mode: a live node's counts are missing (it did not answer in time); they are in nodes_missing"},
    "nodes":{"type":"array","items":{"type":"string"},"description":"cluster mode: the nodes whose counts the answer holds (each node counts what it resolved); empty on a single node"},
    "nodes_missing":{"type":"array","items":{"type":"string"},"description":"cluster mode: the live nodes whose counts are missing"},
    "unlisted_at_most":{"type":"integer","minimum":0,"description":"a host not listed had at most this many fall-through visits in the range"},
    "hosts_forgotten":{"type":"integer","minimum":0,"description":"hosts the fixed-size summaries forgot to make room for others"},
    "referrers":{"type":"array","items":{"type":"object","required":["host","registrable_domain","visits","visits_overcount","visits_with_session","landing_hosts","more_landing_hosts","first_seen","last_seen","suggestion"],
      "additionalProperties":false,"properties":{
      "host":{"type":"string"},"registrable_domain":{"type":"string"},
      "visits":{"type":"integer","minimum":1},"visits_overcount":{"type":"integer","minimum":0,"description":"visits may be over by at most this many; 0 when exact"},
      "visits_with_session":{"type":"integer","minimum":0},
      "landing_hosts":{"type":"array","maxItems":4,"items":{"type":"string"}},"more_landing_hosts":{"type":"boolean"},
      "first_seen":{"type":"integer","description":"Unix ms"},"last_seen":{"type":"integer","description":"Unix ms"},
      "suggestion":{"$ref":"#/components/schemas/InsightSuggestion"}}}},
    "unknown_mediums":{"type":"array","items":{"type":"object","required":["utm_medium","visits","suggestion"],"additionalProperties":false,"properties":{
      "utm_medium":{"type":"string"},"visits":{"type":"integer","minimum":1},"suggestion":{"$ref":"#/components/schemas/InsightSuggestion"}}}},
    "has_more":{"type":"boolean"},"next_starting_after":{"type":["string","null"]}}})"},
  {"Report", R"({"type":"object","required":["brand_id","from","to","connection_id","group_by","totals"],
    "additionalProperties":false,"properties":{
    "brand_id":{"type":"integer"},"from":{"type":"string","format":"date"},"to":{"type":"string","format":"date"},
    "connection_id":{"type":["string","null"]},"group_by":{"enum":["platform","date","page","date,platform",null]},
    "groups":{"type":"array","description":"with group_by: one page of groups, in key order; each also has the key under the group_by name",
      "items":{"$ref":"#/components/schemas/ReportNumbers"}},
    "has_more":{"type":"boolean","description":"with group_by"},"next_starting_after":{"type":["string","null"],"description":"with group_by"},
    "totals":{"$ref":"#/components/schemas/ReportNumbers","description":"over every group, not only the page's"}}})"},
  {"Event", R"({"type":"object","required":["account_id","seq","timestamp","type","key_id","entity","entity_id","prev_hash","hash"],"properties":{
    "account_id":{"type":"string"},"seq":{"type":"integer","minimum":1},"timestamp":{"type":"string","format":"date-time"},
    "type":{"type":"string","description":"passthrough_referrer.created, referrer_mapping.deleted..."},
    "key_id":{"type":["integer","null"]},"entity":{"type":"string"},"entity_id":{"type":"integer"},
    "object":{"type":["object","null"],"description":"the entity after the change"},
    "changed":{"type":"array","items":{"type":"string"}},
    "prev_hash":{"type":"string"},"hash":{"type":"string","description":"SHA-256 chaining the account's events"}}})"},
  {"EventPage", R"({"type":"object","required":["account_id","head_seq","events","next_after_seq"],"additionalProperties":false,"properties":{
    "account_id":{"type":"string"},"head_seq":{"type":"integer","minimum":0},
    "events":{"type":"array","items":{"$ref":"#/components/schemas/Event"}},
    "next_after_seq":{"type":["integer","null"]}}})"},
  {"AdminAuditPage", R"({"type":"object","required":["scope","entries","has_more","next_starting_after"],"additionalProperties":false,"properties":{
    "scope":{"type":"string","description":"keys, or brand.<brand_id>"},
    "entries":{"type":"array","items":{"type":"object","required":["id","at","type"],"properties":{
      "id":{"type":"string","description":"time-ordered entry id"},"at":{"type":"string","format":"date-time"},
      "type":{"enum":["key.created","key.updated","key.rotated","key.revoked","key.expired_use","connection.created","connection.deleted","push"]}}}},
    "has_more":{"type":"boolean"},"next_starting_after":{"type":["string","null"]}}})"},
  {"Backup", R"({"type":"object","required":["name","path","created_at","size_bytes","accounts"],"additionalProperties":false,"properties":{
    "name":{"type":"string"},"path":{"type":"string"},"created_at":{"type":"string","format":"date-time"},
    "size_bytes":{"type":"integer","minimum":0},
    "accounts":{"type":"object","description":"each account's event sequence in the backup","additionalProperties":{"type":"integer"}}}})"},
  {"BackupList", R"({"type":"object","required":["snapshots","total","has_more","next_starting_after"],"additionalProperties":false,"properties":{
    "snapshots":{"type":"array","items":{"$ref":"#/components/schemas/Backup"}},"total":{"type":"integer","minimum":0},
    "has_more":{"type":"boolean"},"next_starting_after":{"type":["string","null"]}}})"},
};
// clang-format on

// The query parameters routes read: their schema and meaning.
// clang-format off
const std::map<std::string_view, std::pair<std::string_view, std::string_view>> k_query = {
  {"account_id", {R"({"type":"string","pattern":"^[a-z0-9][a-z0-9_-]{0,63}$"})", "the account (tenant) the request is about"}},
  {"include_inactive", {R"({"type":"boolean","default":false})", "also list inactive rules"}},
  {"as_of", {R"({"type":"string","format":"date-time"})", "answer as the account stood at this time (RFC 3339)"}},
  {"limit", {R"({"type":"integer","minimum":1,"maximum":1000,"default":100})", "page size"}},
  {"starting_after", {R"({"type":"string","minLength":1,"maxLength":8192})", "the next_starting_after of the previous page"}},
  {"is_active", {R"({"type":"boolean"})", "only active (true) or only inactive, revoked or deleted (false) items; keys and connections: default true, rules: every rule include_inactive selects"}},
  {"q", {R"({"type":"string","minLength":1,"maxLength":255})", "case-insensitive substring of the item's domain, pattern, name, label or description (1-255 bytes)"}},
  {"match_type", {R"({"$ref":"#/components/schemas/MatchType"})", "only mappings of this match type"}},
  {"explain", {R"({"type":"boolean","default":false})", "add every step of the precedence to the answer"}},
  {"pack", {R"({"const":"starter"})", "import the built-in starter pack (no body; mode defaults to upsert)"}},
  {"mode", {R"({"$ref":"#/components/schemas/ImportMode"})", "for CSV and pack imports (a JSON body carries its own)"}},
  {"validate_only", {R"({"type":"boolean","default":false})", "for CSV and pack imports: check and count, change nothing"}},
  {"format", {R"({"enum":["json","csv"],"default":"json"})", "the export's format"}},
  {"scope", {R"({"enum":["account","keys","brand"],"default":"account"})", "which log to read"}},
  {"after_seq", {R"({"type":"integer","minimum":0})", "scope=account: events after this sequence"}},
  {"brand_id", {R"({"type":"integer","minimum":1})", "scope=brand: the brand"}},
  {"from", {R"({"type":"string","format":"date"})", "first day (inclusive; insights: by default 6 days before to)"}},
  {"to", {R"({"type":"string","format":"date"})", "last day (inclusive; the AI report's range covers at most 3660 days; insights: by default today (UTC), and the range at most the days kept)"}},
  {"group_by", {R"({"enum":["platform","date","page","date,platform"]})", "group the sums (date,platform: one group per day and platform)"}},
  {"connection_id", {R"({"type":"string"})", "only this connection's rows"}},
};
// clang-format on

std::string_view verb_name(method m) {
  switch (m) {
    case method::get:
      return "get";
    case method::post:
      return "post";
    case method::patch:
      return "patch";
    case method::put:
      return "put";
    case method::del:
      return "delete";
    case method::head:
      return "head";
    case method::options:
      return "options";
    case method::other:
      break;
  }
  return "other";
}

std::string route_name(method m, std::string_view pattern) {
  std::string out(to_string(m));
  out += ' ';
  out += pattern;
  return out;
}

const operation* find_operation(method m, std::string_view pattern) {
  for (const auto& op : k_operations)
    if (op.verb == m && op.pattern == pattern) return &op;
  return nullptr;
}

// The items of a list separated by `sep` (empty items dropped).
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto at = s.find(sep);
    if (at != 0) out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) { return split(s, ' '); }

class builder {
 public:
  builder() { doc_.SetObject(); }

  alloc_t& a() { return doc_.GetAllocator(); }
  value str(std::string_view s) {
    return value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a());
  }
  value obj() { return value(rapidjson::kObjectType); }

  value parse(std::string_view json) {
    rapidjson::Document d(&a());
    d.Parse(json.data(), json.size());
    if (d.HasParseError()) throw std::logic_error("openapi: bad schema text: " + std::string(json));
    value v;
    v.CopyFrom(d, a());
    return v;
  }
  // "$Name" -> {"$ref": "#/components/schemas/Name"}; anything else is JSON text.
  value schema(std::string_view s) {
    if (s.starts_with('$')) return ref(s.substr(1));
    return parse(s);
  }
  value ref(std::string_view name) {
    value v = obj();
    add(v, "$ref", str("#/components/schemas/" + std::string(name)));
    return v;
  }
  void add(value& o, std::string_view key, value v) { o.AddMember(str(key), v, a()); }
  value& member(value& o, std::string_view key) {
    auto it = o.FindMember(value(key.data(), static_cast<rapidjson::SizeType>(key.size())));
    if (it == o.MemberEnd()) {
      add(o, key, obj());
      return o[value(key.data(), static_cast<rapidjson::SizeType>(key.size()))];
    }
    return it->value;
  }

  rapidjson::Document& doc() { return doc_; }

 private:
  rapidjson::Document doc_;
};

// -- schemas from the field tables --------------------------------------------------------

enum class shape { output, create, patch };

template <class T>
value field_schema(builder& b, const domain::schema::field<T>& f) {
  using domain::schema::type;
  value s = b.obj();
  auto limits = [&](bool text) {
    if (f.max == 0 && f.min == 0) return;
    if (text) {
      if (f.min > 0) b.add(s, "minLength", value(f.min));
      if (f.max > 0) b.add(s, "maxLength", value(f.max));
    } else {
      b.add(s, "minimum", value(f.min));
      if (f.max > 0 && f.max != std::numeric_limits<std::int64_t>::max())
        b.add(s, "maximum", value(f.max));
    }
  };
  auto nullable = [&](std::string_view t) {
    value ts(rapidjson::kArrayType);
    ts.PushBack(b.str(t), b.a());
    ts.PushBack(b.str("null"), b.a());
    b.add(s, "type", std::move(ts));
  };
  switch (f.type) {
    case type::string:
      b.add(s, "type", b.str("string"));
      limits(true);
      break;
    case type::nullable_string:
      nullable("string");
      limits(true);
      break;
    case type::integer:
      b.add(s, "type", b.str("integer"));
      limits(false);
      break;
    case type::boolean:
      b.add(s, "type", b.str("boolean"));
      break;
    case type::timestamp:
      b.add(s, "type", b.str("string"));
      b.add(s, "format", b.str("date-time"));
      break;
    case type::nullable_timestamp:
      nullable("string");
      b.add(s, "format", b.str("date-time"));
      break;
    case type::choice: {
      value names(rapidjson::kArrayType);
      for (auto n : std::get<domain::schema::choice_access<T>>(f.at).names)
        names.PushBack(b.str(n), b.a());
      b.add(s, "type", b.str("string"));
      b.add(s, "enum", std::move(names));
      break;
    }
    case type::date:
      b.add(s, "type", b.str("string"));
      b.add(s, "format", b.str("date"));
      break;
    case type::nullable_integer:
      nullable("integer");
      limits(false);
      break;
    case type::nullable_number:
      nullable("number");
      b.add(s, "minimum", value(f.min));
      break;
    case type::custom:
      return b.parse(std::get<domain::schema::custom_access<T>>(f.at).json_schema);
  }
  if (f.tag == 0) {  // the owning account's id
    s = b.obj();
    b.add(s, "type", b.str("string"));
  }
  return s;
}

// The object schema of a field table: what the API answers (`output`), what a create body
// takes (`create`: the body fields, the required ones required) or a patch body (`patch`:
// any subset; an empty one changes nothing). `extra` adds properties (name, JSON Schema text) to an
// output.
template <class T>
value table_schema(
    builder& b, std::span<const domain::schema::field<T>> fields, shape sh,
    std::initializer_list<std::pair<std::string_view, std::string_view>> extra = {}) {
  using namespace domain::schema;
  value s = b.obj();
  b.add(s, "type", b.str("object"));
  value props = b.obj();
  value required(rapidjson::kArrayType);
  for (const auto& f : fields) {
    if (sh == shape::output) {
      if ((f.flags & hidden) != 0) continue;
      if ((f.flags & omit_null) == 0) required.PushBack(b.str(f.name), b.a());
    } else {
      if (!f.in_body()) continue;
      if (sh == shape::create && (f.flags & domain::schema::required) != 0)
        required.PushBack(b.str(f.name), b.a());
    }
    b.add(props, f.name, field_schema(b, f));
  }
  for (const auto& [name, json] : extra) {
    b.add(props, name, b.parse(json));
    required.PushBack(b.str(name), b.a());
  }
  if (!required.Empty()) b.add(s, "required", std::move(required));
  b.add(s, "additionalProperties", value(false));
  b.add(s, "properties", std::move(props));
  return s;
}

// {"<items>": [item], "total", "active_count", "has_more", "next_starting_after"}
value list_schema(builder& b, std::string_view items, std::string_view item, bool active_count,
                  std::string_view cursor_type) {
  std::string json =
      R"({"type":"object","additionalProperties":false,"required":[")" + std::string(items) +
      R"(","total",)" + (active_count ? R"("active_count",)" : "") +
      R"("has_more","next_starting_after"],"properties":{")" + std::string(items) +
      R"(":{"type":"array","items":{"$ref":"#/components/schemas/)" + std::string(item) +
      R"("}},"total":{"type":"integer","minimum":0,"description":"every item of the collection, not only the page's"},)" +
      (active_count ? R"("active_count":{"type":"integer","minimum":0},)" : "") +
      R"("has_more":{"type":"boolean"},"next_starting_after":{"type":[")" +
      std::string(cursor_type) +
      R"(","null"],"description":"the starting_after of the next page, while has_more"}}})";
  return b.parse(json);
}

// An import body: {"mode", "validate_only", "<items>": [create bodies]}.
value import_schema(builder& b, std::string_view items, std::string_view create) {
  return b.parse(
      R"({"type":"object","required":[")" + std::string(items) +
      R"("],"additionalProperties":false,"properties":{"mode":{"$ref":"#/components/schemas/ImportMode"},"validate_only":{"type":"boolean","default":false},")" +
      std::string(items) +
      R"(":{"type":"array","maxItems":10000,"description":"1 to 10,000 rules; none only with mode replace, which then deletes every rule of the kind","items":{"$ref":"#/components/schemas/)" +
      std::string(create) + R"("}}}})");
}

value export_schema(builder& b, std::string_view items, std::string_view create) {
  return b.parse(R"({"type":"object","required":[")" + std::string(items) +
                 R"("],"additionalProperties":false,"properties":{")" + std::string(items) +
                 R"(":{"type":"array","items":{"$ref":"#/components/schemas/)" +
                 std::string(create) + R"("}}}})");
}

void add_components(builder& b, value& schemas) {
  using namespace domain;
  const auto pass = passthrough_fields();
  const auto map = mapping_fields();
  const auto key = api_key_fields();
  const auto conn = connection_fields();
  b.add(schemas, "Visit", b.parse(visit_json_schema()));
  {
    const std::pair<std::string_view, std::string_view> explain[] = {
        {"explain",
         R"({"type":"array","description":"with explain=true: every step of the precedence, in order","items":{"$ref":"#/components/schemas/ExplainStep"}})"}};
    b.add(schemas, "Resolution", b.parse(resolution_json_schema(explain)));
  }
  b.add(schemas, "PassthroughReferrer", table_schema(b, pass, shape::output));
  b.add(schemas, "PassthroughReferrerCreate", table_schema(b, pass, shape::create));
  b.add(schemas, "PassthroughReferrerPatch", table_schema(b, pass, shape::patch));
  b.add(schemas, "PassthroughReferrerList",
        list_schema(b, "referrers", "PassthroughReferrer", true, "integer"));
  b.add(schemas, "PassthroughReferrerImport",
        import_schema(b, "referrers", "PassthroughReferrerCreate"));
  b.add(schemas, "PassthroughReferrerExport",
        export_schema(b, "referrers", "PassthroughReferrerCreate"));
  b.add(schemas, "ReferrerMapping", table_schema(b, map, shape::output));
  b.add(schemas, "ReferrerMappingCreate", table_schema(b, map, shape::create));
  b.add(schemas, "ReferrerMappingPatch", table_schema(b, map, shape::patch));
  b.add(schemas, "ReferrerMappingList",
        list_schema(b, "mappings", "ReferrerMapping", true, "integer"));
  b.add(schemas, "ReferrerMappingImport", import_schema(b, "mappings", "ReferrerMappingCreate"));
  b.add(schemas, "ReferrerMappingExport", export_schema(b, "mappings", "ReferrerMappingCreate"));
  {
    value names(rapidjson::kArrayType);
    for (const auto& f : map)
      if (f.type == schema::type::choice)
        for (auto n : std::get<schema::choice_access<referrer_mapping>>(f.at).names)
          names.PushBack(b.str(n), b.a());
    value s = b.obj();
    b.add(s, "type", b.str("string"));
    b.add(s, "enum", std::move(names));
    b.add(schemas, "MatchType", std::move(s));
  }
  const auto chan = channel_rule_fields();
  b.add(schemas, "ChannelRule", table_schema(b, chan, shape::output));
  b.add(schemas, "ChannelRuleCreate", table_schema(b, chan, shape::create));
  b.add(schemas, "ChannelRulePatch", table_schema(b, chan, shape::patch));
  b.add(schemas, "ChannelRuleList",
        list_schema(b, "channel_rules", "ChannelRule", true, "integer"));
  b.add(schemas, "ChannelRuleImport", import_schema(b, "channel_rules", "ChannelRuleCreate"));
  b.add(schemas, "ChannelRuleExport", export_schema(b, "channel_rules", "ChannelRuleCreate"));
  b.add(schemas, "Settings", table_schema(b, settings_fields(), shape::output));
  b.add(schemas, "SettingsPatch", table_schema(b, settings_fields(), shape::patch));
  b.add(schemas, "ApiKey", table_schema(b, key, shape::output));
  b.add(schemas, "ApiKeyCreate", table_schema(b, key, shape::create));
  b.add(
      schemas, "ApiKeyWithSecret",
      table_schema(
          b, key, shape::output,
          {{"secret",
            R"({"type":["string","null"],"description":"the secret, shown only in this answer; null when an idempotent replay comes after a restart"})"}}));
  b.add(schemas, "ApiKeyList", list_schema(b, "keys", "ApiKey", true, "integer"));
  b.add(schemas, "Connection", table_schema(b, conn, shape::output));
  b.add(schemas, "ConnectionCreate", table_schema(b, conn, shape::create));
  b.add(schemas, "ConnectionList", list_schema(b, "connections", "Connection", true, "string"));
  {
    value row = table_schema(b, ai_row_fields(), shape::create);
    value s = b.obj();
    b.add(s, "type", b.str("array"));
    b.add(s, "minItems", value(1));
    b.add(s, "maxItems", value(static_cast<std::int64_t>(k_push_max_rows)));
    b.add(s, "items", std::move(row));
    b.add(schemas, "AiRowPush", std::move(s));
  }
  {
    // Every error code the server answers with, from the error table.
    std::set<std::string_view> codes;
    for (int e = 1; e <= static_cast<int>(errc::precondition_failed); ++e)
      codes.insert(map_error(static_cast<errc>(e)).code);
    value names(rapidjson::kArrayType);
    for (auto c : codes)
      names.PushBack(b.str(c), b.a());
    value s = b.obj();
    b.add(s, "type", b.str("string"));
    b.add(s, "enum", std::move(names));
    b.add(schemas, "ErrorCode", std::move(s));
  }
  for (const auto& [name, json] : k_schemas)
    b.add(schemas, name, b.parse(json));
}

// -- paths -------------------------------------------------------------------------------

value header_ref(builder& b, std::string_view name) {
  value v = b.obj();
  b.add(v, "$ref", b.str("#/components/headers/" + std::string(name)));
  return v;
}

value parameter_ref(builder& b, std::string_view name) {
  value v = b.obj();
  b.add(v, "$ref", b.str("#/components/parameters/" + std::string(name)));
  return v;
}

struct route_facts {
  bool authenticated = false;
  bool has_body = false;
  bool path_params = false;
  bool writes = false;
  bool if_match = false;  // PATCH/DELETE of an object whose GET carries an ETag
  bool account = false;   // reads account_id
};

value response_object(builder& b, const operation& op, const route& rt, const route_facts& f,
                      unsigned status) {
  value r = b.obj();
  value headers = b.obj();
  b.add(headers, "X-Request-Id", header_ref(b, "X-Request-Id"));
  if (f.authenticated) {
    for (auto h : {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"})
      b.add(headers, h, header_ref(b, h));
  }
  if (status == op.status) {
    b.add(r, "description", b.str(op.summary));
    if (rt.etag && status < 300) b.add(headers, "ETag", header_ref(b, "ETag"));
    if ((status == 201 && op.pattern != "/admin/snapshots") || status == 301)
      b.add(headers, "Location", header_ref(b, "Location"));

    if (rt.idempotent) b.add(headers, "Idempotent-Replayed", header_ref(b, "Idempotent-Replayed"));
    if (f.account && f.writes) b.add(headers, "Referrald-Seq", header_ref(b, "Referrald-Seq"));
    if (op.response == "$ApiKeyWithSecret")
      b.add(headers, "Cache-Control", header_ref(b, "Cache-Control"));
    if (op.pattern == "/js/referrald.js")
      b.add(headers, "Cache-Control", header_ref(b, "Cache-Control-Public"));
    if (op.response_type.find("text/csv") != std::string_view::npos)
      b.add(headers, "Content-Disposition", header_ref(b, "Content-Disposition"));
    if (!op.response.empty()) {
      value content = b.obj();
      // Media types hold spaces ("text/plain; version=0.0.4"): the list is comma-separated.
      for (auto type : split(op.response_type, ',')) {
        value media = b.obj();
        if (type == "application/x-ndjson") {
          b.add(
              media, "schema",
              b.parse(
                  R"({"type":"string","description":"One JSON object per line, each ending with a newline: a result as in the JSON form, or {\"line\":N,\"error\":{...}}"})"));
        } else if (!type.starts_with("application/json")) {
          b.add(media, "schema", b.parse(R"({"type":"string"})"));
        } else if (op.data) {
          value env = b.parse(
              R"({"type":"object","required":["success","data"],"additionalProperties":false,"properties":{"success":{"const":true}}})");
          b.add(env["properties"], "data", b.schema(op.response));
          b.add(media, "schema", std::move(env));
        } else {
          b.add(media, "schema", b.schema(op.response));
        }
        b.add(content, type, std::move(media));
      }
      b.add(r, "content", std::move(content));
    }
  } else if (status == 304) {
    b.add(r, "description", b.str("Not modified: If-None-Match named the current ETag"));
    b.add(headers, "ETag", header_ref(b, "ETag"));
    if (op.pattern == "/js/referrald.js")
      b.add(headers, "Cache-Control", header_ref(b, "Cache-Control-Public"));
  } else if (status == 503 && op.pattern == "/readyz") {
    b.add(r, "description", b.str("Not ready"));
    b.add(headers, "Retry-After", header_ref(b, "Retry-After"));
    value content = b.obj();
    value media = b.obj();
    b.add(media, "schema", b.schema("$Readiness"));
    b.add(content, "application/json", std::move(media));
    b.add(r, "content", std::move(content));
  } else {
    value ref = b.obj();
    b.add(ref, "$ref", b.str("#/components/responses/" + std::to_string(status)));
    return ref;
  }
  b.add(r, "headers", std::move(headers));
  return r;
}

value operation_object(builder& b, const operation& op, const route& rt, bool if_match) {
  route_facts f;
  f.authenticated = rt.access.has_value();
  f.has_body = !op.request.empty();
  f.path_params = rt.pattern.find('{') != std::string::npos;
  f.writes = rt.verb == method::post || rt.verb == method::patch || rt.verb == method::del;
  if (rt.verb == method::post && (op.pattern.find("/attribution/") != std::string_view::npos))
    f.writes = false;
  f.account =
      std::find(rt.query_names.begin(), rt.query_names.end(), "account_id") != rt.query_names.end();

  value o = b.obj();
  value tags(rapidjson::kArrayType);
  tags.PushBack(b.str(op.tag), b.a());
  b.add(o, "tags", std::move(tags));
  b.add(o, "operationId", b.str(op.id));
  b.add(o, "summary", b.str(op.summary));
  std::string description(op.description);
  if (rt.access) {
    if (!description.empty()) description += "\n\n";
    description += "Needs a key with the role ";
    description += *rt.access == domain::access::read    ? "viewer"
                   : *rt.access == domain::access::write ? "editor"
                                                         : "admin";
    description += " or above.";
  }
  if (!description.empty()) b.add(o, "description", b.str(description));
  if (!rt.access) b.add(o, "security", value(rapidjson::kArrayType));

  value params(rapidjson::kArrayType);
  for (const auto& seg : rt.segments) {
    if (!seg.starts_with('{')) continue;
    params.PushBack(parameter_ref(b, "path_" + seg.substr(1, seg.size() - 2)), b.a());
  }
  auto required_query = words(op.required_query);
  // Lists paged by numeric id (rules, API keys) take the last id as their cursor.
  const bool id_cursor = op.id == "listApiKeys" || op.id == "listPassthroughReferrers" ||
                         op.id == "listReferrerMappings";
  for (const auto& q : rt.query_names) {
    auto it = k_query.find(q);
    if (it == k_query.end())
      throw std::logic_error("openapi: query parameter '" + q + "' of " +
                             route_name(rt.verb, rt.pattern) + " is not described");
    value p = b.obj();
    b.add(p, "name", b.str(q));
    b.add(p, "in", b.str("query"));
    b.add(p, "description", b.str(it->second.second));
    bool req = std::find(required_query.begin(), required_query.end(), q) != required_query.end();
    if (req) b.add(p, "required", value(true));
    if (q == "starting_after" && id_cursor) {
      b.add(p, "schema", b.parse(R"({"type":"integer","minimum":0})"));
    } else {
      b.add(p, "schema", b.parse(it->second.first));
    }
    params.PushBack(std::move(p), b.a());
  }
  if (rt.static_file) {
    // Any query (a page's cache buster, ?v=2) is taken and not read: a free-form parameter.
    params.PushBack(
        b.parse(
            R"({"name":"any","in":"query","style":"form","explode":true,"description":"A static file takes any query string (a cache buster such as ?v=2) and does not read it.","schema":{"type":"object","additionalProperties":{"type":"string"}}})"),
        b.a());
  }
  if (f.account) params.PushBack(parameter_ref(b, "Referrald-Min-Seq"), b.a());
  if (rt.etag && rt.verb == method::get) params.PushBack(parameter_ref(b, "If-None-Match"), b.a());
  f.if_match = if_match;
  if (f.if_match) params.PushBack(parameter_ref(b, "If-Match"), b.a());
  if (rt.idempotent) params.PushBack(parameter_ref(b, "Idempotency-Key"), b.a());
  params.PushBack(parameter_ref(b, "X-Request-Id"), b.a());
  b.add(o, "parameters", std::move(params));

  if (f.has_body) {
    value body = b.obj();
    // A rotation's body is optional, and so is an import's when pack=starter stands for it.
    const bool has_pack =
        std::find(rt.query_names.begin(), rt.query_names.end(), "pack") != rt.query_names.end();
    b.add(body, "required", value(op.request != "$ApiKeyRotate" && !has_pack));
    std::string limit = "At most " + std::to_string(rt.body_limit) + " bytes (else 413).";
    b.add(body, "description", b.str(limit));
    value content = b.obj();
    value media = b.obj();
    b.add(media, "schema", b.schema(op.request));
    b.add(content, "application/json", std::move(media));
    if (op.csv_request) {
      value csv = b.obj();
      b.add(
          csv, "schema",
          b.parse(
              R"({"type":"string","description":"RFC 4180 CSV: a header row of body field names, then one rule per row"})"));
      b.add(content, "text/csv", std::move(csv));
    }
    if (op.ndjson) {
      for (const char* type : {"application/x-ndjson", "application/ndjson"}) {
        value lines = b.obj();
        b.add(
            lines, "schema",
            b.parse(
                R"({"type":"string","description":"One visit object per line (as in the JSON form's visits); blank lines are skipped"})"));
        b.add(content, type, std::move(lines));
      }
    }
    b.add(body, "content", std::move(content));
    b.add(o, "requestBody", std::move(body));
    b.add(o, "x-max-body-bytes", value(static_cast<std::uint64_t>(rt.body_limit)));
    // A push or a batch answers 200 and reports each bad row or visit in its answer.
    if (op.pattern.ends_with("/events") || op.pattern.ends_with("/resolve-batch"))
      b.add(o, "x-items-checked-one-by-one", value(true));
  }

  // Any route refuses a body over its limit (413) and a header section over 16 KiB (431).
  std::set<unsigned> statuses{op.status, 400, 413, 431, 500, 503};
  if (f.authenticated) statuses.insert({401, 403, 429});
  if (f.has_body) statuses.insert(415);
  if (f.path_params) statuses.insert(404);
  if (f.writes) statuses.insert(507);
  if (rt.etag && rt.verb == method::get) statuses.insert(304);
  if (f.if_match) statuses.insert(412);
  if (rt.idempotent) statuses.insert(409);
  if (rt.verb == method::post && rt.etag) statuses.insert(409);  // a create meets its key
  if (rt.verb == method::patch && f.account) statuses.insert(409);
  for (auto s : words(op.extra_errors))
    statuses.insert(static_cast<unsigned>(std::stoul(std::string(s))));
  value responses = b.obj();
  for (unsigned s : statuses)
    b.add(responses, std::to_string(s), response_object(b, op, rt, f, s));
  b.add(o, "responses", std::move(responses));
  return o;
}

// OPTIONS on a path (every path answers it): 204 with the methods it takes in Allow, and
// for a CORS preflight from an allowed origin the Access-Control-Allow-* headers; a
// preflight from another origin is a 403. `first` is the path's first operation.
value options_object(builder& b, const value& first) {
  value o = b.obj();
  value tags(rapidjson::kArrayType);
  tags.PushBack(value(first["tags"][0], b.a()), b.a());
  b.add(o, "tags", std::move(tags));
  std::string id = first["operationId"].GetString();
  id[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(id[0])));
  b.add(o, "operationId", b.str("options" + id));
  b.add(o, "summary", b.str("The methods this path takes; a CORS preflight"));
  b.add(o, "description",
        b.str("No key needed. With Origin and Access-Control-Request-Method (a browser's "
              "preflight) from one of the server's --cors-origins, the answer adds "
              "Access-Control-Allow-Origin, -Methods, -Headers and -Max-Age; from another "
              "origin it is a 403."));
  b.add(o, "security", value(rapidjson::kArrayType));
  value params(rapidjson::kArrayType);
  for (const auto& p : first["parameters"].GetArray()) {
    if (p.HasMember("$ref") &&
        std::string_view(p["$ref"].GetString()).find("/path_") != std::string_view::npos) {
      params.PushBack(value(p, b.a()), b.a());
    }
  }
  params.PushBack(parameter_ref(b, "X-Request-Id"), b.a());
  b.add(o, "parameters", std::move(params));
  value responses = b.obj();
  value ok = b.obj();
  b.add(ok, "description", b.str("The methods of this path (Allow)"));
  value headers = b.obj();
  b.add(headers, "Allow", header_ref(b, "Allow"));
  b.add(headers, "X-Request-Id", header_ref(b, "X-Request-Id"));
  b.add(ok, "headers", std::move(headers));
  b.add(responses, "204", std::move(ok));
  for (unsigned status : {400, 403, 431, 500, 503}) {
    value ref = b.obj();
    b.add(ref, "$ref", b.str("#/components/responses/" + std::to_string(status)));
    b.add(responses, std::to_string(status), std::move(ref));
  }
  b.add(o, "responses", std::move(responses));
  return o;
}

void add_shared_components(builder& b, value& components) {
  value& headers = b.member(components, "headers");
  auto header = [&](std::string_view name, std::string_view schema, std::string_view text) {
    value h = b.obj();
    b.add(h, "description", b.str(text));
    b.add(h, "schema", b.parse(schema));
    b.add(headers, name, std::move(h));
  };
  header("X-Request-Id", R"({"type":"string"})",
         "The request's id: the client's X-Request-Id when it is 1-128 of [A-Za-z0-9-_.:/+=@], "
         "else req_ and 16 hex digits");
  header("RateLimit-Limit", R"({"type":"integer"})", "The burst of the caller's rate-limit bucket");
  header("RateLimit-Remaining", R"({"type":"integer"})", "Tokens left in the bucket");
  header("RateLimit-Reset", R"({"type":"integer"})", "Seconds until the bucket is full again");
  header("ETag", R"({"type":"string"})",
         "Strong entity tag of the object: the first 80 bits of the SHA-256 of its JSON");
  header("Location", R"({"type":"string"})", "Where the created object is read");
  header("Idempotent-Replayed", R"({"const":"true"})",
         "Present when the answer is the stored answer of an earlier request with the same "
         "Idempotency-Key");
  header("Referrald-Seq", R"({"type":"integer","minimum":1})",
         "The account's event sequence after this write (give it as Referrald-Min-Seq to read "
         "your write on another node)");
  header("Retry-After", R"({"type":"integer","minimum":0})", "Seconds to wait before retrying");
  header("WWW-Authenticate", R"({"type":"string"})",
         "The schemes an API key may be given with: Bearer realm=\"referrald\", Basic "
         "realm=\"referrald\", charset=\"UTF-8\" (Bearer alone to a page's script, whose "
         "browser would otherwise ask for a password)");
  header("Cache-Control", R"({"const":"no-store"})",
         "The answer holds a secret: no cache may keep it");
  header("Cache-Control-Public", R"({"const":"public, max-age=3600"})",
         "Any cache may keep the script for an hour, then revalidate it against its ETag");
  header("Content-Disposition", R"({"type":"string"})",
         "attachment; filename=\"<kind>.csv\" (or .json): the export as a file");
  header("Allow", R"({"type":"string"})",
         "The methods the path takes, comma-separated (GET, HEAD, OPTIONS, ...)");

  value& params = b.member(components, "parameters");
  auto param = [&](std::string_view key, std::string_view name, std::string_view in,
                   std::string_view schema, std::string_view text, bool required) {
    value p = b.obj();
    b.add(p, "name", b.str(name));
    b.add(p, "in", b.str(in));
    b.add(p, "description", b.str(text));
    if (required) b.add(p, "required", value(true));
    b.add(p, "schema", b.parse(schema));
    b.add(params, key, std::move(p));
  };
  param("path_id", "id", "path", R"({"type":"integer","minimum":1})", "The object's id", true);
  param("path_brand_id", "brand_id", "path", R"({"type":"integer","minimum":1})", "The brand",
        true);
  param("path_connection_id", "connection_id", "path",
        R"({"type":"string","pattern":"^[0-9A-HJKMNP-TV-Z]{26}$"})", "The connection's ULID", true);
  param("Referrald-Min-Seq", "Referrald-Min-Seq", "header", R"({"type":"integer","minimum":1})",
        "Answer only once this node has applied the account's event sequence (a Referrald-Seq "
        "of an earlier write); 503 with Retry-After: 1 if it has not within 2 s",
        false);
  param("If-None-Match", "If-None-Match", "header", R"({"type":"string"})",
        "An ETag: 304 when the object still has it", false);
  param("If-Match", "If-Match", "header", R"({"type":"string"})",
        "An ETag (or *): the change is made only if the object still has it, else 412 with the "
        "current ETag in the error's details",
        false);
  param("Idempotency-Key", "Idempotency-Key", "header",
        R"({"type":"string","minLength":1,"maxLength":255})",
        "1-255 visible ASCII characters: a retry with the same key (and API key) within 24 h "
        "gets the first answer again, Idempotent-Replayed: true; the same key with another "
        "request is a 409",
        false);
  param("X-Request-Id", "X-Request-Id", "header", R"({"type":"string","maxLength":128})",
        "The client's id for the request, echoed in the answer and the access log", false);

  value& responses = b.member(components, "responses");
  const std::pair<unsigned, std::string_view> errors[] = {
      {400,
       "Invalid request: a field, parameter or header named in error.details (validation_failed, "
       "invalid_json, bad_request)"},
      {401, "No key, an unknown, revoked or expired key (unauthorized)"},
      {403, "The key's role or grants do not allow this (forbidden)"},
      {404, "No such object in this account or brand (not_found)"},
      {409,
       "Conflict: the object's unique key is taken, or the Idempotency-Key was used for another "
       "request or is in flight (conflict)"},
      {412, "If-Match named another version of the object (precondition_failed)"},
      {413, "The body is over the route's limit (payload_too_large)"},
      {431,
       "The request's header section is over 16 KiB (header_too_large); the connection is closed"},
      {415,
       "The body is not application/json (or text/csv, or NDJSON, where taken) "
       "(unsupported_media_type)"},
      {429, "The key's rate-limit bucket is empty (rate_limited); Retry-After says when to retry"},
      {500, "The server failed (internal, store_corrupted)"},
      {503, "No answer within the request timeout, or shutting down (unavailable); Retry-After: 1"},
      {507,
       "The disk is below the free-space reserve; nothing was stored (insufficient_storage); "
       "Retry-After: 30"},
  };
  for (const auto& [status, text] : errors) {
    value r = b.obj();
    b.add(r, "description", b.str(text));
    value h = b.obj();
    b.add(h, "X-Request-Id", header_ref(b, "X-Request-Id"));
    // Once the key is known (every answer of a route that needs one, the 401 included).
    if (status != 431) {
      for (auto name : {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"})
        b.add(h, name, header_ref(b, name));
    }
    // 409: an Idempotency-Key still in flight.
    if (status == 409 || status == 429 || status == 503 || status == 507)
      b.add(h, "Retry-After", header_ref(b, "Retry-After"));
    if (status == 401) b.add(h, "WWW-Authenticate", header_ref(b, "WWW-Authenticate"));
    // An Idempotency-Key request's answer is kept and replayed, 4xx included (not 429).
    if (status >= 400 && status < 500 && status != 429 && status != 431)
      b.add(h, "Idempotent-Replayed", header_ref(b, "Idempotent-Replayed"));
    b.add(r, "headers", std::move(h));
    value content = b.obj();
    value media = b.obj();
    b.add(media, "schema", b.ref("Error"));
    b.add(content, "application/json", std::move(media));
    b.add(r, "content", std::move(content));
    b.add(responses, std::to_string(status), std::move(r));
  }

  value& security = b.member(components, "securitySchemes");
  value bearer = b.obj();
  b.add(bearer, "type", b.str("http"));
  b.add(bearer, "scheme", b.str("bearer"));
  b.add(bearer, "description", b.str("An API key's secret (rk_...): Authorization: Bearer rk_..."));
  b.add(security, "bearer", std::move(bearer));
  value basic = b.obj();
  b.add(basic, "type", b.str("http"));
  b.add(basic, "scheme", b.str("basic"));
  b.add(basic, "description",
        b.str("The same API key for tools that speak only Basic: any user name and the "
              "secret as the password (curl -u :rk_...), or the secret as the user name "
              "with an empty password (curl -u rk_...:)"));
  b.add(security, "basic", std::move(basic));
}

}  // namespace

std::vector<std::string> undocumented_routes(const router& r) {
  std::vector<std::string> out;
  for (const auto& rt : r.routes())
    if (rt.documented && find_operation(rt.verb, rt.pattern) == nullptr)
      out.push_back(route_name(rt.verb, rt.pattern));
  return out;
}

std::vector<std::string> unrouted_declarations(const router& r) {
  std::vector<std::string> out;
  for (const auto& op : k_operations) {
    bool found = std::any_of(r.routes().begin(), r.routes().end(), [&](const route& rt) {
      return rt.verb == op.verb && rt.pattern == op.pattern;
    });
    if (!found) out.push_back(route_name(op.verb, op.pattern));
  }
  return out;
}

std::string openapi_document(const router& r) {
  builder b;
  auto& d = b.doc();
  b.add(d, "openapi", b.str("3.1.0"));
  value info = b.obj();
  b.add(info, "title", b.str("referrald"));
  b.add(info, "version", b.str(REFERRALD_API_VERSION));
  b.add(info, "summary", b.str("Visit attribution rules and AI-referral data, per account"));
  b.add(
      info, "description",
      b.str(
          "Every path is also served under the /v1 prefix. Successful answers are "
          "{\"success\":true,\"data\":...} unless the operation says otherwise; errors are "
          "{\"success\":false,\"error\":{\"code\",\"message\",\"details\":[{\"field\","
          "\"message\"}],\"request_id\"}}. A query parameter a route does not read is a "
          "400 naming it. Lists are paged with limit (1-1000, default 100) and "
          "starting_after (the previous page's next_starting_after). HEAD is answered wherever GET "
          "is (headers only) and OPTIONS on every path (204 with Allow; a CORS preflight "
          "for the --cors-origins); another method on a known path is a 405 with Allow. "
          "HTTP framing the server refuses (a transfer coding other than chunked) is a 501. "
          "String lengths count code points after surrounding whitespace is trimmed."));
  value license = b.obj();
  b.add(license, "name", b.str("Proprietary"));
  b.add(license, "identifier", b.str("LicenseRef-referrald"));
  b.add(info, "license", std::move(license));
  b.add(d, "info", std::move(info));
  value servers(rapidjson::kArrayType);
  for (auto [url, text] :
       {std::pair{"/", "this server"}, std::pair{"/v1", "this server, version 1"}}) {
    value s = b.obj();
    b.add(s, "url", b.str(url));
    b.add(s, "description", b.str(text));
    servers.PushBack(std::move(s), b.a());
  }
  b.add(d, "servers", std::move(servers));
  value security(rapidjson::kArrayType);
  for (const char* scheme : {"bearer", "basic"}) {
    value one = b.obj();
    b.add(one, scheme, value(rapidjson::kArrayType));
    security.PushBack(std::move(one), b.a());
  }
  b.add(d, "security", std::move(security));

  value tags(rapidjson::kArrayType);
  for (const auto& [name, text] : k_tags) {
    value t = b.obj();
    b.add(t, "name", b.str(name));
    b.add(t, "description", b.str(text));
    tags.PushBack(std::move(t), b.a());
  }
  b.add(d, "tags", std::move(tags));

  value paths = b.obj();
  for (const auto& rt : r.routes()) {
    const operation* op = find_operation(rt.verb, rt.pattern);
    if (op == nullptr || !rt.documented) continue;
    value& item = b.member(paths, rt.pattern);
    // If-Match guards the changes of an object whose GET carries an ETag.
    bool if_match = (rt.verb == method::patch || rt.verb == method::del) &&
                    std::any_of(r.routes().begin(), r.routes().end(), [&](const route& g) {
                      return g.verb == method::get && g.pattern == rt.pattern && g.etag;
                    });
    b.add(item, verb_name(rt.verb), operation_object(b, *op, rt, if_match));
  }
  for (auto p = paths.MemberBegin(); p != paths.MemberEnd(); ++p)
    b.add(p->value, "options", options_object(b, p->value.MemberBegin()->value));
  b.add(d, "paths", std::move(paths));

  value components = b.obj();
  value schemas = b.obj();
  add_components(b, schemas);
  b.add(components, "schemas", std::move(schemas));
  add_shared_components(b, components);
  b.add(d, "components", std::move(components));

  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  d.Accept(w);
  std::string out(buf.GetString(), buf.GetSize());
  out += '\n';
  return out;
}

}  // namespace referrald::http
