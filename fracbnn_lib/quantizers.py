"""Quantisers of FracBNN: binary sign and n-bit activations with straight-through estimators.

Each quantiser is a ``torch.autograd.Function`` whose forward pass is the paper's
quantisation and whose backward pass is a clipped identity (straight-through estimator, STE).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .kernels import fused

SIGN_STE_CLIP = 1.3
"""Sign STE passes the gradient where ``|x| < 1.3`` (the release's ``FastSign``)."""

QUANT_STE_CLIP = 1.0
"""The n-bit activation quantiser passes the gradient where ``|x| < 1``."""

LEVEL_DTYPE = torch.int8
"""Integer type of :func:`quant_sign_with_levels`'s level indices (up to 7 bits)."""


class _SignSTE(torch.autograd.Function):
    """``sign(x)``; backward ``grad * 1[|x| < 1.3]`` in one fused pass (``hardtanh_backward``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return clipped_identity(grad, x, SIGN_STE_CLIP)


class _QuantSign(torch.autograd.Function):
    """The n-bit grid, computed in place on one new tensor; backward ``grad * 1[|x| < 1]``.

    Outputs ``(y, k)``: ``k`` the int8 level index ``round((clamp(x) + 1) / d)`` (0..2^bits - 1) when
    asked for, else an empty tensor; it carries no gradient. Only the pass-through mask is kept
    for the backward pass (one byte per element), not ``x``. On float32 CPU tensors the forward
    runs as one fused pass (:func:`fracbnn_lib.kernels.fused.quantize`, the same float operations).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, bits: int, keep: bool, with_levels: bool) -> tuple[torch.Tensor, torch.Tensor]:
        step = 2.0 / (2**bits - 1)
        if fused.quantize_applies(x):
            y, levels, inside = fused.quantize(x, step, QUANT_STE_CLIP, with_levels, keep)
        else:
            inside = (x.abs() < QUANT_STE_CLIP).view(torch.uint8) if keep else None
            y = x.clamp(-1.0, 1.0).add_(1.0).div_(step).round_()
            levels = y.to(LEVEL_DTYPE) if with_levels else None
            y.mul_(step).sub_(1.0)
        if keep:
            ctx.save_for_backward(inside)
        levels = y.new_empty(0, dtype=LEVEL_DTYPE) if levels is None else levels
        ctx.mark_non_differentiable(levels)
        return y, levels

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor, _levels_grad: torch.Tensor | None) -> tuple[torch.Tensor, None, None, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside.to(grad.dtype), None, None, None


def clipped_identity(grad: torch.Tensor, x: torch.Tensor, clip: float) -> torch.Tensor:
    """The straight-through pseudo-gradient ``grad * 1[|x| < clip]`` (same shapes), in one pass.

    ``hardtanh_backward`` zeroes the gradient where ``x <= -clip`` or ``x >= clip``: exactly the
    complement of ``-clip < x < clip``, with ``clip`` rounded to ``x``'s dtype as in ``x.abs() < clip``.
    """
    return torch.ops.aten.hardtanh_backward(grad, x, -clip, clip)


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
    return _QuantSign.apply(x, bits, torch.is_grad_enabled() and x.requires_grad, False)[0]


def quant_sign_with_levels(x: torch.Tensor, bits: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`quant_sign` and the level index of each value: ``(y, k)`` with ``y = k * d - 1`` exactly.

    ``k`` (int8, same shape, no gradient) is the integer ``round((clamp(x, -1, 1) + 1) / d)``
    the forward computes anyway; :class:`fracbnn_lib.layers.PGBinaryConv2d` keeps it for its
    backward pass instead of the float activation.
    """
    if not 1 <= bits <= 7:
        raise ValueError(f"quant_sign_with_levels needs 1 <= bits <= 7 (int8 levels), got {bits}")
    y, levels = _QuantSign.apply(x, bits, torch.is_grad_enabled() and x.requires_grad, True)
    return y, levels


class LearnableBias(nn.Module):
    """Per-channel learnable additive bias: ``y = x + b`` with ``b`` of shape 1xCx1x1, init 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class _RPReLU(torch.autograd.Function):
    """``y = prelu(x + b_x, a) + b_y`` with its hand-written backward (no per-element slope gradient).

    With ``z = x + b_x``, ``pos = grad * 1[z > 0]`` and ``neg = grad - pos``:
    ``dL/dx = pos + a * neg``, ``dL/db_x = sum dL/dx``, ``dL/da = sum neg * z``, ``dL/db_y = sum grad``
    (sums over N, H, W), which is PyTorch's PReLU derivative (slope ``a`` at ``z <= 0``).
    """

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, shift_x: torch.Tensor, slope: torch.Tensor, shift_y: torch.Tensor
    ) -> torch.Tensor:
        z = x + shift_x
        ctx.save_for_backward(z, slope)
        return F.prelu(z, slope).add_(shift_y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, slope = ctx.saved_tensors
        need_x, need_bx, need_a, need_by = ctx.needs_input_grad
        channels = (0, 2, 3)
        pos = torch.ops.aten.threshold_backward(grad, z, 0)
        neg = grad - pos
        grad_x = torch.addcmul(pos, neg, slope.view(1, -1, 1, 1)) if need_x or need_bx else None
        grad_bx = grad_x.sum(channels, keepdim=True) if need_bx else None
        grad_a = neg.mul_(z).sum(channels) if need_a else None
        grad_by = grad.sum(channels, keepdim=True) if need_by else None
        return grad_x if need_x else None, grad_bx, grad_a, grad_by


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``y = PReLU(x + b_x) + b_y`` with per-channel ``b_x``, ``b_y`` and slope.

    Input and output N x C x H x W. Slopes start at PyTorch's default 0.25, biases at 0.
    Sub-module names (``shift_x``, ``shift_y``, ``prelu``) match the official release; the forward
    reads their parameters and computes all three steps in one autograd node (:class:`_RPReLU`).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shift_x = LearnableBias(channels)
        self.shift_y = LearnableBias(channels)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RPReLU.apply(x, self.shift_x.bias, self.prelu.weight, self.shift_y.bias)
