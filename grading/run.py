"""Running a plan in a sandbox: one pass per kernel, restarts after a killed cell, probes between cells."""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from . import judge
from .lesson import Lesson
from .paths import Course
from .plan import Step
from .sandbox import Limits, Sandbox, SandboxError
from .sandbox_probe import SETUP_CODE, diff, parse_result, probe_code

MAX_RESTARTS = 2


@dataclass
class StepRecord:
    key: tuple
    kind: str
    status: str
    outputs: list
    seconds: float
    changes: list = field(default_factory=list)
    records: list = field(default_factory=list)   # check records sent during this step (test cells)
    ename: str | None = None                      # the error's type, if the cell raised


class Run:
    """One pass of a plan through one sandbox (a kill ends the pass)."""

    def __init__(self, lesson: Lesson, steps: list[Step], files: dict, limits: Limits, skip: dict,
                 time_left: float, cancel: threading.Event | None = None):
        self.lesson, self.steps, self.files, self.skip = lesson, steps, files, skip
        self.cancel = cancel
        self.limits = Limits(**{**limits.__dict__, "notebook_timeout": max(time_left, 1.0)})
        self.records: list[StepRecord] = []
        self.killed: tuple | None = None          # (step key, status)
        self.canary_failures: list[str] = []
        self.probe_failures: list[str] = []
        self.elapsed = 0.0

    def _probe(self, sb: Sandbox):
        nonce = secrets.token_hex(8)
        code, ue = probe_code(nonce)
        r = sb.execute(code, silent=True, store_history=False, user_expressions=ue, timeout=60)
        if r.killed:
            return None, r.status
        return parse_result(r.reply, nonce), r.status

    def _canary(self, sb: Sandbox) -> str | None:
        a, b = secrets.randbelow(10**6), secrets.randbelow(10**6)
        nonce = secrets.token_hex(6)
        code = f"print({a} + {b})\nraise AssertionError({nonce!r})\n"
        r = sb.execute(code, silent=False, store_history=False, timeout=30)
        if r.killed:
            return None
        text = "".join(o.get("text", "") for o in r.outputs if o.get("output_type") == "stream" and o["name"] == "stdout")
        errs = [o for o in r.outputs if o.get("output_type") == "error"]
        ok = (str(a + b) in text and r.status == "error" and (r.reply or {}).get("status") == "error"
              and any(e.get("ename") == "AssertionError" and nonce in e.get("evalue", "") for e in errs))
        return None if ok else "a canary cell that must fail (and print) did not: execution machinery tampered with"

    def execute(self):
        t0 = time.monotonic()
        with Sandbox(self.files, self.limits, course_root=Course.current().root, lesson=self.lesson.name) as sb:
            workdir = str(sb.dir / "work")
            sb.execute(SETUP_CODE, silent=True, store_history=False, timeout=30)
            prev, st = self._probe(sb)
            if prev is None:
                raise SandboxError(f"integrity probe failed before any student code ran ({st}): {sb.log_tail()}")
            for step in self.steps:
                if step.key in self.skip:
                    code = f"raise RuntimeError({('skipped by the grader: ' + self.skip[step.key])!r})"
                else:
                    code = step.code
                if step.kind == "test":
                    reason = self._canary(sb)
                    if reason and reason not in self.canary_failures:
                        self.canary_failures.append(reason)
                if not sb.alive():
                    self.killed = (step.key, "died")
                    break
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled()
                r = sb.execute(code, silent=False, store_history=step.kind != "test")
                checks, outputs = judge.split_records(r.outputs)
                err = next((o for o in outputs if o.get("output_type") == "error"), None)
                rec = StepRecord(step.key, step.kind, r.status, outputs, r.seconds,
                                 records=checks if step.kind == "test" else [],
                                 ename=str(err.get("ename", ""))[:100] if err else None)
                self.records.append(rec)
                if r.killed:
                    self.killed = (step.key, r.status)
                    break
                snap, st = self._probe(sb)
                if snap is None:
                    if st in ("ok", "error"):
                        self.probe_failures.append(f"integrity probe failed after cell {step.key[0]} "
                                                   f"({step.kind}): probe result missing or forged")
                        break
                    self.killed = (step.key, st)
                    break
                rec.changes = sorted(diff(prev, snap, workdir))
                if step.kind == "student":  # only names a test reads before assigning them matter
                    rec.changes = [c for c in rec.changes
                                   if not (c.startswith("global:") and c[8:] not in self.lesson.test_loads)]
                else:  # a lesson or test cell rebinding its own names (a student may have used them too)
                    rec.changes = [c for c in rec.changes
                                   if not (c.startswith("global:") and c[8:] in step.cell.stores)]
                prev = snap
        self.elapsed = time.monotonic() - t0
        return self


class Cancelled(Exception):
    """The grading of the lesson was stopped (the reference run failed)."""


def execute_plan(lesson: Lesson, steps: list[Step], files: dict, limits: Limits,
                 cancel: threading.Event | None = None) -> dict:
    """Run with restarts: a killed cell is replaced by a failing stub and the notebook re-run."""
    skip: dict = {}
    kills: list = []
    t_end = time.monotonic() + limits.notebook_timeout
    canary, probe_fail = [], []
    while True:
        run = Run(lesson, steps, files, limits, skip, t_end - time.monotonic(), cancel).execute()
        canary += [c for c in run.canary_failures if c not in canary]
        probe_fail += [p for p in run.probe_failures if p not in probe_fail]
        if run.killed is None or run.probe_failures:
            break
        key, status = run.killed
        kills.append((key, status))
        if status == "notebook_timeout" or len(kills) > MAX_RESTARTS or time.monotonic() >= t_end - 1:
            break
        skip[key] = _KILL_TEXT.get(status, status)
    return {"records": run.records, "kills": kills, "canary": canary, "probe_failures": probe_fail,
            "complete": run.killed is None and not run.probe_failures}


_KILL_TEXT = {"timeout": "it exceeded the per-cell time limit", "memory": "it exceeded the memory limit",
              "output_limit": "it produced more output than allowed", "died": "the kernel died while it ran",
              "notebook_timeout": "the notebook exceeded its total time limit"}


