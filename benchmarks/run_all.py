"""Run every benchmark in benchmarks/ (each prints ratios measured within its own single run)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for bench in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {bench.name}", flush=True)
        status |= subprocess.call([sys.executable, str(bench)])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
