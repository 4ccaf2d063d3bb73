// referralctl — the operator and auditor CLI, working directly on a data directory.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "domain/api_key.hpp"
#include "domain/ids.hpp"
#include "domain/text.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"
#include "store/key_store.hpp"

using namespace referrald;

namespace {

constexpr const char* k_usage = R"(usage: referralctl [--data DIR] COMMAND [options]

Works on a referrald data directory (default ./data, or REFERRALD_DATA). Read-only
commands also work while the server runs.

Commands:
  events --account ID        print the account's events as JSON lines, oldest first
  keys list                  print every API key (revoked ones too) as JSON lines
  keys create --name NAME --role viewer|editor|admin [--accounts a,b|*] [--brands 1,2|*]
                             create a key while the server is stopped; prints its secret
  keys revoke ID             revoke a key while the server is stopped

Run 'referralctl COMMAND --help' for a command's options.
)";

constexpr const char* k_events_usage = R"(usage: referralctl [--data DIR] events --account ID

Prints every event of the account as one JSON object per line, in sequence order:
seq, timestamp, type, key_id, entity_id, object (the entity after the change), changed
(fields changed by an update), prev_hash and hash.
)";

constexpr const char* k_keys_usage = R"(usage: referralctl [--data DIR] keys list
       referralctl [--data DIR] keys create --name NAME --role ROLE [--accounts LIST]
                                            [--brands LIST]
       referralctl [--data DIR] keys revoke ID

list    prints every key, revoked ones included (with revoked_at), never secrets.
create  makes a key and prints it with its secret, which is shown only this once.
        ROLE is viewer, editor or admin; LIST is comma-separated ids or * for all.
revoke  stops a key from working.
create and revoke need the server to be stopped (they write to the store); with the
server running, use the /api-keys API.
)";

struct args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool help = false;
};

// Exit 2: the command line is wrong.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "referralctl: %s\n", message.c_str());
  return 2;
}

// Exit 1: the command could not be carried out.
int failed(const std::string& message) {
  std::fprintf(stderr, "referralctl: %s\n", message.c_str());
  return 1;
}

args parse_args(int argc, char** argv, int from) {
  args a;
  for (int i = from; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
    } else if (s.starts_with("--")) {
      s.remove_prefix(2);
      if (auto eq = s.find('='); eq != std::string_view::npos) {
        a.options[std::string(s.substr(0, eq))] = std::string(s.substr(eq + 1));
      } else if (i + 1 < argc) {
        a.options[std::string(s)] = argv[++i];
      } else {
        a.options[std::string(s)] = "";
      }
    } else {
      a.positional.emplace_back(s);
    }
  }
  return a;
}

std::unique_ptr<store::db> open_store(const std::string& dir, bool read_only) {
  auto d = store::db::open({dir, read_only});
  if (!d) {
    std::string msg = d.err().message;
    if (!read_only && msg.find("lock") != std::string::npos) {
      msg += " (is the server running? stop it first, or use the HTTP API)";
    }
    std::fprintf(stderr, "referralctl: cannot open data directory '%s': %s\n", dir.c_str(),
                 msg.c_str());
    return nullptr;
  }
  return std::move(*d);
}

int cmd_events(const std::string& dir, const args& a) {
  if (a.help) {
    std::fputs(k_events_usage, stdout);
    return 0;
  }
  auto it = a.options.find("account");
  if (it == a.options.end() || !domain::is_valid_account_id(it->second)) {
    return usage_error("events needs --account ID (a valid account id)");
  }
  auto db = open_store(dir, true);
  if (!db) return 1;
  store::event_log log(*db);
  auto st = log.replay(it->second, 1, [&](const domain::event& e) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    domain::write_json(w, it->second, e);
    std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
    std::fputc('\n', stdout);
    return true;
  });
  if (!st) {
    std::fprintf(stderr, "referralctl: %s\n", st.err().message.c_str());
    return 1;
  }
  return 0;
}

bool parse_list(const std::string& text, domain::grants& g, bool accounts) {
  if (text == "*") {
    (accounts ? g.all_accounts : g.all_brands) = true;
    return true;
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (accounts) {
      if (!domain::is_valid_account_id(item)) return false;
      g.accounts.emplace_back(item);
    } else {
      auto b = domain::parse_brand_id(item);
      if (!b) return false;
      g.brands.push_back(*b);
    }
  }
  return true;
}

void print_key(const domain::api_key& k, std::string_view secret = {}) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  domain::write_json(w, k, secret);
  std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
  std::fputc('\n', stdout);
}

int cmd_keys(const std::string& dir, const args& a) {
  if (a.help || a.positional.size() < 2) {
    std::fputs(k_keys_usage, a.help ? stdout : stderr);
    return a.help ? 0 : 2;
  }
  const std::string& sub = a.positional[1];
  if (sub == "list") {
    auto db = open_store(dir, true);
    if (!db) return 1;
    auto keys = store::key_store(*db).load_all();
    if (!keys) return failed(keys.err().message);
    for (const auto& k : *keys)
      print_key(k);
    return 0;
  }
  if (sub == "create") {
    domain::api_key_request req;
    auto name = a.options.find("name");
    auto role = a.options.find("role");
    std::string_view trimmed =
        name == a.options.end() ? std::string_view() : domain::trim(name->second);
    if (trimmed.empty() || !domain::is_valid_utf8(trimmed) || domain::utf8_length(trimmed) > 100) {
      return usage_error("keys create needs --name NAME (1-100 characters)");
    }
    if (role == a.options.end() || !domain::role_from_string(role->second)) {
      return usage_error("keys create needs --role viewer|editor|admin");
    }
    req.name = std::string(trimmed);
    req.role = *domain::role_from_string(role->second);
    if (auto acc = a.options.find("accounts");
        acc != a.options.end() && !parse_list(acc->second, req.grants, true)) {
      return usage_error("--accounts must be * or comma-separated account ids");
    }
    if (auto br = a.options.find("brands");
        br != a.options.end() && !parse_list(br->second, req.grants, false)) {
      return usage_error("--brands must be * or comma-separated positive integers");
    }
    req.grants.normalize();
    if (req.grants.empty()) return usage_error("keys create needs --accounts or --brands");
    auto db = open_store(dir, false);
    if (!db) return 1;
    std::string secret = domain::generate_secret();
    auto k = store::create_key_offline(*db, req, secret);
    if (!k) return failed(k.err().message);
    print_key(*k, secret);
    return 0;
  }
  if (sub == "revoke") {
    if (a.positional.size() != 3) return usage_error("keys revoke needs the key id");
    auto id = domain::parse_entity_id(a.positional[2]);
    if (!id) return usage_error("'" + a.positional[2] + "' is not a key id");
    auto db = open_store(dir, false);
    if (!db) return 1;
    store::key_store ks(*db);
    auto keys = ks.load_all();
    if (!keys) return failed(keys.err().message);
    for (auto& k : *keys) {
      if (k.id != *id) continue;
      if (!k.active()) return usage_error("key " + a.positional[2] + " is already revoked");
      k.revoked_at = domain::now_ms();
      store::write_batch b;
      ks.put(b, k);
      if (auto st = db->write(b, true); !st) return failed(st.err().message);
      print_key(k);
      return 0;
    }
    std::fprintf(stderr, "referralctl: no key with id %s\n", a.positional[2].c_str());
    return 1;
  }
  return usage_error("unknown keys command '" + sub + "' (list, create, revoke)");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "./data";
  if (const char* env = std::getenv("REFERRALD_DATA"); env != nullptr && *env != '\0') dir = env;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "--data") {
      if (i + 1 >= argc) return usage_error("--data needs a directory");
      dir = argv[++i];
    } else if (s.starts_with("--data=")) {
      dir = std::string(s.substr(7));
    } else if (s == "--help" || s == "-h") {
      std::fputs(k_usage, stdout);
      return 0;
    } else {
      break;
    }
  }
  if (i >= argc) {
    std::fputs(k_usage, stderr);
    return 2;
  }
  args a = parse_args(argc, argv, i);
  const std::string& cmd = a.positional.empty() ? std::string() : a.positional[0];
  if (cmd == "events") return cmd_events(dir, a);
  if (cmd == "keys") return cmd_keys(dir, a);
  return usage_error("unknown command '" + cmd + "' (see --help)");
}
