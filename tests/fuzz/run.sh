#!/usr/bin/env bash
# Runs every libFuzzer harness for SECONDS each (default 60) with ASan + UBSan,
# starting from the committed seed corpora. New inputs go to a scratch
# directory; a crash, leak or timeout fails the run and leaves the input in
# build-fuzz/crashes/. usage: tests/fuzz/run.sh [SECONDS]
#   NABLA_FUZZ_ONLY=csv     run one harness
#   NABLA_FUZZ_RUNS=N       stop each harness after N inputs (or SECONDS)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${1:-60}
if [ -f build-fuzz/build.ninja ]; then
    meson setup --reconfigure build-fuzz >/dev/null
else
    CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
harnesses=$(cd tests/fuzz && ls fuzz_*.c | sed 's|^|tests/fuzz/|; s|\.c$||')
ninja -C build-fuzz $harnesses >/dev/null # the harnesses only, not the test suites
mkdir -p build-fuzz/crashes
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for harness in build-fuzz/tests/fuzz/fuzz_${NABLA_FUZZ_ONLY:-*}; do
    if [ ! -f "$harness" ] || [ ! -x "$harness" ]; then continue; fi
    name=${harness##*/fuzz_}
    scratch=$(mktemp -d)
    echo "fuzzing $name for ${seconds}s"
    log=$(mktemp)
    status=0
    start=$SECONDS
    "$harness" -max_total_time="$seconds" -runs="${NABLA_FUZZ_RUNS:--1}" -timeout=10 \
        -rss_limit_mb=2048 -max_len=4096 -artifact_prefix=build-fuzz/crashes/"$name"- \
        -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|==|SUMMARY)' "$log" || true
    echo "wall: $((SECONDS - start)) s"
    rm -rf "$scratch"
    [ "$status" -eq 0 ] || tail -40 "$log" >&2
    rm -f "$log"
    if [ "$status" -ne 0 ]; then
        echo "fuzz_$name failed (exit $status); inputs in build-fuzz/crashes/" >&2
        exit 1
    fi
done
echo "fuzzing passed"
