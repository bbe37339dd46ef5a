"""Make the crash-free import order the only order reachable.

With the pinned wheels, ``import tensorflow`` *before* ``import torchvision``
kills the process with SIGSEGV (measured; tests/test_helpers.py::test_unsafe_order_without_helpers_is_real
shows it still does).  The library that crashes is Triton, PyTorch's compiler (its native
library, loaded by ``torch._dynamo``, which torchvision, ``torch.compile`` and ``torch._inductor``
import): ``import tensorflow`` then ``import triton`` segfaults too.  After ``import helpers`` a
meta-path finder sees the first attempt to import ``tensorflow`` or ``keras`` and imports ``torch``
and torchvision first (which brings Triton through ``torch._dynamo``).  Importing only Triton would
be ≈3 s faster, but then ``torch._dynamo`` is imported later, by whichever cell first needs it, and it patches
``torch.manual_seed`` as it loads: the grader's kernel probes saw that patch in a different cell for
an untouched submission than for the solution and flagged it (CI, 2026-12-01).  Importing it up
front keeps the kernel the same whatever the student's cells do.  It never imports anything itself
until that moment, so ``import helpers`` stays light.
"""
from __future__ import annotations

import importlib.util
import os
import sys

_TRIGGERS = ("tensorflow", "keras", "tf_keras")


class _TorchFirst:
    """A meta-path finder that only reorders imports; it never finds modules."""

    _busy = False

    def find_spec(self, fullname, path=None, target=None):  # noqa: D401 - importlib protocol
        if self._busy or fullname.partition(".")[0] not in _TRIGGERS:
            return None
        if "torchvision" in sys.modules:
            uninstall()
            return None
        type(self)._busy = True
        try:
            torch_first()
        finally:
            type(self)._busy = False
            uninstall()
        return None


_FINDER = _TorchFirst()

#: Environment defaults that keep TensorFlow quiet and Keras on TensorFlow (must precede their import).
QUIET_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def quiet_env(environ=None) -> None:
    """Apply :data:`QUIET_ENV` to ``environ`` (default: this process) without overriding the user's choices."""
    environ = os.environ if environ is None else environ
    for key, value in QUIET_ENV.items():
        environ.setdefault(key, value)


def torch_first() -> bool:
    """Import torch and torchvision now if they are installed. Returns True if they are loaded."""
    quiet_env()
    if "torchvision" in sys.modules:
        return True
    if "tensorflow" in sys.modules:
        return False
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        return False
    import warnings

    with warnings.catch_warnings():
        # torchvision's import calls the deprecated torch.jit.script: noise, not a learner's problem
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        import torch  # noqa: F401
        import torchvision  # noqa: F401

    return True


def install() -> None:
    quiet_env()
    if "torchvision" in sys.modules or "tensorflow" in sys.modules:
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    try:
        sys.meta_path.remove(_FINDER)
    except ValueError:
        pass


def unsafe_order() -> bool:
    """True if TensorFlow was loaded before torchvision (and so Triton) in this process."""
    return "tensorflow" in sys.modules and "torchvision" not in sys.modules
