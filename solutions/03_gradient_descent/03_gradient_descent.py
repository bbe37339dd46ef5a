# %% [markdown]
# # Lesson 03 — Gradient descent: learning rates, mini-batches, and the defaults fastai builds in
#
# Every model in this course learns the same way: compute how the loss changes when each weight changes
# (the **gradient**), then move every weight a little **downhill**. This lesson takes that sentence apart.
#
# By the end of this lesson you will be able to:
#
# 1. run gradient descent by hand on a 1-D and a 2-D loss surface, with gradients you derived yourself and
#    checked against PyTorch's and TensorFlow's automatic differentiation;
# 2. recognise a learning rate that is too small (crawls), about right, or too large (zig-zags, then blows
#    up to `inf` and `nan`) — and say where the boundary is;
# 3. explain what mini-batches change: a noisy path, and noise that can carry the descent out of a
#    shallow valley that full-batch descent gets stuck in;
# 4. say in one sentence each what **momentum** and **Adam** add;
# 5. use fastai's `lr_find` and `fit_one_cycle`, and Keras's optimizers and learning-rate callbacks, and
#    compare what each framework gives you by default.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Run the notebook top to bottom (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# As in every lesson, one call prepares the kernel (safe import order, one CPU thread, quiet TensorFlow,
# seeds). `helpers.descent` holds this lesson's NumPy helpers: a contour-plot helper and reference
# versions of the first exercises, so the demonstrations keep working before you have finished them.

# %%
import helpers

helpers.setup(seed=0)

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import checks, compare, data, descent, widgets

# %% [markdown]
# ## 1. Walking downhill in one dimension
#
# Start with a loss that depends on a single number $x$:
#
# $$ f(x) = \tfrac14 x^4 - \tfrac12 x^2 + 0.3\,x . $$
#
# It has two valleys: a shallow one on the right and a deeper one on the left. Its derivative — the
# **slope** — follows from the power rule, term by term:
#
# $$ f'(x) = x^3 - x + 0.3 . $$
#
# The slope says which way is uphill and how steep it is. Gradient descent steps the other way, by an amount
# proportional to the slope:
#
# $$ x \leftarrow x - \eta\, f'(x) $$
#
# where $\eta$ (eta) is the **learning rate**.

# %%
def two_valleys(x):
    """A loss with a shallow valley on the right and a deeper one on the left."""
    return x**4 / 4 - x**2 / 2 + 0.3 * x


def two_valleys_slope(x):
    """Its derivative, worked out by hand."""
    return x**3 - x + 0.3


# %% [markdown]
# ### Checking the derivative against autograd
#
# Deriving gradients by hand is error-prone; frameworks do it automatically (**autograd**). PyTorch records
# the operations on a tensor created with `requires_grad=True` and `backward()` fills in `.grad`;
# TensorFlow records them inside a `tf.GradientTape`. The same Python function works on both, because
# `**`, `*` and `-` are defined for tensors. (Summing first gives every $x_i$ its own derivative at once.)

# %%
import tensorflow as tf
import torch

xs = np.linspace(-2, 2, 9)

x_torch = torch.tensor(xs, requires_grad=True)
two_valleys(x_torch).sum().backward()
slope_torch = x_torch.grad.numpy()

x_tf = tf.Variable(xs)
with tf.GradientTape() as tape:
    total = tf.reduce_sum(two_valleys(x_tf))
slope_tf = tape.gradient(total, x_tf).numpy()

grad_err_torch = float(np.max(np.abs(slope_torch - two_valleys_slope(xs))))
grad_err_tf = float(np.max(np.abs(slope_tf - two_valleys_slope(xs))))
print(f"largest difference from the hand derivative: PyTorch {grad_err_torch:.1e}, TensorFlow {grad_err_tf:.1e}")
pd.DataFrame({"x": xs, "by hand": two_valleys_slope(xs), "PyTorch": slope_torch, "TensorFlow": slope_tf}).round(4).T

# %% [markdown]
# All three agree to the last digit. Now the walk itself: 25 steps with $\eta = 0.1$, once from $x = 2$
# and once from $x = -2$. It is a four-line loop.

# %%
def walk_downhill(x, lr=0.1, steps=25):
    xs_walk = [x]
    for _ in range(steps):
        x = x - lr * two_valleys_slope(x)
        xs_walk.append(x)
    return np.array(xs_walk)


walk_right, walk_left = walk_downhill(2.0), walk_downhill(-2.0)
stuck_at, global_at = float(walk_right[-1]), float(walk_left[-1])
print(f"from x = 2:  ends at x = {stuck_at:.3f}, loss {two_valleys(stuck_at):+.3f}")
print(f"from x = -2: ends at x = {global_at:.3f}, loss {two_valleys(global_at):+.3f}")
deep_min, ridge, shallow_min = np.sort(np.roots([1, 0, -1, 0.3]).real)  # where the slope x³ - x + 0.3 is zero
print(f"the slope is zero at x = {deep_min:.3f} (deep valley), {ridge:.3f} (ridge), {shallow_min:.3f} (shallow valley)")

# %%
grid = np.linspace(-2.1, 2.1, 300)
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(grid, two_valleys(grid), color="k", lw=1.5, label="f(x)")
for walk, color, name in ((walk_right, "#d62728", "start at x = 2"), (walk_left, "#1f77b4", "start at x = -2")):
    ax.plot(walk, two_valleys(walk), "o-", color=color, ms=4, lw=1, label=name)
    ax.plot(walk[0], two_valleys(walk[0]), "s", color=color, ms=8, mec="k")
ax.annotate("stuck in the\nshallow valley", (stuck_at, two_valleys(stuck_at)), (1.0, 0.9),
            arrowprops=dict(arrowstyle="->"), fontsize=9)
ax.annotate("the deeper valley", (global_at, two_valleys(global_at)), (-1.1, 0.9),
            arrowprops=dict(arrowstyle="->"), fontsize=9)
ax.set_xlabel("x")
ax.set_ylabel("loss f(x)")
ax.set_title("Gradient descent, 25 steps of η = 0.1: big steps where it is steep, small near the bottom")
ax.legend(loc="upper center")
plt.show()

# %% [markdown]
# Two things to notice:
#
# * the steps shrink by themselves: near a minimum the slope is small, so $\eta f'(x)$ is small;
# * descent only sees the slope where it stands. From $x = 2$ it settles in the **local minimum** at
#   $x \approx 0.79$ (after 25 steps it is at 0.81 and still creeping closer) and never learns that a deeper valley exists on the left. Section 4 shows how
#   mini-batch noise can change that.

# %% [markdown]
# ## 2. Two dimensions: the loss of a straight line
#
# A real loss depends on many weights at once. The smallest real example has two: fit a line
# $\hat y = w x + b$ to 64 points by minimising the mean squared error
#
# $$ L(w, b) = \frac1n \sum_i (w x_i + b - y_i)^2 . $$
#
# Each pair $(w, b)$ is one line, and one point on a 2-D loss **surface**. The **gradient** collects the two
# partial derivatives (chain rule, with the residual $r_i = w x_i + b - y_i$):
#
# $$ \frac{\partial L}{\partial w} = \frac2n \sum_i r_i x_i, \qquad \frac{\partial L}{\partial b} = \frac2n \sum_i r_i . $$

# %%
rng = np.random.default_rng(0)
x_line = rng.uniform(0, 3, 64)
y_line = 2 * x_line + 1 + rng.normal(0, 0.5, 64)  # the truth is w = 2, b = 1, plus noise


def line_loss(p, x=x_line, y=y_line):
    """Mean squared error of the line y = w x + b, with p = (w, b)."""
    w, b = p
    return np.mean((w * x + b - y) ** 2)


def line_grad(p, x=x_line, y=y_line):
    """The gradient (dL/dw, dL/db), worked out by hand."""
    w, b = p
    r = w * x + b - y
    return np.array([2 * np.mean(r * x), 2 * np.mean(r)])


p_best = np.linalg.lstsq(np.c_[x_line, np.ones_like(x_line)], y_line, rcond=None)[0]  # the exact minimum
loss_best = line_loss(p_best)
print(f"best line: w = {p_best[0]:.3f}, b = {p_best[1]:.3f}, loss {loss_best:.4f}")

# %% [markdown]
# Autograd agrees with the hand-derived gradient here too (PyTorch, in double precision):

# %%
P0 = np.array([-1.0, 4.0])  # every 2-D walk in this lesson starts from the line y = -x + 4

p_torch = torch.tensor(P0, requires_grad=True)
loss_torch = ((p_torch[0] * torch.from_numpy(x_line) + p_torch[1] - torch.from_numpy(y_line)) ** 2).mean()
loss_torch.backward()
grad_err_line = float(np.max(np.abs(p_torch.grad.numpy() - line_grad(P0))))
print("by hand:", line_grad(P0), "  PyTorch:", p_torch.grad.numpy(), f"  difference {grad_err_line:.1e}")

# %% [markdown]
# ### Exercise 1 (graded, 3 points): one step, then the whole walk
#
# Write two functions that work for **any** differentiable function, in any number of dimensions:
#
# * `gd_step(grad, x, lr)` returns the point after one step, $x - \eta\,\nabla f(x)$, where `grad(x)`
#   returns the gradient at `x`. Return a new value; do not change `x` in place.
# * `gradient_descent(grad, x0, lr, steps)` takes `steps` steps from `x0` and returns the whole **path** as
#   one NumPy array of shape `(steps + 1, *np.shape(x0))`: `x0` first, then the point after every step.
#   `x0` may be a number or an array, and must not be modified.
#
# Hint: `np.array(x0, dtype=float)` makes a float copy; collect the points in a list and call `np.array`
# on it at the end.

# %% nbgrader={"grade": false, "grade_id": "gd", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gd_step(grad, x, lr):
    """One step of gradient descent from x."""
    ### BEGIN SOLUTION
    return x - lr * np.asarray(grad(x), dtype=float)
    ### END SOLUTION


def gradient_descent(grad, x0, lr, steps):
    """The path of `steps` gradient-descent steps from x0, x0 included: shape (steps + 1, *shape of x0)."""
    ### BEGIN SOLUTION
    x = np.array(x0, dtype=float)
    path = [x.copy()]
    for _ in range(steps):
        x = gd_step(grad, x, lr)
        path.append(x.copy())
    return np.array(path)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gd_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
checks.check_close(gd_step(two_valleys_slope, 2.0, 0.1), 2.0 - 0.1 * two_valleys_slope(2.0),
                   name="gd_step(two_valleys_slope, 2.0, 0.1)", say=True)
path_1d = gradient_descent(two_valleys_slope, 2.0, 0.1, 25)
checks.check_shape(path_1d, (26,), name="gradient_descent(two_valleys_slope, 2.0, 0.1, 25)")
checks.check_close(path_1d, walk_right, name="the 1-D walk from x = 2", say=True)
path_2d = gradient_descent(line_grad, P0, 0.1, 5)
checks.check_shape(path_2d, (6, 2), name="gradient_descent(line_grad, P0, 0.1, 5)")
checks.check_close(path_2d, descent.descend(line_grad, P0, 0.1, 5), name="the 2-D walk on the line loss", say=True)
### BEGIN HIDDEN TESTS
def _rosenbrock_grad(p):
    return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)])


checks.check_close(gradient_descent(_rosenbrock_grad, np.array([-1.0, 1.5]), 1e-3, 50),
                   descent.descend(_rosenbrock_grad, [-1.0, 1.5], 1e-3, 50), name="walk on the Rosenbrock function")
checks.check_close(gradient_descent(np.cos, 1.0, 0.5, 10), descent.descend(np.cos, 1.0, 0.5, 10),
                   name="walk on sin(x) from a plain number")
checks.check_close(gradient_descent(_rosenbrock_grad, np.array([0.5, 0.5]), 0.1, 0), [[0.5, 0.5]],
                   name="gradient_descent with steps=0")
_A = np.diag([1.0, 2.0, 3.0])
_x0 = np.array([3.0, -2.0, 1.0])
_bowl = gradient_descent(lambda v: _A @ v, _x0, 0.1, 200)
assert np.array_equal(_x0, [3.0, -2.0, 1.0]), "gradient_descent changed x0 in place: work on a copy"
checks.check_shape(_bowl, (201, 3), name="gradient_descent on a 3-D bowl")
checks.check_close(_bowl[-1], np.zeros(3), atol=1e-6, name="end of the walk on a 3-D bowl")
_x = np.array([1.0, 1.0])
gd_step(lambda v: 2 * v, _x, 0.1)
assert np.array_equal(_x, [1.0, 1.0]), "gd_step changed x in place: return a new array instead"
checks.check_close(gd_step(lambda v: np.array([2 * v[0], -v[1]]), np.array([1.0, 1.0]), 0.25), [0.5, 1.25],
                   name="gd_step on another function")
### END HIDDEN TESTS

# %% [markdown]
# From here on the lesson uses `descent.descend(grad, x0, lr, steps)`, the course's version of your
# `gradient_descent`. Here is the 2-D walk, drawn on the contour map of the loss (darker = lower; the star
# is the exact minimum), next to the lines it visits:

# %%
surface = descent.Surface(lambda W, B: ((W[..., None] * x_line + B[..., None] - y_line) ** 2).mean(-1),
                          xlim=(-1.5, 4.5), ylim=(-2.5, 5.0), labels=("slope w", "intercept b"), minimum=p_best)
walk_2d = descent.descend(line_grad, P0, lr=0.1, steps=60)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
surface.draw(ax1, title="60 steps of η = 0.1 on L(w, b)")
surface.path(ax1, walk_2d)
ax2.scatter(x_line, y_line, s=12, color="grey")
for k, alpha in ((0, 0.25), (3, 0.4), (10, 0.6), (60, 1.0)):
    w, b = walk_2d[k]
    ax2.plot([0, 3], [b, 3 * w + b], color="#d62728", alpha=alpha, label=f"after {k} steps")
ax2.set_xlabel("x")
ax2.set_ylabel("y")
ax2.set_title("The same walk, as lines")
ax2.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The surface is a long, narrow valley: changing $w$ and $b$ together in one direction barely changes
# the fit, in the other it changes a lot. The path first drops across the valley, then walks slowly
# along its floor. That shape — steep across, flat along — is what the learning rate has to cope with.

# %% [markdown]
# ## 3. The learning rate
#
# Same surface, same start, 40 steps, four learning rates:

# %%
lr_names = {0.02: "too small: crawls", 0.2: "about right", 0.26: "large: zig-zags", 0.28: "too large: diverges"}
lr_paths = {lr: descent.descend(line_grad, P0, lr, 40) for lr in lr_names}
lr_losses = {lr: np.array([line_loss(p) for p in path]) for lr, path in lr_paths.items()}
lr_final_loss = {lr: float(losses[-1]) for lr, losses in lr_losses.items()}

fig, axes = plt.subplot_mosaic("ABCD;EEEE", figsize=(12, 6.4), height_ratios=[1, 0.8])
colors = dict(zip(lr_names, ["#9467bd", "#2ca02c", "#ff7f0e", "#d62728"]))
for key, lr in zip("ABCD", lr_names):
    surface.draw(axes[key], title=f"η = {lr}\n{lr_names[lr]}")
    surface.path(axes[key], lr_paths[lr], color=colors[lr], ms=2.5)
    axes["E"].semilogy(lr_losses[lr] - loss_best, color=colors[lr], lw=2, label=f"η = {lr} ({lr_names[lr]})")
axes["E"].set_xlabel("step")
axes["E"].set_ylabel("loss above the minimum")
axes["E"].legend(ncol=2)
fig.tight_layout()
plt.show()
pd.Series(lr_final_loss, name="loss after 40 steps").rename_axis("learning rate").to_frame().T

# %% [markdown]
# * **Too small** (0.02): every step is safe and tiny; after 40 steps the line is still far off.
# * **About right** (0.2): fast across the valley, steady along it.
# * **Large** (0.26): each step overshoots the valley floor and lands on the opposite wall — the
#   zig-zag — but a little lower each time.
# * **Too large** (0.28): each overshoot lands *higher* than it started. The loss grows every step.
#
# ### Where is the cliff?
#
# Across the valley the loss is a parabola. A step there multiplies the distance to the floor by
# $(1 - \eta\lambda)$, where $\lambda$ is the curvature (second derivative) in that direction. While
# $|1 - \eta\lambda| < 1$ the walk shrinks towards the floor; past $\eta = 2/\lambda$ it grows. For a
# quadratic loss the curvatures are the eigenvalues of its matrix of second derivatives (the Hessian):

# %%
hessian = 2 * np.array([[np.mean(x_line**2), np.mean(x_line)], [np.mean(x_line), 1.0]])
curvatures = np.linalg.eigvalsh(hessian)
lr_crit = float(2 / curvatures.max())
print(f"curvatures: {curvatures.round(3)} (steep across the valley, flat along it)")
print(f"largest safe learning rate: 2 / {curvatures.max():.2f} = {lr_crit:.3f}")
for lr in lr_names:
    print(f"  η = {lr:<5} multiplies the distance across the valley by {1 - lr * curvatures.max():+.2f} per step")

# %% [markdown]
# 0.26 sits just below the cliff ($-0.96$: flips sign every step, shrinks slowly), 0.28 just above it
# ($-1.11$). The flat direction limits how *fast* you can go; the steep direction limits how *large* the
# learning rate may be. That tension is why the ratio of the two curvatures (the *condition number*)
# decides how hard a problem is for plain gradient descent.
#
# ### Diverging all the way to `inf` and `nan`
#
# Above the cliff the growth is geometric: at $\eta = 0.28$ the distance across the valley grows by 11%
# per step, so the loss (its square) grows by 23%. Keep going and the numbers leave
# the range of a 64-bit float ($\approx 1.8\times10^{308}$): the loss becomes `inf`, and then `inf - inf`
# turns the weights into `nan` ("not a number"), which never recovers.

# %%
long_walk = descent.descend(line_grad, P0, 0.28, 8000)
with np.errstate(over="ignore", invalid="ignore"):
    long_loss = np.array([line_loss(p) for p in long_walk])
first_inf_step = descent.first_nonfinite(long_loss)
first_nan_step = int(np.flatnonzero(np.isnan(long_walk).any(axis=1))[0])
diverged = not np.isfinite(long_loss[-1])
for step in (0, 10, 100, 1000, first_inf_step - 1, first_inf_step, first_nan_step, 8000):
    print(f"step {step:>5}: loss {long_loss[step]:<10.4g}  (w, b) = {long_walk[step]}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
    log_loss = np.log10(long_loss)
finite = np.isfinite(log_loss)
ax.plot(np.flatnonzero(finite), log_loss[finite], color="#d62728", lw=2)
ax.axhline(np.log10(np.finfo(float).max), color="grey", lw=0.8)
ax.text(100, 300, "largest float64", fontsize=8, color="grey", va="top")
ax.axvline(first_inf_step, color="k", ls="--", lw=1)
ax.text(first_inf_step, 150, f"  loss = inf\n  from step {first_inf_step}", fontsize=9)
ax.axvline(first_nan_step, color="grey", ls=":", lw=1.5)
ax.text(first_nan_step, 50, f"  w, b = nan\n  from step {first_nan_step}", fontsize=9)
ax.set_xlim(0, len(long_loss))
ax.set_xlabel("step")
ax.set_ylabel("log₁₀ loss")
ax.set_title("η = 0.28: the loss grows by 23% every step until it overflows")
plt.show()

# %% [markdown]
# ### The same on a real model
#
# The digits classifier from lesson 01 (64 → 32 → 10, cross-entropy), trained for 100 steps with plain SGD
# in fastai, at three learning rates. `helpers.fastai_side.train` builds a fastai `Learner`
# and calls `fit`, as lesson 01 did by hand; it returns the loss of every step and the final accuracy.

# %%
digits = data.digits(valid_pct=0.2, seed=0)
dls_digits = helpers.fastai_side.dataloaders(*digits, bs=64)

real_runs = {}
for lr in (0.003, 0.3, 30.0):
    model = helpers.fastai_side.mlp([64, 32, 10], seed=0)  # the same starting weights every time
    real_runs[lr] = helpers.fastai_side.train(model, dls_digits, steps=100, lr=lr, opt="sgd", label=f"η = {lr:g}")
real_acc = {lr: run.final["valid_accuracy"] for lr, run in real_runs.items()}
too_large = real_runs[30.0].loss
real_diverged = bool(max(too_large) > 10 * too_large[0] and np.mean(too_large[-20:]) > too_large[0])

ax = compare.curves(*real_runs.values(), logy=True, title="Digits, plain SGD: training loss per step", smooth=5)
ax.axhline(np.log(10), color="grey", ls=":", lw=1)
ax.text(100, np.log(10) * 1.1, "guessing (ln 10)", ha="right", fontsize=8, color="grey")
plt.show()
compare.table(*real_runs.values(), metrics=["valid_loss", "valid_accuracy"])

# %% [markdown]
# The picture from the 2-D surface carries over. At 0.003 the loss has barely moved from guessing
# ($\ln 10 \approx 2.3$ for ten classes). At 0.3 it trains well. At 30 the first step throws the weights
# so far that the loss jumps far above where it started and accuracy falls to chance (10%); the network is
# wrecked even though its cross-entropy, computed in a numerically careful way, stays a finite number.

# %% [markdown]
# A model whose loss is a quadratic bowl, like the line's, shows the whole collapse. Linear regression on
# scikit-learn's bundled diabetes data (442 patients, 10 standardised measurements), plain SGD in fastai
# (batches of 442) with mean squared error: its cliff is $2/\lambda_{max}$ again, and we step at twice that.

# %%
from sklearn.datasets import load_diabetes  # noqa: E402

X_diab, y_diab = load_diabetes(return_X_y=True)
X_diab = ((X_diab - X_diab.mean(0)) / X_diab.std(0)).astype(np.float32)
y_diab = ((y_diab - y_diab.mean()) / y_diab.std()).astype(np.float32).reshape(-1, 1)
lr_crit_diabetes = float(2 / np.linalg.eigvalsh(2 * X_diab.T @ X_diab / len(X_diab)).max())

regression = helpers.fastai_side.mlp([10, 1], seed=0)  # one linear layer
blowup = helpers.fastai_side.train(regression, helpers.fastai_side.dataloaders(X_diab, y_diab, bs=len(X_diab)),
                                   steps=100, lr=2 * lr_crit_diabetes, opt="sgd", loss="mse")
weights_after = helpers.fastai_side.get_weights(regression)[0].ravel()
real_nan = bool(np.isnan(weights_after).all())
print(f"cliff 2/λ_max = {lr_crit_diabetes:.3f}; trained at η = {2 * lr_crit_diabetes:.3f}")
for step in (1, 5, 10, 20, 30):
    print(f"  loss at step {step:>2}: {blowup.loss[step - 1]:.3g}")
print("weights after 100 steps:", weights_after)

# %% [markdown]
# Within a few dozen steps the loss passes $10^{30}$, overflows the 32-bit floats PyTorch trains in
# (largest $\approx 3.4\times10^{38}$), and every weight ends as `nan`. In practice a `nan` loss is the
# signature of a learning rate that is too large; Keras even ships a callback, `TerminateOnNaN`, that stops
# training when it happens.

# %% [markdown]
# ### Exercise 2 (graded, 2 + 2 points): pick a learning rate
#
# The `ravine` below is a loss with curvature 10 in one direction and 1 in the other. Starting from
# $(1, 1)$, gradient descent must bring the loss below $10^{-6}$ within **60 steps**.
#
# 1. Set `lr_ravine` to a learning rate that does it (2 points). Experiment first if you like — e.g.
#    `ravine(descent.descend(ravine_grad, RAVINE_START, 0.05, 60)[-1])` in a new cell.
# 2. In the markdown cell below it, explain your choice (2 points, graded by your instructor): why does a
#    learning rate of 0.25 fail, why does 0.05 fail, and what limits the choice from each side?

# %%
def ravine(p):
    return 5 * p[0] ** 2 + 0.5 * p[1] ** 2  # curvature 10 along the first axis, 1 along the second


def ravine_grad(p):
    return np.array([10 * p[0], p[1]])


RAVINE_START, RAVINE_STEPS, RAVINE_TOL = (1.0, 1.0), 60, 1e-6

# %% nbgrader={"grade": false, "grade_id": "pick_lr", "locked": false, "schema_version": 3, "solution": true, "task": false}
# lr_ravine = a number
### BEGIN SOLUTION
lr_ravine = 2 / (10 + 1)  # balances the two directions: both shrink by 9/11 per step
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "pick_lr_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
checks.check_type(lr_ravine, (int, float), name="lr_ravine")
_ravine_end = descent.descend(ravine_grad, RAVINE_START, lr_ravine, RAVINE_STEPS)[-1]
checks.check_finite(_ravine_end, name=f"the point after {RAVINE_STEPS} steps")
checks.check_between(ravine(_ravine_end), 0, RAVINE_TOL, name=f"ravine loss after {RAVINE_STEPS} steps", say=True)
### BEGIN HIDDEN TESTS
for _start in np.random.default_rng(3).uniform(-1, 1, size=(20, 2)):
    _end = descent.descend(ravine_grad, _start, lr_ravine, RAVINE_STEPS)[-1]
    checks.check_between(ravine(_end), 0, RAVINE_TOL, name=f"ravine loss after {RAVINE_STEPS} steps from {_start.round(2)}")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": true, "grade_id": "pick_lr_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# Each step multiplies the first coordinate by $(1 - 10\eta)$ and the second by $(1 - \eta)$. At
# $\eta = 0.25$ the first factor is $-1.5$: the steep direction overshoots more every step and diverges
# (the cliff is at $2/10 = 0.2$). At $\eta = 0.05$ everything is stable, but the flat direction only
# shrinks by $0.95$ per step, $0.95^{60} \approx 0.05$, so its loss $0.5 \cdot 0.05^2 \approx 10^{-3}$ is
# still far above $10^{-6}$. So the steep direction caps $\eta$ from above ($< 0.2$) and the flat
# direction needs it large enough (above about 0.1) to finish in 60 steps. $\eta = 2/11 \approx 0.18$
# makes both factors equal in size ($\pm 9/11$), the fastest worst case: the loss is about $10^{-10}$ after
# 60 steps.
# ### END SOLUTION

# %% [markdown]
# ## 4. Mini-batches
#
# The line loss averages over all 64 points. Computing the gradient on **all** the data for every step is
# *full-batch* gradient descent. With millions of examples that is far too slow, so in practice every step
# uses a small random **mini-batch**: the gradient on a handful of points is a noisy but unbiased estimate
# of the full one, and is much cheaper. With a batch of one sample this is classic *stochastic gradient
# descent* (SGD); today "SGD" usually means mini-batches.
#
# Each pass over the data is an **epoch**. The data are shuffled at the start of every epoch and cut into
# batches; every sample is used exactly once per epoch.
#
# ### Exercise 3 (graded, 3 points): a shuffling mini-batch iterator
#
# Write a generator `minibatches(X, y, bs, seed=None)` that goes through the data once in random order and
# yields `(X_batch, y_batch)` pairs of `bs` rows each — the **last batch is smaller** when `bs` does not
# divide the number of rows. Rows of `X` and `y` must stay paired. Use `np.random.default_rng(seed)` so
# that the same seed gives the same order.
#
# Hint: shuffle the *indices* (`rng.permutation(n)`), then slice them `bs` at a time and `yield`.

# %% nbgrader={"grade": false, "grade_id": "minibatches", "locked": false, "schema_version": 3, "solution": true, "task": false}
def minibatches(X, y, bs, seed=None):
    """One shuffled epoch over (X, y) in batches of bs rows (the last may be smaller)."""
    ### BEGIN SOLUTION
    X, y = np.asarray(X), np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(X))
    for start in range(0, len(X), bs):
        idx = order[start:start + bs]
        yield X[idx], y[idx]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "minibatches_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
X_small, y_small = np.arange(10).reshape(10, 1), 10 * np.arange(10)
batches = list(minibatches(X_small, y_small, 4, seed=0))
checks.check_close([len(xb) for xb, _ in batches], [4, 4, 2], name="batch sizes for 10 rows and bs=4", say=True)
for xb, yb in batches:
    checks.check_close(yb, 10 * xb[:, 0], name="y values paired with their X rows")
### BEGIN HIDDEN TESTS
_X = np.arange(103 * 2).reshape(103, 2)
_y = _X[:, 0] * 3
_epoch = list(minibatches(_X, _y, 16, seed=7))
checks.check_close([len(xb) for xb, _ in _epoch], [16] * 6 + [7], name="batch sizes for 103 rows and bs=16")
_seen = np.concatenate([xb[:, 0] for xb, _ in _epoch])
checks.check_close(np.sort(_seen), _X[:, 0], name="every row exactly once per epoch")
for _xb, _yb in _epoch:
    checks.check_close(_yb, _xb[:, 0] * 3, name="y paired with X")
_again = np.concatenate([xb[:, 0] for xb, _ in minibatches(_X, _y, 16, seed=7)])
checks.check_close(_again, _seen, name="the same order for the same seed")
_other = np.concatenate([xb[:, 0] for xb, _ in minibatches(_X, _y, 16, seed=8)])
assert not np.array_equal(_other, _seen), "seed=8 gave the same order as seed=7: use the seed to shuffle"
assert not np.array_equal(_seen, np.sort(_seen)), "the rows come out in their original order: shuffle them"
checks.check_close([len(xb) for xb, _ in minibatches(_X, _y, 500, seed=0)], [103], name="one batch when bs > rows")
checks.check_close(len(list(minibatches(_X, _y, 1, seed=0))), 103, name="number of batches with bs=1")
### END HIDDEN TESTS

# %% [markdown]
# ### Noisy, but right on average
#
# Cut the 64 points into 8 batches of 8 and compute the gradient of each batch's loss at the starting point
# $P_0$. The individual batch gradients scatter widely; their average over the epoch is exactly the
# full-batch gradient (equal-sized batches, every point once).

# %%
batch_grads = np.array([line_grad(P0, xb, yb) for xb, yb in descent.minibatches(x_line, y_line, 8, seed=0)])
print("full-batch gradient:       ", line_grad(P0).round(3))
print("the 8 batch gradients:\n", batch_grads.round(3))
print("their average:             ", batch_grads.mean(axis=0).round(3))
batch_mean_error = float(np.max(np.abs(batch_grads.mean(axis=0) - line_grad(P0))))

# %% [markdown]
# ### The noise in the path
#
# Mini-batch descent on the line loss, with `descent.minibatches` (the course's version of yours): same
# learning rate, same number of steps, three batch sizes.

# %%
def sgd_line(lr, bs, steps, p0=P0, seed=0):
    """Mini-batch gradient descent on the line loss: the path, one point per step."""
    p, path, epoch = np.array(p0, dtype=float), [np.array(p0, dtype=float)], 0
    with np.errstate(over="ignore", invalid="ignore"):
        while len(path) <= steps:
            for xb, yb in descent.minibatches(x_line, y_line, bs, seed=seed * 10_000 + epoch):
                p = p - lr * line_grad(p, xb, yb)  # the gradient of this batch's loss only
                path.append(p)
                if len(path) > steps:
                    break
            epoch += 1
    return np.array(path)


noise_paths = {bs: sgd_line(0.1, bs, steps=100) for bs in (64, 8, 1)}
noise_jitter = {bs: float(np.mean(np.linalg.norm(np.diff(path[-30:], axis=0), axis=1))) for bs, path in noise_paths.items()}

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
for ax, (bs, path), name in zip(axes, noise_paths.items(), ["full batch", "mini-batch", "single sample"]):
    surface.draw(ax, title=f"{name} (bs = {bs}): 100 steps, η = 0.1")
    surface.path(ax, path, color="#d62728", ms=2, lw=1)
    ax.text(-1.3, -2.2, f"mean step length, last 30 steps: {noise_jitter[bs]:.3f}", fontsize=8)
for ax in axes[1:]:
    ax.set_ylabel("")
fig.tight_layout()
plt.show()

# %% [markdown]
# Full-batch descent follows the smooth path from section 2 and slows to a crawl near the minimum. Smaller
# batches head the same way on average, but every step is pushed around by *which* points happened to be in
# the batch; with one sample per step the path keeps wandering around the minimum instead of settling
# (compare the step lengths at the end). That is why training with a constant learning rate ends noisy, and
# why schedules lower the learning rate towards the end (section 6).
#
# ### Noise can be useful: escaping a shallow valley
#
# Back to the 1-D landscape with two valleys, now as a loss over data. Each of 256 samples $i$ has its own
# loss: the landscape tilted a little, $f(x) + c_i\,x$, with tilts $c_i$ that average exactly to zero — so
# the full-batch loss is exactly $f(x)$ again, but a mini-batch sees a randomly tilted landscape.

# %%
tilts = np.random.default_rng(1).normal(size=256)
tilts = 2.0 * (tilts - tilts.mean()) / tilts.std()  # mean exactly 0, spread 2

fig, ax = plt.subplots(figsize=(6, 3.4))
for c in tilts[:15]:
    ax.plot(grid, two_valleys(grid) + c * grid, color="grey", lw=0.6, alpha=0.6)
ax.plot(grid, two_valleys(grid) + tilts.mean() * grid, color="k", lw=2.5, label="average over all 256 samples")
ax.plot([], [], color="grey", lw=0.6, label="the loss of single samples")
ax.set_ylim(-3, 4)
ax.set_xlabel("x")
ax.set_ylabel("loss")
ax.set_title("Each sample tilts the landscape; the average is f(x)")
ax.legend(loc="upper center")
plt.show()

# %% [markdown]
# Now start 200 runs at $x = 2$ — every run shuffles the data its own way — and take 200 steps with
# $\eta = 0.05$ for each batch size. The loop runs all 200 runs at once: `x` holds one position per run.
# A run "escaped" if it ends in the deep valley ($x < 0$).

# %%
def sgd_many(bs, steps=200, lr=0.05, x0=2.0, runs=200, seed=0):
    """Mini-batch descent on the tilted landscape for `runs` runs at once; positions per step, (steps+1, runs)."""
    rng = np.random.default_rng(seed)
    x = np.full(runs, x0)
    trace = [x]
    while len(trace) <= steps:
        order = rng.permuted(np.tile(np.arange(len(tilts)), (runs, 1)), axis=1)  # one shuffle per run
        for start in range(0, len(tilts), bs):
            batch = order[:, start:start + bs]  # (runs, bs) sample indices
            x = x - lr * (two_valleys_slope(x) + tilts[batch].mean(axis=1))
            trace.append(x)
            if len(trace) > steps:
                break
    return np.array(trace)


batch_sizes = [256, 64, 16, 4, 2, 1]
traces = {bs: sgd_many(bs) for bs in batch_sizes}
escape = {bs: float(np.mean(trace[-1] < 0)) for bs, trace in traces.items()}
# runs that got deep into the left valley (x < -0.5) at some step, but ended outside it
went_back = {bs: float(np.mean((trace < -0.5).any(axis=0) & (trace[-1] > 0))) for bs, trace in traces.items()}
pd.DataFrame({"escaped: ends in the deep valley": escape,
              "reached the deep valley, then left it": went_back}).rename_axis("batch size").T

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
for bs, color, lw in ((1, "#d62728", 0.8), (4, "#ff7f0e", 0.8), (256, "k", 2.0)):
    ax1.plot(traces[bs][:, :12], color=color, lw=lw, alpha=0.7)
    ax1.plot([], [], color=color, label=f"bs = {bs}" + (" (full batch)" if bs == 256 else ""))
ax1.axhline(shallow_min, color="grey", ls=":", lw=1)
ax1.axhline(deep_min, color="grey", ls=":", lw=1)
ax1.text(200, shallow_min + 0.08, "shallow valley", ha="right", fontsize=8)
ax1.text(200, deep_min + 0.08, "deep valley", ha="right", fontsize=8)
ax1.set_xlabel("step")
ax1.set_ylabel("x")
ax1.set_title("12 runs per batch size")
ax1.legend(loc="lower left", frameon=True, framealpha=0.9)
ax2.bar([str(bs) for bs in batch_sizes], [escape[bs] for bs in batch_sizes], color="#1f77b4")
for i, bs in enumerate(batch_sizes):
    ax2.text(i, escape[bs] + 0.02, f"{escape[bs]:.0%}", ha="center", fontsize=9)
ax2.set_ylim(0, 1.12)
ax2.set_xlabel("batch size")
ax2.set_ylabel("fraction that escaped")
ax2.set_title("Escapes from the shallow valley (200 runs)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Full-batch descent (and large batches, whose average tilt is nearly zero) lands in the shallow valley in
# every one of the 200 runs: it is deterministic, and the slope at the bottom of a valley is zero. Small
# batches jiggle enough to be kicked over the low ridge into the deep valley, and once there the ridge back
# is too high to climb. Same learning rate, same number of steps, same data: only the noise differs.
#
# Noise cuts both ways: it can carry the descent out of a poor valley, and it is also what keeps the line fit
# above from settling.

# %% [markdown]
# ### Try it: learning rate and batch size
#
# Drag the learning rate (log scale) and pick a batch size: the path on the line loss and its loss curve
# are recomputed and redrawn (60 steps, NumPy). Find the cliff from section 3; see how a small batch makes
# even a good learning rate wander. Is the largest safe learning rate the same for every batch size?

# %%
def draw_sgd(lr, bs):
    path = sgd_line(lr, bs, steps=60)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.array([line_loss(p) for p in path])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    surface.draw(ax1, title=f"η = {lr:.3g}, batch size {bs}")
    surface.path(ax1, path, ms=2.5)
    ok = np.isfinite(losses)
    ax2.semilogy(np.flatnonzero(ok), losses[ok], color="#d62728", lw=1.8)
    ax2.axhline(loss_best, color="grey", ls=":", lw=1, label="minimum")
    verdict = "diverged" if not ok.all() or losses[-1] > losses[0] else f"final loss {losses[-1]:.3f}"
    ax2.set_title(f"full-data loss per step: {verdict}")
    ax2.set_xlabel("step")
    ax2.set_ylim(loss_best * 0.8, max(losses[0] * 3, 1))
    ax2.legend()
    fig.tight_layout()


explorer = widgets.Explorer(
    draw_sgd,
    lr=widgets.log_slider("learning rate η", 0.1, -3, 0),
    bs=widgets.choice("batch size", [1, 4, 16, 64], value=16),
)
explorer

# %% [markdown]
# ## 5. Momentum and Adam, briefly
#
# Plain gradient descent only looks at the slope where it stands. Two small changes give the optimisers that
# frameworks use by default:
#
# * **Momentum** keeps a running sum of past gradients (a *velocity*, decaying by $\beta$ each step) and
#   steps along that. Directions where the gradient keeps pointing the same way (the valley floor) build up
#   speed; directions where it flips sign (across the valley) cancel out.
# * **Adam** also keeps a running average of the *squared* gradient per weight and divides each step by its
#   square root. Every weight then moves about $\eta$ per step, however steep or flat its direction: the
#   learning rate becomes a step *length*.

# %%
def momentum_descent(grad, x0, lr, steps, beta=0.9):
    x = np.array(x0, dtype=float)
    velocity, path = np.zeros_like(x), [x]
    for _ in range(steps):
        velocity = beta * velocity + grad(x)
        x = x - lr * velocity
        path.append(x)
    return np.array(path)


def adam_descent(grad, x0, lr, steps, beta1=0.9, beta2=0.999, eps=1e-8):
    x = np.array(x0, dtype=float)
    m, v, path = np.zeros_like(x), np.zeros_like(x), [x]
    for t in range(1, steps + 1):
        g = grad(x)
        m = beta1 * m + (1 - beta1) * g  # running mean of the gradient (momentum)
        v = beta2 * v + (1 - beta2) * g**2  # running mean of its square
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)  # correct the start-up bias of both averages
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(x)
    return np.array(path)


# %% [markdown]
# These are exactly the updates PyTorch implements: run `torch.optim.SGD(momentum=0.9)` and
# `torch.optim.Adam` on the same loss and the paths coincide.

# %%
def torch_path(make_optimizer, steps):
    p = torch.tensor(P0, requires_grad=True)
    opt = make_optimizer([p])
    x_t, y_t = torch.from_numpy(x_line), torch.from_numpy(y_line)
    out = [P0.copy()]
    for _ in range(steps):
        opt.zero_grad()
        ((p[0] * x_t + p[1] - y_t) ** 2).mean().backward()
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


opt_paths = {
    "gradient descent, η = 0.05": descent.descend(line_grad, P0, 0.05, 100),
    "momentum 0.9, η = 0.05": momentum_descent(line_grad, P0, 0.05, 100),
    "Adam, η = 0.1": adam_descent(line_grad, P0, 0.1, 100),
}
momentum_matches_torch = bool(np.allclose(
    opt_paths["momentum 0.9, η = 0.05"], torch_path(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), 100)))
adam_matches_torch = bool(np.allclose(opt_paths["Adam, η = 0.1"], torch_path(lambda ps: torch.optim.Adam(ps, lr=0.1), 100)))
print("NumPy momentum == torch.optim.SGD(momentum=0.9):", momentum_matches_torch)
print("NumPy Adam     == torch.optim.Adam:            ", adam_matches_torch)

# %%
opt_final = {name: float(line_loss(path[-1]) - loss_best) for name, path in opt_paths.items()}
opt_colors = ["#7f7f7f", "#1f77b4", "#d62728"]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
surface.draw(ax1, title="Three optimisers, 100 steps each")
for (name, path), color in zip(opt_paths.items(), opt_colors):
    surface.path(ax1, path, color=color, label=name, ms=2)
    with np.errstate(divide="ignore"):
        ax2.semilogy([line_loss(p) - loss_best for p in path], color=color, lw=2, label=name)
ax1.legend(fontsize=8, loc="lower left")
ax2.set_xlabel("step")
ax2.set_ylabel("loss above the minimum")
ax2.set_title("Loss per step")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
adam_first_steps = np.abs(np.diff(opt_paths["Adam, η = 0.1"][:4], axis=0))
gd_first_steps = np.abs(np.diff(opt_paths["gradient descent, η = 0.05"][:4], axis=0))
print(pd.Series(opt_final, name="loss above the minimum after 100 steps").to_string(float_format="%.2e"))
print("first 3 steps, |Δw| and |Δb|:\n  gradient descent:", gd_first_steps.round(3).tolist(),
      "\n  Adam:            ", adam_first_steps.round(3).tolist())

# %% [markdown]
# At the same learning rate, momentum overshoots but rolls along the valley floor, and its loss ends about a
# thousand times closer to the minimum than plain descent's. Adam's first steps have length $\eta = 0.1$ in *both* coordinates, so it
# heads across and along the valley at the same pace. Note that Adam's good learning rates are therefore
# different from plain SGD's — one reason every framework ships its own defaults.

# %% [markdown]
# ## 6. The frameworks: defaults, `lr_find`, schedules and callbacks
#
# Everything above is what `Learner.fit` and `model.fit` do inside. What differs between fastai and Keras is
# what they choose for you, and how much code a change takes. We train the digits classifier from section 3
# in both, with the **same data, model, batch size (64) and budget: 4 epochs = 92 steps**.

# %%
from fastai.basics import *  # noqa: E402,F403 - fastai's documented import style
from fastai.callback.all import *  # noqa: E402,F403
import keras  # noqa: E402

EPOCHS, BS = 4, 64
STEPS = EPOCHS * math.ceil(len(digits.X_train) / BS)


def make_fastai_model():
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def make_keras_model():
    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])


print(f"{EPOCHS} epochs of {len(digits.X_train)} digits in batches of {BS} = {STEPS} steps")

# %% [markdown]
# ### What each framework picks when you say nothing
#
# A fastai `Learner` uses Adam unless told otherwise. Keras's `compile` falls back to RMSprop, but nearly
# every Keras example — and this course — passes `optimizer="adam"`:

# %%
import inspect  # noqa: E402

print("fastai Learner(opt_func=...) default:", inspect.signature(Learner).parameters["opt_func"].default.__name__)
print("Keras compile(optimizer=...) default:", inspect.signature(keras.Model.compile).parameters["optimizer"].default)

# %% [markdown]
# So both use Adam — but not the same Adam, and only fastai comes with a schedule:

# %%
learn_default = Learner(dls_digits, make_fastai_model(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
fa_opt = {k: v.default for k, v in inspect.signature(learn_default.opt_func).parameters.items()
          if v.default is not inspect.Parameter.empty}
ks_opt = keras.optimizers.Adam().get_config()
pd.DataFrame({
    "fastai (Learner)": [learn_default.opt_func.__name__, f"{learn_default.lr:g}", f"{fa_opt['mom']:g}",
                         f"{fa_opt['sqr_mom']:g}", f"{fa_opt['eps']:g}", f"{fa_opt['wd']:g} (decoupled)",
                         "fit_one_cycle: warm up, then anneal"],
    "Keras (compile)": ["Adam", f"{ks_opt['learning_rate']:g}", f"{ks_opt['beta_1']:g}", f"{ks_opt['beta_2']:g}",
                        f"{ks_opt['epsilon']:g}", str(ks_opt["weight_decay"]), "constant (fit)"],
}, index=["optimizer", "learning rate", "β₁ (momentum)", "β₂ (squared-gradient average)", "ε", "weight decay",
          "schedule"])

# %% [markdown]
# ### Defaults against defaults
#
# fastai: a `Learner` and `fit_one_cycle(EPOCHS)`, which uses the default learning rate $10^{-3}$ as its
# peak. Keras: `compile(optimizer="adam")` and `fit`. (Keras's default batch size is 32; we pass 64 so the
# step budget matches.) `no_bar()` and `verbose=0` keep the output quiet; we plot the curves afterwards.

# %%
with compare.timed() as t_fa_default, learn_default.no_bar(), learn_default.no_logging():
    learn_default.fit_one_cycle(EPOCHS)

# %%
keras_default = make_keras_model()
keras_default.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
with compare.timed() as t_ks_default:
    hist_default = keras_default.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid),
                                     epochs=EPOCHS, batch_size=BS, verbose=0)

# %% [markdown]
# ### fastai, tuned: `lr_find`, then `fit_one_cycle`
#
# `lr_find` trains for ~100 mini-batches while raising the learning rate exponentially from $10^{-7}$ to 10,
# records the loss, and restores the weights. The plot is section 3 in one picture: on the left the rate is
# too small to matter, then the loss falls, then it blows up. fastai marks suggestions on it: `valley` (its
# default: a cautious point in the longest descent), `steep` (where the loss falls fastest) and `minimum`
# (a tenth of the rate at the lowest loss).

# %%
learn_tuned = Learner(dls_digits, make_fastai_model(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
with compare.timed() as t_find, learn_tuned.no_bar():
    suggested = learn_tuned.lr_find(suggest_funcs=(minimum, steep, valley))
plt.gcf().set_size_inches(6, 3.4)
plt.show()
print(suggested)

# %% [markdown]
# On this small, well-behaved problem `valley` is on the cautious side, so we take `steep`. Then changing the
# learning rate *and* its schedule is one argument:

# %%
with compare.timed() as t_fa_tuned, learn_tuned.no_bar(), learn_tuned.no_logging():
    learn_tuned.fit_one_cycle(EPOCHS, lr_max=suggested.steep)

# %% [markdown]
# ### Keras, tuned: a learning rate and a schedule callback
#
# Keras has no learning-rate finder, so we borrow fastai's answer for the same model and data. The schedule
# is a callback: `LearningRateScheduler` calls our function at the start of every epoch and sets the
# optimizer's learning rate. A cosine decay from the peak to near zero is the closest built-in-callback
# match to `fit_one_cycle` (which also warms up, and changes the rate every *step*, not every epoch).

# %%
lr_keras = float(suggested.steep)


def cosine(epoch, lr):
    return lr_keras * 0.5 * (1 + math.cos(math.pi * epoch / EPOCHS))


keras_tuned = make_keras_model()
keras_tuned.compile(optimizer=keras.optimizers.Adam(learning_rate=lr_keras),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
with compare.timed() as t_ks_tuned:
    hist_tuned = keras_tuned.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid),
                                 epochs=EPOCHS, batch_size=BS, verbose=0,
                                 callbacks=[keras.callbacks.LearningRateScheduler(cosine)])
print("learning rate per epoch:", np.round(hist_tuned.history["learning_rate"], 5))

# %% [markdown]
# ### Side by side
#
# One figure with the validation loss and accuracy after every epoch (both frameworks compute these the same
# way: on all 360 validation digits at the end of the epoch), and one table. Final numbers in the table are
# recomputed from each model's predictions with the same function, `compare.metrics`.

# %%
def fastai_curves(learn):
    values = np.array(learn.recorder.values)  # per epoch: train loss, valid loss, accuracy
    return values[:, 1], values[:, 2]


def keras_curves(history):
    return np.array(history.history["val_loss"]), np.array(history.history["val_accuracy"])


def final(model, predict):
    m = compare.metrics(predict(model, digits.X_valid), digits.y_valid)
    return {"valid_loss": m["loss"], "valid_accuracy": m["accuracy"]}


fa_predict, ks_predict = helpers.fastai_side.predict, helpers.keras_side.predict
side_runs = {
    "fastai defaults": (fastai_curves(learn_default), final(learn_default.model, fa_predict), t_fa_default.seconds,
                        len(learn_default.recorder.losses), learn_default.model),
    "Keras defaults": (keras_curves(hist_default), final(keras_default, ks_predict), t_ks_default.seconds,
                       len(hist_default.epoch) * STEPS // EPOCHS, keras_default),
    "fastai lr_find + fit_one_cycle": (fastai_curves(learn_tuned), final(learn_tuned.model, fa_predict),
                                       t_find.seconds + t_fa_tuned.seconds, len(learn_tuned.recorder.losses),
                                       learn_tuned.model),
    "Keras Adam(lr) + LearningRateScheduler": (keras_curves(hist_tuned), final(keras_tuned, ks_predict),
                                               t_ks_tuned.seconds, len(hist_tuned.epoch) * STEPS // EPOCHS,
                                               keras_tuned),
}
styles = {"fastai defaults": ("#1f77b4", "--"), "Keras defaults": ("#d62728", "--"),
          "fastai lr_find + fit_one_cycle": ("#1f77b4", "-"), "Keras Adam(lr) + LearningRateScheduler": ("#d62728", "-")}

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
epoch_steps = np.arange(1, EPOCHS + 1) * STEPS // EPOCHS
for name, ((val_loss, val_acc), *_rest) in side_runs.items():
    color, ls = styles[name]
    ax1.plot(epoch_steps, val_loss, ls, color=color, marker="o", lw=2, label=name)
    ax2.plot(epoch_steps, val_acc, ls, color=color, marker="o", lw=2, label=name)
ax1.set_title("Validation loss")
ax2.set_title("Validation accuracy")
for ax in (ax1, ax2):
    ax.set_xlabel("step")
fig.legend(*ax1.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
fig.suptitle(f"Digits, same model and {STEPS} steps: dashed = defaults, solid = tuned")
fig.tight_layout(rect=(0, 0.07, 1, 1))
plt.show()

table_runs = [compare.Run(name.split()[0].lower(), label=name, params=checks.count_params(model), seconds=seconds,
                          steps=steps, final=metrics_)
              for name, (_curves, metrics_, seconds, steps, model) in side_runs.items()]
compare.table(*table_runs)

# %%
TARGET_ACC = 0.93
fa_default_acc = side_runs["fastai defaults"][1]["valid_accuracy"]
ks_default_acc = side_runs["Keras defaults"][1]["valid_accuracy"]
fa_tuned_acc = side_runs["fastai lr_find + fit_one_cycle"][1]["valid_accuracy"]
ks_tuned_acc = side_runs["Keras Adam(lr) + LearningRateScheduler"][1]["valid_accuracy"]
print(f"defaults: fastai {fa_default_acc:.1%}, Keras {ks_default_acc:.1%}")
print(f"tuned:    fastai {fa_tuned_acc:.1%}, Keras {ks_tuned_acc:.1%}  (target {TARGET_ACC:.0%}: "
      f"{'both reached' if min(fa_tuned_acc, ks_tuned_acc) >= TARGET_ACC else 'NOT reached'})")

# %% [markdown]
# With 92 steps, neither framework's defaults get far: a peak learning rate of $10^{-3}$ is simply too
# small for this budget, and fastai's one-cycle schedule spends part of it warming up and annealing, so
# *fastai's* defaults finish last here. Both defaults are starting points, not answers. Tuned — fastai with
# its learning-rate finder, Keras with the same rate and a schedule — both pass the 93% target, and they
# land within a point or two of each other: the optimiser and schedule matter much more than the framework.
#
# ### One option, two frameworks
#
# What the comparison hides is how much code each change took:
#
# | change | fastai | Keras |
# |---|---|---|
# | find a learning rate | `learn.lr_find()` | not built in (write a callback that raises the rate every batch and records the loss) |
# | warm-up + annealing schedule | `learn.fit_one_cycle(n, lr_max)` — one method | a schedule function + `LearningRateScheduler` callback (per epoch), or a `LearningRateSchedule` subclass (per step) |
# | a different peak learning rate | `lr_max=...` | `Adam(learning_rate=...)` and the schedule function |
# | cut the rate when validation stalls | `cbs=ReduceLROnPlateau(...)` | `callbacks=[keras.callbacks.ReduceLROnPlateau(...)]` |
# | SGD with momentum | `opt_func=partial(SGD, mom=0.9)` | `optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9)` |
#
# The names in the table are each library's own; here is what Keras ships as callbacks, fastai's
# scheduling methods on `Learner`, and fastai's training-tracking callbacks:

# %%
import fastai.callback.tracker as fastai_tracker  # noqa: E402

print("keras.callbacks:", ", ".join(n for n in dir(keras.callbacks) if n[0].isupper() and n != "Callback"))
print("fastai Learner:  ", ", ".join(n for n in ("lr_find", "fit_one_cycle", "fit_flat_cos", "fit_sgdr") if hasattr(Learner, n)))
print("fastai callbacks:", ", ".join(n for n in ("ReduceLROnPlateau", "EarlyStoppingCallback", "SaveModelCallback")
                                     if hasattr(fastai_tracker, n)))

# %% [markdown]
# fastai bakes good practice into defaults and one-argument switches; Keras gives you well-documented parts
# and expects you to assemble them. Why one is easier to use, and what that costs, is lesson 05's question.

# %% [markdown]
# ### Exercise 4 (graded, 2 + 2 points): reach 90% in 3 epochs
#
# With the defaults, 3 epochs of the digits classifier reach nowhere near 90% validation accuracy. Get there
# in each framework, with the models above (`make_fastai_model()`, `make_keras_model()`) and batch size 64.
#
# **(a) fastai.** Write `fastai_tuned(dls, epochs)`: build a `Learner` on `dls` (cross-entropy loss), call
# `lr_find` to choose a learning rate, train with `fit_one_cycle(epochs, ...)`, and return the `Learner`.
# Read the suggestions: the cautious one may not be enough for 3 epochs. Keep it quiet:
# `with learn.no_bar(), learn.no_logging(): ...` and `show_plot=False`.
#
# **(b) Keras.** Write `keras_tuned(split, lr, epochs)`: compile a fresh `make_keras_model()` with an
# optimizer at learning rate `lr` (the test passes `lr_keras`, fastai's suggestion from above), train on
# `split.X_train, split.y_train` with `batch_size=64`, `verbose=0` and a **callback that changes the learning
# rate during training** (`LearningRateScheduler` or `ReduceLROnPlateau`), and return `(model, history)`.

# %%
EX_EPOCHS, EX_TARGET = 3, 0.90

# %% nbgrader={"grade": false, "grade_id": "fastai_tuned", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fastai_tuned(dls, epochs):
    """A Learner trained for `epochs` with fit_one_cycle at a learning rate chosen by lr_find."""
    ### BEGIN SOLUTION
    learn = Learner(dls, make_fastai_model(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        lr = learn.lr_find(show_plot=False, suggest_funcs=(steep,)).steep
        learn.fit_one_cycle(epochs, lr_max=lr)
    return learn
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fastai_tuned_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_lr_find_calls, _lr_find = [], Learner.lr_find


def _recording_lr_find(self, *args, **kwargs):
    _lr_find_calls.append(kwargs)
    return _lr_find(self, *args, **kwargs)


Learner.lr_find = _recording_lr_find  # notes whether fastai_tuned calls lr_find
try:
    helpers.env.seed_everything(0)
    learn_ex = fastai_tuned(dls_digits, EX_EPOCHS)
finally:
    Learner.lr_find = _lr_find
checks.check_type(learn_ex, Learner, name="fastai_tuned(dls_digits, 3)")
_acc = compare.metrics(helpers.fastai_side.predict(learn_ex.model, digits.X_valid), digits.y_valid)["accuracy"]
checks.check_at_least(_acc, EX_TARGET, name="fastai validation accuracy after 3 epochs", say=True)
### BEGIN HIDDEN TESTS
assert _lr_find_calls, "fastai_tuned never called learn.lr_find(...): let lr_find choose the learning rate"
assert learn_ex.n_epoch == EX_EPOCHS, f"fastai_tuned trained for {learn_ex.n_epoch} epochs, expected {EX_EPOCHS}"
checks.check_param_count(learn_ex.model, 2410, name="the fastai model")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "keras_tuned", "locked": false, "schema_version": 3, "solution": true, "task": false}
def keras_tuned(split, lr, epochs):
    """(model, history) after `epochs` epochs with a callback that changes the learning rate."""
    ### BEGIN SOLUTION
    model = make_keras_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, _: lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))
    history = model.fit(split.X_train, split.y_train, epochs=epochs, batch_size=64, verbose=0, callbacks=[schedule])
    return model, history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "keras_tuned_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
helpers.env.seed_everything(0)
model_ex, hist_ex = keras_tuned(digits, lr_keras, EX_EPOCHS)
checks.check_type(model_ex, keras.Model, name="the model keras_tuned returns")
_acc = compare.metrics(helpers.keras_side.predict(model_ex, digits.X_valid), digits.y_valid)["accuracy"]
checks.check_at_least(_acc, EX_TARGET, name="Keras validation accuracy after 3 epochs", say=True)
_lrs = np.round(np.array(hist_ex.history.get("learning_rate", [lr_keras]), dtype=float), 10)
_lr_now = float(np.asarray(model_ex.optimizer.learning_rate))
assert len(set(_lrs)) > 1 or not np.isclose(_lr_now, lr_keras), (
    "the learning rate never changed during training: pass a LearningRateScheduler or ReduceLROnPlateau "
    "callback to fit(..., callbacks=[...])")
### BEGIN HIDDEN TESTS
assert len(hist_ex.epoch) == EX_EPOCHS, f"keras_tuned trained for {len(hist_ex.epoch)} epochs, expected {EX_EPOCHS}"
checks.check_param_count(model_ex, 2410, name="the Keras model")
### END HIDDEN TESTS

# %% [markdown]
# ## Recap
#
# * Gradient descent is $x \leftarrow x - \eta\,\nabla f(x)$, repeated. The gradient can be derived by hand;
#   frameworks compute the same numbers with autograd (`backward()`, `GradientTape`).
# * It only sees the local slope: it stops in whichever valley it walks into.
# * The **learning rate** trades speed for stability: too small crawls; past $2/\lambda_{max}$ (the steepest
#   curvature) every step overshoots further, until the loss is `inf` and the weights `nan`.
# * **Mini-batches** make each step cheap and noisy. The noise keeps a constant-rate run from settling, and
#   it can also carry the descent out of a shallow valley that full-batch descent never leaves.
# * **Momentum** accumulates speed along consistent directions; **Adam** gives every weight a step of about
#   $\eta$ — so good learning rates depend on the optimiser.
# * fastai: Adam with weight decay by default, and `lr_find` and `fit_one_cycle` one call away. Keras:
#   `optimizer="adam"` gives Adam at a constant $10^{-3}$; schedules and plateaus are callbacks you assemble.
#   Tuned the same way, both reach the same accuracy; neither's defaults are enough for a short budget.
#
# **Next:** lesson 04 asks why depth matters at all (XOR and the Minsky–Papert story); lesson 05 refactors a
# training loop step by step to ask why fastai is easier to use.
