#!/usr/bin/env python3
"""Medians of several core_bench --json runs: median.py run1.json run2.json ..."""
import json
import statistics
import sys

runs = [json.load(open(path)) for path in sys.argv[1:]]
print(f"{len(runs)} runs, medians")
print(f"{'scenario':<11} {'side':<9} {'ops/s':>10} {'ratio':>7} {'p50 us':>9} {'p99 us':>9} {'max us':>9}")
for i, first in enumerate(runs[0]["scenarios"]):
    scenarios = [run["scenarios"][i] for run in runs]
    ratio = statistics.median(s["ratio"] for s in scenarios)
    for side in ("library", "raw", "raw_batched"):
        if side not in first:
            continue
        med = lambda key: statistics.median(s[side][key] for s in scenarios)
        shown = f"{ratio:.2f}x" if side == "library" else ""
        print(f"{first['name'] if side == 'library' else '':<11} {side:<9} {med('ops_per_s'):>10.0f} "
              f"{shown:>7} {med('p50_us'):>9.1f} {med('p99_us'):>9.1f} {med('max_us'):>9.1f}")
print(f"peak RSS (median): {statistics.median(r['peak_rss_kib'] for r in runs):.0f} KiB")
