"""The class hub: one JupyterHub on one Linux server, every student a real system user.

    sudo make hub ROSTER=roster.csv INSTRUCTORS=teacher     # = python -m grading.hub setup ... && start

Layout of the hub's state (``HUB_STATE``, default ``/srv/dl-side-by-side``; it survives restarts):

    hub/          0700 root   jupyterhub.sqlite, cookie secret, class.json, passwords.csv, hub.log
    exchange/     nbgrader's filesystem exchange (``<course>/inbound 0733``, ``outbound``, ``feedback 0711``)
    course/       2751 root:dlsbs-instructors  the instructor's nbgrader course directory
      lessons/    2755  the released student copies (what students may see anyway)
      solutions/  2770  instructor source (answers, hidden tests): instructors only
      grading/    2770  submitted, autograded, feedback, gradebook.db, reports: instructors only

Students (group ``dlsbs-students``) get a JupyterLab server running as themselves in their own home
(``/home/<id>``, 0700) with the course environment, nbgrader's Assignment List and Validate, and no
instructor tools.  Instructors (group ``dlsbs-instructors``) get the Formgrader on ``course/``.
"""
from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = Path(os.environ.get("DLSBS_VENV") or REPO / ".venv")
CHP = HERE / "node_modules" / ".bin" / "configurable-http-proxy"   # pinned in package-lock.json (make hub-deps)
COURSE_ID = "dl-side-by-side"          # = c.CourseDirectory.course_id in grading/nbgrader_config.py (tested)
STUDENTS_GROUP = "dlsbs-students"
INSTRUCTORS_GROUP = "dlsbs-instructors"
JUPYTER_DIR = HERE / "jupyter"        # per-role Jupyter config dirs: student/, instructor/, common/
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")


class HubError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"error: {message}")


def state_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("HUB_STATE") or "/srv/dl-side-by-side").resolve()


class State:
    """Paths under the hub's state directory."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = state_dir(root)
        self.hub = self.root / "hub"
        self.exchange = self.root / "exchange"
        self.course = self.root / "course"
        self.class_json = self.hub / "class.json"
        self.passwords = self.hub / "passwords.csv"

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def load_class(self) -> dict:
        if not self.class_json.exists():
            raise HubError(f"{self.class_json} does not exist: run `sudo make hub ROSTER=roster.csv "
                           f"INSTRUCTORS=you` (or python -m grading.hub setup) first")
        return json.loads(self.class_json.read_text())


# ----------------------------------------------------------------------------- roster


def read_roster(path: str | os.PathLike) -> list[dict]:
    """``id,name`` rows (a header row ``id,name`` is optional). Ids become system user names."""
    path = Path(path)
    if not path.is_file():
        raise HubError(f"no roster at {path}: write a CSV with one student per line, `id,name` "
                       f"(e.g. `alice,Alice Smith`)")
    rows, problems, seen = [], [], set()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            sid = row[0].strip()
            name = (row[1] if len(row) > 1 else "").strip()
            if n == 1 and sid.lower() == "id":
                continue
            if not _USER_RE.match(sid):
                problems.append(f"line {n}: {sid!r} is not a usable account name (lower-case letters, digits, "
                                f"_ or -, starting with a letter, at most 31 characters)")
            elif sid in seen:
                problems.append(f"line {n}: {sid!r} appears twice")
            seen.add(sid)
            rows.append({"id": sid, "name": re.sub(r"[:,\n]", " ", name)})
    if problems:
        raise HubError(f"{path} has problems (nothing was changed):\n  " + "\n  ".join(problems))
    if not rows:
        raise HubError(f"{path} lists no students")
    return rows


# ----------------------------------------------------------------------------- system users


def _run(*cmd: str, input: str | None = None):
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input)
    if proc.returncode != 0:
        raise HubError(f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def _ensure_group(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run("groupadd", "--system", name)
        return grp.getgrnam(name).gr_gid


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _members(group: str) -> set[str]:
    try:
        return set(grp.getgrnam(group).gr_mem)
    except KeyError:
        return set()


def ensure_user(uid_name: str, full_name: str, group: str, passwords: dict) -> bool:
    """Create the system user (home 0700, in ``group``) unless it exists; returns True if created.

    An existing account that is not one of the class's (not in either course group) is refused,
    so a roster line ``root`` or ``www-data`` can never hand out a system account.
    """
    created = False
    if user_exists(uid_name):
        if uid_name not in _members(STUDENTS_GROUP) | _members(INSTRUCTORS_GROUP):
            raise HubError(f"a system account {uid_name!r} already exists and is not one of this class's: "
                           f"rename it in the roster")
        if uid_name not in _members(group):
            _run("usermod", "-a", "-G", group, uid_name)
    else:
        _run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", full_name or uid_name,
             "--groups", group, uid_name)
        created = True
    home = Path(pwd.getpwnam(uid_name).pw_dir)
    os.chmod(home, 0o700)
    if uid_name not in passwords:
        passwords[uid_name] = secrets.token_urlsafe(9)
        _run("chpasswd", input=f"{uid_name}:{passwords[uid_name]}\n")
    return created


def remove_users(names) -> None:
    """Delete class accounts and their homes (used by the tests, and by `python -m grading.hub remove-users`)."""
    import time

    for name in names:
        if not (user_exists(name) and name in _members(STUDENTS_GROUP) | _members(INSTRUCTORS_GROUP)):
            continue
        for _ in range(40):   # userdel refuses while the account has processes: kill, wait, retry
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            if subprocess.run(["userdel", "--remove", name], capture_output=True).returncode in (0, 6) \
                    and not user_exists(name):
                break
            time.sleep(0.25)
        if user_exists(name):
            print(f"warning: could not remove the account {name!r}: `userdel --remove {name}`", file=sys.stderr)


def _read_passwords(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {row[0]: row[1] for row in csv.reader(fh) if len(row) >= 2 and row[0] != "id"}


def _write_passwords(path: Path, passwords: dict):
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "password"])
        for k in sorted(passwords):
            w.writerow([k, passwords[k]])
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- files and permissions


def _chown(path: Path, gid: int, mode: int):
    os.chown(path, 0, gid)
    os.chmod(path, mode)


def fix_course_permissions(st: State) -> None:
    """Everything under course/: group dlsbs-instructors; lessons/ readable by all, the rest not.

    Run after every root command that writes into course/ (grading as root creates root-owned files
    the instructors' Formgrader must still be able to write).
    """
    gid = grp.getgrnam(INSTRUCTORS_GROUP).gr_gid
    _chown(st.course, gid, 0o2751)
    for top in sorted(st.course.iterdir()):
        public = top.name == "lessons"
        for dirpath, dirnames, filenames in os.walk(top):
            d = Path(dirpath)
            os.chown(d, -1, gid)
            os.chmod(d, 0o2775 if public else 0o2770)
            for f in filenames:
                p = d / f
                if p.is_symlink():
                    continue
                os.chown(p, -1, gid)
                mode = p.stat().st_mode & 0o7777
                os.chmod(p, (mode | 0o660 | (0o004 if public else 0)) & (0o7777 if public else 0o7770))
        if top.is_file():
            os.chown(top, -1, gid)
            os.chmod(top, 0o660)


# Paths in the repository students must not read (the venv, helpers/, lessons/ and grading/hub/ stay
# readable: every student's server runs the course environment from here).
REPO_PRIVATE = ("solutions", ".git", "tests", "dist", "grading/submitted", "grading/autograded",
                "grading/feedback", "grading/reports", "grading/archive", "grading/exchange",
                "grading/gradebook.db", "grading/grades.csv", "grading/solution", "grading/.grader-cache")


def lock_repo(repo: Path = REPO) -> list[str]:
    """Make the repository's instructor-only parts unreadable to students (group: instructors)."""
    gid = grp.getgrnam(INSTRUCTORS_GROUP).gr_gid
    locked = []
    for rel in REPO_PRIVATE:
        p = repo / rel
        if p.exists():
            os.chown(p, -1, gid)
            os.chmod(p, (p.stat().st_mode & 0o7770) | (0o050 if p.is_dir() else 0o040))
            locked.append(rel)
    return locked


def closed_parent(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot pass through (None: all open)."""
    for parent in [*reversed(path.parents)] + ([path] if path.is_dir() else []):
        if not parent.stat().st_mode & 0o001:
            return parent
    return None


def check_reachable(path: Path) -> None:
    """Students' servers run from the course's .venv: every parent folder must let them through."""
    closed = closed_parent(path)
    if closed:
        raise HubError(f"{closed} is closed to other users (mode {oct(closed.stat().st_mode & 0o777)}), "
                       f"so students' servers cannot use {path}. Put the course somewhere open, e.g. "
                       f"`git clone ... /opt/dl-side-by-side`, or `chmod o+x {closed}`")


def student_python(st: State) -> Path:
    """The Python every user's server runs: the course .venv's, if other users can execute it.

    A .venv made from a Python under a private folder (pyenv in /root, say) cannot be run by the
    students' accounts.  Then the hub copies that interpreter (without its site-packages) to
    ``HUB_STATE/python`` and makes ``HUB_STATE/runtime``: a venv of the copy whose site-packages
    load the course .venv's packages, so nothing is installed twice.
    """
    real = Path(os.path.realpath(VENV / "bin" / "python"))
    if closed_parent(real) is None:
        return VENV / "bin" / "python"
    # The same interpreter the .venv was made from, copied where students can run it (its standard
    # library must match the one the packages were installed with: Debian's 3.11.2 under a 3.11.7
    # .venv breaks soupsieve, hence nbconvert's HTML, hence the Formgrader's grading page).
    base = Path(sys.base_prefix) if Path(sys.prefix) == VENV.resolve() else real.parent.parent
    system = st.root / "python" / "bin" / real.name
    if not system.exists():
        ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        shutil.copytree(base, st.root / "python", symlinks=True,
                        ignore=lambda d, names: [n for n in names if Path(d).name == "site-packages"
                                                 or (Path(d).name == ver and n in ("test", "idlelib"))])
        (st.root / "python" / "lib" / ver / "site-packages").mkdir(exist_ok=True)
    if closed_parent(system) is not None:
        raise HubError(f"cannot give students a Python: {system} is not reachable")
    runtime = st.root / "runtime"
    py = runtime / "bin" / "python"
    if not py.exists():
        _run(str(system), "-m", "venv", "--without-pip", str(runtime))
    site = sorted((VENV / "lib").glob("python3.*/site-packages"))[0]
    own = sorted((runtime / "lib").glob("python3.*/site-packages"))[0]
    (own / "dlsbs_course_venv.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    # Jupyter finds its config (etc/jupyter) and data (share/jupyter: JupyterLab, extensions) by sys.prefix
    for rel in ("etc/jupyter", "share/jupyter"):
        link, target = runtime / rel, VENV / rel
        if target.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists():
                shutil.rmtree(link)
            link.symlink_to(target)
    for top in (runtime, st.root / "python"):
        for d in [top, *top.rglob("*")]:
            if d.is_dir() and not d.is_symlink():
                os.chmod(d, 0o755)
    check_reachable(site)
    return py


def sync_course(st: State, repo: Path = REPO) -> None:
    """Copy the repository's lessons/ and solutions/ into the hub's course directory (grading/ untouched)."""
    for sub in ("solutions", "lessons"):
        src = repo / sub
        dest = st.course / sub
        for path in sorted(src.rglob("*")):
            if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
                continue
            out = dest / path.relative_to(src)
            if path.is_dir():
                out.mkdir(parents=True, exist_ok=True)
            elif not out.exists() or out.read_bytes() != path.read_bytes():
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
    (st.course / "grading").mkdir(exist_ok=True)


def setup(roster: str | os.PathLike, instructors: list[str], state: str | os.PathLike | None = None,
          lock: bool = True) -> dict:
    """Accounts, state folders, the course directory; idempotent (rerun after editing the roster)."""
    if os.geteuid() != 0:
        raise HubError("the hub creates one system user per student: run it as root (sudo make hub ...)")
    st = State(state)
    students = read_roster(roster)
    instructors = [i.strip() for i in instructors if i.strip()]
    if not instructors:
        raise HubError("name at least one instructor account: INSTRUCTORS=teacher (comma-separated)")
    bad = [i for i in instructors if not _USER_RE.match(i)]
    if bad:
        raise HubError(f"not usable as account names: {bad}")
    clash = sorted({s['id'] for s in students} & set(instructors))
    if clash:
        raise HubError(f"{clash} are both in the roster and instructors")
    check_reachable(VENV)
    st.root.mkdir(parents=True, exist_ok=True)
    os.chmod(st.root, 0o755)
    check_reachable(st.root)          # students' servers reach the exchange (and maybe the runtime) here
    python = student_python(st)
    _ensure_group(STUDENTS_GROUP)
    _ensure_group(INSTRUCTORS_GROUP)
    for d, mode in ((st.root, 0o755), (st.hub, 0o700)):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, mode)
    passwords = _read_passwords(st.passwords)
    created = []
    for s in students:
        if ensure_user(s["id"], s["name"], STUDENTS_GROUP, passwords):
            created.append(s["id"])
    for i in instructors:
        if ensure_user(i, i, INSTRUCTORS_GROUP, passwords):
            created.append(i)
    _write_passwords(st.passwords, passwords)
    # The exchange: made here (by root) so no student can create the course folder first.
    from nbgrader.exchange.default.exchange import Exchange  # noqa: F401 - the exchange we use
    # nbgrader insists on a world-writable exchange root (its ensure_root); sticky like /tmp, so nobody
    # can remove or rename what someone else made there, and the course folder inside is root's.
    st.exchange.mkdir(exist_ok=True)
    os.chmod(st.exchange, 0o1777)
    course_x = st.exchange / COURSE_ID
    for d, mode in ((course_x, 0o755), (course_x / "outbound", 0o755), (course_x / "inbound", 0o2733),
                    (course_x / "feedback", 0o711)):
        d.mkdir(exist_ok=True)
        os.chown(d, 0, grp.getgrnam(INSTRUCTORS_GROUP).gr_gid)
        os.chmod(d, mode)
    st.course.mkdir(exist_ok=True)
    sync_course(st)
    fix_course_permissions(st)
    locked = lock_repo() if lock else []
    info = {"course_id": COURSE_ID, "students": students, "instructors": instructors,
            "repo": str(REPO), "venv": str(VENV), "python": str(python)}
    st.class_json.write_text(json.dumps(info, indent=2) + "\n")
    os.chmod(st.class_json, 0o600)
    return {"state": str(st.root), "created": created, "students": len(students), "instructors": instructors,
            "locked": locked, "passwords": str(st.passwords)}


def chp_command() -> list[str]:
    if not CHP.exists():
        raise HubError(f"{CHP} is missing: run `make hub-deps` (npm ci in grading/hub/)")
    return [str(CHP)]
