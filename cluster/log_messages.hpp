#pragma once

// The messages of the cluster's streams as the NATS client holds them (their grammar is at
// the top of cluster/cluster_log.hpp, whose encode_* and decode_* functions are defined in
// log_messages.cpp): the subjects' prefixes, the message id of an account's write, and a
// received message read back as a write, records or either, with its stream sequence.
// Included by .cpp files of cluster/ only: it brings in the NATS client's header.
//
// Pure functions of their arguments: any thread.

#include <nats/nats.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/cluster_log.hpp"
#include "domain/base/result.hpp"

namespace referrald::cluster {

inline constexpr std::string_view k_events_prefix = "referrald.events.";
inline constexpr std::string_view k_records_prefix = "referrald.records.";
inline constexpr std::string_view k_claims_prefix = "referrald-idem.";

// The message id of an account's write: the position it claims (see cluster_log::append).
std::string position_id(const cluster_write& w, std::uint64_t expected);

std::string_view payload_of(natsMsg* m);
// The message's sequence in its stream (0 when the message does not say).
std::uint64_t stream_seq_of(natsMsg* m);

// A message of the events stream as a write of an account's events, or as records. A write
// must be filed under its own account's subject (cluster_subject): one naming another account
// is store_corrupted, as the stream cannot fence it or read it back with its account.
domain::result<cluster_write> from_message(natsMsg* m);
domain::result<cluster_records> records_from_message(natsMsg* m);

// Any message of the stream: a write of an account's events, or records.
domain::result<cluster_message> message_from(natsMsg* m);

// Who wrote a stored message (cluster_write::writer, cluster_records::writer).
domain::result<std::string> writer_of(natsMsg* m);

}  // namespace referrald::cluster
