"""Lesson 02 — Activation functions: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.activations`` on its own; the slow ones execute the solution
notebook once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import numpy as np
import pytest

NAME = "02_activation_functions"


# --------------------------------------------------------------------------- helpers.activations (fast)


@pytest.fixture(scope="module")
def act():
    import helpers

    helpers.setup(seed=0, verbose=False)
    from helpers import activations

    return activations


def test_curve_derivatives_are_autograds(act):
    x, y, dy = act.curve("sigmoid", -3, 3, 61)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(y, s, rtol=1e-12)
    np.testing.assert_allclose(dy, s * (1 - s), rtol=1e-10)
    x, y, dy = act.curve("relu", -1, 1, 5)
    assert y.tolist() == [0, 0, 0, 0.5, 1] and dy.tolist() == [0, 0, 0, 1, 1]  # 0 at the kink
    _, _, dleaky = act.curve("leaky_relu", -1, 1, 3)
    assert dleaky[0] == pytest.approx(0.01)
    x2, y2, _ = act.curve("relu", -1, 1, 5)
    y2[:] = 7  # callers get copies: the cache is not corrupted
    assert act.curve("relu", -1, 1, 5)[1].tolist() == [0, 0, 0, 0.5, 1]
    with pytest.raises(ValueError):
        act.curve("softsign")


def test_torch_and_tensorflow_functions_agree(act):
    import tensorflow as tf
    import torch

    x = np.linspace(-6, 6, 101).astype(np.float32)
    for name in act.NAMES + ("linear",):
        a = act.torch_fn(name)(torch.tensor(x)).numpy()
        b = act.tf_fn(name)(tf.constant(x)).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)


def test_twin_mlps_compute_the_same_function_for_every_activation(act):
    """fastai_side.mlp and keras_side.mlp with the same weights agree (leaky ReLU: slope 0.01 in both)."""
    from helpers import fastai_side, keras_side

    X = np.linspace(-3, 3, 40, dtype=np.float32).reshape(20, 2)
    for name in act.NAMES + ("linear",):
        k = keras_side.mlp([2, 5, 1], name, seed=1)
        f = fastai_side.mlp([2, 5, 1], name)
        W = [w + np.float32(0.5) for w in keras_side.get_weights(k)]
        keras_side.set_weights(k, W)
        fastai_side.set_weights(f, W)
        np.testing.assert_allclose(fastai_side.predict(f, X), keras_side.predict(k, X), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_hidden_outputs_and_dead_units_in_both_frameworks(act):
    from helpers import fastai_side, keras_side

    k = keras_side.mlp([2, 4, 3, 1], "relu", seed=0)
    f = fastai_side.mlp([2, 4, 3, 1], "relu")
    W = keras_side.get_weights(k)
    W[1][:] = [-100.0, 0.0, 0.0, 0.0]  # unit 1 of layer 1 can never switch on for |x| <= 1
    keras_side.set_weights(k, W)
    fastai_side.set_weights(f, W)
    X = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
    hf, hk = act.hidden_outputs(f, X), act.hidden_outputs(k, X)
    assert [h.shape for h in hf] == [(50, 4), (50, 3)] == [h.shape for h in hk]
    for a, b in zip(hf, hk):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert act.dead_fraction(f, X)[0] == pytest.approx(0.25)
    assert act.dead_fraction(k, X)[0] == pytest.approx(0.25)
    assert act.active_rate(f, X)[0][0] == 0.0


def test_deep_grad_norms_vanish_for_sigmoid_only(act):
    X = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)
    y = (X[:, :1] > 0).astype(np.float32)
    sig = act.deep_grad_norms(10, "sigmoid", X, y)
    relu = act.deep_grad_norms(10, "relu", X, y)
    assert len(sig) == len(relu) == 11
    assert sig[0] / sig[-1] < 1e-4
    assert relu[0] / relu[-1] > 1e-2
    assert act.deep_grad_norms(10, "sigmoid", X, y) == sig  # cached and deterministic
    assert len(act.deep_grad_norms(3, "tanh", X, y)) == 4


def test_time_forward_backward_returns_milliseconds(act):
    for fw in ("pytorch", "tensorflow"):
        ms = act.time_forward_backward(fw, "relu", n=1024, number=1, repeat=1)
        assert 0 < ms < 10_000
    with pytest.raises(ValueError):
        act.time_forward_backward("jax", "relu")


# --------------------------------------------------------------------------- the lesson's claims (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_a_stack_of_linear_layers_is_one_linear_layer(lesson):
    live = lesson(NAME)
    assert live.eval("list(W_composed.shape)") == [2, 1]
    assert live.eval("list(b_composed.shape)") == [1]
    gaps = live.eval("collapse_gap")
    assert set(gaps) == {"PyTorch, 4 layers", "Keras, 4 layers"}
    assert max(gaps.values()) < 1e-5, f"the deep linear net differs from X @ W + b by {gaps}"
    # ...and with an activation in between, the same weights are no longer linear
    nonlinear = live.eval(
        "float(np.abs(fastai_side.predict(with_activation('relu'), X_rand)"
        " - (X_rand @ W_composed + b_composed)).max())")
    assert nonlinear > 1e-3


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_frameworks_return_a_subgradient_at_zero(lesson):
    live = lesson(NAME)
    assert live.eval("relu_grad_at_zero") == {"PyTorch": 0.0, "TensorFlow": 0.0}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_the_kink_is_never_hit_and_the_choice_there_does_not_matter(lesson):
    live = lesson(NAME)
    assert live.eval("kink_zeros_seen") == 0
    assert live.eval("kink_same_losses") is True
    losses = live.eval("{str(g): v for g, v in kink_losses.items()}")
    assert set(losses) == {"0.0", "0.5", "1.0"} and all(len(v) == 100 for v in losses.values())
    assert losses["0.0"][-1] < 0.5 * losses["0.0"][0], "the ReLU net in the kink demo did not train"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_exercise_solutions_agree_with_the_frameworks(lesson):
    live = lesson(NAME)
    errs = live.eval("""[float(np.abs(f(_x) - g(torch.tensor(_x)).numpy()).max()) for _x in [np.linspace(-30, 30, 601)]
                         for f, g in ((sigmoid, torch.sigmoid), (tanh, torch.tanh), (relu, torch.relu))]""")
    assert max(errs) < 1e-12
    assert live.eval("float(d_relu(np.zeros(1))[0])") == 0.0
    assert live.eval("[checks.count_params(build_fastai_mlp(a)) == checks.count_params(build_keras_mlp(a)) == 337"
                     " for a in ('sigmoid', 'tanh', 'relu')]") == [True, True, True]


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_both_frameworks_train_the_same_mlp_with_every_activation(lesson):
    live = lesson(NAME)
    acts = live.eval("ACTS")
    assert acts == ["sigmoid", "tanh", "relu"]
    params = live.eval("param_counts")
    assert all(params[fw][a] == 337 for fw in ("fastai", "keras") for a in acts)
    acc = live.eval("final_acc")
    for fw in ("fastai", "keras"):
        assert acc[fw]["relu"] >= 0.95, f"{fw} ReLU network did not untangle the spirals: {acc[fw]}"
        assert acc[fw]["tanh"] >= 0.9, f"{fw} tanh network: {acc[fw]}"
        assert acc[fw]["sigmoid"] <= 0.85, f"{fw} sigmoid network is no longer the slow one: {acc[fw]}"
        assert acc[fw]["relu"] >= acc[fw]["sigmoid"] + 0.1
    explicit = live.eval("explicit_acc")
    assert min(explicit.values()) >= 0.9, f"the written-out ReLU models: {explicit}"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_frameworks_agree_within_the_stated_tolerance(lesson):
    live = lesson(NAME)
    tol = live.eval("AGREE_TOL")
    assert 0 < tol <= 0.05, "the stated tolerance should be a meaningful one"
    acc = live.eval("final_acc")
    gaps = {a: abs(acc["fastai"][a] - acc["keras"][a]) for a in acc["fastai"]}
    assert gaps == pytest.approx(live.eval("acc_gap"))
    assert max(gaps.values()) <= tol, f"fastai and Keras differ by more than {tol:.0%}: {gaps}"
    assert set(live.eval("list(summary.columns)")) >= {"fastai accuracy", "Keras accuracy", "fastai time (s)",
                                                      "Keras time (s)"}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_sigmoid_gradients_vanish_and_both_autograds_agree(lesson):
    live = lesson(NAME)
    depth = live.eval("DEPTH")
    norms = live.eval("deep_grad_norms")
    assert set(norms) == {"fastai", "keras"}
    for fw, by_act in norms.items():
        assert set(by_act) == {"sigmoid", "tanh", "relu"}
        for a, v in by_act.items():
            assert len(v) == depth + 1, f"{fw} {a}: one norm per dense layer"
        sig, relu, tanh = by_act["sigmoid"], by_act["relu"], by_act["tanh"]
        assert sig[0] / sig[-1] < 1e-4, f"{fw}: sigmoid gradients should vanish towards the input: {sig}"
        assert relu[0] / relu[-1] > 0.1 and tanh[0] / tanh[-1] > 0.05, f"{fw}: relu/tanh should not vanish"
        assert all(np.diff(np.log(sig)) > 0), "sigmoid norms shrink at every layer towards the input"
    for a in ("sigmoid", "tanh", "relu"):
        np.testing.assert_allclose(norms["fastai"][a], norms["keras"][a], rtol=1e-3,
                                   err_msg=f"{a}: same weights should give the same gradients in both frameworks")
    ratio = live.eval("grad_ratio")
    assert ratio["fastai"]["sigmoid"] < 1e-4


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_deep_sigmoid_net_is_stuck_while_relu_learns(lesson):
    live = lesson(NAME)
    at200 = live.eval("deep_acc_at_200")
    assert at200["sigmoid"] <= 0.6, f"deep sigmoid should still be near chance after 200 steps: {at200}"
    assert at200["relu"] >= 0.9, f"deep ReLU should have learned: {at200}"
    assert live.eval("deep_acc")["relu"] >= 0.9


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_dead_relus_are_measured_and_get_no_gradient(lesson):
    live = lesson(NAME)
    dead = live.eval("dead")
    assert set(dead) == {"fastai, lr 0.01", "Keras, lr 0.01", "fastai, lr 1.0"}
    assert all(len(v) == 2 and all(0 <= f <= 1 for f in v) for v in dead.values())
    assert np.mean(dead["fastai, lr 1.0"]) > np.mean(dead["fastai, lr 0.01"]) + 0.3, \
        f"a large learning rate should kill many more units: {dead}"
    zero = live.eval("zero_grad_units")
    n_dead_layer2 = round(dead["fastai, lr 1.0"][1] * 16)
    assert zero["ReLU"] == n_dead_layer2 > 0, "every dead unit, and only those, gets exactly zero gradient"
    assert zero["leaky ReLU, same weights"] == 0


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_cost_is_measured_for_every_activation_in_both_frameworks(lesson):
    live = lesson(NAME)
    cost = live.eval("cost_ms")
    names = live.eval("list(activations.NAMES)")
    assert set(cost) == {"pytorch", "tensorflow"}
    for fw in cost:
        assert set(cost[fw]) == set(names)
        assert all(0 < v < 60_000 for v in cost[fw].values())


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_explorer_redraws_for_depth_and_activation(lesson):
    live = lesson(NAME)
    before = live.eval("explorer.renders")
    live.exec("explorer.controls['depth'].value = 5")
    assert live.eval("explorer.renders") == before + 1
    assert live.eval("explorer.last_error") is None
    live.exec("explorer.controls['act'].value = 'gelu'")
    assert live.eval("explorer.renders") == before + 2
    assert live.eval("explorer.last_error") is None
    assert live.eval("len(activations.deep_grad_norms(5, 'gelu', X_batch, y_batch))") == 6
    live.exec("explorer.controls['depth'].value = 10; explorer.controls['act'].value = 'sigmoid'")
