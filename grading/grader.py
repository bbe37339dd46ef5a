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

from . import course
from .sandbox import Limits, Sandbox, SandboxError, capabilities, missing_protections, protections
from .sandbox_probe import SETUP_CODE, describe, diff, parse_result, probe_code

GRADER_VERSION = "1"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MAX_NOTEBOOK_BYTES = 20 << 20
MAX_FILES_BYTES = 50 << 20
MAX_FILES = 200
MAX_RESTARTS = 2


def cache_dir() -> Path:
    return course.GRADING / ".grader-cache"


def results_dir(lesson: str) -> Path:
    return cache_dir() / "results" / lesson


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
    loads: set = field(default_factory=set)


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
        rel = nbformat.read(self.release_path, as_version=4) if self.release_path.exists() else None
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
                sc.loads = _loaded_names(c.source)
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


def _loaded_names(src: str) -> set:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set(re.findall(r"\b[A-Za-z_]\w*\b", src))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


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


def read_submission(lesson: Lesson, student: str) -> Submission:
    import nbformat

    folder = course.SUBMITTED / student / lesson.name
    sub = Submission(student, lesson.name, folder)
    h = hashlib.sha256()
    h.update(f"{GRADER_VERSION}\0{lesson.source_hash}\0".encode())
    if not folder.is_dir():
        sub.failure = f"no folder grading/submitted/{student}/{lesson.name}/"
        sub.key = h.hexdigest()
        return sub
    expected = f"{lesson.name}.ipynb"
    entries = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            if p.is_file() and ".ipynb_checkpoints" not in rel.parts:
                sub.notes.append(f"ignored hidden file {rel.as_posix()}")
            continue
        if p.is_symlink():
            sub.notes.append(f"ignored symbolic link {rel.as_posix()}")
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
        h.update(f"{rel.as_posix()}\0{size}\0".encode())
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
    raw_ids = [c.get("id") for c in obj.get("cells", []) if isinstance(c, dict) and c.get("id")]
    dups = sorted({i for i in raw_ids if raw_ids.count(i) > 1})
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
            sc = next(s for s in lesson.cells if s.cell_id == cid)
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
    seen_order = [g for i, g in enumerate(order) if g not in order[:i]]
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


class Run:
    """One pass of a plan through one sandbox (a kill ends the pass)."""

    def __init__(self, lesson: Lesson, steps: list[Step], files: dict, limits: Limits, skip: dict,
                 time_left: float):
        self.lesson, self.steps, self.files, self.skip = lesson, steps, files, skip
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
        with Sandbox(self.files, self.limits, course_root=course.ROOT) as sb:
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
                r = sb.execute(code, silent=False, store_history=step.kind != "test")
                rec = StepRecord(step.key, step.kind, r.status, r.outputs, r.seconds)
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
                if step.kind == "student":
                    rec.changes = [c for c in rec.changes
                                   if not (c.startswith("global:") and c[8:] not in self.lesson.test_loads)]
                prev = snap
        self.elapsed = time.monotonic() - t0
        return self


def execute_plan(lesson: Lesson, steps: list[Step], files: dict, limits: Limits) -> dict:
    """Run with restarts: a killed cell is replaced by a failing stub and the notebook re-run."""
    skip: dict = {}
    kills: list = []
    t_end = time.monotonic() + limits.notebook_timeout
    canary, probe_fail = [], []
    while True:
        run = Run(lesson, steps, files, limits, skip, t_end - time.monotonic()).execute()
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


def score_tests(lesson: Lesson, records: list[StepRecord]) -> list[dict]:
    import nbformat
    from nbgrader.utils import determine_grade

    by_key = {r.key: r for r in records}
    out = []
    for t in lesson.tests:
        rec = by_key.get((t.index, 0))
        entry = {"grade_id": t.grade_id, "exercise": lesson.exercise_of(t.grade_id), "max": t.points}
        if rec is None:
            entry.update(score=0.0, status="not run", message="the test did not run (an earlier cell was killed)")
        elif rec.status not in ("ok", "error"):
            entry.update(score=0.0, status="failed", message=f"killed: {_KILL_TEXT.get(rec.status, rec.status)}")
        else:
            cell = nbformat.v4.new_code_cell(t.source)
            cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": t.grade_id,
                                         "points": t.points, "locked": True, "schema_version": 3}
            cell.outputs = [nbformat.from_dict(o) for o in rec.outputs]
            score, _ = determine_grade(cell)
            if rec.status == "error":
                score = 0.0
            score = float(score or 0.0)
            err = next((o for o in rec.outputs if o.get("output_type") == "error"), None)
            if err is not None:
                msg = f"{err.get('ename')}: {err.get('evalue')}"
            elif any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in rec.outputs):
                msg = "the test wrote to stderr"
            else:
                msg = ""
            status = "passed" if score >= t.points else ("partial" if score > 0 else "failed")
            entry.update(score=score, status=status, message=lesson.scrub(msg)[:500])
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- reference run


def reference(lesson: Lesson, limits: Limits, force: bool = False) -> dict:
    """Run the instructor's own solution through the grader (cached per source version)."""
    path = cache_dir() / "reference" / f"{lesson.name}.json"
    if path.exists() and not force:
        data = json.loads(path.read_text())
        if data.get("source_hash") == lesson.source_hash and data.get("grader") == GRADER_VERSION:
            return data
    steps = [Step((c.index, 0), {"instructor": "instructor", "test": "test", "solution": "student"}[c.kind], c.source, c)
             for c in lesson.cells if c.kind in ("instructor", "test", "solution")]
    res = execute_plan(lesson, steps, {}, limits)
    tests = score_tests(lesson, res["records"])
    data = {"lesson": lesson.name, "source_hash": lesson.source_hash, "grader": GRADER_VERSION,
            "changes": {f"{r.key[0]}": r.changes for r in res["records"]},
            "score": sum(t["score"] for t in tests), "max": lesson.max_auto,
            "failed_tests": [t for t in tests if t["status"] != "passed"], "kills": res["kills"],
            "canary": res["canary"], "probe_failures": res["probe_failures"]}
    _atomic_write(path, json.dumps(data, indent=1))
    return data


# ----------------------------------------------------------------------------- one submission


def grade_submission(lesson: Lesson, sub: Submission, ref, limits: Limits) -> dict:
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
        res = execute_plan(lesson, steps, sub.files, limits)
    except SandboxError as exc:
        return {**base, "status": "error", "reason": f"grader infrastructure: {exc}", "score": None, "tests": []}
    tests = score_tests(lesson, res["records"])
    flags = list(sub.flags) + res["canary"] + res["probe_failures"]
    ref = ref() if callable(ref) else ref  # the reference run may still be running in the pool
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
    p = results_dir(lesson) / f"{student}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def all_results(lesson: str) -> list[dict]:
    d = results_dir(lesson)
    out = []
    if d.is_dir():
        for p in sorted(d.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError:
                pass
    return out


def default_limits() -> Limits:
    return Limits(cell_timeout=float(os.environ.get("DLSBS_CELL_TIMEOUT", 180)),
                  notebook_timeout=float(os.environ.get("DLSBS_NOTEBOOK_TIMEOUT", 900)))


def grade_lesson(name: str, *, students: list[str] | None = None, workers: int | None = None, force: bool = False,
                 limits: Limits | None = None, progress: bool = True, feedback: bool = True,
                 report: bool = True, log=print) -> dict:
    """Grade every (new or changed) submission of one lesson. Returns a summary dict."""
    from . import report as rep

    limits = limits or default_limits()
    lesson = Lesson(name)
    all_students = course.submitted_students(name)
    todo_students = [s for s in (students or all_students)]
    workers = max(1, workers or os.cpu_count() or 1)
    subs, skipped = [], []
    for sid in todo_students:
        sub = read_submission(lesson, sid)
        old = load_result(name, sid)
        if not force and old and old.get("key") == sub.key and old.get("status") != "error":
            skipped.append(sid)
            continue
        subs.append(sub)
    log(f"[{name}] {len(subs)} to grade, {len(skipped)} unchanged (already graded); {workers} worker(s)")
    gradebook = False
    if subs and feedback:
        try:  # formgrader and `nbgrader export` read the gradebook: it must know this lesson's graded cells
            course.ensure_gradebook(name)
            gradebook = True
        except (Exception, course.CourseError) as exc:  # CourseError is a SystemExit: the grading goes on
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
            cause = next((ln for ln in reversed(lines) if "Error" in ln and "|" not in ln), lines[-1])
            log(f"  WARNING: grading/gradebook.db not updated ({cause}); the grades are in grading/reports/")
    done: list[dict] = []
    bar = None
    ref_future = None
    if progress and subs:
        from tqdm import tqdm

        bar = tqdm(total=len(subs), unit="nb", desc=f"grading {name}", file=sys.stderr)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        # The reference run (the instructor's solution through the same pipeline) is only needed to
        # judge kernel changes after a run: it is one more job in the pool, not a serial prelude.
        ref_future = pool.submit(reference, lesson, limits) if subs else None
        futures = {pool.submit(_grade_safely, lesson, s, ref_future.result, limits): s for s in subs}
        for fut in cf.as_completed(futures):
            result = fut.result()
            _atomic_write(results_dir(name) / f"{result['student']}.json", json.dumps(result, indent=1))
            if feedback and result["status"] != "error":
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
                    _atomic_write(results_dir(name) / f"{result['student']}.json", json.dumps(result, indent=1))
            done.append(result)
            if bar:
                bar.update(1)
                bar.set_postfix_str(f"{result['student']}: {result['status']}")
    if bar:
        bar.close()
    if ref_future is not None:
        ref = ref_future.result()
        if ref["score"] != ref["max"] or ref["canary"] or ref["probe_failures"] or ref["kills"]:
            log(f"  WARNING: the instructor's solution scores {ref['score']:g}/{ref['max']:g} in the grader "
                f"({[t['grade_id'] for t in ref['failed_tests']]} {ref['kills']} {ref['canary'] + ref['probe_failures']})")
    summary = {"lesson": name, "graded_now": done, "unchanged": skipped}
    if report:
        summary["report"] = rep.lesson_report(lesson)
    return summary


def _grade_safely(lesson, sub, ref, limits) -> dict:
    try:
        return grade_submission(lesson, sub, ref, limits)
    except Exception as exc:  # a grader bug must not take the run (or other students) down
        return {"student": sub.student, "lesson": lesson.name, "key": sub.key, "status": "error",
                "reason": f"grader error: {type(exc).__name__}: {exc}", "score": None, "tests": [],
                "notes": [traceback.format_exc()[-1500:]], "flags": [], "max_auto": lesson.max_auto,
                "max_manual": lesson.max_manual}


def print_summary(summaries: list[dict], log=print) -> int:
    """Print the end-of-run summary; returns the number of problems (flagged + failed + errors)."""
    problems = 0
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
        problems += len(by["flagged"]) + len(by["failed"]) + len(by["error"])
        if s.get("report"):
            log(f"  report: {s['report']}")
    active = protections()
    log("protections active: " + "; ".join(active))
    for m in missing_protections():
        log("NOT active: " + m)
    return problems


def grade(lesson: str | None = None, *, students=None, workers=None, force=False, limits=None, progress=True) -> int:
    from .sandbox import sweep

    stale = sweep()
    if stale:
        print(f"removed {stale} sandbox(es) left behind by an earlier grader run that was killed")
    summaries = []
    for name in course.resolve(lesson):
        if not course.submitted_students(name) and not students:
            print(f"[{name}] no submissions in grading/submitted/*/{name}/")
            continue
        summaries.append(grade_lesson(name, students=students, workers=workers, force=force, limits=limits,
                                      progress=progress))
    from . import report as rep

    if summaries:
        csv = rep.export_csv()
        print(f"grades: {csv}")
    print_summary(summaries)
    return 0
