#!/usr/bin/env bash
# Builds a C test program (default tests/c/test_fills.c) against src_c/ directly, with the flags
# of tools/buildflags.py, the table setup.py uses too: its base flags, one object per SIMD path
# of the target architecture with that path's flags, FASTKI_HAVE_<PATH> for dispatch.c, OpenMP.
#   usage: ci/build_c_tests.sh OUTDIR [extra flags for compile and link...]
# Environment:
#   CC            the compiler (default cc); its family (gcc or clang) is read from CC --version
#   FASTKI_ARCH   the target architecture in the table (default: the one CC targets, from
#                 CC -dumpmachine), e.g. aarch64 when CC=aarch64-linux-gnu-gcc
#   FASTKI_PATH_FLAGS_scalar="..."  replace the table's flags of one path (ci/aarch64.sh builds
#                 the scalar path vectorized this way, as the "other" architectures get it)
#   TEST_SOURCE   the test program (default tests/c/test_fills.c)
# Used by ci/valgrind.sh, ci/sanitizers.sh and ci/aarch64.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
shift
extra=("$@")
CC=${CC:-cc}
PY=${PYTHON:-python3}
src=${TEST_SOURCE:-tests/c/test_fills.c}
mkdir -p "$out"
cc_version=$($CC --version 2>/dev/null || true)  # captured: no SIGPIPE from grep -q under pipefail
if grep -qi clang <<<"$cc_version"; then family=clang; else family=gcc; fi
arch=${FASTKI_ARCH:-$($PY tools/buildflags.py arch "$($CC -dumpmachine | cut -d- -f1)")}
flags() { $PY tools/buildflags.py "$@"; }
read -r -a base <<< "$(flags base "$family" "$arch") $(flags openmp "$family")"
base+=(-Isrc_c -g)
read -r -a paths <<< "$(flags paths "$arch")"
objs=()
defs=()
for p in "${paths[@]}"; do
  override=FASTKI_PATH_FLAGS_$p
  if [ -n "${!override+set}" ]; then pflags=${!override}; else pflags=$(flags path "$p" "$family" "$arch"); fi
  # shellcheck disable=SC2086
  if ! $CC "${base[@]}" $pflags "${extra[@]}" -c "src_c/fill_$p.c" -o "$out/fill_$p.o" 2>"$out/fill_$p.log"; then
    echo "build_c_tests: compiler lacks $p; leaving it out" >&2
    continue
  fi
  objs+=("$out/fill_$p.o")
  [ "$p" != scalar ] && defs+=("-DFASTKI_HAVE_${p^^}=1")
done
$CC "${base[@]}" "${defs[@]}" "${extra[@]}" -c src_c/dispatch.c -o "$out/dispatch.o"
name=$(basename "$src" .c)
$CC "${base[@]}" "${extra[@]}" -c "$src" -o "$out/$name.o"
$CC "${base[@]}" "${extra[@]}" "$out/$name.o" "$out/dispatch.o" "${objs[@]}" -lm -o "$out/$name"
echo "build_c_tests: $out/$name for $arch with $family (${defs[*]:-scalar only})"
