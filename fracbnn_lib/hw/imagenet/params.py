"""The ImageNet accelerator's DRAM regions and what runs on the ARM after it: :class:`DramRegions`, :func:`classify`.

The accelerator returns per channel the sum of the last 7 x 7 map's raw ``fm`` values (``pooled``); the
reference, the C-simulation and the board's driver all turn them into logits with :func:`classify`, so their
logits are identical whenever their pooled sums are. numpy only (the deploy bundle carries it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fixed_point import Formats
from .layout import POOL_PIXELS


def classify(pooled: np.ndarray, fm_frac: int, fc_weight: np.ndarray, fc_bias: np.ndarray) -> np.ndarray:
    """The classifier on the ARM: ``mean = pooled / 2**F / 49``, logits ``float32(W mean + b)`` in float64."""
    mean = np.asarray(pooled, dtype=np.float64) * 2.0**-fm_frac / POOL_PIXELS
    return (mean @ np.asarray(fc_weight, np.float64).T + np.asarray(fc_bias, np.float64)).astype(np.float32)


@dataclass
class DramRegions:
    """What an ImageNet export holds: the accelerator's two DRAM regions of parameters and the ARM's classifier.

    ``weights``: ``uint64[WEIGHT_WORDS]``; ``params``: ``int64[PARAM_WORDS]`` (raw fixed-point values);
    ``fc_weight``: float64 ``classes x 1024``; ``fc_bias``: float64 ``classes``; ``saturated``: per
    parameter field, how many values the formats clamped.
    """

    formats: Formats
    levels: int
    weights: np.ndarray
    params: np.ndarray
    fc_weight: np.ndarray
    fc_bias: np.ndarray
    saturated: dict[str, int]

    @property
    def classes(self) -> int:
        """Classes of the ARM's classifier."""
        return int(self.fc_weight.shape[0])

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """The ARM's classifier on the accelerator's pooled sums (:func:`classify`)."""
        return classify(pooled, self.formats.fm.frac, self.fc_weight, self.fc_bias)
