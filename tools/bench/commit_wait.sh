#!/usr/bin/env bash
# What waiting for the disk costs a durable write, beside what the disk's sync itself costs:
# embedded_creates (32 clients over 32 accounts) on this build, three ways in each round,
# beside the round's synced puts:
#   synced   as the server runs: every commit fsyncs;
#   free     the server's fsync()/fdatasync() replaced (LD_PRELOAD of bench_sync_wait.so) by
#            functions that sync nothing: what a write would cost on a disk that synced at
#            once;
#   waited   the same, each of them sleeping as long as the sync took (the synced run's mean
#            commit less the free run's): the disk's work and the sync's CPU gone, the wait
#            kept.
# Where synced and waited spend alike per create and free less, the difference is the wait's
# doing (idle cores, threads put to sleep and woken again), not the sync's.
#   tools/dev bench commit_wait [SECONDS=6] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-6}"
rounds="${2:-3}"
shim="$root/build/bench/bench_sync_wait.so"
echo "$(machine)"
for round in $(seq 1 "$rounds"); do
  echo "round $round:"
  synced_puts
  referrald_env=()
  embedded_creates synced "$root/build/referrald"
  synced_us=$commit_us
  referrald_env=(LD_PRELOAD="$shim")
  embedded_creates free "$root/build/referrald"
  referrald_env=(LD_PRELOAD="$shim" REFERRALD_BENCH_SYNC_WAIT_US=$((synced_us - commit_us)))
  embedded_creates waited "$root/build/referrald"
done
