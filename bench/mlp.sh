#!/usr/bin/env bash
# One training step of the Fashion-MNIST MLP 784-100-10 (forward, softmax
# cross-entropy, backward, Adam), nabla eager vs PyTorch, one thread, pinned
# to one core, alternating for ROUNDS rounds; prints medians and ratios.
# usage: bench/mlp.sh [ROUNDS] [REPEATS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
reps=${2:-2000}
bench/install_peer.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build bench/mlp_bench >/dev/null
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for batch in 32 128; do
    nb=() pt=()
    for r in $(seq "$rounds"); do
        nb+=("$(taskset -c 0 build/bench/mlp_bench "$reps" "$batch" 1)")
        pt+=("$(taskset -c 0 /usr/bin/python3 bench/mlp_bench.py "$reps" "$batch" 1)")
        echo "batch $batch round $r: nabla ${nb[-1]} us  pytorch ${pt[-1]} us"
    done
    m_nb=$(median "${nb[@]}")
    m_pt=$(median "${pt[@]}")
    echo "MLP step, batch $batch, 1 thread: nabla eager ${m_nb} us, pytorch ${m_pt} us," \
        "pytorch/nabla = $(awk -v a="$m_pt" -v b="$m_nb" 'BEGIN {printf "%.2f", a / b}')"
done
