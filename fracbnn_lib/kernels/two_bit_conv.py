"""The precision-gated conv on a 2-bit activation as one autograd node (:class:`TwoBitConv`).

The fast form of :meth:`fracbnn_lib.layers.PGBinaryConv2d.readable_forward`: two convolutions and
the gate in one node that keeps compact tensors for its backward pass (int8 levels, int16 sums)
and, on the CPU, runs the gate's element-wise work in the fused kernels of :mod:`.fused`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..quantizers import LEVEL_DTYPE, SIGN_STE_CLIP, clipped_identity
from . import fused

MSB_SCALE = 2.0 / 3.0
"""Weight of the MSB plane in a 2-bit activation: ``x = 2/3 * msb + 1/3 * lsb``."""

GATE_SHARPNESS = 5.0
"""The gate's surrogate is ``sigmoid(5 * (msb - threshold))``."""

TWO_BIT_STEP = 2.0 / 3.0
"""Spacing of the 2-bit activation grid {-1, -1/3, 1/3, 1} (:func:`quant_sign` with 2 bits)."""


class ConvGeometry(NamedTuple):
    """``conv2d``'s geometry arguments: stride, padding, dilation and groups."""

    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int


def _conv_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, geometry: ConvGeometry, need: tuple[bool, bool]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Input and/or weight gradient of ``conv2d(x, weight)`` for the output gradient ``grad``."""
    grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
        grad, x, weight, None, geometry.stride, geometry.padding, geometry.dilation, False, [0], geometry.groups,
        [need[0], need[1], False],
    )  # fmt: skip
    return grad_x, grad_w


def _gated_weight_grad(
    grad_full: torch.Tensor, grad_msb: torch.Tensor, x: torch.Tensor, sign_x: torch.Tensor, weight: torch.Tensor,
    geometry: ConvGeometry,
) -> torch.Tensor:  # fmt: skip
    """The gated conv's weight gradient ``conv_w(x, g_full) + 2/3 conv_w(sign(x), grad_msb)``.

    ``grad_msb`` is ``g_msb / (2/3)`` (:class:`TwoBitConv`'s docstring gives ``g_full`` and ``g_msb``).
    """
    grad_w = _conv_backward(grad_full, x, weight, geometry, (False, True))[1]
    return grad_w.add_(_conv_backward(grad_msb, sign_x, weight, geometry, (False, True))[1], alpha=MSB_SCALE)


def _two_bit_levels(x: torch.Tensor) -> torch.Tensor | None:
    """``k`` (int8, 0..3) with ``x == k * 2/3 - 1`` exactly (the floats ``quant_sign`` makes), or None if ``x`` is off.

    ``k = round((x + 1) * 3/2)``; the check recomputes the grid value as ``quant_sign`` does.
    """
    k = (x + 1.0).mul_(1.5).round_()
    if not torch.equal(k * TWO_BIT_STEP - 1.0, x):
        return None
    return k.to(LEVEL_DTYPE)


def _from_levels(levels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The 2-bit activation ``k * 2/3 - 1`` back from its levels (the same floats quant_sign gave)."""
    return levels.to(dtype).mul_(TWO_BIT_STEP).sub_(1.0)


class TwoBitConv(torch.autograd.Function):
    """A conv on a 2-bit activation, with the precision gate on or off, and its pseudo-gradients in one node.

    Gate off: ``out = conv(x, w)``. Gate on (``w`` the effective weight; two convolutions and a
    few element-wise passes): ``M = conv(sign(x), w)``, ``msb = 2/3 M``, ``full = conv(x, w)``,
    ``d = msb - θ``, ``out = msb + 1[d > 0] * (full - msb)``.

    Backward (gate on), with ``g = dL/dout``, ``mask = 1[d > 0]`` and the gate's surrogate
    ``s = sigmoid(5 d)``: ``g_gate = 5 s (1 - s) * g * (full - msb)`` (times ``1[s >= 0.5]`` when
    sparse), ``dL/dθ = -sum_{N,H,W} g_gate``, ``g_full = g * mask``,
    ``g_msb = 2/3 (g * (1 - mask) + g_gate)``; ``dL/dw = conv_w(x, g_full) + conv_w(sign(x), g_msb)``
    and ``dL/dx = conv_x(g_full) + 1[|x| < 1.3] * conv_x(g_msb)`` (sign STE), which is one transposed
    convolution of ``g_full + g_msb`` when every ``|x| < 1.3`` (always so for a 2-bit activation).

    Kept for the backward pass: ``x`` as int8 levels when it lies on the 2-bit grid (else as is);
    with binary weights and a 2-bit ``x``, the integer sums ``M`` and ``L = 3 (full - msb)``
    (the LSB plane's sum) as int16, so ``msb = 2/3 M`` exactly and ``full - msb = L/3`` up to
    rounding; otherwise ``msb`` and ``full - msb``. In that compact case on the CPU (float32), the
    gate's element-wise work runs as two fused kernels (:mod:`fracbnn_lib.kernels.fused`), the same
    mathematics in one pass each.
    """

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        levels: torch.Tensor | None,
        weight: torch.Tensor,
        threshold: torch.Tensor,
        geometry: ConvGeometry,
        switches: tuple[bool, bool, bool, bool],
    ) -> torch.Tensor:
        gating, sparse, binary, keep = switches
        ctx.geometry, ctx.gating, ctx.sparse, ctx.dtype = geometry, gating, sparse, x.dtype
        if keep and levels is None:
            levels = _two_bit_levels(x)
        kept_x = x if levels is None else levels
        if not gating:
            ctx.fused = False
            if keep:
                ctx.save_for_backward(kept_x, weight)
            return F.conv2d(x, weight, None, *geometry)
        full = F.conv2d(x, weight, None, *geometry)
        msb_sum = F.conv2d(torch.sign(x), weight, None, *geometry)
        ctx.compact = keep and binary and levels is not None and weight[0].numel() <= torch.iinfo(torch.int16).max
        ctx.fused = ctx.compact and fused.gate_applies(full, msb_sum, threshold)
        if ctx.fused:
            out, msb_kept, diff_kept = fused.gate_forward(full, msb_sum, threshold)
            ctx.save_for_backward(kept_x, weight, threshold, msb_kept, diff_kept)
            return out
        msb_kept = msb_sum.to(torch.int16) if ctx.compact else None
        msb = msb_sum.mul_(MSB_SCALE)
        diff = full.sub_(msb)
        diff_kept = (diff * 3.0).round_().to(torch.int16) if ctx.compact else None
        out = torch.ops.aten.threshold_backward(diff, msb - threshold, 0).add_(msb)
        if keep:
            ctx.save_for_backward(kept_x, weight, threshold, *((msb_kept, diff_kept) if ctx.compact else (msb, diff)))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        kept_x, weight, *gate_state = ctx.saved_tensors
        if ctx.fused:
            return _fused_backward(ctx, grad, kept_x, weight, *gate_state)
        two_bit = not kept_x.is_floating_point()
        x = _from_levels(kept_x, ctx.dtype) if two_bit else kept_x
        need_x, _, need_w, need_theta = ctx.needs_input_grad[:4]
        geometry = ctx.geometry
        if not ctx.gating:
            grad_x, grad_w = _conv_backward(grad, x, weight, geometry, (need_x, need_w))
            return grad_x, None, grad_w, None, None, None
        threshold, msb, diff = gate_state
        # d = msb - θ; with the int16 sums, msb = 2/3 M (as in the forward) and diff = L/3: the 1/3 joins `scale`
        d = (msb.to(ctx.dtype).mul_(MSB_SCALE) if ctx.compact else msb).sub(threshold)
        scale = GATE_SHARPNESS / 3.0 if ctx.compact else GATE_SHARPNESS
        grad_full = torch.ops.aten.threshold_backward(grad, d, 0)
        s = d.mul_(GATE_SHARPNESS).sigmoid_()
        grad_gate = grad * diff.to(ctx.dtype)
        if ctx.sparse:
            below_half = 0.5 - torch.finfo(s.dtype).eps / 4  # s > below_half <=> s >= 0.5, exactly
            grad_gate = torch.ops.aten.threshold_backward(grad_gate, s, below_half)
        grad_gate = torch.ops.aten.sigmoid_backward(grad_gate, s)  # dL/dθ and g_msb take it times `scale`
        grad_theta = grad_gate.sum((0, 2, 3), keepdim=True).mul_(-scale) if need_theta else None
        grad_msb = (grad - grad_full).add_(grad_gate, alpha=scale)  # g_msb / (2/3)
        grad_x = grad_w = None
        if need_w:
            grad_w = _gated_weight_grad(grad_full, grad_msb, x, torch.sign(x), weight, geometry)
        if need_x:
            if two_bit or bool(x.abs().amax() < SIGN_STE_CLIP):
                grad_in = grad_full.add_(grad_msb, alpha=MSB_SCALE)
                grad_x = _conv_backward(grad_in, x, weight, geometry, (True, False))[0]
            else:
                grad_x = _conv_backward(grad_full, x, weight, geometry, (True, False))[0]
                grad_msb_x = _conv_backward(grad_msb, x, weight, geometry, (True, False))[0]
                grad_x.add_(clipped_identity(grad_msb_x, x, SIGN_STE_CLIP), alpha=MSB_SCALE)
        return grad_x, None, grad_w, grad_theta, None, None


def _fused_backward(
    ctx, grad: torch.Tensor, levels: torch.Tensor, weight: torch.Tensor, threshold: torch.Tensor,
    msb16: torch.Tensor, lsb16: torch.Tensor,
) -> tuple[torch.Tensor | None, ...]:  # fmt: skip
    """:class:`TwoBitConv`'s gate-on backward with its element-wise work in :mod:`fracbnn_lib.kernels.fused`."""
    need_x, _, need_w, need_theta = ctx.needs_input_grad[:4]
    scale = GATE_SHARPNESS / 3.0  # the int16 LSB sums are 3 (full - msb)
    grad_full, grad_msb, grad_in, grad_theta = fused.gate_backward(grad, msb16, lsb16, threshold, ctx.sparse, scale)
    x, sign_x = fused.levels_to_planes(levels)
    grad_w = _gated_weight_grad(grad_full, grad_msb, x, sign_x, weight, ctx.geometry) if need_w else None
    grad_x = None
    if need_x:  # a 2-bit x has |x| <= 1 < 1.3: the sign STE passes everywhere, one transposed conv
        grad_x = _conv_backward(grad_in, x, weight, ctx.geometry, (True, False))[0]
    return grad_x, None, grad_w, grad_theta if need_theta else None, None, None
