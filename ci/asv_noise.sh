#!/usr/bin/env bash
# ci/asv_noise.sh: two asv runs of the same code must report no change.
#
# The timing settings of benchmarks/_common.py (Timed: rounds, repeat, warm-up, samples) are
# there so that `asv continuous`/`asv compare` tell a change from a busy neighbour on a
# shared 2-core machine. This checks them the only honest way: the fastki installed in the
# running Python is benchmarked twice, recorded under two commits of a throwaway clone whose
# trees are identical (the second is an empty commit), and `asv compare` between them must
# list nothing as changed (no row marked + or -; asv marks a row only when the ratio passes
# the factor AND its statistics say the two differ).
#
#   usage: ci/asv_noise.sh            (asv, virtualenv and fastki installed in $PYTHON)
#   ASV_NOISE_BENCH   the benchmarks (asv -b regex, which matches parameters too; default the
#                     three float32 fills of 2**20 elements on 1 and 2 threads, the 1- and
#                     1000-element calls and the block: fastki alone, no peer needed)
#   ASV_NOISE_FACTOR  asv compare's factor (default 1.25, docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
# a relative path names a file under the checkout: the checks below run from other directories
case $PY in /*) ;; */*) PY="$ROOT/$PY" ;; esac
BENCH=${ASV_NOISE_BENCH:-"^bench_fills\\.(Fill\\.time_fill\\('[a-z_]+', 'float32', 1048576, [12]\\)|CallOverhead|Block)"}
FACTOR=${ASV_NOISE_FACTOR:-1.25}
T0=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastki-asv-noise.XXXXXX")
[ -n "${ASV_NOISE_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nci/asv_noise.sh: FAILED: %s\n' "$*" >&2; exit 1; }

(cd "$WORK" && "$PY" -c "import asv, fastki") || die "$PY lacks asv or fastki (pip install '.[bench]' .)"
ASV=("$PY" -m asv)

# A clone with two commits of the same tree: asv keys results by commit.
git clone --quiet --no-hardlinks "$ROOT" "$WORK/repo"
git -C "$WORK/repo" -c user.name=ci -c user.email=ci@localhost \
    commit --quiet --allow-empty -m "the same tree again (ci/asv_noise.sh)"
git -C "$WORK/repo" checkout --quiet -B main   # the branch asv.conf.json names
FIRST=$(git -C "$WORK/repo" rev-parse HEAD~1)
SECOND=$(git -C "$WORK/repo" rev-parse HEAD)
# the working tree's benchmarks and settings (possibly uncommitted) are what is checked
rm -rf "$WORK/repo/benchmarks"
cp -r benchmarks asv.conf.json "$WORK/repo/"
cd "$WORK/repo"
export HOME="$WORK/home"   # asv's machine file (~/.asv-machine.json) stays in here
mkdir -p "$HOME"
"${ASV[@]}" machine --yes --machine noise-check > "$WORK/machine.log"

ROUNDS=$("$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); import _common; print(_common.Timed.rounds)" 2>/dev/null || echo 4)

# One attempt: both commits benchmarked from no results, then compared. Before the first,
# one discarded warm-up round: without it the first attempt on a fresh machine marked the
# first commit's 1000-element call slower in 2 of 4 runs (3.1-3.5 +- 0.8 us against
# 2.3 +- 0.1 us: a cold start, not the settings). A second attempt runs only when the first
# marks a change, and the check fails only when both do: settings that do not hold mark a
# change every time, a busy moment rarely strikes twice.
attempt() {
    # Rounds interleaved by hand, as `asv continuous --interleave-rounds` does between two
    # builds: round r of the first, round r of the second, ...; --append-samples keeps every
    # round's samples. A load that grows or falls during the check then weighs on both alike.
    for round in $(seq "$ROUNDS"); do
        for sha in "$FIRST" "$SECOND"; do
            step "round $round of $ROUNDS: asv run --python=same -a rounds=1 as ${sha:0:8}"
            "${ASV[@]}" run --python=same --machine noise-check --set-commit-hash="$sha" \
                --append-samples -a rounds=1 --show-stderr -b "$BENCH" > "$WORK/run.log" 2>&1 || true
            if grep -qE "·+ .*failed\s*$|Failed to" "$WORK/run.log"; then
                cat "$WORK/run.log"; die "a benchmark failed"
            fi
        done
    done

    step "attempt $attempt: asv compare --factor $FACTOR ${FIRST:0:8} ${SECOND:0:8}"
    "${ASV[@]}" compare --machine noise-check --factor "$FACTOR" "$FIRST" "$SECOND" | tee "$WORK/compare.txt"
    # asv's table: | Change | Before | After | Ratio | Benchmark |; Change is + (slower), - (faster),
    # ~ (past the factor but not significant), x or ! (failed) or empty.
    "$PY" - "$WORK/compare.txt" "$FACTOR" <<'EOF' && return 0
import sys
rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in open(sys.argv[1]) if line.startswith("|") and "bench_" in line]
rows = [row for row in rows if row[1] != "n/a"]     # parameter sets not selected by -b
if not rows:
    sys.exit("ci/asv_noise.sh: FAILED: asv compare printed no rows: nothing was compared")
bad = [row for row in rows if row[0] not in ("", "~")]
for row in bad:
    print("  changed:", " | ".join(row))
if bad:
    sys.exit("two runs of the same code differ past the factor")
print(f"{len(rows)} benchmark rows, none changed past factor {sys.argv[2]}")
EOF
    return 1
}

step "warm-up round (discarded)"
"${ASV[@]}" run --python=same --machine noise-check --set-commit-hash="$FIRST" \
    -a rounds=1 -b "$BENCH" > "$WORK/run.log" 2>&1 || true
for attempt in 1 2; do
    rm -rf .asv/results/noise-check
    attempt && { echo "ci/asv_noise.sh: OK in $((SECONDS - T0)) s (attempt $attempt)"; exit 0; }
done
die "two runs of the same code differ in both attempts: the timing settings do not hold on this machine"
