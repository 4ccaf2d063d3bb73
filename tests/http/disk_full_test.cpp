// A full disk, for real: the server runs on a small tmpfs (mounted in a private mount
// namespace of this test process, which its server children share) that the test fills
// and frees. Writes must answer 507 with Retry-After and no file paths, reads and
// resolutions must go on, the store must resume by itself when space is back, a stop and
// a restart on the full disk must work, and nothing acknowledged may be lost.

#define BOOST_TEST_MODULE disk_tests
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"

using namespace referrald::testing;

namespace {

std::string g_mount;  // the tmpfs, private to this process and its children

void write_file(const char* path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A private mount namespace with a 128 MiB tmpfs. As root this needs nothing else; as
// another user it needs an unprivileged user namespace, where this process is root.
struct tmpfs_namespace {
  tmpfs_namespace() {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWNS) != 0) {
      if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        throw std::runtime_error(std::string("cannot create a mount namespace: ") +
                                 std::strerror(errno));
      }
      write_file("/proc/self/setgroups", "deny");
      write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
      write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      throw std::runtime_error(std::string("cannot make mounts private: ") + std::strerror(errno));
    }
    char templ[] = "/tmp/referrald-disk-XXXXXX";
    if (mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    g_mount = templ;
    if (mount("tmpfs", g_mount.c_str(), "tmpfs", 0, "size=128m") != 0) {
      throw std::runtime_error(std::string("cannot mount a tmpfs: ") + std::strerror(errno));
    }
  }
  ~tmpfs_namespace() {
    umount2(g_mount.c_str(), MNT_DETACH);
    rmdir(g_mount.c_str());
  }
};

BOOST_TEST_GLOBAL_FIXTURE(tmpfs_namespace);

std::uint64_t free_bytes() {
  struct statvfs v {};
  BOOST_REQUIRE(statvfs(g_mount.c_str(), &v) == 0);
  return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
}

// Takes space with a file until `leave` bytes are free.
void fill_leaving(std::uint64_t leave) {
  std::string path = g_mount + "/filler";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  BOOST_REQUIRE(fd >= 0);
  struct stat st {};
  fstat(fd, &st);
  std::uint64_t free = free_bytes();
  if (free > leave) {
    BOOST_REQUIRE(posix_fallocate(fd, 0, static_cast<off_t>(st.st_size + (free - leave))) == 0);
  }
  close(fd);
}

void free_space() { std::filesystem::remove(g_mount + "/filler"); }

std::string rule(int i) {
  return R"({"domain":"d)" + std::to_string(i) + R"(.example.com","utm_source":"s"})";
}

std::string visit() {
  return R"({"referrer":"https://www.d1.example.com/x","landing_url":"https://shop.example/"})";
}

std::unique_ptr<server_process> start_server(const std::string& data) {
  return std::make_unique<server_process>(
      server_process::options{data, {"--min-free-disk", "24M", "--log-level", "info"}, {}, true});
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself) {
  std::string data = g_mount + "/data";
  auto server = start_server(data);
  http_client c(server->port(), admin_secret);
  int acknowledged = 0;
  for (int i = 1; i <= 5; ++i) {
    BOOST_REQUIRE(c.post("/passthrough-referrers?account_id=acme", rule(i)).status == 201u);
    ++acknowledged;
  }
  auto conn = c.post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})");
  BOOST_REQUIRE(conn.status == 201u);
  std::string conn_id = conn.json()["data"]["id"].GetString();

  fill_leaving(8u << 20);
  auto refused = c.post("/passthrough-referrers?account_id=acme", rule(100));
  BOOST_TEST(refused.status == 507u, refused.body);
  BOOST_TEST(refused.header("retry-after") == "30");
  BOOST_TEST(refused.body.find("\"code\":\"insufficient_storage\"") != std::string::npos);
  BOOST_TEST(refused.body.find(g_mount) == std::string::npos, refused.body);
  BOOST_TEST(refused.body.find('/') == std::string::npos, refused.body);
  auto push = c.post("/42/ai-referrals/connections/" + conn_id + "/events",
                     R"([{"date":"2026-11-20","raw_referrer_value":"chatgpt.com",)"
                     R"("raw_page_value":"/a","pageviews":1}])");
  BOOST_TEST(push.status == 507u, push.body);
  BOOST_TEST(
      c.post("/api-keys", R"({"name":"k","role":"viewer","accounts":["*"],"brands":[]})").status ==
      507u);
  // Reads and resolutions go on.
  auto listed = c.get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(listed.status == 200u);
  BOOST_TEST(listed.json()["data"]["total"].GetInt() == 5);
  auto resolved = c.post("/attribution/resolve?account_id=acme", visit());
  BOOST_TEST(resolved.status == 200u, resolved.body);
  BOOST_TEST(resolved.json()["data"]["reason"].GetString() == std::string("passthrough_fallback"));
  auto other = c.get("/referrer-mappings?account_id=beta");  // an account loaded now
  BOOST_TEST(other.status == 200u);
  http_client anon(server->port());
  BOOST_TEST(anon.get("/metrics").body.find("referrald_store_writable 0") != std::string::npos);

  // Space is back: writes resume without a restart, and the account's chain has no gap.
  free_space();
  auto resumed = c.post("/passthrough-referrers?account_id=acme", rule(6));
  BOOST_TEST(resumed.status == 201u, resumed.body);
  if (resumed.status == 201u) ++acknowledged;
  BOOST_TEST(resumed.json()["data"]["id"].GetInt() == 6);
  BOOST_TEST(anon.get("/metrics").body.find("referrald_store_writable 1") != std::string::npos);

  // A stop on a full disk is clean.
  fill_leaving(8u << 20);
  BOOST_TEST(c.post("/passthrough-referrers?account_id=acme", rule(101)).status == 507u);
  int status = server->stop(SIGTERM);
  BOOST_TEST(WIFEXITED(status), server->stderr_text());
  BOOST_TEST(WEXITSTATUS(status) == 0, server->stderr_text());

  // A start on a full disk serves reads and refuses writes...
  fill_leaving(8u << 20);  // the stop released the log's preallocated space
  server = start_server(data);
  http_client c2(server->port(), admin_secret);
  auto after = c2.get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(after.status == 200u, after.body);
  BOOST_TEST(after.json()["data"]["total"].GetInt() == acknowledged);
  BOOST_TEST(c2.post("/attribution/resolve?account_id=acme", visit()).status == 200u);
  BOOST_TEST(c2.post("/passthrough-referrers?account_id=acme", rule(102)).status == 507u);
  BOOST_TEST(server->stderr_text().find("open for reading only") != std::string::npos);
  // ...and reopens for writing by itself once space is back.
  free_space();
  auto reopened = c2.post("/passthrough-referrers?account_id=acme", rule(7));
  BOOST_TEST(reopened.status == 201u, reopened.body);
  BOOST_TEST(reopened.json()["data"]["id"].GetInt() == 7);
  status = server->stop(SIGTERM);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);

  // Everything acknowledged is there, nothing refused is, and the chain verifies.
  std::string out;
  FILE* p = popen((std::string(REFERRALCTL_BINARY) + " --data " + data + " verify").c_str(), "r");
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  BOOST_TEST(pclose(p) == 0, out);
  BOOST_TEST(out.find("ok: ") == 0u, out);
  server = start_server(data);
  http_client c3(server->port(), admin_secret);
  auto final_list = c3.get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(final_list.json()["data"]["total"].GetInt() == acknowledged + 1);
  auto final_doc = final_list.json();
  for (const auto& r : final_doc["data"]["referrers"].GetArray()) {
    std::string domain = r["domain"].GetString();
    BOOST_TEST(domain.find("d10") != 0u, domain);  // d100, d101, d102 were refused
  }
}
