"""The grader (``python -m grading grade``) against the adversarial corpus in tests/grader_corpus/.

Every case runs in a throw-away course root (``DLSBS_COURSE_ROOT``) with a tiny synthetic lesson,
through the real CLI in a subprocess (so "the grader process survives" is tested), in parallel
mode (``-j 2``); a subset also runs sequentially (``-j 1``) and must agree.  For each case: the
expected score or flag/failure with its reason, ``submitted/`` byte-for-byte unchanged, other
students' grades unchanged, no hidden-test source in any feedback, no student process left behind.
A few cases run on the real lesson 01.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent / "grader_corpus"))

import corpus  # noqa: E402

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader sandbox needs Linux")]

LIMITS = ["--cell-timeout", "6", "--timeout", "40", "--memory", "1"]
HIDDEN_MARKERS = ["HIDDEN_SQUARE_NEGATIVE", "HIDDEN_SQUARE_ARRAY", "HIDDEN_TOTAL_EMPTY", "HIDDEN_TOTAL_FLOATS",
                  "BEGIN HIDDEN TESTS"]
HIDDEN_MARKERS += [m[::-1] for m in HIDDEN_MARKERS]  # the audit-hook case prints what it saw reversed


def run_grade(root: Path, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
    """Run ``grading grade``; ``expect`` is the exit status it must end with (0 graded, 3 flagged, 4 failed, 1 stopped)."""
    env = dict(os.environ, DLSBS_COURSE_ROOT=str(root))
    proc = subprocess.run([sys.executable, "-m", "grading", "grade", *args, "--no-progress"], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=1800)
    if expect is not None:
        assert proc.returncode == expect, (f"grader exited with {proc.returncode}, expected {expect}:\n"
                                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def results(root: Path, lesson: str) -> dict:
    """Results by student id (ids that are not valid are stored under a safe file name: see result_name)."""
    d = root / "grading" / ".grader-cache" / "results" / lesson
    out = {p.stem: json.loads(p.read_text()) for p in d.glob("*.json")}
    from grading.grader import result_name

    for name in corpus.CASES:
        if result_name(name) in out:
            out[name] = out[result_name(name)]
    return out


def tree_hash(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftover_processes() -> list[str]:
    """Processes under the sandbox uids that no running grader owns (other tests may be grading right now)."""
    from grading.sandbox import _alive, sandbox_base

    out = subprocess.run(["ps", "-ww", "-eo", "pid,uid,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    left = []
    for line in out:
        pid, uid, _ = (line.split(None, 2) + [""])[:3]
        if not (uid.isdigit() and 61000 <= int(uid) < 63000):
            continue
        try:  # the sandbox a process belongs to is named in its cgroup path; its grader's pid is in "owner"
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue  # gone meanwhile
        try:
            name = re.search(r"/(sb-[^/\s]+)", cgroups).group(1)
            owner = int((sandbox_base() / name / "owner").read_text().split()[0])
        except (OSError, AttributeError, ValueError, IndexError):
            owner = None
        if owner is None or not _alive(owner):
            left.append(line)
    return left


def check_case(name: str, r: dict, root: Path):
    exp = corpus.CASES[name]
    allowed = exp["status"] if isinstance(exp["status"], tuple) else (exp["status"],)
    assert r["status"] in allowed, f"{name}: {r['status']} ({r.get('reason')}; notes {r.get('notes')})"
    if "score" in exp:
        assert r["score"] == exp["score"], f"{name}: score {r['score']} != {exp['score']} ({r.get('notes')})"
    if "text" in exp:
        blob = (r.get("reason", "") + " " + " ".join(r.get("notes", [])) + " " + " ".join(r.get("flags", []))).lower()
        assert exp["text"].lower() in blob, f"{name}: {exp['text']!r} not in {blob!r}"
    if r["status"] in ("graded", "flagged"):
        fb = root / "grading" / "feedback" / r["student"] / corpus.LESSON / f"{corpus.LESSON}.html"
        assert fb.exists(), f"{name}: no feedback"
        text = fb.read_text()
        for marker in HIDDEN_MARKERS:
            assert marker not in text, f"{name}: feedback leaks {marker}"


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    corpus.write_course(root)
    secret = hashlib.sha256((root / "grading" / "gradebook.db").read_bytes()).hexdigest()
    # 1. the honest baselines alone
    corpus.write_submissions(root, corpus.BASELINES)
    run_grade(root, "99", "-j", "2", *LIMITS, expect=0)
    before = {k: (v["score"], v["status"], v["key"]) for k, v in results(root, corpus.LESSON).items()}
    # 2. the whole corpus, in parallel
    corpus.write_submissions(root, [n for n in corpus.CASES if n not in corpus.BASELINES])
    submitted = tree_hash(root / "grading" / "submitted")
    proc = run_grade(root, "99", "-j", "2", *LIMITS, expect=4)  # some submissions fail (bad input): exit 4
    after = results(root, corpus.LESSON)
    return dict(root=root, before=before, after=after, submitted=submitted, proc=proc, secret=secret)


@pytest.mark.slow
@pytest.mark.xdist_group("grader_corpus")
@pytest.mark.parametrize("name", list(corpus.CASES))
def test_corpus_case(graded_corpus, name):
    check_case(name, graded_corpus["after"][name], graded_corpus["root"])


@pytest.mark.slow
@pytest.mark.xdist_group("grader_corpus")
def test_corpus_leaves_everything_else_alone(graded_corpus):
    root = graded_corpus["root"]
    assert len(corpus.CASES) >= 24 + len(corpus.BASELINES)
    # submitted/ unchanged by grading
    assert tree_hash(root / "grading" / "submitted") == graded_corpus["submitted"]
    # the instructor's gradebook (stand-in) was neither changed nor read into any output
    assert hashlib.sha256((root / "grading" / "gradebook.db").read_bytes()).hexdigest() == graded_corpus["secret"]
    snoop = json.dumps(graded_corpus["after"]["snoop_and_tamper"]["outputs"])
    # it could write only inside its own namespace's fresh /tmp (gone afterwards), nowhere that lasts
    assert "READ_OK" not in snoop and f"WRITE_OK {root}" not in snoop and "WRITE_OK sqlite" not in snoop, snoop[:2000]
    assert "NET_OK" not in snoop and "SUBMITTED []" in snoop, snoop[:2000]
    assert "blocked" in snoop
    # every other student's grade unchanged (the baselines were not regraded: same key, same result)
    for k, (score, status, key) in graded_corpus["before"].items():
        r = graded_corpus["after"][k]
        assert (r["score"], r["status"], r["key"]) == (score, status, key)
    assert "0 grader errors" in graded_corpus["proc"].stdout
    last = graded_corpus["proc"].stdout.strip().splitlines()[-1]
    assert last.startswith("result:") and "failed" in last and "exit 4" in last, last
    assert not leftover_processes()
    # nothing a sandbox wrote survives it
    assert not Path("/tmp/persist.txt").exists() and not Path("/var/tmp/persist.txt").exists()
    # report and CSV
    rep = root / "grading" / "reports" / corpus.LESSON
    for f in ("report.html", "scores.png", "tests.png", "grades.csv", "flagged.csv", "tests.csv"):
        assert (rep / f).exists(), f
    flagged = (rep / "flagged.csv").read_text()
    assert "duplicate_answer" in flagged and "malformed_json" in flagged
    import csv

    rows = list(csv.DictReader((root / "grading" / "reports" / "grades.csv").open()))
    from grading.grader import shown

    assert sorted(r["student"] for r in rows if r["lesson"] == corpus.LESSON) == sorted(shown(n) for n in corpus.CASES)


@pytest.mark.slow
@pytest.mark.xdist_group("grader_corpus")
def test_regrade_is_idempotent_and_force_reproduces(graded_corpus):
    root = graded_corpus["root"]
    proc = run_grade(root, "99", "-j", "2", *LIMITS, expect=4)
    assert "0 graded in this run" in proc.stdout, proc.stdout[-2000:]
    # force-regrade the baselines after the adversarial run: same scores (nothing persisted)
    args = [a for n in corpus.BASELINES for a in ("--student", n)]
    run_grade(root, "99", "-j", "2", "--force", *args, *LIMITS, expect=4)
    now = results(root, corpus.LESSON)
    for k, (score, status, _) in graded_corpus["before"].items():
        assert (now[k]["score"], now[k]["status"]) == (score, status)


@pytest.mark.slow
@pytest.mark.xdist_group("grader_sequential")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root: sandboxes then run in their own namespaces under their own uids")
def test_a_killed_grader_leaves_no_student_process_and_its_sandbox_is_swept(tmp_path):
    from grading.sandbox import sandbox_base

    corpus.write_course(tmp_path)
    corpus.write_submissions(tmp_path, ["sigint_ignoring_loop"])  # loops until the cell time limit
    env = dict(os.environ, DLSBS_COURSE_ROOT=str(tmp_path))
    cmd = [sys.executable, "-m", "grading", "grade", "99", "-j", "1", "--no-progress"]
    grader = subprocess.Popen([*cmd, "--cell-timeout", "300", "--timeout", "600"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ours():  # this grader's sandboxes (other tests may be grading at the same time)
        return [d for d in sandbox_base().glob("sb-*") if (d / "owner").is_file()
                and (d / "owner").read_text().split()[:1] == [str(grader.pid)]]

    def running(dirs):  # processes started from those sandboxes (their kernels name the sandbox's files)
        lines = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
        return [ln for ln in lines if any(str(d) in ln for d in dirs)]

    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (ours() and running(ours())):
            time.sleep(0.5)
        dirs = ours()
        assert dirs and running(dirs), "no sandboxed kernel ever started"
    finally:
        grader.kill()  # SIGKILL: none of the grader's cleanup code runs
        grader.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and running(dirs):
        time.sleep(0.5)
    assert not running(dirs), f"sandbox processes outlived the killed grader: {running(dirs)}"
    assert all(d.exists() for d in dirs), "the killed grader's sandbox directories are left for the sweep"
    proc = subprocess.run([*cmd, *LIMITS], cwd=ROOT, env=env, text=True, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]  # exit 0: every submission graded
    assert "sandbox(es) left behind by an earlier grader run that was killed" in proc.stdout, proc.stdout[-2000:]
    assert not any(d.exists() for d in dirs), "the next grader run removes them"
    assert results(tmp_path, corpus.LESSON)["sigint_ignoring_loop"]["status"] == "graded"


@pytest.mark.slow
@pytest.mark.xdist_group("grader_sequential")
def test_a_failed_reference_run_stops_the_grading_and_force_reruns_it(tmp_path):
    corpus.write_course(tmp_path)
    good = (tmp_path / "solutions" / corpus.LESSON / f"{corpus.LESSON}.ipynb").read_bytes()
    corpus.break_solution(tmp_path)
    corpus.write_submissions(tmp_path, ["right", "untouched"])
    proc = run_grade(tmp_path, "99", "-j", "2", *LIMITS, expect=1)
    out = proc.stdout
    assert "STOPPED" in out and "total_tests" in out and "How to fix" in out, out[-3000:]
    assert "exit 1" in out.strip().splitlines()[-1]
    cache = tmp_path / "grading" / ".grader-cache"
    assert not list(cache.glob("results/*/*.json")), "nobody is graded when the reference fails"
    assert not list(cache.glob("reference/*.json")), "a failed reference run is never cached"
    assert not (tmp_path / "grading" / "feedback").exists() or not list((tmp_path / "grading" / "feedback").rglob("*.html"))
    doc = subprocess.run([sys.executable, "-m", "grading", "doctor", "99"], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, DLSBS_COURSE_ROOT=str(tmp_path)), timeout=600)
    assert doc.returncode == 1 and "NOT OK" in doc.stdout and "total_tests" in doc.stdout, doc.stdout[-2000:]
    # the instructor fixes the solution: the next run grades everyone (nothing stale was kept)
    (tmp_path / "solutions" / corpus.LESSON / f"{corpus.LESSON}.ipynb").write_bytes(good)
    run_grade(tmp_path, "99", "-j", "2", *LIMITS, expect=0)
    got = results(tmp_path, corpus.LESSON)
    assert (got["right"]["score"], got["untouched"]["score"]) == (5, 0)
    ref = json.loads((cache / "reference" / f"{corpus.LESSON}.json").read_text())
    assert ref["ok"]
    run_grade(tmp_path, "99", "-j", "2", *LIMITS, expect=0)
    assert json.loads((cache / "reference" / f"{corpus.LESSON}.json").read_text())["ran_at"] == ref["ran_at"], \
        "an unchanged lesson reuses its reference run"
    time.sleep(1.1)
    run_grade(tmp_path, "99", "-j", "2", "--force", *LIMITS, expect=0)
    assert json.loads((cache / "reference" / f"{corpus.LESSON}.json").read_text())["ran_at"] != ref["ran_at"], \
        "--force reruns the reference"
    doc = subprocess.run([sys.executable, "-m", "grading", "doctor", "99"], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, DLSBS_COURSE_ROOT=str(tmp_path)), timeout=600)
    assert doc.returncode == 0 and "ok: the instructor's solution scores 5/5" in doc.stdout, doc.stdout[-2000:]


SEQUENTIAL = ["right", "partial", "input_transformer", "sigint_ignoring_loop", "memory_bomb", "output_flood",
              "malformed_json", "patch_checks"]


@pytest.mark.slow
@pytest.mark.xdist_group("grader_sequential")
def test_sequential_mode_agrees(tmp_path):
    corpus.write_course(tmp_path)
    corpus.write_submissions(tmp_path, SEQUENTIAL)
    run_grade(tmp_path, "99", "-j", "1", *LIMITS, expect=4)
    got = results(tmp_path, corpus.LESSON)
    for name in SEQUENTIAL:
        check_case(name, got[name], tmp_path)


LESSON01 = "01_intro_to_deep_learning"


@pytest.mark.slow
@pytest.mark.xdist_group("grader_lesson01")
def test_real_lesson_01(tmp_path):
    import nbformat

    for folder in ("solutions", "lessons"):
        shutil.copytree(ROOT / folder / LESSON01, tmp_path / folder / LESSON01)
    src = nbformat.read(ROOT / "solutions" / LESSON01 / f"{LESSON01}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "lessons" / LESSON01 / f"{LESSON01}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in src.cells
               if c.metadata.get("nbgrader", {}).get("solution")}

    def answered(gids, extra=""):
        nb = nbformat.from_dict(json.loads(json.dumps(rel)))
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid in gids:
                c.source = answers[gid]
            if gid == "neuron" and extra:
                c.source += "\n" + extra
        return nb

    subs = {"right": answered(set(answers)), "untouched": answered(set()),
            "partial": answered({"neuron", "keras_model"}),
            "cheat": answered(set(), extra=corpus.INPUT_TRANSFORMER)}
    for sid, nb in subs.items():
        d = tmp_path / "grading" / "submitted" / sid / LESSON01
        d.mkdir(parents=True)
        nbformat.write(nb, d / f"{LESSON01}.ipynb")
    run_grade(tmp_path, "01", "-j", "2", expect=None)
    got = results(tmp_path, LESSON01)
    assert (got["right"]["status"], got["right"]["score"]) == ("graded", 7), got["right"]
    assert (got["untouched"]["status"], got["untouched"]["score"]) == ("graded", 0), got["untouched"]
    assert (got["partial"]["status"], got["partial"]["score"]) == ("graded", 5), got["partial"]
    # the judge gives the trick nothing (the probe may also flag it for review: a second line, not the grade)
    assert got["cheat"]["score"] == 0 and got["cheat"]["status"] in ("graded", "flagged"), got["cheat"]
    # the grades are in nbgrader's gradebook too: formgrader lists them, manual grading and export work
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gb:
        subs_db = {s.student.id: s for s in gb.assignment_submissions(LESSON01)}
        expected_db = {"right", "untouched", "partial"} | ({"cheat"} if got["cheat"]["status"] == "graded" else set())
        assert set(subs_db) == expected_db, "a flagged submission waits for review instead"
        assert [subs_db[k].code_score for k in ("right", "partial", "untouched")] == [7, 5, 0]
        assert subs_db["right"].needs_manual_grade, "written answers are graded by hand in formgrader"
        assert not subs_db["untouched"].needs_manual_grade, "an unanswered written question scores 0 by itself"
    export = subprocess.run([sys.executable, "-m", "grading", "export"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "DLSBS_COURSE_ROOT": str(tmp_path)}, timeout=300)
    assert export.returncode == 0, export.stdout + export.stderr
    import csv

    rows = list(csv.DictReader((tmp_path / "grading" / "grades.csv").open()))
    assert {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == LESSON01} == \
        {"right": 7.0, "partial": 5.0, "untouched": 0.0}
    # a written answer graded by hand survives a forced regrade (and is marked for review, as nbgrader does)
    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gb:
        manual = [g for nb in gb.find_submission(LESSON01, "right").notebooks for g in nb.grades if g.auto_score is None]
        assert manual, "lesson 01 has written answers"
        manual_ids = [g.name for g in manual]
        for g in manual:
            g.manual_score = 1.5
        gb.db.commit()
    # the exit status speaks for every stored result of the lesson: 3 while the cheat waits for review
    run_grade(tmp_path, "01", "--force", "--student", "right", expect=3 if got["cheat"]["status"] == "flagged" else 0)
    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gb:
        sub = gb.find_submission(LESSON01, "right")
        assert (sub.code_score, sub.written_score) == (7, 1.5 * len(manual)) and sub.needs_manual_grade
        gid = manual_ids[0]
        gb.find_comment(gid, LESSON01, LESSON01, "right").manual_comment = "Good point about consent."
        gb.db.commit()
    # after manual grading, `grading feedback` rewrites the feedback with the instructor's scores and comments
    fb_cli = subprocess.run([sys.executable, "-m", "grading", "feedback", "01"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DLSBS_COURSE_ROOT": str(tmp_path)}, timeout=300)
    assert fb_cli.returncode == 0, fb_cli.stdout + fb_cli.stderr
    page = (tmp_path / "grading" / "feedback" / "right" / LESSON01 / f"{LESSON01}.html").read_text()
    assert "1.5 / " in page and "Good point about consent." in page and "not graded yet" not in page
    from grading.paths import HIDDEN_BEGIN

    for sid in subs:
        text = (tmp_path / "grading" / "feedback" / sid / LESSON01 / f"{LESSON01}.html").read_text()
        assert HIDDEN_BEGIN not in text
        assert "rng.normal(size=(50, 7))" not in text and "check_finite(big" not in text
