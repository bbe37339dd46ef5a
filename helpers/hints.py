"""Friendlier errors for unfinished exercises, installed into the kernel by :func:`helpers.setup`.

A student copy has stubs (``raise NotImplementedError()``) where the answers go.  Run All then
stops at the first cell that *uses* an unfinished exercise with a bare ``NotImplementedError:`` and,
if the learner carries on, every later cell that needed its results fails with a ``NameError``.
Both are expected, neither says what to do.  This module keeps IPython's traceback and adds one
line under it:

* a stub was hit: which exercise (function name, or "this cell"), and what to do;
* a ``NameError`` after a stub was hit: the name was probably never defined because the cell that
  defines it stopped at that exercise (while the exercise is still unfinished).

Only errors raised by notebook code are annotated (a library's own ``NotImplementedError`` is left
alone), the error itself is unchanged (same type, so nbgrader still marks the test as failed), and
any other exception goes through IPython's normal path.
"""
from __future__ import annotations

import linecache
import re
import sys

_STUB_LINE = re.compile(r"^\s*raise\s+NotImplementedError(\(\s*\))?\s*(#.*)?$")
_state: dict = {"stubs": {}}  # name (or cell label) -> code object of the stub, or None for a cell


def install(shell=None) -> bool:
    """Annotate stub and follow-on ``NameError`` tracebacks in this IPython kernel; False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with Jupyter
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    _state["stubs"] = {}
    shell.set_custom_exc((NotImplementedError, NameError), _handler)
    return True


def _is_cell(filename: str) -> bool:
    """Is this a notebook cell's code (ipykernel: ``/tmp/ipykernel_<pid>/<hash>.py``; IPython: ``<ipython-input-…>``)?"""
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def _last_frame(tb):
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _cell_label(shell, filename: str) -> str:
    """``In [7]`` for the cell that ran from ``filename``, as IPython's traceback names it, if known."""
    count = getattr(shell.compile, "_filename_map", {}).get(filename)
    return f" (In [{count}])" if count is not None else ""


def _stub_hint(shell, value, tb):
    """The hint for a ``raise NotImplementedError()`` stub in notebook code, or None for any other cause."""
    if value.args:
        return None
    last = _last_frame(tb)
    code = last.tb_frame.f_code
    if not _is_cell(code.co_filename):
        return None
    if not _STUB_LINE.match(linecache.getline(code.co_filename, last.tb_lineno)):
        return None
    if code.co_name == "<module>":
        _state["stubs"]["this cell"] = None
        return ("This cell is an exercise you have not done yet: replace `raise NotImplementedError()` with your "
                "code, then run the cell again.")
    _state["stubs"][code.co_name] = code
    return (f"`{code.co_name}` is an exercise you have not done yet: find the cell that defines it"
            f"{_cell_label(shell, code.co_filename)}, replace `raise NotImplementedError()` with your code, run that cell, "
            "then run this one again.")


def _unfinished(shell) -> list:
    """Exercises this kernel hit as stubs that are still stubs now (a redefined function counts as done)."""
    out = []
    for name, code in _state["stubs"].items():
        if code is None:
            out.append("an exercise cell")
        elif getattr(shell.user_ns.get(name), "__code__", None) is code:
            out.append(f"`{name}`")
    return out


def _name_hint(shell):
    todo = _unfinished(shell)
    if not todo:
        return None
    return (f"An earlier cell stopped at an unfinished exercise ({', '.join(todo)}), so what it would have defined "
            "does not exist yet. Finish the exercise, then re-run the cells below it "
            "(Run ▸ Run Selected Cell and All Below).")


def _handler(shell, etype, value, tb, tb_offset=None):
    try:
        hint = _stub_hint(shell, value, tb) if issubclass(etype, NotImplementedError) else _name_hint(shell)
    except Exception:  # a hint must never hide the real error
        hint = None
    if hint is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # as showtraceback does (%debug)
    stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    shell._showtraceback(etype, value, list(stb) + ["", f"\x1b[1;34mHint:\x1b[0m {hint}"])
    return None
