#!/bin/sh
# SPDX-License-Identifier: BSL-1.0
# Builds the fuzz targets with clang, ASan and UBSan, then runs each one for SECONDS (default 60)
# from the committed corpus. New interesting inputs go to a scratch directory (copy the good ones
# into fuzz/corpus/<target>/ by hand); each target's output goes to BUILD/<target>.log; a failing
# input is written to BUILD/findings/ (with the end of the log on stdout), the other targets
# still run, and the script exits 1.
#   fuzz/run.sh [SECONDS] [TARGET...]      BUILD: $FUZZ_BUILD_DIR or build/fuzz
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build/fuzz}
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_values fuzz_write_buffer_names fuzz_log_text fuzz_log_batch fuzz_postgres_sql fuzz_server_request}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSQLITE_HYBRID_BUILD_FUZZERS=ON \
    -DSQLITE_HYBRID_SANITIZE=address,undefined -DSQLITE_HYBRID_BUILD_TESTS=OFF \
    -DSQLITE_HYBRID_BUILD_BENCH=OFF -DSQLITE_HYBRID_BUILD_EXAMPLES=OFF \
    -DSQLITE_HYBRID_BUILD_TOOLS=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" --target $targets

mkdir -p "$build/findings"
failed=""
for target in $targets; do
    scratch=$(mktemp -d)
    log="$build/$target.log"
    echo "== $target: ${seconds}s (output in $log)"
    if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$build/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$build/findings/$target-" "$scratch" "$root/fuzz/corpus/$target" \
        >"$log" 2>&1; then
        failed="$failed $target"
        tail -n 60 "$log"
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    echo "== $target: $(ls "$scratch" | wc -l) new inputs in $scratch"
done
if [ -n "$failed" ]; then
    echo "== failed:$failed (inputs in $build/findings/)"
    exit 1
fi
