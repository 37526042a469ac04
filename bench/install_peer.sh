#!/usr/bin/env bash
# The benchmarks' peer: Debian's PyTorch, and OpenBLAS so that it does not
# fall back to the reference BLAS (which made it 3x slower here).
set -euo pipefail
missing=()
for p in python3-torch libopenblas0-pthread; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
