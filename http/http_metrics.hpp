#pragma once

// Request counts by route and status, and latency histograms by route, for /metrics.
// Lock-free: slots are fixed at construction from the route table.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "domain/metrics.hpp"
#include "http/router.hpp"

namespace referrald::http {

class http_metrics {
 public:
  explicit http_metrics(const router& routes);

  // `route_index` is route::index, or unmatched() for requests that matched no route.
  void record(std::size_t route_index, unsigned status, double seconds);
  std::size_t unmatched() const { return slots_.size() - 1; }

  // Prometheus text for these and the process metrics.
  std::string render(std::size_t live_accounts) const;

 private:
  struct slot {
    std::string labels;  // route="...",method="..."
    std::array<std::atomic<std::uint64_t>, 600> by_status{};
    domain::latency_histogram latency;
  };
  std::vector<std::unique_ptr<slot>> slots_;
};

}  // namespace referrald::http
