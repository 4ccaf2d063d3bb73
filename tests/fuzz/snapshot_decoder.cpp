// Fuzz target: bytes read from disk as a per-account snapshot, as they are and with a
// valid CRC appended (so that mutations reach the entities behind the checksum).

#include <cstdint>
#include <string>

#include "domain/base/digest.hpp"
#include "snapshots/snapshot_store.hpp"

using namespace referrald;

namespace {

void decode(std::string_view bytes) {
  if (auto s = snapshots::decode_snapshot("acme", 7, bytes)) {
    s->refresh_indexes();
    (void)snapshots::encode_snapshot(*s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  decode(bytes);
  std::uint32_t crc =
      domain::crc32c(bytes, domain::crc32c(snapshots::encode_snapshot_key("acme", 7)));
  for (int i = 0; i < 4; ++i)
    bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  decode(bytes);
  return 0;
}
