// A write another node forwarded to this one as its owner (http/forwarded_request.cpp), handed
// to the server as the cluster's placement hands it: the request's bytes as
// encode_forwarded_request frames them, and the answer's as the owner frames them back. The
// bytes come from NATS, not from a connection of ours: ones no node sends are refused.

#include <boost/test/unit_test.hpp>
#include <functional>
#include <future>
#include <mutex>
#include <string>

#include "http/forwarding.hpp"
#include "tests/http/fixture.hpp"

using namespace referrald;
using namespace referrald::testing;
using namespace std::chrono_literals;

namespace {

// A single node's placement that keeps what the server gives it to take relayed writes with.
class serving_placement final : public interfaces::local_placement {
 public:
  domain::status serve(std::function<void(incoming, answer_fn)> fn, loops) override {
    std::lock_guard lock(mu_);
    take_ = std::move(fn);
    return {};
  }

  // REQUEST as another node would relay it; the answer, decoded as that node would.
  http::response relayed_here(std::string request) {
    std::function<void(incoming, answer_fn)> take;
    {
      std::lock_guard lock(mu_);
      take = take_;
    }
    BOOST_REQUIRE(take);
    auto answered = std::make_shared<std::promise<std::string>>();
    take(incoming{std::move(request), "192.0.2.7"},
         [answered](std::string bytes) { answered->set_value(std::move(bytes)); });
    auto bytes = answered->get_future();
    BOOST_REQUIRE(bytes.wait_for(10s) == std::future_status::ready);
    auto answer = http::decode_forwarded_answer(bytes.get());
    BOOST_REQUIRE(answer.has_value());
    return *answer;
  }

 private:
  std::mutex mu_;
  std::function<void(incoming, answer_fn)> take_;
};

struct forwarded_fixture : in_process_fixture {
  serving_placement placement;

  forwarded_fixture() {
    start([this](http::server_options& s, actors::runtime_options&) { s.placement = &placement; });
  }

  // A create of DOMAIN in account acme as a node frames it, its Content-Length line LENGTH
  // (the body's own length when empty).
  static std::string create(const std::string& domain, const std::string& length = {}) {
    std::string body = R"({"domain":")" + domain + R"(","utm_source":"s"})";
    return std::string("POST /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: node-b\r\n") +
           "Authorization: Bearer " + admin_secret +
           "\r\nContent-Type: application/json\r\nX-Request-Id: req_from_b\r\nContent-Length: " +
           (length.empty() ? std::to_string(body.size()) : length) + "\r\n\r\n" + body;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(forwarded_requests, forwarded_fixture)

BOOST_AUTO_TEST_CASE(a_forwarded_write_runs_as_a_clients_would) {
  auto made = placement.relayed_here(create("one.example"));
  BOOST_TEST(made.status == 201u, made.body);
  BOOST_TEST(made.body.find("one.example") != std::string::npos, made.body);
  auto again = placement.relayed_here(create("one.example"));
  BOOST_TEST(again.status == 409u, again.body);
}

// The body is the rest of the message: a Content-Length that says otherwise (longer, shorter)
// or a chunked body is refused before anything runs, naming both lengths.
BOOST_AUTO_TEST_CASE(a_forwarded_write_whose_length_is_not_its_bodys_is_refused) {
  std::string whole = create("two.example");
  std::size_t body = whole.size() - whole.find("\r\n\r\n") - 4;
  auto longer = placement.relayed_here(create("two.example", std::to_string(body + 100)));
  BOOST_TEST(longer.status == 400u, longer.body);
  BOOST_TEST(longer.body.find("the forwarded request's body is " + std::to_string(body) +
                              " bytes, its header says " + std::to_string(body + 100) +
                              " (Content-Length)") != std::string::npos,
             longer.body);
  auto shorter = placement.relayed_here(create("two.example", "5"));
  BOOST_TEST(shorter.status == 400u, shorter.body);
  std::string chunked = create("two.example");
  auto at = chunked.find("Content-Length");
  chunked.replace(at, chunked.find("\r\n", at) - at, "Transfer-Encoding: chunked");
  BOOST_TEST(placement.relayed_here(chunked).status == 400u);
  // None of them was made.
  auto made = placement.relayed_here(create("two.example"));
  BOOST_TEST(made.status == 201u, made.body);
}

BOOST_AUTO_TEST_SUITE_END()
