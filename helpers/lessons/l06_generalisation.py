"""Lesson 06 (generalisation): drawing learning curves, fastai and Keras side by side.

A *curves* record is a dict ``{"train": [...], "valid": [...]}`` of per-epoch losses (the lesson's
training runs make them).  :func:`draw_curves` draws one framework's record on one axes;
:func:`side_by_side` draws several records, one axes per framework, on a shared y-axis, and marks
each validation curve's lowest point.  Nothing here trains a model or holds an exercise's answer.
"""
from __future__ import annotations

import numpy as np

from ..compare import COLORS
from ..plots import OKABE_ITO

#: how each framework is named in titles and legends
TITLES = {"fastai": "fastai", "keras": "Keras"}


def best_epoch(values) -> int:
    """The (1-based) epoch of the lowest value: where a validation curve bottoms out."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("best_epoch() needs at least one value")
    return int(np.argmin(values)) + 1


def draw_curves(ax, curves: dict, framework: str, title: str = "", label: str = ""):
    """Training loss (dashed) and validation loss (solid) per epoch, with the best validation epoch marked."""
    color = COLORS.get(framework, OKABE_ITO["black"])
    name = f"{label} " if label else ""
    for split, ls in (("train", "--"), ("valid", "-")):
        values = np.asarray(curves[split], dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, ls=ls, color=color, lw=1.8,
                label=f"{name}{'training' if split == 'train' else 'validation'} loss")
    best = best_epoch(curves["valid"])
    ax.plot([best], [curves["valid"][best - 1]], "o", color=color, ms=6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title(title or TITLES.get(framework, framework))
    return ax


def side_by_side(runs: dict, suptitle: str = "", ylim=None):
    """One axes per framework: ``runs = {"fastai": curves, "keras": curves}``. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.5), sharey=True, squeeze=False)
    for ax, (framework, curves) in zip(axes[0], runs.items()):
        draw_curves(ax, curves, framework)
        if ylim is not None:
            ax.set_ylim(*ylim)
    axes[0][0].legend(loc="upper right")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


__all__ = ["TITLES", "best_epoch", "draw_curves", "side_by_side"]
