"""Fast checks of the grader's pure parts (no kernels): reading submissions, the run plan, probe diffs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "grader_corpus"))

import corpus  # noqa: E402
from grading import course, grader, sandbox_probe  # noqa: E402


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    corpus.write_course(tmp_path)
    monkeypatch.setattr(course, "SOLUTIONS", tmp_path / "solutions")
    monkeypatch.setattr(course, "LESSONS", tmp_path / "lessons")
    monkeypatch.setattr(course, "SUBMITTED", tmp_path / "grading" / "submitted")
    return grader.Lesson(corpus.LESSON)


def read(lesson, name):
    corpus.write_submissions(course.SUBMITTED.parent.parent, [name])
    return grader.read_submission(lesson, name)


def test_lesson_model(tiny):
    assert [t.grade_id for t in tiny.tests] == ["square_tests", "total_tests"]
    assert tiny.max_auto == 5 and tiny.max_manual == 1
    assert tiny.exercise_of("total_tests") == "total"
    assert "checks.check_close" not in tiny.scrub("x\n")
    assert "removed" in tiny.scrub('assert total([]) == 0.0, "total([]) should be 0"  # HIDDEN_TOTAL_EMPTY\n')
    for t in tiny.tests:
        assert "HIDDEN" not in t.release_source


@pytest.mark.parametrize("name", ["malformed_json", "not_a_notebook", "nbformat2", "missing_notebook", "enormous_file"])
def test_bad_input_fails_with_a_reason(tiny, name):
    sub = read(tiny, name)
    assert sub.failure and corpus.CASES[name]["text"].lower() in sub.failure.lower()


def test_plan_uses_instructor_cells_and_student_answers(tiny):
    sub = read(tiny, "skip_execution_tags")
    steps, answers = grader.plan(tiny, sub)
    tests = [s for s in steps if s.kind == "test"]
    assert all("BEGIN HIDDEN TESTS" in s.code for s in tests)  # restored, with hidden tests
    assert answers["square"] == corpus.WRONG_SQUARE
    assert any("ignored execution tags" in n for n in sub.notes)


def test_plan_extra_cells_and_shadowing(tiny):
    sub = read(tiny, "extra_cells")
    steps, _ = grader.plan(tiny, sub)
    assert [s.key for s in steps if s.kind == "student"] == [(2, 0), (2, 1), (5, 0)]
    sub = read(tiny, "module_shadowing")
    assert set(sub.files) == {"data.csv"}


def test_resubmission_changes_the_key(tiny):
    k1 = read(tiny, "right").key
    assert read(tiny, "right").key == k1
    d = course.SUBMITTED / "right" / corpus.LESSON / f"{corpus.LESSON}.ipynb"
    nb = json.loads(d.read_text())
    nb["cells"][2]["source"] = "def square(x):\n    return x ** 2"
    d.write_text(json.dumps(nb))
    assert grader.read_submission(tiny, "right").key != k1


def snap(**over):
    base = {"transformers": {"cleanup": ["f:1"]}, "events": {"pre_run_cell": []}, "machinery": {"shell": {"run_cell": 1}},
            "sys": {"meta_path": ["A:1"]}, "sys_path": ["/lib"], "builtins": {"float": 1},
            "modules": {"helpers.checks": {"check_close": 1}}, "globals": {"data": 1}}
    base.update(over)
    return base


def test_probe_diff_names_each_kind_of_tampering():
    a = snap()
    cases = {
        "transformers.cleanup:+g": snap(transformers={"cleanup": ["f:1", "g:2"]}),
        "events.pre_run_cell:+function": snap(events={"pre_run_cell": ["function:5"]}),
        "machinery.shell:~run_cell": snap(machinery={"shell": {"run_cell": 2}}),
        "sys.meta_path:+B": snap(sys={"meta_path": ["B:2", "A:1"]}),
        "sys.path:+": snap(sys_path=["", "/lib"]),
        "builtins:~float": snap(builtins={"float": 2}),
        "module.helpers.checks:~check_close": snap(modules={"helpers.checks": {"check_close": 2}}),
        "global:~data": snap(globals={"data": 2}),
    }
    for key, b in cases.items():
        assert key in sandbox_probe.diff(a, b), key
        assert sandbox_probe.describe(key)
    assert sandbox_probe.diff(a, snap()) == set()
