"""Gradient descent in NumPy, for lesson 03 and anything after it that walks a loss surface.

* :func:`descend` and :func:`minibatches` are reference versions of what lesson 03's first exercises
  build.  The lesson's demonstrations use these, so they keep working while a learner's own version is
  still unfinished.
* :class:`Surface` is a 2-D loss evaluated once on a grid.  Drawing its contours and a descent path
  then costs a few tens of milliseconds, which is what keeps a widget redraw live.

Everything here is NumPy only: no framework is imported.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["descend", "minibatches", "Surface", "first_nonfinite"]


def descend(grad: Callable, x0, lr: float, steps: int) -> np.ndarray:
    """Plain gradient descent from ``x0``: ``x <- x - lr * grad(x)``, ``steps`` times.

    Returns the whole path, shape ``(steps + 1, *np.shape(x0))``: ``x0`` first, then the point after each
    step.  ``x0`` is never modified.  A diverging run is allowed to reach ``inf``/``nan`` quietly.
    """
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(steps)):
            x = x - lr * np.asarray(grad(x), dtype=float)
            path.append(x.copy())
    return np.array(path)


def minibatches(X, y, bs: int, seed=None):
    """One shuffled pass over ``(X, y)`` in batches of ``bs`` rows; the last batch may be smaller.

    ``seed`` goes to ``np.random.default_rng``: the same seed gives the same order.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows: got {len(X)} and {len(y)}")
    bs = int(bs)
    if bs < 1:
        raise ValueError(f"batch size must be at least 1, got {bs}")
    order = np.random.default_rng(seed).permutation(len(X))
    for start in range(0, len(X), bs):
        idx = order[start:start + bs]
        yield X[idx], y[idx]


def first_nonfinite(values) -> int | None:
    """Index of the first ``inf`` or ``nan`` in ``values`` (rows count as one), or ``None``."""
    arr = np.asarray(values, dtype=float).reshape(len(values), -1)
    bad = ~np.isfinite(arr).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


class Surface:
    """A function of two parameters, evaluated once on a grid, ready to draw with paths on top.

    ``f(A, B)`` must accept two equally shaped arrays and return the loss at each pair.
    """

    def __init__(self, f: Callable, xlim, ylim, n: int = 121, levels=None, labels=("x", "y"),
                 minimum=None):
        self.xlim, self.ylim = tuple(map(float, xlim)), tuple(map(float, ylim))
        self.A, self.B = np.meshgrid(np.linspace(*self.xlim, n), np.linspace(*self.ylim, n))
        self.Z = np.asarray(f(self.A, self.B), dtype=float)
        if levels is None:  # geometric levels: a narrow valley keeps its shape near the bottom
            lo, hi = np.nanmin(self.Z), np.nanpercentile(self.Z, 95)
            levels = lo + (hi - lo) * np.geomspace(1e-3, 1, 14)
        self.levels = np.asarray(levels, dtype=float)
        self.labels = labels
        self.minimum = None if minimum is None else np.asarray(minimum, dtype=float)

    def draw(self, ax=None, title: str = "", figsize=(4.2, 3.6)):
        """Filled contours of the loss; the minimum (if known) as a star."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=figsize)
        ax.contourf(self.A, self.B, self.Z, levels=self.levels, cmap="Blues_r", alpha=0.55, extend="max")
        ax.contour(self.A, self.B, self.Z, levels=self.levels, colors="k", linewidths=0.4, alpha=0.5)
        if self.minimum is not None:
            ax.plot(*self.minimum, marker="*", ms=13, color="gold", mec="k", zorder=5)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.set_xlabel(self.labels[0])
        ax.set_ylabel(self.labels[1])
        ax.grid(False)
        if title:
            ax.set_title(title)
        return ax

    def path(self, ax, points, color="#d62728", label=None, ms: float = 3, lw: float = 1.3, alpha: float = 1.0):
        """Draw a descent path (an ``(m, 2)`` array) on ``ax``, clipped to the surface's window."""
        pts = np.asarray(points, dtype=float)
        with np.errstate(invalid="ignore"):
            pts = np.where(np.isfinite(pts), pts, np.nan)
        ax.plot(pts[:, 0], pts[:, 1], "-o", color=color, ms=ms, lw=lw, alpha=alpha, label=label, zorder=3)
        ax.plot(pts[0, 0], pts[0, 1], "s", color=color, mec="k", ms=ms + 4, zorder=4)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        return ax
