"""The class exchange (nbgrader's filesystem exchange on the hub), run by the instructor as root.

    python -m grading.exchange publish [LESSON] [--due "2026-12-08 23:59"]   lessons -> students' Assignment List
    python -m grading.exchange collect LESSON [--before-due]                  inbound -> grading/submitted/
    python -m grading.exchange release-feedback LESSON                         grading/feedback/ -> students
    python -m grading.exchange status [LESSON]                                 fetched/submitted/late/graded/flagged

Between collect and release-feedback the course's own commands run on the hub's course folder:
``python -m grading grade LESSON`` (sandboxed autograde + feedback), grading written answers in the
Formgrader, and ``python -m grading feedback LESSON`` (this module sets DLSBS_COURSE_ROOT for them
through ``make``; see grading/hub/README.md).

Every submission stays in the exchange's inbound folder with nbgrader's timestamp: nothing is ever
overwritten, so a resubmission never loses the earlier one.  ``collect`` takes each student's latest
submission, or with ``--before-due`` the latest one made before the lesson's due date, and records
its timestamp and whether it was late.

Late policy (also in grading/hub/README.md): a submission after the due date is accepted and recorded
as late (``status`` shows it, with how late); ``collect`` takes the latest submission unless
``--before-due`` is given, which ignores late ones.  No automatic penalty.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .hub import COURSE_ID, INSTRUCTORS_GROUP, HubError, REPO, State, fix_course_permissions, sync_course
from .paths import Course, select_lessons
from helpers._importorder import quiet_env

_INBOUND_RE = re.compile(r"^(?P<student>[^+]+)\+(?P<lesson>[^+]+)\+(?P<timestamp>[^+]+)(\+(?P<random>.+))?$")


# ----------------------------------------------------------------------------- environment


def course_env(st: State) -> dict:
    """What the course's commands need to work on the hub's course folder and exchange."""
    e = dict(os.environ)
    e["DLSBS_COURSE_ROOT"] = str(st.course)
    e["DLSBS_EXCHANGE_ROOT"] = str(st.exchange)
    hubdir = REPO / "grading" / "hub" / "jupyter"
    e["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(hubdir / "instructor"), str(REPO / "grading")])
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), e.get("PATH", "")])
    quiet_env(e)
    return e


def nbgrader(st: State, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("nbgrader")
    proc = subprocess.run([str(exe), *args], cwd=st.course, env=course_env(st), text=True, capture_output=True)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise HubError(f"`nbgrader {' '.join(args)}` failed:\n{tail}")
    return proc


def course_cli(st: State, *args: str) -> subprocess.CompletedProcess:
    """``python -m grading ARGS`` on the hub's course folder (as root)."""
    proc = subprocess.run([sys.executable, "-m", "grading", *args], cwd=REPO, env=course_env(st), text=True)
    fix_course_permissions(st)
    return proc


def _lessons(st: State, lesson: str | None) -> list[str]:
    try:
        return select_lessons(Course(st.course).lessons(), lesson)
    except LookupError as e:
        raise HubError(str(e)) from None


# ----------------------------------------------------------------------------- timestamps and due dates


def parse_timestamp(text: str) -> dt.datetime:
    from nbgrader.utils import parse_utc

    return parse_utc(text.strip())


def due_dates(st: State) -> dict:
    path = st.course / "grading" / "due.json"
    return json.loads(path.read_text()) if path.exists() else {}


def set_due(st: State, lesson: str, due: str) -> dt.datetime:
    when = parse_timestamp(due if re.search(r"[A-Za-z]{3}$|[+-]\d\d:?\d\d$", due.strip()) else due + " UTC")
    dues = due_dates(st)
    dues[lesson] = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    path = st.course / "grading" / "due.json"
    path.write_text(json.dumps(dues, indent=2, sort_keys=True) + "\n")
    # nbgrader's gradebook knows it too (the Formgrader shows it; nbgrader computes lateness from it)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{st.course / 'grading' / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(lesson, duedate=when.replace(tzinfo=None))
    return when


def due_of(st: State, lesson: str) -> dt.datetime | None:
    d = due_dates(st).get(lesson)
    return parse_timestamp(d) if d else None


# ----------------------------------------------------------------------------- publish


def publish(st: State, lesson: str | None = None, due: str | None = None) -> list[str]:
    """Copy the repository's lessons into the course folder, check them, release them to the exchange."""
    from .bundle import LeakError, Secrets, scan

    sync_course(st)
    secret = Secrets(st.course / "solutions")
    done = []
    for name in _lessons(st, lesson):
        release = st.course / "lessons" / name
        if not release.is_dir():
            raise HubError(f"lessons/{name}/ is missing: run `make release LESSON={name[:2]}` first")
        leaks = scan(release, secret)
        if leaks:
            raise LeakError(leaks)
        # the gradebook must know the lesson before nbgrader releases it
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{st.course / 'grading' / 'gradebook.db'}") as gb:
            gb.update_or_create_assignment(name)
        if due:
            when = set_due(st, name, due)
            print(f"  {name}: due {when:%Y-%m-%d %H:%M} UTC")
        nbgrader(st, "release_assignment", name, "--force")
        out = st.exchange / COURSE_ID / "outbound" / name
        leaks = scan(out, secret)
        if leaks:  # never leave a leaking release in the exchange
            shutil.rmtree(out, ignore_errors=True)
            raise LeakError(leaks)
        print(f"  released {name} to the class (students: Assignment List -> Fetch)")
        done.append(name)
    fix_course_permissions(st)
    return done


# ----------------------------------------------------------------------------- submissions


def submissions(st: State, lesson: str | None = None) -> list[dict]:
    """Every submission in the exchange's inbound folder (all resubmissions), oldest first."""
    out = []
    if not st.inbound.is_dir():
        return out
    for entry in st.inbound.iterdir():
        m = _INBOUND_RE.match(entry.name)
        if not m or not entry.is_dir() or (lesson and m["lesson"] != lesson):
            continue
        stamp_file = entry / "timestamp.txt"
        stamp = stamp_file.read_text().strip() if stamp_file.exists() else m["timestamp"]
        try:
            when = parse_timestamp(stamp)
        except Exception:  # noqa: BLE001 - a damaged entry is reported, never fatal
            continue
        owner = entry.stat().st_uid
        try:
            owner_name = pwd.getpwuid(owner).pw_name
        except KeyError:
            owner_name = str(owner)
        out.append({"student": m["student"], "lesson": m["lesson"], "timestamp": stamp, "when": when,
                    "path": entry, "owner": owner_name})
    return sorted(out, key=lambda s: (s["when"], s["student"]))


def collect(st: State, lesson: str, before_due: bool = False) -> dict:
    """Take each student's latest (or latest on-time) submission into grading/submitted/ via the course's collect."""
    [name] = _lessons(st, lesson)
    due = due_of(st, name)
    if before_due and due is None:
        raise HubError(f"{name} has no due date: publish it with --due \"YYYY-MM-DD HH:MM\" or collect without --before-due")
    subs = submissions(st, name)
    latest: dict[str, dict] = {}
    skipped_late, impostors = [], []
    for s in subs:
        if s["owner"] not in (s["student"], "root"):
            # a submission folder is created by the student's own process: a name that is not
            # its owner's is someone submitting for someone else
            impostors.append(f"{s['path'].name} (made by {s['owner']})")
            continue
        if before_due and s["when"] > due:
            skipped_late.append(s["student"])
            continue
        latest[s["student"]] = s
    summary = {"collected": sorted(latest), "late": [], "ignored_late": sorted(set(skipped_late) - set(latest)),
               "refused": impostors}
    if not latest:
        print(f"[{name}] no submissions to collect" + (" before the due date" if before_due else ""))
        return summary
    with tempfile.TemporaryDirectory(prefix="collect-") as tmp:
        incoming = Path(tmp) / "incoming"
        for sid, s in latest.items():
            dest = incoming / sid
            dest.mkdir(parents=True)
            for nb in s["path"].glob("*.ipynb"):
                shutil.copyfile(nb, dest / nb.name)
        # the course's own collect (`python -m grading collect`), on the hub's course
        os.chmod(tmp, 0o755)
        proc = subprocess.run([sys.executable, "-m", "grading", "collect", str(incoming), name], cwd=REPO,
                              env=course_env(st), text=True)
        if proc.returncode != 0:
            raise HubError(f"the course's collect failed for {name} (see above); the exchange is unchanged")
    submitted = st.course / "grading" / "submitted"
    for sid, s in latest.items():
        dest = submitted / sid / name
        if not dest.is_dir():
            continue
        # the submission's own time (not the collection time), and nbgrader's secret for feedback
        (dest / "timestamp.txt").write_text(s["timestamp"])
        secret = s["path"] / "submission_secret.txt"
        if secret.exists():
            shutil.copyfile(secret, dest / "submission_secret.txt")
        late = due is not None and s["when"] > due
        if late:
            summary["late"].append(sid)
        record = {"timestamp": s["timestamp"], "exchange_entry": s["path"].name, "late": late,
                  "seconds_late": max(0.0, (s["when"] - due).total_seconds()) if due else 0.0,
                  "due": due.strftime("%Y-%m-%d %H:%M:%S UTC") if due else None,
                  "submissions": sum(1 for x in subs if x["student"] == sid)}
        (dest / "exchange.json").write_text(json.dumps(record, indent=2) + "\n")
    fix_course_permissions(st)
    print(f"[{name}] collected {len(latest)} submission(s) into grading/submitted/"
          + (f"; late: {', '.join(summary['late'])}" if summary["late"] else "")
          + (f"; only late submissions (ignored): {', '.join(summary['ignored_late'])}" if summary["ignored_late"] else "")
          + (f"; REFUSED (owner does not match the name): {', '.join(impostors)}" if impostors else ""))
    return summary


def release_feedback(st: State, lesson: str) -> list[str]:
    """Hand each graded student's feedback back through the exchange (nbgrader release_feedback)."""
    [name] = _lessons(st, lesson)
    fb_root = st.course / "grading" / "feedback"
    released = []
    for d in sorted(fb_root.glob(f"*/{name}")):
        sub = st.course / "grading" / "submitted" / d.parent.name / name
        if not list(d.glob("*.html")):
            continue
        # nbgrader finds the feedback by the submission's secret and time: copy them next to the HTML
        for f in ("timestamp.txt", "submission_secret.txt"):
            if (sub / f).exists():
                shutil.copyfile(sub / f, d / f)
        if (d / "submission_secret.txt").exists():
            released.append(d.parent.name)
        else:
            print(f"  {d.parent.name}: not collected from the exchange (no submission secret): no feedback released")
    if not released:
        print(f"[{name}] no feedback to release: run `python -m grading grade {name}` (and `feedback`) first")
        return []
    nbgrader(st, "release_feedback", name)
    # nbgrader copies the HTML with its mode (0660 in the instructors' course folder): each student
    # must read their own file (named by a hash of their submission's secret, in a 0711 folder)
    for html in (st.exchange / COURSE_ID / "feedback").glob("*.html"):
        os.chmod(html, 0o644)
    fix_course_permissions(st)
    print(f"[{name}] feedback released for {len(released)} student(s) (students: Assignment List -> Fetch Feedback)")
    return released


# ----------------------------------------------------------------------------- isolation guard


def tighten_inbound(st: State) -> int:
    """Make every inbound submission readable by its owner and the instructors only.

    nbgrader 0.9.6's submit leaves ``inbound/<student>+<lesson>+<time>+<random>`` mode 0777 with
    files 0644: the inbound folder itself (0733) hides the names, but anyone who learns a name can
    read (or change) it.  Here each entry becomes 2770 owner:dlsbs-instructors, its files 0660.
    """
    gid = grp.getgrnam(INSTRUCTORS_GROUP).gr_gid
    n = 0
    if not st.inbound.is_dir():
        return 0
    for entry in st.inbound.iterdir():
        try:
            info = entry.lstat()
            if entry.is_symlink():
                entry.unlink()     # a link in inbound is never a submission
                continue
            if info.st_gid == gid and info.st_mode & 0o7777 == 0o2770:
                continue
            for dirpath, dirnames, filenames in os.walk(entry):
                for f in filenames:
                    p = Path(dirpath) / f
                    if not p.is_symlink():
                        os.chown(p, -1, gid)
                        os.chmod(p, 0o660)
                os.chown(dirpath, -1, gid)
                os.chmod(dirpath, 0o2770)
            n += 1
        except FileNotFoundError:
            continue
    return n


def guard(st: State, interval: float) -> None:
    import signal

    def stop(signum, frame):
        raise SystemExit(0)

    for sig in (signal.SIGINT, signal.SIGTERM):   # the hub stops its services with SIGINT, then SIGTERM
        signal.signal(sig, stop)
    while True:
        try:
            tighten_inbound(st)
        except Exception as exc:  # noqa: BLE001 - keep guarding
            print(f"exchange guard: {exc}", file=sys.stderr, flush=True)
        time.sleep(interval)


# ----------------------------------------------------------------------------- status


def _results(name: str) -> dict:
    try:
        from . import grader

        return {r.get("student"): r for r in grader.all_results(name)}
    except Exception:  # noqa: BLE001 - the grader's results are optional for the status
        return {}


def _gradebook_scores(st: State, name: str) -> dict:
    db = st.course / "grading" / "gradebook.db"
    if not db.exists():
        return {}
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    try:
        with Gradebook(f"sqlite:///{db}") as gb:
            for sub in gb.assignment_submissions(name):
                out[sub.student.id] = {"score": sub.score, "max": sub.max_score, "needs_manual": sub.needs_manual_grade}
    except MissingEntry:
        pass
    return out


def _feedback_released(st: State, sid: str, name: str) -> bool:
    """Is the collected submission's feedback in the exchange (where Fetch Feedback looks for it)?"""
    from nbgrader.utils import notebook_hash

    secret = st.course / "grading" / "submitted" / sid / name / "submission_secret.txt"
    if not secret.exists():
        return False
    fb = st.exchange / COURSE_ID / "feedback"
    notebooks = [p.stem for p in (st.course / "grading" / "submitted" / sid / name).glob("*.ipynb")]
    return bool(notebooks) and all(
        (fb / f"{notebook_hash(secret=secret.read_text(), notebook_id=nb)}.html").exists() for nb in notebooks)


def status(st: State, lesson: str | None = None) -> list[dict]:
    """One row per student and lesson: fetched, submitted (how often, last time), late, graded, flagged."""
    info = st.load_class()
    rows = []
    released = {p.name for p in (st.exchange / COURSE_ID / "outbound").glob("*") if p.is_dir()}
    for name in _lessons(st, lesson):
        if name not in released:
            continue
        due = due_of(st, name)
        subs = submissions(st, name)
        results = _results(name)
        scores = _gradebook_scores(st, name)
        for s in info["students"]:
            sid = s["id"]
            mine = [x for x in subs if x["student"] == sid]
            try:
                home = Path(pwd.getpwnam(sid).pw_dir)
            except KeyError:
                home = None
            fetched = bool(home and ((home / COURSE_ID / name).is_dir() or (home / name).is_dir()))
            last = mine[-1] if mine else None
            collected = st.course / "grading" / "submitted" / sid / name / "exchange.json"
            res = results.get(sid) or {}
            score = scores.get(sid)
            rows.append({
                "lesson": name, "student": sid, "name": s["name"], "fetched": fetched,
                "submissions": len(mine), "last_submitted": last["timestamp"] if last else "",
                "late": bool(last and due and last["when"] > due),
                "collected": json.loads(collected.read_text())["timestamp"] if collected.exists() else "",
                "graded": bool(score) or res.get("status") == "graded",
                "score": f"{score['score']:g}/{score['max']:g}" if score else "",
                "needs_manual": bool(score and score["needs_manual"]),
                "flagged": res.get("status") == "flagged", "flag_reason": res.get("reason", "") if res.get("status") == "flagged" else "",
                "feedback_released": _feedback_released(st, sid, name),
            })
    return rows


def print_status(rows: list[dict], out=sys.stdout) -> None:
    if not rows:
        print("nothing released yet: python -m grading.exchange publish LESSON", file=out)
        return
    cols = ["lesson", "student", "fetched", "submissions", "last_submitted", "late", "graded", "score",
            "needs_manual", "flagged", "feedback_released"]
    w = csv.writer(out)
    w.writerow(cols + ["flag_reason"])
    for r in rows:
        w.writerow([("yes" if r[c] else "") if isinstance(r[c], bool) else r[c] for c in cols] + [r["flag_reason"]])


# ----------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.exchange", description=__doc__.split("\n\n")[0])
    p.add_argument("--state", help="the hub's state folder (default $HUB_STATE or /srv/dl-side-by-side)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("publish", help="release lessons to the class (after `make release`)")
    sp.add_argument("lesson", nargs="?", default="all")
    sp.add_argument("--due", help='due date, e.g. "2026-12-08 23:59" (UTC unless a zone is given)')
    sc = sub.add_parser("collect", help="exchange inbound -> grading/submitted (latest per student)")
    sc.add_argument("lesson")
    sc.add_argument("--before-due", action="store_true", help="the latest submission before the due date")
    sf = sub.add_parser("release-feedback", help="feedback -> students (after grade and feedback)")
    sf.add_argument("lesson")
    ss = sub.add_parser("status", help="per student and lesson: fetched, submitted, late, graded, flagged")
    ss.add_argument("lesson", nargs="?", default="all")
    ss.add_argument("--json", action="store_true")
    sg = sub.add_parser("guard", help="(hub service) keep inbound submissions private")
    sg.add_argument("--interval", type=float, default=1.0)
    sr = sub.add_parser("course", help="run `python -m grading ARGS` on the hub's course folder")
    sr.add_argument("args", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    if a.state:
        os.environ["HUB_STATE"] = a.state
    st = State(a.state)
    # grading.course and grading.grader read the course folder from here at import
    os.environ.update({k: v for k, v in course_env(st).items() if k.startswith("DLSBS_") or k == "JUPYTER_CONFIG_PATH"})
    if a.cmd != "status" and os.geteuid() != 0:
        raise HubError("exchange commands write as the course's owner: run them as root (sudo)")
    if a.cmd == "publish":
        publish(st, a.lesson, a.due)
    elif a.cmd == "collect":
        collect(st, a.lesson, a.before_due)
    elif a.cmd == "release-feedback":
        release_feedback(st, a.lesson)
    elif a.cmd == "status":
        rows = status(st, a.lesson)
        if a.json:
            print(json.dumps(rows, indent=1))
        else:
            print_status(rows)
    elif a.cmd == "guard":
        guard(st, a.interval)
    elif a.cmd == "course":
        return course_cli(st, *a.args).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
