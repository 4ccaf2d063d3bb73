#pragma once

// Request counts by route and status, and latency histograms by route, for /metrics.
// Lock-free: slots are fixed at construction from the route table.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/router.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

class http_metrics {
 public:
  explicit http_metrics(const router& routes);
  ~http_metrics();
  http_metrics(const http_metrics&) = delete;
  http_metrics& operator=(const http_metrics&) = delete;

  // `route_index` is route::index, or unmatched() for requests that matched no route.
  void record(std::size_t route_index, unsigned status, double seconds);
  // A request for a known path with a method it does not serve (405), counted under the
  // path's pattern and the method actually used. `route_index` is any route of the path.
  void record_other_method(std::size_t route_index, method m, unsigned status, double seconds);
  std::size_t unmatched() const { return slots_.size() - 1; }

  // Prometheus text for these and the process metrics.
  std::string render(std::size_t live_accounts) const;

 private:
  struct slot {
    std::string labels;  // route="...",method="..."
    std::array<std::atomic<std::uint64_t>, 600> by_status{};
    infra::latency_histogram latency;
  };
  std::vector<std::unique_ptr<slot>> slots_;
  // Per route and method, created on first use (lock-free): wrong-method requests.
  static constexpr std::size_t k_methods = 8;
  std::vector<std::array<std::atomic<slot*>, k_methods>> other_methods_;
  std::vector<std::string> patterns_;  // by route index
};

}  // namespace referrald::http
