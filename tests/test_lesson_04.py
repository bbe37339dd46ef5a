"""Lesson 04 — XOR and the Minsky–Papert history: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.perceptron`` on its own; the slow ones execute the solution
notebook once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers import data, perceptron

NAME = "04_xor_minsky_papert"


# --------------------------------------------------------------------------- helpers.perceptron (fast)


def test_step_is_strict_and_forward_matches_a_hand_computation():
    assert perceptron.step([-1.0, 0.0, 1e-9]).tolist() == [0.0, 0.0, 1.0]
    W1, b1 = np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([0.1, -0.2])
    W2, b2 = np.array([[1.5], [-1.0]]), np.array([0.3])
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    expected = np.tanh(X @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(perceptron.forward([W1, b1, W2, b2], X), expected)
    np.testing.assert_allclose(perceptron.forward([W1, b1, W2, b2], X, act="relu", out_act="sigmoid"),
                               perceptron.sigmoid(np.maximum(X @ W1 + b1, 0) @ W2 + b2))
    with pytest.raises(ValueError):
        perceptron.forward([W1, b1, W2], X)
    with pytest.raises(ValueError):
        perceptron.forward([W1, b1], X, act="softplus")


def test_sigmoid_bce_and_accuracy_are_stable_and_correct():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(perceptron.sigmoid([-1000.0, 0.0, 1000.0]), [0.0, 0.5, 1.0])
        assert perceptron.bce(np.array([[1000.0]]), np.array([[1.0]])) == pytest.approx(0.0)
    z, t = np.array([0.3, -2.0, 1.2]), np.array([1.0, 0.0, 0.0])
    p = 1 / (1 + np.exp(-z))
    assert perceptron.bce(z, t) == pytest.approx(float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))))
    assert perceptron.bce(np.zeros(4), data.logic_gate("xor")[1]) == pytest.approx(np.log(2))
    assert perceptron.accuracy(z, t) == pytest.approx(2 / 3)
    assert perceptron.accuracy(np.zeros((4, 1)), data.logic_gate("xor")[1]) == 0.5  # z = 0 predicts class 0


def test_hidden_lines_and_drawing(caplog):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    weights = [np.array([[1.0, -1.0], [1.0, -1.0]]), np.array([-0.5, 1.5]), np.array([[1.0], [1.0]]),
               np.array([-1.5])]
    lines = perceptron.hidden_lines(weights)
    assert [(w.tolist(), b) for w, b in lines] == [([1.0, 1.0], -0.5), ([-1.0, -1.0], 1.5)]
    X, y = data.logic_gate("xor")
    fig, ax = plt.subplots()
    perceptron.draw_state(ax, weights, X, y, act="tanh")
    with caplog.at_level("WARNING", logger="matplotlib"):
        fig.canvas.draw()
    assert not caplog.records, "drawing logs nothing (no 'Ignoring fixed x limits' noise on stderr)"
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 2, "one dashed line per hidden unit"
    xs, ys = dashed[0].get_data()
    np.testing.assert_allclose(np.asarray(xs) + np.asarray(ys), 0.5)  # the OR unit's line x + y = 0.5
    assert ax.get_xlim() == pytest.approx((-0.5, 1.5))
    assert perceptron.draw_line(ax, [0.0, 0.0], 1.0) is None
    plt.close(fig)


# --------------------------------------------------------------------------- the lesson (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_runs_clean(lesson):
    live = lesson(NAME)
    assert live.errors() == []
    assert live.stderr() == []
    assert live.images() >= 8


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_perceptron_learns_and_or_but_not_xor(lesson):
    live = lesson(NAME)
    assert live.eval("perceptron_converged") == {"and": True, "or": True, "xor": False}
    mistakes = live.eval("gates['xor'][4]")
    assert len(mistakes) == 100 and min(mistakes) > 0, "XOR: a mistake in every one of the 100 epochs"
    # the learned lines really separate AND and OR
    for gate in ("and", "or"):
        assert live.eval(f"perceptron_predict(gates['{gate}'][0], gates['{gate}'][2], gates['{gate}'][3]).tolist()") \
            == data.logic_gate(gate)[1].ravel().tolist()
    assert live.eval("best_line_acc") == {"and": 1.0, "or": 1.0, "xor": 0.75}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_parity_needs_features_of_full_order(lesson):
    live = lesson(NAME)
    rows = live.eval("order_table.to_dict('records')")
    assert {r["problem"] for r in rows} == {"XOR (2-bit parity)", "3-bit parity", "4-bit parity"}
    for r in rows:
        n_bits = {"XOR (2-bit parity)": 2, "3-bit parity": 3, "4-bit parity": 4}[r["problem"]]
        assert bool(r["converged"]) == (r["order"] == n_bits), r


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_hand_set_network_computes_xor_in_both_frameworks(lesson):
    live = lesson(NAME)
    assert live.eval("two_layer(X_xor, xor_by_hand()).ravel().tolist()") == [0.0, 1.0, 1.0, 0.0]
    assert live.eval("hidden_units(X_xor, xor_by_hand()).T.tolist()") == [[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]]
    for col in ("PyTorch", "Keras"):
        out = np.array(live.eval(f"hand_out['{col}'].tolist()"))
        assert np.all(np.abs(out - [0, 1, 1, 0]) < 0.05), (col, out)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_single_layer_fails_and_hidden_layer_solves_xor_over_seeds(lesson):
    live = lesson(NAME)
    seeds = live.eval("SEEDS")
    assert len(seeds) >= 3, "several seeds, not one lucky run"
    single, hidden = live.eval("single_acc"), live.eval("hidden_acc")
    for fw in ("fastai", "keras"):
        assert len(single[fw]) == len(seeds) and len(hidden[fw]) == len(seeds)
        assert max(single[fw]) <= 0.75, (fw, single[fw])
        assert hidden[fw] == [1.0] * len(seeds), (fw, hidden[fw])
    assert live.eval("single_best_acc") <= 0.75, "the single layer is never above 75% at any step"
    # the single layer's loss ends near ln 2; the hidden layer's well below it
    for s in seeds:
        for fw in ("fastai", "keras"):
            single_loss = live.eval(f"float(curve(snapshots['single layer', '{fw}', {s}], perceptron.bce)[-1])")
            hidden_loss = live.eval(f"float(curve(snapshots['hidden layer', '{fw}', {s}], perceptron.bce)[-1])")
            assert abs(single_loss - np.log(2)) < 0.01, (fw, s, single_loss)
            assert hidden_loss < 0.2, (fw, s, hidden_loss)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_frameworks_follow_the_same_trajectory(lesson):
    live = lesson(NAME)
    steps, first = live.eval("STEPS"), live.eval("FIRST_STEPS")
    assert first >= 20
    n_snaps = live.eval("{f'{k}/{fw}/{s}': len(v) for (k, fw, s), v in snapshots.items()}")
    assert set(n_snaps.values()) == {steps + 1}, "a snapshot before training and after every step, in both"
    # really the same start (set_weights), then the same steps
    assert live.eval("max(float(np.abs(a - b).max()) for kind in KINDS for s in SEEDS for a, b in "
                     "zip(snapshots[kind, 'fastai', s][0], snapshots[kind, 'keras', s][0]))") == 0.0
    assert live.eval("traj_diff") < 1e-4
    assert live.eval("traj_diff_all") < 1e-3
    # the comparison can fail: the weights do move, far more than the gap between the frameworks
    moved = live.eval("min(max(float(np.abs(a - b).max()) for a, b in zip(snapshots['hidden layer', 'fastai', s][0], "
                      "snapshots['hidden layer', 'fastai', s][FIRST_STEPS])) for s in SEEDS)")
    assert moved > 1000 * live.eval("traj_diff")
    # the same optimiser: plain SGD with the same learning rate, no momentum
    assert live.eval("keras_models['hidden layer'].optimizer.get_config()['momentum']") == 0.0
    assert live.eval("float(keras_models['hidden layer'].optimizer.learning_rate.numpy())") == \
        pytest.approx(live.eval("LR"))
    assert live.eval("learn.opt_func is SGD and learn.lr == LR")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_explorer_reacts_to_its_controls(lesson):
    live = lesson(NAME)
    assert live.eval("explorer.last_error") is None
    assert live.eval("sorted(explorer.controls)") == ["model", "seed", "step"]
    assert live.eval("list(explorer.controls['model'].options)") == ["single layer", "hidden layer"]
    # other tests may already have moved the controls: always set a value different from the current one
    changes = [("step", "10 if explorer.controls['step'].value != 10 else 11"),
               ("model", "'single layer' if explorer.controls['model'].value != 'single layer' else 'hidden layer'"),
               ("seed", "1 if explorer.controls['seed'].value != 1 else 2"),
               ("step", "STEPS if explorer.controls['step'].value != STEPS else 0")]
    for control, value in changes:
        before = live.eval("explorer.renders")
        live.exec(f"explorer.controls['{control}'].value = {value}")
        assert live.eval("explorer.renders") == before + 1, f"setting {control} did not redraw"
        assert live.eval("explorer.last_error") is None


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_seed_3_rediscovers_the_or_nand_band_and_others_do_not(lesson):
    live = lesson(NAME)
    assert live.eval("explorer.controls['seed'].options[0]") == 0
    patterns = live.eval("{s: ((X_xor @ snapshots['hidden layer', 'fastai', s][-1][0] + "
                         "snapshots['hidden layer', 'fastai', s][-1][1]) > 0).T.astype(int).tolist() for s in SEEDS}")
    or_like = ([0, 1, 1, 1], [1, 0, 0, 0])      # OR, or its complement
    nand_like = ([1, 1, 1, 0], [0, 0, 0, 1])    # NAND, or its complement (AND)

    def band(units):
        return any(u in or_like for u in units) and any(u in nand_like for u in units)

    assert band(patterns["3"]), patterns["3"]
    assert not all(band(units) for units in patterns.values()), "other seeds find other arrangements"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_exercise_networks_solve_xor(lesson):
    live = lesson(NAME)
    assert live.eval("compare.metrics(fastai_side.predict(my_learn.model, X_xor), y_xor)['accuracy']") == 1.0
    assert live.eval("compare.metrics(keras_side.predict(my_keras, X_xor), y_xor)['accuracy']") == 1.0


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_universal_approximation_and_vanishing_gradients(lesson):
    live = lesson(NAME)
    err = {int(k): v for k, v in live.eval("ua_error").items()}
    assert err[64] < 0.05 and err[2] > 0.5 and err[64] < err[8] < err[2]
    ratio = live.eval("grad_ratio")
    assert ratio["sigmoid, default init"] > 1e4, "sigmoid gradients vanish towards the input"
    assert 0.1 < ratio["ReLU, He init"] < 10, "ReLU with He init keeps them the same size"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_depth_pays_off_at_a_fixed_budget(lesson):
    live = lesson(NAME)
    params = live.eval("{f'{n}/{fw}': checks.count_params(m) for (n, fw), m in depth_models.items()}")
    assert len(params) == 4 and len(set(params.values())) == 1, f"one parameter budget for all four: {params}"
    archs = live.eval("ARCHS")
    assert len(archs["shallow"]) == 3 and len(archs["deep"]) >= 5, "one hidden layer vs at least three"
    acc = live.eval("depth_acc")
    for fw in ("fastai", "keras"):
        assert acc[fw]["deep"]["train"] >= acc[fw]["shallow"]["train"] + 0.05, (fw, acc[fw])
        assert acc[fw]["deep"]["valid"] >= acc[fw]["shallow"]["valid"] + 0.05, (fw, acc[fw])
