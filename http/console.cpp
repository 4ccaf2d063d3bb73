// GET /console/...: the browser console's files, from the binary (http/console_assets.hpp).
// The console is a page of the API's own: it signs in with an API key kept in the tab and
// calls the documented endpoints only. GET /js/referrald.js: the tracker snippet that
// customers' pages load (docs/tracker.md).

#include <algorithm>

#include "domain/base/text.hpp"
#include "http/console_assets.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

// The console's pages run only their own scripts and styles, talk only to this server and
// are never framed.
constexpr const char* k_console_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// The console's files are revalidated on every load (the ETag makes that a 304): a new
// release shows at once.
response asset_response(const console_asset& a, const char* cache_control = "no-cache") {
  response r;
  r.body.assign(a.bytes);
  r.content_type = std::string(a.media_type);
  r.headers.emplace_back("Cache-Control", cache_control);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (a.name.ends_with(".html"))
    r.headers.emplace_back("Content-Security-Policy", k_console_policy);
  return r;
}

const console_asset* find_asset(std::string_view name) {
  auto assets = console_assets();
  auto it = std::find_if(assets.begin(), assets.end(),
                         [&](const console_asset& a) { return a.name == name; });
  return it == assets.end() ? nullptr : &*it;
}

}  // namespace

std::optional<response> console_redirect(request_ctx& c) {
  response r;
  r.status = 301;
  r.content_type.clear();
  std::string to(c.path);
  to += '/';
  r.headers.emplace_back("Location", std::move(to));
  return r;
}

std::optional<response> console_index(request_ctx&) {
  return asset_response(*find_asset("index.html"));
}

std::optional<response> console_file(request_ctx& c) {
  const console_asset* a = find_asset(c.params[0]);
  if (a == nullptr || a->name == "index.html") {
    return failure(domain::make_error(
        domain::errc::not_found, "the console has no file '" + domain::excerpt(c.params[0]) + "'"));
  }
  return asset_response(*a);
}

std::optional<response> tracker_script(request_ctx&) {
  // Pages of other sites load it: cached for an hour (then revalidated against its ETag), and
  // readable across origins (Cross-Origin-Resource-Policy, and CORS for Subresource
  // Integrity's crossorigin attribute).
  response r = asset_response(tracker_assets().front(), "public, max-age=3600");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "cross-origin");
  return r;
}

}  // namespace referrald::http
