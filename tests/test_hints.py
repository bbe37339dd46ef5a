"""Unfinished exercises give errors that say which exercise and what to do (helpers.hints, via setup)."""
from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nbrun import LiveNotebook

CELLS = [
    "import helpers\nhelpers.setup(frameworks=(), verbose=False)",
    # 1: an exercise as nbgrader leaves it in the student copy
    "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
    # 2: a demo that uses it and defines a name later cells need
    "doubled = [double(v) for v in range(3)]",
    # 3: a later cell that needed that name
    "print(doubled)",
    # 4: a typo while no unfinished exercise is involved: plain NameError, no hint (after 5 and 6)
    "def double(x):\n    return 2 * x\ndoubled = [double(v) for v in range(3)]\nprint(doubled)",
    "print(dubled)",
    # 6: a library's own NotImplementedError is not an exercise
    "import numbers\nclass Half(numbers.Number):\n    pass\nraise NotImplementedError('not an exercise')",
    # 7: an exercise written at the top level of its cell
    "answer = None\n# YOUR CODE HERE\nraise NotImplementedError()",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    path = tmp_path_factory.mktemp("hints") / "hints.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), path)
    with LiveNotebook(path, timeout=120) as live:
        live.run()
        yield live.nb


def _error(nb, i):
    errs = [o for o in nb.cells[i].outputs if o.output_type == "error"]
    assert errs, f"cell {i} should have failed"
    return errs[0], re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errs[0].traceback))


def test_stub_error_names_the_exercise_and_keeps_the_traceback(ran):
    err, text = _error(ran, 2)
    assert err.ename == "NotImplementedError", "the error type is unchanged (nbgrader marks the test as failed)"
    assert "`double` is an exercise you have not done yet: find the cell that defines it (In [2])" in text
    assert "raise NotImplementedError()" in text and "Cell In[" in text, "IPython's traceback is still shown"


def test_follow_on_name_error_points_at_the_unfinished_exercise(ran):
    err, text = _error(ran, 3)
    assert err.ename == "NameError"
    assert "stopped at an unfinished exercise (`double`)" in text


def test_no_hint_once_the_exercise_is_done_or_for_other_errors(ran):
    assert not [o for o in ran.cells[4].outputs if o.output_type == "error"], "the finished exercise runs"
    assert "[0, 2, 4]" in ran.cells[4].outputs[0].text
    err, text = _error(ran, 5)
    assert err.ename == "NameError" and "Hint" not in text, "a typo after the exercise is done gets no exercise hint"
    err, text = _error(ran, 6)
    assert err.evalue == "not an exercise" and "Hint" not in text


def test_top_level_stub_says_this_cell(ran):
    err, text = _error(ran, 7)
    assert err.ename == "NotImplementedError"
    assert "This cell is an exercise you have not done yet" in text


@pytest.mark.xdist_group("04_xor_minsky_papert")
def test_the_released_lesson_04_hints_at_its_unfinished_exercises():
    """The student copy as released: stub errors name their exercise; later demo cells point back at it."""
    from course_tools import ROOT

    with LiveNotebook(ROOT / "lessons" / "04_xor_minsky_papert" / "04_xor_minsky_papert.ipynb") as live:
        live.run()
        nb = live.nb
    errors = [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.output_type == "error"]
    stubs = [(i, o) for i, o in errors if o.ename == "NotImplementedError"]
    names = [(i, o) for i, o in errors if o.ename == "NameError"]
    assert stubs and names, "lesson 04's student copy should stop at stubs and at cells that need their results"
    for i, o in stubs:
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.traceback))
        assert "Hint:" in text and "exercise you have not done yet" in text, f"cell {i}: {text[-600:]}"
    for i, o in names:
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.traceback))
        assert "stopped at an unfinished exercise" in text, f"cell {i}: {text[-600:]}"
