#include "tests/support/strict_json.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace referrald::testing {

namespace {

constexpr int k_max_depth = 512;

class checker {
 public:
  explicit checker(std::string_view t) : t_(t) {}

  std::string run() {
    ws();
    if (!value(0)) return problem_;
    ws();
    if (i_ != t_.size()) return fail("content after the value");
    return {};
  }

 private:
  bool fail_bool(const std::string& why) {
    fail(why);
    return false;
  }
  std::string fail(const std::string& why) {
    if (problem_.empty()) problem_ = "byte " + std::to_string(i_) + ": " + why;
    return problem_;
  }

  bool at_end() const { return i_ >= t_.size(); }
  char peek() const { return at_end() ? '\0' : t_[i_]; }

  void ws() {
    while (!at_end() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
      ++i_;
  }

  bool literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return fail_bool("not a JSON value");
    i_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (depth > k_max_depth) return fail_bool("nested too deeply");
    if (at_end()) return fail_bool("a value is missing");
    switch (peek()) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"': {
        std::string ignored;
        return string(ignored);
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool object(int depth) {
    ++i_;
    ws();
    std::set<std::string> names;
    if (peek() == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (peek() != '"') return fail_bool("a member name must be a string");
      std::string name;
      if (!string(name)) return false;
      if (!names.insert(name).second) return fail_bool("member name '" + name + "' repeated");
      ws();
      if (peek() != ':') return fail_bool("':' expected after a member name");
      ++i_;
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == '}') {
        ++i_;
        return true;
      }
      return fail_bool("',' or '}' expected in an object");
    }
  }

  bool array(int depth) {
    ++i_;
    ws();
    if (peek() == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ']') {
        ++i_;
        return true;
      }
      return fail_bool("',' or ']' expected in an array");
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number() {
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
      if (digit(peek())) return fail_bool("a number with a leading zero");
    } else if (digit(peek())) {
      while (digit(peek()))
        ++i_;
    } else {
      return fail_bool("not a JSON value");
    }
    if (peek() == '.') {
      ++i_;
      if (!digit(peek())) return fail_bool("a digit must follow '.'");
      while (digit(peek()))
        ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digit(peek())) return fail_bool("a digit must follow the exponent");
      while (digit(peek()))
        ++i_;
    }
    return true;
  }

  int hex4() {
    if (t_.size() - i_ < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t_[i_ + static_cast<std::size_t>(k)];
      int d = digit(c)                 ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    i_ += 4;
    return v;
  }

  // One UTF-8 sequence at i_ (its first byte >= 0x80), appended to `out`.
  bool utf8(std::string& out) {
    auto c = static_cast<unsigned char>(t_[i_]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return fail_bool("a byte that starts no UTF-8 sequence");
    }
    if (t_.size() - i_ < len) return fail_bool("a truncated UTF-8 sequence");
    for (std::size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(t_[i_ + k]);
      if ((b & 0xC0) != 0x80) return fail_bool("a broken UTF-8 sequence");
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return fail_bool("an overlong UTF-8 sequence");
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return fail_bool("a UTF-8 sequence of no Unicode scalar value");
    out.append(t_.substr(i_, len));
    i_ += len;
    return true;
  }

  bool string(std::string& out) {
    ++i_;
    for (;;) {
      if (at_end()) return fail_bool("an unterminated string");
      auto c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return fail_bool("a raw control character in a string");
      if (c >= 0x80) {
        if (!utf8(out)) return false;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++i_;
        continue;
      }
      ++i_;
      if (at_end()) return fail_bool("an unterminated escape");
      char e = t_[i_++];
      if (e == 'u') {
        int unit = hex4();
        if (unit < 0) return fail_bool("\\u needs four hex digits");
        auto cp = static_cast<std::uint32_t>(unit);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          if (t_.substr(i_, 2) != "\\u") return fail_bool("a lone high surrogate escape");
          i_ += 2;
          int low = hex4();
          if (low < 0xDC00 || low > 0xDFFF) return fail_bool("a lone high surrogate escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(low) - 0xDC00);
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
          return fail_bool("a lone low surrogate escape");
        }
        append_utf8(out, cp);
      } else if (auto k = std::string_view("\"\\/bfnrt").find(e); k != std::string_view::npos) {
        out.push_back("\"\\/\b\f\n\r\t"[k]);
      } else {
        return fail_bool(std::string("an unknown escape \\") + e);
      }
    }
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::string problem_;
};

}  // namespace

std::string rfc8259_problem(std::string_view text) { return checker(text).run(); }

}  // namespace referrald::testing
