#pragma once

// The `--version` text of both binaries: the version, how it was built, and the versions
// of the libraries it was built against.

#include <idn2.h>
#include <libpsl.h>
#include <rocksdb/version.h>
#include <unicode/uvernum.h>

#include <boost/version.hpp>
#include <string>

#include "tools/build_info.hpp"

namespace referrald::tools {

inline std::string version_text(const char* program) {
  std::string out = std::string(program) + " " + REFERRALD_VERSION + "\n";
  out += "build: " REFERRALD_BUILD_TYPE ", " REFERRALD_COMPILER ", C++" +
         std::to_string(__cplusplus / 100 % 100) + "\n";
  out += "libraries: RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." +
         std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH) + ", Boost " +
         std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) +
         ", ICU " U_ICU_VERSION ", libidn2 " IDN2_VERSION ", libpsl " PSL_VERSION "\n";
  return out;
}

}  // namespace referrald::tools
