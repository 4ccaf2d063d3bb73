#pragma once

// referralctl attribute: resolves a visit log in-process with the server's own resolver,
// each visit against the account's rules as they stood at its time (or at one moment, or
// now), streaming through the block pipeline (domain/attribution/block_pipeline.hpp): blocks
// of whole records resolved by a pool of threads and written in input order
// (docs/referralctl.md, "attribute"). Each record's visit is read and its answer written by
// the one description of each (domain/attribution/visit.hpp, resolution.hpp).

#include <cstdint>
#include <cstdio>
#include <string>

#include "domain/base/result.hpp"
#include "snapshots/timeline.hpp"

namespace referrald::tools {

enum class log_format { ndjson, csv };

struct attribute_options {
  log_format format = log_format::ndjson;
  // The field (NDJSON) or column (CSV) holding each visit's time, RFC 3339 or epoch
  // milliseconds; empty: every visit is resolved against rules.last().
  std::string time_field;
  bool explain = false;
  bool quiet = false;     // no progress lines
  unsigned threads = 0;   // resolver threads; 0: one per core
  std::FILE* in = stdin;  // read in binary
  std::FILE* out = stdout;
  const char* out_name = "standard output";  // for messages
};

struct attribute_summary {
  std::uint64_t records = 0;  // output records written (header excluded)
  std::uint64_t errors = 0;   // of which error records
  double seconds = 0;
};

// Resolves every record of o.in into o.out. An error when the input cannot be read (a
// CSV without a header naming landing_url) or the output cannot be written; a record
// that is not a visit is an error record, never a stop.
domain::result<attribute_summary> attribute(const snapshots::rule_timeline& rules,
                                            const attribute_options& o);

}  // namespace referrald::tools
