#include "actors/loader.hpp"

#include <caf/actor_pool.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/messages.hpp"

namespace referrald::actors {

namespace {

caf::behavior loader(caf::event_based_actor*, const store::event_log* log) {
  return {
      [log](load_account_req& req) -> loaded_account {
        auto state = log->load(req.account_id);
        if (!state) return loaded_account{nullptr, state.err().message};
        state->refresh_indexes();  // built here, off the actors' scheduler
        return loaded_account{std::make_shared<domain::account_state>(std::move(*state)), {}};
      },
  };
}

}  // namespace

caf::actor spawn_loader_pool(caf::actor_system& sys, const store::event_log& log,
                             std::size_t workers) {
  const store::event_log* log_ptr = &log;
  return caf::actor_pool::make(
      sys.dummy_execution_unit(), workers,
      [&sys, log_ptr] { return sys.spawn<caf::detached>(loader, log_ptr); },
      caf::actor_pool::round_robin());
}

}  // namespace referrald::actors
