#include "snapshots/backup.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "infra/metrics.hpp"
#include "store/event_log.hpp"

namespace referrald::snapshots {

namespace fs = std::filesystem;

namespace {

// "20261122T044543.833Z": RFC 3339 in its basic form, safe in file names.
std::string backup_name(domain::unix_ms t) {
  std::string out;
  for (char ch : domain::format_rfc3339(t)) {
    if (ch != '-' && ch != ':') out.push_back(ch);
  }
  return out;
}

std::uint64_t tree_size(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (entry.is_regular_file(ec2)) total += entry.file_size(ec2);
  }
  return total;
}

domain::error io_error(const std::string& what, const std::error_code& ec) {
  return domain::make_error(domain::errc::internal, what + ": " + ec.message());
}

std::string manifest_json(const backup_info& b) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  write_json(w, b);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

domain::result<backup_info> read_manifest(const fs::path& dir) {
  std::ifstream in(dir / backup_manifest_name);
  if (!in) return domain::make_error(domain::errc::not_found, "no manifest");
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  rapidjson::Document doc;
  doc.Parse(s.data(), s.size());
  auto bad = [&] {
    return domain::make_error(domain::errc::internal,
                              "unreadable manifest in '" + dir.string() + "'");
  };
  if (doc.HasParseError() || !doc.IsObject()) return bad();
  backup_info b;
  b.name = dir.filename().string();
  b.path = dir.string();
  if (!doc.HasMember("created_at") || !doc["created_at"].IsString() ||
      !doc.HasMember("size_bytes") || !doc["size_bytes"].IsUint64() || !doc.HasMember("accounts") ||
      !doc["accounts"].IsObject()) {
    return bad();
  }
  auto created = domain::parse_rfc3339(doc["created_at"].GetString());
  if (!created) return bad();
  b.created_at = *created;
  b.size_bytes = doc["size_bytes"].GetUint64();
  for (const auto& m : doc["accounts"].GetObject()) {
    if (!m.value.IsUint64()) return bad();
    b.heads.emplace_back(m.name.GetString(), m.value.GetUint64());
  }
  return b;
}

std::mutex backup_mutex;

}  // namespace

std::string backups_dir(const std::string& data_dir) {
  return (fs::path(data_dir) / "snapshots").string();
}

domain::result<backup_info> create_backup(const store::db& live, domain::unix_ms now) {
  std::lock_guard lock(backup_mutex);
  fs::path dir = fs::weakly_canonical(fs::absolute(backups_dir(live.path())));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create '" + dir.string() + "'", ec);

  backup_info b;
  b.created_at = now;
  b.name = backup_name(b.created_at);
  for (int n = 2; fs::exists(dir / b.name, ec); ++n)
    b.name = backup_name(b.created_at) + "-" + std::to_string(n);
  fs::path partial = dir / (".partial-" + b.name);
  fs::remove_all(partial, ec);
  if (auto st = live.checkpoint(partial.string()); !st) return std::move(st).err();

  // Record what the copy holds, read from the copy itself.
  {
    auto copy = store::db::open({partial.string(), true});
    if (!copy) {
      fs::remove_all(partial, ec);
      return std::move(copy).err();
    }
    store::event_log log(**copy);
    domain::status failure;
    auto st = log.for_each_account([&](const std::string& account) {
      auto head = log.head(account);
      if (!head) {
        failure = std::move(head).err();
        return false;
      }
      b.heads.emplace_back(account, *head);
      return true;
    });
    if (!st || !failure) {
      fs::remove_all(partial, ec);
      return !st ? std::move(st).err() : std::move(failure).err();
    }
  }
  b.path = (dir / b.name).string();
  b.size_bytes = tree_size(partial);
  {
    std::ofstream out(partial / backup_manifest_name, std::ios::trunc);
    out << manifest_json(b);
    out.flush();
    if (!out) {
      fs::remove_all(partial, ec);
      return domain::make_error(domain::errc::internal, "cannot write the backup manifest");
    }
  }
  fs::rename(partial, dir / b.name, ec);
  if (ec) {
    fs::remove_all(partial, ec);
    return io_error("cannot name the backup", ec);
  }
  infra::metrics().backups_created.fetch_add(1, std::memory_order_relaxed);
  return b;
}

domain::result<std::vector<backup_info>> list_backups(const std::string& dir) {
  std::vector<backup_info> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  fs::path abs = fs::absolute(dir);
  for (const auto& entry : fs::directory_iterator(abs, ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory()) continue;
    auto b = read_manifest(entry.path());
    if (b) out.push_back(std::move(*b));
  }
  if (ec) return io_error("cannot list '" + dir + "'", ec);
  std::sort(out.begin(), out.end(), [](const backup_info& a, const backup_info& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.name < b.name;
  });
  return out;
}

void write_json(domain::json_writer& w, const backup_info& b, std::string_view kind) {
  w.StartObject();
  if (!kind.empty()) {
    w.Key("kind");
    domain::write_string(w, kind);
  }
  w.Key("name");
  domain::write_string(w, b.name);
  w.Key("path");
  domain::write_string(w, b.path);
  w.Key("created_at");
  domain::write_string(w, domain::format_rfc3339(b.created_at));
  w.Key("size_bytes");
  w.Uint64(b.size_bytes);
  w.Key("accounts");
  w.StartObject();
  for (const auto& [account, head] : b.heads) {
    domain::write_key(w, account);
    w.Uint64(head);
  }
  w.EndObject();
  w.EndObject();
}

}  // namespace referrald::snapshots
