"""The lesson-specific helpers, one module per lesson topic, named ``lNN_<what>`` after their lesson.

======  =========================================  =============================================================
Lesson  Module                                     What it is for
======  =========================================  =============================================================
01      :mod:`helpers.lessons.l01_deepfake`        the deep-fake demo: codes per digit, real next to fake
02      :mod:`helpers.lessons.l02_activations`     activation curves, dead units, gradient norms, cost; figures
02      :mod:`helpers.lessons.l02_backprop`        the 2-2-1 network's computational graph with its gradients
03      :mod:`helpers.lessons.l03_descent`         loss surfaces in NumPy: contours, paths, where a run diverges
03      :mod:`helpers.lessons.l03_ravine`          momentum on a narrow valley: steps to a tolerance, the widget
04      :mod:`helpers.lessons.l04_xor`             threshold units, NumPy forward passes, decision lines for XOR
05      :mod:`helpers.lessons.l05_loops`           measuring training-loop code (lines, concepts), its versions
06      :mod:`helpers.lessons.l06_generalisation`  learning curves of fastai and Keras side by side
======  =========================================  =============================================================

A lesson imports its modules in its set-up cell, ``from helpers.lessons import l04_xor``, and may import
the few names its exercises call directly, ``from helpers.lessons.l04_xor import forward, step``.
Everything generic (data, plots, widgets, checks, compare, the fastai/Keras twins) stays in
:mod:`helpers`.

Importing this package imports none of the modules (``l02_activations`` imports torch): each loads on
first use.  The names these modules had before they moved here (``helpers.perceptron``,
``helpers.activations``, ...) still import the same module objects: see :data:`helpers.MOVED`.
"""
from __future__ import annotations

import importlib

#: lesson number -> its modules, in the order the lesson uses them (the table above)
BY_LESSON = {
    "01": ("l01_deepfake",),
    "02": ("l02_activations", "l02_backprop"),
    "03": ("l03_descent", "l03_ravine"),
    "04": ("l04_xor",),
    "05": ("l05_loops",),
    "06": ("l06_generalisation",),
}

__all__ = [name for names in BY_LESSON.values() for name in names]


def __getattr__(name: str):
    if name in __all__:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'helpers.lessons' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
