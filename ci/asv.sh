#!/usr/bin/env bash
# ci/asv.sh: run fastki's asv benchmarks once, publish the report, and check in headless
# Chromium that it renders.
#
#   1. a fresh venv (.asv/ci-venv) with asv and fastki installed from this checkout;
#      FASTKI_ASV_PEERS=1 adds PyTorch, JAX and Keras, whose benchmarks otherwise skip;
#   2. `asv run --python=same --quick` for HEAD: fails when any benchmark fails (asv's exit
#      status 2, and a grep of its output for "failed" as a second guard);
#   3. `asv publish` -> .asv/html; asv's page loads jQuery, flot and bootstrap from CDNs,
#      which CI cannot reach, so they are replaced by the same packages from the npm
#      registry, served from .asv/html/vendor/ (the report then works offline too);
#   4. the report served on 127.0.0.1 and opened in headless Chromium: the benchmark list
#      must be in the DOM, a benchmark graph must be drawn, and nothing may go wrong on the
#      way (uncaught errors, console.error, failed loads, HTTP 4xx/5xx);
#   5. screenshots: ci-artifacts/asv.png (a graph) and ci-artifacts/asv-list.png.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
T0=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fastki-asv.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n=== [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { printf '\nci/asv.sh: FAILED: %s\n' "$*" >&2; exit 1; }
# pip, less the warnings this machine's pip.conf prints for every missing local index entry
pip_q() { "$@" 2>&1 | { grep -v '^WARNING: Location .* is ignored' || true; }; }

# ------------------------------------------------------------------------- venv
step "venv: asv, virtualenv, build and fastki (pip install .)"
# A fixed path: asv records the interpreter's path with every result, so a temporary one
# would start a new series in the report on every run.
VENV="$ROOT/.asv/ci-venv"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
pip_q "$VPY" -m pip install --quiet --upgrade pip
pip_q "$VPY" -m pip install --quiet "asv>=0.6.4" virtualenv build
pip_q "$VPY" -m pip install --quiet ".[half]"
if [ "${FASTKI_ASV_PEERS:-0}" != "0" ]; then
    step "peers: PyTorch (CPU build), JAX, Keras"
    pip_q "$VPY" -m pip install --quiet torch==2.13.0 jax keras
fi
ASV="$VENV/bin/asv"
(cd "$WORK" && "$VPY" -m fastki info)

# ------------------------------------------------------------------------- run
step "asv machine --yes"
"$ASV" machine --yes > "$WORK/machine.log" || { cat "$WORK/machine.log"; die "asv machine"; }
grep -E "^\s*(machine|arch|cpu|num_cpu|ram):?" "$WORK/machine.log" | head -5 || true

HEAD_SHA=$(git rev-parse HEAD)
step "asv run --python=same --quick --show-stderr (commit ${HEAD_SHA:0:8})"
set +e
"$ASV" run --python=same --quick --show-stderr --set-commit-hash="$HEAD_SHA" ${ASV_BENCH:+-b "$ASV_BENCH"} \
    2>&1 | tee "$WORK/run.log"
RUN_RC=${PIPESTATUS[0]}
set -e
# asv marks a failed benchmark (or a failed parameter set: "2/36 failed") at the end of
# its progress line; a discovery or import error ends the run with "Failed to ...".
if grep -E '·+ .*[^0-9]((\s|[0-9]+/[0-9]+ )failed)\s*$|Failed to build|Failed to import|benchmark failed' "$WORK/run.log" > "$WORK/failed.txt"; then
    cat "$WORK/failed.txt"
    die "asv: benchmarks failed (asv exit status $RUN_RC)"
fi
[ "$RUN_RC" -eq 0 ] || die "asv run exited with status $RUN_RC"
ls .asv/results/*/"${HEAD_SHA:0:8}"*.json > /dev/null 2>&1 || die "asv saved no results for ${HEAD_SHA:0:8}"
echo "ok: $(grep -cE '^\[.*\] ··· bench_' "$WORK/run.log") benchmarks run, none failed" \
     "($(grep -c 'asv: skipped' "$WORK/run.log" || true) parameter sets skipped: library or feature missing)"

step "asv publish"
"$ASV" publish > "$WORK/publish.log" 2>&1 || { cat "$WORK/publish.log"; die "asv publish"; }
tail -1 "$WORK/publish.log"

# ------------------------------------------------------------------------- offline report
step "report: CDN scripts and styles replaced by local copies from the npm registry"
command -v npm > /dev/null || die "npm is needed to fetch asv's page libraries (apt-get install npm)"
cat > "$WORK/localize.py" <<'EOF'
"""Rewrite asv's <script src=https://...> and <link href=https://...> to local copies.

asv's HTML names exact versions of jQuery, flot, bootstrap etc. on three CDNs; each is the
same file as in the npm package of that name and version (jsdelivr's /npm/ URLs are npm
paths). Packages are fetched with `npm pack` into a cache; only the files used (and
bootstrap's fonts, which its CSS names relatively) are copied next to the report."""
import pathlib, re, shutil, subprocess, sys, tarfile

html_dir, cache = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
vendor = html_dir / "vendor"
# cdnjs library name -> (npm package, version to use instead, or None for the same)
CDNJS = {"flot": ("flot", None), "blueimp-md5": ("blueimp-md5", None),
         "stupidtable": ("stupid-table-plugin", "1.1.3")}  # npm has no 1.0.1; same API


def npm_location(url):
    m = re.fullmatch(r"https://code\.jquery\.com/jquery-([0-9.]+)\.min\.js", url)
    if m:
        return "jquery", m[1], "dist/jquery.min.js"
    m = re.fullmatch(r"https://cdn\.jsdelivr\.net/npm/((?:@[^/]+/)?[^@/]+)@([^/]+)/(.+)", url)
    if m:
        return m[1], m[2], m[3]
    m = re.fullmatch(r"https://cdnjs\.cloudflare\.com/ajax/libs/([^/]+)/([^/]+)/(.+)", url)
    if m and m[1] in CDNJS:
        pkg, version = CDNJS[m[1]]
        return pkg, version or m[2], m[3]
    return None


def package_dir(pkg, version):
    dest = cache / f"{pkg.replace('/', '+')}@{version}"
    if not dest.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        tgz = subprocess.run(["npm", "pack", "--silent", f"{pkg}@{version}",
                              "--pack-destination", str(cache)],
                             check=True, capture_output=True, text=True).stdout.split()[-1]
        tmp = cache / "unpack"
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(cache / tgz) as t:
            try:
                t.extractall(tmp, filter="data")
            except TypeError:  # Python without extraction filters (< 3.11.4)
                t.extractall(tmp)
        (tmp / "package").rename(dest)
        (cache / tgz).unlink()
    return dest


def localize(match):
    tag = match[0]
    attr = re.search(r'\b(src|href)="(https?://[^"]+)"', tag)
    if not attr:
        return tag
    where = npm_location(attr[2])
    if where is None:
        sys.exit(f"no npm source known for {attr[2]}: update ci/asv.sh for this asv")
    pkg, version, path = where
    root = package_dir(pkg, version)
    src = root / path
    if not src.is_file() and src.name.endswith(".min.js"):  # npm's flot ships unminified
        src = src.with_name(src.name[:-len(".min.js")] + ".js")
    if not src.is_file():
        sys.exit(f"{pkg}@{version} has no {path}")
    rel = pathlib.Path(root.name) / src.relative_to(root)
    (vendor / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, vendor / rel)
    fonts = src.parent.parent / "fonts"
    if src.suffix == ".css" and fonts.is_dir():
        shutil.copytree(fonts, vendor / rel.parent.parent / "fonts", dirs_exist_ok=True)
    tag = tag.replace(attr[0], f'{attr[1]}="vendor/{rel.as_posix()}"')
    # the local copy is not the CDN's byte for byte (flot), and is same-origin anyway
    return re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", tag)


for page in sorted(html_dir.glob("*.html")):
    text = re.sub(r"<(script|link)\b[^>]*>", localize, page.read_text())
    page.write_text(text)
    left = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"', text)
    if left:
        sys.exit(f"{page.name} still loads {left}")
    print(f"{page.name}: every script and stylesheet is local")
EOF
"$VPY" "$WORK/localize.py" .asv/html .asv/npm-cache || die "could not make the report self-contained"

# ------------------------------------------------------------------------- chromium
step "headless Chromium"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then
    echo "installing chromium (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        > "$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install chromium"; }
    CHROME=$(command -v chromium) || die "chromium did not install"
fi
"$CHROME" --version 2>/dev/null || true

# A copy of the report with a first <script> that records what goes wrong into the page
# itself, where --dump-dom shows it: uncaught errors, failed loads (capture phase),
# rejected promises and console.error. Chromium's own log (--enable-logging) is read too,
# but it writes every console level as INFO.
SITE="$WORK/site"
cp -r .asv/html "$SITE"
"$VPY" - "$SITE/index.html" <<'EOF'
import sys
hook = """<script>(function () {
  var seen = [], root = document.documentElement;
  function note(kind, what) { seen.push(kind + ": " + what);
    root.setAttribute("data-ci-errors", JSON.stringify(seen)); }
  root.setAttribute("data-ci-hook", "1");
  window.addEventListener("error", function (e) {
    if (e.target && e.target !== window) note("failed load", e.target.src || e.target.href || e.target.tagName);
    else note("uncaught", e.message + " (" + e.filename + ":" + e.lineno + ")");
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note("rejection", String(e.reason)); });
  var error = console.error;
  console.error = function () { note("console.error", Array.prototype.join.call(arguments, " ")); return error.apply(console, arguments); };
})();</script>"""
path = sys.argv[1]
text = open(path).read()
head = text.index("<head>") + len("<head>")
open(path, "w").write(text[:head] + "\n" + hook + text[head:])
EOF

PORT=$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VPY" -m http.server --bind 127.0.0.1 --directory "$SITE" "$PORT" > "$WORK/http.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    "$VPY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/index.json')" 2>/dev/null && break
    sleep 0.1
done
URL="http://127.0.0.1:$PORT/"

chrome() {  # chrome LOGNAME ARGS...: one fresh profile per run
    local log=$1; shift
    local profile
    profile=$(mktemp -d "$WORK/profile.XXXXXX")
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
        --enable-logging=stderr --v=0 --window-size=1400,1000 --virtual-time-budget=20000 \
        "$@" 2>> "$WORK/$log"
}

mkdir -p ci-artifacts
# The graph: fastki's fills against size (float32, 1 thread): lines even with one commit.
GRAPH_URL="${URL}#bench_fills.Fill.time_fill?x-axis=size&p-dtype='float32'&p-threads=1"
chrome chrome-list.log --dump-dom "${URL}#/summarylist" > "$WORK/list.html"
chrome chrome-graph.log --dump-dom "$GRAPH_URL" > "$WORK/graph.html"
chrome chrome-shot.log --screenshot="$ROOT/ci-artifacts/asv.png" "$GRAPH_URL" > /dev/null
chrome chrome-shot.log --screenshot="$ROOT/ci-artifacts/asv-list.png" "${URL}#/summarylist" > /dev/null
cp "$WORK/list.html" ci-artifacts/asv-list-dom.html

step "checks: benchmark list, graph, no errors"
"$VPY" - "$WORK" <<'EOF'
import html, json, pathlib, re, sys
work = pathlib.Path(sys.argv[1])
problems = []
for name in ("list", "graph"):
    dom = (work / f"{name}.html").read_text()
    if 'data-ci-hook="1"' not in dom:
        problems.append(f"{name}: the page did not run (error hook missing; redirected to error.html?)")
    m = re.search(r'data-ci-errors="([^"]*)"', dom)
    if m:
        problems += [f"{name}: {e}" for e in json.loads(html.unescape(m[1]))]
list_dom = (work / "list.html").read_text()
rows = re.findall(r'<tr><td><a href="#(bench_[a-z_]+\.[A-Za-z]+\.[a-z_]+)\?', list_dom)
for want in ("bench_fills.Fill.time_fill", "bench_fills.New.time_new", "bench_fills.New.peakmem_new",
             "bench_peers.NumpyGenerator.time_fill"):
    if want not in rows:
        problems.append(f"benchmark list lacks {want}")
graph_dom = (work / "graph.html").read_text()
if 'class="flot-base"' not in graph_dom:
    problems.append("graph: no flot canvas drawn")
legend = re.findall(r"distribution-(uniform|normal|truncated_normal)", graph_dom)
if len(set(legend)) < 3:
    problems.append(f"graph: legend shows {sorted(set(legend))}, not the three distributions")
for log in work.glob("chrome-*.log"):
    for line in log.read_text().splitlines():
        if ":CONSOLE" in line and re.search(r"Uncaught|Error|Failed", line):
            problems.append(f"console ({log.name}): {line}")
for line in (work / "http.log").read_text().splitlines():
    m = re.search(r'"(GET|HEAD) (\S+) [^"]*" ([45]\d\d)', line)
    if m and not m[2].endswith("favicon.ico"):
        problems.append(f"HTTP {m[3]} for {m[2]}")
print(f"benchmark list: {len(rows)} rows, {len(set(rows))} benchmarks; graph: flot canvas, "
      f"legend {sorted(set(legend))}")
if problems:
    print("\n".join("  " + p for p in problems))
    sys.exit(1)
print("ok: no uncaught errors, console errors, failed loads or HTTP errors")
EOF
[ -s ci-artifacts/asv.png ] || die "no screenshot"
ls -la ci-artifacts/asv.png ci-artifacts/asv-list.png

step "done"
echo "results: .asv/results   report: .asv/html   screenshots: ci-artifacts/asv.png, asv-list.png"
echo "runtime: $((SECONDS - T0)) s"
echo "ci/asv.sh: OK"
