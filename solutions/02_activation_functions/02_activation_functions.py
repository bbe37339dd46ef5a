# %% [markdown]
# # Lesson 02 — Activation functions: sigmoid, tanh, ReLU, and why the "incorrect" one won
#
# Every neuron ends with a small function — the **activation**. It looks like a detail; it decides whether
# a deep network can learn at all. This lesson opens it up, in **fastai** and in **Keras**, side by side.
#
# By the end of this lesson you will be able to:
#
# 1. explain why a network **without** activations is just one linear model, however deep — and show the
#    single matrix it collapses to;
# 2. write sigmoid, tanh and ReLU and their derivatives in NumPy (numerically stable), and recognise the
#    modern ones (leaky ReLU, GELU, SiLU);
# 3. compute a network's gradients by hand with the chain rule (a backward pass in NumPy) and check them
#    against PyTorch's autograd and TensorFlow's `GradientTape`;
# 4. explain why ReLU's kink at 0 — which made it look *incorrect* to 1990s eyes — does not stop gradient
#    descent, using what PyTorch and TensorFlow actually return there;
# 5. train the same network with each activation in both frameworks and compare accuracy and time;
# 6. measure **vanishing gradients** layer by layer, see how the **scale of the initial weights** (Xavier/Glorot,
#    He/Kaiming, and each framework's default) decides whether a signal survives a deep network, and count
#    **dead ReLUs** unit by unit.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Run the notebook top to bottom (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# As in every lesson, the first cell imports PyTorch before TensorFlow (the other order crashes the
# kernel), uses one CPU thread, silences TensorFlow's log noise and seeds every random number generator.

# %%
import helpers

helpers.setup(seed=0)

# %% [markdown]
# Then the frameworks, and the course helpers. `helpers.lessons.l02_activations` holds this lesson's measuring tools
# (activation curves by autograd, dead-unit counts, per-layer gradient norms, timing); `helpers.lessons.l02_backprop`
# draws a small network's computational graph.

# %%
from fastai.basics import *  # noqa: F403 - fastai's documented import style (brings torch, nn, np, plt, pd)
from fastai.callback.all import *  # noqa: F403

import keras
import tensorflow as tf
import torch
from torch import nn

from helpers import checks, data, fastai_side, keras_side, plots, widgets
from helpers.lessons import l02_activations, l02_backprop

# %% [markdown]
# ## 1. What an activation function does
#
# A dense layer computes $XW + b$ and then applies an activation $f$ to every number: $f(XW + b)$. Take
# $f$ away and stack two layers:
#
# $$ (XW_1 + b_1)W_2 + b_2 \;=\; X\,\underbrace{W_1W_2}_{W} \;+\; \underbrace{b_1W_2 + b_2}_{b}. $$
#
# Two linear layers *are* one linear layer — and so are ten. Depth buys nothing without a nonlinearity in
# between. Let us check that on a real four-layer PyTorch network with **no** activations, $2 \to 8 \to 8
# \to 8 \to 1$:

# %%
deep_linear = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 1))
print(deep_linear)
print("parameters:", checks.count_params(deep_linear))

# %% [markdown]
# Multiply the layers' matrices together (PyTorch stores each weight as (outputs, inputs), so we transpose
# to the $XW$ layout used above) and carry the biases along:

# %%
W_composed, b_composed = np.eye(2), np.zeros(2)
for layer in deep_linear:
    W = layer.weight.detach().numpy().T  # (inputs, outputs)
    b = layer.bias.detach().numpy()
    W_composed, b_composed = W_composed @ W, b_composed @ W + b

print("W =", W_composed.ravel().round(4), " shape", W_composed.shape)
print("b =", b_composed.round(4))

# %% [markdown]
# 177 parameters in four layers — and the whole network is 2 weights and 1 bias: $\hat y = XW + b$. Feed both
# random inputs — and, for good measure, the same weights loaded into a Keras model of four `Dense` layers
# without activation:

# %%
X_rand = np.random.default_rng(0).normal(size=(1000, 2)).astype(np.float32)
keras_linear = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.Dense(8),
                                 keras.layers.Dense(8), keras.layers.Dense(1)])
keras_side.set_weights(keras_linear, fastai_side.get_weights(deep_linear))

one_layer = X_rand @ W_composed + b_composed
collapse_gap = {
    "PyTorch, 4 layers": float(np.abs(fastai_side.predict(deep_linear, X_rand) - one_layer).max()),
    "Keras, 4 layers": float(np.abs(keras_side.predict(keras_linear, X_rand) - one_layer).max()),
}
print("largest difference from the single layer X @ W + b:", collapse_gap)

# %% [markdown]
# Differences of about $10^{-7}$ are float32 rounding: the deep linear network **is** a single linear
# layer. Now keep exactly the same weights and put an activation after each hidden layer. Walk along a line
# through the input space, $x = t\cdot(1, 0.5)$, and plot the network's output:

# %%
def with_activation(act):
    """deep_linear's weights, with `act` after every hidden layer."""
    model = fastai_side.mlp([2, 8, 8, 8, 1], act)
    fastai_side.set_weights(model, fastai_side.get_weights(deep_linear))
    return model


t = np.linspace(-5, 5, 500, dtype=np.float32)
line = np.stack([t, 0.5 * t], axis=1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, act in zip(axes, ["linear", "tanh", "relu"]):
    ax.plot(t, fastai_side.predict(with_activation(act), line)[:, 0], lw=2, color=l02_activations.COLORS[act])
    ax.set_title(f"activation: {l02_activations.LABELS[act]}")
    ax.set_xlabel("t  (input x = t · (1, 0.5))")
axes[0].set_ylabel("network output")
fig.suptitle("The same four layers of weights, three activations")
fig.tight_layout()
plt.show()

# %% [markdown]
# Without activation the output is a straight line, however many layers. With tanh it bends smoothly; with
# ReLU it becomes a **piecewise linear** curve: straight pieces joined at kinks, one wherever a unit switches
# on or off. With enough units, kinks can bend a boundary into almost any shape — section 5 shows a ReLU
# network wrapping one around a spiral. That is what activations are for.

# %% [markdown]
# ## 2. The three classics: sigmoid, tanh, ReLU
#
# | | formula | derivative | outputs | largest slope |
# |---|---|---|---|---|
# | **sigmoid** | $\sigma(x) = \dfrac{1}{1 + e^{-x}}$ | $\sigma(x)\,(1 - \sigma(x))$ | $(0, 1)$ | $\tfrac14$ at $x = 0$ |
# | **tanh** | $\tanh(x) = \dfrac{e^{x} - e^{-x}}{e^{x} + e^{-x}} = 2\sigma(2x) - 1$ | $1 - \tanh^2(x)$ | $(-1, 1)$ | $1$ at $x = 0$ |
# | **ReLU** | $\max(0, x)$ | $0$ for $x < 0$, $1$ for $x > 0$, *undefined at 0* | $[0, \infty)$ | $1$ for all $x > 0$ |
#
# Sigmoid is a smooth version of the perceptron's on/off step (read as a neuron's firing rate); tanh is a
# sigmoid stretched to be centred on 0; ReLU (the *rectified linear unit*) just cuts off the negative half.
# The dashed lines below are the derivatives as **PyTorch's autograd** computes them — nobody typed a
# derivative formula:

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, name in zip(axes, l02_activations.CLASSIC):
    l02_activations.draw_curve(name, ax=ax)
axes[0].set_ylim(-0.2, 1.2)
axes[1].set_ylim(-1.2, 2.1)  # room above the curves for the legend
axes[2].set_ylim(-0.5, 3)
fig.suptitle("The classic activations and their derivatives")
fig.tight_layout()
plt.show()

# %% [markdown]
# Three things to notice, each of which comes back later in this lesson:
#
# * sigmoid's slope is **at most 1/4** — and far from 0 both sigmoid and tanh are flat (they *saturate*);
# * ReLU's slope is exactly **1** for every positive input, however large;
# * ReLU has a **corner at 0**, where the slope jumps from 0 to 1.

# %% [markdown]
# ### Exercise 1 (graded, 3 points): the three activations in NumPy
#
# Write `sigmoid(x)`, `tanh(x)` and `relu(x)`:
#
# * **input** `x`: a NumPy array of any shape, of floats or of integers;
# * **output**: an array of the **same shape**, the function applied to every element (`np.where`,
#   `np.maximum`, boolean masks, `np.exp`… — any NumPy style is fine; leave `x` itself unchanged).
#
# The naive sigmoid `1 / (1 + np.exp(-x))` breaks for very negative inputs: `np.exp(1000)` overflows to
# `inf` with a `RuntimeWarning`. Write yours so it stays finite and **silent** (no warning) for any input
# (hint: `np.exp(-np.abs(x))` never overflows; for $x < 0$, $\sigma(x) = e^{x} / (1 + e^{x})$). `np.tanh` is
# allowed — or, as a challenge, build tanh from your sigmoid.
#
# **What is checked:** the shape; the values (to about 6 significant digits) on floats and on integers, and
# against `torch` and `keras.ops` on random inputs; finite values and no warnings at $|x|$ up to 1000; and
# that `x` is left unchanged.

# %% nbgrader={"grade": false, "grade_id": "activations", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise, without overflow."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    ### BEGIN SOLUTION
    return np.tanh(np.asarray(x, dtype=float))
    ### END SOLUTION


def relu(x):
    """max(0, x), elementwise."""
    ### BEGIN SOLUTION
    return np.maximum(np.asarray(x, dtype=float), 0.0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "activations_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
import warnings

x_test = np.array([[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]])
expected = {
    "sigmoid": [[0.11920292, 0.37754067, 0.5], [0.62245933, 0.73105858, 0.95257413]],
    "tanh": [[-0.96402758, -0.46211716, 0.0], [0.46211716, 0.76159416, 0.99505475]],
    "relu": [[0.0, 0.0, 0.0], [0.5, 1.0, 3.0]],
}
for fn in (sigmoid, tanh, relu):
    name = fn.__name__
    x_in = x_test.copy()
    out = fn(x_in)
    checks.check_shape(out, (2, 3), name=f"{name}(x) for x of shape (2, 3)")
    checks.check_true(np.array_equal(x_in, x_test), "expected x to be left unchanged", name=name,
                      hint="work on a copy, e.g. x = np.array(x, dtype=float), before changing elements")
    checks.check_close(out, expected[name], name=name, say=True)
    checks.check_close(fn(np.array([-2, 0, 3])), np.array(expected[name])[[0, 0, 1], [0, 2, 2]],
                       name=f"{name} of the integers [-2, 0, 3]")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    far = sigmoid(np.array([-1000.0, 1000.0]))
checks.check_true(len(caught) == 0, "expected no warning for x = -1000 and 1000, got: "
                  + "; ".join(str(w.message) for w in caught), name="sigmoid",
                  hint="np.exp(-np.abs(x)) never overflows")
checks.check_close(far, [0.0, 1.0], name="sigmoid of [-1000, 1000]")
### BEGIN HIDDEN TESTS
huge = np.array([-1000.0, -750.0, -50.0, 50.0, 750.0, 1000.0])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")  # any warning fails the test
    s_big, t_big, r_big = sigmoid(huge), tanh(huge), relu(huge)
checks.check_true(len(caught) == 0, "expected no warning at |x| up to 1000, got: "
                  + "; ".join(str(w.message) for w in caught), name="activations")
for name, v in (("sigmoid", s_big), ("tanh", t_big), ("relu", r_big)):
    checks.check_finite(v, name=f"{name} at |x| up to 1000")
checks.check_close(s_big, [0, 0, 1.9287498e-22, 1, 1, 1], name="sigmoid at large |x|", atol=1e-12)
checks.check_close(t_big, [-1, -1, -1, 1, 1, 1], name="tanh at large |x|")
checks.check_close(r_big, np.maximum(huge, 0), name="relu at large |x|")
ints = np.array([[-7, -1], [0, 2], [5, 40]])
for mine, ref in ((sigmoid, torch.sigmoid), (tanh, torch.tanh), (relu, torch.relu)):
    checks.check_close(mine(ints.copy()), ref(torch.tensor(ints, dtype=torch.float64)).numpy(),
                       name=f"{mine.__name__} of an integer array")
rng = np.random.default_rng(7)
xr = rng.normal(scale=4.0, size=(50, 20))
xt = torch.tensor(xr)
checks.check_close(sigmoid(xr.copy()), torch.sigmoid(xt).numpy(), name="sigmoid vs torch.sigmoid", rtol=1e-7,
                   atol=1e-10)
checks.check_close(tanh(xr.copy()), torch.tanh(xt).numpy(), name="tanh vs torch.tanh", rtol=1e-7, atol=1e-10)
checks.check_close(relu(xr.copy()), torch.relu(xt).numpy(), name="relu vs torch.relu", rtol=1e-7, atol=1e-10)
xf = xr.astype(np.float32)
for mine, op in ((sigmoid, keras.ops.sigmoid), (tanh, keras.ops.tanh), (relu, keras.ops.relu)):
    checks.check_close(mine(xf.copy()), np.asarray(op(xf)), name=f"{mine.__name__} vs keras.ops.{op.__name__}",
                       rtol=1e-5, atol=1e-6)
for mine in (sigmoid, tanh, relu):
    x_in = xr.copy()
    mine(x_in)
    checks.check_true(np.array_equal(x_in, xr), "expected x to be left unchanged", name=mine.__name__)
checks.check_shape(sigmoid(np.zeros((3, 1, 2))), (3, 1, 2), name="sigmoid on shape (3, 1, 2)")
checks.check_shape(tanh(np.zeros((4, 1))), (4, 1), name="tanh on shape (4, 1)")
checks.check_shape(relu(np.zeros(5)), (5,), name="relu on shape (5,)")
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 (graded, 3 points): their derivatives
#
# Write `d_sigmoid(x)`, `d_tanh(x)` and `d_relu(x)`: the derivative of each function at every element of
# `x` (see the table above). The same rules as in exercise 1: `x` is an array of any shape, of floats or
# integers; return an array of the same shape; finite and silent for any input; leave `x` unchanged. You may
# call your functions from exercise 1.
#
# ReLU has no derivative at exactly `x = 0`. **This lesson's convention: `d_relu` returns 0 at `x = 0`**
# (0 for $x \le 0$, 1 for $x > 0$) — the value PyTorch and TensorFlow use; section 4 shows why any choice
# between 0 and 1 would do.
#
# **What is checked:** the shape; the values on floats (including `d_relu(0) == 0`) and on integers, and
# against PyTorch's and TensorFlow's autograd on random inputs with some exact zeros; finite values and no
# warnings at $|x|$ up to 1000.

# %% nbgrader={"grade": false, "grade_id": "derivatives", "locked": false, "schema_version": 3, "solution": true, "task": false}
def d_sigmoid(x):
    """Derivative of the sigmoid, elementwise: sigmoid(x) * (1 - sigmoid(x))."""
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(np.asarray(x, dtype=float)))  # the derivative is symmetric in x
    return e / (1 + e) ** 2
    ### END SOLUTION


def d_tanh(x):
    """Derivative of tanh, elementwise: 1 - tanh(x)**2."""
    ### BEGIN SOLUTION
    return 1.0 - np.tanh(np.asarray(x, dtype=float)) ** 2
    ### END SOLUTION


def d_relu(x):
    """Derivative of ReLU, elementwise: 1 where x > 0, else 0 (including at x = 0)."""
    ### BEGIN SOLUTION
    return (np.asarray(x) > 0).astype(float)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "derivatives_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
import warnings

expected_d = {
    "d_sigmoid": [[0.10499359, 0.23500371, 0.25], [0.23500371, 0.19661193, 0.04517666]],
    "d_tanh": [[0.07065082, 0.78644773, 1.0], [0.78644773, 0.41997434, 0.00986604]],
    "d_relu": [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],  # x_test[0, 2] is 0: d_relu(0) is 0
}
for fn in (d_sigmoid, d_tanh, d_relu):
    name = fn.__name__
    x_in = x_test.copy()
    out = fn(x_in)
    checks.check_shape(out, (2, 3), name=f"{name}(x) for x of shape (2, 3)")
    checks.check_true(np.array_equal(x_in, x_test), "expected x to be left unchanged", name=name,
                      hint="work on a copy, e.g. x = np.array(x, dtype=float), before changing elements")
    checks.check_close(out, expected_d[name], name=f"{name} of {x_test.tolist()}", say=True)
    checks.check_close(fn(np.array([-2, 0, 3])), np.array(expected_d[name])[[0, 0, 1], [0, 2, 2]],
                       name=f"{name} of the integers [-2, 0, 3]")
checks.check_close(d_relu(np.array([0.0])), [0.0], name="d_relu(0) (this lesson's convention: 0 at x = 0)")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    far = [fn(np.array([-1000.0, 1000.0])) for fn in (d_sigmoid, d_tanh, d_relu)]
checks.check_true(len(caught) == 0, "expected no warning for x = -1000 and 1000, got: "
                  + "; ".join(str(w.message) for w in caught), name="derivatives",
                  hint="compute d_sigmoid from a sigmoid that never overflows")
checks.check_close(far, [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]], name="d_sigmoid, d_tanh, d_relu of [-1000, 1000]",
                   atol=1e-12)
### BEGIN HIDDEN TESTS
huge = np.array([-1000.0, -750.0, 750.0, 1000.0])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ds_big, dt_big, dr_big = d_sigmoid(huge), d_tanh(huge), d_relu(huge)
checks.check_true(len(caught) == 0, "expected no warning at |x| up to 1000, got: "
                  + "; ".join(str(w.message) for w in caught), name="derivatives")
for name, v in (("d_sigmoid", ds_big), ("d_tanh", dt_big), ("d_relu", dr_big)):
    checks.check_finite(v, name=f"{name} at |x| up to 1000")
checks.check_close(ds_big, [0, 0, 0, 0], name="d_sigmoid at large |x|", atol=1e-12)
checks.check_close(dt_big, [0, 0, 0, 0], name="d_tanh at large |x|", atol=1e-12)
checks.check_close(dr_big, [0, 0, 1, 1], name="d_relu at large |x|")
zero = np.zeros(1)
checks.check_close(d_relu(zero), [0.0], name="d_relu(0) (the value PyTorch and TensorFlow use)")
checks.check_close(d_relu(np.zeros(3, dtype=int)), [0.0, 0.0, 0.0], name="d_relu of integer zeros")
checks.check_close(d_sigmoid(zero), [0.25], name="d_sigmoid(0)")
checks.check_close(d_tanh(zero), [1.0], name="d_tanh(0)")


def torch_grad(fn, x):
    xt = torch.tensor(x, requires_grad=True)
    fn(xt).sum().backward()
    return xt.grad.numpy()


def tf_grad(fn, x):
    xv = tf.Variable(x.astype(np.float32))
    with tf.GradientTape() as tape:
        y = fn(xv)
    return tape.gradient(y, xv).numpy()


rng = np.random.default_rng(8)
xr = rng.normal(scale=4.0, size=(40, 25))
xr[0, :3] = 0.0  # include exact zeros
for mine, t_fn, k_fn, label in ((d_sigmoid, torch.sigmoid, keras.ops.sigmoid, "sigmoid"),
                                (d_tanh, torch.tanh, keras.ops.tanh, "tanh"),
                                (d_relu, torch.relu, keras.ops.relu, "relu")):
    checks.check_close(mine(xr.copy()), torch_grad(t_fn, xr), name=f"d_{label} vs torch autograd", rtol=1e-6,
                       atol=1e-9)
    checks.check_close(mine(xr.copy()), tf_grad(k_fn, xr), name=f"d_{label} vs TensorFlow GradientTape", rtol=1e-4,
                       atol=1e-6)
    x_in = xr.copy()
    mine(x_in)
    checks.check_true(np.array_equal(x_in, xr), "expected x to be left unchanged", name=f"d_{label}")
checks.check_shape(d_relu(np.zeros((2, 2, 2))), (2, 2, 2), name="d_relu on shape (2, 2, 2)")
checks.check_shape(d_sigmoid(np.zeros((3, 1))), (3, 1), name="d_sigmoid on shape (3, 1)")
### END HIDDEN TESTS

# %% [markdown]
# ### The modern ones, briefly
#
# Three descendants of ReLU you will meet in recent models:
#
# * **leaky ReLU** $= \max(0.01x, x)$: a small slope for $x < 0$, so a unit is never completely switched off
#   (section 8 shows why that matters);
# * **GELU** $= x\,\Phi(x)$, with $\Phi$ the standard normal CDF: a smooth ReLU, the default in BERT and GPT
#   transformers;
# * **SiLU** (also *swish*) $= x\,\sigma(x)$: another smooth ReLU, used in EfficientNet and in the
#   feed-forward layers of LLaMA-style language models.
#
# GELU and SiLU dip slightly below zero before rising, and have no corner anywhere:

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for name in ("relu",) + l02_activations.MODERN:
    x, y, dy = l02_activations.curve(name, -4, 3)
    style = dict(color=l02_activations.COLORS[name], lw=2 if name != "relu" else 1.2,
                 ls="-" if name != "relu" else ":")
    axes[0].plot(x, y, label=l02_activations.LABELS[name], **style)
    axes[1].plot(x, dy, label=l02_activations.LABELS[name], **style)
axes[0].set_title("function")
axes[1].set_title("derivative (autograd)")
for ax in axes:
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("x")
    ax.legend()
axes[0].set_ylim(-0.6, 3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Where gradients come from: a backward pass by hand
#
# Every training run in this course calls `loss.backward()` (PyTorch) or `tape.gradient(...)` (TensorFlow),
# and sections 6 and 8 measure the gradients they return. Where do those numbers come from? From the **chain
# rule**, applied to the network one operation at a time, from the loss back to the weights: that is
# **backpropagation**. We do it once by hand, on the smallest network that has a hidden layer, $2 \to 2 \to 1$:
#
# $$ z = xW_1 + b_1, \qquad h = \tanh(z), \qquad \hat y = hW_2 + b_2, \qquad L = (\hat y - y)^2, $$
#
# with $x$ of shape (2,), $W_1$ (2, 2), $b_1$ (2,), $W_2$ (2, 1), $b_2$ (1,). The **forward pass** computes
# these four lines in order, for one example:

# %%
x_one, y_one = np.array([1.0, 2.0]), np.array([1.0])
W1_one, b1_one = np.array([[0.5, -0.3], [0.2, 0.8]]), np.array([0.1, -0.1])
W2_one, b2_one = np.array([[1.0], [-0.5]]), np.array([0.2])

z_one = x_one @ W1_one + b1_one
h_one = np.tanh(z_one)
yhat_one = h_one @ W2_one + b2_one
L_one = float(((yhat_one - y_one) ** 2).mean())
print("z =", z_one, " h =", h_one.round(4), " ŷ =", yhat_one.round(4), " L =", round(L_one, 4))

# %% [markdown]
# **The chain rule.** If $L$ depends on $w$ only through $u$, then $\frac{\partial L}{\partial w} =
# \frac{\partial L}{\partial u}\,\frac{\partial u}{\partial w}$; along a longer path the local derivatives
# multiply. Each operation's local derivative is simple: $\partial L/\partial \hat y = 2(\hat y - y)$;
# $\partial \hat y/\partial h_j = (W_2)_{j}$ and $\partial \hat y/\partial (W_2)_j = h_j$; $\partial h_j/\partial z_j =
# 1 - \tanh^2(z_j)$ (exercise 2's `d_tanh`); $\partial z_j/\partial (W_1)_{ij} = x_i$. So for one weight of each
# layer:
#
# $$ \frac{\partial L}{\partial (W_2)_1} = \underbrace{2(\hat y - y)}_{\partial L/\partial \hat y}\; h_1, \qquad
#    \frac{\partial L}{\partial (W_1)_{11}} = \underbrace{2(\hat y - y)}_{\partial L/\partial \hat y}\;
#    \underbrace{(W_2)_1}_{\partial \hat y/\partial h_1}\; \underbrace{(1 - h_1^2)}_{\partial h_1/\partial z_1}\;
#    \underbrace{x_1}_{\partial z_1/\partial (W_1)_{11}}. $$
#
# Computed from the forward values above:

# %%
dL_dyhat = 2 * (yhat_one[0] - y_one[0])
by_hand = {"∂L/∂(W2)_1": dL_dyhat * h_one[0],
           "∂L/∂(W1)_11": dL_dyhat * W2_one[0, 0] * (1 - h_one[0] ** 2) * x_one[0]}
by_hand

# %% [markdown]
# Now the same network in PyTorch, and its autograd. `retain_grad()` asks PyTorch to keep the gradient of the
# intermediate results $z$, $h$ and $\hat y$ too (normally it keeps only the parameters'):

# %%
params_one = {name: torch.tensor(v, requires_grad=True)
              for name, v in (("W1", W1_one), ("b1", b1_one), ("W2", W2_one), ("b2", b2_one))}
z_t = torch.tensor(x_one) @ params_one["W1"] + params_one["b1"]
h_t = torch.tanh(z_t)
yhat_t = h_t @ params_one["W2"] + params_one["b2"]
for node in (z_t, h_t, yhat_t):
    node.retain_grad()
loss_t = nn.functional.mse_loss(yhat_t, torch.tensor(y_one))
loss_t.backward()

autograd_one = {"∂L/∂(W2)_1": float(params_one["W2"].grad[0, 0]), "∂L/∂(W1)_11": float(params_one["W1"].grad[0, 0])}
chain_rule_gap = max(abs(by_hand[k] - autograd_one[k]) for k in by_hand)
print("autograd:", autograd_one, " largest difference from the chain rule by hand:", chain_rule_gap)

# %% [markdown]
# The same numbers. Autograd does not do anything cleverer than the chain rule: during the forward pass it
# records every operation in a **computational graph**, and `backward()` walks that graph from the loss back
# to the inputs, multiplying by each operation's local derivative. Here is the graph, with the forward value
# above each node and the gradient $\partial L/\partial\text{node}$ that the backward pass leaves there below
# it, and each weight with its gradient on its edge:

# %%
node_values = {"x1": x_one[0], "x2": x_one[1], "z1": z_one[0], "z2": z_one[1], "h1": h_one[0], "h2": h_one[1],
               "yhat": yhat_one[0], "L": L_one}
node_grads = {"z1": z_t.grad[0], "z2": z_t.grad[1], "h1": h_t.grad[0], "h2": h_t.grad[1], "yhat": yhat_t.grad[0],
              "L": 1.0}
l02_backprop.draw_graph(node_values, node_grads, W1_one, W2_one, params_one["W1"].grad, params_one["W2"].grad,
                        title="2 → 2 → 1: forward values (blue) and backward gradients (vermillion)")
plt.show()

# %% [markdown]
# Read it from right to left. $\partial L/\partial L = 1$; $\partial L/\partial \hat y = 2(\hat y - y)$; each $h_j$
# gets $\partial L/\partial \hat y$ times its outgoing weight; each $z_j$ gets that times $\tanh'(z_j) =
# 1 - h_j^2$; and every weight's gradient is **the gradient at the node it points to times the value at the
# node it comes from**. A bias adds straight into its node, so its gradient is that node's gradient
# ($\partial L/\partial b_1 = \partial L/\partial z$). Each node's gradient is computed once and reused by every
# path through it, so one backward pass costs about as much as one forward pass — however many weights there
# are. Without that reuse, training networks with millions of weights would be hopeless.
#
# TensorFlow records the same graph on a `GradientTape`, and gets the same gradients:

# %%
tf_params_one = {name: tf.Variable(v) for name, v in (("W1", W1_one), ("b1", b1_one), ("W2", W2_one), ("b2", b2_one))}
mse_64 = keras.losses.MeanSquaredError(dtype="float64")  # Keras computes a loss in float32 unless told otherwise
with tf.GradientTape() as tape:
    h_tf = tf.tanh(x_one[None, :] @ tf_params_one["W1"] + tf_params_one["b1"])
    loss_tf = mse_64(y_one[None, :], h_tf @ tf_params_one["W2"] + tf_params_one["b2"])
tf_grads_one = dict(zip(tf_params_one, tape.gradient(loss_tf, list(tf_params_one.values()))))
autograd_frameworks_gap = {name: float(np.abs(tf_grads_one[name].numpy() - params_one[name].grad.numpy()).max())
                           for name in params_one}
autograd_frameworks_gap

# %% [markdown]
# Differences of 0 or about $10^{-16}$ (float64 rounding): two autograd engines, one chain rule.
#
# ### Exercise 3 (graded, 4 points): the backward pass in NumPy
#
# Write `backward(X, y, W1, b1, W2, b2)`: the gradients of the loss of this network on a **batch** of $n$
# examples,
#
# $$ L = \frac{1}{n}\sum_{k=1}^{n} (\hat y_k - y_k)^2, \qquad \hat y = \tanh(XW_1 + b_1)\,W_2 + b_2 $$
#
# (the mean squared error: `nn.functional.mse_loss` in PyTorch, `keras.losses.MeanSquaredError()` in Keras).
#
# * **inputs** (float NumPy arrays): `X` of shape (n, d), `y` (n, 1), `W1` (d, h), `b1` (h,), `W2` (h, 1),
#   `b2` (1,). The network above has d = h = 2, but write it for any n, d and h.
# * **output**: a dict `{"dW1": ..., "db1": ..., "dW2": ..., "db2": ...}`, each gradient an array of
#   **the same shape as its parameter**: (d, h), (h,), (h, 1), (1,).
# * NumPy only (`@`, `.T`, `np.tanh`, `.sum(axis=...)`, ...), no autograd; leave the inputs unchanged.
#
# Hints: do the forward pass first and keep $Z$, $H$ and $\hat y$. Then go backwards as in the graph, one
# node at a time, for all $n$ examples at once: $\partial L/\partial \hat y$ now has a factor $1/n$ (the mean), and
# a parameter used by every example (a weight, a bias) collects the sum of its gradients over the examples.
# The shapes are your best check: a gradient always has the shape of what it is the gradient of.
#
# **What is checked:** that a dict with those four keys comes back; each gradient's shape; its values against
# PyTorch's autograd and TensorFlow's `GradientTape` on a batch of 4 examples; that the inputs are left
# unchanged. The hidden tests use other sizes ($n$, $d$, $h$) and values.

# %% nbgrader={"grade": false, "grade_id": "backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def backward(X, y, W1, b1, W2, b2):
    """Gradients of the mean squared error of tanh(X W1 + b1) W2 + b2, as {"dW1", "db1", "dW2", "db2"}."""
    ### BEGIN SOLUTION
    n = X.shape[0]
    H = np.tanh(X @ W1 + b1)
    yhat = H @ W2 + b2
    d_yhat = 2 * (yhat - y) / n  # (n, 1)
    d_Z = (d_yhat @ W2.T) * (1 - H**2)  # (n, h): back through W2, then through tanh
    return {"dW1": X.T @ d_Z, "db1": d_Z.sum(axis=0), "dW2": H.T @ d_yhat, "db2": d_yhat.sum(axis=0)}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "backward_tests", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def torch_gradients(X, y, *params):
    """dL/d(each parameter) of the same network and loss, by PyTorch's autograd."""
    p = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in params]
    yhat = torch.tanh(torch.tensor(X, dtype=torch.float64) @ p[0] + p[1]) @ p[2] + p[3]
    nn.functional.mse_loss(yhat, torch.tensor(y, dtype=torch.float64)).backward()
    return {"d" + name: t.grad.numpy() for name, t in zip(PARAM_NAMES, p)}


def tf_gradients(X, y, *params):
    """The same gradients, by TensorFlow's GradientTape."""
    p = [tf.Variable(np.asarray(v, dtype=np.float64)) for v in params]
    with tf.GradientTape() as tape:
        yhat = tf.tanh(tf.constant(X, dtype=tf.float64) @ p[0] + p[1]) @ p[2] + p[3]
        loss = keras.losses.MeanSquaredError(dtype="float64")(tf.constant(y, dtype=tf.float64), yhat)
    return {"d" + name: g.numpy() for name, g in zip(PARAM_NAMES, tape.gradient(loss, p))}


X_bp = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7], [2.0, 1.0]])
y_bp = np.array([[1.0], [0.0], [-0.5], [2.0]])
params_bp = (W1_one.copy(), b1_one.copy(), W2_one.copy(), b2_one.copy())
before_bp = [a.copy() for a in (X_bp, y_bp) + params_bp]
torch_bp, tf_bp = torch_gradients(X_bp, y_bp, *params_bp), tf_gradients(X_bp, y_bp, *params_bp)
grads_bp = backward(X_bp, y_bp, *params_bp)
checks.check_type(grads_bp, dict, name="backward(X, y, W1, b1, W2, b2)")
checks.check_equal(sorted(grads_bp), ["dW1", "dW2", "db1", "db2"], name="the keys of backward's dict")
for key, shape in (("dW1", (2, 2)), ("db1", (2,)), ("dW2", (2, 1)), ("db2", (1,))):
    checks.check_shape(grads_bp[key], shape, name=f"{key} (the shape of {key[1:]})")
    checks.check_close(grads_bp[key], torch_bp[key], name=f"{key} vs PyTorch autograd", rtol=1e-6, atol=1e-9, say=True)
    checks.check_close(grads_bp[key], tf_bp[key], name=f"{key} vs tf.GradientTape", rtol=1e-6, atol=1e-9, say=True)
checks.check_true(all(np.array_equal(a, b) for a, b in zip((X_bp, y_bp) + params_bp, before_bp)),
                  "expected X, y and the parameters to be left unchanged", name="backward",
                  hint="compute new arrays (H = np.tanh(...)) instead of changing the inputs in place")
### BEGIN HIDDEN TESTS
rng_bp = np.random.default_rng(11)
for n, d, h in ((7, 3, 5), (1, 2, 2), (12, 4, 1)):
    X_h, y_h = rng_bp.normal(size=(n, d)), rng_bp.normal(size=(n, 1))
    p_h = (rng_bp.normal(size=(d, h)), rng_bp.normal(size=h), rng_bp.normal(size=(h, 1)), rng_bp.normal(size=1))
    copies = [a.copy() for a in (X_h, y_h) + p_h]
    ref_t, ref_tf = torch_gradients(X_h, y_h, *p_h), tf_gradients(X_h, y_h, *p_h)
    got = backward(X_h, y_h, *p_h)
    for key, shape in (("dW1", (d, h)), ("db1", (h,)), ("dW2", (h, 1)), ("db2", (1,))):
        checks.check_shape(got[key], shape, name=f"{key} for n={n}, d={d}, h={h}")
        checks.check_close(got[key], ref_t[key], name=f"{key} vs autograd for n={n}, d={d}, h={h}", rtol=1e-6,
                           atol=1e-9)
        checks.check_close(got[key], ref_tf[key], name=f"{key} vs GradientTape for n={n}, d={d}, h={h}",
                           rtol=1e-6, atol=1e-9)
    checks.check_true(all(np.array_equal(a, b) for a, b in zip((X_h, y_h) + p_h, copies)),
                      "expected the inputs to be left unchanged", name=f"backward for n={n}, d={d}, h={h}")
# a network that fits its targets exactly has zero gradient everywhere
W1_z, b1_z, W2_z, b2_z = np.ones((2, 3)), np.zeros(3), np.ones((3, 1)), np.zeros(1)
X_z = np.array([[0.2, -0.1], [0.5, 0.4]])
y_z = np.tanh(X_z @ W1_z) @ W2_z
zero_bp = backward(X_z, y_z, W1_z, b1_z, W2_z, b2_z)
for key, like in (("dW1", W1_z), ("db1", b1_z), ("dW2", W2_z), ("db2", b2_z)):
    checks.check_close(zero_bp[key], np.zeros_like(like), name=f"{key} when the network fits its targets exactly",
                       atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# Sections 6 and 8 rely on what you just did. Going back one layer multiplied the gradient by that layer's
# weights ($W_2^\top$) **and by the activation's slope** ($1 - h^2$ for tanh). In a deep network the backward
# pass does that once per layer — so the slopes multiply, which is exactly what section 6 measures.

# %% [markdown]
# ## 4. The kink at zero: why the "incorrect" one won
#
# Backpropagation multiplies by the derivative of every unit it passes through (section 3). So through the
# 1980s and 1990s networks were built from smooth units, and ReLU, with its corner at 0, had to wait. Today
# ReLU and its smooth descendants are the default. The history, in one box:

# %% [markdown]
# > **Preconceptions that held the field back: ReLU dismissed as "not differentiable".**
# > *What was believed:* backpropagation, as popularised in 1986, is the chain rule, so every unit needs a derivative everywhere; a unit with a **corner**, whose derivative does not exist at 0, looked like the wrong tool for gradient descent. Networks were built from smooth units — sigmoid, then tanh (LeCun, Bottou, Orr & Müller's *Efficient BackProp*, 1998, recommended a scaled tanh).
# > *What was true:* the rectifier was old — Kunihiko Fukushima's networks of "analog threshold elements" (1969) already passed on only the positive part of their input, and so did his *cognitron* (1975) and *neocognitron* (1980), an ancestor of today's convolutional networks (trained by self-organising rules, not by backpropagation). Its corner does not matter to gradient descent (the cells below show why), and rectifiers make *deep networks trained by backpropagation* work better, not worse.
# > *Who showed it:* Hahnloser et al. (2000, *Nature*) argued for rectification from neuroscience and built it into a silicon circuit; Jarrett et al. (2009, ICCV) found that a rectifying non-linearity was among the most important ingredients of an object recogniser; Nair & Hinton (2010) used rectified linear units in restricted Boltzmann machines (ICML); Glorot, Bordes & Bengio (2011) showed, at AISTATS, that deep rectifier networks train as well as or better than tanh networks — "in spite of the hard non-linearity and non-differentiability at zero", as their abstract puts it; and the AlexNet paper (Krizhevsky, Sutskever & Hinton, NIPS 2012) reported that a convolutional network with ReLUs reached 25% training error on CIFAR-10 six times faster than the same network with tanh.

# %% [markdown]
# **The moral.** The rectifier had been there since 1969; the worry about its corner was still real enough in
# 2011 that the paper which helped make it mainstream had to answer it — and, as the next cells show, the
# corner does not matter at all. A field's preconceptions (here: "it is not differentiable, so gradient
# descent cannot use it") can hold it back for years. When an idea is dismissed on principle, test it.
#
# Why does the corner not matter? Two reasons, each demonstrated below.
#
# **1. At the corner, any slope between 0 and 1 is a valid answer.** Every line through the origin with a
# slope $g \in [0, 1]$ touches the ReLU curve at 0 and stays below it everywhere: each is a *subgradient*,
# the standard stand-in for a derivative at a corner (it is how optimisers handle $|x|$, too). A framework
# just has to pick one:

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.4))
x, y, _ = l02_activations.curve("relu", -1.5, 1.5)
for g in np.linspace(0, 1, 6):
    ax.plot(x, g * x, color=plots.OKABE_ITO["blue"], lw=1, alpha=0.35 + 0.5 * g, ls="--")
ax.plot(x, y, color=l02_activations.COLORS["relu"], lw=3, label="ReLU")
ax.plot([], [], color=plots.OKABE_ITO["blue"], ls="--", label="slopes g ∈ [0, 1] at 0:\nall subgradients")
ax.plot(0, 0, "ko")
ax.set_ylim(-1, 1.6)
ax.set_title("At the corner, every slope between 0 and 1 fits under the curve")
ax.legend(loc="upper left")
plt.show()

# %% [markdown]
# Which slope do the frameworks choose? Ask their autograd engines for the gradient of ReLU at exactly 0:

# %%
x0 = torch.zeros(1, requires_grad=True)
torch.relu(x0).backward()

x0_tf = tf.Variable([0.0])
with tf.GradientTape() as tape:
    y0_tf = tf.nn.relu(x0_tf)

relu_grad_at_zero = {"PyTorch": float(x0.grad[0]), "TensorFlow": float(tape.gradient(y0_tf, x0_tf)[0])}
relu_grad_at_zero

# %% [markdown]
# Both return **0** — a subgradient, and the same convention your `d_relu` uses.
#
# **2. Training almost never lands exactly on the corner.** Pre-activations are sums of products of
# float32 numbers; the chance that one comes out *exactly* 0.0 is tiny. To check, here is a ReLU whose
# slope at 0 we choose ourselves — a custom PyTorch autograd function, whose `backward` we write — and which
# counts how often it sees an exact 0:

# %%
class CountingReLU(torch.autograd.Function):
    """ReLU with a chosen slope at exactly 0; counts the exact zeros it sees."""

    zeros_seen = 0

    @staticmethod
    def forward(ctx, x, slope_at_zero):
        CountingReLU.zeros_seen += int((x == 0).sum())
        ctx.save_for_backward(x)
        ctx.slope_at_zero = slope_at_zero
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        slope = (x > 0).to(grad_out.dtype) + ctx.slope_at_zero * (x == 0).to(grad_out.dtype)
        return grad_out * slope, None


class KinkReLU(nn.Module):
    def __init__(self, slope_at_zero):
        super().__init__()
        self.slope_at_zero = slope_at_zero

    def forward(self, x):
        return CountingReLU.apply(x, self.slope_at_zero)


# %% [markdown]
# The training data is this lesson's test problem, two interleaved spirals (section 5 looks at them), and
# the training is a plain PyTorch loop — the loop that fastai's `Learner` runs for you. We will reuse it.

# %%
spirals = data.binary_split("spirals", n=2000, turns=1.0, seed=0)


def valid_accuracy(model):
    """Share of validation points on the right side of the boundary (logit > 0 means class 1)."""
    return float(np.mean((fastai_side.predict(model, spirals.X_valid) > 0) == (spirals.y_valid > 0.5)))


def train_torch(model, steps, lr=1e-2, bs=64, seed=0, every=0):
    """Adam on random batches of the spirals' training points.

    Returns {"loss": loss of every step, "accuracy": {step: validation accuracy} every `every` steps}.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X, y = torch.tensor(spirals.X_train), torch.tensor(spirals.y_train)
    batches = torch.Generator().manual_seed(seed)
    history = {"loss": [], "accuracy": {}}
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(X), (bs,), generator=batches)
        loss = nn.functional.binary_cross_entropy_with_logits(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        history["loss"].append(loss.item())
        if every and step % every == 0:
            history["accuracy"][step] = valid_accuracy(model)
    return history


# %% [markdown]
# Now train the same network — same starting weights, same batches — three times, with slope 0, 0.5 and 1
# at the corner:

# %%
start_weights = keras_side.get_weights(keras_side.mlp([2, 16, 16, 1], "relu", seed=0))


def kink_net(slope_at_zero):
    model = nn.Sequential(nn.Linear(2, 16), KinkReLU(slope_at_zero), nn.Linear(16, 16), KinkReLU(slope_at_zero),
                          nn.Linear(16, 1))
    fastai_side.set_weights(model, start_weights)
    return model


CountingReLU.zeros_seen = 0
kink_losses = {g: train_torch(kink_net(g), steps=100)["loss"] for g in (0.0, 0.5, 1.0)}
kink_zeros_seen = CountingReLU.zeros_seen
kink_same_losses = all(kink_losses[g] == kink_losses[0.0] for g in kink_losses)
print(f"pre-activations computed: {3 * 100 * 64 * 32:,};  exactly zero: {kink_zeros_seen}")
print("identical loss at every step for slope 0, 0.5 and 1 at the corner:", kink_same_losses)
print("final loss:", {g: round(v[-1], 5) for g, v in kink_losses.items()})

# %% [markdown]
# Not one of the 614,400 pre-activations was exactly 0, so the slope "at the corner" was never used: the
# three runs are identical to the last bit. The derivative that does not exist is a derivative gradient
# descent never asks for. (And section 5 shows a ReLU network doing better than sigmoid and tanh.)

# %% [markdown]
# ### Exercise 4 (graded by your instructor, 2 points): the kink
#
# In three to five sentences, explain to a 1990s reviewer why ReLU's missing derivative at 0 does not stop
# gradient descent from training a network. Use at least one of the two observations above.

# %% [markdown] nbgrader={"grade": true, "grade_id": "kink_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# At the corner any slope between 0 and 1 is a subgradient — a line that touches ReLU at 0 and stays below
# it — so a framework can simply pick one (PyTorch and TensorFlow both pick 0) and every update is still
# well defined. Moreover, a pre-activation is a sum of
# products of floating-point numbers and essentially never equals 0.0 exactly — in our run not one of
# 614,400 did — so the undefined point is almost never visited and the choice there does not change
# training at all. Everywhere else ReLU's derivative is exactly 0 or 1, which is perfectly well defined.
# ### END SOLUTION

# %% [markdown]
# ## 5. Side by side: one network, three activations, two frameworks
#
# The test problem is the one we just trained on: two interleaved **spirals**, 1,500 points to train on and
# 500 to validate. No straight line separates them.

# %%
print(spirals)
ax = plots.scatter(spirals.X_train, spirals.y_train, title="Two spirals (training points)", s=8)
plt.show()

# %% [markdown]
# The network is a small MLP, $2 \to 16 \to 16 \to 1$, with the activation after each hidden layer and a raw
# score (logit) out; the loss is binary cross-entropy on that logit. First with ReLU, written out in full.
#
# ### fastai
# `DataLoaders` over the arrays (the helper only sets `num_workers=0`: no worker processes for in-memory
# data), a `Learner`, and `fit`. `accuracy_multi` applies the sigmoid and thresholds at 0.5.

# %%
dls = fastai_side.dataloaders(*spirals, bs=64)
fastai_relu = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
learn = Learner(dls, fastai_relu, loss_func=BCEWithLogitsLossFlat(), metrics=accuracy_multi)
learn.fit(8, lr=1e-2)

# %% [markdown]
# ### Keras
# The same layers in a `Sequential`, `compile`, `fit`. The model outputs a logit, so the loss gets
# `from_logits=True` and the accuracy thresholds the logit at 0 (which is probability 0.5).

# %%
keras_relu = keras.Sequential([
    keras.Input((2,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1),
])
keras_relu.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                   metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
history = keras_relu.fit(spirals.X_train, spirals.y_train, epochs=8, batch_size=64, verbose=2)

# %% [markdown]
# The same validation points, scored the same way for both (`evaluate` in the helpers computes loss and
# accuracy from each model's raw outputs with one shared NumPy function):

# %%
explicit_acc = {
    "fastai": fastai_side.evaluate(fastai_relu, dls)["valid_accuracy"],
    "Keras": keras_side.evaluate(keras_relu, keras_side.dataloaders(*spirals))["valid_accuracy"],
}
explicit_acc

# %% [markdown]
# Both untangle the spirals. The activation is one argument in each framework: a module (`nn.ReLU()`)
# between PyTorch layers, a string (`activation="relu"`) inside each Keras layer.

# %% [markdown]
# ### Exercise 5 (graded, 3 points): the same MLP, any activation, both frameworks
#
# Write `build_fastai_mlp(act)` and `build_keras_mlp(act)`:
#
# * **input** `act`: one of the strings `"sigmoid"`, `"tanh"`, `"relu"`;
# * **output**: a **new**, untrained $2 \to 16 \to 16 \to 1$ network (a new model on every call) with
#   activation `act` after each of the two hidden layers and **no** activation on the output (it outputs a
#   logit): for fastai an `nn.Sequential` of `nn.Linear` layers and activation modules, for Keras a
#   `keras.Sequential` that starts with `keras.Input((2,))` and uses `Dense` layers. Each layer has a bias.
#
# **What is checked:** the types; 337 trainable parameters in each model; outputs of shape (n, 1) for n
# points; a new model on every call; and that, given the same weights (loaded with the helpers'
# `set_weights`), each model computes exactly $\text{act}(\text{act}(XW_1 + b_1)W_2 + b_2)W_3 + b_3$ —
# visibly for `"tanh"`, and for all three activations in the hidden tests.

# %% nbgrader={"grade": false, "grade_id": "build_mlp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_fastai_mlp(act):
    """2 -> 16 -> 16 -> 1 with `act` after each hidden layer, as a torch nn.Sequential."""
    ### BEGIN SOLUTION
    module = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[act]
    return nn.Sequential(nn.Linear(2, 16), module(), nn.Linear(16, 16), module(), nn.Linear(16, 1))
    ### END SOLUTION


def build_keras_mlp(act):
    """2 -> 16 -> 16 -> 1 with `act` after each hidden layer, as a keras.Sequential."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(16, activation=act),
        keras.layers.Dense(16, activation=act),
        keras.layers.Dense(1),
    ])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "build_mlp_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def numpy_mlp(X, weights, act):
    """act(act(X W1 + b1) W2 + b2) W3 + b3, in float64 NumPy."""
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[act]
    h = np.asarray(X, dtype=np.float64)
    for i in range(0, len(weights), 2):
        h = h @ weights[i] + weights[i + 1]
        if i < len(weights) - 2:
            h = f(h)
    return h


f_mlp, k_mlp = build_fastai_mlp("tanh"), build_keras_mlp("tanh")
checks.check_type(f_mlp, nn.Module, name="build_fastai_mlp('tanh')")
checks.check_type(k_mlp, keras.Model, name="build_keras_mlp('tanh')")
checks.check_true(k_mlp.built, "expected a built model (one that knows its input size)", name="build_keras_mlp('tanh')",
                  hint="start the Sequential with keras.Input((2,))")
checks.check_param_count(f_mlp, 2 * 16 + 16 + 16 * 16 + 16 + 16 * 1 + 1, name="build_fastai_mlp('tanh')", say=True)
checks.check_param_count(k_mlp, checks.count_params(f_mlp), name="build_keras_mlp('tanh')", say=True)
checks.check_shape(fastai_side.predict(f_mlp, spirals.X_valid[:5]), (5, 1), name="fastai model output for 5 points")
checks.check_shape(keras_side.predict(k_mlp, spirals.X_valid[:5]), (5, 1), name="Keras model output for 5 points")
checks.check_true(build_fastai_mlp("tanh") is not f_mlp and build_keras_mlp("tanh") is not k_mlp,
                  "expected a new model on every call", name="build_*_mlp",
                  hint="create the layers inside the function")
shared = [w + np.float32(0.3) for w in keras_side.get_weights(k_mlp)]  # the same, non-zero weights in both
fastai_side.set_weights(f_mlp, shared)
keras_side.set_weights(k_mlp, shared)
X_few = spirals.X_valid[:5]
checks.check_close(fastai_side.predict(f_mlp, X_few), numpy_mlp(X_few, shared, "tanh"),
                   name="build_fastai_mlp('tanh'): outputs for given weights", rtol=1e-4, atol=1e-5, say=True)
checks.check_close(keras_side.predict(k_mlp, X_few), numpy_mlp(X_few, shared, "tanh"),
                   name="build_keras_mlp('tanh'): outputs for given weights", rtol=1e-4, atol=1e-5, say=True)
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
Xh = (rng.normal(size=(9, 2)) * 2).astype(np.float32)
for act in ("sigmoid", "tanh", "relu"):
    fm, km = build_fastai_mlp(act), build_keras_mlp(act)
    checks.check_type(fm, nn.Module, name=f"build_fastai_mlp({act!r})")
    checks.check_type(km, keras.Model, name=f"build_keras_mlp({act!r})")
    checks.check_param_count(fm, 337, name=f"build_fastai_mlp({act!r})")
    checks.check_param_count(km, 337, name=f"build_keras_mlp({act!r})")
    Ws = [w + 0.3 * rng.normal(size=w.shape).astype(np.float32) for w in keras_side.get_weights(km)]
    fastai_side.set_weights(fm, Ws)
    keras_side.set_weights(km, Ws)
    checks.check_close(fastai_side.predict(fm, Xh), numpy_mlp(Xh, Ws, act), name=f"fastai MLP with {act}: outputs",
                       rtol=1e-4, atol=1e-5)
    checks.check_close(keras_side.predict(km, Xh), numpy_mlp(Xh, Ws, act), name=f"Keras MLP with {act}: outputs",
                       rtol=1e-4, atol=1e-5)
checks.check_true(build_fastai_mlp("relu") is not build_fastai_mlp("relu"), "expected a new model on every call",
                  name="build_fastai_mlp")
checks.check_true(build_keras_mlp("relu") is not build_keras_mlp("relu"), "expected a new model on every call",
                  name="build_keras_mlp")
### END HIDDEN TESTS

# %% [markdown]
# ### Every activation, both frameworks
#
# Now the comparison. For each activation we build the MLP in both frameworks with the helpers
# `fastai_side.mlp` / `keras_side.mlp` (the same layers as above), start both from **the same weights**
# (Keras's default initialisation, copied into the PyTorch model), and train 300 Adam steps at learning rate
# 0.01 with batches of 64, using each framework's own Adam defaults. What `train(..., steps=300)` does:
#
# * **fastai** (`fastai_side.train`): a fastai `Learner` and `fit`, as above, run as one 300-batch epoch.
#   The `Learner` is a small subclass that calls only the callbacks that handle each event (stock fastai
#   calls every callback for every event) — the trained weights are the same as stock fastai's, bit for bit.
# * **Keras** (`keras_side.train`): not `model.fit` itself, but Keras's own `model.train_step` (forward pass,
#   loss, gradients, `optimizer.apply_gradients`) for every batch, inside one traced `tf.function` loop.
#   That loop is traced once per architecture, on a private template model into which the model's weights
#   and optimiser state are copied before training and out of which they are copied after — the weights
#   equal those of `compile` + `fit` on the same batches.
#
# Both draw their 300 batches from one list of row indices, `data.step_order`: **the two frameworks see
# the same batches in the same order.**

# %%
ACTS = ["sigmoid", "tanh", "relu"]
STEPS = 300
runs = {"fastai": {}, "keras": {}}
sweep_start = {}  # each activation's starting weights, shared by both frameworks
for act in ACTS:
    k_model = keras_side.mlp([2, 16, 16, 1], act, seed=0)
    f_model = fastai_side.mlp([2, 16, 16, 1], act)
    sweep_start[act] = keras_side.get_weights(k_model)
    fastai_side.set_weights(f_model, sweep_start[act])  # same starting point
    runs["fastai"][act] = fastai_side.train(f_model, fastai_side.dataloaders(*spirals, bs=64), steps=STEPS, lr=1e-2)
    runs["keras"][act] = keras_side.train(k_model, keras_side.dataloaders(*spirals, bs=64), steps=STEPS, lr=1e-2)

final_acc = {fw: {act: runs[fw][act].final["valid_accuracy"] for act in ACTS} for fw in runs}
train_seconds = {fw: {act: runs[fw][act].seconds for act in ACTS} for fw in runs}
param_counts = {fw: {act: runs[fw][act].params for act in ACTS} for fw in runs}

# %% [markdown]
# One figure: the learning curves (top; fastai solid, Keras dashed) and what each network learned (bottom;
# the shading is the fastai model's probability, the lines are both frameworks' decision boundaries).

# %%
l02_activations.sweep_figure(runs, spirals, ACTS, title="2 → 16 → 16 → 1 on the spirals, 300 Adam steps")
plt.show()

# %% [markdown]
# And one table. We call the two frameworks *in agreement* when their validation accuracies differ by at
# most `AGREE_TOL` = 3 percentage points for every activation.

# %%
AGREE_TOL = 0.03
acc_gap = {act: abs(final_acc["fastai"][act] - final_acc["keras"][act]) for act in ACTS}
summary = pd.DataFrame({
    "activation": [l02_activations.LABELS[a] for a in ACTS],
    "parameters": [param_counts["fastai"][a] for a in ACTS],
    "fastai accuracy": [final_acc["fastai"][a] for a in ACTS],
    "Keras accuracy": [final_acc["keras"][a] for a in ACTS],
    "gap": [acc_gap[a] for a in ACTS],
    "fastai time (s)": [train_seconds["fastai"][a] for a in ACTS],
    "Keras time (s)": [train_seconds["keras"][a] for a in ACTS],
}).set_index("activation")
print(f"frameworks agree within {AGREE_TOL:.0%} for every activation:", all(g <= AGREE_TOL for g in acc_gap.values()))
summary.style.format({"fastai accuracy": "{:.1%}", "Keras accuracy": "{:.1%}", "gap": "{:.1%}",
                      "fastai time (s)": "{:.2f}", "Keras time (s)": "{:.2f}"})

# %% [markdown]
# What the numbers say:
#
# * **Sigmoid** has barely left its starting point: after 300 steps its boundary is still almost a straight
#   line (bottom left) and it is stuck near 75%. Its small slopes (at most 1/4) and outputs centred on 0.5
#   make it slow to leave the nearly linear regime it starts in.
# * **tanh** gets most of the way; **ReLU** untangles the spirals almost perfectly.
# * **fastai and Keras agree** to within a point or two for every activation: their learning curves have
#   the same shape and their boundaries nearly coincide.
# * The time column barely depends on the activation: each framework's own overhead, per run and per step,
#   dominates. Section 9 measures the activation alone.
#
# Why agree only *within a point or two*, from identical starting weights and identical batches? Because
# the two frameworks' "Adam" is not quite the same optimiser. Compare the defaults each run just used:

# %%
adam_defaults = {
    "fastai": runs["fastai"]["relu"].learner.opt.hypers[0],
    "Keras": {k: runs["keras"]["relu"].model.optimizer.get_config()[k]
              for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay")},
}
adam_defaults

# %% [markdown]
# fastai's `mom` and `sqr_mom` are Keras's `beta_1` and `beta_2`. fastai's `Adam` is really AdamW: it
# averages squared gradients over a shorter window (`sqr_mom` 0.99 vs 0.999), uses a larger $\epsilon$
# (1e-5 vs 1e-7), and shrinks every weight by $\text{lr} \times \text{wd}$ each step (decoupled weight decay,
# `wd` = 0.01). Keras's `Adam` has no weight decay. Small differences, compounded over 300 steps.
#
# If that is the whole story, then fastai's `Adam` told to use Keras's settings should land much closer to
# the Keras network. Here is the fastai run again: the `Learner` that `train()` builds
# (`fastai_side.learner`), fed exactly the 300 batches `data.step_order` gave both frameworks above (a
# `DataLoader` with `bs=None` passes each ready-made batch through as it is), with its `opt_func` — the
# optimiser factory every fastai `Learner` has, `Learner(..., opt_func=...)` — set to `adam_like_keras`:

# %%
adam_like_keras = partial(Adam, mom=0.9, sqr_mom=0.999, eps=1e-7, wd=0.0)

X_train_t, y_train_t = torch.tensor(spirals.X_train), torch.tensor(spirals.y_train)
same_batches = [(X_train_t[rows], y_train_t[rows]) for rows in data.step_order(len(X_train_t), STEPS, bs=64, seed=0)]
valid_dl = DataLoader(list(zip(torch.tensor(spirals.X_valid), torch.tensor(spirals.y_valid))), bs=500, num_workers=0)


def fastai_again(act, opt_func):
    """The sweep's fastai run of `act` once more: same start, same 300 batches, optimiser `opt_func`."""
    model = fastai_side.mlp([2, 16, 16, 1], act)
    fastai_side.set_weights(model, sweep_start[act])
    learn = fastai_side.learner(model, DataLoaders(DataLoader(same_batches, bs=None, num_workers=0), valid_dl))
    learn.opt_func = opt_func  # used when fit creates the optimiser
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, lr=1e-2)
    return model


keras_like_models = {act: fastai_again(act, adam_like_keras) for act in ACTS}

# %% [markdown]
# How far is each fastai network from its Keras twin? Two measures: the largest difference in predicted
# probability over the 500 validation points, and the distance between the two trained weight vectors
# relative to their length.

# %%
def twin_gap(f_model, k_model):
    """How far a trained fastai network is from a trained Keras one."""
    p_f = fastai_side.predict_proba(f_model, spirals.X_valid)
    p_k = keras_side.predict_proba(k_model, spirals.X_valid)
    w_f = np.concatenate([w.ravel() for w in fastai_side.get_weights(f_model)])
    w_k = np.concatenate([w.ravel() for w in keras_side.get_weights(k_model)])
    return {"probability": float(np.abs(p_f - p_k).max()),
            "weights": float(np.linalg.norm(w_f - w_k) / np.linalg.norm(w_k))}


adam_gap = {act: {"fastai's Adam": twin_gap(runs["fastai"][act].model, runs["keras"][act].model),
                  "Adam like Keras's": twin_gap(keras_like_models[act], runs["keras"][act].model)}
            for act in ACTS}
pd.DataFrame({(measure, opt): [adam_gap[act][opt][measure] for act in ACTS]
              for measure in ("probability", "weights") for opt in ("fastai's Adam", "Adam like Keras's")},
             index=[l02_activations.LABELS[a] for a in ACTS]).style.format("{:.1e}").set_caption(
    "fastai vs Keras after 300 steps: largest probability difference, relative weight distance")

# %% [markdown]
# With Keras's settings the sigmoid and tanh twins move about a hundred times closer together; the ReLU
# twins only a few times. One difference is left that no argument can change: where $\epsilon$ enters the
# formula. fastai divides by $\sqrt{\hat v} + \epsilon$, with $\hat v$ the bias-corrected average of squared
# gradients; Keras divides by $\sqrt{v} + \epsilon$ and applies the bias correction to the step size instead
# (its docstring calls this "epsilon hat"). A ReLU network amplifies such tiny differences — a nudge can switch
# a unit on or off for some points. A fastai optimiser is a list of small *stepper* functions, so we can write
# Keras's update as one and run ReLU a third time:

# %%
def keras_adam_step(p, lr, mom, step, sqr_mom, grad_avg, sqr_avg, eps, **kwargs):
    """Keras's Adam update: the bias corrections go into the step size, epsilon is added to sqrt(v)."""
    alpha = lr * math.sqrt(1 - sqr_mom**step) / (1 - mom**step)
    p.data.addcdiv_(grad_avg, sqr_avg.sqrt() + eps, value=-alpha)


def KerasAdam(params, lr, mom=0.9, sqr_mom=0.999, eps=1e-7):
    """fastai's Adam steppers, with Keras's update as the last one."""
    steppers = [partial(average_grad, dampening=True), average_sqr_grad, step_stat, keras_adam_step]
    return Optimizer(params, steppers, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps)


keras_update_relu = fastai_again("relu", KerasAdam)
adam_gap["relu"]["Keras's update"] = twin_gap(keras_update_relu, runs["keras"]["relu"].model)
{opt: f"{g['weights']:.1e}" for opt, g in adam_gap["relu"].items()}

# %% [markdown]
# With Keras's exact update the ReLU twins agree to about one part in a million: what is left is
# floating-point rounding (PyTorch and TensorFlow add up the same numbers in a slightly different order).
# The gap between the frameworks was the optimiser, not the data: both saw the same batches all along.

# %% [markdown]
# ## 6. Vanishing gradients
#
# Backpropagation multiplies, layer by layer from the output back to the input, by each layer's weights
# **and by the activation's slope** $f'(z)$ — section 3 did it by hand for one hidden layer. Sigmoid's slope is at most 1/4, so ten sigmoid layers can
# shrink a gradient by $4^{-10} \approx 10^{-6}$; tanh's and ReLU's slopes reach 1.
#
# To measure it we build **10-hidden-layer** networks ($2 \to 16 \to \dots \to 16 \to 1$) in both frameworks,
# again with identical (Keras default, Glorot) starting weights, and compute the norm of the loss gradient
# for each layer's weight matrix on 256 training points — `grad_norms` runs one forward and one backward pass
# (`loss.backward()` in PyTorch, `tf.GradientTape` in TensorFlow).

# %%
DEPTH = 10
X_batch, y_batch = spirals.X_train[:256], spirals.y_train[:256]
deep_grad_norms = {"fastai": {}, "keras": {}}
deep_models = {}
for act in ["sigmoid", "tanh", "relu"]:
    k_deep = keras_side.mlp([2] + [16] * DEPTH + [1], act, seed=0)
    f_deep = fastai_side.mlp([2] + [16] * DEPTH + [1], act)
    fastai_side.set_weights(f_deep, keras_side.get_weights(k_deep))
    deep_models[act] = f_deep
    deep_grad_norms["fastai"][act] = fastai_side.grad_norms(f_deep, X_batch, y_batch)
    deep_grad_norms["keras"][act] = keras_side.grad_norms(k_deep, X_batch, y_batch)

l02_activations.grad_norm_figure(deep_grad_norms,
                                 title=f"Gradient norm per layer, {DEPTH} hidden layers, at the start")
plt.show()

# %% [markdown]
# The two frameworks' markers sit on top of each other: two independent autograd engines, the same numbers.
# Read the lines from right (output) to left (input). How much smaller is the gradient at the first layer
# than at the last?

# %%
grad_ratio = {fw: {act: v[0] / v[-1] for act, v in by_act.items()} for fw, by_act in deep_grad_norms.items()}
pd.DataFrame(grad_ratio).style.format("{:.1e}").set_caption("first-layer / last-layer gradient norm")

# %% [markdown]
# With sigmoid the first layer's gradient is **millions** of times smaller than the last layer's: the
# layers near the input barely move. With tanh and ReLU the ratio stays within a factor of about ten.
# (ReLU's norms are level but smaller overall: the Glorot initialisation used here was designed for tanh-like
# units; He et al. (2015) proposed starting weights scaled for ReLU.)
#
# Does it matter for training? Train the 10-layer sigmoid and ReLU networks with the PyTorch loop from
# section 4, checking the validation accuracy every 20 steps:

# %%
deep_history = {act: train_torch(deep_models[act], steps=300, every=20) for act in ["sigmoid", "relu"]}
deep_acc = {act: h["accuracy"][300] for act, h in deep_history.items()}
deep_acc_at_200 = {act: h["accuracy"][200] for act, h in deep_history.items()}

fig, ax = plt.subplots(figsize=(8, 3.2))
for act, h in deep_history.items():
    ax.plot(list(h["accuracy"]), list(h["accuracy"].values()), "o-", ms=3, color=l02_activations.COLORS[act],
            label=f"{l02_activations.LABELS[act]}, {DEPTH} hidden layers")
ax.axhline(0.5, color="grey", ls=":", lw=1)
ax.set_xlabel("step")
ax.set_ylabel("validation accuracy")
ax.set_ylim(0.4, 1.02)
ax.set_title("Deep networks on the spirals")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # outside the axes: no line runs under it
plt.show()
print("after 200 steps:", {act: f"{a:.1%}" for act, a in deep_acc_at_200.items()})

# %% [markdown]
# The deep ReLU network learns within a hundred steps. The deep sigmoid network sits at chance (50%) for the
# first couple of hundred steps, because its first layers receive almost no gradient; only slowly does Adam — which
# scales each weight's step by the size of its recent gradients (lesson 03) — get it moving. This, far more than the
# cost of an `exp`, is why ReLU won.

# %% [markdown]
# ## 7. Initialisation: why the scale of the starting weights matters
#
# Section 6 started every network from Glorot-scaled weights, and noted that He et al. (2015) proposed a
# different scale for ReLU. Why does the scale matter at all? Each unit of a layer sums $n_\text{in}$ products
# $w_i x_i$, one per input (its *fan-in*; the layer's number of outputs is its *fan-out*, $n_\text{out}$). If
# the weights are independent with mean 0 and the inputs have mean square $E[x^2]$, the pre-activation's
# variance is
#
# $$ \operatorname{Var}(z) = n_\text{in} \cdot \operatorname{Var}(w) \cdot E[x^2]. $$
#
# So every layer multiplies the signal's size by about $\sqrt{n_\text{in}\cdot\operatorname{Var}(w)}$ (and by
# what the activation does to it). Make that factor a little too small and, after many layers, the signal is
# gone; a little too large and it explodes, or saturates a tanh or sigmoid, whose slope is then near 0. The
# backward pass multiplies by the same weights (section 3), so the gradients shrink or grow with it. Three
# recipes choose $\operatorname{Var}(w)$ to keep the factor near 1:
#
# | name | $\operatorname{Var}(w)$ | designed for | PyTorch (`torch.nn.init`) | Keras (`keras.initializers`) |
# |---|---|---|---|---|
# | LeCun (1998) | $1/n_\text{in}$ | tanh-like units | — | `LecunNormal`, `LecunUniform` |
# | **Xavier/Glorot** (Glorot & Bengio, 2010) | $2/(n_\text{in} + n_\text{out})$ | tanh, sigmoid, linear | `xavier_uniform_`, `xavier_normal_` | `GlorotUniform`, `GlorotNormal` |
# | **He/Kaiming** (He et al., 2015) | $2/n_\text{in}$ | ReLU (it zeroes half the inputs, halving $E[x^2]$) | `kaiming_uniform_`, `kaiming_normal_` | `HeUniform`, `HeNormal` |
#
# (Glorot's formula is a compromise between keeping the forward signal, $1/n_\text{in}$, and the backward
# gradient, $1/n_\text{out}$. A uniform distribution $U(-a, a)$ has variance $a^2/3$, so Glorot uniform uses
# $a = \sqrt{6/(n_\text{in} + n_\text{out})}$.)
#
# ### The two frameworks' defaults differ
#
# A layer you create without choosing is initialised by its framework's default, and the defaults are not the
# same. PyTorch's `nn.Linear.reset_parameters` calls `kaiming_uniform_(weight, a=math.sqrt(5))`, which its own
# comment explains "is the same as initializing with uniform(-1/sqrt(in_features), 1/sqrt(in_features))", and
# draws the bias from the same range. Keras's `Dense` defaults to `kernel_initializer="glorot_uniform"` and
# `bias_initializer="zeros"`. Check it on fresh layers with 256 inputs and 64 outputs:

# %%
FAN_IN, FAN_OUT = 256, 64
torch_layer = nn.Linear(FAN_IN, FAN_OUT)
keras_layer = keras.layers.Dense(FAN_OUT)
keras_layer.build((None, FAN_IN))
W_torch, b_torch = torch_layer.weight.detach().numpy(), torch_layer.bias.detach().numpy()
W_keras, b_keras = keras_layer.kernel.numpy(), keras_layer.bias.numpy()
init_defaults = pd.DataFrame({
    "PyTorch nn.Linear": {"formula: bound": 1 / np.sqrt(FAN_IN), "largest |w|": np.abs(W_torch).max(),
                          "formula: std = bound/√3": 1 / np.sqrt(3 * FAN_IN), "std of w": W_torch.std(),
                          "largest |b|": np.abs(b_torch).max()},
    "Keras Dense": {"formula: bound": np.sqrt(6 / (FAN_IN + FAN_OUT)), "largest |w|": np.abs(W_keras).max(),
                    "formula: std = bound/√3": np.sqrt(2 / (FAN_IN + FAN_OUT)), "std of w": W_keras.std(),
                    "largest |b|": np.abs(b_keras).max()},
})
init_defaults.round(4)

# %% [markdown]
# The sampled weights fill exactly the range the formulas give, with the standard deviation they predict.
# PyTorch's default variance is $1/(3\,n_\text{in})$: a third of LeCun's, a sixth of He's. Keras's is
# Glorot's, which for a square layer equals LeCun's. PyTorch's biases start random, Keras's at 0. (fastai
# does not change the default for a plain `nn.Linear`, as in this lesson's models; its own `ConvLayer`
# re-initialises its weights to suit its activation, with Kaiming's for ReLU.)
#
# ### Following the signal through 8 layers
#
# Now the experiment: 1,000 standard-normal inputs through 8 layers of 64 units, **one forward pass, no
# training**, and the standard deviation of each layer's activations. Five weight scales, each written in both
# frameworks' own initialiser APIs (biases 0 throughout, so only the weights' scale differs): too small
# ($\sigma = 0.01$), too large ($\sigma = 1$), Glorot, He, and PyTorch's default weight range (in Keras:
# `VarianceScaling(scale=1/3, mode="fan_in", distribution="uniform")`, the same distribution).

# %%
INIT_DEPTH, INIT_WIDTH = 8, 64
X_init = np.random.default_rng(0).normal(size=(1000, INIT_WIDTH)).astype(np.float32)

torch_inits = {
    "too small: N(0, 0.01²)": lambda w: nn.init.normal_(w, std=0.01),
    "too large: N(0, 1)": lambda w: nn.init.normal_(w, std=1.0),
    "Glorot uniform (Keras's default)": nn.init.xavier_uniform_,
    "He normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "U(±1/√fan_in) (PyTorch's default)": lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
}
keras_inits = {  # a function of the seed: one fresh initialiser per layer
    "too small: N(0, 0.01²)": lambda seed: keras.initializers.RandomNormal(stddev=0.01, seed=seed),
    "too large: N(0, 1)": lambda seed: keras.initializers.RandomNormal(stddev=1.0, seed=seed),
    "Glorot uniform (Keras's default)": lambda seed: keras.initializers.GlorotUniform(seed=seed),
    "He normal": lambda seed: keras.initializers.HeNormal(seed=seed),
    "U(±1/√fan_in) (PyTorch's default)": lambda seed: keras.initializers.VarianceScaling(
        scale=1 / 3, mode="fan_in", distribution="uniform", seed=seed),
}


def torch_activations(init, act):
    """The activations after each of INIT_DEPTH torch layers, weights from `init`, biases 0."""
    torch.manual_seed(0)
    h, out = torch.tensor(X_init), []
    with torch.no_grad():
        for _ in range(INIT_DEPTH):
            layer = nn.Linear(INIT_WIDTH, INIT_WIDTH)
            init(layer.weight)
            nn.init.zeros_(layer.bias)
            h = l02_activations.torch_fn(act)(layer(h))
            out.append(h.numpy())
    return out


def keras_activations(init, act):
    """The same in Keras: Dense layers with kernel_initializer from `init` (bias_initializer: zeros)."""
    h, out = tf.constant(X_init), []
    for i in range(INIT_DEPTH):
        h = keras.layers.Dense(INIT_WIDTH, activation=act, kernel_initializer=init(seed=i))(h)
        out.append(h.numpy())
    return out


layer_stds, tanh_saturated = {}, {}
for fw, forward, inits in (("PyTorch", torch_activations, torch_inits), ("Keras", keras_activations, keras_inits)):
    layer_stds[fw] = {"tanh": {}, "relu": {}}
    for act in ("tanh", "relu"):
        for name, init in inits.items():
            hs = forward(init, act)
            layer_stds[fw][act][name] = [float(h.std()) for h in hs]
            if act == "tanh":  # share of the last layer's tanh outputs stuck near ±1, where the slope is ~0
                tanh_saturated[(fw, name)] = float(np.mean(np.abs(hs[-1]) > 0.99))

# %% [markdown]
# One line per scheme, colour for the scheme, solid line and circles for PyTorch, dashed line and crosses
# for Keras; layer 0 is the input:

# %%
INIT_COLORS = dict(zip(torch_inits, [plots.OKABE_ITO[c] for c in ("sky blue", "vermillion", "bluish green", "orange",
                                                                  "reddish purple")]))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, act in zip(axes, ("tanh", "relu")):
    for name, color in INIT_COLORS.items():
        for fw, style in (("PyTorch", dict(ls="-", marker="o")), ("Keras", dict(ls="--", marker="x"))):
            ax.plot(range(INIT_DEPTH + 1), [float(X_init.std())] + layer_stds[fw][act][name], color=color, ms=4,
                    label=name if fw == "PyTorch" else None, **style)
    ax.set_yscale("log")
    ax.set_xlabel("layer (0 = the input)")
    ax.set_title(f"{INIT_DEPTH} layers of {INIT_WIDTH} {l02_activations.LABELS[act]} units")
axes[0].set_ylabel("std of the layer's activations")
axes[1].plot([], [], "k-o", ms=4, label="PyTorch (torch.nn.init)")
axes[1].plot([], [], "k--x", ms=4, label="Keras (keras.initializers)")
axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1))
fig.suptitle("One forward pass from each initialisation, in both frameworks")
fig.tight_layout()
plt.show()

# %% [markdown]
# The numbers behind the lines: the last layer's standard deviation, and for tanh the share of units stuck
# near ±1 ($|h| > 0.99$, where tanh's slope is below 0.02):

# %%
init_summary = pd.DataFrame({
    (fw, col): [layer_stds[fw][act][name][-1] for name in torch_inits] if act else
    [tanh_saturated[(fw, name)] for name in torch_inits]
    for fw in ("PyTorch", "Keras") for col, act in (("tanh: std", "tanh"), ("tanh: saturated", None), ("ReLU: std", "relu"))
}, index=list(torch_inits))
init_summary.style.format("{:.2g}").set_caption(f"After {INIT_DEPTH} layers of {INIT_WIDTH} units, at initialisation")

# %% [markdown]
# What the figure and the table show, the same in both frameworks (their random numbers differ, their
# distributions do not):
#
# * **Too small** ($\sigma = 0.01$, factor $0.01\cdot\sqrt{64} = 0.08$ per layer): the signal is gone after a
#   few layers — about $10^{-9}$ after 8. Every input produces the same (zero) output, and the gradients
#   vanish with it.
# * **Too large** ($\sigma = 1$, factor 8): ReLU activations explode, by about a million after 8 layers. Tanh
#   cannot explode, so it **saturates** instead: most of its units sit at ±1, where its slope is almost 0 — the
#   gradient vanishes although the activations look large.
# * **Glorot** keeps tanh's signal at a sensible size (it shrinks slowly, as tanh compresses). For ReLU it
#   loses a factor $1/\sqrt 2$ per layer, because ReLU zeroes half its inputs — exactly what **He** corrects:
#   with He's scale the ReLU signal stays level.
# * **PyTorch's default** range, $U(\pm 1/\sqrt{	ext{fan\_in}})$, shrinks the signal at every layer: by about
#   $1/\sqrt 3$ per tanh layer and $1/\sqrt 6$ per ReLU layer, to below $10^{-3}$ after 8 ReLU layers. The loss
#   compounds with depth, so for a deep ReLU network built from plain `nn.Linear` layers choose He's
#   initialisation yourself, as lesson 04 does with
#   `nn.init.kaiming_normal_` (in Keras: `kernel_initializer="he_normal"`).
#
# That also explains a remark in section 6: its ReLU gradient norms were level but small, because those
# networks started from Glorot's scale, designed for tanh.


# %% [markdown]
# ## 8. Dead ReLUs
#
# ReLU's flat half has a price. If a unit's pre-activation is negative for **every** input, its output and
# its gradient are 0 for every example: gradient descent can never switch it back on. The unit is *dead*.
# A large learning-rate step can push many units there at once.
#
# `l02_activations.dead_fraction(model, X)` counts, per hidden layer, the units that output 0 on every training
# point. First the ReLU networks trained above, in both frameworks:

# %%
dead = {
    "fastai, lr 0.01": l02_activations.dead_fraction(runs["fastai"]["relu"].model, spirals.X_train),
    "Keras, lr 0.01": l02_activations.dead_fraction(runs["keras"]["relu"].model, spirals.X_train),
}
dead

# %% [markdown]
# Some units are dead even here, in both frameworks (they started from the same weights): capacity wasted,
# but the network copes. Now the same network, same start, trained with a learning rate 100 times larger —
# big steps can throw a unit's weights and bias far into the negative side:

# %%
dead_net = fastai_side.mlp([2, 16, 16, 1], "relu")
fastai_side.set_weights(dead_net, start_weights)
high_lr_run = fastai_side.train(dead_net, fastai_side.dataloaders(*spirals, bs=64), steps=STEPS, lr=1.0)
dead["fastai, lr 1.0"] = l02_activations.dead_fraction(dead_net, spirals.X_train)
high_lr_acc = high_lr_run.final["valid_accuracy"]
print("dead fraction per layer:", {k: [f"{v:.0%}" for v in fr] for k, fr in dead.items()})
print(f"validation accuracy at lr 1.0: {high_lr_acc:.1%}")

# %% [markdown]
# A dead unit is not just idle, it is stuck: the gradient reaching its incoming weights is exactly zero, so
# no gradient step can switch it back on. Leaky ReLU's slope of 0.01 for negative inputs changes that. Take the
# **same** weights, swap ReLU for leaky ReLU, and measure the gradient that reaches each unit of the second
# hidden layer (the norm of its row of incoming weights' gradient, over all training points):

# %%
def unit_gradients(model):
    """Norm of the loss gradient on each hidden-layer-2 unit's incoming weights, over all training points."""
    model.zero_grad()
    loss = nn.functional.binary_cross_entropy_with_logits(model(torch.tensor(spirals.X_train)),
                                                          torch.tensor(spirals.y_train))
    loss.backward()
    return model[2].weight.grad.norm(dim=1).numpy()  # model[2] is the second Linear layer


leaky_twin = fastai_side.mlp([2, 16, 16, 1], "leaky_relu")
fastai_side.set_weights(leaky_twin, fastai_side.get_weights(dead_net))
unit_grads = {"ReLU": unit_gradients(dead_net), "leaky ReLU, same weights": unit_gradients(leaky_twin)}
zero_grad_units = {k: int(np.sum(g == 0)) for k, g in unit_grads.items()}
zero_grad_units

# %% [markdown]
# The picture, unit by unit: how often each unit of the second layer is active (left; a dead unit is a black
# × at 0), and the gradient each unit of the lr-1.0 network receives (right; exactly 0 is drawn at the bottom
# as a black ×):

# %%
rates = {"lr 0.01": l02_activations.active_rate(runs["fastai"]["relu"].model, spirals.X_train)[1],
         "lr 1.0": l02_activations.active_rate(dead_net, spirals.X_train)[1]}
units = np.arange(1, 17)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.2))
for k, (label, rate) in enumerate(rates.items()):
    ax1.bar(units + (k - 0.5) * 0.4, rate, 0.4, color=[plots.OKABE_ITO["blue"], plots.OKABE_ITO["orange"]][k],
            label=f"ReLU, {label}: {np.mean(rate == 0):.0%} dead")
    ax1.plot(units[rate == 0] + (k - 0.5) * 0.4, np.zeros(int(np.sum(rate == 0))), "x", color="k", mew=2)
ax1.set_xlabel("unit of hidden layer 2")
ax1.set_ylabel("fraction of inputs active")
ax1.set_xticks(units)
ax1.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
floor = 1e-9
for k, (label, g) in enumerate(unit_grads.items()):
    x = units + (k - 0.5) * 0.4
    ax2.bar(x, np.where(g > 0, g, np.nan), 0.4,
            color=[plots.OKABE_ITO["orange"], l02_activations.COLORS["leaky_relu"]][k], label=label)
    ax2.plot(x[g == 0], np.full(int(np.sum(g == 0)), floor), "x", color="k", mew=2)
ax2.set_yscale("log")
ax2.set_ylim(floor / 2, None)
ax2.set_xlabel("unit of hidden layer 2 (network trained at lr 1.0)")
ax2.set_ylabel("gradient reaching the unit")
ax2.set_xticks(units)
ax2.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# With ReLU, every dead unit gets exactly zero gradient: it will stay dead for the rest of training. With
# leaky ReLU the same units get a small but nonzero gradient and can come back. Keeping units alive is the
# main reason leaky ReLU, GELU and SiLU exist.

# %% [markdown]
# ## 9. Cost: one forward and backward pass per activation
#
# ReLU is a comparison; sigmoid and tanh need an exponential; GELU needs the error function. How much does
# that cost? We time the activation **alone**, forward and backward, on $2^{18} \approx 262{,}000$ numbers,
# in PyTorch (`backward`) and TensorFlow (`GradientTape`); best of 3 repeats, in milliseconds:

# %%
cost_ms = {fw: {name: l02_activations.time_forward_backward(fw, name, n=2**18) for name in l02_activations.NAMES}
           for fw in ("pytorch", "tensorflow")}
fig, ax = plt.subplots(figsize=(8, 3.2))
width = 0.38
pos = np.arange(len(l02_activations.NAMES))
for i, (fw, color) in enumerate((("pytorch", plots.OKABE_ITO["blue"]), ("tensorflow", plots.OKABE_ITO["orange"]))):
    ax.bar(pos + (i - 0.5) * width, [cost_ms[fw][n] for n in l02_activations.NAMES], width, label=fw, color=color)
ax.set_xticks(pos, [l02_activations.LABELS[n] for n in l02_activations.NAMES])
ax.set_yscale("log")
ax.set_ylabel("ms per forward + backward")
ax.set_title("One activation over 2¹⁸ numbers (log scale; lower is faster)")
ax.legend()
plt.show()
pd.DataFrame(cost_ms).round(2).T

# %% [markdown]
# ReLU is among the cheapest in each framework; the smooth GELU and SiLU are the dearest in TensorFlow's
# eager mode. But for a network this small the difference is lost in everything else a training step does
# (the training times in section 5 barely depend on the activation). The speed-up AlexNet reported was
# measured in **training epochs**, not seconds per step: ReLU networks need fewer steps, which is what
# sections 5 and 6 showed. (Timings are noisy on a shared machine: rerun the cell to see how much they
# move.)

# %% [markdown]
# ## 10. Explore
#
# Pick an activation to see it and its derivative (left), and move the depth slider to see the per-layer
# gradient norms of a fresh network that deep (right; PyTorch, Glorot initialisation, the same 256 spiral
# points). The chosen activation is drawn thick. Where does sigmoid's gradient fall below $10^{-6}$? Does
# GELU behave like ReLU?

# %%
def draw_explorer(act, depth):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    l02_activations.draw_curve(act, ax=ax1, lo=-4, hi=4)
    ax1.set_ylim(-1.2, 2.5)
    shown = dict.fromkeys(["sigmoid", "tanh", "relu", act])
    for name in shown:
        norms = l02_activations.deep_grad_norms(depth, name, X_batch, y_batch)
        ax2.plot(np.arange(1, depth + 2), norms, "o-", color=l02_activations.COLORS[name], ms=3,
                 lw=3 if name == act else 1.2, alpha=1 if name == act else 0.6, label=l02_activations.LABELS[name])
    ax2.set_yscale("log")
    ax2.set_ylim(1e-14, 10)
    ax2.set_xlabel("layer (1 = next to the input)")
    ax2.set_ylabel("‖∂loss/∂W‖")
    ax2.set_title(f"{depth} hidden layers")
    ax2.legend(loc="lower right")
    fig.tight_layout()


explorer = widgets.Explorer(
    draw_explorer,
    act=widgets.choice("activation", list(l02_activations.NAMES), value="sigmoid"),
    depth=widgets.int_slider("hidden layers", 10, 1, 20),
)
explorer

# %% [markdown]
# ## Recap
#
# * Without an activation, any stack of linear layers **is one linear layer**: we multiplied a 4-layer
#   network's matrices into a single $2 \times 1$ matrix and got the same outputs in PyTorch and Keras.
# * **Sigmoid** $(0, 1)$, slope ≤ 1/4; **tanh** $(-1, 1)$, slope ≤ 1; **ReLU** $\max(0, x)$, slope 0 or 1.
#   A stable sigmoid never calls `exp` on a large positive number.
# * **Backpropagation is the chain rule**, applied backwards through the computational graph: each node's
#   gradient is computed once and reused; a weight's gradient is the gradient at the node it feeds times the
#   value it carries. Your NumPy backward pass matched PyTorch's autograd and TensorFlow's `GradientTape`.
# * ReLU's **kink** does not matter: at 0 any slope in $[0, 1]$ is a subgradient (PyTorch and TensorFlow
#   both use 0), and training practically never hits exactly 0 — three different choices gave identical
#   training runs.
# * On the spirals, in the same 300 steps: sigmoid ≈ 75% (a nearly straight boundary), tanh ≈ 97%,
#   ReLU ≈ 99%, with fastai and Keras within a point or two of each other.
# * **Vanishing gradients**: through 10 sigmoid layers the first layer's gradient is millions of times
#   smaller than the last's, and the network sits at chance for hundreds of steps; ReLU keeps gradients
#   alive.
# * **Initialisation**: each layer scales the signal by about $\sqrt{n_\text{in}\cdot\operatorname{Var}(w)}$;
#   too small and it vanishes, too large and it explodes (ReLU) or saturates (tanh). Glorot suits tanh, He suits
#   ReLU. The defaults differ: PyTorch's `nn.Linear` draws from $U(\pm 1/\sqrt{n_\text{in}})$ (biases too),
#   Keras's `Dense` uses Glorot uniform with zero biases.
# * **Dead ReLUs**: a unit that is never active gets exactly zero gradient and stays dead; a large learning
#   rate kills most of them. Leaky ReLU, GELU and SiLU always pass some gradient.
# * **Cost**: ReLU is among the cheapest activations, but its real advantage is needing fewer steps.
#
# **Next:** lesson 03 — gradient descent: what the optimiser does with the gradients we measured here,
# learning rates, mini-batches, momentum and Adam.

# %% [markdown]
# ## Check your understanding
#
# **1. Why is a network of ten linear layers with no activation no better than one linear layer?**
#
# <details><summary>Answer</summary>
#
# Each layer computes $XW + b$, and a linear function of a linear function is linear: the product of the
# weight matrices is one matrix and the biases combine into one bias. Section 1 multiplied a four-layer
# network's matrices into a single $2 \times 1$ matrix that gave the same outputs. Depth only adds power when a
# nonlinearity sits between the layers.
#
# </details>
#
# **2. Why does the naive `1 / (1 + np.exp(-x))` fail for very negative `x`, and what is the idea of the fix?**
#
# <details><summary>Answer</summary>
#
# For $x = -1000$ it computes $e^{1000}$, which overflows float64 to infinity (with a warning). The fix is to
# only ever exponentiate a non-positive number, $e^{-|x|}$, and to use the form of the sigmoid that fits the
# sign of $x$: both forms are equal mathematically, but only one of them stays finite for each sign.
#
# </details>
#
# **3. What is the chain rule, and what does backpropagation add to it?**
#
# <details><summary>Answer</summary>
#
# The chain rule says the derivative of a composition is the product of the local derivatives along the path
# from the output back to the variable. Backpropagation applies it to a whole network in one backward sweep
# over the computational graph, computing $\partial L/\partial\text{node}$ once for every node and reusing it for
# every path through that node, so all the gradients together cost about one extra forward pass.
#
# </details>
#
# **4. Why must the backward pass keep values from the forward pass?**
#
# <details><summary>Answer</summary>
#
# The local derivatives depend on them: a weight's gradient is the gradient at the node it points to times the
# value at the node it comes from, and tanh's slope is $1 - h^2$, computed from its own output. That is why
# autograd records the forward computation (PyTorch's graph, TensorFlow's tape) and why training uses more
# memory than prediction.
#
# </details>
#
# **5. A weight matrix $W$ has shape (3, 5). What shape must $\partial L/\partial W$ have, and why is that a useful check?**
#
# <details><summary>Answer</summary>
#
# (3, 5): the loss is a single number, so it has one partial derivative per entry of $W$, arranged like $W$.
# When you write a backward pass, a gradient whose shape does not match its parameter is a sure sign that a
# transpose or a sum over the examples is missing.
#
# </details>
#
# **6. ReLU has no derivative at 0. Why does that not stop gradient descent?**
#
# <details><summary>Answer</summary>
#
# At the corner any slope between 0 and 1 is a subgradient, so a framework can pick one (PyTorch and
# TensorFlow pick 0). And a pre-activation is a sum of products of floats that is essentially never exactly
# 0.0: in section 4 not one of 614,400 was, and three different choices at the corner gave identical training
# runs.
#
# </details>
#
# **7. Why do gradients vanish through many sigmoid layers but not through ReLU layers?**
#
# <details><summary>Answer</summary>
#
# Going back through each layer multiplies the gradient by that layer's weights and by the activation's
# slope. Sigmoid's slope is at most 1/4, so the factors shrink the gradient layer after layer: through 10
# sigmoid layers the first layer's gradient was millions of times smaller than the last's. ReLU's slope is
# exactly 1 wherever the unit is active.
#
# </details>
#
# **8. What goes wrong when the initial weights are too large, for ReLU and for tanh?**
#
# <details><summary>Answer</summary>
#
# Each layer multiplies the size of the signal by about $\sqrt{n_\text{in}\cdot\operatorname{Var}(w)}$. With
# ReLU a factor above 1 makes the activations explode layer after layer (a million-fold after 8 layers at
# $\sigma = 1$). Tanh is bounded, so it saturates instead: its units sit at ±1, where the slope is almost 0, and
# the gradients vanish even though the activations look large.
#
# </details>
#
# **9. Glorot and He initialisation differ by a factor of about 2 in the variance. Where does that factor come from?**
#
# <details><summary>Answer</summary>
#
# ReLU sets the negative half of its inputs to 0, which halves the mean square of the signal it passes on. He
# et al. doubled the weights' variance to make up for it, so a ReLU network's signal keeps its size from
# layer to layer; Glorot's scale, derived for units that behave like the identity near 0 (such as tanh), loses a
# factor $1/\sqrt 2$ per ReLU layer.
#
# </details>
#
# **10. Do PyTorch's `nn.Linear` and Keras's `Dense` start from the same weights when you do not choose?**
#
# <details><summary>Answer</summary>
#
# No. PyTorch draws weights and biases from $U(\pm 1/\sqrt{n_\text{in}})$ (its `kaiming_uniform_` with
# `a=sqrt(5)`), a variance of $1/(3\,n_\text{in})$; Keras draws weights from Glorot uniform and sets biases
# to 0. That is why this course copies one framework's starting weights into the other before comparing them.
#
# </details>
#
# **11. What is a dead ReLU, and why can it not recover on its own?**
#
# <details><summary>Answer</summary>
#
# A ReLU unit whose pre-activation is negative for every input outputs 0 everywhere, and its slope is 0
# everywhere, so the gradient reaching its incoming weights is exactly 0 and no gradient step can move them.
# A large learning rate can push many units there at once; leaky ReLU, GELU and SiLU always pass some
# gradient, so their units can come back.
#
# </details>

# %% [markdown]
# ## Further reading
#
# - Ian Goodfellow, Yoshua Bengio & Aaron Courville, *Deep Learning* (2016), https://www.deeplearningbook.org — section 6.5 derives back-propagation on computational graphs in general, with the algorithm written out.
# - Aston Zhang, Zachary C. Lipton, Mu Li & Alexander J. Smola, *Dive into Deep Learning* (2023), https://d2l.ai — its chapters on forward and backward propagation and on numerical stability and initialisation cover sections 3 and 7 with code in several frameworks.
# - Grant Sanderson (3Blue1Brown), *Backpropagation calculus* (2017), https://www.3blue1brown.com/lessons/backpropagation-calculus — an animated walk through the chain rule on a tiny network, the best picture of what section 3 computes.
# - Xavier Glorot & Yoshua Bengio, *Understanding the difficulty of training deep feedforward neural networks* (2010), AISTATS — the paper behind Glorot initialisation, which measures activations and gradients layer by layer as section 7 does.
# - Kaiming He, Xiangyu Zhang, Shaoqing Ren & Jian Sun, *Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification* (2015), https://arxiv.org/abs/1502.01852 — derives the initialisation for ReLU networks and shows very deep ones training from it.
# - Xavier Glorot, Antoine Bordes & Yoshua Bengio, *Deep Sparse Rectifier Neural Networks* (2011), AISTATS — the paper that answered the worry about ReLU's corner and showed deep rectifier networks training well.
# - Jeremy Howard & Sylvain Gugger, *Deep Learning for Coders with fastai and PyTorch* (2020), https://github.com/fastai/fastbook — chapter 17 builds a network's forward and backward passes and its initialisation from scratch, the natural next step after this lesson.
