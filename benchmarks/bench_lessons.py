"""Headless run time of every solution notebook from a fresh kernel, against the 30 s budget.

Each lesson runs in its own fresh kernel (kernel start and framework imports included), one after
another in this one run, so the numbers are comparable with each other.
Run: ``.venv/bin/python benchmarks/bench_lessons.py [NN ...]`` (all lessons, or those whose names start
with the given prefixes, e.g. ``03``).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from grading import course  # noqa: E402
from nbrun import LiveNotebook  # noqa: E402

BUDGET = 30.0


def main(argv: list[str]) -> int:
    names = [n for n in course.lessons() if not argv or any(n.startswith(a) for a in argv)]
    if not names:
        print(f"no lesson matches {argv}; lessons: {', '.join(course.lessons())}")
        return 2
    print(f"{'lesson':<36}{'seconds':>9}{'of budget':>11}{'figures':>9}  errors")
    worst = 0.0
    for name in names:
        with LiveNotebook(course.source_ipynb(name)) as live:
            live.run()
            errs = live.errors()
            worst = max(worst, live.seconds / BUDGET)
            print(f"{name:<36}{live.seconds:>9.1f}{live.seconds / BUDGET:>10.0%}{live.images():>9}  {len(errs)}")
    print(f"\nslowest lesson uses {worst:.0%} of the {BUDGET:.0f} s budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
