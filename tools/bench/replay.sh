#!/usr/bin/env bash
# Replay rate and start-up time: 1,000 accounts x 1,000 events (1,000,000 events), every
# account rebuilt with its lookup indexes on 2 threads (the server's loader pool), from the
# events alone and from snapshots (one per account at seq 1000, as --snapshot-every 1000
# leaves them; and at seq 500, leaving a 500-event tail).
#   tools/dev bench replay
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
echo "$(machine)"
for at in 1000 500; do
  rm -rf "$work/replay"
  "$root/build/bench/bench_replay" seed "$work/replay" 1000 1000 "$at"
  echo "  store: $(du -sh "$work/replay" | cut -f1)"
  # Once to settle the store (the first open replays the seeding's WAL), then measured.
  "$root/build/bench/bench_replay" load "$work/replay" 2 events >/dev/null
  for mode in events snapshots; do
    for threads in 1 2; do
      "$root/build/bench/bench_replay" load "$work/replay" "$threads" "$mode"
    done
  done
done
