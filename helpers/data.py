"""Small offline datasets for the lessons, as NumPy arrays.

Everything here is synthetic or ships inside scikit-learn, so lessons run with
no network.  Conventions shared by both frameworks:

* inputs ``X`` are ``float32`` of shape ``(n, features)``;
* binary targets are ``float32`` of shape ``(n, 1)`` (one output unit);
* multi-class targets are ``int64`` class indices of shape ``(n,)``.

Framework-ready versions come from ``helpers.fastai_side.dataloaders`` and
``helpers.keras_side.dataloaders``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATES = {
    "and": [0, 0, 0, 1],
    "or": [0, 1, 1, 1],
    "nand": [1, 1, 1, 0],
    "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0],
    "xnor": [1, 0, 0, 1],
}


@dataclass
class Split:
    """A train/validation split. Unpacks as ``X_train, y_train, X_valid, y_valid``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    name: str = ""
    classes: tuple = ()

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_valid, self.y_valid))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Split({self.name!r}: train X{self.X_train.shape} y{self.y_train.shape}, "
            f"valid X{self.X_valid.shape} y{self.y_valid.shape}, classes={list(self.classes)})"
        )


def logic_gate(name: str = "xor"):
    """The four rows of a 2-input truth table: ``X`` (4, 2) and ``y`` (4, 1), both float32."""
    key = str(name).lower()
    if key not in GATES:
        raise ValueError(f"unknown gate {name!r}; choose one of {sorted(GATES)}")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array(GATES[key], dtype=np.float32).reshape(4, 1)
    return X, y


def _binary(X, y):
    return X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)


def moons(n: int = 200, noise: float = 0.2, seed: int = 0):
    """Two interleaving half-moons (scikit-learn's generator)."""
    from sklearn.datasets import make_moons

    return _binary(*make_moons(n_samples=n, noise=noise, random_state=seed))


def circles(n: int = 200, noise: float = 0.1, factor: float = 0.5, seed: int = 0):
    """A ring around a disc (scikit-learn's generator)."""
    from sklearn.datasets import make_circles

    return _binary(*make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed))


def spirals(n: int = 200, turns: float = 1.5, noise: float = 0.1, seed: int = 0):
    """Two interleaved spirals, a classic problem a linear model cannot touch."""
    rng = np.random.default_rng(seed)
    half = n // 2

    def arm(m):
        t = np.sqrt(rng.uniform(0, 1, m)) * turns * 2 * np.pi
        return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (turns * 2 * np.pi)

    X = np.concatenate([arm(half), -arm(n - half)]) + rng.normal(0, noise, (n, 2)) / 2
    y = np.concatenate([np.zeros(half), np.ones(n - half)])
    order = rng.permutation(n)
    return _binary(X[order], y[order])


def parity(bits: int = 4):
    """All ``2**bits`` bit strings and whether each has an odd number of ones."""
    if not 1 <= bits <= 16:
        raise ValueError(f"parity(bits=...) takes 1 to 16 bits, got {bits}")
    X = ((np.arange(2**bits)[:, None] >> np.arange(bits)[::-1]) & 1).astype(np.float32)
    y = (X.sum(1) % 2).astype(np.float32).reshape(-1, 1)
    return X, y


def split(X, y, valid_pct: float = 0.2, seed: int = 0, name: str = "", classes=()) -> Split:
    """Shuffle and split arrays into a :class:`Split`; stratified for class labels."""
    from sklearn.model_selection import train_test_split

    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be between 0 and 1, got {valid_pct}")
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y need the same number of rows: got {len(X)} and {len(y)}")
    labels = y.reshape(len(y), -1)[:, 0]
    strat = labels if len(np.unique(labels)) <= max(2, len(y) // 5) else None
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=valid_pct, random_state=seed, stratify=strat)
    if not classes:
        classes = tuple(range(2 if y.ndim == 2 and y.shape[1] == 1 else int(labels.max()) + 1))
    return Split(Xt, yt, Xv, yv, name=name, classes=tuple(classes))


def digits(valid_pct: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

    ``X`` is flattened to 64 features scaled to [0, 1]; ``y`` holds class indices (int64).
    Use ``X.reshape(-1, 8, 8)`` to look at the images.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    return split(X, y, valid_pct=valid_pct, seed=seed, name="digits", classes=tuple(range(10)))


def binary_split(kind: str = "moons", n: int = 400, valid_pct: float = 0.25, seed: int = 0, **kwargs) -> Split:
    """A :class:`Split` of one of the 2-D binary problems: ``moons``, ``circles`` or ``spirals``."""
    makers = {"moons": moons, "circles": circles, "spirals": spirals}
    if kind not in makers:
        raise ValueError(f"unknown dataset {kind!r}; choose one of {sorted(makers)}")
    X, y = makers[kind](n=n, seed=seed, **kwargs)
    return split(X, y, valid_pct=valid_pct, seed=seed, name=kind, classes=(0, 1))


def step_order(n: int, steps: int, bs: int, shuffle: bool = True, seed: int = 0) -> np.ndarray:
    """Row indices for ``steps`` mini-batches of ``bs`` rows drawn from ``n`` rows, shape ``(steps, bs)``.

    Passes over the data are concatenated (each pass a fresh permutation when ``shuffle``) and the
    stream is cut into batches, so ``steps`` need not be a whole number of epochs.  Both twins'
    ``train(..., steps=N)`` use this order: given the same seed they see the same batches.
    """
    n, steps, bs = int(n), int(steps), int(bs)
    if n < 1 or steps < 1 or not 1 <= bs <= n:
        raise ValueError(f"step_order needs n >= 1, steps >= 1 and 1 <= bs <= n; got n={n}, steps={steps}, bs={bs}")
    idx = np.concatenate(passes(n, -(-steps * bs // n), shuffle, seed))
    return idx[: steps * bs].reshape(steps, bs)


def passes(n: int, count: int, shuffle: bool = True, seed: int = 0) -> list:
    """``count`` passes over ``n`` rows: each a fresh permutation (seeded) when ``shuffle``, else in order."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) if shuffle else np.arange(n) for _ in range(count)]
