# %% [markdown]
# # Lesson 01 — Introduction to deep learning, side by side
#
# **Deep Learning, Side by Side** builds every model twice: once in **fastai** (on PyTorch) and once in
# **Keras** (on TensorFlow), in neighbouring cells, so you can compare the two line by line.
#
# By the end of this lesson you will be able to:
#
# 1. explain why deep learning took off when it did (data, compute, depth), after two "winters" — and why
#    deep fakes are an ethical problem it created;
# 2. compute what a single artificial neuron does, by hand and in NumPy;
# 3. create and multiply tensors in PyTorch and in TensorFlow, and say when they agree exactly;
# 4. train a real classifier — handwritten digits — in fastai and in Keras, and compare them;
# 5. measure how fast this machine multiplies matrices, and estimate how long AlexNet's training would take
#    on it;
# 6. make fake digits with a small generative model in both frameworks, and try to catch them with a
#    detector.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Each exercise says what its test checks. Run the notebook top to bottom
# (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# One call prepares the kernel: it imports PyTorch before TensorFlow (the other order crashes the
# kernel), uses one CPU thread (fastest for models this small), silences TensorFlow's log noise and seeds
# every random number generator, so your numbers match your neighbour's. It prints one line: the versions
# it loaded.

# %%
import helpers

helpers.setup(seed=0)

# %% [markdown]
# Then the libraries this lesson uses: NumPy, matplotlib, and the course's helpers for data, plots, widgets,
# checks and comparisons.

# %%
import matplotlib.pyplot as plt
import numpy as np

from helpers import checks, compare, data, plots, widgets

# %% [markdown]
# If anything looks wrong with your install, `helpers.doctor()` says what and how to fix it:

# %%
report = helpers.doctor()

# %% [markdown]
# ## 1. Why deep learning, and why now?
#
# The ideas are old. The artificial neuron dates from **1943** (McCulloch & Pitts); Rosenblatt's
# **perceptron** learned from examples in **1958**; **backpropagation** — the algorithm every framework in
# this course runs — was popularised in **1986**; LeCun's convolutional nets read cheques in the **1990s**.
#
# Progress was not steady. Twice, promises ran far ahead of results and the money went away — the two
# **AI winters** (the term was coined in 1984, by researchers warning that a second one was coming):
#
# * **The first, about 1974–1980.** In 1969 Minsky and Papert's book *Perceptrons* proved what
#   single-layer perceptrons cannot compute (lesson 04); read as a verdict on neural networks, it helped
#   research on them lose most of its funding through the 1970s. AI as a whole followed: in 1973 the
#   **Lighthill report** told the British government that AI had not delivered what it promised, and
#   Britain ended support for AI research at all but a few universities; in the US, DARPA cut undirected
#   research and funded only projects with a clear military use.
# * **The second, about 1987–1993** (some historians extend it into the late 1990s). The business boom of
#   the early 1980s was built on **expert systems** — hand-written rules — which proved expensive to keep up
#   to date and brittle outside their narrow domain. In 1987 the market for the special-purpose
#   **Lisp machines** they ran on collapsed, when ordinary workstations became as fast and far cheaper;
#   DARPA's Strategic Computing Initiative cut its AI spending, and Japan's Fifth Generation project
#   ended (1992) without reaching its goals.
#
# Neural networks came back in between, with backpropagation, and kept a following through the second
# winter; but by the late 1990s most of machine learning preferred other methods (support vector
# machines), until deep networks returned in the 2000s.
#
# What changed around **2012**, when a deep network (AlexNet) won the ImageNet competition by a wide margin,
# were three things that arrived together:
#
# * **Data** — the web, phones and cheap sensors produced labelled datasets millions of examples large;
# * **Compute** — graphics cards (GPUs) turned out to be very good at the matrix multiplications neural
#   networks are made of (section 5 measures this machine and puts it beside AlexNet's two GPUs);
# * **Depth** — better activation functions (lesson 02), better optimisers (lesson 03) and better
#   **initialisations** — random starting weights scaled to each layer's size (Glorot & Bengio 2010,
#   He et al. 2015; lesson 02, section 7 shows why the scale matters) — made networks with many layers
#   trainable; lesson 04 shows why depth matters at all.
#
# The timeline below puts the milestones and the two winters on one axis.

# %%
milestones = [
    (1943, "McCulloch–Pitts neuron"), (1958, "Rosenblatt's perceptron"), (1969, "Minsky & Papert, Perceptrons"),
    (1973, "Lighthill report"), (1986, "backpropagation popularised"), (1987, "Lisp-machine market collapses"),
    (1998, "LeNet reads digits"), (2006, "deep belief nets"), (2012, "AlexNet wins ImageNet"),
    (2014, "GANs: generated faces"), (2017, "Transformers; 'deepfakes' coined"), (2022, "text-to-image for everyone"),
]
winters = [(1974, 1980, "first AI winter"), (1987, 1993, "second AI winter")]

fig, ax = plt.subplots(figsize=(9, 4.6))
for i, (year, label) in enumerate(milestones):
    ax.plot(year, i, "o", color="#0072B2")
    ax.hlines(i, 1940, year, color="#0072B2", alpha=0.15, lw=6)
    ax.text(year + 1, i, f"{year}  {label}", va="center", fontsize=10)
for (start, end, label), side in zip(winters, ("left", "right")):  # labels beside their bands, not over them
    ax.axvspan(start, end, color="#D55E00", alpha=0.12)
    x, ha = (start - 1, "right") if side == "left" else (end + 1, "left")
    ax.text(x, -1.0, f"{label} {start}–{end}", ha=ha, va="center", fontsize=10, color="#D55E00")
ax.set_ylim(len(milestones) - 0.5, -1.6)
ax.set_xlim(1940, 2050)
ax.set_yticks([])
ax.spines["left"].set_visible(False)
ax.set_xlabel("year")
ax.set_title("Eighty years of neural networks: old ideas, two winters, new data and compute")
plt.show()

# %% [markdown]
# ### Deep fakes: the same tools, turned against people
#
# MIT's introductory deep-learning course, 6.S191, opened its 2020 first lecture (Alexander Amini,
# "Introduction to Deep Learning", January 2020) with a video of Barack Obama welcoming the students to the
# course. Obama never recorded it: the video was synthetic, made for the course with deep learning, and
# the lecture used it both to show what the field can do and to raise what it can be used for.
#
# The networks that make faces in the timeline above can also put words in a real person's mouth. A
# **deep fake** is audio, image or video generated or altered by a neural network so that it looks like a
# real recording of a real person. The technology is the same one you will learn here — and that is why
# this course talks about it on day one. Section 6 makes fakes of its own, small ones: handwritten digits
# that no one wrote.
#
# Questions worth holding on to as you build models:
#
# * **Consent** — most harmful deep fakes target people who never agreed to be depicted (non-consensual
#   imagery is by far the most common use).
# * **Trust** — once any recording *could* be fake, a real one can be dismissed as fake too (the "liar's
#   dividend").
# * **Safeguards** — provenance metadata and watermarks, detection models, platform policies and laws; none
#   is enough alone, and detectors are in an arms race with generators.
#
# You will write a short answer about this at the end of the lesson (graded by your instructor).

# %% [markdown]
# ## 2. One neuron
#
# An artificial neuron takes inputs $x_1, \dots, x_n$, multiplies each by a **weight** $w_i$, adds a
# **bias** $b$ and squashes the sum with an **activation function**. With the sigmoid
# $\sigma(z) = 1 / (1 + e^{-z})$ the output is a number between 0 and 1:
#
# $$ \hat y = \sigma\left(\sum_i w_i x_i + b\right) = \sigma(x \cdot w + b). $$
#
# For example with $x = (1, 2)$, $w = (0.5, -0.25)$, $b = 0.1$: $z = 0.5 - 0.5 + 0.1 = 0.1$ and
# $\hat y = \sigma(0.1) \approx 0.525$. With $x = (2, 0)$ instead, $z = 1.1$ and $\hat y \approx 0.750$.

# %% [markdown]
# ### Exercise 1 (graded, 2 points): a neuron in NumPy
#
# Write `neuron(X, w, b)`:
#
# * `X` is a NumPy array with one example per row, shape `(n, d)`; `w` has shape `(d,)`; `b` is a number;
# * return the `n` outputs $\sigma(Xw + b)$, one per row, as an array of shape `(n,)`.
#
# Big negative sums make the textbook formula overflow: `np.exp(800)` is `inf`, and NumPy prints a
# `RuntimeWarning`. Write the sigmoid so that it stays finite and **silent** (no warning) for any $z$
# (hint: `np.exp(-np.abs(z))` never overflows; use it for both signs of $z$).
#
# **The test checks** five rows with the example's $w$ and $b$ (their sums are $z = 0.1, 1.1, -2.9,
# 1000.1$ and $-999.9$): the shape `(5,)`, the values (to about 5 significant digits), that every output is
# finite, and that no warning was raised. Hidden tests check more inputs of the same kind: other sizes `n` and `d`, one
# row, and $z = \pm 1000$.

# %% nbgrader={"grade": false, "grade_id": "neuron", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neuron(X, w, b):
    """Outputs of one sigmoid neuron for each row of X."""
    ### BEGIN SOLUTION
    z = np.asarray(X, dtype=float) @ np.asarray(w, dtype=float) + b
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "neuron_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
import warnings

X_example = np.array([[1.0, 2.0], [2.0, 0.0], [-4.0, 4.0], [2000.0, 0.0], [-2000.0, 0.0]])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = neuron(X_example, np.array([0.5, -0.25]), 0.1)  # z = 0.1, 1.1, -2.9, 1000.1, -999.9
checks.check_shape(out, (5,), name="neuron(X, w, b)")
checks.check_finite(out, name="neuron(X, w, b)")
checks.check_true(not caught, "expected no warning (NumPy warns 'overflow encountered in exp' when exp gets a big z)",
                  name="neuron(X, w, b)", hint="np.exp(-z) overflows for big negative z; use np.exp(-np.abs(z))")
checks.check_close(out, [0.52497919, 0.75026011, 0.05215356, 1.0, 0.0], name="neuron(X, w, b)", say=True)
### BEGIN HIDDEN TESTS
with warnings.catch_warnings():
    warnings.simplefilter("error")  # an overflow warning fails the test
    big = neuron(np.array([[1000.0], [-1000.0], [0.0]]), np.array([1.0]), 0.0)
checks.check_finite(big, name="neuron with |z| = 1000")
checks.check_close(big, [1.0, 0.0, 0.5], name="neuron with |z| = 1000")
rng = np.random.default_rng(1)
Xr, wr = rng.normal(size=(50, 7)), rng.normal(size=7)
checks.check_close(neuron(Xr, wr, -0.3), 1 / (1 + np.exp(-(Xr @ wr - 0.3))), name="neuron on random data")
checks.check_shape(neuron(Xr[:1], wr, 0.0), (1,), name="neuron on one row")
### END HIDDEN TESTS

# %% [markdown]
# ### What one neuron can draw
#
# A neuron with two inputs splits the plane with a straight line: on one side $\hat y > 0.5$, on the other
# $\hat y < 0.5$. Move the sliders: the weights turn the line, the bias shifts it. Can you separate the
# AND gate's one "true" corner from the three "false" ones? (The plot uses your `neuron` from Exercise 1.)

# %%
X_and, y_and = data.logic_gate("and")


def draw_neuron(w1, w2, b):
    fig, ax = plt.subplots(figsize=(4, 4))
    plots.decision_boundary(lambda P: neuron(P, np.array([w1, w2]), b), X_and, y_and, ax=ax, pad=0.6,
                            title=f"σ({w1:.1f}·x₁ + {w2:.1f}·x₂ + {b:.1f})")


neuron_explorer = widgets.Explorer(
    draw_neuron,
    w1=widgets.slider("weight w₁", 1.0, -5, 5, 0.1),
    w2=widgets.slider("weight w₂", 1.0, -5, 5, 0.1),
    b=widgets.slider("bias b", -1.5, -5, 5, 0.1),
)
neuron_explorer

# %% [markdown]
# (One answer: $w_1 = w_2 = 1$, $b = -1.5$.) Lesson 04 shows which gate **no** single neuron can draw.

# %% [markdown]
# ## 3. Tensors in PyTorch and in TensorFlow
#
# Both frameworks store data in **tensors**: n-dimensional arrays, like NumPy's, that can also live on a
# GPU. They look almost the same:

# %%
import tensorflow as tf
import torch

a_np = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
a_torch = torch.tensor(a_np)
a_tf = tf.constant(a_np)
print("torch:", a_torch.shape, a_torch.dtype)
print("tf:   ", a_tf.shape, a_tf.dtype)

# %% [markdown]
# Matrix multiplication is `@` in both, and both convert back to NumPy with `.numpy()`:

# %%
W_np = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)
prod_torch = (a_torch @ torch.tensor(W_np)).numpy()
prod_tf = (a_tf @ tf.constant(W_np)).numpy()
print(prod_torch)
print("bit-for-bit the same in both frameworks:", np.array_equal(prod_torch, prod_tf))

# %% [markdown]
# Here they agree to the last bit — but only because these numbers are special. Small whole numbers and
# halves are **exactly representable** in `float32`, and so is every product and sum above, so no step
# rounds and the order of the additions cannot matter. Most numbers are not exact: every `float32`
# operation rounds its result to about 7 significant digits, and then the order of additions changes the
# answer:

# %%
big, one = np.float32(1e8), np.float32(1.0)
left_first, right_first = (big + -big) + one, big + (-big + one)  # -1e8 + 1 rounds back to -1e8
print("(1e8 - 1e8) + 1 =", left_first, "   1e8 + (-1e8 + 1) =", right_first)

# %% [markdown]
# Each library's matrix-multiplication kernel groups and orders the additions its own way (in blocks, several
# at a time), so on arbitrary numbers the two frameworks agree to `float32` precision — a relative
# difference near $10^{-7}$ — but not necessarily to the last bit. Whether any entries differ depends on
# the shapes, the CPU and the library versions; this cell counts them on yours:

# %%
rng = np.random.default_rng(0)
A_rand = rng.normal(size=(200, 300)).astype(np.float32)
B_rand = rng.normal(size=(300, 50)).astype(np.float32)
rand_torch = (torch.tensor(A_rand) @ torch.tensor(B_rand)).numpy()
rand_tf = (tf.constant(A_rand) @ tf.constant(B_rand)).numpy()
n_differ = int((rand_torch != rand_tf).sum())
rel_gap = float(np.abs(rand_torch - rand_tf).max() / np.abs(rand_torch).max())
print(f"{n_differ} of {rand_torch.size:,} entries differ; largest difference {rel_gap:.1e} of the largest entry")
print("equal within float32 tolerance:", np.allclose(rand_torch, rand_tf, rtol=1e-5, atol=1e-5))

# %% [markdown]
# So compare results from two frameworks with a tolerance (`np.allclose`), not with `==`; the course's
# checks do.
#
# Small differences in naming are typical: PyTorch says `x.reshape(...)`, `torch.cat`, `x.sum(dim=0)`;
# TensorFlow says `tf.reshape(x, ...)`, `tf.concat`, `tf.reduce_sum(x, axis=0)`.

# %%
print(torch.cat([a_torch, a_torch], dim=0).sum(dim=0))
print(tf.reduce_sum(tf.concat([a_tf, a_tf], axis=0), axis=0))

# %% [markdown]
# ### Tensors that remember how they were computed — when you ask
#
# To train a network, a framework needs gradients: how the loss changes when each weight changes. Both
# frameworks can record the operations that produced a result and run them backwards — but only when you
# ask. In PyTorch you ask per tensor, with `requires_grad=True`; every result computed from it then
# carries a `grad_fn`, the last step of its recipe, and `.backward()` fills in the gradients. A plain tensor
# records nothing:

# %%
x_plain = torch.tensor([2.0, 3.0])
x_tracked = torch.tensor([2.0, 3.0], requires_grad=True)
y_plain, y_tracked = (x_plain ** 2).sum(), (x_tracked ** 2).sum()
print("without requires_grad, grad_fn =", y_plain.grad_fn)
print("with requires_grad,    grad_fn =", y_tracked.grad_fn)
y_tracked.backward()  # d(x₁² + x₂²)/dx = 2x
print("gradient:", x_tracked.grad)

# %% [markdown]
# TensorFlow tensors never carry a recipe. A `tf.GradientTape` records the operations run *inside* its
# `with` block, on the tensors it watches (trainable variables are watched automatically, other tensors
# with `tape.watch`). A result computed outside the tape has no record, and its gradient comes back `None`:

# %%
x_tf = tf.constant([2.0, 3.0])
y_outside = tf.reduce_sum(x_tf ** 2)  # computed before the tape starts recording
with tf.GradientTape(persistent=True) as tape:  # persistent: we ask it for two gradients
    tape.watch(x_tf)
    y_inside = tf.reduce_sum(x_tf ** 2)
grad_inside, grad_outside = tape.gradient(y_inside, x_tf), tape.gradient(y_outside, x_tf)
print("computed inside the tape: ", grad_inside)
print("computed outside the tape:", grad_outside)

# %% [markdown]
# fastai's `Learner` and Keras's `fit` do all of this for you: a model's weights are created tracked
# (PyTorch layers make them with `requires_grad=True`, Keras layers as trainable variables), and each
# training step runs the model inside the recording.

# %% [markdown]
# ### Exercise 2 (graded, 2 points): the same layer in both frameworks
#
# A dense layer computes $XW + b$. Write `dense_torch(X, W, b)` and `dense_tf(X, W, b)`:
#
# * the inputs are NumPy arrays: `X` of shape `(n, d)`, `W` of shape `(d, k)`, `b` of shape `(k,)` — of any
#   float dtype (NumPy's default is `float64`);
# * each function converts all three to **float32** tensors of its framework and returns that framework's
#   tensor (a `torch.Tensor`, a `tf.Tensor`; not a NumPy array) for $XW + b$, of shape `(n, k)`.
#
# Any way of converting and multiplying counts (`torch.tensor`, `torch.as_tensor`, `torch.from_numpy(...).float()`,
# `tf.constant`, `tf.convert_to_tensor`, `tf.cast`, `@` or `matmul`, ...).
#
# **The test checks**, for the `float32` arrays `a_np` and `W_np` above and a `float64` bias: each result's
# type, its dtype (`float32`), its shape `(3, 2)` and its values. Hidden tests check the same for other
# shapes and for `float64` inputs.

# %% nbgrader={"grade": false, "grade_id": "dense_both", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dense_torch(X, W, b):
    """X @ W + b as a float32 torch.Tensor."""
    ### BEGIN SOLUTION
    return torch.as_tensor(X, dtype=torch.float32) @ torch.as_tensor(W, dtype=torch.float32) + torch.as_tensor(
        b, dtype=torch.float32)
    ### END SOLUTION


def dense_tf(X, W, b):
    """X @ W + b as a float32 tf.Tensor."""
    ### BEGIN SOLUTION
    return tf.constant(X, dtype=tf.float32) @ tf.constant(W, dtype=tf.float32) + tf.constant(b, dtype=tf.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dense_both_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
b_np = np.array([0.5, -0.5])  # float64, NumPy's default
out_t, out_f = dense_torch(a_np, W_np, b_np), dense_tf(a_np, W_np, b_np)
checks.check_type(out_t, torch.Tensor, name="dense_torch(...)")
checks.check_type(out_f, tf.Tensor, name="dense_tf(...)")
checks.check_equal(str(out_t.dtype), "torch.float32", name="dense_torch(...).dtype",
                   hint="convert X, W and b, e.g. torch.as_tensor(b, dtype=torch.float32)")
checks.check_equal(out_f.dtype.name, "float32", name="dense_tf(...).dtype",
                   hint="convert X, W and b, e.g. tf.constant(b, dtype=tf.float32)")
checks.check_shape(out_t, (3, 2), name="dense_torch(...)")
checks.check_shape(out_f, (3, 2), name="dense_tf(...)")
checks.check_close(out_t, a_np @ W_np + b_np, name="dense_torch(...)", say=True)
checks.check_close(out_f, a_np @ W_np + b_np, name="dense_tf(...)", say=True)
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(2)
for n, d, k in ((5, 4, 3), (1, 6, 1)):
    Xh, Wh, bh = rng.normal(size=(n, d)), rng.normal(size=(d, k)), rng.normal(size=k)
    th, fh = dense_torch(Xh, Wh, bh), dense_tf(Xh, Wh, bh)
    checks.check_type(th, torch.Tensor, name="dense_torch on float64 input")
    checks.check_type(fh, tf.Tensor, name="dense_tf on float64 input")
    checks.check_equal(str(th.dtype), "torch.float32", name="dense_torch(float64 input).dtype")
    checks.check_equal(fh.dtype.name, "float32", name="dense_tf(float64 input).dtype")
    checks.check_close(th, Xh @ Wh + bh, name=f"dense_torch on float64 input {(n, d, k)}", rtol=1e-4, atol=1e-5)
    checks.check_close(fh, Xh @ Wh + bh, name=f"dense_tf on float64 input {(n, d, k)}", rtol=1e-4, atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A first real classifier: handwritten digits
#
# scikit-learn ships 1,797 handwritten digits, each an 8×8 grey image (so no download is needed). Each
# image becomes 64 numbers between 0 and 1; the label is the digit. We keep 20% of the images aside as the
# **validation set**: the models never train on them, so how well they do there shows how well they do on
# digits they have never seen. The other 80% are the **training set**.

# %%
digits = data.digits(valid_pct=0.2, seed=0)
print(digits)
plots.images(digits.X_train[:20].reshape(-1, 8, 8), digits.y_train[:20], title="The first 20 training digits")
plt.show()

# %% [markdown]
# We build the same network in both frameworks: 64 inputs → 32 hidden units → 10 outputs, one score per
# digit. The words this section needs, once each:
#
# * **ReLU** (rectified linear unit) is the hidden units' activation, $\max(0, z)$: it passes positive
#   sums and turns negative ones into 0 (lesson 02 compares it with the sigmoid).
# * **Logits** are the 10 raw scores the last layer outputs: any real numbers, the highest one is the
#   predicted digit. **Softmax** turns them into probabilities that sum to 1,
#   $p_k = e^{s_k} / \sum_j e^{s_j}$.
# * **Cross-entropy** is the loss both frameworks minimise: $-\log p_{\text{true digit}}$, small when the
#   model gives the right digit a high probability. Both compute it from the logits (softmax included).
# * **Accuracy** is the fraction of digits whose highest score is the right one.
# * **Adam** is the optimiser: gradient descent in which each weight's step comes from running averages
#   of its recent gradients and of their squares (lesson 03). The **learning rate** sets the size of the steps.
# * A **batch** is the group of examples one step learns from; the **batch size** here is 64. An
#   **epoch** is one pass over all the training examples: 1,437 / 64, so 23 steps (the last batch is
#   smaller).
#
# ### fastai
# PyTorch serves data from a **dataset** of (image, label) pairs; here a `TensorDataset` over the arrays.
# fastai's `DataLoaders` holds one `DataLoader` per dataset: it cuts the training set into shuffled batches
# every epoch and the validation set into batches in order. `num_workers=0` loads the batches in this
# process (worker processes only add start-up time for data already in memory), and `drop_last=False` keeps
# each epoch's last, smaller batch, as Keras does (fastai's default drops it). The `Learner` bundles the
# data, the model, the loss and the optimiser (Adam, fastai's default), and `metrics=accuracy` adds the
# accuracy to its report. `fit_one_cycle(8, lr_max=1e-2)` trains for 8 epochs with fastai's *one-cycle*
# schedule: the learning rate **warms up** from a small value to `lr_max`, then **anneals** (decreases
# gradually, like a metal cooled slowly) towards zero. Lesson 03's section *Warm-up* shows why warming up
# helps.

# %%
from fastai.basics import *  # noqa: E402,F403 - fastai's documented import style
from fastai.callback.all import *  # noqa: E402,F403
from torch.utils.data import TensorDataset  # noqa: E402

train_ds = TensorDataset(torch.tensor(digits.X_train), torch.tensor(digits.y_train))  # (64 floats, label) pairs
valid_ds = TensorDataset(torch.tensor(digits.X_valid), torch.tensor(digits.y_valid))
dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=64, drop_last=False, num_workers=0)

fastai_model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
learn = Learner(dls, fastai_model, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
with compare.timed() as t_fastai:
    learn.fit_one_cycle(8, lr_max=1e-2)

# %% [markdown]
# ### Keras
# Keras takes the NumPy arrays as they are: `fit` cuts them into batches itself (`batch_size=64`, shuffled
# every epoch by default). `keras.Sequential` stacks the layers; `compile` chooses the optimiser (Adam with a
# constant learning rate of 0.01), the loss and the metrics. The model outputs logits, so the loss is told
# `from_logits=True` and applies the softmax itself. `validation_data` makes Keras report the validation
# loss and accuracy after every epoch, and `verbose=2` prints one line per epoch.

# %%
import keras  # noqa: E402

keras_model = keras.Sequential([
    keras.Input(shape=(64,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10),
])
keras_model.compile(optimizer=keras.optimizers.Adam(1e-2),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
with compare.timed() as t_keras:
    history = keras_model.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid),
                              epochs=8, batch_size=64, verbose=2)

# %% [markdown]
# ### Side by side
#
# Same architecture, so the same number of **parameters** (weights and biases):
# $64 \cdot 32 + 32 + 32 \cdot 10 + 10 = 2{,}410$. To compare like with like we look at what both
# frameworks measure at the end of every epoch: the loss on the validation digits. Then we score both
# models on the validation set with one shared function.

# %%
import math  # noqa: E402

from helpers.compare import Run, metrics  # noqa: E402

epochs = np.arange(1, 9)
fastai_valid_loss = [float(v[1]) for v in learn.recorder.values]  # per epoch: train_loss, valid_loss, accuracy
keras_valid_loss = history.history["val_loss"]
fastai_acc = metrics(helpers.fastai_side.predict(fastai_model, digits.X_valid), digits.y_valid)["accuracy"]
keras_acc = metrics(helpers.keras_side.predict(keras_model, digits.X_valid), digits.y_valid)["accuracy"]
keras_steps_per_epoch = math.ceil(len(digits.X_train) / 64)

fastai_run = Run("fastai", params=checks.count_params(fastai_model), seconds=t_fastai.seconds, steps=8 * len(dls.train),
                 loss_steps=list(epochs), loss=fastai_valid_loss, final={"valid_accuracy": fastai_acc})
keras_run = Run("keras", params=checks.count_params(keras_model), seconds=t_keras.seconds,
                steps=8 * keras_steps_per_epoch, loss_steps=list(epochs), loss=keras_valid_loss,
                final={"valid_accuracy": keras_acc})
compare.side_by_side(fastai_run, keras_run, title="Digits: validation loss per epoch", xlabel="epoch")

# %% [markdown]
# Both reach well over 90% accuracy on digits they never saw. Two differences are worth noticing:
#
# * **Schedules.** `fit_one_cycle` starts with a small learning rate and warms up, so fastai's first epochs
#   move more cautiously; Keras used a constant learning rate. Lesson 03 compares the two properly.
# * **Time.** Each framework pays one-time start-up costs on its first `fit` in a fresh kernel (Keras also
#   compiles the training step into a TensorFlow *graph*, a form it can run faster every later step); on
#   data this small that dominates. Lesson 05 looks at where the time of a training loop goes.

# %% [markdown]
# ### Exercise 3 (graded, 3 points): build it yourself, in Keras
#
# Write `build_keras_digits_model(hidden)` returning a Keras model (a `keras.Sequential`, say) that maps
# 64 inputs through a `Dense(hidden)` layer with ReLU to a `Dense(10)` output layer that outputs
# **logits**: no softmax (nor any other activation) on the last layer — the loss applies the softmax
# itself (`from_logits=True`). You need not compile it. With `hidden=32` it has exactly the fastai
# model's 2,410 parameters.
#
# **The test checks**, for `hidden=32` on 5 validation digits: that you return a Keras model, the output
# shape `(5, 10)`, the parameter count, that the outputs are not probabilities, and that they equal
# $\mathrm{relu}(x W_1 + b_1) W_2 + b_2$ computed from the model's own weights (`model.get_weights()`,
# in the order kernel, bias, kernel, bias). Hidden tests check the same for other values of `hidden`.

# %% nbgrader={"grade": false, "grade_id": "keras_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_keras_digits_model(hidden=32):
    """64 -> hidden (ReLU) -> 10 logits, as a Keras model."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(10),
    ])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "keras_model_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
import warnings


def logits_of_weights(model, X):
    """relu(X @ W1 + b1) @ W2 + b2 from the model's own weights (kernel, bias, kernel, bias)."""
    weights = model.get_weights()
    checks.check_equal(len(weights), 4, name="number of weight arrays (kernel and bias of two Dense layers)",
                       hint="two Dense layers, each with its bias, and no other layers with weights")
    W1, b1, W2, b2 = weights
    return np.maximum(X @ W1 + b1, 0) @ W2 + b2


keras.utils.set_random_seed(1)  # the same starting weights on every run
X5 = digits.X_valid[:5]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # older styles such as Dense(..., input_shape=(64,)) warn; they still count
    m = build_keras_digits_model(32)
    checks.check_type(m, keras.Model, name="build_keras_digits_model(32)")
    scores = np.asarray(m(X5))  # this also builds a model written without keras.Input
checks.check_shape(scores, (5, 10), name="model output for 5 digits")
checks.check_param_count(m, checks.count_params(fastai_model), name="build_keras_digits_model(32)", say=True)
checks.check_true(not bool(np.all((scores >= 0) & (scores <= 1))),
                  "expected logits (any real numbers), got outputs that are all between 0 and 1, like probabilities",
                  name="model output", hint="the last layer is plain Dense(10): no activation='softmax'")
checks.check_true(bool(np.allclose(scores, logits_of_weights(m, X5), rtol=1e-4, atol=1e-5)),
                  "expected the outputs relu(x @ W1 + b1) @ W2 + b2 of the model's own weights",
                  name="model output", hint="the hidden Dense layer needs activation='relu', the output layer none")
### BEGIN HIDDEN TESTS
checks.check_true(not bool(np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)),
                  "expected logits, got rows that sum to 1 (softmax probabilities)", name="model output")
for h, rows in ((16, 40), (100, 7)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mh = build_keras_digits_model(h)
        out_h = np.asarray(mh(digits.X_train[:rows]))
    checks.check_shape(out_h, (rows, 10), name=f"build_keras_digits_model({h}) on {rows} digits")
    checks.check_param_count(mh, 64 * h + h + h * 10 + 10, name=f"build_keras_digits_model({h})")
    checks.check_close(out_h, logits_of_weights(mh, digits.X_train[:rows]), rtol=1e-4, atol=1e-5,
                       name=f"build_keras_digits_model({h}) outputs")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Compute and depth: why 2012?
#
# Section 1 said the revolution came from data, compute and depth. Compute can be measured. A network's
# layers are matrix multiplications, and multiplying an $n \times n$ matrix by another costs $2n^3$
# floating-point operations (**FLOPs**): each of the $n^2$ outputs takes $n$ multiplications and $n$
# additions. Time one product, divide, and you have the machine's speed in **GFLOP/s** (billions of
# operations per second). The next cell does that in both frameworks, in `float32`, the precision networks
# train in. It takes the best of three timings (the others may have waited for the CPU) after one warm-up
# call that pays one-time costs.
#
# If this machine has a GPU, the cell uses it: PyTorch when `torch.cuda.is_available()`, TensorFlow by
# itself (it places operations on a GPU when it finds one). A GPU computes asynchronously, so the timing
# waits for the result before stopping the clock.

# %%
import os  # noqa: E402
import time  # noqa: E402


def matmul_gflops(multiply, sync=lambda: None, n=1024, repeats=3):
    """Float32 throughput of multiply(), an (n, n) @ (n, n) product, in GFLOP/s: the best of `repeats` timings."""
    multiply()  # warm-up: the first call pays one-time costs
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        multiply()
        sync()  # on a GPU, wait until the product is really done
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9  # n·n outputs, each n multiplications and n additions


use_gpu = torch.cuda.is_available()
device = "cuda" if use_gpu else "cpu"
A_t, B_t = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
torch_gflops = matmul_gflops(lambda: A_t @ B_t, sync=torch.cuda.synchronize if use_gpu else (lambda: None))
tf_device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
A_f, B_f = tf.random.normal((1024, 1024)), tf.random.normal((1024, 1024))
tf_gflops = matmul_gflops(lambda: (A_f @ B_f).numpy())  # .numpy() waits for the result
print(f"PyTorch on {device}: {torch_gflops:,.0f} GFLOP/s    TensorFlow on {tf_device}: {tf_gflops:,.0f} GFLOP/s")
print(f"(the course runs on {torch.get_num_threads()} thread; this machine has {os.cpu_count()} cores)")

# %% [markdown]
# Both frameworks hand the product to an optimised linear-algebra library, so they land close to each other
# (and the numbers move when other programs share the CPU). Now the published figures. AlexNet, the
# network that won ImageNet in 2012, trained for five to six days on two NVIDIA GTX 580 GPUs with 3 GB of
# memory each, for roughly 90 passes over 1.2 million training images (Krizhevsky, Sutskever & Hinton,
# NIPS 2012).
# One NVIDIA GTX 580 (2010) peaks at about 1,581 GFLOP/s in single precision (512 cores × 1,544 MHz × 2
# operations per fused multiply–add); an NVIDIA A100 (2020) at 19,500 GFLOP/s in plain `float32`. Peaks are
# what the chip can do at best; real training reaches a fraction of them.

# %%
GTX_580_GFLOPS = 512 * 1.544 * 2  # 1,581: cores × GHz × 2 operations per multiply-add (peak, float32)
A100_GFLOPS = 19_500  # NVIDIA's float32 peak (without tensor cores)

speeds = {f"this machine, PyTorch ({device})": torch_gflops, f"this machine, TensorFlow ({tf_device})": tf_gflops,
          "one GTX 580 (2010), peak": GTX_580_GFLOPS, "AlexNet's two GTX 580s (2012), peak": 2 * GTX_580_GFLOPS,
          "one A100 (2020), peak": A100_GFLOPS}
colors = [plots.OKABE_ITO[c] for c in ("blue", "sky blue", "orange", "vermillion", "bluish green")]
fig, ax = plt.subplots(figsize=(8, 2.8))
ax.barh(list(speeds), list(speeds.values()), color=colors)
for i, v in enumerate(speeds.values()):
    ax.text(v * 1.1, i, f"{v:,.0f}", va="center", fontsize=9)
ax.set_xscale("log")
ax.set_xlim(1, 2e5)
ax.invert_yaxis()
ax.set_xlabel("float32 GFLOP/s (log scale)")
ax.set_title("Matrix-multiply speed: this machine beside published peaks")
plt.show()

# %% [markdown]
# How long would AlexNet's training take here? Every number in the estimate is an assumption, stated:
#
# * **FLOPs per image**: a forward pass of AlexNet on one 224×224 image costs about 0.72 billion
#   multiply–adds (a commonly quoted count of its layers' operations; the paper does not give one), so
#   1.44 GFLOP; the backward pass costs about twice the forward pass, so one training image costs about
#   3 × 1.44 GFLOP;
# * **images × epochs**: 1.2 million images, 90 passes (**epochs**, section 4);
# * **speed**: this machine's measured matrix-multiply rate, as if training ran at that rate all the time
#   (it would not: convolutions and memory traffic run slower, so the real time would be longer).

# %%
FLOP_PER_IMAGE = 3 * 2 * 0.72e9  # forward + backward (≈ 2 × forward), 2 FLOPs per multiply-add
IMAGES, EPOCHS = 1.2e6, 90
alexnet_flop = FLOP_PER_IMAGE * IMAGES * EPOCHS
SECONDS_PER_DAY = 86_400
days_here = alexnet_flop / (torch_gflops * 1e9) / SECONDS_PER_DAY
days_gtx_at_peak = alexnet_flop / (2 * GTX_580_GFLOPS * 1e9) / SECONDS_PER_DAY
print(f"AlexNet's training: about {alexnet_flop:.1e} FLOPs")
print(f"here, at {torch_gflops:,.0f} GFLOP/s: {days_here:,.0f} days ({days_here / 365:.1f} years)")
print(f"on two GTX 580s at their peak: {days_gtx_at_peak:.1f} days; the real run took 5-6 days, "
      f"so it ran at about {days_gtx_at_peak / 5.5:.0%} of peak")

# %% [markdown]
# And what a GPU would change here:

# %%
if use_gpu:
    gpu_message = f"This machine has a GPU ({torch.cuda.get_device_name()}): the timing above ran on it."
else:
    gpu_message = (f"No GPU here, so both frameworks ran on the CPU. With a GPU, the same cells would run on it "
                   f"unchanged (PyTorch through device='cuda', TensorFlow by itself); at the peaks above, "
                   f"AlexNet's two GTX 580s are {2 * GTX_580_GFLOPS / torch_gflops:,.0f}× this measurement "
                   f"and one A100 is {A100_GFLOPS / torch_gflops:,.0f}×: {days_here:,.0f} days here would be "
                   f"{days_here * torch_gflops / A100_GFLOPS * SECONDS_PER_DAY / 3600:,.1f} hours on an A100 at peak.")
print(gpu_message)

# %% [markdown]
# Compute is the part of "data, compute, depth" that this machine can measure; depth has a history of its
# own. For years, networks deeper than a few layers were thought too hard to train, and the reasons given
# were wrong.

# %% [markdown]
# > **Preconceptions that held the field back: "more than a few layers is too hard to train".**
# > *What was believed:* into the mid-2000s, networks with more than one or two hidden layers (three layers
# > of weights) were widely held to be too hard to train with backpropagation from random starting weights:
# > experiments of the time found that deeper networks trained that way got stuck or generalised worse
# > than shallow ones, and one hidden layer can in principle approximate any function anyway (lesson 04),
# > so most practitioners used one or two.
# > *What was true:* depth was not the problem; how deep networks were started and run was. Badly scaled
# > random weights make activations and gradients shrink (or grow) layer after layer, saturating sigmoid
# > units make it worse, and the data sets and computers of the time were small. Each of these is fixable,
# > and deep networks then learn what shallow ones of the same size cannot.
# > *Who showed it:* Hinton, Osindero & Teh (*Neural Computation*, 2006) trained deep belief nets one layer
# > at a time ("greedy layer-wise pretraining") and then fine-tuned the whole stack, which revived interest
# > in depth; Glorot & Bengio (AISTATS 2010) measured, layer by layer, how the usual initialisation and
# > sigmoid units make deep networks hard to train, and proposed a scaled initialisation; Cireşan, Meier,
# > Gambardella & Schmidhuber (*Neural Computation*, 2010) trained plain deep MLPs on MNIST with plain
# > backpropagation on a GPU (and deformed copies of the training images), with no pretraining, and set a
# > record (0.35% test error); He, Zhang, Ren & Sun (arXiv 2015, CVPR 2016) trained residual networks
# > 152 layers deep and won ImageNet 2015.

# %% [markdown]
# ## 6. Deep fakes you can make in seconds
#
# Section 1 opened with a fake video. Videos need big models and days of compute, but the idea fits on
# this machine: a **generative model** learns from real examples to produce new ones that look as if they
# came from the same source. We make fake handwritten digits, in both frameworks, then ask two questions:
# do they look real to a digits classifier, and can a detector tell them from real ones?
#
# The model is a **variational autoencoder** (VAE; Kingma & Welling 2014). Its **encoder** squeezes each
# 64-pixel digit into a **code** of 8 numbers; its **decoder** turns a code back into 64 pixels. It
# learns to reconstruct its input (the loss: the cross-entropy between each pixel and its reconstruction,
# summed over the pixels), with one twist: the encoder gives a *mean and a spread* for the code and
# training decodes a random code drawn from them, while a second loss term (the KL divergence) keeps the
# codes close to a standard normal distribution. So nearby codes decode to similar digits, and a *new*
# code decodes to a new digit. The 1,437 training digits are the only data; the target of each is the
# digit itself.
#
# ### fastai
# The model is a PyTorch module with two small MLPs; the loss is a function of the model's outputs and the
# target, which is all fastai's `Learner` asks for. `fit(20, lr=3e-3)` trains 20 epochs with Adam at a
# constant learning rate; `no_bar()` and `no_logging()` keep the 20 epochs' table out of the way.

# %%
from helpers.lessons import l01_deepfake  # noqa: E402

LATENT = 8  # numbers in a code


class VAE(nn.Module):
    """64 pixels -> 128 -> mean and log-variance of an 8-number code; code -> 128 -> 64 pixel logits."""

    def __init__(self, latent=LATENT, hidden=128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64))

    def forward(self, x):
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        code = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)  # a random code near the mean
        return self.decoder(code), mean, log_var


def vae_loss(outputs, x):
    """Reconstruction cross-entropy (summed over the 64 pixels) + KL divergence of the code from N(0, 1)."""
    logits, mean, log_var = outputs
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    kl = 0.5 * (mean ** 2 + log_var.exp() - 1 - log_var).sum(dim=1)
    return (reconstruction + kl).mean()

# %%
VAE_EPOCHS, VAE_BS, VAE_LR = 20, 64, 3e-3
X_vae = torch.tensor(digits.X_train)
vae_dls = DataLoaders.from_dsets(TensorDataset(X_vae, X_vae), TensorDataset(X_vae[:256], X_vae[:256]),
                                 bs=VAE_BS, drop_last=False, num_workers=0)  # each digit is its own target
torch.manual_seed(0)
fastai_vae = VAE()
vae_learn = Learner(vae_dls, fastai_vae, loss_func=vae_loss)
with compare.timed() as t_fastai_vae, vae_learn.no_bar(), vae_learn.no_logging():
    vae_learn.fit(VAE_EPOCHS, lr=VAE_LR)
fastai_vae_loss = float(vae_learn.recorder.values[-1][0])
print(f"fastai VAE: training loss {fastai_vae_loss:.1f} after {VAE_EPOCHS} epochs ({t_fastai_vae.seconds:.1f} s)")

# %% [markdown]
# ### Keras
# The same two MLPs in a `keras.Model` subclass. Keras's `fit` computes the loss from `compile`'s `loss=`
# argument, which sees only predictions and targets; a VAE's loss also needs the code's mean and spread.
# Keras's public hook for that is `compute_loss`: override it and the stock `fit` trains the model. `fit`
# gets only the images: `compute_loss` compares the reconstruction with the input `x` itself.

# %%
class KerasVAE(keras.Model):
    """The same VAE in Keras; its loss is in compute_loss, so the stock fit() trains it."""

    def __init__(self, latent=LATENT, hidden=128):
        super().__init__()
        dense = keras.layers.Dense
        self.encoder = keras.Sequential([keras.Input((64,)), dense(hidden, activation="relu"), dense(2 * latent)])
        self.decoder = keras.Sequential([keras.Input((latent,)), dense(hidden, activation="relu"), dense(64)])
        self.noise = keras.random.SeedGenerator(0)

    def call(self, x):
        mean, log_var = keras.ops.split(self.encoder(x), 2, axis=1)
        code = mean + keras.random.normal(keras.ops.shape(mean), seed=self.noise) * keras.ops.exp(0.5 * log_var)
        return self.decoder(code), mean, log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, mean, log_var = y_pred
        reconstruction = keras.ops.sum(keras.ops.binary_crossentropy(x, logits, from_logits=True), axis=1)
        kl = 0.5 * keras.ops.sum(mean ** 2 + keras.ops.exp(log_var) - 1 - log_var, axis=1)
        return keras.ops.mean(reconstruction + kl)

# %%
keras.utils.set_random_seed(0)
keras_vae = KerasVAE()
keras_vae.compile(optimizer=keras.optimizers.Adam(VAE_LR))
with compare.timed() as t_keras_vae:
    vae_history = keras_vae.fit(digits.X_train, epochs=VAE_EPOCHS, batch_size=VAE_BS, verbose=0)
keras_vae_loss = float(vae_history.history["loss"][-1])
print(f"Keras VAE:  training loss {keras_vae_loss:.1f} after {VAE_EPOCHS} epochs ({t_keras_vae.seconds:.1f} s)")
print("parameters:", checks.count_params(fastai_vae), "(fastai)", checks.count_params(keras_vae), "(Keras)")

# %% [markdown]
# ### Asking for a particular digit
#
# A code drawn from the standard normal decodes to *some* digit, often a blurred mix of two. To ask for a
# "3", we encode the real 3s, fit one normal distribution to their codes (its mean and covariance), and
# draw new codes from it; the decoder turns each into a new 3 (`helpers.lessons.l01_deepfake` does the NumPy part).
# Each framework's fakes come from its own model.

# %%
with torch.no_grad():
    fastai_codes = fastai_vae.encoder(X_vae)[:, :LATENT].numpy()  # the means: one code per training digit
keras_codes = np.asarray(keras_vae.encoder(digits.X_train))[:, :LATENT]
fastai_gaussians = l01_deepfake.class_gaussians(fastai_codes, digits.y_train)
keras_gaussians = l01_deepfake.class_gaussians(keras_codes, digits.y_train)


def fastai_fakes(per_class, seed):
    """per_class new images of each digit from the fastai VAE, and their intended labels."""
    codes, labels = l01_deepfake.sample_codes(fastai_gaussians, per_class, seed)
    with torch.no_grad():
        return torch.sigmoid(fastai_vae.decoder(torch.tensor(codes))).numpy(), labels


def keras_fakes(per_class, seed):
    """per_class new images of each digit from the Keras VAE, and their intended labels."""
    codes, labels = l01_deepfake.sample_codes(keras_gaussians, per_class, seed)
    return np.asarray(keras.ops.sigmoid(keras_vae.decoder(codes))), labels


fastai_fake, fake_labels = fastai_fakes(36, seed=1)  # 360 fakes, 36 of each digit
keras_fake, _ = keras_fakes(36, seed=1)

# %% [markdown]
# Real digits on top (from the validation set: no model trained on them), fakes below:

# %%
first_real = [digits.X_valid[digits.y_valid == k][0] for k in range(10)]
l01_deepfake.real_vs_fake({"real": first_real, "fastai fake": fastai_fake[::36], "Keras fake": keras_fake[::36]},
                          title="Real digits and fakes decoded from new 8-number codes, 0 to 9")
plt.show()

# %% [markdown]
# ### Do they fool a reader?
#
# Section 4's classifiers learned from real digits only. Show them the fakes: if a fake is digit-like,
# a classifier should read it as the digit it was meant to be, and be about as sure as on real digits
# (we report the median of its highest softmax probability).

# %%
def judged(probs, labels):
    return {"median top probability": float(np.median(probs.max(axis=1))),
            "read as the intended digit": float((probs.argmax(axis=1) == labels).mean())}


judge_real = {"fastai": judged(helpers.fastai_side.predict_proba(fastai_model, digits.X_valid), digits.y_valid),
              "keras": judged(helpers.keras_side.predict_proba(keras_model, digits.X_valid), digits.y_valid)}
judge_fake = {"fastai": judged(helpers.fastai_side.predict_proba(fastai_model, fastai_fake), fake_labels),
              "keras": judged(helpers.keras_side.predict_proba(keras_model, keras_fake), fake_labels)}
for fw in ("fastai", "keras"):
    print(f"{fw:7s} real digits: {judge_real[fw]['read as the intended digit']:.0%} read right, median top "
          f"probability {judge_real[fw]['median top probability']:.2f};   fakes: "
          f"{judge_fake[fw]['read as the intended digit']:.0%}, {judge_fake[fw]['median top probability']:.2f}")

# %% [markdown]
# Are they new digits, or copies of training digits the VAE memorised? Compare each fake with the training
# digit closest to it (the squared distance over the 64 pixels), and do the same for the real validation
# digits, which are new by construction:

# %%
def nearest_training_distance(X):
    """For each row of X: the squared pixel distance to the closest training digit."""
    X, T = np.asarray(X, dtype=np.float64), digits.X_train.astype(np.float64)
    return ((X ** 2).sum(1)[:, None] + (T ** 2).sum(1)[None] - 2 * X @ T.T).min(axis=1)


novelty = {"real (validation)": float(np.median(nearest_training_distance(digits.X_valid))),
           "fastai fake": float(np.median(nearest_training_distance(fastai_fake))),
           "Keras fake": float(np.median(nearest_training_distance(keras_fake)))}
print("median squared distance to the nearest training digit:",
      ", ".join(f"{k} {v:.2f}" for k, v in novelty.items()))

# %% [markdown]
# The fakes are about as far from every training digit as genuinely new digits are: the VAE did not copy.

# %% [markdown]
# ### Can a detector catch them?
#
# A **detector** is a classifier trained on the opposite question: real or fake? Each framework trains one
# (64 → 32 → 1, one logit: above 0 means "fake") on 720 real training digits and 720 of its own VAE's fakes,
# with the course's training helper (`fastai_side.train`, `keras_side.train`: the `Learner` / `fit` you
# wrote out above, for a fixed number of steps). Then it judges digits neither model has seen: the 360
# validation digits and 360 new fakes. Half are fake, so guessing scores 50%. Each detector also judges
# the *other* framework's fakes, made by a generator it never saw.

# %%
from helpers import fastai_side, keras_side  # noqa: E402


def detector_data(make_fakes):
    """(X_train, y_train, X_test, y_test) for real (0) vs fake (1): 720 + 720 to learn from, 360 + 360 to judge."""
    fake_train, _ = make_fakes(72, seed=2)
    fake_test, _ = make_fakes(36, seed=3)
    X_tr = np.concatenate([digits.X_train[:720], fake_train])
    X_te = np.concatenate([digits.X_valid, fake_test])
    labels = lambda n: np.r_[np.zeros(n), np.ones(n)].astype(np.float32)[:, None]  # noqa: E731
    return X_tr, labels(720), X_te, labels(360)


def detector_accuracy(predict, model, X, y):
    return float(((predict(model, X) > 0) == (y > 0.5)).mean())


fa_X, fa_y, fa_X_test, fa_y_test = detector_data(fastai_fakes)
ks_X, ks_y, ks_X_test, ks_y_test = detector_data(keras_fakes)
fastai_detector = fastai_side.mlp([64, 32, 1], seed=0)
fastai_side.train(fastai_detector, fastai_side.dataloaders(fa_X, fa_y, fa_X_test, fa_y_test), steps=400, lr=3e-3)
keras_detector = keras_side.mlp([64, 32, 1], seed=0)
keras_side.train(keras_detector, keras_side.dataloaders(ks_X, ks_y, ks_X_test, ks_y_test), steps=400, lr=3e-3)

detector_acc = {"fastai": detector_accuracy(fastai_side.predict, fastai_detector, fa_X_test, fa_y_test),
                "keras": detector_accuracy(keras_side.predict, keras_detector, ks_X_test, ks_y_test)}
crossed_acc = {"fastai": detector_accuracy(fastai_side.predict, fastai_detector, ks_X_test, ks_y_test),
               "keras": detector_accuracy(keras_side.predict, keras_detector, fa_X_test, fa_y_test)}
print(f"fastai detector: {detector_acc['fastai']:.0%} right on fastai's fakes, {crossed_acc['fastai']:.0%} on Keras's")
print(f"Keras detector:  {detector_acc['keras']:.0%} right on Keras's fakes, {crossed_acc['keras']:.0%} on fastai's")

# %% [markdown]
# What gives the fakes away? The scanned digits have 17 grey levels (0 to 16, scaled to 0–1), and more
# than half of their pixels are fully white (0) or fully black (1). A VAE's decoder outputs, for each pixel, roughly the
# average over the digits a code could stand for, so its pixels are greyer. Count the pixels that are
# nearly white or nearly black:

# %%
def share_black_or_white(X):
    """Fraction of pixels below 0.05 or above 0.95."""
    return float(((np.asarray(X) < 0.05) | (np.asarray(X) > 0.95)).mean())


saturated = {"real": share_black_or_white(digits.X_valid), "fastai fake": share_black_or_white(fastai_fake),
             "Keras fake": share_black_or_white(keras_fake)}
print(", ".join(f"{k}: {v:.0%}" for k, v in saturated.items()), "of pixels nearly white or nearly black")

# %% [markdown]
# ### What the arms race means
#
# The fakes fool a digits classifier, but not a detector trained to look for them: their pixels are too
# grey, and a detector learns that tell. That is how detection works in general — a detector learns the
# marks of the fakes it was **trained on**, the generators of today. It is also why detection alone is a
# weak safeguard:
#
# * **The next generator has other tells.** A detector trained on one generator's fakes may miss another's.
#   Here the two VAEs share an architecture and make the same kind of mistake (grey pixels), so each
#   detector also catches the other's fakes; a generator built differently may leave different marks, or
#   fewer.
# * **Generators can be trained against detectors.** A detector is a network, so it has gradients, and its
#   gradient tells a generator how to change its images to look less fake. **Generative adversarial networks** (GANs;
#   Goodfellow et al., NIPS 2014) are built on exactly this game: a generator and a detector (the
#   *discriminator*) train together, each step of one against the other, and at the game's ideal end the
#   generator's images are distributed like the real ones and the discriminator can do no better than
#   guessing, 50%.
# * **So every published detector is also a training signal** for the next generation of fakes. That is
#   why the safeguards in section 1 do not rely on detection alone: provenance (proving where a real
#   recording came from) does not depend on spotting a fake's flaws.

# %% [markdown]
# ### Exercise 4 (graded by your instructor, 2 points): deep fakes
#
# In three to five sentences: describe one concrete harm a deep fake can cause, and one safeguard
# (technical, legal or social) against it — including a way that safeguard can fail.

# %% [markdown] nbgrader={"grade": true, "grade_id": "deepfake_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# A deep-fake video can show a politician "admitting" to a crime days before an election; even if it is
# debunked, many viewers will have seen only the fake. Provenance standards (signed capture metadata, such
# as C2PA) let a newsroom check where a video came from, but they only help when cameras and platforms
# carry the signature through — a re-recorded or stripped file has none, and absence of a signature does
# not prove a fake.
# ### END SOLUTION

# %% [markdown]
# ## Recap
#
# * Deep learning's ideas are decades old; after two AI winters (about 1974–1980 and 1987–1993), **data,
#   compute and depth** made them work after 2010 — and made deep fakes cheap, which is an ethical problem,
#   not just a technical one.
# * A **neuron** is $\sigma(x \cdot w + b)$: a weighted vote, squashed; alone it draws one straight line.
#   Computed carefully, the sigmoid never overflows.
# * **Tensors** in PyTorch and TensorFlow behave alike; the names differ (`dim` vs `axis`, `cat` vs
#   `concat`). They agree bit for bit only when no step rounds, so compare them with a tolerance. They
#   record how they were computed only when asked: `requires_grad=True` in PyTorch, a `GradientTape` in
#   TensorFlow.
# * The same digits classifier takes `DataLoaders` + a `Learner` + `fit_one_cycle` in fastai and
#   `compile` + `fit` on arrays in Keras; both reach over 90% validation accuracy with 2,410 parameters.
# * **Compute** is measurable: a matrix product of two $n \times n$ matrices is $2n^3$ FLOPs. At this
#   machine's rate AlexNet's training (about $4.7 \times 10^{17}$ FLOPs) would take weeks to months; two 2010 GPUs took
#   five to six days. **Depth** was long thought untrainable; pretraining, initialisation, GPUs and residual
#   connections showed it was not.
# * A small **VAE**, in both frameworks, makes digits a classifier reads as real; a **detector** trained on
#   those fakes still catches most of them, by their grey pixels. Detectors learn today's tells, and GANs
#   train generators against detectors: detection alone cannot win the arms race.
#
# **Next:** lesson 02 opens the neuron's squashing function — sigmoid, tanh, ReLU — and asks why the one
# that is not even differentiable won.

# %% [markdown]
# ## Check your understanding
#
# Try each question before you open its answer.
#
# **1. Which three things arrived together around 2012 and made deep learning work?**
#
# <details><summary>Answer</summary>
#
# Data (labelled datasets millions of examples large, from the web, phones and sensors), compute (GPUs,
# which multiply matrices far faster than CPUs) and depth (activation functions, optimisers and
# initialisations that made many-layer networks trainable). The ideas themselves were decades old.
#
# </details>
#
# **2. What were the two AI winters, and what helped start the first?**
#
# <details><summary>Answer</summary>
#
# Two periods when funding and interest collapsed because promises ran ahead of results: about 1974–1980
# and about 1987–1993. The first followed *Perceptrons* (1969), read as a verdict on neural networks, the
# Lighthill report (1973) in Britain and DARPA's cuts in the US; the second followed the collapse of the
# expert-system and Lisp-machine market in 1987.
#
# </details>
#
# **3. What does a single sigmoid neuron compute, and what shape is the boundary between its two answers?**
#
# <details><summary>Answer</summary>
#
# It computes a weighted sum of its inputs plus a bias and squashes it into (0, 1) with the sigmoid. The
# output is 0.5 exactly where the weighted sum is 0, which for two inputs is a straight line: one neuron can
# only separate classes that a straight line (a plane, in more dimensions) separates.
#
# </details>
#
# **4. Why can PyTorch and TensorFlow give slightly different results for the same matrix product?**
#
# <details><summary>Answer</summary>
#
# Every `float32` operation rounds its result, so the order of the additions changes the answer, and each
# library's kernel orders them its own way. On exactly representable numbers nothing rounds and they agree
# bit for bit; in general they agree to about 7 significant digits, so compare them with a tolerance.
#
# </details>
#
# **5. When does a PyTorch tensor remember how it was computed, and how does TensorFlow do the same?**
#
# <details><summary>Answer</summary>
#
# Only when asked: a tensor created with `requires_grad=True` makes every result computed from it carry a
# `grad_fn`. TensorFlow tensors never carry a recipe; a `tf.GradientTape` records the operations run inside
# its `with` block on the tensors it watches, and a result computed outside it has no gradient.
#
# </details>
#
# **6. Why keep a validation set that the model never trains on?**
#
# <details><summary>Answer</summary>
#
# A model can do well on the examples it learned from by memorising them; what we care about is how it does
# on new ones. Digits it never trained on show that, so the validation accuracy estimates how well it will
# read the next digit someone writes.
#
# </details>
#
# **7. How many FLOPs does multiplying two 1,024 × 1,024 matrices take, and how does that give GFLOP/s?**
#
# <details><summary>Answer</summary>
#
# Each of the 1,024² outputs needs 1,024 multiplications and 1,024 additions, so $2 \cdot 1024^3 \approx
# 2.1$ billion operations. Dividing that by the seconds one product takes, and by $10^9$, gives the
# machine's speed in GFLOP/s.
#
# </details>
#
# **8. What assumptions went into the estimate of AlexNet's training time on this machine, and why is the
# real time longer?**
#
# <details><summary>Answer</summary>
#
# About 0.72 billion multiply–adds per image forward, a backward pass costing twice the forward one, 1.2
# million images and 90 epochs, all at this machine's measured matrix-multiply rate. Real training never
# runs at that rate the whole time: convolutions, memory traffic and data loading are slower than one big
# matrix product, as AlexNet's own GPUs show (they ran well below their peak).
#
# </details>
#
# **9. What did people believe about networks with more than a few layers, and what changed their minds?**
#
# <details><summary>Answer</summary>
#
# That they were too hard to train with backpropagation from random weights. Layer-wise pretraining
# (Hinton, Osindero & Teh 2006) showed deep networks could be trained; Glorot & Bengio (2010) showed the
# trouble came from the initialisation's scale and saturating units; Cireşan et al. (2010) trained deep
# plain MLPs on a GPU with no pretraining; He et al. (2015) trained 152-layer residual networks.
#
# </details>
#
# **10. How does the VAE make a new "7"?**
#
# <details><summary>Answer</summary>
#
# Its encoder turns each training digit into an 8-number code. We fit a normal distribution to the codes of
# the real 7s, draw a new code from it and let the decoder turn the code into 64 pixels: a 7 that no one
# wrote. Training kept the codes close to a standard normal, so codes near real ones decode to plausible digits.
#
# </details>
#
# **11. The detector catches most of the fakes. Why is that no reason to relax about deep fakes?**
#
# <details><summary>Answer</summary>
#
# A detector learns the tells of the fakes it was trained on (here: too-grey pixels); another generator can
# have other tells. Worse, a detector is a training signal: a generator trained against it learns to remove
# what it detects — which is exactly how a GAN is trained, until the detector can only guess.
#
# </details>
#
# **12. What is the "liar's dividend"?**
#
# <details><summary>Answer</summary>
#
# Once any recording could be a fake, a person caught on a real one can claim it is fake. Deep fakes harm
# not only through the fakes themselves but by making real evidence easier to dismiss.
#
# </details>

# %% [markdown]
# ## Further reading
#
# - Alexander Amini et al., *MIT 6.S191: Introduction to Deep Learning* (lectures and labs, renewed every year), http://introtodeeplearning.com — the course whose 2020 first lecture opened with the synthetic Obama video, with free lectures and labs.
# - Jeremy Howard and Sylvain Gugger, *Deep Learning for Coders with fastai and PyTorch* (2020), https://github.com/fastai/fastbook — chapter 1 starts training at once, like this lesson, and chapter 3 is a thorough chapter on data ethics.
# - Alex Krizhevsky, Ilya Sutskever and Geoffrey Hinton, *ImageNet Classification with Deep Convolutional Neural Networks* (NIPS 2012) — the AlexNet paper, short and readable, with the two-GPU set-up and training time used in section 5.
# - Diederik Kingma and Max Welling, *Auto-Encoding Variational Bayes* (ICLR 2014), https://arxiv.org/abs/1312.6114 — the paper that introduced the variational autoencoder this lesson's fakes come from.
# - Ian Goodfellow et al., *Generative Adversarial Nets* (NIPS 2014), https://arxiv.org/abs/1406.2661 — the generator-against-detector game, and why its ideal end is a detector that can only guess.
# - Xavier Glorot and Yoshua Bengio, *Understanding the difficulty of training deep feedforward neural networks* (AISTATS 2010) — measures layer by layer why deep networks seemed untrainable, and how initialisation fixes it.
# - Robert Chesney and Danielle Citron, *Deep Fakes: A Looming Challenge for Privacy, Democracy, and National Security* (California Law Review, 2019) — a careful survey of the harms and the legal and technical responses, and where "liar's dividend" comes from.
