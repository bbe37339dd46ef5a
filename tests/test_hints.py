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
    # 8: a class to finish, as nbgrader leaves it; 9: a cell that uses it
    "class Scaler:\n    def __init__(self, k):\n        # YOUR CODE HERE\n        raise NotImplementedError()\n\n"
    "    def __call__(self, x):\n        # YOUR CODE HERE\n        raise NotImplementedError()",
    "scaled = Scaler(2)(3)",
    # 10: a demo that fills a dictionary through the unfinished exercise ...
    "def halve(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
    "table = {}\nfor key in ('a', 'b'):\n    table[key] = halve(len(key))",
    # 12: ... and a later cell that reads the dictionary: KeyError, not NameError
    "for k in ('b',):\n    print(table[k])",
    # 13: a top-level exercise whose template comment names the variable; 14: its test
    "# rate = a number\n# YOUR CODE HERE\nraise NotImplementedError()",
    "print(rate * 2)",
    # 15: a library that re-raises while handling the stub's error (fastai's callbacks do: e.args[0])
    "def run_callback(cb):\n    try:\n        cb()\n    except Exception as e:\n        raise RuntimeError(f'in callback: {e.args[0]}')\n"
    "def after_epoch():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nrun_callback(after_epoch)",
    # 16: a widget whose drawing needs the unfinished exercise: the hint, not a traceback, in its output
    "from helpers import widgets\nex = widgets.Explorer(lambda x: halve(x), x=widgets.slider('x', 1.0, 0, 2))\nex",
    # 17: an unrelated error in a cell that reads nothing a stopped cell made: no hint
    "fine = 1\n{}['missing']",
]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    path = tmp_path_factory.mktemp("hints") / "hints.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), path)
    with LiveNotebook(path, timeout=120) as live:
        live.run()
        live.client.set_widgets_metadata()
        yield live.nb


def _error(nb, i):
    errs = [o for o in nb.cells[i].outputs if o.output_type == "error"]
    assert errs, f"cell {i} should have failed"
    return errs[0], re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errs[0].traceback))


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_stub_error_names_the_exercise_and_keeps_the_traceback(ran):
    err, text = _error(ran, 2)
    assert err.ename == "NotImplementedError", "the error type is unchanged (nbgrader marks the test as failed)"
    assert "`double` is an exercise you have not done yet: find the cell that defines it (In [2])" in text
    assert "raise NotImplementedError()" in text and "Cell In[" in text, "IPython's traceback is still shown"


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_follow_on_name_error_points_at_the_unfinished_exercise(ran):
    err, text = _error(ran, 3)
    assert err.ename == "NameError"
    assert "stopped at an unfinished exercise (`double`)" in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_no_hint_once_the_exercise_is_done_or_for_other_errors(ran):
    assert not [o for o in ran.cells[4].outputs if o.output_type == "error"], "the finished exercise runs"
    assert "[0, 2, 4]" in ran.cells[4].outputs[0].text
    err, text = _error(ran, 5)
    assert err.ename == "NameError" and "Hint" not in text, "a typo after the exercise is done gets no exercise hint"
    err, text = _error(ran, 6)
    assert err.evalue == "not an exercise" and "Hint" not in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_top_level_stub_says_this_cell(ran):
    err, text = _error(ran, 7)
    assert err.ename == "NotImplementedError"
    assert "This cell is an exercise you have not done yet" in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_a_method_stub_names_its_class(ran):
    err, text = _error(ran, 9)
    assert err.ename == "NotImplementedError"
    assert "The class `Scaler` is an exercise you have not finished: its method `__init__`" in text
    assert "the cell that defines the class `Scaler` (In [9])" in text and "write `Scaler.__init__`" in text
    assert "`__init__` is an exercise" not in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_a_dictionary_an_exercise_never_filled_points_at_the_exercise(ran):
    err, text = _error(ran, 11)
    assert err.ename == "NotImplementedError" and "`halve` is an exercise" in text
    err, text = _error(ran, 12)
    assert err.ename == "KeyError"
    assert "This uses `table`, which an earlier cell (In [12]) did not finish making: it stopped at an " \
           "unfinished exercise (`halve`)" in text
    assert "`k`" not in text, "a name the failing cell assigns itself is not blamed on the exercise"


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_a_top_level_exercise_names_the_variable_it_should_define(ran):
    err, text = _error(ran, 14)
    assert err.ename == "NameError"
    assert "`rate` does not exist yet because the exercise cell (In [14]) that should define it is not done" in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_an_error_raised_while_handling_a_stub_leads_back_to_it(ran):
    err, text = _error(ran, 15)
    assert err.ename in ("RuntimeError", "IndexError"), "the library's error is what the learner sees"
    assert "`after_epoch` is an exercise you have not done yet" in text


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_a_widget_shows_the_hint_instead_of_a_traceback(ran):
    assert not [o for o in ran.cells[16].outputs if o.output_type == "error"], "the widget catches the error"
    state = ran.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = ["".join(o.get("text", "") for o in m["state"].get("outputs", [])) for m in state.values()
             if m.get("model_name") == "OutputModel"]
    assert len(shown) == 1 and "Hint: `halve` is an exercise you have not done yet" in shown[0], shown
    assert "Traceback" not in shown[0] and "NotImplementedError" in shown[0]


@pytest.mark.slow  # runs a scratch notebook in a kernel
def test_no_hint_for_an_unrelated_error(ran):
    err, text = _error(ran, 17)
    assert err.ename == "KeyError" and "Hint" not in text


def _released():
    """Every released student copy, found in lessons/ (``lessons/NN_name/NN_name.ipynb``)."""
    from course_tools import ROOT

    return sorted(p for p in (ROOT / "lessons").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb") if p.stem == p.parent.name)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def unhinted_errors(nb) -> list:
    """(cell, what) for every error a learner sees without a hint: error outputs, and error text that a
    cell or a widget's output area printed (``helpers.widgets.Explorer`` prints when drawing fails)."""
    bad = []

    def look(where, outputs):
        for o in outputs:
            if o.get("output_type") == "error":
                text = _plain("\n".join(o.get("traceback", [])))
                if "Hint:" not in text:
                    bad.append((where, f"{o.get('ename')}: {o.get('evalue')}", text[-800:]))
            elif o.get("output_type") == "stream":
                text = _plain(o.get("text", ""))
                if ("Traceback (most recent call last)" in text or re.search(r"^\w+Error\b", text, re.M)) \
                        and "Hint:" not in text:
                    bad.append((where, "printed error", text[-800:]))

    for i, cell in enumerate(nb.cells):
        look(f"cell {i}", cell.get("outputs", []))
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for model_id, model in state.items():
        look(f"widget {model.get('model_name')} {model_id[:8]}", model.get("state", {}).get("outputs", []))
    return bad


def test_unhinted_errors_finds_bare_errors_in_cells_and_widgets():
    """The checker itself: a bare error output, a printed traceback and a widget's printed error all count."""
    from nbformat.v4 import new_output

    cell = new_code_cell("x", outputs=[new_output("error", ename="KeyError", evalue="'xor'", traceback=["KeyError: 'xor'"]),
                                       new_output("stream", name="stdout", text="Traceback (most recent call last):\n")])
    nb = new_notebook(cells=[cell, new_code_cell("y", outputs=[new_output(
        "error", ename="NameError", evalue="x", traceback=["NameError: x", "", "\x1b[1;34mHint:\x1b[0m ..."])])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {
        "model_name": "OutputModel", "state": {"outputs": [{"output_type": "stream", "name": "stdout",
                                                           "text": "NotImplementedError\n"}]}}}}}
    assert [w for w, *_ in unhinted_errors(nb)] == ["cell 0", "cell 0", "widget OutputModel abc"]


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(p, id=p.parent.name, marks=pytest.mark.xdist_group(p.parent.name))
                                  for p in _released()])
def test_every_error_in_a_released_lesson_ends_with_a_hint(path):
    """Run All on the untouched student copy: every error the learner reaches says what to do."""
    with LiveNotebook(path) as live:
        live.run()
        live.client.set_widgets_metadata()  # what the widgets' output areas show, as nbclient recorded it
        nb = live.nb
    errors = [(i, o) for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors, f"{path.name}: an untouched student copy stops at its exercises"
    bad = unhinted_errors(nb)
    assert not bad, f"{path.name}: errors without a hint:\n" + "\n\n".join(f"{w} — {e}\n{t}" for w, e, t in bad)
    for i, o in errors:
        if o.ename == "NotImplementedError":
            text = _plain("\n".join(o.traceback))
            assert re.search(r"exercise you have not (done yet|finished)", text), f"cell {i}: {text[-600:]}"


def test_lessons_are_discovered():
    names = [p.parent.name for p in _released()]
    assert names and names == sorted(names) and "05_refactoring_the_training_loop" in names
