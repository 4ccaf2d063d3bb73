// Durable AI-referral ingest, two ways, with batches of ROWS rows and PUSHERS concurrent
// pushers for SECONDS seconds:
//
//   bench_push http PORT TOKEN BRAND CONNECTION [PUSHERS=8] [SECONDS=10] [ROWS=5000] [BATCH_ID=0]
//       POSTs batches to /{BRAND}/ai-referrals/connections/{CONNECTION}/events on
//       127.0.0.1:PORT over keep-alive connections, one per pusher; every 200 must accept
//       all ROWS rows. With BATCH_ID=1 every batch carries a distinct batch_id.
//   bench_push limit DIR [PUSHERS=8] [SECONDS=10] [ROWS=5000]
//       The limit: the same rows, normalized and encoded exactly as referrald stores them,
//       written straight into a RocksDB store in DIR with one synced write batch per
//       ROWS rows.
//   bench_push reads DIR [ROWS=5000] [ROUNDS=50]
//       On one thread, the same rows encoded as referrald stores them (put_rows), then each
//       row record read by store::check_record, as a cluster node reads every record before
//       it publishes it and again before its copy holds it: microseconds per row for each
//       (DIR: an empty store for put_rows, which writes nothing there).
//
// Every batch holds rows no earlier batch had (the page carries the batch number), so
// each one inserts ROWS new keys. Prints rows/s and the batch latency percentiles.

#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "domain/ai/ai_referrals.hpp"
#include "domain/base/clock.hpp"
#include "store/ai_store.hpp"
#include "store/db.hpp"
#include "store/records.hpp"

using namespace referrald;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

const char* k_referrers[] = {"https://chatgpt.com/",
                             "chatgpt.com",
                             "https://www.perplexity.ai/search?q=best+running+shoes",
                             "gemini.google.com",
                             "https://claude.ai/chat/",
                             "copilot.microsoft.com",
                             "com.openai.chatgpt",
                             "https://chat.deepseek.com/"};

// A push body of `rows` rows, unique to (pusher, batch): the batch number appears in
// every page (and batch_id) as 8 digits, whose offsets `stamps` records so that the next
// batch's body is this one with the digits rewritten (the pushers then spend next to no
// CPU making bodies, leaving the machine to the server).
struct body_template {
  std::string text;
  std::vector<std::size_t> stamps;

  body_template(int pusher, int rows, bool with_batch_id) {
    text.reserve(static_cast<std::size_t>(rows) * 240);
    text += '[';
    std::string id = std::to_string(pusher) + "-";
    auto stamp = [&] {
      stamps.push_back(text.size());
      text += "00000000";
    };
    for (int i = 0; i < rows; ++i) {
      if (i) text += ',';
      char date[16];
      std::snprintf(date, sizeof date, "2026-10-%02d", 1 + i % 28);
      text += R"({"date":")";
      text += date;
      text += R"(","raw_referrer_value":")";
      text += k_referrers[static_cast<std::size_t>(i) % std::size(k_referrers)];
      text += R"(","raw_page_value":"https://www.example.com/blog/post-)";
      text += id;
      stamp();
      text += '-';
      text += std::to_string(i);
      text += R"(?utm_source=chatgpt.com","pageviews":)";
      text += std::to_string(1 + i % 97);
      text += R"(,"sessions":)";
      text += std::to_string(1 + i % 53);
      text += R"(,"transactions":)";
      text += std::to_string(i % 3);
      text += R"(,"purchase_revenue":)";
      text += i % 3 ? "129.5" : "null";
      if (with_batch_id) {
        text += R"(,"batch_id":"b-)";
        text += id;
        stamp();
        text += '"';
      }
      text += '}';
    }
    text += ']';
  }

  const std::string& for_batch(long batch) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%08ld", batch % 100000000);
    for (std::size_t at : stamps)
      std::memcpy(text.data() + at, digits, 8);
    return text;
  }
};

struct results {
  std::mutex mu;
  std::vector<double> latencies_ms;
  long rows = 0;
  long failures = 0;

  void add(double ms, long n) {
    std::lock_guard lock(mu);
    latencies_ms.push_back(ms);
    rows += n;
  }
};

void report(const char* what, results& r, double seconds) {
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  auto pct = [&](double p) {
    if (r.latencies_ms.empty()) return 0.0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(r.latencies_ms.size() - 1));
    return r.latencies_ms[i];
  };
  std::printf(
      "%s: %.0f rows/s, %zu batches, batch latency p50 %.1f ms, p99 %.1f ms, max %.1f ms%s\n", what,
      static_cast<double>(r.rows) / seconds, r.latencies_ms.size(), pct(0.5), pct(0.99), pct(1.0),
      r.failures ? ", FAILURES" : "");
  if (r.failures) std::printf("failed batches: %ld\n", r.failures);
}

// Runs fn(worker, deadline) on `workers` threads until `seconds` have passed, then
// prints the figures under `what`; the exit status is 1 when any batch failed.
template <class Fn>
int run_workers(const std::string& what, int workers, int seconds, results& res, Fn fn) {
  auto start = steady::now();
  auto deadline = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&fn, w, deadline] { fn(w, deadline); });
  for (auto& t : threads)
    t.join();
  double elapsed = std::chrono::duration<double>(steady::now() - start).count();
  report(what.c_str(), res, elapsed);
  return res.failures ? 1 : 0;
}

int run_http(int argc, char** argv) {
  if (argc < 6) return 2;
  auto port = static_cast<unsigned short>(std::atoi(argv[2]));
  std::string token = argv[3];
  std::string target =
      std::string("/") + argv[4] + "/ai-referrals/connections/" + argv[5] + "/events";
  int pushers = argc > 6 ? std::atoi(argv[6]) : 8;
  int seconds = argc > 7 ? std::atoi(argv[7]) : 10;
  int rows = argc > 8 ? std::atoi(argv[8]) : 5000;
  bool with_batch_id = argc > 9 && std::atoi(argv[9]) != 0;
  std::string expect = "{\"accepted\":" + std::to_string(rows) + ",";

  std::string what = "referrald over HTTP (" + std::to_string(pushers) + " pushers, " +
                     std::to_string(rows) + "-row batches" +
                     (with_batch_id ? ", with batch_id" : "") + ")";
  results res;
  return run_workers(what, pushers, seconds, res, [&](int p, steady::time_point deadline) {
    try {
      boost::asio::io_context ioc;
      tcp::socket socket(ioc);
      socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
      beast::flat_buffer buffer;
      body_template body(p, rows, with_batch_id);
      for (long batch = 0; steady::now() < deadline; ++batch) {
        http::request<http::string_body> req(http::verb::post, target, 11);
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, "Bearer " + token);
        req.set(http::field::content_type, "application/json");
        req.body() = body.for_batch(batch);
        req.prepare_payload();
        auto t0 = steady::now();
        http::write(socket, req);
        http::response<http::string_body> resp;
        http::read(socket, buffer, resp);
        double ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
        if (resp.result_int() != 200 || resp.body().rfind(expect, 0) != 0) {
          std::lock_guard lock(res.mu);
          if (res.failures++ == 0) {
            std::fprintf(stderr, "push answered %u: %.300s\n", resp.result_int(),
                         resp.body().c_str());
          }
          continue;
        }
        res.add(ms, rows);
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(res.mu);
      ++res.failures;
      std::fprintf(stderr, "pusher %d: %s\n", p, e.what());
    }
  });
}

// The store in `dir`, or null after saying why it did not open.
std::unique_ptr<store::db> open_store(const char* dir) {
  auto opened = store::db::open({dir, false});
  if (!opened) {
    std::fprintf(stderr, "open: %s\n", opened.err().message.c_str());
    return nullptr;
  }
  return std::move(*opened);
}

// Pusher `p`'s body of `rows` rows, normalized as referrald normalizes a push; nothing when
// it does not validate whole.
std::optional<std::vector<domain::ai_row>> normalized_rows(int p, int rows) {
  rapidjson::Document doc;
  body_template body(p, rows, false);
  doc.Parse(body.text.data(), body.text.size());
  auto outcome = domain::validate_push(doc, domain::ai_platform_list::builtin(), domain::now_ms());
  if (!outcome || outcome->rows.size() != static_cast<std::size_t>(rows)) return std::nullopt;
  return std::move(outcome->rows);
}

int run_limit(int argc, char** argv) {
  if (argc < 3) return 2;
  int pushers = argc > 3 ? std::atoi(argv[3]) : 8;
  int seconds = argc > 4 ? std::atoi(argv[4]) : 10;
  int rows = argc > 5 ? std::atoi(argv[5]) : 5000;
  auto db = open_store(argv[2]);
  if (!db) return 1;
  store::ai_store ai(*db);

  std::string what = "limit: RocksDB synced write batches (" + std::to_string(pushers) +
                     " writers, " + std::to_string(rows) + " rows each)";
  results res;
  return run_workers(what, pushers, seconds, res, [&](int p, steady::time_point deadline) {
    // Normalize once, as referrald would; each batch then only renames the pages.
    auto normalized = normalized_rows(p, rows);
    if (!normalized) {
      std::lock_guard lock(res.mu);
      ++res.failures;
      return;
    }
    // Each batch rewrites the batch digits in the normalized pages, as the HTTP pushers
    // do in the raw ones.
    std::vector<domain::ai_row> batch_rows = std::move(*normalized);
    std::vector<std::size_t> stamp_at;
    for (const auto& r : batch_rows)
      stamp_at.push_back(r.page.find("-00000000-") + 1);
    for (long batch = 1; steady::now() < deadline; ++batch) {
      char digits[16];
      std::snprintf(digits, sizeof digits, "%08ld", batch % 100000000);
      for (std::size_t i = 0; i < batch_rows.size(); ++i)
        std::memcpy(batch_rows[i].page.data() + stamp_at[i], digits, 8);
      auto t0 = steady::now();
      store::write_batch wb;
      ai.put_rows(wb, 1, "01JBENCHBENCHBENCHBENCHBEN", batch_rows);
      auto st = db->write(wb, true);
      double ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
      if (!st) {
        std::lock_guard lock(res.mu);
        ++res.failures;
        continue;
      }
      res.add(ms, rows);
    }
  });
}

int run_reads(int argc, char** argv) {
  if (argc < 3) return 2;
  int rows = argc > 3 ? std::atoi(argv[3]) : 5000;
  int rounds = argc > 4 ? std::atoi(argv[4]) : 50;
  if (rows <= 0 || rounds <= 0) return 2;
  auto normalized = normalized_rows(0, rows);
  if (!normalized) {
    std::fprintf(stderr, "reads: the body did not validate\n");
    return 1;
  }
  auto db = open_store(argv[2]);
  if (!db) return 1;
  store::ai_store ai(*db);
  store::write_batch wb;
  auto t0 = steady::now();
  for (int i = 0; i < rounds; ++i) {
    wb = store::write_batch();
    ai.put_rows(wb, 1, "01JBENCHBENCHBENCHBENCHBEN", *normalized);
  }
  auto t1 = steady::now();
  std::size_t read = 0, bytes = 0;
  for (int i = 0; i < rounds; ++i) {
    wb.for_each([&](const store::write_batch::op& op) {
      read += store::check_record(op.cf, op.key, op.value).ok();
      bytes += op.key.size() + op.value.size();
    });
  }
  auto t2 = steady::now();
  double n = static_cast<double>(rows) * rounds;
  std::printf(
      "row records (%d rows, %zu bytes each on average): encoded in %.3f us per row, "
      "read by check_record in %.3f us per row (%zu of %.0f read)\n",
      rows, bytes / static_cast<std::size_t>(n),
      std::chrono::duration<double, std::micro>(t1 - t0).count() / n,
      std::chrono::duration<double, std::micro>(t2 - t1).count() / n, read, n);
  return read == static_cast<std::size_t>(n) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (mode == "http") rc = run_http(argc, argv);
  if (mode == "limit") rc = run_limit(argc, argv);
  if (mode == "reads") rc = run_reads(argc, argv);
  if (rc == 2) {
    std::fprintf(stderr,
                 "usage: bench_push http PORT TOKEN BRAND CONNECTION [PUSHERS] [SECONDS] [ROWS] "
                 "[BATCH_ID]\n       bench_push limit DIR [PUSHERS] [SECONDS] [ROWS]\n"
                 "       bench_push reads DIR [ROWS] [ROUNDS]\n");
  }
  return rc;
}
