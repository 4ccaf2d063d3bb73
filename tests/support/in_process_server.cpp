#include "tests/support/in_process_server.hpp"

#include <future>
#include <stdexcept>

#include "actors/messages.hpp"
#include "actors/reply.hpp"
#include "tests/support/server_process.hpp"

namespace referrald::testing {

in_process_server::in_process_server(const std::string& data_dir, test_clock& clock,
                                     const configure& fn) {
  auto opened = store::db::open({data_dir, false, 0});
  if (!opened) throw std::runtime_error("cannot open " + data_dir + ": " + opened.err().message);
  db_ = std::move(*opened);
  http::server_options sopts;
  sopts.port = 0;
  sopts.io_threads = 2;
  sopts.compute_threads = 1;
  sopts.handle_signals = false;
  sopts.clock = &clock;
  actors::runtime_options ropts;
  ropts.actor_threads = 2;
  ropts.ingest_workers = 1;
  ropts.verify_every = std::chrono::seconds(0);
  ropts.clock = &clock;
  if (fn) fn(sopts, ropts);
  runtime_ = std::make_unique<actors::runtime>(*db_, ropts);
  // The admin key, as REFERRALD_BOOTSTRAP_KEY installs it.
  auto done = std::make_shared<std::promise<actors::api_result>>();
  actors::key_bootstrap_req req;
  req.secret = admin_secret;
  req.name = "bootstrap admin";
  req.only_if_none = false;
  req.reply = actors::make_reply([done](actors::api_result r) { done->set_value(std::move(r)); });
  runtime_->tell(actors::keys_request{std::move(req)});
  auto made = done->get_future().get();
  if (!made) throw std::runtime_error("cannot install the admin key: " + made.err().message);
  sopts.retries = &runtime_->retries();
  if (sopts.placement == nullptr) sopts.placement = &runtime_->placement();  // unless configured
  server_ = std::make_unique<http::server>(sopts, *runtime_);
  auto endpoint = server_->local_endpoint();
  port_ = static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
  serving_ = std::thread([this] { server_->run(); });
}

in_process_server::~in_process_server() {
  server_->stop();
  serving_.join();
  server_.reset();
  runtime_.reset();
  db_.reset();
}

}  // namespace referrald::testing
