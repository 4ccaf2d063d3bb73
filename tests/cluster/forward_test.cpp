// The forwarding of writes to their owner (cluster/cluster_forward.hpp) while the NATS
// client's delivery thread is held up (it runs the follower's work, which may wait on the
// stream or the disk): the owner still takes a request at once, and a sender whose "taken"
// has reached it but waits behind that thread never counts the request as not taken — a
// sender that did would make a write its owner also makes.

#include "cluster/cluster_forward.hpp"

#include <nats/nats.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "cluster/cluster_native.hpp"
#include "tests/cluster/helpers.hpp"

using namespace referrald;
using namespace referrald::cluster;
using namespace std::chrono_literals;
using testing::open_log;

namespace {

// Holds the NATS client's delivery thread of `log`'s connection (shared by its asynchronous
// subscriptions) in a callback until release(), from the moment held() returns.
class delivery_hold {
 public:
  explicit delivery_hold(cluster_log& log) : nc_(cluster_native::connection(log)) {
    std::string subject =
        "referrald-test-hold." + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    BOOST_REQUIRE(natsConnection_Subscribe(&sub_, nc_, subject.c_str(), &delivery_hold::on_message,
                                           this) == NATS_OK);
    BOOST_REQUIRE(natsConnection_PublishString(nc_, subject.c_str(), "hold") == NATS_OK);
    BOOST_REQUIRE_MESSAGE(entered_.get_future().wait_for(10s) == std::future_status::ready,
                          "the delivery thread never ran the holding callback");
  }
  ~delivery_hold() {
    release();
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
  delivery_hold(const delivery_hold&) = delete;
  delivery_hold& operator=(const delivery_hold&) = delete;

  void release() {
    if (!released_) gate_.set_value();
    released_ = true;
  }

 private:
  static void on_message(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
    auto* self = static_cast<delivery_hold*>(closure);
    natsMsg_Destroy(m);
    self->entered_.set_value();
    self->gate_future_.wait();
  }

  natsConnection* nc_;
  natsSubscription* sub_ = nullptr;
  std::promise<void> entered_;
  std::promise<void> gate_;
  std::shared_future<void> gate_future_ = gate_.get_future().share();
  bool released_ = false;
};

std::unique_ptr<cluster_forward> open_forward(cluster_log& log, const std::string& node) {
  auto f = cluster_forward::open(log, node);
  BOOST_REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.err().message));
  return std::move(*f);
}

// Answers every request at once with a fixed response.
void answer_every_request(cluster_forward& owner) {
  BOOST_REQUIRE(owner.serve([](cluster_forward::incoming, cluster_forward::answer_fn answer) {
    answer("HTTP/1.1 201 \r\n\r\n{}", 7);
  }));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_forwarding)

BOOST_AUTO_TEST_CASE(an_owner_takes_requests_while_the_client_s_delivery_thread_is_held) {
  auto log = open_log(testing::shared_cluster());
  auto owner = open_forward(*log, "fwd-owner-1");
  answer_every_request(*owner);
  delivery_hold hold(*log);
  // A sender of its own (a plain NATS request, delivered on its connection's own thread).
  natsConnection* nc = nullptr;
  BOOST_REQUIRE(natsConnection_ConnectTo(&nc, testing::shared_cluster().url(0).c_str()) == NATS_OK);
  std::string subject = "referrald-fwd." + cluster_native::options(*log).stream + ".fwd-owner-1";
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_RequestString(&reply, nc, subject.c_str(),
                                              "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 3000);
  BOOST_TEST_REQUIRE(s == NATS_OK, "no reply within 3 s: " << natsStatus_GetText(s));
  const char* taken = nullptr;
  natsMsgHeader_Get(reply, "Referrald-Forward", &taken);
  BOOST_TEST((taken != nullptr && std::string(taken) == "taken"));
  natsMsg_Destroy(reply);
  natsConnection_Destroy(nc);
}

BOOST_AUTO_TEST_CASE(a_taken_waiting_for_the_delivery_thread_is_not_silence) {
  auto log = open_log(testing::shared_cluster());
  auto owner = open_forward(*log, "fwd-owner-2");
  auto sender = open_forward(*log, "fwd-sender-2");
  answer_every_request(*owner);
  std::promise<cluster_forward::result> outcome;
  auto done = outcome.get_future();
  {
    delivery_hold hold(*log);
    sender->send("fwd-owner-2", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "127.0.0.1", 200ms,
                 3000ms,
                 [&outcome](cluster_forward::result r) { outcome.set_value(std::move(r)); });
    // Five times the take bound: the owner's "taken" and answer are at the sender by then,
    // held up behind the delivery thread.
    BOOST_TEST((done.wait_for(1s) == std::future_status::timeout),
               "the sender decided before reading the replies it had");
  }
  BOOST_TEST_REQUIRE((done.wait_for(10s) == std::future_status::ready));
  auto r = done.get();
  BOOST_TEST((r.how == cluster_forward::outcome::answered));
  BOOST_TEST(r.applied == 7U);
  BOOST_TEST(r.response == "HTTP/1.1 201 \r\n\r\n{}");
}

BOOST_AUTO_TEST_SUITE_END()
