"""The student copy: a self-contained folder (and tarball) with no answers in it.

    python -m grading.bundle [--out dist]      # or: make student-bundle

writes ``dist/dl-side-by-side-student/`` and ``dist/dl-side-by-side-student.tar.gz``:

    lessons/NN_name/NN_name.ipynb   the released student copies (from lessons/, as committed)
    helpers/                        the helper package the lessons import
    pyproject.toml                  installs only ``helpers`` (no grader)
    requirements.lock               the course's pinned environment
    jupyter/                        JupyterLab config: no Formgrader, no Create Assignment, no news pop-up
    Makefile                        ``make lab`` (venv from the lock on first use)
    README.md                       how to start, how to hand in

It never contains ``solutions/``, the grader (``grading/``), hidden tests or the instructor's UI.
Before the tarball is written every file is scanned for instructor material (``scan``): the
solution code between ``### BEGIN SOLUTION``/``### END SOLUTION`` of every instructor notebook,
hidden-test source, nbgrader's markers, instructor-only paths.  A leak stops the build.
The same scan checks what the hub releases to students (``grading.exchange``).
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

from .paths import HIDDEN_BEGIN, HIDDEN_END, REPO as ROOT

NAME = "dl-side-by-side-student"

_SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
_HIDDEN = re.compile(re.escape(HIDDEN_BEGIN) + r"\n(.*?)" + re.escape(HIDDEN_END), re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Paths no student copy may hold (relative parts); the formgrader's own files included.
FORBIDDEN_PARTS = {"solutions", "grading", "gradebook.db", "autograded", "submitted", "feedback_src",
                   "nbgrader_config.py"}

# nbgrader's JupyterLab plugins an instructor uses; students get the Assignment List and Validate only.
INSTRUCTOR_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


class LeakError(SystemExit):
    def __init__(self, leaks: list[str]):
        self.leaks = leaks
        super().__init__("error: instructor material found in the student copy:\n  " + "\n  ".join(leaks[:20])
                         + "\nNothing was packed. Take the answers out of the file(s) named above (lessons/ "
                         "must come from `make release`; helpers/ is installed for every student, so it "
                         "must not hold an exercise's answer).")


# ----------------------------------------------------------------------------- what is secret


def _significant(text: str) -> list[str]:
    """Stripped lines that carry code or prose: no blanks, comments or bare imports."""
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#") or re.match(r"^(import|from)\s+\S+(\s+import\s+.*)?$", ln):
            continue
        out.append(ln)
    return out


class Secrets:
    """What counts as instructor material, taken from every instructor notebook in ``solutions/``.

    * ``lines``: single answer / hidden-test lines long enough (>= 40 characters) to be evidence alone;
    * ``pairs``: two consecutive lines of one answer or hidden-test block (each >= 12 characters):
      a copied block shows up as such a pair even when each line alone is common;

    in both cases only lines the course does not show openly anywhere (in any lesson's cells
    outside answers and hidden tests: a demo that an exercise mirrors is public).
    """

    def __init__(self, solutions: Path | None = None):
        import nbformat

        solutions = solutions or ROOT / "solutions"
        blocks, public = [], []
        for path in sorted(solutions.glob("*/*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for c in nb.cells:
                solution_cell = c.get("metadata", {}).get("nbgrader", {}).get("solution")
                blocks += [b for b in _SOLUTION.findall(c.source)] + [b for b in _HIDDEN.findall(c.source)]
                if not solution_cell:
                    public.append(_SOLUTION.sub("", _HIDDEN.sub("", c.source)))
        public_lines = set(_significant("\n".join(public)))
        self.lines: set[str] = set()
        self.pairs: set[tuple[str, str]] = set()
        for block in blocks:
            lines = _significant(block)
            self.lines.update(ln for ln in lines if len(ln) >= 40 and ln not in public_lines)
            for a, b in zip(lines, lines[1:]):
                if len(a) >= 12 and len(b) >= 12 and not (a in public_lines and b in public_lines):
                    self.pairs.add((a, b))

    def __len__(self):
        return len(self.lines) + len(self.pairs)

    def found_in(self, text: str) -> list[str]:
        lines = _significant(text)
        present = set(lines)
        hits = [f"answer/hidden-test line {ln[:70]!r}" for ln in sorted(self.lines & present)]
        hits += [f"answer/hidden-test lines {a[:40]!r} / {b[:40]!r}"
                 for a, b in sorted(self.pairs & set(zip(lines, lines[1:])))]
        return hits


def _texts(path: Path, data: bytes) -> list[str]:
    """The text a student could read in one file (notebooks: cell sources and outputs, unescaped)."""
    text = data.decode("utf-8", errors="replace")
    texts = [text]
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(text)
            for cell in nb.get("cells", []):
                src = cell.get("source", "")
                texts.append("".join(src) if isinstance(src, list) else src)
                for out in cell.get("outputs", []):
                    for value in (out.get("data") or {}).values():
                        texts.append("".join(value) if isinstance(value, list) else str(value))
                    text_out = out.get("text", "")
                    texts.append("".join(text_out) if isinstance(text_out, list) else text_out)
        except ValueError:
            pass
    return texts


def scan(folder: Path, secret: Secrets | None = None) -> list[str]:
    """Every leak of instructor material in ``folder`` (empty list: clean). Tarballs are opened too."""
    secret = Secrets() if secret is None else secret
    leaks = []
    folder = Path(folder)
    paths = [folder] if folder.is_file() else sorted(folder.rglob("*"))
    for path in paths:
        rel = path.relative_to(folder.parent if folder.is_file() else folder)
        if set(rel.parts) & FORBIDDEN_PARTS:
            leaks.append(f"{rel}: instructor-only path")
        if not path.is_file():
            continue
        if path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if set(Path(member.name).parts) & FORBIDDEN_PARTS:
                        leaks.append(f"{rel}!{member.name}: instructor-only path")
                    if member.isfile():
                        data = tar.extractfile(member).read()
                        leaks += [f"{rel}!{member.name}: {w}" for w in _leaks_in(Path(member.name), data, secret)]
            continue
        leaks += [f"{rel}: {what}" for what in _leaks_in(rel, path.read_bytes(), secret)]
    return leaks


def _leaks_in(rel: Path, data: bytes, secret: Secrets) -> list[str]:
    texts = _texts(rel, data)
    joined = "\n".join(texts)
    found = [f"nbgrader marker {m!r}" for m in MARKERS if m in joined]
    for text in texts:
        found += [h for h in secret.found_in(text) if h not in found]
    return found


# ----------------------------------------------------------------------------- the bundle


STUDENT_MAKEFILE = r"""# Deep Learning, Side by Side: the student copy.
#   make lab      JupyterLab on lessons/ (installs .venv from requirements.lock on first use)
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
export JUPYTER_CONFIG_PATH := $(CURDIR)/jupyter
export TF_CPP_MIN_LOG_LEVEL := 3
# The install stamp holds a hash of what was installed: a fresh copy installs once, then starts in seconds.
WANT   := $(shell cat requirements.lock pyproject.toml | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)
HAVE   := $(shell cat $(VENV)/.installed 2>/dev/null)

.PHONY: install lab doctor
install:
ifneq ($(WANT),$(HAVE))
	@$(PYTHON) -c 'import sys; v=sys.version_info[:2]; sys.exit(0 if v==(3,11) else "The course needs Python 3.11 (found %d.%d). Install python3.11, or run: make PYTHON=/path/to/python3.11 lab" % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the course environment into $(VENV) (first time: ~3 minutes, ~8 GB)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@echo $(WANT) > $(VENV)/.installed
endif

lab: install
	@FLAGS=""; [ -n "$$DISPLAY" ] || [ "$$(uname)" = Darwin ] || FLAGS="--no-browser"; \
	[ "$$(id -u)" != 0 ] || FLAGS="$$FLAGS --allow-root"; \
	echo "Starting JupyterLab on lessons/: open the http://127.0.0.1:$(PORT)/lab/tree/lessons?token=... link printed below."; \
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(PORT) --ServerApp.ip=127.0.0.1 \
	  --LabApp.default_url=/lab/tree/lessons $$FLAGS

doctor: install
	$(BIN)/python -m helpers.env
"""

STUDENT_README = """# Deep Learning, Side by Side (student copy)

Every model in this course is built twice, in **fastai** and in **Keras**, side by side.

## Start

You need Python 3.11 and `make` (Linux or macOS):

```bash
make lab
```

The first time this installs the pinned course environment into `.venv` (about 3 minutes, 8 GB);
after that it starts in seconds. Open the printed `http://127.0.0.1:8888/lab/tree/lessons?token=...`
link, open a lesson in `lessons/`, run it top to bottom and do the exercises.

* A cell that needs an exercise you have not done yet stops with a hint naming that exercise.
* The **Validate** button in the notebook toolbar runs the visible tests of your notebook.
* Something looks wrong? Run `helpers.doctor()` in a cell (or `make doctor`): it says how to fix it.

Your work lives in `lessons/` of this folder: keep a copy (a new copy of the course does not
overwrite it unless you unpack it on top).

## Hand in

Download the notebook (**File → Download**) and send it the way your instructor asks. If your class
runs on the course hub, use **Nbgrader → Assignment List** there instead: *Fetch*, work, *Submit*
(as often as you like: the latest counts), and later *Fetch Feedback*.
"""

STUDENT_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "dlsbs-helpers"
version = "0.1.0"
description = "Helpers for 'Deep Learning, Side by Side' (student copy)"
requires-python = ">=3.11,<3.12"
dependencies = ["numpy", "matplotlib", "scikit-learn", "ipywidgets>=8.1,<8.2"]

[tool.setuptools]
packages = ["helpers", "helpers.lessons"]
"""


def student_config_files(exchange: bool) -> dict[str, str]:
    """Jupyter config for a student's server: relative path → content.

    ``exchange=False`` (laptop bundle): there is no class exchange, so the Assignment List goes too.
    """
    lab_off = list(INSTRUCTOR_LAB_PLUGINS) + [NEWS_PLUGIN]
    server_off = list(INSTRUCTOR_SERVER_EXTENSIONS)
    if not exchange:
        lab_off.append("@jupyter/nbgrader:assignment-list")
        server_off.append("nbgrader.server_extensions.assignment_list")
    return {
        "labconfig/page_config.json": json.dumps({"disabledExtensions": {k: True for k in lab_off}}, indent=2) + "\n",
        "jupyter_server_config.json": json.dumps(
            {"ServerApp": {"jpserver_extensions": {k: False for k in server_off}}}, indent=2) + "\n",
    }


def _copy_helpers(dest: Path):
    for src in sorted((ROOT / "helpers").rglob("*.py")):
        if "__pycache__" in src.parts:
            continue
        out = dest / "helpers" / src.relative_to(ROOT / "helpers")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)


def _released_lessons() -> list[Path]:
    return sorted(p for p in (ROOT / "lessons").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def build(out: Path, tarball: bool = True, check: bool = True) -> Path:
    """Write the student folder (and tarball) under ``out``; returns the folder.

    With ``check`` (always, from the command line) a leak raises LeakError and removes the folder.
    """
    out = Path(out)
    folder = out / NAME
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for nb in _released_lessons():
        dest = folder / "lessons" / nb.parent.name / nb.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, dest)
    _copy_helpers(folder)
    shutil.copyfile(ROOT / "requirements.lock", folder / "requirements.lock")
    (folder / "pyproject.toml").write_text(STUDENT_PYPROJECT)
    (folder / "Makefile").write_text(STUDENT_MAKEFILE)
    (folder / "README.md").write_text(STUDENT_README)
    for rel, text in student_config_files(exchange=False).items():
        path = folder / "jupyter" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    leaks = scan(folder) if check else []
    if leaks:
        shutil.rmtree(folder)
        raise LeakError(leaks)
    if tarball:
        pack(folder, out / f"{NAME}.tar.gz")
    return folder


def pack(folder: Path, dest: Path) -> Path:
    """A reproducible tarball (sorted names, fixed times and owners)."""
    def norm(info: tarfile.TarInfo):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in [folder, *sorted(folder.rglob("*"))]:
            tar.add(path, arcname=str(Path(folder.name) / path.relative_to(folder)), recursive=False, filter=norm)
    import gzip

    with open(dest, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    p.add_argument("--no-tar", action="store_true", help="write the folder only")
    p.add_argument("--scan", metavar="PATH", help="only scan PATH (a folder) for instructor material")
    a = p.parse_args(argv)
    if a.scan:
        leaks = scan(Path(a.scan))
        print("\n".join(leaks) if leaks else f"{a.scan}: no instructor material found")
        return 1 if leaks else 0
    folder = build(Path(a.out), tarball=not a.no_tar)
    n = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"student copy: {folder} ({n} files, scanned: no answers, no hidden tests)")
    if not a.no_tar:
        print(f"tarball:      {folder.parent / (NAME + '.tar.gz')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
