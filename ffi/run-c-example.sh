#!/usr/bin/env bash
# Builds the C ABI library (debug), then ffi/examples/pos.c and
# ffi/tests/hostile.c against it with gcc, through ffi/loyalty.pc.in: each
# linked with the shared library and with the static one. Runs them, checks
# that the shared and static builds print the same, then runs them again under
# valgrind (--leak-check=full --error-exitcode=1): no error, no leak.
#
#     bash ffi/run-c-example.sh        (from anywhere; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
lib="$target/debug"
out="$target/c-example"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' ffi/Cargo.toml | head -n 1)

echo "== cargo build -p loyalty-ffi"
cargo build -p loyalty-ffi

mkdir -p "$out"
sed -e "s|@LIBDIR@|$lib|" -e "s|@INCLUDEDIR@|$PWD/ffi/include|" -e "s|@VERSION@|$version|" \
    ffi/loyalty.pc.in >"$out/loyalty.pc"
export PKG_CONFIG_PATH="$out${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
if command -v pkg-config >/dev/null; then
    cflags=$(pkg-config --cflags loyalty)
    shared_libs=$(pkg-config --libs loyalty)
    static_libs=$(pkg-config --libs-only-l --static loyalty | sed 's/-lloyalty //')
else
    cflags="-I$PWD/ffi/include"
    shared_libs="-L$lib -lloyalty"
    static_libs=$(sed -n 's/^Libs.private: //p' ffi/loyalty.pc.in)
fi
warn=(-std=c11 -Wall -Wextra -Werror -O1 -g)

echo "== gcc: pos.c and hostile.c, shared ($shared_libs) and static (libloyalty.a $static_libs)"
# shellcheck disable=SC2086 # the flags are lists
{
    gcc "${warn[@]}" $cflags ffi/examples/pos.c $shared_libs -Wl,-rpath,"$lib" -o "$out/pos"
    gcc "${warn[@]}" $cflags ffi/examples/pos.c "$lib/libloyalty.a" $static_libs -o "$out/pos-static"
    gcc "${warn[@]}" $cflags ffi/tests/hostile.c $shared_libs -lpthread -Wl,-rpath,"$lib" -o "$out/hostile"
    gcc "${warn[@]}" $cflags ffi/tests/hostile.c "$lib/libloyalty.a" $static_libs -o "$out/hostile-static"
}

program=examples/programs/corner_coffee.toml
echo "== pos $program"
"$out/pos" "$program" | tee "$out/pos.out"
"$out/pos-static" "$program" 2>/dev/null >"$out/pos-static.out"
cmp "$out/pos.out" "$out/pos-static.out"
echo "== hostile (shared, then static)"
"$out/hostile"
"$out/hostile-static"

vg=(valgrind --leak-check=full --error-exitcode=1)
echo "== valgrind: pos"
"${vg[@]}" "$out/pos" "$program" >"$out/pos-valgrind.out"
cmp "$out/pos.out" "$out/pos-valgrind.out"
echo "== valgrind: hostile"
"${vg[@]}" "$out/hostile"
echo "== the C example and the hostile calls: done"
