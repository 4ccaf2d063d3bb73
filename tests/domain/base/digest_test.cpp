#include "domain/base/digest.hpp"

#include <boost/test/unit_test.hpp>
#include <random>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(digest)

BOOST_AUTO_TEST_CASE(sha256_matches_fips_180_vectors) {
  BOOST_TEST(to_hex(sha256("")) ==
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(to_hex(sha256("abc")) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  BOOST_TEST(to_hex(sha256(std::string(1000000, 'a'))) ==
             "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

BOOST_AUTO_TEST_CASE(sha256_incremental_updates_equal_one_shot) {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 7);
  for (std::size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 999u}) {
    sha256_hasher h;
    h.update(std::string_view(data).substr(0, split));
    h.update(std::string_view(data).substr(split));
    BOOST_TEST(h.finish() == sha256(data));
  }
}

BOOST_AUTO_TEST_CASE(sha256_cpu_extensions_and_portable_code_agree) {
  BOOST_TEST(to_hex(sha256_portable("abc")) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::mt19937 rng(7);
  for (int n = 0; n < 300; ++n) {
    std::string s(static_cast<std::size_t>(rng() % 1000), '\0');
    for (char& c : s)
      c = static_cast<char>(rng());
    BOOST_TEST(sha256(s) == sha256_portable(s), "length " << s.size());
  }
}

BOOST_AUTO_TEST_CASE(crc32c_matches_the_standard_check_value) {
  BOOST_TEST(crc32c("123456789") == 0xE3069283u);
  BOOST_TEST(crc32c_portable("123456789") == 0xE3069283u);
  BOOST_TEST(crc32c("") == 0u);
}

BOOST_AUTO_TEST_CASE(crc32c_hardware_and_table_paths_agree) {
  std::mt19937 rng(42);
  for (int n = 0; n < 200; ++n) {
    std::string s(static_cast<std::size_t>(rng() % 300), '\0');
    for (char& c : s)
      c = static_cast<char>(rng());
    BOOST_TEST(crc32c(s) == crc32c_portable(s));
    // Extending a checksum equals checksumming the concatenation.
    BOOST_TEST(crc32c(s + "tail") == crc32c("tail", crc32c(s)));
  }
}

BOOST_AUTO_TEST_SUITE_END()
