#!/usr/bin/env bash
# Install the build into a temporary root and use it as a user would: compile
# examples/neuron.c with nothing but `pkg-config --cflags --libs nabla`, run
# it, and check what a library install promises (a versioned soname, no
# Graphviz include path in users' cflags, the private libraries only for
# static linking, an installed nabla command that runs as it is).
#
# usage: install_test.sh MESON BUILD_DIR SOURCE_DIR PREFIX LIBDIR CC...
set -euo pipefail

meson=$1 build=$2 src=$3 prefix=$4 libdir=$5
shift 5
cc=("$@")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "install_test: $*" >&2
    exit 1
}

case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
root=$tmp/root
"$meson" install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
    fail "meson install failed: $(cat "$tmp/install.log")"

lib=$root$libdir
[ -f "$lib/pkgconfig/nabla.pc" ] || fail "no nabla.pc in $libdir/pkgconfig"
# the installed .pc first (before any system nabla), its paths moved into the root
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root

trim() { sed 's/[[:space:]]*$//'; } # pkg-config ends its output with a space
cflags=$(pkg-config --cflags nabla | trim)
[ "$cflags" = "-I$root$prefix/include" ] ||
    fail "pkg-config --cflags nabla is '$cflags', expected just -I$root$prefix/include"
libs=$(pkg-config --libs nabla | trim)
[ "$libs" = "-L$lib -lnabla" ] ||
    fail "pkg-config --libs nabla is '$libs', expected just -L$lib -lnabla"
static=$(pkg-config --static --libs nabla | trim)
for l in -ldnnl -lgomp -lm -lz -lgvc; do
    case " $static " in *" $l "*) ;; *) fail "pkg-config --static --libs nabla lacks $l: $static" ;; esac
done

# the soname carries the ABI version; the link records it
readelf -d "$lib/libnabla.so" >"$tmp/lib.dyn"
grep -q 'Library soname: \[libnabla\.so\.0\]' "$tmp/lib.dyn" ||
    fail "libnabla.so has no soname libnabla.so.0: $(grep -i soname "$tmp/lib.dyn" || echo none)"
[ -f "$lib/libnabla.so.0.1.0" ] || fail "no libnabla.so.0.1.0 in $libdir"

# shellcheck disable=SC2086 # pkg-config's output is a list of words
"${cc[@]}" "$src/examples/neuron.c" -o "$tmp/neuron" $cflags $libs
readelf -d "$tmp/neuron" | grep -q 'Shared library: \[libnabla\.so\.0\]' ||
    fail "neuron does not link libnabla.so.0"
LD_LIBRARY_PATH=$lib "$tmp/neuron" >"$tmp/neuron.out" || fail "neuron exited $?"
# y = 0.5, dy/dw = [[0.25], [0.5]], dy/db = 0.25
for want in 'tensor([[0.5000]]' '[0.5000]]' 'tensor(0.2500'; do
    grep -qF "$want" "$tmp/neuron.out" || fail "neuron printed: $(cat "$tmp/neuron.out")"
done

# <nabla.h> alone declares every public header's functions, plot.h's too
cat >"$tmp/umbrella.c" <<'END'
#include <nabla.h>
int main(void) {
    nb_series s = {"loss", (const double[]){1.0, 0.5}, 2};
    return nb_plot_svg == NULL || s.n != 2;
}
END
# shellcheck disable=SC2086
"${cc[@]}" -std=c11 -Werror=implicit-function-declaration "$tmp/umbrella.c" -o "$tmp/umbrella" \
    $cflags $libs 2>"$tmp/umbrella.log" ||
    fail "a program including only <nabla.h> does not build: $(cat "$tmp/umbrella.log")"

# static linking: libnabla.a with the private libraries of the .pc
static_libs=${static/-lnabla/}
# shellcheck disable=SC2086
"${cc[@]}" "$src/examples/neuron.c" -o "$tmp/neuron_static" $cflags "$lib/libnabla.a" $static_libs
"$tmp/neuron_static" >"$tmp/neuron_static.out" || fail "statically linked neuron exited $?"
cmp -s "$tmp/neuron.out" "$tmp/neuron_static.out" || fail "static and shared neuron differ"

# the installed command runs without LD_LIBRARY_PATH: it links libnabla
# statically, or else must carry an rpath to the installed one
nabla=$root$prefix/bin/nabla
if readelf -d "$nabla" | grep -q 'Shared library: \[libnabla'; then
    readelf -d "$nabla" | grep -E 'R(UN)?PATH' | grep -qF "[$libdir]" ||
        fail "the installed nabla needs libnabla but has no rpath $libdir"
else
    env -u LD_LIBRARY_PATH "$nabla" --help >/dev/null || fail "the installed nabla --help failed"
fi
echo "install_test: ok ($(pkg-config --modversion nabla), $cflags)"
