"""The first process of every sandbox (standard library only): ``python -I sandbox_launch.py launch.json``.

Started by :mod:`grading.sandbox` as root, *outside* any namespace.  In this order it

1. sets a parent-death signal (``PR_SET_PDEATHSIG`` = SIGKILL) and checks that the grader that
   started it is still its parent, so a killed grader's sandbox dies instead of running on;
2. in a private mount namespace, bind-mounts the paths the sandbox may see (its allow-list) where
   the unprivileged ``bwrap`` can reach them (:func:`stage_binds`);
3. joins the sandbox's cgroups (memory, pids, cpu) that the grader created, so every process it
   starts is counted and limited from the start;
4. sets the resource limits (file size, core dumps, CPU time, processes);
5. drops to the sandbox's own unprivileged uid/gid (no supplementary groups), sets the
   parent-death signal again (a change of uid clears it) and ``no_new_privs``;
6. ``exec``s ``argv``: normally ``bwrap`` (bubblewrap), which builds the namespaces and the
   allow-listed filesystem view as that unprivileged user and runs the kernel inside.

It never returns into Python code after a failure: it prints why and exits with status 121.
"""
import ctypes
import ctypes.util
import json
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with(parent: int) -> None:
    """SIGKILL this process when the thread that started it exits; give up if that already happened."""
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(1)  # the grader died before the signal was armed


def _mount(source, target, flags):
    enc = (lambda x: x.encode() if isinstance(x, str) else x)
    if _libc.mount(enc(source), enc(target), None, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} -> {target}: {os.strerror(err)}")


def stage_binds(argv: list, stage: str) -> list[str]:
    """Replace each ``{"bind": src, "dest": d, "ro": bool}`` in ``argv`` by ``--(ro-)bind STAGED d``.

    ``bwrap`` runs as the unprivileged sandbox user and resolves its sources with that user's
    rights, so a source under a folder it may not enter (a Python installed in ``/root``, a course
    in a private temp folder) could not be mounted.  Here, still root, each source is bind-mounted
    onto ``stage/<n>`` in a private mount namespace (invisible to the host, gone with the sandbox);
    ``bwrap`` then mounts those at their real paths, read-only unless ``ro`` is false.
    """
    if not any(isinstance(a, dict) for a in argv):
        return argv
    staged = os.geteuid() == 0  # a grader that is not root: bwrap runs as the grader's user and sees what it sees
    if staged:
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        _mount(None, "/", MS_REC | MS_PRIVATE)
    out = []
    for a in argv:
        if not isinstance(a, dict):
            out.append(a)
            continue
        source = a["bind"]
        if staged:
            source = os.path.join(stage, str(len(os.listdir(stage))))
            if os.path.isdir(a["bind"]):
                os.mkdir(source, 0o700)
            else:
                os.close(os.open(source, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            _mount(a["bind"], source, MS_BIND | MS_REC)
        out += ["--ro-bind" if a.get("ro", True) else "--bind", source, a["dest"]]
    return out


def launch(cfg: dict) -> None:
    die_with(cfg["grader_pid"])
    argv = stage_binds(cfg["argv"], cfg.get("stage", ""))
    for procs in cfg.get("cgroups", []):
        with open(procs, "w") as f:
            f.write("0")
    for name, value in cfg.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if cfg.get("uid") is not None:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
        if 0 in os.getresuid() or 0 in os.getresgid():
            raise SystemExit("could not drop privileges")
        die_with(cfg["grader_pid"])  # setuid cleared the parent-death signal
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.umask(0o077)
    os.chdir(cfg["cwd"])
    os.execve(argv[0], argv, cfg["env"])


def main():
    try:
        with open(sys.argv[1]) as f:
            cfg = json.load(f)
        launch(cfg)
    except BaseException as exc:  # noqa: BLE001 - report and stop; never run the kernel half-set-up
        sys.stderr.write("sandbox launch failed: %r %s\n" % (exc, getattr(exc, "filename", "") or ""))
        sys.stderr.flush()
        os._exit(121)


if __name__ == "__main__":
    main()
