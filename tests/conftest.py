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


_touched: dict = {}   # test module -> the live kernels its tests used


@pytest.fixture
def lesson(lesson_runner, request):
    """``lesson("02_activation_functions")`` → the executed, still-running solution notebook.

    The kernel is shared by every test module of its xdist group, so what one module defines or rebinds
    in it is undone when that module ends (:meth:`LiveNotebook.restore`): modules cannot depend on each
    other's leftovers, nor break each other."""
    def get(name: str) -> LiveNotebook:
        live = lesson_runner(name)
        used = _touched.setdefault(request.module.__name__, [])
        if live not in used:
            live.snapshot()
            used.append(live)
        return live

    return get


@pytest.fixture(scope="module", autouse=True)
def _undo_live_kernel_changes(request):
    yield
    for live in _touched.pop(request.module.__name__, []):
        live.restore()


# One Playwright per test session: a second sync_playwright() in the same process fails with
# "using Playwright Sync API inside the asyncio loop", so every test that drives Chromium
# (tests/browser/ and the lessons' own browser checks) shares these two fixtures.
@pytest.fixture(scope="session")
def playwright_api():
    import os

    from browser.browser_lab import CHROMIUM, INSTALL_HINT

    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"the Python package `playwright` is not installed ({exc}).\n{INSTALL_HINT}", pytrace=False)
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}.\n{INSTALL_HINT}", pytrace=False)
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def chromium(playwright_api):
    from browser.browser_lab import CHROMIUM, INSTALL_HINT, launch_chromium

    try:
        browser = launch_chromium(playwright_api)
    except Exception as exc:  # noqa: BLE001 - turn any launch problem into an actionable failure
        pytest.fail(f"could not start {CHROMIUM} through playwright: {exc}\n{INSTALL_HINT}", pytrace=False)
    yield browser
    browser.close()
