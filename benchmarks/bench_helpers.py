"""How fast is the helpers' default training path? Ratios against a hand-written NumPy loop, in one run.

The task: the 2-8-1 XOR network (tanh hidden layer, sigmoid/logit output, binary cross-entropy,
Adam, lr 0.05, full batch of 4), 300 optimiser steps, a fresh model each time, in a warm process
(imports and each framework's one-time start-up are paid before timing).

Measured per framework:
* ``helpers`` — ``helpers.<side>.train(model, dls, steps=300)``: what lessons use, on a fresh 2-8-1 model
  (the Keras twin traces its training loop once per architecture, so this shape has been seen before);
* ``new shape`` — the same call on a 2-k-1 net with a hidden width not seen before in the process:
  what the first model of a new architecture costs (Keras traces; fastai has nothing to trace);
* ``naive``   — what a first attempt looks like: ``Learner.fit(300)`` on fastai's default
  DataLoaders (worker processes) / ``model.fit(X, y, epochs=300)`` in Keras;
* ``fallback`` — ``train`` on the stock public path the twins use on untested framework versions (or with
  ``DLSBS_FAST_PATHS=0``): stock fastai ``Learner.fit``; one Keras ``model.fit`` (``steps_per_execution=10``)
  over a dataset of the same batches;
* ``fit spe=300`` / ``fit spe=300 jit`` — Keras's public knobs alone: ``compile(steps_per_execution=300,
  jit_compile=False/True)`` + ``fit`` on the same 300 batches, a fresh model each time;
* ``marginal`` — the cost of 300 *more* steps once a fit is running (t(3000) - t(300)) / 9, which
  separates per-step cost from the fixed cost of starting a fit (Keras traces a graph per model).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_helpers.py [--quick]``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helpers  # noqa: E402

STEPS, LR = 300, 0.05


def numpy_loop(X, y, steps=STEPS, lr=LR, seed=0):
    """The hand-written reference: forward, loss, backward, Adam — as a learner would write it."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.5, (2, 8)), np.zeros(8), rng.normal(0, 0.5, (8, 1)), np.zeros(1)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    losses = []
    for t in range(1, steps + 1):
        W1, c1, W2, c2 = params
        h = np.tanh(X @ W1 + c1)
        p = 1 / (1 + np.exp(-(h @ W2 + c2)))
        losses.append(float(-np.mean(y * np.log(p + 1e-7) + (1 - y) * np.log(1 - p + 1e-7))))
        dz = (p - y) / len(X)
        dh = dz @ W2.T * (1 - h**2)
        grads = [X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] -= lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
    return losses


def timeit(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip the slow naive fastai path")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    a = ap.parse_args(argv)
    repeat = 3 if a.quick else 5

    helpers.setup(seed=0, verbose=False)
    import keras
    import torch
    from fastai.basics import BCEWithLogitsLossFlat, DataLoaders, Learner  # noqa: F401
    from fastai.data.load import DataLoader

    from helpers import data, fastai_side as fa, keras_side as ks

    X, y = data.logic_gate("xor")
    Xd, yd = X.astype(np.float64), y.astype(np.float64)
    res = {}

    res["numpy"] = timeit(lambda: numpy_loop(Xd, yd), repeat * 2)
    assert numpy_loop(Xd, yd)[-1] < 0.05, "the reference loop must actually learn XOR"

    def torch_loop():
        model = fa.mlp([2, 8, 1], "tanh")
        opt = torch.optim.Adam(model.parameters(), LR)
        lossf = torch.nn.BCEWithLogitsLoss()
        Xt, yt = torch.tensor(X), torch.tensor(y)
        for _ in range(STEPS):
            loss = lossf(model(Xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()

    res["pytorch loop"] = timeit(torch_loop, repeat)

    for side, mod in (("fastai", fa), ("keras", ks)):
        dls = mod.dataloaders(X, y, bs=4, shuffle=False)
        mod.train(mod.mlp([2, 8, 1], "tanh"), dls, steps=20, lr=LR)  # warm the framework once
        res[f"{side} helpers"] = timeit(lambda: mod.train(mod.mlp([2, 8, 1], "tanh"), dls, steps=STEPS, lr=LR), repeat)
        widths = iter(range(9, 9 + repeat))
        res[f"{side} new shape"] = timeit(lambda: mod.train(mod.mlp([2, next(widths), 1], "tanh"), dls, steps=STEPS,
                                                            lr=LR), repeat)
        long = timeit(lambda: mod.train(mod.mlp([2, 8, 1], "tanh"), dls, steps=10 * STEPS, lr=LR), max(2, repeat // 2))
        res[f"{side} marginal"] = max(0.0, (long - res[f"{side} helpers"]) / 9)

    # the stock public path (what the twins fall back to on untested versions)
    os.environ["DLSBS_FAST_PATHS"] = "0"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the fallback's one-line notice
            for side, mod in (("fastai", fa), ("keras", ks)):
                dls = mod.dataloaders(X, y, bs=4, shuffle=False)
                mod.train(mod.mlp([2, 8, 1], "tanh"), dls, steps=20, lr=LR)
                res[f"{side} fallback"] = timeit(lambda: mod.train(mod.mlp([2, 8, 1], "tanh"), dls, steps=STEPS, lr=LR),
                                                 repeat)
    finally:
        del os.environ["DLSBS_FAST_PATHS"]

    rows = np.tile(np.arange(4), STEPS)
    for jit in (False, True):
        def keras_spe(jit=jit):
            m = ks.mlp([2, 8, 1], "tanh")
            m.compile(optimizer=keras.optimizers.Adam(LR), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      steps_per_execution=STEPS, jit_compile=jit)
            m.fit(X[rows], y[rows], batch_size=4, shuffle=False, epochs=1, verbose=0)

        keras_spe()
        res[f"keras fit spe=300{' jit' if jit else ''}"] = timeit(keras_spe, repeat)

    # naive paths: what a first attempt costs
    def keras_naive():
        m = ks.mlp([2, 8, 1], "tanh")
        m.compile(optimizer=keras.optimizers.Adam(LR), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        m.fit(X, y, epochs=STEPS, batch_size=4, verbose=0)

    res["keras naive"] = timeit(keras_naive, 1)

    naive_epochs = 10 if a.quick else 30
    items = list(zip(torch.tensor(X), torch.tensor(y)))

    def fastai_naive():
        from fastai.data.core import DataLoaders

        # fastai's DataLoader with worker processes (the torch default elsewhere), as a first attempt might
        dls = DataLoaders(DataLoader(items, bs=4, shuffle=True, num_workers=2), DataLoader(items, bs=4, num_workers=2))
        learn = Learner(dls, fa.mlp([2, 8, 1], "tanh"), loss_func=BCEWithLogitsLossFlat())
        with learn.no_bar(), learn.no_logging():
            learn.fit(naive_epochs, LR)

    res["fastai naive"] = timeit(fastai_naive, 1) * STEPS / naive_epochs

    base = res["numpy"]
    print(f"XOR 2-8-1, {STEPS} Adam steps, fresh model, warm process (median of {repeat}); ratio = time / NumPy loop")
    print(f"{'path':<22}{'seconds':>10}{'ratio':>10}")
    for k, v in res.items():
        note = " (extrapolated from %d epochs)" % naive_epochs if k == "fastai naive" else ""
        note = " (per 300 extra steps)" if "marginal" in k else note
        note = " (first 2-k-1 net of its width)" if "new shape" in k else note
        print(f"{k:<22}{v:>10.3f}{v / base:>9.1f}x{note}")
    print(f"\nhelpers path vs naive: fastai {res['fastai naive'] / res['fastai helpers']:.0f}x faster, "
          f"keras {res['keras naive'] / res['keras helpers']:.0f}x faster")
    for side in ("fastai", "keras"):
        r, r_new = res[f"{side} helpers"] / base, res[f"{side} new shape"] / base
        print(f"target <= 10x NumPy: {side} helpers {r:.1f}x -> {'MET' if r <= 10 else 'NOT MET'}"
              f" (first fit of a new architecture: {r_new:.1f}x)")
    if a.json:
        a.json.write_text(json.dumps({k: round(v, 5) for k, v in res.items()}, indent=1))
    return res


if __name__ == "__main__":
    main()
