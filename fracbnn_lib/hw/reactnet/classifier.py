"""What runs on the ARM after the ImageNet accelerator: the classifier (global pool + FC), numpy only.

The accelerator returns per channel the sum of the last 7 x 7 map's raw ``fm`` values (``pooled``);
the reference, the C-simulation and the board's driver all turn them into logits with :func:`classify`,
so their logits are identical whenever their pooled sums are.
"""

from __future__ import annotations

import numpy as np

from .layout import POOL_PIXELS


def classify(pooled: np.ndarray, fm_frac: int, fc_weight: np.ndarray, fc_bias: np.ndarray) -> np.ndarray:
    """The classifier on the ARM: ``mean = pooled / 2**F / 49``, logits ``float32(W mean + b)`` in float64."""
    mean = np.asarray(pooled, dtype=np.float64) * 2.0**-fm_frac / POOL_PIXELS
    return (mean @ np.asarray(fc_weight, np.float64).T + np.asarray(fc_bias, np.float64)).astype(np.float32)
