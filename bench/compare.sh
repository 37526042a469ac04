#!/usr/bin/env bash
# nabla eager, nabla graph and PyTorch on the same training steps, one thread,
# pinned to one core, the three alternating round by round (these machines
# drift by 25% and more over minutes); prints medians and ratios.
#   workloads: mlp (Fashion-MNIST MLP 784-100-10) at batch 32 and 128,
#              cnn (the course CNN, examples/fashion_cnn.c) at batch 32
# usage: bench/compare.sh [--csv FILE] [--rounds N] [--cpu N] [--baseline DIR]
#   --csv FILE      also write one row per measurement:
#                   workload,impl,threads,batch,median_s_per_step
#   --baseline DIR  a build directory of another revision (with bench/step_bench
#                   built): its eager and graph steps run in the same rounds,
#                   and the table gains before/after columns (this build / DIR)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
csv="" rounds=5 cpu=0 threads=1 baseline=""
while [ $# -gt 0 ]; do
    case "$1" in
    --csv) csv=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    *) echo "usage: bench/compare.sh [--csv FILE] [--rounds N] [--cpu N] [--baseline DIR]" >&2
        exit 2 ;;
    esac
done
bench/install_peer.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build bench/step_bench >/dev/null
[ -n "$csv" ] && echo "workload,impl,threads,batch,median_s_per_step" >"$csv"
impls=(eager graph pytorch)
if [ -n "$baseline" ]; then
    [ -x "$baseline/bench/step_bench" ] || {
        echo "bench/compare.sh: $baseline/bench/step_bench is not built" >&2
        exit 2
    }
    impls+=(eager@base graph@base)
fi

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
us() { awk -v s="$1" 'BEGIN {printf "%.1f", s * 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# Debian's OpenBLAS 0.3.21 does not know recent CPUs (AMD Zen 5 here) and falls
# back to its generic Prescott kernels, 3x slower for PyTorch's linear layers;
# name the kernels the CPU can run, unless the caller chose.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512f /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi

run() { # impl workload batch repeats -> seconds per step
    if [ "$1" = pytorch ]; then
        taskset -c "$cpu" /usr/bin/python3 bench/step_bench.py "$2" "$3" "$threads" "$4"
    elif [ "${1%@base}" != "$1" ]; then
        taskset -c "$cpu" "$baseline/bench/step_bench" "$2" "${1%@base}" "$3" "$threads" "$4"
    else
        taskset -c "$cpu" build/bench/step_bench "$2" "$1" "$3" "$threads" "$4"
    fi
}

table=()
for spec in "mlp 32 2000" "mlp 128 1000" "cnn 32 30"; do
    read -r workload batch reps <<<"$spec"
    declare -A times=([eager]="" [graph]="" [pytorch]="" [eager@base]="" [graph@base]="")
    for r in $(seq "$rounds"); do
        line="$workload batch $batch round $r:"
        for impl in "${impls[@]}"; do
            t=$(run "$impl" "$workload" "$batch" "$reps")
            times[$impl]+="$t "
            line+=" $impl $(us "$t") us"
            [ -n "$csv" ] && echo "$workload,$impl,$threads,$batch,$t" >>"$csv"
        done
        echo "$line"
    done
    e=$(median ${times[eager]}) g=$(median ${times[graph]}) p=$(median ${times[pytorch]})
    row="$(printf '%-4s %5s %10s %10s %10s %9s %9s %9s' "$workload" "$batch" "$(us "$e")" \
        "$(us "$g")" "$(us "$p")" "$(ratio "$p" "$e")" "$(ratio "$p" "$g")" "$(ratio "$e" "$g")")"
    if [ -n "$baseline" ]; then
        be=$(median ${times[eager@base]}) bg=$(median ${times[graph@base]})
        row+="$(printf ' %10s %10s %9s %9s' "$(us "$be")" "$(us "$bg")" "$(ratio "$e" "$be")" \
            "$(ratio "$g" "$bg")")"
    fi
    table+=("$row")
done
echo
echo "medians of $rounds rounds, $threads thread, microseconds per training step" \
    "(PyTorch with OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto})"
header="$(printf '%-4s %5s %10s %10s %10s %9s %9s %9s' work batch eager graph pytorch pt/eager \
    pt/graph eager/gr)"
[ -n "$baseline" ] && header+="$(printf ' %10s %10s %9s %9s' eager@base graph@base \
    eager/base graph/base)"
echo "$header"
printf '%s\n' "${table[@]}"
