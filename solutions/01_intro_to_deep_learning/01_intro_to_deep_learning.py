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
# 4. train a real classifier — handwritten digits — in fastai and in Keras, and compare them.
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
#   networks are made of;
# * **Depth** — better activation functions (lesson 02), better optimisers (lesson 03) and better
#   **initialisations** — random starting weights scaled to each layer's size (Glorot & Bengio 2010,
#   He et al. 2015) — made networks with many layers trainable; lesson 04 shows why depth matters at all.
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
# The networks that make faces in the timeline above can also put words in a real person's mouth. A
# **deep fake** is audio, image or video generated or altered by a neural network so that it looks like a
# real recording of a real person. The technology is the same one you will learn here — and that is why
# this course talks about it on day one.
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
#
# **Next:** lesson 02 opens the neuron's squashing function — sigmoid, tanh, ReLU — and asks why the one
# that is not even differentiable won.
