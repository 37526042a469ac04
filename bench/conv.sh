#!/usr/bin/env bash
# conv2d forward+backward, nabla vs PyTorch, same machine, pinned to one core,
# alternating the two for ROUNDS rounds; prints each round and the medians.
# usage: bench/conv.sh [ROUNDS] [REPEATS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
reps=${2:-30}
bench/install_peer.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build bench/conv_bench >/dev/null
pin=(taskset -c 0)
nb=() pt=()
for r in $(seq "$rounds"); do
    nb+=("$("${pin[@]}" build/bench/conv_bench "$reps" 1)")
    pt+=("$("${pin[@]}" /usr/bin/python3 bench/conv_bench.py "$reps" 1)")
    echo "round $r: nabla ${nb[-1]} ms  pytorch ${pt[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_nb=$(median "${nb[@]}")
m_pt=$(median "${pt[@]}")
echo "conv2d fwd+bwd [32,32,28,28] * [64,32,3,3], 1 thread: nabla ${m_nb} ms, pytorch ${m_pt} ms," \
    "pytorch/nabla = $(awk -v a="$m_pt" -v b="$m_nb" 'BEGIN {printf "%.2f", a / b}')"
