"""nbgrader in JupyterLab, as a student and an instructor use it.

* Student: the notebook toolbar's **Validate** button (nbgrader's lab extension) saves the notebook,
  runs nbgrader's validator on the server and reports the result in a dialog: success for a lesson
  with the answers filled in, the failing test cells for the untouched student copy.  The
  *Nbgrader → Assignment List* panel opens and shows its three sections.
* Instructor: *Nbgrader → Formgrader* loads the formgrader (the server extension, configured by
  grading/nbgrader_config.py through JUPYTER_CONFIG_PATH) and lists every lesson.

Validate runs the whole notebook on the server (~45 s), so it is exercised on the first lesson only:
the browser test checks the extension's action and its report; whether every lesson's answers pass
and its stubs fail is checked headless, for every lesson, by tests/test_lessons.py.
All notebooks opened here are copies under tests/artifacts/browser/ (Validate saves the notebook).
"""
from __future__ import annotations

import pytest

from browser_lab import SCREENSHOTS, PlaywrightTimeout, copy_lesson, lessons

LESSONS = lessons()
VALIDATE_TIMEOUT = 900   # the validator runs the whole notebook on the server


def _validate(lab, path):
    lab.open_notebook(path)
    button = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-item", has_text="Validate")
    assert button.count() == 1, "no Validate button in the notebook toolbar: is nbgrader's lab extension enabled?"
    button.locator("jp-button, button").first.click()
    dialog = lab.page.locator(".jp-Dialog").filter(has_text="Validation")
    dialog.wait_for(state="visible", timeout=VALIDATE_TIMEOUT * 1000)
    header = dialog.locator(".jp-Dialog-header").inner_text().strip()
    body = dialog.locator(".jp-Dialog-body")
    classes = " ".join(c for c in ("validation-success", "validation-failed", "validation-passed")
                       if dialog.locator(f".{c}").count())
    text = body.inner_text()
    return header, classes, text, dialog


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.parametrize("lesson", LESSONS[:1])
def test_validate_button_passes_a_solved_lesson(lesson, lab, workdir):
    path = copy_lesson(lesson, workdir, fill=True)
    header, classes, text, dialog = _validate(lab, path)
    dialog.screenshot(path=str(SCREENSHOTS / f"{lesson}__validate-solved.png"))
    assert header == "Validation Results", f"{lesson}: Validate reported {header!r}:\n{text[:2000]}"
    assert "validation-success" in classes and "Success! Your notebook passes all the tests." in text, (
        f"{lesson}: Validate did not pass the lesson with its answers filled in ({classes}):\n{text[:3000]}")


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
@pytest.mark.parametrize("lesson", LESSONS[:1])
def test_validate_button_reports_the_failing_stubs(lesson, lab, workdir):
    path = copy_lesson(lesson, workdir, fill=False)
    header, classes, text, dialog = _validate(lab, path)
    dialog.screenshot(path=str(SCREENSHOTS / f"{lesson}__validate-student.png"))
    assert header == "Validation Results", f"{lesson}: Validate reported {header!r}:\n{text[:2000]}"
    assert "validation-failed" in classes and "The following cell failed:" in text, (
        f"{lesson}: Validate on the untouched student copy should list the failing test cells ({classes}):\n"
        f"{text[:2000]}")
    assert "NotImplementedError" in text, f"{lesson}: the failures should show the stubs' NotImplementedError:\n{text[:2000]}"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_assignment_list_panel_is_present(lab):
    lab.open_lab()
    lab.menu("Nbgrader", "nbgrader:open-assignment-list")
    panel = lab.page.locator("#nbgrader-assignment-list")
    panel.wait_for(state="visible", timeout=60_000)
    for section in ("Released assignments", "Downloaded assignments", "Submitted assignments"):
        assert panel.get_by_text(section, exact=True).is_visible(), f"the Assignment List has no {section!r} section"
    # it has asked the server: the "Loading, please wait..." placeholders are gone
    try:
        lab.page.wait_for_function(
            "() => ![...document.querySelectorAll('#nbgrader-assignment-list *')]"
            ".some(e => e.children.length === 0 && e.offsetParent !== null && /Loading, please wait/.test(e.textContent))",
            timeout=60_000)
    except PlaywrightTimeout:
        pytest.fail("the Assignment List still says 'Loading, please wait...' after 60 s: does nbgrader's "
                    "assignment_list server extension answer?\n" + panel.inner_text()[:1000], pytrace=False)
    errors = panel.locator(".alert-danger:visible, .text-danger:visible")
    assert errors.count() == 0, f"the Assignment List shows an error: {errors.all_inner_texts()}"
    lab.page.screenshot(path=str(SCREENSHOTS / "nbgrader__assignment-list.png"))


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_formgrader_lists_every_lesson(lab):
    assert LESSONS, "no lessons to look for"
    lab.open_lab()
    lab.menu("Nbgrader", "nbgrader:open-formgrader")
    frame = lab.page.frame_locator("iframe[src*='formgrader']")

    def shown() -> str:
        try:
            return frame.locator("body").inner_text(timeout=5_000)[:1500]
        except PlaywrightTimeout:
            return "(nothing)"

    try:
        frame.get_by_text("Manage Assignments").first.wait_for(state="visible", timeout=60_000)
    except PlaywrightTimeout:
        pytest.fail("the formgrader did not load (is nbgrader's formgrader server extension enabled, and "
                    f"JUPYTER_CONFIG_PATH=grading?); its frame shows:\n{shown()}", pytrace=False)
    missing = []
    for lesson in LESSONS:
        try:
            frame.locator("tr", has=frame.get_by_text(lesson, exact=True)).first.wait_for(
                state="visible", timeout=30_000)
        except PlaywrightTimeout:
            missing.append(lesson)
    assert not missing, f"the formgrader does not list {missing}; it shows:\n{shown()}"
    lab.page.screenshot(path=str(SCREENSHOTS / "nbgrader__formgrader.png"))
