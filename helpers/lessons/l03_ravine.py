"""Lesson 03 (gradient descent): momentum on a narrow valley, after Goh's *Why Momentum Really Works* (Distill 2017).

* :func:`iterations_to` counts the steps a descent path needs to get (and stay) within a tolerance of
  the minimum.
* :func:`momentum_explorer` is the lesson's widget: step-size and momentum sliders (and, optionally,
  a choice between valleys), the path drawn on the contours and the number of steps it needs, shown live.
  Paths are computed only when a setting is first shown, and kept.

The descent itself is not here: the widget calls the path function the lesson passes in, so this module
holds no exercise's answer.  NumPy and matplotlib only; no framework is imported.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import widgets
from ..plots import OKABE_ITO

__all__ = ["Valley", "iterations_to", "momentum_explorer"]


def iterations_to(path, minimum, tol: float = 1e-6) -> int | None:
    """First step from which the distance to ``minimum`` stays at most ``tol`` × the starting distance.

    ``path`` is an ``(m, d)`` array of points (the start first).  Returns ``None`` if the path ends
    outside the tolerance (or leaves it again, or stops being finite) — it did not get there in
    ``m - 1`` steps.
    """
    pts = np.asarray(path, dtype=float)
    if pts.ndim != 2 or len(pts) == 0:
        raise ValueError(f"expected a path of shape (steps + 1, d), got shape {pts.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        dist = np.linalg.norm(pts - np.asarray(minimum, dtype=float), axis=1)
        start = dist[0]
        inside = np.isfinite(dist) & (dist <= tol * start)
    if start == 0:
        return 0
    outside = np.flatnonzero(~inside)
    if len(outside) == 0:
        return 0
    last_out = int(outside[-1])
    return None if last_out == len(pts) - 1 else last_out + 1


@dataclass
class Valley:
    """One loss surface for the widget: its :class:`helpers.lessons.l03_descent.Surface`, the minimum and the start.

    ``path(lr, beta, steps)`` returns the descent path from ``start`` (shape ``(steps + 1, 2)``).
    """

    surface: object
    path: Callable
    minimum: np.ndarray
    start: np.ndarray


def momentum_explorer(valleys: dict, lr: float, beta: float, tol: float = 1e-6, steps: int = 500,
                      lr_range=(-2.5, 0.0), show: int = 80):
    """A :class:`helpers.widgets.Explorer` with sliders for the step size (log scale) and the momentum β.

    ``valleys`` maps a name to a :class:`Valley`; with more than one, a choice picks the valley.  The left
    panel draws the first ``show`` steps on the contours; the right one the distance to the minimum per
    step, with the number of steps needed to get within ``tol`` of it (relative to the start).
    """
    names = list(valleys)

    @functools.lru_cache(maxsize=256)
    def run(name, lr_, beta_):
        with np.errstate(over="ignore", invalid="ignore"):
            pts = np.asarray(valleys[name].path(lr_, beta_, steps), dtype=float)
            dist = np.linalg.norm(pts - valleys[name].minimum, axis=1)
        return pts, dist / dist[0], iterations_to(pts, valleys[name].minimum, tol)

    def draw(lr, beta, valley=names[0]):
        import matplotlib.pyplot as plt

        pts, rel, n = run(valley, float(lr), float(beta))
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        valleys[valley].surface.draw(ax1, title=f"{valley}: η = {lr:.3g}, β = {beta:.2f}")
        valleys[valley].surface.path(ax1, pts[:show + 1], color=OKABE_ITO["vermillion"], ms=2, lw=1)
        ok = np.isfinite(rel) & (rel > 0)
        ax2.semilogy(np.flatnonzero(ok), rel[ok], color=OKABE_ITO["vermillion"], lw=1.8)
        ax2.axhline(tol, color="grey", ls=":", lw=1)
        ax2.set_ylim(tol * 1e-2, max(10.0, min(float(np.nanmax(np.where(ok, rel, np.nan))), 1e6)))
        verdict = f"within {tol:.0e} after {n} steps" if n is not None else f"not within {tol:.0e} in {steps} steps"
        ax2.set_title(verdict)
        ax2.set_xlabel("step")
        ax2.set_ylabel("distance to the minimum / at start")
        fig.tight_layout()

    controls = dict(lr=widgets.log_slider("step size η", lr, *lr_range),
                    beta=widgets.slider("momentum β", beta, 0.0, 0.99, step=0.01))
    if len(names) > 1:
        controls["valley"] = widgets.choice("valley", names)
    ex = widgets.Explorer(draw, **controls)
    ex.run = run  # the cached runs: ex.run(valley, lr, beta) -> (path, relative distance, steps needed)
    return ex
