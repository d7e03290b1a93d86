"""Thermometer encoding of the binary input layer, and its packing into accelerator words.

A pixel intensity ``p`` in [0, 1] (8-bit value ``k = round(255 p)``) is encoded with
``L = round(255 / resolution)`` binary levels: level ``b`` is +1 if ``b < round(k / resolution)``
and -1 otherwise (``round`` half to even, as ``torch.round`` in the release). Colour channel
``c`` and level ``b`` become encoded channel ``c * L + b``, the release's order, so official
checkpoints load. Resolution 8 gives 32 levels, so RGB becomes 96 binary channels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

WORD_BITS = 64


def thermometer_levels(resolution: int = 8) -> int:
    """Number of levels per colour channel: ``L = round(255 / resolution)``."""
    if not 1 <= resolution <= 255:
        raise ValueError(f"thermometer resolution must be in 1..255, got {resolution}")
    return int(round(255.0 / resolution))


def thermometer_encode(x: torch.Tensor, resolution: int = 8) -> torch.Tensor:
    """Encode images N x C x H x W in [0, 1] to N x (C*L) x H x W in {-1, +1} (any N).

    No statistics or fixed batch size are involved; the result carries no gradient.
    """
    if x.dim() != 4:
        raise ValueError(f"thermometer_encode expects N x C x H x W images, got shape {tuple(x.shape)}")
    levels = thermometer_levels(resolution)
    n, c, h, w = x.shape
    with torch.no_grad():
        on = torch.round(torch.round(x.clamp(0.0, 1.0) * 255.0) / resolution)
        steps = torch.arange(levels, device=x.device, dtype=x.dtype).view(1, 1, levels, 1, 1)
        code = (steps < on.unsqueeze(2)).to(x.dtype) * 2.0 - 1.0
    return code.reshape(n, c * levels, h, w)


class ThermometerEncoder(nn.Module):
    """Module form of :func:`thermometer_encode` (no parameters or buffers)."""

    def __init__(self, resolution: int = 8) -> None:
        super().__init__()
        self.resolution = resolution
        self.levels = thermometer_levels(resolution)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return thermometer_encode(x, self.resolution)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, levels={self.levels}"


def _level_shifts(levels: int) -> np.ndarray:
    """Bit position ``63 - b`` of level ``b``, shaped 1 x 1 x L x 1 x 1 for broadcasting."""
    return np.arange(WORD_BITS - 1, WORD_BITS - 1 - levels, -1, dtype=np.uint64).reshape(1, 1, levels, 1, 1)


def pack_thermometer(encoded: torch.Tensor | np.ndarray, colour_channels: int = 3) -> np.ndarray:
    """Pack an encoded batch into the accelerator's input words.

    ``encoded``: N x (C*L) x H x W in {-1, +1} (as :func:`thermometer_encode` returns), ``L <= 64``.
    Returns ``uint64[N, C, H, W]``: level ``b`` of colour channel ``c`` is bit ``63 - b`` of word
    ``[n, c, row, col]`` (1 = level on); the bits below ``64 - L`` are zero.
    """
    code = encoded.detach().cpu().numpy() if isinstance(encoded, torch.Tensor) else np.asarray(encoded)
    if code.ndim != 4 or code.shape[1] % colour_channels:
        raise ValueError(f"pack_thermometer expects N x (C*L) x H x W with C={colour_channels}, got shape {code.shape}")
    n, cl, h, w = code.shape
    levels = cl // colour_channels
    if levels > WORD_BITS:
        raise ValueError(f"{levels} thermometer levels do not fit a {WORD_BITS}-bit word (use resolution >= 4)")
    bits = (code.reshape(n, colour_channels, levels, h, w) > 0).astype(np.uint64)
    return np.bitwise_or.reduce(bits << _level_shifts(levels), axis=2)


def unpack_thermometer(words: np.ndarray, levels: int = 32) -> np.ndarray:
    """Inverse of :func:`pack_thermometer`: ``uint64[N, C, H, W]`` -> float32 N x (C*L) x H x W in {-1, +1}."""
    words = np.asarray(words, dtype=np.uint64)
    n, c, h, w = words.shape
    bits = (words[:, :, None] >> _level_shifts(levels)) & np.uint64(1)
    return (bits.astype(np.float32) * 2.0 - 1.0).reshape(n, c * levels, h, w)
