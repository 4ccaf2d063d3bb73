#include "domain/base/json_scan.hpp"

#include <cstring>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

constexpr int k_max_depth = 64;
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class scanner {
 public:
  explicit scanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool top(std::vector<json_member>& members) {
    ws();
    if (p_ == end_ || *p_ != '{') return false;
    return object_members(members, 0) && finished();
  }

  // {"key":[elements]} and nothing else; see scan_member_array. The array is at depth 1,
  // its elements at 2.
  bool top_member_array(std::string_view key, std::size_t max_elements,
                        std::vector<json_element>& elements, std::vector<json_member>& members) {
    ws();
    if (!take('{')) return false;
    ws();
    std::string_view name;
    bool escaped = false;
    if (!string(name, escaped) || escaped || name != key) return false;
    ws();
    if (!take(':')) return false;
    ws();
    if (!take('[')) return false;
    ws();
    if (!take(']')) {
      for (;;) {
        if (elements.size() == max_elements) return false;
        const char* start = p_;
        json_element e;
        if (p_ != end_ && *p_ == '{') {
          e.first = static_cast<std::uint32_t>(members.size());
          if (!object_members(members, 2)) return false;
          e.count = static_cast<std::uint32_t>(members.size() - e.first);
          e.object = true;
        } else if (!value(1)) {
          return false;
        }
        e.text = std::string_view(start, static_cast<std::size_t>(p_ - start));
        elements.push_back(e);
        ws();
        if (take(',')) {
          ws();
          continue;
        }
        if (take(']')) break;
        return false;
      }
    }
    ws();
    return take('}') && finished();
  }

 private:
  // At a '{' at `depth`: its members, appended to `members`; containers in it are at
  // depth + 1.
  bool object_members(std::vector<json_member>& members, int depth) {
    if (depth > k_max_depth) return false;
    ++p_;
    ws();
    if (take('}')) return true;
    for (;;) {
      json_member& m = members.emplace_back();
      if (!string(m.key, m.key_escaped)) return false;
      ws();
      if (!take(':')) return false;
      ws();
      const char* start = p_;
      if (p_ == end_) return false;
      switch (*p_) {
        case '"':
          m.kind = json_kind::string;
          if (!string(m.value, m.value_escaped)) return false;
          break;
        case '{':
          m.kind = json_kind::object;
          if (!container(depth + 1)) return false;
          break;
        case '[':
          m.kind = json_kind::array;
          if (!container(depth + 1)) return false;
          break;
        case 'n':
          m.kind = json_kind::null;
          if (!word("null")) return false;
          break;
        case 't':
          m.kind = json_kind::boolean;
          if (!word("true")) return false;
          break;
        case 'f':
          m.kind = json_kind::boolean;
          if (!word("false")) return false;
          break;
        default:
          m.kind = json_kind::number;
          if (!number()) return false;
      }
      if (m.kind != json_kind::string) m.value = std::string_view(start, p_ - start);
      ws();
      if (take(',')) {
        ws();
        continue;
      }
      return take('}');
    }
  }

  bool finished() {
    ws();
    return p_ == end_;
  }

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  bool take(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool word(std::string_view w) {
    if (static_cast<std::size_t>(end_ - p_) < w.size() || std::memcmp(p_, w.data(), w.size()) != 0)
      return false;
    p_ += w.size();
    return true;
  }

  // At a '"': the text between it and the closing quote.
  bool string(std::string_view& contents, bool& escaped) {
    if (!take('"')) return false;
    const char* start = p_;
    escaped = false;
    for (;;) {
      while (end_ - p_ >= 8) {
        std::uint64_t x;
        std::memcpy(&x, p_, 8);
        if (json_string_bytes_to_check(x) != 0) break;
        p_ += 8;
      }
      if (p_ == end_) return false;
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        contents = std::string_view(start, p_ - start);
        ++p_;
        return true;
      }
      if (c == '\\') {
        escaped = true;
        if (end_ - p_ < 2) return false;
        char e = p_[1];
        if (e == 'u') {
          if (end_ - p_ < 6) return false;
          int cp = 0;
          for (int i = 2; i < 6; ++i) {
            int d = hex_digit(p_[i]);
            if (d < 0) return false;
            cp = cp * 16 + d;
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // pairs are left to the parser
          p_ += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
          p_ += 2;
        } else {
          return false;
        }
      } else if (c < 0x20) {
        return false;
      } else if (c >= 0x80) {
        std::size_t len =
            utf8_sequence_length(std::string_view(p_, static_cast<std::size_t>(end_ - p_)), 0);
        if (len == 0) return false;
        p_ += len;
      } else {
        ++p_;
      }
    }
  }

  // -?(0|[1-9][0-9]{0,17})(\.[0-9]+)?, nothing longer and no exponent.
  bool number() {
    take('-');
    if (p_ == end_ || !is_digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      const char* digits = p_;
      while (p_ < end_ && is_digit(*p_))
        ++p_;
      if (p_ - digits > 18) return false;
    }
    if (take('.')) {
      if (p_ == end_ || !is_digit(*p_)) return false;
      while (p_ < end_ && is_digit(*p_))
        ++p_;
    }
    return p_ == end_ || (*p_ != 'e' && *p_ != 'E');
  }

  // Any value, nested at `depth`.
  bool value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string_view s;
        bool escaped = false;
        return string(s, escaped);
      }
      case '{':
      case '[':
        return container(depth + 1);
      case 'n':
        return word("null");
      case 't':
        return word("true");
      case 'f':
        return word("false");
      default:
        return number();
    }
  }

  // At a '{' or '[': the whole object or array.
  bool container(int depth) {
    if (depth > k_max_depth) return false;
    const bool object = *p_ == '{';
    const char close = object ? '}' : ']';
    ++p_;
    ws();
    if (take(close)) return true;
    for (;;) {
      if (object) {
        std::string_view key;
        bool escaped = false;
        if (!string(key, escaped)) return false;
        ws();
        if (!take(':')) return false;
        ws();
      }
      if (!value(depth)) return false;
      ws();
      if (take(',')) {
        ws();
        continue;
      }
      return take(close);
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool scan_object(std::string_view text, std::vector<json_member>& members) {
  members.clear();
  return scanner(text).top(members);
}

bool scan_member_array(std::string_view text, std::string_view key, std::size_t max_elements,
                       std::vector<json_element>& elements, std::vector<json_member>& members) {
  elements.clear();
  members.clear();
  return scanner(text).top_member_array(key, max_elements, elements, members);
}

}  // namespace referrald::domain
