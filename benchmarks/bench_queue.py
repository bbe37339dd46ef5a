"""Throughput: ``grade --queue URL`` with N worker processes vs ``grade -j N``, on the same submissions.

One run: a private RabbitMQ broker (as tests/test_queue.py starts it) and N workers (``worker -j 1``
each, as N machines would run them) on this machine; the grader corpus's framework-free lesson with
``--n`` honest submissions, in two throw-away course roots.  Each way grades twice: first cold (the
reference run included: the queue runs it as a job before the submissions, a local run beside them),
then ``--force`` (the reference run cached): the pure overhead of the queue.  Prints the wall times and
the overhead ratios (goal: within 1.2x), and whether the scores agree.

    sudo .venv/bin/python benchmarks/bench_queue.py [--n 8] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8, help="submissions")
    ap.add_argument("--workers", type=int, default=2, help="N: worker processes / local -j")
    a = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("bwrap") or not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        print("bench_queue: needs root, bubblewrap and rabbitmq-server (sudo make queue-deps grader-deps): skipped")
        return 0
    import test_queue as tq  # the broker, worker and course helpers of the queue's tests

    tmp = Path(tempfile.mkdtemp(prefix="dlsbs-bench-queue-"))
    rmq, workers = None, []
    try:
        roots = {}
        for way in ("local", "queue"):
            root = tq.make_course(tmp / way)
            sub = root / "grading" / "submitted"
            for p in sorted(sub.iterdir()):
                if p.name != "right":
                    shutil.rmtree(p)
            for i in range(a.n - 1):
                shutil.copytree(sub / "right", sub / f"s{i:03d}")
            roots[way] = root
        rmq = tq.RabbitMQ(Path(tempfile.mkdtemp(prefix="dlsbs-bench-rmq-")))  # its own folder: the broker's user owns it
        rmq.start()
        workers = [tq.Worker(rmq.url, roots["queue"], f"bench{i}", tq.course_env(roots["queue"]))
                   for i in range(a.workers)]
        times = {}
        for phase, extra in (("cold", []), ("cached reference", ["--force"])):
            for way, args in (("local", ["-j", str(a.workers)]), ("queue", ["--queue", rmq.url])):
                t0 = time.perf_counter()
                tq.grade(roots[way], *args, *extra)
                times[(phase, way)] = time.perf_counter() - t0
        same = tq.outcome(roots["local"]) == tq.outcome(roots["queue"])
        print(f"{a.n} submissions of {tq.corpus.LESSON}, N = {a.workers} (one run, this machine's load)")
        for phase in ("cold", "cached reference"):
            lo, qu = times[(phase, "local")], times[(phase, "queue")]
            print(f"  {phase:17}: grade -j {a.workers} {lo:6.1f} s | grade --queue with {a.workers} workers {qu:6.1f} s"
                  f" | overhead ratio {qu / lo:.2f}x (goal <= 1.2x)")
        print(f"  scores identical: {same}")
        return 0 if same else 1
    finally:
        for w in workers:
            w.stop()
        if rmq is not None:
            rmq.close()
            shutil.rmtree(rmq.base, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
