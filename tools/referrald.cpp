// referrald — the server process (docs/operations.md, "Configuration").

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "actors/runtime.hpp"
#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_membership.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/text.hpp"
#include "http/handlers.hpp"
#include "http/openapi.hpp"
#include "http/server.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "store/db.hpp"
#include "tools/version.hpp"

using namespace referrald;

namespace {

constexpr const char* k_usage = R"(usage: referrald [options]

Serves the referrald HTTP API. Every option can also be set through an environment
variable (REFERRALD_<NAME>, e.g. REFERRALD_DATA); a flag wins over the variable.

  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080; port 0 picks a
                         free port, and the "listening on" line shows the real one)
  --data DIR             data directory holding the RocksDB store (default ./data)
  --io-threads N         HTTP I/O threads (default: one per core)
  --compute-threads N    threads resolving batches, fairly between accounts (default:
                         one per core)
  --actor-threads N      actor scheduler threads (default: half the cores, at least 1)
  --ingest-actors N      AI-referral ingest actors validating and storing pushes in
                         parallel (default: one per core)
  --max-body BYTES       largest request body accepted (default 33554432, the AI push
                         limit; rule APIs accept at most 1 MiB or this, if smaller)
  --request-timeout MS   how long a request may wait for its answer (default 10000)
  --read-timeout MS      how long reading one request (header and body, from its first
                         byte) or writing one response may take (default 30000)
  --idle-timeout MS      how long a keep-alive connection may wait for its next request
                         (default 60000)
  --account-idle-timeout S  stop an account's actor after S seconds without use; it is
                         started again, from the store, on the next request (default 300)
  --min-free-disk SIZE   free space the data directory's file system must keep; below
                         it writes are refused with 507 (nothing is stored) and accepted
                         again as soon as space is back (default 64M; K, M, G suffixes;
                         0: no check)
  --max-regex-rules N    regex rules (mappings and channel rules with a regex
                         referrer_pattern, together) an account may hold, active or not
                         (default 100; 0-10000; --max-regex-mappings is an older name for it)
  --verify-every DURATION  walk every account's whole event chain this often, in the
                         background (default 1d; a number of seconds, or with an s, m,
                         h or d suffix; 0: never); a broken account refuses writes
  --insights-days N      days of insights' counts kept per account (default 35; 1-400)
  --insights-flush-every DURATION  write insights' counts to the store this often; a
                         kill loses at most this much counting (default 60s; 1s-1h)
  --snapshot-every N     write a snapshot of an account's rules every N events (an
                         account of more than 2N rules: every rules/2 events), so that
                         loading it replays at most that many (default 1000; 0: never)
  --cluster URLS         cluster mode: the accounts' rules live in a replicated NATS
                         JetStream stream on these servers (nats://HOST:PORT, separated
                         by commas), written and read by every node (rules, API keys,
                         AI connections and referrals); --data is this node's copy
  --node-name NAME       this node's name in the cluster (default: the host name)
  --cluster-replicas N   replicas the stream must have (1-5; default: the servers the
                         cluster advertises, at most 3): made with them, raised to them
                         when it has fewer, and no start when the cluster cannot hold them
  --cluster-wait SECONDS
                         how long a starting node waits for the cluster to answer and
                         elect the stream's leader before giving up (default 30)
  --cluster-partitions N the partitions accounts hash onto, each written by one owner
                         node (1-65536; default 64): fixed by the first node of a new
                         cluster, read by every other (docs/cluster.md "Owners")
  --cluster-peer-listen HOST:PORT
                         where this node takes the writes other nodes send it as their
                         owner, straight from them (default: --listen's host, any free
                         port; off: only over NATS)
  --cluster-peer-advertise HOST:PORT
                         the address the other nodes reach it at (default: the one it
                         listens on; for 0.0.0.0 or ::, the address it reaches NATS from,
                         or the first IPv4 address other than loopback)
  --log-level LEVEL      error, warn, info or debug (default info): info has account
                         loads and unloads and start-up; warn has server errors (5xx)
                         with their request id; debug adds a line per request
  --log-format FORMAT    text (default: "TIME LEVEL message") or json (one object per
                         line: time, level, msg)
  --log-file FILE        write the log to FILE (appended) instead of stderr; SIGHUP
                         reopens it, after a rotation
  --access-log TARGET    one JSON line per request (time, request id, key id, method,
                         route, account or brand, status, bytes, duration): "-" for
                         stderr, a file (appended; SIGHUP reopens it), or off (default)
  --admin-key-file FILE  where the first admin key's secret goes when a data directory
                         without keys gets one: written to FILE (mode 0600) instead of
                         stderr (default: stderr)
  --rate-limit-rps N     tokens per second each API key's bucket refills with; a request
                         takes one, a push one per row, a batch resolution one per visit;
                         failed authentications take from the client address's bucket
                         (default 2000000; 0: no limit)
  --rate-limit-burst N   the most tokens a bucket holds (default 4000000)
  --publishable-rate-limit-rps N
                         requests per second a publishable key's bucket refills with, per
                         client address (default 5; 0: no limit)
  --publishable-rate-limit-burst N
                         the most requests such a bucket holds (default 50)
  --cors-origins LIST    browser origins that may call the API (CORS), comma-separated,
                         e.g. https://console.example.com,http://localhost:3000; * for any
                         (default none)
  --config FILE          read options from FILE first: one "name = value" per line, with
                         the names of these flags (listen = 127.0.0.1:8080); # starts a
                         comment line. A flag wins over the environment, which wins over
                         the file (also REFERRALD_CONFIG=FILE)
  --version              the version and how it was built
  --openapi              print the API's OpenAPI 3.1 document (for the default limits)
  --help, help           this text

Environment only:
  REFERRALD_BOOTSTRAP_KEY=SECRET
                         at start, create an admin key (all accounts and brands)
                         with this secret unless one exists. Without it, a data directory
                         without keys gets one admin key whose secret is printed once.
)";

struct config {
  std::string listen = "127.0.0.1:8080";
  std::string data = "./data";
  std::size_t io_threads = 0;
  std::size_t compute_threads = 0;
  std::size_t max_regex_rules = 100;
  std::size_t actor_threads = 0;
  std::size_t ingest_actors = 0;
  std::size_t max_body = 32u << 20;
  std::size_t request_timeout_ms = 10000;
  std::size_t read_timeout_ms = 30000;
  std::size_t idle_timeout_ms = 60000;
  std::size_t account_idle_seconds = 300;
  std::size_t snapshot_every = 1000;
  std::uint64_t min_free_disk = 64u << 20;
  std::uint64_t verify_every_seconds = 24 * 3600;
  std::size_t insights_days = 35;
  std::uint64_t insights_flush_every_seconds = 60;
  std::string log_level = "info";
  std::string log_file;
  std::string log_format = "text";
  std::string access_log;
  std::string admin_key_file;  // empty: the first admin key's secret goes to stderr
  double rate_limit_rps = 2000000;
  double rate_limit_burst = 4000000;
  double publishable_rate_limit_rps = 5;
  double publishable_rate_limit_burst = 50;
  std::vector<std::string> cors_origins;
  std::vector<std::string> cluster;  // nats:// URLs; empty: embedded mode
  std::string node_name;
  std::size_t cluster_replicas = 0;  // 0: the cluster's size, at most 3
  std::size_t cluster_wait_seconds = 30;
  std::size_t cluster_partitions = 64;
  std::string cluster_peer_listen;     // "": --listen's host, port 0; "off": none
  std::string cluster_peer_advertise;  // "": as bound
};

// Where the option being read comes from, when it is a line of the --config file.
std::string g_option_source;

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "referrald: %s%s\n", g_option_source.c_str(), message.c_str());
  std::exit(2);
}

std::size_t parse_count(std::string_view name, std::string_view v, std::size_t min,
                        std::size_t max) {
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || ptr != v.data() + v.size() || n < min || n > max) {
    fail(std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
         std::to_string(max) + ", not '" + std::string(v) + "'");
  }
  return n;
}

// Seconds, or a number with an s, m, h or d suffix.
std::uint64_t parse_duration(std::string_view name, std::string_view v) {
  std::uint64_t unit = 1;
  if (!v.empty()) {
    switch (v.back()) {
      case 's':
        unit = 1;
        v.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        v.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        v.remove_suffix(1);
        break;
      case 'd':
        unit = 86400;
        v.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size() || n > 3650ull * 86400 / unit) {
    fail(std::string(name) + " must be a duration such as 3600, 90s, 30m, 12h or 1d");
  }
  return n * unit;
}

// BYTES, or a number with a K, M or G suffix (KiB, MiB, GiB).
std::uint64_t parse_size(std::string_view name, std::string_view v) {
  std::uint64_t unit = 1;
  if (!v.empty()) {
    switch (v.back()) {
      case 'K':
      case 'k':
        unit = 1u << 10;
        break;
      case 'M':
      case 'm':
        unit = 1u << 20;
        break;
      case 'G':
      case 'g':
        unit = 1u << 30;
        break;
      default:
        break;
    }
    if (unit != 1) v.remove_suffix(1);
  }
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size() || n > (1ull << 50) / unit) {
    fail(std::string(name) + " must be a size in bytes, optionally with a K, M or G suffix");
  }
  return n * unit;
}

// "a,b,c" as its items (an empty item stays, for the caller to refuse).
std::vector<std::string> split_commas(std::string_view value) {
  std::vector<std::string> out;
  for (std::size_t at = 0;;) {
    auto comma = value.find(',', at);
    out.emplace_back(value.substr(at, comma == std::string_view::npos ? value.npos : comma - at));
    if (comma == std::string_view::npos) return out;
    at = comma + 1;
  }
}

// "HOST:PORT" or "[V6]:PORT" of the option `flag`.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& flag,
                                                      const std::string& value) {
  auto split = domain::split_host_port(value);
  if (!split) fail(flag + " must be HOST:PORT, not '" + value + "'");
  auto port = parse_count("the port of " + flag, split->port, 0, 65535);
  return {std::move(split->host), static_cast<std::uint16_t>(port)};
}

void set_option(config& c, std::string_view name, std::string_view value) {
  if (name == "config") {
    // Read before everything else (read_config_file).
  } else if (name == "listen") {
    c.listen = value;
  } else if (name == "data") {
    if (value.empty()) fail("--data must not be empty");
    c.data = value;
  } else if (name == "io-threads") {
    c.io_threads = parse_count("--io-threads", value, 1, 256);
  } else if (name == "compute-threads") {
    c.compute_threads = parse_count("--compute-threads", value, 1, 256);
  } else if (name == "max-regex-rules" || name == "max-regex-mappings") {
    c.max_regex_rules = parse_count("--" + std::string(name), value, 0, 10000);
  } else if (name == "actor-threads") {
    c.actor_threads = parse_count("--actor-threads", value, 1, 256);
  } else if (name == "ingest-actors") {
    c.ingest_actors = parse_count("--ingest-actors", value, 1, 256);
  } else if (name == "max-body") {
    c.max_body = parse_count("--max-body", value, 1024, std::size_t{1} << 32);
  } else if (name == "request-timeout") {
    c.request_timeout_ms = parse_count("--request-timeout", value, 10, 3600000);
  } else if (name == "read-timeout") {
    c.read_timeout_ms = parse_count("--read-timeout", value, 100, 3600000);
  } else if (name == "idle-timeout") {
    c.idle_timeout_ms = parse_count("--idle-timeout", value, 100, 3600000);
  } else if (name == "account-idle-timeout") {
    c.account_idle_seconds = parse_count("--account-idle-timeout", value, 1, 7 * 24 * 3600);
  } else if (name == "verify-every") {
    c.verify_every_seconds = parse_duration("--verify-every", value);
  } else if (name == "insights-days") {
    c.insights_days = parse_count("--insights-days", value, 1, 400);
  } else if (name == "insights-flush-every") {
    c.insights_flush_every_seconds = parse_duration("--insights-flush-every", value);
    if (c.insights_flush_every_seconds < 1 || c.insights_flush_every_seconds > 3600) {
      fail("--insights-flush-every must be between 1s and 1h, got " + std::string(value));
    }
  } else if (name == "min-free-disk") {
    c.min_free_disk = parse_size("--min-free-disk", value);
  } else if (name == "snapshot-every") {
    c.snapshot_every = parse_count("--snapshot-every", value, 0, 100000000);
  } else if (name == "log-level") {
    if (!infra::log_level_from_string(value)) {
      fail("--log-level must be error, warn, info or debug, not '" + std::string(value) + "'");
    }
    c.log_level = value;
  } else if (name == "log-format") {
    if (value != "text" && value != "json") {
      fail("--log-format must be text or json, not '" + std::string(value) + "'");
    }
    c.log_format = value;
  } else if (name == "access-log") {
    c.access_log = value == "off" ? std::string() : std::string(value);
  } else if (name == "admin-key-file") {
    c.admin_key_file = value;
  } else if (name == "rate-limit-rps") {
    c.rate_limit_rps = static_cast<double>(parse_count("--rate-limit-rps", value, 0, 1000000000));
  } else if (name == "rate-limit-burst") {
    c.rate_limit_burst =
        static_cast<double>(parse_count("--rate-limit-burst", value, 1, 1000000000));
  } else if (name == "publishable-rate-limit-rps") {
    c.publishable_rate_limit_rps =
        static_cast<double>(parse_count("--publishable-rate-limit-rps", value, 0, 1000000000));
  } else if (name == "publishable-rate-limit-burst") {
    c.publishable_rate_limit_burst =
        static_cast<double>(parse_count("--publishable-rate-limit-burst", value, 1, 1000000000));
  } else if (name == "cors-origins") {
    c.cors_origins = split_commas(value);
    for (std::string_view origin : c.cors_origins) {
      bool scheme = origin.starts_with("https://") || origin.starts_with("http://");
      if (origin != "*" &&
          (!scheme || origin.ends_with("/") || origin.find('/', 8) != origin.npos)) {
        fail(
            "--cors-origins must list origins such as https://console.example.com (scheme, "
            "host and optional port, no path) separated by commas, or *, not '" +
            std::string(origin) + "'");
      }
    }
  } else if (name == "log-file") {
    if (value.empty()) fail("--log-file must not be empty");
    c.log_file = value;
  } else if (name == "cluster") {
    c.cluster = split_commas(value);
    for (std::string_view url : c.cluster) {
      if (!url.starts_with("nats://") || url.size() <= 7) {
        fail("--cluster must list nats://HOST:PORT URLs separated by commas, not '" +
             std::string(value) + "'");
      }
    }
  } else if (name == "node-name") {
    if (value.empty() || value.size() > 64) fail("--node-name must be 1 to 64 characters");
    c.node_name = value;
  } else if (name == "cluster-replicas") {
    c.cluster_replicas = parse_count("--cluster-replicas", value, 1, 5);
  } else if (name == "cluster-wait") {
    c.cluster_wait_seconds = parse_count("--cluster-wait", value, 1, 3600);
  } else if (name == "cluster-partitions") {
    c.cluster_partitions = parse_count("--cluster-partitions", value, 1, 65536);
  } else if (name == "cluster-peer-listen") {
    if (value != "off") (void)split_host_port("--cluster-peer-listen", std::string(value));
    c.cluster_peer_listen = value;
  } else if (name == "cluster-peer-advertise") {
    auto [host, port] = split_host_port("--cluster-peer-advertise", std::string(value));
    if (port == 0 || !cluster::cluster_membership::peer_address_ok(value)) {
      fail(
          "--cluster-peer-advertise must be HOST:PORT with a port other than 0 (a name or an "
          "address; [V6]:PORT), not '" +
          std::string(value) + "'");
    }
    c.cluster_peer_advertise = value;
  } else {
    fail("unknown option --" + std::string(name) + " (see --help)");
  }
}

// The --config file: `name = value` lines with the flags' names (without "--"); blank
// lines and lines starting with # are skipped; a value may be put in double quotes.
void read_config_file(config& c, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) fail("cannot read the --config file '" + path + "'");
  char buf[8192];
  for (int line = 1; std::fgets(buf, sizeof buf, f) != nullptr; ++line) {
    std::string_view text = buf;
    auto trim = [](std::string_view v) {
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front())))
        v.remove_prefix(1);
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back())))
        v.remove_suffix(1);
      return v;
    };
    text = trim(text);
    if (text.empty() || text.front() == '#') continue;
    g_option_source = path + ":" + std::to_string(line) + ": ";
    auto eq = text.find('=');
    if (eq == std::string_view::npos)
      fail("expected 'name = value', not '" + std::string(text) + "'");
    std::string_view name = trim(text.substr(0, eq));
    std::string_view value = trim(text.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (name == "config") fail("a --config file cannot name another one");
    set_option(c, name, value);
  }
  std::fclose(f);
  g_option_source.clear();
}

// The --config file's path: from the flags (--config FILE, --config=FILE), else from
// REFERRALD_CONFIG; empty when neither gives one.
std::string config_path(int argc, char** argv) {
  std::string path;
  if (const char* v = std::getenv("REFERRALD_CONFIG"); v != nullptr) path = v;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) path = argv[i + 1];
    if (arg.starts_with("--config=")) path = arg.substr(9);
  }
  return path;
}

// Defaults, then the --config file, then the environment, then the flags: each wins over
// the ones before.
config parse(int argc, char** argv) {
  config c;
  if (auto path = config_path(argc, argv); !path.empty()) read_config_file(c, path);
  for (const char* name : {"listen",
                           "data",
                           "io-threads",
                           "compute-threads",
                           "max-regex-mappings",
                           "max-regex-rules",
                           "actor-threads",
                           "ingest-actors",
                           "max-body",
                           "request-timeout",
                           "read-timeout",
                           "idle-timeout",
                           "account-idle-timeout",
                           "min-free-disk",
                           "verify-every",
                           "insights-days",
                           "insights-flush-every",
                           "snapshot-every",
                           "log-level",
                           "log-format",
                           "log-file",
                           "access-log",
                           "admin-key-file",
                           "rate-limit-rps",
                           "rate-limit-burst",
                           "publishable-rate-limit-rps",
                           "publishable-rate-limit-burst",
                           "cors-origins",
                           "cluster",
                           "node-name",
                           "cluster-replicas",
                           "cluster-wait",
                           "cluster-partitions",
                           "cluster-peer-listen",
                           "cluster-peer-advertise"}) {
    std::string var = "REFERRALD_";
    for (const char* p = name; *p != '\0'; ++p) {
      var += *p == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
    }
    if (const char* v = std::getenv(var.c_str()); v != nullptr && *v != '\0') {
      set_option(c, name, v);
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(k_usage, stdout);
      std::exit(0);
    }
    if (arg == "--version") {
      std::fputs(tools::version_text("referrald").c_str(), stdout);
      std::exit(0);
    }
    if (arg == "--openapi") {
      std::fputs(http::openapi_document(http::make_router(http::limits{})).c_str(), stdout);
      std::exit(0);
    }
    if (!arg.starts_with("--")) fail("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      if (i + 1 >= argc) fail("--" + std::string(name) + " needs a value");
      value = argv[++i];
    }
    set_option(c, name, value);
  }
  return c;
}

// Writes the first admin key's secret where its operator finds it: `secret_file` (mode 0600,
// whole or not at all) or, failing that, stderr, once.
void hand_over_secret(long long id, const std::string& secret, const std::string& secret_file) {
  if (!secret_file.empty()) {
    std::string tmp = secret_file + ".new";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string text = secret + "\n";
    bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
              ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    ok = ok && ::rename(tmp.c_str(), secret_file.c_str()) == 0;
    if (ok) {
      std::fprintf(stderr,
                   "referrald: created admin API key %lld; its secret is in %s (mode 0600)\n", id,
                   secret_file.c_str());
      std::fflush(stderr);
      return;
    }
    infra::log(infra::log_level::error, "could not write " + secret_file + ": " +
                                            std::strerror(errno) + "; printing the secret instead");
  }
  std::fprintf(stderr,
               "referrald: created admin API key %lld; its secret is shown only this once:\n"
               "  %s\n",
               id, secret.c_str());
  std::fflush(stderr);
}

// Installs REFERRALD_BOOTSTRAP_KEY, or the first admin key of an empty data directory (in
// cluster mode: of a cluster without keys), through the keys actor and the journal like any
// key write: decided on the keys as the journal holds them, and again on them when another
// node's key write came first. A store that takes no write now (a full disk, a cluster still
// electing its leaders for longer than `wait`) leaves a given key to a later start.
void bootstrap_keys(actors::runtime& runtime, const std::string& secret_file,
                    std::chrono::milliseconds wait) {
  const char* env = std::getenv("REFERRALD_BOOTSTRAP_KEY");
  const bool given = env != nullptr && *env != '\0';
  std::string secret = given ? std::string(env) : domain::generate_secret();
  if (given && secret.size() < 16)
    fail("REFERRALD_BOOTSTRAP_KEY must be at least 16 characters long");
  const auto give_up = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto done = std::make_shared<std::promise<actors::api_result>>();
    actors::key_bootstrap_req req;
    req.secret = secret;
    req.name = given ? "bootstrap admin" : "initial admin";
    req.only_if_none = !given;
    req.reply = actors::make_reply([done](actors::api_result r) { done->set_value(std::move(r)); });
    runtime.tell(actors::keys_request{std::move(req)});
    auto made = done->get_future().get();
    if (!made && made.err().code == domain::errc::unavailable &&
        std::chrono::steady_clock::now() < give_up) {
      // A cluster electing its leaders: asked again in a moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      continue;
    }
    if (!made && given &&
        (made.err().code == domain::errc::insufficient_storage ||
         made.err().code == domain::errc::unavailable)) {
      // The store still serves reads; the key is installed by a later start.
      infra::log(infra::log_level::warn,
                 "could not install REFERRALD_BOOTSTRAP_KEY: " + made.err().message);
      return;
    }
    if (!made) throw std::runtime_error(made.err().message);
    if (made->created_id.empty()) {
      // A key of that secret exists (a revoked one stays revoked), or other keys do.
      if (given && made->data.find("\"revoked_at\":") != std::string::npos) {
        infra::log(infra::log_level::warn,
                   "REFERRALD_BOOTSTRAP_KEY names a key that was revoked; it is not re-created");
      }
      return;
    }
    if (given) {
      infra::log(infra::log_level::info,
                 "installed the bootstrap admin key as key " + made->created_id);
      return;
    }
    return hand_over_secret(std::stoll(made->created_id), secret, secret_file);
  }
}

// Set when the node finds its copy differs from the cluster's stream: it stops and exits
// with k_exit_copy_diverged.
std::atomic<bool> copy_diverged{false};
std::atomic<http::server*> serving_now{nullptr};
constexpr int k_exit_copy_diverged = 75;

// A cluster node whose copy was found to differ from the stream (marked by the runtime
// before it stopped): the copy is kept in a directory inside the data directory, for
// inspection, and the store emptied, to be filled from the stream again.
std::unique_ptr<store::db> fresh_copy_if_diverged(std::unique_ptr<store::db> db,
                                                  const config& cfg) {
  auto at = cluster::cluster_cache(*db).diverged();
  if (!at) throw std::runtime_error("cannot read the node's copy: " + at.err().message);
  if (*at == 0) return db;
  auto refills = cluster::cluster_cache(*db).refills();
  if (!refills) throw std::runtime_error("cannot read the node's copy: " + refills.err().message);
  std::string stamp = domain::format_rfc3339(domain::now_ms());
  std::erase_if(stamp, [](char c) { return c == ':' || c == '-' || c == '.'; });
  std::string aside = cfg.data + "/diverged-" + stamp;
  if (auto st = db->checkpoint(aside); !st) {
    throw std::runtime_error("cannot keep the node's copy that differs from the stream: " +
                             st.err().message);
  }
  db.reset();
  if (auto st = store::db::destroy(cfg.data); !st) throw std::runtime_error(st.err().message);
  infra::log(infra::log_level::warn,
             "this node's copy differed from the cluster's stream at message " +
                 std::to_string(*at) + ": kept in " + aside +
                 " (delete it when no longer wanted); filling a new copy from the stream");
  auto opened = store::db::open({cfg.data, false, cfg.min_free_disk});
  if (!opened) throw std::runtime_error("cannot open a new copy: " + opened.err().message);
  if (auto st = cluster::cluster_cache(**opened).mark_rebuilt(
          static_cast<std::uint64_t>(domain::now_ms()), *refills + 1);
      !st) {
    throw std::runtime_error("cannot write the new copy: " + st.err().message);
  }
  return std::move(*opened);
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closed its socket is an error value, not a signal; SIGHUP is handled by
  // the server once it runs (before that, it must not end the process either).
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  config cfg = parse(argc, argv);
  infra::set_build_info(REFERRALD_VERSION, REFERRALD_COMPILER);
  infra::set_log_level(*infra::log_level_from_string(cfg.log_level));
  infra::set_log_json(cfg.log_format == "json");
  if (!cfg.log_file.empty() && !infra::set_log_file(cfg.log_file)) {
    fail("cannot open --log-file '" + cfg.log_file + "' for appending");
  }
  auto [host, port] = split_host_port("--listen", cfg.listen);
  try {
    auto opened = store::db::open({cfg.data, false, cfg.min_free_disk});
    if (!opened) {
      std::fprintf(stderr, "referrald: cannot open data directory '%s': %s\n", cfg.data.c_str(),
                   opened.err().message.c_str());
      return 1;
    }
    std::unique_ptr<store::db> db = std::move(*opened);
    if (!cfg.cluster.empty()) db = fresh_copy_if_diverged(std::move(db), cfg);
    actors::runtime_options ropts;
    ropts.actor_threads = cfg.actor_threads;
    ropts.ingest_workers = cfg.ingest_actors;
    ropts.account_idle_timeout = std::chrono::seconds(cfg.account_idle_seconds);
    ropts.snapshot_every = cfg.snapshot_every;
    ropts.max_regex_rules = cfg.max_regex_rules;
    ropts.verify_every = std::chrono::seconds(cfg.verify_every_seconds);
    ropts.insights.days_kept = cfg.insights_days;
    ropts.insights.flush_every = std::chrono::seconds(cfg.insights_flush_every_seconds);
    if (!cfg.cluster.empty()) {
      actors::runtime_options::cluster_settings cs;
      cs.servers = cfg.cluster;
      cs.node_name = cfg.node_name;
      if (cs.node_name.empty()) {
        char host_name[256] = {};
        gethostname(host_name, sizeof host_name - 1);
        cs.node_name = host_name;
      }
      cs.start_wait = std::chrono::seconds(cfg.cluster_wait_seconds);
      cs.partitions = static_cast<std::uint32_t>(cfg.cluster_partitions);
      if (cfg.cluster_peer_listen.empty()) {
        cs.peer_host = host;
      } else if (cfg.cluster_peer_listen != "off") {
        std::tie(cs.peer_host, cs.peer_port) =
            split_host_port("--cluster-peer-listen", cfg.cluster_peer_listen);
      }
      cs.peer_advertise = cfg.cluster_peer_advertise;
      // 0: the cluster's size as its servers advertise it (never the number of URLs given:
      // one URL of a three-server cluster must not make a stream of one replica).
      cs.replicas = static_cast<int>(cfg.cluster_replicas);
      cs.on_copy_diverged = [] {
        copy_diverged = true;
        if (auto* s = serving_now.load()) s->stop();
      };
      ropts.cluster = std::move(cs);
    }
    actors::runtime runtime(*db, ropts);
    // In cluster mode, the node's copy has caught up with the cluster's keys by now: a key is
    // made once for the whole cluster.
    bootstrap_keys(
        runtime, cfg.admin_key_file,
        cfg.cluster.empty() ? std::chrono::milliseconds(0) : std::chrono::milliseconds(5000));

    http::server_options sopts;
    sopts.host = host;
    sopts.port = port;
    sopts.io_threads = cfg.io_threads;
    sopts.compute_threads = cfg.compute_threads;
    sopts.body_limits.push_body = cfg.max_body;
    sopts.body_limits.rule_body = std::min<std::size_t>(cfg.max_body, 1u << 20);
    sopts.on_hangup = [] {
      sd_notify(0, "RELOADING=1");
      infra::reopen_log_file();
      sd_notify(0, "READY=1");
    };
    sopts.request_timeout = std::chrono::milliseconds(cfg.request_timeout_ms);
    sopts.read_timeout = std::chrono::milliseconds(cfg.read_timeout_ms);
    sopts.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
    sopts.access_log = cfg.access_log;
    sopts.rate_limit_rps = cfg.rate_limit_rps;
    sopts.rate_limit_burst = cfg.rate_limit_burst;
    sopts.publishable_rate_limit_rps = cfg.publishable_rate_limit_rps;
    sopts.publishable_rate_limit_burst = cfg.publishable_rate_limit_burst;
    sopts.cors_origins = cfg.cors_origins;
    sopts.retries = &runtime.retries();
    sopts.placement = &runtime.placement();
    http::server server(sopts, runtime);
    serving_now = &server;
    if (copy_diverged.load()) server.stop();

    std::printf("listening on %s\n", server.local_endpoint().c_str());
    std::fflush(stdout);
    infra::log(infra::log_level::info, "serving data directory " + cfg.data);
    // Under systemd (Type=notify): ready once listening — the store is open and a cluster
    // node has caught up with its stream by now. A no-op without NOTIFY_SOCKET. The status
    // line then follows /readyz (checked every second): a store that takes no writes (a full
    // disk) leaves the server serving reads, so it stays started, and says why it is not
    // ready in `systemctl status`.
    const std::string serving = "serving " + cfg.data + " on " + server.local_endpoint();
    auto status_of = [&runtime, &serving] {
      std::string why;
      for (const auto& reason : actors::runtime::not_ready_reasons(runtime.ready()))
        why += (why.empty() ? "" : "; ") + reason;
      return why.empty() ? serving : "not ready (" + why + "); " + serving;
    };
    std::string status = status_of();
    sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", status.c_str(),
               static_cast<unsigned long>(getpid()));
    std::mutex status_mu;
    std::condition_variable status_cv;
    bool stopping = false;
    std::thread status_watch;
    if (std::getenv("NOTIFY_SOCKET") != nullptr) {
      status_watch = std::thread([&] {
        std::unique_lock lock(status_mu);
        while (!status_cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
          if (auto now = status_of(); now != status) {
            status = now;
            sd_notifyf(0, "STATUS=%s", status.c_str());
          }
        }
      });
    }
    server.run();
    if (status_watch.joinable()) {
      {
        std::lock_guard lock(status_mu);
        stopping = true;
      }
      status_cv.notify_one();
      status_watch.join();
    }
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: writing what is pending");
    infra::log(infra::log_level::info, "stopping: writing what is pending");
    runtime.shutdown();
    serving_now = nullptr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "referrald: %s\n", e.what());
    return 1;
  }
  if (copy_diverged.load()) {
    // EX_TEMPFAIL: the service manager starts the node again (Restart=on-failure), and
    // it fills a new copy from the stream.
    infra::log(infra::log_level::error,
               "stopped: this node's copy differs from the cluster's stream; start it again to "
               "fill a new copy");
    return k_exit_copy_diverged;
  }
  infra::log(infra::log_level::info, "stopped");
  return 0;
}
