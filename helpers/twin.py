"""The twin interface: what :mod:`helpers.fastai_side` and :mod:`helpers.keras_side` both provide.

:class:`Twin` names every function the two modules export, with its signature; both modules are
instances of it (``isinstance(helpers.fastai_side, Twin)``; ``tests/test_helpers.py`` also checks the
signatures).  :class:`TwinData` is what both ``dataloaders`` return: fastai's is a real fastai
``DataLoaders`` (pass it to ``Learner``), Keras's a ``Loaders`` tuple of arrays, and both expose the
attributes documented there.  :data:`ACTIVATIONS` is the one list of activation names both ``mlp``
functions accept, and :func:`activation_table` holds every per-framework activation table to it.

The fast training paths (``helpers/_fast_fastai.py``, ``helpers/_fast_keras.py``) use framework
internals, so each is switched on only for the framework versions its equality tests ran on
(``tests/test_training_paths.py``); elsewhere, or with ``DLSBS_FAST_PATHS=0`` in the environment,
the twins train through the stock public API (fastai ``Learner.fit``, Keras ``compile`` + ``fit``)
and say so once, on stdout.
"""
from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

#: The one list of activation names: what both twins' ``mlp`` accept, and the keys of every table that says
#: what an activation is somewhere (:data:`helpers.fastai_side.LAYER_ACTIVATIONS` for PyTorch,
#: :data:`helpers.keras_side.LAYER_ACTIVATIONS` for Keras/TensorFlow, NumPy's in
#: :mod:`helpers.lessons.l04_xor`, lesson 02's labels and colours).  Classic ones first, then modern ones, then
#: none ("linear").  Each table is built with :func:`activation_table`, which holds it to this list.
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu", "silu", "linear")

#: leaky ReLU's slope for negative inputs, the same everywhere (PyTorch's default; Keras's default is 0.2)
LEAKY_SLOPE = 0.01


def check_activation(act: str) -> None:
    """Raise a ValueError that lists the choices if ``act`` is not one of :data:`ACTIVATIONS`."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of {sorted(ACTIVATIONS)}")


def activation_table(table: dict, *, partial: bool = False, extra: tuple = ()) -> dict:
    """``table`` (activation name -> what it is in one framework or for one purpose), held to :data:`ACTIVATIONS`.

    Every key must be a name of :data:`ACTIVATIONS` or of ``extra`` (names only this table has, e.g. NumPy's
    threshold ``"step"`` unit), and every name of :data:`ACTIVATIONS` must be there unless ``partial``.
    Returns a new dict in that order.  Building each table through this function at import time means a
    name added to, or misspelt in, one table fails at once instead of in a lesson.
    """
    known = (*ACTIVATIONS, *extra)
    unknown = sorted(set(table) - set(known))
    missing = [] if partial else [a for a in ACTIVATIONS if a not in table]
    if unknown or missing:
        raise ValueError(f"an activation table must be keyed by helpers.twin.ACTIVATIONS {ACTIVATIONS}"
                         f"{' + ' + str(tuple(extra)) if extra else ''}: unknown {unknown}, missing {missing}")
    return {name: table[name] for name in known if name in table}

#: set to 0 (or false/off/no) to train through the stock framework API even on the tested versions
FAST_PATHS_ENV = "DLSBS_FAST_PATHS"


@runtime_checkable
class TwinData(Protocol):
    """What ``dataloaders(...)`` returns on both sides.

    * ``train`` / ``valid`` — the training and validation data in the framework's own form: fastai
      ``DataLoader`` objects, or Keras ``(X, y)`` NumPy arrays;
    * ``bs`` — the training batch size; ``shuffle`` — whether training batches are shuffled;
    * ``seed`` — the seed of the batch order of ``train(..., steps=N)``
      (:func:`helpers.data.step_order`): the same seed gives both twins the same batches.
    """

    train: Any
    valid: Any
    bs: int
    shuffle: bool
    seed: int


@runtime_checkable
class Twin(Protocol):
    """The functions both twin modules export (``__all__``), with the same signatures."""

    FRAMEWORK: str
    ACTIVATIONS: tuple

    def mlp(self, sizes, act: str = "relu", seed: int | None = None): ...

    def count_params(self, model) -> int: ...

    def dataloaders(self, X, y, X_valid=None, y_valid=None, bs: int = 64, shuffle: bool = True,
                    seed: int = 0) -> TwinData: ...

    def loss_for(self, dls, loss: str | None = None): ...

    def learner(self, model, dls, lr: float = 1e-2, loss: str | None = None, opt: str = "adam"): ...

    def train(self, model, dls, *, epochs: int | None = None, steps: int | None = None, lr: float = 1e-2,
              loss: str | None = None, opt: str = "adam", one_cycle: bool = False, label: str = ""): ...

    def predict(self, model, X): ...

    def predict_proba(self, model, X): ...

    def evaluate(self, model, dls) -> dict: ...

    def get_weights(self, model) -> list: ...

    def set_weights(self, model, weights) -> None: ...

    def grad_norms(self, model, X, y, loss: str | None = None) -> list: ...


#: the names of :class:`Twin`'s functions, in the order of the twins' ``__all__``
FUNCTIONS = ["mlp", "count_params", "dataloaders", "loss_for", "learner", "train", "predict", "predict_proba",
             "evaluate", "get_weights", "set_weights", "grad_norms"]

_NOTICED: set = set()


def _release(version: str) -> str:
    """``"2.14.1+cu130"`` -> ``"2.14.1"`` (a build tag does not change the code)."""
    return str(version).split("+")[0]


def fast_path_allowed(side: str, tested: dict, installed: dict) -> bool:
    """May ``side``'s fast path run?  Only when every installed version equals the tested one and
    :data:`FAST_PATHS_ENV` does not switch it off.  Otherwise print one line (once per side and
    process, on stdout: graded cells must keep stderr empty) and return False."""
    if os.environ.get(FAST_PATHS_ENV, "1").strip().lower() in ("0", "false", "off", "no"):
        reason = f"{FAST_PATHS_ENV}={os.environ[FAST_PATHS_ENV]}"
    else:
        wrong = {k: v for k, v in installed.items() if _release(v) != tested.get(k)}
        if not wrong:
            return True
        reason = "untested " + ", ".join(f"{k} {v} (tested: {tested.get(k)})" for k, v in wrong.items())
    if side not in _NOTICED:
        _NOTICED.add(side)
        print(f"helpers.{side}_side: {reason}; training with the stock {side} API (same math, slower).")
    return False


__all__ = ["ACTIVATIONS", "FAST_PATHS_ENV", "FUNCTIONS", "LEAKY_SLOPE", "Twin", "TwinData", "activation_table",
           "check_activation", "fast_path_allowed"]
