#!/usr/bin/env bash
# The aarch64 build, checked on this x86 machine under emulation (qemu-aarch64, user mode):
#
#   1. golden hashes: tests/c/golden_fills.c built for x86 prints one hash per distribution x
#      dtype x parameter set x offset (first element, up to 2**64 - 1) x count x thread count
#      (1, 2, 3) on every x86 path this CPU has; the scalar path's lines are the golden ones
#      and every other x86 path must give the same;
#   2. the same program cross-compiled for aarch64 with the flags of tools/buildflags.py, run
#      under qemu-aarch64 on the neon path and on the portable (scalar) path, and once more
#      built as the architectures without a SIMD path of their own get the portable path
#      (auto-vectorized, FASTKI_ARCH=other): every line must equal the golden one;
#   3. tests/c/test_fills.c (guards, unwritten elements, ranges against one long fill) under
#      qemu-aarch64, with the shipped and with lowered thread/streaming thresholds;
#   4. no fused multiply-add instruction (fmla, fmadd, ...) in any aarch64 object;
#   5. instructions per element, counted by qemu (tools/qemu_insns.py) for every distribution
#      x dtype on the neon, portable and auto-vectorized portable paths; normal float32 on the
#      neon path must take at most a third of the portable path's (docs/benchmarks.md);
#   6. C portability checks this x86 machine can make: a 32-bit x86 build (the table's
#      -msse2 -mfpmath=sse) gives the golden lines, one with x87 math is refused at compile
#      time, and dispatch.c's MSVC CPU detection (cpuid + xgetbv), compiled with GCC through
#      tests/c/msvc_shim/, finds the same paths as GCC's runtime, natively and under valgrind;
#   7. where clang is installed: a clang build for aarch64 gives the golden lines on both
#      paths, and src_c/fill_impl.h's `#pragma STDC FP_CONTRACT OFF` alone keeps clang (which
#      contracts by default) from emitting fused multiply-adds.
#
# Every golden line and every check counts; the last line is "N passed, N failed" and the exit
# status is 1 if anything failed. Installs what it needs with apt-get. About 1-2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
PY=${PYTHON:-python3}
XCC=${XCC:-aarch64-linux-gnu-gcc}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
if ! command -v "$XCC" >/dev/null || ! command -v qemu-aarch64 >/dev/null \
        || ! ls "$SYSROOT"/lib/libgomp.so.1 >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
     libgomp1-arm64-cross qemu-user binutils-aarch64-linux-gnu) >/dev/null
fi
QEMU=(qemu-aarch64 -L "$SYSROOT")
out=build/ci-aarch64
rm -rf "$out"
mkdir -p "$out"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
lowered=(-DFASTKI_MIN_WORK_PER_THREAD=16 -DFASTKI_STREAM_MIN_BYTES=256)

# compare FILE with the golden lines: one pass or fail per line
compare() {
  local what=$1 file=$2 p f
  read -r p f < <(paste -d'|' "$out/golden.txt" "$file" | awk -F'|' \
      '$1 == $2 {p++; next} {f++; if (f <= 5) print "  differs: " $2 " (golden " $1 ")" > "/dev/stderr"}
       END {print p + 0, f + 0}')
  local want ngot
  want=$(wc -l < "$out/golden.txt")
  ngot=$(wc -l < "$file")
  if [ "$ngot" -ne "$want" ]; then f=$((f + want - p - f)); fi
  passed=$((passed + p))
  failed=$((failed + f))
  printf '  %-44s %5d lines equal the golden ones, %d differ\n' "$what" "$p" "$f"
}

echo "--- 1. golden hashes from the x86 build"
TEST_SOURCE=tests/c/golden_fills.c bash ci/build_c_tests.sh "$out/x86" "${lowered[@]}" | tail -1
OMP_NUM_THREADS=3 "$out/x86/golden_fills" scalar > "$out/golden.txt"
echo "  $(wc -l < "$out/golden.txt") golden lines (x86 scalar path)"
for p in sse2 avx2 avx512; do
  if OMP_NUM_THREADS=3 "$out/x86/golden_fills" "$p" > "$out/x86-$p.txt" 2>/dev/null; then
    compare "x86 $p" "$out/x86-$p.txt"
  else
    echo "  x86 $p: not on this CPU"
  fi
done

echo "--- 2. aarch64 under qemu-aarch64: the same lines"
for build in table other; do
  # table: the flags tools/buildflags.py gives aarch64; other: the architectures with only the
  # portable path, which is auto-vectorized there
  FASTKI_ARCH=$([ $build = table ] && echo aarch64 || echo other) CC=$XCC \
    TEST_SOURCE=tests/c/golden_fills.c bash ci/build_c_tests.sh "$out/a64-$build" "${lowered[@]}" | tail -1
done
for run in "table neon" "table scalar" "other scalar"; do
  set -- $run
  OMP_NUM_THREADS=3 "${QEMU[@]}" "$out/a64-$1/golden_fills" "$2" > "$out/a64-$1-$2.txt" \
    2> "$out/a64-$1-$2.threads" || bad "golden_fills $2 ($1 build) exited $?"
  label="aarch64 $2"
  if [ "$1" = other ]; then label="aarch64 scalar (portable, auto-vectorized)"; fi
  compare "$label" "$out/a64-$1-$2.txt"
  # the thread counts were real: fills asked for 2 and 3 threads ran on that many under qemu
  for t in 2 3; do
    n=$(grep -oE "^threads=$t: [0-9]+" "$out/a64-$1-$2.threads" | grep -oE '[0-9]+$' || echo 0)
    if [ "${n:-0}" -gt 0 ]; then ok; else bad "no $2 fill ($1 build) ran on $t threads"; fi
  done
  echo "    $(tr '\n' ';' < "$out/a64-$1-$2.threads")"
done

echo "--- 3. tests/c/test_fills.c under qemu-aarch64"
CC=$XCC bash ci/build_c_tests.sh "$out/tf-shipped" | tail -1
CC=$XCC bash ci/build_c_tests.sh "$out/tf-small" "${lowered[@]}" | tail -1
for b in shipped small; do
  if OMP_NUM_THREADS=3 timeout 300 "${QEMU[@]}" "$out/tf-$b/test_fills" > "$out/tf-$b.log" 2>&1; then
    ok
  else
    bad "test_fills ($b thresholds)"
  fi
  echo "  $b thresholds: $(head -1 "$out/tf-$b.log" | cut -c1-60); $(tail -1 "$out/tf-$b.log")"
done

echo "--- 4. no fused multiply-add in the aarch64 objects"
for o in "$out"/a64-table/*.o "$out"/a64-other/*.o; do
  n=$(aarch64-linux-gnu-objdump -d "$o" | grep -cE '\s(fmla|fmls|fmadd|fmsub|fnmadd|fnmsub|fmlal2?|fmlsl2?|bfmla[bt]?)\s' || true)
  if [ "$n" -eq 0 ]; then ok; else bad "$o has $n fused multiply-add instructions"; fi
done
echo "  $(ls "$out"/a64-table/*.o "$out"/a64-other/*.o | wc -l) objects checked"

echo "--- 5. instructions per element under qemu (counts, not times)"
CC=$XCC TEST_SOURCE=tests/c/one_fill.c bash ci/build_c_tests.sh "$out/count" | tail -1
FASTKI_ARCH=other CC=$XCC TEST_SOURCE=tests/c/one_fill.c bash ci/build_c_tests.sh "$out/count-other" | tail -1
# instructions of a fill of 17600 elements minus one of 1600: the per-call cost and process
# start cancel; both are whole numbers of groups (80 float32 or 32 float64 elements)
per_element() {
  local bin=$1 path=$2 dist=$3 dtype=$4 a b
  "${QEMU[@]}" -d in_asm,exec,nochain -D "$out/q.log" "$bin" "$path" "$dist" "$dtype" 1600 >/dev/null
  a=$($PY tools/qemu_insns.py "$out/q.log")
  "${QEMU[@]}" -d in_asm,exec,nochain -D "$out/q.log" "$bin" "$path" "$dist" "$dtype" 17600 >/dev/null
  b=$($PY tools/qemu_insns.py "$out/q.log")
  rm -f "$out/q.log"
  $PY -c "print('%.2f' % (($b - $a) / 16000))"
}
printf '  %-17s %-8s %8s %10s %12s %8s\n' distribution dtype neon portable "portable-vec" ratio
for dist in uniform normal truncated_normal; do
  for dtype in float32 float64; do
    n=$(per_element "$out/count/one_fill" neon $dist $dtype)
    s=$(per_element "$out/count/one_fill" scalar $dist $dtype)
    v=$(per_element "$out/count-other/one_fill" scalar $dist $dtype)
    r=$($PY -c "print('%.3f' % ($n / $s))")
    printf '  %-17s %-8s %8s %10s %12s %8s\n' $dist $dtype "$n" "$s" "$v" "$r"
    if [ $dist = normal ] && [ $dtype = float32 ]; then
      if $PY -c "import sys; sys.exit(0 if 3 * $n <= $s else 1)"; then ok
      else bad "normal float32: neon $n instructions per element, more than a third of $s"; fi
    fi
  done
done

echo "--- 6. C portability on this machine: 32-bit x86 and MSVC's CPU detection"
# 32-bit x86: with the table's flags (-msse2 -mfpmath=sse) every path gives the golden lines;
# without them (x87 arithmetic) src_c/fill_impl.h refuses to compile.
gccv=$(gcc -dumpversion | cut -d. -f1)
if ! echo 'int main(void){return 0;}' | gcc -m32 -fopenmp -x c - -o "$out/m32probe" 2>/dev/null; then
  (apt-get install -y -qq libc6-dev-i386 "lib32gcc-$gccv-dev" lib32gomp1) >/dev/null 2>&1 || true
fi
if echo 'int main(void){return 0;}' | gcc -m32 -fopenmp -x c - -o "$out/m32probe" 2>/dev/null; then
  if gcc -m32 -O2 -std=c99 -Isrc_c -c src_c/fill_scalar.c -o "$out/x87.o" 2> "$out/x87.log"; then
    bad "32-bit x86 with x87 math compiled (FLT_EVAL_METHOD guard)"
  elif grep -q "FLT_EVAL_METHOD == 0" "$out/x87.log"; then
    ok; echo "  -m32 without SSE2 math: refused ($(grep -o '#error.*' "$out/x87.log" | head -1 | cut -c1-70)...)"
  else
    bad "32-bit x86 with x87 math failed for another reason: $(head -3 "$out/x87.log")"
  fi
  FASTKI_ARCH=x86_32 CC="gcc -m32" TEST_SOURCE=tests/c/golden_fills.c \
    bash ci/build_c_tests.sh "$out/x86_32" "${lowered[@]}" | tail -1
  for p in scalar sse2 avx2 avx512; do
    if OMP_NUM_THREADS=3 "$out/x86_32/golden_fills" "$p" > "$out/x86_32-$p.txt" 2>/dev/null; then
      compare "x86_32 $p" "$out/x86_32-$p.txt"
    fi
  done
else
  echo "  no 32-bit x86 toolchain here: skipped"
fi
# MSVC detects the x86 paths with cpuid + xgetbv (src_c/dispatch.c); that branch compiled with
# GCC (tests/c/msvc_shim/ supplies MSVC's intrinsics) must list the paths GCC's own table does,
# natively and under valgrind (whose emulated CPU has no AVX-512)
TEST_SOURCE=tests/c/simd_list.c bash ci/build_c_tests.sh "$out/cpuid" | tail -1
read -r -a xbase <<< "$($PY tools/buildflags.py base gcc x86_64) -fopenmp"
cc "${xbase[@]}" -Isrc_c -Itests/c/msvc_shim -DFASTKI_CPUID_CHECK -DFASTKI_HAVE_SSE2=1 \
   -DFASTKI_HAVE_AVX2=1 -DFASTKI_HAVE_AVX512=1 -c src_c/dispatch.c -o "$out/cpuid/dispatch_msvc.o"
cc "${xbase[@]}" "$out/cpuid/simd_list.o" "$out/cpuid/dispatch_msvc.o" "$out"/cpuid/fill_*.o -lm \
   -o "$out/cpuid/simd_list_msvc"
runners=("")
command -v valgrind >/dev/null && runners+=("valgrind -q")
for runner in "${runners[@]}"; do
  a=$($runner "$out/cpuid/simd_list")
  b=$($runner "$out/cpuid/simd_list_msvc")
  if [ "$a" = "$b" ]; then ok; else bad "cpuid detection ${runner:+under $runner }lists $b, GCC's table $a"; fi
  echo "  ${runner:-native}: GCC's table: $a; MSVC's cpuid + xgetbv: $b"
done

echo "--- 7. clang for aarch64 (when clang is installed; macOS arm64 wheels are built with clang)"
command -v clang >/dev/null || (apt-get install -y -qq clang) >/dev/null 2>&1 || true
omp_h=$(ls /usr/lib/gcc-cross/aarch64-linux-gnu/*/include/omp.h 2>/dev/null | head -1 || true)
if command -v clang >/dev/null && [ -n "$omp_h" ]; then
  # clang targets aarch64 with the GNU cross sysroot and libgomp (only omp.h is taken from GCC)
  mkdir -p "$out/clang-omp" && cp "$omp_h" "$out/clang-omp/"
  printf '#!/bin/sh\nexec clang --target=aarch64-linux-gnu -isystem "%s" "$@" -fopenmp=libgomp\n' \
      "$PWD/$out/clang-omp" > "$out/clang-aarch64"
  chmod +x "$out/clang-aarch64"
  FASTKI_ARCH=aarch64 CC=$PWD/$out/clang-aarch64 TEST_SOURCE=tests/c/golden_fills.c \
    bash ci/build_c_tests.sh "$out/a64-clang" "${lowered[@]}" | tail -1
  for p in neon scalar; do
    OMP_NUM_THREADS=3 "${QEMU[@]}" "$out/a64-clang/golden_fills" "$p" > "$out/a64-clang-$p.txt" \
      || bad "golden_fills $p (clang build) exited $?"
    compare "aarch64 $p (clang)" "$out/a64-clang-$p.txt"
  done
  # clang contracts a * b + c into fmla by default (-ffp-contract=on): the pragma in
  # src_c/fill_impl.h must forbid it even without the table's -ffp-contract=off
  mkdir -p "$out/nopragma"
  cp src_c/*.h src_c/fill_neon.c "$out/nopragma/"
  sed -i 's/^#pragma STDC FP_CONTRACT OFF$//' "$out/nopragma/fill_impl.h"
  fused() { aarch64-linux-gnu-objdump -d "$1" | grep -cE '\s(fmla|fmls|fmadd|fmsub|fnmadd|fnmsub)\s' || true; }
  "$out/clang-aarch64" -O3 -std=c99 -Isrc_c -c src_c/fill_neon.c -o "$out/pragma.o"
  "$out/clang-aarch64" -O3 -std=c99 -I"$out/nopragma" -c "$out/nopragma/fill_neon.c" -o "$out/nopragma.o"
  with=$(fused "$out/pragma.o")
  without=$(fused "$out/nopragma.o")
  echo "  clang, no -ffp-contract flag: $with fused instructions with the pragma, $without without"
  if [ "$with" -eq 0 ] && [ "$without" -gt 0 ]; then ok; else bad "the FP_CONTRACT pragma check ($with with, $without without)"; fi
else
  echo "  clang or the aarch64 omp.h not installed: skipped"
fi

echo "aarch64.sh: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
