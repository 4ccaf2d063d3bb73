#pragma once

// The browser console's files (console/ in the source tree) and the tracker snippet
// (tracker/referrald.js), compiled into the binary by cmake/embed_assets.cmake so that the
// server needs no files beside it.

#include <span>
#include <string_view>

namespace referrald::http {

struct console_asset {
  std::string_view name;  // "index.html", "app.js"
  std::string_view media_type;
  std::string_view bytes;
};

std::span<const console_asset> console_assets();
std::span<const console_asset> tracker_assets();  // referrald.js

}  // namespace referrald::http
