#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>
#include "infra/metrics.hpp"

#include <cstdio>

namespace referrald::infra {

namespace {

// Whole numbers in full (byte counts), large ones to the millisecond (a start time in
// seconds since 1970), the rest with 9 significant digits (bucket bounds, sums).
void append_number(std::string& out, double v) {
  char buf[48];
  if (std::floor(v) == v && std::fabs(v) < 1e18) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (std::fabs(v) >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  out += buf;
}

// One sample of a counter or gauge, with its HELP and TYPE lines.
void scalar(std::string& out, const char* name, const char* type, const char* help,
            const std::string& value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += value;
  out += '\n';
}

void counter(std::string& out, const char* name, const char* help, std::uint64_t v) {
  scalar(out, name, "counter", help, std::to_string(v));
}

void gauge(std::string& out, const char* name, const char* help, std::int64_t v) {
  scalar(out, name, "gauge", help, std::to_string(v));
}

// One unlabelled histogram (latency_histogram or count_histogram), with its HELP and TYPE.
template <class Histogram>
void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
  out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + " histogram\n";
  h.render(out, name, "");
}

}  // namespace

void latency_histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

count_histogram::count_histogram(std::uint64_t base, std::size_t steps)
    : steps_(std::min(steps, max_steps)) {
  std::uint64_t b = 1;
  for (std::size_t i = 0; i < steps_; ++i, b *= base)
    bounds_[i] = b;
}

void count_histogram::observe(std::uint64_t v) {
  std::size_t i = 0;
  while (i < steps_ && v > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

void count_histogram::render(std::string& out, const std::string& name,
                             const std::string& labels) const {
  std::uint64_t cumulative = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i <= steps_; ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name + "_bucket{" + labels + sep + "le=\"" +
           (i < steps_ ? std::to_string(bounds_[i]) : "+Inf") + "\"} " +
           std::to_string(cumulative) + '\n';
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + ' ' + std::to_string(sum_.load(std::memory_order_relaxed)) + '\n';
  out += name + "_count" + braces + ' ' + std::to_string(count_.load(std::memory_order_relaxed)) +
         '\n';
}

void latency_histogram::render(std::string& out, const std::string& name,
                               const std::string& labels) const {
  std::uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name;
    out += "_bucket{";
    out += labels;
    out += sep;
    out += "le=\"";
    if (i < bounds_.size()) {
      append_number(out, bounds_[i]);
    } else {
      out += "+Inf";
    }
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + ' ';
  append_number(out, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += '\n';
  out += name + "_count" + braces + ' ' + std::to_string(count_.load(std::memory_order_relaxed));
  out += '\n';
}

void process_metrics::render(std::string& out) const {
  counter(out, "referrald_events_appended_total", "Rule events durably appended to the log.",
          events_appended.load());
  counter(out, "referrald_store_commits_total", "Synced RocksDB write batches (one fsync each).",
          store_commits.load());
  counter(out, "referrald_store_commit_requests_total",
          "Write requests covered by those commits (group commit).", store_commit_requests.load());
  gauge(out, "referrald_account_actors", "Live per-account actors.", account_actors_live.load());
  counter(out, "referrald_account_actor_evictions_total",
          "Account actors that stopped after being idle (restarted on next use).",
          account_actor_evictions.load());
  counter(out, "referrald_ingest_rows_accepted_total", "AI-referral rows accepted.",
          ingest_rows_accepted.load());
  counter(out, "referrald_ingest_rows_rejected_total", "AI-referral rows rejected.",
          ingest_rows_rejected.load());
  counter(out, "referrald_regex_match_limit_hits_total",
          "Regex matches stopped by the PCRE2 match or depth limit (counted as no match).",
          regex_match_limit_hits.load());
  counter(out, "referrald_snapshots_written_total",
          "Per-account state snapshots written (every --snapshot-every events).",
          snapshots_written.load());
  counter(out, "referrald_mapping_index_builds_total",
          "Full rebuilds of an account's mapping index, made off its actor once enough "
          "mappings changed since the last one.",
          mapping_index_builds.load());
  counter(out, "referrald_snapshot_fallbacks_total",
          "Unusable per-account snapshots passed over for an older one or the full log.",
          snapshot_fallbacks.load());
  counter(out, "referrald_insights_resolutions_total",
          "Live resolutions counted by insights (single, batch, NDJSON, the tracker).",
          insights_resolutions.load());
  counter(out, "referrald_insights_evictions_total",
          "Fall-through referrer hosts a day's fixed-size summary forgot to make room for "
          "another.",
          insights_evictions.load());
  counter(out, "referrald_insights_flushes_total",
          "Times insights' counts were written to the store (every --insights-flush-every "
          "and at stop).",
          insights_flushes.load());
  counter(out, "referrald_insights_flush_failures_total",
          "Writes of insights' counts to the store that failed (logged; retried at the next "
          "interval).",
          insights_flush_failures.load());
  counter(out, "referrald_backups_created_total",
          "Online checkpoints of the store written by POST /admin/snapshots.",
          backups_created.load());
  counter(out, "referrald_io_handler_exceptions_total",
          "Exceptions caught at the edge of an I/O thread's loop (each one is logged).",
          io_handler_exceptions.load());
  counter(out, "referrald_actor_exceptions_total",
          "Exceptions caught in actor or commit-thread handlers (each one is logged).",
          actor_exceptions.load());
  counter(out, "referrald_regex_budget_exhausted_total",
          "Visits whose regex mappings used up the per-visit work budget (the rest were "
          "skipped as not matching).",
          regex_budget_exhausted.load());
  counter(out, "referrald_chain_verified_total",
          "Accounts whose whole event chain the background verifier checked.",
          chain_verified.load());
  gauge(out, "referrald_chain_broken_accounts",
        "Accounts whose stored history failed verification (they refuse writes).",
        chain_broken_accounts.load());
  gauge(out, "referrald_store_writable",
        "1 while the store accepts writes; 0 while the disk is too full (writes get 507).",
        store_writable.load());
  gauge(out, "referrald_store_free_bytes",
        "Free bytes on the data directory's file system at the last check.",
        store_free_bytes.load());
  counter(out, "referrald_store_writes_refused_total",
          "Writes refused with 507 because the disk was (nearly) full.",
          store_writes_refused_disk_full.load());
  counter(out, "referrald_cluster_writes_beaten_total",
          "Cluster mode: requests made again because another node's write to their account "
          "came first.",
          cluster_writes_beaten.load());
  gauge(out, "referrald_cluster_members", "Cluster mode: the live nodes this node sees.",
        cluster_members.load());
  gauge(out, "referrald_cluster_partitions_owned",
        "Cluster mode: the partitions of accounts this node owns (writes them itself).",
        cluster_partitions_owned.load());
  counter(out, "referrald_cluster_forwarded_total",
          "Cluster mode: writes sent to their account's owner and answered by it.",
          cluster_forwarded.load());
  counter(out, "referrald_cluster_forward_fallbacks_total",
          "Cluster mode: writes this node made itself because no owner took them.",
          cluster_forward_fallbacks.load());
  counter(out, "referrald_cluster_forward_timeouts_total",
          "Cluster mode: writes an owner took and did not answer in time (answered 503).",
          cluster_forward_timeouts.load());
  counter(out, "referrald_cluster_forwards_served_total",
          "Cluster mode: writes this node answered as their owner for another node.",
          cluster_forwards_served.load());
  counter(out, "referrald_cluster_peer_sent_total",
          "Cluster mode: writes sent to their owner over the direct connection between the "
          "nodes (the peer link).",
          cluster_peer_sent.load());
  counter(out, "referrald_cluster_peer_unreachable_total",
          "Cluster mode: times an owner's peer link could not be reached, refused this node or "
          "went silent, after which its writes went over NATS for 30 s.",
          cluster_peer_unreachable.load());
  counter(out, "referrald_cluster_peer_hellos_refused_total",
          "Cluster mode: connections to this node's peer link refused (another node name or "
          "a wrong secret).",
          cluster_peer_hellos_refused.load());
  histogram(out, "referrald_store_commit_seconds",
            "Time of one synced group commit: the write-ahead log append and its fsync.",
            store_commit_seconds);
  histogram(out, "referrald_store_fsync_seconds",
            "Time RocksDB spent appending a synced write to its write-ahead log and fsyncing "
            "it.",
            store_fsync_seconds);
  gauge(out, "referrald_store_commit_queue_depth",
        "Writes waiting for the commit writer (embedded store).", store_commit_queue_depth.load());
  histogram(out, "referrald_store_commit_group_size", "Write requests one group commit covered.",
            store_commit_group_size);
  histogram(out, "referrald_account_load_seconds",
            "Time to load an account: its snapshot, the events after it, its indexes.",
            account_load_seconds);
  gauge(out, "referrald_ingest_queue_depth",
        "AI-referral pushes and reports waiting for an ingest actor.", ingest_queue_depth.load());
  histogram(out, "referrald_snapshot_write_seconds", "Time to write one account's state snapshot.",
            snapshot_write_seconds);
  histogram(out, "referrald_backup_seconds", "Time to make one backup of the whole store.",
            backup_seconds);
  histogram(out, "referrald_http_request_size_bytes", "HTTP request body sizes.",
            http_request_bytes);
  histogram(out, "referrald_http_response_size_bytes", "HTTP response body sizes.",
            http_response_bytes);
}

process_metrics& metrics() {
  static process_metrics instance;
  return instance;
}

namespace {

std::string g_version = "unknown", g_compiler = "unknown";

// A label value, escaped as the text format wants (backslash, quote, newline).
std::string label_value(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

}  // namespace

void set_build_info(std::string version, std::string compiler) {
  g_version = std::move(version);
  g_compiler = std::move(compiler);
}

void render_process(std::string& out) {
  out +=
      "# HELP referrald_build_info The running build (always 1).\n"
      "# TYPE referrald_build_info gauge\n"
      "referrald_build_info{version=\"" +
      label_value(g_version) + "\",compiler=\"" + label_value(g_compiler) + "\"} 1\n";
  gauge(out, "referrald_http_requests_in_flight", "HTTP requests read and not yet answered.",
        metrics().http_requests_in_flight.load());
  // /proc/self/stat: after the command in parentheses, field 14 utime, 15 stime (clock
  // ticks), 22 starttime (ticks after boot), 23 vsize (bytes), 24 rss (pages).
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                               std::istream_iterator<std::string>());
    // f[0] is field 3 (state).
    auto at = [&](std::size_t field) -> double {
      return field - 3 < f.size() ? std::strtod(f[field - 3].c_str(), nullptr) : 0.0;
    };
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    // The start, in the wall clock: now less the time since the start on the boot clock
    // (/proc/uptime, the clock starttime counts on). /proc/stat's btime would drift from
    // the wall clock by seconds on a long-running virtual machine.
    double uptime = 0;
    std::ifstream uptime_file("/proc/uptime");
    uptime_file >> uptime;
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    const double now = static_cast<double>(wall.tv_sec) + static_cast<double>(wall.tv_nsec) / 1e9;
    auto line = [&](const char* name, const char* type, const char* help, double v) {
      out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n' +
             name + ' ';
      append_number(out, v);
      out += '\n';
    };
    line("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
         (at(14) + at(15)) / ticks);
    line("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", at(24) * page);
    line("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", at(23));
    line("process_start_time_seconds", "gauge",
         "Start time of the process since the Unix epoch in seconds.",
         now - (uptime - at(22) / ticks));
  }
  std::size_t fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  gauge(out, "process_open_fds", "Number of open file descriptors.",
        static_cast<std::int64_t>(fds));
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
          static_cast<std::int64_t>(lim.rlim_cur));
  }
}

}  // namespace referrald::infra
