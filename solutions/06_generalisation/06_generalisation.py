# %% [markdown]
# # Lesson 06 — Generalisation: validation sets, overfitting and weight decay
#
# A model is useful only on data it has **not** seen. Every lesson so far reported a *validation* accuracy
# without saying why that number, and not the training loss, is the one to trust; and lesson 05 mentioned
# that fastai's `Adam` quietly applies a "weight decay of 0.01" without saying what that does. This lesson
# fills both gaps, with every model built in fastai and in Keras from the same starting weights and batches.
#
# By the end of this lesson you will be able to:
#
# 1. explain why we keep **three** sets — training, validation, test — and what goes wrong when the test set
#    is used to choose a model; and write a seeded three-way split yourself;
# 2. recognise **overfitting** in learning curves: the training loss keeps falling while the validation loss
#    turns up — and see it happen in fastai and in Keras, step for step;
# 3. say exactly what **weight decay** does in fastai (`wd=0.01`, decoupled, as in AdamW) and in Keras
#    (`weight_decay=` on any optimiser, `AdamW`, or an `L2` penalty in the loss), and why decoupled decay
#    and an L2 penalty are the same for SGD but **not** for Adam; and write the AdamW step in NumPy;
# 4. use **early stopping** in both frameworks, and reproduce when it stops;
# 5. pick a setting on the validation set and then look at the test set **once**.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Run the notebook top to bottom (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# As in every lesson, the first cell prepares the kernel (PyTorch before TensorFlow, one CPU thread, quiet
# logs, seeds). Then we import fastai, Keras and the course helpers; `helpers.lessons.l06_generalisation` draws this
# lesson's learning curves.

# %%
import helpers

helpers.setup(seed=0)

import inspect

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from fastai.basics import *  # noqa: E402,F403 - fastai's documented import style
from fastai.callback.all import *  # noqa: E402,F403
import fastai.optimizer  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from helpers import checks, compare, fastai_side, keras_side, widgets  # noqa: E402
from helpers.lessons import l06_generalisation  # noqa: E402

# %% [markdown]
# ## 1. Three sets: training, validation, test
#
# We train on the **training set**. The training loss says how well the model fits *those* examples — and a
# big enough model can fit anything, including noise, so that number says little about new data. Hence a
# **validation set**: examples the model never trains on, used to compare models and settings (how many
# epochs, how much weight decay, which architecture).
#
# But choosing on the validation set *uses* it. If we try many settings and keep the one with the best
# validation score, part of that score is luck — the winner is partly the setting that happened to suit
# those particular examples. The more we try, the more optimistic the winning score. So we keep a third set,
# the **test set**, and look at it **once**, at the very end, to report how the chosen model does on data
# that played no part in any decision.
#
# Here is that optimism, in its purest form: 200 "models" that guess digits **at random** (so every one of
# them is truly 10 % accurate), scored on a validation set and a test set of 360 digits each.

# %%
rng = np.random.default_rng(0)
n_models, n_eval = 200, 360
labels_valid, labels_test = rng.integers(0, 10, n_eval), rng.integers(0, 10, n_eval)
guess_valid, guess_test = rng.integers(0, 10, (n_models, n_eval)), rng.integers(0, 10, (n_models, n_eval))
acc_valid = (guess_valid == labels_valid).mean(axis=1)
acc_test = (guess_test == labels_test).mean(axis=1)
chosen = int(acc_valid.argmax())
chosen_valid_acc, chosen_test_acc = float(acc_valid[chosen]), float(acc_test[chosen])
print(f"best of {n_models} random guessers on the validation set: {chosen_valid_acc:.1%}")
print(f"the same guesser on the test set:                   {chosen_test_acc:.1%}   (truth: 10%)")

# %% [markdown]
# The winner looks clearly better than chance on the set it was chosen on, and is exactly as bad as the
# others on fresh data. Real model selection is milder than 200 random guesses, but the direction is the
# same: **a score used to choose is no longer an unbiased estimate**. The test set stays untouched until the
# choice is made.
#
# Our data are scikit-learn's 1,797 handwritten digits (8 × 8 pixels, shipped with the package, no
# download), scaled to [0, 1].

# %%
digits = load_digits()
X_all = (digits.data / 16.0).astype(np.float32)
y_all = digits.target.astype(np.int64)
print(X_all.shape, y_all.shape, "· digits per class:", np.bincount(y_all).tolist())

# %% [markdown]
# ### Exercise 1 (graded, 3 points): a three-way split
#
# Write `three_way_split(y, valid_frac=0.2, test_frac=0.2, seed=0)` that returns three 1-D integer NumPy
# arrays `(train_idx, valid_idx, test_idx)` of **row indices** into `y`:
#
# * every row index `0 … n-1` is in **exactly one** of the three (disjoint, and together all of them);
# * `len(test_idx)` is `round(test_frac * n)` and `len(valid_idx)` is `round(valid_frac * n)`, each within
#   `max(1, n // 100)` rows (a stratified split may round differently); the training set gets the rest;
# * the rows are **shuffled** (or stratified by class) with a generator seeded by `seed`: the same seed
#   gives the same three arrays, another seed a different split. Labels sorted by class must still put every
#   class into every part;
# * `y` is any 1-D array-like of class labels; do not change it.
#
# `np.random.default_rng(seed).permutation(n)` or scikit-learn's `train_test_split` (twice, with
# `stratify=`) both work.
#
# **What is checked:** on the digits, the visible test checks the sizes, that the parts are disjoint and cover
# every row, that the same seed repeats the split and seed 1 changes it. The grader checks the same on other
# sizes and fractions, and on labels sorted by class (every class in every part).

# %% nbgrader={"grade": false, "grade_id": "three_way_split", "locked": false, "schema_version": 3, "solution": true, "task": false}
def three_way_split(y, valid_frac=0.2, test_frac=0.2, seed=0):
    """Shuffled (or stratified) row indices (train_idx, valid_idx, test_idx) of a seeded three-way split."""
    ### BEGIN SOLUTION
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_valid = int(round(test_frac * n)), int(round(valid_frac * n))
    test_idx, valid_idx = order[:n_test], order[n_test:n_test + n_valid]
    return order[n_test + n_valid:], valid_idx, test_idx
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "three_way_split_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
parts = three_way_split(y_all, 0.2, 0.2, seed=0)
checks.check_type(parts, (tuple, list), name="three_way_split(...)")
checks.check_equal(len(parts), 3, name="number of arrays returned")
tr_i, va_i, te_i = (np.asarray(p) for p in parts)
checks.check_true(all(p.ndim == 1 and p.dtype.kind in "iu" for p in (tr_i, va_i, te_i)),
                  "each part must be a 1-D array of integer row indices", name="three_way_split(...)")
checks.check_between(len(te_i), 359 - 17, 359 + 17, name="len(test_idx) for test_frac=0.2 of 1797")
checks.check_between(len(va_i), 359 - 17, 359 + 17, name="len(valid_idx) for valid_frac=0.2 of 1797")
checks.check_equal(len(tr_i) + len(va_i) + len(te_i), 1797, name="rows in the three parts together")
checks.check_equal(len(np.unique(np.concatenate([tr_i, va_i, te_i]))), 1797,
                   name="distinct rows in the three parts (disjoint, covering every row)")
again = [np.asarray(p) for p in three_way_split(y_all, 0.2, 0.2, seed=0)]
checks.check_true(all(np.array_equal(a, b) for a, b in zip(again, (tr_i, va_i, te_i))),
                  "the same seed must give the same split", name="three_way_split(seed=0) twice")
other = np.asarray(three_way_split(y_all, 0.2, 0.2, seed=1)[2])
checks.check_true(not np.array_equal(np.sort(other), np.sort(te_i)), "another seed must give another test set",
                  name="three_way_split(seed=1)", say=True)
### BEGIN HIDDEN TESTS
for _n, _vf, _tf in ((1000, 0.1, 0.3), (250, 0.3, 0.1), (300, 0.25, 0.25)):
    _y = np.repeat(np.arange(5), _n // 5)  # sorted by class
    _y_before = _y.copy()
    _tr, _va, _te = (np.asarray(p) for p in three_way_split(_y, valid_frac=_vf, test_frac=_tf, seed=3))
    _tol = max(1, _n // 100)
    checks.check_true(abs(len(_te) - round(_tf * _n)) <= _tol and abs(len(_va) - round(_vf * _n)) <= _tol,
                      "part sizes must follow valid_frac and test_frac", name="three_way_split sizes")
    checks.check_true(len(np.unique(np.concatenate([_tr, _va, _te]))) == _n == len(_tr) + len(_va) + len(_te),
                      "the parts must be disjoint and cover every row", name="three_way_split rows")
    checks.check_true(all(set(_y[p].tolist()) == set(range(5)) for p in (_tr, _va, _te)),
                      "labels sorted by class: every class must appear in every part (shuffle or stratify)",
                      name="three_way_split on sorted labels")
    checks.check_true(bool(np.array_equal(_y, _y_before)), "y must not be changed", name="three_way_split")
_a = [np.asarray(p) for p in three_way_split(list(range(10)) * 40, 0.2, 0.2, seed=7)]
_b = [np.asarray(p) for p in three_way_split(list(range(10)) * 40, 0.2, 0.2, seed=7)]
_c = np.asarray(three_way_split(list(range(10)) * 40, 0.2, 0.2, seed=8)[1])
checks.check_true(all(np.array_equal(p, q) for p, q in zip(_a, _b)) and not np.array_equal(np.sort(_c), np.sort(_a[1])),
                  "a list of labels works, and the seed decides the split", name="three_way_split(list)")
### END HIDDEN TESTS

# %% [markdown]
# We split the digits 60 / 20 / 20 with your function. To make overfitting easy to see we then train on only
# **150** of the training digits (the first 150 of the shuffled training indices) — a small training set and
# a large model is the classic recipe for overfitting.

# %%
train_idx, valid_idx, test_idx = three_way_split(y_all, valid_frac=0.2, test_frac=0.2, seed=0)
N_SMALL = 150
small_idx = np.asarray(train_idx)[:N_SMALL]
X_small, y_small = X_all[small_idx], y_all[small_idx]
X_valid, y_valid = X_all[valid_idx], y_all[valid_idx]
X_test, y_test = X_all[test_idx], y_all[test_idx]
split_sizes = {"train (all)": len(train_idx), "train (used)": len(small_idx), "valid": len(valid_idx),
               "test": len(test_idx)}
print(split_sizes)

fig, ax = plt.subplots(figsize=(7, 2.8))
for k, (name, part) in enumerate((("train (used)", y_small), ("valid", y_valid), ("test", y_test))):
    ax.bar(np.arange(10) + (k - 1) * 0.27, np.bincount(part, minlength=10) / len(part), width=0.27, label=name)
ax.set(xticks=range(10), xlabel="digit", ylabel="share of the part", title="Each part holds every digit")
ax.legend(ncol=3, loc="lower right")
plt.show()

# %% [markdown]
# ## 2. A model that overfits, in fastai and in Keras
#
# The model is deliberately too big for 150 examples: 64 inputs → 128 → 128 → 10 scores, with ReLU —
# about 26,000 weights, over 170 per training example. We train it with Adam at learning rate 0.01.
#
# To compare the frameworks honestly, everything is identical:
#
# * the **same starting weights**: PyTorch draws them; `get_weights`/`set_weights` copy them into Keras;
# * the **same batches**: every step sees all 150 digits (full batch), and one "epoch" is 6 such steps (the
#   rows repeated 6 times, no shuffling), so each validation point is 6 steps apart;
# * the **same optimiser**: Adam with β₁ = 0.9, fastai's β₂ = 0.99 and a tiny ε = 10⁻⁸ on both sides (the
#   two libraries add ε at slightly different places in the formula; a tiny ε makes that difference
#   negligible), and **no weight decay** for now.

# %%
HIDDEN, LR, EPOCHS, STEPS_PER_EPOCH, EPS = 128, 1e-2, 15, 6, 1e-8


def torch_mlp():
    """The starting network, always the same weights (seed 0)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, 10))


start = fastai_side.get_weights(torch_mlp())  # [W1, b1, W2, b2, W3, b3], W shaped (inputs, outputs)
X_rep, y_rep = np.tile(X_small, (STEPS_PER_EPOCH, 1)), np.tile(y_small, STEPS_PER_EPOCH)
print(f"{checks.count_params(torch_mlp()):,} parameters, {N_SMALL} training digits, "
      f"{EPOCHS * STEPS_PER_EPOCH} steps")

# %% [markdown]
# Each framework keeps its own running "training loss" during an epoch (fastai an exponentially smoothed
# average over batches, Keras the mean of the epoch's batches, both taken *while* the weights change). To
# draw training and validation curves that mean the same thing, a small callback on each side measures the
# loss on the 150 training digits **at the end of each epoch**, with the same scoring function
# (`compare.metrics`) for both. The validation loss comes from each framework's own record:
# `learn.recorder.values` in fastai, `history.history["val_loss"]` in Keras.

# %%
class TrainSetLoss(Callback):
    "fastai: the loss on the whole training set at the end of every epoch."
    order = Recorder.order + 1

    def before_fit(self):
        self.values = []

    def after_epoch(self):
        self.values.append(compare.metrics(fastai_side.predict(self.model, X_small), y_small)["loss"])


class KerasTrainSetLoss(keras.callbacks.Callback):
    "Keras: the loss on the whole training set at the end of every epoch."
    def on_train_begin(self, logs=None):
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(compare.metrics(keras_side.predict(self.model, X_small), y_small)["loss"])


# %% [markdown]
# ### fastai
#
# `DataLoaders` over the repeated rows (batches of 150, not shuffled), the validation digits as the
# validation set, and a `Learner`. `wd=0.0` switches off the weight decay fastai's `Adam` would otherwise
# apply (section 3).

# %%
fastai_dls = DataLoaders(
    DataLoader(list(zip(torch.tensor(X_rep), torch.tensor(y_rep))), bs=N_SMALL, shuffle=False, num_workers=0),
    DataLoader(list(zip(torch.tensor(X_valid), torch.tensor(y_valid))), bs=len(X_valid), num_workers=0))


def fit_fastai(wd, decouple_wd=True, cbs=()):
    """Train the starting network with fastai's Adam and weight decay `wd`; returns (learner, curves)."""
    train_loss = TrainSetLoss()
    learn = Learner(fastai_dls, torch_mlp(), loss_func=CrossEntropyLossFlat(), metrics=accuracy,
                    opt_func=partial(Adam, eps=EPS, decouple_wd=decouple_wd), lr=LR, wd=wd,
                    cbs=[train_loss, *cbs], path=fastai_side.scratch_dir())
    with learn.no_bar(), learn.no_logging():
        learn.fit(EPOCHS)
    values = np.array(learn.recorder.values)  # per epoch: train_loss (smoothed), valid_loss, accuracy
    return learn, {"train": train_loss.values, "valid": values[:, 1].tolist(), "accuracy": values[:, 2].tolist()}


with compare.timed() as t_fastai:
    learn_plain, fastai_plain = fit_fastai(wd=0.0)

# %% [markdown]
# ### Keras
#
# The same layers in a `Sequential`, the starting weights copied in, `compile` with Keras's `Adam` set to
# the same β₂ and ε, and `fit` on the same repeated rows with `validation_data`. `steps_per_execution` runs
# an epoch's 6 steps in one call into TensorFlow.

# %%
def keras_mlp(regularizer=None):
    """The starting network in Keras (the same weights as torch_mlp()); an optional kernel regularizer."""
    model = keras.Sequential([keras.Input(shape=(64,)),
                              keras.layers.Dense(HIDDEN, activation="relu", kernel_regularizer=regularizer),
                              keras.layers.Dense(HIDDEN, activation="relu", kernel_regularizer=regularizer),
                              keras.layers.Dense(10, kernel_regularizer=regularizer)])
    keras_side.set_weights(model, start)
    return model


def fit_keras(optimizer, model=None, callbacks=()):
    """compile + fit with `optimizer` (validation loss from Keras's history); returns (model, curves)."""
    model = keras_mlp() if model is None else model
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EPOCH)
    train_loss = KerasTrainSetLoss()
    history = model.fit(X_rep, y_rep, batch_size=N_SMALL, shuffle=False, epochs=EPOCHS, verbose=0,
                        validation_data=(X_valid, y_valid), callbacks=[train_loss, *callbacks])
    return model, {"train": train_loss.values, "valid": history.history["val_loss"],
                   "accuracy": history.history["val_accuracy"]}


with compare.timed() as t_keras:
    keras_plain_model, keras_plain = fit_keras(keras.optimizers.Adam(learning_rate=LR, beta_2=0.99, epsilon=EPS))

# %% [markdown]
# ### The curves
#
# Dashed: the loss on the 150 training digits. Solid: the loss on the 359 validation digits. The dot marks
# the lowest validation loss.

# %%
l06_generalisation.side_by_side({"fastai": fastai_plain, "keras": keras_plain},
                                suptitle="No weight decay: the training loss falls, the validation loss turns up")
plt.show()

plain_best = {fw: l06_generalisation.best_epoch(c["valid"]) for fw, c in (("fastai", fastai_plain),
                                                                          ("keras", keras_plain))}
plain_table = pd.DataFrame({fw: {"lowest validation loss": min(c["valid"]), "at epoch": plain_best[fw],
                                 "final validation loss": c["valid"][-1], "final training loss": c["train"][-1],
                                 "final validation accuracy": c["accuracy"][-1]}
                            for fw, c in (("fastai", fastai_plain), ("keras", keras_plain))})
plain_table

# %% [markdown]
# This is **overfitting**, read off the curves: after a couple of epochs the training loss keeps falling
# towards zero while the validation loss bottoms out and then climbs. The model is no longer learning
# digits; it is memorising 150 particular images — and growing ever more confident, which cross-entropy
# punishes on the validation digits it gets wrong. (The validation *accuracy* moves much less than the
# loss: the model mostly keeps its answers but becomes overconfident in the wrong ones.)
#
# Both frameworks tell the same story from the same start: the curves lie almost on top of each other.
# They are not identical to the last digit — the two Adams add ε at different places and round in a
# different order, and at learning rate 0.01 small differences grow — but the largest gap between the two
# validation curves is a few per cent:

# %%
curve_gap_plain = float(np.max(np.abs(np.array(fastai_plain["valid"]) - np.array(keras_plain["valid"]))
                               / np.array(keras_plain["valid"])))
print(f"largest relative difference between the two validation curves: {curve_gap_plain:.1%}")
compare.table(compare.Run("fastai", params=checks.count_params(learn_plain.model), seconds=t_fastai.seconds,
                          steps=EPOCHS * STEPS_PER_EPOCH, final={"valid_loss": fastai_plain["valid"][-1],
                                                                 "valid_accuracy": fastai_plain["accuracy"][-1]}),
              compare.Run("keras", params=checks.count_params(keras_plain_model), seconds=t_keras.seconds,
                          steps=EPOCHS * STEPS_PER_EPOCH, final={"valid_loss": keras_plain["valid"][-1],
                                                                 "valid_accuracy": keras_plain["accuracy"][-1]}))

# %% [markdown]
# ## 3. Weight decay: shrink the weights a little at every step
#
# An overconfident network has large weights: large weights make large scores, and large scores make
# probabilities near 0 and 1. **Weight decay** pulls every weight towards zero a little at every step, so
# only weights the data keep pushing on stay large. There are two ways to write it:
#
# * **L2 regularisation** adds a penalty to the loss, $L + \frac{\lambda}{2}\lVert w\rVert^2$; its gradient
#   adds $\lambda w$ to every weight's gradient, and the optimiser treats that like any other gradient;
# * **decoupled weight decay** leaves the loss alone and shrinks the weights directly, before the optimiser's
#   step: $w \leftarrow w - \eta\,\lambda\,w = (1 - \eta\lambda)\,w$ ($\eta$ is the learning rate).
#
# For plain SGD the two are the same update. For Adam they are not: Adam divides each gradient by a running
# estimate of its size, so an L2 term hidden in the gradient is divided too — weights with large gradients
# are barely decayed. Loshchilov and Hutter (2019) showed this and proposed decoupling the decay from the
# gradient (**AdamW**), which made weight decay work as well with Adam as with SGD.
#
# ### What fastai does
#
# fastai's optimisers are built from small functions. Here are the installed library's own source and
# defaults:

# %%
fastai_adam_defaults = {k: v.default for k, v in inspect.signature(Adam).parameters.items() if k != "params"}
print("fastai Adam defaults:", fastai_adam_defaults)
print(inspect.getsource(fastai.optimizer.weight_decay))
print(inspect.getsource(fastai.optimizer.l2_reg))
learner_defaults = {k: v.default for k, v in inspect.signature(Learner).parameters.items() if k in ("wd", "wd_bn_bias")}
print("Learner defaults:", learner_defaults)

# %% [markdown]
# So, exactly:
#
# * `Adam(..., wd=0.01, decouple_wd=True)` puts `weight_decay` first in its list of steps: each parameter is
#   multiplied by `1 - lr*wd` **before** the Adam step — decoupled decay, AdamW. With `decouple_wd=False` it
#   uses `l2_reg` instead, which adds `wd * p` to the gradient (an L2 penalty of $\frac{wd}{2}\lVert w\rVert^2$).
# * `Learner(wd=None)` keeps the optimiser's own default (0.01 for `Adam`; fastai's `SGD` defaults to 0, as
#   the next cell shows); `Learner(wd=...)` or `fit(..., wd=...)` overrides it.
# * `wd_bn_bias=False`: the `Learner` turns the decay **off for biases and batch-norm parameters** (it sets
#   `do_wd=False` for them), so only weight matrices are decayed.
#
# How much does 0.01 do? Each step multiplies a weight by $1 - \eta \cdot 0.01$. With our 90 steps at
# $\eta = 0.01$ that is a factor of:

# %%
fastai_default_wd = fastai_adam_defaults["wd"]
sgd_default_wd = inspect.signature(SGD).parameters["wd"].default
default_shrink = (1 - LR * fastai_default_wd) ** (EPOCHS * STEPS_PER_EPOCH)
print(f"fastai Adam's default wd = {fastai_default_wd}; fastai SGD's default wd = {sgd_default_wd}")
print(f"shrink factor of the decay alone over {EPOCHS * STEPS_PER_EPOCH} steps at lr={LR}: {default_shrink:.4f}")

# %% [markdown]
# Less than 1 % over the whole run: fastai's default is a gentle nudge, sized for long runs (many epochs of
# a big dataset), not a cure for a run this short. To see the remedy we use a much larger value, `WD = 1.0`
# (each step shrinks the weights by 1 %).
#
# ### What Keras does
#
# In Keras 3 **every** optimiser accepts `weight_decay=`: it is decoupled, applied before the gradient step as
# `variable - variable * weight_decay * learning_rate` (the same arithmetic as fastai's `weight_decay`).
# `keras.optimizers.AdamW` is `Adam` with a default `weight_decay` — its value, read from the installed library:

# %%
keras_adamw_default = keras.optimizers.AdamW().get_config()["weight_decay"]
keras_adam_default = keras.optimizers.Adam().get_config()["weight_decay"]
keras_l2_default = keras.regularizers.L2().get_config()["l2"]
print(f"keras.optimizers.AdamW weight_decay={keras_adamw_default}, keras.optimizers.Adam weight_decay="
      f"{keras_adam_default}, keras.regularizers.L2 l2={keras_l2_default}")

# %% [markdown]
# Two differences from fastai to keep in mind:
#
# * Keras decays **every** trainable variable, biases included, unless told otherwise:
#   `optimizer.exclude_from_weight_decay(var_names=["bias"])` matches fastai's `wd_bn_bias=False`;
# * `kernel_regularizer=keras.regularizers.L2(l2)` is the **coupled** kind: it adds $l2 \cdot \sum w^2$ to
#   the loss (gradient $2\,l2\,w$), so `L2(wd / 2)` is fastai's `decouple_wd=False` with `wd`. It also
#   adds the penalty to the loss Keras reports.
#
# ### Exercise 2 (graded, 3 points): the AdamW step in NumPy
#
# Write `adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01)`: one step of Adam
# with decoupled weight decay, on NumPy arrays, returning the new `(w, m, v)` (do not change the arrays
# you were given). `t` is the number of this step, starting at 1. In order:
#
# 1. decay: $w \leftarrow (1 - \eta\,\lambda)\,w$ (here $\lambda$ is `wd`);
# 2. moments: $m \leftarrow \beta_1 m + (1-\beta_1)\,g$, $\;v \leftarrow \beta_2 v + (1-\beta_2)\,g^2$;
# 3. bias correction: $\hat m = m / (1 - \beta_1^t)$, $\;\hat v = v / (1 - \beta_2^t)$;
# 4. step: $w \leftarrow w - \eta\,\hat m / (\sqrt{\hat v} + \varepsilon)$.
#
# This is `torch.optim.AdamW`'s step, and fastai's `Adam` with `decouple_wd=True` (fastai calls $\beta_1$
# `mom` and $\beta_2$ `sqr_mom`).
#
# **What is checked:** five steps from the same weights and gradients as `torch.optim.AdamW` (in float64)
# must end within $10^{-9}$ of it (the test below). The grader also compares with fastai's `Adam(...,
# decouple_wd=True)` and with `torch.optim.Adam` for `wd=0`, checks that with a zero gradient and zero moments
# a step only shrinks `w` by $1 - \eta\lambda$, and that your function leaves its inputs unchanged.

# %% nbgrader={"grade": false, "grade_id": "adamw_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.01):
    """One AdamW step (decoupled weight decay). Returns new arrays (w, m, v)."""
    ### BEGIN SOLUTION
    w = np.asarray(w, dtype=float) * (1 - lr * wd)
    m = beta1 * np.asarray(m, dtype=float) + (1 - beta1) * grad
    v = beta2 * np.asarray(v, dtype=float) + (1 - beta2) * np.square(grad)
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "adamw_step_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _quadratic_grad(w):
    """The gradient of a lopsided quadratic bowl: some weights steep, some shallow."""
    return np.array([[3.0, 0.1], [1.0, 0.01]]) * (w - 0.5)


def _torch_run(opt_class, steps, w0, **kwargs):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_class([p], **kwargs)
    for _ in range(steps):
        p.grad = torch.tensor(_quadratic_grad(p.detach().numpy()))
        opt.step()
    return p.detach().numpy()


def _numpy_run(steps, w0, **kwargs):
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t in range(1, steps + 1):
        w, m, v = adamw_step(w, _quadratic_grad(w), m, v, t, **kwargs)
    return np.asarray(w)


_w0 = np.array([[1.0, -2.0], [0.3, 2.5]])
checks.check_shape(np.asarray(adamw_step(_w0, _quadratic_grad(_w0), np.zeros((2, 2)), np.zeros((2, 2)), 1)[0]),
                   (2, 2), name="new w from adamw_step")
checks.check_close(_numpy_run(5, _w0, lr=0.1, wd=0.5),
                   _torch_run(torch.optim.AdamW, 5, _w0, lr=0.1, weight_decay=0.5), rtol=0, atol=1e-9,
                   name="w after 5 steps vs torch.optim.AdamW(lr=0.1, weight_decay=0.5)", say=True)
### BEGIN HIDDEN TESTS
checks.check_close(_numpy_run(20, _w0, lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6, wd=0.1),
                   _torch_run(torch.optim.AdamW, 20, _w0, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                   rtol=0, atol=1e-9, name="20 steps vs torch.optim.AdamW with other hyperparameters")
checks.check_close(_numpy_run(10, _w0, lr=0.1, wd=0.0), _torch_run(torch.optim.Adam, 10, _w0, lr=0.1),
                   rtol=0, atol=1e-9, name="wd=0 vs torch.optim.Adam")
def _fastai_run(steps, w0, **kwargs):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = fastai.optimizer.Adam([p], decouple_wd=True, **kwargs)
    for _ in range(steps):
        p.grad = torch.tensor(_quadratic_grad(p.detach().numpy()))
        opt.step()
    return p.detach().numpy()


checks.check_close(_numpy_run(10, _w0, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-5, wd=0.3),
                   _fastai_run(10, _w0, lr=0.1, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.3),
                   rtol=0, atol=1e-9, name="10 steps vs fastai Adam(decouple_wd=True)")
_wz, _mz, _vz = adamw_step(_w0, np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), 1, lr=0.1, wd=0.5)
checks.check_close(np.asarray(_wz), _w0 * (1 - 0.1 * 0.5), rtol=0, atol=1e-12,
                   name="a step with zero gradient and zero moments only decays w")
_w_in, _m_in, _v_in = _w0.copy(), np.full((2, 2), 0.1), np.full((2, 2), 0.2)
adamw_step(_w_in, _quadratic_grad(_w_in), _m_in, _v_in, 3, lr=0.1, wd=0.5)
checks.check_true(bool(np.array_equal(_w_in, _w0) and np.all(_m_in == 0.1) and np.all(_v_in == 0.2)),
                  "adamw_step must not change the arrays it was given", name="adamw_step inputs")
### END HIDDEN TESTS

# %% [markdown]
# ### Decoupled vs L2 inside Adam, in your NumPy Adam
#
# Two weights, both starting at 1, whose data gradients are pure noise (zero on average) of very different
# sizes: the same random sequence times 10 for the first weight, times 0.01 for the second. We run 100 steps
# of your `adamw_step` three ways: without decay, with decoupled decay (`wd=0.1`), and with the same
# coefficient as an L2 gradient term (`wd=0`, gradient $g + 0.1\,w$). How much did the decay pull each
# weight towards 0, compared with the run without decay?

# %%
def decay_effect(mode, steps=100, lr=0.01, lam=0.1):
    """The two weights after `steps` steps of your adamw_step: no decay, decoupled, or L2 in the gradient."""
    scales = np.array([10.0, 0.01])
    noise = np.random.default_rng(0).normal(size=steps)  # the same noise in every run
    w, m, v = np.ones(2), np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = scales * noise[t - 1] + (lam * w if mode == "L2 in the gradient" else 0.0)
        w, m, v = adamw_step(w, g, m, v, t, lr=lr, wd=lam if mode == "decoupled" else 0.0)
    return np.asarray(w)


w_no_decay = decay_effect("none")
decay_table = pd.DataFrame({mode: w_no_decay - decay_effect(mode) for mode in ("decoupled", "L2 in the gradient")},
                           index=["weight with large gradients (×10)", "weight with tiny gradients (×0.01)"]).T
decay_table

# %% [markdown]
# Decoupled decay pulls both weights by the same amount, whatever the size of their gradients (Adam's own
# step does not depend on that size). The L2 term is divided by Adam's estimate of each gradient's size: it
# hardly pulls the weight with the large gradients and pulls the one with the tiny gradients several times
# further than decoupled decay does. The regularisation you get depends on the gradient scale — not what
# an L2 penalty is meant to do.
#
# ### The same in both frameworks
#
# Now the real optimisers on our digits network, 6 full-batch steps from the starting weights, bias excluded
# from the decay on both sides. In each framework we compare decoupled decay with the L2 form of the same
# coefficient, for SGD and for Adam. fastai: `decouple_wd=True` vs `False`. Keras: `weight_decay=` vs
# `kernel_regularizer=L2(wd / 2)` (in a short `GradientTape` loop: the penalty is `sum(model.losses)`).

# %%
DEMO_WD = 0.5
demo_dls = DataLoaders(
    DataLoader(list(zip(torch.tensor(X_rep), torch.tensor(y_rep))), bs=N_SMALL, shuffle=False, num_workers=0),
    DataLoader(list(zip(torch.tensor(X_valid), torch.tensor(y_valid))), bs=len(X_valid), num_workers=0))


def fastai_weights_after(opt, lr, decouple_wd):
    learn = Learner(demo_dls, torch_mlp(), loss_func=CrossEntropyLossFlat(), lr=lr, wd=DEMO_WD,
                    opt_func=partial(opt, decouple_wd=decouple_wd), path=fastai_side.scratch_dir())
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)
    return fastai_side.get_weights(learn.model)


def keras_weights_after(optimizer, regularizer=None, steps=STEPS_PER_EPOCH):
    model = keras_mlp(regularizer)
    if regularizer is None:
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(y_small, model(X_small, training=True)) + sum(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return keras_side.get_weights(model)


def weight_gap(a, b):
    """How far apart two sets of weights are: the norm of their difference over the norm of the first."""
    diff = np.sqrt(sum(float(np.sum((p - q) ** 2)) for p, q in zip(a, b)))
    return diff / np.sqrt(sum(float(np.sum(p ** 2)) for p in a))


SGD_LR = 0.5
fa_sgd_dec, fa_sgd_l2 = (fastai_weights_after(SGD, SGD_LR, d) for d in (True, False))
fa_adam_dec, fa_adam_l2 = (fastai_weights_after(partial(Adam, eps=EPS), LR, d) for d in (True, False))
ks_sgd_dec = keras_weights_after(keras.optimizers.SGD(SGD_LR, weight_decay=DEMO_WD))
ks_sgd_l2 = keras_weights_after(keras.optimizers.SGD(SGD_LR), keras.regularizers.L2(DEMO_WD / 2))
ks_adam_dec = keras_weights_after(keras.optimizers.AdamW(LR, weight_decay=DEMO_WD, beta_2=0.99, epsilon=EPS))
ks_adam_l2 = keras_weights_after(keras.optimizers.Adam(LR, beta_2=0.99, epsilon=EPS),
                                 keras.regularizers.L2(DEMO_WD / 2))
coupling_gaps = {
    ("fastai", "SGD: decoupled vs L2"): weight_gap(fa_sgd_dec, fa_sgd_l2),
    ("fastai", "Adam: decoupled vs L2"): weight_gap(fa_adam_dec, fa_adam_l2),
    ("Keras", "SGD: weight_decay vs L2 regularizer"): weight_gap(ks_sgd_dec, ks_sgd_l2),
    ("Keras", "Adam: AdamW vs Adam + L2 regularizer"): weight_gap(ks_adam_dec, ks_adam_l2),
    ("fastai vs Keras", "SGD with decoupled decay"): weight_gap(fa_sgd_dec, ks_sgd_dec),
    ("fastai vs Keras", "Adam with decoupled decay"): weight_gap(fa_adam_dec, ks_adam_dec),
}
pd.Series(coupling_gaps, name="relative weight difference after 6 steps").to_frame()

# %% [markdown]
# Read the table by size (each number is the norm of the difference of all weights, relative to their norm).
# For SGD, decoupled decay and the L2 penalty end with the same weights up to float32 rounding, in fastai and
# in Keras — and fastai and Keras agree with each other to the same rounding. For Adam the two forms end
# several per cent apart after only 6 steps, in both frameworks: `kernel_regularizer=L2(...)` with `Adam`
# is **not** AdamW. (fastai's and Keras's Adam also differ a little from each other — ε enters at a
# different place, which matters for weights whose gradients are about as small as ε — but several times
# less than L2 differs from decoupled decay.)
#
# ### Weight decay against overfitting
#
# Back to the overfitting run, now with decoupled decay `WD = 1.0` in both frameworks: fastai's `Adam` with
# `wd=WD` (biases exempt, its default), Keras's `AdamW(weight_decay=WD)` with the biases excluded.

# %%
WD = 1.0
learn_wd, fastai_wd = fit_fastai(wd=WD)
adamw = keras.optimizers.AdamW(learning_rate=LR, weight_decay=WD, beta_2=0.99, epsilon=EPS)
adamw.exclude_from_weight_decay(var_names=["bias"])
keras_wd_model, keras_wd = fit_keras(adamw)

l06_generalisation.side_by_side({"fastai": fastai_wd, "keras": keras_wd},
                                suptitle=f"Decoupled weight decay {WD}: the validation loss stays down",
                                ylim=(0, max(fastai_plain["valid"][0], keras_plain["valid"][0]) * 1.05))
plt.show()

wd_table = pd.DataFrame({
    (fw, kind): {"final training loss": c["train"][-1], "final validation loss": c["valid"][-1],
                 "gap (valid − train)": c["valid"][-1] - c["train"][-1], "final validation accuracy": c["accuracy"][-1]}
    for fw, runs in (("fastai", {"no decay": fastai_plain, f"wd {WD}": fastai_wd}),
                     ("Keras", {"no decay": keras_plain, f"wd {WD}": keras_wd}))
    for kind, c in runs.items()})
wd_table

# %% [markdown]
# With decay the training loss no longer races to zero (the weights cannot grow freely), the validation
# loss ends far lower, and the gap between the two shrinks — in both frameworks, by about the same amount.
#
# ### Explore: how much decay?
#
# The slider picks a weight decay; the curves for each value were trained above or just now (no training
# happens when you move it). Watch the validation curve: without decay it climbs; with a little decay it
# climbs less and comes back down; with enough it stays down.

# %%
SWEEP = (0.0, 0.3, 1.0)
sweep_curves = {(0.0, "fastai"): fastai_plain, (0.0, "keras"): keras_plain,
                (WD, "fastai"): fastai_wd, (WD, "keras"): keras_wd}
final_weights = {(0.0, "fastai"): fastai_side.get_weights(learn_plain.model),
                 (0.0, "keras"): keras_side.get_weights(keras_plain_model),
                 (WD, "fastai"): fastai_side.get_weights(learn_wd.model),
                 (WD, "keras"): keras_side.get_weights(keras_wd_model)}
for wd_value in SWEEP:
    if (wd_value, "fastai") in sweep_curves:
        continue
    learn_s, sweep_curves[wd_value, "fastai"] = fit_fastai(wd=wd_value)
    opt_s = keras.optimizers.AdamW(learning_rate=LR, weight_decay=wd_value, beta_2=0.99, epsilon=EPS)
    opt_s.exclude_from_weight_decay(var_names=["bias"])
    model_s, sweep_curves[wd_value, "keras"] = fit_keras(opt_s)
    final_weights[wd_value, "fastai"] = fastai_side.get_weights(learn_s.model)
    final_weights[wd_value, "keras"] = keras_side.get_weights(model_s)

sweep_ylim = (0, max(c["valid"][0] for c in sweep_curves.values()) * 1.05)


def draw_decay(wd):
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.5), sharey=True)
    for ax, fw in zip(axes, ("fastai", "keras")):
        l06_generalisation.draw_curves(ax, sweep_curves[wd, fw], fw,
                                       title=f"{l06_generalisation.TITLES[fw]}, weight decay {wd:g}")
        ax.set_ylim(*sweep_ylim)
    axes[0].legend(loc="upper right")
    fig.tight_layout()


decay_explorer = widgets.Explorer(
    draw_decay, title="Train and validation loss for a chosen weight decay (precomputed runs)",
    wd=W.SelectionSlider(options=list(SWEEP), value=0.0, description="weight decay", continuous_update=True),
)
decay_explorer

# %% [markdown]
# ## 4. Early stopping
#
# A second remedy needs no new hyperparameter at all: watch the validation loss and **stop** when it has not
# improved for a few epochs (the *patience*), then go back to the best weights seen. Both frameworks ship it
# as callbacks:
#
# * fastai: `EarlyStoppingCallback(monitor="valid_loss", patience=...)` stops the fit;
#   `SaveModelCallback(monitor="valid_loss")` saves the model at every new best and loads the best one at
#   the end (into `learn.path/models`; here a scratch folder);
# * Keras: `keras.callbacks.EarlyStopping(monitor="val_loss", patience=..., restore_best_weights=True)` does both.
#
# For Keras we reuse the model compiled for the run without decay: keep its final weights for later, set the
# starting weights back and zero the optimiser's state (its step counter and moment estimates, not its
# learning rate), which is exactly a fresh run, without tracing the training step again.

# %%
PATIENCE = 3
learn_es, fastai_es = fit_fastai(wd=0.0, cbs=[EarlyStoppingCallback(monitor="valid_loss", patience=PATIENCE),
                                              SaveModelCallback(monitor="valid_loss", fname="best_no_decay")])
fastai_es_epochs = len(learn_es.recorder.values)
fastai_es_restored = compare.metrics(fastai_side.predict(learn_es.model, X_valid), y_valid)["loss"]

final_weights[0.0, "keras"] = keras_side.get_weights(keras_plain_model)
keras_side.set_weights(keras_plain_model, start)
for variable in keras_plain_model.optimizer.variables:
    if variable.name != "learning_rate":
        variable.assign(tf.zeros_like(variable))
keras_stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True)
_, keras_es = fit_keras(keras_plain_model.optimizer, model=keras_plain_model, callbacks=[keras_stopper])
keras_es_epochs = len(keras_es["valid"])
keras_es_restored = compare.metrics(keras_side.predict(keras_plain_model, X_valid), y_valid)["loss"]
pd.DataFrame({"fastai": {"epochs run (of 15)": fastai_es_epochs,
                         "best epoch": l06_generalisation.best_epoch(fastai_es["valid"]),
                         "validation loss of the weights kept": fastai_es_restored},
              "Keras": {"epochs run (of 15)": keras_es_epochs, "best epoch": keras_stopper.best_epoch + 1,
                        "validation loss of the weights kept": keras_es_restored}})

# %% [markdown]
# Both stop a few epochs after the validation loss bottoms out, and both keep the weights of the best epoch
# (their validation loss is the curve's lowest point, not its last). Early stopping saves the compute of the
# epochs it skips — but its choice is made on the validation set, so it, too, "uses" that set.
#
# ### Exercise 3 (graded, 2 points): when does early stopping stop?
#
# Write `early_stop(valid_losses, patience)` that replays early stopping on a list of per-epoch validation
# losses and returns `(stopped_epoch, best_epoch)`, both **0-based** epoch numbers:
#
# * an epoch *improves* if its loss is strictly lower than every earlier one (the first epoch always does);
# * training stops at the end of the first epoch that is the `patience`-th epoch in a row without improvement:
#   `stopped_epoch` is that epoch, or `None` if it never happens within the list;
# * `best_epoch` is the epoch with the lowest loss up to and including the last epoch that ran (the first
#   one if there is a tie).
#
# That is what fastai's `EarlyStoppingCallback` and Keras's `EarlyStopping` do (for `patience` ≥ 1).
#
# **What is checked:** the visible test drives Keras's own `EarlyStopping` callback on three fixed loss
# sequences and compares. The grader checks more sequences (ties, a run that never stops, patience 1 and
# 5) and fastai's stopping rule.

# %% nbgrader={"grade": false, "grade_id": "early_stop", "locked": false, "schema_version": 3, "solution": true, "task": false}
def early_stop(valid_losses, patience):
    """(stopped_epoch or None, best_epoch), both 0-based, for early stopping with this patience."""
    ### BEGIN SOLUTION
    best, best_epoch, wait = np.inf, None, 0
    for epoch, loss in enumerate(valid_losses):
        if loss < best:
            best, best_epoch, wait = loss, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch, best_epoch
    return None, best_epoch
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "early_stop_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_dummy = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])


def _keras_replay(losses, patience):
    """What keras.callbacks.EarlyStopping decides on these validation losses (no training involved)."""
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    stopper.set_model(_dummy)
    _dummy.stop_training = False
    stopper.on_train_begin()
    for epoch, loss in enumerate(losses):
        stopper.on_epoch_end(epoch, {"val_loss": float(loss)})
        if _dummy.stop_training:
            return epoch, stopper.best_epoch
    return None, stopper.best_epoch


for _losses, _patience in (([1.0, 0.8, 0.7, 0.75, 0.9, 0.95, 1.0], 3), ([1.0, 0.9, 0.95, 0.85, 0.86, 0.87], 2),
                           ([2.0, 1.5, 1.2, 1.1, 1.05], 2)):
    checks.check_equal(tuple(early_stop(_losses, _patience)), _keras_replay(_losses, _patience),
                       name=f"early_stop({_losses}, patience={_patience}) vs Keras EarlyStopping")
print("✓ early_stop agrees with Keras's EarlyStopping on three sequences")
### BEGIN HIDDEN TESTS
def _fastai_rule(losses, patience):
    """fastai's EarlyStoppingCallback rule, written another way: count epochs since the running minimum fell."""
    lows = np.minimum.accumulate(np.asarray(losses, dtype=float))
    since = 0
    for i in range(len(losses)):
        since = 0 if i == 0 or losses[i] < lows[i - 1] else since + 1
        if since == patience:
            return i, int(np.argmin(np.asarray(losses[:i + 1])))
    return None, int(np.argmin(np.asarray(losses)))


_rng = np.random.default_rng(11)
for _case in range(6):
    _seq = np.round(1 + np.cumsum(_rng.normal(0, 0.1, 20)), 1).tolist()  # rounded: ties happen
    for _patience in (1, 2, 5):
        checks.check_equal(tuple(early_stop(_seq, _patience)), _keras_replay(_seq, _patience),
                           name="early_stop vs Keras EarlyStopping on a random sequence")
        checks.check_equal(tuple(early_stop(_seq, _patience)), _fastai_rule(_seq, _patience),
                           name="early_stop vs fastai's EarlyStoppingCallback rule on a random sequence")
checks.check_equal(tuple(early_stop([0.5, 0.5, 0.5], 2)), (2, 0), name="a tie is not an improvement")
checks.check_equal(tuple(early_stop([3.0, 2.0, 1.0], 1)), (None, 2), name="a run that keeps improving never stops")
checks.check_equal(tuple(early_stop(np.array([1.0, 2.0]), 1)), (1, 0), name="early_stop on a NumPy array")
### END HIDDEN TESTS

# %% [markdown]
# Your function, applied to the validation curves of the full 15-epoch runs without decay (section 2), must
# predict where the two real callbacks stopped and which epoch they kept:

# %%
replayed = {"fastai": early_stop(fastai_plain["valid"], PATIENCE), "keras": early_stop(keras_plain["valid"], PATIENCE)}
actual = {"fastai": (fastai_es_epochs - 1, l06_generalisation.best_epoch(fastai_es["valid"]) - 1),
          "keras": (keras_stopper.stopped_epoch, keras_stopper.best_epoch)}
pd.DataFrame({fw: {"your early_stop (stopped, best)": replayed[fw], "the framework's callback": actual[fw]}
              for fw in ("fastai", "keras")})

# %% [markdown]
# ## 5. Choose on validation, then look at the test set once
#
# We have several candidates, all trained on the same 150 digits: the three weight decays of the sweep
# (no decay among them) and early stopping. We pick the one with the lowest final validation loss in each framework — and only then, once,
# score the chosen model on the test set.

# %%
candidates = {f"weight decay {wd:g}": wd for wd in SWEEP}
valid_scores = {fw: {name: sweep_curves[wd, fw]["valid"][-1] for name, wd in candidates.items()}
                for fw in ("fastai", "keras")}
valid_scores["fastai"]["early stopping"] = fastai_es_restored
valid_scores["keras"]["early stopping"] = keras_es_restored
final_weights["early stopping", "fastai"] = fastai_side.get_weights(learn_es.model)
final_weights["early stopping", "keras"] = keras_side.get_weights(keras_plain_model)  # the restored best
chosen_setting = {fw: min(scores, key=scores.get) for fw, scores in valid_scores.items()}


def test_metrics(fw, setting):
    """Test loss and accuracy of one candidate's final weights (a fresh network holding them)."""
    side, model = (fastai_side, torch_mlp()) if fw == "fastai" else (keras_side, keras_mlp())
    side.set_weights(model, final_weights[candidates.get(setting, setting), fw])
    return compare.metrics(side.predict(model, X_test), y_test)


print(pd.DataFrame(valid_scores).rename_axis("validation loss").round(4))
test_scores = {fw: test_metrics(fw, chosen_setting[fw]) for fw in ("fastai", "keras")}
pd.DataFrame({fw: {"chosen on validation": chosen_setting[fw],
                   "its validation loss": valid_scores[fw][chosen_setting[fw]],
                   "test loss (looked at once)": test_scores[fw]["loss"],
                   "test accuracy": test_scores[fw]["accuracy"]} for fw in ("fastai", "keras")})

# %% [markdown]
# Where two candidates' validation losses are close, the small differences between the two frameworks can
# tip the choice one way or the other; what matters is that the test set is scored once, for the chosen one.
# The test numbers are what we would report. If we now went back and changed the decay because the test
# loss disappointed us, the test set would become a second validation set, and we would need a new one.

# %% [markdown]
# ## Recap
#
# * **Three sets.** Train on the training set, choose on the validation set, report on the test set, once.
#   Choosing uses a set up: the best of 200 random guessers looked well above chance on the set it was chosen
#   on and was at chance on the test set.
# * **Overfitting** shows in the curves: the training loss keeps falling while the validation loss turns up.
#   A 26,000-weight network on 150 digits does it within a few epochs, in fastai and in Keras alike from the
#   same weights and batches (their validation curves within a few per cent).
# * **Weight decay** shrinks the weights every step. Decoupled (AdamW): $w \leftarrow (1-\eta\lambda)w$
#   before the optimiser's step — fastai's `Adam` does this by default with `wd=0.01` (biases exempt via the
#   `Learner`'s `wd_bn_bias=False`); in Keras 3 any optimiser's `weight_decay=` (AdamW's default is 0.004;
#   exclude biases yourself). An **L2 penalty** (`kernel_regularizer=L2`, fastai's `decouple_wd=False`) is
#   the same for SGD, but inside Adam it is divided by the gradient scale — not the same thing.
# * With enough decay the validation loss stays down and the train/validation gap shrinks; fastai's default
#   0.01 does almost nothing in a run of 90 steps (the shrink factor is $(1-\eta\lambda)^{\text{steps}}$).
# * **Early stopping** (fastai `EarlyStoppingCallback` + `SaveModelCallback`, Keras `EarlyStopping(
#   restore_best_weights=True)`) stops after `patience` epochs without improvement and keeps the best weights.

# %% [markdown]
# ## Check your understanding
#
# **1. Why is the training loss a poor guide to how well a model will do on new data?**
#
# <details><summary>Answer</summary>
#
# A model with enough parameters can drive the training loss towards zero by memorising the training
# examples, noise included. The training loss measures that fit, not whether what was learned carries over;
# only data the model never trained on can tell us that.
#
# </details>
#
# **2. If we already have a validation set, why keep a separate test set?**
#
# <details><summary>Answer</summary>
#
# Every decision made by looking at the validation score (epochs, weight decay, architecture) fits the choice
# a little to those particular examples, so the winning validation score is optimistic. A test set that
# played no part in any decision gives an unbiased estimate of the chosen model, as long as we look at it
# once, at the end.
#
# </details>
#
# **3. What does "the validation loss turns up while the training loss keeps falling" tell you?**
#
# <details><summary>Answer</summary>
#
# The model has started to overfit: further training improves the fit to the training examples but makes
# predictions on new examples worse. The epoch where the validation loss is lowest is roughly where the model
# generalised best.
#
# </details>
#
# **4. The validation accuracy barely changed while the validation loss rose a lot. How can that be?**
#
# <details><summary>Answer</summary>
#
# Cross-entropy punishes confidence in wrong answers, accuracy only counts whether the top answer is right.
# An overfitting model keeps most of its answers but grows ever more confident, so the few it gets wrong cost
# more and more loss while the accuracy hardly moves.
#
# </details>
#
# **5. What exactly does fastai's `Adam` do with its default `wd=0.01`?**
#
# <details><summary>Answer</summary>
#
# Before each Adam step it multiplies every parameter that has weight decay enabled by `1 - lr*wd` (the
# `weight_decay` step, because `decouple_wd=True`): decoupled weight decay, as in AdamW. A fastai `Learner`
# switches the decay off for biases and normalisation parameters by default (`wd_bn_bias=False`).
#
# </details>
#
# **6. Why did fastai's default of 0.01 hardly change our short run, while 1.0 did?**
#
# <details><summary>Answer</summary>
#
# Decoupled decay shrinks the weights by a factor of `1 - lr*wd` per step, so its total effect depends on the
# product of learning rate, decay and number of steps. With a learning rate of 0.01 and 90 steps, 0.01 shrinks
# the weights by less than 1 % in all; larger values shrink them by about 1 % per step.
#
# </details>
#
# **7. For plain SGD, decoupled weight decay and an L2 penalty give the same update. Why not for Adam?**
#
# <details><summary>Answer</summary>
#
# With SGD both subtract the learning rate times the decay coefficient times the weight. Adam divides each
# gradient component by a running estimate of its size, so an L2 term added to the gradient is divided too:
# weights with large gradients are hardly decayed and weights with tiny gradients are decayed strongly.
# Decoupled decay is applied outside that division, equally to every weight.
#
# </details>
#
# **8. How do you get AdamW-style decay in Keras, and what must you add to match fastai?**
#
# <details><summary>Answer</summary>
#
# Use `keras.optimizers.AdamW(weight_decay=...)` (or pass `weight_decay=` to any Keras 3 optimiser): it applies
# decoupled decay before each step. Keras decays biases too, so to match fastai's default call
# `optimizer.exclude_from_weight_decay(var_names=["bias"])` before training.
#
# </details>
#
# **9. Is `kernel_regularizer=keras.regularizers.L2(...)` the same as AdamW when the optimiser is Adam?**
#
# <details><summary>Answer</summary>
#
# No. The regulariser adds a penalty to the loss, so its gradient goes through Adam's per-weight scaling like
# the rest of the gradient: that is coupled L2, which the lesson showed ending with different weights after
# only a few steps. It is also included in the loss Keras reports.
#
# </details>
#
# **10. What does early stopping's patience control, and what do `SaveModelCallback` and
# `restore_best_weights=True` add?**
#
# <details><summary>Answer</summary>
#
# Patience is how many epochs in a row without a new best validation loss are tolerated before training
# stops. Stopping alone leaves the weights of the last epoch, which are already a few epochs past the best;
# saving the best model and restoring it at the end keeps the weights from the best epoch instead.
#
# </details>

# %% [markdown]
# ## Further reading
#
# - Ilya Loshchilov and Frank Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019), https://arxiv.org/abs/1711.05101 — the paper behind AdamW, showing why L2 regularisation and weight decay differ for adaptive optimisers like Adam.
# - Anders Krogh and John A. Hertz, *A Simple Weight Decay Can Improve Generalization* (NIPS 1991) — an early analysis of why shrinking weights towards zero helps a network generalise from few examples.
# - Lutz Prechelt, *Early Stopping - But When?*, in *Neural Networks: Tricks of the Trade* (1998) — compares concrete stopping criteria on many problems and what each costs in training time and accuracy.
# - Jeremy Howard and Sylvain Gugger, *Deep Learning for Coders with fastai and PyTorch* (2020), https://github.com/fastai/fastbook — chapter 1 explains validation and test sets, and chapter 8 weight decay, in the fastai style this course uses.
# - Ian Goodfellow, Yoshua Bengio and Aaron Courville, *Deep Learning* (2016), https://www.deeplearningbook.org — chapter 7 surveys regularisation, including parameter norm penalties and early stopping, with the maths.
