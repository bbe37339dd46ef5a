"""Test utilities: read graded cells from a source notebook and forge submissions from a release."""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKERS = re.compile(r"^\s*###\s*(BEGIN|END) SOLUTION\s*$")
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def run_py(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run Python ``code`` (dedented) in a fresh interpreter of this venv; capture its output."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


def nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@functools.lru_cache(maxsize=None)
def _source_cells(lesson: str) -> dict:
    nb = nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
    return {nbg(c)["grade_id"]: c.source for c in nb.cells if nbg(c).get("grade_id")}


def cell_source(lesson: str, grade_id: str) -> str:
    """Source of the nbgrader cell ``grade_id`` in the instructor notebook of ``lesson`` (read once per session)."""
    cells = _source_cells(lesson)
    if grade_id not in cells:
        raise AssertionError(f"no cell {grade_id!r} in solutions/{lesson}")
    return cells[grade_id]


def visible_tests(source: str) -> str:
    """A test cell's source up to its hidden tests: what the student's copy shows."""
    return source.split("### BEGIN HIDDEN TESTS")[0]


def graded_cells(nb) -> list:
    """(grade_id, points, cell_type) of every graded cell, in order."""
    return [(nbg(c)["grade_id"], float(nbg(c).get("points", 0)), c.cell_type) for c in nb.cells if nbg(c).get("grade")]


def auto_points(nb) -> float:
    return sum(p for _, p, t in graded_cells(nb) if t == "code")


def solution_ids(nb) -> list:
    """grade_ids of code solution cells (the exercises a student writes), in order."""
    return [nbg(c)["grade_id"] for c in nb.cells if nbg(c).get("solution") and c.cell_type == "code"]


def points_for(nb, solution_id: str) -> float:
    """Points of the auto-graded test cells belonging to one exercise (ids ``<solution_id>_test*``)."""
    return sum(p for gid, p, t in graded_cells(nb) if t == "code" and gid.startswith(f"{solution_id}_test"))


def answer_text(source: str) -> str:
    """What a student would type: the solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not MARKERS.match(line))


def hidden_snippets(nb, min_len: int = 12) -> list:
    """Distinctive lines of hidden-test source (to prove they never leak)."""
    out = []
    for c in nb.cells:
        for block in HIDDEN.findall(c.source):
            out += [ln.strip() for ln in block.splitlines() if len(ln.strip()) >= min_len and not ln.strip().startswith("#")]
    return out


def secret_hidden_lines(nb) -> list:
    """Hidden-test lines that the lesson does not also show openly in another cell."""
    public = "\n".join(HIDDEN.sub("", c.source) for c in nb.cells if not nbg(c).get("solution"))
    return [s for s in hidden_snippets(nb) if s not in public]


def forge(source_nb, release_nb, fill: set | None) -> nbformat.NotebookNode:
    """A student submission: the release with the solution cells in ``fill`` (all if None) answered."""
    sub = nbformat.from_dict(release_nb)
    by_id = {nbg(c).get("grade_id"): c for c in source_nb.cells if nbg(c).get("solution")}
    for cell in sub.cells:
        gid = nbg(cell).get("grade_id")
        if nbg(cell).get("solution") and gid in by_id and (fill is None or gid in fill):
            cell.source = answer_text(by_id[gid].source)
    return sub


def course_copy(tmp: Path, lesson: str) -> Path:
    """A throw-away course root holding one lesson's source (graded there, never in the real grading/)."""
    root = tmp / "course"
    shutil.copytree(ROOT / "solutions" / lesson, root / "solutions" / lesson)
    (root / "lessons").mkdir(parents=True)
    (root / "grading").mkdir()
    return root


def grading_cli(root: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = dict(os.environ, DLSBS_COURSE_ROOT=str(root))
    proc = subprocess.run([sys.executable, "-m", "grading", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"python -m grading {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def prompts_say_what_is_checked(lesson: str) -> None:
    """Every exercise's prompt (the markdown cell before its solution cell) has a "**What is checked:**" line."""
    from grading import course

    nb = nbformat.read(course.source_ipynb(lesson), as_version=4)
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code":
            prompt = next(p.source for p in reversed(nb.cells[:i]) if p.cell_type == "markdown")
            assert "**What is checked:**" in prompt, f"{c.metadata['nbgrader']['grade_id']}: the prompt does not say what is checked"


def grade_answer(live, lesson: str, solution_id: str, answer: str | None) -> dict:
    """Run the exercise's visible tests, then all its tests (visible + hidden), on ``answer`` in the live
    kernel. Returns ``{"visible": None or the error, "all": None or the error}``. ``answer`` replaces the
    solution cell (None: the lesson's own solution); the solution is restored afterwards."""
    tests = cell_source(lesson, f"{solution_id}_tests")
    visible = visible_tests(tests)
    assert visible != tests, f"{solution_id}_tests has hidden tests"
    verdict = {}
    live.exec(answer if answer is not None else cell_source(lesson, solution_id))
    try:
        for part, code in (("visible", visible), ("all", tests)):
            try:
                live.exec(code)
                verdict[part] = None
            except AssertionError as e:
                verdict[part] = str(e)
    finally:
        live.exec(cell_source(lesson, solution_id))
    return verdict
