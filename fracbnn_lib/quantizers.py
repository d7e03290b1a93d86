"""Quantisers of FracBNN: binary sign and n-bit activations with straight-through estimators.

Each quantiser is a ``torch.autograd.Function`` whose forward pass is the paper's
quantisation and whose backward pass is a clipped identity (straight-through estimator, STE).
"""

from __future__ import annotations

import torch
from torch import nn

SIGN_STE_CLIP = 1.3
"""Sign STE passes the gradient where ``|x| < 1.3`` (the release's ``FastSign``)."""

QUANT_STE_CLIP = 1.0
"""The n-bit activation quantiser passes the gradient where ``|x| < 1``."""


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < SIGN_STE_CLIP).to(grad.dtype)


class _QuantSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, bits: int) -> torch.Tensor:
        ctx.save_for_backward(x)
        step = 2.0 / (2**bits - 1)
        return torch.round((x.clamp(-1.0, 1.0) + 1.0) / step) * step - 1.0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < QUANT_STE_CLIP).to(grad.dtype), None


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Binarise with a straight-through estimator.

    Forward: ``sign(x)`` (``torch.sign``: ``sign(0) = 0``; the hardware export maps 0 to -1).
    Backward: ``dL/dx = dL/dy * 1[|x| < 1.3]``.
    Any shape; returns a tensor of the same shape and dtype.
    """
    return _SignSTE.apply(x)


def quant_sign(x: torch.Tensor, bits: int = 2) -> torch.Tensor:
    """Quantise activations to ``bits`` bits on the symmetric grid of [-1, 1].

    Forward: with step ``d = 2 / (2**bits - 1)``,
    ``y = round((clamp(x, -1, 1) + 1) / d) * d - 1`` (round half to even, as ``torch.round``).
    For 2 bits the levels are {-1, -1/3, 1/3, 1}, i.e. ``y = 2/3 * m + 1/3 * l`` with the MSB
    plane ``m = sign(y)`` and the LSB plane ``l`` in {-1, +1}.
    Backward: ``dL/dx = dL/dy * 1[|x| < 1]``.
    Any shape; returns a tensor of the same shape and dtype.
    """
    if bits < 1:
        raise ValueError(f"quant_sign needs bits >= 1, got {bits}")
    return _QuantSign.apply(x, bits)


class LearnableBias(nn.Module):
    """Per-channel learnable additive bias: ``y = x + b`` with ``b`` of shape 1xCx1x1, init 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``y = PReLU(x + b_x) + b_y`` with per-channel ``b_x``, ``b_y`` and slope.

    Input and output N x C x H x W. Slopes start at PyTorch's default 0.25, biases at 0.
    Sub-module names (``shift_x``, ``shift_y``, ``prelu``) match the official release.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shift_x = LearnableBias(channels)
        self.shift_y = LearnableBias(channels)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shift_y(self.prelu(self.shift_x(x)))
