"""The helpers' fast training paths compute what the frameworks' own paths compute.

``helpers.fastai_side.train`` uses a fastai ``Learner`` subclass (leaner event dispatch), fastai's
optimizers with a leaner step loop, and fastai's flattened losses on plain tensors; the speed-ups
(``benchmarks/bench_helpers.py``) are only worth having if the numbers stay the same.  These tests
hold them to stock fastai, bit for bit, and pin the shared batch order of ``train(..., steps=N)``.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from helpers import data


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


def _fit_both(p, make_model, dls, loss, opt, lr, fit):
    """Fit a stock fastai Learner and the helpers' Learner from the same weights on the same batches."""
    torch, fa = p["torch"], p["fa"]
    out = []
    for kind in ("stock", "helpers"):
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
    stock, ours = _fit_both(p, lambda: fa.mlp([2, 8, 1], "tanh"), dls, "BCE", "Adam", 0.05,
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
    make_dls = lambda: fa.dataloaders(d.X_train[:n], d.y_train[:n], d.X_valid, d.y_valid, bs=32, seed=0)  # noqa: E731
    results = []
    for kind in ("stock", "helpers"):
        random.seed(0)  # fastai's DataLoader shuffles with a Python RNG seeded from `random` when it is built
        dls = make_dls()
        torch.manual_seed(0)
        model = fa.mlp([64, 16, 10])
        if kind == "stock":
            learn = p["Learner"](dls, model, loss_func=p["CE"](), opt_func=p["SGD"], lr=0.1)
        else:
            learn = fa.learner(model, dls, lr=0.1, loss="ce", opt="sgd")
        with learn.no_bar(), learn.no_logging():
            learn.fit(2, 0.1)
        results.append(([w.detach().clone() for w in model.parameters()], learn.recorder.values))
    for a, b in zip(results[0][0], results[1][0]):
        assert torch.equal(a, b)
    assert results[0][1] == results[1][1]


def test_lean_optimizer_steps_exactly_like_fastais(fastai_parts):
    p = fastai_parts
    fa, torch = p["fa"], p["torch"]
    for name in ("adam", "sgd", "rmsprop"):
        torch.manual_seed(0)
        a, b = fa.mlp([3, 5, 2]), fa.mlp([3, 5, 2])
        b.load_state_dict(a.state_dict())
        stock = fa._optimizer(name).args[0](list(a.parameters()), lr=0.01)
        lean = fa._optimizer(name)(list(b.parameters()), lr=0.01)
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
