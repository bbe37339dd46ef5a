"""Lesson 03 — Gradient descent: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.descent`` on its own; the slow ones execute the solution notebook
once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers import descent

NAME = "03_gradient_descent"


# --------------------------------------------------------------------------- helpers.descent (fast)


def test_descend_returns_the_path_and_leaves_x0_alone():
    x0 = np.array([3.0, -1.0])
    path = descent.descend(lambda v: 2 * v, x0, 0.25, 4)
    assert path.shape == (5, 2)
    assert np.array_equal(x0, [3.0, -1.0])
    np.testing.assert_allclose(path[:, 0], 3.0 * 0.5 ** np.arange(5))
    assert descent.descend(np.cos, 1.0, 0.1, 3).shape == (4,)
    assert descent.descend(np.cos, 1.0, 0.1, 0).tolist() == [1.0]


def test_descend_diverges_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = descent.descend(lambda v: 10 * v**3, 2.0, 1.0, 40)
    assert not np.isfinite(path[-1])
    assert descent.first_nonfinite(path) is not None
    assert descent.first_nonfinite([1.0, 2.0]) is None
    assert descent.first_nonfinite([[1.0, 1.0], [1.0, np.inf], [np.nan, 0.0]]) == 1


def test_minibatches_cover_every_row_once_in_a_seeded_order():
    X, y = np.arange(23).reshape(23, 1), np.arange(23) * 2
    batches = list(descent.minibatches(X, y, 5, seed=3))
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[0][:, 0] for b in batches])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    assert all(np.array_equal(yb, 2 * xb[:, 0]) for xb, yb in batches)
    again = np.concatenate([b[0][:, 0] for b in descent.minibatches(X, y, 5, seed=3)])
    assert np.array_equal(seen, again)
    with pytest.raises(ValueError):
        list(descent.minibatches(X, y[:5], 5))
    with pytest.raises(ValueError):
        list(descent.minibatches(X, y, 0))


def test_surface_draws_contours_and_clipped_paths():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    s = descent.Surface(lambda a, b: a**2 + 10 * b**2, (-2, 2), (-1, 1), n=41, minimum=(0, 0))
    assert s.Z.shape == (41, 41) and s.levels[0] >= 0
    ax = s.draw(title="bowl")
    s.path(ax, np.array([[1.5, 0.5], [np.inf, np.nan], [0.0, 0.0]]))
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_title() == "bowl"
    plt.close("all")


# --------------------------------------------------------------------------- the lesson's claims (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_hand_gradients_match_autograd(lesson):
    live = lesson(NAME)
    errs = live.eval("[grad_err_torch, grad_err_tf, grad_err_line]")
    assert max(errs) < 1e-9, f"hand-derived gradients differ from autograd: {errs}"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_descent_stops_in_the_valley_it_walks_into(lesson):
    live = lesson(NAME)
    stuck, reached = live.eval("[stuck_at, global_at]")
    deep, ridge, shallow = live.eval("[float(deep_min), float(ridge), float(shallow_min)]")
    assert deep < ridge < shallow, "the landscape has a deep valley, a ridge and a shallow valley, left to right"
    assert abs(stuck - shallow) < 0.05, f"from x = 2 the walk should settle in the shallow valley ({shallow}), got {stuck}"
    assert abs(reached - deep) < 0.01, f"from x = -2 the walk should reach the deep valley ({deep}), got {reached}"
    assert live.eval("bool(two_valleys(global_at) < two_valleys(stuck_at) - 0.5)")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_learning_rates_crawl_work_zigzag_and_diverge(lesson):
    live = lesson(NAME)
    final = {float(k): v for k, v in live.eval("lr_final_loss").items()}
    start, best = live.eval("[float(line_loss(P0)), float(loss_best)]")
    assert final[0.2] - best < 0.01, f"η = 0.2 should be near the minimum after 40 steps: {final}"
    assert final[0.02] - best > 100 * (final[0.2] - best), f"η = 0.02 should still be far off: {final}"
    assert final[0.2] < final[0.26] < start, f"η = 0.26 should converge, more slowly than 0.2: {final}"
    assert final[0.28] > 100 * start, f"η = 0.28 should make the loss grow: {final}"
    assert 0.26 < live.eval("lr_crit") < 0.28, "the cliff 2/λ_max lies between the zig-zag and the diverging rate"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_too_large_a_learning_rate_reaches_inf_then_nan(lesson):
    live = lesson(NAME)
    diverged, first_inf, first_nan, n = live.eval("[diverged, first_inf_step, first_nan_step, len(long_loss) - 1]")
    assert diverged is True
    assert 0 < first_inf < first_nan <= n
    assert live.eval("bool(np.isinf(long_loss[first_inf_step]) and np.isnan(long_walk[-1]).all())")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_learning_rate_on_the_real_model(lesson):
    live = lesson(NAME)
    acc = {float(k): v for k, v in live.eval("real_acc").items()}
    assert acc[0.3] >= 0.85, f"η = 0.3 should train the digits classifier: {acc}"
    assert acc[0.003] < 0.3, f"η = 0.003 should barely move in 100 steps: {acc}"
    assert acc[30.0] < 0.2, f"η = 30 should wreck the network (chance is 10%): {acc}"
    assert live.eval("real_diverged") is True
    assert live.eval("bool(max(real_runs[30.0].loss[:10]) > 10 * real_runs[30.0].loss[0])"), \
        "η = 30: the loss should jump far above where it started"
    assert live.eval("min(min(r.loss) for r in real_runs.values())") > 0, "per-step losses are positive numbers"
    assert 0.2 < live.eval("lr_crit_diabetes") < 0.3
    assert live.eval("real_nan") is True, "linear regression at twice its cliff should end with nan weights"
    assert live.eval("bool(max(blowup.loss[:30]) > 1e20)"), "the regression loss should explode before going nan"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_smaller_batches_make_noisier_paths(lesson):
    live = lesson(NAME)
    jitter = {int(k): v for k, v in live.eval("noise_jitter").items()}
    assert jitter[1] > 2 * jitter[8] > 4 * jitter[64], jitter


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_minibatch_noise_escapes_the_shallow_valley(lesson):
    live = lesson(NAME)
    escape = {int(k): v for k, v in live.eval("escape").items()}
    assert escape[256] == 0.0 and escape[64] == 0.0, f"full/large batches never escape: {escape}"
    assert escape[1] >= 0.5, f"single-sample SGD should escape in most runs: {escape}"
    assert escape[2] > 0.1, escape
    by_size = [escape[bs] for bs in sorted(escape, reverse=True)]
    assert by_size == sorted(by_size), f"escapes should grow as batches shrink: {escape}"
    assert live.eval("bool(np.all(traces[256][-1] > 0.7))"), "every full-batch run ends in the shallow valley"
    went_back = live.eval("went_back")
    assert max(went_back.values()) == 0.0, f"once deep in the left valley, no run should climb back out: {went_back}"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_batch_gradients_average_to_the_full_gradient(lesson):
    live = lesson(NAME)
    assert live.eval("batch_mean_error") < 1e-12
    assert live.eval("float(np.std(batch_grads, axis=0).min())") > 0.1, "the batch gradients should scatter"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_momentum_and_adam(lesson):
    live = lesson(NAME)
    assert live.eval("[momentum_matches_torch, adam_matches_torch]") == [True, True]
    final = live.eval("opt_final")
    gd, mom = final["gradient descent, η = 0.05"], final["momentum 0.9, η = 0.05"]
    assert gd / mom > 300, f"momentum should end about a thousand times closer than plain descent: {final}"
    first = np.array(live.eval("adam_first_steps.tolist()"))
    np.testing.assert_allclose(first[0], [0.1, 0.1], rtol=1e-3, err_msg="Adam's first step has length η per weight")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_fastai_and_keras_side_by_side(lesson):
    live = lesson(NAME)
    fa_d, ks_d, fa_t, ks_t, target = live.eval(
        "[fa_default_acc, ks_default_acc, fa_tuned_acc, ks_tuned_acc, TARGET_ACC]")
    assert fa_t >= target and ks_t >= target, f"tuned runs must reach {target}: fastai {fa_t}, Keras {ks_t}"
    assert abs(fa_t - ks_t) <= 0.03, f"tuned runs should land within a few points: fastai {fa_t}, Keras {ks_t}"
    assert fa_d < ks_d < target, f"with 92 steps fastai's defaults finish last, both below target: {fa_d}, {ks_d}"
    steps = live.eval("[r.steps for r in table_runs]")
    assert len(set(steps)) == 1 and steps[0] == live.eval("STEPS"), f"same step budget for every run: {steps}"
    lrs = live.eval("[float(v) for v in hist_tuned.history['learning_rate']]")
    assert lrs[0] > lrs[-1] > 0, f"the Keras scheduler should anneal the learning rate: {lrs}"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_learning_rate_and_batch_size_controls_redraw(lesson):
    live = lesson(NAME)
    before = live.eval("explorer.renders")
    live.exec("explorer.controls['lr'].value = 0.5")
    live.exec("explorer.controls['bs'].value = 1")
    live.exec("explorer.controls['lr'].value = 1.0")  # far past the cliff: must still draw cleanly
    assert live.eval("explorer.renders") == before + 3
    assert live.eval("explorer.last_error") is None
    assert live.eval("explorer.values") == {"lr": 1.0, "bs": 1}
    seconds = live.eval("explorer.last_seconds")
    assert seconds > 0
    print(f"\nlesson 03 explorer redraw: {seconds:.3f} s")
