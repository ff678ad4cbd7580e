"""tools/buildflags.py, the one table of C build flags (setup.py, ci/build_c_tests.sh,
ci/aarch64.sh): the contract flags in every row, one row per SIMD path in the C enum's order,
and no other file repeating the flags."""
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
if not (REPO / "setup.py").is_file() or not (REPO / "src_c").is_dir():
    # ci/wheel.sh and cibuildwheel test the installed wheel from a copy of tests/ and tools/
    # alone: the build files these tests read are not there
    pytest.skip("needs the source checkout (setup.py, src_c/, ci/)", allow_module_level=True)
sys.path.insert(0, str(REPO / "tools"))
import buildflags  # noqa: E402

FORBIDDEN = re.compile(r"^(-ffast-math|-Ofast|-m(arch|tune|cpu)=native|/fp:fast|-ffp-contract=fast"
                       r"|-funsafe-math-optimizations)$")


def every_row():
    for compiler in buildflags.COMPILERS:
        for arch in buildflags.ARCHES:
            for path in buildflags.paths(arch):
                yield compiler, arch, path


@pytest.mark.parametrize("compiler,arch,path", list(every_row()))
def test_every_object_gets_the_contract_flags(compiler, arch, path):
    flags = buildflags.base(compiler, arch) + buildflags.path_flags(path, compiler, arch)
    assert not [f for f in flags if FORBIDDEN.match(f)], flags
    if compiler == "msvc":
        assert "/fp:precise" in flags
    else:
        assert "-ffp-contract=off" in flags and "-fno-fast-math" in flags
        assert "-std=c99" in flags
    if arch == "x86_32":  # FLT_EVAL_METHOD == 0: SSE2 arithmetic, never x87
        want = ["/arch:SSE2"] if compiler == "msvc" else ["-msse2", "-mfpmath=sse"]
        assert all(w in buildflags.base(compiler, arch) for w in want)


def test_paths_follow_the_c_enum_and_the_python_names():
    from fastki import _api

    assert tuple(buildflags.PATHS) == _api._SIMD_NAMES
    header = (REPO / "src_c" / "fastki.h").read_text()
    for i, name in enumerate(buildflags.PATHS):
        assert re.search(rf"FASTKI_SIMD_{name.upper()} = {i}\b", header), name
    assert buildflags.paths("x86_64") == ["scalar", "sse2", "avx2", "avx512"]
    assert buildflags.paths("x86_32") == ["scalar", "sse2", "avx2", "avx512"]
    assert buildflags.paths("aarch64") == ["scalar", "neon"]
    assert buildflags.paths("other") == ["scalar"]
    for name in buildflags.PATHS:
        assert (REPO / "src_c" / f"fill_{name}.c").is_file()


def test_the_scalar_path_is_unvectorized_only_beside_simd_paths():
    for arch in ("x86_64", "x86_32", "aarch64"):
        assert "-fno-tree-vectorize" in buildflags.path_flags("scalar", "gcc", arch)
        assert "-fno-vectorize" in buildflags.path_flags("scalar", "clang", arch)
    assert buildflags.path_flags("scalar", "gcc", "other") == []
    assert buildflags.path_flags("scalar", "clang", "other") == []


@pytest.mark.parametrize("machine,pointer,arch", [
    ("x86_64", 8, "x86_64"), ("AMD64", 8, "x86_64"), ("x86_64", 4, "x86_32"),
    ("i686", 4, "x86_32"), ("win32", 4, "x86_32"), ("aarch64", 8, "aarch64"),
    ("arm64", 8, "aarch64"), ("aarch64", 4, "other"), ("ppc64le", 8, "other"),
    ("s390x", 8, "other"), ("riscv64", 8, "other"),
])
def test_arch_of(machine, pointer, arch):
    assert buildflags.arch_of(machine, pointer) == arch


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="compiler"):
        buildflags.base("icc", "x86_64")
    with pytest.raises(ValueError, match="arch"):
        buildflags.base("gcc", "mips")
    with pytest.raises(ValueError, match="path"):
        buildflags.path_flags("neon", "gcc", "x86_64")
    with pytest.raises(ValueError, match="path"):
        buildflags.path_flags("sve", "gcc", "aarch64")


def test_command_line_prints_the_table():
    def cli(*args):
        out = subprocess.run([sys.executable, str(REPO / "tools" / "buildflags.py"), *args],
                             capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert cli("base", "gcc", "aarch64") == buildflags.base("gcc", "aarch64")
    assert cli("paths", "aarch64") == ["scalar", "neon"]
    assert cli("path", "avx512", "clang", "x86_64") == buildflags.path_flags("avx512", "clang", "x86_64")
    assert cli("arch", "arm64") == ["aarch64"]


@pytest.mark.parametrize("user", ["setup.py", "ci/build_c_tests.sh", "ci/aarch64.sh"])
def test_no_other_build_file_repeats_the_flags(user):
    text = (REPO / user).read_text()
    assert "buildflags" in text
    # the flags live in the table only (ci/aarch64.sh may name them in comments and in the
    # one compile that deliberately leaves them out, the x87 refusal check)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for flag in ("-ffp-contract=off", "-fno-tree-vectorize", "-mavx2", "-mavx512f", "-fvisibility"):
        assert flag not in code, f"{user} repeats {flag}"
