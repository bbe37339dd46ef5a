"""Friendlier errors for unfinished exercises, installed into the kernel by :func:`helpers.setup`.

A student copy has stubs (``raise NotImplementedError()``) where the answers go.  Run All then
stops at the first cell that *uses* an unfinished exercise with a bare ``NotImplementedError:`` and,
if the learner carries on, later cells that needed that cell's results fail too: a ``NameError``
for a name it never defined, a ``KeyError`` for a dictionary it never filled, and so on.  All are
expected, none says what to do.  This module keeps IPython's traceback and adds one line under it:

* a stub was hit: which exercise — the function, or the class and method (``MomentumSGD.__init__``),
  or "this cell" — and what to do;
* a later error in a cell that uses a name an earlier cell *would have defined or filled* had it not
  stopped at an exercise: which exercise, which cell, and to re-run from there.

How it knows: when a cell stops at an exercise (or at such a follow-on error), the names that cell
assigns are remembered (a stub cell's ``# name = ...`` template comment counts); a cell that later
runs without error clears the names it assigns.  A ``NameError`` for one of those names, or any
other error in a cell that reads one of them, gets the hint.  A library's own
``NotImplementedError`` (one with a message, or raised outside notebook code) is not an exercise;
an error a library raised *while handling* a stub (fastai re-raises a callback's error with a new
message) is traced back to the stub.

The error itself is unchanged (same type and message, so nbgrader still marks a test as failed) and
any error without a hint goes through IPython's normal path.  :func:`explain` gives the same hint for
an exception caught elsewhere (``helpers.widgets.Explorer`` shows it when a drawing callback fails).
"""
from __future__ import annotations

import ast
import linecache
import re
import sys

_STUB_LINE = re.compile(r"^\s*raise\s+NotImplementedError(\(\s*\))?\s*(#.*)?$")
_TEMPLATE = re.compile(r"^\s*#\s*([A-Za-z_]\w*)\s*=")  # "# lr_ravine = a number" in a stub cell
# stubs: key (qualified name, or "this cell <file>") -> (code object of the stub or None for a top-level stub,
#        the exercise as the hint names it)
# missing: name a stopped cell would have assigned -> (keys of the exercises it stopped at, "In [N]" of that cell)
_state: dict = {"stubs": {}, "missing": {}, "shell": None}


def install(shell=None) -> bool:
    """Annotate errors caused by unfinished exercises in this IPython kernel; False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with Jupyter
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    old = _state.get("shell")
    if old is not None:
        try:
            old.events.unregister("post_run_cell", _after_cell)
        except ValueError:
            pass
    _state.update(stubs={}, missing={}, shell=shell)
    shell.set_custom_exc((Exception,), _handler)
    shell.events.register("post_run_cell", _after_cell)
    return True


def explain(exc: BaseException, shell=None) -> str | None:
    """The hint for an exception caught outside IPython's handler (e.g. in a widget callback), or None."""
    shell = shell or _state.get("shell")
    if shell is None:
        return None
    try:
        return _hint(shell, type(exc), exc, exc.__traceback__, record=False)
    except Exception:  # a hint must never hide the real error
        return None


# --------------------------------------------------------------------------- where code comes from

def _is_cell(filename: str) -> bool:
    """Is this a notebook cell's code (ipykernel: ``/tmp/ipykernel_<pid>/<hash>.py``; IPython: ``<ipython-input-…>``)?"""
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _cell_label(shell, filename: str) -> str:
    """``In [7]`` for the cell that ran from ``filename``, as IPython's traceback names it, or ``""``."""
    count = getattr(shell.compile, "_filename_map", {}).get(filename)
    return f"In [{count}]" if count is not None else ""


def _in(label: str) -> str:
    return f" ({label})" if label else ""


def _tree(source: str):
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _assigned(source: str, imports: bool = True) -> set:
    """Names a cell assigns anywhere (variables, loop targets, functions, classes, and imports if asked)."""
    tree = _tree(source)
    names = set()
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
    return names


def _read(source: str) -> set:
    """Names a cell reads anywhere (including inside the functions it defines)."""
    tree = _tree(source)
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _cell_source(filename: str) -> str:
    return "".join(linecache.getlines(filename))


# --------------------------------------------------------------------------- the stub

def _stub_of(value, tb):
    """(exception, its last frame) of a ``raise NotImplementedError()`` stub in notebook code behind ``value``.

    Follows ``__cause__``/``__context__``, so a library that re-raises while handling the stub's error
    (fastai's callbacks do) still leads back to the exercise.
    """
    seen = set()
    while value is not None and id(value) not in seen:
        seen.add(id(value))
        if isinstance(value, NotImplementedError) and not value.args:
            frames = list(_frames(tb if tb is not None else value.__traceback__))
            if frames:
                last = frames[-1]
                code = last.tb_frame.f_code
                if _is_cell(code.co_filename) and _STUB_LINE.match(linecache.getline(code.co_filename,
                                                                                     last.tb_lineno)):
                    return value, last
        value, tb = (value.__cause__ or value.__context__), None
    return None


def _stub_name(code) -> str:
    """``sigmoid``, ``MomentumSGD.__init__`` (a method), ``outer.inner`` (a nested function)."""
    return getattr(code, "co_qualname", code.co_name).replace(".<locals>", "")


def _stub_hint(shell, last) -> tuple:
    """(hint, key of the exercise) for a stub's frame; records the stub so later errors can point at it."""
    code = last.tb_frame.f_code
    where = _in(_cell_label(shell, code.co_filename))
    if code.co_name == "<module>":
        key = f"this cell {code.co_filename}"
        _state["stubs"][key] = (None, f"the exercise cell{where}")
        return ("This cell is an exercise you have not done yet: replace `raise NotImplementedError()` with your "
                "code, then run the cell again."), key
    name = _stub_name(code)
    owner, _, method = name.rpartition(".")
    if owner and code.co_argcount and code.co_varnames[0] in ("self", "cls"):  # a method: the class is the exercise
        _state["stubs"][name] = (code, f"`{owner}`")
        return (f"The class `{owner}` is an exercise you have not finished: its method `{method}` still says "
                f"`raise NotImplementedError()`. Find the cell that defines the class `{owner}`{where}, write "
                f"`{name}` (and any other method of `{owner}` that still raises NotImplementedError), run that "
                "cell, then run this one again."), name
    _state["stubs"][name] = (code, f"`{name}`")
    return (f"`{name}` is an exercise you have not done yet: find the cell that defines it{where}, replace "
            "`raise NotImplementedError()` with your code, run that cell, then run this one again."), name


def _still_stub(shell, key) -> bool:
    """Is the exercise ``key`` still unfinished (its function or method in the kernel is still the stub)?"""
    code, _ = _state["stubs"][key]
    if code is None:
        return True  # a top-level stub cell: what it stopped is cleared when a cell assigning it runs
    obj = shell.user_ns.get(key.split(".")[0])
    for part in key.split(".")[1:]:
        obj = getattr(obj, part, None)
    return getattr(obj, "__code__", None) is code


# --------------------------------------------------------------------------- follow-on errors

def _stopped_hint(shell, names) -> tuple:
    """(hint, exercise keys) for an error in code that uses ``names``, some of which a stopped cell never made."""
    hits = {n: _state["missing"][n] for n in sorted(names) if n in _state["missing"]}
    if not hits:
        return None, []
    keys, cells = [], []
    for ks, cell in hits.values():
        keys += [k for k in ks if k not in keys]
        if cell and cell not in cells:
            cells.append(cell)
    labels = list(dict.fromkeys(_state["stubs"][k][1] for k in keys))
    if len(hits) == 1 and len(keys) == 1 and _state["stubs"][keys[0]][0] is None:  # the stub cell assigns it
        return (f"`{next(iter(hits))}` does not exist yet because {labels[0]} that should define it is not done: "
                "replace `raise NotImplementedError()` there with your code, run it, then run this cell again."), keys
    shown = ", ".join(f"`{n}`" for n in list(hits)[:4])
    where = f" ({', '.join(cells)})" if cells else ""
    one = len(labels) == 1
    if any(_still_stub(shell, k) for k in keys):
        then = f"Finish {'that exercise' if one else 'those exercises'}, then re-run from that cell down"
    else:
        then = "You have finished it since: re-run from that cell down"
    return (f"This uses {shown}, which an earlier cell{where} did not finish making: it stopped at "
            f"{'an unfinished exercise' if one else 'unfinished exercises'} ({', '.join(labels)}). {then} "
            "(Run ▸ Run Selected Cell and All Below)."), keys


def _hint(shell, etype, value, tb, record: bool):
    found = _stub_of(value, tb)
    frames = list(_frames(tb))
    if found is not None:
        hint, key = _stub_hint(shell, found[1])
        keys = [key]
    else:
        if isinstance(value, NameError) and getattr(value, "name", None):
            used = {value.name}
        else:  # any other error: the names the cells on the traceback read and do not assign themselves
            sources = [_cell_source(f) for f in dict.fromkeys(fr.tb_frame.f_code.co_filename for fr in frames)
                       if _is_cell(f)]
            used = set().union(set(), *map(_read, sources)) - set().union(set(), *map(_assigned, sources))
        hint, keys = _stopped_hint(shell, used)
    if hint is None:
        return None
    top = next((fr for fr in frames if fr.tb_frame.f_code.co_name == "<module>"
                and _is_cell(fr.tb_frame.f_code.co_filename)), None)
    if record and top is not None:  # the cell that stopped here did not make what it assigns
        filename = top.tb_frame.f_code.co_filename
        source = _cell_source(filename)
        names = _assigned(source, imports=False)  # its imports ran: they come before the code that stopped
        if found is not None and found[1].tb_frame.f_code.co_name == "<module>":
            names |= {m.group(1) for m in map(_TEMPLATE.match, source.splitlines()) if m}
        for n in names:
            _state["missing"][n] = (keys, _cell_label(shell, filename))
    return hint


def _after_cell(result):
    """A cell that ran without error has made what it assigns."""
    if getattr(result, "error_in_exec", None) is not None or getattr(result, "error_before_exec", None) is not None:
        return
    raw = getattr(getattr(result, "info", None), "raw_cell", None)
    if not raw or not _state["missing"]:
        return
    shell = _state.get("shell")
    try:
        source = shell.transform_cell(raw) if shell is not None else raw
    except Exception:
        source = raw
    for n in _assigned(source):
        _state["missing"].pop(n, None)


def _handler(shell, etype, value, tb, tb_offset=None):
    hint = None
    if not issubclass(etype, SyntaxError) and not hasattr(value, "_render_traceback_"):
        try:
            hint = _hint(shell, etype, value, tb, record=True)
        except Exception:  # a hint must never hide the real error
            hint = None
    if hint is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # as showtraceback does (%debug)
    stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    shell._showtraceback(etype, value, list(stb) + ["", f"\x1b[1;34mHint:\x1b[0m {hint}"])
    return None
