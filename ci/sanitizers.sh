#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer over the C kernel, in a build of its own: the
# tracked sources are copied to build/ci-sanitizers/src and installed (not editable) into
# build/ci-sanitizers/venv with FASTKI_EXTRA_CFLAGS/LDFLAGS; the shipped build, its build/ dir
# and .venv are never touched. Then:
#   1. tests/c/test_fills.c built with the same sanitizers runs every fill on every SIMD path
#      this CPU has (AVX-512 included, which valgrind cannot emulate);
#   2. the Python test suite runs against the sanitized extension (libasan preloaded, leak
#      detection off: CPython's own allocations are not ours to judge). UBSan halts on the first
#      report, so any finding fails the run.
# Override the test selection with SANITIZER_TESTS="tests/test_x.py ..." (default: all of tests/).
# Bounded: ~3-5 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
root=$PWD
work=$root/build/ci-sanitizers
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
CC=${CC:-cc}
libasan=$($CC -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitizers.sh: $CC has no libasan.so" >&2; exit 1; }

echo "--- 1. C test program with ASan + UBSan"
bash ci/build_c_tests.sh "$work/c" "${san[@]}"
OMP_NUM_THREADS=2 timeout 300 "$work/c/test_fills" --big

echo "--- 2. Python extension with ASan + UBSan (separate copy and venv)"
rm -rf "$work/src"
mkdir -p "$work/src"
git ls-files -z --cached --others --exclude-standard | \
  grep -zv '^build/' | xargs -0 tar -cf - | tar -xf - -C "$work/src"
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
# the runtime and test dependencies by name (installing "src[test]" would rebuild fastki unsanitized)
python - "$work/src/pyproject.toml" > "$work/requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
python -m pip install --quiet -r "$work/requirements.txt"
# CC carries the sanitizer flags too: setup.py's OpenMP probe links a test program with CC and
# without FASTKI_EXTRA_LDFLAGS, so without them the probe fails and OpenMP is silently left out.
CC="$CC ${san[*]}" FASTKI_EXTRA_CFLAGS="${san[*]}" FASTKI_EXTRA_LDFLAGS="${san[*]}" \
  python -m pip install -v --no-cache-dir --force-reinstall --no-deps "$work/src" \
  > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; echo "sanitizers.sh: build failed" >&2; exit 1; }
grep "fastki build:" "$work/build.log" || true
so=$(cd / && python -c 'import importlib.util as u, glob, os
print(glob.glob(os.path.join(os.path.dirname(u.find_spec("fastki").origin), "_native*.so"))[0])')
# The proof that the flags applied is in the object itself: instrumented code calls into the
# ASan and UBSan runtimes (libasan is preloaded below, so how the .so was linked matters less).
# Outputs are captured before grep: under pipefail, `cmd | grep -q` fails whenever grep exits
# before cmd has written its last line (SIGPIPE).
symbols=$(nm -D "$so" 2>&1 || true)
linked=$(ldd "$so" 2>&1 || true)
if ! grep -q "__asan_report" <<<"$symbols" || ! grep -q "__ubsan_handle" <<<"$symbols"; then
  echo "sanitizers.sh: $so has no ASan/UBSan instrumentation: the sanitizer flags did not apply" >&2
  echo "$linked" >&2
  grep -E -- "-fsanitize|error" "$work/build.log" | tail -20 >&2 || true
  exit 1
fi
grep -q libasan <<<"$linked" || echo "sanitizers.sh: note: $so is instrumented but ldd lists no libasan (preloaded below)"
echo "sanitized extension: $so"
(cd / && LD_PRELOAD=$libasan python -c 'import fastki; i = fastki.info(); print(i)
assert i["native_loaded"] and i["openmp"], "sanitized build without its native backend or OpenMP"')
cd "$work/src"
tests=${SANITIZER_TESTS:-tests}
# shellcheck disable=SC2086
# FASTKI_SANITIZED: tests that cap memory skip (ASan's shadow memory would pass any cap)
LD_PRELOAD=$libasan FASTKI_SANITIZED=1 FASTKI_REQUIRE_INSTALLED=1 OMP_NUM_THREADS=2 timeout 900 \
  pytest -q -p no:cacheprovider -m "not integration" $tests
echo "sanitizers.sh: clean in $(( $(date +%s) - start )) s"
