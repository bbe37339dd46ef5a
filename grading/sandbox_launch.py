"""Kernel launcher that runs *inside* the grader's sandbox namespaces (standard library only).

Started by :mod:`grading.sandbox` as ``python -I sandbox_launch.py launch.json``, as root, usually
under ``unshare --mount --net --pid --fork --kill-child --mount-proc``.  It is PID 1 of the new PID
namespace, so when it exits every process the student started dies with it.  It

1. hides the course (instructor source, gradebook, other submissions, git history) and the
   world-writable directories behind fresh tmpfs mounts, then re-mounts read-only only what a
   lesson needs (the Python environment, the helper package, the released lesson);
2. joins the per-submission cgroups (memory, pids) when the grader created them;
3. forks the kernel: resource limits, no-new-privileges, then drops to the sandbox's own
   unprivileged uid/gid and ``exec``s ipykernel in the student's throw-away directory;
4. reaps orphans until the kernel exits, then exits with its status.
"""
import ctypes
import ctypes.util
import json
import os
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 8192, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount(source, target, fstype, flags, data=None):
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def setup_mounts(cfg):
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    stage = cfg["stage"]
    keeps = [k for k in cfg.get("keep", []) if os.path.exists(k)]
    for i, path in enumerate(keeps):
        os.mkdir(os.path.join(stage, str(i)), 0o700)
        _mount(path, os.path.join(stage, str(i)), None, MS_BIND | MS_REC)
    for path, mode, size in sorted(cfg.get("hide", []), key=lambda h: len(h[0])):
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode},size={size}")
    for i, path in enumerate(keeps):
        os.makedirs(path, exist_ok=True)
        _mount(os.path.join(stage, str(i)), path, None, MS_MOVE)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def child(cfg):
    for path in cfg.get("cgroups", []):
        with open(path, "w") as f:
            f.write("0")
    os.chdir(cfg["cwd"])
    for name, value in cfg.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if cfg.get("no_new_privs", True):
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if cfg.get("uid") is not None:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("could not drop privileges")
    os.umask(0o077)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    if cfg.get("mounts"):
        setup_mounts(cfg)
    pid = os.fork()
    if pid == 0:
        try:
            child(cfg)
        except BaseException as exc:  # never return into the reaper's code
            sys.stderr.write("sandbox launch failed: %r %s\n" % (exc, getattr(exc, "filename", "")))
            os._exit(121)
    # PID 1: forward termination to the kernel, reap everything, exit with the kernel's status.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if done == pid:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()
