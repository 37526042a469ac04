#!/usr/bin/env bash
# nabla's two quick-start commands (see README.md).
#
#   tools/quickstart.sh demo   install what is missing, build, run the examples
#   tools/quickstart.sh test   install what is missing, build, run every test:
#                              once in the release build, once under ASan +
#                              UBSan with leak checking (any report fails the
#                              run), the threads and engine suites under
#                              ThreadSanitizer (build-tsan/), the
#                              fault-injection suite (build-fault/), then each
#                              fuzzer for NABLA_FUZZ_SECONDS (60)
#   tools/quickstart.sh fault-sweep
#                              the fault-injection suite alone, on its larger
#                              scenario too (a CNN, validation, a checkpoint
#                              every epoch)
#
# Works on a fresh Debian 12 / Ubuntu machine: missing packages are installed
# with apt-get, as root directly or else through sudo.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/quickstart.sh demo|test|fault-sweep

  demo    install missing packages, build build/, run the examples
  test    install missing packages, build build/ and build-asan/, run the
          test suite in both (the second under AddressSanitizer, UBSan and
          LeakSanitizer), build build-tsan/ and run the threads suite and
          the core, ops, autograd, optim and nn suites under
          ThreadSanitizer, build build-fault/ (ASan, -Dfault_injection=true)
          and fail every allocation, file write and fsync of a small
          training run and checkpoint in turn, then fuzz each file reader
          for NABLA_FUZZ_SECONDS seconds (default 60)
  fault-sweep
          build build-fault/ and run the fault-injection sweep on the
          small run and on a larger one (a CNN, a validation split, a
          checkpoint every epoch), printing the count of injection points
  --help  show this message

Exits non-zero if anything fails.
EOF
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# ---------------------------------------------------------------------------
# Debian/Ubuntu packages, by what needs them. Add new ones here.
# To configure and build at all (meson.build also finds the test libraries:
# Check, with the libsubunit it links on Debian, and expat).
build_packages=(build-essential pkg-config meson ninja-build libdnnl-dev zlib1g-dev
                libgraphviz-dev graphviz check libsubunit-dev libexpat1-dev)
# To run the tests: the safetensors interoperability check (numpy), and the
# fuzzers (clang with its sanitizer and OpenMP runtimes).
test_packages=(python3 python3-numpy clang libclang-rt-dev libomp-dev)
# Real data: Fashion-MNIST (IDX files) and the CSV sets scikit-learn ships.
data_packages=(dataset-fashion-mnist python3-sklearn)

demo_packages=("${build_packages[@]}" "${data_packages[@]}")
all_test_packages=("${build_packages[@]}" "${test_packages[@]}" "${data_packages[@]}")

# The demo: one line per example, "title|command and arguments[|copy of its
# output]". The command is split on spaces (no quoting inside it, and no
# globbing). Add new examples here.
demo_examples=(
    "gates: perceptrons with fixed weights, learned weights, and XOR failing|build/examples/gates"
    "xor: a 2-4-1 MLP trained from raw ops, its graphs drawn to out/|build/examples/xor out"
    "custom_op: a new op with its own backward, gradient-checked|build/examples/custom_op"
    "fashion_mlp: Fashion-MNIST, Flatten-Dense(100, relu)-Dense(10, softmax), adam, 5 epochs|build/examples/fashion_mlp relu out"
    "the chain rule node by node: nabla grad sigmoid(w*x+b)|build/nabla grad sigmoid(w*x+b) w=0.5 x=1 b=-0.2 --svg out/neuron.svg|out/chain_rule.txt"
)

# ---------------------------------------------------------------------------
say() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$p"
    done
}

install_missing() {
    command -v dpkg-query >/dev/null || fail "not a Debian/Ubuntu system (no dpkg-query): install ${*} by hand"
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all ${#} packages present"
        return 0
    fi
    say "installing ${missing[*]}"
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || fail "need root or sudo to install ${missing[*]}"
        as_root=(sudo)
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(missing_packages "$@")
    [ ${#missing[@]} -eq 0 ] || fail "still missing after apt-get install: ${missing[*]}"
}

# Configure (or reconfigure) and build a directory; meson options follow the
# name. A directory meson cannot reconfigure (say, left by another meson
# version) is wiped and configured anew. Builds every target, or only those in
# the array build_targets when it is not empty.
build_targets=()
build() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null ||
            meson setup --wipe "$dir" "$@" >/dev/null || return 1
    else
        meson setup "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" -j "$jobs" "${build_targets[@]}"
}

# ---------------------------------------------------------------------------
demo() {
    install_missing "${demo_packages[@]}"
    say "building build/ (release)"
    build build -Dbuildtype=release -Dwerror=true || fail "build failed"
    mkdir -p out
    local entry title command copy cmd n=0
    for entry in "${demo_examples[@]}"; do
        IFS='|' read -r title command copy <<<"$entry"
        read -r -a cmd <<<"$command"
        n=$((n + 1))
        say "example $n/${#demo_examples[@]}: $title"
        echo "\$ ${cmd[*]}"
        if [ -n "$copy" ]; then
            "${cmd[@]}" | tee "$copy" || fail "example '${cmd[*]}' failed"
        else
            "${cmd[@]}" || fail "example '${cmd[*]}' failed (exit $?)"
        fi
    done
    say "demo done: ${#demo_examples[@]} examples ran; the pictures:"
    local f
    for f in out/*.svg; do [ -e "$f" ] && echo "  $f"; done
    echo "  out/chain_rule.txt (the chain-rule walk-through)"
}

# Counts of one `meson test` run, from its log: "PASSED FAILED CHECKS", where
# a suite is one test executable and CHECKS sums the Check tests they report.
count_results() {
    python3 - "$1/meson-logs/quickstart.json" <<'EOF' || echo "0 0 0"
import json, re, sys
passed = failed = checks = 0
try:
    with open(sys.argv[1]) as log:
        for line in log:
            t = json.loads(line)
            if t["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
                passed += 1
            else:
                failed += 1
            m = re.search(r"Checks: (\d+)", t.get("stdout") or "")
            checks += int(m.group(1)) if m else 0
except FileNotFoundError:
    pass
print(passed, failed, checks)
EOF
}

# One test run: build $1 with the meson options that follow, then run its
# suite with the environment in the array test_env (NAME=value words) and the
# extra `meson test` options in test_args. Adds a line to summary.
run_suite() {
    local dir=$1
    shift
    local passed=0 failed=0 checks=0 rc=0 status
    # an own log name, so a `meson test` someone else runs in $dir meanwhile
    # does not overwrite the log counted below
    rm -f "$dir/meson-logs/quickstart.json"
    if build "$dir" "$@"; then
        say "tests in $dir/"
        env "${test_env[@]}" meson test -C "$dir" --print-errorlogs \
            --num-processes "$jobs" --logbase quickstart "${test_args[@]}" || rc=$?
        read -r passed failed checks < <(count_results "$dir")
        if [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
            status=passed
        else
            status="FAILED (meson test exit $rc)"
        fi
    else
        status="FAILED to build"
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    summary+=("$(printf '%-16s %d suites passed, %d failed (%d checks): %s' \
        "$dir/:" "$passed" "$failed" "$checks" "$status")")
    [ "$status" = passed ]
}

test_all() {
    install_missing "${all_test_packages[@]}"
    local ok=1 total_passed=0 total_failed=0 summary=() test_env test_args

    say "building build/ (release)"
    test_env=() test_args=()
    run_suite build -Dbuildtype=release -Dwerror=true || ok=0

    # The sanitizer run. CK_FORK=no: Check runs every test in the suite's own
    # process, so LeakSanitizer checks everything at exit (and libgomp is not
    # fork-safe anyway). -fno-sanitize-recover=all plus halt_on_error make any
    # UBSan report fatal; a leak makes the process exit non-zero. The
    # suppressions name third-party libraries only, never nabla's code; they
    # match a library anywhere in the allocation's stack, and Graphviz's
    # libraries have no frame pointers, so stacks are taken with the slow
    # (DWARF) unwinder: fast_unwind_on_malloc=0.
    say "building build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
    test_env=(CK_FORK=no
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:fast_unwind_on_malloc=0
        LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
    test_args=(--timeout-multiplier 3)
    run_suite build-asan -Dbuildtype=debugoptimized -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all || ok=0

    say "building build-tsan/ (ThreadSanitizer)"
    test_env=(CK_FORK=no TSAN_OPTIONS=halt_on_error=1:suppressions="$root/tests/tsan.supp")
    test_args=(--timeout-multiplier 3 --no-rebuild "${tsan_suites[@]}")
    build_targets=("${tsan_suites[@]/#/tests/test_}")
    run_suite build-tsan -Dbuildtype=debugoptimized -Dwerror=true -Db_sanitize=thread \
        -Db_lundef=false -Dgraphviz=disabled || ok=0
    build_targets=()

    say "building build-fault/ (fault injection, AddressSanitizer + UBSan)"
    fault_suite || ok=0

    local seconds=${NABLA_FUZZ_SECONDS:-60}
    say "fuzzing each file reader for ${seconds}s (libFuzzer, ASan + UBSan)"
    if tests/fuzz/run.sh "$seconds"; then
        summary+=("$(printf '%-16s passed (%ss each)' fuzzers: "$seconds")")
    else
        summary+=("$(printf '%-16s FAILED' fuzzers:)")
        ok=0
    fi

    say "summary"
    printf '%s\n' "${summary[@]}"
    if [ "$ok" -eq 1 ]; then
        echo "all tests passed: release build, sanitizer builds, fault injection, fuzzers"
    else
        echo "SOME TESTS FAILED: see above"
    fi
    # the plain closing line: both runs' suites together
    echo "tests: $total_passed passed, $total_failed failed"
    [ "$ok" -eq 1 ]
}

# The ThreadSanitizer build: two threads training at once (the threads suite)
# and the single-threaded suites of the engine, each test in the suite's own
# process (CK_FORK=no, as for ASan); any report fails the run. Built without
# Graphviz: its renderer starts font-loading threads inside Graphviz's own
# libraries, and tests/tsan.supp may only name libgomp and oneDNN. Left out:
# the suites that need Graphviz (files, graph), the ones that run minutes
# under TSan (safetensors' kill-timing test, train, checkpoint) and repro,
# whose two OpenMP threads per kernel hand data over through libgomp's
# futex barriers, which TSan cannot see. Only the suites' executables are
# built (about 70 s on two cores), and they run in about 30 s.
tsan_suites=(threads core errors lifetime overflow
    ops matmul softmax cnn reduce shape broadcast accuracy pytorch_shapes pytorch_ops
    autograd higher_order optim nn losses fit model_file)
# The fault-injection build: the library with nb_fault_inject compiled in,
# under ASan + UBSan + LSan, and only its own suite (tests/core/test_fault.c). The
# sweep's counts go to build-fault/meson-logs/quickstart.txt. Run by test_all
# (which sets test_env, test_args and summary) and by fault_sweep.
fault_suite() {
    test_env=(CK_FORK=no
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:fast_unwind_on_malloc=0
        LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$@")
    test_args=(--timeout-multiplier 3 --verbose fault)
    run_suite build-fault -Dbuildtype=debugoptimized -Dwerror=true -Dfault_injection=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all
}

fault_sweep() {
    install_missing "${build_packages[@]}"
    local ok=1 total_passed=0 total_failed=0 summary=() test_env test_args
    say "fault injection in build-fault/, the small run and the larger one"
    fault_suite NB_FAULT_SCENARIO=all || ok=0
    printf '%s\n' "${summary[@]}"
    [ "$ok" -eq 1 ]
}

case "${1:-}" in
    demo) demo ;;
    test) test_all ;;
    fault-sweep) fault_sweep ;;
    -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
