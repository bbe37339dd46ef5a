"""``python -m grading collect INCOMING LESSON``: copy downloaded submissions into ``grading/submitted/``.

``INCOMING`` holds one folder per student (``alice/01_intro....ipynb``, or nbgrader's
``alice/01_intro.../01_intro....ipynb``; every regular file in it is collected, so data files a
notebook reads come along) or files named ``<student>.ipynb`` / ``<student>_<lesson>.ipynb``.
What arrives there is written by students, so it is read defensively:

* **Links are never followed.**  Folders are opened with ``O_NOFOLLOW`` relative to their parent's
  descriptor, files with ``O_NOFOLLOW | O_NONBLOCK`` and checked to be regular files after opening,
  so a link (to ``/etc/shadow``, to the instructor's solutions, as a file or a folder) — or one
  swapped in while collect runs — is never read.  It becomes a note on that submission.
* **Student ids are validated.**  A name is turned into an id as before (characters other than
  letters, digits, ``_ . -`` become ``_``; leading/trailing ``_ . -`` dropped; at most 64).  A name
  that is not UTF-8 or leaves no id is skipped with a message naming it and saying what is allowed.
* **Ids that collide are refused**: when two entries give the same id (``v_alice`` and
  ``v_alice~``, ``Alice`` and ``alice``, a folder and a file), the one whose name *is* the id is
  collected and the others are refused; if none is, all are.  An id first collected from another
  name (kept in ``grading/.collect/<lesson>.json``) is never replaced by a different name either.
* **One bad entry fails only itself**: a file name that is not UTF-8, a non-regular file, a file
  over the size limit — each is a note on its submission; the rest is collected.
* ``grading/submitted/`` (and ``grading/archive/``, the manifest) is readable only by the
  instructor: folders 0700, files 0600.  ``INCOMING`` is never changed.  A changed resubmission
  archives the earlier copy under ``grading/archive/<student>/<lesson>/<time>/`` first.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from . import course
from .paths import Course
from .results import shown

ID_RULE = ("1-64 characters: letters, digits, '_', '.', '-', starting and ending with a letter or digit "
           "(other characters become '_')")
MAX_FILES = 500              # files in one submission
MAX_FILE_BYTES = 100 << 20   # one file
MAX_TOTAL_BYTES = 200 << 20  # one submission
MAX_DEPTH = 12
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__", ".git"}
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def student_id(raw: str) -> str:
    """The id a name becomes (as collect always did): '' if nothing usable is left."""
    sid = re.sub(r"[^A-Za-z0-9_.-]+", "_", unicodedata.normalize("NFC", raw)).strip("._-")
    return sid[:64].rstrip("._-")


def _name(entry: bytes) -> str | None:
    try:
        return entry.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class Entry:
    """One student's submission as found in INCOMING, read into memory (never a link)."""
    raw: str                                    # the name it came from (folder name, or file name's student part)
    sid: str
    label: str = ""                             # the entry in INCOMING ("alice/", "alice_01.ipynb")
    timestamp: bytes | None = None              # nbgrader's timestamp.txt, if the student's folder had one
    files: dict = field(default_factory=dict)   # relative posix path -> bytes
    notes: list = field(default_factory=list)
    total: int = 0


def _read_file(dir_fd: int, name: bytes, rel: str, entry: Entry, label: str) -> bytes | None:
    """Read one regular file without following links; None (with a note) for anything else."""
    try:
        fd = os.open(name, _OPEN_FILE, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link (perhaps swapped in after the folder was listed)
            entry.notes.append(f"{label}{rel} is a symbolic link: not collected (links are never followed)")
        else:
            entry.notes.append(f"{label}{rel} could not be read ({exc.strerror}): not collected")
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            entry.notes.append(f"{label}{rel} is not a regular file: not collected")
            return None
        if st.st_size > MAX_FILE_BYTES or entry.total + st.st_size > MAX_TOTAL_BYTES:
            entry.notes.append(f"{label}{rel} is too large ({st.st_size / 2**20:.1f} MB; limits "
                               f"{MAX_FILE_BYTES >> 20} MB a file, {MAX_TOTAL_BYTES >> 20} MB a submission): not collected")
            return None
        chunks, left = [], st.st_size + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > st.st_size:  # grew while being read
            entry.notes.append(f"{label}{rel} changed while it was collected: not collected")
            return None
        entry.total += len(data)
        return data
    finally:
        os.close(fd)


def _walk(dir_fd: int, prefix: str, entry: Entry, label: str, depth: int = 0):
    """Collect every regular file under ``dir_fd`` into ``entry`` (no link is ever followed)."""
    if depth > MAX_DEPTH:
        entry.notes.append(f"{label}{prefix} is nested too deeply: not collected")
        return
    with os.scandir(dir_fd) as it:
        names = sorted(os.fsencode(e.name) for e in it)
    for raw in names:
        name = _name(raw)
        if name is None:
            entry.notes.append(f"{label}{prefix}{shown(raw)}: the file name is not valid UTF-8: not collected "
                               "(rename it with letters, digits, '_', '.', '-')")
            continue
        rel = f"{prefix}{name}"
        try:
            st = os.stat(raw, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(st.st_mode):
            entry.notes.append(f"{label}{rel} is a symbolic link: not collected (links are never followed)")
        elif stat.S_ISDIR(st.st_mode):
            if name in SKIP_DIRS:
                continue
            try:
                sub = os.open(raw, _OPEN_DIR, dir_fd=dir_fd)
            except OSError as exc:
                entry.notes.append(f"{label}{rel}/ could not be opened ({exc.strerror}): not collected")
                continue
            try:
                _walk(sub, rel + "/", entry, label, depth + 1)
            finally:
                os.close(sub)
        elif len(entry.files) >= MAX_FILES:
            entry.notes.append(f"{label}{rel}: more than {MAX_FILES} files in the submission: not collected")
        else:
            data = _read_file(dir_fd, raw, rel, entry, label)
            if data is not None:
                entry.files[rel] = data


def _flat_student(stem: str, lesson: str) -> str | None:
    for suffix in (f"_{lesson}", f"-{lesson}", f"__{lesson}"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return None if stem == lesson else stem


def scan(incoming: Path, lesson: str) -> tuple[list[Entry], list[str]]:
    """Every submission in ``incoming`` (read, not yet checked for collisions) and the skip messages."""
    entries, skipped = [], []
    top = os.open(incoming, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the instructor's own argument
    try:
        with os.scandir(top) as it:
            names = sorted(os.fsencode(e.name) for e in it)
        for raw in names:
            name = _name(raw)
            if name is None:
                skipped.append(f"{shown(raw)}: the name is not valid UTF-8; rename it to the student's id ({ID_RULE})")
                continue
            if name.startswith(".") or name in SKIP_DIRS:
                continue
            st = os.stat(raw, dir_fd=top, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                skipped.append(f"{name}: a symbolic link, not collected (links are never followed)")
                continue
            if stat.S_ISDIR(st.st_mode):
                sid, label = student_id(name), f"{name}/"
                if not sid:
                    skipped.append(f"{name}/: {name!r} is not a usable student id ({ID_RULE})")
                    continue
                entry = Entry(name, sid, label)
                fd = os.open(raw, _OPEN_DIR, dir_fd=top)
                try:
                    try:  # nbgrader's layout: <student>/<lesson>/...
                        inner = os.open(lesson, _OPEN_DIR, dir_fd=fd)
                    except OSError:
                        inner = None
                    if inner is not None:
                        label += f"{lesson}/"
                        try:
                            _walk(inner, "", entry, label)
                        finally:
                            os.close(inner)
                    else:
                        _walk(fd, "", entry, label)
                finally:
                    os.close(fd)
                entry.timestamp = entry.files.pop("timestamp.txt", None)
                if not any(r.endswith(".ipynb") for r in entry.files):
                    why = "; ".join(entry.notes[:3])
                    skipped.append(f"{name}/: no notebook (.ipynb) in it" + (f" ({why})" if why else ""))
                else:
                    entries.append(entry)
                continue
            if not name.endswith(".ipynb"):
                skipped.append(f"{name}: not a notebook (.ipynb) or a student folder")
                continue
            raw_sid = _flat_student(name[: -len(".ipynb")], lesson)
            if raw_sid is None:
                skipped.append(f"{name}: cannot tell whose it is (name it <student>_{lesson}.ipynb "
                               "or put it in a <student>/ folder)")
                continue
            sid = student_id(raw_sid)
            if not sid:
                skipped.append(f"{name}: {raw_sid!r} is not a usable student id ({ID_RULE})")
                continue
            entry = Entry(raw_sid, sid, name)
            data = _read_file(top, raw, name, entry, "")
            if data is None:
                skipped.append(f"{name}: " + "; ".join(entry.notes))
                continue
            entry.files[f"{lesson}.ipynb"] = data
            entries.append(entry)
    finally:
        os.close(top)
    return entries, skipped


# ----------------------------------------------------------------------------- writing


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, data: bytes):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _current(dest: Path) -> dict | None:
    if not dest.is_dir():
        return None
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in sorted(dest.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != "timestamp.txt"}


def _tighten(root: Path):
    """Folders 0700, files 0600 under ``root`` (also for copies written by older versions)."""
    if not root.exists():
        return
    os.chmod(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o600)


def manifest_path(lesson: str) -> Path:
    return Course.current().grading / ".collect" / f"{lesson}.json"


def load_manifest(lesson: str) -> dict:
    try:
        return json.loads(manifest_path(lesson).read_text())
    except (OSError, ValueError):
        return {}


def collect_notes(lesson: str, sid: str) -> list[str]:
    """The notes collect recorded on one submission (links not followed, files not collected, ...)."""
    return list(load_manifest(lesson).get(sid, {}).get("notes", []))


def _save_manifest(lesson: str, data: dict):
    path = manifest_path(lesson)
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    _write_private(tmp, json.dumps(data, indent=1, sort_keys=True).encode())
    os.replace(tmp, path)


def _refuse_collisions(entries: list[Entry], manifest: dict) -> tuple[list[Entry], list[str]]:
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.sid.casefold(), []).append(e)
    known = {sid.casefold(): (sid, rec.get("from", sid)) for sid, rec in manifest.items()}
    keep, refused = [], []
    for key, group in groups.items():
        exact = [e for e in group if e.raw == e.sid]
        winner = exact[0] if len(exact) == 1 else (group[0] if len(group) == 1 else None)
        if key in known:
            old_sid, old_raw = known[key]
            winner = next((e for e in group if e.raw == old_raw and e.sid == old_sid), None)
            for e in group:
                if e is not winner:
                    refused.append(f"{e.label}: refused: its student id {e.sid!r} is already used by the submissions "
                                   f"collected from {old_raw!r}; names must give distinct ids ({ID_RULE})")
        else:
            names = ", ".join(repr(e.label) for e in group)
            for e in group:
                if e is not winner:
                    refused.append(f"{e.label}: refused: {names} all give the student id {e.sid!r}"
                                   + (f" (kept {winner.label!r}, whose name is the id)" if winner else "")
                                   + f"; rename it so each student has a distinct id ({ID_RULE})")
        if winner is not None:
            keep.append(winner)
    return keep, refused


def collect(incoming: str, lesson: str) -> dict:
    """Copy the submissions in ``incoming`` into ``grading/submitted/<student>/<lesson>/``.

    Returns ``{"new": [ids], "updated": [ids], "unchanged": [ids], "skipped": [messages],
    "notes": {id: [notes]}}`` and prints a summary.  See the module docstring for the rules.
    """
    [name] = course.resolve(lesson)
    src = Path(incoming)
    if not src.is_dir():
        raise course.CourseError(f"{incoming} is not a folder of submitted notebooks")
    entries, skipped = scan(src, name)
    manifest = load_manifest(name)
    entries, refused = _refuse_collisions(entries, manifest)
    skipped += refused
    summary = {"new": [], "updated": [], "unchanged": [], "skipped": skipped, "notes": {}}
    here = Course.current()
    submitted, archive = _private_dir(here.submitted), _private_dir(here.archive)
    _tighten(submitted)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for e in sorted(entries, key=lambda e: e.sid):
        notes = list(dict.fromkeys(e.notes))
        if e.raw != e.sid:
            notes.insert(0, f"collected from {e.raw!r} as student id {e.sid!r}")
        dest = submitted / e.sid / name
        current = _current(dest)
        if current == e.files:
            summary["unchanged"].append(e.sid)
        else:
            stage = _private_dir(submitted / e.sid) / f".{name}.collecting-{os.getpid()}"
            if stage.exists():
                shutil.rmtree(stage)
            _private_dir(stage)
            for rel, data in e.files.items():
                _private_dir((stage / rel).parent)
                _write_private(stage / rel, data)
            _write_private(stage / "timestamp.txt", e.timestamp or stamp.encode())
            if current is not None:
                keep = _private_dir(archive / e.sid / name) / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
                n = 1
                while keep.exists():
                    n += 1
                    keep = keep.with_name(f"{keep.name.split('.')[0]}.{n}")
                shutil.move(dest, keep)
                summary["updated"].append(e.sid)
            else:
                summary["new"].append(e.sid)
            os.rename(stage, dest)
        manifest[e.sid] = {"from": e.raw, "notes": notes, "collected": stamp}
        if notes:
            summary["notes"][e.sid] = notes
    _tighten(archive)
    _save_manifest(name, manifest)
    for k in ("new", "updated", "unchanged", "skipped"):
        if summary[k]:
            print(f"  {k}: {len(summary[k])}" + ("" if k != "skipped" else "\n    " + "\n    ".join(summary[k])))
    for sid, notes in summary["notes"].items():
        print(f"  note on {sid}: " + "; ".join(notes))
    return summary
