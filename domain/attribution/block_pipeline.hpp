#pragma once

// The pipeline that re-attributes a visit log (`referralctl attribute`, docs/referralctl.md):
// the input is read in blocks of whole records, each block is turned into its output by one
// of a pool of threads, and the outputs are written in input order. Memory stays bounded by
// the blocks in flight (2·threads + 2) whatever the log's size.
//
// A record is a line (NDJSON) or a CSV record, which may span lines inside quotes. A record
// longer than max_record bytes is not read: it becomes a block of its own with `too_long`
// set, and reading goes on after its line.
//
// What a block's output is, is the caller's: each thread calls its own worker (made by
// `make_worker` on that thread), so a worker may keep state without locks.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace referrald::domain {

enum class record_syntax { lines, csv };

struct block {
  std::string in;                // whole records
  std::uint64_t first_line = 1;  // the line number of in's first byte
  bool too_long = false;         // `in` is empty: the record at first_line was cut
  // Made by the worker:
  std::string out;
  std::uint64_t records = 0;
  std::uint64_t errors = 0;
};

// Reads an input in blocks of whole records.
class block_reader {
 public:
  static constexpr std::size_t block_size = 1 << 20;   // read per chunk
  static constexpr std::size_t max_record = 4u << 20;  // a longer record is cut

  block_reader(std::FILE* in, record_syntax syntax) : in_(in), csv_(syntax == record_syntax::csv) {}

  // Skips a byte order mark at the start of the input.
  void skip_bom();
  // The first record (a CSV header), decoded; false when there is none, or it cannot be
  // read (`problem` says why).
  bool header(std::vector<std::string>& fields, std::string& problem);
  // The next block; false at the end of the input (or an error, in error()).
  bool next(block& b);
  bool error() const { return error_; }

 private:
  void fill();
  std::size_t boundary();
  void take(block& b, std::size_t cut);
  bool skip_long(block& b);

  std::FILE* in_;
  bool csv_;
  std::string carry_;
  std::uint64_t line_ = 1;
  bool eof_ = false;
  bool error_ = false;
  std::size_t scanned_ = 0;
  bool quoted_ = false;
  std::size_t last_boundary_ = std::string::npos;
};

struct pipeline_totals {
  std::uint64_t records = 0;
  std::uint64_t errors = 0;
  bool write_failed = false;  // the output could not be written (reading stopped)
  bool read_failed = false;   // the input could not be read (what was read is written)
};

using block_worker = std::function<void(block&)>;

// Runs every block of `reader` through a worker on `threads` threads and writes the
// outputs to `out` in input order. `progress` (may be empty) is called on the calling
// thread after each block written with the totals so far.
pipeline_totals run_blocks(block_reader& reader, std::FILE* out, unsigned threads,
                           const std::function<block_worker()>& make_worker,
                           const std::function<void(const pipeline_totals&)>& progress);

}  // namespace referrald::domain
