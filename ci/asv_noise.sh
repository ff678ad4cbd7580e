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

# Rounds interleaved by hand, as `asv continuous --interleave-rounds` does between two
# builds: round r of the first, round r of the second, ...; --append-samples keeps every
# round's samples. A load that grows or falls during the check then weighs on both alike.
ROUNDS=$("$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); import _common; print(_common.Timed.rounds)" 2>/dev/null || echo 4)
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

step "asv compare --factor $FACTOR ${FIRST:0:8} ${SECOND:0:8}"
"${ASV[@]}" compare --machine noise-check --factor "$FACTOR" "$FIRST" "$SECOND" | tee "$WORK/compare.txt"
# asv's table: | Change | Before | After | Ratio | Benchmark |; Change is + (slower), - (faster),
# ~ (past the factor but not significant), x or ! (failed) or empty.
"$PY" - "$WORK/compare.txt" "$FACTOR" <<'EOF'
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
    sys.exit("ci/asv_noise.sh: FAILED: two runs of the same code differ: the timing settings "
             "do not hold on this machine")
print(f"{len(rows)} benchmark rows, none changed past factor {sys.argv[2]}")
EOF
echo "ci/asv_noise.sh: OK in $((SECONDS - T0)) s"
