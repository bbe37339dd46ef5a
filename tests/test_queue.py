"""Grading through the durable queue (``grade --queue URL`` + ``worker --broker URL``), with real processes.

A real RabbitMQ broker (Debian's ``rabbitmq-server``; its data, logs, Erlang cookie and port mapper in a
temp folder, on free loopback ports) and real worker processes grade the grader corpus's framework-free
lesson (``99_tiny``) in throw-away course roots.  One worker is SIGKILLed in the middle of a job: the job
is redelivered and graded once, and nothing of the dead worker's sandboxes is left.  The broker is
stopped and restarted with jobs still queued: every one is graded.  In both, the scores, statuses and
summary are a local ``grade -j 2``'s.  Once more with nbgrader's gradebook on a private PostgreSQL
(``--db-url``).
Everything the tests start, they stop.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent / "grader_corpus"))

import corpus  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("queue"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader sandbox needs Linux")]

RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LIMITS = ["--cell-timeout", "20", "--timeout", "60", "--memory", "1"]
#: honest submissions with different scores, and one the grader fails (bad input travels too)
STUDENTS = ["right", "wrong", "partial", "untouched", "extra_cells", "s6"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(name: str) -> dict:
    """Popen arguments that run a child as ``name`` when we are root (servers that refuse root)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(name)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _wait(what: str, ok, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} (exit {proc.poll() if proc else None}):\n{tail}")


class RabbitMQ:
    """A private RabbitMQ node: data, logs, cookie and its own Erlang port mapper in ``base``."""

    def __init__(self, base: Path):
        if not os.path.exists(RABBITMQ):
            pytest.fail("rabbitmq-server is not installed: run `make queue-deps` (as root, or "
                        "`sudo apt-get install rabbitmq-server`); CI installs it", pytrace=False)
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        (base / "plugins").write_text("[].\n")
        self.port, dist, epmd = free_port(), free_port(), free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(base), "LANG": "C.UTF-8",
                    "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
                    "RABBITMQ_NODENAME": f"dlsbs{self.port}@localhost", "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                    "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist), "ERL_EPMD_PORT": str(epmd),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"), "RABBITMQ_PID_FILE": str(base / "pid"),
                    "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"), "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
                    "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf")}
        if os.geteuid() == 0:
            shutil.chown(base, "rabbitmq", "rabbitmq")
            for p in base.rglob("*"):
                shutil.chown(p, "rabbitmq", "rabbitmq")
        # the node's own port mapper (not the machine's), stopped with the broker
        self.epmd = subprocess.Popen(["epmd", "-port", str(epmd)], env=self.env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_as_user("rabbitmq"))
        self.proc = None

    def up(self) -> bool:
        from kombu import Connection

        try:
            with Connection(self.url, connect_timeout=1) as c:
                c.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False

    def start(self):
        log = self.base / "server.log"
        self.proc = subprocess.Popen([RABBITMQ], env=self.env, cwd=self.base, start_new_session=True,
                                     stdout=open(log, "ab"), stderr=subprocess.STDOUT, **_as_user("rabbitmq"))
        _wait("RabbitMQ did not start", self.up, 180, self.proc, log)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # a clean stop: durable queues and persistent jobs are kept
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        self.epmd.kill()
        self.epmd.wait()


class Postgres:
    """A private PostgreSQL 15 (initdb + pg_ctl in ``base``, on a free loopback port)."""

    def __init__(self, base: Path):
        if not (PG_BIN / "initdb").exists():
            pytest.fail("PostgreSQL 15 is not installed: run `make queue-deps` (or `sudo apt-get install postgresql`)",
                        pytrace=False)
        self.base, self.port = base, free_port()
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        self.run("initdb", "-D", str(base / "data"), "-U", "grader", "--auth=trust", "-E", "UTF8")
        self.run("pg_ctl", "-D", str(base / "data"), "-l", str(base / "log"), "-w", "-o",
                 f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1", "start")
        self.url = f"postgresql+psycopg2://grader@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str):
        proc = subprocess.run([str(PG_BIN / tool), *args], capture_output=True, text=True, cwd=self.base, timeout=120,
                              **_as_user("postgres"))
        assert proc.returncode == 0, f"{tool}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"

    def close(self):
        self.run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")


class Worker:
    """``python -m grading worker --broker URL -j 1`` for the course at ``root``; its log in ``log``."""

    def __init__(self, url: str, root: Path, name: str, env: dict):
        self.log = root.parent / f"{root.name}-{name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "grading", "worker", "--broker", url, "-j", "1",
                                      "--hostname", f"{name}@localhost"], cwd=ROOT, env=env, start_new_session=True,
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        _wait(f"worker {name} did not start", lambda: "ready." in self.text(), 120, self.proc, self.log)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def received(self) -> list[str]:
        """The ids of the jobs this worker took, in order."""
        return re.findall(r"Task dlsbs\.grade\[([0-9a-f]+)\] received", self.text())

    def sandboxes(self) -> list[Path]:
        from grading.sandbox import sandbox_base

        return [d for d in sandbox_base().glob("sb-*")
                if (d / "owner").is_file() and (d / "owner").read_text().split()[:1] == [str(self.proc.pid)]]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def running(dirs: list[Path]) -> list[str]:
    """Processes started from those sandboxes (their command lines name the sandbox's files)."""
    lines = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return [ln for ln in lines if any(str(d) in ln for d in dirs)]


def make_course(root: Path) -> Path:
    corpus.write_course(root)
    (root / "grading" / "gradebook.db").unlink()  # a real gradebook: nbgrader creates it
    corpus.write_submissions(root, STUDENTS[:5])
    for extra in STUDENTS[5:]:  # more honest submissions (a longer queue to kill and restart into)
        shutil.copytree(root / "grading" / "submitted" / "right", root / "grading" / "submitted" / extra)
    return root


def course_env(root: Path, **extra) -> dict:
    return dict(os.environ, DLSBS_COURSE_ROOT=str(root), JUPYTER_CONFIG_PATH=str(ROOT / "grading"),
                PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", **extra)


def grade(root: Path, *args: str, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "grading", "grade", "99", "--no-progress", *LIMITS, *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env or course_env(root), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    return finish(proc) if wait else proc


def finish(proc: subprocess.Popen, expect: int = 0) -> str:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == expect, f"grade exited with {proc.returncode}:\n{out[-4000:]}"
    return out


def outcome(root: Path) -> dict:
    """{student: (status, score, tests' scores)}: what a grade decides (the rest is timing)."""
    d = root / "grading" / ".grader-cache" / "results" / corpus.LESSON
    out = {}
    for p in d.glob("*.json"):
        r = json.loads(p.read_text())
        out[r["student"]] = (r["status"], r["score"], [(t["grade_id"], t["score"], t["status"]) for t in r["tests"]])
    return out


def csv_rows(root: Path) -> list[tuple]:
    text = (root / "grading" / "reports" / "grades.csv").read_text().splitlines()
    return sorted(tuple(line.split(",")[:4]) for line in text[1:])


def summary_lines(out: str) -> list[str]:
    """The run's summary (what a local run prints too), without the machine-specific protections."""
    keep = [ln for ln in out.splitlines() if re.match(r"\s+(graded|FLAGGED|FAILED|ERROR) ", ln)
            or ln.startswith((f"[99_tiny] {len(STUDENTS)} submission(s):", "result:"))]
    return sorted(keep)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    rmq = RabbitMQ(Path(tempfile.mkdtemp(prefix="dlsbs-rmq-")))
    try:
        rmq.start()
        yield rmq
    finally:
        rmq.close()
        shutil.rmtree(rmq.base, ignore_errors=True)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The same class graded locally (``grade -j 2``): what the queue must reproduce."""
    root = make_course(tmp_path_factory.mktemp("local") / "course")
    out = grade(root, "-j", "2")
    return {"root": root, "outcome": outcome(root), "summary": summary_lines(out), "csv": csv_rows(root),
            "gradebook": gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}")}


@pytest.fixture
def workers(tmp_path, broker):
    started: list[Worker] = []

    def start(root: Path, n: int = 2, env: dict | None = None) -> list[Worker]:
        for i in range(n):
            started.append(Worker(broker.url, root, f"w{len(started)}", env or course_env(root)))
        return started[-n:]

    yield start
    for w in started:
        w.stop()


def gradebook(url: str) -> dict:
    """{student: (score, max score, needs manual grade)} in nbgrader's gradebook at ``url``."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return {s.student.id: (s.score, s.max_score, s.needs_manual_grade)
                for s in gb.assignment_submissions(corpus.LESSON)}


def assert_same_as_local(root: Path, out: str, local: dict):
    assert outcome(root) == local["outcome"]
    assert summary_lines(out) == local["summary"]
    assert csv_rows(root) == local["csv"]
    # graded once each: the summary counts every stored result of this run
    assert f"({len(STUDENTS)} graded in this run, 0 unchanged)" in out, out[-3000:]
    for sid in STUDENTS:
        assert (root / "grading" / "feedback" / sid / corpus.LESSON / f"{corpus.LESSON}.html").exists()


def test_a_killed_worker_s_job_is_redelivered_and_graded_once(tmp_path, broker, workers, local):
    root = make_course(tmp_path / "course")
    victim, other = workers(root)
    ref_file = root / "grading" / ".grader-cache" / "reference" / f"{corpus.LESSON}.json"
    proc = grade(root, "--queue", broker.url, wait=False)
    try:
        # the reference run is in; then wait until the victim runs a submission's kernel
        _wait("no reference run", ref_file.exists, 300, proc)
        _wait("the victim never ran a job", lambda: victim.sandboxes() and running(victim.sandboxes()), 300, proc)
        dirs, job = victim.sandboxes(), victim.received()[-1]
        victim.proc.send_signal(signal.SIGKILL)  # none of its clean-up runs
        victim.proc.wait()
        killed_at = time.monotonic()
        _wait("the killed worker's job was not redelivered", lambda: job in other.received(), 300, proc)
        print(f"redelivered {time.monotonic() - killed_at:.1f} s after the SIGKILL")
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_same_as_local(root, out, local)
    assert not running(dirs), f"the dead worker's sandbox processes run on: {running(dirs)}"
    assert not any(d.exists() for d in dirs), "the dead worker's sandbox folders are left (the next job sweeps them)"


def test_jobs_queued_across_a_broker_restart_are_all_graded(tmp_path, broker, workers, local):
    root = make_course(tmp_path / "course")
    first, second = workers(root)
    proc = grade(root, "--queue", broker.url, wait=False)
    try:
        _wait("no job started", lambda: any(w.sandboxes() for w in (first, second)) and
              (root / "grading" / ".grader-cache" / "reference").is_dir(), 300, proc)
        broker.stop()
        time.sleep(2)
        broker.start()
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not broker.up():
            broker.start()
    assert_same_as_local(root, out, local)


def test_a_failed_reference_run_stops_the_queue_and_the_workers_drop_its_jobs(tmp_path, broker, workers):
    """The reference run goes to the workers beside the submissions' jobs; when it fails, nothing is
    graded (a local run's rule) and the jobs still queued are dropped unrun, not graded for nobody."""
    root = make_course(tmp_path / "course")
    corpus.break_solution(root)
    (worker,) = workers(root, n=1)
    out = finish(grade(root, "--queue", broker.url, wait=False), expect=1)
    assert "STOPPED" in out and "total_tests" in out and "How to fix" in out, out[-3000:]
    cache = root / "grading" / ".grader-cache"
    assert not list(cache.glob("results/*/*.json")), "nobody is graded when the reference fails"
    assert not list(cache.glob("reference/*.json")), "a failed reference run is never cached"
    # one worker takes one job at a time: the reference first, then at most one submission's job before
    # the grading process has stopped; every later one is dropped without a sandbox
    _wait("the worker did not take every job", lambda: len(worker.received()) == len(STUDENTS) + 1, 120)
    _wait("the worker did not finish", lambda: worker.text().count(" succeeded in ") == len(STUDENTS) + 1, 120)
    dropped = re.findall(r"job [0-9a-f]+ dropped: the grading run that sent it has stopped", worker.text())
    assert len(dropped) >= len(STUDENTS) - 1, worker.text()[-3000:]


def test_the_gradebook_on_postgresql(tmp_path, broker, workers, local):
    """``--db-url``: nbgrader's gradebook on a PostgreSQL server (what several machines can share); the
    entries are a local run's on SQLite, and no SQLite gradebook is written."""
    pg = Postgres(Path(tempfile.mkdtemp(prefix="dlsbs-pg-")))
    try:
        root = make_course(tmp_path / "course")
        workers(root, n=1)
        out = grade(root, "--queue", broker.url, "--db-url", pg.url)
        assert_same_as_local(root, out, local)
        assert gradebook(pg.url) == local["gradebook"] and len(local["gradebook"]) == len(STUDENTS)
        assert not (root / "grading" / "gradebook.db").exists()
        out = grade(root, "--queue", broker.url, "--db-url", pg.url, "--force")  # a regrade updates, never adds
        assert gradebook(pg.url) == local["gradebook"]
    finally:
        pg.close()
        shutil.rmtree(pg.base, ignore_errors=True)
