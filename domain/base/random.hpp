#pragma once

// Bytes from the kernel's random source (getrandom(2)), for secrets and ids. Throws
// std::runtime_error when the kernel refuses (never under normal operation).

#include <cstddef>

namespace referrald::domain {

void random_bytes(unsigned char* out, std::size_t n);

}  // namespace referrald::domain
