#!/usr/bin/env bash
# README command 1: install what is missing, build the release preset and run the main job:
# the contention benchmark on a local SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target core_bench
./build/release/bench/core_bench "$@"
