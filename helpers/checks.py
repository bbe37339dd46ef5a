"""Student-facing checks for visible tests.

Each check raises :class:`CheckError` (an ``AssertionError``, so nbgrader and
pytest count it as a failed test) with a message a learner can act on::

    expected shape (4, 1), got (4,) — did you forget .reshape(-1, 1)?

and returns ``None`` (or prints a ✓ line with ``say=True``) when all is well.
Checks never return a value on purpose: nbgrader reads a number left as a
test cell's last expression as *partial credit*.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np


class CheckError(AssertionError):
    """A check failed; the message says what was expected and what was found."""


def _fail(name: str, msg: str, hint: str = ""):
    text = f"{name}: {msg}" if name else msg
    if hint:
        text += f"\nHint: {hint}"
    raise CheckError(text)


def _ok(say: bool, name: str, what: str):
    if say:
        print(f"✓ {name + ' ' if name else ''}{what}")


def _as_array(value, name):
    if value is None:
        _fail(name, "expected an array, got None", "does your function end with `return`?")
    try:
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
            value = value.numpy()
        return np.asarray(value)
    except Exception:  # pragma: no cover - defensive
        _fail(name, f"expected an array, got {type(value).__name__}")


def check_type(value, types, name: str = "result", say: bool = False):
    """``value`` is an instance of ``types``."""
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        hint = "does your function end with `return`?" if value is None else ""
        _fail(name, f"expected a {wanted}, got {type(value).__name__}", hint)
    _ok(say, name, f"is a {type(value).__name__}")


def check_shape(value, expected: tuple, name: str = "result", say: bool = False):
    """``value`` (array or tensor) has exactly the shape ``expected``. ``None`` in ``expected`` matches any size."""
    arr = _as_array(value, name)
    expected = tuple(expected)
    ok = len(arr.shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        hint = ""
        if int(np.prod(arr.shape)) == int(np.prod([e or 1 for e in expected])) and None not in expected:
            hint = f"same number of values: try .reshape{expected}"
        _fail(name, f"expected shape {expected}, got {tuple(arr.shape)}", hint)
    _ok(say, name, f"has shape {tuple(arr.shape)}")


def check_finite(value, name: str = "result", say: bool = False):
    """No NaN or infinity anywhere in ``value``."""
    arr = _as_array(value, name).astype(float)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(name, f"expected only finite numbers, got {arr[where]} at index {where}",
              "a very large or very small input may overflow: look for exp() of a big number")
    _ok(say, name, "is finite")


def check_close(actual, expected, name: str = "result", rtol: float = 1e-5, atol: float = 1e-6, say: bool = False):
    """``actual`` matches ``expected`` (numbers or arrays) within tolerances, shape included."""
    exp = np.asarray(expected, dtype=float)
    act = _as_array(actual, name)
    if act.shape != exp.shape:
        if act.size == exp.size:
            _fail(name, f"expected shape {exp.shape}, got {act.shape}", f"same values? try .reshape{exp.shape}")
        _fail(name, f"expected shape {exp.shape}, got {act.shape}")
    act = act.astype(float)
    close = np.isclose(act, exp, rtol=rtol, atol=atol, equal_nan=False)
    if not close.all():
        if exp.ndim == 0:
            _fail(name, f"expected {exp.item():.6g}, got {act.item():.6g}")
        idx = tuple(int(i) for i in np.argwhere(~close)[0])
        n_bad = int((~close).sum())
        _fail(name, f"expected {exp[idx]:.6g} at index {idx}, got {act[idx]:.6g} "
                    f"({n_bad} of {close.size} values differ)")
    _ok(say, name, "matches the expected values")


def check_values(fn: Callable, cases: Iterable, name: str | None = None, rtol=1e-5, atol=1e-6, say: bool = False):
    """Call ``fn(x)`` for each ``(x, expected)`` pair and compare the results."""
    name = name or getattr(fn, "__name__", "function")
    for x, expected in cases:
        try:
            got = fn(x)
        except NotImplementedError:
            _fail(name, "is not implemented yet", "replace `raise NotImplementedError()` with your code")
        check_close(got, expected, name=f"{name}({_short(x)})", rtol=rtol, atol=atol)
    _ok(say, name, "gives the expected values")


def check_between(value, low, high, name: str = "result", say: bool = False):
    """A number lies in ``[low, high]``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        _fail(name, f"expected a number, got {type(value).__name__}")
    if math.isnan(v) or not low <= v <= high:
        _fail(name, f"expected a value between {low} and {high}, got {v:.6g}")
    _ok(say, name, f"= {v:.4g} is in [{low}, {high}]")


def check_at_least(value, low, name: str = "result", say: bool = False):
    """A number (an accuracy, say) is at least ``low``."""
    check_between(value, low, math.inf, name=name, say=say)


def check_true(condition, message: str, name: str = "", hint: str = "", say: bool = False):
    """A yes/no property holds (use in place of a bare ``assert`` in a test cell).

    ``message`` says what was expected, e.g. ``"expected the learning rate to change"``.
    ``condition`` must be a real ``bool`` (or NumPy bool): anything else is a failed check.
    """
    if isinstance(condition, np.bool_):
        condition = bool(condition)
    if type(condition) is not bool:
        _fail(name, f"{message} (the test got a {type(condition).__name__}, not True/False)")
    if not condition:
        _fail(name, message, hint)
    _ok(say, name, "holds")


def check_equal(actual, expected, name: str = "result", hint: str = "", say: bool = False):
    """``actual == expected`` exactly, for ints, strings, bools and tuples/lists of them."""
    def plain(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, (list, tuple)):
            return tuple(plain(x) for x in v)
        return v
    a, e = plain(actual), plain(expected)
    if type(a) is not type(e) and not (isinstance(a, (int, float)) and isinstance(e, (int, float))
                                       and not isinstance(a, bool) and not isinstance(e, bool)):
        _fail(name, f"expected {e!r} (a {type(e).__name__}), got {a!r} (a {type(a).__name__})", hint)
    if a != e:
        _fail(name, f"expected {e!r}, got {a!r}", hint)
    _ok(say, name, f"= {a!r}")


def check_param_count(model, expected: int, name: str = "model", say: bool = False):
    """A torch or Keras model has exactly ``expected`` trainable parameters."""
    got = count_params(model)
    if got != expected:
        _fail(name, f"expected {expected:,} trainable parameters, got {got:,}",
              "check the layer sizes and whether each layer has a bias")
    _ok(say, name, f"has {got:,} parameters")


def count_params(model) -> int:
    """Trainable parameters of a torch module, fastai Learner or Keras model."""
    if hasattr(model, "model") and hasattr(model, "dls"):  # fastai Learner
        model = model.model
    if hasattr(model, "parameters") and callable(model.parameters):
        return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    if hasattr(model, "trainable_weights"):
        return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    raise CheckError(f"expected a torch, fastai or Keras model, got {type(model).__name__}")


def _short(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return f"{arr.item():g}"
    return f"array of shape {arr.shape}"
