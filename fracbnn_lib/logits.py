"""Comparing logits: accuracy, arg-max agreement and bit-identity, as every rung of the ladder counts them.

numpy only (no PyTorch), so the deploy bundle carries it to PYNQ boards. Logits are ``[N, C]``
arrays, labels ``[N]``; "identical" always means identical float32 bit patterns (``-0.0`` differs
from ``0.0``, a NaN equals the same NaN), the definition of rungs L3 (C-simulation) and L4 (board).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose arg-max logit is the label."""
    return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(labels)))


def argmax_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of images whose arg-max is the same in ``a`` and ``b``."""
    return float(np.mean(np.argmax(np.asarray(a), axis=1) == np.argmax(np.asarray(b), axis=1)))


def identical_logits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean ``[N, C]``: where the float32 bit patterns of ``a`` and ``b`` are the same."""
    a, b = np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32)
    return a.view(np.uint32) == b.view(np.uint32)


def mismatched_logits(a: np.ndarray, b: np.ndarray) -> int:
    """Logits whose float32 bit patterns differ (0 means bit-identical)."""
    return int((~identical_logits(a, b)).sum())


def mismatched_outputs(a: np.ndarray, b: np.ndarray) -> int:
    """An accelerator's outputs that differ: integers (ImageNet's pooled sums) by value, else as float32 bits."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return int((a != b).sum())
    return mismatched_logits(a, b)


def logit_agreement(logits: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """How ``logits`` compare with ``expected`` ones (an export's ``expected_logits.npy``).

    ``identical_images``: images whose every logit is bit-identical; ``mismatched_logits``: logits
    that differ; ``max_abs_diff``; ``argmax_agreement``: share of images with the same arg-max.
    """
    logits, expected = np.asarray(logits, dtype=np.float32), np.asarray(expected, dtype=np.float32)
    same = identical_logits(logits, expected)
    return {
        "images": int(logits.shape[0]),
        "identical_images": int(np.all(same, axis=1).sum()),
        "mismatched_logits": int((~same).sum()),
        "max_abs_diff": float(np.max(np.abs(logits - expected))) if logits.size else 0.0,
        "argmax_agreement": argmax_agreement(logits, expected) if logits.size else 0.0,
    }
