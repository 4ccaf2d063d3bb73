#define BOOST_TEST_MODULE domain_tests
#include <boost/test/unit_test.hpp>
