"""Folding helpers both accelerators use: BN as an affine map, binarised weights, gate thresholds, the stem's table.

Each turns a trained PyTorch module's parameters into the float64 (or integer) values an accelerator
stores before they are quantised to its fixed-point formats.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .bits import unpack_bits
from .fixed_point import SUM_MAX, SUM_MIN


def bn_affine(bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BN as ``a x + b``: ``a = γ / sqrt(σ² + ε)``, ``b = β - μ a`` (float64)."""
    var = bn.running_var.detach().double().numpy()
    mean = bn.running_mean.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones_like(var)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros_like(var)
    a = gamma / np.sqrt(var + bn.eps)
    return a, beta - mean * a


def per_channel(value: torch.Tensor, channels: int) -> np.ndarray:
    """A scalar or per-channel parameter as float64 ``channels`` values."""
    return np.broadcast_to(value.detach().double().numpy().reshape(-1), (channels,)).copy()


def weight_bits(weight: torch.Tensor) -> np.ndarray:
    """The hardware's binarisation: bit 1 where ``w > 0``, bit 0 (= -1) where ``w <= 0`` (zeros included)."""
    return (weight.detach() > 0).cpu().numpy()


def gate_threshold(threshold: torch.Tensor, gating: bool, channels: int) -> np.ndarray:
    """Integer gate thresholds ``T = floor(3/2 θ)`` (``2/3 m > θ <=> m > T``), clamped to ``int16_t``."""
    if not gating:
        return np.full(channels, SUM_MIN, dtype=np.int64)
    values = np.floor(1.5 * per_channel(threshold, channels))
    return np.clip(np.nan_to_num(values, nan=SUM_MAX), SUM_MIN, SUM_MAX).astype(np.int64)


def stem_level_dots(conv1_weight: np.ndarray, levels: int) -> np.ndarray:
    """The thermometer stem's lookup table (``conv1_level_dot`` / ``stem_table`` in the C++): int64 ``K x 9 x 3(L+1)``.

    ``conv1_weight``: the packed stem weights ``uint64[K, 3, 9]`` (level ``b`` at bit ``63 - b``; ``K`` = 16
    lanes on CIFAR-10, 32 on ImageNet).
    Entry ``[k, tap, colour * (L + 1) + v]`` is the dot product of lane ``k``'s weights at
    ``(colour, tap)`` with the thermometer code of ``v`` levels (+1 for ``b < v``, -1 otherwise):
    ``2 S_v - S_L`` with ``S_v = sum_{b<v} w_b`` (the C++'s ``stem_level_dot``, entry by entry).
    """
    weights = unpack_bits(conv1_weight, levels).astype(np.int64) * 2 - 1  # 16 x 3 x 9 x L, +-1
    sums = np.concatenate((np.zeros(weights.shape[:3] + (1,), np.int64), np.cumsum(weights, axis=3)), axis=3)
    dots = 2 * sums - sums[..., levels:]  # 16 x 3 x 9 x (L+1)
    return dots.transpose(0, 2, 1, 3).reshape(conv1_weight.shape[0], conv1_weight.shape[2], -1)
