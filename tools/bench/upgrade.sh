#!/usr/bin/env bash
# A rolling upgrade of the NATS servers from Debian 12's nats-server 2.9.10 to 2.10.27 under
# both nodes' writes (docs/cluster.md, "Upgrading the NATS servers"): three servers start on
# 2.9.10 (/usr/sbin/nats-server, or $OLD_NATS_SERVER), two nodes a and b each write creates
# one at a time; the two servers not leading the stream are upgraded first, one after the
# other, then the leader, after `referralctl cluster stepdown`. Each server is stopped in
# lame duck mode and started again on the new binary with the same configuration and store,
# and the next waits until every replica is current. Then the writers stop, and every write
# acknowledged (201) or answered 409 must be listed by both nodes, and `referralctl --cluster
# verify` must pass. Prints each step's pause and the totals. About 4 minutes.
#   tools/dev bench upgrade
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
old_bin="${OLD_NATS_SERVER:-/usr/sbin/nats-server}"
new_bin="$(nats_server_project_bin)"
[ -x "$old_bin" ] && [ -x "$new_bin" ] || {
  echo "needs $old_bin and $new_bin (tools/dev bench installs both)" >&2
  exit 1
}
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')
echo "$(machine)"
echo "from $("$old_bin" --version) to $("$new_bin" --version)"

nats_bin="$old_bin"
start_nats_cluster 3
lame_duck_in_30s
start_two_nodes

# writer NAME URL: creates one at a time through URL, into accounts u0..u3; a line
# "end_ns code account domain" per request.
writer() {
  local n=0 account domain code
  while :; do
    n=$((n + 1))
    account="u$((n % 4))"
    domain="$1-$n.upgrade.example"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
      "$2/passthrough-referrers?account_id=$account" "${auth[@]}" "${json[@]}" \
      -d "{\"domain\":\"$domain\",\"utm_source\":\"$1\"}" || true)
    echo "$(date +%s%N) $code $account $domain"
    # A 503 or no answer is sent again under the same name (a 409 then says it landed).
    case "$code" in 201 | 409) ;; *) n=$((n - 1)); sleep 0.05 ;; esac
  done
}
writer a "$a_url" >"$work/writes-a" &
pids+=($!)
writer_a=$!
writer b "$b_url" >"$work/writes-b" &
pids+=($!)
writer_b=$!
sleep 5

# upgrade I: server nI stopped in lame duck mode, started on the new binary, settled; prints
# the longest pause between two acknowledged writes of either writer meanwhile.
upgrade() {
  local t0
  t0=$(date +%s%N)
  "$nats_bin" --signal "ldm=${nats_pids[$1 - 1]}" >/dev/null 2>&1 || kill "${nats_pids[$1 - 1]}"
  wait "${nats_pids[$1 - 1]}" 2>/dev/null || true
  nats_bin="$new_bin" restart_nats "$1"
  settle_nats
  echo "n$1 upgraded ($2): $("$new_bin" --version | sed 's/.* //') after $(( ($(date +%s%N) - t0) / 1000000 )) ms; longest pause $(cat "$work/writes-a" "$work/writes-b" | sort -n | awk -v t0="$t0" '
    $1 >= t0 && $2 ~ /^(201|409)$/ { if (last && $1 - last > gap) gap = $1 - last; last = $1 }
    END { printf "%.0f ms", gap / 1e6 }')"
}
# Followers first: the server to upgrade next is one not leading the stream (asked anew each
# time: the leadership may move meanwhile); the last one, when it leads, is stepped down first.
declare -A upgraded=()
while [ "${#upgraded[@]}" -lt 3 ]; do
  leader=$(stream_leader)
  next=""
  for i in 1 2 3; do
    if [ -z "${upgraded[$i]:-}" ] && [ "$i" != "$leader" ]; then next=$i; break; fi
  done
  if [ -n "$next" ]; then
    upgrade "$next" "a follower"
    upgraded[$next]=1
    continue
  fi
  stepped=no
  for _ in $(seq 1 10); do
    if "$root/build/referralctl" --cluster "$nats_urls" cluster stepdown >"$work/stepdown" 2>&1; then
      stepped=yes
      break
    fi
    sleep 2
  done
  [ "$stepped" = yes ] || { echo "cluster stepdown failed: $(cat "$work/stepdown")" >&2; exit 1; }
  upgrade "$leader" "the leader, after a stepdown"
  upgraded[$leader]=1
done
sleep 5
kill "$writer_a" "$writer_b"
wait "$writer_a" "$writer_b" 2>/dev/null || true
sleep 2

python3 - "$a_url" "$b_url" "$bench_key" "$work/writes-a" "$work/writes-b" <<'PY'
import json, sys, urllib.request
a_url, b_url, key, *logs = sys.argv[1:]
def listed(url):
    out = set()
    for account in ("u0", "u1", "u2", "u3"):
        after = ""
        while True:
            q = f"{url}/passthrough-referrers?account_id={account}&limit=1000" + (f"&starting_after={after}" if after else "")
            req = urllib.request.Request(q, headers={"Authorization": "Bearer " + key})
            d = json.load(urllib.request.urlopen(req))["data"]
            out.update((account, r["domain"]) for r in d["referrers"])
            if not d["has_more"]:
                break
            after = str(d["next_starting_after"])
    return out
acked, conflicts, refused = set(), set(), 0
for log in logs:
    for line in open(log):
        parts = line.split()
        if len(parts) != 4:
            continue
        if parts[1] == "201":
            acked.add((parts[2], parts[3]))
        elif parts[1] == "409":
            conflicts.add((parts[2], parts[3]))
        else:
            refused += 1
on_a, on_b = listed(a_url), listed(b_url)
lost = [w for w in acked | conflicts if w not in on_a or w not in on_b]
print(f"writes acknowledged {len(acked)}, answered 409 {len(conflicts)}, refused or unanswered {refused}, "
      f"lost {len(lost)}, nodes equal {on_a == on_b}")
for w in lost[:10]:
    print("  lost:", *w)
sys.exit(1 if lost or on_a != on_b else 0)
PY
if "$root/build/referralctl" --cluster "$nats_urls" verify >"$work/verify" 2>&1; then
  echo "referralctl --cluster verify: clean"
else
  echo "referralctl --cluster verify FAILED:"
  tail -5 "$work/verify"
  exit 1
fi
