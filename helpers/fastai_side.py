"""fastai (on PyTorch) twin. Same names and signatures as :mod:`helpers.keras_side`.

What lives here is what the lessons do *many times* (sweeps, comparisons,
plots).  The first time a lesson builds a model it writes the fastai code out
in the cell; these helpers are for the tenth time.

Speed: in-memory data never spawns DataLoader worker processes
(``num_workers=0``), and ``train(..., steps=N)`` runs N optimiser steps as *one*
epoch, so fastai's per-epoch machinery (validation, callbacks, logging) runs
once instead of N times.  See ``benchmarks/bench_helpers.py`` for the numbers.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _importorder
from .checks import count_params as _count_params
from .compare import Run, metrics, proba as _proba, timed

FRAMEWORK = "fastai"

_importorder.torch_first()

import torch  # noqa: E402
from torch import nn  # noqa: E402

ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "linear": nn.Identity,
}


def _check_act(act: str):
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of {sorted(ACTIVATIONS)}")


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
            layers.append(ACTIVATIONS[act]())
    return nn.Sequential(*layers)


def count_params(model) -> int:
    """Trainable parameters (a torch module or a fastai Learner)."""
    return _count_params(model)


class _Cycle(torch.utils.data.Dataset):
    """``n`` items drawn cyclically from a small dataset: N steps in one epoch."""

    def __init__(self, items, n):
        self.items, self.n = items, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.items[i % len(self.items)]


def _items(X, y):
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yy = np.asarray(y)
    y = torch.as_tensor(yy.astype(np.int64) if yy.dtype.kind in "iu" else yy.astype(np.float32))
    if len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows: got {len(X)} and {len(y)}")
    return list(zip(X, y))


def dataloaders(X, y, X_valid=None, y_valid=None, bs: int = 64, shuffle: bool = True, seed: int = 0):
    """fastai ``DataLoaders`` over in-memory arrays, with no worker processes.

    Without a validation set, the training data is used for validation too.
    """
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader

    train = _items(X, y)
    valid = _items(X_valid, y_valid) if X_valid is not None else train
    bs = max(1, min(int(bs), len(train)))
    torch.manual_seed(seed)
    return DataLoaders(
        DataLoader(train, bs=bs, shuffle=shuffle, num_workers=0),
        DataLoader(valid, bs=max(bs, 256), shuffle=False, num_workers=0),
    )


def _is_classes(dls) -> bool:
    return dls.train.dataset[0][1].dtype == torch.int64


def loss_for(dls, loss: str | None = None):
    """The fastai loss for these targets: BCE-with-logits (one float column), cross-entropy (class ids) or MSE."""
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat

    kind = loss or ("ce" if _is_classes(dls) else "bce")
    table = {"bce": BCEWithLogitsLossFlat, "ce": CrossEntropyLossFlat, "mse": MSELossFlat}
    if kind not in table:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(table)}")
    return table[kind]()


def _optimizer(opt: str):
    from fastai.optimizer import SGD, Adam, RMSProp

    table = {"adam": Adam, "sgd": SGD, "rmsprop": RMSProp}
    if opt not in table:
        raise ValueError(f"unknown optimizer {opt!r}; choose one of {sorted(table)}")
    return table[opt]


def learner(model, dls, lr: float = 1e-2, loss: str | None = None, opt: str = "adam"):
    """A quiet fastai ``Learner`` (no progress bar or printed table: fit inside graded cells stays silent)."""
    import fastai.callback.all  # noqa: F401 - fit_one_cycle, lr_find, no_bar
    from fastai.learner import Learner

    learn = Learner(dls, model, loss_func=loss_for(dls, loss), opt_func=_optimizer(opt), lr=lr)
    return learn


def train(model, dls, *, epochs: int | None = None, steps: int | None = None, lr: float = 1e-2,
          loss: str | None = None, opt: str = "adam", one_cycle: bool = False, label: str = "") -> Run:
    """Train ``model`` and return a :class:`~helpers.compare.Run` (loss curve, time, final metrics).

    Give either ``epochs`` (passes over the data) or ``steps`` (optimiser steps, run as one epoch).
    """
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader

    if (epochs is None) == (steps is None):
        raise ValueError("train() needs exactly one of epochs=... or steps=...")
    if steps is not None:
        bs = dls.train.bs
        ds = dls.train.dataset
        cyc = DataLoader(_Cycle(ds, int(steps) * bs), bs=bs, shuffle=dls.train.shuffle, num_workers=0, drop_last=False)
        dls = DataLoaders(cyc, dls.valid)
        n_epochs = 1
    else:
        n_epochs = int(epochs)
    learn = learner(model, dls, lr=lr, loss=loss, opt=opt)
    raw = _RawLoss()
    learn.add_cb(raw)
    with timed() as t, learn.no_logging():
        if hasattr(learn, "no_bar"):
            with learn.no_bar():
                (learn.fit_one_cycle if one_cycle else learn.fit)(n_epochs, lr)
        else:
            (learn.fit_one_cycle if one_cycle else learn.fit)(n_epochs, lr)
    learn.remove_cb(raw)
    losses = raw.losses
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
            if self.training:
                self.losses.append(float(self.learn.loss.detach()))  # no requires_grad warning on stderr

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
        ds = dl.dataset.items if isinstance(dl.dataset, _Cycle) else dl.dataset
        X = np.stack([x.numpy() for x, _ in ds])
        y = np.stack([t.numpy() for _, t in ds])
        res.update({f"{split}_{k}": v for k, v in metrics(predict(model, X), y).items()})
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

