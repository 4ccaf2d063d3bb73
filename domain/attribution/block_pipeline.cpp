#include "domain/attribution/block_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "domain/base/csv.hpp"

namespace referrald::domain {

bool block_reader::next(block& b) {
  b.in.clear();
  b.too_long = false;
  b.first_line = line_;
  for (;;) {
    auto cut = boundary();
    if (cut != std::string::npos && (carry_.size() >= block_size || eof_)) {
      take(b, cut);
      return true;
    }
    if (eof_) {
      if (carry_.empty()) return false;
      take(b, carry_.size());
      return true;
    }
    if (carry_.size() > max_record && cut == std::string::npos) return skip_long(b);
    fill();
    if (error_) return false;
  }
}

void block_reader::skip_bom() {
  while (carry_.size() < 3 && !eof_ && !error_)
    fill();
  if (carry_.starts_with("\xEF\xBB\xBF")) carry_.erase(0, 3);
}

bool block_reader::header(std::vector<std::string>& fields, std::string& problem) {
  // The end of the first record: its first line break outside quotes.
  std::size_t cut = std::string::npos;
  bool quoted = false;
  for (std::size_t i = 0; cut == std::string::npos;) {
    if (i == carry_.size()) {
      if (eof_ || carry_.size() > max_record) break;
      fill();
      if (error_) return false;
      continue;
    }
    if (carry_[i] == '"') quoted = !quoted;
    if (carry_[i] == '\n' && !quoted) cut = i + 1;
    ++i;
  }
  if (cut == std::string::npos) cut = carry_.size();
  std::string_view rec(carry_.data(), cut);
  while (!rec.empty() && (rec.back() == '\n' || rec.back() == '\r'))
    rec.remove_suffix(1);
  if (rec.starts_with("\xEF\xBB\xBF")) rec.remove_prefix(3);
  if (rec.empty()) return false;
  auto parsed = parse_csv(rec, 1);
  if (!parsed || parsed->empty()) {
    problem = parsed ? "it is empty" : parsed.err().message;
    return false;
  }
  fields = std::move(parsed->front());
  line_ += static_cast<std::uint64_t>(
      std::count(carry_.begin(), carry_.begin() + static_cast<long>(cut), '\n'));
  carry_.erase(0, cut);
  scanned_ = 0;
  quoted_ = false;
  last_boundary_ = std::string::npos;
  return true;
}

void block_reader::fill() {
  std::size_t have = carry_.size();
  carry_.resize(have + block_size);
  std::size_t n = std::fread(carry_.data() + have, 1, block_size, in_);
  carry_.resize(have + n);
  if (n < block_size) {
    if (std::ferror(in_)) error_ = true;
    eof_ = true;
  }
}

// The end of the last whole record in carry_ (after its '\n'), or npos.
std::size_t block_reader::boundary() {
  if (!csv_) {
    auto nl = carry_.rfind('\n');
    return nl == std::string::npos ? nl : nl + 1;
  }
  // Quote-aware, scanning only what was not scanned before.
  for (std::size_t i = scanned_; i < carry_.size(); ++i) {
    char ch = carry_[i];
    if (ch == '"') {
      quoted_ = !quoted_;
    } else if (ch == '\n' && !quoted_) {
      last_boundary_ = i + 1;
    }
  }
  scanned_ = carry_.size();
  return last_boundary_;
}

void block_reader::take(block& b, std::size_t cut) {
  // The carried text becomes the block's; only the partial record after it is copied back.
  b.in.swap(carry_);
  carry_.assign(b.in, cut, std::string::npos);
  b.in.resize(cut);
  line_ += static_cast<std::uint64_t>(std::count(b.in.begin(), b.in.end(), '\n'));
  scanned_ = 0;
  quoted_ = false;
  last_boundary_ = std::string::npos;
}

// A record longer than max_record: dropped up to the next line break.
bool block_reader::skip_long(block& b) {
  b.too_long = true;
  for (;;) {
    auto nl = carry_.find('\n');
    if (nl != std::string::npos) {
      carry_.erase(0, nl + 1);
      break;
    }
    carry_.clear();
    if (eof_) break;
    fill();
    if (error_) return false;
  }
  ++line_;
  scanned_ = 0;
  quoted_ = false;
  last_boundary_ = std::string::npos;
  return true;
}

pipeline_totals run_blocks(block_reader& reader, std::FILE* out, unsigned threads,
                           const std::function<block_worker()>& make_worker,
                           const std::function<void(const pipeline_totals&)>& progress) {
  threads = std::max(1u, threads);
  const std::size_t most_in_flight = 2 * threads + 2;
  struct slot {
    block b;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<slot*> pending;                // for the workers
  std::deque<std::unique_ptr<slot>> order;  // for the writer, in input order
  std::vector<std::unique_ptr<slot>> spare;
  bool closing = false;
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      block_worker work = make_worker();
      std::unique_lock lock(mu);
      for (;;) {
        work_cv.wait(lock, [&] { return closing || !pending.empty(); });
        if (pending.empty()) return;
        slot* s = pending.front();
        pending.pop_front();
        lock.unlock();
        work(s->b);
        lock.lock();
        s->done = true;
        done_cv.notify_all();
      }
    });
  }

  pipeline_totals sum;
  bool input_done = false;
  bool write_failed = false;
  for (;;) {
    while (!input_done && order.size() < most_in_flight) {
      std::unique_ptr<slot> s;
      if (!spare.empty()) {
        s = std::move(spare.back());
        spare.pop_back();
      } else {
        s = std::make_unique<slot>();
      }
      s->done = false;
      s->b.records = s->b.errors = 0;
      if (!reader.next(s->b)) {
        input_done = true;
        break;
      }
      std::lock_guard lock(mu);
      pending.push_back(s.get());
      order.push_back(std::move(s));
      work_cv.notify_one();
    }
    if (order.empty()) break;
    {
      std::unique_lock lock(mu);
      done_cv.wait(lock, [&] { return order.front()->done; });
    }
    auto s = std::move(order.front());
    order.pop_front();
    const std::string& text = s->b.out;
    if (!write_failed && std::fwrite(text.data(), 1, text.size(), out) != text.size()) {
      write_failed = true;
      input_done = true;
    }
    sum.records += s->b.records;
    sum.errors += s->b.errors;
    spare.push_back(std::move(s));
    if (progress) progress(sum);
  }
  {
    std::lock_guard lock(mu);
    closing = true;
  }
  work_cv.notify_all();
  for (auto& t : pool)
    t.join();
  if (std::fflush(out) != 0) write_failed = true;
  sum.write_failed = write_failed;
  sum.read_failed = reader.error();
  return sum;
}

}  // namespace referrald::domain
