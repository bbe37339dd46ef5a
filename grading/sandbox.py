"""Run untrusted notebook code in a throw-away, unprivileged, resource-limited Jupyter kernel.

One :class:`Sandbox` = one kernel for one submission.  When the grader runs as root on Linux with
`bubblewrap <https://github.com/containers/bubblewrap>`_ installed (Debian package ``bubblewrap``;
the course's CI and grading machines) every protection below is active.  As root without a working
``bwrap`` a sandbox refuses to start (:class:`SandboxError`; ``DLSBS_UNSANDBOXED=1`` overrides, for
trusted notebooks only).  Not as root (a laptop) it degrades explicitly: :func:`capabilities` and
:func:`missing_protections` say what is missing.

* **Own user.** The kernel runs as a uid/gid of its own (``61000+``, no login, no groups),
  allocated under a lock so two concurrent sandboxes — even from two grader processes — never
  share one; ``no_new_privs`` stops set-uid programs from giving privileges back.
* **An allow-list, not a block-list** (``bwrap``, run as that unprivileged user).  The kernel's
  filesystem is an empty read-only root into which only these are mounted: the system's ``/usr``
  (and its ``/bin``, ``/lib`` links), the Python environment and the ``helpers`` package
  (read-only), the lesson's published files (read-only), a few synthetic ``/etc`` files, the
  student's own directory (a size-limited tmpfs owned by the sandbox user, gone after the run),
  the kernel's socket directory, and a private ``/tmp`` and ``/dev/shm``.  Nothing else of the
  host exists inside: not the course folder, its solutions, hidden tests, gradebook or other
  submissions, not another copy of the course elsewhere, not ``/root``, ``/home``, ``/etc/shadow``,
  ``/sys``, nor other sandboxes' directories and logs.
* **Own namespaces**: user (no nested user namespaces), mount, PID (``bwrap``'s reaper is PID 1:
  when it dies every process the student started dies), IPC (SysV shared memory, semaphores and
  message queues die with the sandbox and are invisible to others), network (only a loopback of
  its own: no host service, not even on 127.0.0.1), UTS and cgroup.  The grader talks to the
  kernel over Unix sockets in the sandbox's socket directory.
* **Dies with the grader**: a parent-death signal set by the launcher and ``bwrap
  --die-with-parent``; :func:`sweep` removes what a killed grader left behind.
* **Pre-imported kernels** (:class:`Zygote`, :mod:`grading.zygote`): ``bwrap`` builds every sandbox
  as above around a placeholder; a root process that imported the frameworks once (PyTorch,
  torchvision, TensorFlow, Keras, fastai, ipykernel: ≈15 s of CPU a cold kernel pays) forks a child
  that joins the sandbox's cgroups and namespaces, becomes its uid with no capabilities and
  ``no_new_privs``, and forks the kernel into its PID namespace.  The kernel then sees and may do
  exactly what a cold-started one may.  (The pages it shares with the zygote — the frameworks' code
  and data, copied on write — stay charged to the zygote: the memory limit counts what the kernel
  allocates after the fork.)  Without root and namespaces, with ``DLSBS_ZYGOTE=0``, or after a zygote
  failed twice, kernels start cold.
* **Limits**: wall time per cell and per notebook (enforced by the grader), memory (cgroup, else
  RLIMIT_AS + an RSS watchdog), processes (cgroup pids + RLIMIT_NPROC), **its own CPU share**
  (cpu cgroup: every sandbox weighs like one busy process, whatever it starts, and a quota caps it
  at ``Limits.cpus`` CPUs, so a student's CPU hog cannot slow the student graded beside it), file size, CPU time, and output size counted
  as messages arrive (the kernel is killed as soon as a cell's output exceeds the limit; ZMQ's
  MAXMSGSIZE drops single oversized messages before they are allocated).
"""
from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import queue
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers._importorder import QUIET_ENV

from .defaults import DEFAULT_CELL_TIMEOUT, DEFAULT_MEMORY_GIB, DEFAULT_NOTEBOOK_TIMEOUT
from .paths import REPO

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).resolve().with_name("sandbox_launch.py")
ZYGOTE = LAUNCHER.with_name("zygote.py")
#: what runs where the kernel would while a pre-imported kernel is forked in (see :class:`Zygote`)
PLACEHOLDER = ["/usr/bin/sleep", "infinity"]
UID_BASE, UID_COUNT = 61000, 2000
CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000

#: The namespace and filesystem options every sandbox gets from ``bwrap`` (besides its mounts).
BWRAP_FLAGS = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--hostname", "sandbox"]


@dataclass
class Limits:
    cell_timeout: float = DEFAULT_CELL_TIMEOUT          # seconds of wall time for one cell
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT  # seconds of wall time for the whole notebook
    memory_bytes: int = int(DEFAULT_MEMORY_GIB * (1 << 30))  # per kernel (cgroup / watchdog)
    cell_output_bytes: int = 2 << 20     # outputs of one cell
    notebook_output_bytes: int = 16 << 20
    file_bytes: int = 256 << 20          # largest file the kernel may write (RLIMIT_FSIZE)
    work_bytes: int = 1 << 30            # size of the student's tmpfs directory
    tmp_bytes: int = 256 << 20           # size of the private /tmp and of /dev/shm (each)
    nproc: int = 2048                    # processes+threads of the sandbox user
    cpus: float | None = 1.0             # CPU quota (cpu.max / cfs_quota) in CPUs; None: no quota
    cpu_weight: int = 100                # cgroup v2 cpu.weight (v1 cpu.shares = weight * 1024 / 100)
    start_timeout: float = 90.0


class SandboxError(RuntimeError):
    """The sandbox could not be set up (an infrastructure problem, not the student's)."""


# ----------------------------------------------------------------------------- capabilities

_CAPS: dict | None = None


def sandbox_base() -> Path:
    env = os.environ.get("DLSBS_SANDBOX_BASE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/dlsbs-grader")
    return Path(tempfile.gettempdir()) / f"dlsbs-grader-{os.getuid()}"


def _cgroup_v2() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _cgroup_dir(controller: str) -> Path | None:
    """A writable cgroup parent (``dlsbs-grader``) for our sandboxes, for one controller (v1 or v2)."""
    if os.geteuid() != 0:
        return None
    try:
        if _cgroup_v2():
            if controller not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
                return None
            parent = CGROUP_ROOT / "dlsbs-grader"
            (CGROUP_ROOT / "cgroup.subtree_control").write_text(f"+{controller}")
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")  # the sandboxes' own files
            return parent
        root = CGROUP_ROOT / controller
        if not root.is_dir():
            return None
        parent = root / "dlsbs-grader"
        parent.mkdir(exist_ok=True)
        probe = parent / f"probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
        return parent
    except OSError:
        return None


def weigh_cpu_parent(caps: dict) -> None:
    """Give the sandboxes' parent cpu group (``caps["cpu_cgroup"]``) the weight of one busy process per sandbox in it.

    Each sandbox then gets what one process of its own would get on this machine, as before
    sandboxes had a cpu group, however many threads or processes a student starts (those share
    their sandbox's weight, and its quota caps them); a fixed parent weight would instead make
    all sandboxes share one process's worth on a busy machine.  Recomputed from the sandboxes
    present whenever one starts or ends (several graders may run at once).
    """
    if not caps.get("cpu_cgroup"):
        return
    parent = Path(caps["cpu_cgroup"])
    n = max(1, sum(1 for d in parent.glob("sb-*") if d.is_dir()))
    for name, value in (("cpu.weight", min(10000, 100 * n)), ("cpu.shares", min(262144, 1024 * n))):
        try:
            if (parent / name).exists():
                (parent / name).write_text(str(value))
        except OSError:
            pass


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
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def _remove_dir(d: Path) -> None:
    """Remove a sandbox directory, unmounting its tmpfs first."""
    if os.path.ismount(d):
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


CGROUP_KEYS = ("memory_cgroup", "pids_cgroup", "cpu_cgroup")


def _cgroup_parents(caps: dict) -> list[Path]:
    """The distinct cgroup parents (one in cgroup v2, one per controller in v1)."""
    return list(dict.fromkeys(Path(caps[k]) for k in CGROUP_KEYS if caps.get(k)))


def _owner(d: Path) -> int | None:
    """The pid of the grader that wrote ``d/owner`` (a sandbox's or a zygote's folder), if readable."""
    try:
        return int((d / "owner").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


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
        owner = _owner(d)
        if owner is None:
            try:
                if time.time() - d.stat().st_mtime < stale_after:
                    continue
            except OSError:
                continue
        if owner is not None and _alive(owner):
            continue
        for parent in _cgroup_parents(caps):
            cg = parent / d.name
            if cg.is_dir():
                _kill_cgroup(cg)
                _remove_cgroup(cg)
        _remove_dir(d)
        removed += 1
    for d in base.glob("zygote-*"):  # a killed grader's zygote exited with it (its control socket closed); its folder stays
        owner = _owner(d)
        if owner is not None and not _alive(owner):
            shutil.rmtree(d, ignore_errors=True)
    if removed:
        weigh_cpu_parent(caps)
    return removed


def _system_mounts() -> list[str]:
    """``bwrap`` arguments for the operating system's programs and libraries (read-only)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def _bwrap_base(bwrap: str) -> list[str]:
    """The start of every ``bwrap`` command (namespaces, the system's files, ``/proc``, ``/dev``):
    :func:`capabilities` probes exactly what a sandbox then starts with."""
    return [bwrap, *BWRAP_FLAGS, *_system_mounts(), "--proc", "/proc", "--dev", "/dev"]


def capabilities() -> dict:
    """Which isolation primitives work on this machine (measured once per process)."""
    global _CAPS
    if _CAPS is not None:
        return _CAPS
    root = os.geteuid() == 0 and sys.platform.startswith("linux")
    bwrap = shutil.which("bwrap") if sys.platform.startswith("linux") else None
    caps = {"root": root, "bwrap": bwrap, "namespaces": False, "mount": False,
            "memory_cgroup": None, "pids_cgroup": None, "cpu_cgroup": None, "bwrap_error": ""}
    if bwrap:
        # Exactly how a sandbox starts bwrap: as an unprivileged user when the grader is root.
        who = {"user": 65534, "group": 65534, "extra_groups": []} if root else {}
        try:
            r = subprocess.run([*_bwrap_base(bwrap), "--remount-ro", "/", "--", "true"], capture_output=True,
                               timeout=20, **who)
            caps["namespaces"] = r.returncode == 0
            caps["bwrap_error"] = r.stderr.decode(errors="replace").strip()[-300:]
        except (OSError, subprocess.SubprocessError) as exc:
            caps["bwrap_error"] = str(exc)
    caps["mount"] = root and bool(shutil.which("mount"))
    for key in CGROUP_KEYS:
        d = _cgroup_dir(key.split("_")[0])
        caps[key] = str(d) if d else None
    _CAPS = caps
    return caps


def protections(caps: dict | None = None) -> list[str]:
    """Human-readable list of what is enforced, for the run summary and the report."""
    c = caps or capabilities()
    on = ["time limits per cell and per notebook (SIGKILL of the whole sandbox)",
          "output-size limit while a cell runs", "resource limits (RLIMIT_FSIZE/NPROC/CPU/AS)",
          "graded notebook rebuilt from the instructor source (student tags/metadata/order ignored)",
          "kernel-integrity probes and canaries before every test cell",
          "module-shadowing files dropped and the working directory removed from sys.path",
          "sandbox dies with the grader (parent-death signal); leftovers swept by the next run"]
    if c["root"]:
        on.append("unprivileged per-sandbox uid/gid, no_new_privs")
    if c["namespaces"]:
        on += ["bubblewrap allow-list: only the Python environment and helpers (read-only), the lesson's "
               "published files, the student's own files and a private /tmp are visible",
               "private user, mount, PID, IPC, network (no network, not even the host's 127.0.0.1), UTS and "
               "cgroup namespaces; no nested user namespaces"]
    if c["mount"]:
        on.append("student directory on a size-limited tmpfs that vanishes after the run")
    on.append("memory cgroup" if c["memory_cgroup"] else "memory: RLIMIT_AS + RSS watchdog (no cgroup)")
    if c["pids_cgroup"]:
        on.append("pids cgroup")
    if c["cpu_cgroup"]:
        on.append("cpu cgroup: an equal CPU weight and a CPU quota per sandbox")
    return on


def missing_protections(caps: dict | None = None) -> list[str]:
    c = caps or capabilities()
    out = []
    if not c["root"]:
        out.append("not root: kernel runs as the grader's own user (no uid separation, no cgroups)")
    if not c["bwrap"]:
        out.append("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap): no namespaces, "
                   "the kernel can read every file the grader's user can read and use the network")
    elif not c["namespaces"]:
        out.append(f"bubblewrap cannot create namespaces here ({c.get('bwrap_error') or 'unknown error'}): "
                   "no filesystem, network, IPC or process isolation")
    if c["root"] and not c["cpu_cgroup"]:
        out.append("no cpu cgroup: one sandbox's CPU hog can slow the others")
    return out


_HELPERS: list = []


def helpers_dir() -> Path | None:
    """The ``helpers`` package directory the kernel imports (an editable install maps it into the repo).

    Asked of a fresh, isolated interpreter (as the kernel starts: no current folder on ``sys.path``),
    so a ``helpers/`` folder next to wherever the grader was started cannot change the answer.
    """
    if not _HELPERS:
        code = ("import importlib.util as u, json; s = u.find_spec('helpers'); "
                "print(json.dumps(list(s.submodule_search_locations or []) if s else []))")
        try:
            locs = json.loads(subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                                             cwd="/", timeout=60).stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            locs = []
        found = None
        for loc in locs:
            p = Path(loc).resolve()
            if p.name == "helpers" and (p / "__init__.py").is_file():
                found = p
                break
        _HELPERS.append(found)
    return _HELPERS[0]


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
        **QUIET_ENV, "PYDEVD_DISABLE_FILE_VALIDATION": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "TMPDIR": "/tmp",
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


class ZygoteError(RuntimeError):
    """The pre-imported interpreter could not give a kernel (the sandbox then starts its kernel cold)."""


class Zygote:
    """The grader's handle on :mod:`grading.zygote`: one pre-imported interpreter per grader process.

    ``Zygote.shared()`` starts it on first use (as root with working namespaces, unless
    ``DLSBS_ZYGOTE=0``) and returns ``None`` where it cannot help; :meth:`spawn` forks one kernel into
    a started sandbox.  One that fails is replaced once; after a second failure (or if it cannot start)
    it is switched off for the rest of the process and every sandbox starts its kernel cold (the reason
    is in :attr:`Zygote.off`).  Requests from the grader's threads are serialised (a fork takes
    milliseconds).  It exits when this process closes its end of the control socket, or ends.
    """

    _shared: "Zygote | None" = None
    _lock = threading.Lock()
    off: str | None = None          # why pre-imported kernels are not used, once known
    ready_timeout = 600.0

    @classmethod
    def shared(cls) -> "Zygote | None":
        with cls._lock:
            if cls.off is None and cls._shared is None:
                caps = capabilities()
                if os.environ.get("DLSBS_ZYGOTE", "1") == "0":
                    cls.off = "switched off (DLSBS_ZYGOTE=0)"
                elif not (caps["root"] and caps["namespaces"]):
                    cls.off = "needs root and working bubblewrap namespaces"
                else:
                    try:
                        cls._shared = cls()
                    except ZygoteError as exc:
                        cls.off = str(exc)
            return cls._shared if cls.off is None else None

    failures = 0
    max_failures = 2                # a zygote that failed is replaced once; a second failure switches it off

    @classmethod
    def disable(cls, reason: str) -> None:
        """After a failure: drop this zygote; the next sandbox starts a new one, or none after a second failure.

        (A replaced zygote keeps every kernel of a run alike: the kernel probes' reference run was
        pre-imported too.)
        """
        with cls._lock:
            cls.failures += 1
            if cls.failures >= cls.max_failures:
                cls.off = reason
            z, cls._shared = cls._shared, None
        if z is not None:
            z.close()

    @classmethod
    def status(cls) -> str:
        """How this process's kernels start (for the run's summary)."""
        z = cls._shared
        if z is not None and cls.off is None:
            return f"kernels: forked pre-imported (the frameworks' imports took {z.seconds:.1f} s once)"
        return f"kernels: started cold ({cls.off or 'no sandbox needed one'})"

    def __init__(self):
        import socket

        base = sandbox_base()
        base.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix="zygote-", dir=base))  # root's only: keras writes ~/.keras at import
        self.home = home
        (home / "owner").write_text(f"{os.getpid()}\n")  # for sweep() after a grader that was killed
        self.sock, theirs = socket.socketpair()
        env = {**_kernel_env(str(home)), "MPLCONFIGDIR": str(_mpl_font_cache(base))}
        self.log = open(home / "zygote.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-I", str(ZYGOTE), str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                     env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        theirs.close()
        self.rfile = self.sock.makefile("rb")
        self.seconds = None
        try:
            reply = self._read(self.ready_timeout)
        except ZygoteError as exc:
            self.close()
            raise ZygoteError(f"the pre-imported interpreter did not start: {exc}") from None
        if not reply.get("ready"):
            self.close()
            raise ZygoteError(reply.get("error") or "the pre-imported interpreter did not start")
        self.seconds = reply.get("seconds")
        atexit.register(self.close)

    def _read(self, timeout: float) -> dict:
        self.sock.settimeout(timeout)
        try:
            line = self.rfile.readline()
        except OSError as exc:
            raise ZygoteError(f"no answer from the pre-imported interpreter ({exc}): {self.log_tail()}") from None
        if not line:
            raise ZygoteError(f"the pre-imported interpreter exited (status {self.proc.poll()}): {self.log_tail()}")
        try:
            return json.loads(line)
        except ValueError:
            raise ZygoteError(f"unreadable answer from the pre-imported interpreter: {line[:200]!r}") from None

    def log_tail(self) -> str:
        try:
            return (self.home / "zygote.log").read_bytes()[-800:].decode(errors="replace")
        except OSError:
            return ""

    def spawn(self, request: dict) -> int:
        """Fork a kernel into the sandbox whose placeholder is ``request["target"]``; its pid."""
        with self._lock:
            if self.proc.poll() is not None:
                raise ZygoteError(f"the pre-imported interpreter exited (status {self.proc.returncode})")
            self.sock.sendall((json.dumps(request) + "\n").encode())
            reply = self._read(60.0)
        if "pid" not in reply:
            raise ZygoteError(reply.get("error") or f"unexpected reply {reply!r}")
        return int(reply["pid"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.rfile, self.sock, self.log):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


def _is_within(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


class Sandbox:
    """``with Sandbox(files, limits, lesson="01_intro...") as sb: sb.execute("1+1")``

    ``files`` maps relative paths to bytes: the student's directory (already filtered).
    ``course_root``'s ``lessons/<lesson>/`` (all of ``lessons/`` when ``lesson`` is None) is visible
    read-only; ``keep`` adds more read-only paths.
    """

    def __init__(self, files: dict[str, bytes], limits: Limits | None = None, *, course_root: Path | None = None,
                 keep: list[Path] | None = None, lesson: str | None = None):
        self.files = files
        self.limits = limits or Limits()
        self.caps = capabilities()
        self.course_root = Path(course_root or REPO).resolve()
        self.lesson = lesson
        self.keep = [Path(p) for p in (keep or [])]
        self.proc = None
        self.client = None
        self.lease = None
        self.dir = None
        self.cgroups: list[Path] = []
        self.output_total = 0
        self.started = None
        self.log_file = None
        self.kernel_pid: int | None = None  # the kernel's host pid when it was forked from the Zygote
        self.kernel_fd: int | None = None   # and a pidfd of it
        self.exposed: list[Path] = []

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

    def readonly_paths(self) -> list[Path]:
        """What the kernel sees read-only besides the system: Python, helpers, the lesson, ``keep``.

        Refuses (SandboxError) a path that would show the course or the repository as a whole, its
        solutions, its git history or its grading folder (but a ``grading/*.py`` file may be kept).
        """
        lessons = self.course_root / "lessons"
        wanted = [Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix), Path(sys.base_exec_prefix),
                  Path(sys.executable).resolve().parent.parent, helpers_dir(),
                  lessons / self.lesson if self.lesson else lessons, *self.keep]
        out: list[Path] = []
        for p in wanted:
            if p is None or not p.exists():
                continue
            p = p.resolve()
            if _is_within(p, Path("/usr")):
                continue
            for root in {self.course_root, REPO}:
                # grading/ holds the gradebook, submissions, feedback and the reference run's expected
                # values: only its code (a .py file given by name) may be shown.
                code = p.suffix == ".py" and p.is_file() and p.parent == root / "grading"
                if _is_within(root, p) or any(_is_within(p, root / s) for s in ("solutions", ".git")) or (
                        _is_within(p, root / "grading") and not code):
                    raise SandboxError(f"refusing to show {p} to student code: it contains {root}'s private files")
            if p not in out:
                out.append(p)
        return sorted(out, key=lambda q: (len(q.parts), str(q)))

    def _etc(self, uid: int, gid: int) -> Path:
        """Synthetic /etc files (no host accounts, no hashes)."""
        etc = self.dir / "etc"
        etc.mkdir(mode=0o755)
        files = {"passwd": f"root:x:0:0::/:/usr/sbin/nologin\nstudent:x:{uid}:{gid}::{self.dir / 'work'}:/usr/sbin/nologin\n"
                           "nobody:x:65534:65534::/:/usr/sbin/nologin\n",
                 "group": f"root:x:0:\nstudent:x:{gid}:\nnogroup:x:65534:\n",
                 "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n"}
        for name, text in files.items():
            (etc / name).write_text(text)
            os.chmod(etc / name, 0o644)
        return etc

    def _bwrap_argv(self, work: Path, ipc: Path, etc: Path, kernel_argv: list[str]) -> list:
        """The ``bwrap`` command; ``{"bind": src, "dest": d, "ro": bool}`` items are mounted via the launcher (see sandbox_launch.stage_binds)."""
        lim = self.limits
        a: list = [*_bwrap_base(self.caps["bwrap"]),
                   "--size", str(lim.tmp_bytes), "--tmpfs", "/tmp", "--size", str(lim.tmp_bytes), "--tmpfs", "/dev/shm"]
        for f in sorted(etc.iterdir()):  # the synthetic files _etc wrote
            a.append({"bind": str(f), "dest": f"/etc/{f.name}", "ro": True})
        for f in ("/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(f):
                a.append({"bind": f, "dest": f, "ro": True})
        self.exposed = self.readonly_paths()
        for p in self.exposed:
            a.append({"bind": str(p), "dest": str(p), "ro": True})
        for p in (work, ipc):
            a.append({"bind": str(p), "dest": str(p), "ro": False})
        return [*a, "--remount-ro", "/", "--chdir", str(work), "--", *kernel_argv]

    def start(self):
        """Start the sandbox and its kernel: forked from the pre-imported :class:`Zygote` where one runs."""
        zygote = Zygote.shared()
        if zygote is not None:
            try:
                return self._start(zygote)
            except ZygoteError as exc:
                Zygote.disable(f"it failed: {exc}")
                log.warning("pre-imported kernel failed, this one starts cold (%s): %s",
                            "kernels start cold from now on" if Zygote.off else "a new zygote starts next", exc)
                self.close()
                self.proc, self.output_total, self.started = None, 0, None
        return self._start(None)

    def _start(self, zygote: "Zygote | None"):
        from jupyter_client.connect import write_connection_file

        c = self.caps
        if c["root"] and not c["namespaces"] and os.environ.get("DLSBS_UNSANDBOXED") != "1":
            # As root the grader can isolate student code, so it must: never silently show the course.
            raise SandboxError("student code cannot be isolated: " + "; ".join(missing_protections(c))
                               + ". Install bubblewrap, or set DLSBS_UNSANDBOXED=1 to run trusted notebooks anyway")
        base = sandbox_base()
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o711)
        mpl = _mpl_font_cache(base)
        use_uid = c["root"]
        if use_uid:
            self.lease = _UidLease(base)
            uid = gid = self.lease.uid
        else:
            uid, gid = os.getuid(), os.getgid()
        self.dir = Path(tempfile.mkdtemp(prefix="sb-", dir=base))
        os.chmod(self.dir, 0o711)
        if c["mount"]:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.limits.work_bytes},mode=0711,nosuid,nodev",
                            "tmpfs", str(self.dir)], capture_output=True)
        owner = os.open(self.dir / "owner", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(owner, f"{os.getpid()}\n".encode())  # for sweep() after a grader that was killed
        os.close(owner)
        work, ipc, stage = self.dir / "work", self.dir / "ipc", self.dir / "stage"
        for d in (work, ipc, stage):
            d.mkdir(mode=0o700)
        os.chmod(stage, 0o711)  # the launcher's mount points for bwrap (see sandbox_launch.stage_binds)
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
        self._make_cgroups()
        rl = {"RLIMIT_FSIZE": self.limits.file_bytes, "RLIMIT_CORE": 0,
              "RLIMIT_CPU": int(self.limits.notebook_timeout * 2 + 60)}
        if use_uid:
            rl["RLIMIT_NPROC"] = self.limits.nproc
        if not c["memory_cgroup"]:
            rl["RLIMIT_AS"] = max(self.limits.memory_bytes * 4, 16 << 30)
        kernel_args = ["-f", str(conn), "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"]
        kernel_argv = PLACEHOLDER if zygote else [sys.executable, "-s", "-P", "-m", "ipykernel_launcher", *kernel_args]
        argv = self._bwrap_argv(work, ipc, self._etc(uid, gid), kernel_argv) if c["namespaces"] else kernel_argv
        cfg = {"grader_pid": os.getpid(), "cgroups": [str(cg / "cgroup.procs") for cg in self.cgroups],
               "uid": uid if use_uid else None, "gid": gid if use_uid else None, "rlimits": rl,
               "cwd": str(work), "env": _kernel_env(str(work)), "argv": argv, "stage": str(stage)}
        launch = self.dir / "launch.json"
        fd = os.open(launch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f)
        log = os.open(self.dir / "kernel.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.log_file = os.fdopen(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-I", str(LAUNCHER), str(launch)], stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=self.log_file, start_new_session=True, close_fds=True)
        self.started = time.monotonic()
        if zygote is not None:
            pid = zygote.spawn({**{k: cfg[k] for k in ("cgroups", "uid", "gid", "rlimits", "cwd", "env")},
                                "target": self._placeholder_pid(), "argv": kernel_args, "log": str(self.dir / "kernel.log")})
            self.kernel_pid = pid
            try:
                self.kernel_fd = os.pidfd_open(pid)
            except ProcessLookupError:
                raise SandboxError(f"the kernel exited during start-up: {self.log_tail()}") from None
        self._connect(conn)

    def _placeholder_pid(self) -> int:
        """The host pid of the placeholder once ``bwrap`` has built the sandbox around it (see :class:`Zygote`)."""
        deadline = time.monotonic() + self.limits.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandboxError(f"the sandbox exited during start-up (status {self.proc.returncode}): {self.log_tail()}")
            todo = [self.proc.pid]
            while todo:
                pid = todo.pop()
                try:
                    if pid != self.proc.pid and Path(f"/proc/{pid}/comm").read_text().strip() == Path(PLACEHOLDER[0]).name:
                        return pid
                    for task in os.listdir(f"/proc/{pid}/task"):
                        todo += [int(x) for x in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
                except OSError:
                    continue
            time.sleep(0.01)
        raise SandboxError(f"the sandbox did not start within {self.limits.start_timeout:.0f} s: {self.log_tail()}")

    def _make_cgroups(self):
        """One cgroup per sandbox in each hierarchy (v1: memory, pids, cpu; v2: one), joined by the launcher."""
        settings = {**self._memory_settings(), "pids.max": self.limits.nproc, **self._cpu_settings()}
        for parent in _cgroup_parents(self.caps):
            cg = parent / self.dir.name
            try:
                cg.mkdir()
            except OSError as exc:
                raise SandboxError(f"cannot create cgroup {cg}: {exc}") from None
            self.cgroups.append(cg)
            for name, value in settings.items():  # only the files this hierarchy has, in this order
                if (cg / name).exists():
                    try:
                        (cg / name).write_text(str(value))
                    except OSError as exc:
                        if name.startswith(("cpu.", "pids.", "memory.limit", "memory.max")):
                            raise SandboxError(f"cannot set {cg / name} = {value}: {exc}") from None
        weigh_cpu_parent(self.caps)

    def _cpu_settings(self) -> dict:
        lim = self.limits
        quota = int(lim.cpus * CPU_PERIOD_US) if lim.cpus else None
        return {"cpu.weight": lim.cpu_weight, "cpu.max": f"{quota or 'max'} {CPU_PERIOD_US}",  # cgroup v2
                "cpu.shares": max(2, lim.cpu_weight * 1024 // 100), "cpu.cfs_period_us": CPU_PERIOD_US,  # v1
                "cpu.cfs_quota_us": quota or -1}

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
            if not self.alive():
                raise SandboxError(f"kernel exited during start-up (status {self.proc.poll()}): {self.log_tail()}")
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
        if self.proc is None or self.proc.poll() is not None:
            return False
        # a forked kernel (Zygote) is not bwrap's command: the placeholder outlives it
        return self.kernel_fd is None or not select.select([self.kernel_fd], [], [], 0)[0]

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
        if self.kernel_fd is not None:
            try:
                signal.pidfd_send_signal(self.kernel_fd, signal.SIGKILL)
            except ProcessLookupError:
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
        if self.kernel_fd is not None:
            os.close(self.kernel_fd)
            self.kernel_fd = None
        for cg in self.cgroups:
            _remove_cgroup(cg)
        if self.cgroups:
            weigh_cpu_parent(self.caps)
        self.cgroups = []
        if self.dir is not None:
            _remove_dir(self.dir)
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
