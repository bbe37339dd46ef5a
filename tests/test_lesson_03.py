"""Lesson 03 — Gradient descent: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.lessons.l03_descent`` on its own; the slow ones execute the solution notebook
once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_tools import cell_source
from helpers.lessons import l03_descent

NAME = "03_gradient_descent"


# --------------------------------------------------------------------------- helpers.lessons.l03_descent (fast)


def test_first_nonfinite_finds_the_first_bad_step():
    with np.errstate(over="ignore"):
        run = 2.0 ** np.arange(0, 2000, 100.0)  # overflows to inf at 2**1100
    assert l03_descent.first_nonfinite(run) == 11
    assert l03_descent.first_nonfinite([1.0, 2.0]) is None
    assert l03_descent.first_nonfinite([[1.0, 1.0], [1.0, np.inf], [np.nan, 0.0]]) == 1


def test_helpers_ship_no_exercise_answers():
    """helpers/ goes to students: lesson 03's exercises (gradient_descent, minibatches) must not be in it."""
    assert not hasattr(l03_descent, "descend") and not hasattr(l03_descent, "minibatches")


def test_surface_draws_contours_and_clipped_paths():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    s = l03_descent.Surface(lambda a, b: a**2 + 10 * b**2, (-2, 2), (-1, 1), n=41, minimum=(0, 0))
    assert s.Z.shape == (41, 41) and s.levels[0] >= 0
    ax = s.draw(title="bowl")
    s.path(ax, np.array([[1.5, 0.5], [np.inf, np.nan], [0.0, 0.0]]))
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_title() == "bowl"
    plt.close("all")


def test_iterations_to_counts_steps_until_the_path_stays_within_tolerance():
    from helpers.lessons import l03_ravine

    minimum = np.array([1.0, 1.0])
    path = minimum + np.array([[2.0, 0.0], [0.5, 0.0], [1e-3, 0.0], [0.3, 0.0], [1e-4, 0.0], [1e-7, 0.0]])
    assert l03_ravine.iterations_to(path, minimum, 1e-3) == 4, "a path that leaves the tolerance again must count from its return"
    assert l03_ravine.iterations_to(path, minimum, 1e-1) == 4
    assert l03_ravine.iterations_to(path, minimum, 1e-9) is None, "never within 1e-9 of the start distance"
    assert l03_ravine.iterations_to(np.array([[3.0, 1.0], [np.inf, 1.0]]), minimum, 0.5) is None
    assert l03_ravine.iterations_to(np.array([[1.0, 1.0], [1.0, 1.0]]), minimum) == 0
    with pytest.raises(ValueError, match="shape"):
        l03_ravine.iterations_to(np.zeros(3), minimum)


def test_ravine_ships_no_descent():
    """helpers.lessons.l03_ravine draws what the lesson computes: the heavy ball and its best settings stay in the lesson."""
    from helpers.lessons import l03_ravine

    assert set(l03_ravine.__all__) == {"Valley", "iterations_to", "momentum_explorer"}


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
    print(f"\nlesson 03 explorer redraw: {seconds:.3f} s")


# --------------------------------------------------------------------------- momentum on the ravine (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_ravine_condition_number_is_the_uncentred_hessians(lesson):
    live = lesson(NAME)
    x = np.array(live.eval("x_line.tolist()"))
    hess = 2 * np.array([[np.mean(x**2), np.mean(x)], [np.mean(x), 1.0]])
    lam = np.linalg.eigvalsh(hess)
    kappa = live.eval("kappa")
    assert kappa == pytest.approx(lam[1] / lam[0], rel=1e-9), "κ is λmax/λmin of 2 [[E x², E x], [E x, 1]]"
    assert 15 < kappa < 22, f"the line's valley should be ill-conditioned (κ ≈ 18): {kappa}"
    assert live.eval("lr_gd_best") == pytest.approx(2 / lam.sum())
    assert live.eval("lr_hb") == pytest.approx((2 / (np.sqrt(lam[1]) + np.sqrt(lam[0]))) ** 2)
    assert live.eval("beta_hb") == pytest.approx(((np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)) ** 2)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_momentum_is_about_sqrt_kappa_times_faster(lesson):
    live = lesson(NAME)
    kappa = live.eval("kappa")
    efold, theory = live.eval("efold_measured"), live.eval("efold_theory")
    for name in ("gradient descent", "heavy ball"):
        assert efold[name] == pytest.approx(theory[name], rel=0.1), f"{name}: measured rate vs theory: {efold}, {theory}"
    assert efold["gradient descent"] == pytest.approx(kappa / 2, rel=0.1), "gradient descent: about κ/2 steps per e-fold"
    assert efold["heavy ball"] == pytest.approx(np.sqrt(kappa) / 2, rel=0.1), "heavy ball: about √κ/2 steps per e-fold"
    speedup = live.eval("speedup")
    assert speedup == pytest.approx(np.sqrt(kappa), rel=0.1), f"speed-up {speedup} vs √κ {np.sqrt(kappa)}"
    steps = live.eval("steps_to_tol")
    assert steps["gradient descent"] > 3 * steps["heavy ball"], steps
    # the counts are real walks: the NumPy heavy ball ends at the minimum, within the tolerance it claims
    assert live.eval("bool(np.linalg.norm(walk_hb[steps_to_tol['heavy ball']] - p_best) "
                     "<= 1e-6 * np.linalg.norm(P0 - p_best))")
    assert live.eval("bool(np.linalg.norm(walk_gd[steps_to_tol['heavy ball']] - p_best) "
                     "> 1e-3 * np.linalg.norm(P0 - p_best))"), "gradient descent is far off when momentum has arrived"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_scan_finds_the_best_beta_near_the_formula(lesson):
    live = lesson(NAME)
    beta_scan, beta_hb = live.eval("[beta_scan, beta_hb]")
    assert abs(beta_scan - beta_hb) <= 0.06, f"the scan's best β {beta_scan} should lie near the formula's {beta_hb}"
    best = np.array(live.eval("np.nan_to_num(best_per_beta, nan=1e9).tolist()"))
    assert best[0] > 3 * best.min(), "β = 0 (plain descent) needs several times the steps of the best β"
    assert best[-1] > 3 * best.min(), "too much momentum is slow again"
    # the vectorised scan counts the same steps as the lesson's own momentum_descent
    for lr, beta in ((0.25, 0.0), (0.3, 0.5), (live.eval("lr_hb"), live.eval("beta_hb"))):
        grid = live.eval(f"float(steps_needed({lr}, {beta}))")
        walk = live.eval(f"iterations_to(momentum_descent(line_grad, P0, {lr}, 400, beta={beta}), p_best, 1e-6)")
        assert abs(grid - walk) <= 1, f"(η, β) = ({lr}, {beta}): scan {grid} vs walk {walk}"
    assert live.eval("bool(np.isnan(at_lr_hb[0]))"), "at the heavy ball's α, β = 0 is past the cliff and diverges"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_centring_the_inputs_rounds_the_valley(lesson):
    live = lesson(NAME)
    kappa, kappa_c = live.eval("[kappa, kappa_centred]")
    assert kappa_c < 1.5 and kappa_c < kappa / 10, f"centring should make the valley nearly round: {kappa} → {kappa_c}"
    var = live.eval("float(np.var(x_line))")
    assert kappa_c == pytest.approx(max(var, 1) / min(var, 1)), "centred Hessian is 2 diag(Var x, 1)"
    assert live.eval("steps_centred") * 10 < live.eval("steps_to_tol['gradient descent']")
    # the centred coordinates describe the same lines: same loss at the start and at the minimum
    assert live.eval("float(line_loss(P0_c, x=x_centred))") == pytest.approx(live.eval("float(line_loss(P0))"))
    assert live.eval("float(line_loss(p_best_c, x=x_centred))") == pytest.approx(live.eval("float(loss_best)"))
    assert live.eval("beta_hb_c") < 0.01


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_torch_fastai_and_keras_momentum_take_the_heavy_balls_path(lesson):
    live = lesson(NAME)
    gap = live.eval("hb_framework_gap")
    assert gap["torch.optim.SGD"] < 1e-12 and gap["fastai SGD"] < 1e-12, gap
    assert gap["keras.optimizers.SGD"] < 1e-6, gap
    assert live.eval("len(hb_paths['keras.optimizers.SGD'])") == live.eval("HB_STEPS") + 1
    assert live.eval("bool(np.linalg.norm(hb_paths['keras.optimizers.SGD'][-1] - p_best) < 1e-3)"), "Keras arrives"
    sched = live.eval("sched_gaps")
    assert sched["PyTorch vs its rule (rescaled)"] < 1e-12, sched
    assert sched["Keras vs its rule (not rescaled)"] < 1e-6, sched
    assert sched["PyTorch vs Keras"] > 1e-3, f"under a schedule the two rules must part: {sched}"
    # the two rules coincide at a constant learning rate, and differ as soon as it changes
    assert live.eval("float(np.abs(heavy_ball_scheduled([0.3] * 20, 0.5, True) - heavy_ball_scheduled([0.3] * 20, 0.5, False)).max())") == 0.0
    assert live.eval("float(np.abs(heavy_ball_scheduled(halved, beta_hb, False) - hb_paths['NumPy heavy ball'][:31]).max())") > 1e-3


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_momentum_widget_redraws_and_counts_live(lesson):
    live = lesson(NAME)
    before = live.eval("momentum_widget.renders")
    live.exec("momentum_widget.controls['beta'].value = 0.0")
    live.exec("momentum_widget.controls['lr'].value = 1.0")  # diverges: must still draw cleanly
    live.exec("momentum_widget.controls['valley'].value = 'x centred'")
    assert live.eval("momentum_widget.renders") == before + 3
    assert live.eval("momentum_widget.last_error") is None
    # the count it shows is the lesson's own: steps to 1e-6 at the heavy ball's settings
    assert live.eval("momentum_widget.run('x as given', lr_hb, beta_hb)[2]") == live.eval("steps_to_tol['heavy ball']")
    assert live.eval("momentum_widget.run('x as given', 1.0, 0.0)[2]") is None
    assert live.eval("momentum_widget.run('x centred', lr_gd_best_c, 0.0)[2]") == live.eval("steps_centred")
    live.exec("momentum_widget.controls['valley'].value = 'x as given'")
    print(f"\nlesson 03 momentum widget redraw: {live.eval('momentum_widget.last_seconds'):.3f} s")


# --------------------------------------------------------------------------- warm-up (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_warm_up_lets_a_large_peak_train(lesson):
    """Section 7: at η = 0.3 without warm-up the network is wrecked (loss spike, dead units); with it, > 90%."""
    live = lesson(NAME)
    results = {tuple(k.split("|")): v for k, v in
               live.eval("{f'{fw}|{name}': row for (fw, name), row in warm_results.items()}").items()}
    for fw in ("fastai", "Keras"):
        warm, cold = results[fw, "warm-up"], results[fw, "no warm-up"]
        assert warm["valid accuracy"] >= 0.9, f"{fw}: warm-up should train past 90%: {results}"
        assert cold["valid accuracy"] < warm["valid accuracy"] - 0.15, f"{fw}: no warm-up should end far lower: {results}"
        assert cold["dead hidden units (of 32)"] >= 16, f"{fw}: most hidden units should die without warm-up: {results}"
        assert cold["dead hidden units (of 32)"] >= warm["dead hidden units (of 32)"] + 8, results
    early = live.eval("warm_early_loss")
    guess = float(np.log(10))
    assert early["no warm-up"] > 2 * guess, f"without warm-up the loss should jump far above ln 10: {early}"
    assert early["warm-up"] < 1.1 * guess, f"with warm-up the first steps should stay near ln 10: {early}"
    # the two runs differ only in the warm-up: same peak, same number of steps, same starting weights
    for pct in ("0.0", "0.25"):
        lrs = live.eval(f"[float(v) for v in warm_fastai[{pct}].recorder.lrs]")
        ks = live.eval(f"keras_rates[{pct}]")
        assert len(lrs) == len(ks) == live.eval("STEPS")
        assert max(lrs) == pytest.approx(0.3, rel=0.01) and max(ks) == pytest.approx(0.3, rel=0.01)
        if pct == "0.0":
            assert lrs[0] == pytest.approx(0.3) and ks[0] == pytest.approx(0.3), "no warm-up starts at the peak"
        else:
            assert lrs[0] < 0.02 and ks[0] < 0.02, "the warm-up starts at a 25th of the peak"
            peak = int(np.argmax(ks))
            assert 0 < peak < len(ks) - 1 and np.all(np.diff(ks[:peak + 1]) > 0) and np.all(np.diff(ks[peak:]) <= 0), \
                "Keras's CosineDecay with warmup_steps rises per step, then falls per step"
    assert live.eval("bool(np.allclose(helpers.fastai_side.get_weights(helpers.fastai_side.mlp([64, 32, 10], "
                     "seed=0))[0], start_weights[0]))")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_warm_up_claim_holds_for_other_starting_weights(lesson):
    """The demo is not one lucky seed: two more starting points, both frameworks."""
    live = lesson(NAME)
    live.exec(_WARM_RUNS)
    out = live.eval("_warm_accuracies((1, 2))")
    for seed_i in range(2):
        (fa_cold, ks_cold), (fa_warm, ks_warm) = out[2 * seed_i], out[2 * seed_i + 1]
        for cold, warm in ((fa_cold, fa_warm), (ks_cold, ks_warm)):
            assert warm >= 0.9 and cold < warm - 0.15, out


_WARM_RUNS = """
def _warm_fastai_run(weights, pct_start):
    model = make_fastai_model()
    helpers.fastai_side.set_weights(model, weights)
    learn = Learner(dls_digits, model, loss_func=CrossEntropyLossFlat())
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(EPOCHS, lr_max=WARM_LR, pct_start=pct_start)
    return learn.model


def _warm_keras_run(weights, pct_start):
    model = make_keras_model()
    helpers.keras_side.set_weights(model, weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=keras_schedules[pct_start]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.X_train, digits.y_train, epochs=EPOCHS, batch_size=BS, verbose=0)
    return model


def _warm_accuracies(seeds):
    # [fastai, Keras] validation accuracy for each seed, without and then with warm-up
    out = []
    for seed in seeds:
        weights = helpers.fastai_side.get_weights(helpers.fastai_side.mlp([64, 32, 10], seed=seed))
        for pct_start in (0.0, 0.25):
            models = ((helpers.fastai_side, _warm_fastai_run(weights, pct_start)),
                      (helpers.keras_side, _warm_keras_run(weights, pct_start)))
            out.append([compare.metrics(side.predict(m, digits.X_valid), digits.y_valid)["accuracy"] for side, m in models])
    return out
"""


# --------------------------------------------------------------------------- the lesson folder (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_running_the_lesson_leaves_no_models_folder(lesson):
    """lr_find saves a checkpoint under learn.path / learn.model_dir; it must not land in the lesson's folder."""
    live = lesson(NAME)
    folder = live.eval("__import__('os').getcwd()")
    from pathlib import Path

    assert Path(folder).resolve() == (Path(__file__).resolve().parent.parent / "solutions" / NAME), folder
    assert not (Path(folder) / "models").exists(), "lr_find left a models/ folder in the lesson folder"
    for learner in ("learn_tuned", "learn_ex"):
        where = Path(live.eval(f"str(({learner}.path / {learner}.model_dir).resolve())"))
        assert Path(folder) not in where.parents and where != Path(folder), (learner, where)


# --------------------------------------------------------------------------- the exercises grade fairly (slow)


def _cell(grade_id: str) -> str:
    return cell_source(NAME, grade_id)


def _grade(live, solution_id: str, answer: str | None) -> str | None:
    """Run the exercise's test cell (visible and hidden tests) on ``answer``: None if it passes, else the error.

    ``answer`` replaces the solution cell; None runs the lesson's own solution. The solution is restored after.
    """
    live.exec(answer if answer is not None else _cell(solution_id))
    try:
        live.exec(_cell(f"{solution_id}_tests"))
        return None
    except AssertionError as e:
        return str(e)
    finally:
        live.exec(_cell(solution_id))


def _fails_with(verdict: str | None, *needles: str):
    assert verdict is not None, "a wrong answer passed the tests"
    first = verdict.splitlines()[0]
    assert first.startswith("CheckError"), f"the test failed with a crash, not a check: {first}"
    for needle in needles:
        assert needle in verdict, f"{needle!r} not in the failure message: {verdict[:600]}"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("value", ["2 / 11", "np.float32(2 / 11)", "np.float64(0.17)", "0.15"])
def test_pick_lr_accepts_any_real_number(lesson, value):
    live = lesson(NAME)
    assert _grade(live, "pick_lr", f"lr_ravine = {value}") is None, value


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("value, needle", [("None", "still None"), ("True", "expected a real number"),
                                           ("'0.18'", "expected a real number"), ("np.array([0.18])", "a ndarray"),
                                           ("0.25", "finite"), ("0.05", "ravine loss")])
def test_pick_lr_rejects_wrong_answers(lesson, value, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "pick_lr", f"lr_ravine = {value}"), needle)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("answer", [
    None,  # the lesson's solution: the heavy ball's best settings, from the eigenvalues
    "lr_far, beta_far = 0.16, 0.8",  # inside the region that works, found by a scan
    "lr_far, beta_far = np.float32(0.17), np.float64(0.82)",
])
def test_far_momentum_accepts_settings_that_arrive(lesson, answer):
    live = lesson(NAME)
    assert _grade(live, "far_momentum", answer) is None, answer


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("answer, needle", [
    ("lr_far, beta_far = None, None", "expected a real number"),
    ("lr_far, beta_far = 0.1, True", "expected a real number"),
    ("lr_far, beta_far = 2 / np.trace(hessian_far), 0.0", "distance to the minimum"),  # plain descent at its best
    ("lr_far, beta_far = 0.1, 0.9", "distance to the minimum"),  # a guess: too much momentum, too slow
    ("lr_far, beta_far = 0.3, 0.5", "finite"),  # past the cliff: diverges
])
def test_far_momentum_rejects_settings_that_do_not(lesson, answer, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "far_momentum", answer), needle)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_far_valley_needs_momentum(lesson):
    live = lesson(NAME)
    assert 0.15 < live.eval("far_gd_left") < 0.4, "gradient descent at its best is still about a quarter away"
    kappa_far = live.eval("float(np.divide(*np.linalg.eigvalsh(hessian_far)[::-1]))")
    assert kappa_far > 10 * live.eval("kappa"), "the far valley is much narrower than the lesson's"


_GD = """
def gd_step(grad, x, lr):
    return x - lr * np.asarray(grad(x), dtype=float)


def gradient_descent(grad, x0, lr, steps):
    {body}
"""


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_gradient_descent_solution_passes_its_tests(lesson):
    live = lesson(NAME)
    assert _grade(live, "gd", None) is None


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("body, needle", [
    # the path without x0: one row short
    ("x = np.array(x0, dtype=float)\n    out = []\n    for _ in range(steps):\n        x = gd_step(grad, x, lr)\n"
     "        out.append(x)\n    return np.array(out)", "expected shape (26,)"),
    # climbs instead of descending: the 2-D walk's literal points catch it
    ("x = np.array(x0, dtype=float)\n    out = [x]\n    for _ in range(steps):\n        x = x + lr * grad(x)\n"
     "        out.append(x)\n    return np.array(out)", "the 1-D walk"),
    # steps in place: every row of the path is the same array
    ("x = np.array(x0, dtype=float)\n    out = []\n    for _ in range(steps + 1):\n        out.append(x)\n"
     "        x -= lr * grad(x)\n    return np.array(out)", "the 1-D walk"),
], ids=["no-x0", "uphill", "in-place-path"])
def test_gradient_descent_rejects_wrong_walks(lesson, body, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "gd", _GD.format(body=body)), needle)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_gradient_descent_literal_points_are_the_true_walk(lesson):
    """The visible test pastes the 2-D walk's points; they must be the walk itself, not a copy gone stale."""
    live = lesson(NAME)
    path = np.array(live.eval("gradient_descent(line_grad, P0, 0.1, 5).tolist()"))
    expected = [[-1.0, 4.0], [-0.0867, 4.2943], [0.1961, 4.2593], [0.3211, 4.1474], [0.4049, 4.021], [0.4763, 3.895]]
    np.testing.assert_allclose(path, expected, atol=1e-4)
    x = np.array([-1.0, 4.0])
    for row in path[1:]:  # an independent reference walk, kept here (students never get the tests folder)
        x = x - 0.1 * np.array(live.eval(f"line_grad(np.array({x.tolist()})).tolist()"))
        np.testing.assert_allclose(row, x, rtol=1e-12)


_MINIBATCHES = """
def minibatches(X, y, bs, seed=None):
    X, y = np.asarray(X), np.asarray(y)
    order = {order}
    for start in range(0, len(X), bs):
        idx = order[start:start + bs]
        yield X[idx], y[idx]
"""


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_minibatches_solution_passes_its_tests(lesson):
    live = lesson(NAME)
    assert _grade(live, "minibatches", None) is None


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("order, needle", [
    ("np.arange(len(X))", "original order"),
    ("np.random.default_rng().permutation(len(X))", "the same order for the same seed"),
    ("np.random.default_rng(seed).permutation(len(X))[:len(X) - len(X) % bs]", "batch sizes"),
], ids=["unshuffled", "ignores-seed", "drops-the-last-batch"])
def test_minibatches_rejects_wrong_iterators(lesson, order, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "minibatches", _MINIBATCHES.format(order=order)), needle)


_FASTAI = """
def fastai_tuned(dls, epochs):
    learn = Learner(dls, make_fastai_model(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        {body}
    return learn
"""


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("body", [
    None,  # the lesson's solution: steep
    "s = learn.lr_find(show_plot=False, suggest_funcs=(minimum, steep, valley))\n"
    "        learn.fit_one_cycle(epochs, s.steep)",
    "learn.fit_one_cycle(epochs, lr_max=learn.lr_find(show_plot=False, suggest_funcs=(minimum,))[0])",
], ids=["solution", "three-suggestions", "minimum-positional"])
def test_fastai_tuned_passes_prompt_following_answers(lesson, body):
    live = lesson(NAME)
    answer = None if body is None else _FASTAI.format(body=body)
    assert _grade(live, "fastai_tuned", answer) is None


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("body, needle", [
    ("learn.lr_find(show_plot=False)\n        learn.fit(epochs, 1e-2)", "rise to a peak and fall again"),
    ("learn.lr_find(show_plot=False)\n        learn.fit_one_cycle(epochs, 0.05)", "but lr_find suggested"),
    ("learn.fit_one_cycle(epochs, 0.05)", "never called learn.lr_find"),
], ids=["fit-constant", "one-cycle-unrelated-lr", "no-lr_find"])
def test_fastai_tuned_rejects_answers_without_a_suggested_one_cycle(lesson, body, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "fastai_tuned", _FASTAI.format(body=body)), needle)


_KERAS = """
def keras_tuned(split, lr, epochs):
    steps = epochs * math.ceil(len(split.X_train) / 64)
    model = make_keras_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate={rate}),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(split.X_train, split.y_train, epochs=epochs, batch_size=64, verbose=0, callbacks=[{callbacks}])
    return model, history
"""


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("rate, callbacks", [
    (None, None),  # the lesson's solution: LearningRateScheduler, cosine per epoch
    ("lr", "keras.callbacks.LearningRateScheduler(lambda epoch, current: lr * 0.5 ** epoch)"),
    ("keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)", ""),
    ("keras.optimizers.schedules.CosineDecay(lr / 25, decay_steps=steps - steps // 4, warmup_target=lr, "
     "warmup_steps=steps // 4)", ""),
    ("keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps, decay_rate=0.2)", ""),
], ids=["solution", "step-decay-callback", "cosine-per-step", "warm-up-per-step", "exponential-per-step"])
def test_keras_tuned_passes_every_allowed_schedule(lesson, rate, callbacks):
    live = lesson(NAME)
    answer = None if rate is None else _KERAS.format(rate=rate, callbacks=callbacks)
    assert _grade(live, "keras_tuned", answer) is None


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
@pytest.mark.parametrize("rate, callbacks, needle", [
    ("lr", "keras.callbacks.ReduceLROnPlateau(monitor='loss')", "ReduceLROnPlateau never acts"),
    ("lr", "", "the learning rate stayed at"),
    ("2 * lr", "keras.callbacks.LearningRateScheduler(lambda epoch, current: 2 * lr * 0.5 ** epoch)",
     "the largest learning rate"),
    ("lr_keras", "keras.callbacks.LearningRateScheduler(lambda epoch, current: lr_keras * 0.5 ** epoch)",
     "lr_keras / 2"),
], ids=["reduce-on-plateau", "constant", "peak-not-lr", "ignores-lr-argument"])
def test_keras_tuned_rejects_answers_that_miss_the_prompt(lesson, rate, callbacks, needle):
    live = lesson(NAME)
    _fails_with(_grade(live, "keras_tuned", _KERAS.format(rate=rate, callbacks=callbacks)), needle)


def test_test_cells_use_checks_not_bare_asserts():
    """The grader judges check verdicts outside the student's kernel; a bare assert is judged only inside it."""
    import ast

    import nbformat

    from grading import course

    nb = nbformat.read(course.source_ipynb(NAME), as_version=4)
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("grade"):
            tree = ast.parse(c.source)
            asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
            assert not asserts, f"{meta['grade_id']}: bare assert on line(s) {asserts}; use helpers.checks"


def test_comparison_cells_are_short():
    """Issue 15: the framework comparison was one 60-line cell; lesson cells (not tests) stay short."""
    import nbformat

    from grading import course

    nb = nbformat.read(course.source_ipynb(NAME), as_version=4)
    long = [(i, len(c.source.splitlines())) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade")
            and len(c.source.splitlines()) > 30]
    assert not long, f"code cells longer than 30 lines (cell index, lines): {long}"
