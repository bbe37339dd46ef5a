"""fastai (on PyTorch) twin. Same names and signatures as :mod:`helpers.keras_side`.

What lives here is what the lessons do *many times* (sweeps, comparisons,
plots).  The first time a lesson builds a model it writes the fastai code out
in the cell; these helpers are for the tenth time.

Speed: in-memory data never spawns DataLoader worker processes
(``num_workers=0``), and ``train(..., steps=N)`` runs N optimiser steps as *one*
epoch of plain-tensor batches, so fastai's per-epoch machinery (validation,
callbacks, logging) runs once instead of N times.  :func:`learner` builds a
fastai ``Learner`` whose per-batch Python overhead is cut by small subclasses
(:data:`Learner`, :data:`Optimizer`, :data:`Recorder`, built on first use) that
compute stock fastai's numbers bit for bit (``tests/test_training_paths.py``).
They use fastai internals, so they live in :mod:`helpers._fast_fastai` and run
only on the fastai/torch versions those tests ran on; elsewhere (or with
``DLSBS_FAST_PATHS=0``) :func:`learner` is stock fastai ``Learner`` and one line
says so.  See ``benchmarks/bench_helpers.py`` for the numbers.

The interface both twins implement is :class:`helpers.twin.Twin`.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import _importorder
from .checks import count_params as _count_params
from .compare import Run, metrics, proba as _proba, timed

FRAMEWORK = "fastai"

_importorder.torch_first()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from . import _fast_fastai as _fast  # noqa: E402 - after torch_first(): it imports torch
from .twin import ACTIVATIONS, LEAKY_SLOPE, activation_table  # noqa: E402,F401 - ACTIVATIONS: the names mlp accepts
from .twin import check_activation as _check_act  # noqa: E402

#: PyTorch's side of :data:`helpers.twin.ACTIVATIONS`: name -> the module class (or factory) that :func:`mlp`
#: puts after each hidden layer.  An instance is also the activation as a function on tensors
#: (``LAYER_ACTIVATIONS["gelu"]()(x)`` is ``F.gelu(x)``); lesson 02's ``torch_fn`` uses it that way.
LAYER_ACTIVATIONS = activation_table({
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "linear": nn.Identity,
})


def mlp(sizes, act: str = "relu", seed: int | None = None):
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` that outputs raw scores (logits).

    ``mlp([2, 8, 1], "tanh")`` is ``nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp needs at least [inputs, outputs] with positive sizes, got {sizes}")
    _check_act(act)
    if seed is not None:
        torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(LAYER_ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def count_params(model) -> int:
    """Trainable parameters (a torch module or a fastai Learner)."""
    return _count_params(model)


def _items(X, y):
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yy = np.asarray(y)
    y = torch.as_tensor(yy.astype(np.int64) if yy.dtype.kind in "iu" else yy.astype(np.float32))
    if len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows: got {len(X)} and {len(y)}")
    return list(zip(X, y))


_SCRATCH: list = []


def scratch_dir() -> Path:
    """A folder for the files fastai writes by itself, removed when Python exits.

    ``lr_find`` saves a temporary checkpoint under ``learn.path/learn.model_dir`` and leaves the empty
    ``models/`` folder behind; a ``Learner`` on :func:`dataloaders` (or from :func:`learner`) has its
    ``path`` here, so running a lesson leaves nothing in the lesson's folder.  Pass
    ``Learner(..., path=...)`` to keep saved models somewhere else.
    """
    if not _SCRATCH:
        folder = Path(tempfile.mkdtemp(prefix="helpers-fastai-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SCRATCH.append(folder)
    return _SCRATCH[0]


def dataloaders(X, y, X_valid=None, y_valid=None, bs: int = 64, shuffle: bool = True, seed: int = 0):
    """fastai ``DataLoaders`` over in-memory arrays, with no worker processes (a :class:`~helpers.twin.TwinData`).

    ``dls.train`` / ``dls.valid`` are fastai ``DataLoader`` objects; ``dls.bs`` and ``dls.shuffle`` are the
    training loader's; ``dls.seed`` seeds the batch order of ``train(..., steps=N)`` (shared with the Keras twin).

    Without a validation set, the training data is used for validation too.  ``dls.path`` (where a
    ``Learner`` on them saves files, e.g. ``lr_find``'s checkpoint) is :func:`scratch_dir`.
    """
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader

    train = _items(X, y)
    valid = _items(X_valid, y_valid) if X_valid is not None else train
    bs = max(1, min(int(bs), len(train)))
    torch.manual_seed(seed)
    dls = DataLoaders(
        DataLoader(train, bs=bs, shuffle=shuffle, num_workers=0),
        DataLoader(valid, bs=max(bs, 256), shuffle=False, num_workers=0),
        path=scratch_dir(),
    )
    dls.seed = seed  # the batch order of train(..., steps=N), shared with the Keras twin
    return dls


def _is_classes(dls) -> bool:
    dl = dls.train
    first_target = dl.y[0] if isinstance(dl, _Steps) else dl.dataset[0][1]
    return first_target.dtype == torch.int64


def loss_for(dls, loss: str | None = None):
    """The fastai loss for these targets: BCE-with-logits (one float column), cross-entropy (class ids) or MSE."""
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat

    kind = loss or ("ce" if _is_classes(dls) else "bce")
    table = {"bce": BCEWithLogitsLossFlat, "ce": CrossEntropyLossFlat, "mse": MSELossFlat}
    if kind not in table:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(table)}")
    return table[kind]()


def _optimizer(opt: str):
    """fastai's optimizer ``opt`` (its own defaults: Adam is mom 0.9, sqr_mom 0.99, eps 1e-5, wd 0.01 decoupled).

    The fast path's ``learner`` wraps it with its leaner step loop (same math; :mod:`helpers._fast_fastai`).
    """
    from fastai.optimizer import SGD, Adam, RMSProp

    table = {"adam": Adam, "sgd": SGD, "rmsprop": RMSProp}
    if opt not in table:
        raise ValueError(f"unknown optimizer {opt!r}; choose one of {sorted(table)}")
    return table[opt]


def learner(model, dls, lr: float = 1e-2, loss: str | None = None, opt: str = "adam"):
    """A fastai ``Learner`` for ``model`` on ``dls`` (quiet inside :func:`train`; ``fit_one_cycle``, ``lr_find`` work).

    On the fastai/torch versions the fast path was tested on, a leaner subclass that computes the same
    numbers (:mod:`helpers._fast_fastai`); elsewhere (or with ``DLSBS_FAST_PATHS=0``) stock ``Learner``.
    """
    import fastai.callback.all  # noqa: F401 - fit_one_cycle, lr_find, no_bar

    path = getattr(dls, "path", None)
    if path is None or Path(path) == Path("."):  # fastai's default: lr_find would leave models/ in the working folder
        path = scratch_dir()
    loss_func = loss_for(dls, loss)
    if _fast.enabled():
        return _fast.learner(dls, model, loss_func=loss_func, opt_func=_optimizer(opt), lr=lr, path=path)
    from fastai.learner import Learner

    return Learner(dls, model, loss_func=loss_func, opt_func=_optimizer(opt), lr=lr, path=path)


def __getattr__(name):
    """``Learner`` / ``Optimizer`` / ``Recorder``: the fast path's subclasses, built on first use."""
    table = {"Learner": _fast.learner_class, "Optimizer": _fast.optimizer_class, "Recorder": _fast.recorder_class}
    if name in table:
        return table[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Steps:
    """A training "DataLoader" for ``train(..., steps=N)``: N batches of plain tensors in a given row order."""

    n_inp = 1  # read by Learner for every batch; defined here so the lookup does not fail its way through GetAttr

    def __init__(self, X, y, order):
        self.X, self.y, self.order = X, y, torch.as_tensor(order)
        self.bs = order.shape[1]

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        X, y = self.X, self.y
        for rows in self.order:
            yield X[rows], y[rows]


def _tensors(dl):
    """The (inputs, targets) of a DataLoader's dataset of ``(x, y)`` pairs, stacked."""
    if isinstance(dl, _Steps):
        return dl.X, dl.y
    ds = dl.dataset
    return torch.stack([x for x, _ in ds]), torch.stack([t for _, t in ds])


def train(model, dls, *, epochs: int | None = None, steps: int | None = None, lr: float = 1e-2,
          loss: str | None = None, opt: str = "adam", one_cycle: bool = False, label: str = "") -> Run:
    """Train ``model`` with a fastai ``Learner`` and return a :class:`~helpers.compare.Run`.

    Give either ``epochs`` (passes over ``dls.train``) or ``steps`` (optimiser steps, run as one epoch
    whose batches follow :func:`helpers.data.step_order` — the same batches the Keras twin sees).
    The run holds the loss of every step, the wall time, final metrics and the ``Learner``.
    """
    from fastai.data.core import DataLoaders

    from .data import step_order

    if (epochs is None) == (steps is None):
        raise ValueError("train() needs exactly one of epochs=... or steps=...")
    if steps is not None:
        X, y = _tensors(dls.train)
        order = step_order(len(X), steps, dls.train.bs, dls.train.shuffle, getattr(dls, "seed", 0))
        fit_dls = DataLoaders(_Steps(X, y, order), dls.valid)
        n_epochs = 1
    else:
        fit_dls, n_epochs = dls, int(epochs)
    learn = learner(model, fit_dls, lr=lr, loss=loss, opt=opt)
    if steps is not None:
        from fastai.learner import CastToTensor

        learn.remove_cb(CastToTensor)  # _Steps yields plain tensors: nothing to cast
    raw = _RawLoss()
    with timed() as t, learn.no_logging(), learn.no_bar(), learn.added_cbs(raw):
        (learn.fit_one_cycle if one_cycle else learn.fit)(n_epochs, lr)
    losses = torch.stack(raw.losses).tolist() if raw.losses else []
    run = Run(FRAMEWORK, model=model, params=count_params(model), seconds=t.seconds, steps=len(losses),
              loss_steps=list(range(1, len(losses) + 1)), loss=losses, label=label, learner=learn)
    run.final = evaluate(model, dls)
    return run


@functools.lru_cache(maxsize=None)
def _raw_loss_callback():
    """The callback class, defined once (fastai is imported lazily, so it cannot be module-level)."""
    from fastai.callback.core import Callback

    class RawLoss(Callback):
        """Record each training batch's loss as computed (fastai's Recorder keeps a smoothed one)."""

        order = 60

        def before_fit(self):
            self.losses = []

        def after_batch(self):
            if self.learn.training:
                self.losses.append(self.learn.loss.detach())  # converted once, after fit

    return RawLoss


def _RawLoss():
    return _raw_loss_callback()()


def predict(model, X) -> np.ndarray:
    """Raw model outputs for ``X`` as a NumPy array (no gradient tracking)."""
    model = getattr(model, "model", model)
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(np.asarray(X, dtype=np.float32)))
    model.train()
    return out.numpy()


def predict_proba(model, X) -> np.ndarray:
    """Probabilities: sigmoid for one output unit, softmax for several."""
    out = predict(model, X)
    return _proba(out)


def evaluate(model, dls) -> dict:
    """Loss and accuracy on the training and validation sets, computed the same way as the Keras twin."""
    res = {}
    for split, dl in (("train", dls.train), ("valid", dls.valid)):
        X, y = _tensors(dl)
        res.update({f"{split}_{k}": v for k, v in metrics(predict(model, X.numpy()), y.numpy()).items()})
    return res


def _linears(model):
    model = getattr(model, "model", model)
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def get_weights(model) -> list:
    """``[W1, b1, W2, b2, ...]`` of the dense layers, with ``W`` shaped (inputs, outputs) like Keras."""
    out = []
    for lin in _linears(model):
        out += [lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()]
    return out


def set_weights(model, weights) -> None:
    """Load ``[W1, b1, ...]`` (Keras layout, W shaped (inputs, outputs)) into the dense layers."""
    lins = _linears(model)
    if len(weights) != 2 * len(lins):
        raise ValueError(f"expected {2 * len(lins)} arrays (W, b per layer), got {len(weights)}")
    with torch.no_grad():
        for lin, W, b in zip(lins, weights[0::2], weights[1::2]):
            W = np.asarray(W, dtype=np.float32).T
            if W.shape != tuple(lin.weight.shape):
                raise ValueError(f"weight shape {W.T.shape} does not fit layer {lin} (needs {tuple(lin.weight.shape[::-1])})")
            lin.weight.copy_(torch.from_numpy(W.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float32)))


def grad_norms(model, X, y, loss: str | None = None) -> list:
    """The gradient norm of each dense layer's weights for one batch (first layer first)."""
    model = getattr(model, "model", model)
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yy = np.asarray(y)
    kind = loss or ("ce" if yy.ndim == 1 else "bce")
    fns = {"bce": nn.BCEWithLogitsLoss(), "ce": nn.CrossEntropyLoss(), "mse": nn.MSELoss()}
    t = torch.as_tensor(yy.astype(np.int64) if kind == "ce" else yy.astype(np.float32))
    model.zero_grad()
    fns[kind](model(X), t).backward()
    norms = [float(lin.weight.grad.norm()) for lin in _linears(model)]
    model.zero_grad()
    return norms


__all__ = ["mlp", "count_params", "dataloaders", "loss_for", "learner", "train", "predict", "predict_proba",
           "evaluate", "get_weights", "set_weights", "grad_norms"]

