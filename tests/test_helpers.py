"""Unit tests of the helper package: data, checks, twins' parity, import order, set-up, widgets."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from course_tools import run_py
from helpers import checks, compare, data


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize("gate,expected", [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1]),
                                           ("nand", [1, 1, 1, 0])])
def test_logic_gates(gate, expected):
    X, y = data.logic_gate(gate)
    assert X.shape == (4, 2) and y.shape == (4, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert y.ravel().tolist() == expected


def test_unknown_gate_says_what_exists():
    with pytest.raises(ValueError, match="choose one of"):
        data.logic_gate("xand")


@pytest.mark.parametrize("maker", [data.moons, data.circles, data.spirals])
def test_2d_problems_are_binary_float32(maker):
    X, y = maker(n=101, seed=3)
    assert X.shape == (101, 2) and y.shape == (101, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, 1.0}
    X2, _ = maker(n=101, seed=3)
    assert np.array_equal(X, X2), "same seed, same data"


def test_parity_labels_count_ones():
    X, y = data.parity(5)
    assert X.shape == (32, 5)
    assert np.array_equal(y.ravel(), X.sum(1) % 2)


def test_digits_split_is_stratified_and_scaled():
    s = data.digits(valid_pct=0.2, seed=0)
    Xt, yt, Xv, yv = s
    assert Xt.shape[1] == 64 and Xt.dtype == np.float32 and yt.dtype == np.int64
    assert len(Xt) + len(Xv) == 1797
    assert 0.0 <= Xt.min() and Xt.max() <= 1.0
    assert set(np.unique(yv)) == set(range(10)), "every class in the validation set"
    assert s.n_classes == 10


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same number of rows"):
        data.split(np.zeros((5, 2)), np.zeros(4))


# --------------------------------------------------------------------------- checks


def test_check_shape_message_is_actionable():
    with pytest.raises(checks.CheckError) as e:
        checks.check_shape(np.zeros(4), (4, 1), name="y")
    assert "expected shape (4, 1), got (4,)" in str(e.value)
    assert "reshape" in str(e.value)
    assert checks.check_shape(np.zeros((4, 1)), (4, None)) is None


def test_check_close_reports_first_mismatch():
    with pytest.raises(checks.CheckError, match=r"expected 2 at index \(1,\), got 5 \(1 of 3 values differ\)"):
        checks.check_close([1, 5, 3], [1, 2, 3], name="f")
    checks.check_close(np.float32(0.1), 0.1, rtol=1e-6)


def test_check_none_result_hints_at_return():
    with pytest.raises(checks.CheckError, match="return"):
        checks.check_shape(None, (2,))


def test_checks_are_assertion_errors_and_return_none():
    """nbgrader fails a test on AssertionError, and reads a returned number as partial credit."""
    assert issubclass(checks.CheckError, AssertionError)
    assert checks.check_between(0.5, 0, 1) is None
    assert checks.check_finite([1.0]) is None


def test_check_finite_points_at_overflow():
    with pytest.raises(checks.CheckError, match="inf at index"):
        checks.check_finite(np.array([1.0, np.inf]))


def test_check_values_explains_unimplemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(checks.CheckError, match="not implemented yet"):
        checks.check_values(stub, [(0.0, 0.5)])


# --------------------------------------------------------------------------- compare


def test_metrics_match_definitions():
    out = np.array([[10.0], [-10.0], [10.0]])
    y = np.array([[1.0], [0.0], [0.0]])
    m = compare.metrics(out, y)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["loss"] == pytest.approx((2 * np.log1p(np.exp(-10.0)) + 10.0 + np.log1p(np.exp(-10.0))) / 3)
    assert compare.metrics(np.array([[800.0]]), np.array([[0.0]]))["loss"] == pytest.approx(800.0)  # no overflow, no eps cap
    with warnings.catch_warnings():  # a diverged model is scored quietly (lessons fail on stderr)
        warnings.simplefilter("error")
        assert np.isnan(compare.metrics(np.array([[np.nan]]), np.array([[1.0]]))["loss"])
        assert compare.metrics(np.array([[np.inf], [-np.inf]]), np.array([[1.0], [0.0]]))["loss"] == 0.0
    from helpers.lessons import l04_xor
    assert l04_xor.bce is compare.bce and l04_xor.accuracy is compare.accuracy  # one definition
    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert compare.metrics(logits, np.array([0, 0]))["accuracy"] == 0.5


def test_table_puts_runs_in_columns():
    a = compare.Run("fastai", params=33, seconds=0.5, steps=300, final={"accuracy": 1.0})
    b = compare.Run("keras", params=33, seconds=0.7, steps=300, final={"accuracy": 0.75})
    t = compare.table(a, b)
    assert list(t.columns) == ["fastai", "keras"]
    assert t.loc["accuracy", "keras"] == 0.75 and t.loc["steps", "fastai"] == 300


# --------------------------------------------------------------------------- light import, import order, set-up


def test_import_helpers_is_light():
    p = run_py("""
        import sys, helpers
        from helpers import data, checks, compare, plots, widgets
        heavy = [m for m in ("torch", "tensorflow", "keras", "fastai") if m in sys.modules]
        print("HEAVY", heavy)
    """)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stdout


# --------------------------------------------------------------------------- lesson modules, old names


def test_lesson_modules_are_named_after_their_lesson():
    """helpers/lessons/lNN_<what>.py: each one's docstring opens with its lesson, and the package lists them all."""
    import ast
    from pathlib import Path

    import helpers
    from helpers import lessons

    folder = Path(lessons.__file__).parent
    files = sorted(p.stem for p in folder.glob("l[0-9][0-9]_*.py"))
    assert files == sorted(lessons.__all__), "helpers/lessons/__init__.py's BY_LESSON must list every module"
    for lesson, names in lessons.BY_LESSON.items():
        for name in names:
            assert name.startswith(f"l{lesson}_"), name
            doc = ast.get_docstring(ast.parse((folder / f"{name}.py").read_text()))
            assert doc and doc.startswith(f"Lesson {lesson} "), f"{name}: the docstring must open with 'Lesson {lesson}'"
            assert f"helpers.lessons.{name}" in lessons.__doc__, f"{name} is missing from the package's table"
    assert sorted(helpers.MOVED.values()) == files, "every moved module keeps its old name (helpers.MOVED)"
    flat = sorted(p.stem for p in Path(helpers.__file__).parent.glob("*.py"))
    assert not set(helpers.MOVED) & set(flat), "an old name is still a file in helpers/"


def test_old_lesson_module_names_give_the_moved_modules():
    """A notebook saved before the move (``from helpers.perceptron import draw_line``, ``helpers.perceptron.step``)
    still runs: every spelling of an old name is the *same module object* as the new one, so a monkeypatch through
    one name is seen through the other, and using an old name imports nothing heavier than the new module does."""
    p = run_py("""
        import importlib, sys
        import helpers
        assert not [m for m in sys.modules if m.startswith("helpers.lessons.")], "nothing loads before it is used"

        import helpers.perceptron
        from helpers.perceptron import draw_line, step
        from helpers import descent
        from helpers.lessons import l03_descent, l04_xor
        assert helpers.perceptron is l04_xor is sys.modules["helpers.perceptron"] is sys.modules["helpers.lessons.l04_xor"]
        assert step is l04_xor.step and draw_line is l04_xor.draw_line
        assert descent is l03_descent is helpers.descent
        assert l04_xor.__name__ == l04_xor.__spec__.name == "helpers.lessons.l04_xor"
        assert isinstance(l03_descent.Surface(lambda a, b: a + b, (0, 1), (0, 1), n=3), descent.Surface)
        helpers.perceptron.step = "patched"
        assert l04_xor.step == "patched"
        assert importlib.reload(helpers.perceptron) is l04_xor and l04_xor.step != "patched"
        for old, new in helpers.MOVED.items():  # every old name, in every spelling
            if old == "activations":  # imports torch: checked in test_every_framework_table_is_the_twins_own
                continue
            mod = importlib.import_module(f"helpers.lessons.{new}")
            exec(f"import helpers.{old} as a; from helpers import {old} as b")
            assert a is b is mod is getattr(helpers, old) is sys.modules[f"helpers.{old}"], old
            exec(f"from helpers.{old} import {mod.__all__[0] if hasattr(mod, '__all__') else '__doc__'} as c")
        try:
            import helpers.no_such_module  # noqa: F401
        except ModuleNotFoundError as e:
            print("MISSING", e.name)
        print("LIGHT", [m for m in ("torch", "tensorflow", "keras", "fastai") if m in sys.modules])
        print("ALIASES OK")
    """)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "LIGHT []" in p.stdout, p.stdout
    assert "MISSING helpers.no_such_module" in p.stdout and "ALIASES OK" in p.stdout, p.stdout


@pytest.mark.slow  # a fresh Python imports the frameworks
def test_tensorflow_first_is_made_safe_by_helpers():
    """Importing TensorFlow before torchvision segfaults; after `import helpers` that order is harmless.
    The guard imports torchvision (and so Triton and torch._dynamo) ahead of TensorFlow."""
    p = run_py("""
        import helpers
        import tensorflow
        import sys
        order = [m for m in sys.modules if m in ("triton", "torch._dynamo", "torchvision", "tensorflow")]
        print("AHEAD", order[-1] == "tensorflow" and len(order) == 4)
        from fastai.vision.all import vision_learner
        print("VISION OK")
    """)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr[-2000:]}"
    # sys.modules keeps insertion order: Triton, torch._dynamo and torchvision came before tensorflow
    assert "AHEAD True" in p.stdout, p.stdout
    assert "VISION OK" in p.stdout


@pytest.mark.slow  # a fresh Python imports the frameworks
def test_tensorflow_then_triton_is_the_crash():
    """What the guard loads first: without helpers, Triton after TensorFlow kills the process too."""
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        pytest.skip("no Triton in this environment (a torch wheel without it): the guard imports torchvision")
    p = run_py("import tensorflow\nimport triton\n")
    if p.returncode == 0:
        pytest.skip("this Triton/TensorFlow pair no longer crashes in this order")
    assert p.returncode in (-11, 139), p.stderr[-1000:]


@pytest.mark.slow  # a fresh Python imports the frameworks
def test_unsafe_order_without_helpers_is_real():
    """The hazard the guard exists for: without helpers this order kills the process (SIGSEGV)."""
    p = run_py("import tensorflow\nimport torchvision\n")
    if p.returncode == 0:
        pytest.skip("this torch/TensorFlow pair no longer crashes in this order; the guard is harmless")
    assert p.returncode in (-11, 139), p.stderr[-1000:]


@pytest.mark.slow  # a fresh Python imports the frameworks
def test_setup_is_quiet_seeded_and_single_threaded():
    p = run_py("""
        import helpers
        helpers.setup(seed=3, verbose=False)
        import torch, tensorflow as tf, numpy as np
        print("THREADS", torch.get_num_threads(), tf.config.threading.get_intra_op_parallelism_threads())
        a = np.random.rand(); t = float(torch.rand(1))
        helpers.setup(seed=3, verbose=False)
        print("SAME", a == np.random.rand(), t == float(torch.rand(1)))
    """)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "THREADS 1 1" in p.stdout
    assert "SAME True True" in p.stdout
    noise = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert not noise, f"setup() must keep framework noise off stderr, got: {noise[:5]}"


@pytest.mark.slow  # a fresh Python imports the frameworks
def test_setup_refuses_after_unsafe_import():
    p = run_py("""
        import tensorflow
        import helpers
        try:
            helpers.setup(verbose=False)
        except RuntimeError as e:
            print("REFUSED", "Restart" in str(e))
    """)
    assert "REFUSED True" in p.stdout, p.stdout + p.stderr[-1000:]


def test_setup_rejects_bad_arguments():
    import helpers

    with pytest.raises(ValueError, match="fastai' and/or 'keras"):
        helpers.setup(frameworks=("jax",))
    with pytest.raises(ValueError, match="threads"):
        helpers.setup(threads=0)


def test_doctor_reports_a_wrong_version_with_a_fix(monkeypatch, capsys):
    from helpers import env

    monkeypatch.setitem(env.EXPECTED, "keras", "9.9.9")
    rep = env.doctor()
    out = capsys.readouterr().out
    assert not rep.ok
    assert "[FIX] keras" in out and "expected 9.9.9" in out and "make lab" in out


# --------------------------------------------------------------------------- twins


@pytest.mark.slow  # imports and trains both frameworks
def test_twins_expose_the_same_interface():
    """Parity: both twins implement helpers.twin.Twin, with its signatures, and share ACTIVATIONS."""
    from helpers import fastai_side, keras_side, twin

    assert fastai_side.__all__ == keras_side.__all__ == twin.FUNCTIONS
    for mod in (fastai_side, keras_side):
        assert isinstance(mod, twin.Twin), f"{mod.__name__} does not implement helpers.twin.Twin"
    for name in fastai_side.__all__:
        fa, ks = getattr(fastai_side, name), getattr(keras_side, name)
        assert inspect.signature(fa) == inspect.signature(ks), f"{name}: {inspect.signature(fa)} vs {inspect.signature(ks)}"
        proto = list(inspect.signature(getattr(twin.Twin, name)).parameters.values())[1:]  # without self
        assert list(inspect.signature(fa).parameters.values()) == proto, f"{name} differs from helpers.twin.Twin"
        assert fa.__doc__ and ks.__doc__, f"{name} needs a docstring in both twins"
    assert fastai_side.ACTIVATIONS is keras_side.ACTIVATIONS is twin.ACTIVATIONS


@pytest.mark.slow  # imports and trains both frameworks
def test_twins_dataloaders_return_the_shared_data_type(twins):
    """Both dataloaders() give a helpers.twin.TwinData with the same bs/shuffle/seed; fastai's stays a DataLoaders."""
    from fastai.data.core import DataLoaders

    from helpers import twin

    fa, ks = twins
    X, y = data.moons(n=40)
    pair = [mod.dataloaders(X, y, bs=8, shuffle=False, seed=7) for mod in twins]
    for dls in pair:
        assert isinstance(dls, twin.TwinData)
        assert (dls.bs, dls.shuffle, dls.seed) == (8, False, 7)
    assert isinstance(pair[0], DataLoaders)
    assert not isinstance(object(), twin.TwinData)
    for act in twin.ACTIVATIONS:  # every shared name builds on both sides, with the same parameter count
        assert fa.count_params(fa.mlp([2, 3, 1], act)) == ks.count_params(ks.mlp([2, 3, 1], act)) == 13


def test_activation_tables_are_keyed_by_the_one_list():
    """One list of activation names (helpers.twin.ACTIVATIONS); every table is built from it by activation_table,
    which refuses a table with a name missing or unknown."""
    from helpers import twin

    assert twin.activation_table({a: i for i, a in enumerate(reversed(twin.ACTIVATIONS))}).keys() == set(twin.ACTIVATIONS)
    assert list(twin.activation_table({"relu": 1, "step": 2, "tanh": 3}, partial=True, extra=("step",))) == \
        ["tanh", "relu", "step"], "returned in the list's order, extra names last"
    with pytest.raises(ValueError, match=r"missing \['gelu'\]"):
        twin.activation_table({a: 0 for a in twin.ACTIVATIONS if a != "gelu"})
    with pytest.raises(ValueError, match=r"unknown \['swish'\]"):
        twin.activation_table({"swish": 0}, partial=True)
    with pytest.raises(ValueError, match="choose one of"):
        twin.check_activation("softsign")
    from helpers.lessons import l04_xor

    assert set(l04_xor._ACTS) - {"step"} <= set(twin.ACTIVATIONS)


def test_every_framework_table_is_the_twins_own(twins):
    """Each framework's activations are defined once, beside its twin, and lesson 02 uses those same objects,
    so the curves it draws are what the networks compute; Keras layers hold what Keras's names resolve to."""
    import keras
    from torch import nn

    from helpers import twin
    from helpers.lessons import l02_activations

    fa, ks = twins
    for table in (fa.LAYER_ACTIVATIONS, ks.LAYER_ACTIVATIONS, l02_activations.LABELS, l02_activations.COLORS):
        assert tuple(table) == twin.ACTIVATIONS
    assert l02_activations.NAMES == tuple(a for a in twin.ACTIVATIONS if a != "linear")
    assert l02_activations.CLASSIC + l02_activations.MODERN == l02_activations.NAMES
    for name in twin.ACTIVATIONS:
        hidden = [m for m in fa.mlp([2, 3, 1], name) if not isinstance(m, nn.Linear)]
        assert type(hidden[0]) is type(l02_activations.torch_fn(name)), name
        dense = ks.mlp([2, 3, 1], name).layers[0]
        assert dense.activation is ks.LAYER_ACTIVATIONS[name] is l02_activations.tf_fn(name), name
        if name != "leaky_relu":  # the one Keras default that differs (slope 0.2): the twins use 0.01
            assert dense.activation is keras.activations.get(name), name
    assert fa.mlp([2, 3, 1], "leaky_relu")[1].negative_slope == twin.LEAKY_SLOPE == 0.01
    import helpers.activations  # the old name of lesson 02's module (its alias test is here: it imports torch)
    from helpers import activations

    assert helpers.activations is activations is l02_activations


def test_same_mlp_same_parameter_count(twins):
    fa, ks = twins
    for sizes in ([2, 8, 1], [64, 32, 10], [5, 4, 4, 3]):
        assert fa.count_params(fa.mlp(sizes)) == ks.count_params(ks.mlp(sizes)) == checks.count_params(fa.mlp(sizes))


def test_weights_copied_across_frameworks_give_the_same_outputs(twins):
    fa, ks = twins
    m_fa, m_ks = fa.mlp([2, 8, 1], "tanh", seed=0), ks.mlp([2, 8, 1], "tanh", seed=1)
    ks.set_weights(m_ks, fa.get_weights(m_fa))
    X, _ = data.logic_gate("xor")
    np.testing.assert_allclose(fa.predict(m_fa, X), ks.predict(m_ks, X), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected 4 arrays"):
        fa.set_weights(m_fa, fa.get_weights(m_fa)[:2])


@pytest.mark.slow  # imports and trains both frameworks
@pytest.mark.parametrize("side", ["fastai", "keras"])
def test_train_steps_solves_xor(twins, side):
    mod = twins[0] if side == "fastai" else twins[1]
    X, y = data.logic_gate("xor")
    dls = mod.dataloaders(X, y, bs=4, shuffle=False)
    run = mod.train(mod.mlp([2, 8, 1], "tanh", seed=0), dls, steps=300, lr=0.05)
    assert run.steps == 300 and run.params == 33
    assert run.final["train_accuracy"] == 1.0
    assert run.loss[-1] < run.loss[0] / 5, "the loss curve goes down"
    with pytest.raises(ValueError, match="exactly one of"):
        mod.train(mod.mlp([2, 1]), dls)


def test_fastai_dataloaders_spawn_no_workers(twins):
    fa, _ = twins
    dls = fa.dataloaders(*data.digits())
    # fastai keeps the real worker count on its torch loader (`.num_workers` is a shard counter)
    assert dls.train.fake_l.num_workers == 0 and dls.valid.fake_l.num_workers == 0


def test_grad_norms_one_per_dense_layer(twins):
    fa, ks = twins
    X, y = data.moons(n=64)
    for mod in (fa, ks):
        norms = mod.grad_norms(mod.mlp([2, 16, 16, 1], "sigmoid", seed=0), X, y)
        assert len(norms) == 3 and all(n > 0 for n in norms)


# --------------------------------------------------------------------------- widgets


def test_explorer_redraws_on_change_and_keeps_errors_visible():
    import matplotlib

    matplotlib.use("agg")
    from helpers import widgets

    calls = []

    def draw(a, kind):
        if kind == "bad":
            raise ValueError("boom")
        calls.append((a, kind))

    ex = widgets.Explorer(draw, a=widgets.slider("a", 1.0, 0, 2), kind=widgets.choice("kind", ["ok", "bad"]))
    assert ex.renders == 1 and calls == [(1.0, "ok")]
    ex.controls["a"].value = 2.0
    assert ex.renders == 2 and calls[-1] == (2.0, "ok")
    ex.controls["kind"].value = "bad"
    assert ex.renders == 3 and "boom" in ex.last_error
    with pytest.raises(ValueError, match="at least one control"):
        widgets.Explorer(draw)


def test_log_slider_spans_decades():
    from helpers import widgets

    s = widgets.log_slider("lr", 0.1, -4, 1)
    assert s.min == -4 and s.max == 1 and s.value == pytest.approx(0.1)

