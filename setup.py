"""Build fastki's extension: the C kernel in src_c/ with one object per SIMD path, OpenMP when
the compiler has it, and the flags the reproducibility contract needs.

Environment overrides:
  FASTKI_DISABLE_OPENMP=1   build without OpenMP (one thread; values unchanged)
  FASTKI_DISABLE_SIMD=avx512,avx2,...   leave those paths out of the build
  FASTKI_EXTRA_CFLAGS="..."  appended to every C compile (e.g. sanitizers)
  FASTKI_EXTRA_LDFLAGS="..." appended to the link
  FASTKI_ARCH=aarch64|x86_64|x86_32|other   the target's row of tools/buildflags.py
                            (default: from sysconfig.get_platform())
"""
import os
import shutil
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join("src_c")

# Every compile flag comes from the one table in tools/buildflags.py (also read by
# ci/build_c_tests.sh and ci/aarch64.sh): the contract flags (no FMA contraction, no
# fast-math, never -march=native, FLT_EVAL_METHOD == 0 on 32-bit x86) and one row per SIMD path.
sys.path.insert(0, os.path.join(HERE, "tools"))
import buildflags  # noqa: E402

# The target's architecture: sysconfig's platform, which follows _PYTHON_HOST_PLATFORM in a
# cross build (ci/aarch64_wheel.sh, cibuildwheel on macOS); FASTKI_ARCH (a name of the table)
# overrides it. A macOS "universal2" build compiles each file for x86_64 and arm64 at once, so
# it maps to "other": the portable path only, which both compile.
ARCH = (os.environ.get("FASTKI_ARCH")
        or buildflags.arch_of(sysconfig.get_platform().rsplit("-", 1)[-1]))


def say(msg):
    print(f"fastki build: {msg}", file=sys.stderr, flush=True)


class BuildExt(build_ext):
    def build_extension(self, ext):
        cc = self.compiler
        family = "msvc" if cc.compiler_type == "msvc" else "unix"
        flavour = self._flavour(family)
        base = buildflags.base(flavour, ARCH)
        base += os.environ.get("FASTKI_EXTRA_CFLAGS", "").split()
        ldflags = os.environ.get("FASTKI_EXTRA_LDFLAGS", "").split()
        openmp = self._openmp_flags(flavour, base, ldflags)
        if openmp:
            say(f"OpenMP enabled ({' '.join(openmp[0])})")
        else:
            say("OpenMP disabled: fills run on one thread (values are the same)")

        disabled = set(filter(None, os.environ.get("FASTKI_DISABLE_SIMD", "").split(",")))
        objects, built = [], []
        for name in buildflags.paths(ARCH):
            if name in disabled:
                continue
            flags = buildflags.path_flags(name, flavour, ARCH)
            if name != "scalar" and not self._compiles(base + flags):
                say(f"compiler lacks {name}; building without that path")
                continue
            src = os.path.join(SRC, f"fill_{name}.c")
            objects += cc.compile([src], output_dir=self.build_temp, include_dirs=[SRC],
                                  extra_postargs=base + flags + (openmp[0] if openmp else []))
            built.append(name)
            if name != "scalar":
                ext.define_macros.append((f"FASTKI_HAVE_{name.upper()}", "1"))
        say(f"SIMD paths built for {ARCH}: {', '.join(built)} (chosen at run time)")
        ext.extra_objects = objects
        ext.extra_compile_args = base + (openmp[0] if openmp else [])
        ext.extra_link_args = (openmp[1] if openmp else []) + ldflags
        super().build_extension(ext)

    def _flavour(self, family):
        if family == "msvc":
            return "msvc"
        exe = " ".join(self.compiler.compiler_so)
        return "clang" if "clang" in exe else "gcc"

    def _compiles(self, cflags, ldflags=None, source="int main(void) { return 0; }\n"):
        tmp = tempfile.mkdtemp(prefix="fastki-probe-")
        try:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(source)
            objs = self.compiler.compile([path], output_dir=tmp, extra_postargs=cflags)
            if ldflags is not None:
                self.compiler.link_executable(objs, "probe", output_dir=tmp,
                                              extra_postargs=ldflags)
            return True
        except Exception:  # noqa: BLE001 - any failure means "does not work here"
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _openmp_flags(self, flavour, base, extra_ldflags):
        if os.environ.get("FASTKI_DISABLE_OPENMP", "") not in ("", "0"):
            return None
        omp = buildflags.OPENMP[flavour]
        if flavour == "msvc":
            candidates = [(omp, [])]
        elif sys.platform == "darwin":
            candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (omp, omp)]
        else:
            candidates = [(omp, omp)]
        probe = ("#include <omp.h>\nint main(void) { int n = 0;\n#pragma omp parallel\n"
                 "{\n#pragma omp atomic\nn++; }\nreturn n > 0 ? 0 : 1; }\n")
        for cflags, ldflags in candidates:
            # link the probe as the extension will be linked (e.g. with sanitizer runtimes)
            if self._compiles(base + cflags, ldflags + extra_ldflags, probe):
                return cflags, ldflags
        say("the compiler has no working OpenMP")
        return None


extension = Extension(
    "fastki._native",
    sources=["fastki/_native.pyx", os.path.join(SRC, "dispatch.c")],
    include_dirs=[SRC, np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=cythonize([extension], compiler_directives={"language_level": "3"}),
    cmdclass={"build_ext": BuildExt},
)
