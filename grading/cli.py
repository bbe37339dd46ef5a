"""The command line: ``python -m grading COMMAND`` (build, release, check, validate, collect, grade, worker,
doctor, autograde, feedback, export).  Every command prints what it did and exits non-zero with a message that says
what to do when something is wrong; ``grade`` documents its exit statuses in its help."""
from __future__ import annotations

import argparse
import os

from . import course
from .defaults import DEFAULT_CELL_TIMEOUT, DEFAULT_MEMORY_GIB, DEFAULT_NOTEBOOK_TIMEOUT


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading", description=course.__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list lessons")
    for cmd, help_ in (("build", "sync solutions/NN/NN.py and NN.ipynb"),
                       ("release", "build + regenerate the student copy in lessons/"),
                       ("check", "fail if lessons/ is stale (writes nothing)"),
                       ("validate", "solutions pass their tests; release stubs fail them"),
                       ("autograde", "autograde collected submissions"),
                       ("feedback", "generate feedback HTML")):
        sp = sub.add_parser(cmd, help=help_)
        sp.add_argument("lesson", nargs="?", default="all", help="lesson id or number (default: all)")
        if cmd == "autograde":
            sp.add_argument("--student")
    sc = sub.add_parser("collect", help="copy downloaded submissions into grading/submitted/")
    sc.add_argument("incoming", help="folder of submitted notebooks")
    sc.add_argument("lesson", help="lesson id or number")
    sg = sub.add_parser("grade", help="parallel, sandboxed autograde + feedback + CSV + grade report "
                                      "(resumable: grades only new or changed submissions). Exit status: 0 all "
                                      "graded, 3 some flagged for review, 4 some failed or grader errors, 1 stopped "
                                      "(the instructor's solution does not get full marks in the sandbox)")
    sg.add_argument("lesson", nargs="?", default="all", help="lesson id or number (default: all)")
    sg.add_argument("--student", action="append", help="only this student (repeatable)")
    sg.add_argument("-j", "--workers", type=int, default=None, help="parallel kernels (default: CPU cores)")
    sg.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    sg.add_argument("--cell-timeout", type=float, default=None, help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT:g})")
    sg.add_argument("--timeout", type=float, default=None, help=f"seconds per notebook (default {DEFAULT_NOTEBOOK_TIMEOUT:g})")
    sg.add_argument("--memory", type=float, default=None, help=f"GiB per kernel (default {DEFAULT_MEMORY_GIB:g})")
    sg.add_argument("--no-progress", action="store_true")
    sg.add_argument("--queue", metavar="URL", default=None,
                    help="grade through the workers of this broker (amqp://user:password@host:5672//) instead of "
                         "in this process (see grading/queue.md)")
    sg.add_argument("--db-url", metavar="URL", default=None,
                    help="nbgrader's gradebook at this SQLAlchemy URL, e.g. postgresql+psycopg2://user:password@host/db "
                         "(several machines can share it; default: $DLSBS_DB_URL, else grading/gradebook.db)")
    sw = sub.add_parser("worker", help="grade jobs of `grade --queue URL` on this machine (as root, for the sandbox; "
                                       "see grading/queue.md)")
    sw.add_argument("--broker", metavar="URL", required=True, help="the broker (amqp://user:password@host:5672//)")
    sw.add_argument("-j", "--workers", type=int, default=None, help="jobs at a time (default: CPU cores)")
    sw.add_argument("--hostname", default=None, help="this worker's name in the broker (default: dlsbs-PID@host)")
    sd = sub.add_parser("doctor", help="grade each instructor solution in a real sandbox (exit 0: full marks)")
    sd.add_argument("lesson", nargs="?", default="all", help="lesson id or number (default: all)")
    se = sub.add_parser("export", help="export grades to CSV")
    se.add_argument("--to", default="grading/grades.csv")
    a = p.parse_args(argv)
    if a.cmd == "list":
        print("\n".join(course.lessons()))
    elif a.cmd == "build":
        for name in course.resolve(a.lesson):
            course.build(name)
    elif a.cmd == "release":
        course.release(a.lesson)
    elif a.cmd == "check":
        problems = course.stale(a.lesson)
        if problems:
            print("stale:\n  " + "\n  ".join(problems) + "\nrun `make release` and commit lessons/")
            return 1
        print("lessons/ is up to date")
    elif a.cmd == "validate":
        ok = course.validate(a.lesson) & course.validate(a.lesson, released=True)
        return 0 if ok else 1
    elif a.cmd == "collect":
        from .collect import collect

        collect(a.incoming, a.lesson)
    elif a.cmd == "autograde":
        course.autograde(a.lesson, a.student)
    elif a.cmd == "feedback":
        course.feedback(a.lesson)
    elif a.cmd == "export":
        course.export(a.to)
    elif a.cmd == "doctor":
        from . import grader

        return grader.doctor(a.lesson)
    elif a.cmd == "grade":
        from . import grader

        limits = grader.default_limits()
        if a.db_url:  # nbgrader's own commands (run in subprocesses) read it too: see nbgrader_config.py
            os.environ["DLSBS_DB_URL"] = a.db_url
        if a.cell_timeout:
            limits.cell_timeout = a.cell_timeout
        if a.timeout:
            limits.notebook_timeout = a.timeout
        if a.memory:
            limits.memory_bytes = int(a.memory * 2**30)
        return grader.grade(a.lesson, students=a.student, workers=a.workers, force=a.force, limits=limits,
                            progress=not a.no_progress, queue=a.queue)
    elif a.cmd == "worker":
        from . import queue

        return queue.worker(a.broker, a.workers, a.hostname)
    return 0


