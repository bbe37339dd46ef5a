"""Where a course's files are: :class:`Course` (no import-time path globals).

``Course.current()`` is the course the instructor commands work on: ``$DLSBS_COURSE_ROOT`` if set (the
test-suite grades in throw-away copies), else this repository.  It is looked up on every call, so a
changed environment (a test's ``monkeypatch.setenv``) takes effect without re-importing anything.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(__file__).resolve().parent  # grading/nbgrader_config.py lives here
LESSON_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
#: nbgrader's markers of hidden tests in a test cell (the one definition: grader, feedback, preprocessors)
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: one hidden region of a test cell (group 1: the hidden tests), with the line break after it
HIDDEN_REGION = re.compile(re.escape(HIDDEN_BEGIN) + r"(.*?)" + re.escape(HIDDEN_END) + r"\n?", re.S)


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def current(cls) -> "Course":
        return cls(Path(os.environ.get("DLSBS_COURSE_ROOT") or REPO).resolve())

    solutions = property(lambda self: self.root / "solutions")
    lessons_dir = property(lambda self: self.root / "lessons")
    grading = property(lambda self: self.root / "grading")
    submitted = property(lambda self: self.grading / "submitted")
    autograded = property(lambda self: self.grading / "autograded")
    feedback = property(lambda self: self.grading / "feedback")
    archive = property(lambda self: self.grading / "archive")
    reports = property(lambda self: self.grading / "reports")
    gradebook = property(lambda self: self.grading / "gradebook.db")
    #: nbgrader's gradebook: ``$DLSBS_DB_URL`` (e.g. PostgreSQL, which several machines can share), else
    #: SQLite in grading/gradebook.db (one machine).
    db_url = property(lambda self: os.environ.get("DLSBS_DB_URL") or f"sqlite:///{self.gradebook}")
    cache = property(lambda self: self.grading / ".grader-cache")

    def lessons(self) -> list[str]:
        """Lesson ids (folder names under solutions/), in order."""
        if not self.solutions.is_dir():
            return []
        return sorted(p.name for p in self.solutions.iterdir() if p.is_dir() and LESSON_RE.match(p.name))

    def source_py(self, lesson: str) -> Path:
        return self.solutions / lesson / f"{lesson}.py"

    def source_ipynb(self, lesson: str) -> Path:
        return self.solutions / lesson / f"{lesson}.ipynb"

    def release_ipynb(self, lesson: str) -> Path:
        return self.lessons_dir / lesson / f"{lesson}.ipynb"

    def results_dir(self, lesson: str) -> Path:
        return self.cache / "results" / lesson

    def reference_file(self, lesson: str) -> Path:
        return self.cache / "reference" / f"{lesson}.json"


def select_lessons(known: list[str], lesson: str | None) -> list[str]:
    """``None``/``all`` → every lesson in ``known``; ``01`` or ``01_intro...`` → that lesson.
    Raises :class:`LookupError` (its message names the known lessons) when nothing matches."""
    if lesson in (None, "", "all"):
        return known
    hits = [name for name in known if name == lesson or name.split("_")[0] == lesson.zfill(2)]
    if not hits:
        raise LookupError(f"no lesson {lesson!r}; known lessons: {', '.join(known) or '(none)'}")
    return hits
