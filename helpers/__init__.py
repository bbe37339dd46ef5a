"""Helpers for *Deep Learning, Side by Side*.

Everything that is not the lesson's point lives here: data, plots, widgets,
the fastai/Keras twin modules, side-by-side comparison, environment set-up and
student-facing checks.

Importing this package is cheap: it imports neither torch nor TensorFlow.
Submodules load on first use (``helpers.data``, ``helpers.plots`` ...), and the
two framework twins are ``helpers.fastai_side`` and ``helpers.keras_side``.  The
lesson-specific modules live in :mod:`helpers.lessons` (``l04_xor`` for lesson 04 ...).

Old names keep working: the lesson modules used to sit here (``helpers.perceptron``
...), and a notebook saved then still imports them.  :data:`MOVED` maps each old
name to its module in :mod:`helpers.lessons`; a meta-path finder (:class:`_Moved`)
makes ``import helpers.perceptron``, ``from helpers.perceptron import step``,
``from helpers import perceptron`` and ``helpers.perceptron`` all give the *same
module object* as ``helpers.lessons.l04_xor`` (one module in ``sys.modules`` under
both names, so monkeypatching either is seen through both).  Nothing is imported
until an old name is used.

It does one thing at import time: it installs a guard so that TensorFlow can
never be imported before torchvision in this process (that order segfaults
with the pinned wheels; see docs in ``helpers/env.py``).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from . import _importorder

_importorder.install()

#: old module name (when the lesson modules sat in ``helpers/``) -> its module in :mod:`helpers.lessons`
MOVED = {
    "deepfake": "l01_deepfake",
    "activations": "l02_activations",
    "backprop": "l02_backprop",
    "descent": "l03_descent",
    "ravine": "l03_ravine",
    "perceptron": "l04_xor",
    "loops": "l05_loops",
    "generalisation": "l06_generalisation",
}


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``helpers.<old name>`` of :data:`MOVED`: its loader returns the new module itself."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.rpartition(".")
        if package != __name__ or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.lessons.{MOVED[spec.name.rpartition('.')[2]]}")
        spec.loader_state = module.__spec__  # importlib sets module.__spec__ = spec next: undone below
        return module

    def exec_module(self, module):
        # already executed under its new name; importlib then stores it under the old name as well
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _Moved) for f in sys.meta_path):
    sys.meta_path.insert(0, _Moved())

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
    "lessons",
]

_SUBMODULES = {"checks", "compare", "data", "env", "hints", "fastai_side", "keras_side", "plots", "widgets",
               "twin", "lessons"}


def setup(*args, **kwargs):
    """Prepare a lesson kernel: see :func:`helpers.env.setup`."""
    from .env import setup as _setup

    return _setup(*args, **kwargs)


def doctor(*args, **kwargs):
    """Print an environment report: see :func:`helpers.env.doctor`."""
    from .env import doctor as _doctor

    return _doctor(*args, **kwargs)


def __getattr__(name: str):
    if name in _SUBMODULES or name in MOVED:  # an old name goes through _Moved, to the same module
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)  # the old names work but are not listed
