#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# README command 2: install what is missing, build the default preset and pass every test.
# Usage: scripts/test.sh [PRESET]   (default, debug, asan, tsan, release)
# The PostgreSQL tests run against a throwaway cluster started here and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
cluster=$(mktemp -d /tmp/sqlh-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$cluster"' EXIT
SQLITE_HYBRID_TEST_POSTGRES=$(bash scripts/postgres.sh start "$cluster")
export SQLITE_HYBRID_TEST_POSTGRES SQLITE_HYBRID_REQUIRE_POSTGRES=1
ctest --preset "$preset"
