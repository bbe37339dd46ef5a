"""Parallel, sandboxed autograder in which trusted code judges the results: ``python -m grading grade``.

For every lesson it first starts the **reference run**: the instructor's solution through exactly the
pipeline below.  If that does not get full marks (a test fails, a cell is killed, a test makes no
``helpers.checks`` call), nobody is graded: the run stops with exit 1, says why and how to fix it, and
caches nothing (``--force`` always reruns it).  For every ``grading/submitted/<student>/<lesson>/``,
each in its own worker, it

1. **reads** the submission (:mod:`grading.submission`: size and cell-count caps, JSON, nbformat
   version, missing/renamed/extra notebooks, duplicate ids, names that are not UTF-8; linear in size);
2. **plans** the notebook to run (:mod:`grading.plan`): every cell comes from the instructor source,
   in source order, except the answers, taken from the submission by grade id (then cell id); it ends
   with the last test cell (what comes after it cannot change a score, so it is not run);
3. **runs** it in a :class:`grading.sandbox.Sandbox` (:mod:`grading.run`), with the kernel probes and
   canaries of :mod:`grading.sandbox_probe` between cells; a killed cell is skipped in a fresh kernel;
4. **judges** each test cell (:mod:`grading.judge`): the checks send the values they were given as
   plain data, and the grader recomputes every verdict against the reference run's records.  A test
   cell scores all its points or none; nothing the kernel prints or claims counts;
5. flags the submission for review when the probes saw a kernel change the solution does not make
   (a second line: the score stays the judge's).

Any exception while doing this for one submission is that submission's ``failed`` outcome (a sandbox
problem: ``error``, retried on the next run), never the class's.  Results (:mod:`grading.results`) are
written by the parent process only, keyed by a hash of the grader's code, ``helpers/``, the lesson's
source and release, the limits and the submission, so a rerun grades only what is new or changed and a
changed grader regrades everything.  Then feedback, CSV and report (:mod:`grading.report`) and
nbgrader's gradebook.  Exit status: 0 all graded, 3 some flagged for review, 4 some failed or grader
errors, 1 grading stopped (the reference run).
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from . import course, judge
from .defaults import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT
from .lesson import Lesson, _free_names  # noqa: F401 (_free_names: re-exported for the tests)
from .paths import Course
from .plan import Step, plan
from .results import GRADER_VERSION, _atomic_write, all_results, load_result, make_result, results_dir
from .run import _KILL_TEXT, Cancelled, StepRecord, execute_plan
from .sandbox import Limits, SandboxError, Zygote, missing_protections, protections
from .sandbox_probe import describe
from .submission import Submission, read_submission, result_name, shown

# ----------------------------------------------------------------------------- scoring


def test_runs(lesson: Lesson, records: list[StepRecord]) -> dict:
    """{test grade id: {"status", "records", "ename"}} of one run (plain data: what the judge reads)."""
    by_key = {r.key: r for r in records}
    out = {}
    for t in lesson.tests:
        rec = by_key.get((t.index, 0))
        if rec is not None:
            out[t.grade_id] = {"status": rec.status, "records": rec.records, "ename": rec.ename}
    return out


def score_tests(lesson: Lesson, runs: dict, ref_runs: dict) -> list[dict]:
    """The judge's verdict on every test cell (see :mod:`grading.judge`): full points or none."""
    out = []
    for t in lesson.tests:
        run = runs.get(t.grade_id)
        entry = {"grade_id": t.grade_id, "exercise": lesson.exercise_of(t.grade_id), "max": t.points}
        if run is None:
            entry.update(score=0.0, status="not run", message="the test did not run (an earlier cell was killed)")
        elif run["status"] not in ("ok", "error"):
            entry.update(score=0.0, status="failed", message=f"killed: {_KILL_TEXT.get(run['status'], run['status'])}")
        else:
            v = judge.judge_cell(ref_runs.get(t.grade_id, {}), run, lesson.analysis.get(t.grade_id, {}))
            entry.update(score=t.points if v.passed else 0.0, status="passed" if v.passed else "failed",
                         message=lesson.scrub(v.message)[:500], checks=len(judge.top_records(run["records"])))
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- reference run


class ReferenceFailed(Exception):
    """The instructor's solution does not get full marks in the grader: nobody can be graded."""

    def __init__(self, lesson: str, problems: list[str]):
        self.lesson, self.problems = lesson, problems
        super().__init__(f"{lesson}: " + "; ".join(problems))

    def explain(self) -> str:
        lines = [f"[{self.lesson}] STOPPED: the instructor's solution does not get full marks in the grader's sandbox,",
                 "so no submission was graded (nothing was written or cached):"]
        lines += [f"  - {p}" for p in self.problems[:12]]
        lines += ["How to fix: `python -m grading validate NN` checks the solution outside the sandbox; "
                  "`python -m grading doctor NN` grades it in a real sandbox and shows each test's verdict. "
                  "A test that fails only in the sandbox usually needs a file or module the sandbox does not show "
                  "(only the Python environment, helpers/ and the released lesson are visible). Then rerun `grade`: "
                  "the reference run is repeated (a failed one is never cached)."]
        return "\n".join(lines)


_FINGERPRINT: str | None = None


def code_fingerprint(repo: Path | None = None) -> str:
    """Hash of the code that decides a grade: the grader (grading/*.py, the nbgrader config included)
    and the helper package the kernels import (helpers/**/*.py).  ``repo``: another checkout (tests)."""
    global _FINGERPRINT
    if _FINGERPRINT is not None and repo is None:
        return _FINGERPRINT
    base = Path(repo) if repo is not None else Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"grader {GRADER_VERSION}\0".encode())
    files = sorted((base / "grading").glob("*.py")) + sorted((base / "helpers").rglob("*.py"))
    for f in files:
        h.update(f"{f.relative_to(base).as_posix()}\0".encode())
        h.update(f.read_bytes())
    if repo is not None:
        return h.hexdigest()
    _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def run_key(lesson: Lesson, limits: Limits) -> str:
    """What every grade of this lesson depends on besides the submission: code, sources, limits."""
    lim = json.dumps({k: v for k, v in sorted(limits.__dict__.items())}, sort_keys=True)
    return hashlib.sha256(f"{code_fingerprint()}\0{lesson.source_hash}\0{lesson.release_hash}\0{lim}".encode()).hexdigest()


def reference_problems(lesson: Lesson, runs: dict, res: dict) -> list[str]:
    """Why the instructor's solution would not get full marks (empty: it does)."""
    problems = []
    by_key = {r.key: r for r in res["records"]}
    for key, status in res["kills"]:
        problems.append(f"cell #{key[0]} was killed: {_KILL_TEXT.get(status, status)} (raise --cell-timeout/--timeout/"
                        f"--memory, or make the lesson lighter)")
    problems += [f"kernel integrity: {c}" for c in res["canary"] + res["probe_failures"]]
    for t in lesson.tests:
        run = runs.get(t.grade_id)
        if run is None:
            problems.append(f"test '{t.grade_id}' did not run")
            continue
        if run["status"] != "ok":
            rec = by_key.get((t.index, 0))
            err = next((o for o in (rec.outputs if rec else []) if o.get("output_type") == "error"), {})
            problems.append(f"test '{t.grade_id}' fails on the solution: {err.get('ename', run['status'])}: "
                            f"{str(err.get('evalue', ''))[:300]}")
            continue
        if not judge.top_records(run["records"]):
            problems.append(f"test '{t.grade_id}' makes no helpers.checks call: the grader judges a test cell by "
                            f"its checks (write checks.check_true/check_equal instead of a bare assert)")
            continue
        v = judge.judge_cell(run, run, lesson.analysis.get(t.grade_id, {}))
        if not v.passed:
            problems.append(f"test '{t.grade_id}': {v.message}")
    # an earlier cell of the solution that fails leaves the tests with nothing to test
    for r in res["records"]:
        if r.kind != "test" and r.status == "error":
            cell = lesson.cells[r.key[0]]
            err = next((o for o in r.outputs if o.get("output_type") == "error"), {})
            problems.insert(0, f"{'solution' if r.kind == 'student' else 'lesson'} cell "
                               f"{repr(cell.grade_id) if cell.grade_id else '#' + str(r.key[0])} raises "
                               f"{err.get('ename', '')}: {str(err.get('evalue', ''))[:300]}")
            break
    return problems


def reference(lesson: Lesson, limits: Limits, force: bool = False, cancel: threading.Event | None = None,
              run=None) -> dict:
    """Run the instructor's own solution through the grader; cached (only when it gets full marks) under
    a key covering the grader's code, helpers/, the lesson's source and release, and the limits.
    ``run(lesson, limits, cancel)`` computes it when it is not cached (default :func:`run_reference`)."""
    data = None if force else cached_reference(lesson, limits)
    return data or accept_reference(lesson, limits, (run or run_reference)(lesson, limits, cancel))


def cached_reference(lesson: Lesson, limits: Limits) -> dict | None:
    """The cached reference run for exactly this grader, lesson and limits, if it got full marks."""
    path = Course.current().reference_file(lesson.name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("key") == run_key(lesson, limits) and data.get("ok") else None


def accept_reference(lesson: Lesson, limits: Limits, data: dict) -> dict:
    """Check a fresh reference run (here or from a worker of ``grade --queue``); cache it if it got full
    marks, else make sure nothing is cached."""
    path = Course.current().reference_file(lesson.name)
    if data.get("key") != run_key(lesson, limits):  # computed by a worker whose grader, helpers/ or lesson differ
        data = {**data, "ok": False, "problems": [
            "the worker that ran the instructor's solution has a different grader, helpers/ or lesson source "
            "than this machine: update its checkout (the same commit everywhere) and restart it"]}
    if not data.get("ok"):
        path.unlink(missing_ok=True)
    else:
        _atomic_write(path, json.dumps(data, indent=1))
    return data


def run_reference(lesson: Lesson, limits: Limits, cancel: threading.Event | None = None) -> dict:
    """The reference run itself (not cached): the instructor's solution in a sandbox, as plain data."""
    steps = [Step((c.index, 0), {"instructor": "instructor", "test": "test", "solution": "student"}[c.kind], c.source, c)
             for c in lesson.cells if c.kind in ("instructor", "test", "solution") and c.index <= lesson.graded_until]
    res = execute_plan(lesson, steps, {}, limits, cancel)
    runs = test_runs(lesson, res["records"])
    problems = reference_problems(lesson, runs, res)
    return {"lesson": lesson.name, "key": run_key(lesson, limits), "source_hash": lesson.source_hash,
            "grader": GRADER_VERSION, "ok": not problems, "problems": problems, "tests": runs,
            "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "changes": {f"{r.key[0]}": r.changes for r in res["records"]}, "kills": res["kills"],
            "canary": res["canary"], "probe_failures": res["probe_failures"]}


# ----------------------------------------------------------------------------- one submission


def run_submission(lesson: Lesson, sub: Submission, limits: Limits, cancel: threading.Event | None = None) -> dict:
    """Steps 2-3 for one read submission: plan it and run it in a sandbox.  Plain data (what a worker of
    ``grade --queue`` sends back); :func:`judge_submission` scores it.  Raises SandboxError."""
    steps, answers = plan(lesson, sub)
    t0 = time.monotonic()
    res = execute_plan(lesson, steps, sub.files, limits, cancel)
    return {"answers": answers, "tests": test_runs(lesson, res["records"]),
            "changes": [[r.key[0], r.kind, r.changes] for r in res["records"]],
            "outputs": {f"{r.key[0]}.{r.key[1]}": {"kind": r.kind, "status": r.status, "outputs": _clip(r.outputs),
                                                   "seconds": round(r.seconds, 3)} for r in res["records"]},
            "kills": [[key[0], status] for key, status in res["kills"]], "canary": res["canary"],
            "probe_failures": res["probe_failures"], "seconds": round(time.monotonic() - t0, 2)}


def judge_submission(lesson: Lesson, sub: Submission, run: dict, ref: dict) -> dict:
    """Steps 4-5: the judge's verdict on a run of :func:`run_submission`, against the reference run."""
    tests = score_tests(lesson, run["tests"], ref["tests"])
    flags = list(sub.flags) + run["canary"] + run["probe_failures"]
    allowed = ref.get("changes", {})
    for index, kind, changes in run["changes"]:
        ok = set(allowed.get(f"{index}", []))
        for change in changes:
            if change not in ok:
                text = f"{describe(change)} (during {kind} cell {index}"
                cell = lesson.cells[index]
                text += f" '{cell.grade_id}')" if cell.grade_id else ")"
                if text not in flags:
                    flags.append(text)
    notes = list(dict.fromkeys(sub.notes))
    for index, status in run["kills"]:
        cell = lesson.cells[index]
        label = f"'{cell.grade_id}'" if cell.grade_id else f"#{index}"
        notes.append(f"cell {label} was killed: {_KILL_TEXT.get(status, status)}"
                     + ("; it was skipped and the notebook re-run" if status != "notebook_timeout" else ""))
    score = sum(t["score"] for t in tests)
    status = "flagged" if flags else "graded"
    return make_result(lesson, sub, status, reason="; ".join(flags[:6]) if flags else "", flags=flags, notes=notes,
                       score=score, tests=tests, answers=run["answers"], outputs=run["outputs"],
                       protections=protections(), seconds=run["seconds"])


def grade_submission(lesson: Lesson, sub: Submission, ref, limits: Limits, cancel: threading.Event | None = None,
                     run: dict | None = None) -> dict:
    """Grade one read submission; returns the result record (never raises for student problems).
    ``ref``: the reference run, or a function that waits for it; ``run``: the submission's run, when a
    worker of ``grade --queue`` already made it (then only the judging is left)."""
    if sub.failure:
        return make_result(lesson, sub, "failed", reason=sub.failure)
    if run is None:
        try:
            run = run_submission(lesson, sub, limits, cancel)
        except SandboxError as exc:
            return make_result(lesson, sub, "error", reason=f"grader infrastructure: {exc}")
    ref = ref() if callable(ref) else ref  # the reference run may still be running in the pool
    if not ref.get("ok"):
        raise Cancelled()
    return judge_submission(lesson, sub, run, ref)


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




def default_limits() -> Limits:
    """Limits' defaults (grading.defaults), with the time limits overridable from the environment."""
    return Limits(cell_timeout=float(os.environ.get("DLSBS_CELL_TIMEOUT", DEFAULT_CELL_TIMEOUT)),
                  notebook_timeout=float(os.environ.get("DLSBS_NOTEBOOK_TIMEOUT", DEFAULT_NOTEBOOK_TIMEOUT)))


def grade_lesson(name: str, *, students: list[str] | None = None, workers: int | None = None, force: bool = False,
                 limits: Limits | None = None, progress: bool = True, feedback: bool = True,
                 report: bool = True, log=print, queue: str | None = None) -> dict:
    """Grade every (new or changed) submission of one lesson. Returns a summary dict.

    Raises :class:`ReferenceFailed` (nothing written) when the instructor's solution does not get full
    marks.  Each submission is read, planned, run and judged in its own worker (:func:`grade_job`):
    whatever goes wrong there is that submission's outcome, never the class's.  The workers are
    threads of this process, or with ``queue`` (a broker URL) ``python -m grading worker`` processes on
    any number of machines (:mod:`grading.queue`); either way the results are stored here, by
    :class:`Store`, in this thread only.
    """
    from . import report as rep

    limits = limits or default_limits()
    lesson = Lesson(name)
    todo = list(dict.fromkeys(students or course.submitted_students(name)))
    workers = max(1, workers or os.cpu_count() or 1)
    log(f"[{name}] {len(todo)} submission(s); " + (f"graded by the workers of {_redact(queue)}" if queue else
                                                   f"{workers} worker(s)"))
    store = Store(lesson, todo, feedback, progress, log)
    try:
        if queue:
            from . import queue as q

            ref = q.grade_through(queue, lesson, todo, force, limits, store, log)
        else:
            ref = _grade_local(lesson, todo, workers, force, limits, store)
    finally:
        store.close()
    if ref is not None and not ref.get("ok"):
        raise ReferenceFailed(name, ref["problems"])
    summary = {"lesson": name, "graded_now": store.done, "unchanged": store.skipped, "queue": bool(queue)}
    if report:
        summary["report"] = rep.lesson_report(lesson)
    return summary


def _redact(url: str) -> str:
    """A broker URL without its password (for what the grader prints)."""
    import re

    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


class Store:
    """Where a grading run's results land: written by the grading process only, in one thread, for the
    local pool and the queue alike.  Each is stored once (:meth:`add`); the progress bar follows."""

    def __init__(self, lesson: Lesson, todo: list[str], feedback: bool, progress: bool, log):
        self.lesson, self.feedback, self.log = lesson, feedback, log
        self.gradebook = None
        self.done: list[dict] = []
        self.skipped: list[str] = []
        self.bar = None
        if progress and todo:
            from tqdm import tqdm

            self.bar = tqdm(total=len(todo), unit="nb", desc=f"grading {lesson.name}", file=sys.stderr)

    def unchanged(self, student: str) -> None:
        self.skipped.append(student)
        if self.bar:
            self.bar.update(1)

    def add(self, result: dict) -> None:
        from . import report as rep

        if self.gradebook is None:
            self.gradebook = _open_gradebook(self.lesson.name, self.feedback, self.log)
        _store(self.lesson, result, self.feedback, self.gradebook, rep)
        self.done.append(result)
        if self.bar:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{result['student']}: {result['status']}")

    def close(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None


def _grade_local(lesson: Lesson, todo: list[str], workers: int, force: bool, limits: Limits, store: Store) -> dict | None:
    """``grade -j N``: the submissions in a pool of N threads of this process; returns the reference run."""
    base_key = run_key(lesson, limits)
    cancel = threading.Event()
    ref_box: dict = {}

    def get_ref():  # the first worker that needs the reference waits for it; a failed one stops everyone
        fut = ref_box["future"]
        ref = fut.result()
        if not ref.get("ok"):
            cancel.set()
        return ref

    pool = cf.ThreadPoolExecutor(max_workers=workers)
    try:
        # The reference run (the instructor's solution through the same pipeline) is the first job; the
        # submissions run beside it and are judged once it is in (its records are what they must match).
        ref_box["future"] = pool.submit(reference, lesson, limits, force, cancel) if todo else None
        futures = [pool.submit(_grade_one, lesson, sid, base_key, force, get_ref, limits, cancel) for sid in todo]
        for fut in cf.as_completed(futures):
            result = fut.result()
            if result is None:  # cancelled: the reference failed
                continue
            if result.get("status") == "unchanged":
                store.unchanged(result["student"])
                continue
            if not ref_box["future"].result().get("ok"):
                continue
            store.add(result)
    finally:
        cancel_now = ref_box.get("future") is not None and ref_box["future"].done() and \
            not ref_box["future"].exception() and not ref_box["future"].result().get("ok")
        if cancel_now:
            cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return ref_box["future"].result() if ref_box.get("future") is not None else None


def _open_gradebook(name: str, feedback: bool, log) -> bool:
    if not feedback:
        return False
    try:  # formgrader and `nbgrader export` read the gradebook: it must know this lesson's graded cells
        course.ensure_gradebook(name)
        return True
    except (Exception, course.CourseError) as exc:  # CourseError is a SystemExit: the grading goes on
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
        cause = next((ln for ln in reversed(lines) if "Error" in ln and "|" not in ln), lines[-1])
        where = _redact(os.environ["DLSBS_DB_URL"]) if os.environ.get("DLSBS_DB_URL") else "grading/gradebook.db"
        log(f"  WARNING: the gradebook ({where}) was not updated ({cause}); the grades are in grading/reports/")
        return False


def _store(lesson: Lesson, result: dict, feedback: bool, gradebook: bool, rep) -> None:
    """Write one result (parent process only, atomically), then its feedback and gradebook entry."""
    path = results_dir(lesson.name) / f"{result.get('file') or result_name(result['student'])}.json"
    _atomic_write(path, json.dumps(result, indent=1))
    if not feedback or result["status"] == "error":
        return
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
        _atomic_write(path, json.dumps(result, indent=1))


def to_grade(lesson: Lesson, sid: str, base_key: str, force: bool) -> Submission | None:
    """Read one submission; None when its stored result is for exactly this content (nothing to do)."""
    sub = read_submission(lesson, sid, base_key)
    old = load_result(lesson.name, sid)
    if not force and old and old.get("key") == sub.key and old.get("status") != "error":
        return None
    return sub


def _grade_one(lesson: Lesson, sid: str, base_key: str, force: bool, ref, limits: Limits,
               cancel: threading.Event) -> dict | None:
    """Read one submission and grade it if it is new or changed (in a thread of ``grade -j N``)."""
    if cancel.is_set():
        return None
    sub = to_grade(lesson, sid, base_key, force)
    if sub is None:
        return {"student": shown(sid), "status": "unchanged"}
    return grade_job(lesson, sub, result_name(sid), ref, limits, cancel)


def grade_job(lesson: Lesson, sub: Submission, file: str, ref, limits: Limits,
              cancel: threading.Event | None = None, run: dict | None = None) -> dict | None:
    """The per-submission job: plan, run and judge one read submission; ``file`` names its results file.

    Run by a thread of ``grade -j N``, and for ``grade --queue`` in two halves: :func:`run_job` on a worker,
    then this with the worker's ``run`` in the grading process.  Never raises: a problem with the
    submission is its ``failed`` outcome, a sandbox problem its ``error`` (retried on the next run).
    None: cancelled (the reference run failed)."""
    return _guarded(lesson, sub, file, lambda: grade_submission(lesson, sub, ref, limits, cancel, run))


def run_job(lesson: Lesson, sub: Submission, file: str, limits: Limits) -> dict:
    """A worker's half of :func:`grade_job`: ``{"run": ...}`` to be judged where the reference run is, or
    ``{"result": ...}`` when the submission's outcome is already decided (failed, or a sandbox error)."""
    if sub.failure:
        return {"result": grade_job(lesson, sub, file, None, limits)}
    out = _guarded(lesson, sub, file, lambda: run_submission(lesson, sub, limits))
    return {"run": out} if "status" not in out else {"result": out}


def _guarded(lesson: Lesson, sub: Submission, file: str, work) -> dict | None:
    try:
        result = work()
        if "status" in result:
            result["file"] = file
        return result
    except Cancelled:
        return None
    except SandboxError as exc:
        return make_result(lesson, sub, "error", file=file, reason=f"grader infrastructure: {exc}")
    except Exception as exc:  # a problem with this submission (or a grader bug) must not stop the class
        return make_result(lesson, sub, "failed", file=file,
                           reason=f"the grader could not process this submission ({type(exc).__name__}: "
                                  f"{shown(str(exc))[:300]})",
                           notes=list(sub.notes) + [shown(traceback.format_exc()[-1500:])])


#: exit status of ``grade`` (documented in the CLI's help and the README)
EXIT_OK, EXIT_STOPPED, EXIT_FLAGGED, EXIT_FAILED = 0, 1, 3, 4


def print_summary(summaries: list[dict], log=print) -> dict:
    """Print the end-of-run summary; returns the counts by status over every graded lesson."""
    totals = {"graded": 0, "flagged": 0, "failed": 0, "error": 0}
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
        for k in totals:
            totals[k] += len(by.get(k, []))
        if s.get("report"):
            log(f"  report: {s['report']}")
    if any(s.get("queue") for s in summaries):  # the workers' sandboxes graded: say what theirs enforced
        for seen in dict.fromkeys(tuple(r["protections"]) for s in summaries for r in s["graded_now"]
                                  if r.get("protections")):
            log("protections active on the workers: " + "; ".join(seen))
        return totals
    active = protections()
    log("protections active: " + "; ".join(active))
    for m in missing_protections():
        log("NOT active: " + m)
    log(Zygote.status())
    return totals


def exit_status(totals: dict) -> tuple[int, str]:
    """(exit status, the run's last line)."""
    text = (f"{totals['graded']} graded, {totals['flagged']} flagged for review, {totals['failed']} failed, "
            f"{totals['error']} grader errors")
    if totals["failed"] or totals["error"]:
        return EXIT_FAILED, f"result: {text} -> exit {EXIT_FAILED} (some submissions failed or errored: see FAILED/ERROR above)"
    if totals["flagged"]:
        return EXIT_FLAGGED, f"result: {text} -> exit {EXIT_FLAGGED} (flagged submissions wait for review)"
    return EXIT_OK, f"result: {text} -> exit {EXIT_OK}"


def grade(lesson: str | None = None, *, students=None, workers=None, force=False, limits=None, progress=True,
          queue: str | None = None) -> int:
    """``python -m grading grade``: exit 0 all graded, 3 some flagged for review, 4 some failed or grader
    errors, 1 grading stopped (the instructor's solution does not get full marks, or a course problem)."""
    from .sandbox import sweep

    stale = sweep()
    if stale:
        print(f"removed {stale} sandbox(es) left behind by an earlier grader run that was killed")
    summaries = []
    stopped = []
    for name in course.resolve(lesson):
        if not course.submitted_students(name) and not students:
            print(f"[{name}] no submissions in grading/submitted/*/{name}/")
            continue
        try:
            summaries.append(grade_lesson(name, students=students, workers=workers, force=force, limits=limits,
                                          progress=progress, queue=queue))
        except ReferenceFailed as exc:
            print(exc.explain())
            stopped.append(name)
    from . import report as rep

    if summaries:
        csv = rep.export_csv()
        print(f"grades: {csv}")
    totals = print_summary(summaries)
    status, last = exit_status(totals)
    if stopped:
        status = EXIT_STOPPED
        last = f"result: grading STOPPED for {', '.join(stopped)} (the instructor's solution does not get full " \
               f"marks in the sandbox: see above) -> exit {EXIT_STOPPED}"
    print(last)
    return status


def doctor(lesson: str | None = None, limits: Limits | None = None, log=print) -> int:
    """``python -m grading doctor``: grade each lesson's instructor solution in a real sandbox, fresh (no
    cache), and show each test's verdict and the sandbox's protections.  Exit 0 only if every solution
    gets full marks."""
    from .sandbox import sweep

    sweep()
    limits = limits or default_limits()
    bad = 0
    for name in course.resolve(lesson):
        les = Lesson(name)
        t0 = time.monotonic()
        try:
            ref = reference(les, limits, force=True)
        except SandboxError as exc:
            log(f"[{name}] NOT OK: the sandbox could not run the solution: {exc}")
            bad += 1
            continue
        tests = score_tests(les, ref["tests"], ref["tests"])
        got = sum(t["score"] for t in tests)
        state = "ok" if ref["ok"] else "NOT OK"
        log(f"[{name}] {state}: the instructor's solution scores {got:g}/{les.max_auto:g} in the sandbox "
            f"({time.monotonic() - t0:.0f} s)")
        for t in tests:
            log(f"  {t['status']:7} {t['grade_id']}: {t.get('message', '')}")
        for p in ref.get("problems", []):
            log(f"  problem: {p}")
        bad += not ref["ok"]
    for m in missing_protections():
        log("WARNING, sandbox protection NOT active: " + m)
    log("doctor: " + ("every instructor solution gets full marks in the sandbox" if not bad else
                      f"{bad} lesson(s) would stop `grade`: fix them first (see above)"))
    return 1 if bad else 0
