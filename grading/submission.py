"""Reading one submission defensively: :func:`read_submission` never raises (a problem is its ``failure``)."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .lesson import Lesson
from .paths import Course
from .results import STUDENT_ID, result_name, shown  # noqa: F401 (re-exported)

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_FILES_BYTES = 50 << 20
MAX_FILES = 200
MAX_CELLS = 10_000


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
    raw = b""  # the chosen notebook's bytes: read once, for the key and for parsing
    for rel, p in entries:
        size = p.stat().st_size
        h.update(os.fsencode(rel) + f"\0{size}\0".encode())
        if p == chosen:
            if size > MAX_NOTEBOOK_BYTES:
                sub.failure = f"notebook is too large ({size / 2**20:.1f} MB > {MAX_NOTEBOOK_BYTES >> 20} MB limit)"
                h.update(b"too-large")
                continue
            raw = p.read_bytes()
            h.update(raw)
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


