"""Every lesson, opened in JupyterLab in headless Chromium and run through the menus.

Two copies of each lesson are opened, both made under tests/artifacts/browser/ (git-ignored,
inside the served root) so nothing in lessons/ or solutions/ is written:

* **the student copy**, byte for byte as released.  Its exercise stubs ``raise
  NotImplementedError()``, and JupyterLab's *Run All Cells* stops at the first error, as it does for
  a student; the test then carries on below each failing cell (*Run Selected Cell and All Below*),
  like a student skipping an exercise, until every cell has run.  The errors allowed are
  ``NotImplementedError`` (from a stub), any error inside a graded test cell (they call the stubs),
  and errors in ordinary cells *after* a stub was hit (a demo that uses an exercise's result; they
  are printed, so ``pytest -s``/the report shows them).  An error before any stub is hit cannot come
  from a missing answer and fails the test.  (The two copies differ only in their solution cells, and
  the solved copy must have no error at all, so every error here traces back to an unanswered stub.)
* **the solved copy**: the released notebook with the instructor's answers written into its
  solution cells (matched by cell id).  This is what a student who did every exercise sees: *Run All
  Cells* must run every cell with no error and nothing on stderr; every figure must render; and every
  interactive widget (a control plus an Output showing a plot or listing) must redraw when a control is moved
  with the keyboard or clicked: what the Output shows (its image, or its HTML) must change.

Figures are checked against the notebook JupyterLab saves (File → Save): every image output the
kernel sent is an ``<img>`` that loaded in the page, every widget output is a rendered widget, and no
figure fell back to its text form (``<Figure size ...>``).  Screenshots of the whole notebook after
running go to tests/artifacts/screenshots/.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from browser_lab import SCREENSHOTS, copy_lesson, lessons, nbgrader_meta

LESSONS = lessons()
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_FAILURES = ("Error displaying widget", "Failed to load model class", "Loading widget...",
                   "Failed to display Jupyter Widget")
RUN_TIMEOUT = 900   # a lesson runs in ≤ 30 s headless; leave room for a busy 2-core machine


def _executed(cell: dict) -> bool:
    return bool(re.match(r"^\[\d+\]:$", cell["prompt"]))


def _pending(dom_cells: list[dict], nb) -> list[int]:
    """Code cells with code in them that have not run (JupyterLab does not run empty cells)."""
    return [c["index"] for c in dom_cells
            if c["type"] == "code" and nb.cells[c["index"]].source.strip() and not _executed(c)]


def _errors(nb) -> list[tuple[int, object]]:
    return [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


def _stderr(nb) -> list[tuple[int, str]]:
    return [(i, o.text) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "stream" and o.name == "stderr"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:40]


def _short(cell_source: str) -> str:
    first = cell_source.strip().splitlines()[0] if cell_source.strip() else ""
    return first[:70]


def rendering_problems(dom_cells: list[dict], nb) -> list[str]:
    """What the kernel produced but the page failed to show."""
    problems = []
    assert len(dom_cells) == len(nb.cells), f"page shows {len(dom_cells)} cells, the notebook has {len(nb.cells)}"
    for dom, cell in zip(dom_cells, nb.cells):
        where = f"cell {dom['index']} ({_short(cell.source)!r})"
        for img in dom["images"]:
            if not img["loaded"]:
                problems.append(f"{where}: an image did not load in the page ({img['src']}...)")
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        n_images = sum(1 for o in outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES))
        if dom["topImages"] < n_images:
            problems.append(f"{where}: the kernel sent {n_images} figure(s), the page shows {dom['topImages']}")
        n_widgets = sum(1 for o in outputs if WIDGET_MIME in o.get("data", {}))
        shown = sum(1 for o in dom["outputs"] if o["widget"])
        if shown < n_widgets:
            problems.append(f"{where}: the kernel sent {n_widgets} widget(s), the page shows {shown}")
        for o in dom["outputs"]:
            text = o["text"]
            if re.search(r"<Figure size \d+x\d+ with \d+ Axes>", text) and not o["widget"]:
                problems.append(f"{where}: a figure shows as text, not as an image: {text.strip()[:80]!r}")
            for bad in WIDGET_FAILURES:
                if bad in text:
                    problems.append(f"{where}: widget did not render: {text.strip()[:160]!r}")
    return problems


def _figure_count(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if any(m in o.get("data", {}) for m in IMAGE_MIMES + (WIDGET_MIME,)))


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_lessons_are_found():
    assert LESSONS, "no lesson folders (lessons/NN_name/NN_name.ipynb) to test"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.parametrize("lesson", LESSONS)
def test_student_copy_runs_in_browser(lesson, lab, workdir):
    path = copy_lesson(lesson, workdir, fill=False)
    lab.open_notebook(path)
    lab.run_all(RUN_TIMEOUT)
    source = nbformat.read(path, as_version=4)
    # Run All stops at an error; carry on below it, as a student skipping an exercise would.
    for _ in range(len(source.cells)):
        pending = _pending(lab.cells(), source)
        if not pending:
            break
        lab.run_from(pending[0], RUN_TIMEOUT)
    saved = lab.save(path)
    lab.wait_images_loaded()
    lab.screenshot_notebook(SCREENSHOTS / f"{lesson}__student.png")
    dom = lab.cells()

    pending = _pending(dom, saved)
    assert not pending, f"{lesson} (student copy): cells never ran in JupyterLab: {pending}"
    unexpected, cascades, stub_hit = [], [], False
    for i, err in _errors(saved):
        meta = nbgrader_meta(saved.cells[i])
        graded_test = meta.get("grade") and not meta.get("solution")
        what = f"cell {i} ({_short(saved.cells[i].source)!r}): {err.ename}: {err.evalue}"
        if err.ename == "NotImplementedError":
            stub_hit = True
        elif graded_test:
            pass
        elif stub_hit:
            cascades.append(what)      # a later cell that needs an unanswered exercise's result
        else:
            unexpected.append(what)
    assert not unexpected, (
        f"{lesson} (student copy): errors before any exercise stub was reached, so not caused by a missing answer:"
        "\n  " + "\n  ".join(unexpected))
    if cascades:
        print(f"{lesson} (student copy): ordinary cells that fail until an exercise is answered:\n  "
              + "\n  ".join(cascades))
    noise = [f"cell {i}: {text.strip()[:200]!r}" for i, text in _stderr(saved)]
    assert not noise, f"{lesson} (student copy): output on stderr:\n  " + "\n  ".join(noise)
    problems = rendering_problems(dom, saved)
    assert not problems, f"{lesson} (student copy) did not render:\n  " + "\n  ".join(problems)
    assert not lab.page_errors, f"{lesson}: JavaScript errors in JupyterLab: {lab.page_errors[:5]}"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.parametrize("lesson", LESSONS)
def test_solved_lesson_runs_and_its_widgets_respond(lesson, lab, workdir):
    path = copy_lesson(lesson, workdir, fill=True)
    lab.open_notebook(path)
    lab.run_all(RUN_TIMEOUT)
    saved = lab.save(path)
    lab.wait_images_loaded()
    lab.screenshot_notebook(SCREENSHOTS / f"{lesson}__solved.png")
    dom = lab.cells()

    errors = [f"cell {i} ({_short(saved.cells[i].source)!r}): {e.ename}: {e.evalue}" for i, e in _errors(saved)]
    assert not errors, f"{lesson} (answers filled in): error output in JupyterLab:\n  " + "\n  ".join(errors)
    pending = _pending(dom, saved)
    assert not pending, f"{lesson} (answers filled in): Run All Cells did not run cells {pending}"
    noise = [f"cell {i}: {text.strip()[:200]!r}" for i, text in _stderr(saved)]
    assert not noise, f"{lesson} (answers filled in): output on stderr:\n  " + "\n  ".join(noise)
    problems = rendering_problems(dom, saved)
    assert not problems, f"{lesson} (answers filled in) did not render:\n  " + "\n  ".join(problems)
    assert _figure_count(saved) > 0, f"{lesson}: no figure at all (the checklist asks for matplotlib figures)"

    explorers = lab.explorers()
    n = explorers.count()
    assert n > 0, (f"{lesson}: no interactive widget found in the page (a widget box with a slider, dropdown, "
                   "toggle buttons or checkbox, and an Output), e.g. helpers.widgets.Explorer")
    for k in range(n):
        box = explorers.nth(k)
        box.scroll_into_view_if_needed()
        before = lab.output_signature(box)
        assert before["images"] or before["text"].strip(), (
            f"{lesson}: widget {k + 1}/{n} shows nothing in its Output before it is touched")
        assert "Traceback" not in before["text"], (
            f"{lesson}: widget {k + 1}/{n} shows an error before it is touched:\n{before['text'][:1500]}")
        # The first control must change what the Output shows; every other control must make it
        # redraw (its content may legitimately stay the same, e.g. a "highlight" box with nothing to highlight).
        for j, (kind, control) in enumerate(lab.controls(box)):
            lab.mark_output(box)
            action = lab.change_control(kind, control)
            after = lab.wait_output_changed(box, before, content=(j == 0))
            box.screenshot(path=str(SCREENSHOTS / f"{lesson}__widget-{k + 1}-{j + 1}.png"))
            assert "Traceback" not in after["text"], (
                f"{lesson}: widget {k + 1}/{n} ({action}) shows an error instead of its result:\n"
                f"{after['text'][:1500]}")
            if before["images"]:
                assert after["images"], (f"{lesson}: widget {k + 1}/{n} ({action}) shows no plot any more:\n"
                                         f"{after['text'][:800]}")
            if j == 0:
                assert after["html"] != before["html"], (
                    f"{lesson}: widget {k + 1}/{n} did not redraw: {action}, but its Output is unchanged "
                    "(is the callback wired to the control?)")
            else:
                assert lab._redrawn(box), (
                    f"{lesson}: widget {k + 1}/{n} did not redraw after {action} (is the callback wired to it?)")
            before = after
    assert not lab.page_errors, f"{lesson}: JavaScript errors in JupyterLab: {lab.page_errors[:5]}"
