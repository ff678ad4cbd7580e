#!/usr/bin/env bash
# ci/docs.sh: build the reference site with warnings as errors, then open its index and one
# API page in headless Chromium and check what they show.
#
#   1. python -m sphinx -W -b html docs build/docs (the `docs` extra; the API pages import
#      fastki, fastki.torch, fastki.jax, fastki.dask and fastki.keras, so the test extra's
#      frameworks must be installed too); the build itself fails when a public name of
#      those modules is documented nowhere (docs/_ext/fastki_coverage.py);
#   2. build/docs served on 127.0.0.1 and opened in headless Chromium (as ci/asv.sh does):
#      the index must list the guides, api/fastki.html must show fastki.normal with its
#      parameters, and neither may log an error or fail to load a file;
#   3. screenshots ci-artifacts/docs-index.png and ci-artifacts/docs-api.png, each also
#      printed into this output as a data: URI (paste it into a browser's address bar).
#
#   usage: ci/docs.sh          (PYTHON: the interpreter with fastki[docs] installed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python}
T0=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastki-docs.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nci/docs.sh: FAILED: %s\n' "$*" >&2; exit 1; }

step "python -m sphinx -W -b html docs build/docs"
rm -rf build/docs
# from outside the checkout, so that the installed fastki is the one documented
(cd "$WORK" && "$PY" -m sphinx -W --keep-going -b html "$ROOT/docs" "$ROOT/build/docs") \
    > "$WORK/sphinx.log" 2>&1 || { cat "$WORK/sphinx.log"; die "sphinx -W"; }
grep -E "fastki_coverage|build succeeded" "$WORK/sphinx.log"

step "headless Chromium"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then
    echo "installing chromium (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        > "$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install chromium"; }
    CHROME=$(command -v chromium) || die "chromium did not install"
fi
"$CHROME" --version 2>/dev/null || true

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m http.server --bind 127.0.0.1 --directory build/docs "$PORT" > "$WORK/http.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/index.html')" 2>/dev/null && break
    sleep 0.1
done
URL="http://127.0.0.1:$PORT"

chrome() {  # chrome LOGNAME ARGS...: one fresh profile per run
    local log=$1; shift
    local profile
    profile=$(mktemp -d "$WORK/profile.XXXXXX")
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
        --enable-logging=stderr --v=0 --window-size=1200,900 --virtual-time-budget=10000 \
        "$@" 2>> "$WORK/$log"
}

mkdir -p ci-artifacts
chrome chrome-index.log --dump-dom "$URL/index.html" > "$WORK/index.html"
chrome chrome-api.log --dump-dom "$URL/api/fastki.html" > "$WORK/api.html"
chrome chrome-shot.log --screenshot="$ROOT/ci-artifacts/docs-index.png" "$URL/index.html" > /dev/null
chrome chrome-shot.log --screenshot="$ROOT/ci-artifacts/docs-api.png" "$URL/api/fastki.html" > /dev/null

step "checks: the pages' contents, no errors"
"$PY" - "$WORK" <<'PYEOF'
import pathlib, re, sys
work = pathlib.Path(sys.argv[1])
problems = []
index = (work / "index.html").read_text()
for guide in ("install.html", "choosing.html", "migration.html", "pinning.html",
              "distributions.html", "api/index.html", "torch.html", "jax.html", "dask.html"):
    if f'href="{guide}' not in index:
        problems.append(f"index: no link to {guide}")
api = (work / "api.html").read_text()
for anchor in ("fastki.normal", "fastki.uniform", "fastki.truncated_normal", "fastki.options"):
    if f'id="{anchor}"' not in api:
        problems.append(f"api/fastki.html: {anchor} is not documented")
signature = re.search(r'id="fastki.normal".*?</dt>', api, re.S)
text = re.sub(r"<[^>]+>", "", signature[0]) if signature else ""
for parameter in ("shape", "mean", "stddev", "seed", "stream", "dtype", "out", "block"):
    if parameter not in text:
        problems.append(f"api/fastki.html: fastki.normal's signature lacks {parameter}")
for log in work.glob("chrome-*.log"):
    for line in log.read_text().splitlines():
        if ":CONSOLE" in line and re.search(r"Uncaught|Error|Failed", line):
            problems.append(f"console ({log.name}): {line}")
for line in (work / "http.log").read_text().splitlines():
    m = re.search(r'"(GET|HEAD) (\S+) [^"]*" ([45]\d\d)', line)
    if m and not m[2].endswith("favicon.ico"):
        problems.append(f"HTTP {m[3]} for {m[2]}")
print(f"index: {len(re.findall('<a ', index))} links; fastki.normal: "
      f"{' '.join(text.split())[:160]}")
if problems:
    print("\n".join("  " + p for p in problems))
    sys.exit(1)
print("ok: guides linked, API signatures shown, no console errors or failed loads")
PYEOF

step "screenshots (each as a data: URI)"
for shot in ci-artifacts/docs-index.png ci-artifacts/docs-api.png; do
    [ -s "$shot" ] || die "no screenshot $shot"
    echo "$shot ($(wc -c < "$shot") bytes):"
    echo "data:image/png;base64,$(base64 -w0 "$shot")"
done
echo "ci/docs.sh: OK in $((SECONDS - T0)) s (site: build/docs)"
