"""Instructor commands: build, release, validate, collect, autograde, feedback, export.

Run as ``python -m grading COMMAND`` from the course folder (the Makefile wraps
the common ones).  Every command prints what it did and exits non-zero with a
message that says what to do when something is wrong.

One source per lesson
---------------------
``solutions/NN_name/NN_name.py`` is the hand-written lesson (jupytext "percent"
text: reviewable diffs).  ``build`` turns it into ``NN_name.ipynb`` beside it,
with deterministic cell ids and no outputs; if the ``.ipynb`` was edited more
recently (say, in JupyterLab) and differs, ``build`` updates the ``.py`` from it
instead, so no edit is lost.  ``release`` runs ``build`` and then nbgrader's
``generate_assignment`` to write the student copy into ``lessons/NN_name/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers._importorder import quiet_env

from .paths import CONFIG_DIR, Course, select_lessons

def _c() -> Course:
    return Course.current()

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3", "file_extension": ".py",
                 "mimetype": "text/x-python", "codemirror_mode": {"name": "ipython", "version": 3},
                 "nbconvert_exporter": "python"}


class CourseError(SystemExit):
    """A problem the instructor can fix; printed without a traceback."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


# ----------------------------------------------------------------------------- lessons


def lessons() -> list[str]:
    """Lesson ids (folder names under solutions/), in order."""
    return _c().lessons()


def resolve(lesson: str | None) -> list[str]:
    """``None``/``all`` → every lesson; ``01`` or ``01_intro...`` → that lesson."""
    try:
        return select_lessons(lessons(), lesson)
    except LookupError as exc:
        raise CourseError(str(exc)) from None


def source_py(lesson: str) -> Path:
    return _c().source_py(lesson)


def source_ipynb(lesson: str) -> Path:
    return _c().source_ipynb(lesson)


def release_ipynb(lesson: str) -> Path:
    return _c().release_ipynb(lesson)


def env() -> dict:
    """Environment for nbgrader/jupyter subprocesses: our config, quiet TensorFlow, safe import order."""
    e = dict(os.environ)
    # nbgrader shells out to `alembic` and `jupyter`: make the course's .venv come first on PATH.
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), e.get("PATH", "")])
    e["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(CONFIG_DIR), e.get("JUPYTER_CONFIG_PATH", "")]))
    e["DLSBS_COURSE_ROOT"] = str(_c().root)
    quiet_env(e)
    e.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    e.setdefault("MPLBACKEND", "agg")
    return e


def nbgrader(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    # `python -m nbgrader` with this interpreter: works without .venv/bin on PATH (no `nbgrader` script lookup)
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=_c().root, env=env(), text=True, capture_output=True)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise CourseError(f"`nbgrader {' '.join(args)}` failed:\n{tail}")
    if not quiet:
        for line in (proc.stdout + proc.stderr).splitlines():
            if "[ERROR]" in line or "[WARNING]" in line and "No nbgrader_config" not in line:
                print("   ", line)
    return proc


# ----------------------------------------------------------------------------- build


def _cell_id(cell, index: int, seen: set) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if grade_id and re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", grade_id):
        base = grade_id
    else:
        digest = hashlib.sha1((cell["cell_type"] + "\0" + cell["source"]).encode()).hexdigest()[:10]
        base = f"{cell['cell_type'][:2]}-{digest}"
    cid, n = base, 1
    while cid in seen:
        n += 1
        cid = f"{base}-{n}"[:64]
    seen.add(cid)
    return cid


def notebook_from_py(py: Path):
    """Read a jupytext percent file into a clean notebook: deterministic ids, no outputs, python3 kernel."""
    import jupytext
    import nbformat

    nb = jupytext.read(py, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO,
                                      "jupytext": {"formats": "ipynb,py:percent"}})
    seen: set = set()
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        cell["id"] = _cell_id(cell, i, seen)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def _write_nb(nb, path: Path):
    import nbformat

    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        return True
    return False


def _cells_key(nb):
    return [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True)) for c in nb.cells]


def build(lesson: str, verbose: bool = True) -> bool:
    """Sync ``NN.py`` and ``NN.ipynb`` in solutions/. Returns True if a file changed."""
    import jupytext
    import nbformat

    py, ipynb = source_py(lesson), source_ipynb(lesson)
    if not py.exists() and not ipynb.exists():
        raise CourseError(f"solutions/{lesson}/ has neither {py.name} nor {ipynb.name}")
    if not py.exists():  # notebook-only lesson: create its text twin
        jupytext.write(nbformat.read(ipynb, as_version=4), py, fmt="py:percent")
        if verbose:
            print(f"  wrote {py.relative_to(_c().root)} from the notebook")
    fresh = notebook_from_py(py)
    if ipynb.exists():
        try:
            current = nbformat.read(ipynb, as_version=4)
        except Exception as exc:
            raise CourseError(f"{ipynb.relative_to(_c().root)} is not a readable notebook ({exc}); "
                              f"delete it and rerun: it will be rebuilt from {py.name}") from None
        if _cells_key(current) != _cells_key(fresh) and ipynb.stat().st_mtime > py.stat().st_mtime + 1:
            # The notebook was edited after the text source: keep the notebook's edits.
            jupytext.write(current, py, fmt="py:percent")
            fresh = notebook_from_py(py)
            if verbose:
                print(f"  {ipynb.relative_to(_c().root)} was newer: updated {py.name} from it")
    changed = _write_nb(fresh, ipynb)
    if verbose and changed:
        print(f"  built {ipynb.relative_to(_c().root)}")
    return changed


# ----------------------------------------------------------------------------- release


def _postprocess_release(path: Path):
    """Drop instructor-only notebook metadata (jupytext pairing) from a generated student copy."""
    import nbformat

    for nb_path in path.glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        nb.metadata.pop("jupytext", None)
        _write_nb(nb, nb_path)


def generate(lesson: str, dest_root: Path | None = None, db: bool = True):
    """Run nbgrader generate_assignment for one lesson into lessons/ (or ``dest_root``)."""
    args = ["generate_assignment", lesson, "--force"]
    if dest_root is not None:
        args.append(f"--CourseDirectory.release_directory={dest_root}")
    if not db:
        args.append("--no-db")
    nbgrader(*args)
    out = (dest_root or _c().lessons_dir) / lesson
    if not out.is_dir():
        raise CourseError(f"nbgrader did not write {out}")
    _postprocess_release(out)
    return out


def release(lesson: str | None = None) -> None:
    for name in resolve(lesson):
        print(f"[{name}]")
        build(name)
        before = _snapshot(_c().lessons_dir / name)
        generate(name)
        after = _snapshot(_c().lessons_dir / name)
        print(f"  released lessons/{name}/ ({'changed' if before != after else 'unchanged'})")


def _snapshot(folder: Path) -> dict:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stale(lesson: str | None = None) -> list[str]:
    """Lessons whose committed release differs from a fresh one (nothing is written to lessons/)."""
    import nbformat

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in resolve(lesson):
            fresh = notebook_from_py(source_py(name))
            current = source_ipynb(name)
            if not current.exists() or _cells_key(fresh) != _cells_key(nbformat.read(current, as_version=4)):
                out.append(f"{name}: solutions/{name}/{name}.ipynb is out of sync with {name}.py")
                continue
            gen = generate(name, dest_root=Path(tmp), db=False)
            if _snapshot(gen) != _snapshot(_c().lessons_dir / name):
                out.append(f"{name}: lessons/{name}/ differs from what the source generates")
    return out


# ----------------------------------------------------------------------------- validate


_VALIDATE = """
import json, sys
from traitlets.config import Config
from nbgrader.validator import Validator
cfg = Config()
cfg.Execute.timeout = 300
cfg.Validator.invert = sys.argv[2] == "invert"
print("@@RESULT@@" + json.dumps(Validator(config=cfg).validate(sys.argv[1])))
"""


def validate_notebook(path: Path, invert: bool = False) -> dict:
    """Run nbgrader's Validator on one notebook in a fresh kernel; returns its result dict."""
    proc = subprocess.run([sys.executable, "-c", _VALIDATE, str(path), "invert" if invert else "normal"],
                          cwd=_c().root, env=env(), text=True, capture_output=True)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@")]
    if proc.returncode != 0 or not marker:
        raise CourseError(f"nbgrader could not validate {path}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(marker[-1][len("@@RESULT@@"):])


def validate(lesson: str | None = None, released: bool = False) -> bool:
    """Solutions must pass every test; released stubs must fail every graded test (``--invert``)."""
    ok = True
    for name in resolve(lesson):
        path = release_ipynb(name) if released else source_ipynb(name)
        result = validate_notebook(path, invert=released)
        problems = {k: v for k, v in result.items() if v}
        label = "every graded cell fails on its stub" if released else "solutions pass every test"
        if problems:
            ok = False
            short = {k: [c.get("raw_error", c.get("source", ""))[-600:] for c in v] for k, v in problems.items()}
            print(f"  {name}: NOT OK ({label}):\n{json.dumps(short, indent=1)[:4000]}")
        else:
            print(f"  {name}: ok ({label})")
    return ok


# ----------------------------------------------------------------------------- grade


def submitted_students(lesson: str) -> list[str]:
    submitted = _c().submitted
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / lesson).is_dir())


def ensure_gradebook(lesson: str):
    """The gradebook must know the lesson's graded cells before autograding: (re)generate quietly."""
    with tempfile.TemporaryDirectory() as tmp:
        nbgrader("generate_assignment", lesson, "--force", f"--CourseDirectory.release_directory={tmp}")


def autograde(lesson: str | None = None, student: str | None = None) -> None:
    for name in resolve(lesson):
        students = [student] if student else submitted_students(name)
        if not students:
            print(f"[{name}] no submissions in grading/submitted/*/{name}/")
            continue
        ensure_gradebook(name)
        print(f"[{name}] autograding {len(students)} submission(s)")
        for sid in students:
            proc = nbgrader("autograde", name, f"--student={sid}", "--force", check=False, quiet=True)
            state = "ok" if proc.returncode == 0 else "FAILED (see grading/autograded log above)"
            print(f"  {sid}: {state}")
            if proc.returncode != 0:
                print("\n".join((proc.stdout + proc.stderr).splitlines()[-10:]))


def feedback(lesson: str | None = None) -> None:
    """Feedback pages: from the sandboxed grader's results (with the manual scores and comments entered in
    Formgrader since), or, for lessons graded with stock ``autograde``, nbgrader's own."""
    from . import grader, report

    for name in resolve(lesson):
        if grader.all_results(name):
            report.regenerate_feedback(name)
        else:
            nbgrader("generate_feedback", name, "--force")
            print(f"[{name}] feedback in grading/feedback/<student>/{name}/")


def scores(lesson: str) -> dict:
    """{student: (score, max_score)} from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(_c().db_url) as gb:
        for sub in gb.assignment_submissions(lesson):
            out[sub.student.id] = (sub.score, sub.max_score)
    return out


def export(path: str = "grading/grades.csv") -> Path:
    root = _c().root
    dest = (root / path) if not os.path.isabs(path) else Path(path)
    nbgrader("export", f"--to={dest}")
    print(f"grades written to {dest.relative_to(root) if dest.is_relative_to(root) else dest}")
    return dest


# ----------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    """``python -m grading``: see :mod:`grading.cli`."""
    from .cli import main as cli_main

    return cli_main(argv)
