#pragma once

// One page of a list (docs/api-guide.md, "Lists and pages"): items are walked in id order from the
// first id after the cursor; at most `limit` are written, and the list's envelope ends with
// "has_more" and "next_starting_after" (the last id written when more follow, else null).
//
//   pager<std::int64_t> page(limit);
//   for (each selected item after the cursor, in id order) {
//     if (!page.room()) break;
//     write(item);
//     page.wrote(item.id);
//   }
//   page.finish(w);  // inside the envelope object

#include <cstddef>
#include <string>
#include <type_traits>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/base/json.hpp"

namespace referrald::domain {

template <class Id>
class pager {
 public:
  explicit pager(std::size_t limit) : limit_(limit) {}

  // True when one more item fits; false (and more follow) when the page is full.
  bool room() {
    if (shown_ < limit_) return true;
    more_ = true;
    return false;
  }
  void wrote(const Id& id) {
    ++shown_;
    last_ = id;
  }
  bool more() const { return more_; }

  void finish(json_writer& w) const {
    w.Key("has_more");
    w.Bool(more_);
    w.Key("next_starting_after");
    if (!more_) {
      w.Null();
    } else if constexpr (std::is_integral_v<Id>) {
      w.Int64(static_cast<std::int64_t>(last_));
    } else {
      write_string(w, last_);
    }
  }

 private:
  std::size_t limit_;
  std::size_t shown_ = 0;
  bool more_ = false;
  Id last_{};
};

}  // namespace referrald::domain
