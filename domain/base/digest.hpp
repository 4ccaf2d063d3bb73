#pragma once

// Checksums and hashes used by the event log and API keys. Pure, thread-safe.
//  - sha256: FIPS 180-4 SHA-256, used for the event hash chain, API-key digests and push
//    body fingerprints; uses the SHA extensions when the CPU has them (same value).
//  - crc32c: CRC-32C (Castagnoli), the per-record checksum; uses the SSE4.2 instruction
//    when the CPU has it and a table otherwise (both give the same value).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace referrald::domain {

using sha256_digest = std::array<std::uint8_t, 32>;

class sha256_hasher {
 public:
  sha256_hasher();
  sha256_hasher& update(std::string_view data);
  sha256_hasher& update(const void* data, std::size_t size);
  sha256_digest finish();

 private:
  friend sha256_digest sha256_portable(std::string_view data);
  void compress(const std::uint8_t* blocks, std::size_t count);

  bool portable_ = false;
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_ = 0;
};

sha256_digest sha256(std::string_view data);

// The plain C++ implementation, always; exposed so tests can compare it with sha256().
sha256_digest sha256_portable(std::string_view data);

// The digest as 64 lowercase hex characters.
std::string to_hex(const sha256_digest& d);

std::uint32_t crc32c(std::string_view data, std::uint32_t seed = 0);

// The HTTP entity tag of an object's API representation (its JSON): a strong validator,
// quoted, from the first 80 bits of the SHA-256 of the bytes. The same object gives the same
// tag on every node and after every restart; any change to the object changes it.
std::string entity_tag(std::string_view representation);

// Whether an If-Match / If-None-Match value (a list of tags, or "*") names `tag`. A weak tag
// (W/"...") matches only with `weak` (If-None-Match's weak comparison; If-Match compares
// strongly, RFC 9110 section 13.1.1).
bool tag_listed(std::string_view header, std::string_view tag, bool weak = false);

// The table implementation, always; exposed so tests can compare it with crc32c().
std::uint32_t crc32c_portable(std::string_view data, std::uint32_t seed = 0);

}  // namespace referrald::domain
