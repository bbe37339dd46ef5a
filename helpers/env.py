"""Lesson set-up and the environment doctor.

``setup()`` is the first code cell of every lesson.  It

* imports the frameworks in the only order that does not crash
  (torch and its Triton compiler first, then TensorFlow/Keras: see helpers/_importorder.py),
* pins thread counts that are fast for lesson-sized models (1 thread: a
  2-8-1 net trains ~7x faster than with 2 threads on this course's machines),
* silences TensorFlow's C++ and Python log noise so graded cells stay clean,
* seeds Python, NumPy, torch and Keras,
* sets a readable matplotlib style.

``doctor()`` prints what is installed, what the course expects, and for each
problem the command that fixes it.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import os
import platform
import random
import sys
import warnings
from dataclasses import dataclass, field

from . import _importorder

#: Versions the course was tested with (see requirements.lock).
EXPECTED = {
    "torch": "2.14.1",
    "torchvision": "0.29.1",
    "fastai": "2.8.12",
    "tensorflow-cpu": "2.21.0",
    "keras": "3.15.1",
    "nbgrader": "0.9.6",
    "jupyterlab": "4.6",
    "ipywidgets": "8.1",
}

FRAMEWORKS = ("fastai", "keras")

_state: dict = {"threads": None, "seed": None, "frameworks": (), "versions": {}}


def _quiet_tensorflow() -> None:
    _importorder.quiet_env()
    # Keras prints progress bars and absl warnings on stderr; graded cells must stay quiet.
    for name in ("tensorflow", "absl", "keras", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(tensorflow|keras|google|absl).*")
    warnings.filterwarnings("ignore", message=r".*(oneDNN|cpu_feature_guard|TensorFlow binary is optimized).*")
    # fastai/torchvision call the deprecated torch.jit.script at import: noise on stderr in graded cells
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated.*", category=FutureWarning)


def _set_torch(threads: int, seed: int | None) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable once per process, before parallel work
        pass
    if seed is not None:
        torch.manual_seed(seed)


def _set_tensorflow(threads: int, seed: int | None) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF's runtime is already initialised: keep what it has
        pass
    tf.get_logger().setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TF
        pass
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and every framework already loaded in this kernel."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)
    _state["seed"] = seed


def setup(seed: int = 0, threads: int = 1, frameworks=FRAMEWORKS, plots: bool = True, verbose: bool = True) -> None:
    """Prepare this kernel for a lesson. Call it once, in the first code cell.

    Returns ``None``, so a cell that ends with ``helpers.setup()`` shows only the one-line summary (the
    versions loaded are in :func:`loaded_versions` and in :func:`doctor`'s report).

    Also installs :mod:`helpers.hints` (tracebacks from unfinished exercises say which and what to do).

    Parameters
    ----------
    seed: seeds Python, NumPy, torch and Keras so a re-run gives the same numbers.
    threads: CPU threads per framework. 1 is fastest for the course's small models.
    frameworks: which of ``"fastai"`` and ``"keras"`` to load now (both by default).
    plots: apply the course's matplotlib style.
    verbose: print a one-line summary.
    """
    frameworks = tuple(frameworks)
    unknown = set(frameworks) - set(FRAMEWORKS)
    if unknown:
        raise ValueError(f"setup(frameworks=...) takes 'fastai' and/or 'keras', got {sorted(unknown)}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"setup(threads=...) needs a whole number >= 1, got {threads!r}")
    _quiet_tensorflow()
    if _importorder.unsafe_order():
        raise RuntimeError(
            "TensorFlow was imported before PyTorch's compiler (Triton, which torchvision loads) in this "
            "kernel; importing torchvision now would crash it.\nFix: Kernel → Restart Kernel, then run the notebook from the top "
            "(the first cell calls helpers.setup(), which imports them in the safe order)."
        )
    loaded = {}
    if "fastai" in frameworks or "keras" in frameworks:
        _importorder.torch_first()
        _set_torch(threads, seed)
        loaded["torch"] = sys.modules["torch"].__version__
    if "fastai" in frameworks:
        import fastai

        loaded["fastai"] = fastai.__version__
    if "keras" in frameworks:
        _set_tensorflow(threads, seed)
        loaded["tensorflow"] = sys.modules["tensorflow"].__version__
        loaded["keras"] = sys.modules["keras"].__version__
    seed_everything(seed)
    if plots:
        from .plots import use_style

        use_style()
    _state.update(threads=threads, seed=seed, frameworks=frameworks, versions=dict(loaded))
    from . import hints

    hints.install()  # unfinished exercises: say which, and what to do
    if verbose:
        parts = [f"{k} {v}" for k, v in loaded.items()]
        print(" · ".join(parts + [f"{threads} thread{'s' if threads != 1 else ''}", f"seed {seed}"]))


def loaded_versions() -> dict:
    """The framework versions the last :func:`setup` loaded, e.g. ``{"torch": "2.14.1", ...}`` (a copy)."""
    return dict(_state.get("versions") or {})


# --------------------------------------------------------------------------- doctor


@dataclass
class Report:
    rows: list = field(default_factory=list)  # (what, found, ok, fix)

    @property
    def problems(self):
        return [r for r in self.rows if not r[2]]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        width = max(len(r[0]) for r in self.rows) if self.rows else 10
        lines = []
        for what, found, ok, fix in self.rows:
            mark = "ok " if ok else "FIX"
            lines.append(f"[{mark}] {what:<{width}}  {found}")
            if not ok and fix:
                lines.append(f"       {'':<{width}}  → {fix}")
        verdict = "Everything the course needs is in place." if self.ok else (
            f"{len(self.problems)} problem(s): follow the → lines above, then restart the kernel."
        )
        return "\n".join(lines + ["", verdict])

    def _repr_pretty_(self, p, cycle):  # IPython display
        p.text(str(self))


def _version(dist: str):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _matches(found: str, expected: str) -> bool:
    return found == expected or found.startswith(expected + ".")


def doctor(print_report: bool = True) -> Report:
    """Check the install and explain how to fix what is wrong.

    Safe to call before or after :func:`setup`; it never imports TensorFlow before torch and Triton.
    """
    rep = Report()
    fix_install = "run `make lab` (or `make install`) from the course folder; it installs the pinned versions"
    py_ok = sys.version_info[:2] == (3, 11)
    rep.rows.append(("python", platform.python_version(), py_ok, "the course needs Python 3.11 (`python3.11 -m venv .venv`)"))
    venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    rep.rows.append(("virtual env", sys.prefix, venv, "start Jupyter with `make lab` so the kernel uses the course's .venv"))
    for dist, expected in EXPECTED.items():
        found = _version(dist)
        if dist == "tensorflow-cpu" and found is None:
            found = _version("tensorflow")
        ok = found is not None and _matches(found, expected)
        rep.rows.append((dist, found or "not installed", ok, f"expected {expected}: {fix_install}"))
    try:
        widgets_front = _version("jupyterlab_widgets") or _version("jupyterlab-widgets")
    except Exception:  # pragma: no cover
        widgets_front = None
    rep.rows.append((
        "widget front-end",
        f"jupyterlab_widgets {widgets_front}" if widgets_front else "missing",
        widgets_front is not None,
        "sliders would show as text: `pip install 'ipywidgets>=8.1,<8.2'` in the course .venv, then reload the browser tab",
    ))
    order_ok = not _importorder.unsafe_order()
    rep.rows.append((
        "import order",
        "safe" if order_ok else "TensorFlow loaded before Triton/torchvision",
        order_ok,
        "restart the kernel and run the first cell (helpers.setup()) before anything else",
    ))
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        rep.rows.append(("torch device", f"{dev}, {torch.get_num_threads()} thread(s)", True, ""))
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        devs = ", ".join(d.device_type for d in tf.config.list_physical_devices()) or "none"
        rep.rows.append(("tensorflow devices", devs, True, ""))
    try:
        import ipykernel  # noqa: F401

        in_kernel = "ipykernel" in sys.modules and hasattr(sys.modules.get("IPython"), "get_ipython") and (
            sys.modules["IPython"].get_ipython() is not None
        )
    except ImportError:
        in_kernel = False
    rep.rows.append(("running in", "a Jupyter kernel" if in_kernel else "plain Python", True, ""))
    if print_report:
        print(rep)
    return rep


def main() -> int:  # `python -m helpers.env`
    rep = doctor()
    return 0 if rep.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
