"""Lesson 02 (activation functions): activation curves, dead units, gradient norms and cost in both frameworks.

* :data:`NAMES` — the activations the lesson compares (:data:`helpers.twin.ACTIVATIONS` but "linear"),
  with the same meaning in PyTorch (:func:`torch_fn`) and TensorFlow (:func:`tf_fn`): each is the
  twins' own table (``fastai_side.LAYER_ACTIVATIONS``, ``keras_side.LAYER_ACTIVATIONS``), so the curves
  drawn here are what the lesson's networks compute.  Leaky ReLU uses a negative slope of 0.01 in both
  (PyTorch's default; Keras's default is 0.2).
* :func:`curve` — an activation and its derivative on a grid, both computed by
  PyTorch's autograd (no hand-written derivatives), for plots and widgets.
* :func:`hidden_outputs` / :func:`dead_fraction` — what the hidden units of a
  torch or Keras ``Sequential`` MLP output, and which ReLUs never switch on.
* :func:`deep_grad_norms` — per-layer gradient norms of a freshly initialised
  deep MLP (cached, so an interactive depth slider redraws instantly).
* :func:`time_forward_backward` — milliseconds for one forward + backward pass
  of an activation over a large tensor, in either framework.

Importing this module imports torch (in the safe order); TensorFlow is only
imported by the functions that need it.
"""
from __future__ import annotations

import functools
import timeit

import numpy as np

from .. import _importorder
from ..plots import OKABE_ITO

_importorder.torch_first()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from .. import fastai_side  # noqa: E402 - PyTorch's activation table (imports torch, not fastai)
from ..twin import ACTIVATIONS, LEAKY_SLOPE, activation_table, check_activation  # noqa: E402,F401

#: the activations compared in lesson 02: every name of :data:`helpers.twin.ACTIVATIONS` but "linear"
NAMES = tuple(a for a in ACTIVATIONS if a != "linear")
#: the classic three the lesson starts with, and the modern ones (the rest of NAMES)
CLASSIC = ("sigmoid", "tanh", "relu")
MODERN = tuple(a for a in NAMES if a not in CLASSIC)

LABELS = activation_table({"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
                           "gelu": "GELU", "silu": "SiLU (swish)", "linear": "none (linear)"})
#: one colour per activation, from the colour-blind-safe Okabe–Ito palette (see :mod:`helpers.plots`)
COLORS = activation_table({"sigmoid": OKABE_ITO["reddish purple"], "tanh": OKABE_ITO["bluish green"],
                           "relu": OKABE_ITO["vermillion"], "leaky_relu": OKABE_ITO["blue"],
                           "gelu": OKABE_ITO["orange"], "silu": OKABE_ITO["sky blue"], "linear": "#777777"})


def torch_fn(name: str):
    """The PyTorch activation for a name, as a function on tensors: an instance of the module
    ``helpers.fastai_side.mlp`` puts in its hidden layers (``"relu"`` -> ``nn.ReLU()``, which is ``torch.relu``)."""
    check_activation(name)
    return fastai_side.LAYER_ACTIVATIONS[name]()


def tf_fn(name: str):
    """The TensorFlow activation for a name: the function ``helpers.keras_side.mlp`` gives its hidden
    ``Dense`` layers (``"relu"`` -> ``keras.activations.relu``, which is ``tf.nn.relu`` on TensorFlow tensors)."""
    check_activation(name)
    from .. import keras_side

    return keras_side.LAYER_ACTIVATIONS[name]


@functools.lru_cache(maxsize=64)
def _curve(name: str, lo: float, hi: float, n: int):
    x = torch.linspace(lo, hi, n, dtype=torch.float64, requires_grad=True)
    y = torch_fn(name)(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return x.detach().numpy(), y.detach().numpy(), dy.numpy()


def curve(name: str, lo: float = -5.0, hi: float = 5.0, n: int = 401):
    """``(x, f(x), f'(x))`` on ``n`` points of ``[lo, hi]``; the derivative is PyTorch autograd's."""
    check_activation(name)
    x, y, dy = _curve(name, float(lo), float(hi), int(n))
    return x.copy(), y.copy(), dy.copy()


# --------------------------------------------------------------------------- hidden units


def hidden_outputs(model, X) -> list:
    """The outputs of each hidden layer (after its activation) for inputs ``X``, as NumPy arrays.

    Works for a torch ``nn.Sequential`` of ``Linear``/activation modules (as built by
    ``helpers.fastai_side.mlp``) and for a Keras ``Sequential`` of ``Dense`` layers with activations
    (as built by ``helpers.keras_side.mlp``). The output layer is not included.
    """
    model = getattr(model, "model", model)
    X = np.asarray(X, dtype=np.float32)
    if isinstance(model, nn.Module):
        outs, h = [], torch.as_tensor(X)
        with torch.no_grad():
            for m in model.children():
                h = m(h)
                if not isinstance(m, nn.Linear):  # an activation: the end of a hidden layer
                    outs.append(h.numpy().copy())
        return outs
    layers = list(model.layers)
    outs, h = [], X
    for layer in layers[:-1]:
        h = layer(h)
        outs.append(np.asarray(h))
    return outs


def dead_fraction(model, X) -> list:
    """Per hidden layer: the fraction of units whose output is <= 0 for **every** row of ``X``.

    For ReLU such a unit is *dead* on these data: its gradient is 0 for every example, so gradient
    descent can never switch it back on.
    """
    return [float(np.mean(np.all(h <= 0, axis=0))) for h in hidden_outputs(model, X)]


def active_rate(model, X) -> list:
    """Per hidden layer: for each unit, the fraction of rows of ``X`` on which its output is > 0."""
    return [np.mean(h > 0, axis=0) for h in hidden_outputs(model, X)]


# --------------------------------------------------------------------------- deep nets


def glorot_mlp(depth: int, act: str, width: int = 16, n_in: int = 2, n_out: int = 1, seed: int = 0) -> nn.Sequential:
    """A torch MLP with ``depth`` hidden layers, Glorot-uniform weights and zero biases (Keras's defaults)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    model = fastai_side.mlp([n_in] + [width] * depth + [n_out], act)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                bound = float(np.sqrt(6.0 / (m.in_features + m.out_features)))
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * bound - bound)
                m.bias.zero_()
    return model


@functools.lru_cache(maxsize=512)
def _deep_norms(depth, act, width, seed, key):
    X, y = _DATA[key]
    return tuple(fastai_side.grad_norms(glorot_mlp(depth, act, width=width, n_in=X.shape[1], seed=seed), X, y))


_DATA: dict = {}


def deep_grad_norms(depth: int, act: str, X, y, width: int = 16, seed: int = 0) -> list:
    """Gradient norm of each dense layer's weights (first layer first) of a fresh :func:`glorot_mlp`.

    Cached per (depth, activation, width, seed, data), so a widget can ask again for free.
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    key = (X.shape, y.shape, hash(X.tobytes()), hash(y.tobytes()))
    _DATA[key] = (X, y)
    return list(_deep_norms(int(depth), act, int(width), int(seed), key))


# --------------------------------------------------------------------------- cost


def time_forward_backward(framework: str, name: str, n: int = 1_000_000, number: int = 3, repeat: int = 3,
                          seed: int = 0) -> float:
    """Milliseconds for ``f(x)`` and its gradient over ``n`` float32 numbers (best of ``repeat``).

    ``framework`` is ``"pytorch"`` (autograd: ``y.backward``) or ``"tensorflow"`` (``tf.GradientTape``).
    """
    x_np = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    if framework == "pytorch":
        fn = torch_fn(name)
        x = torch.from_numpy(x_np).requires_grad_(True)
        ones = torch.ones(n)

        def step():
            fn(x).backward(ones)
            x.grad = None
    elif framework == "tensorflow":
        import tensorflow as tf

        fn = tf_fn(name)
        x = tf.Variable(x_np)

        def step():
            with tf.GradientTape() as tape:
                y = fn(x)
            return tape.gradient(y, x)
    else:
        raise ValueError(f"framework must be 'pytorch' or 'tensorflow', got {framework!r}")
    step()  # warm-up
    return min(timeit.repeat(step, number=number, repeat=repeat)) / number * 1e3


__all__ = ["CLASSIC", "MODERN", "NAMES", "LABELS", "COLORS", "LEAKY_SLOPE", "torch_fn", "tf_fn", "curve",
           "hidden_outputs", "dead_fraction", "active_rate", "glorot_mlp", "deep_grad_norms",
           "time_forward_backward"]


# --------------------------------------------------------------------------- figures


def draw_curve(name: str, ax=None, lo: float = -5.0, hi: float = 5.0, derivative: bool = True, note: bool = True,
               title: str | None = None, legend_loc: str = "upper left"):
    """Plot an activation and (dashed) its autograd derivative on one axes.

    ``note`` marks the largest slope with a dot and gives its value in the legend (at ``legend_loc``).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    x, y, dy = curve(name, lo, hi)
    jumps = np.flatnonzero(np.abs(np.diff(dy)) > 0.5)  # don't draw a vertical line where the slope jumps
    x_d, dy = np.insert(x, jumps + 1, np.nan), np.insert(dy, jumps + 1, np.nan)
    color = COLORS.get(name, "C0")
    ax.plot(x, y, color=color, lw=2.2, label=f"{LABELS.get(name, name)}")
    if derivative:
        i = int(np.nanargmax(dy))
        label = "derivative (autograd)" + (f"\nmax slope {dy[i]:.2g} (dot)" if note else "")
        ax.plot(x_d, dy, color=color, lw=1.6, ls="--", label=label)
        if note:  # the value goes in the legend, so no label crosses the curves
            ax.plot(x_d[i], dy[i], "o", color=color, ms=5, mec="k", mew=0.6)
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_title(title if title is not None else LABELS.get(name, name))
    ax.set_xlabel("x")
    ax.legend(loc=legend_loc)
    return ax


def sweep_figure(runs: dict, split, acts, smooth: int = 20, title: str = ""):
    """Learning curves (top row) and decision boundaries (bottom row), one column per activation.

    ``runs[framework][act]`` is a :class:`helpers.compare.Run` from ``helpers.*_side.train``. The
    bottom row shades the fastai model's probability and draws both frameworks' 0.5 contour
    (fastai solid, Keras dashed) over the validation points.
    """
    import matplotlib.pyplot as plt

    from .. import fastai_side, keras_side, plots
    from ..compare import COLORS as FW_COLORS

    fig, axes = plt.subplots(2, len(acts), figsize=(3.1 * len(acts), 6.2), squeeze=False)
    xx, yy, pts = plots.grid_for(split.X_valid, pad=0.25, n=120)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for fw, style in (("fastai", "-"), ("keras", "--")):
            r = runs[fw][act]
            loss = np.asarray(r.loss, dtype=float)
            steps = np.asarray(r.loss_steps, dtype=float)
            if fw == "fastai" and len(loss) > smooth:  # per-step losses: average over windows of `smooth` steps
                k = len(loss) // smooth
                loss = loss[: k * smooth].reshape(k, smooth).mean(1)
                steps = steps[: k * smooth].reshape(k, smooth)[:, -1]
            ax.plot(steps, loss, style, color=FW_COLORS[fw], lw=1.6,
                    label=f"{fw}: {r.final['valid_accuracy']:.1%}")
        ax.set_ylim(0, 0.8)
        ax.set_title(LABELS.get(act, act))
        ax.set_xlabel("step")
        if j == 0:
            ax.set_ylabel("training loss")
        ax.legend(title="valid accuracy", loc="upper right")
        ax = axes[1, j]
        pf = fastai_side.predict_proba(runs["fastai"][act].model, pts).reshape(xx.shape)
        pk = keras_side.predict_proba(runs["keras"][act].model, pts).reshape(xx.shape)
        ax.contourf(xx, yy, pf, levels=np.linspace(0, 1, 11), cmap=plots.CMAP, alpha=0.3)
        for p, style in ((pf, "solid"), (pk, "dashed")):
            if p.min() < 0.5 < p.max():
                ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.2, linestyles=style)
        plots.scatter(split.X_valid, split.y_valid, ax=ax, s=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    axes[1, 0].set_ylabel("boundary: fastai ——  Keras - - -")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def grad_norm_figure(norms: dict, ax=None, title: str = "Gradient norm per layer"):
    """``norms[framework][act]`` = per-layer gradient norms (first layer first), on a log scale.

    Colour says the activation, marker and line style the framework (one legend entry each).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    styles = {"fastai": dict(marker="o", ls="-", ms=7, lw=1.6, alpha=0.55),
              "keras": dict(marker="x", ls="--", ms=6, lw=1.0, mew=1.5)}
    acts = []
    for fw, by_act in norms.items():
        for act, values in by_act.items():
            layers = np.arange(1, len(values) + 1)
            ax.plot(layers, values, color=COLORS.get(act, None), **styles.get(fw, dict(marker=".", ls=":")))
            acts += [act] if act not in acts else []
    handles = [Line2D([], [], color=COLORS.get(a, None), lw=2.5, label=LABELS.get(a, a)) for a in acts]
    handles += [Line2D([], [], color="grey", label=fw, **styles.get(fw, dict(marker=".", ls=":"))) for fw in norms]
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("‖∂loss/∂W‖")
    ax.set_title(title)
    ax.legend(handles=handles, ncol=2, loc="lower right")
    return ax
