"""Lesson 01 — Introduction to deep learning: the lesson's claims and the fairness of its exercises.

Every test executes the solution notebook once (the ``lesson`` fixture) and asks its live kernel.
The exercise tests run each graded test cell of the instructor notebook (visible part alone, then
visible + hidden) against other answers written in the kernel: answers that follow the prompt in
another style must pass, quietly; wrong ones must fail with the check's message.  The answers run
in a copy of the kernel's namespace, so the lesson's own definitions are left alone.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from course_tools import cell_source, visible_tests
from grading import course

NAME = "01_intro_to_deep_learning"


def slow(test):
    """Marks a test that needs the executed lesson (one kernel per session, on one xdist worker)."""
    return pytest.mark.slow(pytest.mark.xdist_group(NAME)(test))


_TRY = '''
def _l01_try(_src, _answer):
    _ns = dict(globals())
    exec(_answer, _ns)
    try:
        exec(compile(_src, "<test cell>", "exec"), _ns)
    except Exception as _e:
        return f"{type(_e).__name__}: {_e}"
    return None
'''


def _source():
    return nbformat.read(course.source_ipynb(NAME), as_version=4)


def _test_cell(grade_id: str) -> tuple[str, str]:
    """(visible part, visible + hidden) of the instructor notebook's test cell ``grade_id``."""
    src = cell_source(NAME, grade_id)
    assert "### BEGIN HIDDEN TESTS" in src, f"{grade_id} has hidden tests"
    return visible_tests(src), src.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", "")


def _attempt(live, src: str, answer: str):
    """Run test-cell source ``src`` after ``answer``: (None or "ErrorType: message", stderr text)."""
    if not live.eval("'_l01_try' in globals()"):
        live.exec(_TRY)
    import json

    outputs = live.exec(f"import json as _j\nprint('@@' + _j.dumps(_l01_try({src!r}, {answer!r})))")
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    verdict = json.loads([ln for ln in text.splitlines() if ln.startswith("@@")][-1][2:])
    stderr = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    return verdict, stderr


def _judge(lesson, grade_id, passing: dict, failing_visible: dict, failing_hidden: dict):
    """Prompt-following answers pass visible and hidden tests quietly; wrong ones fail with the message given.

    A wrong answer the visible tests catch must fail one of their checks (a message the student can act
    on); one only the hidden tests catch may fail any way (the student sees a score, not the source).
    """
    live = lesson(NAME)
    visible, full = _test_cell(grade_id)
    for label, answer in passing.items():
        for part, src in (("visible", visible), ("visible + hidden", full)):
            verdict, stderr = _attempt(live, src, answer)
            assert verdict is None, f"{grade_id}: a prompt-following answer ({label}) fails the {part} tests: {verdict}"
            assert not stderr.strip(), f"{grade_id}: the test cell is noisy for {label}: {stderr[:500]}"
    for label, (answer, message) in failing_visible.items():
        for part, src in (("visible", visible), ("visible + hidden", full)):
            verdict, _ = _attempt(live, src, answer)
            assert verdict is not None, f"{grade_id}: a wrong answer ({label}) passes the {part} tests"
            assert verdict.startswith("CheckError") and message in verdict, \
                f"{grade_id}: {label} should fail with a check saying {message!r}, got: {verdict}"
    for label, (answer, message) in failing_hidden.items():
        verdict, _ = _attempt(live, visible, answer)
        assert verdict is None, f"{grade_id}: {label} was meant to pass the visible tests: {verdict}"
        verdict, _ = _attempt(live, full, answer)
        assert verdict is not None, f"{grade_id}: a wrong answer ({label}) passes the hidden tests"
        assert message in verdict, f"{grade_id}: {label} should fail a hidden test with {message!r}, got: {verdict}"


# --------------------------------------------------------------------------- exercises


@slow
def test_neuron_exercise_accepts_any_stable_sigmoid_and_rejects_wrong_ones(lesson):
    _judge(lesson, "neuron_tests", passing={
        "scipy expit": "from scipy.special import expit\ndef neuron(X, w, b):\n    return expit(X @ w + b)",
        "torch.sigmoid": ("def neuron(X, w, b):\n"
                          "    return torch.sigmoid(torch.as_tensor(X) @ torch.as_tensor(w) + b).numpy()"),
        "tanh identity": "def neuron(X, w, b):\n    return 0.5 * (1 + np.tanh((X @ w + b) / 2))",
        "errstate": ("def neuron(X, w, b):\n    z = X @ w + b\n    with np.errstate(over='ignore'):\n"
                     "        return 1 / (1 + np.exp(-z))"),
        "clipped z": "def neuron(X, w, b):\n    return 1 / (1 + np.exp(-np.clip(X @ w + b, -500, 500)))",
        "row loop": ("import math\ndef neuron(X, w, b):\n    out = []\n    for row in X:\n"
                     "        z = float(np.dot(row, w) + b)\n"
                     "        out.append(1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z)))\n"
                     "    return np.array(out)"),
    }, failing_visible={
        "textbook formula (overflow warning)": (
            "def neuron(X, w, b):\n    return 1 / (1 + np.exp(-(X @ w + b)))", "expected no warning"),
        "bias forgotten": ("from scipy.special import expit\ndef neuron(X, w, b):\n    return expit(X @ w)",
                           "neuron(X, w, b): expected"),
        "one column": ("from scipy.special import expit\ndef neuron(X, w, b):\n"
                       "    return expit(X @ w + b).reshape(-1, 1)", "expected shape (5,)"),
        # passed the old visible test, whose two rows both had z = b = 0.1
        "sigmoid of the bias only": ("from scipy.special import expit\ndef neuron(X, w, b):\n"
                                     "    return np.full(len(X), expit(b))", "neuron(X, w, b): expected"),
    }, failing_hidden={
        "two inputs hard-coded": ("from scipy.special import expit\ndef neuron(X, w, b):\n"
                                  "    return expit(X[:, 0] * w[0] + X[:, 1] * w[1] + b)", "IndexError: index 1 is out of bounds"),
    })


@slow
def test_dense_exercise_accepts_any_conversion_and_insists_on_float32_tensors(lesson):
    _judge(lesson, "dense_both_tests", passing={
        "from_numpy + matmul + cast": (
            "def dense_torch(X, W, b):\n"
            "    return torch.from_numpy(X).float() @ torch.from_numpy(W).float() + torch.from_numpy(b).float()\n"
            "def dense_tf(X, W, b):\n"
            "    return tf.matmul(tf.cast(X, tf.float32), tf.cast(W, tf.float32)) + tf.cast(b, tf.float32)"),
        "F.linear + convert_to_tensor + bias_add": (
            "import torch.nn.functional as F\n"
            "def dense_torch(X, W, b):\n"
            "    t = lambda a: torch.tensor(a, dtype=torch.float32)\n"
            "    return F.linear(t(X), t(W).T, t(b))\n"
            "def dense_tf(X, W, b):\n"
            "    c = lambda a: tf.convert_to_tensor(a, dtype=tf.float32)\n"
            "    return tf.nn.bias_add(c(X) @ c(W), c(b))"),
    }, failing_visible={
        "NumPy arrays returned": (
            "def dense_torch(X, W, b):\n    return (X @ W + b).astype(np.float32)\n"
            "def dense_tf(X, W, b):\n    return (X @ W + b).astype(np.float32)", "expected a Tensor"),
        "bias left float64 in torch": (
            "def dense_torch(X, W, b):\n"
            "    return torch.tensor(X, dtype=torch.float32) @ torch.tensor(W, dtype=torch.float32) + torch.tensor(b)\n"
            "def dense_tf(X, W, b):\n"
            "    return tf.constant(X, dtype=tf.float32) @ tf.constant(W, dtype=tf.float32) + tf.constant(b, tf.float32)",
            "dense_torch(...).dtype: expected 'torch.float32', got 'torch.float64'"),
        "W transposed": (
            "def dense_torch(X, W, b):\n"
            "    t = lambda a: torch.as_tensor(a, dtype=torch.float32)\n    return t(X) @ t(W).T + t(b)\n"
            "def dense_tf(X, W, b):\n"
            "    c = lambda a: tf.constant(a, dtype=tf.float32)\n    return c(X) @ tf.transpose(c(W)) + c(b)",
            "dense_torch(...): expected"),
    }, failing_hidden={
        "keeps the input's dtype (float32 only by luck)": (
            "def dense_torch(X, W, b):\n"
            "    return torch.as_tensor(X) @ torch.as_tensor(W) + torch.as_tensor(b, dtype=torch.as_tensor(X).dtype)\n"
            "def dense_tf(X, W, b):\n"
            "    return tf.constant(X) @ tf.constant(W) + tf.constant(b, dtype=X.dtype)",
            "expected 'torch.float32', got 'torch.float64'"),
    })


@slow
def test_keras_model_exercise_accepts_any_style_and_rejects_probabilities(lesson):
    _judge(lesson, "keras_model_tests", passing={
        "separate ReLU layer": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(hidden), keras.layers.ReLU(),\n"
            "                             keras.layers.Dense(10)])"),
        "no keras.Input (built on first call)": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.layers.Dense(hidden, activation='relu'), keras.layers.Dense(10)])"),
        "input_shape= (deprecated, warns)": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.layers.Dense(hidden, activation='relu', input_shape=(64,)),\n"
            "                             keras.layers.Dense(10, activation='linear')])"),
        "functional API": (
            "def build_keras_digits_model(hidden=32):\n"
            "    inp = keras.Input((64,))\n"
            "    h = keras.layers.Activation('relu')(keras.layers.Dense(hidden)(inp))\n"
            "    return keras.Model(inp, keras.layers.Dense(10)(h))"),
    }, failing_visible={
        "softmax output": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(hidden, activation='relu'),\n"
            "                             keras.layers.Dense(10, activation='softmax')])", "expected logits"),
        "Softmax layer after the logits": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(hidden, activation='relu'),\n"
            "                             keras.layers.Dense(10), keras.layers.Softmax()])", "expected logits"),
        "sigmoid hidden layer": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(hidden, activation='sigmoid'),\n"
            "                             keras.layers.Dense(10)])", "relu(x @ W1 + b1) @ W2 + b2"),
        "no hidden activation": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(hidden), keras.layers.Dense(10)])",
            "relu(x @ W1 + b1) @ W2 + b2"),
    }, failing_hidden={
        "hidden size hard-coded to 32": (
            "def build_keras_digits_model(hidden=32):\n"
            "    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation='relu'),\n"
            "                             keras.layers.Dense(10)])", "build_keras_digits_model(16)"),
    })


def test_each_exercise_prompt_says_what_its_test_checks():
    cells = _source().cells
    for i, c in enumerate(cells):
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("solution"):
            prompt = cells[i - 1]
            assert prompt.cell_type == "markdown" and "**The test checks**" in prompt.source, \
                f"the prompt of {meta['grade_id']} says what its test checks"


# --------------------------------------------------------------------------- claims


@slow
def test_setup_cell_shows_one_line_and_no_value(lesson):
    live = lesson(NAME)
    cell = next(c for c in live.nb.cells if c.cell_type == "code")
    assert "helpers.setup(" in cell.source.strip().splitlines()[-1], "the set-up cell ends with helpers.setup()"
    assert not [o for o in cell.outputs if o.output_type == "execute_result"], "setup() echoes a value"
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert len(text.strip().splitlines()) == 1 and "seed 0" in text, text
    versions = live.eval("helpers.env.loaded_versions()")
    assert set(versions) == {"torch", "fastai", "tensorflow", "keras"}


@slow
def test_timeline_shows_both_ai_winters(lesson):
    live = lesson(NAME)
    assert live.eval("winters") == [[1974, 1980, "first AI winter"], [1987, 1993, "second AI winter"]]
    years = dict(live.eval("[(y, label) for y, label in milestones]"))
    assert "Lighthill" in years[1973] and "Lisp" in years[1987]
    prose = "\n".join(c.source for c in _source().cells if c.cell_type == "markdown")
    for fact in ("Lighthill report", "Lisp machines", "expert systems", "*Perceptrons*", "about 1974–1980",
                 "about 1987–1993"):
        assert fact in prose, f"the history names {fact!r}"


@slow
def test_bit_for_bit_agreement_only_for_exact_values(lesson):
    live = lesson(NAME)
    assert live.eval("bool(np.array_equal(prod_torch, prod_tf))") is True
    assert live.eval("bool((prod_torch == a_np.astype(np.float64) @ W_np.astype(np.float64)).all())") is True, \
        "the small example is exact: no step rounds"
    assert live.eval("[float(left_first), float(right_first)]") == [1.0, 0.0], "float32 addition depends on order"
    assert live.eval("n_differ") == live.eval("int((rand_torch != rand_tf).sum())")
    assert live.eval("rel_gap") < 1e-5, "on arbitrary values the frameworks still agree to float32 precision"


@slow
def test_tensors_record_their_computation_only_when_asked(lesson):
    live = lesson(NAME)
    assert live.eval("y_plain.grad_fn is None and not y_plain.requires_grad") is True
    assert live.eval("type(y_tracked.grad_fn).__name__") == "SumBackward0"
    assert live.eval("x_tracked.grad.tolist()") == [4.0, 6.0]
    assert live.eval("grad_inside.numpy().tolist()") == [4.0, 6.0]
    assert live.eval("grad_outside is None") is True
    assert live.eval("hasattr(x_tf, 'grad_fn')") is False, "TensorFlow tensors carry no recipe"
    assert live.eval("all(p.requires_grad for p in fastai_model.parameters())") is True
    assert live.eval("[v.trainable for v in keras_model.weights]") == [True] * 4, "model weights are created tracked"


@slow
def test_fastai_data_pipeline_is_written_out_as_the_prose_says(lesson):
    live = lesson(NAME)
    code = "\n".join(c.source for c in _source().cells if c.cell_type == "code")
    assert "DataLoaders.from_dsets(" in code, "the digits pipeline is written out"
    helper = code.find("fastai_side.dataloaders")
    assert helper == -1 or helper > code.index("DataLoaders.from_dsets("), \
        "the helper may build later data (section 6's detectors), not the first pipeline"
    assert live.eval("type(dls).__name__") == "DataLoaders"
    assert live.eval("[dls.train.fake_l.num_workers, dls.valid.fake_l.num_workers]") == [0, 0], "no worker processes"
    assert live.eval("[dls.train.bs, dls.train.shuffle, dls.valid.shuffle]") == [64, True, False]
    n_train = live.eval("len(digits.X_train)")
    assert n_train == 1437 and live.eval("len(dls.train)") == 23 == live.eval("keras_steps_per_epoch"), \
        "the prose: 1,437 / 64, so 23 steps per epoch, in both frameworks"
    assert live.eval("len(DataLoaders.from_dsets(train_ds, valid_ds, bs=64, num_workers=0).train)") == 22, \
        "fastai's default drops the last, smaller batch"
    assert live.eval("learn.opt_func.__name__") == "Adam", "Adam is fastai's default optimiser"
    lrs = live.eval("[float(v) for v in learn.recorder.lrs]")
    assert lrs[0] <= 1e-2 / 10 and max(lrs) == pytest.approx(1e-2) and lrs[-1] < 1e-2 / 1000, \
        "one-cycle warms up to lr_max, then anneals towards zero"
    assert lrs.index(max(lrs)) < len(lrs) // 2


@slow
def test_both_digits_classifiers_learn_with_the_same_parameters(lesson):
    live = lesson(NAME)
    assert live.eval("[fastai_run.params, keras_run.params]") == [2410, 2410]
    assert live.eval("fastai_run.steps == keras_run.steps == 184") is True
    assert live.eval("fastai_acc") >= 0.9 and live.eval("keras_acc") >= 0.9, "both reach well over 90%"
    assert live.eval("len(fastai_valid_loss) == len(keras_valid_loss) == 8") is True


GLOSSARY = [  # (term as first used in prose, its gloss, a code token that uses it)
    ("validation set", r"\*\*validation set\*\*: the models never train on them", "valid_pct"),
    ("ReLU", r"\*\*ReLU\*\* \(rectified linear unit\) is", "nn.ReLU()"),
    ("logits", r"\*\*Logits\*\* are", "from_logits"),
    ("softmax", r"\*\*Softmax\*\* turns them into probabilities", "from_logits"),
    ("cross-entropy", r"\*\*Cross-entropy\*\* is the loss", "CrossEntropyLossFlat"),
    ("accuracy", r"\*\*Accuracy\*\* is the fraction", "metrics=accuracy"),
    ("Adam", r"\*\*Adam\*\* is the optimiser", "Adam"),
    ("learning rate", r"\*\*learning rate\*\* sets", "lr_max"),
    ("batch size", r"\*\*batch size\*\* here is 64", "bs=64"),
    ("epoch", r"\*\*epoch\*\* is one pass", "fit_one_cycle(8"),
    ("DataLoaders", r"`DataLoaders` holds one `DataLoader` per dataset", "DataLoaders."),
    ("warms up", r"\*\*warms up\*\* from a small value", "fit_one_cycle"),
    ("anneal", r"\*\*anneals\*\* \(decreases", "fit_one_cycle"),
    ("parameters", r"\*\*parameters\*\* \(weights and biases\)", "count_params(fastai_model)"),
]


@pytest.mark.parametrize("term, gloss, token", GLOSSARY, ids=[g[0] for g in GLOSSARY])
def test_each_new_term_is_glossed_where_it_first_appears(term, gloss, token):
    cells = _source().cells
    first_prose = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and term.lower() in c.source.lower())
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code" and token in c.source)
    assert re.search(gloss, cells[first_prose].source), f"{term!r} first appears in cell {first_prose} without its gloss"
    assert first_prose < first_code, f"{term!r} is used in code (cell {first_code}) before the prose explains it"


def test_pointers_to_other_lessons_name_what_they_cover():
    prose = "\n".join(c.source for c in _source().cells if c.cell_type == "markdown")
    pointers = re.findall(r"[Ll]esson (\d\d)'s section \*([^*]+)\*", prose)
    assert ("03", "Warm-up") in pointers, "the warm-up pointer names lesson 03's section"
    for number, title in pointers:
        other = next(n for n in course.lessons() if n.startswith(number))
        headings = [ln for ln in course.source_py(other).read_text().splitlines() if re.match(r"# #+ ", ln)]
        assert any(title in h for h in headings), f"lesson {number} has no section titled {title!r}: {headings}"
    init = next(s for s in re.split(r"\n\* ", prose) if "initialisation" in s)
    assert "lesson 03" not in init.split("initialisation")[1][:120], "lesson 03 does not cover initialisation"


# --------------------------------------------------------------------------- issue 16: compute, depth, deep fakes


def _markdown() -> list[str]:
    return [c.source for c in _source().cells if c.cell_type == "markdown"]


def test_deep_fake_opening_names_the_lecture_and_points_to_the_demo():
    prose = "\n".join(_markdown())
    for fact in ("6.S191", "Alexander Amini", "January 2020", "Barack Obama", "synthetic"):
        assert fact in prose, f"the deep-fake opening names {fact!r}"
    section1 = next(s for s in _markdown() if s.startswith("### Deep fakes: the same tools"))
    assert "6.S191" in section1 and "Section 6" in section1, "the lecture is named where deep fakes are introduced"


def test_deepfake_helper_fits_one_gaussian_per_label_and_samples_deterministically():
    import numpy as np

    from helpers.lessons import l01_deepfake

    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal(10, 2, (300, 3))])
    labels = np.r_[np.zeros(200, int), np.ones(300, int)]
    g = l01_deepfake.class_gaussians(codes, labels)
    assert sorted(g) == [0, 1]
    np.testing.assert_allclose(g[1][0], codes[200:].mean(0))
    np.testing.assert_allclose(g[1][1], np.cov(codes[200:], rowvar=False))
    new, new_labels = l01_deepfake.sample_codes(g, 500, seed=3)
    assert new.shape == (1000, 3) and new.dtype == np.float32 and new_labels.tolist() == [0] * 500 + [1] * 500
    assert abs(new[500:].mean() - 10) < 0.5 and abs(new[:500].mean()) < 0.5, "each label's codes come from its Gaussian"
    again, _ = l01_deepfake.sample_codes(g, 500, seed=3)
    assert np.array_equal(new, again), "the same seed gives the same codes"
    with pytest.raises(ValueError, match="at least 2"):
        l01_deepfake.class_gaussians(codes[:201], labels[:201])
    with pytest.raises(ValueError, match="one label per row"):
        l01_deepfake.class_gaussians(codes, labels[:10])


@slow
def test_the_vae_is_the_same_model_in_both_frameworks_and_learns(lesson):
    live = lesson(NAME)
    assert live.eval("[checks.count_params(fastai_vae), checks.count_params(keras_vae)]") == [19792, 19792], \
        "64-128-16 encoder and 8-128-64 decoder in both frameworks"
    assert live.eval("[w.shape for w in keras_vae.get_weights()]") == live.eval(
        "[list(p.shape)[::-1] for p in fastai_vae.parameters()]"), "the same layers, in the same order"
    untrained = live.eval("float(vae_loss(VAE()(X_vae), X_vae))")
    for loss in live.eval("[fastai_vae_loss, keras_vae_loss]"):
        assert loss < 0.7 * untrained, f"training lowers the VAE's loss well below an untrained one's: {loss} vs {untrained}"


@slow
def test_fakes_look_like_new_digits_to_a_classifier_trained_on_real_ones(lesson):
    live = lesson(NAME)
    assert live.eval("[fastai_fake.shape, keras_fake.shape]") == [[360, 64], [360, 64]]
    assert live.eval("bool(((fastai_fake >= 0) & (fastai_fake <= 1)).all() and ((keras_fake >= 0) & (keras_fake <= 1)).all())")
    for fw in ("fastai", "keras"):
        fake, real = live.eval(f"judge_fake[{fw!r}]"), live.eval(f"judge_real[{fw!r}]")
        assert fake["read as the intended digit"] >= 0.7, f"{fw}: most fakes are read as the digit they were meant to be: {fake}"
        assert fake["median top probability"] >= 0.75, f"{fw}: the classifier is confident on the fakes: {fake}"
        assert real["read as the intended digit"] >= 0.9, real
    novelty = live.eval("novelty")
    for k in ("fastai fake", "Keras fake"):
        assert 0.5 * novelty["real (validation)"] <= novelty[k] <= 3 * novelty["real (validation)"], \
            f"fakes are about as far from the training digits as new real digits are (not copies): {novelty}"


@slow
def test_a_detector_catches_the_fakes_and_the_lesson_says_why(lesson):
    live = lesson(NAME)
    for table in ("detector_acc", "crossed_acc"):
        acc = live.eval(table)
        assert set(acc) == {"fastai", "keras"}
        for fw, a in acc.items():
            assert 0.75 <= a <= 1.0, f"{table}[{fw}]: the detector does far better than guessing (50%): {a}"
    assert live.eval("[len(fa_X_test), int(fa_y_test.sum()), len(ks_X_test), int(ks_y_test.sum())]") == [720, 360, 720, 360], \
        "judged on 360 unseen real digits and 360 new fakes"
    assert live.eval("bool((fa_X_test[:360] == digits.X_valid).all())"), "the real test digits are the validation digits"
    sat = live.eval("saturated")
    assert sat["real"] > sat["fastai fake"] + 0.1 and sat["real"] > sat["Keras fake"] + 0.1, \
        f"the fakes' tell, as the prose says: greyer pixels: {sat}"
    cell = next(c for c in live.nb.cells if c.cell_type == "code" and "detector_acc = " in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert f"{live.eval('detector_acc')['fastai']:.0%}" in printed, "the detector's accuracy is reported"
    prose = "\n".join(_markdown())
    assert "Goodfellow et al., NIPS 2014" in prose and "discriminator" in prose and "50%" in prose


@slow
def test_matmul_throughput_is_measured_and_the_alexnet_estimate_follows_from_its_assumptions(lesson):
    live = lesson(NAME)
    cuda = live.eval("torch.cuda.is_available()")
    assert live.eval("device") == ("cuda" if cuda else "cpu"), "the cell uses a GPU when there is one"
    assert live.eval("torch_gflops") > 0 and live.eval("tf_gflops") > 0
    assert live.eval("A_t.dtype == torch.float32 and A_f.dtype == tf.float32")
    # the formula: a multiply that takes at least 10 ms can report at most 2·1024³ / 0.01 s
    bound = 2 * 1024 ** 3 / 0.01 / 1e9
    assert 0 < live.eval("matmul_gflops(lambda: time.sleep(0.01), repeats=1)") <= bound
    assert live.eval("GTX_580_GFLOPS") == pytest.approx(1581.056)
    assert live.eval("alexnet_flop") == pytest.approx(3 * 2 * 0.72e9 * 1.2e6 * 90)
    assert live.eval("days_here") == pytest.approx(live.eval("alexnet_flop / (torch_gflops * 1e9) / 86400"))
    assert 1 < live.eval("days_gtx_at_peak") < 5.5, "at peak, two GTX 580s would need less than the real 5-6 days"
    message = live.eval("gpu_message")
    assert message.startswith("This machine has a GPU" if cuda else "No GPU here"), message
    if not cuda:
        assert live.eval("days_here") > 7, "the recap says weeks to months on a CPU"
    assert len(live.eval("list(speeds)")) == 5
    prose = "\n".join(_markdown())
    for fact in ("five to six days on two NVIDIA GTX 580", "Krizhevsky, Sutskever & Hinton", "1.2 million", "90 passes"):
        assert fact in prose, fact


def test_depth_sidebar_says_what_was_believed_true_and_who_next_to_the_hardware_section():
    cells = _source().cells
    i = next(i for i, c in enumerate(cells) if "**Preconceptions that held the field back:" in c.source)
    side = cells[i].source
    assert side.startswith("> **Preconceptions that held the field back:") and "layers" in side
    for part in ("*What was believed:*", "*What was true:*", "*Who showed it:*"):
        assert part in side
    for who in ("Hinton, Osindero & Teh", "2006", "Glorot & Bengio", "AISTATS 2010", "Cireşan", "He, Zhang, Ren & Sun",
                "152 layers"):
        assert who in side, who
    section = [c.source for c in cells[:i] if c.cell_type == "markdown" and c.source.startswith("## ")][-1]
    assert section.startswith("## 5. Compute and depth"), "the sidebar sits in the compute-and-depth section"


def test_revealable_answers_do_not_give_away_the_graded_exercises():
    cells = _source().cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith("## Check your understanding"))
    answers = "\n".join(c.source for c in cells[start:])
    graded = [c.source for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
    for snippet in ("np.exp(-np.abs", "dtype=torch.float32", "tf.float32", "activation=\"relu\"", "C2PA",
                    "keras.layers.Dense(10)"):
        assert any(snippet in g for g in graded), f"{snippet!r} is part of an answer (keep this list honest)"
        assert snippet not in answers, f"the questions' answers reveal {snippet!r} from a graded solution"
