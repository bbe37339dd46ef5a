"""Parallel, sandboxed, tamper-resistant autograder: ``python -m grading grade [LESSON]``.

For every ``grading/submitted/<student>/<lesson>/`` it

1. **reads** the submission defensively (size cap, JSON, nbformat version, missing/renamed/extra
   notebooks, duplicate ids) — bad input gets a per-submission outcome, never a crash;
2. **rebuilds** the notebook to run from the instructor source (``solutions/``): every cell comes
   from the source, in source order, except the answers to solution cells, which are taken from
   the submission by grade id (then cell id).  Student tags, metadata, cell order and edits to
   locked or test cells therefore never matter; code cells the student added after an answer run
   right after that answer;
3. **runs** it in a :class:`grading.sandbox.Sandbox` (own uid, no network, hidden course folder,
   time/memory/output limits), probing the kernel between cells (:mod:`grading.sandbox_probe`)
   and sending a canary before each test cell; a cell that is killed (time, memory, output) is
   skipped in a fresh kernel so the other exercises still count;
4. **scores** each test cell from the grader's own view of its outputs (nbgrader's rules:
   error or stderr → 0, a numeric result → partial credit, else full points), and compares the
   kernel changes of the run, step by step, with those of the instructor's solution (the
   *reference run*, cached per source version).  Changes the solution does not make flag the
   submission for review, with the reason.

Results are stored one JSON file per submission (``grading/.grader-cache/results``), written
atomically by the parent process only and keyed by a hash of everything that decides the grade,
so re-running grades only what is new or changed and an interrupted run loses nothing.  Then
feedback HTML (no hidden-test source), a CSV and a grade report are written (:mod:`grading.report`),
and graded submissions are recorded in nbgrader's gradebook (formgrader, ``nbgrader export``;
manual scores already entered are kept).
"""
from __future__ import annotations

import ast
import concurrent.futures as cf
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import course, judge
from .paths import HIDDEN_BEGIN, HIDDEN_END, Course
from .sandbox import Limits, Sandbox, SandboxError, capabilities, missing_protections, protections
from .sandbox_probe import SETUP_CODE, describe, diff, parse_result, probe_code

GRADER_VERSION = "2"
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_FILES_BYTES = 50 << 20
MAX_FILES = 200
MAX_RESTARTS = 2


def cache_dir() -> Path:
    return Course.current().cache


def results_dir(lesson: str) -> Path:
    return Course.current().results_dir(lesson)


def _atomic_write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the lesson


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
        self.source_path = course.source_ipynb(name)
        self.release_path = course.release_ipynb(name)
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
        self.solutions = {c.grade_id: c for c in self.cells if c.kind in ("solution", "manual")}
        self.max_auto = sum(c.points for c in self.tests)
        self.max_manual = sum(c.points for c in self.cells if c.kind == "manual")
        self.hidden_lines = set()
        for c in self.tests:
            for m in re.finditer(re.escape(HIDDEN_BEGIN) + r"(.*?)" + re.escape(HIDDEN_END), c.source, re.S):
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
    return re.sub(re.escape(HIDDEN_BEGIN) + r".*?" + re.escape(HIDDEN_END) + r"\n?", "", src, flags=re.S)


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
            elif isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                pass
        free |= loads - assigned - inner - loop_targets - (stores if not isinstance(stmt, ast.AugAssign) else set())
        assigned |= stores
    return free


# ----------------------------------------------------------------------------- reading a submission


@dataclass
class Submission:
    student: str
    lesson: str
    folder: Path
    notebook: object = None          # nbformat NotebookNode or None
    files: dict = field(default_factory=dict)   # relative path -> bytes (for the sandbox)
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    failure: str | None = None
    key: str = ""


_MODULE_NAMES: set | None = None


def module_names() -> set:
    global _MODULE_NAMES
    if _MODULE_NAMES is None:
        import pkgutil

        names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
        names |= {m.name for m in pkgutil.iter_modules()}
        names |= {"helpers", "grading", "sitecustomize", "usercustomize"}
        _MODULE_NAMES = names
    return _MODULE_NAMES


def _shadow_name(rel: Path) -> str | None:
    top = rel.parts[0]
    stem = top.split(".")[0]
    if len(rel.parts) > 1 or top.endswith((".py", ".pyc", ".pyd", ".so", ".pth")) or "." not in top:
        if stem in module_names():
            return stem
    if top.endswith(".pth"):
        return top
    return None


STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
MAX_CELLS = 10_000


def shown(name) -> str:
    """A file or folder name as printable text (names that are not valid UTF-8 are escaped)."""
    if isinstance(name, Path):
        name = name.as_posix()
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def result_name(student: str) -> str:
    """The results file of a student id (ids that are not valid get a stable, safe name)."""
    if STUDENT_ID.fullmatch(student):
        return student
    return "invalid-" + hashlib.sha256(os.fsencode(student)).hexdigest()[:16]


def read_submission(lesson: Lesson, student: str, base_key: str = "") -> Submission:
    """Read one submission; never raises: any problem becomes ``failure`` (with a reason)."""
    try:
        return _read_submission(lesson, student, base_key)
    except Exception as exc:  # RecursionError, MemoryError on a hostile file, a bug: that submission only
        sub = Submission(shown(student), lesson.name, Course.current().submitted / student / lesson.name)
        sub.failure = f"the submission could not be read ({type(exc).__name__}: {shown(str(exc))[:200]})"
        sub.key = hashlib.sha256(f"{base_key}\0unreadable\0{type(exc).__name__}".encode()).hexdigest()
        return sub


def _read_submission(lesson: Lesson, student: str, base_key: str = "") -> Submission:
    import nbformat

    folder = Course.current().submitted / student / lesson.name
    sub = Submission(shown(student), lesson.name, folder)
    h = hashlib.sha256()
    h.update(f"{base_key or lesson.source_hash}\0".encode())
    if not STUDENT_ID.fullmatch(student):
        sub.failure = (f"the folder name {shown(student)!r} is not a valid student id (letters, digits and _.@+-, "
                       f"at most 64): rename grading/submitted/{shown(student)}/")
        sub.key = h.hexdigest()
        return sub
    if not folder.is_dir():
        sub.failure = f"no folder grading/submitted/{student}/{lesson.name}/"
        sub.key = h.hexdigest()
        return sub
    try:  # what collect noted on this submission (links it did not follow, files it left out, ...)
        from .collect import collect_notes

        sub.notes += [shown(n) for n in collect_notes(lesson.name, student)]
    except Exception:
        pass
    expected = f"{lesson.name}.ipynb"
    entries = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            if p.is_file() and ".ipynb_checkpoints" not in rel.parts:
                sub.notes.append(f"ignored hidden file {shown(rel)}")
            continue
        if p.is_symlink():
            sub.notes.append(f"ignored symbolic link {shown(rel)}")
            continue
        if shown(rel) != rel.as_posix():
            sub.notes.append(f"ignored {shown(rel)}: its name is not valid UTF-8")
            continue
        if p.is_file():
            entries.append((rel, p))
    notebooks = [(rel, p) for rel, p in entries if rel.suffix == ".ipynb" and len(rel.parts) == 1]
    chosen = None
    names = [rel.name for rel, _ in notebooks]
    if expected in names:
        chosen = folder / expected
        extra = [n for n in names if n != expected]
        if extra:
            sub.notes.append(f"extra notebook(s) ignored: {', '.join(extra)}")
    elif len(notebooks) == 1:
        chosen = notebooks[0][1]
        sub.notes.append(f"notebook was renamed to {names[0]} (expected {expected}); graded it")
    elif not notebooks:
        sub.failure = f"missing notebook: {expected} is not in the submission"
    else:
        sub.failure = f"missing notebook: {expected} is not in the submission, and it has several others " \
                      f"({', '.join(names)}): rename the one to grade"
    total = 0
    for rel, p in entries:
        size = p.stat().st_size
        h.update(os.fsencode(rel) + f"\0{size}\0".encode())
        if p == chosen:
            if size > MAX_NOTEBOOK_BYTES:
                sub.failure = f"notebook is too large ({size / 2**20:.1f} MB > {MAX_NOTEBOOK_BYTES >> 20} MB limit)"
                h.update(b"too-large")
                continue
            h.update(p.read_bytes())
            continue
        if rel.suffix == ".ipynb" or rel.name == "timestamp.txt":
            continue
        shadow = _shadow_name(rel)
        if shadow:
            sub.notes.append(f"ignored {rel.as_posix()}: it would shadow the module '{shadow}'")
            continue
        if total + size > MAX_FILES_BYTES or len(sub.files) >= MAX_FILES:
            sub.notes.append(f"ignored {rel.as_posix()}: submission files over the {MAX_FILES_BYTES >> 20} MB limit")
            continue
        data = p.read_bytes()
        h.update(data)
        total += size
        sub.files[rel.as_posix()] = data
    sub.key = h.hexdigest()
    if sub.failure or chosen is None:
        return sub
    raw = chosen.read_bytes()
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        sub.failure = "notebook is not UTF-8 text"
        return sub
    except json.JSONDecodeError as exc:
        sub.failure = f"notebook is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        return sub
    if not isinstance(obj, dict) or "cells" not in obj and "worksheets" not in obj:
        sub.failure = "file is JSON but not a notebook (no cells)"
        return sub
    major = obj.get("nbformat")
    cells = obj.get("cells") if major == 4 else None
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        sub.failure = f"notebook has {len(cells)} cells (the limit is {MAX_CELLS}): is it the lesson's notebook?"
        return sub
    if major not in (3, 4):
        sub.failure = f"unsupported notebook format nbformat={major!r} (need 4; open and save it in JupyterLab)"
        return sub
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:
        sub.failure = f"notebook could not be read: {type(exc).__name__}: {str(exc)[:200]}"
        return sub
    if major == 3:
        sub.notes.append("old notebook format (nbformat 3) converted to 4")
    raw_ids = [c.get("id") for c in obj.get("cells", []) if isinstance(c, dict) and isinstance(c.get("id"), str)]
    counts: dict = {}
    for i in raw_ids:  # linear: a notebook of 40k cells must not take quadratic time
        counts[i] = counts.get(i, 0) + 1
    dups = sorted(i for i, n in counts.items() if n > 1)
    if dups:
        sub.notes.append(f"duplicate cell ids in the submission: {', '.join(map(str, dups[:5]))}")
    ks = (obj.get("metadata") or {}).get("kernelspec") or {}
    if ks.get("name") not in (None, "python3") or ks.get("language") not in (None, "python"):
        sub.notes.append(f"kernelspec {ks.get('name')!r} ignored: graded with the course's Python 3 kernel")
    sub.notebook = nb
    return sub


# ----------------------------------------------------------------------------- the run plan


@dataclass
class Step:
    key: tuple                    # (source cell index, k): k > 0 for cells the student added
    kind: str                     # "instructor" | "student" | "test"
    code: str
    cell: SourceCell


def plan(lesson: Lesson, sub: Submission) -> tuple[list[Step], dict]:
    """Steps to run, and the student's answers by grade id (for feedback)."""
    nb = sub.notebook
    by_gid: dict[str, list] = {}
    by_id: dict[str, list] = {}
    src_ids = {c.cell_id for c in lesson.cells}
    src_gids = {c.grade_id for c in lesson.cells if c.grade_id}
    ids_seen: dict = {}
    order = []
    extras_after: dict[str, list] = {}
    anchor = None
    dropped_extra = 0
    src_by_id = {s.cell_id: s for s in lesson.cells}
    instructor_sources = {c.source for c in lesson.cells if c.kind in ("instructor", "test")} | \
                         {c.release_source for c in lesson.cells if c.kind in ("instructor", "test")}
    for pos, c in enumerate(nb.cells):
        md = c.get("metadata", {})
        gid = (md.get("nbgrader") or {}).get("grade_id")
        cid = c.get("id")
        if cid:
            ids_seen[cid] = ids_seen.get(cid, 0) + 1
        tags = md.get("tags") or []
        if any(t in ("skip-execution", "raises-exception", "skip", "remove-cell", "remove-input") for t in tags):
            sub.notes.append(f"ignored execution tags {tags} on a cell")
        if gid in src_gids:
            by_gid.setdefault(gid, []).append(c)
            order.append(gid)
            if gid in lesson.solutions:
                anchor = gid
        elif cid in src_ids:
            by_id.setdefault(cid, []).append(c)
            sc = src_by_id[cid]
            if sc.kind in ("solution", "manual"):
                anchor = sc.grade_id
        elif c.get("cell_type") == "code" and c.get("source", "") in instructor_sources:
            continue  # an instructor cell that lost its id (old format, repaired ids): restored anyway
        elif c.get("cell_type") == "code" and c.get("source", "").strip():
            if anchor is not None:
                extras_after.setdefault(anchor, []).append(c)
            else:
                dropped_extra += 1
    expected_order = [c.grade_id for c in lesson.cells if c.grade_id]
    seen_order = list(dict.fromkeys(order))
    if seen_order != [g for g in expected_order if g in seen_order]:
        sub.notes.append("graded cells were reordered: run in the instructor's order")
    if dropped_extra:
        sub.notes.append(f"{dropped_extra} code cell(s) added before the first answer were not run")
    answers: dict[str, str] = {}
    steps: list[Step] = []
    for sc in lesson.cells:
        if sc.kind == "instructor":
            steps.append(Step((sc.index, 0), "instructor", sc.source, sc))
        elif sc.kind == "test":
            cands = by_gid.get(sc.grade_id, []) + by_id.get(sc.cell_id, [])
            if not cands:
                sub.notes.append(f"test cell '{sc.grade_id}' was missing from the submission: restored")
            elif any(c.get("source", "") != sc.release_source for c in cands):
                sub.notes.append(f"test cell '{sc.grade_id}' was edited: restored from the instructor source")
            steps.append(Step((sc.index, 0), "test", sc.source, sc))
        elif sc.kind in ("solution", "manual"):
            cands = by_gid.get(sc.grade_id, [])
            if not cands:
                cands = by_id.get(sc.cell_id, [])
            if len(cands) > 1:
                sub.flags.append(f"{len(cands)} copies of answer cell '{sc.grade_id}': graded the last one")
            if cands:
                text = cands[-1].get("source", "")
                if cands[-1].get("cell_type") != sc.cell_type:
                    sub.notes.append(f"answer cell '{sc.grade_id}' changed type to {cands[-1].get('cell_type')}")
                    text = text if sc.kind == "manual" else ""
            else:
                text = sc.release_source
                sub.notes.append(f"answer cell '{sc.grade_id}' is missing from the submission: graded as unanswered")
            answers[sc.grade_id] = text
            if sc.kind == "solution":
                steps.append(Step((sc.index, 0), "student", text, sc))
                for k, extra in enumerate(extras_after.get(sc.grade_id, []), start=1):
                    steps.append(Step((sc.index, k), "student", extra.get("source", ""), sc))
    return steps, answers


# ----------------------------------------------------------------------------- running


@dataclass
class StepRecord:
    key: tuple
    kind: str
    status: str
    outputs: list
    seconds: float
    changes: list = field(default_factory=list)
    records: list = field(default_factory=list)   # check records sent during this step (test cells)
    ename: str | None = None                      # the error's type, if the cell raised


class Run:
    """One pass of a plan through one sandbox (a kill ends the pass)."""

    def __init__(self, lesson: Lesson, steps: list[Step], files: dict, limits: Limits, skip: dict,
                 time_left: float, cancel: threading.Event | None = None):
        self.lesson, self.steps, self.files, self.skip = lesson, steps, files, skip
        self.cancel = cancel
        self.limits = Limits(**{**limits.__dict__, "notebook_timeout": max(time_left, 1.0)})
        self.records: list[StepRecord] = []
        self.killed: tuple | None = None          # (step key, status)
        self.canary_failures: list[str] = []
        self.probe_failures: list[str] = []
        self.elapsed = 0.0

    def _probe(self, sb: Sandbox):
        nonce = secrets.token_hex(8)
        code, ue = probe_code(nonce)
        r = sb.execute(code, silent=True, store_history=False, user_expressions=ue, timeout=60)
        if r.killed:
            return None, r.status
        return parse_result(r.reply, nonce), r.status

    def _canary(self, sb: Sandbox) -> str | None:
        a, b = secrets.randbelow(10**6), secrets.randbelow(10**6)
        nonce = secrets.token_hex(6)
        code = f"print({a} + {b})\nraise AssertionError({nonce!r})\n"
        r = sb.execute(code, silent=False, store_history=False, timeout=30)
        if r.killed:
            return None
        text = "".join(o.get("text", "") for o in r.outputs if o.get("output_type") == "stream" and o["name"] == "stdout")
        errs = [o for o in r.outputs if o.get("output_type") == "error"]
        ok = (str(a + b) in text and r.status == "error" and (r.reply or {}).get("status") == "error"
              and any(e.get("ename") == "AssertionError" and nonce in e.get("evalue", "") for e in errs))
        return None if ok else "a canary cell that must fail (and print) did not: execution machinery tampered with"

    def execute(self):
        t0 = time.monotonic()
        with Sandbox(self.files, self.limits, course_root=Course.current().root) as sb:
            workdir = str(sb.dir / "work")
            sb.execute(SETUP_CODE, silent=True, store_history=False, timeout=30)
            prev, st = self._probe(sb)
            if prev is None:
                raise SandboxError(f"integrity probe failed before any student code ran ({st}): {sb.log_tail()}")
            for step in self.steps:
                if step.key in self.skip:
                    code = f"raise RuntimeError({('skipped by the grader: ' + self.skip[step.key])!r})"
                else:
                    code = step.code
                if step.kind == "test":
                    reason = self._canary(sb)
                    if reason and reason not in self.canary_failures:
                        self.canary_failures.append(reason)
                if not sb.alive():
                    self.killed = (step.key, "died")
                    break
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled()
                r = sb.execute(code, silent=False, store_history=step.kind != "test")
                checks, outputs = judge.split_records(r.outputs)
                err = next((o for o in outputs if o.get("output_type") == "error"), None)
                rec = StepRecord(step.key, step.kind, r.status, outputs, r.seconds,
                                 records=checks if step.kind == "test" else [],
                                 ename=str(err.get("ename", ""))[:100] if err else None)
                self.records.append(rec)
                if r.killed:
                    self.killed = (step.key, r.status)
                    break
                snap, st = self._probe(sb)
                if snap is None:
                    if st in ("ok", "error"):
                        self.probe_failures.append(f"integrity probe failed after cell {step.key[0]} "
                                                   f"({step.kind}): probe result missing or forged")
                        break
                    self.killed = (step.key, st)
                    break
                rec.changes = sorted(diff(prev, snap, workdir))
                if step.kind == "student":  # only names a test reads before assigning them matter
                    rec.changes = [c for c in rec.changes
                                   if not (c.startswith("global:") and c[8:] not in self.lesson.test_loads)]
                else:  # a lesson or test cell rebinding its own names (a student may have used them too)
                    rec.changes = [c for c in rec.changes
                                   if not (c.startswith("global:") and c[8:] in step.cell.stores)]
                prev = snap
        self.elapsed = time.monotonic() - t0
        return self


class Cancelled(Exception):
    """The grading of the lesson was stopped (the reference run failed)."""


def execute_plan(lesson: Lesson, steps: list[Step], files: dict, limits: Limits,
                 cancel: threading.Event | None = None) -> dict:
    """Run with restarts: a killed cell is replaced by a failing stub and the notebook re-run."""
    skip: dict = {}
    kills: list = []
    t_end = time.monotonic() + limits.notebook_timeout
    canary, probe_fail = [], []
    while True:
        run = Run(lesson, steps, files, limits, skip, t_end - time.monotonic(), cancel).execute()
        canary += [c for c in run.canary_failures if c not in canary]
        probe_fail += [p for p in run.probe_failures if p not in probe_fail]
        if run.killed is None or run.probe_failures:
            break
        key, status = run.killed
        kills.append((key, status))
        if status == "notebook_timeout" or len(kills) > MAX_RESTARTS or time.monotonic() >= t_end - 1:
            break
        skip[key] = _KILL_TEXT.get(status, status)
    return {"records": run.records, "kills": kills, "canary": canary, "probe_failures": probe_fail,
            "complete": run.killed is None and not run.probe_failures}


_KILL_TEXT = {"timeout": "it exceeded the per-cell time limit", "memory": "it exceeded the memory limit",
              "output_limit": "it produced more output than allowed", "died": "the kernel died while it ran",
              "notebook_timeout": "the notebook exceeded its total time limit"}


# ----------------------------------------------------------------------------- scoring


def test_runs(lesson: Lesson, records: list[StepRecord]) -> dict:
    """{test grade id: {"status", "records", "ename"}} of one run (plain data: what the judge reads)."""
    by_key = {r.key: r for r in records}
    out = {}
    for t in lesson.tests:
        rec = by_key.get((t.index, 0))
        if rec is not None:
            out[t.grade_id] = {"status": rec.status, "records": rec.records, "ename": rec.ename}
    return out


def score_tests(lesson: Lesson, runs: dict, ref_runs: dict) -> list[dict]:
    """The judge's verdict on every test cell (see :mod:`grading.judge`): full points or none."""
    out = []
    for t in lesson.tests:
        run = runs.get(t.grade_id)
        entry = {"grade_id": t.grade_id, "exercise": lesson.exercise_of(t.grade_id), "max": t.points}
        if run is None:
            entry.update(score=0.0, status="not run", message="the test did not run (an earlier cell was killed)")
        elif run["status"] not in ("ok", "error"):
            entry.update(score=0.0, status="failed", message=f"killed: {_KILL_TEXT.get(run['status'], run['status'])}")
        else:
            v = judge.judge_cell(ref_runs.get(t.grade_id, {}), run, lesson.analysis.get(t.grade_id, {}))
            entry.update(score=t.points if v.passed else 0.0, status="passed" if v.passed else "failed",
                         message=lesson.scrub(v.message)[:500], checks=len(judge.top_records(run["records"])))
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- reference run


class ReferenceFailed(Exception):
    """The instructor's solution does not get full marks in the grader: nobody can be graded."""

    def __init__(self, lesson: str, problems: list[str]):
        self.lesson, self.problems = lesson, problems
        super().__init__(f"{lesson}: " + "; ".join(problems))

    def explain(self) -> str:
        lines = [f"[{self.lesson}] STOPPED: the instructor's solution does not get full marks in the grader's sandbox,",
                 "so no submission was graded (nothing was written or cached):"]
        lines += [f"  - {p}" for p in self.problems[:12]]
        lines += ["How to fix: `python -m grading validate NN` checks the solution outside the sandbox; "
                  "`python -m grading doctor NN` grades it in a real sandbox and shows each test's verdict. "
                  "A test that fails only in the sandbox usually needs a file or module the sandbox does not show "
                  "(only the Python environment, helpers/ and the released lesson are visible). Then rerun `grade`: "
                  "the reference run is repeated (a failed one is never cached)."]
        return "\n".join(lines)


_FINGERPRINT: str | None = None


def code_fingerprint(repo: Path | None = None) -> str:
    """Hash of the code that decides a grade: the grader (grading/*.py, the nbgrader config included)
    and the helper package the kernels import (helpers/**/*.py).  ``repo``: another checkout (tests)."""
    global _FINGERPRINT
    if _FINGERPRINT is not None and repo is None:
        return _FINGERPRINT
    base = Path(repo) if repo is not None else Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"grader {GRADER_VERSION}\0".encode())
    files = sorted((base / "grading").glob("*.py")) + sorted((base / "helpers").rglob("*.py"))
    for f in files:
        h.update(f"{f.relative_to(base).as_posix()}\0".encode())
        h.update(f.read_bytes())
    if repo is not None:
        return h.hexdigest()
    _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def run_key(lesson: Lesson, limits: Limits) -> str:
    """What every grade of this lesson depends on besides the submission: code, sources, limits."""
    lim = json.dumps({k: v for k, v in sorted(limits.__dict__.items())}, sort_keys=True)
    return hashlib.sha256(f"{code_fingerprint()}\0{lesson.source_hash}\0{lesson.release_hash}\0{lim}".encode()).hexdigest()


def reference_problems(lesson: Lesson, runs: dict, res: dict) -> list[str]:
    """Why the instructor's solution would not get full marks (empty: it does)."""
    problems = []
    by_key = {r.key: r for r in res["records"]}
    for key, status in res["kills"]:
        problems.append(f"cell #{key[0]} was killed: {_KILL_TEXT.get(status, status)} (raise --cell-timeout/--timeout/"
                        f"--memory, or make the lesson lighter)")
    problems += [f"kernel integrity: {c}" for c in res["canary"] + res["probe_failures"]]
    for t in lesson.tests:
        run = runs.get(t.grade_id)
        if run is None:
            problems.append(f"test '{t.grade_id}' did not run")
            continue
        if run["status"] != "ok":
            rec = by_key.get((t.index, 0))
            err = next((o for o in (rec.outputs if rec else []) if o.get("output_type") == "error"), {})
            problems.append(f"test '{t.grade_id}' fails on the solution: {err.get('ename', run['status'])}: "
                            f"{str(err.get('evalue', ''))[:300]}")
            continue
        if not judge.top_records(run["records"]):
            problems.append(f"test '{t.grade_id}' makes no helpers.checks call: the grader judges a test cell by "
                            f"its checks (write checks.check_true/check_equal instead of a bare assert)")
            continue
        v = judge.judge_cell(run, run, lesson.analysis.get(t.grade_id, {}))
        if not v.passed:
            problems.append(f"test '{t.grade_id}': {v.message}")
    # an earlier cell of the solution that fails leaves the tests with nothing to test
    for r in res["records"]:
        if r.kind != "test" and r.status == "error":
            cell = next(c for c in lesson.cells if c.index == r.key[0])
            err = next((o for o in r.outputs if o.get("output_type") == "error"), {})
            problems.insert(0, f"{'solution' if r.kind == 'student' else 'lesson'} cell "
                               f"{repr(cell.grade_id) if cell.grade_id else '#' + str(r.key[0])} raises "
                               f"{err.get('ename', '')}: {str(err.get('evalue', ''))[:300]}")
            break
    return problems


def reference(lesson: Lesson, limits: Limits, force: bool = False, cancel: threading.Event | None = None) -> dict:
    """Run the instructor's own solution through the grader; cached (only when it gets full marks) under
    a key covering the grader's code, helpers/, the lesson's source and release, and the limits."""
    path = Course.current().reference_file(lesson.name)
    key = run_key(lesson, limits)
    if path.exists() and not force:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("key") == key and data.get("ok"):
            return data
    steps = [Step((c.index, 0), {"instructor": "instructor", "test": "test", "solution": "student"}[c.kind], c.source, c)
             for c in lesson.cells if c.kind in ("instructor", "test", "solution")]
    res = execute_plan(lesson, steps, {}, limits, cancel)
    runs = test_runs(lesson, res["records"])
    problems = reference_problems(lesson, runs, res)
    data = {"lesson": lesson.name, "key": key, "source_hash": lesson.source_hash, "grader": GRADER_VERSION,
            "ok": not problems, "problems": problems, "tests": runs,
            "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "changes": {f"{r.key[0]}": r.changes for r in res["records"]}, "kills": res["kills"],
            "canary": res["canary"], "probe_failures": res["probe_failures"]}
    if problems:
        path.unlink(missing_ok=True)
    else:
        _atomic_write(path, json.dumps(data, indent=1))
    return data


# ----------------------------------------------------------------------------- one submission


def grade_submission(lesson: Lesson, sub: Submission, ref, limits: Limits, cancel: threading.Event | None = None) -> dict:
    """Grade one read submission; returns the result record (never raises for student problems)."""
    base = {"student": sub.student, "lesson": lesson.name, "key": sub.key, "grader": GRADER_VERSION,
            "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "max_auto": lesson.max_auto,
            "max_manual": lesson.max_manual, "notes": list(dict.fromkeys(sub.notes)), "flags": list(sub.flags),
            "protections": protections()}
    if sub.failure:
        return {**base, "status": "failed", "reason": sub.failure, "score": None, "tests": []}
    steps, answers = plan(lesson, sub)
    base["notes"] = list(dict.fromkeys(sub.notes))
    t0 = time.monotonic()
    try:
        res = execute_plan(lesson, steps, sub.files, limits, cancel)
    except SandboxError as exc:
        return {**base, "status": "error", "reason": f"grader infrastructure: {exc}", "score": None, "tests": []}
    ref = ref() if callable(ref) else ref  # the reference run may still be running in the pool
    if not ref.get("ok"):
        raise Cancelled()
    tests = score_tests(lesson, test_runs(lesson, res["records"]), ref["tests"])
    flags = list(sub.flags) + res["canary"] + res["probe_failures"]
    allowed = ref.get("changes", {})
    for rec in res["records"]:
        ok = set(allowed.get(f"{rec.key[0]}", []))
        for change in rec.changes:
            if change not in ok:
                where = "your answer in" if rec.kind == "student" else "a cell after"
                text = f"{describe(change)} (during {rec.kind} cell {rec.key[0]}"
                cell = next(c for c in lesson.cells if c.index == rec.key[0])
                text += f" '{cell.grade_id}')" if cell.grade_id else ")"
                if text not in flags:
                    flags.append(text)
    notes = list(base["notes"])
    for key, status in res["kills"]:
        cell = next(c for c in lesson.cells if c.index == key[0])
        label = f"'{cell.grade_id}'" if cell.grade_id else f"#{key[0]}"
        notes.append(f"cell {label} was killed: {_KILL_TEXT.get(status, status)}"
                     + ("; it was skipped and the notebook re-run" if status != "notebook_timeout" else ""))
    score = sum(t["score"] for t in tests)
    status = "flagged" if flags else "graded"
    outputs = {f"{r.key[0]}.{r.key[1]}": {"kind": r.kind, "status": r.status, "outputs": _clip(r.outputs),
                                           "seconds": round(r.seconds, 3)} for r in res["records"]}
    return {**base, "status": status, "reason": "; ".join(flags[:6]) if flags else "", "flags": flags,
            "notes": notes, "score": score, "tests": tests, "answers": answers, "outputs": outputs,
            "seconds": round(time.monotonic() - t0, 2)}


def _clip(outputs: list, limit: int = 200_000) -> list:
    out, used = [], 0
    for o in outputs:
        size = len(json.dumps(o))
        if used + size > limit:
            out.append({"output_type": "stream", "name": "stdout", "text": "[output truncated by the grader]\n"})
            break
        out.append(o)
        used += size
    return out


# ----------------------------------------------------------------------------- the whole class


def load_result(lesson: str, student: str) -> dict | None:
    p = results_dir(lesson) / f"{result_name(student)}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def all_results(lesson: str) -> list[dict]:
    d = results_dir(lesson)
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except ValueError:
                pass
    return out


#: the one default per limit (the CLI's help, ``grade`` and ``doctor`` use these)
DEFAULT_CELL_TIMEOUT = 180.0
DEFAULT_NOTEBOOK_TIMEOUT = 900.0
DEFAULT_MEMORY_GIB = 4.0
#: reading and planning one submission (it is linear in the notebook's size, which is capped)
READ_TIMEOUT = 120.0


def default_limits() -> Limits:
    return Limits(cell_timeout=float(os.environ.get("DLSBS_CELL_TIMEOUT", DEFAULT_CELL_TIMEOUT)),
                  notebook_timeout=float(os.environ.get("DLSBS_NOTEBOOK_TIMEOUT", DEFAULT_NOTEBOOK_TIMEOUT)),
                  memory_bytes=int(DEFAULT_MEMORY_GIB * 2**30))


def grade_lesson(name: str, *, students: list[str] | None = None, workers: int | None = None, force: bool = False,
                 limits: Limits | None = None, progress: bool = True, feedback: bool = True,
                 report: bool = True, log=print) -> dict:
    """Grade every (new or changed) submission of one lesson. Returns a summary dict.

    Raises :class:`ReferenceFailed` (nothing written) when the instructor's solution does not get full
    marks.  Each submission is read, planned, run and judged in its own worker: whatever goes wrong
    there is that submission's outcome, never the class's.
    """
    from . import report as rep

    limits = limits or default_limits()
    lesson = Lesson(name)
    base_key = run_key(lesson, limits)
    todo = list(dict.fromkeys(students or course.submitted_students(name)))
    workers = max(1, workers or os.cpu_count() or 1)
    log(f"[{name}] {len(todo)} submission(s); {workers} worker(s)")
    gradebook = None
    done: list[dict] = []
    skipped: list[str] = []
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="nb", desc=f"grading {name}", file=sys.stderr)
    cancel = threading.Event()
    ref_box: dict = {}
    ref_lock = threading.Lock()

    def get_ref():  # the first worker that needs the reference waits for it; a failed one stops everyone
        fut = ref_box["future"]
        ref = fut.result()
        if not ref.get("ok"):
            cancel.set()
        return ref

    pool = cf.ThreadPoolExecutor(max_workers=workers)
    try:
        # The reference run (the instructor's solution through the same pipeline) is the first job; the
        # submissions run beside it and are judged once it is in (its records are what they must match).
        ref_box["future"] = pool.submit(reference, lesson, limits, force, cancel) if todo else None
        futures = [pool.submit(_grade_one, lesson, sid, base_key, force, get_ref, limits, cancel) for sid in todo]
        for fut in cf.as_completed(futures):
            result = fut.result()
            if result is None:  # cancelled: the reference failed
                continue
            if result.get("status") == "unchanged":
                skipped.append(result["student"])
                if bar:
                    bar.update(1)
                continue
            ref = ref_box["future"].result()
            if not ref.get("ok"):
                continue
            with ref_lock:
                if gradebook is None:
                    gradebook = _open_gradebook(name, feedback, log)
            _store(lesson, result, feedback, gradebook, rep)
            done.append(result)
            if bar:
                bar.update(1)
                bar.set_postfix_str(f"{result['student']}: {result['status']}")
    finally:
        cancel_now = ref_box.get("future") is not None and ref_box["future"].done() and \
            not ref_box["future"].exception() and not ref_box["future"].result().get("ok")
        if cancel_now:
            cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if bar:
            bar.close()
    if ref_box.get("future") is not None:
        ref = ref_box["future"].result()
        if not ref.get("ok"):
            raise ReferenceFailed(name, ref["problems"])
    summary = {"lesson": name, "graded_now": done, "unchanged": skipped}
    if report:
        summary["report"] = rep.lesson_report(lesson)
    return summary


def _open_gradebook(name: str, feedback: bool, log) -> bool:
    if not feedback:
        return False
    try:  # formgrader and `nbgrader export` read the gradebook: it must know this lesson's graded cells
        course.ensure_gradebook(name)
        return True
    except (Exception, course.CourseError) as exc:  # CourseError is a SystemExit: the grading goes on
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
        cause = next((ln for ln in reversed(lines) if "Error" in ln and "|" not in ln), lines[-1])
        log(f"  WARNING: grading/gradebook.db not updated ({cause}); the grades are in grading/reports/")
        return False


def _store(lesson: Lesson, result: dict, feedback: bool, gradebook: bool, rep) -> None:
    """Write one result (parent process only, atomically), then its feedback and gradebook entry."""
    path = results_dir(lesson.name) / f"{result.get('file') or result_name(result['student'])}.json"
    _atomic_write(path, json.dumps(result, indent=1))
    if not feedback or result["status"] == "error":
        return
    notes = len(result.get("notes", []))
    try:
        rep.write_feedback(lesson, result)
        rep.write_autograded(lesson, result)
    except Exception as exc:  # feedback must never lose a grade
        result.setdefault("notes", []).append(f"feedback not written: {exc}")
    if gradebook:
        try:
            rep.save_to_gradebook(lesson, result)
        except Exception as exc:
            result.setdefault("notes", []).append(f"not saved in the gradebook: {exc}")
    if len(result.get("notes", [])) != notes:  # keep the notes with the grade
        _atomic_write(path, json.dumps(result, indent=1))


def _grade_one(lesson: Lesson, sid: str, base_key: str, force: bool, ref, limits: Limits,
               cancel: threading.Event) -> dict | None:
    """Read, plan, run and judge one submission (in a worker).  Never raises: a problem with the
    submission is its ``failed`` outcome, a sandbox problem its ``error`` (retried on the next run)."""
    if cancel.is_set():
        return None
    sub = read_submission(lesson, sid, base_key)
    old = load_result(lesson.name, sid)
    if not force and old and old.get("key") == sub.key and old.get("status") != "error":
        return {"student": sub.student, "status": "unchanged"}
    try:
        result = grade_submission(lesson, sub, ref, limits, cancel)
        result["file"] = result_name(sid)  # the results file of this (raw) id
        return result
    except Cancelled:
        return None
    except Exception as exc:  # a problem with this submission (or a grader bug) must not stop the class
        return {"student": sub.student, "file": result_name(sid), "lesson": lesson.name, "key": sub.key, "status": "failed",
                "reason": f"the grader could not process this submission ({type(exc).__name__}: "
                          f"{shown(str(exc))[:300]})", "score": None, "tests": [],
                "notes": [shown(traceback.format_exc()[-1500:])], "flags": [], "max_auto": lesson.max_auto,
                "max_manual": lesson.max_manual, "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


#: exit status of ``grade`` (documented in the CLI's help and the README)
EXIT_OK, EXIT_STOPPED, EXIT_FLAGGED, EXIT_FAILED = 0, 1, 3, 4


def print_summary(summaries: list[dict], log=print) -> dict:
    """Print the end-of-run summary; returns the counts by status over every graded lesson."""
    totals = {"graded": 0, "flagged": 0, "failed": 0, "error": 0}
    for s in summaries:
        results = all_results(s["lesson"])
        by = {"graded": [], "flagged": [], "failed": [], "error": []}
        for r in results:
            by.setdefault(r["status"], []).append(r)
        log(f"[{s['lesson']}] {len(results)} submission(s): {len(by['graded'])} graded, {len(by['flagged'])} flagged "
            f"for review, {len(by['failed'])} failed, {len(by['error'])} grader errors "
            f"({len(s['graded_now'])} graded in this run, {len(s['unchanged'])} unchanged)")
        for r in by["graded"]:
            log(f"  graded   {r['student']}: {r['score']:g}/{r['max_auto']:g}"
                + (f"  (notes: {'; '.join(r['notes'][:3])})" if r.get("notes") else ""))
        for r in by["flagged"]:
            log(f"  FLAGGED  {r['student']}: {r['score']:g}/{r['max_auto']:g} — {r['reason']}")
        for r in by["failed"]:
            log(f"  FAILED   {r['student']}: {r['reason']}")
        for r in by["error"]:
            log(f"  ERROR    {r['student']}: {r['reason']} (re-run `grade` to retry)")
        for k in totals:
            totals[k] += len(by.get(k, []))
        if s.get("report"):
            log(f"  report: {s['report']}")
    active = protections()
    log("protections active: " + "; ".join(active))
    for m in missing_protections():
        log("NOT active: " + m)
    return totals


def exit_status(totals: dict) -> tuple[int, str]:
    """(exit status, the run's last line)."""
    text = (f"{totals['graded']} graded, {totals['flagged']} flagged for review, {totals['failed']} failed, "
            f"{totals['error']} grader errors")
    if totals["failed"] or totals["error"]:
        return EXIT_FAILED, f"result: {text} -> exit {EXIT_FAILED} (some submissions failed or errored: see FAILED/ERROR above)"
    if totals["flagged"]:
        return EXIT_FLAGGED, f"result: {text} -> exit {EXIT_FLAGGED} (flagged submissions wait for review)"
    return EXIT_OK, f"result: {text} -> exit {EXIT_OK}"


def grade(lesson: str | None = None, *, students=None, workers=None, force=False, limits=None, progress=True) -> int:
    """``python -m grading grade``: exit 0 all graded, 3 some flagged for review, 4 some failed or grader
    errors, 1 grading stopped (the instructor's solution does not get full marks, or a course problem)."""
    from .sandbox import sweep

    stale = sweep()
    if stale:
        print(f"removed {stale} sandbox(es) left behind by an earlier grader run that was killed")
    summaries = []
    stopped = []
    for name in course.resolve(lesson):
        if not course.submitted_students(name) and not students:
            print(f"[{name}] no submissions in grading/submitted/*/{name}/")
            continue
        try:
            summaries.append(grade_lesson(name, students=students, workers=workers, force=force, limits=limits,
                                          progress=progress))
        except ReferenceFailed as exc:
            print(exc.explain())
            stopped.append(name)
    from . import report as rep

    if summaries:
        csv = rep.export_csv()
        print(f"grades: {csv}")
    totals = print_summary(summaries)
    status, last = exit_status(totals)
    if stopped:
        status = EXIT_STOPPED
        last = f"result: grading STOPPED for {', '.join(stopped)} (the instructor's solution does not get full " \
               f"marks in the sandbox: see above) -> exit {EXIT_STOPPED}"
    print(last)
    return status


def doctor(lesson: str | None = None, limits: Limits | None = None, log=print) -> int:
    """``python -m grading doctor``: grade each lesson's instructor solution in a real sandbox, fresh (no
    cache), and show each test's verdict and the sandbox's protections.  Exit 0 only if every solution
    gets full marks."""
    from .sandbox import sweep

    sweep()
    limits = limits or default_limits()
    bad = 0
    for name in course.resolve(lesson):
        les = Lesson(name)
        t0 = time.monotonic()
        try:
            ref = reference(les, limits, force=True)
        except SandboxError as exc:
            log(f"[{name}] NOT OK: the sandbox could not run the solution: {exc}")
            bad += 1
            continue
        tests = score_tests(les, ref["tests"], ref["tests"])
        got = sum(t["score"] for t in tests)
        state = "ok" if ref["ok"] else "NOT OK"
        log(f"[{name}] {state}: the instructor's solution scores {got:g}/{les.max_auto:g} in the sandbox "
            f"({time.monotonic() - t0:.0f} s)")
        for t in tests:
            log(f"  {t['status']:7} {t['grade_id']}: {t.get('message', '')}")
        for p in ref.get("problems", []):
            log(f"  problem: {p}")
        bad += not ref["ok"]
    for m in missing_protections():
        log("WARNING, sandbox protection NOT active: " + m)
    log("doctor: " + ("every instructor solution gets full marks in the sandbox" if not bad else
                      f"{bad} lesson(s) would stop `grade`: fix them first (see above)"))
    return 1 if bad else 0
