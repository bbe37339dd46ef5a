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
    assert "DataLoaders.from_dsets(" in code and "fastai_side.dataloaders" not in code
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
