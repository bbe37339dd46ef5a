"""Keras (on TensorFlow) twin. Same names and signatures as :mod:`helpers.fastai_side`.

What lives here is what the lessons do *many times* (sweeps, comparisons,
plots).  The first time a lesson builds a model it writes the Keras code out in
the cell; these helpers are for the tenth time.

Speed.  ``model.fit`` on a tiny net is mostly fixed cost: every new model gets
its train function traced and optimised by TensorFlow, plus a tf.data pipeline
and a Python round trip per ``steps_per_execution`` steps.  ``train`` instead
runs *all* its steps in one call of a ``tf.function`` that loops over batch
indices of the in-memory arrays, and it traces that function once per
architecture: for a plain MLP (a ``Sequential`` of ``Dense`` layers, what
:func:`mlp` builds) it trains a private template model of the same shape and
copies weights and optimiser state in before and out after.  A sweep of
same-shaped models pays the trace once; a 300-step XOR fit then costs ~0.06 s
instead of ~0.6 s (see ``benchmarks/bench_helpers.py``).  Any other model is
traced for its own call (correct, just without the reuse).  That loop leans on
Keras internals, so it lives in :mod:`helpers._fast_keras` and runs only on the
Keras/TensorFlow versions its tests ran on; elsewhere (or with
``DLSBS_FAST_PATHS=0``) ``train`` is one stock ``model.fit`` over a dataset of
the same batches (``steps_per_execution=10``), and one line says so.

The interface both twins implement is :class:`helpers.twin.Twin`.

Same math as ``fit``.  Each step is Keras's own ``model.train_step`` (forward,
compiled loss, gradient, ``optimizer.apply_gradients``) with the optimiser and
loss ``learner`` compiles, on the same batches ``model.fit(X[idx], y[idx],
shuffle=False)`` would see; ``tests/test_training_paths.py`` checks the weights
against a plain ``compile`` + ``fit``.  The loss curve is the mean, over
every 10 steps, of each step's loss as Keras computed it for the update.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _importorder
from .checks import count_params as _count_params
from .compare import Run, metrics, proba as _proba, timed
from .data import passes, step_order
from .env import _quiet_tensorflow

FRAMEWORK = "keras"

_quiet_tensorflow()
_importorder.torch_first()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from . import _fast_keras as _fast  # noqa: E402 - after the quiet, ordered TensorFlow import
from .twin import ACTIVATIONS, LEAKY_SLOPE, activation_table  # noqa: E402,F401 - ACTIVATIONS: the names mlp accepts
from .twin import check_activation as _check_act  # noqa: E402

#: Training and validation data, like fastai's ``DataLoaders`` (a :class:`~helpers.twin.TwinData`):
#: ``train`` / ``valid`` are ``(X, y)`` arrays, plus the batch size, shuffling and the batch-order seed.
Loaders = namedtuple("Loaders", ["train", "valid", "bs", "shuffle", "seed"])


def _leaky_relu(x):
    """Leaky ReLU with PyTorch's slope (0.01), so both twins build the same model (Keras's default is 0.2)."""
    return keras.activations.leaky_relu(x, negative_slope=LEAKY_SLOPE)


#: Keras's side of :data:`helpers.twin.ACTIVATIONS`: name -> the activation function :func:`mlp` gives each
#: hidden ``Dense`` layer (the very functions Keras's names resolve to: ``Dense(activation="tanh")`` holds
#: ``keras.activations.tanh``).  They also work on TensorFlow tensors; lesson 02's ``tf_fn`` uses them so.
LAYER_ACTIVATIONS = activation_table({
    "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh,
    "relu": keras.activations.relu,
    "leaky_relu": _leaky_relu,
    "gelu": keras.activations.gelu,  # approximate=False, as PyTorch's default
    "silu": keras.activations.silu,
    "linear": keras.activations.linear,
})


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
        layers.append(keras.layers.Dense(n, activation=None if last else LAYER_ACTIVATIONS[act]))
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


_LOSSES = {
    "bce": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
    "ce": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "mse": lambda: keras.losses.MeanSquaredError(),
}


def _loss_kind(dls, loss: str | None) -> str:
    kind = loss or ("ce" if _is_classes(dls) else "bce")
    if kind not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(_LOSSES)}")
    return kind


def loss_for(dls, loss: str | None = None):
    """The Keras loss for these targets, on raw outputs (``from_logits=True``)."""
    return _LOSSES[_loss_kind(dls, loss)]()


def _optimizer(opt: str, lr: float):
    table = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if opt not in table:
        raise ValueError(f"unknown optimizer {opt!r}; choose one of {sorted(table)}")
    return table[opt](learning_rate=lr)


def learner(model, dls, lr: float = 1e-2, loss: str | None = None, opt: str = "adam"):
    """Compile ``model`` for these data (Keras's counterpart of building a fastai ``Learner``); returns it."""
    model.compile(optimizer=_optimizer(opt, lr), loss=loss_for(dls, loss), steps_per_execution=_SPE)
    return model


#: steps per call into TensorFlow in a ``model.fit`` after :func:`learner`; also ``train``'s loss-logging interval
_SPE = 10


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


def _batches(n: int, bs: int, shuffle: bool, seed: int, epochs: int | None, steps: int | None):
    """Row indices of every batch, concatenated, and where each batch starts (plus the end).

    ``steps``: :func:`helpers.data.step_order` (shuffled passes cut into full batches; the fastai twin's order).
    ``epochs``: a fresh permutation per epoch (seeded like the steps); an epoch's last batch may be smaller.
    """
    if steps is not None:
        idx = step_order(n, steps, bs, shuffle, seed).ravel()
        return idx.astype(np.int32), np.arange(0, steps * bs + 1, bs, dtype=np.int32)
    idx = passes(n, epochs, shuffle, seed)
    starts = [e * n + np.arange(0, n, bs) for e in range(epochs)] + [[epochs * n]]
    return np.concatenate(idx or [[]]).astype(np.int32), np.concatenate(starts).astype(np.int32)


class _ChunkLosses(keras.callbacks.Callback):
    """Record the running mean loss Keras logs after each call into TensorFlow (every ``steps_per_execution`` steps)."""

    def on_train_begin(self, logs=None):
        self.ends, self.means = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(int(batch))
        self.means.append(float(logs["loss"]))


def _fit_curve(model, X, y, idx, starts) -> list:
    """The stock path: one ``model.fit`` over a dataset of exactly these batches (the fast path's batches).

    Returns the mean loss of every ``_SPE`` steps, from Keras's running mean (which weights each step by
    its batch size: the same as the fast path's curve whenever the batches are equally large).
    """
    total = len(starts) - 1
    Xc, yc = tf.constant(X), tf.constant(y)
    it, st = tf.constant(idx), tf.constant(starts)

    def batch(i):
        rows = it[st[i]:st[i + 1]]
        return tf.gather(Xc, rows), tf.gather(yc, rows)

    ds = tf.data.Dataset.range(total).map(lambda i: batch(tf.cast(i, tf.int32)))
    rec = _ChunkLosses()
    model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[rec])
    seen = starts - starts[0]  # rows seen before step i
    curve, prev_end, prev_sum = [], -1, 0.0
    for end, mean in zip(rec.ends, rec.means):
        end = min(end, total - 1)  # Keras reports the last call as if it ran a full _SPE steps
        rows_sum = mean * float(seen[end + 1])  # Keras's running mean times the rows it averaged
        curve.append((rows_sum - prev_sum) / float(seen[end + 1] - seen[prev_end + 1]))
        prev_end, prev_sum = end, rows_sum
    return curve


def train(model, dls, *, epochs: int | None = None, steps: int | None = None, lr: float = 1e-2,
          loss: str | None = None, opt: str = "adam", one_cycle: bool = False, label: str = "") -> Run:
    """Train ``model`` and return a :class:`~helpers.compare.Run` (loss curve, time, final metrics).

    Give either ``epochs`` (passes over the data) or ``steps`` (optimiser steps, run as one epoch).
    ``model`` ends up compiled by :func:`learner` and holding the trained weights and optimiser state,
    exactly as after ``model.fit`` on the same batches (see the module docstring).
    """
    if (epochs is None) == (steps is None):
        raise ValueError("train() needs exactly one of epochs=... or steps=...")
    X, y = dls.train
    n = len(X)
    epochs, steps = (int(epochs), None) if steps is None else (None, int(steps))
    total = steps if steps is not None else epochs * -(-n // dls.bs)
    rate = _one_cycle(total, lr) if one_cycle else lr
    kind = _loss_kind(dls, loss)
    learner(model, dls, lr=rate, loss=kind, opt=opt)
    if not model.built:
        model(X[:1])  # what fit would build it with
    model.optimizer.build(model.trainable_variables)
    idx, starts = _batches(n, dls.bs, dls.shuffle, dls.seed, epochs, steps)
    chunks = range(0, total, _SPE)  # the loss curve: the mean loss of every _SPE steps
    with timed() as t:
        if _fast.enabled():
            losses = _fast.train_losses(model, X, y, idx, starts,
                                        key=(opt, ("one_cycle", total, float(lr)) if one_cycle else None, kind),
                                        make_optimizer=lambda: _optimizer(opt, rate), make_loss=_LOSSES[kind])
            curve = [float(np.mean(losses[c:c + _SPE], dtype=np.float64)) for c in chunks]
        else:
            curve = _fit_curve(model, X, y, idx, starts)
    run = Run(FRAMEWORK, model=model, params=count_params(model), seconds=t.seconds, steps=total,
              loss_steps=[min(c + _SPE, total) for c in chunks], loss=curve, label=label, learner=model)
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
