#include "http/http_metrics.hpp"

namespace referrald::http {

http_metrics::http_metrics(const router& routes) : other_methods_(routes.routes().size()) {
  for (const auto& r : routes.routes()) {
    patterns_.push_back(r.pattern);
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

http_metrics::~http_metrics() {
  for (auto& per_route : other_methods_) {
    for (auto& p : per_route)
      delete p.load();
  }
}

void http_metrics::record_other_method(std::size_t route_index, method m, unsigned status,
                                       double seconds) {
  if (route_index >= other_methods_.size()) return record(unmatched(), status, seconds);
  auto& cell = other_methods_[route_index][static_cast<std::size_t>(m) % k_methods];
  slot* s = cell.load(std::memory_order_acquire);
  if (s == nullptr) {
    auto fresh = std::make_unique<slot>();
    fresh->labels =
        "route=\"" + patterns_[route_index] + "\",method=\"" + std::string(to_string(m)) + "\"";
    if (cell.compare_exchange_strong(s, fresh.get(), std::memory_order_acq_rel)) {
      s = fresh.release();
    }
  }
  if (status < s->by_status.size()) s->by_status[status].fetch_add(1, std::memory_order_relaxed);
  s->latency.observe(seconds);
}

std::string http_metrics::render(std::size_t live_accounts) const {
  std::string out;
  out.reserve(16 * 1024);
  out += "# HELP referrald_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE referrald_http_requests_total counter\n";
  std::vector<const slot*> all;
  for (const auto& s : slots_)
    all.push_back(s.get());
  for (const auto& per_route : other_methods_) {
    for (const auto& p : per_route) {
      if (const slot* s = p.load(std::memory_order_acquire)) all.push_back(s);
    }
  }
  for (const slot* s : all) {
    for (std::size_t code = 0; code < s->by_status.size(); ++code) {
      auto n = s->by_status[code].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "referrald_http_requests_total{" + s->labels + ",status=\"" + std::to_string(code) +
             "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP referrald_http_request_duration_seconds Time from request read to response.\n";
  out += "# TYPE referrald_http_request_duration_seconds histogram\n";
  for (const slot* s : all)
    s->latency.render(out, "referrald_http_request_duration_seconds", s->labels);
  infra::metrics().render(out);
  infra::render_process(out);
  out += "# HELP referrald_account_actors_registered Account actors in the registry.\n";
  out += "# TYPE referrald_account_actors_registered gauge\n";
  out += "referrald_account_actors_registered " + std::to_string(live_accounts) + "\n";
  return out;
}

}  // namespace referrald::http
