"""The instructor source of one lesson, as the grader uses it (:class:`Lesson`)."""
from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field

from . import judge
from .paths import HIDDEN_BEGIN, HIDDEN_REGION, Course


@dataclass
class SourceCell:
    index: int
    cell_type: str
    kind: str                     # "instructor" | "solution" | "test" | "manual" | "markdown"
    source: str                   # instructor source (full hidden tests, solutions)
    release_source: str           # what students see (stubs, no hidden tests)
    grade_id: str | None = None
    cell_id: str | None = None
    points: float = 0.0
    loads: set = field(default_factory=set)       # test cells: names read before the cell assigns them
    stores: set = field(default_factory=set)      # names the cell binds


class Lesson:
    """The instructor source of one lesson, as the grader uses it."""

    def __init__(self, name: str):
        import nbformat

        self.name = name
        self.source_path = Course.current().source_ipynb(name)
        self.release_path = Course.current().release_ipynb(name)
        raw = self.source_path.read_bytes()
        self.source_hash = hashlib.sha256(raw).hexdigest()
        nb = nbformat.reads(raw.decode(), as_version=4)
        rel_raw = self.release_path.read_bytes() if self.release_path.exists() else b""
        self.release_hash = hashlib.sha256(rel_raw).hexdigest()
        rel = nbformat.reads(rel_raw.decode(), as_version=4) if rel_raw else None
        rel_by_gid = {}
        rel_by_id = {}
        if rel is not None:
            for c in rel.cells:
                gid = c.metadata.get("nbgrader", {}).get("grade_id")
                if gid:
                    rel_by_gid[gid] = c.source
                if c.get("id"):
                    rel_by_id[c["id"]] = c.source
        self.cells: list[SourceCell] = []
        for i, c in enumerate(nb.cells):
            md = c.metadata.get("nbgrader", {})
            gid = md.get("grade_id")
            if c.cell_type == "code" and md.get("solution"):
                kind = "solution"
            elif c.cell_type == "code" and md.get("grade"):
                kind = "test"
            elif c.cell_type == "markdown" and md.get("solution") and md.get("grade"):
                kind = "manual"
            elif c.cell_type == "code":
                kind = "instructor"
            else:
                kind = "markdown"
            release = rel_by_gid.get(gid) if gid else None
            if release is None:
                release = rel_by_id.get(c.get("id"), c.source)
            if kind == "test" and HIDDEN_BEGIN in release:  # never trust a release that leaked
                release = _strip_hidden(release)
            sc = SourceCell(i, c.cell_type, kind, c.source, release, gid, c.get("id"),
                            float(md.get("points", 0) or 0))
            if kind == "test":
                sc.loads = _free_names(c.source)
            if c.cell_type == "code":
                sc.stores = _stored_names(c.source)
            self.cells.append(sc)
        self.tests = [c for c in self.cells if c.kind == "test"]
        #: the grader runs the notebook up to its last test cell: nothing after it can change a score
        #: (lesson 01's deep-fake demo, lesson 02's and 05's closing sections are not run when grading)
        self.graded_until = max((c.index for c in self.tests), default=len(self.cells) - 1)
        self.solutions = {c.grade_id: c for c in self.cells if c.kind in ("solution", "manual")}
        self.max_auto = sum(c.points for c in self.tests)
        self.max_manual = sum(c.points for c in self.cells if c.kind == "manual")
        self.hidden_lines = set()
        for c in self.tests:
            for m in HIDDEN_REGION.finditer(c.source):
                for line in m.group(1).splitlines():
                    s = line.strip()
                    if len(s) >= 8:
                        self.hidden_lines.add(s)
        self.test_loads = set().union(*[c.loads for c in self.tests]) if self.tests else set()
        self.answer_names = set().union(*[judge.defined_names(c.source) for c in self.cells if c.kind == "solution"])
        self.analysis = {c.grade_id: judge.analyse(c.source, self.answer_names) for c in self.tests}

    def scrub(self, text: str) -> str:
        """Remove any line that quotes hidden-test source."""
        if not text or not self.hidden_lines:
            return text
        out = []
        for line in text.splitlines(keepends=True):
            if any(h in line for h in self.hidden_lines):
                out.append("[hidden test line removed]\n")
            else:
                out.append(line)
        return "".join(out)

    def exercise_of(self, test_gid: str) -> str:
        for gid in sorted(self.solutions, key=len, reverse=True):
            if test_gid.startswith(f"{gid}_test"):
                return gid
        return test_gid


def _strip_hidden(src: str) -> str:
    return HIDDEN_REGION.sub("", src)


def _stored_names(src: str) -> set:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    out = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    out |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for n in tree.body:
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return out


def _free_names(src: str) -> set:
    """Names a test cell reads before (or without) assigning them itself: the inputs it takes from
    earlier cells.  A student reusing a name the test assigns first (``out``, ``m``) changes nothing."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set(re.findall(r"\b[A-Za-z_]\w*\b", src))
    assigned: set = set()
    free: set = set()
    for stmt in tree.body:
        stores = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(stmt.name)
            inner = {a.arg for a in ast.walk(stmt) if isinstance(a, ast.arg)}
        else:
            inner = set()
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            stores |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        loads = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        loop_targets = set()
        for n in ast.walk(stmt):
            if isinstance(n, (ast.For, ast.comprehension)):
                loop_targets |= {t.id for t in ast.walk(n.target) if isinstance(t, ast.Name)}
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                loop_targets |= {t.id for t in ast.walk(n.optional_vars) if isinstance(t, ast.Name)}
        free |= loads - assigned - inner - loop_targets - (stores if not isinstance(stmt, ast.AugAssign) else set())
        assigned |= stores
    return free


