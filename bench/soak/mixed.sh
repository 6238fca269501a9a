#!/bin/sh
# SPDX-License-Identifier: BSL-1.0
# The multi-process soak (not in CI): sqlh bench's mixed workload under the hybrid strategy over
# 4 processes for SECONDS (default 600), while another process takes the write lock at random
# moments for up to 8 s, now and then past the 5 s deadline of the API writes. Then checks:
# no acknowledged row lost, every error surfaced is an API write that gave up at its deadline,
# nothing left unwritten in the write buffer, and each process's heap flat after warm-up (at
# most MAX_GROWTH_MB, default 32, from a quarter into the run to its end).
#   bench/soak/mixed.sh [SECONDS]      SQLH: the sqlh binary (default: the release build)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-600}
sqlh=${SQLH:-$root/build/release/tools/sqlh/sqlh}
if [ ! -x "$sqlh" ]; then
    cmake --preset release -S "$root" >/dev/null
    cmake --build "$root/build/release" --target sqlh
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$sqlh" bench --strategy hybrid --processes 4 --duration "$seconds" --hold-lock 8 \
    --lock-holds $((seconds / 20 > 1 ? seconds / 20 : 2)) --json >"$out"; then
    echo "FAILED: sqlh bench did not complete" >&2
    exit 1
fi
python3 - "$out" "${MAX_GROWTH_MB:-32}" <<'CHECK'
import json, sys
doc = json.load(open(sys.argv[1]))
limit = float(sys.argv[2])
s = doc["strategies"][0]
ops = {o["op"]: o for o in s["ops"]}
m, hold = s["metrics"], s["hold_lock"]
print(f"{s['elapsed_s']:.0f} s, 4 processes: {ops['api_write']['committed']} API writes "
      f"({ops['api_write']['per_s']:.0f}/s, p99 {ops['api_write']['p99_ms']:.2f} ms), "
      f"{ops['api_read']['committed']} reads, {ops['bulk_write']['committed']} buffered rows, "
      f"{ops['log']['committed']} log entries")
print(f"lock held {hold['holds']} times, {hold['held_s']:.1f} s in all, longest "
      f"{hold['longest_s']:.2f} s; API writes that gave up at the deadline: {m['retry_give_ups']:.0f}")
print(f"rows checked {s['rows_checked']}, lost {s['rows_lost']}, unacknowledged present "
      f"{s['rows_unacknowledged']}; errors surfaced {s['errors']}")
failures = []
if s["rows_lost"] != 0:
    failures.append("acknowledged rows lost")
if s["errors"] != m["retry_give_ups"]:
    failures.append("errors other than deadline give-ups surfaced")
if m["retry_give_ups"] > 0 and hold["longest_s"] < 5:
    failures.append("writes gave up although no hold outlasted the 5 s deadline")
if m["buffer_unwritten"] != 0:
    failures.append("the write buffer left rows unwritten")
for p, (start, quarter, end) in enumerate(s["rss_anon_mb"]):
    print(f"process {p}: heap {start:.1f} MiB at the start, {quarter:.1f} a quarter in, "
          f"{end:.1f} at the end")
    if end - quarter > limit:
        failures.append(f"process {p}'s heap grew {end - quarter:.1f} MiB after warm-up")
for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
CHECK
