"""The one table of C build flags: used by setup.py, ci/build_c_tests.sh and ci/aarch64.sh.

Per compiler family (gcc, clang, msvc) and per target architecture (x86_64, x86_32, aarch64,
other), it gives the flags every object is compiled with, and per SIMD path (scalar, sse2,
avx2, avx512, neon) the flags that object adds. Nothing else in the repository repeats them.

The contract flags (docs/algorithm.md: every float step is one rounded IEEE operation in the
spec's order, so every path gives the same bits):
  * no contraction into fused multiply-add: -ffp-contract=off (GCC/Clang), /fp:precise with
    the in-source `#pragma fp_contract(off)` (MSVC; src_c/fill_impl.h also says
    `#pragma STDC FP_CONTRACT OFF` to compilers that honour it);
  * no fast-math, never -march=native (the SIMD paths add only their own -m flags on top of
    the architecture's baseline);
  * float arithmetic evaluated in its own type (FLT_EVAL_METHOD == 0, checked by
    src_c/fill_impl.h at compile time): on 32-bit x86 the x87 unit is left for SSE2
    (-msse2 -mfpmath=sse); MSVC for 32-bit x86 needs /arch:SSE2 (its default).
  * -fno-math-errno only lets sqrt become one instruction; it changes no value.

The scalar path is the un-vectorized reference on the architectures that also have explicit
SIMD paths (x86, aarch64): the tests compare those paths with it. Elsewhere ("other": ppc64le,
s390x, riscv64, ...) it is the only path and is left to the auto-vectorizer: with contraction
off, vectorizing changes no IEEE result; ci/aarch64.sh checks that claim on aarch64 by running
the golden hashes against a vectorized build of the same path (docs/benchmarks.md has the
instruction counts).

Command line (for the shell scripts):
  python3 tools/buildflags.py base COMPILER ARCH        the flags of every object
  python3 tools/buildflags.py paths ARCH                the SIMD paths ARCH builds
  python3 tools/buildflags.py path NAME COMPILER ARCH   the flags path NAME adds
  python3 tools/buildflags.py openmp COMPILER           compile flags for OpenMP
  python3 tools/buildflags.py arch [MACHINE]            the architecture name of a machine
COMPILER: gcc, clang or msvc; ARCH: x86_64, x86_32, aarch64 or other.
"""
import platform
import struct
import sys

COMPILERS = ("gcc", "clang", "msvc")
ARCHES = ("x86_64", "x86_32", "aarch64", "other")

_GNU_BASE = ["-O3", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
             "-fvisibility=hidden"]

# Flags of every object, per compiler family.
BASE = {
    "gcc": _GNU_BASE,
    "clang": _GNU_BASE,
    "msvc": ["/O2", "/fp:precise"],
}

# Added to BASE for one architecture: 32-bit x86 computes in SSE2 registers, not x87's
# 80-bit ones (src_c/fill_impl.h refuses to compile when FLT_EVAL_METHOD != 0).
ARCH_BASE = {
    ("gcc", "x86_32"): ["-msse2", "-mfpmath=sse"],
    ("clang", "x86_32"): ["-msse2", "-mfpmath=sse"],
    ("msvc", "x86_32"): ["/arch:SSE2"],
}

_NO_VECTORIZE = {"gcc": ["-fno-tree-vectorize", "-fno-tree-slp-vectorize"],
                 "clang": ["-fno-vectorize", "-fno-slp-vectorize"],
                 "msvc": []}

# One row per SIMD path: the architectures that build it and the flags it adds per compiler
# family. Order: preference, lowest first (as FASTKI_SIMD_* in src_c/fastki.h).
PATHS = {
    "scalar": {"arches": ARCHES, "flags": {}},  # see scalar_flags()
    "sse2": {"arches": ("x86_64", "x86_32"),
             "flags": {"gcc": ["-msse2"], "clang": ["-msse2"], "msvc": []}},
    "avx2": {"arches": ("x86_64", "x86_32"),
             "flags": {"gcc": ["-mavx2"], "clang": ["-mavx2"], "msvc": ["/arch:AVX2"]}},
    "avx512": {"arches": ("x86_64", "x86_32"),
               "flags": {c: ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl",
                             "-mprefer-vector-width=512"] for c in ("gcc", "clang")}
               | {"msvc": ["/arch:AVX512"]}},
    # Advanced SIMD is part of the armv8-a baseline: no flag, no run-time detection.
    "neon": {"arches": ("aarch64",), "flags": {"gcc": [], "clang": [], "msvc": []}},
}

# The scalar path stays un-vectorized where explicit SIMD paths exist to compare with it.
SCALAR_REFERENCE_ARCHES = ("x86_64", "x86_32", "aarch64")

# OpenMP compile flags per compiler family (setup.py probes them and the macOS variant).
OPENMP = {"gcc": ["-fopenmp"], "clang": ["-fopenmp"], "msvc": ["/openmp"]}


def _check(compiler, arch):
    if compiler not in COMPILERS:
        raise ValueError(f"compiler: {compiler!r} is not one of {COMPILERS}")
    if arch not in ARCHES:
        raise ValueError(f"arch: {arch!r} is not one of {ARCHES}")


def base(compiler, arch):
    """The flags of every object compiled by this compiler family for this architecture."""
    _check(compiler, arch)
    return list(BASE[compiler]) + list(ARCH_BASE.get((compiler, arch), []))


def paths(arch):
    """The SIMD paths built for this architecture, in FASTKI_SIMD_* order."""
    _check("gcc", arch)
    return [name for name, row in PATHS.items() if arch in row["arches"]]


def scalar_flags(compiler, arch):
    """The scalar path: un-vectorized reference on x86/aarch64, auto-vectorized elsewhere."""
    _check(compiler, arch)
    return list(_NO_VECTORIZE[compiler]) if arch in SCALAR_REFERENCE_ARCHES else []


def path_flags(name, compiler, arch):
    """The flags the object of SIMD path `name` adds to base(compiler, arch)."""
    _check(compiler, arch)
    if name not in PATHS:
        raise ValueError(f"path: {name!r} is not one of {tuple(PATHS)}")
    if arch not in PATHS[name]["arches"]:
        raise ValueError(f"path: {name!r} is not built for {arch}")
    if name == "scalar":
        return scalar_flags(compiler, arch)
    return list(PATHS[name]["flags"][compiler])


def arch_of(machine=None, pointer_bytes=None):
    """The table's architecture name for a machine name (platform.machine(), or the last part
    of sysconfig.get_platform(): "x86_64", "amd64", "win32", "aarch64", "arm64", ...) and
    pointer size (the running Python's unless given: a 32-bit Python on a 64-bit kernel
    builds 32-bit)."""
    m = (platform.machine() if machine is None else machine).lower()
    bits64 = (struct.calcsize("P") if pointer_bytes is None else pointer_bytes) == 8
    if m in ("win32", "i386", "i486", "i586", "i686", "x86"):
        return "x86_32"
    if m in ("x86_64", "amd64"):
        return "x86_64" if bits64 else "x86_32"
    if m in ("aarch64", "arm64", "armv8l") and bits64:
        return "aarch64"
    return "other"


def _main(argv):
    what, args = argv[0], argv[1:]
    if what == "base":
        out = base(*args)
    elif what == "paths":
        out = paths(*args)
    elif what == "path":
        out = path_flags(*args)
    elif what == "openmp":
        _check(args[0], "other")
        out = OPENMP[args[0]]
    elif what == "arch":
        out = [arch_of(*args)] if args else [arch_of()]
    else:
        raise SystemExit(__doc__)
    print(" ".join(out))


if __name__ == "__main__":
    _main(sys.argv[1:])
