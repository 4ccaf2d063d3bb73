// The placement of a single node (interfaces/placement.hpp, local_placement) against the
// placement's contract (tests/interfaces/placement_suite.hpp).

#include <memory>
#include <string>

#include "tests/interfaces/placement_suite.hpp"

namespace {

using namespace referrald;

struct local_placement_harness {
  bool shared_by_nodes = false;
  std::unique_ptr<interfaces::placement> open(const std::string&) {
    return std::make_unique<interfaces::local_placement>();
  }
};

}  // namespace

REFERRALD_PLACEMENT_SUITE(local_placement_contract, local_placement_harness)
