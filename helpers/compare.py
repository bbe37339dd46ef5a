"""Side-by-side comparison of the same experiment in fastai and Keras.

Both twins' ``train`` functions return a :class:`Run`.  ``table(*runs)`` puts
their numbers in one table and ``curves(*runs)`` draws their learning curves on
one figure with aligned axes.  ``timed()`` measures any block of code.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .plots import OKABE_ITO

#: one colour per framework, from the colour-blind-safe Okabe–Ito palette
COLORS = {"fastai": OKABE_ITO["blue"], "keras": OKABE_ITO["vermillion"], "numpy": OKABE_ITO["bluish green"],
          "pytorch": OKABE_ITO["orange"]}


@dataclass
class Run:
    """One training run: what was trained, how it went and how long it took."""

    framework: str
    model: object = None
    params: int = 0
    seconds: float = 0.0
    steps: int = 0
    #: per-step (or per-logging-interval) training loss, with the step it was taken at
    loss_steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    #: final metrics, e.g. {"train_loss": .., "valid_loss": .., "accuracy": ..}
    final: dict = field(default_factory=dict)
    label: str = ""
    learner: object = None

    @property
    def name(self) -> str:
        return self.label or self.framework

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in self.final.items())
        return f"Run({self.name}: {self.params:,} params, {self.steps} steps, {self.seconds:.2f}s, {metrics})"


class Timer:
    seconds: float = 0.0


@contextmanager
def timed():
    """``with timed() as t: ...`` then read ``t.seconds``."""
    t = Timer()
    start = time.perf_counter()
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - start


def table(*runs: Run, metrics=None):
    """A pandas DataFrame with one column per run: parameters, steps, time and final metrics."""
    import pandas as pd

    if not runs:
        raise ValueError("table() needs at least one Run")
    keys = list(metrics) if metrics else []
    if not keys:
        for r in runs:
            keys += [k for k in r.final if k not in keys]
    cols = {}
    for r in runs:
        col = {"parameters": f"{r.params:,}", "steps": r.steps, "time (s)": round(r.seconds, 3)}
        col.update({k: round(float(r.final[k]), 4) if k in r.final else np.nan for k in keys})
        cols[r.name] = col
    return pd.DataFrame(cols, dtype=object)


def _color(run: Run, i: int):
    import matplotlib.pyplot as plt

    base = run.framework.split()[0].lower()
    if base in COLORS and not run.label:
        return COLORS[base]
    return plt.rcParams["axes.prop_cycle"].by_key()["color"][i % 10]


def curves(*runs: Run, ax=None, title: str = "Training loss", logy: bool = False, smooth: int = 1,
           xlabel: str = "step", ylabel: str = "loss"):
    """Learning curves of several runs on one axes (loss against optimisation step)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for i, r in enumerate(runs):
        y = np.asarray(r.loss, dtype=float)
        x = np.asarray(r.loss_steps if len(r.loss_steps) == len(y) else np.arange(1, len(y) + 1))
        if smooth > 1 and len(y) > smooth:
            kernel = np.ones(smooth) / smooth
            y = np.convolve(y, kernel, mode="valid")
            x = x[smooth - 1:]
        ax.plot(x, y, label=r.name, color=_color(r, i), lw=1.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def side_by_side(*runs: Run, title: str = "", logy: bool = False, show: bool = True,
                 xlabel: str = "step", ylabel: str = "loss"):
    """The comparison every lesson ends with: learning curves and a table of numbers.

    Displays a figure (curves on one axes + a bar of wall time) and returns the table.
    """
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    curves(*runs, ax=ax1, title=title or "Training loss", logy=logy, xlabel=xlabel, ylabel=ylabel)
    names = [r.name for r in runs]
    ax2.barh(names, [r.seconds for r in runs], color=[_color(r, i) for i, r in enumerate(runs)])
    ax2.set_xlabel("wall time (s)")
    ax2.set_title("Time to train")
    ax2.invert_yaxis()
    fig.tight_layout()
    if show:
        plt.show()
    return table(*runs)


def proba(out) -> np.ndarray:
    """Probabilities from raw outputs (logits): sigmoid for one output unit, softmax for several."""
    out = np.asarray(out, dtype=np.float64)
    if out.shape[-1] == 1:
        return 1 / (1 + np.exp(-np.clip(out, -60, 60)))
    e = np.exp(out - out.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def bce(logits, y) -> float:
    """Mean binary cross-entropy of raw scores ``logits`` against 0/1 targets ``y`` (stable form).
    Quiet for a diverged model: infinite scores count as ±1e6, a NaN score gives NaN."""
    z = np.clip(np.asarray(logits, dtype=float).reshape(-1), -1e6, 1e6)
    t = np.asarray(y, dtype=float).reshape(-1)
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.logaddexp(0.0, z) - t * z))


def accuracy(logits, y) -> float:
    """Fraction of rows where ``logits > 0`` agrees with ``y > 0.5``."""
    z = np.asarray(logits, dtype=float).reshape(-1)
    t = np.asarray(y, dtype=float).reshape(-1)
    return float(np.mean((z > 0) == (t > 0.5)))


def metrics(out, y) -> dict:
    """Loss and accuracy from raw outputs, defined once so both frameworks are scored identically.

    One output column: binary cross-entropy and accuracy at p > 0.5; several: cross-entropy and argmax accuracy.
    """
    p = proba(out)
    y = np.asarray(y)
    eps = 1e-7
    if y.ndim == 1:  # class ids
        loss = float(-np.mean(np.log(p[np.arange(len(y)), y.astype(int)] + eps)))
        acc = float(np.mean(p.argmax(-1) == y))
    elif p.shape[-1] == 1:  # one logit per row: the stable binary definitions above
        loss, acc = bce(out, y), accuracy(out, y)
    else:
        y = y.reshape(p.shape).astype(float)
        loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        acc = float(np.mean((p > 0.5) == (y > 0.5)))
    return {"loss": loss, "accuracy": acc}
