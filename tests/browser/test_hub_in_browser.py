"""The class hub in Chromium: a student logs in, fetches and submits lesson 01 in the Assignment List;
the instructor's Formgrader draws inside the hub (JupyterHub >= 4.1 blanks it without our CSP
setting: nbgrader #1870) and a written answer is graded there; the student fetches the feedback and
sees the score and the comment.

A real JupyterHub + proxy on 127.0.0.1 with system users (grading/hub/testing.py); needs root and the
pinned proxy (`make hub-deps`), skipped otherwise with the reason.  The automatic grading in between
uses nbgrader's own autograde (`python -m grading autograde`: one kernel); the course's sandboxed
grader on the hub is tested through the REST endpoints in tests/test_hub.py.
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from browser_lab import SCREENSHOTS  # noqa: E402
from course_tools import answer_text, nbg  # noqa: E402
from grading import hub  # noqa: E402
from grading.hub.testing import TestHub, published_hub, skip_reason  # noqa: E402

LESSON = "01_intro_to_deep_learning"
COURSE = hub.COURSE_ID
S, T = "dlb-sue", "dlb-tim"
COMMENT = "Clear and to the point: BROWSERCOMMENT-7"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]
if skip_reason():
    pytestmark.append(pytest.mark.skip(reason=skip_reason()))


@pytest.fixture(scope="module")
def bhub():
    with published_hub(LESSON, [S], [T], prefix="dlsbs-bhub-", log=ROOT / "tests" / "artifacts" / "hub-browser.log",
                       log_lines=400) as h:
        with open(h.state.passwords, newline="") as fh:
            h.passwords = {row[0]: row[1] for row in csv.reader(fh)}
        yield h


def _login(chromium, h: TestHub, user: str):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{h.base}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", h.passwords[user])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=300_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=180_000)
    page.wait_for_selector("#jp-MainMenu .lm-MenuBar-item", timeout=60_000)
    return context, page


def _menu(page, menu: str, command: str):
    page.locator("#jp-MainMenu").get_by_role("menuitem", name=menu, exact=True).click()
    page.locator(f"li[data-command='{command}']").click()


def _assignment_list(page):
    _menu(page, "Nbgrader", "nbgrader:open-assignment-list")
    panel = page.locator("#nbgrader-assignment-list")
    panel.wait_for(state="visible", timeout=60_000)
    return panel


def _answer_first_exercise(h: TestHub):
    src = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    ex = next(c for c in src.cells if nbg(c).get("solution") and c.cell_type == "code")
    rel = f"{COURSE}/{LESSON}/{LESSON}.ipynb"
    status, body = h.user_api(S, "GET", f"api/contents/{rel}?content=1")
    assert status == 200, body[:300]
    nb = json.loads(body)["content"]
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == nbg(ex)["grade_id"]:
            cell["source"] = answer_text(ex.source)
    status, body = h.user_api(S, "PUT", f"api/contents/{rel}",
                              json_body={"type": "notebook", "format": "json", "content": nb})
    assert status == 200, body[:300]


def test_class_in_the_browser(bhub, chromium):
    h = bhub
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # ---- 1. the student: log in, the lesson is in the Assignment List, Fetch, (answer), Submit
    ctx, page = _login(chromium, h, S)
    try:
        panel = _assignment_list(page)
        released = panel.locator("#released_assignments_list")
        row = released.locator(".row", has_text=LESSON).first
        row.wait_for(state="visible", timeout=90_000)
        page.screenshot(path=str(SCREENSHOTS / "hub__assignment-list.png"))
        row.get_by_role("button", name="Fetch", exact=True).click()
        fetched = panel.locator("#fetched_assignments_list .row", has_text=LESSON).first
        fetched.wait_for(state="visible", timeout=90_000)
        assert Path(f"/home/{S}/{COURSE}/{LESSON}/{LESSON}.ipynb").exists()
        _answer_first_exercise(h)
        fetched.get_by_role("button", name="Submit", exact=True).click()
        submitted = panel.locator("#submitted_assignments_list .row", has_text=LESSON)
        submitted.first.wait_for(state="visible", timeout=120_000)
        assert [p for p in h.state.inbound.iterdir() if p.name.startswith(f"{S}+{LESSON}+")]
    finally:
        ctx.close()

    # ---- 2. the instructor collects and autogrades (command line), then grades the written answer
    h.cli("grading.exchange", "collect", LESSON)
    h.cli("grading.exchange", "course", "autograde", LESSON, timeout=1200)
    h.server(T)
    status, body = h.user_api(T, "GET", f"formgrader/api/submitted_notebooks/{LESSON}/{LESSON}")
    assert status == 200, body[:500]
    sub = next(s for s in json.loads(body) if s["student"] == S)
    status, body = h.user_api(T, "GET", f"formgrader/api/grades?submission_id={sub['id']}")
    assert status == 200, body[:500]
    written = next(g for g in json.loads(body) if g["cell_type"] == "markdown" and g["max_score"])
    ctx, page = _login(chromium, h, T)
    try:
        _menu(page, "Nbgrader", "nbgrader:open-formgrader")
        frame = page.frame_locator("iframe[src*='formgrader']")
        try:
            frame.get_by_text("Manage Assignments").first.wait_for(state="visible", timeout=90_000)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "FAILED-hub__formgrader.png"))
            raise AssertionError("the Formgrader is blank inside the hub (its iframe did not draw)")
        page.screenshot(path=str(SCREENSHOTS / "hub__formgrader.png"))
        # the written answer, in the Formgrader's grading page for this submission (Manual Grading ->
        # lesson -> notebook -> the student's submission leads there)
        page.goto(f"{h.base}/user/{T}/formgrader/submissions/{sub['id']}/")
        frame = page
        score = frame.locator(f"input.score#{written['name']}")
        try:
            score.wait_for(state="visible", timeout=120_000)
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "FAILED-hub__formgrade.png"))
            errors = [ln for ln in h.log_tail(300).splitlines() if "Error" in ln or "Traceback" in ln or "  File" in ln]
            raise AssertionError("the Formgrader's grading page did not show the score box:\n" + "\n".join(errors[-40:]))
        score.fill(str(int(written["max_score"])))
        score.press("Tab")
        comment = frame.locator(f"textarea#{written['name']}-comment")
        comment.fill(COMMENT)
        comment.press("Tab")
        deadline = time.time() + 60
        while time.time() < deadline:
            status, body = h.user_api(T, "GET", f"formgrader/api/grades?submission_id={sub['id']}")
            g = next(x for x in json.loads(body) if x["name"] == written["name"])
            status, body = h.user_api(T, "GET", f"formgrader/api/comments?submission_id={sub['id']}")
            c = next(x for x in json.loads(body) if x["name"] == written["name"])
            if g["manual_score"] == written["max_score"] and c["manual_comment"] == COMMENT:
                break
            time.sleep(1)
        assert g["manual_score"] == written["max_score"] and c["manual_comment"] == COMMENT, (g, c)
        page.screenshot(path=str(SCREENSHOTS / "hub__formgrader-graded.png"))
    finally:
        ctx.close()
    h.cli("grading.exchange", "course", "feedback", LESSON, timeout=600)
    h.cli("grading.exchange", "release-feedback", LESSON)

    # ---- 3. the student fetches the feedback and sees the score and the comment
    ctx, page = _login(chromium, h, S)
    try:
        panel = _assignment_list(page)
        submitted = panel.locator("#submitted_assignments_list .row", has_text=LESSON).first
        submitted.wait_for(state="visible", timeout=90_000)
        submitted.get_by_role("button", name="Fetch Feedback").click()
        feedback = sorted(Path(f"/home/{S}/{COURSE}/{LESSON}/feedback").rglob(f"{LESSON}.html"))
        deadline = time.time() + 90
        while not feedback and time.time() < deadline:
            time.sleep(1)
            feedback = sorted(Path(f"/home/{S}/{COURSE}/{LESSON}/feedback").rglob(f"{LESSON}.html"))
        assert feedback, "no feedback arrived in the student's folder"
        rel = feedback[-1].relative_to(f"/home/{S}").as_posix()
        page.goto(f"{h.base}/user/{S}/files/{rel}")
        body = page.locator("body")
        body.wait_for(state="visible")
        text = body.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "hub__feedback.png"), full_page=False)
        assert COMMENT in text, text[:2000]
        assert "Score" in text or "score" in text
        m = f"{written['max_score']:g} / {written['max_score']:g}"
        assert m in text or f"{written['max_score']} / {written['max_score']}" in text, (m, text[:3000])
    finally:
        ctx.close()
