"""The helpers' fast training paths compute what the frameworks' own paths compute.

``helpers.fastai_side.train`` uses a fastai ``Learner`` subclass (leaner event dispatch), fastai's
optimizers with a leaner step loop, and fastai's flattened losses on plain tensors
(``helpers/_fast_fastai.py``); ``helpers.keras_side.train`` runs Keras's own ``train_step`` for every
batch inside one traced ``tf.function`` (``helpers/_fast_keras.py``), reused across same-shaped
models.  The speed-ups (``benchmarks/bench_helpers.py``) are only worth having if the numbers stay the same: these tests hold the fastai path to stock
fastai bit for bit, the Keras path to ``compile`` + ``fit`` on the same batches, and pin the shared
batch order of ``train(..., steps=N)``.  The fast paths run only on the versions named in their modules'
``TESTED_VERSIONS``; the last tests pretend another version is installed and check that the stock
fallback trains to the same weights and says so once.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from course_tools import run_py
from helpers import data

pytestmark = pytest.mark.slow  # every test trains fastai and/or Keras


# --------------------------------------------------------------------------- batch order


def test_step_order_cuts_passes_into_batches():
    order = data.step_order(n=5, steps=7, bs=3, shuffle=True, seed=1)
    assert order.shape == (7, 3)
    flat = order.ravel()
    for k in range(4):  # 21 rows = four whole passes and the start of a fifth
        assert sorted(flat[5 * k:5 * k + 5]) == [0, 1, 2, 3, 4], f"pass {k} is not a permutation"
    assert np.array_equal(order, data.step_order(5, 7, 3, True, 1)), "same seed, same order"
    assert not np.array_equal(order, data.step_order(5, 7, 3, True, 2)), "another seed, another order"


def test_step_order_without_shuffle_cycles_in_order():
    assert data.step_order(4, 3, 4, shuffle=False).tolist() == [[0, 1, 2, 3]] * 3
    assert data.step_order(3, 2, 2, shuffle=False).tolist() == [[0, 1], [2, 0]]


@pytest.mark.parametrize("args", [(0, 5, 1), (4, 0, 2), (4, 5, 5), (4, 5, 0)])
def test_step_order_rejects_impossible_requests(args):
    with pytest.raises(ValueError, match="step_order needs"):
        data.step_order(*args)


# --------------------------------------------------------------------------- fastai


@pytest.fixture(scope="module")
def fastai_parts():
    import helpers

    helpers.setup(seed=0, verbose=False, frameworks=("fastai",))
    import fastai.callback.all  # noqa: F401 - no_bar, fit_one_cycle
    import torch
    from fastai.callback.core import Callback
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from fastai.optimizer import SGD, Adam

    from helpers import fastai_side as fa

    class Count(Callback):
        """Counts the events it sees; ``run_train=False`` like fastai's validation-only callbacks."""

        run_train = False

        def before_fit(self):
            self.seen = {}

        def after_pred(self):
            self.seen["after_pred"] = self.seen.get("after_pred", 0) + 1

        def after_batch(self):
            self.seen["after_batch"] = self.seen.get("after_batch", 0) + 1

    return dict(torch=torch, Callback=Callback, DataLoaders=DataLoaders, Learner=Learner, fa=fa, Adam=Adam, SGD=SGD,
                BCE=BCEWithLogitsLossFlat, CE=CrossEntropyLossFlat, Count=Count)


def _fit_both(p, make_model, make_dls, loss, opt, lr, fit):
    """Fit a stock fastai Learner and the helpers' Learner from the same weights on the same batches."""
    torch, fa = p["torch"], p["fa"]
    out = []
    for kind in ("stock", "helpers"):
        random.seed(0)  # fastai's DataLoader shuffles with a Python RNG seeded from `random` when it is built
        dls = make_dls()
        torch.manual_seed(0)
        model = make_model()
        lambda_calls = []
        cbs = [p["Count"](), p["Callback"](after_step=lambda cb: lambda_calls.append(1))]  # an event given as a kwarg
        if kind == "stock":
            learn = p["Learner"](dls, model, loss_func=p[loss](), opt_func=p[opt], lr=lr, cbs=cbs)
        else:
            learn = fa.learner(model, dls, lr=lr, loss={"BCE": "bce", "CE": "ce"}[loss], opt=opt.lower())
            learn.add_cbs(cbs)
        with learn.no_bar(), learn.no_logging():
            fit(learn)
        out.append(dict(weights=[w.detach().clone() for w in model.parameters()],
                        losses=[float(v) for v in learn.recorder.losses], values=learn.recorder.values,
                        seen=dict(cbs[0].seen), lambda_calls=len(lambda_calls), learn=learn))
    return out


def test_helpers_learner_trains_bit_for_bit_like_stock_fastai(fastai_parts):
    """XOR, Adam, one-cycle, the train(..., steps=N) batches: identical weights, losses and callback events."""
    p = fastai_parts
    fa, torch = p["fa"], p["torch"]
    X, y = data.logic_gate("xor")
    Xt, yt = torch.tensor(X), torch.tensor(y)
    order = data.step_order(4, 60, 2, shuffle=True, seed=3)
    dls = p["DataLoaders"](fa._Steps(Xt, yt, order), fa.dataloaders(X, y).valid)
    stock, ours = _fit_both(p, lambda: fa.mlp([2, 8, 1], "tanh"), lambda: dls, "BCE", "Adam", 0.05,
                            lambda learn: learn.fit_one_cycle(2, 0.05))
    assert type(ours["learn"]).__mro__[1] is p["Learner"], "helpers' Learner is a fastai Learner subclass"
    for a, b in zip(stock["weights"], ours["weights"]):
        assert torch.equal(a, b)
    assert stock["losses"] == ours["losses"] and len(ours["losses"]) == 120
    assert stock["values"] == ours["values"]
    assert stock["seen"] == ours["seen"] == {"after_pred": 2, "after_batch": 2}, "run_train=False: validation only"
    assert stock["lambda_calls"] == ours["lambda_calls"] == 120


def test_helpers_learner_matches_stock_on_a_fastai_dataloader(fastai_parts):
    """Digits, cross-entropy, SGD, two epochs over fastai's own (shuffling) DataLoader."""
    p = fastai_parts
    fa, torch = p["fa"], p["torch"]
    d = data.digits()
    n = 300
    stock, ours = _fit_both(p, lambda: fa.mlp([64, 16, 10]),
                            lambda: fa.dataloaders(d.X_train[:n], d.y_train[:n], d.X_valid, d.y_valid, bs=32, seed=0),
                            "CE", "SGD", 0.1, lambda learn: learn.fit(2, 0.1))
    for a, b in zip(stock["weights"], ours["weights"]):
        assert torch.equal(a, b)
    assert stock["values"] == ours["values"]


def test_lean_optimizer_steps_exactly_like_fastais(fastai_parts):
    p = fastai_parts
    fa, torch = p["fa"], p["torch"]
    for name in ("adam", "sgd", "rmsprop"):
        torch.manual_seed(0)
        a, b = fa.mlp([3, 5, 2]), fa.mlp([3, 5, 2])
        b.load_state_dict(a.state_dict())
        stock = fa._optimizer(name)(list(a.parameters()), lr=0.01)
        lean = fa._fast.lean_optimizer(fa._optimizer(name), list(b.parameters()), lr=0.01)
        assert type(lean).__name__ == "Optimizer" and type(stock).__name__ == "Optimizer"
        assert type(lean) is not type(stock)
        x = torch.randn(16, 3)
        for _ in range(5):
            for model, opt in ((a, stock), (b, lean)):
                model(x).pow(2).mean().backward()
                opt.step()
                opt.zero_grad()
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb), name
            assert pb.grad is not None and not pb.grad.any(), "zero_grad zeroes (like fastai's) rather than dropping grads"


def test_train_steps_uses_the_shared_batch_order(fastai_parts):
    """train(steps=N) sees the batches of data.step_order(seed=dls.seed): the same ones the Keras twin gets."""
    p = fastai_parts
    fa, torch = p["fa"], p["torch"]
    X, y = data.moons(n=40, seed=0)
    dls = fa.dataloaders(X, y, bs=8, shuffle=True, seed=5)
    seen = []

    class Spy(p["Callback"]):
        order = 0

        def before_batch(self):
            if self.training:
                seen.append(self.learn.xb[0].clone())

    run = fa.train(fa.mlp([2, 4, 1], seed=0), dls, steps=12, lr=0.01)
    assert len(run.loss) == 12 and all(np.isfinite(run.loss))
    # re-run with the spy: the batches must be the rows given by step_order
    learn = fa.learner(fa.mlp([2, 4, 1], seed=0), p["DataLoaders"](
        fa._Steps(torch.tensor(X), torch.tensor(y), data.step_order(40, 12, 8, True, 5)), dls.valid), lr=0.01)
    learn.add_cb(Spy())
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)
    order = data.step_order(40, 12, 8, True, 5)
    assert len(seen) == 12
    for xb, rows in zip(seen, order):
        assert torch.equal(xb, torch.tensor(X[rows]))
    assert run.loss[0] == pytest.approx(float(learn.recorder.losses[0]), rel=1e-6), "same first batch, same loss"


# --------------------------------------------------------------------------- Keras
# helpers.keras_side.train runs Keras's own train_step in one tf.function per architecture (see its docstring).
# These tests pin that it is the same training as a plain compile + fit on the same batches.


def _keras_reference(ks, start, sizes, act, model_fn, X, y, bs, fits, opt, rate, loss):
    """A plain ``compile`` + ``fit`` from ``start`` weights; ``fits`` is one row order per ``fit`` call."""
    import keras

    ref = model_fn(sizes, act)
    ks.set_weights(ref, start)
    opts = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    losses = {"bce": keras.losses.BinaryCrossentropy(from_logits=True),
              "ce": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    ref.compile(optimizer=opts[opt](learning_rate=rate), loss=losses[loss])
    for rows in fits:
        ref.fit(X[rows], y[rows], batch_size=bs, shuffle=False, epochs=1, verbose=0)
    return ref


def _fit_orders(n, bs, shuffle, seed, epochs=None, steps=None):
    """The batches train() promises, written out independently: seeded passes cut into batches."""
    rng = np.random.default_rng(seed)
    if steps is not None:
        rows = np.concatenate([rng.permutation(n) if shuffle else np.arange(n) for _ in range(-(-steps * bs // n))])
        return [rows[: steps * bs]]
    return [rng.permutation(n) if shuffle else np.arange(n) for _ in range(epochs)]


def _functional_mlp(sizes, act):
    import keras

    inp = keras.Input((sizes[0],))
    h = inp
    for i, units in enumerate(sizes[1:]):
        h = keras.layers.Dense(units, activation=None if i == len(sizes) - 2 else act)(h)
    return keras.Model(inp, h)


def _assert_same_training(ks, model, ref, atol=1e-5):
    for a, b in zip(ks.get_weights(model), ks.get_weights(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    assert int(model.optimizer.iterations) == int(ref.optimizer.iterations)
    for a, b in zip(model.optimizer.variables, ref.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol, err_msg=a.path)


@pytest.mark.parametrize("opt", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("path", [{"steps": 25}, {"epochs": 3}])
@pytest.mark.parametrize("shuffle", [True, False])
def test_keras_train_equals_fit_on_the_same_batches(twins, opt, path, shuffle):
    """Fresh model, cached-trainer model (same architecture) and a functional model: all equal to fit."""
    _, ks = twins
    X, y = data.moons(n=50, seed=1)  # 50 rows, bs 16: epochs end with a 2-row batch, steps span passes
    dls = ks.dataloaders(X, y, bs=16, shuffle=shuffle, seed=4)
    fits = _fit_orders(50, 16, shuffle, 4, **path)
    # cold or cached trainer, cached trainer with another learning rate, per-model trainer
    for model_fn, lr in ((ks.mlp, 0.03), (ks.mlp, 0.07), (_functional_mlp, 0.05)):
        model = model_fn([2, 6, 1], "tanh")
        start = ks.get_weights(model)
        run = ks.train(model, dls, lr=lr, opt=opt, **path)
        ref = _keras_reference(ks, start, [2, 6, 1], "tanh", model_fn, X, y, 16, fits, opt, lr, "bce")
        _assert_same_training(ks, model, ref)
        assert run.steps == ref.optimizer.iterations == (25 if "steps" in path else 3 * 4)
        assert run.learner is model and model.optimizer.get_config()["learning_rate"] == pytest.approx(lr)
    assert any(key[0] == ks._fast.architecture(ks.mlp([2, 6, 1], "tanh")) for key in ks._fast._TRAINERS), "trainer reused"


def test_keras_train_equals_fit_for_classes_and_one_cycle(twins):
    _, ks = twins
    s = data.digits()
    X, y = s.X_train[:100], s.y_train[:100]
    dls = ks.dataloaders(X, y, bs=32, seed=2)
    for kwargs, total in (({"epochs": 2}, 8), ({"steps": 30, "one_cycle": True}, 30)):
        model = ks.mlp([64, 8, 10], "relu", seed=3)
        start = ks.get_weights(model)
        ks.train(model, dls, lr=0.02, **kwargs)
        rate = ks._one_cycle(total, 0.02) if kwargs.get("one_cycle") else 0.02
        fits = _fit_orders(100, 32, True, 2, epochs=kwargs.get("epochs"), steps=kwargs.get("steps"))
        ref = _keras_reference(ks, start, [64, 8, 10], "relu", ks.mlp, X, y, 32, fits, "adam", rate, "ce")
        _assert_same_training(ks, model, ref)


def test_keras_train_loss_curve_is_the_true_mean_of_every_10_steps(twins):
    """Each point is the mean over 10 steps (fewer for the last) of the loss of each batch at the weights
    before its update: what fit computed for that step."""
    import keras

    _, ks = twins
    X, y = data.moons(n=40, seed=2)
    dls = ks.dataloaders(X, y, bs=16, seed=1)
    model = ks.mlp([2, 5, 1], "relu")
    start = ks.get_weights(model)
    run = ks.train(model, dls, epochs=8, lr=0.05)
    assert run.loss_steps == [10, 20, 24]
    ref = ks.mlp([2, 5, 1], "relu")
    ks.set_weights(ref, start)
    ref.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    expected = []
    for rows in _fit_orders(40, 16, True, 1, epochs=8):
        for b in range(0, 40, 16):
            xb, yb = X[rows[b:b + 16]], y[rows[b:b + 16]]
            expected.append(float(bce(yb, ref(xb))))
            ref.train_on_batch(xb, yb)
    means = [np.mean(expected[:10]), np.mean(expected[10:20]), np.mean(expected[20:])]
    np.testing.assert_allclose(run.loss, means, rtol=1e-5, atol=1e-6)
    _assert_same_training(ks, model, ref)


def test_keras_train_draws_no_random_numbers_and_stays_usable(twins):
    """A cold trainer builds a template model: it must not shift the seeded initial weights of later models."""
    import keras

    _, ks = twins
    X, y = data.moons(n=30)
    dls = ks.dataloaders(X, y, bs=8)
    keras.utils.set_random_seed(11)
    ks.train(ks.mlp([2, 9, 3, 1], "gelu"), dls, steps=3)  # an architecture no other test uses: cold
    after_train = ks.get_weights(ks.mlp([2, 4, 1]))
    keras.utils.set_random_seed(11)
    ks.mlp([2, 9, 3, 1], "gelu")
    untouched = ks.get_weights(ks.mlp([2, 4, 1]))
    for a, b in zip(after_train, untouched):
        np.testing.assert_array_equal(a, b)
    model = ks.mlp([2, 9, 3, 1], "gelu")
    ks.train(model, dls, steps=3)
    model.fit(X, y, batch_size=8, epochs=1, verbose=0)  # compiled for these data, as learner() leaves it
    assert int(model.optimizer.iterations) == 3 + 4 and np.isfinite(model.evaluate(X, y, verbose=0))


def test_keras_train_is_quiet():
    """Nothing on stdout/stderr from train(): cold, cached, per-model trainer, new data shapes, one_cycle."""
    p = run_py("""
        import helpers
        helpers.setup(verbose=False)
        import keras
        from helpers import data, keras_side as ks
        X, y = data.moons(n=60)
        s = data.digits()
        for i in range(7):
            sizes = [2, 3 + i % 3, 1]
            ks.train(ks.mlp(sizes, "tanh"), ks.dataloaders(X[: 20 + 5 * i], y[: 20 + 5 * i], bs=8),
                     steps=5 + i, lr=0.01 * (i + 1), one_cycle=i == 6, opt=("adam", "sgd", "rmsprop")[i % 3])
        ks.train(ks.mlp([64, 16, 10], "relu"), ks.dataloaders(*s, bs=128), epochs=1)
        free = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
        ks.train(free, ks.dataloaders(X, y, bs=16), epochs=2)
    """)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout == "", p.stdout[-2000:]
    noise = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert not noise, f"train() must keep graded cells quiet, got: {noise[:5]}"


# --------------------------------------------------------------------------- version gate and fallback


def _fallback_vs_fast(mod, fast, monkeypatch, capsys, X, y, dls_kw, train_kw, runs=2):
    """Train from the same start with the fast path, then ``runs`` times on a pretended untested version."""
    from helpers import twin

    monkeypatch.setattr(twin, "_NOTICED", set())
    monkeypatch.delenv(twin.FAST_PATHS_ENV, raising=False)

    def fit():
        random.seed(0)  # fastai's shuffling DataLoader (epochs=...) seeds its RNG from `random` when built
        model = mod.mlp([2, 8, 1], "tanh", seed=0)
        run = mod.train(model, mod.dataloaders(X, y, **dls_kw), lr=0.05, **train_kw)
        return model, run

    assert fast.enabled(), f"these tests expect the tested versions installed: {fast.TESTED_VERSIONS}"
    fast_model, fast_run = fit()
    capsys.readouterr()
    first = next(iter(fast.TESTED_VERSIONS))
    monkeypatch.setitem(fast.TESTED_VERSIONS, first, "0.0.1")  # as if another version were installed
    stock = [fit() for _ in range(runs)]
    out = capsys.readouterr().out
    assert out.count(f"helpers.{mod.FRAMEWORK}_side:") == 1, f"one notice, got: {out!r}"
    assert f"untested {first}" in out and "stock" in out
    return fast_model, fast_run, stock


@pytest.mark.parametrize("train_kw", [{"steps": 60}, {"epochs": 20, "one_cycle": True}])
def test_fastai_fallback_on_an_untested_version_trains_to_the_same_weights(twins, monkeypatch, capsys, train_kw):
    from fastai.learner import Learner
    from fastai.optimizer import Optimizer

    from helpers import _fast_fastai

    fa, _ = twins
    X, y = data.logic_gate("xor")
    fast_model, fast_run, stock = _fallback_vs_fast(fa, _fast_fastai, monkeypatch, capsys, X, y,
                                                    dict(bs=2, shuffle=True, seed=3), train_kw)
    assert type(fast_run.learner) is not Learner
    for model, run in stock:
        assert type(run.learner) is Learner and type(run.learner.opt) is Optimizer, "stock fastai classes"
        for a, b in zip(fa.get_weights(fast_model), fa.get_weights(model), strict=True):
            np.testing.assert_array_equal(a, b)  # the same fastai math: bit for bit
        assert run.loss == fast_run.loss and run.loss_steps == fast_run.loss_steps


@pytest.mark.parametrize("train_kw", [{"steps": 45}, {"epochs": 3, "one_cycle": True}])
def test_keras_fallback_on_an_untested_version_trains_to_the_same_weights(twins, monkeypatch, capsys, train_kw):
    import keras

    from helpers import _fast_keras

    _, ks = twins
    X, y = data.moons(n=50, seed=1) if "epochs" in train_kw else data.logic_gate("xor")  # epochs: a short last batch
    dls_kw = dict(bs=16, shuffle=True, seed=4) if "epochs" in train_kw else dict(bs=2, shuffle=True, seed=3)
    fast_model, fast_run, stock = _fallback_vs_fast(ks, _fast_keras, monkeypatch, capsys, X, y, dls_kw, train_kw)
    assert getattr(fast_model, "history", None) is None, "the fast path never calls fit"
    for model, run in stock:
        assert isinstance(model.history, keras.callbacks.History), "the fallback trains with model.fit"
        _assert_same_training(ks, model, fast_model, atol=1e-6)
        assert run.steps == fast_run.steps and run.loss_steps == fast_run.loss_steps
        if "steps" in train_kw:  # equal batch sizes: Keras's running mean gives the same per-10-step means
            np.testing.assert_allclose(run.loss, fast_run.loss, rtol=1e-5, atol=1e-6)
        else:  # 2-row last batches: Keras's running mean weights steps by rows, the fast curve does not
            np.testing.assert_allclose(run.loss, fast_run.loss, rtol=0.1)


@pytest.mark.parametrize("value,expected", [("0", False), ("off", False), ("1", True)])
def test_fast_paths_env_var_switches_both_off(monkeypatch, capsys, value, expected):
    from helpers import twin

    monkeypatch.setattr(twin, "_NOTICED", set())
    monkeypatch.setenv(twin.FAST_PATHS_ENV, value)
    tested = {"fastai": "2.8.12", "torch": "2.14.1"}
    assert twin.fast_path_allowed("fastai", tested, {"fastai": "2.8.12", "torch": "2.14.1+cu130"}) is expected
    assert twin.fast_path_allowed("fastai", tested, {"fastai": "2.8.12", "torch": "2.14.1"}) is expected
    out = capsys.readouterr()
    assert out.out.count("\n") == (0 if expected else 1) and out.err == ""
    if not expected:
        assert f"{twin.FAST_PATHS_ENV}={value}" in out.out
