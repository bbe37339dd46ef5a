"""Lesson 03 (gradient descent): loss surfaces in NumPy (contours, paths, where a run diverges).

* :func:`first_nonfinite` finds the step where a diverging run first reaches ``inf`` or ``nan``.
* :class:`Surface` is a 2-D loss evaluated once on a grid.  Drawing its contours and a descent path
  then costs a few tens of milliseconds, which is what keeps a widget redraw live.

Everything here is NumPy only: no framework is imported.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["Surface", "first_nonfinite"]


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
