#pragma once

// Byte encodings shared by the stored layouts (events, entities, snapshots, keys, AI rows):
//   fixed32/fixed64      little-endian;  *_be big-endian (keys that sort numerically)
//   varint               LEB128, at most 10 bytes
//   lpstr                length:varint bytes

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace referrald::codec {

inline void put_fixed32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline void put_fixed64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline void put_fixed32_be(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline void put_fixed64_be(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline std::uint64_t get_fixed64_be(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline void put_lpstr(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

// -- keys of per-account streams (events, snapshots) ------------------------------------
// account_id 0x00 seq:fixed64-big-endian. Account ids never contain 0x00, so one account's
// records are one contiguous, seq-ordered range: [account_prefix, account_limit).

inline std::string account_prefix(std::string_view account_id) {
  std::string p(account_id);
  p.push_back('\0');
  return p;
}

inline std::string account_limit(std::string_view account_id) {
  std::string p(account_id);
  p.push_back('\x01');
  return p;
}

inline std::string account_seq_key(std::string_view account_id, std::uint64_t seq) {
  std::string k = account_prefix(account_id);
  put_fixed64_be(k, seq);
  return k;
}

// Splits a record that ends in a fixed32 CRC into its body and that CRC; false when it is
// too short to hold one.
inline bool split_crc32(std::string_view value, std::string_view& body, std::uint32_t& crc) {
  if (value.size() < 4) return false;
  body = value.substr(0, value.size() - 4);
  crc = 0;
  for (int i = 3; i >= 0; --i)
    crc = (crc << 8) | static_cast<unsigned char>(value[body.size() + static_cast<std::size_t>(i)]);
  return true;
}

// A bounds-checked reader over a stored value: every getter returns false, and consumes
// nothing useful, when the input is too short or malformed.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  bool u8(std::uint8_t& v) {
    if (in_.empty()) return false;
    v = static_cast<std::uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool fixed32(std::uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(4);
    return true;
  }
  bool fixed64(std::uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 7; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(8);
    return true;
  }
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (in_.empty()) return false;
      auto b = static_cast<unsigned char>(in_[0]);
      in_.remove_prefix(1);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool varint32(std::uint32_t& v) {
    std::uint64_t wide = 0;
    if (!varint(wide) || wide > UINT32_MAX) return false;
    v = static_cast<std::uint32_t>(wide);
    return true;
  }
  bool lpstr(std::string& s) {
    std::uint64_t n = 0;
    if (!varint(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (in_.size() < n) return false;
    out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool bytes(std::size_t n, void* out) {
    if (in_.size() < n) return false;
    if (n != 0) std::memcpy(out, in_.data(), n);  // an empty view may be null
    in_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return in_; }
  std::size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace referrald::codec
