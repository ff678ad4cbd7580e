#!/usr/bin/env bash
# Builds tests/c/test_fills.c against src_c/ directly, with the flags setup.py uses (UNIX_CFLAGS,
# one object per SIMD path with that path's flags, FASTKI_HAVE_<PATH> for dispatch.c, OpenMP).
#   usage: ci/build_c_tests.sh OUTDIR [extra flags for compile and link...]
# Used by ci/valgrind.sh and ci/sanitizers.sh. Keep the flag table in step with setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
shift
extra=("$@")
CC=${CC:-cc}
mkdir -p "$out"
base=(-O3 -std=c99 -ffp-contract=off -fno-fast-math -fno-math-errno -fvisibility=hidden
      -fopenmp -Isrc_c -g)
declare -A path_flags=(
  [scalar]="-fno-tree-vectorize -fno-tree-slp-vectorize"
  [sse2]="-msse2"
  [avx2]="-mavx2"
  [avx512]="-mavx512f -mavx512dq -mavx512bw -mavx512vl -mprefer-vector-width=512"
)
objs=()
defs=()
for p in scalar sse2 avx2 avx512; do
  # shellcheck disable=SC2086
  if ! $CC "${base[@]}" ${path_flags[$p]} "${extra[@]}" -c "src_c/fill_$p.c" -o "$out/fill_$p.o" 2>"$out/fill_$p.log"; then
    echo "build_c_tests: compiler lacks $p; leaving it out" >&2
    continue
  fi
  objs+=("$out/fill_$p.o")
  [ "$p" != scalar ] && defs+=("-DFASTKI_HAVE_${p^^}=1")
done
$CC "${base[@]}" "${defs[@]}" "${extra[@]}" -c src_c/dispatch.c -o "$out/dispatch.o"
$CC "${base[@]}" "${extra[@]}" -c tests/c/test_fills.c -o "$out/test_fills.o"
$CC "${base[@]}" "${extra[@]}" "$out/test_fills.o" "$out/dispatch.o" "${objs[@]}" -lm -o "$out/test_fills"
echo "build_c_tests: $out/test_fills (${defs[*]:-scalar only})"
