"""One source → student release: the release is current, deterministic and leaks nothing."""
from __future__ import annotations

import json
import os
import shutil
import time

import nbformat
import pytest

from course_tools import HIDDEN, ROOT, course_copy, grading_cli, secret_hidden_lines
from grading import course

LESSONS = course.lessons()


@pytest.mark.slow  # runs nbgrader's release
def test_release_is_up_to_date():
    problems = course.stale()
    assert not problems, "\n".join(problems) + "\nrun `make release` and commit lessons/"


def test_lessons_folder_holds_only_generated_notebooks():
    for path in (ROOT / "lessons").rglob("*"):
        if path.is_file():
            assert path.suffix == ".ipynb", f"{path.relative_to(ROOT)}: only generated notebooks belong in lessons/"
            assert path.parent.name in LESSONS, f"{path.relative_to(ROOT)} has no source lesson"


def leaks(src, text: str) -> list:
    """Instructor-only material found in a student notebook's JSON text."""
    found = [m for m in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS") if m in text]
    rel = nbformat.reads(text, as_version=4)
    rel_sources = "\n".join(c.source for c in rel.cells)
    found += [s for s in secret_hidden_lines(src) if s in rel_sources]
    # lines the lesson shows openly elsewhere (a demo cell the exercise mirrors) are not secrets
    public = "\n".join(HIDDEN.sub("", c.source) for c in src.cells if not c.metadata.get("nbgrader", {}).get("solution"))
    for c in src.cells:
        if c.metadata.get("nbgrader", {}).get("solution") and "### BEGIN SOLUTION" in c.source:
            body = c.source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
            found += [ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 20
                      and not ln.strip().startswith("#") and ln.strip() not in public and ln.strip() in rel_sources]
    if "jupytext" in rel.metadata:
        found.append("jupytext pairing metadata")
    found += ["outputs" for c in rel.cells if c.cell_type == "code" and c.outputs][:1]
    return found


@pytest.mark.parametrize("name", LESSONS)
def test_release_leaks_no_instructor_material(name):
    src = nbformat.read(course.source_ipynb(name), as_version=4)
    found = leaks(src, course.release_ipynb(name).read_text())
    assert not found, f"instructor material in lessons/{name}: {found[:5]}"


def test_leak_detector_catches_a_leak():
    """The check above can fail: the instructor source itself, posing as a release, is full of leaks."""
    name = LESSONS[0]
    src = nbformat.read(course.source_ipynb(name), as_version=4)
    found = leaks(src, course.source_ipynb(name).read_text())
    assert "BEGIN HIDDEN TESTS" in found and "jupytext pairing metadata" in found
    assert any(len(f) >= 20 for f in found), "solution lines are detected"


@pytest.mark.slow  # runs nbgrader's release
def test_release_is_deterministic(tmp_path):
    """Generating twice gives byte-identical notebooks (so `make release` twice changes nothing)."""
    name = LESSONS[0]
    a = course.generate(name, dest_root=tmp_path / "a", db=False)
    b = course.generate(name, dest_root=tmp_path / "b", db=False)
    assert (a / f"{name}.ipynb").read_bytes() == (b / f"{name}.ipynb").read_bytes()


@pytest.mark.slow  # runs nbgrader's release
def test_instructor_files_never_reach_the_release(tmp_path):
    """Text sources, notes and hidden files next to the source notebook stay out of lessons/."""
    name = LESSONS[0]
    root = course_copy(tmp_path, name)
    for extra in ("answers.py", "NOTES.md", ".secret", "helper_data.py"):
        (root / "solutions" / name / extra).write_text("SECRET")
    grading_cli(root, "release", name)
    released = sorted(p.name for p in (root / "lessons" / name).iterdir())
    assert released == [f"{name}.ipynb"], released


@pytest.mark.slow  # runs nbgrader's release
def test_build_keeps_notebook_edits_made_after_the_text_source(tmp_path):
    """An instructor who edits the .ipynb in JupyterLab loses nothing: the .py is updated from it."""
    name = LESSONS[0]
    root = course_copy(tmp_path, name)
    ipynb = root / "solutions" / name / f"{name}.ipynb"
    py = root / "solutions" / name / f"{name}.py"
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("An instructor's new note, typed in JupyterLab."))
    nbformat.write(nb, ipynb)
    later = time.time() + 5
    os.utime(ipynb, (later, later))
    grading_cli(root, "build", name)
    assert "An instructor's new note, typed in JupyterLab." in py.read_text()
    rebuilt = nbformat.read(ipynb, as_version=4)
    assert rebuilt.cells[1].source == "An instructor's new note, typed in JupyterLab."


def test_cell_ids_are_stable(tmp_path):
    name = LESSONS[0]
    nb1 = course.notebook_from_py(course.source_py(name))
    nb2 = course.notebook_from_py(course.source_py(name))
    ids = [c.id for c in nb1.cells]
    assert ids == [c.id for c in nb2.cells]
    assert len(set(ids)) == len(ids)
    graded = [c for c in nb1.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    assert all(c.id == c.metadata["nbgrader"]["grade_id"] for c in graded)


def test_unknown_lesson_gives_a_clear_error():
    with pytest.raises(SystemExit, match="no lesson '99'; known lessons"):
        course.resolve("99")


def test_collect_names_students_and_archives_resubmissions(tmp_path):
    name = LESSONS[0]
    root = course_copy(tmp_path, name)
    incoming = tmp_path / "incoming"
    (incoming / "bob").mkdir(parents=True)
    rel = (ROOT / "lessons" / name / f"{name}.ipynb").read_text()
    (incoming / f"alice_{name}.ipynb").write_text(rel)
    (incoming / "bob" / f"{name}.ipynb").write_text(rel)
    (incoming / f"{name}.ipynb").write_text(rel)  # nobody's: must be reported, not guessed
    out = grading_cli(root, "collect", str(incoming), name).stdout
    assert "cannot tell whose it is" in out
    sub = root / "grading" / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["alice", "bob"]
    # resubmission: the new one wins, the old one is archived, nothing is lost
    changed = json.loads(rel)
    changed["cells"][0]["source"] = "resubmitted"
    (incoming / f"alice_{name}.ipynb").write_text(json.dumps(changed))
    grading_cli(root, "collect", str(incoming), name)
    assert "resubmitted" in (sub / "alice" / name / f"{name}.ipynb").read_text()
    archived = list((root / "grading" / "archive" / "alice").rglob("*.ipynb"))
    assert len(archived) == 1 and "resubmitted" not in archived[0].read_text()
    shutil.rmtree(incoming)
