"""The jit line of `python -m fastki bench` (fastki/bench/fills.py calls :func:`jit_line`):
fastki.jax.initializers.normal under jax.jit against jax.nn.initializers.normal under
jax.jit, the same shape and dtype, timed in the same run (docs/jax.md, "Speed")."""
from __future__ import annotations

import jax

from ..bench.timing import median_seconds
from . import initializers as _fji

SHAPE = (4096, 4096)


def jit_seconds(shape: tuple[int, ...] = SHAPE, repeat: int = 5) -> dict[str, float]:
    """Median seconds of one jitted float32 normal initialization of ``shape``, by fastki
    and by JAX, compiled before timing.

    Parameters
    ----------
    shape : tuple of int
        The weight's shape (default (4096, 4096)).
    repeat : int
        Timed runs per side (the median is kept).

    Returns
    -------
    dict
        ``{"fastki_s": ..., "jax_s": ..., "speedup": jax_s / fastki_s}``.
    """
    key = jax.random.key(0)
    ours = jax.jit(lambda k: _fji.normal(1.0)(k, shape, "float32"))
    theirs = jax.jit(lambda k: jax.nn.initializers.normal(1.0)(k, shape, "float32"))
    fastki_s = median_seconds(lambda: ours(key).block_until_ready(), repeat)
    jax_s = median_seconds(lambda: theirs(key).block_until_ready(), repeat)
    return {"fastki_s": fastki_s, "jax_s": jax_s, "speedup": jax_s / fastki_s}


def jit_line(repeat: int = 5) -> dict[str, float]:
    """Time :func:`jit_seconds` and print the bench's jit line; returns its result.

    Parameters
    ----------
    repeat : int
        Timed runs per side.

    Returns
    -------
    dict
        :func:`jit_seconds`' result.
    """
    result = jit_seconds(SHAPE, repeat)
    print(f"jax.jit: normal float32 {SHAPE[0]}x{SHAPE[1]}: fastki.jax "
          f"{result['fastki_s'] * 1e3:.1f} ms, jax.nn.initializers "
          f"{result['jax_s'] * 1e3:.1f} ms ({result['speedup']:.1f}x)", flush=True)
    return result
