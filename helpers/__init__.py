"""Helpers for *Deep Learning, Side by Side*.

Everything that is not the lesson's point lives here: data, plots, widgets,
the fastai/Keras twin modules, side-by-side comparison, environment set-up and
student-facing checks.

Importing this package is cheap: it imports neither torch nor TensorFlow.
Submodules load on first use (``helpers.data``, ``helpers.plots`` ...), and the
two framework twins are ``helpers.fastai_side`` and ``helpers.keras_side``.

It does one thing at import time: it installs a guard so that TensorFlow can
never be imported before torchvision in this process (that order segfaults
with the pinned wheels; see docs in ``helpers/env.py``).
"""
from __future__ import annotations

import importlib

from . import _importorder

_importorder.install()

__all__ = [
    "setup",
    "doctor",
    "checks",
    "compare",
    "data",
    "env",
    "hints",
    "fastai_side",
    "keras_side",
    "plots",
    "widgets",
    "activations",
    "descent",
    "perceptron",
    "loops",
    "deepfake",
    "backprop",
    "ravine",
    "generalisation",
]

_SUBMODULES = {"checks", "compare", "data", "env", "hints", "fastai_side", "keras_side", "plots", "widgets",
               # lesson-specific helpers
               "deepfake", "activations", "backprop", "descent", "ravine", "perceptron", "loops", "generalisation"}


def setup(*args, **kwargs):
    """Prepare a lesson kernel: see :func:`helpers.env.setup`."""
    from .env import setup as _setup

    return _setup(*args, **kwargs)


def doctor(*args, **kwargs):
    """Print an environment report: see :func:`helpers.env.doctor`."""
    from .env import doctor as _doctor

    return _doctor(*args, **kwargs)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
