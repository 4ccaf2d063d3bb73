#define BOOST_TEST_MODULE snapshots_tests
#include <boost/test/unit_test.hpp>
