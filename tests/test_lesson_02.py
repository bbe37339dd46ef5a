"""Lesson 02 — Activation functions: the lesson's claims, checked in its live kernel.

The fast tests at the top check ``helpers.lessons.l02_activations`` on its own; the slow ones execute the solution
notebook once (the ``lesson`` fixture) and check the numbers its prose relies on.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_tools import cell_source, visible_tests

NAME = "02_activation_functions"


# --------------------------------------------------------------------------- helpers.lessons.l02_activations (fast)


@pytest.fixture(scope="module")
def act():
    import helpers

    helpers.setup(seed=0, verbose=False)
    from helpers.lessons import l02_activations

    return l02_activations


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


# --------------------------------------------------------------------------- helpers.plots: the course's colours (fast)


def _hex(color) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color).upper()


def test_course_style_uses_a_colour_blind_safe_palette_and_readable_legends():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    okabe_ito = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert set(plots.OKABE_ITO.values()) == okabe_ito
    with matplotlib.rc_context():
        plots.use_style()
        cycle = [_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
        assert set(cycle) <= okabe_ito and len(set(cycle)) >= 6, cycle
        fig, ax = plt.subplots()
        line, = ax.plot([0, 1], [0, 1], label="a line")
        assert _hex(line.get_color()) == plots.PALETTE[0] == plots.OKABE_ITO["blue"]  # C0 is Okabe-Ito blue
        legend = ax.legend()
        assert legend.get_texts()[0].get_fontsize() >= 10
        plt.close(fig)


def test_class_colours_and_the_probability_colormap_agree():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    for y in (np.array([0, 1, 1]), np.array([[0.0], [1.0], [1.0]])):  # class ids or a float target column
        ax = plots.scatter(X, y)
        colors = [_hex(c) for c in ax.collections[0].get_facecolors()]
        assert colors == [plots.CLASS_COLORS[0], plots.CLASS_COLORS[1], plots.CLASS_COLORS[1]]
        plt.close(ax.figure)
    assert plots.class_colors(np.array([0.0, 0.5])) is None  # not class labels: the colormap is used
    ax = plots.scatter(X, np.array([0.0, 0.5, 1.0]))
    assert ax.collections[0].get_array().tolist() == [0.0, 0.5, 1.0] and ax.collections[0].cmap is plots.CMAP
    plt.close(ax.figure)
    cmap = plots.CMAP
    assert _hex(cmap(0.0)) == plots.CLASS_COLORS[0] and _hex(cmap(1.0)) == plots.CLASS_COLORS[1]
    assert np.allclose(cmap(0.5)[:3], 1, atol=0.01)  # white in the middle: p = 0.5 is undecided
    ax = plots.decision_boundary(lambda P: (P[:, 0] > 1).astype(float), X, np.array([0, 1, 1]), n=20)
    assert ax.collections and not hasattr(plots, "function_and_derivative")
    plt.close(ax.figure)


def test_activation_figures_put_values_in_readable_legends(act):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    with matplotlib.rc_context():
        plots.use_style()
        ax = act.draw_curve("sigmoid")
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("max slope 0.25" in t for t in texts), texts
        assert not ax.texts, "no free-floating labels that can cross the curves"
        assert min(t.get_fontsize() for t in ax.get_legend().get_texts()) >= 10
        plt.close(ax.figure)
        norms = {"fastai": {"sigmoid": [1e-6, 1e-3, 1.0], "relu": [0.1, 0.1, 0.1]},
                 "keras": {"sigmoid": [1e-6, 1e-3, 1.0], "relu": [0.1, 0.1, 0.1]}}
        ax = act.grad_norm_figure(norms)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["sigmoid", "ReLU", "fastai", "keras"]  # colour = activation, marker = framework
        assert min(t.get_fontsize() for t in ax.get_legend().get_texts()) >= 10
        plt.close(ax.figure)
    assert all(_hex(c) in set(plots.OKABE_ITO.values()) | {"#777777"} for c in act.COLORS.values())


def test_backprop_graph_draws_every_value_and_gradient_it_is_given():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from helpers.lessons import l02_backprop

    values = {"x1": 1.0, "x2": 2.0, "z1": 0.25, "z2": -1.5, "h1": 0.245, "h2": -0.905, "yhat": 0.75, "L": 0.0625}
    grads = {"z1": 0.0123, "z2": -0.456, "h1": 0.0129, "h2": -2.5, "yhat": -0.5, "L": 1.0}
    W1, W2 = np.array([[0.5, -0.3], [0.2, 0.8]]), np.array([[1.0], [-0.5]])
    dW1, dW2 = np.array([[0.011, -0.022], [0.033, -0.044]]), np.array([[0.055], [-0.066]])
    ax = l02_backprop.draw_graph(values, grads, W1, W2, dW1, dW2)
    texts = [t.get_text() for t in ax.texts]
    assert len(ax.patches) == 8, "one circle per node"
    for v in list(values.values()) + list(grads.values()):
        assert f"{v:.3g}" in texts, v
    assert any("∂L/∂w=-0.044" in t for t in texts) and any("∂L/∂w=-0.066" in t for t in texts)
    assert any("w=-0.3" in t for t in texts), "each weight edge shows its weight"
    colours = {_hex(t.get_color()) for t in ax.texts if t.get_text() in ("0.25", "-0.456")}
    assert colours == {l02_backprop.FORWARD_COLOR, l02_backprop.BACKWARD_COLOR}
    assert {l02_backprop.FORWARD_COLOR, l02_backprop.BACKWARD_COLOR} <= set(plots_palette())
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="missing"):
        l02_backprop.draw_graph({k: v for k, v in values.items() if k != "z1"}, grads, W1, W2, dW1, dW2)
    with pytest.raises(ValueError, match="shape"):
        l02_backprop.draw_graph(values, grads, W1, W2.ravel(), dW1, dW2)


def plots_palette():
    from helpers import plots

    return plots.OKABE_ITO.values()


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
    names = live.eval("list(l02_activations.NAMES)")
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
    assert live.eval("len(l02_activations.deep_grad_norms(5, 'gelu', X_batch, y_batch))") == 6
    live.exec("explorer.controls['depth'].value = 10; explorer.controls['act'].value = 'sigmoid'")


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_the_chain_rule_by_hand_is_what_both_autograds_compute(lesson):
    live = lesson(NAME)
    assert live.eval("chain_rule_gap") < 1e-12
    assert set(live.eval("autograd_one")) == {"∂L/∂(W2)_1", "∂L/∂(W1)_11"}
    gaps = live.eval("autograd_frameworks_gap")
    assert set(gaps) == {"W1", "b1", "W2", "b2"} and max(gaps.values()) < 1e-12, gaps
    # the figure's numbers are autograd's: a weight's gradient = gradient at the node it feeds x value it carries
    assert live.eval("float(params_one['W1'].grad[1, 0] - node_grads['z1'] * node_values['x2'])") == pytest.approx(0, abs=1e-12)
    assert live.eval("float(params_one['b1'].grad[1] - node_grads['z2'])") == pytest.approx(0, abs=1e-12)


def test_sections_are_numbered_in_order():
    import nbformat

    from grading import course

    nb = nbformat.read(course.source_ipynb(NAME), as_version=4)
    heads = [c.source.lstrip().splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    numbered = [h for h in heads if h[3:4].isdigit()]
    assert [int(h[3:].split(".")[0]) for h in numbered] == list(range(len(numbered))), numbered
    titles = {int(h[3:].split(".")[0]): h for h in numbered}
    assert "Where gradients come from" in titles[3] and "kink" in titles[4] and "Vanishing" in titles[6]
    assert "Initialisation" in titles[7] and "Dead ReLUs" in titles[8]
    assert heads[-3:] == ["## Recap", "## Check your understanding", "## Further reading"]


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_framework_default_initialisations_match_their_formulas(lesson):
    live = lesson(NAME)
    d = live.eval("init_defaults.to_dict()")
    torch_d, keras_d = d["PyTorch nn.Linear"], d["Keras Dense"]
    assert torch_d["formula: bound"] == pytest.approx(1 / 16)  # 1/sqrt(256)
    assert keras_d["formula: bound"] == pytest.approx((6 / 320) ** 0.5)
    for fw in (torch_d, keras_d):
        assert 0.97 * fw["formula: bound"] <= fw["largest |w|"] <= fw["formula: bound"]
        assert fw["std of w"] == pytest.approx(fw["formula: std = bound/√3"], rel=0.03)
    assert 0 < torch_d["largest |b|"] <= torch_d["formula: bound"], "PyTorch's biases start random, in the same range"
    assert keras_d["largest |b|"] == 0.0, "Keras's biases start at 0"
    src = live.eval("__import__('inspect').getsource(nn.Linear.reset_parameters)")
    assert "kaiming_uniform_(self.weight, a=math.sqrt(5))" in src  # the call the prose quotes
    cfg = live.eval("keras.layers.Dense(4).get_config()")
    assert cfg["kernel_initializer"]["class_name"] == "GlorotUniform" and cfg["bias_initializer"]["class_name"] == "Zeros"


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_the_scale_of_the_initial_weights_decides_whether_the_signal_survives(lesson):
    live = lesson(NAME)
    stds = live.eval("layer_stds")
    sat = live.eval("{f'{fw}|{name}': v for (fw, name), v in tanh_saturated.items()}")
    depth = live.eval("INIT_DEPTH")
    small, large, glorot, he, torch_default = live.eval("list(torch_inits)")
    assert live.eval("list(keras_inits)") == [small, large, glorot, he, torch_default]
    for fw in ("PyTorch", "Keras"):
        tanh, relu = stds[fw]["tanh"], stds[fw]["relu"]
        assert all(len(v) == depth for v in list(tanh.values()) + list(relu.values()))
        assert tanh[small][-1] < 1e-6 and relu[small][-1] < 1e-6, f"{fw}: too small should vanish"
        assert relu[large][-1] > 1e4, f"{fw}: too large should explode through ReLU"
        assert tanh[large][-1] > 0.9 and sat[f"{fw}|{large}"] > 0.5, f"{fw}: too large should saturate tanh"
        assert sat[f"{fw}|{glorot}"] < 0.05
        assert 0.1 < tanh[glorot][-1] < 1, f"{fw}: Glorot should keep tanh's signal: {tanh[glorot]}"
        assert 0.3 < relu[he][-1] < 3 and 0.3 < min(relu[he]), f"{fw}: He should keep ReLU's signal level: {relu[he]}"
        assert relu[glorot][-1] < relu[he][-1] / 5, f"{fw}: Glorot loses 1/sqrt(2) per ReLU layer"
        assert relu[torch_default][-1] < 1e-2 and tanh[torch_default][-1] < 0.05, f"{fw}: PyTorch's default shrinks"
        shrink = np.exp(np.mean(np.diff(np.log(relu[torch_default]))))
        assert shrink == pytest.approx(1 / 6 ** 0.5, rel=0.15), f"{fw}: about 1/sqrt(6) per ReLU layer, got {shrink}"
    for act in ("tanh", "relu"):  # two frameworks' initialisers, two random streams, the same statistics
        for name in (glorot, he, torch_default):
            ratio = np.array(stds["PyTorch"][act][name]) / np.array(stds["Keras"][act][name])
            assert np.all((ratio > 0.5) & (ratio < 2)), (act, name, ratio)


# --------------------------------------------------------------------------- fair exercises (slow)
#
# Each exercise's test cell (visible and hidden parts) is run in the live lesson kernel against other
# answers: answers that follow the prompt in another reasonable style must pass, answers that break what
# the prompt asks must fail, with a message that says so. The lesson's own answers are restored after.


def _cell(grade_id: str) -> str:
    return cell_source(NAME, grade_id)


def _verdict(live, answer: str, test_id: str, solution_id: str, visible_only: bool = False) -> str:
    """"pass", or "<error>: <message>" of what the test cell raised, for `answer` (code defining the
    exercise's functions). Only the message counts: not the traceback, which quotes the test's source."""
    tests = _cell(test_id)
    tests = visible_tests(tests) if visible_only else tests
    run = ("try:\n"
           f"    exec(compile({tests!r}, '<test cell>', 'exec'), globals())\n"
           "    print('@@pass')\n"
           "except Exception as _err:\n"
           "    print('@@' + type(_err).__name__ + ': ' + str(_err).replace(chr(10), ' | '))\n")
    try:
        live.exec(answer)
        outputs = live.exec(run)
    finally:
        live.exec(_cell(solution_id))  # the lesson's own answer again
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    verdict = [line[2:] for line in stdout.splitlines() if line.startswith("@@")][-1]
    return f"stderr: {stderr}" if verdict == "pass" and stderr else verdict


ACTIVATIONS_IN_OTHER_STYLES = {
    "masks and a sigmoid-based tanh": """
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    out[~pos] = np.exp(x[~pos]) / (1 + np.exp(x[~pos]))
    return out

def tanh(x):
    return 2 * sigmoid(2 * np.asarray(x)) - 1

def relu(x):
    out = np.array(x, dtype=float)
    out[out < 0] = 0
    return out
""",
    "np.where, ints kept as ints": """
def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

def tanh(x):
    return np.tanh(x)

def relu(x):
    return np.where(x > 0, x, 0)
""",
    "logaddexp and a product": """
def sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))

def tanh(x):
    return np.tanh(x)

def relu(x):
    return x * (x > 0)
""",
}

WRONG_ACTIVATIONS = {
    "the naive sigmoid overflows": ("""
def sigmoid(x):
    return 1 / (1 + np.exp(-x))
""", "expected no warning"),
    "relu changes its input in place": ("""
def relu(x):
    x[x < 0] = 0
    return x
""", "expected x to be left unchanged"),
    "an integer array truncates the sigmoid": ("""
def sigmoid(x):
    out = np.zeros_like(x)
    e = np.exp(-np.abs(x))
    out[...] = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out
""", "sigmoid of the integers"),
}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_activation_exercise_accepts_any_style_and_rejects_what_the_prompt_rules_out(lesson):
    live = lesson(NAME)
    for style, answer in ACTIVATIONS_IN_OTHER_STYLES.items():
        assert _verdict(live, answer, "activations_tests", "activations") == "pass", style
    for what, (answer, message) in WRONG_ACTIVATIONS.items():
        verdict = _verdict(live, answer, "activations_tests", "activations", visible_only=True)
        assert verdict != "pass" and message in verdict, f"{what}: the visible test said {verdict!r}"
    assert _verdict(live, "", "activations_tests", "activations") == "pass"  # the lesson's answer, restored


DERIVATIVES_IN_OTHER_STYLES = {
    "heaviside and the sigmoid from exercise 1": """
def d_sigmoid(x):
    s = sigmoid(x)
    return s * (1 - s)

def d_tanh(x):
    return 1 - np.tanh(x) ** 2

def d_relu(x):
    return np.heaviside(x, 0.0)
""",
    "integers and booleans": """
def d_sigmoid(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2

def d_tanh(x):
    return 1 / np.cosh(np.clip(x, -300, 300)) ** 2

def d_relu(x):
    return (x > 0).astype(int)
""",
    "np.where": """
def d_sigmoid(x):
    return sigmoid(x) * sigmoid(-np.asarray(x))

def d_tanh(x):
    t = np.tanh(x)
    return (1 - t) * (1 + t)

def d_relu(x):
    return np.where(x > 0, 1.0, 0.0)
""",
}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_derivative_exercise_states_and_checks_d_relu_at_zero(lesson):
    live = lesson(NAME)
    for style, answer in DERIVATIVES_IN_OTHER_STYLES.items():
        assert _verdict(live, answer, "derivatives_tests", "derivatives") == "pass", style
    one_at_zero = "def d_relu(x):\n    return (np.asarray(x) >= 0).astype(float)\n"
    verdict = _verdict(live, one_at_zero, "derivatives_tests", "derivatives", visible_only=True)
    assert "d_relu" in verdict and "index (0, 2)" in verdict, f"the visible test must catch d_relu(0) = 1: {verdict!r}"
    naive = "def d_sigmoid(x):\n    return np.exp(-x) / (1 + np.exp(-x)) ** 2\n"
    verdict = _verdict(live, naive, "derivatives_tests", "derivatives", visible_only=True)
    assert "expected no warning" in verdict, verdict


BUILD_MLP_IN_OTHER_STYLES = {
    "Activation layers and a lookup": """
def build_fastai_mlp(act):
    module = getattr(nn, {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}[act])
    layers = [nn.Linear(2, 16), module(), nn.Linear(16, 16), module(), nn.Linear(16, 1)]
    return nn.Sequential(*layers)

def build_keras_mlp(act):
    return keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(16), keras.layers.Activation(act),
                             keras.layers.Dense(16), keras.layers.Activation(act), keras.layers.Dense(1)])
""",
}

WRONG_BUILD_MLP = {
    "an activation on the output": ("""
def build_keras_mlp(act):
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation=act),
                             keras.layers.Dense(16, activation=act), keras.layers.Dense(1, activation=act)])
""", "build_keras_mlp('tanh'): outputs for given weights"),
    "no keras.Input": ("""
def build_keras_mlp(act):
    return keras.Sequential([keras.layers.Dense(16, activation=act), keras.layers.Dense(16, activation=act),
                             keras.layers.Dense(1)])
""", "keras.Input((2,))"),
    "one model for every call": ("""
_the_model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
def build_fastai_mlp(act):
    return _the_model
""", "expected a new model on every call"),
}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_mlp_exercise_accepts_any_style_and_rejects_what_the_prompt_rules_out(lesson):
    live = lesson(NAME)
    for style, answer in BUILD_MLP_IN_OTHER_STYLES.items():
        assert _verdict(live, answer, "build_mlp_tests", "build_mlp") == "pass", style
    for what, (answer, message) in WRONG_BUILD_MLP.items():
        verdict = _verdict(live, answer, "build_mlp_tests", "build_mlp", visible_only=True)
        assert verdict != "pass" and message in verdict, f"{what}: the visible test said {verdict!r}"


BACKWARD_IN_OTHER_STYLES = {
    "one example at a time": """
def backward(X, y, W1, b1, W2, b2):
    n = len(X)
    g = {"dW1": np.zeros_like(W1), "db1": np.zeros_like(b1), "dW2": np.zeros_like(W2), "db2": np.zeros_like(b2)}
    for x_k, y_k in zip(X, y):
        h = np.tanh(x_k @ W1 + b1)
        e = 2 * (h @ W2 + b2 - y_k) / n
        g["dW2"] += np.outer(h, e)
        g["db2"] += e
        dz = (W2[:, 0] * e[0]) * (1 - h * h)
        g["dW1"] += np.outer(x_k, dz)
        g["db1"] += dz
    return g
""",
    "einsum and cosh": """
def backward(X, y, W1, b1, W2, b2):
    Z = np.einsum("nd,dh->nh", X, W1) + b1
    out = np.tanh(Z) @ W2 + b2
    g_out = 2.0 * (out - y) / y.size
    g_Z = g_out @ W2.T / np.cosh(Z) ** 2
    return dict(dW2=np.tanh(Z).T @ g_out, db2=np.sum(g_out, 0), dW1=np.einsum("nd,nh->dh", X, g_Z),
                db1=np.sum(g_Z, 0))
""",
}

WRONG_BACKWARD = {
    "forgot the 1/n of the mean": ("""
def backward(X, y, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)
    d = 2 * (H @ W2 + b2 - y)
    dZ = d @ W2.T * (1 - H**2)
    return {"dW1": X.T @ dZ, "db1": dZ.sum(0), "dW2": H.T @ d, "db2": d.sum(0)}
""", "dW1 vs PyTorch autograd: expected"),
    "forgot tanh's slope": ("""
def backward(X, y, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)
    d = 2 * (H @ W2 + b2 - y) / len(X)
    dZ = d @ W2.T
    return {"dW1": X.T @ dZ, "db1": dZ.sum(0), "dW2": H.T @ d, "db2": d.sum(0)}
""", "dW1 vs PyTorch autograd: expected"),
    "bias gradients kept as rows": ("""
def backward(X, y, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)
    d = 2 * (H @ W2 + b2 - y) / len(X)
    dZ = d @ W2.T * (1 - H**2)
    return {"dW1": X.T @ dZ, "db1": dZ.sum(0, keepdims=True), "dW2": H.T @ d, "db2": d.sum(0)}
""", "db1 (the shape of b1): expected shape (2,), got (1, 2)"),
    "changes y in place": ("""
def backward(X, y, W1, b1, W2, b2):
    H = np.tanh(X @ W1 + b1)
    y -= H @ W2 + b2
    d = -2 * y / len(X)
    dZ = d @ W2.T * (1 - H**2)
    return {"dW1": X.T @ dZ, "db1": dZ.sum(0), "dW2": H.T @ d, "db2": d.sum(0)}
""", "expected X, y and the parameters to be left unchanged"),
    "a tuple, not a dict": ("""
def backward(X, y, W1, b1, W2, b2):
    return (W1 * 0, b1 * 0, W2 * 0, b2 * 0)
""", "expected a dict, got tuple"),
}


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_backward_exercise_accepts_any_style_and_names_each_mistake(lesson):
    live = lesson(NAME)
    for style, answer in BACKWARD_IN_OTHER_STYLES.items():
        assert _verdict(live, answer, "backward_tests", "backward") == "pass", style
    for what, (answer, message) in WRONG_BACKWARD.items():
        verdict = _verdict(live, answer, "backward_tests", "backward", visible_only=True)
        assert verdict != "pass" and message in verdict, f"{what}: the visible test said {verdict!r}"
    assert _verdict(live, "", "backward_tests", "backward") == "pass"  # the lesson's answer, restored


def test_test_cells_use_checks_and_end_without_a_value():
    """Verdicts go through helpers.checks (the grader judges them), never a bare assert or a trailing number."""
    import ast

    for grade_id in ("activations_tests", "derivatives_tests", "backward_tests", "build_mlp_tests"):
        tree = ast.parse(_cell(grade_id))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Assert)], f"{grade_id} has a bare assert"
        assert not isinstance(tree.body[-1], ast.Expr) or isinstance(tree.body[-1].value, ast.Call), grade_id


# --------------------------------------------------------------------------- why the twins differ (slow)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_train_is_a_learner_fit_on_the_batches_both_twins_draw(lesson):
    """The lesson's Learner + fit with fastai's own Adam on data.step_order's batches reproduces
    fastai_side.train bit for bit: train() trains on the batches the Keras twin also gets (and a
    Learner's opt_func is what the rerun changes). Stock-vs-helper equality: tests/test_training_paths.py."""
    live = lesson(NAME)
    same = live.eval("""[bool(np.array_equal(a, b)) for a, b in zip(
        fastai_side.get_weights(fastai_again('relu', Adam)), fastai_side.get_weights(runs['fastai']['relu'].model))]""")
    assert same and all(same)


@pytest.mark.slow
@pytest.mark.xdist_group(NAME)
def test_the_gap_between_the_twins_is_the_optimiser(lesson):
    live = lesson(NAME)
    defaults = live.eval("adam_defaults")
    assert defaults["fastai"]["sqr_mom"] == 0.99 and defaults["fastai"]["eps"] == 1e-5
    assert defaults["fastai"]["wd"] == 0.01
    assert defaults["Keras"]["beta_2"] == 0.999 and defaults["Keras"]["epsilon"] == 1e-7
    assert defaults["Keras"]["weight_decay"] is None
    gap = live.eval("adam_gap")
    for act in ("sigmoid", "tanh", "relu"):
        stock, like = gap[act]["fastai's Adam"], gap[act]["Adam like Keras's"]
        assert like["weights"] < 0.5 * stock["weights"] and like["probability"] < 0.5 * stock["probability"], (act, gap)
    for act in ("sigmoid", "tanh"):  # "about a hundred times closer"
        assert gap[act]["Adam like Keras's"]["weights"] < gap[act]["fastai's Adam"]["weights"] / 30, gap[act]
    exact = gap["relu"]["Keras's update"]
    assert exact["weights"] < 1e-4 and exact["probability"] < 1e-3, f"Keras's exact update should leave only rounding: {exact}"


def test_history_prompts_and_claims_in_the_prose():
    import nbformat

    from grading import course

    nb = nbformat.read(course.source_ipynb(NAME), as_version=4)
    prose = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert "This lesson's convention: `d_relu` returns 0 at `x = 0`" in prose  # the prompt states the subgradient
    assert prose.count("**What is checked:**") == 4  # every auto-graded exercise says what its tests check
    for needed in ("Fukushima", "1969", "cognitron", "neocognitron", "Hahnloser", "2000", "Jarrett", "2009",
                   "Nair & Hinton (2010)", "Glorot, Bordes & Bengio (2011)", "preconceptions", "data.step_order",
                   "train_step", "template"):
        assert needed in prose, needed
    sidebar = [c.source for c in nb.cells if c.cell_type == "markdown"
               and c.source.startswith("> **Preconceptions that held the field back: ReLU dismissed as")]
    assert len(sidebar) == 1, "the ReLU history is one sidebar in the recurring form"
    lines = sidebar[0].splitlines()
    assert [ln.split(":*")[0] for ln in lines[1:]] == ["> *What was believed", "> *What was true", "> *Who showed it"]
    assert prose.count("Fukushima") == 1 and prose.count("Hahnloser") == 1, "the history is told once, in the sidebar"
    for gone in ("reviewer would likely", "shuffle the batches differently", "runs the `Learner.fit` and `model.fit`"):
        assert gone not in prose, gone
