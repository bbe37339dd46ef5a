"""Lesson 02 (activation functions), the backward pass: a 2-2-1 network's graph with its values and gradients.

* :func:`draw_graph` — the graph of a 2-2-1 network (inputs, hidden pre-activations, hidden outputs, output,
  loss) as matplotlib nodes and edges, each node annotated with its forward value and the gradient of the
  loss with respect to it, each weight edge with the weight and its gradient.

The helper only draws numbers it is given (the lesson computes them with PyTorch's autograd): it computes no
gradient itself.
"""
from __future__ import annotations

import numpy as np

from ..plots import OKABE_ITO

#: colours of the forward values and of the backward gradients in the figure
FORWARD_COLOR = OKABE_ITO["blue"]
BACKWARD_COLOR = OKABE_ITO["vermillion"]

_NODES = ("x1", "x2", "z1", "z2", "h1", "h2", "yhat", "L")
_LABELS = {"x1": "x₁", "x2": "x₂", "z1": "z₁", "z2": "z₂", "h1": "h₁", "h2": "h₂", "yhat": "ŷ", "L": "L"}
_POS = {"x1": (0, 1), "x2": (0, -1), "z1": (2, 1), "z2": (2, -1), "h1": (3.2, 1), "h2": (3.2, -1), "yhat": (4.6, 0),
        "L": (5.8, 0)}


def _num(v) -> float:
    return float(np.asarray(v, dtype=float).reshape(()))


def draw_graph(values: dict, grads: dict, W1, W2, dW1, dW2, ax=None, title: str = "", activation: str = "tanh"):
    """Draw the computational graph of a 2-2-1 network for one example.

    ``values`` and ``grads``: ``{"x1", "x2", "z1", "z2", "h1", "h2", "yhat", "L"} -> number`` (forward value,
    and ∂L/∂node; ``grads["L"]`` is 1; the inputs' gradients may be left out). ``W1`` (2, 2) and ``W2`` (2, 1) are the weights, ``W1[i, j]`` on the
    edge from input i to hidden unit j; ``dW1``, ``dW2`` their gradients. Returns the axes.
    """
    import matplotlib.pyplot as plt

    missing = [k for k in _NODES if k not in values or (k not in grads and not k.startswith("x"))]
    if missing:
        raise ValueError(f"values and grads need a number for every node {list(_NODES)}; missing {missing}")
    W1, W2, dW1, dW2 = (np.asarray(a, dtype=float) for a in (W1, W2, dW1, dW2))
    if W1.shape != (2, 2) or dW1.shape != (2, 2) or W2.shape != (2, 1) or dW2.shape != (2, 1):
        raise ValueError(f"expected W1, dW1 of shape (2, 2) and W2, dW2 of shape (2, 1), got "
                         f"{W1.shape}, {dW1.shape}, {W2.shape}, {dW2.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4.6))
    edges = [(f"x{i + 1}", f"z{j + 1}", f"w={W1[i, j]:.2g}\n∂L/∂w={dW1[i, j]:.3g}") for i in range(2) for j in range(2)]
    edges += [(f"z{j + 1}", f"h{j + 1}", activation) for j in range(2)]
    edges += [(f"h{j + 1}", "yhat", f"w={W2[j, 0]:.2g}\n∂L/∂w={dW2[j, 0]:.3g}") for j in range(2)]
    edges += [("yhat", "L", "(ŷ − y)²")]
    for a, b, text in edges:
        (xa, ya), (xb, yb) = _POS[a], _POS[b]
        ux, uy = np.array([xb - xa, yb - ya]) / np.hypot(xb - xa, yb - ya)  # the edge's direction
        ax.annotate("", xy=(xb - 0.19 * ux, yb - 0.19 * uy), xytext=(xa + 0.19 * ux, ya + 0.19 * uy),
                    arrowprops=dict(arrowstyle="->", color="0.45", lw=1.2))
        # the label sits on the edge: halfway, or a quarter of the way along the two edges that cross
        t = 0.25 if a.startswith("x") and a[1] != b[1] else 0.5
        xm, ym = xa + t * (xb - xa), ya + t * (yb - ya)
        ax.text(xm, ym, text, ha="center", va="center", fontsize=8.5, color="0.2",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.8", lw=0.6))
    for k in _NODES:
        x, y = _POS[k]
        ax.add_patch(plt.Circle((x, y), 0.17, fc="white", ec="k", lw=1.5, zorder=3))
        ax.text(x, y, _LABELS[k], ha="center", va="center", fontsize=13, zorder=4)
        ax.text(x, y + 0.27, f"{_num(values[k]):.3g}", ha="center", va="bottom", fontsize=10, color=FORWARD_COLOR)
        g = grads.get(k)
        if g is not None and np.isfinite(_num(g)):  # the inputs need no gradient
            ax.text(x, y - 0.27, f"{_num(g):.3g}", ha="center", va="top", fontsize=10, color=BACKWARD_COLOR)
    ax.plot([], [], "s", color=FORWARD_COLOR, label="above a node: its value (forward pass)")
    ax.plot([], [], "s", color=BACKWARD_COLOR, label="below a node: ∂L/∂node (backward pass)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)
    ax.set_xlim(-0.4, 6.2)
    ax.set_ylim(-1.55, 1.55)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


__all__ = ["draw_graph", "FORWARD_COLOR", "BACKWARD_COLOR"]
