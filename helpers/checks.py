"""Student-facing checks for visible tests.

Each check raises :class:`CheckError` (an ``AssertionError``, so nbgrader and
pytest count it as a failed test) with a message a learner can act on::

    expected shape (4, 1), got (4,) — did you forget .reshape(-1, 1)?

and returns ``None`` (or prints a ✓ line with ``say=True``) when all is well.
Checks never return a value on purpose: nbgrader reads a number left as a
test cell's last expression as *partial credit*.  A failed check's traceback
shows the test's line and the message, not this module's frames
(``__tracebackhide__``, which IPython honours).

Records for the grader
----------------------
When the course's grader runs a notebook it sets the environment variable
:data:`RECORD_ENV` in the kernel.  Each check then also sends what it was
given to the grader, as one ``display_data`` output of the private MIME type
:data:`RECORD_MIME`: a JSON document of plain data only (numbers, strings,
lists; arrays as ``{"__array__": {"dtype", "shape", "data"}}``; no pickles,
no objects), e.g. ``{"kind": "close", "name": ..., "actual": ...,
"expected": ..., "params": {"rtol": ..., "atol": ...}, "line": 3, "top": true}``.
The grader (:mod:`grading.judge`) recomputes every verdict from those values
and compares them with the instructor's own run, so nothing the kernel says
about *passing* is believed.  A value that cannot be sent as plain data is a
failed check.  Outside the grader (JupyterLab, Validate, pytest) nothing is
sent.
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Callable, Iterable

import numpy as np

#: set to "1" by the grader in the kernel it runs; nothing is recorded otherwise
RECORD_ENV = "DLSBS_GRADER_RECORDS"
#: MIME type of the display_data output that carries one check record
RECORD_MIME = "application/x-dlsbs-check-record"
RECORD_VERSION = 1
#: arrays larger than this are not sent (a failed check: "too large to send")
MAX_VALUES = 1_000_000
_MAX_STR = 10_000
_MAX_DEPTH = 20


class CheckError(AssertionError):
    """A check failed; the message says what was expected and what was found."""

    def _render_traceback_(self):
        """IPython's traceback of a failed check, ending at the test's line (no frames of this module).

        ``__tracebackhide__`` hides the frames in between; IPython still shows the frame that raised,
        so the traceback is cut where it enters this module.
        """
        from IPython import get_ipython

        ip = get_ipython()
        tb = self.__traceback__
        t = tb
        while t is not None and t.tb_next is not None:
            if t.tb_next.tb_frame.f_code.co_filename == __file__:
                t.tb_next = None
                break
            t = t.tb_next
        return ip.InteractiveTB.structured_traceback(type(self), self, tb, tb_offset=1)


def _fail(name: str, msg: str, hint: str = ""):
    __tracebackhide__ = True
    text = f"{name}: {msg}" if name else msg
    if hint:
        text += f"\nHint: {hint}"
    raise CheckError(text)


def _ok(say: bool, name: str, what: str):
    if say:
        print(f"✓ {name + ' ' if name else ''}{what}")


def _as_array(value, name):
    __tracebackhide__ = True
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


# ----------------------------------------------------------------------------- records


class Unplain(ValueError):
    """A value that cannot be sent to the grader as plain data."""


def plain(value, _depth: int = 0):
    """``value`` as JSON-ready plain data, or :class:`Unplain`.

    Exact built-in types only (a subclass of ``int`` or ``list`` could lie about its value); NumPy
    scalars become Python numbers; arrays (NumPy, torch, TensorFlow) of numbers or booleans become
    ``{"__array__": {"dtype": ..., "shape": [...], "data": [flat values]}}``.
    """
    t = type(value)
    if value is None or t in (bool, int, float):
        return value
    if t is str:
        if len(value) > _MAX_STR:
            raise Unplain(f"a string of {len(value)} characters is too long to send")
        return value
    if _depth > _MAX_DEPTH:
        raise Unplain("nested too deeply")
    if t in (list, tuple):
        if len(value) > MAX_VALUES:
            raise Unplain(f"a {t.__name__} of {len(value)} items is too large to send")
        return [plain(v, _depth + 1) for v in value]
    if isinstance(value, np.generic) and t.__module__ == "numpy":
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            return plain(value.item(), _depth + 1)
        raise Unplain(f"a NumPy {t.__name__}")
    mod = t.__module__.split(".")[0]
    if isinstance(value, np.ndarray) or mod in ("torch", "tensorflow", "keras", "jax"):
        try:
            arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else
                             value.numpy() if mod != "numpy" and hasattr(value, "numpy") else value)
        except Exception as exc:
            raise Unplain(f"a {t.__name__} that is not an array of numbers ({type(exc).__name__})") from None
        return _plain_array(arr, t.__name__)
    raise Unplain(f"a {t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else f"a {t.__name__}")


def _plain_array(arr: np.ndarray, what: str = "array"):
    arr = np.asarray(arr)  # a subclass becomes a plain ndarray view of the same memory
    if type(arr) is not np.ndarray or arr.dtype.kind not in "biuf":
        raise Unplain(f"a {what} of dtype {arr.dtype} (only numbers and booleans can be sent)")
    if arr.size > MAX_VALUES:
        raise Unplain(f"a {what} of {arr.size} values is too large to send")
    return {"__array__": {"dtype": str(arr.dtype), "shape": [int(s) for s in arr.shape],
                          "data": arr.ravel().tolist()}}


def _unsent(exc: Exception) -> dict:
    return {"__unsent__": str(exc)[:300]}


def _site():
    """(line in the test cell, whether the check was called by the test cell's own code)."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename == __file__:
        f = f.f_back
    if f is None:
        return None, True
    caller = f
    try:
        from IPython import get_ipython

        ip = get_ipython()
        ns = ip.user_ns if ip is not None else None
    except Exception:
        ns = None
    cell = None
    g = caller
    while g is not None:
        if ns is not None and g.f_globals is ns and g.f_code.co_name == "<module>":
            cell = g  # the outermost frame running a cell's code
        g = g.f_back
    if cell is None:
        return caller.f_lineno, True
    top = caller.f_code.co_filename == cell.f_code.co_filename
    return (caller.f_lineno if top else cell.f_lineno), top


class _Record:
    """Collects one check's values and sends them to the grader when the check ends (pass or fail).

    Only the outermost check sends (``check_at_least`` → ``check_between`` is one record).
    """

    depth = 0

    def __init__(self, kind: str, name, **params):
        self.on = os.environ.get(RECORD_ENV) == "1"
        self.rec = {"v": RECORD_VERSION, "kind": kind, "name": name if type(name) is str else repr(name)[:200],
                    "params": {}}
        if self.on:
            for k, v in params.items():
                self.value(k, v, into="params")

    def value(self, key: str, v, into: str | None = None):
        if not self.on:
            return
        try:
            if type(v) is dict and "__unsent__" in v:
                enc = v
            else:
                enc = _plain_array(v) if type(v) is np.ndarray else plain(v)
        except Unplain as exc:
            enc = _unsent(exc)
        except Exception as exc:  # a value whose conversion itself fails
            enc = _unsent(Unplain(f"a value that could not be read ({type(exc).__name__})"))
        (self.rec[into] if into else self.rec)[key] = enc

    def __enter__(self):
        _Record.depth += 1
        return self

    def __exit__(self, etype, exc, tb):
        _Record.depth -= 1
        if not self.on or _Record.depth != 0:
            return False
        self.rec["passed_in_kernel"] = etype is None  # informational: the grader decides for itself
        if etype is not None and not issubclass(etype, CheckError):
            self.rec["raised"] = etype.__name__
        try:
            self.rec["line"], self.rec["top"] = _site()
            payload = json.dumps(self.rec, allow_nan=True)
            from IPython.display import publish_display_data

            publish_display_data({RECORD_MIME: payload})
        except Exception:
            pass  # a record that cannot be sent is missing, and a missing record fails the test
        return False


# ----------------------------------------------------------------------------- checks


def check_type(value, types, name: str = "result", say: bool = False):
    """``value`` is an instance of ``types``."""
    __tracebackhide__ = True
    types = types if isinstance(types, tuple) else (types,)
    with _Record("type", name, types=[_qualname(t) for t in types]) as r:
        r.value("actual", [_qualname(c) for c in type(value).__mro__])
        if not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            hint = "does your function end with `return`?" if value is None else ""
            _fail(name, f"expected a {wanted}, got {type(value).__name__}", hint)
    _ok(say, name, f"is a {type(value).__name__}")


def _qualname(t) -> str:
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', getattr(t, '__name__', '?'))}"


def check_shape(value, expected: tuple, name: str = "result", say: bool = False):
    """``value`` (array or tensor) has exactly the shape ``expected``. ``None`` in ``expected`` matches any size."""
    __tracebackhide__ = True
    expected = tuple(expected)
    with _Record("shape", name, shape=list(expected)) as r:
        if value is None:
            r.value("actual", None)
        arr = _as_array(value, name)
        r.value("actual", [int(s) for s in arr.shape])
        ok = len(arr.shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
        if not ok:
            hint = ""
            if int(np.prod(arr.shape)) == int(np.prod([e or 1 for e in expected])) and None not in expected:
                hint = f"same number of values: try .reshape{expected}"
            _fail(name, f"expected shape {expected}, got {tuple(arr.shape)}", hint)
    _ok(say, name, f"has shape {tuple(arr.shape)}")


def check_finite(value, name: str = "result", say: bool = False):
    """No NaN or infinity anywhere in ``value``."""
    __tracebackhide__ = True
    with _Record("finite", name) as r:
        if value is None:
            r.value("actual", None)
        arr = _as_array(value, name).astype(float)
        r.value("actual", arr)
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            _fail(name, f"expected only finite numbers, got {arr[where]} at index {where}",
                  "a very large or very small input may overflow: look for exp() of a big number")
    _ok(say, name, "is finite")


def _close(actual, expected, name, rtol, atol):
    """The comparison of :func:`check_close` (raises CheckError); returns (actual, expected) arrays."""
    __tracebackhide__ = True
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


def check_close(actual, expected, name: str = "result", rtol: float = 1e-5, atol: float = 1e-6, say: bool = False):
    """``actual`` matches ``expected`` (numbers or arrays) within tolerances, shape included."""
    __tracebackhide__ = True
    with _Record("close", name, rtol=rtol, atol=atol) as r:
        _record_array(r, "expected", expected, float_=True)
        _record_array(r, "actual", actual)
        _close(actual, expected, name, rtol, atol)
    _ok(say, name, "matches the expected values")


def _record_array(r: _Record, key: str, value, float_: bool = False):
    if not r.on:
        return
    try:
        if value is None:
            r.value(key, None)
            return
        if hasattr(value, "detach") or (hasattr(value, "numpy") and not isinstance(value, np.ndarray)):
            r.value(key, value)
            return
        arr = np.asarray(value, dtype=float) if float_ else np.asarray(value)
        r.value(key, arr if type(arr) is np.ndarray else value)
    except Exception as exc:
        r.rec[key] = _unsent(Unplain(f"not an array of numbers ({type(exc).__name__})"))


def check_values(fn: Callable, cases: Iterable, name: str | None = None, rtol=1e-5, atol=1e-6, say: bool = False):
    """Call ``fn(x)`` for each ``(x, expected)`` pair and compare the results."""
    __tracebackhide__ = True
    name = name or getattr(fn, "__name__", "function")
    with _Record("values", name, rtol=rtol, atol=atol) as r:
        got_all, exp_all = [], []
        r.rec["actual"], r.rec["expected"] = got_all, exp_all
        for x, expected in cases:
            try:
                got = fn(x)
            except NotImplementedError:
                _fail(name, "is not implemented yet", "replace `raise NotImplementedError()` with your code")
            sub = _Record("close", name)
            _record_array(sub, "expected", expected, float_=True)
            _record_array(sub, "actual", got)
            got_all.append(sub.rec.get("actual"))
            exp_all.append(sub.rec.get("expected"))
            _close(got, expected, f"{name}({_short(x)})", rtol, atol)
    _ok(say, name, "gives the expected values")


def check_between(value, low, high, name: str = "result", say: bool = False):
    """A number lies in ``[low, high]``."""
    __tracebackhide__ = True
    with _Record("between", name, low=_num(low), high=_num(high)) as r:
        try:
            v = float(value)
        except (TypeError, ValueError):
            r.value("actual", _unsent(Unplain(f"not a number (a {type(value).__name__})")))
            _fail(name, f"expected a number, got {type(value).__name__}")
        r.value("actual", v)
        if math.isnan(v) or not low <= v <= high:
            _fail(name, f"expected a value between {low} and {high}, got {v:.6g}")
    _ok(say, name, f"= {v:.4g} is in [{low}, {high}]")


def _num(x):
    try:
        return float(x)
    except Exception:
        return None


def check_at_least(value, low, name: str = "result", say: bool = False):
    """A number (an accuracy, say) is at least ``low``."""
    __tracebackhide__ = True
    check_between(value, low, math.inf, name=name, say=say)


def check_true(condition, message: str, name: str = "", hint: str = "", say: bool = False):
    """A yes/no property holds (use in place of a bare ``assert`` in a test cell).

    ``message`` says what was expected, e.g. ``"expected the learning rate to change"``.
    ``condition`` must be a real ``bool`` (or NumPy bool): anything else is a failed check.
    """
    __tracebackhide__ = True
    with _Record("true", name, message=message if type(message) is str else repr(message)[:500],
                 hint=hint if type(hint) is str else "") as r:
        if isinstance(condition, np.bool_):
            condition = bool(condition)
        r.value("actual", condition if type(condition) is bool else
                _unsent(Unplain(f"not True/False (a {type(condition).__name__})")))
        if type(condition) is not bool:
            _fail(name, f"{message} (the test got a {type(condition).__name__}, not True/False)")
        if not condition:
            _fail(name, message, hint)
    _ok(say, name, "holds")


def _plain_eq(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(_plain_eq(x) for x in v)
    return v


def check_equal(actual, expected, name: str = "result", hint: str = "", say: bool = False):
    """``actual == expected`` exactly, for ints, strings, bools and tuples/lists of them."""
    __tracebackhide__ = True
    with _Record("equal", name, hint=hint if type(hint) is str else "") as r:
        r.value("expected", expected)
        r.value("actual", actual)
        a, e = _plain_eq(actual), _plain_eq(expected)
        if type(a) is not type(e) and not (isinstance(a, (int, float)) and isinstance(e, (int, float))
                                           and not isinstance(a, bool) and not isinstance(e, bool)):
            _fail(name, f"expected {e!r} (a {type(e).__name__}), got {a!r} (a {type(a).__name__})", hint)
        if a != e:
            _fail(name, f"expected {e!r}, got {a!r}", hint)
    _ok(say, name, f"= {a!r}")


def check_param_count(model, expected: int, name: str = "model", say: bool = False):
    """A torch or Keras model has exactly ``expected`` trainable parameters."""
    __tracebackhide__ = True
    with _Record("param_count", name) as r:
        r.value("expected", expected if type(expected) is int else _int_or(expected))
        got = count_params(model)
        r.value("actual", got)
        if got != expected:
            _fail(name, f"expected {expected:,} trainable parameters, got {got:,}",
                  "check the layer sizes and whether each layer has a bias")
    _ok(say, name, f"has {got:,} parameters")


def _int_or(x):
    try:
        return int(x) if float(x) == int(x) else float(x)
    except Exception:
        return _unsent(Unplain(f"not a number (a {type(x).__name__})"))


def count_params(model) -> int:
    """Trainable parameters of a torch module, fastai Learner or Keras model."""
    __tracebackhide__ = True
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
