# %% [markdown]
# # Lesson 01 — Introduction to deep learning, side by side
#
# **Deep Learning, Side by Side** builds every model twice: once in **fastai** (on PyTorch) and once in
# **Keras** (on TensorFlow), in neighbouring cells, so you can compare the two line by line.
#
# By the end of this lesson you will be able to:
#
# 1. explain why deep learning took off when it did (data, compute, depth) — and why deep fakes are an
#    ethical problem it created;
# 2. compute what a single artificial neuron does, by hand and in NumPy;
# 3. create and multiply tensors in PyTorch and in TensorFlow, and see they agree;
# 4. train a real classifier — handwritten digits — in fastai and in Keras, and compare them.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Run the notebook top to bottom (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# One call prepares the kernel: it imports PyTorch before TensorFlow (the other order crashes the
# kernel), uses one CPU thread (fastest for models this small), silences TensorFlow's log noise and seeds
# every random number generator, so your numbers match your neighbour's.

# %%
import helpers

helpers.setup(seed=0)

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
# What changed around **2012**, when a deep network (AlexNet) won the ImageNet competition by a wide margin,
# were three things that arrived together:
#
# * **Data** — the web, phones and cheap sensors produced labelled datasets millions of examples large;
# * **Compute** — graphics cards (GPUs) turned out to be very good at the matrix multiplications neural
#   networks are made of;
# * **Depth** — better activation functions (lesson 02), initialisations and optimisers (lesson 03) made
#   networks with many layers trainable; lesson 04 shows why depth matters at all.
#
# The timeline below puts the milestones on one axis.

# %%
milestones = [
    (1943, "McCulloch–Pitts neuron"), (1958, "Rosenblatt's perceptron"), (1969, "Minsky & Papert, Perceptrons"),
    (1986, "backpropagation popularised"), (1998, "LeNet reads digits"), (2006, "deep belief nets"),
    (2012, "AlexNet wins ImageNet"), (2014, "GANs: generated faces"), (2017, "Transformers; 'deepfakes' coined"),
    (2022, "text-to-image for everyone"),
]
fig, ax = plt.subplots(figsize=(9, 4.2))
for i, (year, label) in enumerate(milestones):
    ax.plot(year, i, "o", color="#1f77b4")
    ax.hlines(i, 1940, year, color="#1f77b4", alpha=0.15, lw=6)
    ax.text(year + 1, i, f"{year}  {label}", va="center", fontsize=9)
ax.axvspan(1970, 1985, color="#d62728", alpha=0.08)
ax.text(1977.5, -0.9, "the 'AI winter'", ha="center", fontsize=9, color="#d62728")
ax.set_ylim(len(milestones) - 0.5, -1.4)
ax.set_xlim(1940, 2050)
ax.set_yticks([])
ax.spines["left"].set_visible(False)
ax.set_xlabel("year")
ax.set_title("Eighty years of neural networks: old ideas, new data and compute")
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
# $\hat y = \sigma(0.1) \approx 0.525$.

# %% [markdown]
# ### Exercise 1 (graded, 2 points): a neuron in NumPy
#
# Write `neuron(X, w, b)`. `X` holds one example per row, shape `(n, d)`; `w` has shape `(d,)`; `b` is a
# number. Return the `n` outputs $\sigma(Xw + b)$ as an array of shape `(n,)`.
#
# Big negative inputs make `np.exp(-z)` overflow: `np.exp(800)` is `inf`. Write the sigmoid so that it
# stays finite and silent for any `z` (hint: `np.exp(-np.abs(z))` never overflows).

# %% nbgrader={"grade": false, "grade_id": "neuron", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neuron(X, w, b):
    """Outputs of one sigmoid neuron for each row of X."""
    ### BEGIN SOLUTION
    z = np.asarray(X, dtype=float) @ np.asarray(w, dtype=float) + b
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "neuron_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
X_example = np.array([[1.0, 2.0], [0.0, 0.0]])
out = neuron(X_example, np.array([0.5, -0.25]), 0.1)
checks.check_shape(out, (2,), name="neuron(X, w, b)")
checks.check_close(out, [0.52497919, 0.52497919], name="neuron(X, w, b)", say=True)
### BEGIN HIDDEN TESTS
import warnings

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
# AND gate's one "true" corner from the three "false" ones?

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
# Both frameworks store data in **tensors**: n-dimensional arrays that can live on a GPU and remember how
# they were computed (so gradients can be taken). They look almost the same:

# %%
import tensorflow as tf
import torch

a_np = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
a_torch = torch.tensor(a_np)
a_tf = tf.constant(a_np)
print("torch:", a_torch.shape, a_torch.dtype)
print("tf:   ", a_tf.shape, a_tf.dtype)

# %% [markdown]
# Matrix multiplication is `@` in both, and both convert back to NumPy — the results agree to the last bit:

# %%
W_np = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=np.float32)
prod_torch = (a_torch @ torch.tensor(W_np)).numpy()
prod_tf = (a_tf @ tf.constant(W_np)).numpy()
print(prod_torch)
print("same result in both frameworks:", np.array_equal(prod_torch, prod_tf))

# %% [markdown]
# Small differences in naming are typical: PyTorch says `x.reshape(...)`, `torch.cat`, `x.sum(dim=0)`;
# TensorFlow says `tf.reshape(x, ...)`, `tf.concat`, `tf.reduce_sum(x, axis=0)`.

# %%
print(torch.cat([a_torch, a_torch], dim=0).sum(dim=0))
print(tf.reduce_sum(tf.concat([a_tf, a_tf], axis=0), axis=0))

# %% [markdown]
# ### Exercise 2 (graded, 2 points): the same layer in both frameworks
#
# A dense layer computes $XW + b$. Write `dense_torch(X, W, b)` and `dense_tf(X, W, b)`: each takes NumPy
# arrays, converts them to **float32** tensors of its framework, and returns the framework's tensor (not a
# NumPy array) for $XW + b$.

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
b_np = np.array([0.5, -0.5])
out_t, out_f = dense_torch(a_np, W_np, b_np), dense_tf(a_np, W_np, b_np)
checks.check_type(out_t, torch.Tensor, name="dense_torch(...)")
checks.check_type(out_f, tf.Tensor, name="dense_tf(...)")
checks.check_shape(out_t, (3, 2), name="dense_torch(...)")
checks.check_close(out_t, a_np @ W_np + b_np, name="dense_torch(...)", say=True)
checks.check_close(out_f, a_np @ W_np + b_np, name="dense_tf(...)", say=True)
### BEGIN HIDDEN TESTS
assert out_t.dtype == torch.float32, f"dense_torch: expected dtype torch.float32, got {out_t.dtype}"
assert out_f.dtype == tf.float32, f"dense_tf: expected dtype tf.float32, got {out_f.dtype}"
rng = np.random.default_rng(2)
Xh, Wh, bh = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
checks.check_close(dense_torch(Xh, Wh, bh), Xh @ Wh + bh, name="dense_torch on float64 input", rtol=1e-4, atol=1e-5)
checks.check_close(dense_tf(Xh, Wh, bh), Xh @ Wh + bh, name="dense_tf on float64 input", rtol=1e-4, atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A first real classifier: handwritten digits
#
# scikit-learn ships 1,797 handwritten digits, each an 8×8 grey image (so no download is needed). Each
# image becomes 64 numbers between 0 and 1; the label is the digit.

# %%
digits = data.digits(valid_pct=0.2, seed=0)
print(digits)
plots.images(digits.X_train[:20].reshape(-1, 8, 8), digits.y_train[:20], title="The first 20 training digits")
plt.show()

# %% [markdown]
# We build the same network in both frameworks: 64 inputs → 32 hidden units with ReLU → 10 outputs, one
# score per digit. Training minimises the **cross-entropy** between the scores and the true labels with the
# Adam optimiser.
#
# ### fastai
# fastai wraps the data in `DataLoaders`, the model and loss in a `Learner`, and trains with
# `fit_one_cycle`, which warms the learning rate up and then anneals it (lesson 03 explains why).

# %%
from fastai.basics import *  # noqa: E402,F403 - fastai's documented import style
from fastai.callback.all import *  # noqa: E402,F403

dls = helpers.fastai_side.dataloaders(*digits, bs=64)  # in-memory data, no worker processes
fastai_model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
learn = Learner(dls, fastai_model, loss_func=CrossEntropyLossFlat(), metrics=accuracy)
with compare.timed() as t_fastai:
    learn.fit_one_cycle(8, lr_max=1e-2)

# %% [markdown]
# ### Keras
# Keras puts the layers in a `Sequential`, chooses optimiser, loss and metrics in `compile`, and trains with
# `fit`. The outputs are raw scores, so the loss is told `from_logits=True`.

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
# Same architecture, so the same number of parameters: $64 \cdot 32 + 32 + 32 \cdot 10 + 10 = 2{,}410$.
# To compare like with like we look at what both frameworks measure at the end of every epoch: the loss on
# the validation digits. Then we score both models on the validation set with one shared function.

# %%
from helpers.compare import Run, metrics  # noqa: E402

epochs = np.arange(1, 9)
fastai_valid_loss = [float(v[1]) for v in learn.recorder.values]  # per epoch: train_loss, valid_loss, accuracy
keras_valid_loss = history.history["val_loss"]
fastai_acc = metrics(helpers.fastai_side.predict(fastai_model, digits.X_valid), digits.y_valid)["accuracy"]
keras_acc = metrics(helpers.keras_side.predict(keras_model, digits.X_valid), digits.y_valid)["accuracy"]

fastai_run = Run("fastai", params=checks.count_params(fastai_model), seconds=t_fastai.seconds, steps=8 * len(dls.train),
                 loss_steps=list(epochs), loss=fastai_valid_loss, final={"valid_accuracy": fastai_acc})
keras_run = Run("keras", params=checks.count_params(keras_model), seconds=t_keras.seconds, steps=8 * len(dls.train),
                loss_steps=list(epochs), loss=keras_valid_loss, final={"valid_accuracy": keras_acc})
compare.side_by_side(fastai_run, keras_run, title="Digits: validation loss per epoch", xlabel="epoch")

# %% [markdown]
# Both reach well over 90% accuracy on digits they never saw. Two differences are worth noticing:
#
# * **Schedules.** `fit_one_cycle` starts with a small learning rate and warms up, so fastai's first epochs
#   move more cautiously; Keras used a constant learning rate. Lesson 03 compares the two properly.
# * **Time.** Each framework pays one-time start-up costs on its first `fit` in a fresh kernel (Keras also
#   turns the training step into a TensorFlow graph); on data this small that dominates. Lesson 05 looks
#   at where the time of a training loop goes.

# %% [markdown]
# ### Exercise 3 (graded, 3 points): build it yourself, in Keras
#
# Write `build_keras_digits_model(hidden)` returning an **uncompiled** `keras.Sequential` with 64 inputs, a
# `Dense(hidden, activation="relu")` layer and a `Dense(10)` output layer (raw scores). With
# `hidden=32` it must have exactly the fastai model's 2,410 parameters.

# %% nbgrader={"grade": false, "grade_id": "keras_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_keras_digits_model(hidden=32):
    """64 -> hidden (ReLU) -> 10 raw scores, as a keras.Sequential."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(10),
    ])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "keras_model_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
m = build_keras_digits_model(32)
checks.check_type(m, keras.Model, name="build_keras_digits_model(32)")
checks.check_param_count(m, checks.count_params(fastai_model), name="build_keras_digits_model(32)", say=True)
checks.check_shape(m(digits.X_valid[:5]), (5, 10), name="model output for 5 digits")
### BEGIN HIDDEN TESTS
checks.check_param_count(build_keras_digits_model(16), 64 * 16 + 16 + 16 * 10 + 10, name="build_keras_digits_model(16)")
trained = helpers.keras_side.train(build_keras_digits_model(32), helpers.keras_side.dataloaders(*digits, bs=64),
                                   epochs=5, lr=1e-2)
checks.check_at_least(trained.final["valid_accuracy"], 0.9, name="validation accuracy after 5 epochs")
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
# * Deep learning's ideas are decades old; **data, compute and depth** made them work after 2010 — and made
#   deep fakes cheap, which is an ethical problem, not just a technical one.
# * A **neuron** is $\sigma(x \cdot w + b)$: a weighted vote, squashed; alone it draws one straight line.
# * **Tensors** in PyTorch and TensorFlow behave alike; the names differ (`dim` vs `axis`, `cat` vs
#   `concat`).
# * The same digits classifier takes a `Learner` + `fit_one_cycle` in fastai and `compile` + `fit` in Keras;
#   both reach over 90% validation accuracy with 2,410 parameters.
#
# **Next:** lesson 02 opens the neuron's squashing function — sigmoid, tanh, ReLU — and asks why the one
# that is not even differentiable won.
