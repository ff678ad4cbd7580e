"""fastki's fills over distribution x dtype x size x threads.

Fill.time_fill   fills a preallocated array (out=): the generator's own speed
New.time_new     allocates and fills: what `fastki.normal(shape)` costs a user
New.peakmem_new  peak memory of allocating and filling: the output and nothing more
plus float16/bfloat16, per-call overhead, and one block of a larger tensor.
"""
import numpy as np

from ._common import (DISTRIBUTIONS, DTYPES, SEED, SIZES, THREADS, Timed, fastki_or_skip,
                      fill_or_skip, threads_or_skip)


class Fill(Timed):
    """Fills a preallocated array (out=): the generator's own speed."""
    params = [DISTRIBUTIONS, DTYPES, SIZES, THREADS]
    param_names = ["distribution", "dtype", "size", "threads"]

    def setup(self, dist, dtype, size, threads):
        fastki = fastki_or_skip()
        self.fill = fill_or_skip(fastki, dist, "seed", "dtype", "out")
        # The thread count is set once here, not per call, so that small fills time the
        # fill and not the context manager.
        self.threads = threads_or_skip(fastki, threads)
        self.threads.__enter__()
        self.out = np.empty(size, dtype)
        self.fill(size, seed=SEED, dtype=dtype, out=self.out)  # warm: pages, thread pool

    def teardown(self, dist, dtype, size, threads):
        threads = self.__dict__.pop("threads", None)  # None: setup skipped (asv still
        if threads is not None:                       # calls teardown then)
            threads.__exit__(None, None, None)

    def time_fill(self, dist, dtype, size, threads):
        self.fill(size, seed=SEED, dtype=dtype, out=self.out)


class New(Timed):
    """Allocates and fills, as `fastki.normal(shape)` does for a user. peakmem_new: the
    process's peak memory, which should exceed the baseline by the output alone (setup
    allocates nothing large, so the output is all that is measured)."""
    params = [DISTRIBUTIONS, DTYPES, SIZES, THREADS]
    param_names = ["distribution", "dtype", "size", "threads"]

    def setup(self, dist, dtype, size, threads):
        fastki = fastki_or_skip()
        self.fill = fill_or_skip(fastki, dist, "seed", "dtype")
        self.threads = threads_or_skip(fastki, threads)
        self.threads.__enter__()
        self.fill(16, seed=SEED, dtype=dtype)  # warm: start the thread pool

    def teardown(self, dist, dtype, size, threads):
        threads = self.__dict__.pop("threads", None)  # None: setup skipped (asv still
        if threads is not None:                       # calls teardown then)
            threads.__exit__(None, None, None)

    def time_new(self, dist, dtype, size, threads):
        self.fill(size, seed=SEED, dtype=dtype)

    def peakmem_new(self, dist, dtype, size, threads):
        self.fill(size, seed=SEED, dtype=dtype)


class FillHalf(Timed):
    """float16 and bfloat16: the float32 values rounded (bfloat16 needs ml_dtypes)."""
    params = [DISTRIBUTIONS, ["float16", "bfloat16"], [2**20]]
    param_names = ["distribution", "dtype", "size"]

    def setup(self, dist, dtype, size):
        fastki = fastki_or_skip()
        self.fill = fill_or_skip(fastki, dist, "seed", "dtype")
        if dtype == "bfloat16":
            try:
                import ml_dtypes  # noqa: F401
            except ImportError:
                raise NotImplementedError("bfloat16 needs ml_dtypes") from None
        try:
            self.fill(4, seed=SEED, dtype=dtype)
        except (TypeError, ValueError) as exc:
            # an older commit that refuses the dtype; today's fastki accepts both
            raise NotImplementedError(f"this fastki has no {dtype}: {exc}") from None

    def time_new(self, dist, dtype, size):
        self.fill(size, seed=SEED, dtype=dtype)


class CallOverhead(Timed):
    """One-element and thousand-element calls: argument checking and dispatch."""
    params = [[1, 1000]]
    param_names = ["size"]

    def setup(self, size):
        fastki = fastki_or_skip()
        self.normal = fill_or_skip(fastki, "normal", "seed", "dtype")

    def time_normal(self, size):
        self.normal(size, seed=SEED)


class Block(Timed):
    """A 512-row block of a (8192, 2048) float32 tensor: generated alone, like one shard."""

    def setup(self):
        fastki = fastki_or_skip()
        self.normal = fill_or_skip(fastki, "normal", "seed", "block")
        self.block = (slice(4096, 4608), slice(0, 2048))

    def time_normal_block(self):
        self.normal((8192, 2048), seed=SEED, block=self.block)
