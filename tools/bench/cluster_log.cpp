// Durable writes onto a cluster's stream through the group-committing publisher, as
// account actors will make them, and how soon another node's follower sees each one.
//
//   bench_cluster_log URLS ACCOUNTS CLIENTS SECONDS
//
// CLIENTS threads each write one event at a time (closed loop: submit, wait for the
// acknowledgement, next) into account bench<i % ACCOUNTS>; a second connection follows
// the stream as another node would; the committer publishes without waiting (one
// dispatcher thread). Prints writes/s, acknowledgement
// latency and the delay from a write's acknowledgement to its arrival at the follower (p50/p99).

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_committer.hpp"
#include "cluster/cluster_log.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using clock_type = std::chrono::steady_clock;

namespace {

struct account {
  std::mutex mu;  // submission order is chain order
  workload::event_generator gen;
  explicit account(const std::string& id, unsigned seed) : gen(id, seed) {}
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::vector<std::string> split(const std::string& urls) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    auto comma = urls.find(',', at);
    out.push_back(urls.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: bench_cluster_log URLS ACCOUNTS CLIENTS SECONDS\n");
    return 2;
  }
  cluster::cluster_options o;
  o.servers = split(argv[1]);
  o.replicas = static_cast<int>(std::min<std::size_t>(3, o.servers.size()));
  o.node_name = "bench-writer";
  o.timeout = std::chrono::seconds(10);
  const int accounts_n = std::stoi(argv[2]);
  const int clients = std::stoi(argv[3]);
  const int seconds = std::stoi(argv[4]);
  auto writer = cluster::cluster_log::open(o);
  if (!writer) {
    std::fprintf(stderr, "bench_cluster_log: %s\n", writer.err().message.c_str());
    return 1;
  }
  o.node_name = "bench-follower";
  auto follower = cluster::cluster_log::open(o);
  if (!follower) {
    std::fprintf(stderr, "bench_cluster_log: %s\n", follower.err().message.c_str());
    return 1;
  }
  auto start_seq = (*writer)->last_seq();
  if (!start_seq) return 1;

  std::mutex seen_mu;
  std::map<std::uint64_t, clock_type::time_point> acked, arrived;
  std::uint64_t messages = 0;
  auto followed =
      (*follower)->follow(*start_seq + 1, [&](domain::result<cluster::cluster_message> m) {
        if (!m) return;
        const auto* w = std::get_if<cluster::cluster_write>(&m->body);
        if (w == nullptr) return;
        std::lock_guard lock(seen_mu);
        arrived.emplace(w->stream_seq, clock_type::now());
        ++messages;
      });
  if (!followed) return 1;

  cluster::cluster_committer committer(**writer);
  std::vector<std::unique_ptr<account>> accounts;
  for (int a = 0; a < accounts_n; ++a) {
    std::string id = "bench" + std::to_string(a) + "-" + std::to_string(*start_seq);
    accounts.push_back(std::make_unique<account>(id, static_cast<unsigned>(a)));
    committer.reset(id, 0);
  }
  std::mutex lat_mu;
  std::vector<double> latencies;
  std::size_t failures = 0;
  auto deadline = clock_type::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      account& acct = *accounts[static_cast<std::size_t>(c % accounts_n)];
      while (clock_type::now() < deadline) {
        std::promise<domain::result<std::uint64_t>> done;
        auto answered = done.get_future();
        auto t0 = clock_type::now();
        {
          std::lock_guard lock(acct.mu);
          std::uint64_t first = acct.gen.state().seq() + 1;
          committer.submit(acct.gen.state().account_id(), first, acct.gen.values(1),
                           [&done](const domain::result<std::uint64_t>& r) { done.set_value(r); });
        }
        auto r = answered.get();
        auto t1 = clock_type::now();
        std::lock_guard lock(lat_mu);
        if (!r) {
          ++failures;
          break;
        }
        latencies.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        std::lock_guard seen(seen_mu);
        acked.emplace(*r, t1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the follower catch up
  std::vector<double> visibility;
  {
    std::lock_guard lock(seen_mu);
    for (const auto& [seq, at] : acked) {
      auto it = arrived.find(seq);
      if (it == arrived.end()) continue;
      visibility.push_back(std::chrono::duration<double, std::milli>(it->second - at).count());
    }
  }
  std::printf(
      "cluster log, %zu servers, %d replicas, %d accounts, %d clients: %.0f "
      "writes/s "
      "(%zu writes in %llu messages), ack p50 %.2f ms p99 %.2f ms; seen by a follower after "
      "the ack: p50 %.2f ms p99 %.2f ms; %zu failures\n",
      o.servers.size(), o.replicas, accounts_n, clients,
      static_cast<double>(latencies.size()) / seconds, latencies.size(),
      static_cast<unsigned long long>(messages), percentile(latencies, 0.5),
      percentile(latencies, 0.99), percentile(visibility, 0.5), percentile(visibility, 0.99),
      failures);
  committer.stop();
  return failures == 0 ? 0 : 1;
}
