# Shared helpers for the benchmark scripts. Source it; it sets $root and $work.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=tools/nats_server.sh
. "$root/tools/nats_server.sh"
# The NATS server of the cluster benchmarks (tools/nats_server.sh: $REFERRALD_NATS_SERVER,
# else the project's 2.10.27, else the system's), and its JetStream sync_interval when
# $NATS_SYNC_INTERVAL is set ("always", or a duration such as "2m").
nats_bin="$(nats_server_bin)"
work="$(mktemp -d "${TMPDIR:-/tmp}/referrald-bench-XXXXXX")"
bench_key="rk_bench_admin_secret_0123456789"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$work/nginx/nginx.pid" ]; then kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; fi
  sleep 0.2
  # Gone before this script ends (10 s each at most, then killed): a script run next, or the
  # next round of the same script, finds the ports of these NATS servers free.
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# start_referrald [flags...]: starts build/referrald (or $referrald_bin) on a free loopback
# port with the data directory $work/data; sets $referrald_url. With $referrald_name set,
# the data directory is $work/data-NAME and its output $work/NAME.out, so that several
# servers can run at once.
start_referrald() {
  local data="$work/data${referrald_name:+-$referrald_name}" out="$work/${referrald_name:-referrald}"
  REFERRALD_BOOTSTRAP_KEY="$bench_key" "${referrald_bin:-$root/build/referrald}" --listen 127.0.0.1:0 \
    --data "$data" --log-level warn "$@" >"$out.out" 2>"$out.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$out.out" 2>/dev/null && break
    sleep 0.1
  done
  referrald_url="http://$(sed -n 's/^listening on //p' "$out.out")"
}

# start_nginx FILE [POST_FILE]: serves FILE as /file.json from nginx with keep-alive and one
# worker per core, in two configurations of one nginx:
#   127.0.0.1:18081 as nginx is configured out of the box: each request opens, reads and
#                   closes the file ($nginx_url);
#   127.0.0.1:18082 with its open file cache on, as a tuned static server keeps its files
#                   open ($nginx_cached_url).
# With POST_FILE, both also serve it as /post.json to a POST (the static module answers 405 to
# one; error_page turns that into the file), so that a POST benchmark sends nginx the same
# requests ($nginx_post_url, $nginx_cached_post_url).
# nginx_server PORT [DIRECTIVES]: one server block of start_nginx's configuration.
nginx_server() {
  printf '  server {\n    listen 127.0.0.1:%s; root %s;%s\n' "$1" "$work/nginx/html" "${2:+ $2}"
  printf '    location / { }\n    location = /post.json { error_page 405 =200 $uri; }\n  }'
}

start_nginx() {
  mkdir -p "$work/nginx/html"
  cp "$1" "$work/nginx/html/file.json"
  if [ -n "${2:-}" ]; then cp "$2" "$work/nginx/html/post.json"; fi
  # nginx workers run unprivileged: they must be able to read the files.
  chmod a+rx "$work" "$work/nginx" "$work/nginx/html"
  chmod a+r "$work/nginx/html/"*.json
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 60;
  default_type application/json;
$(nginx_server 18081)
$(nginx_server 18082 "open_file_cache max=64 inactive=60s; open_file_cache_valid 60s;")
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
  nginx_url="http://127.0.0.1:18081/file.json"
  nginx_post_url="http://127.0.0.1:18081/post.json"
  nginx_cached_url="http://127.0.0.1:18082/file.json"
  nginx_cached_post_url="http://127.0.0.1:18082/post.json"
  sleep 0.3
  local u
  for u in "$nginx_url" "$nginx_cached_url"; do
    if ! cmp -s <(curl -sf "$u") "$1"; then
      echo "nginx does not serve the file at $u; see $work/nginx/error.log" >&2
      exit 1
    fi
  done
  if [ -n "${2:-}" ]; then
    for u in "$nginx_post_url" "$nginx_cached_post_url"; do
      if ! cmp -s <(curl -sf -X POST -H 'Content-Type: application/json' -d '{}' "$u") "$2"; then
        echo "nginx does not answer a POST with the file at $u; see $work/nginx/error.log" >&2
        exit 1
      fi
    done
  fi
}

# wrk_summary ARGS...: runs wrk with --latency and prints "req/s p99".
wrk_summary() {
  wrk --latency "$@" | awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END {printf "%s req/s, p99 %s%s\n", rps, p99, (bad ? ", non-2xx " bad : "")}'
}

# seed_read_account [ACCOUNT=acme]: creates, through the API of $referrald_url, the rules the
# read-path benchmarks measure on — an account with 100 passthrough referrers and 300 referrer
# mappings of four match types — and writes the visit they resolve to $work/visit.json.
seed_read_account() {
  local auth=(-H "Authorization: Bearer $bench_key") json=(-H 'Content-Type: application/json')
  local acme="${1:-acme}"
  curl -sf -X POST "$referrald_url/passthrough-referrers?account_id=$acme" "${auth[@]}" "${json[@]}" \
    -d '{"domain":"booking.mirai.com","utm_source":"mirai","service_name":"Mirai Booking Engine"}' >/dev/null
  for i in $(seq 1 99); do
    curl -sf -X POST "$referrald_url/passthrough-referrers?account_id=$acme" "${auth[@]}" "${json[@]}" \
      -d "{\"domain\":\"pay$i.example.com\",\"utm_source\":\"pay\"}" >/dev/null
  done
  local types=(exact ends_with starts_with contains)
  for i in $(seq 1 300); do
    local t="${types[$((i % 4))]}" p="m$i.partner.example"
    [ "$t" = starts_with ] && p="m$i."
    [ "$t" = contains ] && p="m${i}x"
    curl -sf -X POST "$referrald_url/referrer-mappings?account_id=$acme" "${auth[@]}" "${json[@]}" \
      -d "{\"referrer_pattern\":\"$p\",\"match_type\":\"$t\",\"utm_source\":\"s$i\",\"priority\":$((i % 50))}" >/dev/null
  done
  printf '%s' '{"referrer":"https://shop.m7.partner.example/x","landing_url":"https://hotel.example/rooms"}' \
    >"$work/visit.json"
}

# read_load get|resolve: sets $load to wrk's arguments for a read path against
# $referrald_url: a GET of one passthrough referrer, or a single-visit resolve of
# $work/visit.json (wrk then needs BODY_FILE="$work/visit.json").
read_load() {
  load=(-H "Authorization: Bearer $bench_key")
  if [ "$1" = resolve ]; then
    load+=(-s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve?account_id=acme")
  else
    load+=("$referrald_url/passthrough-referrers/1?account_id=acme")
  fi
}

# wrk_get SECONDS / wrk_resolve SECONDS: the read paths of read_load with wrk -t2 -c64.
wrk_get() {
  read_load get
  wrk_summary -t2 -c64 -d"$1s" "${load[@]}"
}
wrk_resolve() {
  read_load resolve
  BODY_FILE="$work/visit.json" wrk_summary -t2 -c64 -d"$1s" "${load[@]}"
}

# build_rev REV: REV's sources (git archive) built in Release into build-rev/ (ccache makes a
# rebuild cheap); sets $sha and prints the machine and what is compared with what.
build_rev() {
  sha="$(git -C "$root" rev-parse --short "$1")"
  rm -rf "$root/build-rev/src"
  mkdir -p "$root/build-rev/src"
  # -m: the files take the time of their unpacking, not REV's commit time, so that make
  # rebuilds everything build-rev/build holds from another REV (ccache keeps that cheap for
  # the files that did not change); with REV's time, an older REV's files looked older than
  # the objects a later one left, and were linked stale.
  git -C "$root" archive "$sha" | tar -x -m -C "$root/build-rev/src"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$root/build-rev/src" -B "$root/build-rev/build" -DCMAKE_BUILD_TYPE=Release \
    -DREFERRALD_TESTS=OFF "${launcher[@]}" >/dev/null
  cmake --build "$root/build-rev/build" -j "${JOBS:-2}" --target referrald >/dev/null
  # REV's own writer of the batch account, where it has one: see seed_batch_account.
  rm -f "$root/build-rev/build/bench/bench_seed_account"
  cmake --build "$root/build-rev/build" -j "${JOBS:-2}" --target bench_seed_account >/dev/null 2>&1 || true
  machine
  echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)'); against: $sha"
}

# seed_batch_account DIR BODIES: the account "bench" of 10,000 mappings and 1,000 passthrough
# referrers into the data directory DIR, and the visits that resolve against it into BODIES.
# After build_rev, the store is written by REV's writer when REV has one: every later build
# reads what an earlier one wrote, not the other way round (the writer's rules and visits are
# the same in every version).
seed_batch_account() {
  local writer="$root/build/bench/bench_seed_account"
  [ -x "$root/build-rev/build/bench/bench_seed_account" ] && writer="$root/build-rev/build/bench/bench_seed_account"
  "$writer" "$1" bench "$2" >/dev/null
}

# visit_log VISITS: the account "bench" (seed_batch_account) in $work/data, its history in
# $work/events.ndjson, and a log of VISITS visits in $work/visits.ndjson: the batch's visits in
# turn, each with its "event_id" and a "time" drawn (seeded, so the same every run) over the
# whole history, so that --time-field resolves each against a different version of the rules.
visit_log() {
  mkdir -p "$work/bodies"
  seed_batch_account "$work/data" "$work/bodies"
  "$root/build/referralctl" --data "$work/data" events --account bench >"$work/events.ndjson"
  first=$(sed -n '1s/.*"timestamp":"\([^"]*\)".*/\1/p' "$work/events.ndjson")
  last=$(sed -n '$s/.*"timestamp":"\([^"]*\)".*/\1/p' "$work/events.ndjson")
  python3 - "$work/bodies/batch.json" "$work/visits.ndjson" "$1" "$first" "$last" <<'PY'
import datetime, json, random, sys
batch, out, n, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ms = lambda s: int(datetime.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp() * 1000)
t0, t1 = ms(first), ms(last)
visits = json.load(open(batch))['visits']
rng = random.Random(1)
with open(out, 'w') as f:
    for i in range(n):
        v = dict(visits[i % len(visits)])
        v['event_id'] = i
        v['time'] = rng.randint(t0 - 1, t1 + 1)
        f.write(json.dumps(v, separators=(',', ':')) + '\n')
PY
}

machine() {
  echo "$("$nats_bin" --version 2>/dev/null || echo "nats-server: none") ($nats_bin)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
}

# start_nats_cluster N: N nats-server processes with JetStream and cluster routes on
# loopback ports from 14222 (clients), 15222 (monitoring) and 16222 (routes) — from
# NATS_PORT_BASE + 1, + 1001 and + 2001 when it is set — data in $work/nats; sets $nats_urls
# (comma-separated), $nats_pids and $nats_monitors (the monitoring ports).
start_nats_cluster() {
  local n="$1" i j attempt base="${NATS_PORT_BASE:-14221}"
  nats_urls="" nats_pids=() nats_monitors=()
  for i in $(seq 1 "$n"); do
    mkdir -p "$work/nats/n$i"
    nats_monitors+=($((base + 1000 + i)))
    {
      echo "server_name: n$i"
      echo "listen: 127.0.0.1:$((base + i))"
      echo "http: 127.0.0.1:$((base + 1000 + i))"
      echo "max_payload: 8MB"
      echo "jetstream { store_dir: \"$work/nats/n$i\", max_memory_store: 256MB, max_file_store: 8GB${NATS_SYNC_INTERVAL:+, sync_interval: $NATS_SYNC_INTERVAL} }"
      if [ "$n" -gt 1 ]; then
        echo "cluster { name: referrald-bench, listen: 127.0.0.1:$((base + 2000 + i)), routes: ["
        for j in $(seq 1 "$n"); do [ "$j" = "$i" ] || echo "  nats-route://127.0.0.1:$((base + 2000 + j))"; done
        echo "] }"
      fi
    } >"$work/nats/n$i.conf"
    nats_urls="${nats_urls:+$nats_urls,}nats://127.0.0.1:$((base + i))"
  done
  # A fresh cluster's JetStream meta group can leave a server out of its peers for good
  # (nats-server 2.10.27, about one start in twenty: its leader lists one peer of two, and a
  # stream of three replicas cannot be placed, JetStream error 10005): then the servers start
  # again from empty stores, as the tests' clusters do.
  for attempt in 1 2 3; do
    for i in $(seq 1 "$n"); do
      "$nats_bin" -c "$work/nats/n$i.conf" -l "$work/nats/n$i.log" &
      pids+=($!)
      nats_pids[i - 1]=$!
    done
    for i in $(seq 1 "$n"); do
      for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null && break
        sleep 0.1
      done
      # The port answering is not enough: another server left on it would answer too.
      if ! kill -0 "${nats_pids[i - 1]}" 2>/dev/null; then
        echo "nats-server n$i did not start (is port $((base + i)) taken?):" >&2
        tail -n 5 "$work/nats/n$i.log" >&2 || true
        exit 1
      fi
    done
    [ "$n" -eq 1 ] && return
    nats_formed "$n" 20 && return
    echo "the $n NATS servers formed no JetStream cluster of $n peers in 20 s (attempt $attempt); starting them again from empty stores" >&2
    for i in $(seq 1 "$n"); do
      kill "${nats_pids[i - 1]}" 2>/dev/null || true
      wait "${nats_pids[i - 1]}" 2>/dev/null || true
      rm -rf "$work/nats/n$i"
      mkdir -p "$work/nats/n$i"
    done
    # Gone: their PIDs are no longer this script's to stop.
    local kept=() p
    for p in "${pids[@]}"; do
      [[ " ${nats_pids[*]} " == *" $p "* ]] || kept+=("$p")
    done
    pids=("${kept[@]}")
  done
  echo "the $n NATS servers formed no JetStream cluster in three attempts" >&2
  exit 1
}

# nats_formed N SECONDS: whether, within SECONDS, the leader of the JetStream meta group of
# start_nats_cluster's N servers counts the N - 1 others as current peers.
nats_formed() {
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ -z "$(nats_meta_missing n "$1" $((nats_monitors[0] - 1)))" ] && return 0
    sleep 0.2
  done
  return 1
}

# start_node NAME DATA [flags...]: a referrald on a free loopback port, its environment
# given VAR=VALUE words from the array referrald_env (none by default); sets NAME_url and
# NAME_pid.
referrald_env=()
start_node() {
  local name="$1" data="$2"
  shift 2
  env "${referrald_env[@]}" REFERRALD_BOOTSTRAP_KEY="$bench_key" \
    "${referrald_bin:-$root/build/referrald}" --listen 127.0.0.1:0 --data "$data" --log-level warn \
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  printf -v "${name}_pid" '%s' "$!"
  for _ in $(seq 1 600); do
    grep -q "listening on" "$work/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  if ! grep -q "listening on" "$work/$name.out" 2>/dev/null; then
    echo "referrald $name did not start within 60 s:" >&2
    tail -n 5 "$work/$name.err" >&2 || true
    exit 1
  fi
  printf -v "${name}_url" 'http://%s' "$(sed -n 's/^listening on //p' "$work/$name.out")"
}
# warm_two_nodes: creates through node a for 2 s over the 32 accounts creates_on_two_nodes
# writes, so that every one of them is loaded on both nodes before a measurement.
warm_two_nodes() {
  PREFIX=w ACCOUNTS=32 wrk -t2 -c32 -d2s -H "Authorization: Bearer $bench_key" \
    -s "$root/tools/bench/create.lua" "$a_url" >/dev/null
}
# creates_on_two_nodes SECONDS [URL_A URL_B]: creates through nodes a and b ($a_url, $b_url,
# or the servers at URL_A and URL_B) at once, 16 connections on each over the same 32 accounts
# (about half of them forwarded), each of a domain of its own; prints the creates answered, or
# stops the run when any was not answered 201. The two clients' domains differ (x0-…, x1-…):
# with the same ones, as until 2026-11-28, every domain was sent twice and half the requests
# were 409 answers, which cost no write.
creates_on_two_nodes() {
  local n url urls=("${2:-$a_url}" "${3:-$b_url}") wrks=()
  for n in 0 1; do
    PREFIX="x$n" ACCOUNTS=32 wrk -t1 -c16 -d"$1s" -H "Authorization: Bearer $bench_key" \
      -s "$root/tools/bench/create.lua" "${urls[$n]}" >"$work/w$n.out" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  if grep -q Non-2xx "$work/w0.out" "$work/w1.out"; then
    echo "creates through two nodes: some were not answered 201:" >&2
    cat "$work/w0.out" "$work/w1.out" >&2
    return 1
  fi
  cat "$work/w0.out" "$work/w1.out" | awk '/requests in/ {s += $1} END {print s}'
}
# start_two_nodes [URLS_A URLS_B]: nodes a and b on $nats_urls, or node a on the NATS
# servers of URLS_A and b on those of URLS_B (start_node), then waits up to 15 s until each
# counts both as members (the owners of the partitions are settled).
start_two_nodes() {
  start_node a "$work/a" --cluster "${1:-$nats_urls}" --node-name a
  start_node b "$work/b" --cluster "${2:-$nats_urls}" --node-name b
  for _ in $(seq 1 150); do
    [ "$(metric "$a_url" referrald_cluster_members)" = 2 ] &&
      [ "$(metric "$b_url" referrald_cluster_members)" = 2 ] && return
    sleep 0.1
  done
}
# stop_node PID: SIGTERM, then waits for it.
stop_node() { kill "$1"; wait "$1" 2>/dev/null || true; }

# metric URL NAME: the value of the Prometheus metric NAME (without labels) on URL.
metric() { curl -sf "$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }

# owner WRITE...: runs the write (a curl on node a of start_two_nodes) and prints a or b: b
# when a forwarded it; nothing when the write failed.
owner() {
  local before after
  before=$(metric "$a_url" referrald_cluster_forwarded_total)
  "$@" >/dev/null || return 0
  after=$(metric "$a_url" referrald_cluster_forwarded_total)
  if [ "$after" = "$before" ]; then echo a; else echo b; fi
}
# take_accounts PREFIX N: N accounts owned by node a into $own_a and N owned by node b into
# $own_b (comma-separated), each with one rule written through a. A write refused while a new
# cluster settles (503) is made again a moment later, for 60 s at most.
take_accounts() {
  own_a="" own_b=""
  local i=0 na=0 nb=0 refused=0 who
  while [ "$na" -lt "$2" ] || [ "$nb" -lt "$2" ]; do
    who=$(owner curl -sf -X POST "$a_url/passthrough-referrers?account_id=$1$i" \
      -H "Authorization: Bearer $bench_key" -H 'Content-Type: application/json' \
      -d "{\"domain\":\"first$i-$RANDOM.example\",\"utm_source\":\"p\"}")
    if [ -z "$who" ]; then
      refused=$((refused + 1))
      if [ "$refused" -gt 300 ]; then
        echo "the cluster refused writes for 60 s" >&2
        exit 1
      fi
      sleep 0.2
      continue
    fi
    if [ "$who" = a ] && [ "$na" -lt "$2" ]; then
      own_a="${own_a:+$own_a,}$1$i" na=$((na + 1))
    elif [ "$who" = b ] && [ "$nb" -lt "$2" ]; then
      own_b="${own_b:+$own_b,}$1$i" nb=$((nb + 1))
    fi
    i=$((i + 1))
  done
}

# wrk_latency ARGS...: runs wrk with --latency and prints "req/s p50 p99".
wrk_latency() {
  wrk --latency "$@" | awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END {printf "%s req/s, p50 %s, p99 %s%s\n", rps, p50, p99, (bad ? ", non-2xx " bad : "")}'
}

# stream_leader: the number I of the NATS server nI leading the event stream (empty when
# none does).
stream_leader() {
  { "$root/build/referralctl" --cluster "$nats_urls" cluster status 2>/dev/null || true; } |
    sed -n 's/.*"leader":"n\([0-9]*\)".*/\1/p'
}

# lead_event_stream I: the event stream's leaders asked to step down (referralctl cluster
# stepdown) until server nI leads it, 60 s at most; stops the run when it does not.
lead_event_stream() {
  local deadline=$((SECONDS + 60)) now
  while [ "$SECONDS" -lt "$deadline" ]; do
    now=$(stream_leader)
    [ "$now" = "$1" ] && return
    if [ -n "$now" ]; then
      "$root/build/referralctl" --cluster "$nats_urls" cluster stepdown >/dev/null 2>&1 || true
    else
      sleep 0.1
    fi
  done
  echo "the event stream is led by n${now:-(none)}, not n$1, after 60 s of stepdowns" >&2
  exit 1
}

# restart_nats I: starts server nI of start_nats_cluster again (after it stopped).
restart_nats() {
  wait "${nats_pids[$1 - 1]}" 2>/dev/null || true
  "$nats_bin" -c "$work/nats/n$1.conf" -l "$work/nats/n$1.log" &
  pids+=($!)
  nats_pids[$1 - 1]=$!
}

# lame_duck_in_30s: the servers of start_nats_cluster started again with a lame duck mode
# that closes their clients over 30 s (the least nats-server takes), after 1 s.
lame_duck_in_30s() {
  local i
  for i in $(seq 1 "${#nats_pids[@]}"); do
    printf 'lame_duck_grace_period: "1s"\nlame_duck_duration: "30s"\n' >>"$work/nats/n$i.conf"
    kill "${nats_pids[i - 1]}"
    restart_nats "$i"
  done
  sleep 1
}

# settle_nats: waits until every replica of the streams is current (30 s at most), then 2 s.
settle_nats() {
  for _ in $(seq 1 150); do
    "$root/build/referralctl" --cluster "$nats_urls" cluster status 2>/dev/null |
      grep -q '"current":false\|"offline":true' || break
    sleep 0.2
  done
  sleep 2
}

# nats_messages: the messages the NATS servers of start_nats_cluster have received and sent
# so far, together (their /varz in_msgs and out_msgs: clients', routes' and their own); a
# difference over a load, per write, is what each write costs the servers in messages.
nats_messages() {
  local port
  for port in "${nats_monitors[@]}"; do
    curl -sf "http://127.0.0.1:$port/varz"
  done | awk -F'[:,]' '/"(in|out)_msgs"/ {s += $2} END {printf "%.0f\n", s}'
}

# Processes counted over a load of $seconds (writes_against, commit_wait).
# counted PID...: starts perf stat (task-clock, context switches, and $counted_more: more
# events, comma-separated) on each PID for the load's SECONDS, into $work/stat.PID; the
# caller waits for $counting.
counted() {
  local p
  counting=()
  for p in "$@"; do
    perf stat -x, -e "task-clock,context-switches${counted_more:+,$counted_more}" -p "$p" \
      -o "$work/stat.$p" -- sleep "$seconds" 2>/dev/null &
    counting+=($!)
  done
}
# counted_cpu PIDS... -- COUNT: the CPU the processes counted spent together (their
# $work/stat.PID files) per one of COUNT, in microseconds.
counted_cpu() {
  local files=()
  while [ "$1" != -- ]; do files+=("$work/stat.$1"); shift; done
  awk -F, -v c="$2" '/task-clock/ {ms += $1} END {printf "%.0f", ms * 1000 / c}' "${files[@]}"
}
# per_create PID CREATES: "C us CPU, S switches per create" from $work/stat.PID.
per_create() {
  awk -F, -v c="$2" '
    /task-clock/ {ms = $1}
    /context-switches/ {cs = $1}
    END {printf "%.0f us CPU, %.2f switches per create", ms * 1000 / c, cs / c}' "$work/stat.$1"
}
# check_counted NAME PID LOG: stops the run, saying why and showing the end of LOG, when
# PID was not counted over the load (it ended, or perf stat could not follow it).
check_counted() {
  [ -s "$work/stat.$2" ] && return
  local state=ended
  kill -0 "$2" 2>/dev/null && state="still running"
  echo "$1 (pid $2) was not counted over the load: $state; the end of its log:" >&2
  tail -n 5 "$3" >&2 || true
  exit 1
}
# children_us COUNT: the CPU the shell's children used between $work/times.0 and
# $work/times.1 (the second line of bash's `times`, "XmY.YYYs XmY.YYYs"), in microseconds
# per COUNT.
children_us() {
  awk -v c="$1" 'FNR == 2 {
      for (i = 1; i <= 2; i++) { split($i, t, "m"); s[FILENAME] += t[1] * 60 + t[2] }
    }
    END {printf "%.0f", (s[ARGV[2]] - s[ARGV[1]]) * 1e6 / c}' "$work/times.0" "$work/times.1"
}
# stat_ticks FILE: the user and system time so far, in clock ticks (CLK_TCK), of a process's or
# a thread's /proc stat file (read after the name in parentheses, which may hold spaces).
stat_ticks() { sed 's/.*) //' "$1" | awk '{print $12, $13}'; }
# proc_ticks PID: the process's, from /proc/PID/stat.
proc_ticks() { stat_ticks "/proc/$1/stat"; }
# thread_ticks PID: "TID NAME USER SYSTEM" for each of the process's threads (its name as the
# kernel keeps it, spaces made _; times in clock ticks so far), a line each.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(stat_ticks "$t/stat")"
  done 2>/dev/null
}
# thread_split BEFORE AFTER N: from two thread_ticks outputs (files), each thread name's user
# and system time between them per N (of the process's requests or writes), in us, on one
# line, the busiest first; names under 1 us left out. A thread started in between counts from
# nothing.
thread_split() {
  awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
    FNR == NR {u0[$1] = $3; s0[$1] = $4; next}
    {u[$2] += ($3 - u0[$1]) * 1e6 / hz / n; s[$2] += ($4 - s0[$1]) * 1e6 / hz / n}
    END {
      for (k in u) if (u[k] + s[k] >= 1) printf "%09.1f %s %.1f+%.1f\n", u[k] + s[k], k, u[k], s[k]
    }' "$1" "$2" | sort -r | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $3}'
}
# alternate_pairs PAIRS FORMAT: PAIRS pairs of windows, each a call of the script's own
# `window PAIR BUILD` (BUILD "this" or "rev"), which adds a line "PAIR BUILD v3 v4 ..." to
# $work/pairs; this build goes first in odd pairs, $sha's in even ones. After each pair its two
# lines are printed with FORMAT (awk's printf of the line's fields in order), and at the end
# the heading of pairs_summary's lines (the script's $sha and $seconds).
alternate_pairs() {
  local pair order build
  for pair in $(seq 1 "$1"); do
    if [ $((pair % 2)) = 1 ]; then order="this rev"; else order="rev this"; fi
    for build in $order; do window "$pair" "$build"; done
    awk -v p="$pair" -v f="$2" '$1 == p {printf f, $1, $2, $3, $4, $5, $6, $7, $8}' "$work/pairs"
  done
  echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)'); against: $sha, over $1 pairs of $seconds s:"
}
# pairs_summary FILE FIELD:HIGHER:LABEL...: over the pairs in FILE (lines "PAIR BUILD v3 v4 ...",
# BUILD "this" or "rev"), for each FIELD (its column), the mean for both builds, the mean and
# median of this build's difference, and in how many pairs this build's value was the better
# (HIGHER 1: the higher; 0: the lower), a line each, named LABEL.
pairs_summary() {
  local file="$1"
  shift
  awk -v specs="$(printf '%s\n' "$@")" '
    { for (f = 3; f <= NF; f++) v[$1, $2, f] = $f; if ($1 > n) n = $1 }
    function median(a, k,   i, j, t) {
      for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    function line(f, label, higher_wins,   p, sa, sb, won, d) {
      sa = sb = won = 0
      for (p = 1; p <= n; p++) {
        sa += v[p, "this", f]; sb += v[p, "rev", f]; d[p] = v[p, "this", f] - v[p, "rev", f]
        if (higher_wins ? d[p] > 0 : d[p] < 0) won++
      }
      printf "  %-22s this %9.2f, rev %9.2f; difference mean %+.2f, median %+.2f; this %s in %d of %d\n",
        label, sa / n, sb / n, (sa - sb) / n, median(d, n), (higher_wins ? "higher" : "lower"), won, n
    }
    END {
      k = split(specs, s, "\n")
      for (i = 1; i <= k; i++) if (s[i] != "") { split(s[i], part, ":"); line(part[1], part[3], part[2]) }
    }' "$file"
}
# busy_over SECONDS: the machine's busy share over the next SECONDS, in percent of all its
# cores (from /proc/stat; steal counts as busy), into $work/busy; the caller waits for $busy.
busy_over() {
  (
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    sleep "$1"
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
    b=$(((u2 - u1) + (n2 - n1) + (s2 - s1) + (q2 - q1) + (sq2 - sq1) + (st2 - st1)))
    echo $((100 * b / (b + (i2 - i1) + (w2 - w1))))
  ) >"$work/busy" &
  busy=$!
}

# synced_puts: the round's ceiling for embedded writes: 32 threads of synced RocksDB puts of
# a create's size for $seconds (bench_synced_puts), into $puts; prints it with the puts per
# log sync, the puts' own CPU per put and the machine's busy share.
synced_puts() {
  busy_over "$seconds"
  "$root/build/bench/bench_synced_puts" "$work/limit" 32 "$seconds" 420 >"$work/puts.out"
  wait "$busy" || true
  rm -rf "$work/limit"
  # The syncs and the CPU are counted by the puts themselves (RocksDB's DB stats, getrusage):
  # perf stat around them would slow the ceiling down.
  local per_sync per_put
  read -r puts per_sync per_put < <(awk '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      per_sync = "?"
      if (v["wal_syncs"] > 0) per_sync = sprintf("%.1f", v["puts"] / v["wal_syncs"])
      printf "%s %s %.0f\n", v["puts_per_sec"], per_sync, v["cpu_ms"] * 1000 / v["puts"]
    }' "$work/puts.out")
  echo "  synced puts: $puts/s; $per_sync puts per sync; $per_put us CPU per put" \
    "(machine busy $(cat "$work/busy") %)"
}

# create_load URL PID|- ENV...: create.lua's load (wrk -t2 -c32 over 32 accounts, PREFIX=x
# and ENV for the script) on URL for $seconds, PID counted meanwhile (counted; "-" for none),
# and the client too: what the shell's children used meanwhile (wrk, and the few milliseconds
# of the counting processes), from `times` (perf stat would slow wrk down), with the machine's
# busy share. Sets $requests (answered, from wrk's summary); wrk's output is in
# $work/wrk.out.
create_load() {
  local url="$1" pid="$2" auth=(-H "Authorization: Bearer $bench_key")
  shift 2
  busy_over "$seconds"
  times >"$work/times.0"
  env PREFIX=x ACCOUNTS=32 "$@" wrk -t2 -c32 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/create.lua" "$url" >"$work/wrk.out" &
  local client=$!
  counting=()
  [ "$pid" = - ] || counted "$pid"
  wait "$client" "${counting[@]}" "$busy" || true
  times >"$work/times.1"
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
}
# counted_creates ENV...: create_load on the embedded server ($e_url, $e_pid), counted.
counted_creates() {
  create_load "$e_url" "$e_pid" "$@"
  check_counted "the embedded server" "$e_pid" "$work/e.err"
}

# smallest_over_http LABEL MODE ARGS...: a ceiling over HTTP: bench_http_puts MODE ARGS (the
# smallest server that makes each request's body durable before its 201: rocksdb DIR or
# grouped DIR, the synced puts; stream or grouped-stream URLS STREAM REPLICAS, the stream
# alone) under create_load's load; sets $over_http (writes/s) and prints it with the
# server's own CPU per write (from its getrusage, over its whole run: it needs no warming)
# and the kernel's share of it, its writes per log sync (RocksDB's), the client's CPU per
# write and the machine's busy share.
smallest_over_http() {
  local label="$1"
  shift
  start_http_puts http "$@"
  create_load "$http_url" -
  stop_http_puts http "$*"
  grep -q Non-2xx "$work/wrk.out" && stop_http_puts http "$*" failed
  over_http=$(awk -v c="$requests" -v s="$seconds" 'BEGIN {printf "%.0f", c / s}')
  awk -v l="$label" -v r="$over_http" '/^http puts:/ {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "  %s over HTTP (the smallest server): %d/s; its CPU %.0f us per write", l, r,
        v["cpu_ms"] * 1000 / v["puts"]
      if (v["cpu_ms"] > 0 && v["sys_ms"] != "")
        printf " (%.0f %% in the kernel)", 100 * v["sys_ms"] / v["cpu_ms"]
      printf "; "
      if (v["wal_syncs"] > 0) printf "%.1f writes per sync; ", v["puts"] / v["wal_syncs"]
    }' "$work/http.out"
  echo "client $(children_us "$requests") us CPU per write; machine busy $(cat "$work/busy") %"
}
# start_http_puts NAME MODE ARGS...: bench_http_puts MODE ARGS, its output in $work/NAME.out and
# .err; sets NAME_url and NAME_pid once it listens (stops the run when it does not start).
start_http_puts() {
  local name="$1"
  shift
  "$root/build/bench/bench_http_puts" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local server=$!
  pids+=("$server")
  while kill -0 "$server" 2>/dev/null && ! grep -q "listening on" "$work/$name.out"; do
    sleep 0.05
  done
  if ! grep -q "listening on" "$work/$name.out"; then
    local status=0
    wait "$server" || status=$?
    echo "bench_http_puts $* did not start (exit status $status$( ((status > 128)) &&
      echo ": signal $(kill -l $((status - 128)))")):" >&2
    cat "$work/$name.err" >&2
    exit 1
  fi
  printf -v "${name}_pid" '%s' "$server"
  printf -v "${name}_url" 'http://%s' "$(sed -n 's/^listening on //p' "$work/$name.out")"
}
# stop_http_puts NAME WHAT [failed]: stops NAME's bench_http_puts (SIGTERM: it prints its
# summary) and waits for it; stops the run, showing its output, when it failed a write or
# when told it did.
stop_http_puts() {
  local pid="${1}_pid"
  kill -TERM "${!pid}" 2>/dev/null || true
  if ! wait "${!pid}" || [ -n "${3:-}" ]; then
    echo "bench_http_puts $2 failed a write:" >&2
    cat "$work/$1.out" "$work/$1.err" >&2
    exit 1
  fi
}

# embedded_creates LABEL BINARY: durable creates on one embedded server of BINARY, 32 clients
# over 32 accounts (counted_creates) after a second's warming, beside the round's synced puts
# ($puts): creates/s and their ratio to the puts (and to $over_http, the puts over HTTP, when
# set), the server's CPU and context switches per create, the client's (wrk's) CPU per create
# (it shares the cores), creates per commit (one fsync each) and the commits' mean time, from
# the server's /metrics, and the machine's busy share. Sets $commit_us, the mean commit in
# microseconds.
embedded_creates() {
  rm -rf "$work/e"
  referrald_bin="$2" start_node e "$work/e"
  PREFIX=w ACCOUNTS=32 wrk -t2 -c32 -d1s -H "Authorization: Bearer $bench_key" \
    -s "$root/tools/bench/create.lua" "$e_url" >/dev/null
  local commits0 commit_s0 commits commit_s
  commits0=$(metric "$e_url" referrald_store_commits_total)
  commit_s0=$(metric "$e_url" referrald_store_commit_seconds_sum)
  counted_creates
  commits=$(($(metric "$e_url" referrald_store_commits_total) - commits0))
  commit_s=$(awk -v a="$commit_s0" -v b="$(metric "$e_url" referrald_store_commit_seconds_sum)" \
    'BEGIN {print b - a}')
  grep -q Non-2xx "$work/wrk.out" && echo "  (non-2xx answers!)"
  commit_us=$(awk -v s="$commit_s" -v n="$commits" 'BEGIN {printf "%.0f", s * 1e6 / n}')
  awk -v l="$1" -v c="$requests" -v s="$seconds" -v p="$puts" -v h="${over_http:-0}" 'BEGIN {
      printf "  %-6s embedded creates: %6.0f/s = %.2fx synced puts", l, c / s, c / s / p
      if (h > 0) printf " (%.2fx over HTTP)", c / s / h
      printf "; "
    }'
  echo "server $(per_create "$e_pid" "$requests"); client $(children_us "$requests") us CPU" \
    "per create;" \
    "$(awk -v c="$requests" -v n="$commits" 'BEGIN {printf "%.1f", c / n}') creates per commit" \
    "of ${commit_us} us; machine busy $(cat "$work/busy") %"
  stop_node "$e_pid"
}
