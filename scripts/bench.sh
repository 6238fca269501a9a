#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# README command 1: install what is missing, build the release preset and run the main job:
# `sqlh bench`, the contention benchmark on a local SQLite file (arguments go to it; see
# docs/cli.md). The other benchmarks (core_bench, write_buffer_bench, log_bench) are built next
# to it; docs/benchmarks.md says how to run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sqlh core_bench write_buffer_bench log_bench
./build/release/tools/sqlh/sqlh bench "$@"
