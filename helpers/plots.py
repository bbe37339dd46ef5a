"""Plots the lessons reuse: decision boundaries, functions with their derivatives, data."""
from __future__ import annotations

from typing import Callable

import numpy as np

STYLE = {
    "figure.figsize": (6, 3.6),
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "legend.frameon": False,
}

CMAP = "RdBu_r"


def use_style() -> None:
    """The course's matplotlib look (clean axes, light grid)."""
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)


def _ax(ax, figsize=(4.2, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def scatter(X, y, ax=None, title: str = "", s: int = 25):
    """2-D points coloured by class."""
    ax = _ax(ax)
    y = np.asarray(y).reshape(len(y), -1)[:, 0]
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=CMAP, s=s, edgecolor="k", linewidth=0.5, vmin=0, vmax=max(1, y.max()))
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def grid_for(X, pad: float = 0.5, n: int = 150):
    """A mesh covering the points: returns ``xx, yy, points`` where ``points`` is (n*n, 2) float32."""
    X = np.asarray(X)
    x0, y0 = X.min(0) - pad
    x1, y1 = X.max(0) + pad
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()].astype(np.float32)


def decision_boundary(predict: Callable, X, y, ax=None, title: str = "", n: int = 150, pad: float = 0.5):
    """Shade what ``predict`` says over the plane and draw the 0.5 contour, with the data on top.

    ``predict`` maps an (m, 2) float32 array to m probabilities (or scores in [0, 1]).
    """
    ax = _ax(ax)
    xx, yy, pts = grid_for(X, pad=pad, n=n)
    p = np.asarray(predict(pts), dtype=float).reshape(xx.shape)
    ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap=CMAP, alpha=0.35)
    if np.nanmin(p) < 0.5 < np.nanmax(p):
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.2)
    scatter(X, y, ax=ax, title=title)
    return ax


def function_and_derivative(fn: Callable, dfn: Callable | None = None, xs=None, ax=None, title: str = ""):
    """Plot ``fn`` and (if given) its derivative ``dfn`` on the same axes."""
    xs = np.linspace(-5, 5, 401) if xs is None else np.asarray(xs)
    ax = _ax(ax, figsize=(4.5, 3.2))
    ax.plot(xs, fn(xs), lw=2, label=title or getattr(fn, "__name__", "f"))
    if dfn is not None:
        ax.plot(xs, dfn(xs), lw=1.5, ls="--", label="derivative")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_title(title or getattr(fn, "__name__", ""))
    ax.legend()
    return ax


def images(imgs, labels=None, ncols: int = 10, cmap: str = "gray_r", size: float = 0.9, title: str = ""):
    """A grid of small images (e.g. the 8x8 digits) with optional labels."""
    import matplotlib.pyplot as plt

    imgs = np.asarray(imgs)
    n = len(imgs)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
