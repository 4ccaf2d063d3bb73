#include "http/authentication.hpp"

#include <array>
#include <cstdint>

#include "domain/base/clock.hpp"
#include "domain/base/text.hpp"
#include "http/framing.hpp"
#include "http/steps.hpp"

namespace referrald::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Standard base64 (RFC 4648 section 4), padding optional; nullopt for anything else.
std::optional<std::string> decode_base64(std::string_view in) {
  static const std::array<std::int8_t, 256> value = [] {
    std::array<std::int8_t, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      v[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return v;
  }();
  std::size_t pad = 0;
  while (pad < 2 && in.size() > pad && in[in.size() - 1 - pad] == '=')
    ++pad;
  if (pad > 0 && in.size() % 4 != 0) return std::nullopt;
  in.remove_suffix(pad);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v = value[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // The bits left over must be zero (a canonical encoding).
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

credentials read_credentials(std::string_view header) {
  credentials c;
  header = trim(header);
  if (header.empty()) return c;
  auto space = header.find(' ');
  std::string_view scheme = header.substr(0, space);
  std::string_view value = space == std::string_view::npos ? "" : trim(header.substr(space + 1));
  if (iequals(scheme, "bearer")) {
    c.how = credentials::scheme::bearer;
    c.secret = value;
    if (c.secret.empty()) c.problem = "the Authorization: Bearer header names no API key";
    return c;
  }
  if (iequals(scheme, "basic")) {
    c.how = credentials::scheme::basic;
    auto decoded = decode_base64(value);
    auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos) {
      c.problem = "the Authorization: Basic credentials are not base64 of user:password";
      return c;
    }
    std::string_view user(decoded->data(), colon);
    std::string_view password(decoded->data() + colon + 1, decoded->size() - colon - 1);
    c.secret = password.empty() ? user : password;
    if (c.secret.empty()) {
      c.problem = "the Authorization: Basic credentials name no API key (give it as the password)";
    }
    return c;
  }
  // What the client sent is never quoted: "Authorization: rk_..." holds a secret where the
  // scheme belongs. A scheme of IANA's registry is named, from this list.
  static constexpr std::string_view known[] = {
      "Digest",      "Negotiate",     "NTLM",  "HOBA",         "Mutual",           "OAuth",
      "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid", "PrivateToken", "AWS4-HMAC-SHA256", "DPoP",
      "Concealed"};
  c.how = credentials::scheme::other;
  std::string_view named;
  for (auto k : known)
    if (space != std::string_view::npos && iequals(scheme, k)) named = k;
  c.problem = space == std::string_view::npos ? "the Authorization header names no scheme"
              : !named.empty()                ? "the Authorization scheme " + std::string(named) +
                                     " is not one this server takes"
                               : "the Authorization header's scheme is not one this server "
                                 "takes";
  c.problem += ": send Authorization: Bearer <API key> (or Basic)";
  return c;
}

void add_challenge(response& r, std::string_view sec_fetch_mode) {
  if (!sec_fetch_mode.empty() && sec_fetch_mode != "navigate") {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"referrald\"");
  } else {
    r.headers.emplace_back(
        "WWW-Authenticate",
        "Bearer realm=\"referrald\", Basic realm=\"referrald\", charset=\"UTF-8\"");
  }
}

std::optional<response> authenticate(exchange& ex, actors::runtime& runtime,
                                     const domain::clock& clock) {
  const route& r = *ex.match.entry;
  if (!r.access) return std::nullopt;
  auto refuse = [&](std::string message) {
    ex.key = nullptr;
    response out = failure(domain::make_error(domain::errc::unauthorized, std::move(message)));
    add_challenge(out, ex.field("Sec-Fetch-Mode"));
    return out;
  };
  ex.keys = runtime.keys();
  credentials presented = read_credentials(ex.field(boost::beast::http::field::authorization));
  if (presented.how == credentials::scheme::none) {
    return refuse(
        "this endpoint needs an API key: an Authorization: Bearer <API key> header (or Basic "
        "with the key as the password)");
  }
  if (!presented.problem.empty()) return refuse(std::move(presented.problem));
  auto found = ex.keys->find_by_secret(presented.secret);
  ex.key = found.key;
  ex.key_use = found.use;
  if (ex.key == nullptr) return refuse("the API key is not valid");
  auto now = clock.now_ms();
  if (ex.key->expired(now)) {
    // Recorded in the keys audit stream, at most once a minute per key.
    if (ex.keys->refusal_due(ex.key->id, now)) {
      runtime.tell(actors::key_seen{ex.key->id, now, true});
    }
    return refuse("API key " + std::to_string(ex.key->id) + " expired at " +
                  domain::format_rfc3339(*ex.key->expires_at));
  }
  if (found.previous && (!ex.key->previous_expires_at || *ex.key->previous_expires_at <= now)) {
    return refuse("this secret of API key " + std::to_string(ex.key->id) +
                  " was replaced by a rotation; it stopped working at " +
                  domain::format_rfc3339(ex.key->previous_expires_at.value_or(0)));
  }
  if (ex.keys->use_due(ex.key->id, now)) runtime.tell(actors::key_seen{ex.key->id, now, false});
  // What a publishable key may do is the publishable step's (http/publishable.hpp).
  if (ex.key->role == domain::role::publishable) return std::nullopt;
  if (!domain::role_allows(ex.key->role, *r.access)) {
    static constexpr const char* need[] = {"", "read", "write", "admin"};
    return failure(domain::make_error(
        domain::errc::forbidden,
        "this API key's role (" + std::string(domain::to_string(ex.key->role)) +
            ") does not allow " + need[static_cast<int>(*r.access)] + " access"));
  }
  return std::nullopt;
}

namespace {

// The key and its role; a refusal waits for the rate-limit step, which charges it first.
class authentication_step final : public step {
 public:
  explicit authentication_step(const chain_parts& parts)
      : runtime_(parts.runtime), clock_(parts.clock) {}
  std::string_view name() const override { return "authentication"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (ex.routed()) ex.refusal = authenticate(ex, runtime_, clock_);
    return verdict::next();
  }

 private:
  actors::runtime& runtime_;
  const domain::clock& clock_;
};

}  // namespace

std::unique_ptr<step> make_authentication_step(const chain_parts& parts) {
  return std::make_unique<authentication_step>(parts);
}

}  // namespace referrald::http
