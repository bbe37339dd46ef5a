"""Plots the lessons reuse: decision boundaries, data, image grids — and the course's look.

Colours are colour-blind safe throughout: the course style (:func:`use_style`, applied by
``helpers.setup``) cycles through the Okabe–Ito palette (:data:`OKABE_ITO`; Okabe & Ito, *Color
Universal Design*, 2008), classes are drawn in :data:`CLASS_COLORS` (blue, orange, ...), and
decision regions are shaded with :data:`CMAP`, which runs from the class-0 blue through white to
the class-1 orange.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from cycler import cycler

#: the Okabe–Ito palette: eight colours that people with any common colour-vision deficiency can tell apart
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7",
}
#: the course's colour cycle (matplotlib's C0, C1, ...): Okabe–Ito, pale yellow last
PALETTE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "vermillion", "reddish purple", "sky blue",
                                  "black", "yellow")]
#: colours of classes 0, 1, 2, ... in scatter plots and decision regions
CLASS_COLORS = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "reddish purple", "sky blue",
                                       "vermillion", "black", "yellow")]

STYLE = {
    "figure.figsize": (6, 3.6),
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.prop_cycle": cycler(color=PALETTE),
    "grid.alpha": 0.3,
    "font.size": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "legend.frameon": False,
}


@functools.lru_cache(maxsize=None)
def _diverging_cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("course_class_0_to_1", [CLASS_COLORS[0], "#FFFFFF", CLASS_COLORS[1]])


def __getattr__(name):
    """``CMAP``: the probability colormap (class-0 blue → white → class-1 orange), built on first use."""
    if name == "CMAP":
        return _diverging_cmap()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def use_style() -> None:
    """The course's matplotlib look: clean axes, light grid, readable legends, colour-blind-safe colours."""
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)


def _ax(ax, figsize=(4.2, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def class_colors(y) -> np.ndarray | None:
    """One colour of :data:`CLASS_COLORS` per label of ``y`` (whole-number labels: 0, 1, ... or 0.0, 1.0);
    ``None`` if some label is not a whole number."""
    y = np.asarray(y, dtype=float).reshape(len(y), -1)[:, 0]
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or (len(y) and y.min() < 0):
        return None
    return np.array(CLASS_COLORS)[y.astype(int) % len(CLASS_COLORS)]


def scatter(X, y, ax=None, title: str = "", s: int = 25):
    """2-D points coloured by class (:data:`CLASS_COLORS`; continuous labels use :data:`CMAP`)."""
    ax = _ax(ax)
    X = np.asarray(X)
    colors = class_colors(y)
    edge = dict(edgecolor="k", linewidth=0.25 if s < 16 else 0.5)
    if colors is not None:
        ax.scatter(X[:, 0], X[:, 1], c=colors, s=s, **edge)
    else:
        y = np.asarray(y, dtype=float).reshape(len(y), -1)[:, 0]
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap=_diverging_cmap(), s=s, vmin=0, vmax=max(1, y.max()), **edge)
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


def decision_boundary(predict: Callable, X, y, ax=None, title: str = "", n: int = 150, pad: float = 0.5,
                      s: int = 25, lw: float = 1.2, box: bool = False):
    """Shade what ``predict`` says over the plane and draw the 0.5 contour, with the data on top.

    ``predict`` maps an (m, 2) float32 array to m probabilities (or scores in [0, 1]); ``s`` is the marker
    size, ``lw`` the contour's width; ``box=True`` keeps the axes' box and limits on the shaded grid.
    """
    ax = _ax(ax)
    xx, yy, pts = grid_for(X, pad=pad, n=n)
    p = np.asarray(predict(pts), dtype=float).reshape(xx.shape)
    ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap=_diverging_cmap(), alpha=0.35)
    if np.nanmin(p) < 0.5 < np.nanmax(p):
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=lw)
    scatter(X, y, ax=ax, title=title, s=s)
    if box:
        ax.set_adjustable("box")
        ax.set_xlim(xx.min(), xx.max())
        ax.set_ylim(yy.min(), yy.max())
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
