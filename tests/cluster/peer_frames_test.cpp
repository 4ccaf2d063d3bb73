// The peer link's frames as its header writes them (cluster/peer_link.hpp): the bytes of each
// kind, a frame read back from every prefix of a stream, the bounds, and the payloads that
// are not what their kind says.

#include "cluster/peer_frames.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace referrald::cluster;
using namespace std::string_literals;

namespace {

// The frames of `in`, read as the link reads a connection: `partial` ends the reading.
std::vector<peer_frames::frame> all(std::string_view in, std::uint32_t max, std::size_t& left) {
  std::vector<peer_frames::frame> out;
  for (;;) {
    peer_frames::frame f;
    std::size_t used = 0;
    auto st = peer_frames::next(in, max, f, used);
    BOOST_REQUIRE(st != peer_frames::step::invalid);
    if (st == peer_frames::step::partial) break;
    out.push_back(f);
    in.remove_prefix(used);
  }
  left = in.size();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(peer_frames_grammar)

BOOST_AUTO_TEST_CASE(bytes_of_each_kind_are_as_documented) {
  // length (u32 LE: of what follows) kind (u8) id (u64 LE) payload
  BOOST_TEST(peer_frames::make('T', 0x0102030405060708) ==
             "\x09\x00\x00\x00T\x08\x07\x06\x05\x04\x03\x02\x01"s);
  BOOST_TEST(peer_frames::hello("b", "00ff") ==
             "\x20\x00\x00\x00H\x00\x00\x00\x00\x00\x00\x00\x00referrald-peer/1 b 00ff"s);
  BOOST_TEST(peer_frames::request(7, "10.0.0.1:5", "GET") ==
             "\x18\x00\x00\x00Q\x07\x00\x00\x00\x00\x00\x00\x00\x0a\x00"
             "10.0.0.1:5GET"s);
  BOOST_TEST(peer_frames::answer(2, 300, "HTTP") ==
             "\x15\x00\x00\x00"
             "A\x02\x00\x00\x00\x00\x00\x00\x00\x2c\x01\x00\x00\x00\x00\x00\x00HTTP"s);
}

BOOST_AUTO_TEST_CASE(frames_are_read_back_from_every_prefix) {
  std::string stream = peer_frames::hello("node-a", "secret") +
                       peer_frames::request(1, "[::1]:80", "POST / HTTP/1.1\r\n\r\n") +
                       peer_frames::make('T', 1) + peer_frames::answer(1, 42, "HTTP/1.1 201") +
                       peer_frames::make('R', 2);
  for (std::size_t n = 0; n <= stream.size(); ++n) {
    std::size_t left = 0;
    auto got = all(std::string_view(stream).substr(0, n), peer_frames::k_max_frame, left);
    std::size_t consumed = n - left;
    std::string again;
    for (const auto& f : got)
      again += peer_frames::make(f.kind, f.id, f.payload);
    BOOST_TEST(again == stream.substr(0, consumed));
    if (n == stream.size()) {
      BOOST_TEST(left == 0u);
      BOOST_REQUIRE_EQUAL(got.size(), 5u);
      auto h = peer_frames::read_hello(got[0].payload);
      BOOST_REQUIRE(h);
      BOOST_TEST(h->owner == "node-a");
      BOOST_TEST(h->secret == "secret");
      auto q = peer_frames::read_request(got[1].payload);
      BOOST_REQUIRE(q);
      BOOST_TEST(got[1].id == 1u);
      BOOST_TEST(q->remote == "[::1]:80");
      BOOST_TEST(q->http == "POST / HTTP/1.1\r\n\r\n");
      BOOST_TEST(got[2].kind == 'T');
      auto a = peer_frames::read_answer(got[3].payload);
      BOOST_REQUIRE(a);
      BOOST_TEST(a->applied == 42u);
      BOOST_TEST(a->response == "HTTP/1.1 201");
      BOOST_TEST(got[4].kind == 'R');
      BOOST_TEST(got[4].id == 2u);
    }
  }
}

BOOST_AUTO_TEST_CASE(lengths_out_of_bounds_are_invalid) {
  peer_frames::frame f;
  std::size_t used = 0;
  // Shorter than a kind and an id.
  BOOST_TEST((peer_frames::next("\x08\x00\x00\x00"s + std::string(8, 'x'), 512, f, used) ==
              peer_frames::step::invalid));
  // Over the bound, known from the length alone: no need to wait for the bytes.
  BOOST_TEST((peer_frames::next("\x01\x02\x00\x00"s, 512, f, used) == peer_frames::step::invalid));
  BOOST_TEST((peer_frames::next("\xff\xff\xff\xff"s, peer_frames::k_max_frame, f, used) ==
              peer_frames::step::invalid));
  // At the bound: read once whole.
  std::string at_bound = peer_frames::make('H', 0, std::string(512 - 9, 'h'));
  BOOST_TEST((peer_frames::next(at_bound, 512, f, used) == peer_frames::step::complete));
  BOOST_TEST(used == 516u);
  BOOST_TEST((peer_frames::next(std::string_view(at_bound).substr(0, 515), 512, f, used) ==
              peer_frames::step::partial));
  BOOST_TEST((peer_frames::next(peer_frames::make('H', 0, std::string(512 - 8, 'h')), 512, f,
                                used) == peer_frames::step::invalid));
}

BOOST_AUTO_TEST_CASE(hellos_of_another_shape_are_refused) {
  BOOST_TEST(!peer_frames::read_hello(""));
  BOOST_TEST(!peer_frames::read_hello("referrald-peer/1"));
  BOOST_TEST(!peer_frames::read_hello("referrald-peer/1 a"));
  BOOST_TEST(!peer_frames::read_hello("referrald-peer/2 a s"));
  BOOST_TEST(!peer_frames::read_hello("referrald-peer/10 a s"));
  BOOST_TEST(!peer_frames::read_hello("referrald-peer/ a s"));
  auto empty_secret = peer_frames::read_hello("referrald-peer/1 a ");
  BOOST_REQUIRE(empty_secret);
  BOOST_TEST(empty_secret->secret.empty());
  auto spaced = peer_frames::read_hello("referrald-peer/1 a s t");
  BOOST_REQUIRE(spaced);
  BOOST_TEST(spaced->owner == "a");
  BOOST_TEST(spaced->secret == "s t");  // not the cluster's secret: refused by comparison
}

BOOST_AUTO_TEST_CASE(requests_and_answers_too_short_are_refused) {
  BOOST_TEST(!peer_frames::read_request(""));
  BOOST_TEST(!peer_frames::read_request("\x05"));
  // A remote of 5 bytes, 4 there.
  BOOST_TEST(!peer_frames::read_request(std::string{'\x05', '\0'} + "abcd"));
  const std::string bare = "\x00\x00GET"s;  // the fields point into it
  auto no_remote = peer_frames::read_request(bare);
  BOOST_REQUIRE(no_remote);
  BOOST_TEST(no_remote->remote.empty());
  BOOST_TEST(no_remote->http == "GET");
  BOOST_TEST(!peer_frames::read_answer("1234567"));
  const std::string zero(8, '\0');
  auto empty = peer_frames::read_answer(zero);
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->applied == 0u);
  BOOST_TEST(empty->response.empty());
}

BOOST_AUTO_TEST_CASE(requests_fit_a_frame_or_are_not_sent) {
  BOOST_TEST(peer_frames::request_fits(0, 0));
  BOOST_TEST(peer_frames::request_fits(0xffff, 0));
  BOOST_TEST(!peer_frames::request_fits(0x10000, 0));
  // length = kind + id + remote's length + remote + request
  std::size_t most = peer_frames::k_max_frame - 9 - 2 - 20;
  BOOST_TEST(peer_frames::request_fits(20, most));
  BOOST_TEST(!peer_frames::request_fits(20, most + 1));
  BOOST_TEST(!peer_frames::request_fits(20, std::size_t{1} << 40));
  std::string biggest = peer_frames::request(3, std::string(0xffff, 'r'), "GET");
  peer_frames::frame f;
  std::size_t used = 0;
  BOOST_REQUIRE((peer_frames::next(biggest, peer_frames::k_max_frame, f, used) ==
                 peer_frames::step::complete));
  auto q = peer_frames::read_request(f.payload);
  BOOST_REQUIRE(q);
  BOOST_TEST(q->remote.size() == 0xffffu);
  BOOST_TEST(q->http == "GET");
}

BOOST_AUTO_TEST_SUITE_END()
