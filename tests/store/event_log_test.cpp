#include "store/event_log.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <rocksdb/db.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "domain/rules/entities.hpp"
#include "store/db_internal.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

namespace {

std::unique_ptr<db> open_db(const std::string& path, bool read_only = false) {
  auto d = db::open({path, read_only});
  BOOST_REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.err().message));
  return std::move(*d);
}

// Builds the next `created` event for a fresh referrer in a chain kept by the caller.
domain::event next_created(std::uint64_t seq, const domain::sha256_digest& prev) {
  domain::passthrough_referrer r;
  r.id = static_cast<std::int64_t>(seq);
  r.domain = "d" + std::to_string(seq) + ".example.com";
  r.utm_source = "s";
  r.created_at = r.updated_at = 1736071200000 + static_cast<std::int64_t>(seq);
  domain::event e;
  e.seq = seq;
  e.timestamp = r.created_at;
  e.type = domain::event_type::passthrough_referrer_created;
  e.key_id = 7;
  e.entity_id = r.id;
  e.object = domain::encode_object(r);
  e.prev_hash = prev;
  return e;
}

// Appends `n` events to `account` after its current head, one batch per event.
void append_chain(db& d, const std::string& account, int n) {
  event_log log(d);
  auto head = log.load(account);
  BOOST_REQUIRE(head.ok());
  std::uint64_t seq = head->seq();
  domain::sha256_digest prev = head->head_hash();
  for (int i = 0; i < n; ++i) {
    auto e = next_created(++seq, prev);
    write_batch b;
    log.append(b, account, e);
    BOOST_REQUIRE(d.write(b, true).ok());
    prev = e.hash;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_log_suite)

BOOST_AUTO_TEST_CASE(encoding_round_trips_every_field) {
  auto e = next_created(3, domain::sha256("prev"));
  e.type = domain::event_type::passthrough_referrer_updated;
  e.changed = {"utm_source", "domain"};
  std::string value = encode_event_value("acme", e);
  auto back = decode_event("acme", 3, value);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == e));
  BOOST_TEST(verify_event_hash("acme", 3, value));
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_fails_the_checksum) {
  auto e = next_created(1, {});
  std::string value = encode_event_value("acme", e);
  for (std::size_t i = 0; i < value.size(); i += 7) {
    std::string damaged = value;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    BOOST_TEST(!decode_event("acme", 1, damaged).ok(), "byte " << i);
  }
  BOOST_TEST(!decode_event("acme", 1, value.substr(0, value.size() - 1)).ok());
}

BOOST_AUTO_TEST_CASE(the_hash_binds_account_and_sequence) {
  auto e = next_created(5, domain::sha256("x"));
  std::string value = encode_event_value("acme", e);
  BOOST_TEST(verify_event_hash("acme", 5, value));
  BOOST_TEST(!verify_event_hash("acme", 6, value));
  BOOST_TEST(!verify_event_hash("other", 5, value));
}

BOOST_AUTO_TEST_CASE(the_hash_chains_to_the_previous_event) {
  auto a = next_created(1, {});
  encode_event_value("acme", a);
  auto b = next_created(2, a.hash);
  encode_event_value("acme", b);
  auto c = next_created(2, domain::sha256("something else"));
  encode_event_value("acme", c);
  BOOST_TEST(b.prev_hash == a.hash);
  BOOST_TEST(b.hash != c.hash);
}

BOOST_AUTO_TEST_CASE(an_unknown_account_has_head_zero) {
  testing::temp_dir dir;
  auto d = open_db(dir.path());
  event_log log(*d);
  BOOST_TEST(*log.head("nobody") == 0u);
  append_chain(*d, "acme", 3);
  BOOST_TEST(*log.head("acme") == 3u);
  BOOST_TEST(*log.head("acm") == 0u);
  BOOST_TEST(*log.head("acme2") == 0u);
  BOOST_TEST(*log.head("nobody") == 0u);
}

BOOST_AUTO_TEST_CASE(replay_returns_events_in_append_order_per_account) {
  testing::temp_dir dir;
  auto d = open_db(dir.path());
  append_chain(*d, "b", 2);
  append_chain(*d, "a", 300);
  append_chain(*d, "b", 2);
  event_log log(*d);
  std::vector<std::uint64_t> seqs;
  BOOST_REQUIRE(log.replay("a", 1,
                           [&](const domain::event& e) {
                             seqs.push_back(e.seq);
                             return true;
                           })
                    .ok());
  BOOST_REQUIRE(seqs.size() == 300u);
  for (std::size_t i = 0; i < seqs.size(); ++i)
    BOOST_TEST(seqs[i] == i + 1);  // gap-free
  std::vector<std::uint64_t> tail;
  BOOST_REQUIRE(log.replay("b", 3,
                           [&](const domain::event& e) {
                             tail.push_back(e.seq);
                             return true;
                           })
                    .ok());
  BOOST_TEST(tail == (std::vector<std::uint64_t>{3, 4}));
  std::vector<std::string> accounts;
  BOOST_REQUIRE(log.for_each_account([&](const std::string& a) {
                     accounts.push_back(a);
                     return true;
                   })
                    .ok());
  BOOST_TEST(accounts == (std::vector<std::string>{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(load_folds_the_whole_stream) {
  testing::temp_dir dir;
  auto d = open_db(dir.path());
  append_chain(*d, "acme", 10);
  event_log log(*d);
  auto state = log.load("acme");
  BOOST_REQUIRE(state.ok());
  BOOST_TEST(state->seq() == 10u);
  BOOST_TEST(state->referrers().size() == 10u);
  BOOST_TEST(state->referrers().next_id() == 11);
}

BOOST_AUTO_TEST_CASE(a_multi_event_write_is_all_or_none_across_a_kill) {
  // A writer process appends batches of crash_writer_batch events, each batch to a new
  // account, until it is killed with SIGKILL mid-stream. Afterwards every account must
  // hold a whole batch: a torn batch would show as a partial stream.
  testing::temp_dir dir;
  std::string helper = testing::sibling_executable("store_crash_writer");
  pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    execl(helper.c_str(), helper.c_str(), dir.path().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Let it write for a while: until its write-ahead log holds some batches (a busy
  // machine may take longer than usual to start it; at most 10 s).
  auto wal_bytes = [&] {
    std::uintmax_t n = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir.path(), ec))
      if (f.path().extension() == ".log") n += f.file_size(ec);
    return n;
  };
  testing::eventually([&] { return wal_bytes() >= 96 * 1024; }, std::chrono::seconds(10));
  BOOST_REQUIRE(kill(child, SIGKILL) == 0);
  int wstatus = 0;
  BOOST_REQUIRE(waitpid(child, &wstatus, 0) == child);
  BOOST_REQUIRE(WIFSIGNALED(wstatus));

  auto d = open_db(dir.path());
  event_log log(*d);
  int accounts = 0;
  BOOST_REQUIRE(log.for_each_account([&](const std::string& account) {
                     ++accounts;
                     auto state = log.load(account);
                     BOOST_TEST(state.ok(), account);
                     BOOST_TEST(*log.head(account) == 40u, account);
                     return true;
                   })
                    .ok());
  BOOST_TEST_MESSAGE("batches found whole after the kill: " << accounts);
  BOOST_TEST(accounts > 0);
}

BOOST_AUTO_TEST_CASE(reopen_after_close_keeps_everything) {
  testing::temp_dir dir;
  domain::account_state before;
  {
    auto d = open_db(dir.path());
    append_chain(*d, "acme", 25);
    append_chain(*d, "beta", 5);
    before = *event_log(*d).load("acme");
  }
  auto d = open_db(dir.path());
  event_log log(*d);
  BOOST_TEST(*log.head("acme") == 25u);
  BOOST_TEST(*log.head("beta") == 5u);
  BOOST_TEST((*log.load("acme") == before));
  append_chain(*d, "acme", 1);
  BOOST_TEST(*log.head("acme") == 26u);
}

BOOST_AUTO_TEST_CASE(read_only_open_sees_a_live_store) {
  testing::temp_dir dir;
  auto writer = open_db(dir.path());
  append_chain(*writer, "acme", 4);
  auto reader = open_db(dir.path(), true);
  BOOST_TEST(*event_log(*reader).head("acme") == 4u);
  write_batch b;
  b.put(column::meta, "k", "v");
  BOOST_TEST(!reader->write(b, true).ok());
}

BOOST_AUTO_TEST_CASE(a_directory_without_a_store_is_refused_for_read_only) {
  testing::temp_dir dir;
  auto d = db::open({dir.sub("absent"), true});
  BOOST_REQUIRE(!d.ok());
  BOOST_TEST(d.err().message.find("not a referrald data directory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_newer_format_version_is_refused) {
  testing::temp_dir dir;
  {
    auto d = open_db(dir.path());
    write_batch b;
    b.put(column::meta, "format_version", "99");
    BOOST_REQUIRE(d->write(b, true).ok());
  }
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(!d.ok());
  BOOST_TEST(d.err().message.find("format version 99") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
