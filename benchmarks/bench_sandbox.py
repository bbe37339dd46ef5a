"""The sandbox's cost and its CPU isolation (:mod:`grading.sandbox`): no threshold, not a test.

Prints the start-up time of a sandbox (``Sandbox.start`` until the kernel answers) and how much a
CPU hog in one sandbox slows an honest cell in its neighbour, without a cpu cgroup ("before"),
with the default weight + 1-CPU quota, and with the weight only (paired, interleaved runs).
Needs Linux, root and bubblewrap, like the grader.

    .venv/bin/python benchmarks/bench_sandbox.py [runs]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import sandbox as sbx  # noqa: E402
from grading.sandbox import Limits, Sandbox  # noqa: E402


def run(sb: Sandbox, code: str) -> str:
    r = sb.execute(code)
    assert r.status == "ok", (r.status, r.outputs)
    return "".join(o.get("text", "") for o in r.outputs if o.get("output_type") == "stream")


HONEST = ("import time\nw, c = time.perf_counter(), time.process_time()\nsum(i * i for i in range(6_000_000))\n"
          "print(time.perf_counter() - w, time.process_time() - c)")
HOG = ("import os\nfor _ in range(4):\n    if os.fork() == 0:\n        while True:\n            pass\n"
       "while True:\n    pass")


class _BenchGroup:
    """A cgroup-v1 cpu group with the highest weight, holding every sandbox of the benchmark.

    This machine is shared: other people's processes would otherwise decide the result.  Inside
    this group the benchmark's sandboxes have the CPUs almost to themselves, as on a grading
    machine.  "Before" puts both sandboxes' processes directly in it (one flat pool of tasks, as
    the grader did without a cpu cgroup); "after" gives each sandbox its own child group.
    """

    def __init__(self):
        self.dir = None
        cpu = Path("/sys/fs/cgroup/cpu")
        if os.geteuid() == 0 and (cpu / "cpu.shares").exists():
            self.dir = cpu / f"dlsbs-bench-{os.getpid()}"
            self.dir.mkdir(exist_ok=True)
            (self.dir / "cpu.shares").write_text("262144")
            (self.dir / "grader").mkdir(exist_ok=True)  # stands in for the grader's own parent group

    def sandbox(self, limits, cpu_cgroup: bool) -> Sandbox:
        sb = Sandbox({}, limits, course_root=ROOT)
        if self.dir is not None and cpu_cgroup:
            sb.caps = {**sb.caps, "cpu_cgroup": str(self.dir / "grader")}
        elif not cpu_cgroup:
            sb.caps = {**sb.caps, "cpu_cgroup": None}
        return sb

    def join(self, sb: Sandbox):
        if self.dir is not None and not any(str(cg).startswith(str(self.dir)) for cg in sb.cgroups):
            for pid in (sb.cgroups[0] / "cgroup.procs").read_text().split():
                (self.dir / "cgroup.procs").write_text(pid)

    def close(self):
        if self.dir is not None:
            sbx._remove_cgroup(self.dir / "grader")
            sbx._remove_cgroup(self.dir)


def _cpu_seconds(sb: Sandbox) -> float:
    """CPU time used so far by the processes of a sandbox (from its cgroup's process list)."""
    total = 0
    for pid in set().union(*[set((cg / "cgroup.procs").read_text().split()) for cg in sb.cgroups]):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _honest(group: _BenchGroup, limits, hog: bool, cpu_cgroup: bool) -> tuple[float, float, float]:
    """(wall, CPU, CPU share) of a fixed CPU-bound cell, alone or beside a sandbox running a 5-process hog.

    The share is the honest cell's CPU time over that of both sandboxes while it ran: 0.5 is fair.
    """
    with group.sandbox(limits, cpu_cgroup) as honest:
        group.join(honest)
        if not hog:
            wall, cpu = map(float, run(honest, HONEST).split())
            return wall, cpu, 1.0
        with group.sandbox(limits, cpu_cgroup) as hogger:
            group.join(hogger)
            hogger.client.execute(HOG)  # runs until the sandbox is closed
            time.sleep(1.0)
            before = _cpu_seconds(hogger)
            wall, cpu = map(float, run(honest, HONEST).split())
            return wall, cpu, cpu / (cpu + _cpu_seconds(hogger) - before)


def benchmark(runs: int = 3):
    """Start-up time, and the slow-down a CPU hog causes its neighbour (paired, interleaved runs)."""
    import statistics

    lim = Limits(cell_timeout=120, notebook_timeout=300)
    starts = []
    for _ in range(runs):
        t0 = time.monotonic()
        with Sandbox({}, lim, course_root=ROOT) as sb:
            starts.append(time.monotonic() - t0)
            run(sb, "1")
    print(f"start-up (Sandbox.start until kernel_info answers): median {statistics.median(starts):.2f} s "
          f"over {runs}: {[round(s, 2) for s in starts]}")
    configs = {"no cpu cgroup (before)": (lim, False),
               "cpu cgroup: weight + 1-CPU quota (default)": (lim, True),
               "cpu cgroup: weight only (cpus=None)": (Limits(cell_timeout=120, notebook_timeout=300, cpus=None), True)}
    got = {k: [] for k in configs}
    group = _BenchGroup()
    try:
        for _ in range(runs):
            for label, (limits, cg) in configs.items():
                got[label].append((_honest(group, limits, False, cg), _honest(group, limits, True, cg)))
    finally:
        group.close()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; sandboxes "
          + ("in a top-weight cpu group (as on a grading machine)" if group.dir else "compete with all other load"))
    for label, pairs in got.items():
        ratios = [h[0] / a[0] for a, h in pairs]
        print(f"{label}: honest cell wall alone {statistics.median(a[0] for a, _ in pairs):.2f} s, beside the hog "
              f"{statistics.median(h[0] for _, h in pairs):.2f} s (CPU {statistics.median(h[1] for _, h in pairs):.2f} s);"
              f" slow-down median {statistics.median(ratios):.2f}x (runs: {[round(r, 2) for r in ratios]}); "
              f"honest share of the two sandboxes' CPU {statistics.median(h[2] for _, h in pairs):.2f} (fair: 0.50)")


if __name__ == "__main__":
    caps = sbx.capabilities()
    if not (caps["root"] and caps["namespaces"]):  # make bench runs every benchmark: say why, do not fail
        print("bench_sandbox skipped: needs Linux, root and bubblewrap: " + "; ".join(sbx.missing_protections(caps)))
        raise SystemExit(0)
    benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
