# %% [markdown]
# # Lesson 05 — Refactoring the training loop: why fastai is easier to use
#
# In 2020, MIT's *Introduction to Deep Learning* bootcamp (6.S191) taught its labs in **Keras on TensorFlow**
# (its labs now also ship PyTorch versions); fast.ai's *Practical Deep Learning* course teaches with **fastai on
# PyTorch**. Both frameworks train the same models to the same accuracy. So why do so many people find fastai
# easier?
#
# This lesson answers in code. fastai is not magic: it is the result of **refactoring the structure of a
# training program** — writing the loop once and turning everything that changes between experiments into
# pieces you plug in. We will do that refactoring ourselves, and then compare with the cut Keras made.
#
# By the end of this lesson you will be able to:
#
# 1. write a complete training loop in plain PyTorch: data, model, loss, optimiser, loop, metrics, logging;
# 2. refactor it step by step — `Dataset`/`DataLoader`, an optimiser object, a `Learner` class, callbacks —
#    and check after each step that it still trains to the same numbers;
# 3. recognise the result as fastai's own design (its mid-level `Learner` + callbacks, its high-level
#    `fit_one_cycle` and friends) and run the real `fastai.Learner` on it;
# 4. explain Keras's answer — `compile`/`fit`, callbacks, overriding `train_step` — and where it is simpler;
# 5. measure the difference: the same experiment in raw PyTorch, fastai and Keras, in lines and concepts.
#
# Cells marked *graded* are exercises: replace `raise NotImplementedError()` with your code, then run the
# test cell below it. Run the notebook top to bottom (**Run → Run All Cells**) the first time.

# %% [markdown]
# ## 0. Set-up
#
# The first cell prepares the kernel (PyTorch before TensorFlow, one CPU thread, quiet TensorFlow, seeds).
# Then we import what the lesson shows: PyTorch's building blocks, fastai, Keras.

# %%
import helpers

helpers.setup(seed=0)

import inspect
import math
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from IPython.utils.capture import capture_output

from helpers import checks, compare, data, widgets
from helpers.lessons import l05_loops

# %%
from fastai.basics import *  # noqa: E402,F403 - fastai's documented import style
from fastai.callback.all import *  # noqa: E402,F403

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402 - PyTorch's own DataLoader from here on

# %% [markdown]
# ## 1. The task: digits, one small network
#
# We use scikit-learn's 1,797 handwritten digits (8×8 pixels, bundled, no download), split 80/20 into
# training and validation sets, and one network throughout: 64 inputs → 32 ReLU units → 10 scores.
# `make_model(seed)` always builds the *same* starting weights for a given seed, so two runs that do the same
# arithmetic must end with the same weights — that is how we will check each refactoring.

# %%
digits = data.digits(valid_pct=0.2, seed=0)
X_train, y_train = torch.tensor(digits.X_train), torch.tensor(digits.y_train)
X_valid, y_valid = torch.tensor(digits.X_valid), torch.tensor(digits.y_valid)

EPOCHS, BS, LR, MOM = 5, 64, 0.1, 0.9  # the same hyperparameters everywhere in this lesson


def make_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def params_gap(a, b):
    """The largest difference between two models' weights (0.0 means identical)."""
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


print(digits, "·", checks.count_params(make_model()), "parameters")

# %% [markdown]
# ## 2. A training loop by hand
#
# Here is everything a training program does, written out with nothing but tensors and autograd:
#
# * **data** — shuffle the training set every epoch and cut it into batches of 64;
# * **model** and **loss** — scores from the network, cross-entropy against the labels;
# * **optimiser** — SGD with momentum, by hand: keep a *velocity* per weight, $v \leftarrow \mu v + g$,
#   then step $w \leftarrow w - \eta v$;
# * **loop** — epochs of batches: forward, loss, backward, step, zero the gradients;
# * **metrics** — loss and accuracy on the validation set, with gradients off;
# * **logging** — one line per epoch, plus a list of dictionaries we can plot.

# %%
def train_v0(model, epochs=EPOCHS, seed=0):
    """Version 0: the whole training program, by hand."""
    gen = torch.Generator().manual_seed(seed)  # reproducible shuffling
    velocity = [torch.zeros_like(p) for p in model.parameters()]  # the optimiser's state
    log = []
    for epoch in range(epochs):
        # train: shuffle, cut into batches, step
        model.train()
        order = torch.randperm(len(X_train), generator=gen)
        train_loss = 0.0
        for i in range(0, len(X_train), BS):
            idx = order[i:i + BS]
            xb, yb = X_train[idx], y_train[idx]
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            with torch.no_grad():  # SGD with momentum, by hand
                for p, v in zip(model.parameters(), velocity):
                    v.mul_(MOM).add_(p.grad)
                    p -= LR * v
                    p.grad.zero_()
            train_loss += loss.item() * len(xb)
        # validate: loss and accuracy on data the model never trains on
        model.eval()
        with torch.no_grad():
            logits = model(X_valid)
            valid_loss = F.cross_entropy(logits, y_valid).item()
            accuracy = (logits.argmax(dim=1) == y_valid).float().mean().item()
        # log
        log.append({"epoch": epoch, "train_loss": train_loss / len(X_train), "valid_loss": valid_loss,
                    "accuracy": accuracy})
        print(f"epoch {epoch}  train_loss {log[-1]['train_loss']:.4f}  valid_loss {valid_loss:.4f}  "
              f"accuracy {accuracy:.4f}")
    return log


# %% [markdown]
# It works: five passes over the data take a fraction of a second and reach about 95% accuracy.

# %%
model_v0 = make_model()
log_v0 = train_v0(model_v0)
acc_v0 = log_v0[-1]["accuracy"]

# %% [markdown]
# It works — and it is a tangle. The data logic, the optimiser's arithmetic, the metrics and the printing are
# interleaved in one function. Want Adam instead of SGD? Rewrite the inner block. A learning-rate schedule?
# Edit the loop. Stop early? Edit it again. Every experiment is surgery on the same function — and it is
# not short. The rest of the lesson takes it apart, one idea at a time.

# %%
print(f"train_v0 is {l05_loops.count_lines(train_v0)} lines of code "
      "(blank lines, comments and docstring not counted)")

# %% [markdown]
# ## 3. Refactoring, one step at a time
#
# Each step below moves one responsibility out of the loop and then **trains again from the same starting
# weights**. A refactoring must not change what the program computes, so we compare the final weights.
#
# ### Step 1 — `Dataset` and `DataLoader`: the data logic leaves the loop
#
# PyTorch's `TensorDataset` pairs inputs with labels; its `DataLoader` shuffles and batches them. The loop
# shrinks to `for xb, yb in train_dl`, and validation can run in batches too, so it becomes a small function.
# We make fresh loaders for each run, seeded, so every run sees the same batches.

# %%
def make_dls(seed=0):
    """Training and validation DataLoaders over the digits tensors (shuffling seeded)."""
    train_dl = DataLoader(TensorDataset(X_train, y_train), batch_size=BS, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
    valid_dl = DataLoader(TensorDataset(X_valid, y_valid), batch_size=256)
    return train_dl, valid_dl


def validate(model, dl):
    """Loss and accuracy over a whole DataLoader, gradients off."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in dl:
            preds = model(xb)
            total_loss += F.cross_entropy(preds, yb, reduction="sum").item()
            correct += (preds.argmax(dim=1) == yb).sum().item()
            n += len(yb)
    model.train()
    return {"valid_loss": total_loss / n, "accuracy": correct / n}


# %%
def train_v1(model, dls, epochs=EPOCHS):
    """Version 1: batches come from a DataLoader; the optimiser is still by hand."""
    train_dl, valid_dl = dls
    velocity = [torch.zeros_like(p) for p in model.parameters()]
    log = []
    for epoch in range(epochs):
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            with torch.no_grad():
                for p, v in zip(model.parameters(), velocity):
                    v.mul_(MOM).add_(p.grad)
                    p -= LR * v
                    p.grad.zero_()
            train_loss += loss.item() * len(xb)
        log.append({"epoch": epoch, "train_loss": train_loss / len(train_dl.dataset), **validate(model, valid_dl)})
    return log


model_v1 = make_model()
log_v1 = train_v1(model_v1, make_dls())
acc_v1 = log_v1[-1]["accuracy"]
print(f"version 0: accuracy {acc_v0:.4f}   version 1: accuracy {acc_v1:.4f}")

# %% [markdown]
# The accuracy agrees to within about a point, but not to the last digit: the `DataLoader` draws its random
# numbers in a different order than our `randperm` did, so the batches arrive in a different order. That is
# the only change — from here on every run uses the same loaders, and we can demand **identical** weights.
#
# ### Step 2 — an optimiser object: the update rule leaves the loop
#
# The five lines of momentum arithmetic become two calls on an object that owns the velocities:
# `opt.step()` and `opt.zero_grad()`. PyTorch ships it as `torch.optim.SGD`; swapping in Adam is now a
# one-word change.

# %%
def train_v2(model, dls, epochs=EPOCHS):
    """Version 2: an optimiser object does the update."""
    train_dl, valid_dl = dls
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    log = []
    for epoch in range(epochs):
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        log.append({"epoch": epoch, "train_loss": train_loss / len(train_dl.dataset), **validate(model, valid_dl)})
    return log


model_v2 = make_model()
log_v2 = train_v2(model_v2, make_dls())
acc_v2 = log_v2[-1]["accuracy"]
gap_v1_v2 = params_gap(model_v1, model_v2)
print(f"largest weight difference, version 1 vs 2: {gap_v1_v2:.1e}")

# %% [markdown]
# The weights agree to within float32 rounding (about $10^{-7}$ at most): `torch.optim.SGD` does exactly our
# arithmetic, up to the order of a multiply and an add.
#
# ### Exercise 1 (graded, 3 points): the update rule as a reusable class
#
# Do that refactoring yourself. Write `MomentumSGD(params, lr, mom=0.9)` with the two methods the loop
# needs:
#
# * `step()` — for every parameter that has a gradient: $v \leftarrow \mu v + g$, then
#   $w \leftarrow w - \eta v$ (no gradient tracking while you update; skip parameters whose `.grad` is `None`,
#   e.g. a frozen layer);
# * `zero_grad()` — reset the gradients to zero (or to `None`).
#
# `params` may be a generator such as `model.parameters()`, which can be read only once — keep a list.
# Keep the learning rate in `self.lr` and read it in every `step()`, so a schedule can change it between
# steps. Each velocity has its parameter's shape (start at zeros, e.g. `torch.zeros_like(p)`).
#
# **What is checked:** 30 steps on the digits from the same weights and batches as `torch.optim.SGD(params, lr,
# momentum=mom)` must end with weights within $10^{-5}$ of it (the test below). The grader also checks
# `mom=0` with another learning rate, that `zero_grad()` leaves every gradient zero or `None`, that a frozen
# parameter (`.grad` is `None`) is left unchanged, and that setting `opt.lr` between steps takes effect.

# %% nbgrader={"grade": false, "grade_id": "momentum_sgd", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MomentumSGD:
    """SGD with momentum: v = mom * v + grad, then w = w - lr * v."""

    def __init__(self, params, lr, mom=0.9):
        ### BEGIN SOLUTION
        self.params = list(params)
        self.lr, self.mom = lr, mom
        self.velocity = [torch.zeros_like(p) for p in self.params]
        ### END SOLUTION

    def step(self):
        ### BEGIN SOLUTION
        with torch.no_grad():
            for p, v in zip(self.params, self.velocity):
                if p.grad is None:
                    continue
                v.mul_(self.mom).add_(p.grad)
                p -= self.lr * v
        ### END SOLUTION

    def zero_grad(self):
        ### BEGIN SOLUTION
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "momentum_sgd_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _train_with(opt_class, steps=30, **kwargs):
    model = make_model(seed=3)
    opt = opt_class(model.parameters(), **kwargs)
    for _, (xb, yb) in zip(range(steps), make_dls(seed=3)[0]):
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        opt.zero_grad()
    return model


mine = _train_with(MomentumSGD, lr=LR, mom=MOM)
ref = _train_with(torch.optim.SGD, lr=LR, momentum=MOM)
checks.check_between(params_gap(mine, ref), 0.0, 1e-5, name="largest weight difference from torch.optim.SGD",
                     say=True)
### BEGIN HIDDEN TESTS
# momentum 0 is plain SGD; a different learning rate
checks.check_between(params_gap(_train_with(MomentumSGD, steps=10, lr=0.05, mom=0.0),
                                _train_with(torch.optim.SGD, steps=10, lr=0.05, momentum=0.0)), 0.0, 1e-5,
                     name="MomentumSGD with mom=0 vs plain SGD")
# zero_grad really clears the gradients
_m = make_model(seed=4)
_opt = MomentumSGD(_m.parameters(), lr=0.1)
F.cross_entropy(_m(X_train[:8]), y_train[:8]).backward()
_opt.zero_grad()
checks.check_true(all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in _m.parameters()),
                  "after zero_grad() every gradient must be zero (or None)", name="zero_grad()")
# a frozen parameter (grad None) is skipped, not an error, and left unchanged
_m = make_model(seed=5)
_m[0].weight.requires_grad_(False)
_frozen = _m[0].weight.detach().clone()
_opt = MomentumSGD(_m.parameters(), lr=0.1)
F.cross_entropy(_m(X_train[:8]), y_train[:8]).backward()
_opt.step()
checks.check_true(bool(torch.equal(_m[0].weight, _frozen)), "a parameter without a gradient must not change",
                  name="step() with a frozen layer")
# changing opt.lr between steps takes effect (what a schedule does)
_a, _b = make_model(seed=6), make_model(seed=6)
_oa, _ob = MomentumSGD(_a.parameters(), lr=0.1, mom=0.9), torch.optim.SGD(_b.parameters(), lr=0.1, momentum=0.9)
for _k, (xb, yb) in zip(range(6), make_dls(seed=6)[0]):
    _oa.lr = _ob.param_groups[0]["lr"] = 0.1 / (1 + _k)
    for _mod, _o in ((_a, _oa), (_b, _ob)):
        F.cross_entropy(_mod(xb), yb).backward()
        _o.step()
        _o.zero_grad()
checks.check_between(params_gap(_a, _b), 0.0, 1e-5, name="MomentumSGD with a changing lr")
### END HIDDEN TESTS

# %% [markdown]
# ### Step 3 — a `Learner`: the loop is written once
#
# Versions 1 and 2 still hard-code the model, the loss and the optimiser. Put the loop in a class and pass
# them in — an *optimiser function* (`opt_func`) rather than an optimiser, because the optimiser needs the
# model's parameters, which the `Learner` owns. (fastai uses exactly these names: `loss_func`, `opt_func`.)

# %%
class MiniLearner:
    """Version 3: the loop, written once; model, data, loss and optimiser are passed in."""

    def __init__(self, model, dls, loss_func, opt_func, lr):
        self.model, self.dls, self.loss_func, self.opt_func, self.lr = model, dls, loss_func, opt_func, lr

    def fit(self, epochs):
        self.opt = self.opt_func(self.model.parameters(), lr=self.lr)
        self.log = []
        for epoch in range(epochs):
            train_loss, n = 0.0, 0
            for xb, yb in self.dls[0]:
                loss = self.loss_func(self.model(xb), yb)
                loss.backward()
                self.opt.step()
                self.opt.zero_grad()
                train_loss, n = train_loss + loss.item() * len(xb), n + len(xb)
            self.log.append({"epoch": epoch, "train_loss": train_loss / n, **validate(self.model, self.dls[1])})
            print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.log[-1].items()))
        return self


# %%
sgd = partial(torch.optim.SGD, momentum=MOM)
learn_v3 = MiniLearner(make_model(), make_dls(), F.cross_entropy, sgd, LR).fit(EPOCHS)
acc_v3 = learn_v3.log[-1]["accuracy"]
gap_v2_v3 = params_gap(model_v2, learn_v3.model)
print(f"largest weight difference, version 2 vs 3: {gap_v2_v3:.1e}")

# %% [markdown]
# Identical to the last bit. But the metrics and the printing are still welded into `fit`; a schedule or early
# stopping would still mean editing it.
#
# ### Step 4 — callbacks: everything that varies plugs in
#
# The last step is the one that makes fastai fastai. The `Learner` announces **events** as it runs —
# `before_fit`, `before_epoch`, `before_train`, `before_batch`, `after_backward`, `after_batch`,
# `before_validate`, `after_epoch`, `after_fit` — and every *callback* object gets a chance to act at each
# one. A callback sees the whole learner (`self.learn`: the model, the batch, the loss, the optimiser) and
# can stop training by raising `CancelFit`. The loop itself no longer knows about metrics or printing.

# %%
class CancelFit(Exception):
    """Raised by a callback to stop training (fastai: CancelFitException)."""


class MiniCallback:
    order = 0  # callbacks run in increasing order at each event (fastai: Callback)


class MiniLearner:  # noqa: F811 - version 4 replaces version 3
    """Version 4: the loop announces events; callbacks do everything else."""

    def __init__(self, model, dls, loss_func, opt_func, lr, cbs=()):
        self.model, self.dls, self.loss_func, self.opt_func, self.lr = model, dls, loss_func, opt_func, lr
        self.cbs = sorted(cbs, key=lambda cb: cb.order)
        for cb in self.cbs:
            cb.learn = self

    def callback(self, event):
        for cb in self.cbs:
            if hasattr(cb, event):
                getattr(cb, event)()

    def one_batch(self):
        self.callback("before_batch")
        self.preds = self.model(self.xb)
        self.loss = self.loss_func(self.preds, self.yb)
        if self.training:
            self.loss.backward()
            self.callback("after_backward")
            self.opt.step()
            self.opt.zero_grad()
        self.callback("after_batch")

    def one_pass(self, training):
        self.training = training
        self.model.train(training)
        self.callback("before_train" if training else "before_validate")
        with torch.set_grad_enabled(training):
            for self.xb, self.yb in self.dls[0 if training else 1]:
                self.one_batch()

    def fit(self, epochs):
        self.epochs, self.opt = epochs, self.opt_func(self.model.parameters(), lr=self.lr)
        try:
            self.callback("before_fit")
            for self.epoch in range(epochs):
                self.callback("before_epoch")
                self.one_pass(training=True)
                self.one_pass(training=False)
                self.callback("after_epoch")
        except CancelFit:
            pass
        self.callback("after_fit")
        return self


# %% [markdown]
# What version 3 did inside `fit` now lives in two callbacks. `MetricsCB` averages the training loss, the
# validation loss and any metric functions over each epoch and appends a row to `learn.history`; `PrintCB`
# prints that row.

# %%
def batch_accuracy(preds, targets):
    return (preds.argmax(dim=1) == targets).float().mean()


class MetricsCB(MiniCallback):
    """Average losses and metrics over each epoch into learn.history (fastai: Recorder + metrics=...)."""

    def __init__(self, *metrics):
        self.metrics = metrics

    def before_fit(self):
        self.learn.history = []

    def before_epoch(self):
        self.sums = {"train_loss": 0.0, "valid_loss": 0.0, **{m.__name__: 0.0 for m in self.metrics}}
        self.counts = {"train": 0, "valid": 0}

    def after_batch(self):
        learn, n = self.learn, len(self.learn.yb)
        split = "train" if learn.training else "valid"
        self.counts[split] += n
        self.sums[f"{split}_loss"] += learn.loss.item() * n
        if not learn.training:
            for m in self.metrics:
                self.sums[m.__name__] += m(learn.preds, learn.yb).item() * n

    def after_epoch(self):
        row = {"epoch": self.learn.epoch}
        for name, total in self.sums.items():
            row[name] = total / self.counts["train" if name == "train_loss" else "valid"]
        self.learn.history.append(row)


class PrintCB(MiniCallback):
    """Print each epoch's row (fastai: ProgressCallback)."""
    order = MetricsCB.order + 10

    def after_epoch(self):
        print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in self.learn.history[-1].items()))


# %% [markdown]
# Same model, same loaders, same optimiser, with the metrics and printing as callbacks:

# %%
learn_v4 = MiniLearner(make_model(), make_dls(), F.cross_entropy, sgd, LR,
                       cbs=[MetricsCB(batch_accuracy), PrintCB()]).fit(EPOCHS)
acc_v4 = learn_v4.history[-1]["batch_accuracy"]
gap_v3_v4 = params_gap(learn_v3.model, learn_v4.model)
print(f"largest weight difference, version 3 vs 4: {gap_v3_v4:.1e}")

# %% [markdown]
# ### Loss vs metric: which piece the loop differentiates
#
# Notice where the two numbers went. The loop calls `backward()` on one thing only, the output of `loss_func`:
# that is what the optimiser minimises. The metric, `batch_accuracy`, lives in `MetricsCB`, which reads the
# predictions after each validation batch, with gradients off, and writes a number for you to read. Accuracy
# could not be the loss anyway: `argmax` and `==` cut the autograd graph, and lesson 04 showed that accuracy's
# gradient is zero wherever it exists. On one validation batch:

# %%
xb_check, yb_check = next(iter(make_dls()[1]))
preds_check = learn_v4.model(xb_check)
loss_vs_metric = {"loss_func": learn_v4.loss_func(preds_check, yb_check),
                  "metric": batch_accuracy(preds_check, yb_check)}
for role, value in loss_vs_metric.items():
    graph = type(value.grad_fn).__name__ if value.grad_fn is not None else "None (nothing to differentiate)"
    print(f"{role:<9}  {value.item():.4f}   grad_fn: {graph}")

# %% [markdown]
# fastai's `Learner(loss_func=..., metrics=...)` and Keras's `compile(loss=..., metrics=[...])` make the same
# split. In the `train_step` you will meet in section 5, Keras takes the gradient of `compute_loss` alone and
# only then updates the metrics.

# %% [markdown]
# ### New behaviour without touching the loop
#
# Now the payoff. A **learning-rate schedule** is a callback that sets the rate before each training batch;
# we use fastai's *one-cycle* shape (warm up from $\eta/25$ to $\eta$ over the first quarter, then anneal
# to almost zero, both along a cosine). **Early stopping** is a callback that watches the validation loss after
# each epoch and raises `CancelFit` when it has not improved for `patience` epochs.

# %%
def one_cycle(pct, lr_max, warm=0.25):
    """The learning rate at `pct` (0..1) of training: cosine up from lr_max/25, then cosine down to ~0."""
    def cos(start, end, p):
        return end + (start - end) * (1 + math.cos(math.pi * p)) / 2
    if pct < warm:
        return cos(lr_max / 25, lr_max, pct / warm)
    return cos(lr_max, lr_max / 1e5, (pct - warm) / (1 - warm))


class OneCycleCB(MiniCallback):
    """Set the learning rate before every training batch (fastai: fit_one_cycle / ParamScheduler)."""

    def __init__(self, lr_max):
        self.lr_max = lr_max

    def before_fit(self):
        self.total, self.lrs = self.learn.epochs * len(self.learn.dls[0]), []

    def before_batch(self):
        if self.learn.training:
            lr = one_cycle(len(self.lrs) / self.total, self.lr_max)
            for group in self.learn.opt.param_groups:
                group["lr"] = lr
            self.lrs.append(lr)


class EarlyStoppingCB(MiniCallback):
    """Stop when `monitor` has not improved for `patience` epochs (fastai: EarlyStoppingCallback)."""
    order = MetricsCB.order + 1  # after the metrics are in learn.history

    def __init__(self, monitor="valid_loss", patience=2):
        self.monitor, self.patience = monitor, patience

    def before_fit(self):
        self.best, self.wait, self.stopped_epoch = math.inf, 0, None

    def after_epoch(self):
        value = self.learn.history[-1][self.monitor]
        if value < self.best:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = self.learn.epoch
                raise CancelFit()


# %% [markdown]
# We plan 30 epochs with a deliberately aggressive peak learning rate of 0.3 (three times what we used so far)
# and a patience of 2, and add both callbacks. The `MiniLearner` class is unchanged — adding behaviour is
# adding an object to a list.

# %%
schedule_cb, early_cb = OneCycleCB(lr_max=0.3), EarlyStoppingCB(patience=2)
learn_cbs = MiniLearner(make_model(), make_dls(), F.cross_entropy, sgd, 0.3,
                        cbs=[MetricsCB(batch_accuracy), schedule_cb, early_cb, PrintCB()]).fit(30)
epochs_run_cbs = len(learn_cbs.history)
print(f"stopped after {epochs_run_cbs} of 30 epochs")

# %% [markdown]
# The learning rate followed the planned one-cycle curve (left). As it climbed towards 0.3, training became
# unstable: the validation loss stopped improving for two epochs in a row, and early stopping ended the run
# long before the plan did (right) — which is exactly what it is for: not wasting 24 more epochs on a run that
# has gone wrong.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
planned = [one_cycle(i / schedule_cb.total, 0.3) for i in range(schedule_cb.total)]
ax1.plot(planned, color="lightgrey", lw=3, label="planned (30 epochs)")
ax1.plot(schedule_cb.lrs, color="#ff7f0e", label="applied")
ax1.set(xlabel="training batch", ylabel="learning rate", title="OneCycleCB: the schedule")
ax1.legend()
ax2.plot([r["valid_loss"] for r in learn_cbs.history], "o-", color="#ff7f0e")
best_epoch = int(np.argmin([r["valid_loss"] for r in learn_cbs.history]))
ax2.axvline(best_epoch, color="grey", ls=":", label=f"best epoch ({best_epoch})")
ax2.axvline(early_cb.stopped_epoch, color="#d62728", ls="--", label=f"stopped (epoch {early_cb.stopped_epoch})")
ax2.set(xlabel="epoch", ylabel="validation loss", title="EarlyStoppingCB: patience 2")
ax2.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Every step trained to the same result
#
# Versions 1 to 4 end with the same weights (the differences printed above are at most float32 rounding), so
# their validation curves lie exactly on top of each other; version 0 differs only by its shuffling.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
versions = {"0 by hand": log_v0, "1 DataLoader": log_v1, "2 optimiser": log_v2, "3 Learner": learn_v3.log,
            "4 callbacks": [{**r, "accuracy": r["batch_accuracy"]} for r in learn_v4.history]}
for (name, log), ls in zip(versions.items(), ["-", "-", "--", ":", "-."]):
    for ax, key in zip(axes, ("valid_loss", "accuracy")):
        ax.plot([r[key] for r in log], ls, marker="o", ms=3, label=name)
axes[0].set(xlabel="epoch", ylabel="validation loss", title="Validation loss of each version", xticks=range(EPOCHS))
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy of each version",
            xticks=range(EPOCHS))
axes[1].legend()
fig.tight_layout()
plt.show()
print({name: round(log[-1]["accuracy"], 4) for name, log in versions.items()})

# %% [markdown]
# ## 4. This is fastai's design
#
# ### Same events, same names
#
# Our `MiniLearner` is a toy version of `fastai.Learner`. Its event names are fastai's own
# (`fastai.callback.core.event` lists them all — fastai has a few more, such as `after_pred`, `after_loss`
# and `before_step`, and a *cancel* event for each stage):

# %%
our_events = ["before_fit", "before_epoch", "before_train", "before_batch", "after_backward", "after_batch",
              "before_validate", "after_epoch", "after_fit"]
fastai_events = [e for e in vars(event) if not e.startswith("_")]
print("fastai's events:", ", ".join(fastai_events))
print("ours missing from fastai:", [e for e in our_events if e not in fastai_events])

# %% [markdown]
# ### The real `fastai.Learner`, on our DataLoaders
#
# fastai's `Learner` accepts plain PyTorch `DataLoader`s (wrapped in `DataLoaders`), any `nn.Module`, any
# loss function, and an `opt_func`. Give it the same model, loaders and SGD as versions 3 and 4 and it
# does the same arithmetic: the weights come out identical.

# %%
fastai_same = Learner(DataLoaders(*make_dls()), make_model(), loss_func=F.cross_entropy,
                      opt_func=partial(SGD, mom=MOM), lr=LR, metrics=accuracy)
fastai_same.fit(EPOCHS)
gap_v4_fastai = params_gap(learn_v4.model, fastai_same.model)
print(f"largest weight difference, our version 4 vs fastai.Learner: {gap_v4_fastai:.1e}")

# %% [markdown]
# ### The layers
#
# fastai's paper (Howard & Gugger, 2020) describes a **layered API**; you have just rebuilt its middle:
#
# | layer | what it gives you | in this lesson |
# |---|---|---|
# | **high-level** | one-line recipes: `fit_one_cycle`, `lr_find`, `metrics=accuracy`, ready-made callbacks, `vision_learner`/`tabular_learner` | our `OneCycleCB`, `EarlyStoppingCB` |
# | **mid-level** | `Learner` + `Callback` with two dozen events, `DataLoaders`, a generic `Optimizer` | our `MiniLearner`, `MetricsCB`, `PrintCB` |
# | **low-level** | PyTorch tensors, autograd and modules; fastai's optimiser *steppers*, transforms | version 0 |
#
# fastai applied the same refactoring to the optimiser: an `Optimizer` is a list of small *stepper*
# functions (weight decay, averaging the gradient, the step itself). Here is its SGD — momentum is just
# one more stepper in the list:

# %%
print(inspect.getsource(SGD))

# %% [markdown]
# ### A fastai callback reaches inside the loop
#
# Because a fastai callback sees the whole learner at every event, it can observe (or change) anything —
# the batch, the predictions, the loss, the gradients. This one records the total gradient norm of every
# training batch, right after `backward()`. fastai also registers each callback as an attribute named after
# its class (`GradNorms` → `learn.grad_norms`).

# %%
class GradNorms(Callback):
    """Record the gradient norm of every training batch."""

    def before_fit(self):
        self.norms = []

    def after_backward(self):
        grads = [p.grad.flatten() for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.cat(grads).norm().item())


def fastai_dls():
    """fastai DataLoaders over the digits (no worker processes: the data is already in memory)."""
    return DataLoaders.from_dsets(TensorDataset(X_train, y_train), TensorDataset(X_valid, y_valid), bs=BS,
                                  num_workers=0)


grad_learn = Learner(fastai_dls(), make_model(), loss_func=F.cross_entropy, opt_func=partial(SGD, mom=MOM),
                     lr=LR, cbs=GradNorms())
with grad_learn.no_bar(), grad_learn.no_logging():
    grad_learn.fit(2)
fastai_grad_norms = grad_learn.grad_norms.norms
print(f"{len(fastai_grad_norms)} gradient norms recorded, first {fastai_grad_norms[0]:.3f}, "
      f"last {fastai_grad_norms[-1]:.3f}")

# %% [markdown]
# ### Exercise 2 (graded, 3 points): a fastai callback
#
# Write `StopAtAccuracy(target)`, a fastai `Callback` that stops training at the end of the first epoch whose
# **validation accuracy** is at least `target`, and remembers that epoch (0-based) in `self.stopped_epoch`
# (`None` if training never stopped).
#
# * Its `order` is given: it runs after fastai's `Recorder` has stored the epoch's numbers.
# * In `after_epoch`, `self.recorder.metric_names` is e.g. `['epoch', 'train_loss', 'valid_loss', 'accuracy',
#   'time']` and `self.recorder.values[-1]` holds this epoch's numbers for `metric_names[1:]` without
#   `'time'`. Look the column up by name — the learner may have other metrics too.
# * `self.epoch` is the current epoch; stop training with `raise CancelFitException()`.
#
# **What is checked:** a 10-epoch fit with `StopAtAccuracy(0.9)` and `metrics=accuracy` must stop early, at an
# epoch whose validation accuracy is at least 0.9, with `stopped_epoch` naming that epoch (the test below).
# The grader also checks that it stops at the *first* such epoch, that with an unreachable target every epoch
# runs and `stopped_epoch` stays `None`, and that it still finds the accuracy when the learner has another
# metric before or after it (`metrics=[accuracy, error_rate]` and `[error_rate, accuracy]`).

# %% nbgrader={"grade": false, "grade_id": "fastai_stop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class StopAtAccuracy(Callback):
    """Stop at the end of the first epoch whose validation accuracy reaches `target`."""
    order = Recorder.order + 1

    def __init__(self, target):
        ### BEGIN SOLUTION
        self.target, self.stopped_epoch = target, None
        ### END SOLUTION

    def after_epoch(self):
        ### BEGIN SOLUTION
        names = list(self.recorder.metric_names[1:])
        if self.recorder.values[-1][names.index("accuracy")] >= self.target:
            self.stopped_epoch = self.epoch
            raise CancelFitException()
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fastai_stop_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _fastai_run(cb, epochs, metrics=accuracy, seed=1):
    lrn = Learner(fastai_dls(), make_model(seed), loss_func=F.cross_entropy, opt_func=partial(SGD, mom=MOM),
                  lr=LR, metrics=metrics, cbs=cb)
    with lrn.no_bar(), lrn.no_logging():
        lrn.fit(epochs)
    return lrn


_stop = StopAtAccuracy(0.9)
_lrn = _fastai_run(_stop, 10)
_accs = [v[2] for v in _lrn.recorder.values]
checks.check_between(len(_accs), 1, 9, name="epochs run with target 0.9 (of 10)", say=True)
# 1e-6: an accuracy of exactly 0.9 is 0.89999998 in float32, which a callback may compare as a tensor
checks.check_at_least(_accs[-1], 0.9 - 1e-6, name="validation accuracy when it stopped (target 0.9)")
checks.check_equal(_stop.stopped_epoch, len(_accs) - 1, name="stopped_epoch")
### BEGIN HIDDEN TESTS
checks.check_true(all(a < 0.9 for a in _accs[:-1]), "it should stop at the FIRST epoch that reaches the target",
                  name="StopAtAccuracy(0.9)")
# an unreachable target: every epoch runs, stopped_epoch stays None
_never = StopAtAccuracy(1.01)
_lrn = _fastai_run(_never, 2, seed=2)
checks.check_equal(len(_lrn.recorder.values), 2, name="epochs run with an unreachable target (of 2)")
checks.check_equal(_never.stopped_epoch, None, name="stopped_epoch when training never stops")
# another metric before or after accuracy: the callback must look the column up by name, not by position
for _metrics, _names in (([accuracy, error_rate], "[accuracy, error_rate]"), ([error_rate, accuracy], "[error_rate, accuracy]")):
    _first = StopAtAccuracy(0.5)
    _lrn = _fastai_run(_first, 3, metrics=_metrics, seed=2)
    checks.check_equal(len(_lrn.recorder.values), 1, name=f"epochs run with metrics={_names} and target 0.5 (of 3)",
                       hint="look the accuracy column up by its name in self.recorder.metric_names")
    checks.check_equal(_first.stopped_epoch, 0, name=f"stopped_epoch with metrics={_names}")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Keras's answer
#
# Keras made a different cut. There is no separate `Learner`: the **model itself** owns the loop.
# `compile(optimizer=..., loss=..., metrics=...)` plays the role of `opt_func`/`loss_func`/`metrics`, and
# `fit(...)` is the loop. Its callbacks hear events with Keras names:

# %%
print([name for name in dir(keras.callbacks.Callback) if name.startswith("on_")])

# %% [markdown]
# The events line up with fastai's: `on_train_begin` ≈ `before_fit`, `on_epoch_end` ≈ `after_epoch`,
# `on_train_batch_end` ≈ `after_batch`. The difference is what a callback can reach. A Keras callback gets
# `self.model` and a `logs` dictionary of numbers; it can stop training (`self.model.stop_training = True`) or
# change the learning rate, but it never sees the batch, the loss tensor or the gradients: for speed,
# TensorFlow compiles each training step into a graph and only hands the callbacks the resulting numbers.
#
# ### Changing the step itself: override `train_step`
#
# To record gradient norms in Keras we must take over the step. Subclass the model and override
# `train_step` — forward pass under a `tf.GradientTape`, `compute_loss`, gradients, `optimizer.apply`,
# update the metrics — and return the extra number in the logs. A small callback then collects it per batch.

# %%
class GradNormSequential(keras.Sequential):
    """A Sequential whose training step also reports the gradient norm."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {**{m.name: m.result() for m in self.metrics}, "grad_norm": tf.linalg.global_norm(grads)}


class RecordGradNorms(keras.callbacks.Callback):
    """Collect logs['grad_norm'] after every training batch."""

    def on_train_begin(self, logs=None):
        self.norms = []

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append(float(logs["grad_norm"]))


# %% [markdown]
# Every Keras model in this lesson starts from the **same weights** as the PyTorch one: `keras_model(seed)`
# copies `make_model(seed)`'s weights in (Keras stores a dense layer's matrix transposed; the helper handles
# that).

# %%
def keras_model(seed=0, cls=keras.Sequential):
    model = cls([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    helpers.keras_side.set_weights(model, helpers.fastai_side.get_weights(make_model(seed)))
    return model


grad_model = keras_model(cls=GradNormSequential)
grad_model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOM),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
keras_recorder = RecordGradNorms()
grad_model.fit(digits.X_train, digits.y_train, epochs=2, batch_size=BS, verbose=0, callbacks=[keras_recorder])
keras_grad_norms = keras_recorder.norms
print(f"{len(keras_grad_norms)} gradient norms recorded, first {keras_grad_norms[0]:.3f}")

# %% [markdown]
# Both record the same quantity from the same starting weights. The batches differ, so the curves differ in
# detail — and fastai's training `DataLoader` drops each epoch's last, incomplete batch (22 batches of 64
# instead of 23), so its curve is a little shorter. In fastai it took one callback; in Keras a model subclass
# plus a callback:

# %%
grad_code = {"fastai": l05_loops.count_lines(GradNorms),
             "Keras": l05_loops.count_lines(GradNormSequential) + l05_loops.count_lines(RecordGradNorms)}
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(fastai_grad_norms, color=compare.COLORS["fastai"], label=f"fastai: callback ({grad_code['fastai']} lines)")
ax.plot(keras_grad_norms, color=compare.COLORS["keras"],
        label=f"Keras: train_step + callback ({grad_code['Keras']} lines)")
ax.set(xlabel="training batch", ylabel="gradient norm", title="Gradient norm per batch, recorded two ways")
ax.legend()
plt.show()

# %% [markdown]
# ### Where each is simpler — honestly
#
# | | fastai | Keras |
# |---|---|---|
# | in-memory data | wrap tensors in a `Dataset`, then `DataLoaders` | **simpler**: pass NumPy arrays to `fit` |
# | metrics, logging | `metrics=accuracy`; a table per epoch | `metrics=["accuracy"]`; same |
# | learning-rate schedule | **simpler**: `fit_one_cycle` (momentum cycles too) | a schedule object passed as the learning rate — no callback, but you count the steps yourself, and there is no built-in one-cycle |
# | early stopping | `EarlyStoppingCallback(patience=...)` | `EarlyStopping(patience=...)`, with a built-in `restore_best_weights=True` |
# | observing training | callbacks | callbacks — a smaller API, plain numbers in `logs` |
# | changing the step (gradients, the batch, the loss) | **simpler**: a callback at `after_backward`, `before_batch`, `after_loss` ... | subclass the model, rewrite `train_step` in graph-mode TensorFlow |
# | training recipes | built in: `lr_find`, one-cycle, discriminative learning rates | no `lr_find`, one-cycle or discriminative rates: yours to write |
# | mixed precision | one call: `learn.to_fp16()` adds the `MixedPrecision` callback | one call: `keras.mixed_precision.set_global_policy("mixed_float16")` |
#
# Mixed precision — computing in 16-bit floats while keeping the weights in 32-bit — is one line in both. The
# cell below shows both switches without training: fastai's adds a callback to the learner; Keras's makes every
# layer built afterwards compute in `float16` and keep `float32` weights (Keras's guide asks for a `float32`
# output layer, for numerically safe losses). It pays off only on a GPU with float16 units; on this CPU it
# would make training slower, so we switch Keras back to its default policy at once — the policy is global,
# and would otherwise apply to every model built later.

# %%
fp16_learn = Learner(fastai_dls(), make_model(), loss_func=F.cross_entropy).to_fp16()
print("fastai callbacks:", [type(cb).__name__ for cb in fp16_learn.cbs])

previous_policy = keras.mixed_precision.global_policy()
keras.mixed_precision.set_global_policy("mixed_float16")
try:
    fp16_model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                   keras.layers.Dense(10, dtype="float32")])  # float32 output layer
    fp16_dtypes = [(layer.compute_dtype, layer.variable_dtype) for layer in fp16_model.layers]
    fp16_out_dtype = fp16_model(digits.X_valid[:4]).dtype.name
finally:
    keras.mixed_precision.set_global_policy(previous_policy)
print("Keras (compute, weights) per layer:", fp16_dtypes, "· output", fp16_out_dtype)
print("Keras policy now:", keras.mixed_precision.global_policy().name)

# %% [markdown]
# For a standard supervised fit Keras is at least as short as fastai, and its callback API is smaller and
# easier to learn. fastai pulls ahead as soon as an experiment needs to **change** the loop: every change is a
# callback, and the loop is never copied.

# %% [markdown]
# ### Exercise 3 (graded, 3 points): the same callback in Keras
#
# Write `KerasStopAtAccuracy(target)`, a `keras.callbacks.Callback` that does what your `StopAtAccuracy`
# does: at the end of the first epoch whose **validation** accuracy is at least `target`, stop training and
# store that epoch (0-based) in `self.stopped_epoch` (`None` if it never stops).
#
# Hints: `on_epoch_end(self, epoch, logs)` receives `logs["val_accuracy"]` when the model was compiled with
# `metrics=["accuracy"]` and `fit` was given `validation_data`; set `self.model.stop_training = True` to stop.
#
# **What is checked:** a 10-epoch `fit` with `KerasStopAtAccuracy(0.9)` must stop early, at an epoch whose
# validation accuracy is at least 0.9, with `stopped_epoch` naming that epoch (the test below). The grader also
# checks that it stops at the *first* such epoch; that with an unreachable target every epoch runs and
# `stopped_epoch` stays `None`; that a target reached in the first epoch stops there, also when the model has
# another metric (so `logs` has more entries, in another order); and that it reads the *validation* accuracy
# by its name: `on_epoch_end` is also called directly, with `logs` dictionaries in which only `val_accuracy`
# is at least the target, or everything but `val_accuracy` is.

# %% nbgrader={"grade": false, "grade_id": "keras_stop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class KerasStopAtAccuracy(keras.callbacks.Callback):
    """Stop at the end of the first epoch whose validation accuracy reaches `target`."""

    def __init__(self, target):
        super().__init__()
        ### BEGIN SOLUTION
        self.target, self.stopped_epoch = target, None
        ### END SOLUTION

    def on_epoch_end(self, epoch, logs=None):
        ### BEGIN SOLUTION
        if (logs or {}).get("val_accuracy", -math.inf) >= self.target:
            self.stopped_epoch = epoch
            self.model.stop_training = True
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "keras_stop_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_km = keras_model(seed=1)
_km.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOM), metrics=["accuracy"],
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
_kstop = KerasStopAtAccuracy(0.9)
_hist = _km.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid), epochs=10,
                batch_size=BS, verbose=0, callbacks=[_kstop])
_vaccs = _hist.history["val_accuracy"]
checks.check_between(len(_vaccs), 1, 9, name="epochs run with target 0.9 (of 10)", say=True)
# 1e-6: an accuracy of exactly 0.9 is 0.89999998 in float32, which a callback may compare as a tensor
checks.check_at_least(_vaccs[-1], 0.9 - 1e-6, name="validation accuracy when it stopped (target 0.9)")
checks.check_equal(_kstop.stopped_epoch, len(_vaccs) - 1, name="stopped_epoch")
### BEGIN HIDDEN TESTS
checks.check_true(all(a < 0.9 for a in _vaccs[:-1]), "it should stop at the FIRST epoch that reaches the target",
                  name="KerasStopAtAccuracy(0.9)")
# an unreachable target: every epoch runs, stopped_epoch stays None (same compiled model: no re-tracing)
_knever = KerasStopAtAccuracy(1.01)
_hist = _km.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid), epochs=2,
                batch_size=BS, verbose=0, callbacks=[_knever])
checks.check_equal(len(_hist.history["val_accuracy"]), 2, name="epochs run with an unreachable target (of 2)")
checks.check_equal(_knever.stopped_epoch, None, name="stopped_epoch when training never stops")
# another metric: logs has more entries, val_accuracy at another position; the target is reached in epoch 0
_km2 = keras_model(seed=1)
_km2.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOM),
             metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"), "accuracy"],
             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
_kfirst = KerasStopAtAccuracy(0.5)
_hist = _km2.fit(digits.X_train, digits.y_train, validation_data=(digits.X_valid, digits.y_valid), epochs=3,
                 batch_size=BS, verbose=0, callbacks=[_kfirst])
checks.check_equal(len(_hist.history["val_accuracy"]), 1,
                   name="epochs run with metrics=[top2, 'accuracy'] and target 0.5 (of 3)",
                   hint='read logs["val_accuracy"] by its name')
checks.check_equal(_kfirst.stopped_epoch, 0, name="stopped_epoch with metrics=[top2, 'accuracy']")
# the validation accuracy decides, whatever else logs holds and in whatever order
for _logs, _stop_expected in (
        ({"accuracy": 0.2, "error_rate": 0.05, "loss": 0.6, "val_accuracy": 0.95, "val_error_rate": 0.05,
          "val_loss": 0.2}, True),
        ({"accuracy": 0.99, "error_rate": 0.01, "loss": 0.95, "val_accuracy": 0.5, "val_error_rate": 0.5,
          "val_loss": 0.92}, False)):
    _kval = KerasStopAtAccuracy(0.9)
    _kval.set_model(_km2)
    _km2.stop_training = False
    _kval.on_epoch_end(4, dict(_logs))
    checks.check_true(bool(_km2.stop_training) is _stop_expected and _kval.stopped_epoch == (4 if _stop_expected else None),
                      f"with val_accuracy {_logs['val_accuracy']} (training accuracy {_logs['accuracy']}) and target 0.9 "
                      + ("training must stop, with stopped_epoch 4" if _stop_expected else "training must go on"),
                      name=f"on_epoch_end(4, logs={_logs})", hint='use logs["val_accuracy"], by its name')
### END HIDDEN TESTS

# %% [markdown]
# ## 6. One experiment, five steps, three frameworks
#
# Now the measurement. We take one experiment and grow it in five steps, the way real projects grow:
#
# 1. **train** — train for `EPOCHS` epochs with SGD + momentum, report training and validation loss;
# 2. **+ metric** — also report validation accuracy;
# 3. **+ schedule** — warm the learning rate up, then anneal it;
# 4. **+ early stop** — stop when the validation loss has not improved for `PATIENCE` epochs;
# 5. **+ Adam** — change the optimiser.
#
# Each step is written three times, as a function that receives a fresh model and the NumPy arrays and
# trains the model: in **raw PyTorch** (its `DataLoader`, `torch.optim` and `lr_scheduler` — the library, but
# no `Learner`), in **fastai**, and in **Keras**. All three start from the same weights. Afterwards we count
# each function's lines and concepts from its own source.

# %%
PATIENCE, ADAM_LR = 2, 1e-2
STEPS = ["1 train", "2 + metric", "3 + schedule", "4 + early stop", "5 + Adam"]
FRAMEWORKS = ["PyTorch", "fastai", "Keras"]
VARIANTS = {step: {} for step in STEPS}


def variant(step, framework):
    """Register a function as the code of one (step, framework)."""
    def register(fn):
        VARIANTS[step][framework] = fn
        return fn
    return register


# %% [markdown]
# ### Step 1 — train
#
# PyTorch needs the whole loop. fastai needs its `DataLoaders` (`num_workers=0` keeps the in-memory data in
# this process — by default fastai starts worker processes, which cost far more than they save here) and a
# `Learner`. Keras compiles and fits, straight from the arrays.

# %%
@variant("1 train", "PyTorch")
def pytorch_train(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    train_dl = DataLoader(train_ds, batch_size=BS, shuffle=True)
    valid_dl = DataLoader(valid_ds, batch_size=256)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    history = []
    for epoch in range(EPOCHS):
        model.train()
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        model.eval()
        valid_loss = 0.0
        with torch.no_grad():
            for xb, yb in valid_dl:
                valid_loss += F.cross_entropy(model(xb), yb, reduction="sum").item()
        history.append({"train_loss": train_loss / len(train_ds), "valid_loss": valid_loss / len(valid_ds)})
        print(epoch, history[-1])
    return history


@variant("1 train", "fastai")
def fastai_train(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=BS, num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=partial(SGD, mom=MOM))
    learn.fit(EPOCHS, LR)
    return learn


@variant("1 train", "Keras")
def keras_train(model, X_train, y_train, X_valid, y_valid):
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=EPOCHS, batch_size=BS,
                     verbose=2)


# %% [markdown]
# `run_step` trains each framework's version on a fresh model (the same starting weights for all three),
# keeps what it printed in `logs`, and scores every trained model the same way on the validation set.

# %%
results, logs = {}, {}


def valid_scores(model):
    out = helpers.keras_side.predict(model, digits.X_valid) if isinstance(model, keras.Model) \
        else helpers.fastai_side.predict(model, digits.X_valid)
    return compare.metrics(out, digits.y_valid)


def epochs_run(out):
    if isinstance(out, keras.callbacks.History):
        return len(out.epoch)
    return len(out.recorder.values) if isinstance(out, Learner) else len(out)


def steps_run(out):
    """Optimiser steps taken (fastai drops the last, incomplete training batch of each epoch)."""
    if isinstance(out, keras.callbacks.History):
        return out.params["steps"] * len(out.epoch)
    return len(out.recorder.losses) if isinstance(out, Learner) else len(out) * math.ceil(len(X_train) / BS)


def run_step(step):
    for fw, fn in VARIANTS[step].items():
        model = keras_model() if fw == "Keras" else make_model()
        with compare.timed() as t, capture_output(stderr=False) as logs[step, fw]:
            out = fn(model, *digits)
        results[step, fw] = {"out": out, "model": model, "seconds": t.seconds, "epochs": epochs_run(out),
                             "steps": steps_run(out), **valid_scores(model)}
        print(f"{fw:8s} valid accuracy {results[step, fw]['accuracy']:.4f} after {results[step, fw]['epochs']} "
              f"epochs  ({t.seconds:.2f} s)")


run_step("1 train")

# %% [markdown]
# Each run printed its own progress; it is kept in `logs`. For example, Keras's:

# %%
logs["1 train", "Keras"].show()

# %% [markdown]
# ### Step 2 — + metric
#
# PyTorch: compute the predictions once, count the correct ones, add a column. fastai: `metrics=accuracy`.
# Keras: `metrics=["accuracy"]`.

# %%
@variant("2 + metric", "PyTorch")
def pytorch_metric(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    train_dl = DataLoader(train_ds, batch_size=BS, shuffle=True)
    valid_dl = DataLoader(valid_ds, batch_size=256)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    history = []
    for epoch in range(EPOCHS):
        model.train()
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        model.eval()
        valid_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in valid_dl:
                preds = model(xb)
                valid_loss += F.cross_entropy(preds, yb, reduction="sum").item()
                correct += (preds.argmax(dim=1) == yb).sum().item()
        history.append({"train_loss": train_loss / len(train_ds), "valid_loss": valid_loss / len(valid_ds),
                        "accuracy": correct / len(valid_ds)})
        print(epoch, history[-1])
    return history


@variant("2 + metric", "fastai")
def fastai_metric(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=BS, num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=partial(SGD, mom=MOM), metrics=accuracy)
    learn.fit(EPOCHS, LR)
    return learn


@variant("2 + metric", "Keras")
def keras_metric(model, X_train, y_train, X_valid, y_valid):
    model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=EPOCHS, batch_size=BS,
                     verbose=2)


# %%
run_step("2 + metric")

# %% [markdown]
# ### Step 3 — + schedule
#
# PyTorch has a one-cycle scheduler (`torch.optim.lr_scheduler.OneCycleLR`) that must be told the total
# number of steps and stepped after every batch. fastai: replace `fit` with `fit_one_cycle`. Keras has no
# one-cycle schedule; its nearest built-in is `CosineDecay` with a linear warm-up, passed to the optimiser
# as its learning rate — and you compute the number of steps yourself. (PyTorch and fastai also cycle the
# momentum between 0.95 and 0.85; Keras's schedule does not.)

# %%
@variant("3 + schedule", "PyTorch")
def pytorch_schedule(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    train_dl = DataLoader(train_ds, batch_size=BS, shuffle=True)
    valid_dl = DataLoader(valid_ds, batch_size=256)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * len(train_dl))
    history = []
    for epoch in range(EPOCHS):
        model.train()
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        model.eval()
        valid_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in valid_dl:
                preds = model(xb)
                valid_loss += F.cross_entropy(preds, yb, reduction="sum").item()
                correct += (preds.argmax(dim=1) == yb).sum().item()
        history.append({"train_loss": train_loss / len(train_ds), "valid_loss": valid_loss / len(valid_ds),
                        "accuracy": correct / len(valid_ds)})
        print(epoch, history[-1])
    return history


@variant("3 + schedule", "fastai")
def fastai_schedule(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=BS, num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=partial(SGD, mom=MOM), metrics=accuracy)
    learn.fit_one_cycle(EPOCHS, LR)
    return learn


@variant("3 + schedule", "Keras")
def keras_schedule(model, X_train, y_train, X_valid, y_valid):
    steps = EPOCHS * math.ceil(len(X_train) / BS)
    schedule = keras.optimizers.schedules.CosineDecay(LR / 25, decay_steps=steps - steps // 4, warmup_target=LR,
                                                      warmup_steps=steps // 4)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=MOM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=EPOCHS, batch_size=BS,
                     verbose=2)


# %%
run_step("3 + schedule")

# %% [markdown]
# Accuracy is no better than with a constant rate: in a five-epoch run the warm-up takes more than a whole
# epoch, and the last epoch runs at a tiny rate. Schedules earn their keep on longer runs; what this section
# measures is the code each framework needs to add one.

# %% [markdown]
# ### Step 4 — + early stop
#
# PyTorch: remember the best validation loss and how long ago it was, and `break`. fastai and Keras: a
# ready-made callback. (With this schedule the validation loss usually keeps improving for all five epochs, so
# the runs below may not stop early; section 3 showed early stopping firing, and exercises 2 and 3 test it.)

# %%
@variant("4 + early stop", "PyTorch")
def pytorch_early_stop(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    train_dl = DataLoader(train_ds, batch_size=BS, shuffle=True)
    valid_dl = DataLoader(valid_ds, batch_size=256)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOM)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * len(train_dl))
    history, best, wait = [], math.inf, 0
    for epoch in range(EPOCHS):
        model.train()
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        model.eval()
        valid_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in valid_dl:
                preds = model(xb)
                valid_loss += F.cross_entropy(preds, yb, reduction="sum").item()
                correct += (preds.argmax(dim=1) == yb).sum().item()
        history.append({"train_loss": train_loss / len(train_ds), "valid_loss": valid_loss / len(valid_ds),
                        "accuracy": correct / len(valid_ds)})
        print(epoch, history[-1])
        if history[-1]["valid_loss"] < best:
            best, wait = history[-1]["valid_loss"], 0
        else:
            wait += 1
            if wait >= PATIENCE:
                break
    return history


@variant("4 + early stop", "fastai")
def fastai_early_stop(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=BS, num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=partial(SGD, mom=MOM), metrics=accuracy)
    learn.fit_one_cycle(EPOCHS, LR, cbs=EarlyStoppingCallback(monitor="valid_loss", patience=PATIENCE))
    return learn


@variant("4 + early stop", "Keras")
def keras_early_stop(model, X_train, y_train, X_valid, y_valid):
    steps = EPOCHS * math.ceil(len(X_train) / BS)
    schedule = keras.optimizers.schedules.CosineDecay(LR / 25, decay_steps=steps - steps // 4, warmup_target=LR,
                                                      warmup_steps=steps // 4)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=MOM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=EPOCHS, batch_size=BS,
                     verbose=2, callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE)])


# %%
run_step("4 + early stop")

# %% [markdown]
# ### Step 5 — + Adam
#
# Here the optimiser-object refactoring pays off in all three: one name changes (and the learning rate, as
# Adam wants a smaller one). Defaults differ slightly: fastai's `Adam` applies a decoupled weight decay of
# 0.01 (it is AdamW) and uses $\beta_2 = 0.99$; PyTorch's and Keras's apply no weight decay and use 0.999.

# %%
@variant("5 + Adam", "PyTorch")
def pytorch_adam(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    train_dl = DataLoader(train_ds, batch_size=BS, shuffle=True)
    valid_dl = DataLoader(valid_ds, batch_size=256)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=ADAM_LR, total_steps=EPOCHS * len(train_dl))
    history, best, wait = [], math.inf, 0
    for epoch in range(EPOCHS):
        model.train()
        train_loss = 0.0
        for xb, yb in train_dl:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            train_loss += loss.item() * len(xb)
        model.eval()
        valid_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in valid_dl:
                preds = model(xb)
                valid_loss += F.cross_entropy(preds, yb, reduction="sum").item()
                correct += (preds.argmax(dim=1) == yb).sum().item()
        history.append({"train_loss": train_loss / len(train_ds), "valid_loss": valid_loss / len(valid_ds),
                        "accuracy": correct / len(valid_ds)})
        print(epoch, history[-1])
        if history[-1]["valid_loss"] < best:
            best, wait = history[-1]["valid_loss"], 0
        else:
            wait += 1
            if wait >= PATIENCE:
                break
    return history


@variant("5 + Adam", "fastai")
def fastai_adam(model, X_train, y_train, X_valid, y_valid):
    train_ds = TensorDataset(torch.tensor(X_train), torch.tensor(y_train))
    valid_ds = TensorDataset(torch.tensor(X_valid), torch.tensor(y_valid))
    dls = DataLoaders.from_dsets(train_ds, valid_ds, bs=BS, num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, metrics=accuracy)
    learn.fit_one_cycle(EPOCHS, ADAM_LR, cbs=EarlyStoppingCallback(monitor="valid_loss", patience=PATIENCE))
    return learn


@variant("5 + Adam", "Keras")
def keras_adam(model, X_train, y_train, X_valid, y_valid):
    steps = EPOCHS * math.ceil(len(X_train) / BS)
    schedule = keras.optimizers.schedules.CosineDecay(ADAM_LR / 25, decay_steps=steps - steps // 4,
                                                      warmup_target=ADAM_LR, warmup_steps=steps // 4)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.fit(X_train, y_train, validation_data=(X_valid, y_valid), epochs=EPOCHS, batch_size=BS,
                     verbose=2, callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE)])


# %%
run_step("5 + Adam")

# %% [markdown]
# ### See what changed
#
# Pick a step: the three versions appear side by side, with the lines that are new or changed since the
# previous step highlighted in green. Pick one framework to read it full width. Watch how much of the PyTorch
# column lights up at each step, compared with the other two.

# %%
step_view = l05_loops.StepView(VARIANTS)  # draws one step's versions side by side, as HTML
switcher = widgets.Explorer(
    step_view, title="The same experiment step in PyTorch, fastai and Keras",
    step=widgets.choice("step", STEPS, value="3 + schedule"),
    version=widgets.choice("version", step_view.versions),
    highlight=widgets.toggle("highlight changes", True),
)
switcher

# %% [markdown]
# ### Lines and concepts, measured
#
# `l05_loops.measure` reads each function's source. **Lines** are the body's lines of code (no `def` line,
# docstring, blank lines or comments). **Changed** counts the lines that are new or different from the previous
# step of the same framework. **Concepts** counts what a reader must know to write the body: library names
# (`torch.optim.SGD`, `Learner`), methods and attributes (`.backward`, `.fit_one_cycle`), keyword arguments
# (`momentum=`, `validation_data=`), string options (`"accuracy"`) and statements (`for` loop, `if`, `with`,
# `+=`, `break`) — Python built-ins, our own variable names and plain constants are not counted. It is a rough
# proxy, so the names are listed too: judge for yourself.

# %%
measured = l05_loops.measure(VARIANTS)
line_table = measured.pivot(index="step", columns="framework", values=["lines", "changed", "concepts"])
line_table = line_table.reindex(STEPS).reindex(columns=FRAMEWORKS, level=1)
line_counts = {f"{r.framework}/{r.step}": int(r.lines) for r in measured.itertuples()}
changed_counts = {f"{r.framework}/{r.step}": int(r.changed) for r in measured.itertuples()}
concept_counts = {f"{r.framework}/{r.step}": int(r.concepts) for r in measured.itertuples()}
line_table

# %% [markdown]
# The same numbers as a picture: the size of each complete program (left), and how much of it each step
# forced you to touch (right).

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
colors = {"PyTorch": compare.COLORS["pytorch"], "fastai": compare.COLORS["fastai"], "Keras": compare.COLORS["keras"]}
x = np.arange(len(STEPS))
for ax, what, title in zip(axes, ("lines", "changed"), ("Lines of code of the whole experiment",
                                                         "Lines new or changed by this step")):
    for i, fw in enumerate(FRAMEWORKS):
        ax.bar(x + (i - 1) * 0.27, line_table[what][fw], width=0.27, color=colors[fw], label=fw)
    ax.set_xticks(x, STEPS, rotation=15)
    ax.set(title=title, ylabel="lines")
axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# And the concepts each framework's final version (step 5) needs, by name:

# %%
for fw in FRAMEWORKS:
    names = sorted(l05_loops.concepts(VARIANTS["5 + Adam"][fw]))
    print(f"{fw} ({len(names)}): {', '.join(names)}\n")

# %% [markdown]
# What the measurements say:
#
# * **Raw PyTorch is several times longer** at every step, and it grows with each feature that has to live
#   inside the loop (the metric, early stopping). Where PyTorch itself has already refactored — optimisers in
#   `torch.optim`, schedules in `torch.optim.lr_scheduler` — a step costs it about as few lines as the others.
# * **fastai and Keras stay within a few lines of each other.** Keras is the shortest at the start (no data
#   wrapping); fastai is shortest for the schedule (`fit_one_cycle` versus counting steps for `CosineDecay`).
# * fastai's advantage over Keras is therefore not the size of a standard experiment. It is what section 4
#   showed: when the experiment needs something *inside* the loop, fastai's answer is still a callback.

# %% [markdown]
# ## 7. Side by side: the same model, three ways, the same accuracy
#
# Step 2 trained the same network from the same starting weights with the same optimiser (SGD, momentum 0.9,
# learning rate 0.1), batch size and number of epochs — by the hand-written PyTorch loop, by fastai and by
# Keras. Only the shuffling differs (and fastai skips each epoch's last, incomplete batch: 110 steps, not 115). They should agree within a few points of accuracy; we allow
# `TOLERANCE = 0.03`.

# %%
TOLERANCE = 0.03
acc_pytorch = results["2 + metric", "PyTorch"]["accuracy"]
acc_fastai = results["2 + metric", "fastai"]["accuracy"]
acc_keras = results["2 + metric", "Keras"]["accuracy"]
spread = max(acc_pytorch, acc_fastai, acc_keras) - min(acc_pytorch, acc_fastai, acc_keras)
print(f"validation accuracy  PyTorch {acc_pytorch:.4f}  fastai {acc_fastai:.4f}  Keras {acc_keras:.4f}")
print(f"largest difference {spread:.4f} — within the tolerance of {TOLERANCE}: {spread <= TOLERANCE}")


# %% [markdown]
# Their learning curves on one figure — validation loss and accuracy after each epoch, as each framework
# recorded them:

# %%
def epoch_curves(out):
    """Per-epoch validation loss and accuracy, from each framework's own record."""
    if isinstance(out, keras.callbacks.History):
        return out.history["val_loss"], out.history["val_accuracy"]
    if isinstance(out, Learner):
        return [v[1] for v in out.recorder.values], [v[2] for v in out.recorder.values]
    return [r["valid_loss"] for r in out], [r["accuracy"] for r in out]


fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for fw in FRAMEWORKS:
    loss, acc = epoch_curves(results["2 + metric", fw]["out"])
    axes[0].plot(range(1, len(loss) + 1), loss, "o-", color=colors[fw], label=fw)
    axes[1].plot(range(1, len(acc) + 1), acc, "o-", color=colors[fw], label=fw)
axes[0].set(xlabel="epoch", ylabel="validation loss", title="Same model, three training programs",
            xticks=range(1, EPOCHS + 1))
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy", xticks=range(1, EPOCHS + 1))
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The numbers side by side (parameters, wall time of the whole run, final validation metrics, all scored by the
# same function):

# %%
step2_runs = [compare.Run(fw, params=checks.count_params(results["2 + metric", fw]["model"]),
                          seconds=results["2 + metric", fw]["seconds"], steps=results["2 + metric", fw]["steps"],
                          final={"valid_loss": results["2 + metric", fw]["loss"],
                                 "valid_accuracy": results["2 + metric", fw]["accuracy"]})
              for fw in FRAMEWORKS]
compare.table(*step2_runs)

# %% [markdown]
# The time column is honest but not the point: on a model this small, Keras spends most of its time tracing
# the training step into a TensorFlow graph, which pays off on big models, not on tiny ones.

# %% [markdown]
# ### Exercise 4 (graded by your instructor, 2 points): which refactoring buys the most?
#
# We made four refactorings: `DataLoader`, optimiser object, `Learner`, callbacks. Using the measurements in
# this notebook (cite at least one number), argue in three to six sentences which one buys the most, and for
# whom. Say what it costs, too.

# %% [markdown] nbgrader={"grade": true, "grade_id": "refactoring_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# Callbacks buy the most. Before them, every new feature — a metric, a schedule, early stopping — was code
# inside the loop: the raw PyTorch version grows from 23 to 34 lines and adding the metric or early stopping
# touches 6–7 lines each, while fastai changes one line per step, because the loop is written once and each
# feature is an object passed to it. The optimiser object is the cheapest big win (changing SGD to Adam is one
# line in every framework, even raw PyTorch), but it only helps with one kind of change. The cost of callbacks
# is indirection: to know what `fit` does you must know which callbacks are active and in which order, and a
# bug can hide in an event you did not think about; Keras's smaller callback API is easier to learn for
# exactly that reason.
# ### END SOLUTION

# %% [markdown]
# ## Recap
#
# * A training program is **data, model, loss, optimiser, loop, metrics, logging**. Written by hand, they are
#   one tangle and every experiment is surgery on it.
# * Four refactorings untangle it — `DataLoader`, optimiser object, `Learner`, **callbacks** — and each one
#   leaves the arithmetic unchanged: our versions 1–4 and the real `fastai.Learner` end with the same weights
#   (identical, or within float32 rounding).
# * The loop differentiates only the **loss** (`loss_func`); **metrics** such as accuracy are read by a callback
#   with gradients off — accuracy has no gradient to follow. Keras splits `compile(loss=..., metrics=[...])`
#   the same way.
# * That is fastai's **mid-level API**: a `Learner` that announces events and callbacks that act on them.
#   Its **high-level API** (`fit_one_cycle`, `metrics=accuracy`, `EarlyStoppingCallback`) is callbacks
#   already written for you.
# * Keras makes the model own the loop (`compile`/`fit`); its callbacks observe numbers, and changing the step
#   means overriding `train_step`. For a standard experiment it is as short as fastai — shorter on data —
#   and its callback API is simpler.
# * Measured on one experiment in five steps: raw PyTorch needs several times the lines and concepts of
#   fastai or Keras and grows with each feature; fastai's edge over Keras shows when you change the loop.
#
# **Next:** from here on the course uses `Learner` and `fit` directly — now you know what they do inside.

# %% [markdown]
# ## Check your understanding
#
# Try to answer each question in your own words before you open its answer.
#
# **1. Which seven parts does every training program have, and why is the hand-written loop hard to change?**
#
# <details><summary>Answer</summary>
#
# Data, model, loss, optimiser, loop, metrics and logging. In the hand-written version they are interleaved in
# one function, so every new experiment — another optimiser, a schedule, early stopping — means editing that
# function again.
#
# </details>
#
# **2. How did the lesson check that a refactoring did not change what the program computes?**
#
# <details><summary>Answer</summary>
#
# Each version trained from the same starting weights (`make_model(seed)`) on the same seeded batches, and the
# final weights were compared. Versions 2 to 4 and the real `fastai.Learner` ended identical, and version 2
# matched version 1 within float32 rounding; only version 0 differed, because its shuffling drew random numbers
# in another order.
#
# </details>
#
# **3. Why does a `Learner` take an `opt_func` rather than a ready-made optimiser?**
#
# <details><summary>Answer</summary>
#
# An optimiser is built from the parameters it updates, and the `Learner` owns the model. Passing a function
# lets the `Learner` create the optimiser when training starts, for whatever model it holds, with its own
# learning rate.
#
# </details>
#
# **4. What does the loop differentiate, and why are metrics such as accuracy computed in a callback instead?**
#
# <details><summary>Answer</summary>
#
# Only the loss: the loop calls `backward()` on `loss_func`'s output and the optimiser follows that gradient.
# Accuracy has no useful gradient — `argmax` and `==` cut the graph, and as a function of the weights it is
# piecewise constant — so it is measured with gradients off and reported for people to read.
#
# </details>
#
# **5. What is a callback, and what can a fastai callback reach?**
#
# <details><summary>Answer</summary>
#
# An object whose methods the `Learner` calls at named events such as `before_batch` or `after_epoch`. A fastai
# callback sees the whole learner at each event — the model, the batch, the predictions, the loss, the gradients,
# the optimiser — so it can observe or change any of them, or stop training by raising an exception.
#
# </details>
#
# **6. Why did adding a learning-rate schedule and early stopping in step 4 need no change to the loop?**
#
# <details><summary>Answer</summary>
#
# After the callback refactoring the loop only announces events. The schedule sets the learning rate at
# `before_batch` and early stopping reads the validation loss at `after_epoch`; each is one more object in the
# list of callbacks, and the `MiniLearner` class stays the same.
#
# </details>
#
# **7. What are the three layers of fastai's API, and which one did the lesson rebuild?**
#
# <details><summary>Answer</summary>
#
# The high level gives one-line recipes (`fit_one_cycle`, `lr_find`, `metrics=accuracy`, ready-made callbacks);
# the mid level is `Learner` with callbacks, `DataLoaders` and a generic `Optimizer`; the low level is PyTorch's
# tensors, autograd and modules plus fastai's optimiser steppers. The lesson rebuilt the mid level.
#
# </details>
#
# **8. Where is the loop in Keras, and what can a Keras callback not see?**
#
# <details><summary>Answer</summary>
#
# The model owns it: `compile` chooses optimiser, loss and metrics, and `fit` runs the loop. A Keras callback
# gets the model and a dictionary of numbers, but not the batch, the loss tensor or the gradients, because
# TensorFlow compiles each step into a graph; to change the step you override `train_step`.
#
# </details>
#
# **9. What does early stopping watch, and what did it save in the run with a peak learning rate of 0.3?**
#
# <details><summary>Answer</summary>
#
# It watches a validation number — here the validation loss — and stops when it has not improved for `patience`
# epochs. With the aggressive peak rate the validation loss stopped improving after a few epochs, and the run
# ended long before the 30 planned epochs instead of wasting them on a run that had gone wrong.
#
# </details>
#
# **10. What does mixed precision change, and how is it switched on in each framework?**
#
# <details><summary>Answer</summary>
#
# It computes in 16-bit floats while keeping the weights in 32-bit. fastai adds a callback with
# `learn.to_fp16()`; Keras sets a global policy with `keras.mixed_precision.set_global_policy("mixed_float16")`,
# which applies to every layer built afterwards. It pays off on GPUs with float16 units, not on this CPU.
#
# </details>
#
# **11. Why are lines of code and counted concepts only a rough measure of how easy a framework is?**
#
# <details><summary>Answer</summary>
#
# They count what a reader must write and name, not how hard each name is to learn or how hard a bug is to
# find. A short fastai program can hide behaviour in callbacks you did not write, and the concept count depends
# on a counting rule, which is why the lesson lists the names so you can judge for yourself.
#
# </details>

# %% [markdown]
# ## Further reading
#
# - Jeremy Howard and Sylvain Gugger, *fastai: A Layered API for Deep Learning* (2020), Information 11(2), 108, https://arxiv.org/abs/2002.04688 — the design this lesson rebuilt, explained by its authors, including the callback system and the optimiser steppers.
# - Jeremy Howard and Sylvain Gugger, *Deep Learning for Coders with fastai and PyTorch*, chapter 19 "A fastai Learner from Scratch" (2020), https://github.com/fastai/fastbook — builds a `Learner` with callbacks from plain PyTorch, a longer version of this lesson's section 3.
# - François Chollet, *Customizing what happens in `fit()` with TensorFlow* (Keras developer guide, 2020, updated for Keras 3), https://keras.io/guides/custom_train_step_in_tensorflow/ — the official walk-through of overriding `train_step`, as section 5 did for gradient norms.
# - Adam Paszke et al., *PyTorch: An Imperative Style, High-Performance Deep Learning Library* (2019), NeurIPS, https://arxiv.org/abs/1912.01703 — explains the eager, define-by-run design that lets a plain Python loop train a network.
# - Paulius Micikevicius et al., *Mixed Precision Training* (2018), ICLR, https://arxiv.org/abs/1710.03740 — the paper behind `to_fp16()` and `mixed_float16`: float16 compute, float32 master weights and loss scaling.
