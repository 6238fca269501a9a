#!/usr/bin/env bash
# README command 1: install what is missing, build the release preset and run the main job:
# the contention benchmark on a local SQLite file (arguments go to contention_bench; see
# docs/benchmarks.md). core_bench and write_buffer_bench are built next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target contention_bench core_bench write_buffer_bench
./build/release/bench/contention_bench "$@"
