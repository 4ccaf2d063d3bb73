// Fuzz target: bytes read from disk as an event: decoding, the hash check, and folding a
// decoded event into a fresh account state (which decodes its object). Each input is
// tried as it is and with a valid CRC appended, so that mutations also reach the fields
// behind the checksum.

#include <cstdint>
#include <string>

#include "domain/base/digest.hpp"
#include "domain/rules/account_state.hpp"
#include "store/event_log.hpp"

using namespace referrald;

namespace {

void decode(std::string_view bytes) {
  (void)store::verify_event_hash("acme", 1, bytes);
  auto e = store::decode_event("acme", 1, bytes);
  if (!e) return;
  domain::account_state s("acme");
  domain::event first = *e;
  first.seq = 1;
  first.prev_hash = {};
  (void)s.apply(first);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  decode(bytes);
  std::uint32_t crc = domain::crc32c(bytes);
  for (int i = 0; i < 4; ++i)
    bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  decode(bytes);
  return 0;
}
