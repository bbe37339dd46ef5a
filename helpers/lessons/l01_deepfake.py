"""Lesson 01 (introduction), the deep-fake demo: ask a trained generator for a given digit, show real next to fake.

A variational autoencoder (VAE) maps each image to a short *code*; its decoder turns any code back into
an image. To ask for a "3", :func:`class_gaussians` fits one Gaussian to the codes of the real 3s and
:func:`sample_codes` draws new codes from it (a class-conditional prior fitted after training).
NumPy only: the lesson's cells hold the models, in both frameworks.
"""
from __future__ import annotations

import numpy as np


def class_gaussians(codes, labels) -> dict:
    """``{label: (mean, covariance)}`` of the codes of each label (rows of ``codes``)."""
    codes, labels = np.asarray(codes, dtype=np.float64), np.asarray(labels)
    if codes.ndim != 2 or len(codes) != len(labels):
        raise ValueError(f"codes must be (n, d) with one label per row; got codes {codes.shape}, "
                         f"labels {labels.shape}")
    out = {}
    for k in np.unique(labels):
        ck = codes[labels == k]
        if len(ck) < 2:
            raise ValueError(f"label {k!r} has {len(ck)} code(s); a Gaussian needs at least 2")
        out[k.item()] = (ck.mean(axis=0), np.cov(ck, rowvar=False))
    return out


def sample_codes(gaussians: dict, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, labels)``: ``per_class`` new float32 codes drawn from each label's Gaussian, label by label."""
    rng = np.random.default_rng(seed)
    codes, labels = [], []
    for k, (mean, cov) in gaussians.items():
        codes.append(rng.multivariate_normal(mean, cov, size=int(per_class)))
        labels.append(np.full(int(per_class), k))
    return np.concatenate(codes).astype(np.float32), np.concatenate(labels)


def real_vs_fake(rows: dict, title: str = "", colors=None):
    """A figure with one row of 8x8 images per entry of ``rows`` (``{row label: images}``), labelled at the left.

    Row labels take the Okabe–Ito colours of :data:`helpers.plots.PALETTE` unless ``colors`` is given.
    """
    import matplotlib.pyplot as plt

    from ..plots import PALETTE

    colors = list(colors or [PALETTE[6], *PALETTE[:5]])
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(0.8 * ncols + 1.2, 0.9 * len(rows) + 0.5), squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        imgs = np.asarray(imgs).reshape(-1, 8, 8)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(imgs):
                ax.imshow(imgs[c], cmap="gray_r", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10, color=colors[r % len(colors)])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
