"""Lesson 04 (XOR, Minsky–Papert): threshold units, NumPy forward passes and decision lines for XOR.

Everything here is NumPy + matplotlib (no framework import), so it is cheap to
import and safe to call from graded cells.  Weights use the Keras layout that
``helpers.fastai_side.get_weights`` / ``helpers.keras_side.get_weights`` return:
``[W1, b1, W2, b2, ...]`` with each ``W`` shaped (inputs, outputs).
"""
from __future__ import annotations

import numpy as np

from ..compare import accuracy, bce  # noqa: F401 (part of this module's interface)
from ..plots import OKABE_ITO, decision_boundary
from ..twin import activation_table

#: one colour per hidden unit when their lines are drawn (Okabe–Ito, colour-blind safe; see helpers.plots)
UNIT_COLORS = tuple(OKABE_ITO[c] for c in ("bluish green", "reddish purple", "sky blue", "vermillion", "black", "yellow"))


def step(z):
    """The threshold (Heaviside) unit of 1958: 1.0 where ``z > 0``, else 0.0."""
    return (np.asarray(z, dtype=float) > 0).astype(float)


def sigmoid(z):
    """A sigmoid that never overflows: SciPy's ``expit`` (the course ships no copy of lesson 01's answer)."""
    from scipy.special import expit

    return expit(np.asarray(z, dtype=float))


#: NumPy's side of :data:`helpers.twin.ACTIVATIONS` (the ones this lesson's forward passes use), and the
#: 1958 threshold unit, which no framework has: it has no gradient to train with
_ACTS = activation_table({"sigmoid": sigmoid, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0),
                          "linear": lambda z: z, "step": step}, partial=True, extra=("step",))


def forward(weights, X, act: str = "tanh", out_act: str = "linear"):
    """Outputs of a dense network with weights ``[W1, b1, ..., Wk, bk]`` (Keras layout) for rows ``X``.

    Hidden layers use ``act``; the last layer uses ``out_act`` (raw scores by default).
    """
    if len(weights) % 2 or not weights:
        raise ValueError(f"expected [W1, b1, W2, b2, ...], got {len(weights)} arrays")
    if act not in _ACTS or out_act not in _ACTS:
        raise ValueError(f"activations must be among {sorted(_ACTS)}")
    h = np.asarray(X, dtype=float)
    n_layers = len(weights) // 2
    for i in range(n_layers):
        W, b = np.asarray(weights[2 * i], dtype=float), np.asarray(weights[2 * i + 1], dtype=float)
        h = h @ W + b
        h = _ACTS[act if i < n_layers - 1 else out_act](h)
    return h


def hidden_lines(weights):
    """``(w, b)`` of each first-layer unit: the line ``w · x + b = 0`` where that unit switches."""
    W1, b1 = np.asarray(weights[0], dtype=float), np.asarray(weights[1], dtype=float)
    return [(W1[:, j], float(b1[j])) for j in range(W1.shape[1])]


def draw_line(ax, w, b, **kwargs):
    """Draw ``w[0]·x + w[1]·y + b = 0`` across the current axes limits (nothing if ``w`` is ~0)."""
    w = np.asarray(w, dtype=float)
    if ax.get_adjustable() == "datalim":  # keep an equal aspect by resizing the box, not the limits
        ax.set_adjustable("box")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if np.abs(w).max() < 1e-12:
        return None
    kwargs.setdefault("lw", 1.5)
    kwargs.setdefault("zorder", 3)
    if abs(w[1]) >= abs(w[0]):
        xs = np.array([x0, x1])
        ys = -(w[0] * xs + b) / w[1]
    else:
        ys = np.array([y0, y1])
        xs = -(w[1] * ys + b) / w[0]
    (artist,) = ax.plot(xs, ys, **kwargs)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return artist


def draw_regions(ax, predict, X, y, title: str = "", pad: float = 0.5, n: int = 120, s: int = 90):
    """Shade ``predict`` (an (m, 2) array → m values in [0, 1]) over the plane, draw its 0.5 contour and the
    data on top with markers big enough for a four-point truth table. Keeps an equal aspect ratio."""
    return decision_boundary(predict, X, y, ax=ax, title=title, n=n, pad=pad, s=s, lw=1.4, box=True)


def draw_state(ax, weights, X, y, act: str = "tanh", title: str = "", lines: bool = True, pad: float = 0.5,
               n: int = 120):
    """Decision regions of the network ``weights`` (probability shading and the 0.5 contour), the data,
    and — for a network with a hidden layer — each hidden unit's line, dashed, in its own colour."""
    draw_regions(ax, lambda P: sigmoid(forward(weights, P, act=act)), X, y, title=title, pad=pad, n=n)
    if lines and len(weights) > 2:
        for j, (w, b) in enumerate(hidden_lines(weights)):
            draw_line(ax, w, b, ls="--", lw=2, color=UNIT_COLORS[j % len(UNIT_COLORS)], label=f"hidden unit {j + 1}")
    return ax


def ends_with_sigmoid(model) -> bool:
    """Does a PyTorch or Keras model (or a fastai ``Learner``) end with a sigmoid, so that it outputs
    probabilities rather than raw scores? Looks at the last layer only: ``nn.Sigmoid`` in PyTorch, a layer
    whose ``activation`` is ``sigmoid`` in Keras (``Dense(1, activation="sigmoid")`` or ``Activation``)."""
    model = getattr(model, "model", model)  # a fastai Learner holds its PyTorch model in .model
    if callable(getattr(model, "modules", None)):  # PyTorch
        leaves = [m for m in model.modules() if not list(m.children())]
        return bool(leaves) and type(leaves[-1]).__name__ == "Sigmoid"
    layers = getattr(model, "layers", None)
    if layers:
        return getattr(getattr(layers[-1], "activation", None), "__name__", "") == "sigmoid"
    return False


def predicted_classes(outputs, model) -> list:
    """0/1 class of each row from a binary model's outputs: ``output > 0`` for raw scores (logits), or
    ``output > 0.5`` if the model ends with a sigmoid (see :func:`ends_with_sigmoid`). A plain list of ints."""
    out = np.asarray(outputs, dtype=float)
    out = out.reshape(len(out), -1)[:, 0] if out.ndim else out.reshape(1)
    threshold = 0.5 if ends_with_sigmoid(model) else 0.0
    return [int(v > threshold) for v in out]


__all__ = ["step", "sigmoid", "forward", "hidden_lines", "draw_line", "draw_regions", "draw_state", "bce", "accuracy",
           "ends_with_sigmoid", "predicted_classes", "UNIT_COLORS"]
