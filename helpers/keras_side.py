"""Keras (on TensorFlow) twin. Same names and signatures as :mod:`helpers.fastai_side`.

What lives here is what the lessons do *many times* (sweeps, comparisons,
plots).  The first time a lesson builds a model it writes the Keras code out in
the cell; these helpers are for the tenth time.

Speed: Keras pays a fixed cost per epoch (callbacks, iterator, a Python round
trip per step).  ``train(..., steps=N)`` runs N optimiser steps as *one* epoch
and executes ``steps_per_execution`` steps per call into TensorFlow, which is
what makes a 300-step fit of a tiny net cost ~0.6 s instead of ~8 s
(see ``benchmarks/bench_helpers.py``).  The loss curve is still recovered
at every logging interval from Keras's running mean.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _importorder
from .checks import count_params as _count_params
from .compare import Run, metrics, proba as _proba, timed
from .env import _quiet_tensorflow

FRAMEWORK = "keras"

_quiet_tensorflow()
_importorder.torch_first()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu", "silu", "linear")

#: Training and validation data, like fastai's ``DataLoaders``: ``(X, y)`` arrays plus a batch size.
Loaders = namedtuple("Loaders", ["train", "valid", "bs", "shuffle", "seed"])


def _check_act(act: str):
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of {sorted(ACTIVATIONS)}")


def _leaky_relu(x):
    """Leaky ReLU with PyTorch's slope (0.01), so both twins build the same model (Keras's default is 0.2)."""
    return keras.activations.leaky_relu(x, negative_slope=0.01)


def mlp(sizes, act: str = "relu", seed: int | None = None):
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` that outputs raw scores (logits).

    ``mlp([2, 8, 1], "tanh")`` is
    ``keras.Sequential([keras.Input((2,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp needs at least [inputs, outputs] with positive sizes, got {sizes}")
    _check_act(act)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = [keras.Input((sizes[0],))]
    for i, n in enumerate(sizes[1:]):
        last = i == len(sizes) - 2
        layers.append(keras.layers.Dense(n, activation=None if last else (_leaky_relu if act == "leaky_relu" else act)))
    return keras.Sequential(layers)


def count_params(model) -> int:
    """Trainable parameters of a Keras model."""
    return _count_params(model)


def _arrays(X, y):
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    y = y.astype(np.int64) if y.dtype.kind in "iu" else y.astype(np.float32)
    if len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows: got {len(X)} and {len(y)}")
    return X, y


def dataloaders(X, y, X_valid=None, y_valid=None, bs: int = 64, shuffle: bool = True, seed: int = 0):
    """Keras-ready data: float32 inputs, float32 (binary) or int64 (class id) targets, and a batch size.

    Returns ``Loaders(train=(X, y), valid=(X_valid, y_valid), bs, shuffle, seed)``; pass it to
    ``model.fit(*dls.train, batch_size=dls.bs, validation_data=dls.valid)``.
    Without a validation set, the training data is used for validation too.
    """
    train = _arrays(X, y)
    valid = _arrays(X_valid, y_valid) if X_valid is not None else train
    bs = max(1, min(int(bs), len(train[0])))
    return Loaders(train, valid, bs, shuffle, seed)


def _is_classes(dls) -> bool:
    return dls.train[1].dtype == np.int64


def loss_for(dls, loss: str | None = None):
    """The Keras loss for these targets, on raw outputs (``from_logits=True``)."""
    kind = loss or ("ce" if _is_classes(dls) else "bce")
    table = {
        "bce": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
        "ce": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "mse": lambda: keras.losses.MeanSquaredError(),
    }
    if kind not in table:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(table)}")
    return table[kind]()


def _optimizer(opt: str, lr: float):
    table = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if opt not in table:
        raise ValueError(f"unknown optimizer {opt!r}; choose one of {sorted(table)}")
    return table[opt](learning_rate=lr)


def learner(model, dls, lr: float = 1e-2, loss: str | None = None, opt: str = "adam"):
    """Compile ``model`` for these data (Keras's counterpart of building a fastai ``Learner``); returns it."""
    model.compile(optimizer=_optimizer(opt, lr), loss=loss_for(dls, loss), steps_per_execution=_SPE)
    return model


#: optimiser steps per call into TensorFlow; also the logging interval of the loss curve
_SPE = 10


class _ChunkLoss(keras.callbacks.Callback):
    """Recover the mean loss of each logging interval from Keras's running mean over the epoch."""

    def __init__(self):
        super().__init__()
        self.steps, self.loss = [], []
        self._prev_step, self._prev_mean = 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._base = self.steps[-1] if self.steps else 0
        self._prev_step, self._prev_mean = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        k = batch + 1
        mean = float(logs["loss"])
        n = k - self._prev_step
        if n <= 0:
            return
        self.loss.append((k * mean - self._prev_step * self._prev_mean) / n)
        self.steps.append(self._base + k)
        self._prev_step, self._prev_mean = k, mean


def _one_cycle(total: int, lr_max: float):
    """fastai's one-cycle schedule (cosine warm-up then cosine annealing) as a Keras schedule."""

    class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warm = tf.maximum(1.0, 0.25 * total)
            pct_up = tf.minimum(step / warm, 1.0)
            pct_down = tf.clip_by_value((step - warm) / tf.maximum(1.0, total - warm), 0.0, 1.0)
            up = lr_max / 25 + (lr_max - lr_max / 25) * (1 - tf.cos(np.pi * pct_up)) / 2
            down = lr_max / 1e5 + (lr_max - lr_max / 1e5) * (1 + tf.cos(np.pi * pct_down)) / 2
            return tf.where(step < warm, up, down)

        def get_config(self):
            return {"total": total, "lr_max": lr_max}

    return OneCycle()


def train(model, dls, *, epochs: int | None = None, steps: int | None = None, lr: float = 1e-2,
          loss: str | None = None, opt: str = "adam", one_cycle: bool = False, label: str = "") -> Run:
    """Train ``model`` and return a :class:`~helpers.compare.Run` (loss curve, time, final metrics).

    Give either ``epochs`` (passes over the data) or ``steps`` (optimiser steps, run as one epoch).
    """
    if (epochs is None) == (steps is None):
        raise ValueError("train() needs exactly one of epochs=... or steps=...")
    X, y = dls.train
    n = len(X)
    per_epoch = int(np.ceil(n / dls.bs))
    total = int(steps) if steps is not None else int(epochs) * per_epoch
    rate = _one_cycle(total, lr) if one_cycle else lr
    learner(model, dls, lr=rate, loss=loss, opt=opt)
    log = _ChunkLoss()
    with timed() as t:
        if steps is not None:
            # N steps as one epoch: a repeated, shuffled index stream cut into batches.
            rng = np.random.default_rng(dls.seed)
            reps = int(np.ceil(total * dls.bs / n))
            idx = np.concatenate([rng.permutation(n) if dls.shuffle else np.arange(n) for _ in range(reps)])
            idx = idx[: total * dls.bs]
            model.fit(X[idx], y[idx], batch_size=dls.bs, epochs=1, shuffle=False, verbose=0, callbacks=[log])
        else:
            model.fit(X, y, batch_size=dls.bs, epochs=int(epochs), shuffle=dls.shuffle, verbose=0, callbacks=[log])
    run = Run(FRAMEWORK, model=model, params=count_params(model), seconds=t.seconds, steps=total,
              loss_steps=log.steps, loss=log.loss, label=label, learner=model)
    run.final = evaluate(model, dls)
    return run


def predict(model, X) -> np.ndarray:
    """Raw model outputs for ``X`` as a NumPy array (a direct call: no ``predict`` loop overhead)."""
    return np.asarray(model(np.asarray(X, dtype=np.float32), training=False))


def predict_proba(model, X) -> np.ndarray:
    """Probabilities: sigmoid for one output unit, softmax for several."""
    return _proba(predict(model, X))


def evaluate(model, dls) -> dict:
    """Loss and accuracy on the training and validation sets, computed the same way as the fastai twin."""
    res = {}
    for split, (X, y) in (("train", dls.train), ("valid", dls.valid)):
        res.update({f"{split}_{k}": v for k, v in metrics(predict(model, X), y).items()})
    return res


def _dense(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def get_weights(model) -> list:
    """``[W1, b1, W2, b2, ...]`` of the dense layers, with ``W`` shaped (inputs, outputs)."""
    out = []
    for layer in _dense(model):
        W, b = layer.get_weights()
        out += [W.copy(), b.copy()]
    return out


def set_weights(model, weights) -> None:
    """Load ``[W1, b1, ...]`` (W shaped (inputs, outputs)) into the dense layers."""
    dense = _dense(model)
    if len(weights) != 2 * len(dense):
        raise ValueError(f"expected {2 * len(dense)} arrays (W, b per layer), got {len(weights)}")
    for layer, W, b in zip(dense, weights[0::2], weights[1::2]):
        W = np.asarray(W, dtype=np.float32)
        need = tuple(layer.kernel.shape)
        if W.shape != need:
            raise ValueError(f"weight shape {W.shape} does not fit layer {layer.name} (needs {need})")
        layer.set_weights([W, np.asarray(b, dtype=np.float32)])


def grad_norms(model, X, y, loss: str | None = None) -> list:
    """The gradient norm of each dense layer's weights for one batch (first layer first)."""
    X = tf.convert_to_tensor(np.asarray(X, dtype=np.float32))
    yy = np.asarray(y)
    kind = loss or ("ce" if yy.ndim == 1 else "bce")
    fns = {
        "bce": keras.losses.BinaryCrossentropy(from_logits=True),
        "ce": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "mse": keras.losses.MeanSquaredError(),
    }
    kernels = [layer.kernel for layer in _dense(model)]
    with tf.GradientTape() as tape:
        value = fns[kind](yy, model(X, training=True))
    grads = tape.gradient(value, kernels)
    return [float(tf.norm(g)) for g in grads]


__all__ = ["mlp", "count_params", "dataloaders", "loss_for", "learner", "train", "predict", "predict_proba",
           "evaluate", "get_weights", "set_weights", "grad_norms"]
