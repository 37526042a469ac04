#!/usr/bin/env bash
# Folders are layers (DESIGN.md, "Layout"): a file includes headers of its own
# layer and the layers below, never above; and no layer's library needs a
# symbol that only a higher layer defines. Fails naming every file or symbol
# that breaks it.
#   check.sh SRCDIR [LAYER=ARCHIVE ...]   (archives bottom-up: core ops ...)
set -uo pipefail
src=$1
shift
order=(core ops autograd optim nn data viz cli)
rank() { # rank of a layer name
    local i
    for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && echo "$i" && return; done
    echo -1
}
# the layer a source path (relative to src) belongs to
layer_of_path() {
    case $1 in
    core/*) echo core ;; ops/*) echo ops ;; autograd/*) echo autograd ;;
    optim/*) echo optim ;; nn/*) echo nn ;; tools/data/*) echo data ;;
    tools/viz/*) echo viz ;; tools/cli/*) echo cli ;; *) echo none ;;
    esac
}
# the layer of a public header (include/nabla/NAME.h)
layer_of_header() {
    case $1 in
    core.h | safetensors.h | tape.h) echo core ;; ops.h | cnn.h) echo ops ;;
    autograd.h | graph.h) echo autograd ;; optim.h) echo optim ;; nn.h) echo nn ;;
    data.h) echo data ;; draw.h | plot.h) echo viz ;; *) echo unknown ;;
    esac
}
bad=0
cd "$src" || exit 2
while IFS= read -r f; do
    mine=$(layer_of_path "$f")
    [ "$mine" = none ] && continue
    r=$(rank "$mine")
    while IFS= read -r inc; do
        case $inc in
        nabla.h) l=cli ;;
        nabla/*) l=$(layer_of_header "${inc#nabla/}") ;;
        */*) p=$inc
            # relative to the including file's folder, or to the source root
            [ -e "$(dirname "$f")/$inc" ] && p=$(realpath -m --relative-to=. "$(dirname "$f")/$inc")
            l=$(layer_of_path "$p") ;;
        *) l=$(layer_of_path "$(dirname "$f")/$inc") ;;
        esac
        [ "$l" = none ] && continue
        if [ "$l" = unknown ]; then
            echo "$f includes \"$inc\", a public header of no known layer (add it to tests/layers/check.sh)"
            bad=1
        elif [ "$(rank "$l")" -gt "$r" ]; then
            echo "upward include: $f ($mine) includes \"$inc\" ($l)"
            bad=1
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find core ops autograd optim nn tools include/nabla -name '*.[ch]' | sort)
# include/nabla/*.h: a public header includes only headers of its layer and below
for h in include/nabla/*.h; do
    mine=$(layer_of_header "$(basename "$h")")
    while IFS= read -r inc; do
        l=$(layer_of_header "${inc#nabla/}")
        if [ "$l" = unknown ] || [ "$mine" = unknown ]; then
            echo "$h or \"$inc\": a public header of no known layer (add it to tests/layers/check.sh)"
            bad=1
        elif [ "$(rank "$l")" -gt "$(rank "$mine")" ]; then
            echo "upward include: $h ($mine) includes \"$inc\" ($l)"
            bad=1
        fi
    done < <(sed -n 's/^#include "\(nabla\/[^"]*\)".*/\1/p' "$h")
done
# symbols: every nb_ symbol an archive needs is defined by it or a lower one
defined=""
for pair in "$@"; do
    name=${pair%%=*}
    lib=${pair#*=}
    mine=$(nm --defined-only -g "$lib" 2>/dev/null | awk 'NF>=3 {print $3}' | sort -u)
    defined=$(printf '%s\n%s\n' "$defined" "$mine" | sort -u)
    while IFS= read -r sym; do
        [ -z "$sym" ] && continue
        if ! grep -qxF "$sym" <<<"$defined"; then
            echo "upward reference: the $name layer ($(basename "$lib")) needs $sym, defined only above it"
            bad=1
        fi
    done < <(nm -u "$lib" | awk '{print $2}' | grep '^nb_' | sort -u)
done
[ $bad -eq 0 ] && echo "layers: no upward include or reference"
exit $bad
