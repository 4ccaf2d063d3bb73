// POST /attribution/resolve and /attribution/resolve-batch (docs/api-guide.md, "Attribution
// resolution").
//
// Resolution reads the account's published rule state: no actor round trip and no store
// I/O, so it never waits behind rule writes. One visit is resolved on the I/O thread (its
// regexes are bounded by the per-visit budget, domain/match/mapping_index.hpp); a batch goes to
// the compute pool, in slices, fairly between accounts. Only an account that is not
// loaded yet is first asked to load (await_loaded_req).

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "domain/attribution/resolver.hpp"
#include "domain/base/json_scan.hpp"
#include "http/compute_pool.hpp"
#include "http/error_table.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

constexpr std::size_t k_batch_max = 10000;

// Builds the complete response body (envelope included) for a state.
using resolve_fn = std::function<std::string(const domain::account_state&)>;

// A resolution with the explain array of its steps, appended to `out`; returns the regex
// steps it took.
std::uint64_t append_explained(std::string& out, const domain::account_state& s,
                               const domain::visit& v) {
  rapidjson::StringBuffer steps;
  domain::json_writer sw(steps);
  auto r = domain::resolve(s, v, &sw);
  domain::append_json(out, r, {steps.GetString(), steps.GetSize()});
  return r.regex_steps;
}

// The visit of `members` (one visit object's, as json_scan.hpp reports them) read without a
// document (domain/attribution/visit.hpp): true with the visit parse_visit would give;
// false for the parser to read the object, with the same answer or the error it names.
bool read_scanned_visit(std::span<const domain::json_member> members,
                        std::vector<domain::json_member>& session_scratch, domain::visit& out) {
  return domain::read_visit_members(members, false, session_scratch, out);
}

// Whether the account's settings have its live resolutions counted (docs/insights.md).
bool counts_insights(const domain::account_state& s) {
  return s.settings() == nullptr || s.settings()->insights;
}

// A success envelope written whole by the handler.
response ok_body(std::string body) {
  response r;
  r.body = std::move(body);
  r.enveloped = true;
  return r;
}

// Runs `fn` on the published state now, or once the account is loaded; with `as_of`, on
// the state as it stood then, folded from the store by the loader pool (and `fn` runs on the
// session's executor).
std::optional<response> with_state(request_ctx& c, const std::string& account,
                                   std::optional<domain::unix_ms> as_of, resolve_fn fn) {
  if (!as_of) {
    return with_view(c, account, [fn = std::move(fn)](const domain::account_state& s) {
      return ok_body(fn(s));
    });
  }
  c.runtime->tell(
      actors::state_as_of_req{account, *as_of,
                              std::make_shared<actors::state_reply>(
                                  [fn = std::move(fn), respond = c.respond,
                                   on_session = c.on_session](actors::state_reply::result r) {
                                    on_session([fn, respond, r = std::move(r)] {
                                      respond(r ? ok_body(fn(**r)) : failure(r.err()));
                                    });
                                  })});
  return std::nullopt;
}

}  // namespace

std::optional<response> resolve_one(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto explain = bool_param(c.query, "explain", false);
  if (!explain) return failure(explain.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  // A publishable key's request came without explain or as_of (http/publishable.hpp).
  if (auto st = check_json_type(c); !st) return failure(st.err());
  // The common body read the simple way, as a batch's visit is; anything else through the
  // parser, whose answer and errors are the same.
  domain::visit visit;
  thread_local std::vector<domain::json_member> members, session_members;
  if (!domain::scan_object(c.body, members) ||
      !read_scanned_visit(members, session_members, visit)) {
    rapidjson::Document doc;
    if (auto st = domain::parse_json(c.body, doc); !st) return failure(st.err());
    auto v = domain::parse_visit(doc);
    if (!v) return failure(v.err());
    visit = std::move(*v);
  }
  // A live resolution is counted by insights; one with explain or as_of is not.
  actors::insights_collector* counted = *explain || *as_of ? nullptr : &c.runtime->insights();
  return with_state(c, *account, *as_of,
                    [visit = std::move(visit), explain = *explain, counted,
                     account = *account](const domain::account_state& s) {
                      std::string body(success_open);
                      if (!explain) {
                        auto r = domain::resolve(s, visit);
                        if (counted != nullptr && counts_insights(s)) {
                          counted->count(account, visit, r);
                        }
                        domain::append_json(body, r);
                      } else {
                        append_explained(body, s, visit);
                      }
                      body += success_close;
                      return body;
                    });
}

// A batch, resolved on the compute pool in slices (http/compute_pool.hpp): first the
// body is parsed and every visit validated, then visits are resolved a slice at a time
// against the account's published state, until all are done or the request's deadline
// has passed. The I/O thread only hands it over. A slice ends by the clock, read every 16
// visits and whenever the regexes since the last reading did k_steps_per_reading steps
// (domain/match/regex.hpp), so that no slice, and no request, outlives its time by more
// than that work.
//
// A JSON batch is answered in one envelope: whole, with a length, when the answer stays
// under k_whole_answer (which a batch without explain does not reach); streamed from there
// on, as an NDJSON batch always is (one result per line). A streamed answer goes out as it is made,
// and the making pauses while more than answer_stream::backlog of it waits for a slow reader
// (so an answer never holds more than that, whatever its size); a batch that runs out of time after
// its first bytes went out is cut short (the connection closes before the end of the body).
struct batch_job : std::enable_shared_from_this<batch_job> {
  static constexpr auto slice = std::chrono::milliseconds(2);
  static constexpr std::uint64_t k_steps_per_reading = 100000;
  // A streamed answer is handed to the session in pieces of about this size.
  static constexpr std::size_t k_piece = 256u << 10;
  // The most a JSON answer holds before it is streamed.
  static constexpr std::size_t k_whole_answer = 32u << 20;

  std::string account;
  std::string body;  // moved out of the request: the job may outlive the session's buffer
  bool explain = false;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  std::function<void(response)> respond;
  std::function<void(std::size_t)> charge;  // the caller's rate limit, per visit
  actors::runtime* runtime = nullptr;
  compute_pool* compute = nullptr;
  // Where live resolutions are counted (null with explain or as_of: not counted).
  actors::insights_collector* counted = nullptr;
  std::optional<domain::unix_ms> as_of;  // resolve against the rules as they stood then
  // NDJSON in and out: the answer's lines go out through `stream` as they are made.
  bool ndjson = false;
  std::shared_ptr<answer_stream> stream;
  bool started = false;            // the streamed answer's head is sent
  std::vector<std::size_t> lines;  // NDJSON: each visit's line number

  std::vector<domain::result<domain::visit>> visits;
  // The common batch, read without a document (domain/base/json_scan.hpp): each visit's
  // text (an element of the JSON form's array, a line of the NDJSON form) is read when it is
  // resolved, the simple way or, for anything else, through the document as before.
  bool scanned = false;
  std::vector<domain::json_element> elements;  // into body; the JSON form's with their members
  std::vector<domain::json_member> element_members, members, session_members;
  domain::visit visit;
  std::shared_ptr<const domain::account_state> state;
  std::string out;
  std::size_t next = 0;
  bool parsed = false;
  std::uint64_t steps = 0;  // regex steps of the visits resolved since the clock was read

  // The request's deadline is the server's clock's; the slices of work are real time.
  const domain::clock* clock = &domain::system_clock();
  bool late() const { return clock->steady_now() >= deadline; }

  // One step on the compute pool; true when the job is finished (answered, waiting for the
  // account to load, or paused for a slow reader: each resubmits it).
  bool step() {
    if (late() && started) {
      stream->send({}, answer_stream::end::failed);
      return true;
    }
    if (late()) {
      respond(failure(domain::make_error(
          domain::errc::unavailable,
          "the batch could not be resolved within the request timeout of " +
              std::to_string(timeout.count()) + " ms; send fewer visits per batch")));
      return true;
    }
    if (!parsed) {
      if (auto st = parse(); !st) {
        respond(failure(st.err()));
        return true;
      }
      parsed = true;
      charge(count());
      if (!ndjson) {
        out.reserve(std::min<std::size_t>(64 + count() * (explain ? 4096 : 384), k_whole_answer));
        out += success_open;
        out += "{\"results\":[";
      }
    }
    if (!state && as_of) {
      past_state();
      return true;
    }
    if (!state) {
      state = runtime->view(account);
      if (!state) {
        await_state();
        return true;
      }
      if (!counts_insights(*state)) counted = nullptr;
    }
    if (ndjson && !started) start("application/x-ndjson");
    auto until = std::chrono::steady_clock::now() + slice;
    std::size_t unread = 0;  // visits resolved since the clock was read
    // The slice's resolutions are counted by insights on this thread's counters, taken once.
    std::optional<actors::insights_collector::tally> tally;
    if (counted != nullptr) tally.emplace(*counted, account);
    while (next < count()) {
      append(next++, tally ? &*tally : nullptr);
      if (!started && out.size() > k_whole_answer) start("application/json");
      if (started && out.size() >= k_piece) {
        stream->send(std::exchange(out, {}), answer_stream::end::more);
        if (stream->backed_up()) return pause();
      }
      if (++unread < 16 && steps < k_steps_per_reading) continue;
      unread = 0;
      steps = 0;
      if (std::chrono::steady_clock::now() >= until) {
        if (started && !out.empty()) stream->send(std::exchange(out, {}), answer_stream::end::more);
        return false;
      }
    }
    if (!ndjson) {
      out += "]}";
      out += success_close;
    }
    if (started) {
      stream->send(std::move(out), answer_stream::end::done);
      return true;
    }
    respond(ok_body(std::move(out)));
    return true;
  }

  // Sends the streamed answer's head (the body follows through `more`).
  void start(std::string content_type) {
    response head;
    head.content_type = std::move(content_type);
    head.streamed = true;
    respond(std::move(head));
    started = true;
  }

  // The reader is slow: resolving stops until the session has written most of what waits.
  bool pause() {
    stream->when_drained([self = shared_from_this()] {
      self->compute->submit(self->account, [self] { return self->step(); });
    });
    return true;
  }

  std::size_t count() const { return scanned ? elements.size() : visits.size(); }

  domain::status parse() {
    if (ndjson) return parse_lines();
    if (!explain && scan_visits()) return {};
    rapidjson::Document doc;
    if (auto st = domain::parse_json_insitu(body, doc); !st) return st;
    domain::field_reader in(doc, {"visits"});
    const rapidjson::Value* list = nullptr;
    if (doc.IsObject()) {
      auto it = doc.FindMember("visits");
      if (it == doc.MemberEnd()) {
        in.fail("visits", "is required");
      } else if (!it->value.IsArray()) {
        in.fail("visits", "must be an array of visits");
      } else if (it->value.Size() > k_batch_max) {
        in.fail("visits",
                "must hold at most 10000 visits, not " + std::to_string(it->value.Size()));
      } else {
        list = &it->value;
      }
    }
    if (auto st = in.finish(); !st) return st;
    visits.reserve(list->Size());
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i)
      visits.push_back(domain::parse_visit((*list)[i], i));
    body.clear();
    body.shrink_to_fit();
    return {};
  }

  // The JSON form read the simple way, in one pass: true when the body is an object of one
  // member, "visits", an array of at most 10,000 elements (then parse_json_insitu would
  // accept the body, and the elements are its array's); false for the document to read it.
  bool scan_visits() {
    scanned = domain::scan_member_array(body, "visits", k_batch_max, elements, element_members);
    return scanned;
  }

  // One visit per line; blank lines are skipped. A line that is not a visit becomes an error
  // line (it does not refuse the batch); more than 10,000 visits refuse it.
  domain::status parse_lines() {
    std::string_view rest(body);
    if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);  // the body's start only
    std::size_t count = 0;
    for (std::string_view scan = rest; !scan.empty();) {
      auto nl = scan.find('\n');
      if (scan.substr(0, nl).find_first_not_of(" \t\r") != std::string_view::npos) ++count;
      scan = nl == std::string_view::npos ? std::string_view() : scan.substr(nl + 1);
    }
    if (count > k_batch_max) {
      return domain::make_error(
          domain::errc::validation_failed, "the batch holds more than 10000 visits",
          {{"body", "must hold at most 10000 visits (lines), not " + std::to_string(count)}});
    }
    elements.reserve(count);
    lines.reserve(count);
    for (std::size_t line = 1; !rest.empty(); ++line) {
      auto nl = rest.find('\n');
      std::string_view text = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      if (text.ends_with('\r')) text.remove_suffix(1);
      elements.push_back({.text = text});
      lines.push_back(line);
    }
    scanned = true;
    return {};
  }

  // Appends visit i's answer; its resolution is counted on `tally` (null: not counted).
  void append(std::size_t i, actors::insights_collector::tally* tally) {
    if (i > 0 && !ndjson) out += ',';
    if (!scanned) return append_result(visits[i], i, tally);
    const auto& e = elements[i];
    std::string_view text = e.text;
    std::span<const domain::json_member> read;
    bool scanned_one = !explain;
    if (scanned_one && e.object) {
      read = std::span(element_members).subspan(e.first, e.count);
    } else if (scanned_one) {
      scanned_one = domain::scan_object(text, members);
      read = members;
    }
    if (scanned_one && read_scanned_visit(read, session_members, visit)) {
      auto r = domain::resolve(*state, visit);
      steps += r.regex_steps;
      if (tally != nullptr) tally->count(visit, r);
      domain::append_json(out, r);
      if (ndjson) out += '\n';
      return;
    }
    // Anything else through the document, as the whole body's would be read: a JSON
    // element is named visits[i] in errors; an NDJSON line is named by its own fields, and
    // one that is not JSON gets the parser's error.
    rapidjson::Document doc;
    auto st = domain::parse_json(text, doc, ndjson ? "line" : "body");
    if (!st) return append_result(domain::result<domain::visit>(st.err()), i, tally);
    append_result(ndjson ? domain::parse_visit(doc) : domain::parse_visit(doc, i), i, tally);
  }

  void append_result(const domain::result<domain::visit>& v, std::size_t i,
                     actors::insights_collector::tally* tally) {
    if (v && !explain) {
      auto r = domain::resolve(*state, *v);
      steps += r.regex_steps;
      if (tally != nullptr) tally->count(*v, r);
      domain::append_json(out, r);
    } else if (v) {
      steps += append_explained(out, *state, *v);
    } else {
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      w.StartObject();
      if (ndjson) {
        w.Key("line");
        w.Uint64(lines[i]);
      }
      w.Key("error");
      write_error_object(w, v.err());
      w.EndObject();
      out.append(buf.GetString(), buf.GetSize());
    }
    if (ndjson) out += '\n';
  }

  // The account is not loaded: ask its actor, and come back when it is.
  // The state at `as_of`, from the loader pool; the job comes back with it.
  void past_state() {
    runtime->tell(actors::state_as_of_req{
        account, *as_of,
        std::make_shared<actors::state_reply>(
            [self = shared_from_this()](actors::state_reply::result r) {
              if (!r) return self->respond(failure(r.err()));
              self->state = std::move(*r);
              self->compute->submit(self->account, [self] { return self->step(); });
            })});
  }

  void await_state() {
    runtime->tell(account,
                  actors::await_loaded_req{
                      actors::make_reply([self = shared_from_this()](actors::api_result loaded) {
                        if (!loaded) return self->respond(failure(loaded.err()));
                        self->compute->submit(self->account, [self] { return self->step(); });
                      })});
  }
};

std::optional<response> resolve_batch(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto explain = bool_param(c.query, "explain", false);
  if (!explain) return failure(explain.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  auto media = body_media(c, {"application/json", "application/x-ndjson", "application/ndjson"});
  if (!media) return failure(media.err());
  auto job = std::make_shared<batch_job>();
  job->ndjson = *media != 0;
  job->stream = c.stream;
  job->as_of = *as_of;
  job->charge = [limiter = c.limiter, bucket = c.rate_bucket](std::size_t n) {
    charge_rows(limiter, bucket, n);
  };
  job->account = *account;
  job->body = std::move(*c.body_storage);
  job->explain = *explain;
  job->clock = c.clock;
  job->timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - c.clock->steady_now());
  // A little before the session gives up, so that the answer says why.
  job->deadline = c.deadline - std::min<std::chrono::milliseconds>(std::chrono::milliseconds(100),
                                                                   job->timeout / 10);
  job->respond = c.respond;
  job->runtime = c.runtime;
  if (!*explain && !*as_of) job->counted = &c.runtime->insights();
  job->compute = c.compute;
  c.compute->submit(*account, [job] { return job->step(); });
  return std::nullopt;
}

}  // namespace referrald::http
