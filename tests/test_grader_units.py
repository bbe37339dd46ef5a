"""Fast checks of the grader's pure parts (no kernels): reading submissions, the run plan, probe diffs."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "grader_corpus"))

import corpus  # noqa: E402
from grading import grader, sandbox_probe  # noqa: E402
from grading.paths import Course  # noqa: E402


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    corpus.write_course(tmp_path)
    monkeypatch.setenv("DLSBS_COURSE_ROOT", str(tmp_path))  # Course.current() is looked up on every call
    return grader.Lesson(corpus.LESSON)


def read(lesson, name):
    corpus.write_submissions(Course.current().root, [name])
    return grader.read_submission(lesson, name)


def test_lesson_model(tiny):
    assert [t.grade_id for t in tiny.tests] == ["square_tests", "total_tests"]
    assert tiny.max_auto == 5 and tiny.max_manual == 1
    assert tiny.exercise_of("total_tests") == "total"
    assert "checks.check_close" not in tiny.scrub("x\n")
    assert "removed" in tiny.scrub('checks.check_equal(total([]), 0.0, name="total([])")  # HIDDEN_TOTAL_EMPTY\n')
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
    d = Course.current().submitted / "right" / corpus.LESSON / f"{corpus.LESSON}.ipynb"
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


# --------------------------------------------------------------------------- the judge (no kernels)

from grading import judge  # noqa: E402


def arr(values, dtype="float64"):
    import numpy as np

    a = np.asarray(values, dtype=dtype)
    return {"__array__": {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.ravel().tolist()}}


def rec(kind, actual=None, expected=None, line=1, **params):
    r = {"v": 1, "kind": kind, "name": kind, "params": params, "line": line, "top": True}
    if actual is not None:
        r["actual"] = actual
    if expected is not None:
        r["expected"] = expected
    return r


def cell(*records, status="ok", ename=None):
    return {"status": status, "records": list(records), "ename": ename}


def test_judge_recomputes_every_verdict_from_the_values():
    ref = cell(rec("close", arr([0, 1, 4]), arr([0, 1, 4]), rtol=1e-5, atol=1e-6), rec("equal", 9, 9))
    assert judge.judge_cell(ref, ref, {}).passed
    # the kernel said it passed: the values say otherwise
    lie = cell(dict(rec("close", arr([0, 2, 4]), arr([0, 1, 4]), rtol=1e-5, atol=1e-6), passed_in_kernel=True),
               rec("equal", 9, 9))
    v = judge.judge_cell(ref, lie, {})
    assert not v.passed and "expected 1 at index (1,), got 2" in v.message
    # a tolerance the student's record claims is ignored: the reference's is used
    loose = cell(rec("close", arr([0, 2, 4]), arr([0, 1, 4]), rtol=10.0, atol=10.0), rec("equal", 9, 9))
    assert not judge.judge_cell(ref, loose, {}).passed


def test_judge_takes_literal_expectations_from_the_reference():
    ref = cell(rec("equal", 10.0, 10.0, line=1))
    changed = cell(rec("equal", 3.0, 3.0, line=1))  # "expected" was not what the test says
    v = judge.judge_cell(ref, changed, {1: False})
    assert not v.passed and "differs from the instructor's run" in v.message
    # an expected value computed from the student's own values is compared as sent
    assert judge.judge_cell(ref, changed, {1: True}).passed
    assert not judge.judge_cell(ref, cell(rec("equal", 3.0, 4.0, line=1)), {1: True}).passed


def test_judge_counts_and_kinds_and_errors():
    ref = cell(rec("equal", 9, 9), rec("true", True))
    assert not judge.judge_cell(ref, cell(rec("equal", 9, 9)), {}).passed, "a missing record fails"
    assert not judge.judge_cell(ref, cell(rec("equal", 9, 9), rec("true", True), rec("true", True)), {}).passed
    assert not judge.judge_cell(ref, cell(rec("equal", 9, 9), rec("equal", 9, 9)), {}).passed, "kinds must match"
    v = judge.judge_cell(ref, cell(rec("equal", 9, 9), rec("true", True), status="error", ename="AssertionError"), {})
    assert not v.passed and "AssertionError" in v.message, "a bare assert after the checks can still fail the cell"
    assert not judge.judge_cell(ref, cell(rec("equal", 9, 9), rec("true", 1)), {}).passed, "1 is not True"
    assert not judge.judge_cell(cell(), cell(), {}).passed, "a test with no checks cannot be judged"
    assert judge.judge_cell(ref, cell(rec("equal", 9, 9), {**rec("equal", 1, 2), "top": False}, rec("true", True)),
                            {}).passed, "records made inside code the test calls are not the test's"


def test_judge_fails_values_that_could_not_be_sent():
    ref = cell(rec("equal", 9, 9))
    sub = cell(rec("equal", {"__unsent__": "a __main__.Liar"}, 9))
    v = judge.judge_cell(ref, sub, {})
    assert not v.passed and "plain data" in v.message
    assert not judge.judge_cell(ref, cell(rec("equal", True, 9)), {}).passed, "a bool is not the int 9"


def test_judge_parameters_bounds_shapes_types():
    inf = float("inf")
    ref = cell(rec("between", 0.95, low=0.9, high=inf), rec("shape", [4, 1], shape=[4, None]),
               rec("type", ["builtins.list", "builtins.object"], types=["builtins.list"]),
               rec("param_count", 337, 337), rec("finite", arr([1.0, 2.0])))
    assert judge.judge_cell(ref, ref, {}).passed
    for k, bad in enumerate([rec("between", 0.5), rec("shape", [4]), rec("type", ["builtins.tuple"]),
                             rec("param_count", 336, 337), rec("finite", arr([1.0, float("nan")]))]):
        sub = cell(*[bad if i == k else r for i, r in enumerate(ref["records"])])
        assert not judge.judge_cell(ref, sub, {}).passed, bad


def test_analyse_tells_computed_expectations_from_literals():
    src = ("out = neuron(X, w, 0.1)\n"
           "checks.check_close(out, [0.5, 0.5])\n"
           "checks.check_close(path, walk_right)\n"
           "for xb, yb in batches:\n"
           "    checks.check_close(yb, 10 * xb[:, 0])\n"
           "checks.check_param_count(k, checks.count_params(f_mlp))\n"
           "checks.check_equal(total(data), total_ref(data))\n")
    a = judge.analyse(src, {"total_ref"})
    assert a[2] is False and a[3] is False, "literals and the lesson's own variables are anchored"
    assert a[5] is True and a[7] is True, "loop variables and answer-defined names make it computed"
    assert judge.analyse("f_mlp = build()\ncheck_param_count(k, count_params(f_mlp))", set())[2] is True


def test_free_names_ignore_what_the_test_assigns_first():
    src = "got = square(3)\nchecks.check_equal(got, 9)\nfor xb in batches:\n    print(xb, data)\n"
    assert grader._free_names(src) == {"square", "checks", "batches", "print", "data"}


def test_cache_key_covers_code_limits_and_sources(tiny, tmp_path):
    import shutil

    from grading.sandbox import Limits

    repo = tmp_path / "repo"
    for d in ("grading", "helpers"):
        (repo / d).mkdir(parents=True)
        for f in (Path(grader.__file__).resolve().parent.parent / d).glob("*.py"):
            shutil.copy(f, repo / d / f.name)
    k1 = grader.code_fingerprint(repo)
    (repo / "helpers" / "checks.py").write_text((repo / "helpers" / "checks.py").read_text() + "\n# changed\n")
    assert grader.code_fingerprint(repo) != k1, "a changed helper changes every grade's key"
    (repo / "grading" / "judge.py").write_text("# another judge\n")
    assert len({k1, grader.code_fingerprint(repo)}) == 2
    a = grader.run_key(tiny, Limits(cell_timeout=6, notebook_timeout=40))
    assert grader.run_key(tiny, Limits(cell_timeout=7, notebook_timeout=40)) != a, "limits are in the key"
    sub1 = grader.read_submission(tiny, "right", a)
    corpus.write_submissions(Course.current().root, ["right"])
    assert grader.read_submission(tiny, "right", a).key != grader.read_submission(tiny, "right", "other").key
    assert sub1.key != "" 


def test_reading_is_per_submission_and_never_raises(tiny):
    for name in ("deeply_nested_json", "forty_thousand_cells", "bad\udcffname"):
        sub = read(tiny, name)
        assert sub.failure and corpus.CASES[name]["text"] in sub.failure, (name, sub.failure)
    sub = read(tiny, "non_utf8_file_name")
    assert not sub.failure and any("not valid UTF-8" in n for n in sub.notes)
    json.dumps(sub.notes)  # printable, storable


# --------------------------------------------------------------------------- checks in a real kernel


@pytest.mark.slow  # starts a kernel
def test_checks_send_plain_records_and_show_short_tracebacks_in_a_real_kernel():
    """With the grader's variable set, each check sends its values as plain data; a failed check's traceback
    ends at the test's line (no frames of helpers/checks.py)."""
    import os

    from jupyter_client.manager import start_new_kernel

    from helpers.checks import RECORD_ENV, RECORD_MIME

    old = os.environ.get(RECORD_ENV)
    os.environ[RECORD_ENV] = "1"
    try:
        km, kc = start_new_kernel(kernel_name="python3")
    finally:
        if old is None:
            os.environ.pop(RECORD_ENV)
        else:
            os.environ[RECORD_ENV] = old
    try:
        def run(code):
            mid = kc.execute(code)
            outs = []
            while True:
                m = kc.get_iopub_msg(timeout=60)
                if m["parent_header"].get("msg_id") != mid:
                    continue
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    return outs
                if m["msg_type"] in ("stream", "error", "display_data"):
                    outs.append(m)

        run("import numpy as np\nfrom helpers import checks\n"
            "class Liar:\n    def __eq__(self, o):\n        return True")
        outs = run("checks.check_equal(Liar(), 9, name='liar')")
        records, rest = judge.split_records([{"output_type": m["msg_type"], **m["content"]} for m in outs])
        assert len(records) == 1 and records[0]["actual"] == {"__unsent__": "a __main__.Liar"}, records
        outs = run("x = np.zeros(4)\nchecks.check_shape(x, (4, 1), name='y')")
        err = next(m["content"] for m in outs if m["msg_type"] == "error")
        tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(err["traceback"]))
        assert "checks.check_shape(x, (4, 1), name='y')" in tb and "expected shape (4, 1), got (4,)" in tb
        assert "checks.py" not in tb and "_fail" not in tb, tb
        assert len(tb.splitlines()) < 12, tb
        records, _ = judge.split_records([{"output_type": m["msg_type"], **m["content"]} for m in outs])
        assert records[0]["kind"] == "shape" and records[0]["actual"] == [4] and records[0]["line"] == 2
        assert RECORD_MIME
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
