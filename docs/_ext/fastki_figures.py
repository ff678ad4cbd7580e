"""Sphinx extension: the figures of docs/distributions.md, drawn at build time.

For each distribution, a histogram of a million of fastki's own float32 values (seed 0,
the installed package) against the density they should follow, so that the picture is of
this build's values, not of a stored image. Written to docs/_generated/ (ignored by git)."""
import math
import pathlib

import numpy as np

N = 1_000_000
BINS = 100


def _normal_pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _figures():
    """(file stem, title, values, x grid, density on the grid) of each distribution."""
    import fastki

    grid = np.linspace(-4.5, 4.5, 901)
    mass = _normal_cdf(2.0) - _normal_cdf(-2.0)
    yield ("uniform", "fastki.uniform(10**6, -1.0, 1.0, seed=0)",
           fastki.uniform(N, -1.0, 1.0, seed=0), np.linspace(-1.2, 1.2, 241),
           lambda x: np.where((x >= -1) & (x < 1), 0.5, 0.0))
    yield ("normal", "fastki.normal(10**6, seed=0)", fastki.normal(N, seed=0), grid,
           _normal_pdf)
    yield ("truncated_normal", "fastki.truncated_normal(10**6, seed=0)  (lower=-2, upper=2)",
           fastki.truncated_normal(N, seed=0), grid,
           lambda x: np.where(np.abs(x) <= 2.0, _normal_pdf(x) / mass, 0.0))


def draw(app):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    for stem, title, values, grid, density in _figures():
        fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
        lo, hi = float(grid[0]), float(grid[-1])
        ax.hist(values, bins=BINS, range=(lo, hi), density=True, color="#8fb3d9",
                label=f"{N:,} values of fastki (histogram)")
        ax.plot(grid, density(grid), color="#b03030", lw=1.5, label="density")
        ax.set_title(title, fontsize=10)
        ax.set_xlim(lo, hi)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        fig.savefig(out / f"{stem}.png", metadata={"Software": None})
        plt.close(fig)


def setup(app):
    app.connect("builder-inited", draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
