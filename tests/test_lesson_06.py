"""Lesson 06 — Generalisation: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.lessons.l06_generalisation`` (the curve drawing) on its own; the slow ones execute
the solution notebook once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from course_tools import cell_source, grade_answer, prompts_say_what_is_checked
from grading import course
from helpers.lessons import l06_generalisation

NAME = "06_generalisation"


# --------------------------------------------------------------------------- helpers.lessons.l06_generalisation (fast)


def test_best_epoch_is_one_based_and_takes_the_first_minimum():
    assert l06_generalisation.best_epoch([3.0, 1.0, 2.0, 1.0]) == 2
    assert l06_generalisation.best_epoch(np.array([0.5])) == 1
    with pytest.raises(ValueError):
        l06_generalisation.best_epoch([])


def test_side_by_side_draws_one_axes_per_framework_and_marks_the_best_epoch():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {"train": [2.0, 1.0, 0.5, 0.2], "valid": [2.1, 1.2, 1.4, 1.8]}
    fig = l06_generalisation.side_by_side({"fastai": curves, "keras": curves}, suptitle="t", ylim=(0, 3))
    try:
        axes = fig.axes
        assert len(axes) == 2 and [a.get_title() for a in axes] == ["fastai", "Keras"]
        lines = axes[0].get_lines()
        assert list(lines[1].get_ydata()) == curves["valid"]
        marker = [ln for ln in lines if ln.get_marker() == "o"]
        assert len(marker) == 1 and list(marker[0].get_xdata()) == [2] and list(marker[0].get_ydata()) == [1.2]
        assert axes[1].get_ylim() == (0, 3)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- the lesson (slow)


def _slow(fn):
    return pytest.mark.slow(pytest.mark.xdist_group(NAME)(fn))


@_slow
def test_choosing_on_a_set_makes_its_score_optimistic(lesson):
    live = lesson(NAME)
    valid, test = live.eval("chosen_valid_acc"), live.eval("chosen_test_acc")
    assert valid >= 0.12, "the best of 200 random guessers looks better than chance on the set it was chosen on"
    assert test <= valid - 0.02, "and that advantage does not carry over to the test set"
    assert abs(live.eval("float(acc_test.mean())") - 0.1) < 0.01, "the guessers really are at chance"


@_slow
def test_the_split_is_disjoint_complete_and_the_small_set_comes_from_training(lesson):
    live = lesson(NAME)
    sizes = live.eval("split_sizes")
    assert sizes == {"train (all)": 1079, "train (used)": 150, "valid": 359, "test": 359}
    assert live.eval("len(set(np.concatenate([train_idx, valid_idx, test_idx]).tolist()))") == 1797
    assert live.eval("set(small_idx.tolist()) <= set(np.asarray(train_idx).tolist())")
    assert live.eval("[len(set(p.tolist())) for p in (y_small, y_valid, y_test)]") == [10, 10, 10]


@_slow
def test_both_frameworks_start_from_the_same_weights(lesson):
    live = lesson(NAME)
    assert live.eval("max(float(np.abs(a - b).max()) for a, b in zip(keras_side.get_weights(keras_mlp()), start))") \
        == 0.0
    assert live.eval("max(float(np.abs(a - b).max()) for a, b in "
                     "zip(fastai_side.get_weights(torch_mlp()), start))") == 0.0
    assert live.eval("checks.count_params(torch_mlp())") == live.eval("checks.count_params(keras_mlp())") == 26122


@_slow
@pytest.mark.parametrize("fw", ["fastai", "keras"])
def test_without_decay_validation_loss_rises_while_training_loss_falls(lesson, fw):
    live = lesson(NAME)
    curves = live.eval(f"{fw}_plain")
    train, valid = curves["train"], curves["valid"]
    assert len(train) == len(valid) == 15
    best = int(np.argmin(valid))
    assert best <= 3, f"the validation loss bottoms out early (epoch {best + 1})"
    assert valid[-1] >= 1.5 * valid[best], f"and then climbs: {valid}"
    assert train[-1] < train[best] and train[-1] < 0.01, f"while the training loss keeps falling: {train}"
    # after the turn, the validation loss is above its minimum at every epoch, the training loss below its value
    assert all(v > valid[best] for v in valid[best + 2:])
    assert all(t < train[best] for t in train[best + 1:])
    # the accuracy moves much less than the loss (the prose's "overconfident" point)
    acc = curves["accuracy"]
    assert max(acc) - acc[-1] <= 0.05


@_slow
def test_the_two_frameworks_agree_where_they_should(lesson):
    live = lesson(NAME)
    assert live.eval("curve_gap_plain") <= 0.1, "the no-decay validation curves are within 10 % of each other"
    assert live.eval("plain_best['fastai'] == plain_best['keras']")
    wd_gap = live.eval("float(np.max(np.abs(np.array(fastai_wd['valid']) - np.array(keras_wd['valid'])) "
                       "/ np.array(keras_wd['valid'])))")
    assert wd_gap <= 0.15
    gaps = live.eval("{' / '.join(k): v for k, v in coupling_gaps.items()}")
    assert gaps["fastai vs Keras / SGD with decoupled decay"] <= 1e-6, "SGD: the two frameworks agree to rounding"
    assert gaps["fastai vs Keras / Adam with decoupled decay"] <= gaps["Keras / Adam: AdamW vs Adam + L2 regularizer"] / 5


@_slow
@pytest.mark.parametrize("fw", ["fastai", "keras"])
def test_weight_decay_lowers_the_final_validation_loss_and_the_gap(lesson, fw):
    live = lesson(NAME)
    plain, wd = live.eval(f"{fw}_plain"), live.eval(f"{fw}_wd")
    assert wd["valid"][-1] <= 0.7 * plain["valid"][-1]
    assert wd["valid"][-1] - wd["train"][-1] <= 0.7 * (plain["valid"][-1] - plain["train"][-1])
    assert wd["train"][-1] > plain["train"][-1], "decay keeps the training loss from racing to zero"
    finals = live.eval(f"[sweep_curves[w, '{fw}']['valid'][-1] for w in SWEEP]")
    assert live.eval("list(SWEEP)") == [0.0, 0.3, 1.0]
    assert finals == sorted(finals, reverse=True), f"more decay, lower final validation loss here: {finals}"


@_slow
def test_fastai_default_weight_decay_is_read_from_the_api(lesson):
    from fastai.learner import Learner
    from fastai.optimizer import SGD, Adam

    live = lesson(NAME)
    assert live.eval("fastai_default_wd") == inspect.signature(Adam).parameters["wd"].default == 0.01
    assert live.eval("fastai_adam_defaults['decouple_wd']") is True
    assert live.eval("sgd_default_wd") == inspect.signature(SGD).parameters["wd"].default == 0.0
    assert live.eval("learner_defaults") == {"wd": inspect.signature(Learner).parameters["wd"].default,
                                             "wd_bn_bias": False}
    assert live.eval("default_shrink") == pytest.approx((1 - 0.01 * 0.01) ** 90)
    assert live.eval("default_shrink") > 0.99, "the prose: less than 1 % over the run"
    import keras

    assert live.eval("keras_adamw_default") == keras.optimizers.AdamW().get_config()["weight_decay"] == 0.004
    assert live.eval("keras_adam_default") is None


@_slow
def test_the_learners_decay_weights_but_not_biases(lesson):
    live = lesson(NAME)
    assert live.eval("learn_wd.opt.hypers[0]['wd']") == 1.0
    assert live.eval("learn_plain.opt.hypers[0]['wd']") == 0.0
    flags = live.eval("[(p.ndim, learn_wd.opt.state[p].get('do_wd', True)) for p in learn_wd.model.parameters()]")
    assert flags == [[2, True], [1, False]] * 3, "weight matrices decayed, biases exempt (wd_bn_bias=False)"
    excluded = live.eval("[adamw._use_weight_decay(v) for v in keras_wd_model.trainable_variables]")
    assert excluded == [True, False] * 3, "Keras: the biases were excluded from the decay"


@_slow
def test_decoupled_equals_l2_for_sgd_but_not_for_adam(lesson):
    live = lesson(NAME)
    gaps = live.eval("{' / '.join(k): v for k, v in coupling_gaps.items()}")
    assert gaps["fastai / SGD: decoupled vs L2"] <= 1e-6
    assert gaps["Keras / SGD: weight_decay vs L2 regularizer"] <= 1e-6
    assert gaps["fastai / Adam: decoupled vs L2"] >= 0.05
    assert gaps["Keras / Adam: AdamW vs Adam + L2 regularizer"] >= 0.05
    # the comparison can fail: the same SGD run without decay ends elsewhere
    live.exec("_saved_wd, DEMO_WD = DEMO_WD, 0.0\n_no_decay = fastai_weights_after(SGD, SGD_LR, True)\n"
              "DEMO_WD = _saved_wd")
    assert live.eval("weight_gap(fa_sgd_dec, _no_decay)") > 1e-3


@_slow
def test_numpy_adam_decouples_the_decay_from_the_gradient_scale(lesson):
    live = lesson(NAME)
    table = live.eval("decay_table.to_dict(orient='index')")
    dec, l2 = list(table["decoupled"].values()), list(table["L2 in the gradient"].values())
    assert dec[0] == pytest.approx(dec[1], rel=0.01), "decoupled: the same pull on both weights"
    assert 0 < l2[0] < 0.5 * dec[0], "L2 inside Adam: the large-gradient weight is hardly decayed"
    assert l2[1] > 3 * dec[1], "and the tiny-gradient weight far more"


@_slow
def test_early_stopping_stops_at_the_same_epoch_and_keeps_the_best_weights(lesson):
    live = lesson(NAME)
    assert live.eval("fastai_es_epochs") == live.eval("keras_es_epochs") < 15
    # the reused Keras model really was a fresh run: the same curve as the full run, as far as it went
    assert live.eval("float(np.max(np.abs(np.array(keras_es['valid']) - "
                     "np.array(keras_plain['valid'][:keras_es_epochs]))))") <= 1e-6
    assert live.eval("fastai_es_restored") == pytest.approx(live.eval("min(fastai_plain['valid'])"), rel=1e-4)
    assert live.eval("keras_es_restored") == pytest.approx(live.eval("min(keras_plain['valid'])"), rel=1e-4)
    assert live.eval("{fw: list(v) for fw, v in replayed.items()}") == \
        live.eval("{fw: list(v) for fw, v in actual.items()}")
    # SaveModelCallback wrote into the scratch folder, not next to the lesson
    assert not (course.source_ipynb(NAME).parent / "models").exists()


@_slow
def test_the_test_set_is_scored_once_for_the_setting_chosen_on_validation(lesson):
    live = lesson(NAME)
    scores = live.eval("valid_scores")
    chosen = live.eval("chosen_setting")
    for fw in ("fastai", "keras"):
        assert scores[fw][chosen[fw]] == min(scores[fw].values())
        assert chosen[fw] != "weight decay 0"
    tests = live.eval("test_scores")
    assert all(t["accuracy"] >= 0.8 for t in tests.values()), tests


@_slow
def test_decay_explorer_shows_each_precomputed_weight_decay(lesson):
    live = lesson(NAME)
    for wd in (0.3, 1.0, 0.0):
        before = live.eval("decay_explorer.renders")
        live.exec(f"decay_explorer.controls['wd'].value = {wd}")
        assert live.eval("decay_explorer.renders") == before + 1 and live.eval("decay_explorer.last_error") is None
    assert live.eval("sorted({w for w, _ in sweep_curves})") == [0.0, 0.3, 1.0]


# --------------------------------------------------------------------------- the exercises grade fairly (slow)


def _cell(grade_id: str) -> str:
    return cell_source(NAME, grade_id)


def _grade(live, solution_id: str, answer: str | None) -> dict:
    return grade_answer(live, NAME, solution_id, answer)


def _check_failure(verdict: str | None):
    assert verdict is not None, "a wrong answer passed the tests"
    first = verdict.splitlines()[0]
    assert first.startswith("CheckError"), f"the test failed with a crash, not a check: {first}"


_STRATIFIED = '''
def three_way_split(y, valid_frac=0.2, test_frac=0.2, seed=0):
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    y = np.asarray(y)
    rest, test = train_test_split(idx, test_size=test_frac, random_state=seed, stratify=y)
    train, valid = train_test_split(rest, test_size=valid_frac / (1 - test_frac), random_state=seed, stratify=y[rest])
    return train, valid, test
'''

_UNSHUFFLED = '''
def three_way_split(y, valid_frac=0.2, test_frac=0.2, seed=0):
    n = len(y)
    n_test, n_valid = round(test_frac * n), round(valid_frac * n)
    order = np.arange(n) if seed == 0 else np.roll(np.arange(n), seed)
    return order[n_test + n_valid:], order[n_test:n_test + n_valid], order[:n_test]
'''


@_slow
def test_three_way_split_accepts_a_stratified_answer(lesson):
    assert _grade(lesson(NAME), "three_way_split", _STRATIFIED) == {"visible": None, "all": None}


@_slow
def test_three_way_split_hidden_tests_catch_an_unshuffled_split(lesson):
    verdict = _grade(lesson(NAME), "three_way_split", _UNSHUFFLED)
    assert verdict["visible"] is None, "the digits are not sorted: an unshuffled split passes the visible test"
    _check_failure(verdict["all"])
    assert "sorted labels" in verdict["all"]


_COUPLED = '''
def adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01):
    grad = grad + wd * w
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v
'''

_DECAY_LAST = '''
def adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    w = w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w * (1 - lr * wd), m, v
'''

_IN_PLACE = '''
def adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01):
    w *= 1 - lr * wd
    m *= beta1; m += (1 - beta1) * grad
    v *= beta2; v += (1 - beta2) * grad ** 2
    w -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w, m, v
'''


@_slow
@pytest.mark.parametrize("answer", [_COUPLED, _DECAY_LAST], ids=["coupled-l2", "decay-after-the-step"])
def test_adamw_step_visible_test_catches_the_wrong_kind_of_decay(lesson, answer):
    verdict = _grade(lesson(NAME), "adamw_step", answer)
    _check_failure(verdict["visible"])


@_slow
def test_adamw_step_hidden_tests_catch_changing_the_inputs(lesson):
    verdict = _grade(lesson(NAME), "adamw_step", _IN_PLACE)
    assert verdict["visible"] is None, "changing the inputs still computes the right steps"
    _check_failure(verdict["all"])


_TIES_IMPROVE = '''
def early_stop(valid_losses, patience):
    best, best_epoch, wait = float("inf"), 0, 0
    for epoch, loss in enumerate(valid_losses):
        if loss <= best:
            best, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch, best_epoch
    return None, best_epoch
'''

_OFF_BY_ONE = _TIES_IMPROVE.replace("loss <= best", "loss < best").replace("wait >= patience", "wait > patience")


@_slow
def test_early_stop_hidden_tests_catch_ties_counted_as_improvements(lesson):
    verdict = _grade(lesson(NAME), "early_stop", _TIES_IMPROVE)
    _check_failure(verdict["all"])


@_slow
def test_early_stop_visible_test_catches_an_off_by_one_patience(lesson):
    _check_failure(_grade(lesson(NAME), "early_stop", _OFF_BY_ONE)["visible"])


def test_exercise_prompts_say_what_is_checked():
    prompts_say_what_is_checked(NAME)


def test_helper_module_holds_no_answer():
    """helpers.lessons.l06_generalisation ships to students: none of the exercises' functions or key lines are in it."""
    src = inspect.getsource(l06_generalisation)
    for name in ("three_way_split", "adamw_step", "early_stop", "permutation", "beta1", "patience"):
        assert name not in src, name
    assert math.isfinite(l06_generalisation.best_epoch([1.0, 0.5]))
