"""Shared fixtures.

``lesson(name)`` executes ``solutions/<name>/<name>.ipynb`` once per test session
in a fresh kernel and keeps the kernel alive, so every test about a lesson
(timing, errors, figures, claims checked with ``live.eval``) shares one run.
Tests that use it should carry ``@pytest.mark.xdist_group("<name>")`` so that
pytest-xdist keeps them on one worker.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import course  # noqa: E402
from nbrun import LiveNotebook  # noqa: E402

LESSONS = course.lessons()

_live: dict = {}


@pytest.fixture(scope="session")
def lesson_runner(request):
    def get(name: str) -> LiveNotebook:
        if name not in _live:
            live = LiveNotebook(course.source_ipynb(name))
            live.__enter__()
            request.addfinalizer(lambda: live.__exit__(None, None, None))
            live.run()
            _live[name] = live
        return _live[name]

    return get


@pytest.fixture(scope="module")
def twins():
    """``(helpers.fastai_side, helpers.keras_side)`` after ``helpers.setup()``."""
    import helpers

    helpers.setup(verbose=False)
    from helpers import fastai_side, keras_side

    return fastai_side, keras_side


@pytest.fixture
def lesson(lesson_runner):
    """``lesson("02_activation_functions")`` → the executed, still-running solution notebook."""
    return lesson_runner
