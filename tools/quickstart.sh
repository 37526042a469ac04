#!/usr/bin/env bash
# nabla's two quick-start commands.
#
#   tools/quickstart.sh demo   install what is missing, build, run the examples
#   tools/quickstart.sh test   install what is missing, build, run every test:
#                              once normally, once under ASan + UBSan with
#                              leak checking (any report fails the run), then
#                              each fuzzer for NABLA_FUZZ_SECONDS (60)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# Debian/Ubuntu packages, by what needs them.
build_packages=(gcc pkg-config meson ninja-build libdnnl-dev zlib1g-dev libgraphviz-dev graphviz)
test_packages=(check libsubunit-dev libexpat1-dev python3 python3-numpy clang libclang-rt-dev)
# real data: Fashion-MNIST (IDX files) and the CSV sets scikit-learn ships
data_packages=(dataset-fashion-mnist python3-sklearn)

usage() {
    echo "usage: tools/quickstart.sh demo|test" >&2
    echo "  demo  install missing packages, build, run the examples" >&2
    echo "  test  install missing packages, build, run the test suite (normal and sanitizers)" >&2
}

say() { printf '\n==> %s\n' "$*"; }

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure (once) and build a directory; extra meson options follow the name
build() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" -j "$jobs"
}

demo() {
    install_missing "${build_packages[@]}" "${test_packages[@]}" "${data_packages[@]}"
    say "building"
    build build -Dwerror=true
    mkdir -p out
    say "example: gates (perceptrons: fixed weights, learned weights, XOR fails)"
    build/examples/gates
    say "example: xor (a 2-4-1 MLP trained from raw ops, graphs drawn)"
    build/examples/xor out
    say "example: custom_op (a new op with its own backward, gradient-checked)"
    build/examples/custom_op
    say "the chain rule, node by node: nabla grad \"sigmoid(w*x+b)\" w=0.5 x=1 b=-0.2"
    build/nabla grad "sigmoid(w*x+b)" w=0.5 x=1 b=-0.2 --svg out/neuron.svg | tee out/chain_rule.txt
    say "done: pictures in out/ (xor_forward.svg, xor_backward.svg, neuron.svg), the walk-through in out/chain_rule.txt"
}

test_all() {
    install_missing "${build_packages[@]}" "${test_packages[@]}" "${data_packages[@]}"
    say "building (release)"
    build build -Dwerror=true
    say "tests (release)"
    meson test -C build --print-errorlogs --num-processes "$jobs"

    # The sanitizer run: Check runs the tests in one process (CK_FORK=no) so
    # LeakSanitizer checks at exit, and libgomp is not fork-safe anyway.
    say "building (AddressSanitizer + UndefinedBehaviorSanitizer)"
    build build-asan -Dwerror=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all
    say "tests (sanitizers, leak checking on)"
    CK_FORK=no \
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
        LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --print-errorlogs --num-processes "$jobs" --timeout-multiplier 3
    say "fuzzing each parser for ${NABLA_FUZZ_SECONDS:-60}s (libFuzzer, ASan + UBSan)"
    tests/fuzz/run.sh "${NABLA_FUZZ_SECONDS:-60}"
    say "all tests passed: release build, sanitizer build, fuzzers"
}

case "${1:-}" in
    demo) demo ;;
    test) test_all ;;
    -h | --help) usage; exit 0 ;;
    *) usage; exit 2 ;;
esac
