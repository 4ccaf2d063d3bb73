#!/usr/bin/env bash
# What a write costs in this build against another commit's, both measured in one run in
# alternating rounds, each beside the ceiling of its mode measured in the same round:
#   embedded: durable creates over HTTP, 32 clients over 32 accounts (wrk -t2 -c32), beside
#     32 threads of synced RocksDB puts of the same size on the same file system
#     (bench_synced_puts), and the same puts made for the same load by the smallest HTTP
#     servers (bench_http_puts: a thread per connection, a synced put per request; and one
#     thread for all connections, each turn's requests made durable by one synced batch);
#   cluster: creates through two nodes, 16 clients on each over the same 32 accounts (about
#     half of them forwarded to their owner), on three local NATS servers made anew for each
#     build, beside the stream alone written by the smallest client (bench_stream_alone: 32
#     libnats writers waiting for their acknowledgements), the stream written for the same
#     load as the embedded creates by the smallest HTTP servers (bench_http_puts, one libnats
#     publish per request: a thread per connection waiting for its acknowledgement, and one
#     thread for all connections answering each as its acknowledgement comes back), the
#     smallest clusters (two bench_http_puts in copy or grouped-copy mode, each also
#     following the whole stream into a copy of its own, under the creates' load) and the
#     log alone (bench_cluster_log), with the NATS servers' messages per write; each
#     build's ratio "over HTTP" and "to the smallest cluster" is to the grouped server's,
#     the higher ceiling;
# with each server's own CPU per create (perf stat -e task-clock of the process over the
# load) and its context switches per create (embedded: also its creates per commit and the
# client's CPU per create, and the puts' own CPU per put and puts per log sync), the NATS
# servers' CPU per write alone and per create, and the machine's busy share over each load
# (where it is near 100 %, a ratio to a ceiling is the ratio of what the whole machine spends
# per write). Builds REV (default HEAD~1) into build-rev/ as against_commit does.
# With REV "-", this build alone, beside the same ceilings.
# Each NATS client connects to a server of the three picked at random, as a deployment's
# would, and each stream is led by the server its election picked: a write then crosses one
# route or two, and clusters of one build differ by more than builds do. With
# NATS_LAYOUT=pinned every cluster is laid out the same way instead: each stream led by n1
# (or the server NATS_LEADER names: n2 or n3), the one-connection writers (the stream alone,
# the smallest server over HTTP, the log alone) on n2, and the two-server ones (the smallest
# cluster's two servers, nodes a and b) on n2 and n3. With n1 leading, no client is on the
# leader's server; with n2, the single writers and one of each pair are. (The log alone's
# stream is led by the election's pick in either layout.)
#   [NATS_LAYOUT=pinned [NATS_LEADER=n1]] tools/dev bench writes_against [REV=HEAD~1] \
#     [SECONDS=8] [ROUNDS=2]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
seconds="${2:-8}"
rounds="${3:-2}"
case "${NATS_LAYOUT:-random}/${NATS_LEADER:-n1}" in
random/n1 | pinned/n[123]) ;;
random/*) echo "NATS_LEADER is for NATS_LAYOUT=pinned" >&2 && exit 2 ;;
*) echo "NATS_LAYOUT is random or pinned, and NATS_LEADER n1, n2 or n3" >&2 && exit 2 ;;
esac
if [ "$rev" = - ]; then
  machine
  echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)') alone"
else
  build_rev "$rev"
fi
if [ "${NATS_LAYOUT:-random}" = pinned ]; then
  echo "NATS layout: pinned (every stream led by ${NATS_LEADER:-n1}; single writers on n2; two servers or nodes on n2 and n3)"
else
  echo "NATS layout: random (each client on a server of its own pick; each stream led by its election's pick)"
fi
this_bin="$root/build/referrald"
rev_bin="$root/build-rev/build/referrald"
auth=(-H "Authorization: Bearer $bench_key")

# nats_counted: check_counted for each NATS server of the cluster.
nats_counted() {
  local i
  for i in "${!nats_pids[@]}"; do
    check_counted "NATS server n$((i + 1))" "${nats_pids[$i]}" "$work/nats/n$((i + 1)).log"
  done
}
# rate_of FILE: the writes/s a stream-alone or log-alone client printed.
rate_of() { sed -n 's/.*: \([0-9]*\) writes\/s.*/\1/p' "$1" | head -1; }

stop_nats_cluster() {
  local p
  for p in "${nats_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work/nats"
}

# smallest_cluster: the smallest cluster of two nodes, over HTTP on ${on_two[0]} and
# ${on_two[1]}: two bench_http_puts in copy mode (each publishing on subjects of its own and
# following the whole stream into a RocksDB copy of its own) under creates_on_two_nodes' load; sets
# $two_copies (writes/s) and prints it with its ratio to $alone, the two servers' own CPU per
# write (their getrusage, over their whole run), the NATS servers' CPU per write, the
# client's CPU per write, the machine's busy share and what each copy applied.
smallest_cluster() {
  local i writes mode="${1:-copy}" label="${2:-a thread per connection}"
  BENCH_STREAM_LEADER="$leader" start_http_puts copy1 "$mode" "${on_two[0]}" "COPIES${3:-}" 3 \
    "$work/copy1" n1
  start_http_puts copy2 "$mode" "${on_two[1]}" "COPIES${3:-}" 3 "$work/copy2" n2
  counted "${nats_pids[@]}"
  busy_over "$seconds"
  times >"$work/times.0"
  local messages
  messages=$(nats_messages)
  writes=$(creates_on_two_nodes "$seconds" "$copy1_url" "$copy2_url")
  messages=$(($(nats_messages) - messages))
  times >"$work/times.1"
  wait "${counting[@]}" "$busy" || true
  nats_counted
  # Both told at once: the first to stop deletes the stream, and the other's copy has applied
  # every write by then.
  kill -TERM "$copy1_pid" "$copy2_pid"
  stop_http_puts copy1 "copy (n1)"
  stop_http_puts copy2 "copy (n2)"
  if grep -q Non-2xx "$work/w0.out" "$work/w1.out"; then
    echo "the smallest cluster refused a write:" >&2
    cat "$work/w0.out" "$work/w1.out" "$work"/copy?.err >&2
    exit 1
  fi
  two_copies=$(awk -v c="$writes" -v s="$seconds" 'BEGIN {printf "%.0f", c / s}')
  awk -v r="$two_copies" -v a="$alone" -v l="$label" '/^http puts:/ {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] }
      applied = applied (applied == "" ? "" : " and ") kv_applied($0)
    }
    function kv_applied(line) { match(line, /applied=[0-9]+/); return substr(line, RSTART + 8, RLENGTH - 8) }
    END {
      printf "  the stream with two copies over HTTP (the smallest cluster, %s): %d/s = %.2fx the stream alone; its two servers'"'"' CPU %.0f us per write; ", l, r, r / a, v["cpu_ms"] * 1000 / v["puts"]
      printf "copies applied %s of %d writes; ", applied, v["puts"]
    }' "$work/copy1.out" "$work/copy2.out"
  echo "NATS servers' CPU $(counted_cpu "${nats_pids[@]}" -- "$writes") us and" \
    "$(awk -v m="$messages" -v w="$writes" 'BEGIN {printf "%.1f", m / w}') messages per write;" \
    "client $(children_us "$writes") us CPU per write; machine busy $(cat "$work/busy") %"
  rm -rf "$work/copy1" "$work/copy2"
}

# cluster LABEL BINARY: creates through two nodes on fresh NATS servers, beside the stream
# alone and the log alone written to the same servers first.
cluster() {
  # Ports of their own for each cluster of the run: none is still held by the one before.
  clusters=$((${clusters:-0} + 1))
  NATS_PORT_BASE=$((14221 + 10 * clusters)) start_nats_cluster 3
  # Where the clients connect (NATS_LAYOUT): any server, or the same ones in every cluster,
  # with every stream's leader on n1 or $NATS_LEADER ($leader, empty for the election's pick).
  local servers
  IFS=, read -ra servers <<<"$nats_urls"
  if [ "${NATS_LAYOUT:-random}" = pinned ]; then
    on_one="${servers[1]}" on_two=("${servers[1]}" "${servers[2]}") leader="${NATS_LEADER:-n1}"
  else
    on_one="$nats_urls" on_two=("$nats_urls" "$nats_urls") leader=
  fi
  # Once more when a fresh cluster is not ready to make the stream yet. The servers' CPU
  # and the machine's busy share are counted over the load alone (from the client's "writing
  # for" line on), not over the stream's making; the messages over the client's whole run
  # (the stream's making and deletion add some dozens to tens of thousands of writes).
  local attempt client messages
  for attempt in 1 2; do
    messages=$(nats_messages)
    BENCH_STREAM_LEADER="$leader" "$root/build/bench/bench_stream_alone" "$on_one" ALONE 3 32 \
      "$seconds" 350 \
      >"$work/alone.out" 2>"$work/alone.err" &
    client=$!
    while kill -0 "$client" 2>/dev/null && ! grep -qs "writing for" "$work/alone.err"; do
      sleep 0.05
    done
    if grep -q "writing for" "$work/alone.err"; then
      counted "${nats_pids[@]}"
      busy_over "$seconds"
      wait "${counting[@]}" "$busy" || true
    fi
    wait "$client" && messages=$(($(nats_messages) - messages)) && break
    cat "$work/alone.err" >&2
    [ "$attempt" = 2 ] && tail -n 5 "$work"/nats/n*.log && exit 1
  done
  local alone log creates alone_nats alone_busy alone_messages
  nats_counted
  alone=$(rate_of "$work/alone.out")
  alone_nats=$(counted_cpu "${nats_pids[@]}" -- $((alone * seconds)))
  alone_busy=$(cat "$work/busy")
  alone_messages=$(awk -v m="$messages" -v w="$((alone * seconds))" 'BEGIN {printf "%.1f", m / w}')
  "$root/build/bench/bench_cluster_log" "$on_one" 32 32 "$seconds" >"$work/log.out" 2>/dev/null
  log=$(rate_of "$work/log.out")
  BENCH_STREAM_LEADER="$leader" smallest_over_http "the stream (a thread per connection)" \
    stream "$on_one" OVERHTTP 3
  BENCH_STREAM_LEADER="$leader" smallest_over_http "the stream (grouped, one thread)" \
    grouped-stream "$on_one" OVERHTTPG 3
  smallest_cluster copy "a thread per connection"
  smallest_cluster grouped-copy "grouped, one thread each" G
  referrald_bin="$2" start_two_nodes "${on_two[@]}"
  [ -z "$leader" ] || lead_event_stream "${leader#n}"
  warm_two_nodes
  counted "$a_pid" "$b_pid" "${nats_pids[@]}"
  busy_over "$seconds"
  messages=$(nats_messages)
  creates=$(creates_on_two_nodes "$seconds")
  messages=$(($(nats_messages) - messages))
  wait "${counting[@]}" "$busy" || true
  check_counted "node a" "$a_pid" "$work/a.err"
  check_counted "node b" "$b_pid" "$work/b.err"
  nats_counted
  awk -v l="$1" -v c="$creates" -v s="$seconds" -v a="$alone" -v g="$log" -v h="$over_http" \
    -v t="$two_copies" 'BEGIN {
    printf "  %-6s cluster creates: %6.0f/s = %.2fx the stream alone (%d/s), %.2fx over HTTP (%d/s), %.2fx the smallest cluster (%d/s), %.2fx the log alone (%d/s); ",
      l, c / s, c / s / a, a, c / s / h, h, c / s / t, t, c / s / g, g }'
  echo "node a $(per_create "$a_pid" "$creates"), node b $(per_create "$b_pid" "$creates")"
  echo "         NATS servers' CPU: $alone_nats us and $alone_messages messages per write alone" \
    "(machine busy $alone_busy %), $(counted_cpu "${nats_pids[@]}" -- "$creates") us and" \
    "$(awk -v m="$messages" -v c="$creates" 'BEGIN {printf "%.1f", m / c}') messages per create" \
    "(machine busy $(cat "$work/busy") %)"
  stop_node "$a_pid"
  stop_node "$b_pid"
  rm -rf "$work/a" "$work/b"
  stop_nats_cluster
}

for round in $(seq 1 "$rounds"); do
  echo "round $round:"
  synced_puts
  smallest_over_http "synced puts (a thread per connection)" rocksdb "$work/over-http"
  rm -rf "$work/over-http"
  smallest_over_http "synced puts (grouped, one thread)" grouped "$work/over-http"
  rm -rf "$work/over-http"
  # Which build goes first alternates from round to round.
  if [ "$rev" = - ]; then
    order=(this)
  elif [ $((round % 2)) = 1 ]; then
    order=(this rev)
  else
    order=(rev this)
  fi
  for which in "${order[@]}"; do
    bin="${which}_bin"
    embedded_creates "$which" "${!bin}"
  done
  for which in "${order[@]}"; do
    bin="${which}_bin"
    cluster "$which" "${!bin}"
  done
done
