"""Every lesson, automatically: structure, headless execution, nbgrader validation, end-to-end autograde."""
from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest

from course_tools import (answer_text, auto_points, course_copy, forge, graded_cells, grading_cli,
                          points_for, secret_hidden_lines, solution_ids)
from grading import course
from grading.paths import REPO

LESSONS = course.lessons()
README = REPO / "README.md"


def source(name):
    return nbformat.read(course.source_ipynb(name), as_version=4)


def release(name):
    return nbformat.read(course.release_ipynb(name), as_version=4)


def test_lesson_folders_are_numbered_and_complete():
    assert LESSONS, "no lessons found under solutions/"
    numbers = [int(name[:2]) for name in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1)), f"lessons must be numbered 01, 02, ... without gaps: {LESSONS}"
    table = README.read_text()
    for name in LESSONS:
        assert f"(lessons/{name}/{name}.ipynb)" in table, f"README.md's lesson table has no row linking lessons/{name}/"
        assert course.source_py(name).exists(), f"solutions/{name}/{name}.py (the text source) is missing"
        assert course.release_ipynb(name).exists(), f"lessons/{name}/ has not been released: make release LESSON={name}"


# --------------------------------------------------------------------------- structure (fast)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_follows_the_checklist(name):
    nb = source(name)
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert md and md[0].lstrip().startswith("# Lesson"), "the first cell is the lesson's title"
    assert re.search(r"(by the end|you will|objectives)", md[0] + (md[1] if len(md) > 1 else ""), re.I), \
        "the lesson opens with learning objectives"
    assert nb.cells[0].cell_type == "markdown", "prose comes before the first code cell"
    first_code = next(c for c in code)
    assert "helpers.setup(" in first_code, "the first code cell calls helpers.setup()"
    text = "\n".join(code)
    assert "Learner(" in text, "fastai's Learner appears in a cell"
    assert "keras.Sequential" in text or "keras.Model" in text, "a Keras model appears in a cell"
    assert ".compile(" in text and ".fit(" in text, "Keras compile/fit appear in a cell"
    assert re.search(r"widgets\.(Explorer|interactive|[A-Z]\w+\()|ipywidgets", text), "the lesson has a widget"
    assert any(re.match(r"#+\s*Recap", m.lstrip()) for m in md), "the lesson ends with a Recap section"
    auto = [g for g in graded_cells(nb) if g[2] == "code" and g[1] > 0]
    assert len(solution_ids(nb)) >= 3 and len(auto) >= 3, "at least 3 graded exercises with points"
    with_hidden = [c for c in nb.cells if "### BEGIN HIDDEN TESTS" in c.source]
    assert len(with_hidden) >= 3, "hidden tests in at least 3 graded cells"
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, "committed notebooks carry no outputs"
    for sid in solution_ids(nb):
        assert points_for(nb, sid) > 0, (f"exercise {sid!r} has no test cells named '{sid}_test...' "
                                          "(see CONTRIBUTING.md: tests of solution `foo` are `foo_tests`)")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_imports_its_helper_modules_by_their_lesson_names(name):
    """A lesson imports lesson-specific helpers from helpers.lessons (``from helpers.lessons import l04_xor``,
    names its exercises call from ``helpers.lessons.l04_xor``), never by the old flat names, which exist only
    for notebooks saved before the move."""
    import helpers

    code = "\n".join(c.source for c in source(name).cells if c.cell_type == "code")
    old = "|".join(helpers.MOVED)
    stale = re.findall(rf"^\s*(?:from helpers import .*\b(?:{old})\b.*|(?:from|import) helpers\.(?:{old})\b.*)$", code, re.M)
    assert not stale, f"{name} uses an old module name; import it from helpers.lessons: {stale}"
    imported = re.findall(r"^\s*from helpers\.lessons import ([\w, ]+)|^\s*from helpers\.lessons\.(\w+) import", code, re.M)
    modules = {m.strip() for names, one in imported for m in (names.split(",") if names else [one])}
    assert modules <= set(helpers.MOVED.values()), f"{name}: helpers.lessons has no {modules - set(helpers.MOVED.values())}"


@pytest.mark.parametrize("name", LESSONS)
def test_test_cells_use_checks_not_bare_asserts(name):
    """The grader judges check verdicts outside the student's kernel; a bare assert is judged only inside it
    (it can fail a cell but never pass it, see CONTRIBUTING.md)."""
    import ast

    for c in source(name).cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("grade"):
            asserts = [n.lineno for n in ast.walk(ast.parse(answer_text(c.source))) if isinstance(n, ast.Assert)]
            assert not asserts, f"{name} {meta['grade_id']}: bare assert on line(s) {asserts}; use helpers.checks"


@pytest.mark.parametrize("name", LESSONS)
def test_test_cells_do_not_end_in_a_number(name):
    """nbgrader reads a number left as a test cell's last expression as partial credit."""
    import ast

    for c in source(name).cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type != "code" or not meta.get("grade"):
            continue
        tree = ast.parse(answer_text(c.source))
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            func = getattr(last.value, "func", None)
            called = getattr(func, "attr", None) or getattr(func, "id", "")
            assert isinstance(last.value, ast.Call) and (called.startswith("check") or called in ("print", "display")), (
                f"{meta['grade_id']}: the last line is an expression whose value nbgrader may read as a score")


def _sections(nb) -> dict:
    """``{"## Heading": [markdown text of that section's cells]}`` for the level-2 headings of a notebook."""
    out, current = {}, None
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        first = c.source.lstrip().splitlines()[0] if c.source.strip() else ""
        if first.startswith("## "):
            current = first.strip()
            out.setdefault(current, [])
        if current:
            out[current].append(c.source)
    return out


ANSWER = re.compile(r"<details>\s*<summary>\s*Answer\s*</summary>\s*\n\s*\n(.+?)\n\s*\n\s*</details>", re.S)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_ends_with_questions_and_reading(name):
    """Issue 16: each lesson ends, after its Recap, with 8-12 questions whose answers a student can reveal
    (an HTML <details> block, markdown inside) and a further-reading list that says why to read each entry.
    The student copy keeps both."""
    for which, nb in (("solution", source(name)), ("release", release(name))):
        sections = _sections(nb)
        heads = list(sections)
        assert "## Check your understanding" in heads and "## Further reading" in heads, (
            f"{name} ({which}): needs the sections '## Check your understanding' and '## Further reading'")
        recap = next((h for h in heads if h.startswith("## Recap")), None)
        assert recap and heads.index(recap) < heads.index("## Check your understanding") < heads.index("## Further reading"), (
            f"{name} ({which}): order must be Recap, Check your understanding, Further reading; got {heads[-4:]}")
        questions = "\n".join(sections["## Check your understanding"])
        answers = ANSWER.findall(questions)
        assert 8 <= len(answers) <= 12, (
            f"{name}: {len(answers)} revealable answers (want 8-12, each "
            "'<details><summary>Answer</summary>' + blank line + text + blank line + '</details>')")
        assert questions.count("<details>") == len(answers), f"{name}: a <details> block is not in the answer format"
        short = [a for a in answers if len(a.split()) < 5]
        assert not short, f"{name}: answers too short to teach anything: {short}"
        items = [ln for ln in "\n".join(sections["## Further reading"]).splitlines() if re.match(r"\s*[-*] ", ln)]
        assert len(items) >= 3, f"{name}: further reading lists {len(items)} entries (want at least 3)"
        no_why = [ln for ln in items if " — " not in ln or len(ln.split(" — ", 1)[1].split()) < 6]
        assert not no_why, f"{name}: entries must say why to read them ('reference — why, in a sentence'): {no_why}"


SIDEBAR = "**Preconceptions that held the field back:"


def test_preconception_sidebars_say_what_was_believed_true_and_who():
    """Issue 16's recurring sidebar: what was believed, what was true, who showed it; at least the three
    preconceptions the issue names (ReLU 'not differentiable', *Perceptrons* read as a verdict on all
    networks, 'more than 3 layers is too hard')."""
    found = []
    for name in LESSONS:
        for c in source(name).cells:
            if c.cell_type == "markdown" and SIDEBAR in c.source:
                for part in ("*What was believed:*", "*What was true:*", "*Who showed it:*"):
                    assert part in c.source, f"{name}: a preconception sidebar lacks {part!r}:\n{c.source[:300]}"
                found.append(c.source.lower())
    text = "\n".join(found)
    for topic in ("relu", "perceptrons", "layers"):
        assert topic in text, f"no preconception sidebar mentions {topic!r} (found {len(found)} sidebars)"


# --------------------------------------------------------------------------- execution (slow)


def _slow_group(name):
    return [pytest.mark.slow, pytest.mark.xdist_group(name)]


@pytest.mark.slow
@pytest.mark.xdist_group(LESSONS[0])
def test_what_a_test_module_does_to_a_live_kernel_is_undone(lesson_runner):
    """The live kernels are shared across test modules; conftest's `lesson` fixture snapshots the names
    in a kernel when a module first uses it and restores them when the module ends (issue 17)."""
    live = lesson_runner(LESSONS[0])
    live.snapshot()
    live.exec("_probe_new_name = 1\nhelpers = 'rebound by a test'")
    live.restore()
    assert live.eval("'_probe_new_name' in globals()") is False, "a name a module added survived it"
    assert live.eval("type(helpers).__name__") == "module", "a name a module rebound was not restored"
    assert live.eval("'_live_names_before' in globals()") is False, "the snapshot itself was left behind"


@pytest.mark.parametrize("name", [pytest.param(n, marks=_slow_group(n)) for n in LESSONS])
def test_solution_runs_headless_cleanly(name, lesson):
    live = lesson(name)
    assert not live.errors(), f"errors while running {name}: {live.errors()}"
    noisy = [(i, t) for i, t in live.stderr() if t.strip()]
    assert not noisy, f"stderr output (framework noise?) in cells: {noisy[:3]}"
    assert live.images() >= 2, "the lesson shows its ideas in figures"
    print(f"\n{name}: {live.seconds:.1f} s headless from a fresh kernel")


_POKE = """
def _dlsbs_poke(ex):
    c = list(ex.controls.values())[0]
    before = ex.renders
    if hasattr(c, "options") and len(c.options) > 1:
        values = [o[1] if isinstance(o, tuple) else o for o in c.options]
        c.value = next(v for v in values if v != c.value)
    elif isinstance(c.value, bool):
        c.value = not c.value
    else:
        c.value = c.max if c.value != c.max else c.min
    return ex.renders > before and ex.last_error is None
"""


@pytest.mark.parametrize("name", [pytest.param(n, marks=_slow_group(n)) for n in LESSONS])
def test_widgets_respond_in_the_kernel(name, lesson):
    """Every Explorer in the lesson redraws, without error, when a control changes (as in the browser)."""
    live = lesson(name)
    explorers = live.eval("[k for k, v in list(globals().items()) if type(v).__name__ == 'Explorer' and not k.startswith('_')]")
    assert explorers, "no helpers.widgets.Explorer found among the lesson's variables"
    live.exec(_POKE)
    for var in explorers:
        assert live.eval(f"_dlsbs_poke({var})"), f"{var}: changing its first control did not redraw it cleanly"


@pytest.mark.parametrize("name", [pytest.param(n, marks=_slow_group(n)) for n in LESSONS])
def test_nbgrader_validate_solutions_pass(name):
    result = course.validate_notebook(course.source_ipynb(name))
    assert not any(result.values()), f"solutions must pass all tests: {result}"


@pytest.mark.parametrize("name", [pytest.param(n, marks=_slow_group(n)) for n in LESSONS])
def test_nbgrader_validate_release_stubs_fail(name):
    result = course.validate_notebook(course.release_ipynb(name), invert=True)
    assert not any(result.values()), f"every graded test must fail on the released stubs: {result}"


# --------------------------------------------------------------------------- grade end to end (slow)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_slow_group(n)) for n in LESSONS])
def test_grade_end_to_end(name, tmp_path):
    """Release → collect → ``grading grade`` (sandboxed, judged) → feedback → export, in a throw-away copy of
    the course: the solution gets full marks, an untouched copy 0, a partial answer exactly its points.
    One grade run per lesson serves the three cases (plus the reference run of the solution)."""
    import json
    import subprocess
    import sys

    root = course_copy(tmp_path, name)
    grading_cli(root, "release", name)
    src = source(name)
    rel = nbformat.read(root / "lessons" / name / f"{name}.ipynb", as_version=4)
    first = solution_ids(src)[0]
    expected = {"correct": auto_points(src), "untouched": 0.0, "partial": points_for(src, first)}
    incoming = tmp_path / "incoming"
    for student, fill in (("correct", None), ("untouched", set()), ("partial", {first})):
        (incoming / student).mkdir(parents=True)
        nbformat.write(forge(src, rel, fill), incoming / student / f"{name}.ipynb")
    before = {p: p.read_bytes() for p in incoming.rglob("*") if p.is_file()}
    grading_cli(root, "collect", str(incoming), name)
    env = {**__import__("os").environ, "DLSBS_COURSE_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-m", "grading", "grade", name, "-j", "2", "--no-progress"],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=1800)
    assert proc.returncode in (0, 3), f"grade exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert before == {p: p.read_bytes() for p in incoming.rglob("*") if p.is_file()}, "incoming was modified"
    results = {p.stem: json.loads(p.read_text())
               for p in (root / "grading" / ".grader-cache" / "results" / name).glob("*.json")}
    got = {sid: r["score"] for sid, r in results.items()}
    assert got == pytest.approx(expected), (f"scores {got}, expected {expected}; messages: "
                                            f"{ {s: [t['message'] for t in r['tests']] for s, r in results.items()} }")
    assert results["correct"]["status"] == "graded", results["correct"]["reason"]
    assert results["partial"]["status"] == "graded", results["partial"]["reason"]

    grading_cli(root, "feedback", name)
    grading_cli(root, "export", "--to", str(tmp_path / "grades.csv"))
    rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows == pytest.approx(expected), "the gradebook (formgrader, nbgrader export) has the grader's scores"

    secrets = secret_hidden_lines(src)
    assert secrets, "the lesson has hidden tests to protect"
    for student in expected:
        fb = root / "grading" / "feedback" / student / name / f"{name}.html"
        assert fb.exists(), f"no feedback for {student}"
        text = html.unescape(re.sub(r"<[^>]+>", "", fb.read_text()))
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"feedback for {student} shows hidden-test source: {leaked[:3]}"
        assert "cdnjs" not in fb.read_text(), "feedback loads nothing from a CDN"
