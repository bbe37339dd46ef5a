"""The class hub end to end: a real JupyterHub + configurable-http-proxy on 127.0.0.1, one instructor
and two students as real system users, through the REST endpoints the Assignment List and the
Formgrader call.  The tests run in order and share one hub (module fixture); everything they create
(accounts, homes, processes, the state folder) is removed at the end.

Needs root (system users) and the proxy (`make hub-deps`); skipped otherwise, with the reason.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import nbformat
import pytest

from course_tools import answer_text, nbg
from grading import bundle, hub
from grading.hub.testing import TestHub, published_hub, skip_reason

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01_intro_to_deep_learning"
COURSE = hub.COURSE_ID
A, B, T = "dlt-ann", "dlt-ben", "dlt-teach"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hub")]
if skip_reason():
    pytestmark.append(pytest.mark.skip(reason=skip_reason()))


@pytest.fixture(scope="module")
def hubx():
    with published_hub(LESSON, [A, B], [T], prefix="dlsbs-hub-", log=ROOT / "tests" / "artifacts" / "hub.log") as h:
        yield h


def _source():
    return nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)


def _first_exercise(src):
    return next(c for c in src.cells if nbg(c).get("solution") and c.cell_type == "code")


def _write_as_student(h: TestHub, user: str, rel: str, nb) -> None:
    """Save a notebook through the student's own server (as the student would, from JupyterLab)."""
    status, body = h.user_api(user, "PUT", f"api/contents/{rel}",
                              json_body={"type": "notebook", "format": "json", "content": nb})
    assert status in (200, 201), (status, body[-1000:])


def _answer_one(h: TestHub, user: str):
    """The fetched lesson with its first exercise answered (the student's edit)."""
    rel = f"{COURSE}/{LESSON}/{LESSON}.ipynb"
    status, body = h.user_api(user, "GET", f"api/contents/{rel}?content=1")
    assert status == 200, (status, body[-500:])
    nb = json.loads(body)["content"]
    ex = _first_exercise(_source())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == nbg(ex)["grade_id"]:
            cell["source"] = answer_text(ex.source)
    _write_as_student(h, user, rel, nb)
    return nb


def _inbound(h: TestHub, user: str) -> list[Path]:
    return sorted(p for p in h.state.inbound.iterdir() if p.name.startswith(f"{user}+{LESSON}+"))


# ----------------------------------------------------------------------------- roles


def test_students_have_no_instructor_tools_instructors_have_the_formgrader(hubx):
    h = hubx
    for u in (A, T):
        h.server(u)
    status, _ = h.user_api(A, "GET", "formgrader/api/assignments")
    assert status == 404, "the Formgrader answers on a student's server"
    status, page = h.user_api(A, "GET", "lab")
    assert status == 200
    for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
        assert plugin in page, f"{plugin} should be listed as disabled in the student's page config"
    cfg = json.loads(page.split('<script id="jupyter-config-data" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert "@jupyter/nbgrader:formgrader" in cfg["disabledExtensions"]
    assert "@jupyter/nbgrader:assignment-list" not in cfg["disabledExtensions"]
    # the instructor: the Formgrader lists the course's lessons and may be framed by the hub's own pages
    status, body = h.user_api(T, "GET", "formgrader/api/assignments")
    assert status == 200 and LESSON in {a["name"] for a in json.loads(body)}, body[:500]
    status, _ = h.user_api(T, "GET", "formgrader")
    assert status == 200
    assert h.last_headers.get("Content-Security-Policy") == "frame-ancestors 'self'"
    # students' servers keep JupyterHub's default (no framing at all)
    h.user_api(A, "GET", "lab")
    assert "frame-ancestors 'none'" in h.last_headers.get("Content-Security-Policy", "")


def test_released_lesson_in_the_exchange_has_no_answers(hubx):
    out = hubx.state.exchange / COURSE / "outbound"
    assert (out / LESSON / f"{LESSON}.ipynb").exists()
    assert bundle.scan(out) == []


# ----------------------------------------------------------------------------- fetch, submit, resubmit


def test_student_fetches_answers_submits_and_resubmits(hubx):
    h = hubx
    listed = h.assignments(A)
    assert listed["success"] and [x["status"] for x in listed["value"] if x["assignment_id"] == LESSON] == ["released"]
    fetched = h.assignment(A, "fetch", LESSON)
    assert any(x["status"] == "fetched" for x in fetched["value"])
    home = Path(f"/home/{A}")
    assert (home / COURSE / LESSON / f"{LESSON}.ipynb").stat().st_uid == hub.pwd.getpwnam(A).pw_uid
    _answer_one(h, A)
    first = h.assignment(A, "submit", LESSON)
    assert first.get("success", True), first
    time.sleep(1.1)   # nbgrader's timestamps have microseconds; a second later is a new submission anyway
    again = h.assignment(A, "submit", LESSON)
    assert again.get("success", True), again
    subs = _inbound(h, A)
    assert len(subs) == 2, "every resubmission is kept"
    stamps = [(p / "timestamp.txt").read_text() for p in subs]
    assert stamps[0] != stamps[1]
    # the guard makes each inbound entry private to its owner and the instructors (nbgrader leaves 0777)
    deadline = time.time() + 30
    while time.time() < deadline and any(p.stat().st_mode & 0o7777 != 0o2770 for p in subs):
        time.sleep(0.5)
    for p in subs:
        assert p.stat().st_mode & 0o7777 == 0o2770, oct(p.stat().st_mode)
        for f in p.iterdir():
            assert f.stat().st_mode & 0o007 == 0, f"{f} is readable by other students"


# ----------------------------------------------------------------------------- isolation


PROBE = r"""
import os, glob
targets = {targets!r}
for label, path in targets.items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        print(label, "READ")
    except (PermissionError, FileNotFoundError) as e:
        print(label, "DENIED", type(e).__name__)
print("inbound-glob", "READ" if glob.glob({inbound!r} + "/*") else "DENIED")
print("whoami", os.getuid())
"""


def test_other_student_cannot_read_work_submissions_solutions_or_gradebook(hubx):
    h = hubx
    h.server(B)
    sub = _inbound(h, A)[-1]
    targets = {
        "a-home": f"/home/{A}",
        "a-notebook": f"/home/{A}/{COURSE}/{LESSON}/{LESSON}.ipynb",
        "a-submission-dir": str(sub),
        "a-submission-nb": str(sub / f"{LESSON}.ipynb"),
        "a-submission-secret": str(sub / "submission_secret.txt"),
        "inbound": str(h.state.inbound),
        "feedback-dir": str(h.state.exchange / COURSE / "feedback"),
        "course-solutions": str(h.state.course / "solutions" / LESSON / f"{LESSON}.ipynb"),
        "course-grading": str(h.state.course / "grading"),
        "gradebook": str(h.state.course / "grading" / "gradebook.db"),
        "repo-solutions": str(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb"),
        "repo-solutions-py": str(ROOT / "solutions" / LESSON / f"{LESSON}.py"),
        "repo-git": str(ROOT / ".git" / "HEAD"),
        "hub-db": str(h.state.hub / "jupyterhub.sqlite"),
        "passwords": str(h.state.passwords),
    }
    out = h.run_in_kernel(B, PROBE.format(targets=targets, inbound=str(h.state.inbound)))
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)
    assert lines.get("whoami") == str(hub.pwd.getpwnam(B).pw_uid), out
    read = [k for k, v in lines.items() if v.startswith("READ")]
    assert not read, f"student {B}'s kernel could read: {read}\n{out}"
    assert set(targets) | {"inbound-glob"} <= {k for k, v in lines.items() if v.startswith("DENIED")}, out
    # the probe can see what it should: its own home and the released lessons
    own = h.run_in_kernel(B, f"import os; print(len(os.listdir('/home/{B}')) >= 0, "
                             f"os.path.exists({str(h.state.exchange / COURSE / 'outbound' / LESSON)!r}))")
    assert own.strip() == "True True", own


# ----------------------------------------------------------------------------- late submissions


def test_a_submission_after_the_due_date_is_recorded_as_late(hubx):
    h = hubx
    h.assignment(B, "fetch", LESSON)
    _answer_one(h, B)
    # due now: A's two submissions were on time, B's (next) is late
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    h.cli("grading.exchange", "publish", LESSON, "--due", now, timeout=600)
    h.assignment(B, "submit", LESSON)
    rows = {r["student"]: r for r in json.loads(h.cli("grading.exchange", "status", LESSON, "--json").stdout)}
    assert rows[B]["late"] and rows[B]["submissions"] == 1
    assert rows[A]["submissions"] == 2 and not rows[A]["late"]   # submitted before the (new) due date
    # --before-due takes only on-time submissions: B has none
    out = h.cli("grading.exchange", "collect", LESSON, "--before-due").stdout
    assert "only late submissions (ignored): " + B in out, out
    assert not (h.state.course / "grading" / "submitted" / B).exists()


# ----------------------------------------------------------------------------- collect, grade, feedback


def test_instructor_collects_grades_and_releases_feedback(hubx):
    h = hubx
    out = h.cli("grading.exchange", "collect", LESSON).stdout
    assert f"late: {B}" in out, out
    sub_a = h.state.course / "grading" / "submitted" / A / LESSON
    record = json.loads((sub_a / "exchange.json").read_text())
    assert record["timestamp"] == (_inbound(h, A)[-1] / "timestamp.txt").read_text() and not record["late"]
    assert json.loads((h.state.course / "grading" / "submitted" / B / LESSON / "exchange.json").read_text())["late"]
    # the course's sandboxed grader on the hub's course folder
    graded = h.cli("grading.exchange", "course", "grade", LESSON, "--student", A, "--no-progress", timeout=1500,
                   check=False)
    assert graded.returncode in (0, 3), graded.stdout[-3000:] + graded.stderr[-3000:]
    # the written answer, graded by hand through the Formgrader's API (what its Save buttons call)
    status, body = h.user_api(T, "GET", f"formgrader/api/submitted_notebooks/{LESSON}/{LESSON}")
    assert status == 200, body[:500]
    subs = {s["student"]: s for s in json.loads(body)}
    assert A in subs, subs.keys()
    status, body = h.user_api(T, "GET", f"formgrader/api/grades?submission_id={subs[A]['id']}")
    grades = json.loads(body)
    # the written answer: a markdown cell the grader scored 0 automatically (unanswered) or left for hand grading
    written = [g for g in grades if g["max_score"] and g["cell_type"] == "markdown"]
    assert written, grades
    status, body = h.user_api(T, "PUT", f"formgrader/api/grade/{written[0]['id']}",
                              json_body={**written[0], "manual_score": written[0]["max_score"]})
    assert status == 200, body[:500]
    status, body = h.user_api(T, "GET", f"formgrader/api/comments?submission_id={subs[A]['id']}")
    comment = next(c for c in json.loads(body) if c["name"] == written[0]["name"])
    status, body = h.user_api(T, "PUT", f"formgrader/api/comment/{comment['id']}",
                              json_body={**comment, "manual_comment": "Well argued: TESTCOMMENT-42"})
    assert status == 200, body[:500]
    fb = h.cli("grading.exchange", "course", "feedback", LESSON, timeout=600, check=False)
    assert fb.returncode == 0, fb.stdout[-3000:] + fb.stderr[-3000:]
    rel = h.cli("grading.exchange", "release-feedback", LESSON).stdout
    assert "feedback released" in rel, rel
    got = h.assignment(A, "fetch_feedback", LESSON)
    subs_listed = [s for x in got["value"] if x["status"] == "submitted" for s in x["submissions"]]
    assert any(s.get("has_local_feedback") for s in subs_listed), subs_listed
    html = sorted(Path(f"/home/{A}/{COURSE}/{LESSON}/feedback").rglob("*.html"))
    assert html, "no feedback in the student's folder"
    text = html[-1].read_text()
    assert "TESTCOMMENT-42" in text
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    rows = {r["student"]: r for r in json.loads(h.cli("grading.exchange", "status", LESSON, "--json").stdout)}
    assert rows[A]["graded"] and rows[A]["fetched"] and rows[A]["score"] and rows[A]["feedback_released"]
    assert not rows[B]["feedback_released"]
    # B cannot read A's feedback in the exchange or at home
    out = h.run_in_kernel(B, PROBE.format(targets={"a-feedback": str(html[-1])}, inbound=str(h.state.inbound)))
    assert "a-feedback DENIED" in out, out


# ----------------------------------------------------------------------------- restart


def test_hub_restart_loses_nothing(hubx):
    h = hubx
    before = json.loads(h.cli("grading.exchange", "status", LESSON, "--json").stdout)
    status, body = h.user_api(T, "GET", f"formgrader/api/submitted_notebooks/{LESSON}/{LESSON}")
    scores_before = sorted((s["student"], s["score"]) for s in json.loads(body))
    h.stop()
    h.start()
    status, body = h.request("GET", "/hub/api/users")
    assert {A, B, T} <= {u["name"] for u in json.loads(body)}
    for u in (A, T):
        h.server(u)
    listed = h.assignments(A)
    assert {x["status"] for x in listed["value"] if x["assignment_id"] == LESSON} >= {"submitted"}, listed
    assert len(_inbound(h, A)) == 2
    status, body = h.user_api(T, "GET", f"formgrader/api/submitted_notebooks/{LESSON}/{LESSON}")
    assert sorted((s["student"], s["score"]) for s in json.loads(body)) == scores_before
    after = json.loads(h.cli("grading.exchange", "status", LESSON, "--json").stdout)
    assert after == before
