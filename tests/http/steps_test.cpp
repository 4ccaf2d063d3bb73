// The steps of a request's handling (http/chain.hpp), each on its own, without a server:
// what each one decides from the request it is given.

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/test/unit_test.hpp>

#include "http/authentication.hpp"
#include "http/cors.hpp"
#include "http/entity_tag.hpp"
#include "http/error_table.hpp"
#include "http/forwarding.hpp"
#include "http/framing.hpp"
#include "http/idempotency.hpp"
#include "http/rate_limit.hpp"
#include "http/request_id.hpp"
#include "http/router.hpp"
#include "tests/support/http_client.hpp"

using namespace referrald;
using namespace referrald::http;

namespace {

std::optional<response> no_handler(request_ctx&) { return std::nullopt; }

// An exchange whose head is `head` (the request line and fields, without the blank line)
// and whose body is `body`, routed to `r`.
void exchange_of(exchange& ex, const std::string& head, const route* r, std::string body = {}) {
  ex.parser.emplace();
  ex.parser->header_limit(k_header_limit);
  auto bad = read_request_head(*ex.parser, head + "\r\n\r\n");
  BOOST_REQUIRE(!bad);
  ex.parser->get().body() = std::move(body);
  ex.target = origin_form({ex.head().target().data(), ex.head().target().size()});
  ex.path = std::string_view(ex.target).substr(0, ex.target.find('?'));
  if (r != nullptr) {
    ex.match.kind = router::match::found;
    ex.match.entry = r;
  }
}

std::string header_of(const response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers)
    if (iequals(n, name)) return v;
  return "";
}

std::string basic(std::string_view user_password) {
  return testing::basic_authorization(user_password);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(steps)

BOOST_AUTO_TEST_CASE(bearer_and_basic_present_the_same_secret) {
  auto bearer = read_credentials("Bearer rk_abc");
  BOOST_TEST((bearer.how == credentials::scheme::bearer));
  BOOST_TEST(bearer.secret == "rk_abc");
  BOOST_TEST(bearer.problem.empty());
  BOOST_TEST(read_credentials("  bearer   rk_abc  ").secret == "rk_abc");

  // curl -u :rk_abc, -u anyone:rk_abc and -u rk_abc: (Stripe's habit) all mean the key.
  for (const char* given : {":rk_abc", "pipeline:rk_abc", "rk_abc:"}) {
    auto c = read_credentials(basic(given));
    BOOST_TEST_CONTEXT(given) {
      BOOST_TEST((c.how == credentials::scheme::basic));
      BOOST_TEST(c.secret == "rk_abc");
      BOOST_TEST(c.problem.empty());
    }
  }
  // A colon inside the password belongs to the password (RFC 7617: the first one splits).
  BOOST_TEST(read_credentials(basic("u:rk_a:b")).secret == "rk_a:b");
  BOOST_TEST(read_credentials("basic " + basic(":rk_abc").substr(6)).secret == "rk_abc");
}

BOOST_AUTO_TEST_CASE(credentials_that_cannot_be_read_say_why) {
  BOOST_TEST((read_credentials("").how == credentials::scheme::none));
  BOOST_TEST(!read_credentials("Bearer").problem.empty());
  BOOST_TEST(!read_credentials("Bearer   ").problem.empty());
  // Not base64, base64 without a colon, a stray bit, nothing at all.
  for (std::string bad : std::vector<std::string>{
           "Basic !!!!", basic("no-colon"), "Basic QQ==", "Basic QR==", basic(":"), "Basic"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto c = read_credentials(bad);
      BOOST_TEST((c.how == credentials::scheme::basic));
      BOOST_TEST(!c.problem.empty());
    }
  }
  auto digest = read_credentials("Digest username=\"x\"");
  BOOST_TEST((digest.how == credentials::scheme::other));
  BOOST_TEST(digest.problem.find("Digest") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_401_challenges_with_both_schemes_but_not_a_page_script) {
  response plain;
  add_challenge(plain, "");
  auto both = header_of(plain, "WWW-Authenticate");
  BOOST_TEST(both.find("Bearer realm=\"referrald\"") == 0u);
  BOOST_TEST(both.find("Basic realm=\"referrald\"") != std::string::npos);
  response navigated;
  add_challenge(navigated, "navigate");
  BOOST_TEST(header_of(navigated, "WWW-Authenticate") == both);
  // fetch() from the console: a Basic challenge would open the browser's password prompt.
  response fetched;
  add_challenge(fetched, "cors");
  BOOST_TEST(header_of(fetched, "WWW-Authenticate") == "Bearer realm=\"referrald\"");
}

BOOST_AUTO_TEST_CASE(a_request_id_is_kept_only_when_sane_and_is_stamped_into_errors) {
  BOOST_TEST(sane_request_id("abc-123_x.y:z/+=@"));
  BOOST_TEST(!sane_request_id(""));
  BOOST_TEST(!sane_request_id(std::string(129, 'a')));
  BOOST_TEST(!sane_request_id("a b"));
  BOOST_TEST(!sane_request_id("a\"b"));
  auto a = new_request_id(), b = new_request_id();
  BOOST_TEST(a != b);
  BOOST_TEST(a.size() == 20u);
  BOOST_TEST(a.rfind("req_", 0) == 0u);

  response err = failure(domain::make_error(domain::errc::conflict, "taken"));
  stamp_request_id(err, "req_1");
  BOOST_TEST(header_of(err, "X-Request-Id") == "req_1");
  BOOST_TEST(err.body.ends_with(",\"request_id\":\"req_1\"}}"));
  response ok = success(200, R"({"id":1})");
  stamp_request_id(ok, "req_2");
  BOOST_TEST(ok.body == R"({"success":true,"data":{"id":1}})");
}

BOOST_AUTO_TEST_CASE(an_error_is_written_once_with_its_request_id_and_a_stored_one_reads_back) {
  // An error answer stays an error until the request id is known; then it is written once.
  auto e = domain::make_error(domain::errc::validation_failed, "bad \"name\"\n",
                              {{"name", "must not be empty"}, {"x.y", "\u00e9t\u00e9"}});
  response err = failure(e);
  BOOST_TEST(err.status == 400u);
  BOOST_TEST(err.body.empty());
  stamp_request_id(err, "req_1");
  BOOST_TEST(!err.error.has_value());
  BOOST_TEST(err.body == error_body(e, "req_1"));
  BOOST_TEST(err.body.ends_with(",\"request_id\":\"req_1\"}}"));
  // The bytes stored for an Idempotency-Key (written without an id) read back into the same
  // error, which a replay writes with its own id.
  auto stored = error_body(e);
  auto back = error_of_body(stored);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST((back->code == e.code));
  BOOST_TEST(back->message == e.message);
  BOOST_TEST(back->details.size() == 2u);
  BOOST_TEST(error_body(*back, "req_2") == error_body(e, "req_2"));
  // Kinds that share a slug write the same body.
  auto beaten = error_body(domain::make_error(domain::errc::beaten, "later"));
  BOOST_TEST(error_body(*error_of_body(beaten)) == beaten);
  // Anything this table did not write is not read as an error (it is replayed as it is).
  BOOST_TEST(
      !error_of_body(R"({"success":false,"error":{"code":"nope","message":"m","details":[]}})"));
  BOOST_TEST(!error_of_body(
      R"({"success":false,"error":{"message":"m","code":"conflict","details":[]}})"));
  BOOST_TEST(!error_of_body(R"({"success":true,"data":{}})"));
  BOOST_TEST(!error_of_body("not json"));
}

BOOST_AUTO_TEST_CASE(routing_refuses_unknown_paths_methods_and_query_parameters) {
  router table;
  table.add("/things/{id}", method::get, no_handler, {.query = "account_id"});
  auto missing = table.find(method::get, "/nothing");
  auto r404 = route_error(missing, method::get, "/nothing");
  BOOST_TEST(r404.status == 404u);
  auto wrong = table.find(method::post, "/things/1");
  BOOST_TEST((wrong.kind == router::match::method_not_allowed));
  auto r405 = route_error(wrong, method::post, "/things/1");
  BOOST_TEST(r405.status == 405u);
  BOOST_TEST(header_of(r405, "Allow").find("GET") != std::string::npos);

  auto found = table.find(method::get, "/things/1");
  BOOST_REQUIRE((found.kind == router::match::found));
  BOOST_TEST(!unknown_query(*found.entry, *query_params::parse("account_id=a")));
  auto extra = unknown_query(*found.entry, *query_params::parse("account_id=a&acount=b"));
  BOOST_REQUIRE(extra.has_value());
  BOOST_TEST(extra->status == 400u);
  BOOST_TEST(extra->error->details.at(0).message.find("it takes account_id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cors_answers_allowed_origins_only) {
  cors none({}), some({"https://app.example"});
  auto plain = none.options("GET, OPTIONS", "", false);
  BOOST_TEST(plain.status == 204u);
  BOOST_TEST(header_of(plain, "Access-Control-Allow-Origin").empty());
  auto refused = some.options("GET, OPTIONS", "https://evil.example", true);
  BOOST_TEST(refused.status == 403u);
  auto allowed = some.options("GET, OPTIONS", "https://app.example", true);
  BOOST_TEST(allowed.status == 204u);
  BOOST_TEST(header_of(allowed, "Access-Control-Allow-Origin") == "https://app.example");
  BOOST_TEST(header_of(allowed, "Access-Control-Allow-Headers").find("Authorization") !=
             std::string::npos);

  response r = success(200, "{}");
  some.decorate(r, "https://evil.example", false);
  BOOST_TEST(header_of(r, "Access-Control-Allow-Origin").empty());
  some.decorate(r, "https://app.example", false);
  BOOST_TEST(header_of(r, "Access-Control-Allow-Origin") == "https://app.example");
  BOOST_TEST(header_of(r, "Vary") == "Origin");
  response spec = success(200, "{}");
  none.decorate(spec, "https://anyone.example", true);
  BOOST_TEST(header_of(spec, "Access-Control-Allow-Origin") == "*");
}

BOOST_AUTO_TEST_CASE(an_entity_tag_is_the_objects_and_answers_304_to_a_get_only) {
  response a = success(200, R"({"id":1,"v":"x"})");
  tag_answer(a, method::get, "");
  auto tag = header_of(a, "ETag");
  BOOST_TEST(tag == domain::entity_tag(R"({"id":1,"v":"x"})"));
  response again = success(200, R"({"id":1,"v":"x"})");
  tag_answer(again, method::get, "W/" + tag);
  BOOST_TEST(again.status == 304u);
  BOOST_TEST(again.body.empty());
  response post = success(201, R"({"id":1,"v":"x"})");
  tag_answer(post, method::post, tag);
  BOOST_TEST(post.status == 201u);
  response refused = failure(domain::make_error(domain::errc::conflict, "no"));
  tag_answer(refused, method::get, "*");
  BOOST_TEST(header_of(refused, "ETag").empty());
}

std::string header_of_rate(const exchange& ex) {
  response answer;
  add_rate_headers(answer, ex);
  return header_of(answer, "RateLimit-Limit");
}

BOOST_AUTO_TEST_CASE(rate_limits_take_from_the_key_or_from_the_address) {
  route r;
  r.access = domain::access::read;
  exchange ex;
  exchange_of(ex, "GET /x HTTP/1.1\r\nHost: h", &r);
  rate_limiter limiter(1, 2);
  rate_limiter pages(1, 1);
  domain::api_key key;
  domain::key_table::usage use;
  ex.key = &key;
  ex.key_use = &use;
  BOOST_TEST(!take_token(ex, limiter, pages, false, "10.0.0.1"));
  BOOST_TEST(!take_token(ex, limiter, pages, false, "10.0.0.1"));
  auto limited = take_token(ex, limiter, pages, false, "10.0.0.1");
  BOOST_REQUIRE(limited.has_value());
  BOOST_TEST(limited->status == 429u);
  BOOST_TEST(header_of(*limited, "Retry-After") == "1");
  BOOST_TEST(limited->error->message.find("this API key") != std::string::npos);
  response answer;
  add_rate_headers(answer, ex);
  BOOST_TEST(header_of(answer, "RateLimit-Limit") == "2");
  BOOST_TEST(header_of(answer, "RateLimit-Remaining") == "0");

  // A refused key: its address pays, with a bucket of its own.
  exchange stranger;
  exchange_of(stranger, "GET /x HTTP/1.1\r\nHost: h", &r);
  BOOST_TEST(!take_token(stranger, limiter, pages, true, "10.0.0.2"));
  BOOST_TEST(!take_token(stranger, limiter, pages, true, "10.0.0.2"));
  auto refused = take_token(stranger, limiter, pages, true, "10.0.0.2");
  BOOST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->error->message.find("this address") != std::string::npos);
  // A route without authentication takes nothing.
  route open;
  exchange health;
  exchange_of(health, "GET /healthz HTTP/1.1\r\nHost: h", &open);
  BOOST_TEST(!take_token(health, limiter, pages, true, "10.0.0.2"));
  BOOST_TEST(!health.rate.has_value());

  // A publishable key: a bucket per client address, of the publishable limit.
  domain::api_key page_key;
  page_key.id = 7;
  page_key.role = domain::role::publishable;
  exchange visitor;
  exchange_of(visitor, "POST /x HTTP/1.1\r\nHost: h", &r);
  visitor.key = &page_key;
  visitor.page = true;     // the publishable step's
  visitor.key_use = &use;  // the key's own bucket, empty by now: not the one taken
  BOOST_TEST(!take_token(visitor, limiter, pages, false, "10.0.0.3"));
  BOOST_TEST(header_of_rate(visitor) == "1");
  auto busy = take_token(visitor, limiter, pages, false, "10.0.0.3");
  BOOST_REQUIRE(busy.has_value());
  BOOST_TEST(busy->status == 429u);
  BOOST_TEST(busy->error->message.find("publishable key") != std::string::npos);
  exchange neighbour;
  exchange_of(neighbour, "POST /x HTTP/1.1\r\nHost: h", &r);
  neighbour.key = &page_key;
  neighbour.page = true;
  BOOST_TEST(!take_token(neighbour, limiter, pages, false, "10.0.0.4"));
}

BOOST_AUTO_TEST_CASE(an_idempotency_key_is_claimed_by_request_and_fingerprinted_by_content) {
  route create;
  create.idempotent = true;
  domain::api_key key;
  key.id = 7;
  auto claim = [&](const std::string& fields, const std::string& body) {
    exchange ex;
    exchange_of(ex, "POST /things?account_id=a HTTP/1.1\r\nHost: h\r\n" + fields, &create, body);
    ex.key = &key;
    return claim_of(ex);
  };
  auto first = claim("Idempotency-Key: k1\r\nContent-Type: application/json", "{}");
  BOOST_TEST(!first.refused);
  BOOST_TEST(first.scope == "7.k1");
  BOOST_TEST(first.fingerprint.size() == 64u);
  BOOST_TEST(claim("Idempotency-Key: k1\r\nContent-Type: application/json", "{}").fingerprint ==
             first.fingerprint);
  BOOST_TEST(claim("Idempotency-Key: k1\r\nContent-Type: application/json", "{ }").fingerprint !=
             first.fingerprint);
  BOOST_TEST(claim("Content-Type: application/json", "{}").scope.empty());
  auto bad = claim("Idempotency-Key: " + std::string(256, 'k'), "{}");
  BOOST_REQUIRE(bad.refused.has_value());
  BOOST_TEST(bad.refused->status == 400u);

  using verdict = interfaces::retry_store::verdict;
  auto answer_of = [&](verdict v, const response& kept) {
    interfaces::retry_store::begun b;
    b.what = v;
    b.kept = sent_copy(kept);
    return claim_answer(b, first);
  };
  auto replayed = answer_of(verdict::replay, success(201, "{}"));
  BOOST_TEST(replayed.status == 201u);
  BOOST_TEST(replayed.enveloped);
  BOOST_TEST(header_of(replayed, "Idempotent-Replayed") == "true");
  // A kept error is replayed as an error, written with the replaying request's id.
  auto replayed_error = answer_of(
      verdict::replay, failure(domain::make_error(domain::errc::not_found, "no such rule")));
  BOOST_TEST(replayed_error.status == 404u);
  BOOST_REQUIRE(replayed_error.error.has_value());
  BOOST_TEST(replayed_error.error->message == "no such rule");
  BOOST_TEST(answer_of(verdict::mismatch, {}).status == 409u);
  auto busy = answer_of(verdict::in_progress, {});
  BOOST_TEST(busy.status == 409u);
  BOOST_TEST(header_of(busy, "Retry-After") == "1");
}

BOOST_AUTO_TEST_CASE(a_forwarded_request_and_answer_survive_their_encoding) {
  route write;
  exchange ex;
  exchange_of(ex,
              "POST /things?account_id=a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
              "X-Request-Id: theirs\r\nContent-Type: application/json\r\nContent-Length: 2",
              &write, "{}");
  auto bytes = encode_forwarded_request(ex, "req_ours");
  BOOST_TEST(bytes.starts_with("POST /things?account_id=a HTTP/1.1\r\n"));
  BOOST_TEST(bytes.find("Connection") == std::string::npos);
  BOOST_TEST(bytes.find("theirs") == std::string::npos);
  BOOST_TEST(bytes.find("X-Request-Id: req_ours\r\n") != std::string::npos);
  BOOST_TEST(bytes.ends_with("Content-Length: 2\r\n\r\n{}"));

  response sent = success(201, R"({"id":3})");
  sent.headers.emplace_back("Referrald-Seq", "12");
  auto back = decode_forwarded_answer(encode_forwarded_answer(sent));
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->forwarded);
  BOOST_TEST(back->status == 201u);
  BOOST_TEST(back->content_type == sent.content_type);
  BOOST_TEST(back->body == sent.body);
  BOOST_TEST(header_of(*back, "Referrald-Seq") == "12");
  for (std::string_view bad :
       {"", "HTTP/1.1 20", "HTTP/1.1 999 \r\n\r\n", "HTTP/1.1 200 \r\nX\r\n\r\n",
        "HTTP/1.0 200 \r\n\r\n", "HTTP/1.1 200 \r\nA: b"}) {
    BOOST_TEST(!decode_forwarded_answer(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(framing_writes_no_body_where_none_may_be_sent) {
  // The head written for `r` as the answer to `request`, with its Date field (checked to be
  // there, after Server) left out, so that a second's tick cannot change what is compared.
  auto head_of = [](const std::string& request, const response& r, bool keep) {
    exchange ex;
    exchange_of(ex, request, nullptr);
    std::string out;
    auto framed = write_head(out, r, ex.head(), keep);
    auto at = out.find("\r\nServer: referrald\r\nDate: ");
    BOOST_TEST(at != std::string::npos);
    if (at != std::string::npos) {
      auto from = at + std::string_view("\r\nServer: referrald\r\n").size();
      auto line_end = out.find("\r\n", from);
      BOOST_TEST(line_end - from == std::string_view("Date: Sun, 06 Nov 1994 08:49:37 GMT").size());
      out.erase(from, line_end + 2 - from);
    }
    return std::pair{out, framed};
  };
  response empty;
  empty.status = 204;
  empty.content_type.clear();
  auto [no_content, no_body] = head_of("GET /x HTTP/1.1\r\nHost: h", empty, true);
  BOOST_TEST(no_content == "HTTP/1.1 204 No Content\r\nServer: referrald\r\n\r\n");
  BOOST_TEST(!no_body.body);
  BOOST_TEST(no_body.keep);
  // HEAD: what GET would send ({"success":true,"data":{"a":1}}), without the body.
  auto [headed, headed_body] =
      head_of("HEAD /x HTTP/1.1\r\nHost: h", success(200, R"({"a":1})"), false);
  BOOST_TEST(headed ==
             "HTTP/1.1 200 OK\r\nServer: referrald\r\nContent-Type: "
             "application/json\r\nConnection: close\r\n"
             "Content-Length: 31\r\n\r\n");
  BOOST_TEST(!headed_body.body);
  BOOST_TEST(!headed_body.keep);
  // A name given twice keeps its last value; HTTP/1.0 is answered as such, kept open only
  // when asked to.
  response twice = success(200, "{}");
  twice.headers = {{"Retry-After", "1"}, {"ETag", "\"e\""}, {"retry-after", "30"}};
  auto [old, old_body] = head_of("GET /x HTTP/1.0", twice, true);
  BOOST_TEST(old ==
             "HTTP/1.0 200 OK\r\nServer: referrald\r\nContent-Type: application/json\r\nETag: "
             "\"e\"\r\nretry-after: "
             "30\r\nConnection: keep-alive\r\nContent-Length: 26\r\n\r\n");
  BOOST_TEST(old_body.body);
  response not_modified;
  not_modified.status = 304;
  not_modified.content_type.clear();
  BOOST_TEST(head_of("GET /x HTTP/1.1\r\nHost: h", not_modified, true).first ==
             "HTTP/1.1 304 Not Modified\r\nServer: referrald\r\n\r\n");
  // A streamed answer: chunked to HTTP/1.1; to HTTP/1.0, its end is the connection's.
  response streamed = success(200, "");
  streamed.streamed = true;
  auto [chunked, chunked_framing] = head_of("GET /x HTTP/1.1\r\nHost: h", streamed, true);
  BOOST_TEST(chunked.ends_with("Transfer-Encoding: chunked\r\n\r\n"));
  BOOST_TEST(chunked.find("Content-Length") == std::string::npos);
  BOOST_TEST((chunked_framing.chunked && chunked_framing.keep && chunked_framing.body));
  auto [closing, closing_framing] = head_of("GET /x HTTP/1.0", streamed, true);
  BOOST_TEST(closing.ends_with("Content-Type: application/json\r\n\r\n"));
  BOOST_TEST((!closing_framing.chunked && !closing_framing.keep && closing_framing.body));

  namespace bhttp = boost::beast::http;
  BOOST_TEST((classify_read_error(bhttp::error::body_limit) == read_failure::too_large));
  BOOST_TEST(
      (classify_read_error(bhttp::error::buffer_overflow) == read_failure::header_too_large));
  BOOST_TEST((classify_read_error(boost::asio::error::eof) == read_failure::gone));
  BOOST_TEST((classify_read_error(bhttp::error::bad_chunk) == read_failure::malformed));
  BOOST_TEST(too_large(10).status == 413u);
}

BOOST_AUTO_TEST_SUITE_END()
