#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "store/db.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

namespace {

struct seen {
  column cf;
  bool erase;
  std::string key;
  std::string value;
};

std::vector<seen> ops_of(const write_batch& b) {
  std::vector<seen> out;
  b.for_each([&](const write_batch::op& o) {
    out.push_back(seen{o.cf, o.erase, std::string(o.key), std::string(o.value)});
  });
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(write_batch_suite)

BOOST_AUTO_TEST_CASE(operations_come_back_in_the_order_they_were_added) {
  write_batch b;
  BOOST_TEST(b.empty());
  b.put(column::meta, "b", "two");
  b.erase(column::meta, "a");
  b.put(column::meta, "", "");
  auto ops = ops_of(b);
  BOOST_TEST_REQUIRE(ops.size() == 3u);
  BOOST_TEST(ops[0].key == "b");
  BOOST_TEST(ops[0].value == "two");
  BOOST_TEST(!ops[0].erase);
  BOOST_TEST(ops[1].key == "a");
  BOOST_TEST(ops[1].erase);
  BOOST_TEST(ops[1].value.empty());
  BOOST_TEST(ops[2].key.empty());
  BOOST_TEST(b.size() == 3u);
  BOOST_TEST(b.byte_size() == 1u + 3u + 1u);
}

BOOST_AUTO_TEST_CASE(sort_since_orders_only_the_operations_after_the_mark) {
  write_batch b;
  b.put(column::meta, "z", "first");
  b.put(column::meta, "y", "second");
  std::size_t mark = b.size();
  b.reserve(3, 64);
  b.put(column::meta, "c", "3");
  b.put(column::meta, "a", "1");
  b.put(column::meta, "b", "2");
  b.sort_since(mark);
  auto ops = ops_of(b);
  BOOST_TEST_REQUIRE(ops.size() == 5u);
  std::vector<std::string> keys;
  for (const auto& o : ops)
    keys.push_back(o.key + "=" + o.value);
  std::vector<std::string> want{"z=first", "y=second", "a=1", "b=2", "c=3"};
  BOOST_TEST(keys == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(append_moves_every_operation_and_empties_the_source) {
  write_batch a;
  a.put(column::meta, "k1", "v1");
  write_batch b;
  b.put(column::meta, "k2", "v2");
  b.erase(column::meta, "k3");
  a.append(std::move(b));
  BOOST_TEST(b.empty());
  BOOST_TEST(b.byte_size() == 0u);
  BOOST_TEST(a.size() == 3u);
  BOOST_TEST(a.byte_size() == 2u + 2u + 2u + 2u + 2u);
  // Operations added after an append go after the appended ones.
  a.put(column::meta, "k4", "v4");
  auto ops = ops_of(a);
  BOOST_TEST_REQUIRE(ops.size() == 4u);
  BOOST_TEST(ops[1].key == "k2");
  BOOST_TEST(ops[2].erase);
  BOOST_TEST(ops[3].key == "k4");
}

BOOST_AUTO_TEST_CASE(a_written_batch_applies_puts_and_erases_in_order) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(d.ok());
  write_batch first;
  first.put(column::meta, "gone", "x");
  first.put(column::meta, "kept", "old");
  BOOST_REQUIRE((*d)->write(first, true).ok());
  write_batch second;
  second.erase(column::meta, "gone");
  second.put(column::meta, "kept", "new");
  write_batch tail;
  tail.put(column::meta, "added", "y");
  second.append(std::move(tail));
  BOOST_REQUIRE((*d)->write(second, true).ok());
  auto gone = (*d)->get(column::meta, "gone");
  BOOST_REQUIRE(gone.ok());
  BOOST_TEST(!gone->has_value());
  auto kept = (*d)->get(column::meta, "kept");
  BOOST_REQUIRE(kept.ok());
  BOOST_TEST(kept->value_or("") == "new");
  auto added = (*d)->get(column::meta, "added");
  BOOST_REQUIRE(added.ok());
  BOOST_TEST(added->value_or("") == "y");
}

BOOST_AUTO_TEST_SUITE_END()
