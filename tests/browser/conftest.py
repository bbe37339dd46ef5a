"""Fixtures for the browser suite (tests/browser/): one JupyterLab server and one headless Chromium
per test session (the Playwright and Chromium fixtures are in tests/conftest.py, shared with the
lessons' own browser checks), a fresh browser context per test.

Every test here is marked ``browser`` and ``xdist_group("browser")``: ``make test`` (pytest -n 2
--dist loadgroup) keeps them on one worker, so one server and one browser run at a time.
Screenshots go to tests/artifacts/screenshots/ (git-ignored); the server log of the last run to
tests/artifacts/jupyterlab.log.  Set DLSBS_KEEP_BROWSER_WORK=1 to keep the notebook copies the
browser ran (tests/artifacts/browser/session-*/), with their outputs.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_lab import ARTIFACTS, ROOT, SCREENSHOTS, WORK, Lab, LabServer  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


@pytest.fixture(scope="session")
def browser_session_dir():
    path = WORK / f"session-{os.getpid()}-{int(time.time())}"
    path.mkdir(parents=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield path
    log = path / "jupyterlab.log"
    if log.exists():
        shutil.copy(log, ARTIFACTS / "jupyterlab.log")
    if not os.environ.get("DLSBS_KEEP_BROWSER_WORK"):
        shutil.rmtree(path, ignore_errors=True)
        try:
            WORK.rmdir()          # only if no other session's copies are left
        except OSError:
            pass


@pytest.fixture(scope="session")
def lab_server(browser_session_dir, playwright_api):
    (ROOT / "grading" / "exchange").mkdir(parents=True, exist_ok=True)   # as `make lab` does
    server = LabServer(browser_session_dir)
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"JupyterLab did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def workdir(request, browser_session_dir) -> Path:
    """A folder for this test's notebook copies, inside the served root (git-ignored)."""
    path = browser_session_dir / _safe(request.node.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shutdown_kernels(server: LabServer):
    try:
        for session in server.api("api/sessions"):
            server.api(f"api/sessions/{session['id']}", method="DELETE", timeout=30)
        for kernel in server.api("api/kernels"):
            server.api(f"api/kernels/{kernel['id']}", method="DELETE", timeout=30)
    except Exception as exc:  # noqa: BLE001 - best effort; the server's shutdown stops them anyway
        print(f"(could not shut down kernels: {exc})")


@pytest.fixture
def lab(request, chromium, lab_server):
    """A fresh browser context on the running JupyterLab; kernels are shut down afterwards."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    driver = Lab(page, lab_server)
    driver.page_errors = page_errors
    yield driver
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        shot = SCREENSHOTS / f"FAILED-{_safe(request.node.name)}.png"
        try:
            page.screenshot(path=str(shot))
            print(f"screenshot of the failing page: {shot.relative_to(ROOT)}")
        except Exception as exc:  # noqa: BLE001
            print(f"(no screenshot: {exc})")
        if page_errors:
            print("JavaScript errors in the page:\n  " + "\n  ".join(page_errors[:20]))
        print("JupyterLab log (tail):\n" + lab_server.log_tail(40))
    context.close()
    _shutdown_kernels(lab_server)
