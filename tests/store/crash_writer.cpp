// Helper for event_log_test: appends 40-event batches, each to a new account, to the store
// at argv[1] as fast as it can until killed. Batches are written without sync; a SIGKILL
// leaves the WAL in the page cache, where a torn tail record would be visible.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <string>

#include "domain/rules/entities.hpp"
#include "store/event_log.hpp"

using namespace referrald;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: store_crash_writer DATA_DIR\n");
    return 2;
  }
  auto d = store::db::open({argv[1], false});
  if (!d) {
    std::fprintf(stderr, "%s\n", d.err().message.c_str());
    return 1;
  }
  store::event_log log(**d);
  std::string padding(900, 'p');
  for (long batch_no = 0;; ++batch_no) {
    std::string account = "a" + std::to_string(batch_no);
    store::write_batch batch;
    domain::sha256_digest prev{};
    for (std::uint64_t seq = 1; seq <= 40; ++seq) {
      domain::passthrough_referrer r;
      r.id = static_cast<std::int64_t>(seq);
      r.domain = "d" + std::to_string(seq) + ".example.com";
      r.utm_source = padding;
      domain::event e;
      e.seq = seq;
      e.type = domain::event_type::passthrough_referrer_created;
      e.entity_id = r.id;
      e.object = domain::encode_object(r);
      e.prev_hash = prev;
      log.append(batch, account, e);
      prev = e.hash;
    }
    if (auto st = (*d)->write(batch, false); !st) {
      std::fprintf(stderr, "%s\n", st.err().message.c_str());
      return 1;
    }
  }
}
