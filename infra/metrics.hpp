#pragma once

// Process-wide counters that any layer may bump (lock-free atomics) and that
// GET /metrics renders in the Prometheus text format. Request counts and latencies per
// route live in http/ (http_metrics), which also renders these.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace referrald::infra {

// A cumulative histogram with fixed bucket bounds in seconds: from 100 µs to 5 s for what
// a request waits for, or from 1 ms to 15 min for the long operations (`slow`: account
// loads, snapshots, backups).
class latency_histogram {
 public:
  static constexpr std::array<double, 14> fast = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};
  static constexpr std::array<double, 14> slow = {0.001, 0.005, 0.01, 0.05, 0.1,  0.25,  0.5,
                                                  1.0,   2.5,   5.0,  10.0, 30.0, 120.0, 900.0};
  explicit latency_histogram(bool long_operations = false)
      : bounds_(long_operations ? slow : fast) {}

  void observe(double seconds);
  // Appends `name_bucket{labels,le=..}`, `name_sum{labels}` and `name_count{labels}` lines.
  // `labels` is either empty or `key="value",...` without braces.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  const std::array<double, 14>& bounds_;
  std::array<std::atomic<std::uint64_t>, fast.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

// A cumulative histogram of whole quantities (bytes, requests) with bounds in powers of
// `base` from 1 to base^(steps-1).
class count_histogram {
 public:
  static constexpr std::size_t max_steps = 16;
  count_histogram(std::uint64_t base, std::size_t steps);

  void observe(std::uint64_t v);
  // As latency_histogram::render.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::uint64_t, max_steps> bounds_{};
  std::size_t steps_;
  std::array<std::atomic<std::uint64_t>, max_steps + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
};

struct process_metrics {
  std::atomic<std::uint64_t> events_appended{0};
  std::atomic<std::uint64_t> store_commits{0};          // synced RocksDB writes
  std::atomic<std::uint64_t> store_commit_requests{0};  // requests those writes covered
  std::atomic<std::int64_t> account_actors_live{0};
  std::atomic<std::uint64_t> account_actor_evictions{0};  // idle actors that left
  std::atomic<std::uint64_t> ingest_rows_accepted{0};
  std::atomic<std::uint64_t> ingest_rows_rejected{0};
  std::atomic<std::uint64_t> regex_match_limit_hits{0};
  std::atomic<std::uint64_t> snapshots_written{0};     // per-account state snapshots
  std::atomic<std::uint64_t> mapping_index_builds{0};  // full builds off the account actors
  std::atomic<std::uint64_t> snapshot_fallbacks{0};    // unusable snapshots passed over
  std::atomic<std::uint64_t> backups_created{0};       // online checkpoints of the store
  std::atomic<std::uint64_t> insights_resolutions{0};  // live resolutions counted
  std::atomic<std::uint64_t> insights_evictions{0};    // hosts a day's summary forgot
  std::atomic<std::uint64_t> insights_flushes{0};      // counts written to the store
  std::atomic<std::uint64_t> insights_flush_failures{0};
  // Exceptions caught at a thread's boundary (I/O loop, actor handler, commit writer):
  // each is a bug, logged; the process goes on.
  std::atomic<std::uint64_t> io_handler_exceptions{0};
  std::atomic<std::uint64_t> actor_exceptions{0};
  // Visits whose regex mappings ran out of their per-visit work budget.
  std::atomic<std::uint64_t> regex_budget_exhausted{0};
  // The background chain verifier: accounts whose whole chain checked, and accounts
  // currently known to be broken (they refuse writes).
  std::atomic<std::uint64_t> chain_verified{0};
  std::atomic<std::int64_t> chain_broken_accounts{0};
  // Storage: 1 while writes are accepted; free bytes on the data directory's file system
  // at the last check; writes refused because the disk was (nearly) full.
  std::atomic<std::int64_t> store_writable{1};
  std::atomic<std::int64_t> store_free_bytes{0};
  std::atomic<std::uint64_t> store_writes_refused_disk_full{0};
  latency_histogram store_commit_seconds;
  // Each synced RocksDB write's write-ahead log append and fsync, as RocksDB times it.
  latency_histogram store_fsync_seconds;
  // Cluster mode: how long the stream's message being applied had waited, while more
  // were pending (0 when caught up).
  std::atomic<std::int64_t> cluster_apply_lag_ms{0};
  // Cluster mode: requests made again because another node's write to their account came
  // first (each is checked again against the new state, then written).
  std::atomic<std::uint64_t> cluster_writes_beaten{0};
  // Cluster mode, owners (docs/cluster.md "Owners"): the live nodes and the partitions this
  // node owns; writes this node sent to their owner and got its answer for, writes it made
  // itself because no owner took them, writes an owner took and did not answer in time,
  // and writes this node answered for another node.
  std::atomic<std::int64_t> cluster_members{0};
  std::atomic<std::int64_t> cluster_partitions_owned{0};
  std::atomic<std::uint64_t> cluster_forwarded{0};
  std::atomic<std::uint64_t> cluster_forward_fallbacks{0};
  std::atomic<std::uint64_t> cluster_forward_timeouts{0};
  std::atomic<std::uint64_t> cluster_forwards_served{0};
  // Of the writes sent to their owner: those sent over the peer link (cluster/peer_link.hpp),
  // those that found no peer link to their owner and went over NATS, and the hellos this
  // node refused (another name or secret).
  std::atomic<std::uint64_t> cluster_peer_sent{0};
  std::atomic<std::uint64_t> cluster_peer_unreachable{0};
  std::atomic<std::uint64_t> cluster_peer_hellos_refused{0};
  // HTTP requests read and not yet answered.
  std::atomic<std::int64_t> http_requests_in_flight{0};
  // HTTP request bodies and response bodies, in bytes (1 B to 64 MiB, by powers of 4).
  count_histogram http_request_bytes{4, 14};
  count_histogram http_response_bytes{4, 14};
  // Writes waiting for the commit writer, and the requests each group commit covered.
  std::atomic<std::int64_t> store_commit_queue_depth{0};
  count_histogram store_commit_group_size{2, 14};
  // Account loads (snapshot + events replayed + indexes built), and their time.
  latency_histogram account_load_seconds{true};
  // Pushes and reports handed to the ingest pool and not yet taken by an ingest actor.
  std::atomic<std::int64_t> ingest_queue_depth{0};
  // Account state snapshots written, and backups of the whole store made.
  latency_histogram snapshot_write_seconds{true};
  latency_histogram backup_seconds{true};

  // Renders every metric above in the Prometheus text format.
  void render(std::string& out) const;
};

process_metrics& metrics();

// The build's version, shown as referrald_build_info{version=...} (set once at start).
void set_build_info(std::string version, std::string compiler);

// The process collector's metrics, from /proc/self: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds.
void render_process(std::string& out);

}  // namespace referrald::infra
