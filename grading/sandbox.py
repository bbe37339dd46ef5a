"""Run untrusted notebook code in a throw-away, unprivileged, resource-limited Jupyter kernel.

One :class:`Sandbox` = one kernel for one submission.  When the grader runs as root on Linux
(the course's CI and grading machines) every protection below is active; elsewhere the sandbox
degrades explicitly and :func:`capabilities` / :attr:`Sandbox.protections` say what is missing.

* **Own user.** The kernel runs as a uid/gid of its own (``61000+``, no login, no groups),
  allocated under a lock so two concurrent sandboxes — even from two grader processes — never
  share one; ``no_new_privs`` stops set-uid programs from giving privileges back.
* **Own filesystem view** (mount namespace): the course folder (instructor source, hidden tests,
  gradebook, every other submission, git history) and the world-writable directories are covered
  by empty tmpfs mounts; only the Python environment, the helper package and the released lesson
  are mounted back, read-only.  The student's directory is a size-limited tmpfs (mode 0700, owned
  by the sandbox user) that disappears with the run: nothing the kernel writes outlives it.
* **No network** (network namespace: not even loopback).  The grader talks to the kernel over
  Unix sockets in the sandbox directory.
* **Own PID namespace** with a reaper as PID 1: killing it kills every process the student
  started, daemonised or not, and signals the student ignores (SIGINT) do not matter: limits are
  enforced with SIGKILL.
* **Limits**: wall time per cell and per notebook (enforced by the grader), memory (cgroup, else
  RLIMIT_AS + an RSS watchdog), processes (cgroup pids + RLIMIT_NPROC), file size, CPU time, and
  output size counted as messages arrive (the kernel is killed as soon as a cell's output exceeds
  the limit; ZMQ's MAXMSGSIZE drops single oversized messages before they are allocated).
"""
from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().with_name("sandbox_launch.py")
UID_BASE, UID_COUNT = 61000, 2000

#: Runs first in every sandbox process tree, then ``exec``s the sandbox command: a parent-death signal
#: (``PR_SET_PDEATHSIG``, kept across ``exec``) means that if the grader dies — even by SIGKILL or the
#: OOM killer — the sandbox's top process is killed too (``unshare --kill-child`` then kills PID 1 of the
#: namespace, and with it every process the student started), instead of running on unsupervised.
#: The signal follows the *thread* that started the sandbox; grader threads outlive their sandboxes.
_DIE_WITH_GRADER = (
    "import ctypes, ctypes.util, os, sys\n"
    "libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)\n"
    "libc.prctl(1, 9, 0, 0, 0)\n"  # PR_SET_PDEATHSIG, SIGKILL
    "if os.getppid() != int(sys.argv[1]):\n    os._exit(1)\n"  # the grader died before prctl took effect
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
CGROUP_V1 = Path("/sys/fs/cgroup")


@dataclass
class Limits:
    cell_timeout: float = 180.0          # seconds of wall time for one cell
    notebook_timeout: float = 1200.0     # seconds of wall time for the whole notebook
    memory_bytes: int = 4 << 30          # per kernel (cgroup / watchdog)
    cell_output_bytes: int = 2 << 20     # outputs of one cell
    notebook_output_bytes: int = 16 << 20
    file_bytes: int = 256 << 20          # largest file the kernel may write (RLIMIT_FSIZE)
    work_bytes: int = 1 << 30            # size of the student's tmpfs directory
    nproc: int = 2048                    # processes+threads of the sandbox user
    start_timeout: float = 90.0


class SandboxError(RuntimeError):
    """The sandbox could not be set up (an infrastructure problem, not the student's)."""


# ----------------------------------------------------------------------------- capabilities

_CAPS: dict | None = None


def _try(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
    except Exception:
        return False


def sandbox_base() -> Path:
    env = os.environ.get("DLSBS_SANDBOX_BASE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/dlsbs-grader")
    return Path(tempfile.gettempdir()) / f"dlsbs-grader-{os.getuid()}"


def _cgroup_dir(controller: str) -> Path | None:
    """A writable cgroup (v1 controller hierarchy or v2 unified) parent for our sandboxes."""
    if os.geteuid() != 0:
        return None
    v2 = CGROUP_V1 / "cgroup.controllers"
    if v2.exists():
        if controller not in v2.read_text().split():
            return None
        root = CGROUP_V1 / "dlsbs-grader"
        try:
            root.mkdir(exist_ok=True)
            (CGROUP_V1 / "cgroup.subtree_control").write_text(f"+{controller}")
            return root
        except OSError:
            return None
    root = CGROUP_V1 / controller
    if not root.is_dir():
        return None
    try:
        parent = root / "dlsbs-grader"
        parent.mkdir(exist_ok=True)
        probe = parent / f"probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
        return parent
    except OSError:
        return None


def _kill_cgroup(cg: Path) -> None:
    """SIGKILL every process in cgroup ``cg``."""
    try:
        for pid in (cg / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    except OSError:
        pass


def _remove_cgroup(cg: Path) -> None:
    """Remove cgroup ``cg`` once its last process is gone (waits up to 5 s)."""
    for _ in range(50):
        try:
            cg.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(stale_after: float = 3600.0) -> int:
    """Clean up after grader runs that were killed: their sandbox directories (and tmpfs mounts) and
    cgroups, once the grader that owned them is gone.  Returns how many sandboxes were removed.

    A sandbox records its grader's pid in ``owner``; one without it (still starting, or from an older
    version) is only removed when it is older than ``stale_after`` seconds.  A live owner — another
    grader running now — keeps its sandboxes.
    """
    base = sandbox_base()
    if not base.is_dir():
        return 0
    caps = capabilities()
    removed = 0
    for d in sorted(base.glob("sb-*")):
        try:
            owner = int((d / "owner").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            owner = None
            try:
                if time.time() - d.stat().st_mtime < stale_after:
                    continue
            except OSError:
                continue
        if owner is not None and _alive(owner):
            continue
        for key in ("memory_cgroup", "pids_cgroup"):
            cg = Path(caps[key]) / d.name if caps.get(key) else None
            if cg is not None and cg.is_dir():
                _kill_cgroup(cg)
                _remove_cgroup(cg)
        if os.path.ismount(d):
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed


def capabilities() -> dict:
    """Which isolation primitives work on this machine (measured once per process)."""
    global _CAPS
    if _CAPS is not None:
        return _CAPS
    root = os.geteuid() == 0 and sys.platform.startswith("linux")
    unshare = shutil.which("unshare")
    caps = {"root": root, "unshare": bool(unshare), "namespaces": False, "mount": False,
            "memory_cgroup": None, "pids_cgroup": None}
    if root and unshare:
        caps["namespaces"] = _try([unshare, "--mount", "--net", "--pid", "--fork", "--kill-child",
                                   "--mount-proc", "--propagation", "private", "true"])
        if caps["namespaces"]:
            caps["mount"] = _try([unshare, "--mount", "--propagation", "private", "sh", "-c",
                                  "mount -t tmpfs tmpfs /mnt 2>/dev/null || mount -t tmpfs tmpfs /tmp"])
    mem, pids = _cgroup_dir("memory"), _cgroup_dir("pids")
    caps["memory_cgroup"] = str(mem) if mem else None
    caps["pids_cgroup"] = str(pids) if pids else None
    _CAPS = caps
    return caps


def protections(caps: dict | None = None) -> list[str]:
    """Human-readable list of what is enforced, for the run summary and the report."""
    c = caps or capabilities()
    on = ["time limits per cell and per notebook (SIGKILL of the whole sandbox)",
          "output-size limit while a cell runs", "resource limits (RLIMIT_FSIZE/NPROC/CPU/AS)",
          "graded notebook rebuilt from the instructor source (student tags/metadata/order ignored)",
          "kernel-integrity probes and canaries before every test cell",
          "module-shadowing files dropped and the working directory removed from sys.path"]
    if c["root"]:
        on.append("unprivileged per-sandbox uid/gid, no_new_privs")
    if c["namespaces"]:
        on += ["network namespace (no network, not even loopback)", "PID namespace (kills every student process)"]
    if c["mount"]:
        on += ["mount namespace: course folder, gradebook, other submissions and /tmp hidden",
               "student directory on a size-limited tmpfs that vanishes after the run"]
    on.append("memory cgroup" if c["memory_cgroup"] else "memory: RLIMIT_AS + RSS watchdog (no cgroup)")
    if c["pids_cgroup"]:
        on.append("pids cgroup")
    return on


def missing_protections(caps: dict | None = None) -> list[str]:
    c = caps or capabilities()
    out = []
    if not c["root"]:
        out.append("not root: kernel runs as the grader's own user (no uid separation)")
    if not c["namespaces"]:
        out.append("no namespaces: network and process isolation off")
    if not c["mount"]:
        out.append("no mount namespace: the kernel can read files the grader's user can read")
    return out


# ----------------------------------------------------------------------------- uid pool


class _UidLease:
    """An exclusive uid for one sandbox, locked with flock so concurrent graders never share one."""

    def __init__(self, base: Path):
        self.dir = base / "uids"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        start = secrets.randbelow(UID_COUNT)
        for k in range(UID_COUNT):
            uid = UID_BASE + (start + k) % UID_COUNT
            fd = os.open(self.dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self.fd = uid, fd
            return
        raise SandboxError("no free sandbox uid")

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ----------------------------------------------------------------------------- execution result


@dataclass
class ExecResult:
    status: str                      # "ok" | "error" | "timeout" | "output_limit" | "memory" | "died" | "notebook_timeout"
    outputs: list = field(default_factory=list)
    reply: dict | None = None
    seconds: float = 0.0
    output_bytes: int = 0

    @property
    def killed(self) -> bool:
        return self.status not in ("ok", "error")


def _kernel_env(home: str) -> dict:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": "student", "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8", "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".config", "matplotlib"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline", "JUPYTER_PLATFORM_DIRS": "1",
        "XDG_CACHE_HOME": os.path.join(home, ".cache"), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
    }


_MPL_CACHE: Path | None = None


def _mpl_font_cache(base: Path) -> Path | None:
    """Build matplotlib's font cache once, so each fresh sandbox HOME does not rebuild it."""
    global _MPL_CACHE
    if _MPL_CACHE is None:
        d = base / "mplcache"
        d.mkdir(parents=True, exist_ok=True)
        if not list(d.glob("fontlist-*.json")):
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], capture_output=True,
                           env={**os.environ, "MPLCONFIGDIR": str(d)}, timeout=120)
        _MPL_CACHE = d
    return _MPL_CACHE


class Sandbox:
    """``with Sandbox(files, limits) as sb: sb.execute("1+1")``

    ``files`` maps relative paths to bytes: the student's directory (already filtered).
    """

    def __init__(self, files: dict[str, bytes], limits: Limits | None = None, *, course_root: Path | None = None,
                 keep: list[Path] | None = None, hide: list[Path] | None = None):
        self.files = files
        self.limits = limits or Limits()
        self.caps = capabilities()
        self.course_root = Path(course_root or REPO).resolve()
        self.keep = [Path(p) for p in (keep or [])]
        self.hide = [Path(p) for p in (hide or [])]
        self.proc = None
        self.client = None
        self.lease = None
        self.dir = None
        self.cgroups: list[Path] = []
        self.mounted = False
        self.output_total = 0
        self.started = None
        self.log_file = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        from jupyter_client.connect import write_connection_file

        c = self.caps
        base = sandbox_base()
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o711)
        mpl = _mpl_font_cache(base)
        use_uid = c["root"]
        if use_uid:
            self.lease = _UidLease(base)
            uid = gid = self.lease.uid
        else:
            uid = gid = os.getuid()
        self.dir = Path(tempfile.mkdtemp(prefix="sb-", dir=base))
        os.chmod(self.dir, 0o711)
        if c["mount"]:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.limits.work_bytes},mode=0711,nosuid,nodev",
                                "tmpfs", str(self.dir)], capture_output=True)
            self.mounted = r.returncode == 0
        work, ipc, stage = self.dir / "work", self.dir / "ipc", self.dir / "stage"
        for d, mode in ((work, 0o700), (ipc, 0o700), (stage, 0o700)):
            d.mkdir(mode=mode)
        for rel, data in self.files.items():
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        for sub in (".ipython", ".config/matplotlib", ".cache"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        if mpl is not None:
            for f in mpl.glob("fontlist-*.json"):
                shutil.copy(f, work / ".config" / "matplotlib" / f.name)
        if use_uid:
            for p in [work, ipc, *work.rglob("*")]:
                os.lchown(p, uid, gid)
        conn = ipc / "kernel.json"
        write_connection_file(str(conn), transport="ipc", ip=str(ipc / "k"), key=secrets.token_hex(32).encode())
        if use_uid:
            os.chown(conn, uid, gid)
        # cgroups (memory, pids): created by the grader, joined by the launcher.
        for key, settings in (("memory_cgroup", self._memory_settings()), ("pids_cgroup", {"pids.max": self.limits.nproc})):
            parent = c.get(key)
            if not parent:
                continue
            cg = Path(parent) / self.dir.name
            try:
                cg.mkdir()
                self.cgroups.append(cg)
                for name, value in settings.items():
                    if (cg / name).exists():
                        (cg / name).write_text(str(value))
            except OSError:
                continue
        rl = {"RLIMIT_FSIZE": self.limits.file_bytes, "RLIMIT_CORE": 0,
              "RLIMIT_CPU": int(self.limits.notebook_timeout * 2 + 60)}
        if use_uid:
            rl["RLIMIT_NPROC"] = self.limits.nproc
        if not c["memory_cgroup"]:
            rl["RLIMIT_AS"] = max(self.limits.memory_bytes * 4, 16 << 30)
        hide = []
        if c["mount"]:
            for p in {self.course_root, REPO, *self.hide}:
                hide.append([str(p), "0755", "16m"])
            for p in ("/tmp", "/var/tmp", "/run/lock", "/dev/shm", "/root", "/home"):
                hide.append([p, "1777" if p in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") else "0755", "64m"])
        keep = [Path(sys.prefix), Path(sys.base_prefix).resolve(), REPO / "helpers", self.course_root / "lessons", *self.keep]
        cfg = {
            "mounts": c["mount"], "stage": str(stage), "hide": hide,
            "keep": [str(p) for p in keep if p.exists()],
            "cgroups": [str(cg / "cgroup.procs") for cg in self.cgroups],
            "cwd": str(work), "uid": uid if use_uid else None, "gid": gid if use_uid else None,
            "rlimits": rl, "env": _kernel_env(str(work)),
            "argv": [sys.executable, "-s", "-P", "-m", "ipykernel_launcher", "-f", str(conn),
                     "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"],
        }
        # The sandbox base stays visible: other sandboxes' directories there are 0700 and owned by
        # other uids, the uid locks are root-only.  (So the base must not lie under a hidden path.)
        launch = self.dir / "launch.json"
        launch.write_text(json.dumps(cfg))
        os.chmod(launch, 0o600)
        cmd = [sys.executable, "-I", str(LAUNCHER), str(launch)]
        if c["namespaces"]:
            cmd = [shutil.which("unshare"), "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                   "--propagation", "private", *cmd]
        cmd = [sys.executable, "-I", "-c", _DIE_WITH_GRADER, str(os.getpid()), *cmd]
        (self.dir / "owner").write_text(f"{os.getpid()}\n")  # for sweep() after a grader that was killed
        os.chmod(self.dir / "owner", 0o600)
        self.log_file = open(self.dir / "kernel.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file,
                                     start_new_session=True, close_fds=True)
        self.started = time.monotonic()
        self._connect(conn)

    def _memory_settings(self) -> dict:
        return {"memory.limit_in_bytes": self.limits.memory_bytes, "memory.max": self.limits.memory_bytes,
                "memory.memsw.limit_in_bytes": self.limits.memory_bytes, "memory.swap.max": 0, "memory.swappiness": 0}

    def _connect(self, conn: Path):
        import zmq
        from jupyter_client.blocking import BlockingKernelClient

        ctx = zmq.Context()
        # Bound what one message (and the receive queue) can make the grader allocate.
        ctx.setsockopt(zmq.MAXMSGSIZE, max(self.limits.cell_output_bytes * 2, 8 << 20))
        ctx.setsockopt(zmq.RCVHWM, 256)
        ctx.setsockopt(zmq.LINGER, 0)
        self.ctx = ctx
        kc = BlockingKernelClient(context=ctx)
        kc.load_connection_file(str(conn))
        kc.start_channels()
        self.client = kc
        # ZMQ drops the connection when a message exceeds MAXMSGSIZE: watch for that, it means a
        # single output burst was larger than the limit.
        try:
            self.iopub_monitor = kc.iopub_channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        except Exception:
            self.iopub_monitor = None
        deadline = time.monotonic() + self.limits.start_timeout
        sent = 0.0
        while True:
            if self.proc.poll() is not None:
                raise SandboxError(f"kernel exited during start-up (status {self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                raise SandboxError(f"kernel did not start within {self.limits.start_timeout:.0f} s: {self.log_tail()}")
            if not sent or time.monotonic() - sent > 5:
                kc.kernel_info()
                sent = time.monotonic()
            try:
                reply = kc.get_shell_msg(timeout=0.5)
            except queue.Empty:
                continue
            if reply.get("msg_type") == "kernel_info_reply":
                break
        while True:  # replies to repeated requests
            try:
                kc.get_shell_msg(timeout=0.05)
            except queue.Empty:
                break
        # drain start-up iopub chatter
        while True:
            try:
                kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break

    def log_tail(self, n: int = 1500) -> str:
        try:
            return (self.dir / "kernel.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        # processes that left our session (setsid) but are still in the cgroup
        for cg in self.cgroups:
            _kill_cgroup(cg)

    def memory_exceeded(self) -> bool:
        for cg in self.cgroups:
            oom = cg / "memory.oom_control"
            if oom.exists() and re.search(r"oom_kill [1-9]", oom.read_text()):
                return True
            peak = cg / "memory.max_usage_in_bytes"
            if peak.exists() and int(peak.read_text() or 0) >= self.limits.memory_bytes * 0.98:
                return True
            for name in ("memory.failcnt", "memory.events"):
                f = cg / name
                if f.exists():
                    text = f.read_text()
                    if name == "memory.failcnt" and text.strip() not in ("", "0"):
                        return True
                    if name == "memory.events":
                        for line in text.splitlines():
                            k, _, v = line.partition(" ")
                            if k in ("oom", "oom_kill", "max") and v.strip() != "0":
                                return True
        return getattr(self, "_watchdog_tripped", False)

    def _rss(self) -> int:
        try:
            import psutil

            p = psutil.Process(self.proc.pid)
            total = 0
            for q in [p, *p.children(recursive=True)]:
                try:
                    total += q.memory_info().rss
                except psutil.Error:
                    pass
            return total
        except Exception:
            return 0

    def close(self):
        if getattr(self, "iopub_monitor", None) is not None:
            try:
                self.client.iopub_channel.socket.disable_monitor()
                self.iopub_monitor.close(0)
            except Exception:
                pass
            self.iopub_monitor = None
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
            self.client = None
        self.kill()
        if getattr(self, "ctx", None) is not None:
            try:
                self.ctx.destroy(linger=0)
            except Exception:
                pass
            self.ctx = None
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        for cg in self.cgroups:
            _remove_cgroup(cg)
        self.cgroups = []
        if self.dir is not None:
            if self.mounted:
                subprocess.run(["umount", "-l", str(self.dir)], capture_output=True)
                self.mounted = False
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # -- execution ----------------------------------------------------------------------------

    def remaining(self) -> float:
        return self.limits.notebook_timeout - (time.monotonic() - self.started)

    def execute(self, code: str, *, silent: bool = False, store_history: bool = True, user_expressions=None,
                timeout: float | None = None) -> ExecResult:
        """Run ``code``; outputs are collected from the grader's side of the wire."""
        if not self.alive():
            return ExecResult("died")
        kc = self.client
        t0 = time.monotonic()
        cell_limit = self.limits.cell_timeout if timeout is None else timeout
        nb_left = self.remaining()
        budget = min(cell_limit, nb_left)
        deadline = t0 + max(budget, 0)
        msg_id = kc.execute(code, silent=silent, store_history=store_history, user_expressions=user_expressions or {},
                            allow_stdin=False, stop_on_error=False)
        outputs: list = []
        nbytes = 0
        idle = False
        reply = None
        last_rss = 0.0
        status = None
        while status is None and not (idle and reply is not None):
            now = time.monotonic()
            if now >= deadline:
                status = "timeout" if budget == cell_limit else "notebook_timeout"
                break
            if not self.alive():
                status = "memory" if self.memory_exceeded() else "died"
                break
            if self.iopub_monitor is not None and self.iopub_monitor.poll(0):
                self.iopub_monitor.recv_multipart()
                time.sleep(0.3)  # a kernel killed for memory also disconnects: tell the two apart
                status = "memory" if self.memory_exceeded() else "output_limit"
                break
            if not self.caps["memory_cgroup"] and now - last_rss > 0.25:
                last_rss = now
                if self._rss() > self.limits.memory_bytes:
                    self._watchdog_tripped = True
                    status = "memory"
                    break
            if idle and reply is None:
                try:
                    msg = kc.get_shell_msg(timeout=min(0.2, deadline - now))
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg["content"]
                continue
            try:
                msg = kc.get_iopub_msg(timeout=min(0.2, max(deadline - now, 0.01)))
            except queue.Empty:
                continue
            size = _msg_size(msg)
            nbytes += size
            self.output_total += size
            if nbytes > self.limits.cell_output_bytes or self.output_total > self.limits.notebook_output_bytes:
                status = "output_limit"
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            _apply_output(outputs, msg)
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        if status is None:
            status = "error" if (reply or {}).get("status") == "error" or any(
                o.get("output_type") == "error" for o in outputs) else "ok"
        else:
            if status in ("timeout", "notebook_timeout", "died") and self.memory_exceeded():
                status = "memory"  # thrashing at the memory limit until the clock ran out
            self.kill()
        return ExecResult(status, outputs, reply, time.monotonic() - t0, nbytes)


def _msg_size(msg) -> int:
    content = msg.get("content", {})
    n = 0
    for key in ("text", "data", "traceback", "evalue", "ename"):
        v = content.get(key)
        if v is None:
            continue
        if isinstance(v, str):
            n += len(v)
        elif isinstance(v, dict):
            n += sum(len(x) if isinstance(x, str) else len(json.dumps(x)) for x in v.values())
        elif isinstance(v, list):
            n += sum(len(x) for x in v if isinstance(x, str))
    for b in msg.get("buffers", []) or []:
        n += len(b)
    return n + 64


def _apply_output(outputs: list, msg):
    t, c = msg["msg_type"], msg["content"]
    if t == "stream":
        if outputs and outputs[-1].get("output_type") == "stream" and outputs[-1]["name"] == c["name"]:
            outputs[-1]["text"] += c["text"]
        else:
            outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
    elif t in ("display_data", "execute_result"):
        o = {"output_type": t, "data": c.get("data", {}), "metadata": c.get("metadata", {})}
        if t == "execute_result":
            o["execution_count"] = c.get("execution_count")
        outputs.append(o)
    elif t == "error":
        outputs.append({"output_type": "error", "ename": c.get("ename", ""), "evalue": c.get("evalue", ""),
                        "traceback": c.get("traceback", [])})
    elif t == "clear_output":
        outputs.clear()
