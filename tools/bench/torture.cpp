// Crash torture: kill -9 under concurrent mixed writes, then check that nothing that was
// acknowledged is lost and that the store verifies.
//
//   bench_torture --server build/referrald --ctl build/referralctl --cycles N [--seed S]
//
// Each cycle starts the server on the same data directory (port 0, loopback), runs one
// writer thread per account — passthrough creates, patches and deletes, mapping creates,
// AI-referral pushes with batch ids — kills the server with SIGKILL at a random moment,
// restarts it and compares what it serves with what was acknowledged: every acknowledged
// write is there with its acknowledged content; a write in flight at the kill may be
// there or not, but nothing else appears. A replayed batch_id still answers as before and
// counts once, and `referralctl verify` passes. Exit 0 when every cycle checked out.

#include <poll.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

constexpr const char* k_secret = "rk_torture_admin_secret_0123456789";

struct reply {
  unsigned status = 0;
  std::string body;
};

// One keep-alive connection; throws on a transport failure (the server was killed).
class client {
 public:
  explicit client(std::uint16_t port) : port_(port) {}

  reply call(const char* method, const std::string& target, const std::string& body = {}) {
    if (!stream_) {
      stream_.emplace(ioc_);
      stream_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
      buffer_.clear();
    }
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::authorization, std::string("Bearer ") + k_secret);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    stream_->expires_after(std::chrono::seconds(30));
    bhttp::write(*stream_, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    bhttp::read(*stream_, buffer_, parser);
    auto res = parser.release();
    if (!res.keep_alive()) stream_.reset();
    return reply{res.result_int(), std::move(res.body())};
  }

 private:
  std::uint16_t port_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  if (d.HasParseError()) throw std::runtime_error("not JSON: " + s.substr(0, 200));
  return d;
}

// A server process on port 0.
class server {
 public:
  server(const std::string& binary, const std::string& data) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args = {
        binary,  "--listen",         "127.0.0.1:0", "--data",         data, "--log-level",
        "error", "--snapshot-every", "50",          "--verify-every", "0"};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "REFERRALD_", 10) != 0) env_s.emplace_back(*e);
    }
    env_s.push_back(std::string("REFERRALD_BOOTSTRAP_KEY=") + k_secret);
    std::vector<char*> envp;
    for (auto& e : env_s)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    close(out[0]);
    auto colon = line.rfind(':');
    if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
      kill_now();
      throw std::runtime_error("the server did not start: " + line);
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  }
  ~server() { kill_now(); }

  void kill_now() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// What one entity (a rule, by its unique domain or pattern) is known to be.
struct known {
  bool exists = false;
  std::string campaign;
  std::int64_t id = 0;
};

struct entity {
  known acked;                 // as of the last acknowledged write
  std::optional<known> doubt;  // what an unanswered write would have made it
};

// One writer: its own account (rules) and brand (AI rows).
struct writer {
  int index = 0;
  std::string account;
  std::int64_t brand = 0;
  std::string connection;
  std::map<std::string, entity> referrers;  // by domain
  std::map<std::string, entity> mappings;   // by pattern (creates only)
  std::int64_t pageviews_acked = 0;
  std::int64_t pageviews_doubt = 0;
  std::optional<std::pair<std::string, std::string>> last_batch;  // body, answer
  std::uint64_t next = 0;
  std::uint64_t acknowledged = 0;  // this cycle
  std::mt19937_64 rng;

  // Writes until the server goes away.
  void run(std::uint16_t port, const std::atomic<bool>& stop) {
    client c(port);
    std::string pending_kind;
    std::string pending_key;
    try {
      if (connection.empty()) {
        auto r = c.call("POST", "/" + std::to_string(brand) + "/ai-referrals/connections",
                        R"({"name":"torture","source_tool":"other"})");
        if (r.status != 201) throw std::logic_error("connection: " + r.body);
        connection = parse(r.body)["data"]["id"].GetString();
      }
      while (!stop) {
        ++next;
        unsigned op = static_cast<unsigned>(rng() % 100);
        std::vector<std::string> live;
        for (const auto& [d, e] : referrers) {
          if (e.acked.exists) live.push_back(d);
        }
        if (op < 35 || live.empty()) {
          std::string domain =
              "w" + std::to_string(index) + "-" + std::to_string(next) + ".example.com";
          auto& e = referrers[domain];
          e.doubt = known{true, "c0", 0};
          auto r = c.call("POST", "/passthrough-referrers?account_id=" + account,
                          R"({"domain":")" + domain + R"(","utm_source":"s","utm_campaign":"c0"})");
          if (r.status != 201) throw std::logic_error("create: " + r.body);
          e.acked = known{true, "c0", parse(r.body)["data"]["id"].GetInt64()};
          e.doubt.reset();
        } else if (op < 55) {
          auto& domain = live[rng() % live.size()];
          auto& e = referrers[domain];
          std::string campaign = "c" + std::to_string(next);
          e.doubt = known{true, campaign, e.acked.id};
          auto r = c.call(
              "PATCH",
              "/passthrough-referrers/" + std::to_string(e.acked.id) + "?account_id=" + account,
              R"({"utm_campaign":")" + campaign + "\"}");
          if (r.status != 200) throw std::logic_error("patch: " + r.body);
          e.acked.campaign = campaign;
          e.doubt.reset();
        } else if (op < 65) {
          auto& domain = live[rng() % live.size()];
          auto& e = referrers[domain];
          e.doubt = known{false, "", 0};
          auto r = c.call("DELETE", "/passthrough-referrers/" + std::to_string(e.acked.id) +
                                        "?account_id=" + account);
          if (r.status != 204) throw std::logic_error("delete: " + r.body);
          e.acked = known{};
          e.doubt.reset();
        } else if (op < 85) {
          std::string pattern =
              "m" + std::to_string(index) + "-" + std::to_string(next) + ".example";
          auto& e = mappings[pattern];
          e.doubt = known{true, "", 0};
          auto r = c.call("POST", "/referrer-mappings?account_id=" + account,
                          R"({"referrer_pattern":")" + pattern +
                              R"(","match_type":"ends_with","utm_source":"m"})");
          if (r.status != 201) throw std::logic_error("mapping: " + r.body);
          e.acked = known{true, "", parse(r.body)["data"]["id"].GetInt64()};
          e.doubt.reset();
        } else {
          std::string batch = "b" + std::to_string(index) + "-" + std::to_string(next);
          std::string body = "[";
          for (int k = 0; k < 5; ++k) {
            if (k > 0) body += ',';
            body +=
                R"({"date":"2026-01-01","raw_referrer_value":"chatgpt.com","raw_page_value":"/w)" +
                std::to_string(index) + "/" + std::to_string(next) + "/" + std::to_string(k) +
                R"(","pageviews":1,"batch_id":")" + batch + "\"}";
          }
          body += "]";
          pageviews_doubt = 5;
          auto r = c.call(
              "POST",
              "/" + std::to_string(brand) + "/ai-referrals/connections/" + connection + "/events",
              body);
          if (r.status != 200) throw std::logic_error("push: " + r.body);
          pageviews_acked += 5;
          pageviews_doubt = 0;
          last_batch = {body, r.body};
        }
        ++acknowledged;
      }
    } catch (const std::logic_error&) {
      throw;
    } catch (const std::exception&) {
      // The server was killed: what was in flight stays in doubt.
    }
  }

  // Compares what the server serves with the model; resolves doubts to what is there.
  // Returns the acknowledged writes checked; throws on a loss.
  std::uint64_t check(std::uint16_t port) {
    client c(port);
    auto compare = [&](const std::string& path, const char* list_key, const char* key_field,
                       std::map<std::string, entity>& model, bool with_campaign) {
      // Every page of the list.
      std::map<std::string, known> actual;
      for (std::string after = "0";;) {
        auto r = c.call("GET", path + "?account_id=" + account +
                                   "&include_inactive=true&limit=1000&starting_after=" + after);
        if (r.status != 200) throw std::runtime_error("list: " + r.body);
        auto d = parse(r.body);
        for (const auto& item : d["data"][list_key].GetArray()) {
          known k{true, with_campaign ? item["utm_campaign"].GetString() : "",
                  item["id"].GetInt64()};
          actual[item[key_field].GetString()] = k;
        }
        if (!d["data"]["has_more"].GetBool()) break;
        after = std::to_string(d["data"]["next_starting_after"].GetInt64());
      }
      for (auto& [key, e] : model) {
        auto it = actual.find(key);
        known now = it == actual.end() ? known{} : it->second;
        auto same = [&](const known& k) {
          return k.exists == now.exists && (!k.exists || k.campaign == now.campaign);
        };
        if (!same(e.acked) && !(e.doubt && same(*e.doubt))) {
          throw std::runtime_error(
              "account " + account + ": " + key + " was acknowledged as " +
              (e.acked.exists ? "present (" + e.acked.campaign + ")" : "absent") + " but is " +
              (now.exists ? "present (" + now.campaign + ")" : "absent"));
        }
        e.acked = now;
        e.doubt.reset();
        if (it != actual.end()) actual.erase(it);
      }
      if (!actual.empty()) {
        throw std::runtime_error("account " + account + ": " + actual.begin()->first +
                                 " is there but was never written");
      }
    };
    compare("/passthrough-referrers", "referrers", "domain", referrers, true);
    compare("/referrer-mappings", "mappings", "referrer_pattern", mappings, false);
    auto report = c.call(
        "GET", "/" + std::to_string(brand) + "/ai-referrals/report?from=2026-01-01&to=2026-01-01");
    if (report.status != 200) throw std::runtime_error("report: " + report.body);
    auto rd = parse(report.body);
    std::int64_t pv = rd["data"]["totals"]["pageviews"].IsNull()
                          ? 0
                          : rd["data"]["totals"]["pageviews"].GetInt64();
    if (pv < pageviews_acked || pv > pageviews_acked + pageviews_doubt) {
      throw std::runtime_error("brand " + std::to_string(brand) + ": " + std::to_string(pv) +
                               " pageviews, " + std::to_string(pageviews_acked) + " acknowledged");
    }
    pageviews_acked = pv;
    pageviews_doubt = 0;
    // A batch acknowledged before the crash replays its answer and counts once.
    if (last_batch) {
      auto again = c.call(
          "POST",
          "/" + std::to_string(brand) + "/ai-referrals/connections/" + connection + "/events",
          last_batch->first);
      if (again.status != 200 || again.body != last_batch->second) {
        throw std::runtime_error("a replayed batch_id answered " + again.body);
      }
      auto after = parse(c.call("GET", "/" + std::to_string(brand) +
                                           "/ai-referrals/report?from=2026-01-01&to=2026-01-01")
                             .body);
      if (after["data"]["totals"]["pageviews"].GetInt64() != pv) {
        throw std::runtime_error("a replayed batch_id was counted twice");
      }
    }
    std::uint64_t checked = acknowledged;
    acknowledged = 0;
    return checked;
  }
};

int run_ctl(const std::string& ctl, const std::string& data, std::string& out) {
  std::string cmd = ctl + " --data " + data + " verify 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string binary = "build/referrald", ctl = "build/referralctl";
  int cycles = 10, writers = 4;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    if (a == "--server")
      binary = argv[i + 1];
    else if (a == "--ctl")
      ctl = argv[i + 1];
    else if (a == "--cycles")
      cycles = std::stoi(argv[i + 1]);
    else if (a == "--writers")
      writers = std::stoi(argv[i + 1]);
    else if (a == "--seed")
      seed = std::stoull(argv[i + 1]);
    else {
      std::fprintf(
          stderr,
          "usage: bench_torture --server PATH --ctl PATH --cycles N [--writers N] [--seed S]\n");
      return 2;
    }
  }
  char templ[] = "/tmp/referrald-torture-XXXXXX";
  if (mkdtemp(templ) == nullptr) return 1;
  std::string data = std::string(templ) + "/data";
  std::mt19937_64 rng(seed);
  std::vector<writer> ws(static_cast<std::size_t>(writers));
  for (int i = 0; i < writers; ++i) {
    ws[static_cast<std::size_t>(i)].index = i;
    ws[static_cast<std::size_t>(i)].account = "t" + std::to_string(i);
    ws[static_cast<std::size_t>(i)].brand = 100 + i;
    ws[static_cast<std::size_t>(i)].rng.seed(seed * 1000 + static_cast<std::uint64_t>(i));
  }
  std::uint64_t checked = 0;
  int status = 0;
  auto began = std::chrono::steady_clock::now();
  try {
    for (int cycle = 1; cycle <= cycles; ++cycle) {
      server s(binary, data);
      if (cycle > 1) {
        for (auto& w : ws)
          checked += w.check(s.port());
        std::string out;
        if (int rc = run_ctl(ctl, data, out); rc != 0) {
          throw std::runtime_error("referralctl verify failed (" + std::to_string(rc) +
                                   "): " + out);
        }
      }
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      std::vector<std::exception_ptr> errors(ws.size());
      for (std::size_t i = 0; i < ws.size(); ++i) {
        threads.emplace_back([&, i] {
          try {
            ws[i].run(s.port(), stop);
          } catch (...) {
            errors[i] = std::current_exception();
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 500));
      s.kill_now();
      stop = true;
      for (auto& t : threads)
        t.join();
      for (auto& e : errors) {
        if (e) std::rethrow_exception(e);
      }
      std::printf("cycle %d: killed; %llu acknowledged writes checked so far\n", cycle,
                  static_cast<unsigned long long>(checked));
      std::fflush(stdout);
    }
    server s(binary, data);
    for (auto& w : ws)
      checked += w.check(s.port());
    std::string out;
    if (int rc = run_ctl(ctl, data, out); rc != 0) {
      throw std::runtime_error("referralctl verify failed: " + out);
    }
    std::printf("torture: %d kill -9 cycles, %llu acknowledged writes checked, nothing lost; %s",
                cycles, static_cast<unsigned long long>(checked), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torture FAILED: %s (data kept in %s)\n", e.what(), templ);
    status = 1;
  }
  std::printf("torture took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  if (status == 0) std::filesystem::remove_all(templ);
  return status;
}
