#!/usr/bin/env bash
# The C kernel under valgrind memcheck: tests/c/test_fills.c exercises every fill
# (distribution x dtype x SIMD path x thread count x odd first/count, up to element 2**64 - 1)
# and checks that every element is written, nothing outside, and that every output byte is
# defined. Valgrind emulates no AVX-512, so that path reports itself unavailable there and runs
# only in the native (non-valgrind) pass and under ci/sanitizers.sh.
# Two builds: as shipped, and with the streaming-store and thread thresholds lowered so that
# the small cases also take the streaming and multi-thread paths. Bounded: ~1-3 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
if ! command -v valgrind >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq valgrind) >/dev/null
fi
out=build/ci-valgrind
bash ci/build_c_tests.sh "$out/shipped"
bash ci/build_c_tests.sh "$out/small" -DFASTKI_STREAM_MIN_BYTES=256 -DFASTKI_MIN_WORK_PER_THREAD=16

echo "--- native run (every path this CPU has, incl. streaming stores past 32 MiB)"
OMP_NUM_THREADS=2 timeout 300 "$out/shipped/test_fills" --big
OMP_NUM_THREADS=2 timeout 300 "$out/small/test_fills"

vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --track-origins=yes -q)
echo "--- valgrind memcheck, shipped thresholds"
OMP_NUM_THREADS=2 timeout 600 "${vg[@]}" "$out/shipped/test_fills"
echo "--- valgrind memcheck, lowered thresholds (streaming stores, thread splits on small fills)"
OMP_NUM_THREADS=2 timeout 600 "${vg[@]}" "$out/small/test_fills"
echo "valgrind.sh: clean in $(( $(date +%s) - start )) s"
