#define BOOST_TEST_MODULE http_tests
#include <boost/test/unit_test.hpp>
#include <cstdio>

#include "http/handlers.hpp"
#include "http/openapi.hpp"
#include "tests/support/contract.hpp"

namespace referrald::testing {

// Every answer of every test in this suite is checked against the OpenAPI document.
const contract& api_contract() {
  static const contract c(http::openapi_document(http::make_router(http::limits{})));
  return c;
}

namespace {

struct check_answers {
  check_answers() {
    http_client::reply_observer() = [](const http_client::sent& request, const http_reply& reply) {
      auto why = api_contract().check(request, reply);
      if (!why.empty()) BOOST_ERROR("the answer breaks the OpenAPI document: " << why);
    };
  }
  ~check_answers() {
    std::fprintf(stderr, "http_tests: %zu answers checked against the OpenAPI document\n",
                 api_contract().checked());
  }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(check_answers);

}  // namespace referrald::testing
