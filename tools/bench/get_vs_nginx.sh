#!/usr/bin/env bash
# GET of one passthrough referrer over keep-alive HTTP, 64 connections, side by side
# with nginx serving the same JSON bytes as a static file under the same load.
#   tools/dev bench get_vs_nginx [SECONDS=10] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
rounds="${2:-3}"
start_referrald
auth=(-H "Authorization: Bearer $bench_key")
curl -sf -X POST "$referrald_url/passthrough-referrers?account_id=acme" "${auth[@]}" \
  -H 'Content-Type: application/json' \
  -d '{"domain":"booking.mirai.com","utm_source":"mirai","service_name":"Mirai Booking Engine"}' >/dev/null
url="$referrald_url/passthrough-referrers/1?account_id=acme"
curl -sf "$url" "${auth[@]}" >"$work/one.json"
start_nginx "$work/one.json"
echo "$(machine)"
echo "body: $(wc -c <"$work/one.json") bytes; wrk -t2 -c64 -d${seconds}s; alternating rounds"
for r in $(seq 1 "$rounds"); do
  echo "round $r referrald: $(wrk_summary -t2 -c64 -d"${seconds}s" "${auth[@]}" "$url")"
  echo "round $r nginx:     $(wrk_summary -t2 -c64 -d"${seconds}s" "$nginx_url")"
done
