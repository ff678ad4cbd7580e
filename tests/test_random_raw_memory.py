"""random_raw(n) that cannot be allocated raises a MemoryError naming `n` (NumPy's own
message names no parameter), in both backends, and leaves the process working."""
import pathlib
import re
import sys

import pytest

import fastki

from conftest import backends


def _overcommit_always():
    """Linux with vm.overcommit_memory = 1 grants any allocation: 4 TiB would 'succeed'
    and the fill would then touch it. The test runs only where a refusal is certain."""
    try:
        return pathlib.Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1"
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _overcommit_always(),
    reason="needs Linux with a heuristic or strict overcommit policy, so that a 4 TiB "
           "allocation is refused at once")


@pytest.mark.parametrize("backend", backends())
def test_random_raw_too_large_names_n(backend):
    n = 2**40                      # 4 TiB of uint32: more than this machine has
    with fastki.options(backend=backend):
        with pytest.raises(MemoryError, match=rf"^n={n}: cannot allocate {n} uint32 words \("):
            fastki.random_raw(n, seed=1)
        assert fastki.random_raw(5, seed=1, offset=7).tolist() == \
            fastki.random_raw(12, seed=1)[7:].tolist()


def test_message_names_the_parameter_not_just_numpy():
    """The message starts with the parameter's name; NumPy's 'Unable to allocate ...' stays
    inside the parentheses as the reason."""
    with pytest.raises(MemoryError) as info:
        fastki.random_raw(2**41, seed=0)
    assert re.match(r"n=2199023255552: ", str(info.value)), str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
