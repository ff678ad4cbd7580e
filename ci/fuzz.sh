#!/usr/bin/env bash
# Coverage-guided fuzzing of the public API with atheris (tests/fuzz_api.py) for a bounded
# time: FUZZ_SECONDS (default 60). fastki is installed (not editable) into its own venv,
# build/ci-fuzz/venv; the corpus is kept in build/ci-fuzz/corpus between runs, and a finding is
# saved as build/ci-fuzz/run/crash-<sha1> (replay: python tests/fuzz_api.py <file>).
# If atheris cannot be installed here (it ships wheels for CPython 3.8-3.11 on x86-64 Linux and
# needs clang to build from source), the script says so and exits 0: fuzzing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
root=$PWD
work=$root/build/ci-fuzz
seconds=${FUZZ_SECONDS:-60}
mkdir -p "$work/corpus" "$work/run"
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip
if ! python -m pip install --quiet atheris; then
  echo "fuzz.sh: atheris could not be installed for $(python -V); fuzzing SKIPPED" >&2
  exit 0
fi
python -m pip install --quiet ml_dtypes "$root"
cd "$work/run"
rm -f crash-* timeout-* oom-*
OMP_NUM_THREADS=2 timeout $((seconds + 120)) python "$root/tests/fuzz_api.py" \
  -max_total_time="$seconds" -timeout=20 -rss_limit_mb=6144 -print_final_stats=1 \
  "$work/corpus" 2>&1 | grep -v "^WARNING: Failed to find function" | tail -25
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ] || ls crash-* timeout-* oom-* >/dev/null 2>&1; then
  echo "fuzz.sh: FINDING (exit $status); inputs in $work/run" >&2
  exit 1
fi
echo "fuzz.sh: ${seconds} s of fuzzing, no finding; total $(( $(date +%s) - start )) s"
