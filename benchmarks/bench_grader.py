"""Throughput: stock ``nbgrader autograde`` (one student at a time) vs ``python -m grading grade``.

Both grade the same 20 submissions of lesson 01 (right / untouched / partial answers) in
throw-away course roots, one after the other in this run; prints both wall times, the ratio and
whether every score matches.  The grader's time includes its one-off reference run of the
instructor solution (cached afterwards) and the feedback, CSV and report it writes.

    .venv/bin/python benchmarks/bench_grader.py [--n 20] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = "01_intro_to_deep_learning"


def make_course(root: Path, n: int) -> dict:
    import nbformat

    for folder in ("solutions", "lessons"):
        shutil.copytree(ROOT / folder / LESSON, root / folder / LESSON)
    (root / "grading").mkdir()
    src = nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    rel = nbformat.read(ROOT / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in src.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    mixes = [set(answers), set(), {"neuron"}, {"neuron", "keras_model"}, {"dense_both"}]
    plan = {}
    for i in range(n):
        gids = mixes[i % len(mixes)]
        nb = nbformat.from_dict(json.loads(json.dumps(rel)))
        for c in nb.cells:
            gid = c.metadata.get("nbgrader", {}).get("grade_id")
            if gid in gids:
                c.source = answers[gid]
        sid = f"student{i:02d}"
        d = root / "grading" / "submitted" / sid / LESSON
        d.mkdir(parents=True)
        nbformat.write(nb, d / f"{LESSON}.ipynb")
        plan[sid] = sorted(gids)
    return plan


def run(root: Path, *args) -> float:
    env = dict(os.environ, DLSBS_COURSE_ROOT=str(root))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grading", *args], cwd=ROOT, env=env, text=True, capture_output=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"`grading {' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dt


def stock_scores(root: Path) -> dict:
    env = dict(os.environ, DLSBS_COURSE_ROOT=str(root))
    code = f"import json; from grading import course; print(json.dumps(course.scores({LESSON!r})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True, capture_output=True, check=True)
    return {k: v[0] for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def grader_scores(root: Path) -> dict:
    d = root / "grading" / ".grader-cache" / "results" / LESSON
    return {p.stem: json.loads(p.read_text())["score"] for p in d.glob("*.json")}


def where_time_goes(root: Path) -> str:
    """From the grader's results: per submission, seconds in cells (first cell = imports) vs the rest
    (kernel start-up, probes, canaries, sandbox set-up and tear-down)."""
    d = root / "grading" / ".grader-cache" / "results" / LESSON
    rows = [json.loads(p.read_text()) for p in d.glob("*.json")]
    if not rows:
        return "no results"
    tot = sum(r.get("seconds", 0) for r in rows) / len(rows)
    cells = [sum(v["seconds"] for v in r.get("outputs", {}).values()) for r in rows]
    first = [min(r.get("outputs", {}).items(), key=lambda kv: [int(x) for x in kv[0].split(".")])[1]["seconds"]
             for r in rows if r.get("outputs")]
    c = sum(cells) / len(cells)
    f = sum(first) / len(first) if first else 0.0
    return (f"per submission: {tot:.1f} s in its sandbox = {c:.1f} s running cells (of which {f:.1f} s the first, "
            f"import cell) + {tot - c:.1f} s kernel start-up, probes, canaries, set-up")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as t1, tempfile.TemporaryDirectory(prefix="bench-grader-") as t2:
        make_course(Path(t1), a.n)
        make_course(Path(t2), a.n)
        print(f"{a.n} submissions of {LESSON}, {os.cpu_count()} cores")
        t_stock = run(Path(t1), "autograde", "01")
        print(f"stock nbgrader autograde (one at a time): {t_stock:7.1f} s  ({t_stock / a.n:.1f} s per submission)")
        args = ["grade", "01", "--no-progress"] + (["-j", str(a.workers)] if a.workers else [])
        t_ours = run(Path(t2), *args)
        print(f"python -m grading grade (parallel, sandboxed): {t_ours:7.1f} s  ({t_ours / a.n:.1f} s per submission)")
        s1, s2 = stock_scores(Path(t1)), grader_scores(Path(t2))
        same = s1 == s2 and len(s1) == a.n
        print(f"throughput ratio: {t_stock / t_ours:.2f}x   scores match: {same}")
        print(where_time_goes(Path(t2)))
        if not same:
            for k in sorted(set(s1) | set(s2)):
                if s1.get(k) != s2.get(k):
                    print(f"  {k}: stock {s1.get(k)} grader {s2.get(k)}")
        out = ROOT / "benchmarks" / "results"
        out.mkdir(exist_ok=True)
        (out / "bench_grader.json").write_text(json.dumps({"n": a.n, "stock_s": t_stock, "grader_s": t_ours,
                                                             "ratio": t_stock / t_ours, "scores_match": same}, indent=1))
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
