#include "domain/base/ids.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(ids)

BOOST_AUTO_TEST_CASE(account_ids_follow_the_documented_alphabet) {
  BOOST_TEST(is_valid_account_id("acme"));
  BOOST_TEST(is_valid_account_id("a"));
  BOOST_TEST(is_valid_account_id("9lives_co-2"));
  BOOST_TEST(is_valid_account_id(std::string(64, 'a')));
  BOOST_TEST(!is_valid_account_id(std::string(65, 'a')));
  BOOST_TEST(!is_valid_account_id(""));
  BOOST_TEST(!is_valid_account_id("_acme"));
  BOOST_TEST(!is_valid_account_id("-acme"));
  BOOST_TEST(!is_valid_account_id("Acme"));
  BOOST_TEST(!is_valid_account_id("ac me"));
  BOOST_TEST(!is_valid_account_id("acme/x"));
}

BOOST_AUTO_TEST_CASE(entity_and_brand_ids_are_positive_int64) {
  BOOST_TEST(*parse_entity_id("1") == 1);
  BOOST_TEST(*parse_entity_id("9223372036854775807") == INT64_MAX);
  BOOST_TEST(!parse_entity_id("9223372036854775808"));
  BOOST_TEST(!parse_entity_id("0"));
  BOOST_TEST(!parse_entity_id("-1"));
  BOOST_TEST(!parse_entity_id("01"));
  BOOST_TEST(!parse_entity_id("1a"));
  BOOST_TEST(!parse_entity_id(""));
  BOOST_TEST(!parse_entity_id("+1"));
  BOOST_TEST(*parse_brand_id("42") == 42);
}

BOOST_AUTO_TEST_SUITE_END()
