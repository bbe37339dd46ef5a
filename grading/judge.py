"""Judging: the grader's own verdict on every test cell, from plain data (no trust in the kernel).

The student's kernel only computes.  Every ``helpers.checks`` call in a test cell sends the values it
was given to the grader as a *record* (see :mod:`helpers.checks`): its kind (``close``, ``shape``,
``type``, ``finite``, ``between``, ``true``, ``equal``, ``param_count``, ``values``), the name, the
parameters (tolerances, bounds, the expected shape or types), the ``actual`` value and, for checks
that have one, the ``expected`` value.  Nothing the kernel says about passing is believed: the judge

1. takes the **reference run** (the instructor's solution through the same test cells in the same
   sandbox) as the list of records each test cell must produce, in order;
2. takes every parameter — tolerances, bounds, expected shapes and types, the check's name and hint —
   from the reference's record, never from the student's;
3. takes the ``expected`` value from the student's record only when it equals the reference's (within
   the reference's tolerance), or when the check's ``expected`` argument is **computed from the
   student's own values**: the test cell's source (the instructor's, parsed here) names a variable
   assigned in the test cell itself, or a name an answer cell defines.  Such a value (say, two of the
   student's models that must agree) is compared as sent, after the plain-data round trip.  Any other
   difference — a literal, or a value computed only from the lesson's own variables — means an input
   of the test was changed, and the check fails;
4. recomputes the verdict from the values (NumPy, in the grader's process).  A value that could not be
   sent as plain data (an object, an object array, a string or array too large) fails its check.

A test cell scores its points only if the number and kinds of its records match the reference's, every
record passes, and the cell finished without an error (a bare ``assert`` or an exception can only fail
a cell, never pass it: a test cell with no checks at all cannot be judged, and the reference run
refuses it).  Records sent from inside other code that the test calls (an answer that calls
``helpers.checks`` itself) are not the test's own (``top`` is false) and are ignored.

Feedback shows this module's verdict and the message it writes from the values, never text produced in
the kernel.
"""
from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass

import numpy as np

from helpers.checks import RECORD_MIME

#: check functions whose second argument (or keyword) is an expected value: (kind, position, keyword)
EXPECTED_ARG = {"check_close": (1, "expected"), "check_equal": (1, "expected"),
                "check_param_count": (1, "expected"), "check_values": (1, "cases")}
KINDS = {"close", "shape", "type", "finite", "between", "true", "equal", "param_count", "values"}


class Unsent:
    """A value the kernel could not send as plain data."""

    def __init__(self, why: str):
        self.why = why


# ----------------------------------------------------------------------------- records from outputs


def split_records(outputs: list) -> tuple[list[dict], list]:
    """(check records, the other outputs) of one cell's outputs, in order."""
    records, rest = [], []
    for o in outputs:
        data = o.get("data") if isinstance(o, dict) and o.get("output_type") == "display_data" else None
        if isinstance(data, dict) and RECORD_MIME in data:
            records.append(_parse(data[RECORD_MIME]))
        else:
            rest.append(o)
    return records, rest


def _parse(payload) -> dict:
    try:
        rec = json.loads(payload) if isinstance(payload, str) else None
    except (ValueError, RecursionError):
        rec = None
    if not isinstance(rec, dict) or rec.get("kind") not in KINDS:
        return {"kind": "garbled", "top": True, "line": None, "name": "", "params": {}}
    if not isinstance(rec.get("params"), dict):
        rec["params"] = {}
    rec["top"] = rec.get("top") is not False
    return rec


def top_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("top", True)]


def decode(v):
    """Plain data → Python/NumPy values (arrays as ndarrays, unsent values as :class:`Unsent`)."""
    if isinstance(v, dict):
        if "__unsent__" in v:
            return Unsent(str(v["__unsent__"])[:300])
        if "__array__" in v:
            a = v["__array__"]
            try:
                dtype = np.dtype(a["dtype"])
                if dtype.kind not in "biuf":
                    raise ValueError(dtype)
                shape = tuple(int(s) for s in a["shape"])
                arr = np.array(a["data"], dtype=dtype)
                return arr.reshape(shape)
            except Exception:
                return Unsent("a malformed array")
        return Unsent("an object")
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v


# ----------------------------------------------------------------------------- the test's source


def analyse(source: str, answer_names: set) -> dict:
    """``{line: derived}`` for each check call in a test cell: ``derived`` when the call's expected value
    is computed from names the test cell assigns or an answer cell defines (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    local = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            local.add(n.id)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            local |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            local.add(n.name)
    student = local | set(answer_names)
    out: dict = {}
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        fname = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", None)
        if fname not in EXPECTED_ARG:
            continue
        pos, kw = EXPECTED_ARG[fname]
        arg = n.args[pos] if len(n.args) > pos else next((k.value for k in n.keywords if k.arg == kw), None)
        derived = arg is not None and any(isinstance(x, ast.Name) and x.id in student for x in ast.walk(arg))
        for line in range(n.lineno, (n.end_lineno or n.lineno) + 1):
            out[line] = out.get(line, False) or derived
    return out


def defined_names(source: str) -> set:
    """Names an answer cell (the instructor's solution) binds at its top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(re.findall(r"^\s*def\s+(\w+)", source, re.M))
    out = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        for t in ast.walk(n) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)) else []:
            if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store):
                out.add(t.id)
    return out


# ----------------------------------------------------------------------------- one record


@dataclass
class Verdict:
    passed: bool
    message: str


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, np.ndarray):
        return f"an array of shape {tuple(x.shape)}"
    if isinstance(x, str):
        return repr(x[:200])
    return repr(x)[:200]


def _array(v) -> np.ndarray | None:
    if isinstance(v, Unsent) or v is None:
        return None
    try:
        arr = np.asarray(v, dtype=float) if not isinstance(v, np.ndarray) else v.astype(float)
    except (TypeError, ValueError):
        return None
    return arr


def _close_verdict(name: str, act, exp, rtol: float, atol: float) -> Verdict:
    if isinstance(act, Unsent):
        return Verdict(False, f"{name}: the value could not be sent to the grader as plain data ({act.why})")
    a, e = _array(act), _array(exp)
    if a is None:
        return Verdict(False, f"{name}: expected an array of numbers, got {'None' if act is None else 'something else'}")
    if e is None:
        return Verdict(False, f"{name}: the expected value is not an array of numbers")
    if a.shape != e.shape:
        return Verdict(False, f"{name}: expected shape {e.shape}, got {a.shape}")
    close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=False)
    if close.all():
        return Verdict(True, f"{name}: matches the expected values")
    if e.ndim == 0:
        return Verdict(False, f"{name}: expected {e.item():.6g}, got {a.item():.6g}")
    idx = tuple(int(i) for i in np.argwhere(~close)[0])
    return Verdict(False, f"{name}: expected {e[idx]:.6g} at index {idx}, got {a[idx]:.6g} "
                          f"({int((~close).sum())} of {close.size} values differ)")


def _same_plain(a, e) -> bool:
    """check_equal's rule: exact, ints and floats interchangeable, bools only equal bools, lists = tuples."""
    if isinstance(a, Unsent) or isinstance(e, Unsent):
        return False
    if isinstance(a, bool) or isinstance(e, bool):
        return isinstance(a, bool) and isinstance(e, bool) and a == e
    if isinstance(a, (int, float)) and isinstance(e, (int, float)):
        return a == e
    if isinstance(a, np.ndarray) or isinstance(e, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(e, np.ndarray) and a.shape == e.shape
                and bool(np.array_equal(a, e)))
    if isinstance(a, list) and isinstance(e, list):
        return len(a) == len(e) and all(_same_plain(x, y) for x, y in zip(a, e))
    return type(a) is type(e) and a == e


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _expected_matches(kind: str, s, r, params: dict) -> bool:
    """Does the student's expected value equal the reference's (within the reference's tolerance)?"""
    if kind == "close":
        a, b = _array(s), _array(r)
        return a is not None and b is not None and a.shape == b.shape and bool(
            np.allclose(a, b, rtol=_num(params.get("rtol")) or 0.0, atol=_num(params.get("atol")) or 0.0))
    if kind == "values":
        return isinstance(s, list) and isinstance(r, list) and len(s) == len(r) and all(
            _expected_matches("close", x, y, params) for x, y in zip(s, r))
    return _same_plain(s, r)


def judge_record(sub: dict, ref: dict, derived: bool) -> Verdict:
    """The grader's verdict on one of the student's records, against the reference's record there."""
    kind = ref.get("kind")
    name = ref.get("name") or kind
    if sub.get("kind") != kind:
        return Verdict(False, f"{name}: the test made a different check here than on the instructor's solution")
    p = ref.get("params", {})
    act = decode(sub.get("actual"))
    if "actual" not in sub:
        return Verdict(False, f"{name}: no value reached the grader (the check stopped early)")
    exp = None
    if kind in ("close", "equal", "param_count", "values"):
        s_exp, r_exp = decode(sub.get("expected")), decode(ref.get("expected"))
        if _expected_matches(kind, s_exp, r_exp, p):
            exp = s_exp
        elif derived and not isinstance(s_exp, Unsent) and "expected" in sub:
            exp = s_exp  # computed from the student's own values: compared as sent
        else:
            return Verdict(False, f"{name}: the expected value differs from the instructor's run: an input of "
                                  f"the test was changed (was a variable the tests use reassigned?)")
    if isinstance(act, Unsent):
        return Verdict(False, f"{name}: the value could not be sent to the grader as plain data ({act.why})")
    hint = p.get("hint") if isinstance(p.get("hint"), str) else ""
    if kind == "close":
        return _close_verdict(name, act, exp, _num(p.get("rtol")) or 0.0, _num(p.get("atol")) or 0.0)
    if kind == "values":
        if not isinstance(act, list) or not isinstance(exp, list) or len(act) != len(exp):
            return Verdict(False, f"{name}: the cases did not all run")
        for k, (a, e) in enumerate(zip(act, exp)):
            v = _close_verdict(f"{name} (case {k + 1})", a, e, _num(p.get("rtol")) or 0.0, _num(p.get("atol")) or 0.0)
            if not v.passed:
                return v
        return Verdict(True, f"{name}: gives the expected values")
    if kind == "shape":
        want = p.get("shape")
        if not isinstance(act, list) or not isinstance(want, list):
            return Verdict(False, f"{name}: expected an array of shape {tuple(want or [])}, got "
                                  f"{'None' if act is None else 'no array'}")
        ok = len(act) == len(want) and all(w is None or w == s for w, s in zip(want, act))
        return Verdict(ok, f"{name}: " + (f"has shape {tuple(act)}" if ok else
                                          f"expected shape {tuple(want)}, got {tuple(act)}"))
    if kind == "type":
        want = [t for t in p.get("types", []) if isinstance(t, str)]
        got = act if isinstance(act, list) else []
        ok = any(t in got for t in want)
        short = lambda q: q.rsplit(".", 1)[-1]  # noqa: E731
        return Verdict(ok, f"{name}: " + (f"is a {short(got[0])}" if ok else
                                          f"expected a {' or '.join(short(t) for t in want)}, got "
                                          f"{short(got[0]) if got else 'something else'}"))
    if kind == "finite":
        a = _array(act)
        if a is None:
            return Verdict(False, f"{name}: expected an array of numbers")
        bad = ~np.isfinite(a)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            return Verdict(False, f"{name}: expected only finite numbers, got {a[where]} at index {where}")
        return Verdict(True, f"{name}: is finite")
    if kind == "between":
        v, lo, hi = _num(act), _num(p.get("low")), _num(p.get("high"))
        if v is None or lo is None or hi is None:
            return Verdict(False, f"{name}: expected a number")
        ok = not math.isnan(v) and lo <= v <= hi
        return Verdict(ok, f"{name}: " + (f"= {v:.4g} is in [{lo:g}, {hi:g}]" if ok else
                                          f"expected a value between {lo:g} and {hi:g}, got {v:.6g}"))
    if kind == "true":
        msg = p.get("message") if isinstance(p.get("message"), str) else "expected a property to hold"
        ok = act is True
        return Verdict(ok, (f"{name}: " if name and name != kind else "") + (("holds: " + msg) if ok else msg)
                       + ("" if ok or not hint else f" (hint: {hint})"))
    if kind == "equal":
        ok = _same_plain(act, exp)
        return Verdict(ok, f"{name}: " + (f"= {_fmt(act)}" if ok else f"expected {_fmt(exp)}, got {_fmt(act)}")
                       + ("" if ok or not hint else f" (hint: {hint})"))
    if kind == "param_count":
        ok = isinstance(act, int) and not isinstance(act, bool) and act == exp
        return Verdict(ok, f"{name}: " + (f"has {act:,} parameters" if ok else
                                          f"expected {_fmt(exp)} trainable parameters, got {_fmt(act)}"))
    return Verdict(False, f"{name}: unknown check")


# ----------------------------------------------------------------------------- one test cell


_ENAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,60}")


def judge_cell(ref: dict, sub: dict, analysis: dict) -> Verdict:
    """Verdict on one test cell.  ``ref``/``sub``: ``{"status": "ok"|"error", "records": [...],
    "ename": str|None}``; ``analysis``: :func:`analyse` of the cell's source."""
    want = top_records(ref.get("records", []))
    got = top_records(sub.get("records", []))
    if not want:
        return Verdict(False, "the test makes no helpers.checks call on the instructor's solution: it cannot be judged")
    for k, r in enumerate(want):
        if k >= len(got):
            break
        v = judge_record(got[k], r, bool(analysis.get(r.get("line"), False)))
        if not v.passed:
            return Verdict(False, v.message)
    ename = sub.get("ename") or ""
    ename = ename if _ENAME.fullmatch(ename) else "an error"
    if len(got) < len(want):
        if sub.get("status") == "error":
            return Verdict(False, f"the test stopped with {ename} after {len(got)} of its {len(want)} checks")
        return Verdict(False, f"only {len(got)} of the test's {len(want)} checks reached the grader")
    if len(got) > len(want):
        return Verdict(False, f"the test made {len(got)} checks, the instructor's solution {len(want)}")
    if sub.get("status") != "ok":
        return Verdict(False, f"every check passed, but the test cell then failed with {ename}")
    return Verdict(True, f"all {len(want)} checks passed")
