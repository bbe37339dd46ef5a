"""The grader's sandbox (:mod:`grading.sandbox`) attacked from inside a real sandboxed kernel.

Every test starts real kernels with :class:`grading.sandbox.Sandbox` (bubblewrap namespaces, own uid,
cgroups) and runs the attack as student code.  The course is a throw-away course root with
instructor files that must stay unreadable; a second copy of a course elsewhere on the machine
stands for "another checkout with solutions and hidden tests".
(The benchmark of start-up time and CPU isolation is ``benchmarks/bench_sandbox.py``.)
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading import sandbox as sbx  # noqa: E402
from grading.sandbox import Limits, Sandbox, SandboxError  # noqa: E402

LESSON = "99_tiny"
CAPS = sbx.capabilities() if sys.platform.startswith("linux") else {"root": False, "namespaces": False}
needs_sandbox = pytest.mark.skipif(
    not (CAPS["root"] and CAPS["namespaces"]),
    reason="needs Linux, root and bubblewrap (Debian: apt-get install bubblewrap): "
           + "; ".join(sbx.missing_protections()) if sys.platform.startswith("linux") else "needs Linux")
pytestmark = [needs_sandbox, pytest.mark.slow]  # each test starts bubblewrap sandboxes and kernels


def make_course(root: Path, tag: str) -> dict:
    """A course folder whose private files each contain a marker student code must never read."""
    files = {
        f"solutions/{LESSON}/{LESSON}.ipynb": f"SOLUTION_{tag} ### BEGIN HIDDEN TESTS",
        f"solutions/{LESSON}/hidden_tests.py": f"HIDDEN_TEST_{tag}",
        "grading/gradebook.db": f"GRADEBOOK_{tag}",
        f"grading/submitted/bob/{LESSON}/{LESSON}.ipynb": f"OTHER_STUDENT_{tag}",
        "grading/nbgrader_config.py": f"CONFIG_{tag}",
        ".git/config": f"GIT_{tag}",
        f"lessons/{LESSON}/{LESSON}.ipynb": f"PUBLISHED_{tag}",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.chmod(root, 0o700)  # like a pytest temp folder or a home directory
    return {rel: root / rel for rel in files}


@pytest.fixture
def course(tmp_path):
    return {"root": tmp_path / "course", "files": make_course(tmp_path / "course", "HERE"),
            "copy": make_course(tmp_path / "elsewhere" / "course-copy", "COPY")}


def open_sandbox(course, files=None, **kw) -> Sandbox:
    return Sandbox(files or {"mine.txt": b"MINE"}, kw.pop("limits", Limits(cell_timeout=60, notebook_timeout=120)),
                   course_root=course["root"], lesson=LESSON, **kw)


def run(sb: Sandbox, code: str) -> str:
    r = sb.execute(code)
    assert r.status == "ok", (r.status, r.outputs)
    return "".join(o.get("text", "") for o in r.outputs if o.get("output_type") == "stream")


TRY_READ = """
import json, os
def _try(paths):
    out = {}
    for p in paths:
        try:
            if os.path.isdir(p):
                out[p] = "LISTED " + repr(sorted(os.listdir(p)))
            else:
                with open(p, "rb") as f:
                    out[p] = "READ " + f.read(200).decode(errors="replace")
        except OSError as e:
            out[p] = "blocked " + type(e).__name__
    return out
print(json.dumps(_try(%r)))
"""


def try_read(sb: Sandbox, paths) -> dict:
    return json.loads(run(sb, TRY_READ % [str(p) for p in paths]))


# ----------------------------------------------------------------------------- what the kernel sees


def test_the_kernel_sees_only_the_allow_list(course):
    with open_sandbox(course) as sb:
        work = sb.dir / "work"
        out = json.loads(run(sb, "import json, os, helpers, numpy\n"
                                 "print(json.dumps({'root': sorted(os.listdir('/')), 'etc': sorted(os.listdir('/etc')),"
                                 " 'cwd': os.getcwd(), 'mine': open('mine.txt').read(), 'helpers': helpers.__file__,"
                                 f" 'lesson': open({str(course['files'][f'lessons/{LESSON}/{LESSON}.ipynb'])!r}).read()}}))"))
        exposed = sb.exposed
        imp = sb.execute("import grading")
    assert out["cwd"] == str(work) and out["mine"] == "MINE"
    assert out["lesson"] == "PUBLISHED_HERE", "the lesson's published files are visible"
    assert out["helpers"] == str(sbx.helpers_dir() / "__init__.py"), "import helpers works"
    assert imp.status == "error", "the grading package (next to helpers in the editable install) is not visible"
    system = {"usr", "etc", "proc", "dev", "tmp"} | {d for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
                                                     if os.path.exists("/" + d)}
    assert set(out["root"]) == system | {p.parts[1] for p in [*exposed, work]}
    assert set(out["etc"]) <= {"passwd", "group", "hosts", "ld.so.cache", "localtime"}
    for p in exposed:  # nothing of the course but its published lesson
        assert not any(p == r or r in p.parents or p in r.parents for r in (course["root"] / "solutions",
                                                                             course["root"] / "grading"))


def test_instructor_files_other_students_and_other_course_copies_are_unreadable(course):
    private = [p for rel, p in {**course["files"], **course["copy"]}.items() if not rel.startswith("lessons/")]
    private += [course["copy"][f"lessons/{LESSON}/{LESSON}.ipynb"]]  # another course's files: not even published ones
    repo = [ROOT / "solutions", ROOT / "grading", ROOT / "grading" / "gradebook.db", ROOT / "grading" / "submitted",
            ROOT / ".git", ROOT / "README.md", ROOT / "tests"]
    host = ["/etc/shadow", "/etc/sudoers", "/home", "/sys/fs/cgroup", "/var/lib/dlsbs-grader/uids",
            str(Path.home() / ".bashrc"), "/root/.bashrc", "/root/.ssh"]
    with open_sandbox(course) as sb:
        got = try_read(sb, [*private, *repo, *host, "/root", "/etc/passwd"])
    for p in [*private, *repo, *host]:
        assert got[str(p)].startswith("blocked"), f"{p}: {got[str(p)][:100]}"
    # /root shows only the folders on the way to an allow-listed path (here: a Python installed under /root)
    allowed = {Path(p).relative_to("/root").parts[0] for p in map(str, sb.exposed) if p.startswith("/root/")}
    assert got["/root"] == "blocked FileNotFoundError" or got["/root"] == "LISTED " + repr(sorted(allowed))
    assert "student" in got["/etc/passwd"] and ":$" not in got["/etc/passwd"], "a synthetic /etc/passwd, no host accounts"


def test_no_open_descriptor_leads_out_of_the_sandbox(course):
    """A leaked directory descriptor (from setting up the mounts) would let ``openat(fd, "..")`` escape."""
    code = ("import os, stat\nfds = os.listdir('/proc/self/fd')\n"
            "print([(fd, os.readlink('/proc/self/fd/' + fd)) for fd in fds\n"
            "       if os.path.exists('/proc/self/fd/' + fd) and stat.S_ISDIR(os.stat('/proc/self/fd/' + fd).st_mode)\n"
            "       and not os.readlink('/proc/self/fd/' + fd).startswith('/proc/')])")
    with open_sandbox(course) as sb:
        assert run(sb, code).strip() == "[]"


def test_the_filesystem_is_read_only_except_the_students_folder_and_a_private_tmp(course):
    marker = f"dlsbs-test-{secrets.token_hex(4)}"
    with open_sandbox(course) as sb:
        out = run(sb, f"""
import os
for p in ["/{marker}", "/usr/{marker}", "{sbx.helpers_dir()}/{marker}.py", "{sys.prefix}/{marker}",
          "{course['files'][f'lessons/{LESSON}/{LESSON}.ipynb']}", "/tmp/{marker}", "/dev/shm/{marker}", "{marker}"]:
    try:
        open(p, "a").write("x"); print("WROTE", p)
    except OSError as e:
        print("blocked", p, type(e).__name__)
""")
        wrote = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("WROTE")]
        assert sorted(wrote) == sorted([f"/tmp/{marker}", f"/dev/shm/{marker}", marker]), out
        assert (sb.dir / "work" / marker).exists()
    assert not Path(f"/tmp/{marker}").exists() and not Path(f"/dev/shm/{marker}").exists(), "private /tmp and /dev/shm"
    assert course["files"][f"lessons/{LESSON}/{LESSON}.ipynb"].read_text() == "PUBLISHED_HERE"


def test_the_kernel_runs_as_its_own_unprivileged_user(course):
    code = ("import os, ctypes\nst = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
            "libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
            "print(os.getuid(), os.getgid(), os.getgroups(), st['CapEff'].strip(), st['NoNewPrivs'].strip(),"
            " libc.unshare(0x10000000), os.getppid() > 0)")  # CLONE_NEWUSER must fail: no nested namespaces
    with open_sandbox(course) as sb, open_sandbox(course) as other:
        uid, gid, groups, cap, nnp, userns, _ = run(sb, code).split(None, 6)
        other_uid = run(other, "import os; print(os.getuid())").strip()
    assert sbx.UID_BASE <= int(uid) < sbx.UID_BASE + sbx.UID_COUNT and gid == uid and groups == "[]"
    assert other_uid != uid, "two sandboxes never share a uid"
    assert int(cap, 16) == 0 and nnp == "1" and userns == "-1"


def test_kernels_are_forked_pre_imported_and_share_no_state(course):
    first = ("import sys, random, numpy\nprint('torch' in sys.modules and 'tensorflow' in sys.modules and 'fastai' in sys.modules)\n"
             "import torch\ntorch.LEFT_BY_A = 1\nprint(random.random(), numpy.random.rand())")
    second = "import torch, random, numpy\nprint(hasattr(torch, 'LEFT_BY_A'), random.random(), numpy.random.rand())"
    with open_sandbox(course) as a, open_sandbox(course) as b:
        preloaded, ra, na = run(a, first).split()
        left, rb, nb = run(b, second).split()
        pids = (a.kernel_pid, b.kernel_pid)
    assert None not in pids and pids[0] != pids[1], "each kernel is a child forked from the zygote"
    assert preloaded == "True", "the frameworks are imported before any cell runs"
    assert left == "False", "one kernel's changes to a module never reach another kernel"
    assert ra != rb and na != nb, "each kernel draws its own random state, as a new process would"


def test_a_failing_zygote_switches_itself_off_and_kernels_start_cold(course, monkeypatch):
    class Broken:
        def spawn(self, request):
            raise sbx.ZygoteError("simulated: the zygote exited")

    reasons = []
    monkeypatch.setattr(sbx.Zygote, "shared", classmethod(lambda cls: Broken()))
    monkeypatch.setattr(sbx.Zygote, "disable", classmethod(lambda cls, reason: reasons.append(reason)))
    with open_sandbox(course) as sb:
        assert run(sb, "print(6 * 7)").strip() == "42"
        assert sb.kernel_pid is None, "started cold"
    assert reasons and "simulated" in reasons[0]


# ----------------------------------------------------------------------------- private namespaces


SHM_CREATE = """
import ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
sid = libc.shmget({key}, 4096, 0o1000 | 0o666)  # IPC_CREAT, world-readable
addr = libc.shmat(sid, None, 0)
ctypes.memmove(addr, b"SHM_SECRET", 10)
print(sid >= 0 and addr not in (None, ctypes.c_void_p(-1).value))
"""
SHM_READ = """
import ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
sid = libc.shmget({key}, 0, 0)
print("LEAK " + ctypes.string_at(libc.shmat(sid, None, 0), 10).decode() if sid >= 0 else "none " + str(ctypes.get_errno()))
"""


def host_shm_keys() -> set:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.split()}


def test_sysv_shared_memory_is_private_to_one_sandbox(course):
    key = 0x5A000000 + secrets.randbelow(1 << 20)
    with open_sandbox(course) as writer:
        assert run(writer, SHM_CREATE.format(key=key)).strip() == "True"
        assert run(writer, SHM_READ.format(key=key)).strip() == "LEAK SHM_SECRET", "the attack works inside one sandbox"
        assert key not in host_shm_keys(), "not in the host's IPC namespace"
        with open_sandbox(course) as neighbour:  # graded at the same time
            assert run(neighbour, SHM_READ.format(key=key)).strip() == "none 2"
    with open_sandbox(course) as nxt:  # graded next
        assert run(nxt, SHM_READ.format(key=key)).strip() == "none 2"
    assert key not in host_shm_keys()


def test_another_sandboxs_directory_and_kernel_log_are_unreadable(course):
    with open_sandbox(course, files={"secret.txt": b"A_SECRET"}) as a, open_sandbox(course) as b:
        assert (a.dir / "kernel.log").exists() and (a.dir / "work" / "secret.txt").exists()
        got = try_read(b, [a.dir / "kernel.log", a.dir / "launch.json", a.dir / "work" / "secret.txt", a.dir,
                           sbx.sandbox_base()])
        for p in (a.dir / "kernel.log", a.dir / "launch.json", a.dir / "work" / "secret.txt", a.dir):
            assert got[str(p)].startswith("blocked"), f"{p}: {got[str(p)]}"
        assert got[str(sbx.sandbox_base())] == f"LISTED {[b.dir.name]!r}", "only its own sandbox directory"
        assert oct((a.dir / "kernel.log").stat().st_mode & 0o777) == "0o600"
        # nor the Linux kernel's log (where another sandbox's OOM kills and crashes are written)
        dmesg = run(b, "import ctypes, os\nlibc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
                       "buf = ctypes.create_string_buffer(1 << 16)\nn = libc.klogctl(3, buf, len(buf))\n"
                       "print(n, ctypes.get_errno(), os.path.exists('/dev/kmsg'), os.access('/proc/kmsg', os.R_OK))")
        assert dmesg.split() == ["-1", "1", "False", "False"], f"{dmesg} (on the host: sysctl kernel.dmesg_restrict=1)"


class _Server:
    """A real TCP service on the host's 127.0.0.1, stopped by the test."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.sendall(b"HOST_SERVICE\n")
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_no_network_not_even_the_hosts_loopback(course):
    server = _Server()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
            assert c.recv(100) == b"HOST_SERVICE\n", "the service works from the host"
        with open_sandbox(course) as sb:
            out = run(sb, f"""
import socket
try:
    print(socket.create_connection(("127.0.0.1", {server.port}), timeout=3).recv(100))
except OSError as e:
    print("blocked", type(e).__name__)
try:
    socket.create_connection(("10.255.255.1", 80), timeout=3); print("NET_OK")
except OSError as e:
    print("blocked", type(e).__name__)
print(socket.if_nameindex())
""")
    finally:
        server.close()
    assert "HOST_SERVICE" not in out and "NET_OK" not in out
    assert out.splitlines()[-1] == "[(1, 'lo')]", "only a loopback of its own"


def test_each_sandbox_has_its_own_cpu_share_memory_and_process_limits(course):
    limits = Limits(cell_timeout=60, notebook_timeout=120, cpus=0.5, cpu_weight=100, memory_bytes=1 << 30, nproc=300)
    with open_sandbox(course, limits=limits) as sb:
        run(sb, "x = 1")
        files = {}
        for cg in sb.cgroups:
            for name in ("cpu.weight", "cpu.max", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us",
                         "memory.max", "memory.limit_in_bytes", "pids.max"):
                if (cg / name).exists():
                    files[name] = (cg / name).read_text().strip()
            procs = (cg / "cgroup.procs").read_text().split()
            kernels = [p for p in procs if int(p) == sb.kernel_pid  # forked from the pre-imported zygote
                       or b"ipykernel_launcher" in Path(f"/proc/{p}/cmdline").read_bytes()]
            assert kernels, f"the kernel runs in {cg}"
    if "cpu.weight" in files:  # cgroup v2
        assert files["cpu.weight"] == "100" and files["cpu.max"] == "50000 100000"
        assert files["memory.max"] == str(1 << 30) and files["pids.max"] == "300"
    else:  # cgroup v1
        assert files["cpu.shares"] == "1024"
        assert (files["cpu.cfs_quota_us"], files["cpu.cfs_period_us"]) == ("50000", "100000")
        assert files["memory.limit_in_bytes"] == str(1 << 30) and files["pids.max"] == "300"
    assert not any(cg.exists() for cg in sb.cgroups), "removed with the sandbox"


def test_the_sandboxes_together_weigh_like_one_process_each(course):
    """A fixed weight for all sandboxes would starve them on a busy machine; one process each is the old share."""
    shared = Path(sbx.capabilities()["cpu_cgroup"])
    v1 = (shared / "cpu.shares").exists()
    # cgroup v1: a parent of the test's own, so other graders running now cannot change what is measured
    parent = shared.parent / f"dlsbs-test-{os.getpid()}" if v1 else shared
    name, unit = ("cpu.shares", 1024) if v1 else ("cpu.weight", 100)
    parent.mkdir(exist_ok=True)
    try:
        (parent / name).write_text("2")
        boxes = [open_sandbox(course), open_sandbox(course)]
        for sb in boxes:
            sb.caps = {**sb.caps, "cpu_cgroup": str(parent)}
        with boxes[0], boxes[1]:
            n = sum(1 for d in parent.glob("sb-*") if d.is_dir())
            assert n >= 2 and int((parent / name).read_text()) == unit * n
        if v1:
            assert int((parent / name).read_text()) == unit, "back to one process's weight when they are gone"
    finally:
        if v1:
            sbx._remove_cgroup(parent)


# ----------------------------------------------------------------------------- lifecycle and guards


def test_a_killed_grader_takes_its_sandbox_down_and_the_next_run_sweeps_it(tmp_path, monkeypatch):
    # A sandbox folder of its own: a grader run by a parallel test sweeps the shared one and could
    # remove this dead grader's sandbox before the test looks (/var/lib: the sandbox user can reach it).
    base = Path(f"/var/lib/dlsbs-grader-test-{secrets.token_hex(4)}")
    monkeypatch.setenv("DLSBS_SANDBOX_BASE", str(base))
    try:
        _killed_grader_and_sweep()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _killed_grader_and_sweep():
    code = ("import sys, time; sys.path.insert(0, sys.argv[1])\nfrom grading.sandbox import Sandbox\n"
            "sb = Sandbox({}); sb.start(); r = sb.execute('import os; os.system(\"sleep 600 &\")')\n"
            "from grading.sandbox import Zygote\nz = Zygote._shared\n"
            "print(sb.dir, r.status, z.proc.pid if z else 0, flush=True); time.sleep(600)")
    grader = subprocess.Popen([sys.executable, "-c", code, str(ROOT)], stdout=subprocess.PIPE, text=True)
    try:
        line = grader.stdout.readline().split()
        assert line and line[1] == "ok", line
        d, zygote = Path(line[0]), int(line[2])
    finally:
        grader.kill()  # SIGKILL: no clean-up code of the grader runs
        grader.wait()
        grader.stdout.close()

    def running():
        out = subprocess.run(["ps", "-ww", "-eo", "pid,uid,args"], capture_output=True, text=True).stdout
        return [ln for ln in out.splitlines() if str(d) in ln or ("sleep 600" in ln and ln.split()[1] != "0")]
    deadline = time.monotonic() + 30
    while running() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not running(), running()
    assert zygote, "the grader's kernel was forked from its pre-imported interpreter"

    def zygote_runs():  # the zygote (root, outside the sandboxes) dies with its grader; a zombie has died
        try:
            return Path(f"/proc/{zygote}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    deadline = time.monotonic() + 10
    while zygote_runs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not zygote_runs()
    assert d.exists(), "left for the sweep"
    assert sbx.sweep() >= 1 and not d.exists()


def test_a_path_that_would_show_the_course_is_refused(course):
    (course["root"] / "grading" / ".grader-cache").mkdir()
    for keep in ([course["root"]], [course["root"] / "solutions"], [course["root"].parent], [ROOT],
                 [course["root"] / "grading"], [course["root"] / "grading" / ".grader-cache"],
                 [course["root"] / "grading" / "submitted" / "bob"], [course["root"] / "grading" / "gradebook.db"],
                 [course["root"] / ".git" / "config"]):
        with pytest.raises(SandboxError, match="refusing to show"):
            Sandbox({}, course_root=course["root"], keep=keep).readonly_paths()
    code = ROOT / "grading" / "sandbox_launch.py"  # the grader's own code may be shown, file by file
    assert code in Sandbox({}, course_root=course["root"], keep=[code]).readonly_paths()
    assert course["root"] / "lessons" / LESSON in Sandbox({}, course_root=course["root"], lesson=LESSON).readonly_paths()


def test_as_root_without_namespaces_the_sandbox_refuses_to_start(course, monkeypatch):
    monkeypatch.delenv("DLSBS_UNSANDBOXED", raising=False)
    sb = open_sandbox(course)
    sb.caps = {**sb.caps, "bwrap": None, "namespaces": False}
    with pytest.raises(SandboxError, match="cannot be isolated.*apt-get install bubblewrap"):
        with sb:
            pass
    assert sb.dir is None and sb.proc is None, "nothing started, nothing left"
