"""Adversarial submission corpus for the grader (``python -m grading grade``).

``write_course(root)`` writes a tiny synthetic lesson (``99_tiny``: two exercises, 2 + 3 points,
one hand-graded answer; fast imports) into a throw-away course root; ``write_submissions(root,
names)`` writes the corpus's submissions for it.  Each case in :data:`CASES` says what the grader
must conclude: ``status`` (graded / flagged / failed), ``score`` (``None`` = not scored) and text
that must appear in the reason or notes; ``status`` may be a tuple of allowed outcomes.

No expectation relies on a kernel probe catching a trick: the score of every tampering case is what the
grader's judge (:mod:`grading.judge`) decides from the checks' values, whether or not the probe also
flags the submission for review (a flag is a second line, not the grade).  Hidden-test markers (``# HIDDEN_...`` comments in the
hidden tests' source) must never reach feedback; hidden tests' assertion *messages* may (they are
what students act on, as in the course's own feedback).  The tests use limits: cell 6 s, notebook 40 s, memory 1 GiB.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LESSON = "99_tiny"
EITHER = ("graded", "flagged")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _grade_md(gid, *, grade, solution, locked, points=None):
    md = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        md["points"] = points
    return {"nbgrader": md}


def source_notebook():
    cells = [
        new_markdown_cell("# Tiny lesson\nTwo exercises."),
        new_code_cell("import numpy as np\nfrom helpers import checks"),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                      metadata=_grade_md("square", grade=False, solution=True, locked=False)),
        new_code_cell('got = square(3)\nchecks.check_equal(got, 9, name="square(3)")\n### BEGIN HIDDEN TESTS\n'
                      'checks.check_equal(square(-4), 16, name="square(-4)")  # HIDDEN_SQUARE_NEGATIVE\n'
                      'checks.check_close(square(np.arange(3.0)), [0.0, 1.0, 4.0], name="square on arrays")  # HIDDEN_SQUARE_ARRAY\n'
                      '### END HIDDEN TESTS',
                      metadata=_grade_md("square_tests", grade=True, solution=False, locked=True, points=2)),
        new_code_cell("data = np.arange(5.0)"),
        new_code_cell("def total(xs):\n    ### BEGIN SOLUTION\n    return float(np.sum(xs))\n    ### END SOLUTION",
                      metadata=_grade_md("total", grade=False, solution=True, locked=False)),
        new_code_cell('checks.check_equal(total(data), 10.0, name="total(data)")\n### BEGIN HIDDEN TESTS\n'
                      'checks.check_equal(total([]), 0.0, name="total([])")  # HIDDEN_TOTAL_EMPTY\n'
                      'checks.check_close(total([1.5, 2.5]), 4.0, name="total of floats")  # HIDDEN_TOTAL_FLOATS\n'
                      '### END HIDDEN TESTS',
                      metadata=_grade_md("total_tests", grade=True, solution=False, locked=True, points=3)),
        new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                          metadata=_grade_md("explain", grade=True, solution=True, locked=False, points=1)),
    ]
    for c in cells:
        c["id"] = c.metadata.get("nbgrader", {}).get("grade_id") or f"c{cells.index(c)}"
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    return nb


def release_notebook():
    nb = copy.deepcopy(source_notebook())
    for c in nb.cells:
        md = c.metadata.get("nbgrader", {})
        if md.get("solution") and c.cell_type == "code":
            c.source = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "# YOUR CODE HERE\n    raise NotImplementedError()",
                              c.source, flags=re.S)
        elif md.get("solution"):
            c.source = "YOUR ANSWER HERE"
        c.source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", c.source, flags=re.S)
    return nb


def write_course(root: Path):
    for folder in ("solutions", "lessons"):
        d = root / folder / LESSON
        d.mkdir(parents=True, exist_ok=True)
        nb = source_notebook() if folder == "solutions" else release_notebook()
        nbformat.write(nb, d / f"{LESSON}.ipynb")
    (root / "grading").mkdir(exist_ok=True)
    # a stand-in gradebook and instructor secrets that student code must neither read nor change
    (root / "grading" / "gradebook.db").write_bytes(b"SQLite format 3\0 stand-in gradebook")


# ----------------------------------------------------------------------------- answers

RIGHT_SQUARE = "def square(x):\n    return x * x"
RIGHT_TOTAL = "def total(xs):\n    return float(np.sum(xs))"
WRONG_SQUARE = "def square(x):\n    return x + x"
WRONG_TOTAL = "def total(xs):\n    return 0.0"


def break_solution(root: Path):
    """The instructor's solution of the tiny lesson fails its own test in the sandbox (as when the sandbox
    cannot import something the lesson needs)."""
    import nbformat

    path = root / "solutions" / LESSON / f"{LESSON}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "total":
            c.source = c.source.replace("return float(np.sum(xs))", "import not_in_the_sandbox\n    return 0.0")
    nbformat.write(nb, path)


def answered(square=RIGHT_SQUARE, total=RIGHT_TOTAL, explain="Because it is."):
    nb = release_notebook()
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "square":
            c.source = square
        elif gid == "total":
            c.source = total
        elif gid == "explain":
            c.source = explain
    return nb


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def nbfile(nb) -> bytes:
    return nbformat.writes(nb).encode()


# ----------------------------------------------------------------------------- the cases


def _skip_tags():
    nb = answered(WRONG_SQUARE, WRONG_TOTAL)
    for gid in ("square_tests", "total_tests"):
        c = _cell(nb, gid)
        c.metadata["tags"] = ["skip-execution", "raises-exception"]
        c.source = "pass"
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _student(square_extra="", total_extra="", square=WRONG_SQUARE, total=WRONG_TOTAL):
    nb = answered(square + ("\n" + square_extra if square_extra else ""), total + ("\n" + total_extra if total_extra else ""))
    return {f"{LESSON}.ipynb": nbfile(nb)}


INPUT_TRANSFORMER = """
def _cheat(lines):
    return ["pass\\n"] if any("assert" in l or "check" in l for l in lines) else lines
get_ipython().input_transformers_cleanup.append(_cheat)
"""
AST_TRANSFORMER = """
import ast
class _NoAssert(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAssert())
"""
PRE_RUN_HOOK = """
def _leak(info):
    print(info.raw_cell)
get_ipython().events.register("pre_run_cell", _leak)
"""
SNOOP = """
import os, glob, sqlite3
found = []
for p in ["{root}/solutions/99_tiny/99_tiny.ipynb", "{root}/grading/gradebook.db", "/etc/shadow"]:
    try:
        open(p, "rb").read(10); found.append("READ_OK " + p)
    except Exception as e:
        found.append("blocked " + type(e).__name__)
for p in ["{root}/grading/gradebook.db", "{root}/grading/submitted/right/99_tiny/99_tiny.ipynb", "/tmp/persist.txt",
          "/var/tmp/persist.txt", "/dev/shm/persist.txt"]:
    try:
        open(p, "ab").write(b"PWNED"); found.append("WRITE_OK " + p)
    except Exception as e:
        found.append("blocked " + type(e).__name__)
try:
    con = sqlite3.connect("{root}/grading/gradebook.db"); con.execute("create table pwned(x)"); con.commit()
    found.append("WRITE_OK sqlite")
except Exception as e:
    found.append("blocked sqlite " + type(e).__name__)
found.append("SUBMITTED " + repr(glob.glob("{root}/grading/submitted/*")))
import socket
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1); found.append("NET_OK")
except Exception as e:
    found.append("blocked net " + type(e).__name__)
print("\\n".join(found))
"""
SIGINT_LOOP = """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""
MEMORY_BOMB = """
hog = []
while True:
    hog.append(b"x" * (64 << 20))
"""
OUTPUT_FLOOD = """
while True:
    print("flood " * 2000)
"""
BACKGROUND = """
import subprocess, os
subprocess.Popen(["sleep", "987"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    import time
    time.sleep(986)
    os._exit(0)
"""
SHOWTRACEBACK = """
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
"""
PATCH_CHECKS = """
from helpers import checks as _c
_c.check_close = lambda *a, **k: None
"""
PATCH_BUILTINS = """
import builtins
_real_float = float
builtins.float = lambda *a: 10.0
"""
REBIND_GLOBAL = """
data = [10.0]
"""
META_PATH = """
import sys
class _Finder:
    def find_spec(self, name, path=None, target=None):
        return None
sys.meta_path.insert(0, _Finder())
"""
SETTRACE = """
import sys
sys.settrace(lambda *a: None)
"""
KERNEL_PATCH = """
k = get_ipython().kernel
_orig = k.do_execute
def _fake(*a, **kw):
    return _orig(*a, **kw)
k.do_execute = _fake
"""
CLASS_PATCH = """
from IPython.core.interactiveshell import InteractiveShell
_orig_run_cell = InteractiveShell.run_cell
def _run_cell(self, raw_cell, *a, **k):
    if "assert" in raw_cell:
        raw_cell = "pass"
    return _orig_run_cell(self, raw_cell, *a, **k)
InteractiveShell.run_cell = _run_cell
"""
SLOW_CELL = "import time\ntime.sleep(5)"
# --- the undeserved-points classes of issue 13: values that lie, builtins, audit hooks, fixtures, traces, ctypes
LIARS = """
class _Liar:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __float__(self):
        return 9.0
    def __array__(self, dtype=None, copy=None):
        return np.array([0.0, 1.0, 4.0])
class _Nine(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def square(x):
    return _Nine(5) if np.ndim(x) == 0 and x == 3 else _Liar()
"""
BUILTINS_DICT = """
import builtins
builtins.__dict__["isinstance"] = lambda obj, types: True
builtins.__dict__["AssertionError"] = type("AssertionError", (Exception,), {})
np.isclose = lambda a, b, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)
"""
CTYPES_EQ = """
import ctypes
def _force(t, name, fn):
    d = ctypes.py_object.from_address(id(t.__dict__) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    d[name] = fn
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(t))
_force(float, "__ne__", lambda a, b: False)
_force(float, "__eq__", lambda a, b: True)
"""
AUDIT_LEAK = """
import sys
_seen = []
sys.addaudithook(lambda ev, args: _seen.append(str(args[0])) if ev == "compile" and args and isinstance(args[0], (str, bytes)) else None)
"""
AUDIT_PRINT = "print('LEAK', '|'.join(_seen)[::-1])"
MUTATE_FIXTURE = """
data[:] = [10.0, 0.0, 0.0, 0.0, 0.0]
"""
TRACE_SKIP = """
import sys, linecache
def _skip(frame, event, arg):
    if event == "line" and "check" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
        try:
            frame.f_lineno = frame.f_lineno + 1
        except Exception:
            pass
    return _skip
sys.settrace(lambda frame, event, arg: _skip if frame.f_code.co_name == "<module>" else None)
"""
FORGE_RECORDS = """
import json
from IPython.display import publish_display_data
def _forge(info):
    if "check_equal(got, 9" in info.raw_cell:
        for rec in ({"kind": "equal", "name": "square(3)", "actual": 9, "expected": 9},
                    {"kind": "equal", "name": "square(-4)", "actual": 16, "expected": 16}):
            publish_display_data({"application/x-dlsbs-check-record":
                                  json.dumps({"v": 1, "params": {}, "top": True, "line": 2, **rec})})
get_ipython().events.register("pre_run_cell", _forge)
"""
SWALLOW = """
ip = get_ipython()
_orig = ip.run_cell
def _quiet(raw_cell, *a, **k):
    r = _orig("try:\n" + "\n".join("    " + l for l in raw_cell.splitlines()) + "\nexcept Exception:\n    pass", *a, **k)
    return r
ip.run_cell = _quiet
"""
SCRATCH = "got = 'my scratch value'"


def _v3():
    nb = answered()
    v3 = nbformat.convert(nb, 3)
    return {f"{LESSON}.ipynb": nbformat.writes(v3, version=3).encode()}


def _nbformat2():
    return {f"{LESSON}.ipynb": json.dumps({"nbformat": 2, "nbformat_minor": 0, "worksheets": [], "metadata": {}}).encode()}


def _deleted():
    nb = answered()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in ("total", "total_tests")]
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _reordered():
    nb = answered()
    nb.cells = list(reversed(nb.cells))
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _dup_ids():
    nb = answered()
    text = json.loads(nbfile(nb))
    text["cells"][0]["id"] = text["cells"][1]["id"] = "same-id"
    return {f"{LESSON}.ipynb": json.dumps(text).encode()}


def _enormous():
    nb = answered()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * (25 << 20))]
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _dup_answer():
    nb = answered()
    i = nb.cells.index(_cell(nb, "square"))
    bad = copy.deepcopy(nb.cells[i])
    bad.source = WRONG_SQUARE
    bad["id"] = "square-copy"
    nb.cells.insert(i + 1, bad)
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _edited_tests():
    nb = answered(WRONG_SQUARE, WRONG_TOTAL)
    for gid in ("square_tests", "total_tests"):
        _cell(nb, gid).source = "pass"
        _cell(nb, gid).metadata["nbgrader"]["points"] = 100
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _extra_cells():
    nb = answered(square="def _helper(x):\n    return x * x", total=RIGHT_TOTAL)
    i = nb.cells.index(_cell(nb, "square"))
    nb.cells.insert(i + 1, new_code_cell("def square(x):\n    return _helper(x)"))
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _wrong_kernel():
    nb = answered()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _slow_everywhere():
    nb = answered()
    i = nb.cells.index(_cell(nb, "square"))
    for k in range(9):  # 9 x 5 s: every cell is under the 6 s cell limit, the notebook is over 40 s
        nb.cells.insert(i + 1, new_code_cell(SLOW_CELL))
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _deeply_nested():
    depth = 200_000
    return {f"{LESSON}.ipynb": b'{"cells": ' + b"[" * depth + b"]" * depth + b', "nbformat": 4}'}


def _many_cells(n=40_000):
    nb = json.loads(nbfile(answered()))  # plain JSON: nbformat's own writer validates 40k cells slowly
    nb["cells"] += [{"cell_type": "code", "id": f"x{i}", "metadata": {}, "source": f"x{i} = {i}", "outputs": [],
                     "execution_count": None} for i in range(n)]
    return {f"{LESSON}.ipynb": json.dumps(nb).encode()}


def _non_utf8_name():
    return {f"{LESSON}.ipynb": nbfile(answered()), "notes-\udcff\udcfe.txt": b"my notes"}


def _audit_leak():
    nb = answered(square=RIGHT_SQUARE + "\n" + AUDIT_LEAK, total=RIGHT_TOTAL + "\n" + AUDIT_PRINT)
    return {f"{LESSON}.ipynb": nbfile(nb)}


def _shadow():
    return {f"{LESSON}.ipynb": nbfile(answered(WRONG_SQUARE, WRONG_TOTAL)),
            "numpy.py": b"def sum(*a, **k):\n    return 10.0\n",
            "helpers/__init__.py": b"", "helpers/checks.py": b"def check_close(*a, **k):\n    pass\n",
            "data.csv": b"1,2,3\n"}


CASES = {
    # --- honest baselines
    "right": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(answered())}, status="graded", score=5),
    "wrong": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(answered(WRONG_SQUARE, WRONG_TOTAL))}, status="graded", score=0),
    "partial": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(answered(RIGHT_SQUARE, WRONG_TOTAL))}, status="graded", score=2),
    "untouched": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(release_notebook())}, status="graded", score=0),
    "extra_cells": dict(files=lambda root: _extra_cells(), status="graded", score=5),
    # --- execution tricks
    "skip_execution_tags": dict(files=lambda root: _skip_tags(), status="graded", score=0, text="restored"),
    "edited_tests": dict(files=lambda root: _edited_tests(), status="graded", score=0, text="restored"),
    # (tampering: the judge's score; the probes may flag any of these for review as well)
    "input_transformer": dict(files=lambda root: _student(square_extra=INPUT_TRANSFORMER), status=EITHER, score=0),
    "ast_transformer": dict(files=lambda root: _student(square_extra=AST_TRANSFORMER), status=EITHER, score=0),
    "pre_run_cell_leak": dict(files=lambda root: _student(square_extra=PRE_RUN_HOOK, square=RIGHT_SQUARE), status=EITHER,
                              score=2),
    "showtraceback": dict(files=lambda root: _student(square_extra=SHOWTRACEBACK), status=EITHER, score=0),
    "patch_checks": dict(files=lambda root: _student(square_extra=PATCH_CHECKS,
                                                    square="def square(x):\n    return x + x if isinstance(x, np.ndarray) else x * x"),
                         status=EITHER, score=0),
    "patch_builtins": dict(files=lambda root: _student(total_extra=PATCH_BUILTINS), status=EITHER, score=0),
    "rebind_global": dict(files=lambda root: _student(total_extra=REBIND_GLOBAL,
                                                     total="def total(xs):\n    return float(xs[0]) if len(xs) else 0.0"),
                          status=EITHER, score=0),
    "meta_path_hook": dict(files=lambda root: _student(square_extra=META_PATH), status=EITHER, score=0),
    "settrace": dict(files=lambda root: _student(square_extra=SETTRACE), status=EITHER, score=0),
    "kernel_patch": dict(files=lambda root: _student(square_extra=KERNEL_PATCH), status=EITHER, score=0),
    "class_patch": dict(files=lambda root: _student(square_extra=CLASS_PATCH), status=EITHER, score=0),
    "duplicate_answer": dict(files=lambda root: _dup_answer(), status="flagged", text="copies"),
    "lying_objects": dict(files=lambda root: _student(square=LIARS), status=EITHER, score=0),
    "builtins_dict": dict(files=lambda root: _student(square_extra=BUILTINS_DICT), status=EITHER, score=0),
    "ctypes_float_eq": dict(files=lambda root: _student(square_extra=CTYPES_EQ), status=EITHER, score=0),
    "audit_hook_leak": dict(files=lambda root: _audit_leak(), status=EITHER, score=5),
    "mutated_fixture": dict(files=lambda root: _student(total_extra=MUTATE_FIXTURE, square=RIGHT_SQUARE,
                                                       total="def total(xs):\n    return float(xs[0]) if len(xs) else 0.0"),
                            status=EITHER, score=2),
    "trace_skips_checks": dict(files=lambda root: _student(square_extra=TRACE_SKIP), status=EITHER, score=0),
    "forged_records": dict(files=lambda root: _student(square_extra=FORGE_RECORDS), status=EITHER, score=0),
    "swallowed_errors": dict(files=lambda root: _student(square_extra=SWALLOW), status=EITHER, score=0),
    "honest_scratch_name": dict(files=lambda root: _student(square=RIGHT_SQUARE + "\n" + SCRATCH, total=RIGHT_TOTAL),
                                status="graded", score=5),
    # --- sandbox and limits
    "snoop_and_tamper": dict(files=lambda root: _student(square_extra=SNOOP.format(root=root), square=RIGHT_SQUARE,
                                                         total=RIGHT_TOTAL), status="graded", score=5),
    "module_shadowing": dict(files=lambda root: _shadow(), status="graded", score=0, text="shadow"),
    "sigint_ignoring_loop": dict(files=lambda root: _student(square_extra=SIGINT_LOOP, total=RIGHT_TOTAL), status="graded",
                                 score=3, text="time limit"),
    "memory_bomb": dict(files=lambda root: _student(square_extra=MEMORY_BOMB, total=RIGHT_TOTAL), status="graded", score=3,
                        text="memory"),
    "output_flood": dict(files=lambda root: _student(square_extra=OUTPUT_FLOOD, total=RIGHT_TOTAL), status="graded", score=3,
                         text="output"),
    "background_processes": dict(files=lambda root: _student(square_extra=BACKGROUND, square=RIGHT_SQUARE, total=RIGHT_TOTAL),
                                 status="graded", score=5),
    "no_overall_limit": dict(files=lambda root: _slow_everywhere(), status="graded", score=0, text="total time"),
    # --- bad input
    "malformed_json": dict(files=lambda root: {f"{LESSON}.ipynb": b'{"cells": [ {"cell_type": '}, status="failed",
                           score=None, text="not valid JSON"),
    "not_a_notebook": dict(files=lambda root: {f"{LESSON}.ipynb": b"[1, 2, 3]"}, status="failed", score=None,
                           text="not a notebook"),
    "old_nbformat3": dict(files=lambda root: _v3(), status="graded", score=5, text="nbformat 3"),
    "nbformat2": dict(files=lambda root: _nbformat2(), status="failed", score=None, text="nbformat"),
    "missing_notebook": dict(files=lambda root: {"answers.txt": b"I forgot"}, status="failed", score=None, text="missing"),
    "renamed_notebook": dict(files=lambda root: {"my_homework.ipynb": nbfile(answered())}, status="graded", score=5,
                             text="renamed"),
    "extra_notebook": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(answered(WRONG_SQUARE, WRONG_TOTAL)),
                                               "scratch.ipynb": nbfile(answered())}, status="graded", score=0, text="extra"),
    "wrong_kernelspec": dict(files=lambda root: _wrong_kernel(), status="graded", score=5, text="kernelspec"),
    "cells_deleted": dict(files=lambda root: _deleted(), status="graded", score=2, text="missing"),
    "cells_reordered": dict(files=lambda root: _reordered(), status="graded", score=5, text="reordered"),
    "duplicate_cell_ids": dict(files=lambda root: _dup_ids(), status="graded", score=5, text="duplicate"),
    "enormous_file": dict(files=lambda root: _enormous(), status="failed", score=None, text="too large"),
    # --- one submission must not stop the class (issue 13, class 2)
    "deeply_nested_json": dict(files=lambda root: _deeply_nested(), status="failed", score=None, text="RecursionError"),
    "forty_thousand_cells": dict(files=lambda root: _many_cells(), status="failed", score=None, text="40008 cells"),
    "non_utf8_file_name": dict(files=lambda root: _non_utf8_name(), status="graded", score=5, text="not valid UTF-8"),
    "bad\udcffname": dict(files=lambda root: {f"{LESSON}.ipynb": nbfile(answered())}, status="failed", score=None,
                          text="not a valid student id"),
}
BASELINES = ["right", "wrong", "partial", "untouched"]


def write_submissions(root: Path, names=None):
    for name in names or CASES:
        d = root / "grading" / "submitted" / name / LESSON
        d.mkdir(parents=True, exist_ok=True)
        for rel, data in CASES[name]["files"](root).items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(data)
