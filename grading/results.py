"""Storing results: one JSON file per submission, written atomically by the grader's parent process only.

Every result is made by :func:`make_result` (one :class:`Result` type).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .paths import Course

GRADER_VERSION = "2"


STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")


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


def results_dir(lesson: str) -> Path:
    return Course.current().results_dir(lesson)


def _atomic_write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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


@dataclass
class Result:
    """The outcome of grading one submission (stored as JSON; feedback and reports read these)."""
    student: str
    lesson: str
    status: str                    # "graded" | "flagged" | "failed" | "error"
    key: str = ""                  # hash of everything that decided it (a changed key means a regrade)
    file: str = ""                 # results file name (a safe name for an id that is not valid)
    reason: str = ""               # why flagged / failed / error
    score: float | None = None     # automatic score (None: not scored)
    max_auto: float = 0.0
    max_manual: float = 0.0
    tests: list = field(default_factory=list)      # one entry per test cell: grade_id, score, max, status, message
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)    # the student's answers by grade id
    outputs: dict = field(default_factory=dict)    # outputs per step "index.k" (records removed)
    protections: list = field(default_factory=list)
    seconds: float = 0.0
    grader: str = GRADER_VERSION
    graded_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def make_result(lesson, sub, status: str, **fields) -> dict:
    """The one place a result is built: from the lesson, the read submission and what grading found."""
    notes = list(dict.fromkeys(fields.pop("notes", sub.notes)))
    r = Result(student=sub.student, lesson=lesson.name, status=status, key=sub.key, max_auto=lesson.max_auto,
               max_manual=lesson.max_manual, notes=notes, flags=fields.pop("flags", list(sub.flags)), **fields)
    return asdict(r)
