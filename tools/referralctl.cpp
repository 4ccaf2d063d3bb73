// referralctl — the operator and auditor CLI: most commands work directly on a data
// directory; import and export go through a running server's API.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_events.hpp"
#include "cluster/cluster_import.hpp"
#include "cluster/cluster_log.hpp"
#include "domain/auth/api_key.hpp"
#include "domain/base/csv.hpp"
#include "domain/base/ids.hpp"
#include "domain/base/text.hpp"
#include "snapshots/backup.hpp"
#include "snapshots/recovery.hpp"
#include "snapshots/snapshot_store.hpp"
#include "snapshots/timeline.hpp"
#include "snapshots/verify.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"
#include "store/key_store.hpp"
#include "tools/api_client.hpp"
#include "tools/attribute.hpp"
#include "tools/version.hpp"

using namespace referrald;

namespace {

constexpr const char* k_usage =
    R"(usage: referralctl [--data DIR | --cluster URLS] COMMAND [options]

Works on a referrald data directory (default ./data, or REFERRALD_DATA). Read-only
commands also work while the server runs. --data may come before or after the command.
events, replay, verify and history read a cluster's event stream instead with --cluster
nats://HOST:PORT[,nats://...] (or REFERRALD_CLUSTER): the history every node shares
(snapshots stay on each node, so replay folds from the events and verify checks the
event chains).

Commands:
  events --account ID        print the account's events as JSON lines, oldest first
  replay --account ID [--at TIME | --seq N] [--entity KIND] [--include-inactive]
                             print the account's rules as they stood, as the list APIs do
  verify                     check every account's event chain and snapshots; exit 1 and
                             name the first bad event when anything is wrong
  history --account ID --entity KIND --id N
                             print the events of one rule as JSON lines
  attribute --account ID [--time-field NAME | --as-of TIME] [--format ndjson|csv]
            [--input FILE] [--output FILE] [--explain] [--threads N] [--quiet]
            [--fail-on-error]
                             resolve a visit log (NDJSON or CSV) in-process, each visit
                             as the rules stood at its own time, at one time, or now
  snapshot list              print the per-account snapshots and the backups
  keys list                  print every API key (revoked ones too) as JSON lines
  keys create --name NAME --role viewer|editor|admin [--accounts a,b|*] [--brands 1,2|*]
                             create a key while the server is stopped; prints its secret
  keys revoke ID             revoke a key while the server is stopped
  import --entity KIND --account ID --file FILE [--mode MODE] [--validate-only]
                             import rules through a running server's API (JSON or CSV)
  cluster import --data DIR --cluster URLS
                             move a data directory's whole history (events, keys,
                             connections, AI rows) into a cluster's stream
  cluster status --cluster URLS
                             the stream's leader, replicas (caught up or lagging) and size
  cluster stepdown --cluster URLS
                             move the streams' leadership to another replica (before
                             stopping the leader's NATS server for maintenance)
  export --entity KIND --account ID [--format json|csv] [--include-inactive] [--out FILE]
                             export rules through a running server's API
  insights --account ID [--from DATE] [--to DATE] [--format table|csv]
                             what the account's resolutions said, and the fall-through
                             hosts with the rule that would catch each (the server's API)

  help [COMMAND]             this text, or a command's
  --version                  the version and how it was built

import, export and insights talk to a server (--server URL, or REFERRALD_SERVER, default
http://127.0.0.1:8080) with an API key (--key, or REFERRALD_KEY), not to a data directory.

Run 'referralctl COMMAND --help' for a command's options.
Exit status: 0 done; 1 the command failed (an unreadable store, an account, rule or key
that does not exist, a verify that found a problem); 2 a wrong command line.
)";

constexpr const char* k_events_usage =
    R"(usage: referralctl [--data DIR | --cluster URLS] events --account ID

Prints every event of the account as one JSON object per line, in sequence order:
seq, timestamp, type, key_id, entity_id, object (the entity after the change), changed
(fields changed by an update), prev_hash and hash.
)";

constexpr const char* k_replay_usage =
    R"(usage: referralctl [--data DIR | --cluster URLS] replay --account ID
                          [--at TIME | --seq N] [--entity KIND] [--include-inactive]
                          [--no-snapshots]

Folds the account's events into its rules and prints them in the same JSON as the list
APIs (the `data` member of GET /passthrough-referrers, GET /referrer-mappings,
GET /channel-rules and GET /settings).

  --at TIME            the state as it stood at this RFC 3339 time (every event with a
                       timestamp up to and including it)
  --seq N              the state right after event N
  (neither: the state after the last event)
  --entity KIND        passthrough-referrers, referrer-mappings, channel-rules or
                       settings: print only that list (or the settings), exactly as its
                       API would
  --include-inactive   list inactive rules too (as include_inactive=true does)
  --no-snapshots       fold from the events alone, ignoring stored snapshots

Without --entity, prints {"account_id","seq","passthrough_referrers":{..},
"referrer_mappings":{..},"channel_rules":{..},"settings":{..}} where seq is the last
event folded.
)";

constexpr const char* k_verify_usage = R"(usage: referralctl [--data DIR | --cluster URLS] verify

Walks every account's event stream: sequence numbers gap-free from 1, the format version
and CRC of every record, every hash recomputed from the record's contents, account and
position, every prev_hash equal to the previous event's hash, and every event applicable
to the state before it. Then checks every stored per-account snapshot: readable, and
equal to the fold of the events up to its sequence number. With --cluster, the same
event checks over the cluster's stream (snapshots are each node's own).

Prints a summary line. Exit 0 when everything checks; exit 1 naming the first bad
account and event (or snapshot) otherwise.
)";

constexpr const char* k_history_usage =
    R"(usage: referralctl [--data DIR | --cluster URLS] history --account ID --entity KIND
                          --id N

Prints every event that created, changed or deleted one rule, oldest first, as JSON
lines (the same shape as `events`). KIND is passthrough-referrers, referrer-mappings,
channel-rules or settings (the settings need no --id).
)";

constexpr const char* k_attribute_usage =
    R"(usage: referralctl [--data DIR | --cluster URLS] attribute --account ID
                          [--time-field NAME | --as-of TIME] [--format ndjson|csv]
                          [--input FILE] [--output FILE] [--explain] [--threads N]
                          [--quiet] [--fail-on-error]

Reads visits and writes each one attributed, in the input's order, with the server's own
resolver, in-process (read-only: it works while the server runs, and on a cluster's stream
with --cluster). One output record per input record:

  ndjson  one JSON object per line: the visit's fields (referrer, landing_url, session, as
          POST /attribution/resolve takes them) among any others. Output: the line's own
          fields as written, then the resolution's (utm_source ... channel_rule, warnings;
          explain with --explain). A line that is not a visit keeps its fields and gets
          "error":{"line","field","message"} instead; a line that is not JSON gets the
          error alone. Blank lines are skipped.
  csv     a header row, then one visit per record: columns referrer, landing_url and
          session_utm_source ... session_utm_content; other columns are passed through.
          Output: the record's columns, then utm_source, utm_medium, utm_campaign,
          utm_term, utm_content, reason, rule_type, rule_id, referrer_host, ai_platform,
          known_referrer, click_id, channel, channel_rule_id, warnings (a JSON array, or
          empty), explain (with --explain) and error (a JSON object, or empty).
  An input field or column named like one the resolution writes is replaced by it.

  --time-field NAME  resolve each visit against the rules as they stood at its own time,
                     read from that field or column (RFC 3339, or epoch milliseconds); a
                     missing or unreadable time is an error record
  --as-of TIME       resolve every visit against the rules as they stood at TIME
                     (RFC 3339); neither option: the rules now
  --format F         ndjson or csv (default: csv for an --input ending in .csv, else
                     ndjson)
  --input FILE       read FILE instead of standard input
  --output FILE      write FILE instead of standard output
  --explain          add each resolution's explanation
  --threads N        resolve on N threads (default: one per core)
  --quiet            no progress lines on standard error
  --fail-on-error    exit 1 when any record was an error record

Prints a summary line on standard error (visits, error records, time, rate) and, for a
long run, a progress line every 2 seconds. Exit 0 when every record was written (error
records included, unless --fail-on-error); 1 when the account has no events, the history
or the input cannot be read, or the output cannot be written.
)";

constexpr const char* k_snapshot_usage = R"(usage: referralctl [--data DIR] snapshot list

Prints one JSON line per stored snapshot:
  {"kind":"account","account_id":..,"seq":..,"last_event_at":..,"bytes":..,"readable":..}
    a per-account state snapshot (written every --snapshot-every events)
  {"kind":"backup","name":..,"path":..,"created_at":..,"size_bytes":..,"accounts":{..}}
    an online backup of the whole store in <data>/snapshots/ (POST /admin/snapshots)
)";

constexpr const char* k_keys_usage = R"(usage: referralctl [--data DIR] keys list
       referralctl [--data DIR] keys create --name NAME --role ROLE [--accounts LIST]
                                            [--brands LIST]
       referralctl [--data DIR] keys revoke ID

list    prints every key, revoked ones included (with revoked_at), never secrets.
create  makes a key and prints it with its secret, which is shown only this once.
        ROLE is viewer, editor or admin; LIST is comma-separated ids or * for all.
revoke  stops a key from working.
create and revoke need the server to be stopped (they write to the store); with the
server running, use the /api-keys API.
)";

constexpr const char* k_cluster_usage =
    R"(usage: referralctl cluster import --data DIR --cluster nats://HOST:PORT[,nats://...]
                                 [--replicas N]
       referralctl cluster status --cluster nats://HOST:PORT[,nats://...] [--replicas N]
       referralctl cluster stepdown --cluster nats://HOST:PORT[,nats://...]

status prints the event stream's leader, each replica (caught up, lagging by how many
operations, or offline), the replicas it has and should have (--replicas N, else the
servers the cluster advertises, at most 3), what is wrong with its replication, and the
stream's size, as JSON; exit 1 when the cluster does not answer, the stream has no leader
or it has fewer replicas than it should.

stepdown asks the leader of the event stream (and of the Idempotency-Key stream, when
there is one) to hand its leadership to a caught-up replica, and waits up to 10 s for the
new leader: do it before stopping the leader's NATS server for maintenance, so that writes
pause for a hand-over instead of an election. Prints one JSON line per stream
({"stream","leader_before","leader"}); exit 1 when one has no new leader in time, or has a
single replica.

import:

Moves a single-node data directory into a cluster's event stream, so that the
deployment grows into a cluster without losing its audit trail: every account's events
with the same sequence numbers and hashes, the API keys (same ids and secrets), the
AI-referral connections, rows and batch_id records. Snapshots are not moved (each node
writes its own). Stop the server first; start the cluster's nodes afterwards (with empty
data directories: each fills its own copy from the stream).

Refused, with nothing written, when the stream already holds one of the accounts or key
ids (an import made twice, or into a cluster already written to). The stream is created
when the cluster has none, with --replicas N replicas (default: the servers the cluster
advertises, at most 3; never the number of URLs given), and raised to them when it has
fewer; the import is refused when the cluster cannot hold them. Check the result with
'referralctl --cluster URLS verify' and 'referralctl --cluster URLS cluster status'.
)";

constexpr const char* k_import_usage =
    R"(usage: referralctl import --entity KIND --account ID --file FILE [--mode MODE]
                          [--validate-only] [--server URL] [--key KEY]

Imports rules into the account through the server's POST /KIND/import (so the key, its
grants and every check are the server's): FILE is JSON (an import body, or what export
wrote) or CSV (by its .csv extension: a header row of field names). KIND is
passthrough-referrers, referrer-mappings or channel-rules; MODE is create (the default), upsert or
replace. --validate-only reports what would change without writing. Prints the server's
answer; exit 1 when it refused the import (its message on stderr).
)";

constexpr const char* k_export_usage =
    R"(usage: referralctl export --entity KIND --account ID [--format json|csv]
                          [--include-inactive] [--out FILE] [--server URL] [--key KEY]

Exports the account's rules through the server's GET /KIND/export (KIND as for import):
an import body (json, the default) or a CSV, written to FILE or stdout. Only active rules unless
--include-inactive.
)";

constexpr const char* k_insights_usage =
    R"(usage: referralctl insights --account ID [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                            [--format table|csv] [--server URL] [--key KEY]

Prints what the account's live resolutions said (the server's GET /insights) and the
fall-through referrer hosts and unknown utm_medium values with the rule that would catch
each (GET /insights/referrers, every page), for the days from --from to --to (UTC, both
included; by default the last 7 days up to today). See docs/insights.md.

table (the default): the resolutions by day, by reason and by channel, then the hosts and
the mediums with their suggestions. csv: one row per count, with the columns
  section,date,name,visits,visits_with_session,visits_overcount,suggestion,reason
where section is day (name: resolutions), reason, channel, referrer or medium; date is
empty outside day rows. In cluster mode, an answer without every node's counts is said on
stderr, naming the nodes missing; the exit status is still 0.
)";

struct args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool help = false;
  std::string error;  // a wrong command line, said in a sentence
};

// Options that take a value; the others are flags.
const std::set<std::string> k_value_options = {
    "data",       "account", "at",    "seq",    "entity",  "id",     "name", "role",    "accounts",
    "brands",     "file",    "mode",  "format", "out",     "server", "key",  "cluster", "replicas",
    "time-field", "as-of",   "input", "output", "threads", "from",   "to"};
const std::set<std::string> k_flag_options = {"include-inactive", "no-snapshots", "version",
                                              "validate-only",    "explain",      "quiet",
                                              "fail-on-error"};

// The options each command accepts (--data and --help go everywhere).
const std::map<std::string, std::set<std::string>> k_command_options = {
    {"events", {"account", "cluster"}},
    {"replay", {"account", "at", "seq", "entity", "include-inactive", "no-snapshots", "cluster"}},
    {"verify", {"cluster"}},
    {"history", {"account", "entity", "id", "cluster"}},
    {"attribute",
     {"account", "time-field", "as-of", "format", "input", "output", "explain", "threads", "quiet",
      "fail-on-error", "cluster"}},
    {"snapshot", {}},
    {"keys", {"name", "role", "accounts", "brands"}},
    {"import", {"entity", "account", "file", "mode", "validate-only", "server", "key"}},
    {"export", {"entity", "account", "format", "include-inactive", "out", "server", "key"}},
    {"insights", {"account", "from", "to", "format", "server", "key"}},
    {"cluster", {"cluster", "replicas"}},
    {"help", {}},
};

// Every argument after the program name: options anywhere, words in order.
args parse_args(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
      continue;
    }
    if (!s.starts_with("--")) {
      a.positional.emplace_back(s);
      continue;
    }
    s.remove_prefix(2);
    std::string name(s.substr(0, s.find('=')));
    std::optional<std::string> value;
    if (auto eq = s.find('='); eq != std::string_view::npos) value = std::string(s.substr(eq + 1));
    if (k_flag_options.contains(name)) {
      if (value) {
        a.error = "--" + name + " takes no value";
        return a;
      }
      a.options[name] = "";
    } else if (k_value_options.contains(name)) {
      if (!value) {
        if (i + 1 >= argc) {
          a.error = "--" + name + " needs a value";
          return a;
        }
        value = argv[++i];
      }
      if (a.options.contains(name)) {
        a.error = "--" + name + " is given twice";
        return a;
      }
      a.options[name] = *value;
    } else {
      a.error = "unknown option --" + name + " (see referralctl help)";
      return a;
    }
  }
  if (a.positional.empty()) return a;
  auto allowed = k_command_options.find(a.positional[0]);
  if (allowed == k_command_options.end()) return a;  // the command itself is reported
  for (const auto& [name, value] : a.options) {
    if (name != "data" && name != "version" && !allowed->second.contains(name)) {
      a.error = "option --" + name + " does not apply to '" + a.positional[0] + "'";
      return a;
    }
  }
  return a;
}

// Exit 2: the command line is wrong.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "referralctl: %s\n", message.c_str());
  return 2;
}

// Exit 1: the command could not be carried out.
int failed(const std::string& message) {
  std::fprintf(stderr, "referralctl: %s\n", message.c_str());
  return 1;
}

// The same for an error, with what the underlying library said, if anything.
int failed(const domain::error& e) {
  return failed(e.cause.empty() ? e.message : e.message + " (" + e.cause + ")");
}

// Exit 2 unless the command line has exactly `n` words.
bool wrong_words(const args& a, std::size_t n, int& code) {
  if (a.positional.size() == n) return false;
  code = usage_error("'" + a.positional[0] + "' takes " +
                     (n == 1 ? std::string("no arguments") : "exactly " + std::to_string(n - 1)) +
                     " besides its options; got '" + a.positional.back() + "'");
  return true;
}

std::unique_ptr<store::db> open_store(const std::string& dir, bool read_only) {
  auto d = store::db::open({dir, read_only});
  if (!d) {
    std::string msg = d.err().message;
    if (!read_only && msg.find("lock") != std::string::npos) {
      msg += " (is the server running? stop it first, or use the HTTP API)";
    }
    std::fprintf(stderr, "referralctl: cannot open data directory '%s': %s\n", dir.c_str(),
                 msg.c_str());
    return nullptr;
  }
  return std::move(*d);
}

// Where events, replay, verify and history read: the data directory, or a cluster's
// event stream.
struct history_source {
  std::unique_ptr<store::db> db;
  std::unique_ptr<cluster::cluster_log> cluster;
  std::unique_ptr<store::event_reader> reader;
  std::string where;  // for messages: "in DIR" or "in the cluster's stream"
};

// --cluster, or REFERRALD_CLUSTER when --data is not given; empty when neither.
std::string cluster_urls(const args& a) {
  if (auto c = a.options.find("cluster"); c != a.options.end()) return c->second;
  if (a.options.contains("data")) return {};
  const char* env = std::getenv("REFERRALD_CLUSTER");
  return env != nullptr ? env : "";
}

// The servers of a --cluster list.
std::vector<std::string> cluster_servers(const std::string& urls) {
  std::vector<std::string> out;
  for (std::size_t at = 0; at <= urls.size();) {
    auto comma = urls.find(',', at);
    std::string url = urls.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!url.empty()) out.push_back(url);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// Opens the source the command line names; null after printing why it cannot.
std::unique_ptr<history_source> open_history(const std::string& dir, const args& a) {
  auto src = std::make_unique<history_source>();
  std::string urls = cluster_urls(a);
  if (urls.empty()) {
    src->db = open_store(dir, true);
    if (!src->db) return nullptr;
    src->reader = std::make_unique<store::event_log>(*src->db);
    src->where = "in " + dir;
    return src;
  }
  cluster::cluster_options o;
  o.servers = cluster_servers(urls);
  o.node_name = "referralctl";
  o.create = false;
  auto log = cluster::cluster_log::open(o);
  if (!log) {
    failed(log.err());
    return nullptr;
  }
  src->cluster = std::move(*log);
  src->reader = std::make_unique<cluster::cluster_events>(*src->cluster);
  src->where = "in the cluster's stream";
  return src;
}

// 0 when the account has events in `src`; else 1, after saying why.
int without_events(const history_source& src, const std::string& account) {
  auto head = src.reader->head(account);
  if (!head) return failed(head.err());
  if (*head == 0) return failed("account '" + account + "' has no events " + src.where);
  return 0;
}

int cmd_events(const std::string& dir, const args& a) {
  if (a.help) {
    std::fputs(k_events_usage, stdout);
    return 0;
  }
  auto it = a.options.find("account");
  if (it == a.options.end() || !domain::is_valid_account_id(it->second)) {
    return usage_error("events needs --account ID (a valid account id)");
  }
  if (int code = 0; wrong_words(a, 1, code)) return code;
  auto src = open_history(dir, a);
  if (!src) return 1;
  const store::event_reader& log = *src->reader;
  if (int code = without_events(*src, it->second); code != 0) return code;
  domain::status written;
  auto st = log.replay(it->second, 1, [&](const domain::event& e) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    written = domain::write_json(w, it->second, e);
    if (!written) return false;
    std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
    std::fputc('\n', stdout);
    return true;
  });
  if (st && !written) st = std::move(written);
  if (!st) {
    std::fprintf(stderr, "referralctl: %s\n", st.err().message.c_str());
    return 1;
  }
  return 0;
}

// --account ID, checked; empty (after printing why) when missing or malformed.
std::string account_option(const args& a, const char* command) {
  auto it = a.options.find("account");
  if (it == a.options.end() || !domain::is_valid_account_id(it->second)) {
    usage_error(std::string(command) + " needs --account ID (a valid account id)");
    return {};
  }
  return it->second;
}

// The --account of a command that reads one account's history, once its --help and the
// words of its command line are dealt with: empty when the command is done, with `code`
// its exit status.
std::string account_command(const args& a, const char* usage, const char* name, int& code) {
  code = 0;
  if (a.help) {
    std::fputs(usage, stdout);
    return {};
  }
  if (wrong_words(a, 1, code)) return {};
  std::string account = account_option(a, name);
  if (account.empty()) code = 2;
  return account;
}

void print_json_line(const rapidjson::StringBuffer& buf) {
  std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
  std::fputc('\n', stdout);
}

enum class kind_option { none, referrers, mappings, channels, settings, bad };

// The --entity names: the API paths of the kinds.
constexpr std::string_view k_entity_names =
    "passthrough-referrers, referrer-mappings, channel-rules or settings";

kind_option entity_option(const args& a) {
  auto it = a.options.find("entity");
  if (it == a.options.end()) return kind_option::none;
  if (it->second == "passthrough-referrers") return kind_option::referrers;
  if (it->second == "referrer-mappings") return kind_option::mappings;
  if (it->second == "channel-rules") return kind_option::channels;
  if (it->second == "settings") return kind_option::settings;
  return kind_option::bad;
}

int cmd_replay(const std::string& dir, const args& a) {
  int code = 0;
  std::string account = account_command(a, k_replay_usage, "replay", code);
  if (account.empty()) return code;
  snapshots::stop_at stop;
  auto at = a.options.find("at");
  auto seq = a.options.find("seq");
  if (at != a.options.end() && seq != a.options.end()) {
    return usage_error("replay takes --at or --seq, not both");
  }
  if (at != a.options.end()) {
    auto t = domain::parse_rfc3339(at->second);
    if (!t) return usage_error("--at must be an RFC 3339 time such as 2026-11-22T10:00:00Z");
    stop.max_time = *t;
  }
  if (seq != a.options.end()) {
    std::uint64_t n = 0;
    const std::string& v = seq->second;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || ptr != v.data() + v.size()) {
      return usage_error("--seq must be a whole number");
    }
    stop.max_seq = n;
  }
  kind_option kind = entity_option(a);
  if (kind == kind_option::bad) {
    return usage_error("--entity must be " + std::string(k_entity_names));
  }
  bool inactive = a.options.contains("include-inactive");
  auto src = open_history(dir, a);
  if (!src) return 1;
  const store::event_reader& log = *src->reader;
  std::optional<snapshots::snapshot_store> snaps;  // a cluster's stream holds none
  if (src->db && !a.options.contains("no-snapshots")) snaps.emplace(*src->db);
  if (code = without_events(*src, account); code != 0) return code;
  auto state = snapshots::load_account(log, snaps ? &*snaps : nullptr, account, stop);
  if (!state) return failed(state.err());
  if (seq != a.options.end() && state->seq() < stop.max_seq) {
    return failed("account " + account + " has no event " + seq->second + " (its last is " +
                  std::to_string(state->seq()) + ")");
  }
  std::string referrers = domain::list_json<domain::passthrough_referrer>(*state, inactive);
  std::string mappings = domain::list_json<domain::referrer_mapping>(*state, inactive);
  std::string channels = domain::list_json<domain::channel_rule>(*state, inactive);
  std::string settings = *domain::get_json<domain::account_settings>(*state, 1);
  if (kind != kind_option::none) {
    const std::string& out = kind == kind_option::referrers  ? referrers
                             : kind == kind_option::mappings ? mappings
                             : kind == kind_option::channels ? channels
                                                             : settings;
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("account_id");
  domain::write_string(w, account);
  w.Key("seq");
  w.Uint64(state->seq());
  w.Key("passthrough_referrers");
  w.RawValue(referrers.data(), referrers.size(), rapidjson::kObjectType);
  w.Key("referrer_mappings");
  w.RawValue(mappings.data(), mappings.size(), rapidjson::kObjectType);
  w.Key("channel_rules");
  w.RawValue(channels.data(), channels.size(), rapidjson::kObjectType);
  w.Key("settings");
  w.RawValue(settings.data(), settings.size(), rapidjson::kObjectType);
  w.EndObject();
  print_json_line(buf);
  return 0;
}

int cmd_verify(const std::string& dir, const args& a) {
  if (a.help) {
    std::fputs(k_verify_usage, stdout);
    return 0;
  }
  if (int code = 0; wrong_words(a, 1, code)) return code;
  auto src = open_history(dir, a);
  if (!src) return 1;
  auto summary =
      src->db ? snapshots::verify_store(*src->db) : snapshots::verify_history(*src->reader);
  if (!summary) return failed(summary.err());
  if (const auto& p = summary->problem) {
    std::fprintf(stdout, "FAILED: account %s, %s %llu: %s\n", p->account_id.c_str(),
                 p->in_snapshot ? "snapshot" : "event", static_cast<unsigned long long>(p->seq),
                 p->what.c_str());
    return 1;
  }
  if (src->db) {
    std::fprintf(stdout, "ok: %zu accounts, %llu events, %zu snapshots verified\n",
                 summary->accounts, static_cast<unsigned long long>(summary->events),
                 summary->snapshots);
  } else {
    std::fprintf(stdout, "ok: %zu accounts, %llu events verified in the cluster's stream\n",
                 summary->accounts, static_cast<unsigned long long>(summary->events));
  }
  return 0;
}

int cmd_history(const std::string& dir, const args& a) {
  int code = 0;
  std::string account = account_command(a, k_history_usage, "history", code);
  if (account.empty()) return code;
  kind_option kind = entity_option(a);
  if (kind == kind_option::none || kind == kind_option::bad) {
    return usage_error("history needs --entity " + std::string(k_entity_names));
  }
  auto id_opt = a.options.find("id");
  auto id = id_opt == a.options.end() ? std::nullopt : domain::parse_entity_id(id_opt->second);
  if (kind == kind_option::settings && id_opt == a.options.end()) id = 1;  // the one object
  if (!id) return usage_error("history needs --id N (a positive integer)");
  std::string_view wanted = kind == kind_option::referrers  ? "passthrough_referrer"
                            : kind == kind_option::mappings ? "referrer_mapping"
                            : kind == kind_option::channels ? "channel_rule"
                                                            : "account_settings";
  auto src = open_history(dir, a);
  if (!src) return 1;
  const store::event_reader& log = *src->reader;
  if (code = without_events(*src, account); code != 0) return code;
  std::size_t printed = 0;
  domain::status written;
  auto st = log.replay(account, 1, [&](const domain::event& e) {
    if (e.entity_id != *id || domain::entity_name(e.type) != wanted) return true;
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    written = domain::write_json(w, account, e);
    if (!written) return false;
    print_json_line(buf);
    ++printed;
    return true;
  });
  if (st && !written) st = std::move(written);
  if (!st) return failed(st.err());
  if (printed == 0) {
    return failed("account '" + account + "' has no " + std::string(wanted) + " with id " +
                  std::to_string(*id));
  }
  return 0;
}

int cmd_attribute(const std::string& dir, const args& a) {
  int code = 0;
  std::string account = account_command(a, k_attribute_usage, "attribute", code);
  if (account.empty()) return code;
  tools::attribute_options o;
  auto opt = [&](const char* name) -> const std::string* {
    auto it = a.options.find(name);
    return it == a.options.end() ? nullptr : &it->second;
  };
  const std::string* input = opt("input");
  const std::string* output = opt("output");
  if (const std::string* f = opt("format")) {
    if (*f == "csv") {
      o.format = tools::log_format::csv;
    } else if (*f != "ndjson") {
      return usage_error("--format must be ndjson or csv");
    }
  } else if (input != nullptr && input->ends_with(".csv")) {
    o.format = tools::log_format::csv;
  }
  const std::string* time_field = opt("time-field");
  const std::string* as_of_text = opt("as-of");
  if (time_field != nullptr && as_of_text != nullptr) {
    return usage_error("attribute takes --time-field or --as-of, not both");
  }
  if (time_field != nullptr) {
    if (time_field->empty()) return usage_error("--time-field needs a field name");
    o.time_field = *time_field;
  }
  std::optional<domain::unix_ms> as_of;
  if (as_of_text != nullptr) {
    as_of = domain::parse_rfc3339(*as_of_text);
    if (!as_of) return usage_error("--as-of must be an RFC 3339 time such as 2026-11-22T10:00:00Z");
  }
  if (const std::string* t = opt("threads")) {
    unsigned n = 0;
    auto [ptr, ec] = std::from_chars(t->data(), t->data() + t->size(), n);
    if (ec != std::errc{} || ptr != t->data() + t->size() || n < 1 || n > 256) {
      return usage_error("--threads must be a whole number from 1 to 256");
    }
    o.threads = n;
  }
  o.explain = a.options.contains("explain");
  o.quiet = a.options.contains("quiet");
  auto src = open_history(dir, a);
  if (!src) return 1;
  const store::event_reader& log = *src->reader;
  if (code = without_events(*src, account); code != 0) return code;
  std::optional<snapshots::rule_timeline> rules;
  if (time_field != nullptr) {
    auto t = snapshots::rule_timeline::load(log, account);
    if (!t) return failed(t.err());
    rules.emplace(std::move(*t));
  } else {
    std::optional<snapshots::snapshot_store> snaps;
    if (src->db) snaps.emplace(*src->db);
    snapshots::stop_at stop;
    stop.max_time = as_of;
    auto state = snapshots::load_account(log, snaps ? &*snaps : nullptr, account, stop);
    if (!state) return failed(state.err());
    rules.emplace(snapshots::rule_timeline::single(std::move(*state)));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(nullptr, &std::fclose);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(nullptr, &std::fclose);
  if (input != nullptr) {
    in.reset(std::fopen(input->c_str(), "rb"));
    if (!in) return failed("cannot open '" + *input + "': " + std::strerror(errno));
    o.in = in.get();
  }
  if (output != nullptr) {
    out.reset(std::fopen(output->c_str(), "wb"));
    if (!out) return failed("cannot create '" + *output + "': " + std::strerror(errno));
    o.out = out.get();
    o.out_name = output->c_str();
  }
  auto sum = tools::attribute(*rules, o);
  if (!sum) return failed(sum.err());
  if (out) {
    auto* f = out.release();
    if (std::fclose(f) != 0) return failed("cannot write to '" + *output + "'");
  }
  // The summary is always printed (--quiet drops the progress lines only).
  double rate = sum->seconds > 0 ? static_cast<double>(sum->records) / sum->seconds : 0;
  std::fprintf(stderr,
               "referralctl attribute: %llu visits, %llu error records, %.2f s (%.0f visits/s)\n",
               static_cast<unsigned long long>(sum->records),
               static_cast<unsigned long long>(sum->errors), sum->seconds, rate);
  return sum->errors > 0 && a.options.contains("fail-on-error") ? 1 : 0;
}

int cmd_snapshot(const std::string& dir, const args& a) {
  if (a.help || a.positional.size() != 2 || a.positional[1] != "list") {
    std::fputs(k_snapshot_usage, a.help ? stdout : stderr);
    return a.help ? 0 : 2;
  }
  auto db = open_store(dir, true);
  if (!db) return 1;
  auto per_account = snapshots::snapshot_store(*db).list_all();
  if (!per_account) return failed(per_account.err());
  for (const auto& s : *per_account) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    w.StartObject();
    w.Key("kind");
    w.String("account");
    w.Key("account_id");
    domain::write_string(w, s.account_id);
    w.Key("seq");
    w.Uint64(s.seq);
    w.Key("last_event_at");
    if (s.readable) {
      domain::write_string(w, domain::format_rfc3339(s.last_timestamp));
    } else {
      w.Null();
    }
    w.Key("bytes");
    w.Uint64(s.bytes);
    w.Key("readable");
    w.Bool(s.readable);
    w.EndObject();
    print_json_line(buf);
  }
  auto backups = snapshots::list_backups(snapshots::backups_dir(dir));
  if (!backups) return failed(backups.err());
  for (const auto& b : *backups) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    snapshots::write_json(w, b, "backup");
    print_json_line(buf);
  }
  return 0;
}

bool parse_list(const std::string& text, domain::grants& g, bool accounts) {
  if (text == "*") {
    (accounts ? g.all_accounts : g.all_brands) = true;
    return true;
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (accounts) {
      if (!domain::is_valid_account_id(item)) return false;
      g.accounts.emplace_back(item);
    } else {
      auto b = domain::parse_brand_id(item);
      if (!b) return false;
      g.brands.push_back(*b);
    }
  }
  return true;
}

void print_key(const domain::api_key& k, std::string_view secret = {}) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  domain::write_json(w, k, secret);
  std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
  std::fputc('\n', stdout);
}

// 1, after saying why, when `db` is a cluster node's copy of the stream: a key written
// there would reach no other node (and be undone by none).
int refuse_cluster_copy(store::db& db, const std::string& dir) {
  auto copy = cluster::cluster_cache(db).is_copy();
  if (!copy) return failed(copy.err());
  if (!*copy) return 0;
  return failed(dir +
                " is a cluster node's copy: API keys are the cluster's; use /api-keys on any "
                "node (or start one with a new REFERRALD_BOOTSTRAP_KEY)");
}

int cmd_keys(const std::string& dir, const args& a) {
  if (a.help || a.positional.size() < 2) {
    std::fputs(k_keys_usage, a.help ? stdout : stderr);
    return a.help ? 0 : 2;
  }
  const std::string& sub = a.positional[1];
  if (sub != "create" && (a.options.size() > (a.options.contains("data") ? 1u : 0u))) {
    return usage_error("keys " + sub + " takes no --name, --role, --accounts or --brands");
  }
  if (sub == "list") {
    if (int code = 0; wrong_words(a, 2, code)) return code;
    auto db = open_store(dir, true);
    if (!db) return 1;
    auto keys = store::key_store(*db).load_all();
    if (!keys) return failed(keys.err());
    for (const auto& k : *keys)
      print_key(k);
    return 0;
  }
  if (sub == "create") {
    if (int code = 0; wrong_words(a, 2, code)) return code;
    domain::api_key_request req;
    auto name = a.options.find("name");
    auto role = a.options.find("role");
    std::string_view trimmed =
        name == a.options.end() ? std::string_view() : domain::trim(name->second);
    if (trimmed.empty() || !domain::is_valid_utf8(trimmed) || domain::utf8_length(trimmed) > 100) {
      return usage_error("keys create needs --name NAME (1-100 characters)");
    }
    if (role == a.options.end() || !domain::role_from_string(role->second)) {
      return usage_error("keys create needs --role viewer|editor|admin");
    }
    if (*domain::role_from_string(role->second) == domain::role::publishable) {
      return usage_error(
          "keys create makes viewer, editor and admin keys; create a publishable key with "
          "POST /api-keys (it needs its allowed origins)");
    }
    req.name = std::string(trimmed);
    req.role = *domain::role_from_string(role->second);
    if (auto acc = a.options.find("accounts");
        acc != a.options.end() && !parse_list(acc->second, req.grants, true)) {
      return usage_error("--accounts must be * or comma-separated account ids");
    }
    if (auto br = a.options.find("brands");
        br != a.options.end() && !parse_list(br->second, req.grants, false)) {
      return usage_error("--brands must be * or comma-separated positive integers");
    }
    req.grants.normalize();
    if (req.grants.empty()) return usage_error("keys create needs --accounts or --brands");
    auto db = open_store(dir, false);
    if (!db) return 1;
    if (int code = refuse_cluster_copy(*db, dir); code != 0) return code;
    std::string secret = domain::generate_secret();
    auto k = store::create_key_offline(*db, req, secret);
    if (!k) return failed(k.err());
    print_key(*k, secret);
    return 0;
  }
  if (sub == "revoke") {
    if (a.positional.size() != 3) return usage_error("keys revoke needs the key id");
    auto id = domain::parse_entity_id(a.positional[2]);
    if (!id) return usage_error("'" + a.positional[2] + "' is not a key id");
    auto db = open_store(dir, false);
    if (!db) return 1;
    if (int code = refuse_cluster_copy(*db, dir); code != 0) return code;
    store::key_store ks(*db);
    auto keys = ks.load_all();
    if (!keys) return failed(keys.err());
    for (auto& k : *keys) {
      if (k.id != *id) continue;
      if (!k.active()) return failed("key " + a.positional[2] + " is already revoked");
      if (auto refused = domain::check_revocation(*keys, k.id); !refused) {
        return failed(refused.err().message +
                      " (referralctl keys create --role admin "
                      "--accounts '*' --brands '*')");
      }
      k.revoked_at = domain::now_ms();
      store::write_batch b;
      ks.put(b, k);
      if (auto st = db->write(b, true); !st) return failed(st.err());
      print_key(k);
      return 0;
    }
    std::fprintf(stderr, "referralctl: no key with id %s\n", a.positional[2].c_str());
    return 1;
  }
  return usage_error("unknown keys command '" + sub + "' (list, create, revoke)");
}

// The server and key of the API commands, from options or the environment.
struct api_target {
  std::string server = "http://127.0.0.1:8080";
  std::string key;
};

std::optional<api_target> api_target_of(const args& a, int& code) {
  api_target t;
  if (const char* env = std::getenv("REFERRALD_SERVER"); env != nullptr && *env != '\0') {
    t.server = env;
  }
  if (const char* env = std::getenv("REFERRALD_KEY"); env != nullptr && *env != '\0') t.key = env;
  if (auto it = a.options.find("server"); it != a.options.end()) t.server = it->second;
  if (auto it = a.options.find("key"); it != a.options.end()) t.key = it->second;
  if (t.key.empty()) {
    code = usage_error(a.positional[0] + " needs an API key: --key KEY or REFERRALD_KEY");
    return std::nullopt;
  }
  return t;
}

// The --entity and --account of the API commands, checked.
bool rule_target(const args& a, std::string& entity, std::string& account, int& code) {
  auto e = a.options.find("entity");
  auto acc = a.options.find("account");
  if (e == a.options.end() || (e->second != "passthrough-referrers" &&
                               e->second != "referrer-mappings" && e->second != "channel-rules")) {
    code = usage_error(a.positional[0] +
                       " needs --entity passthrough-referrers, referrer-mappings or channel-rules");
    return false;
  }
  if (acc == a.options.end() || !domain::is_valid_account_id(acc->second)) {
    code = usage_error(a.positional[0] + " needs --account ID (a valid account id)");
    return false;
  }
  entity = e->second;
  account = acc->second;
  return true;
}

// Prints the server's answer; exit 0 for a 2xx, else 1 with its message.
int answered(const tools::api_answer& r) {
  if (r.status == 0) return failed(r.error);
  if (r.status >= 200 && r.status < 300) {
    std::fwrite(r.body.data(), 1, r.body.size(), stdout);
    if (!r.body.ends_with("\n")) std::fputc('\n', stdout);
    return 0;
  }
  rapidjson::Document d;
  d.Parse(r.body.data(), r.body.size());
  std::string message = r.body;
  if (!d.HasParseError() && d.IsObject() && d.HasMember("error") && d["error"].IsObject() &&
      d["error"].HasMember("message") && d["error"]["message"].IsString()) {
    message = d["error"]["message"].GetString();
  }
  std::fwrite(r.body.data(), 1, r.body.size(), stdout);
  std::fputc('\n', stdout);
  return failed("the server answered " + std::to_string(r.status) + ": " + message);
}

int cmd_import(const args& a) {
  if (a.help) {
    std::fputs(k_import_usage, stdout);
    return 0;
  }
  int code = 0;
  if (wrong_words(a, 1, code)) return code;
  std::string entity, account;
  if (!rule_target(a, entity, account, code)) return code;
  auto file = a.options.find("file");
  if (file == a.options.end() || file->second.empty())
    return usage_error("import needs --file FILE");
  auto mode = a.options.find("mode");
  if (mode != a.options.end() && mode->second != "create" && mode->second != "upsert" &&
      mode->second != "replace") {
    return usage_error("--mode must be create, upsert or replace");
  }
  auto target = api_target_of(a, code);
  if (!target) return code;
  std::FILE* f = std::fopen(file->second.c_str(), "rb");
  if (f == nullptr) return failed("cannot read " + file->second);
  std::string body;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
    body.append(buf, n);
  std::fclose(f);
  bool csv = file->second.ends_with(".csv") || file->second.ends_with(".CSV");
  bool validate_only = a.options.contains("validate-only");
  std::string path = "/" + entity + "/import?account_id=" + account;
  if (csv) {
    if (mode != a.options.end()) path += "&mode=" + mode->second;
    if (validate_only) path += "&validate_only=true";
    return answered(tools::call_api(target->server, target->key, "POST", path, body, "text/csv"));
  }
  // JSON: mode and validate_only go into the body.
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return failed(file->second + " is not a JSON object (an import body, or what export wrote)");
  }
  auto& alloc = doc.GetAllocator();
  if (mode != a.options.end()) {
    doc.RemoveMember("mode");
    doc.AddMember("mode", rapidjson::Value(mode->second.c_str(), alloc), alloc);
  }
  if (validate_only) {
    doc.RemoveMember("validate_only");
    doc.AddMember("validate_only", true, alloc);
  }
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  doc.Accept(w);
  return answered(tools::call_api(target->server, target->key, "POST", path,
                                  std::string(out.GetString(), out.GetSize())));
}

int cmd_export(const args& a) {
  if (a.help) {
    std::fputs(k_export_usage, stdout);
    return 0;
  }
  int code = 0;
  if (wrong_words(a, 1, code)) return code;
  std::string entity, account;
  if (!rule_target(a, entity, account, code)) return code;
  std::string format = "json";
  if (auto it = a.options.find("format"); it != a.options.end()) format = it->second;
  if (format != "json" && format != "csv") return usage_error("--format must be json or csv");
  auto target = api_target_of(a, code);
  if (!target) return code;
  std::string path = "/" + entity + "/export?account_id=" + account + "&format=" + format;
  if (a.options.contains("include-inactive")) path += "&include_inactive=true";
  auto r = tools::call_api(target->server, target->key, "GET", path);
  if (r.status != 200) return answered(r);
  auto out = a.options.find("out");
  if (out == a.options.end()) {
    std::fwrite(r.body.data(), 1, r.body.size(), stdout);
    return 0;
  }
  std::FILE* f = std::fopen(out->second.c_str(), "wb");
  if (f == nullptr) return failed("cannot write " + out->second);
  bool ok = std::fwrite(r.body.data(), 1, r.body.size(), f) == r.body.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return failed("cannot write " + out->second);
  return 0;
}

// `v` for a query string: every byte but the unreserved ones (RFC 3986) as %XX.
std::string query_value(std::string_view v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The server's answer of a GET as a document: its `data`, or nullopt after saying why (the
// exit status in `code`).
std::optional<rapidjson::Document> api_data(const api_target& t, const std::string& path,
                                            int& code) {
  auto r = tools::call_api(t.server, t.key, "GET", path);
  if (r.status != 200) {
    code = answered(r);
    return std::nullopt;
  }
  rapidjson::Document d;
  d.Parse(r.body.data(), r.body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("data") || !d["data"].IsObject()) {
    code = failed("the server's answer to " + path + " is not one of referrald's");
    return std::nullopt;
  }
  rapidjson::Document data;
  data.CopyFrom(d["data"], data.GetAllocator());
  return data;
}

std::string json_string(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject() || !v.HasMember(name) || !v[name].IsString()) return {};
  return {v[name].GetString(), v[name].GetStringLength()};
}
std::uint64_t json_count(const rapidjson::Value& v, const char* name) {
  return v.IsObject() && v.HasMember(name) && v[name].IsUint64() ? v[name].GetUint64() : 0;
}

// One row of `referralctl insights`.
struct insight_row {
  insight_row(std::string s, std::string d, std::string n, std::uint64_t v)
      : section(std::move(s)), date(std::move(d)), name(std::move(n)), visits(v) {}
  std::string section, date, name;
  std::uint64_t visits = 0;
  std::optional<std::uint64_t> with_session, overcount;
  std::string suggestion, reason;
};

// Rows of the answers: the days, the totals by reason and channel, the hosts, the mediums.
std::vector<insight_row> insight_rows(const rapidjson::Value& counts,
                                      const std::vector<rapidjson::Document>& pages) {
  std::vector<insight_row> rows;
  for (const auto& day : counts["days"].GetArray())
    rows.push_back(
        {"day", json_string(day, "date"), "resolutions", json_count(day, "resolutions")});
  const auto& totals = counts["totals"];
  for (const char* section : {"reason", "channel"}) {
    const char* member = std::string_view(section) == "reason" ? "by_reason" : "by_channel";
    if (!totals.HasMember(member) || !totals[member].IsObject()) continue;
    for (const auto& m : totals[member].GetObject()) {
      rows.emplace_back(section, "", std::string(m.name.GetString(), m.name.GetStringLength()),
                        m.value.IsUint64() ? m.value.GetUint64() : 0);
    }
  }
  auto suggestion = [](insight_row& row, const rapidjson::Value& v) {
    if (!v.HasMember("suggestion") || !v["suggestion"].IsObject()) return;
    row.suggestion = json_string(v["suggestion"], "kind");
    row.reason = json_string(v["suggestion"], "reason");
  };
  for (const auto& page : pages) {
    for (const auto& h : page["referrers"].GetArray()) {
      insight_row row{"referrer", "", json_string(h, "host"), json_count(h, "visits")};
      row.with_session = json_count(h, "visits_with_session");
      row.overcount = json_count(h, "visits_overcount");
      suggestion(row, h);
      rows.push_back(std::move(row));
    }
  }
  if (!pages.empty()) {
    for (const auto& m : pages.front()["unknown_mediums"].GetArray()) {
      insight_row row{"medium", "", json_string(m, "utm_medium"), json_count(m, "visits")};
      suggestion(row, m);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

void print_insights_csv(const std::vector<insight_row>& rows) {
  std::string out =
      "section,date,name,visits,visits_with_session,visits_overcount,suggestion,reason\n";
  for (const auto& r : rows) {
    domain::append_csv_field(out, r.section);
    out += ',';
    domain::append_csv_field(out, r.date);
    out += ',';
    domain::append_csv_field(out, r.name);
    out += ',' + std::to_string(r.visits) + ',';
    if (r.with_session) out += std::to_string(*r.with_session);
    out += ',';
    if (r.overcount) out += std::to_string(*r.overcount);
    out += ',';
    domain::append_csv_field(out, r.suggestion);
    out += ',';
    domain::append_csv_field(out, r.reason);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// Columns padded to their widest cell, two spaces apart; the last one as it is.
void print_table(const std::vector<std::vector<std::string>>& lines) {
  std::vector<std::size_t> width;
  for (const auto& l : lines)
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], l[i].size());
    }
  for (const auto& l : lines) {
    std::string out;
    for (std::size_t i = 0; i < l.size(); ++i) {
      out += l[i];
      if (i + 1 < l.size()) out.append(width[i] - l[i].size() + 2, ' ');
    }
    std::puts(out.c_str());
  }
}

void print_insights_table(const rapidjson::Value& counts, const std::vector<insight_row>& rows) {
  std::printf("%s, %s to %s (UTC)\n", json_string(counts, "account_id").c_str(),
              json_string(counts, "from").c_str(), json_string(counts, "to").c_str());
  struct section {
    const char* name;
    std::vector<std::string> head;
  };
  for (const section& s :
       {section{"day", {"DATE", "RESOLUTIONS"}}, section{"reason", {"REASON", "RESOLUTIONS"}},
        section{"channel", {"CHANNEL", "RESOLUTIONS"}},
        section{"referrer",
                {"FALL-THROUGH HOST", "VISITS", "WITH SESSION", "OVERCOUNT", "SUGGESTION"}},
        section{"medium", {"UNKNOWN UTM_MEDIUM", "VISITS", "SUGGESTION"}}}) {
    std::vector<std::vector<std::string>> lines{s.head};
    for (const auto& r : rows) {
      if (r.section != s.name) continue;
      std::string suggested = r.suggestion.empty() ? "" : r.suggestion + ": " + r.reason;
      if (r.section == "day") {
        lines.push_back({r.date, std::to_string(r.visits)});
      } else if (r.section == "referrer") {
        lines.push_back({r.name, std::to_string(r.visits),
                         std::to_string(r.with_session.value_or(0)),
                         std::to_string(r.overcount.value_or(0)), suggested});
      } else if (r.section == "medium") {
        lines.push_back({r.name, std::to_string(r.visits), suggested});
      } else {
        lines.push_back({r.name, std::to_string(r.visits)});
      }
    }
    std::puts("");
    if (lines.size() == 1) lines.push_back({"(none)"});
    print_table(lines);
  }
}

int cmd_insights(const args& a) {
  if (a.help) {
    std::fputs(k_insights_usage, stdout);
    return 0;
  }
  int code = 0;
  if (wrong_words(a, 1, code)) return code;
  auto account = a.options.find("account");
  if (account == a.options.end()) return usage_error("insights needs --account ID");
  std::string format = "table";
  if (auto it = a.options.find("format"); it != a.options.end()) format = it->second;
  if (format != "table" && format != "csv") return usage_error("--format must be table or csv");
  auto target = api_target_of(a, code);
  if (!target) return code;
  std::string query = "account_id=" + query_value(account->second);
  for (const char* name : {"from", "to"}) {
    if (auto it = a.options.find(name); it != a.options.end()) {
      query += std::string("&") + name + "=" + query_value(it->second);
    }
  }
  auto counts = api_data(*target, "/insights?" + query, code);
  if (!counts) return code;
  // Every page of the hosts.
  std::vector<rapidjson::Document> pages;
  std::string after;
  for (;;) {
    std::string path = "/insights/referrers?" + query + "&limit=1000";
    if (!after.empty()) path += "&starting_after=" + query_value(after);
    auto page = api_data(*target, path, code);
    if (!page) return code;
    bool more = (*page).HasMember("has_more") && (*page)["has_more"].IsBool() &&
                (*page)["has_more"].GetBool();
    after = json_string(*page, "next_starting_after");
    pages.push_back(std::move(*page));
    if (!more || after.empty()) break;
  }
  std::set<std::string> missing;
  for (const rapidjson::Value* answer : {static_cast<const rapidjson::Value*>(&*counts),
                                         static_cast<const rapidjson::Value*>(&pages.front())}) {
    if (!answer->HasMember("nodes_missing") || !(*answer)["nodes_missing"].IsArray()) continue;
    for (const auto& n : (*answer)["nodes_missing"].GetArray())
      if (n.IsString()) missing.insert(n.GetString());
  }
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing)
      names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "referralctl: partial: the counts of %s are missing (no answer in time)\n",
                 names.c_str());
  }
  auto rows = insight_rows(*counts, pages);
  if (format == "csv") {
    print_insights_csv(rows);
  } else {
    print_insights_table(*counts, rows);
  }
  return 0;
}

// --replicas N (1-5), or 0 when not given; -1 after a usage error.
int replicas_option(const args& a) {
  auto r = a.options.find("replicas");
  if (r == a.options.end()) return 0;
  int n = 0;
  const std::string& v = r->second;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || ptr != v.data() + v.size() || n < 1 || n > 5) {
    usage_error("--replicas must be a whole number from 1 to 5");
    return -1;
  }
  return n;
}

int cluster_status(const std::string& urls, int replicas) {
  cluster::cluster_options o;
  o.servers = cluster_servers(urls);
  o.node_name = "referralctl";
  o.create = false;
  o.replicas = replicas;
  auto log = cluster::cluster_log::open(o);
  if (!log) return failed(log.err());
  auto st = (*log)->status();
  if (!st) return failed(st.err());
  auto rep = (*log)->replication_status();
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("stream");
  w.String(st->stream.c_str());
  w.Key("leader");
  w.String(st->leader.c_str());
  w.Key("replicas");
  w.Int(st->replicas);
  w.Key("replicas_wanted");
  w.Int((*log)->wanted_replicas());
  w.Key("replicas_current");
  w.Int(rep.current);
  w.Key("known_servers");
  w.Int((*log)->known_servers());
  w.Key("problems");
  w.StartArray();
  for (const auto& why : rep.problems)
    domain::write_string(w, why);
  w.EndArray();
  w.Key("followers");
  w.StartArray();
  for (const auto& f : st->followers) {
    w.StartObject();
    w.Key("server");
    w.String(f.server.c_str());
    w.Key("current");
    w.Bool(f.current);
    w.Key("offline");
    w.Bool(f.offline);
    w.Key("lag");
    w.Uint64(f.lag);
    w.EndObject();
  }
  w.EndArray();
  w.Key("messages");
  w.Uint64(st->messages);
  w.Key("bytes");
  w.Uint64(st->bytes);
  w.Key("last_seq");
  w.Uint64(st->last_seq);
  w.EndObject();
  std::fprintf(stdout, "%s\n", buf.GetString());
  return st->leader.empty() || st->replicas < (*log)->wanted_replicas() ? 1 : 0;
}

int cluster_stepdown(const std::string& urls) {
  cluster::cluster_options o;
  o.servers = cluster_servers(urls);
  o.node_name = "referralctl";
  o.create = false;
  auto log = cluster::cluster_log::open(o);
  if (!log) return failed(log.err());
  auto moved = (*log)->step_down(std::chrono::seconds(10));
  if (!moved) return failed(moved.err());
  int code = 0;
  for (const auto& m : *moved) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    w.StartObject();
    w.Key("stream");
    domain::write_string(w, m.stream);
    w.Key("leader_before");
    domain::write_string(w, m.before);
    w.Key("leader");
    domain::write_string(w, m.after);
    w.EndObject();
    print_json_line(buf);
    if (m.after.empty()) {
      std::fprintf(stderr, "referralctl: stream %s has no new leader after 10 s\n",
                   m.stream.c_str());
      code = 1;
    }
  }
  return code;
}

int cmd_cluster(const std::string& dir, const args& a) {
  if (a.help) {
    std::fputs(k_cluster_usage, stdout);
    return 0;
  }
  if (a.positional.size() != 2 || (a.positional[1] != "import" && a.positional[1] != "status" &&
                                   a.positional[1] != "stepdown")) {
    return usage_error(
        "the cluster commands are 'cluster import', 'cluster status' and 'cluster stepdown'");
  }
  auto urls = cluster_urls(a);
  if (urls.empty()) return usage_error("cluster " + a.positional[1] + " needs --cluster URLS");
  int replicas = replicas_option(a);
  if (replicas < 0) return 2;
  if (a.positional[1] == "status") return cluster_status(urls, replicas);
  if (a.positional[1] == "stepdown") return cluster_stepdown(urls);
  auto db = open_store(dir, false);
  if (!db) return 1;
  cluster::cluster_options o;
  o.servers = cluster_servers(urls);
  o.node_name = "referralctl";
  o.replicas = replicas;  // 0: the cluster's size, at most 3
  auto log = cluster::cluster_log::open(o);
  if (!log) return failed(log.err());
  auto done = cluster::import_into_cluster(
      *db, **log, [](const std::string& account, std::uint64_t events) {
        std::fprintf(stdout, "account %s: %llu events\n", account.c_str(),
                     static_cast<unsigned long long>(events));
        std::fflush(stdout);
      });
  if (!done) return failed(done.err());
  std::fprintf(stdout,
               "imported into the cluster's stream: %zu accounts, %llu events, %zu API keys, %zu "
               "connections, %zu AI rows, %zu batch records (%zu the cluster already had)\n",
               done->accounts, static_cast<unsigned long long>(done->events), done->keys,
               done->connections, done->rows, done->batches, done->batches_skipped);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  args a = parse_args(argc, argv);
  if (!a.error.empty()) return usage_error(a.error);
  if (a.options.contains("version")) {
    std::fputs(tools::version_text("referralctl").c_str(), stdout);
    return 0;
  }
  std::string dir = "./data";
  if (const char* env = std::getenv("REFERRALD_DATA"); env != nullptr && *env != '\0') dir = env;
  const bool moving = !a.positional.empty() && a.positional[0] == "cluster";
  if (a.options.contains("data") && a.options.contains("cluster") && !moving) {
    return usage_error("--data and --cluster name two different histories: give one");
  }
  if (auto d = a.options.find("data"); d != a.options.end()) {
    if (d->second.empty()) return usage_error("--data needs a directory");
    dir = d->second;
  }
  if (a.positional.empty()) {
    std::fputs(k_usage, a.help ? stdout : stderr);
    return a.help ? 0 : 2;
  }
  const std::string& cmd = a.positional[0];
  if (cmd == "help") {
    if (a.positional.size() == 1) {
      std::fputs(k_usage, stdout);
      return 0;
    }
    a.positional.erase(a.positional.begin());
    a.help = true;
  }
  const std::string& name = a.positional[0];
  if (name == "events") return cmd_events(dir, a);
  if (name == "keys") return cmd_keys(dir, a);
  if (name == "replay") return cmd_replay(dir, a);
  if (name == "verify") return cmd_verify(dir, a);
  if (name == "history") return cmd_history(dir, a);
  if (name == "attribute") return cmd_attribute(dir, a);
  if (name == "snapshot") return cmd_snapshot(dir, a);
  if (name == "import") return cmd_import(a);
  if (name == "cluster") return cmd_cluster(dir, a);
  if (name == "export") return cmd_export(a);
  if (name == "insights") return cmd_insights(a);
  return usage_error("unknown command '" + name + "' (see referralctl help)");
}
