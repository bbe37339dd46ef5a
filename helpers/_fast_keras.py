"""Keras's fast path (Keras internals, isolated here): used by :mod:`helpers.keras_side`.

``model.fit`` on a tiny net is mostly fixed cost: every new model gets its train function traced by
TensorFlow, plus a tf.data pipeline and a Python round trip per ``steps_per_execution`` steps.
:func:`train_losses` instead runs *all* steps in one call of a ``tf.function`` that loops over batch
indices of the in-memory arrays, calling Keras's own ``model.train_step`` for each.  For a plain MLP it
trains a private template model of the same architecture (traced once per architecture, optimiser,
loss and data shape) and copies weights and optimiser state in before and out after.

What it depends on beyond the public API: that ``trainable_variables + optimizer.variables`` of two
same-architecture models line up *by position*, that ``train_step`` may be called inside a
``tf.while_loop``, and the list of ``Dense`` attributes (:data:`_NONE_ATTRS`, ``lora_enabled``,
``quantization_mode``) that make a layer "plain", which grows with Keras releases.  So :func:`enabled`
allows it only on :data:`TESTED_VERSIONS` (and not with ``DLSBS_FAST_PATHS=0``).
"""
from __future__ import annotations

from collections import OrderedDict

import keras
import numpy as np
import tensorflow as tf

from .twin import fast_path_allowed

#: the versions ``tests/test_training_paths.py`` held this path to ``compile`` + ``fit`` on
TESTED_VERSIONS = {"keras": "3.15.1", "tensorflow": "2.21.0"}


def installed_versions() -> dict:
    return {"keras": keras.__version__, "tensorflow": tf.__version__}


def enabled() -> bool:
    """Is the fast path allowed here (tested versions, not switched off)?  Prints one notice if not."""
    return fast_path_allowed("keras", TESTED_VERSIONS, installed_versions())


def _state(model) -> list:
    return model.trainable_variables + model.optimizer.variables


class _Trainer:
    """Run Keras's ``net.train_step`` on every batch inside one ``tf.function`` call; returns each step's loss.

    ``net`` is the user's model (traced for this call) or a private template of the same architecture
    (traced once): then the user's weights and optimiser state are copied in before and out after.
    """

    def __init__(self, net, X, y):
        self.net = net
        spec = lambda a: tf.TensorSpec((None,) + a.shape[1:], tf.as_dtype(a.dtype))  # noqa: E731
        ints = tf.TensorSpec([None], tf.int32)

        @tf.function(input_signature=[spec(X), spec(y), ints, ints], autograph=False)
        def loop(X, y, idx, starts):
            n = tf.shape(starts)[0] - 1

            def step(i, losses):
                b = idx[starts[i]:starts[i + 1]]
                net.reset_metrics()  # so the logged loss is this step's, not the running mean
                logs = net.train_step((tf.gather(X, b), tf.gather(y, b)))
                return i + 1, losses.write(i, logs["loss"])

            _, losses = tf.while_loop(lambda i, _: i < n, step,
                                      (tf.constant(0), tf.TensorArray(tf.float32, size=n, element_shape=[])))
            return losses.stack()

        self.loop = loop

    def __call__(self, model, X, y, idx, starts) -> np.ndarray:
        if self.net is not model:
            for dst, src in zip(_state(self.net), _state(model), strict=True):
                dst.assign(src)
        losses = self.loop(X, y, idx, starts).numpy()
        if self.net is not model:
            for dst, src in zip(_state(model), _state(self.net), strict=True):
                dst.assign(src)
        return losses


#: traced trainers of plain MLPs by architecture, optimiser, loss and data shape (least recently used dropped)
_TRAINERS: OrderedDict = OrderedDict()
_MAX_TRAINERS = 32
_NONE_ATTRS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
               "bias_constraint", "quantization_mode")


def architecture(model):
    """``((kernel shape, activation, use_bias), ...)`` of a trainable Sequential of plain float32 Dense layers.

    None for any other model: it is trained by a trainer traced for it alone.
    """
    layers = model.layers
    plain = (type(model) is keras.Sequential and model.trainable and layers and all(
        type(layer) is keras.layers.Dense and layer.trainable and not layer.lora_enabled
        and layer.dtype_policy.name == "float32" and all(getattr(layer, a) is None for a in _NONE_ATTRS)
        for layer in layers))
    return tuple((tuple(layer.kernel.shape), layer.activation, layer.use_bias) for layer in layers) if plain else None


def _trainer(model, X, y, key, make_optimizer, make_loss) -> _Trainer:
    arch = architecture(model)
    if arch is None:
        return _Trainer(model, X, y)
    key = (arch,) + tuple(key) + (X.shape[1:], y.shape[1:], y.dtype)
    if key in _TRAINERS:
        _TRAINERS.move_to_end(key)
        return _TRAINERS[key]
    # explicit names and zero initialisers: the template takes no automatic names and draws no random numbers
    net = keras.Sequential([keras.Input(X.shape[1:], name="ks_template_input")] + [
        keras.layers.Dense(layer.units, activation=layer.activation, use_bias=layer.use_bias,
                           kernel_initializer="zeros", name=f"ks_template_dense_{i}")
        for i, layer in enumerate(model.layers)], name="ks_template")
    net.compile(optimizer=make_optimizer(), loss=make_loss())
    net.optimizer.build(net.trainable_variables)
    _TRAINERS[key] = _Trainer(net, X, y)
    if len(_TRAINERS) > _MAX_TRAINERS:
        _TRAINERS.popitem(last=False)
    return _TRAINERS[key]


def train_losses(model, X, y, idx, starts, *, key, make_optimizer, make_loss) -> np.ndarray:
    """Train the compiled, built ``model`` on batches ``idx[starts[i]:starts[i+1]]``; each step's loss.

    ``key`` identifies the optimiser/schedule and loss (what a cached template must share with ``model``);
    ``make_optimizer()`` / ``make_loss()`` build them for a new template.
    """
    return _trainer(model, X, y, key, make_optimizer, make_loss)(model, X, y, idx, starts)
