# Shared helpers for the benchmark scripts. Source it; it sets $root and $work.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/referrald-bench-XXXXXX")"
bench_key="rk_bench_admin_secret_0123456789"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$work/nginx/nginx.pid" ]; then kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; fi
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT

# start_referrald [flags...]: starts build/referrald (or $referrald_bin) on a free loopback
# port with the data directory $work/data; sets $referrald_url.
start_referrald() {
  REFERRALD_BOOTSTRAP_KEY="$bench_key" "${referrald_bin:-$root/build/referrald}" --listen 127.0.0.1:0 \
    --data "$work/data" --log-level warn "$@" >"$work/referrald.out" 2>"$work/referrald.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$work/referrald.out" 2>/dev/null && break
    sleep 0.1
  done
  referrald_url="http://$(sed -n 's/^listening on //p' "$work/referrald.out")"
}

# start_nginx FILE: serves FILE as /file.json from nginx on 127.0.0.1:18081 with
# keep-alive, one worker per core; sets $nginx_url.
start_nginx() {
  mkdir -p "$work/nginx/html"
  cp "$1" "$work/nginx/html/file.json"
  # nginx workers run unprivileged: they must be able to read the file.
  chmod a+rx "$work" "$work/nginx" "$work/nginx/html"
  chmod a+r "$work/nginx/html/file.json"
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
  server { listen 127.0.0.1:18081; root $work/nginx/html; location / { } }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
  nginx_url="http://127.0.0.1:18081/file.json"
  sleep 0.3
  if ! cmp -s <(curl -sf "$nginx_url") "$1"; then
    echo "nginx does not serve the file; see $work/nginx/error.log" >&2
    exit 1
  fi
}

# wrk_summary ARGS...: runs wrk with --latency and prints "req/s p99".
wrk_summary() {
  wrk --latency "$@" | awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END {printf "%s req/s, p99 %s%s\n", rps, p99, (bad ? ", non-2xx " bad : "")}'
}

machine() {
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
}

# start_nats_cluster N: N nats-server processes with JetStream and cluster routes on
# loopback ports from 14222 (clients) and 16222 (routes), data in $work/nats; sets
# $nats_urls (comma-separated) and $nats_pids.
start_nats_cluster() {
  local n="$1" i j
  nats_urls="" nats_pids=()
  for i in $(seq 1 "$n"); do
    mkdir -p "$work/nats/n$i"
    {
      echo "server_name: n$i"
      echo "listen: 127.0.0.1:$((14221 + i))"
      echo "max_payload: 8MB"
      echo "jetstream { store_dir: \"$work/nats/n$i\", max_memory_store: 256MB, max_file_store: 8GB }"
      if [ "$n" -gt 1 ]; then
        echo "cluster { name: referrald-bench, listen: 127.0.0.1:$((16221 + i)), routes: ["
        for j in $(seq 1 "$n"); do [ "$j" = "$i" ] || echo "  nats-route://127.0.0.1:$((16221 + j))"; done
        echo "] }"
      fi
    } >"$work/nats/n$i.conf"
    nats-server -c "$work/nats/n$i.conf" -l "$work/nats/n$i.log" &
    pids+=($!)
    nats_pids+=($!)
    nats_urls="${nats_urls:+$nats_urls,}nats://127.0.0.1:$((14221 + i))"
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$((14221 + i))") 2>/dev/null && break
      sleep 0.1
    done
  done
}
