#include "http/http_metrics.hpp"

namespace referrald::http {

http_metrics::http_metrics(const router& routes) {
  for (const auto& r : routes.routes()) {
    auto s = std::make_unique<slot>();
    s->labels = "route=\"" + r.pattern + "\",method=\"" + std::string(to_string(r.verb)) + "\"";
    slots_.push_back(std::move(s));
  }
  auto none = std::make_unique<slot>();
  none->labels = "route=\"unmatched\",method=\"any\"";
  slots_.push_back(std::move(none));
}

void http_metrics::record(std::size_t route_index, unsigned status, double seconds) {
  if (route_index >= slots_.size()) route_index = unmatched();
  auto& s = *slots_[route_index];
  if (status < s.by_status.size()) s.by_status[status].fetch_add(1, std::memory_order_relaxed);
  s.latency.observe(seconds);
}

std::string http_metrics::render(std::size_t live_accounts) const {
  std::string out;
  out.reserve(16 * 1024);
  out += "# HELP referrald_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE referrald_http_requests_total counter\n";
  for (const auto& s : slots_) {
    for (std::size_t code = 0; code < s->by_status.size(); ++code) {
      auto n = s->by_status[code].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "referrald_http_requests_total{" + s->labels + ",status=\"" + std::to_string(code) +
             "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP referrald_http_request_duration_seconds Time from request read to response.\n";
  out += "# TYPE referrald_http_request_duration_seconds histogram\n";
  for (const auto& s : slots_) {
    s->latency.render(out, "referrald_http_request_duration_seconds", s->labels);
  }
  domain::metrics().render(out);
  out += "# HELP referrald_account_actors_registered Account actors in the registry.\n";
  out += "# TYPE referrald_account_actors_registered gauge\n";
  out += "referrald_account_actors_registered " + std::to_string(live_accounts) + "\n";
  return out;
}

}  // namespace referrald::http
