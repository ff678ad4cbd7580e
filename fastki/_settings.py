"""The one reader of fastki's settings: every FASTKI_* environment variable, OMP_NUM_THREADS,
the CPUs this process may run on and its CPU quota, read and checked once, at import.

fastki/_api.py takes the backend and SIMD path from here and hands the thread settings to the
kernel (src_c/fastki.h, fastki_configure), which reads no environment variable itself. This
module imports no other module of fastki, so FASTKI_BACKEND works without the compiled
extension. None of these settings changes a value (docs/algorithm.md); docs/benchmarks.md
("Threads") says what the thread settings do."""
import math
import os
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

BACKENDS = ("native", "numpy")
SIMD_NAMES = ("scalar", "sse2", "avx2", "avx512", "neon")  # src_c/fastki.h order
STREAMING = ("auto", "on", "off")
CHUNK_GROUPS_DEFAULT = 256  # src_c/dispatch.c, FASTKI_CHUNK_GROUPS
CHUNK_GROUPS_MAX = 2**24


class Settings(NamedTuple):
    backend: Optional[str]        # FASTKI_BACKEND; None: native where the extension loads
    simd: Optional[str]           # FASTKI_SIMD; None: the best path the CPU runs
    chunk_groups: int             # FASTKI_CHUNK_GROUPS: the largest piece a thread claims
    streaming: str                # FASTKI_STREAMING: auto, on, off
    load_signal: bool             # FASTKI_LOAD_SIGNAL: on (default), off
    omp_num_threads: Optional[int]  # OMP_NUM_THREADS (its first entry); None: unset
    affinity: int                 # CPUs in this process's affinity mask
    cpu_quota: Optional[float]    # CPUs' worth of time the cgroup quota allows; None: none
    cpu_quota_source: Optional[str]  # the file that set it


def _choice(environ: Mapping[str, str], name: str, allowed: Sequence[str]) -> Optional[str]:
    value = environ.get(name, "").strip().lower()
    if value and value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value or None


def _chunk_groups(environ: Mapping[str, str]) -> int:
    value = environ.get("FASTKI_CHUNK_GROUPS", "").strip()
    if not value:
        return CHUNK_GROUPS_DEFAULT
    if not value.isdigit() or not 1 <= int(value) <= CHUNK_GROUPS_MAX:
        raise ValueError(f"FASTKI_CHUNK_GROUPS={value!r} is not an integer from 1 to "
                         f"{CHUNK_GROUPS_MAX}")
    return int(value)


def _omp_num_threads(environ: Mapping[str, str]) -> Optional[int]:
    """OpenMP's own reading (a list gives the outermost level first); None where unset or not
    a positive integer, which OpenMP ignores too."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_dirs(root: str = "/") -> List[Tuple[str, str]]:
    """(version, directory) of each cgroup of this process that can hold a CPU quota: the v2
    group, and the v1 group of the cpu controller, found through /proc/self/mountinfo."""
    groups: Dict[str, str] = {}  # "2" or the v1 controller list -> path in its hierarchy
    for line in (_read(os.path.join(root, "proc/self/cgroup")) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        groups["2" if hier == "0" else controllers] = path
    found: List[Tuple[str, str]] = []
    for line in (_read(os.path.join(root, "proc/self/mountinfo")) or "").splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        mount_root, mount_point, fstype = fields[3], fields[4], extra[0]
        group_path: Optional[str]
        if fstype == "cgroup2" and "2" in groups:
            group_path = groups["2"]
        elif fstype == "cgroup" and "cpu" in extra[2].split(","):
            group_path = next((p for c, p in groups.items() if "cpu" in c.split(",")), None)
        else:
            continue
        if group_path is None:
            continue
        # inside a cgroup namespace the mount's root may be the group itself
        rel = (os.path.relpath(group_path, mount_root) if group_path.startswith(mount_root)
               else group_path.lstrip("/"))
        found.append(("2" if fstype == "cgroup2" else "1",
                      os.path.normpath(os.path.join(root, mount_point.lstrip("/"), rel))))
    return found


def _quota_at(version: str, directory: str) -> Optional[Tuple[float, str]]:
    """CPUs' worth of the quota set in one cgroup directory, or None."""
    if version == "2":
        text = _read(os.path.join(directory, "cpu.max"))
        parts = text.split() if text else []
        if len(parts) == 2 and parts[0] != "max":
            return int(parts[0]) / int(parts[1]), os.path.join(directory, "cpu.max")
        return None
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if quota and period and quota.lstrip("-").isdigit() and int(quota) > 0 and int(period) > 0:
        return int(quota) / int(period), os.path.join(directory, "cpu.cfs_quota_us")
    return None


def cpu_quota(root: str = "/") -> Tuple[Optional[float], Optional[str]]:
    """(CPUs' worth of time, the file that says so): the smallest quota of this process's
    cgroups and of every cgroup above them (a parent's quota binds its children too); (None,
    None) where no quota is set or none can be read."""
    best: Tuple[Optional[float], Optional[str]] = (None, None)
    for version, directory in _cgroup_dirs(root):
        top = os.path.normpath(os.path.join(root, "sys/fs/cgroup"))
        while True:
            q = _quota_at(version, directory)
            if q is not None and (best[0] is None or q[0] < best[0]):
                best = q
            parent = os.path.dirname(directory)
            if parent == directory or not directory.startswith(top) or directory == top:
                break
            directory = parent
    return best


def read(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Every setting, checked; ValueError naming the variable for a value fastki does not know."""
    environ = os.environ if environ is None else environ
    quota, source = cpu_quota()
    return Settings(
        backend=_choice(environ, "FASTKI_BACKEND", BACKENDS),
        simd=_choice(environ, "FASTKI_SIMD", SIMD_NAMES),
        chunk_groups=_chunk_groups(environ),
        streaming=_choice(environ, "FASTKI_STREAMING", STREAMING) or "auto",
        load_signal=(_choice(environ, "FASTKI_LOAD_SIGNAL", ("on", "off")) or "on") == "on",
        omp_num_threads=_omp_num_threads(environ),
        affinity=_affinity(),
        cpu_quota=quota,
        cpu_quota_source=source,
    )


def cpu_limit(settings: Settings) -> int:
    """The threads the quota allows a default fill: the quota rounded down, at least 1; 0 for
    no quota."""
    if settings.cpu_quota is None:
        return 0
    return max(1, math.floor(settings.cpu_quota))


def budget_source(settings: Settings, budget: int, requested: int = 0) -> str:
    """Which limit set the threads of a default fill: options(num_threads=), the CPU quota,
    OMP_NUM_THREADS (or threadpoolctl / omp_set_num_threads where that set OpenMP's count),
    or the affinity mask."""
    if requested:
        return "options(num_threads=)"
    limit = cpu_limit(settings)
    others = min(settings.affinity, settings.omp_num_threads or settings.affinity)
    if limit and budget == limit and limit < others:  # the quota binds (a tie: the others)
        return f"CPU quota ({settings.cpu_quota:g} CPUs, {settings.cpu_quota_source})"
    if settings.omp_num_threads is not None and budget == settings.omp_num_threads:
        return "OMP_NUM_THREADS"
    if budget == settings.affinity:
        return "affinity mask"
    return "OpenMP's thread count (omp_set_num_threads or threadpoolctl)"
