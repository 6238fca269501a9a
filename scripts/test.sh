#!/usr/bin/env bash
# README command 2: install what is missing, build the default preset and pass every test.
# Usage: scripts/test.sh [PRESET]   (default, debug, asan, tsan, release)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset"
