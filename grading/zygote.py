"""A pre-imported interpreter that forks one kernel per sandbox: ``python -I zygote.py CONTROL_FD``.

Every lesson's first cell imports PyTorch, torchvision, TensorFlow, Keras and fastai: about 15 s of
CPU per kernel, most of a lesson-01 submission's grading.  The grader pays it once per run instead:
this process (started by :class:`grading.sandbox.Zygote`, as root, outside any namespace, with the
kernel's environment) imports those modules and IPython's kernel, then waits.  For each sandbox the
grader first starts the usual ``bwrap`` sandbox (:mod:`grading.sandbox`: its allow-listed filesystem,
namespaces, uid, cgroups), with a placeholder (``sleep``) where the kernel would run.  It then sends
this process one JSON line; this process forks a child that

1. joins the sandbox's cgroups and sets its resource limits (as :mod:`grading.sandbox_launch` does),
2. points its standard streams at the sandbox's kernel log and closes every other descriptor,
3. enters the placeholder's namespaces, as ``nsenter`` would: IPC, UTS, network, cgroup, PID, mount
   (its root becomes the sandbox's root: only the allow-list is there) and last the user namespace
   (``bwrap``'s innermost one, which cannot create further user namespaces),
4. becomes the sandbox's unprivileged uid/gid with no capabilities (bounding and ambient sets
   cleared) and ``no_new_privs``,
5. forks the kernel, which is a member of the sandbox's PID namespace (it dies with the sandbox),
   reports its pid and exits.

The kernel is then the same as a cold-started one in the same sandbox, except that the modules
below are already in ``sys.modules``.  ``fork`` is safe here because nothing before it starts a
thread: this process checks it has exactly one thread before each fork and refuses otherwise.

Standard library only at the top level; the pre-imports are trusted packages from the course's
Python environment.  Replies: ``{"pid": N}`` or ``{"error": "..."}``; the first line is
``{"ready": true, "seconds": S}`` once the imports are done (or ``{"error": ...}``).
"""
import ctypes
import json
import os
import resource
import sys
import time

#: What every lesson's first cells import (helpers.setup's safe order: torch and torchvision first).
PRELOAD = ("helpers", "helpers._importorder:torch_first", "tensorflow", "keras", "fastai.basics",
           "matplotlib.pyplot", "pandas", "helpers.checks", "helpers.compare", "helpers.data", "helpers.plots",
           "helpers.widgets", "helpers.fastai_side", "helpers.keras_side", "helpers.env", "helpers.hints",
           "ipykernel.kernelapp", "ipykernel.ipkernel")

#: Namespaces entered, in this order: the user namespace last (it owns none of the others).
NAMESPACES = (("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000), ("cgroup", 0x02000000),
              ("pid", 0x20000000), ("mnt", 0x00020000), ("user", 0x10000000))
REPORT_FD = 3
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def preload() -> None:
    for name in PRELOAD:
        module, _, fn = name.partition(":")
        mod = __import__(module, fromlist=["_"])
        if fn:
            getattr(mod, fn)()


def _drop_capabilities() -> None:
    """Clear the bounding, ambient, effective, permitted and inheritable capability sets.

    Changing uid does not clear them here: the process was root outside the user namespace it joined,
    not that namespace's root, so the kernel's "uid 0 → non-zero clears capabilities" rule does not apply.
    """
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            _check(-1, f"prctl(PR_CAPBSET_DROP, {cap})")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
    _check(_libc.capset(header, data), "capset")


def _capabilities_left() -> list[str]:
    with open("/proc/self/status") as f:
        return [line.strip() for line in f if line.startswith("Cap") and set(line.split()[1]) != {"0"}]


def enter(req: dict, report: int) -> None:
    """In the forked child: become a process of the sandbox, fork the kernel, report its pid, exit."""
    for procs in req["cgroups"]:
        with open(procs, "w") as f:
            f.write("0")
    for name, value in req["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    log = os.open(req["log"], os.O_WRONLY | os.O_APPEND)
    null = os.open("/dev/null", os.O_RDONLY)
    # fd 3 (REPORT_FD, set by spawn) is the report pipe: nothing else stays open, not the control socket
    for fd, std in ((null, 0), (log, 1), (log, 2)):
        os.dup2(fd, std)
    os.closerange(REPORT_FD + 1, min(max(1 << 16, resource.getrlimit(resource.RLIMIT_NOFILE)[0]), 1 << 20))
    report = REPORT_FD
    ns = {name: os.open(f"/proc/{req['target']}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name, _ in NAMESPACES}
    os.setgroups([])
    for name, flag in NAMESPACES:
        _check(_libc.setns(ns[name], flag), f"setns({name})")
        os.close(ns[name])
    gid, uid = req["gid"], req["uid"]
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise SystemExit("could not drop privileges")
    _drop_capabilities()
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.umask(0o077)
    os.chdir(req["cwd"])
    check_r, check_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(check_w)
        verdict = os.read(check_r, 4096).decode(errors="replace")
        reply = {"pid": pid} if verdict == "ok" else {"error": f"the kernel refused to start: {verdict or 'it died'}"}
        os.write(report, (json.dumps(reply) + "\n").encode())
        os._exit(0)
    os.close(check_r)
    os.close(report)
    # Only a member of the sandbox's PID namespace sees itself in its /proc: check here, before any student code.
    left = _capabilities_left()
    os.write(check_w, (f"capabilities left: {left}" if left else "ok").encode())
    if left:
        os._exit(121)
    os.close(check_w)
    kernel(req)


def kernel(req: dict) -> None:
    """In the kernel process: the environment of a cold-started kernel, then IPython's kernel app."""
    os.environ.clear()
    os.environ.update(req["env"])
    sys.dont_write_bytecode = True
    sys.argv = ["ipykernel_launcher", *req["argv"]]
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    import random

    random.seed()  # the zygote's state is every kernel's: draw fresh entropy, as a new process would
    try:
        import numpy

        numpy.random.seed()
    except ImportError:
        pass
    from ipykernel import kernelapp

    del req
    kernelapp.launch_new_instance()
    os._exit(0)


def serve(ctl: int) -> None:
    t0 = time.monotonic()
    try:
        preload()
    except BaseException as exc:  # noqa: BLE001 - reported to the grader, which starts kernels cold
        os.write(ctl, (json.dumps({"error": f"pre-import failed: {exc!r}"}) + "\n").encode())
        return
    os.write(ctl, (json.dumps({"ready": True, "seconds": round(time.monotonic() - t0, 2)}) + "\n").encode())
    for line in os.fdopen(ctl, "rb", closefd=False):  # one request per line; ends when the grader's end closes
        os.write(ctl, (json.dumps(spawn(json.loads(line))) + "\n").encode())


def spawn(req: dict) -> dict:
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        return {"error": f"the zygote runs {threads} threads: fork is not safe"}
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            os.dup2(w, REPORT_FD)
            enter(req, REPORT_FD)
        except BaseException as exc:  # noqa: BLE001 - report and stop; never run the kernel half-set-up
            try:
                os.write(REPORT_FD, (json.dumps({"error": f"entering the sandbox failed: {exc!r}"}) + "\n").encode())
            finally:
                os._exit(121)
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(child, 0)
    try:
        return json.loads(data.decode().splitlines()[0])
    except (ValueError, IndexError):
        return {"error": "entering the sandbox failed without a reason (see the kernel log)"}


def main() -> None:
    # No parent-death signal: it fires when the *thread* that started this process ends, and the
    # grader's worker threads come and go.  The grader's end of the control socket closes when its
    # process ends (even on SIGKILL): the next read returns nothing and this process exits.
    serve(int(sys.argv[1]))


if __name__ == "__main__":
    main()
