"""Thermometer encoding of the binary input layer, and its packing into accelerator words.

A pixel intensity ``p`` in [0, 1] (8-bit value ``k = round(255 p)``) is encoded with
``L = round(255 / resolution)`` binary levels: level ``b`` is +1 if ``b < round(k / resolution)``
and -1 otherwise (``round`` half to even, as ``torch.round`` in the release). Colour channel
``c`` and level ``b`` become encoded channel ``c * L + b``, the release's order, so official
checkpoints load. Resolution 8 gives 32 levels, so RGB becomes 96 binary channels.

The binary input layer convolves this code; :func:`thermometer_conv2d` computes that convolution
from the per-pixel level counts and cumulative sums of the weights, without the 96-channel code.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

WORD_BITS = 64
CHUNK_BYTES = 64 * 2**20
"""Batches are processed in chunks of images whose lookup indices fit in about this many bytes."""
INDEX_DTYPE = torch.int32
"""Lookup indices of the thermometer conv (chunks keep every index below 2**31)."""


def thermometer_levels(resolution: int = 8) -> int:
    """Number of levels per colour channel: ``L = round(255 / resolution)``."""
    if not 1 <= resolution <= 255:
        raise ValueError(f"thermometer resolution must be in 1..255, got {resolution}")
    return int(round(255.0 / resolution))


def thermometer_count(x: torch.Tensor, resolution: int = 8) -> torch.Tensor:
    """Levels switched on per pixel: ``round(round(255 p) / resolution)`` in 0..L, same shape and dtype as ``x``.

    The value is rounded to its 8-bit pixel ``k`` first, so the count is a function of ``k`` alone (ties
    ``k = 8n + 4`` half to even), whatever float noise a normalise / un-normalise round trip left on ``p``:
    the accelerator's input words are computed from the same ``k``. The release computes
    :func:`release_thermometer_count` instead (README, "Differences from the release, on purpose").
    """
    with torch.no_grad():
        return x.clamp(0.0, 1.0).mul_(255.0).round_().div_(resolution).round_()


def release_thermometer_count(x: torch.Tensor, resolution: int = 8) -> torch.Tensor:
    """The release's count, for comparison only (the kit never encodes with it): ``round(255 p / resolution)``
    on the float value ``p``, clamped to 0..L (the release's ``placeholder < round(x * 255 / r)``).

    On an exact 8-bit value ``p = k / 255`` it equals :func:`thermometer_count`. After the release's ImageNet
    path (``Normalize`` with the ImageNet mean and std, then the model's ``x * std + mean``) ``255 p`` lies
    up to about 2e-5 from ``k``, and a tie ``k = 8n + 4`` rounds by that noise's sign instead of to even:
    a fixed function of the colour channel and ``k`` (``benchmarks/encoder_rounding.py``).
    """
    with torch.no_grad():
        return x.mul(255.0).div_(resolution).round_().clamp_(0, thermometer_levels(resolution))


def thermometer_encode(x: torch.Tensor, resolution: int = 8) -> torch.Tensor:
    """Encode images N x C x H x W in [0, 1] to N x (C*L) x H x W in {-1, +1} (any N).

    Level ``b`` is ``sign(on - b - 1/2)`` with ``on`` = :func:`thermometer_count`, i.e. +1 iff
    ``b < on``. No statistics or fixed batch size are involved; the result carries no gradient.
    """
    if x.dim() != 4:
        raise ValueError(f"thermometer_encode expects N x C x H x W images, got shape {tuple(x.shape)}")
    levels = thermometer_levels(resolution)
    n, c, h, w = x.shape
    with torch.no_grad():
        on = thermometer_count(x, resolution).unsqueeze(2)
        work = torch.promote_types(x.dtype, torch.float32)
        half_steps = torch.arange(levels, device=x.device, dtype=work).add_(0.5).view(1, 1, levels, 1, 1)
        code = (on.to(work) - half_steps).sign_().to(x.dtype)
    return code.reshape(n, c * levels, h, w)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _chunks(n: int, bytes_per_image: int) -> list[slice]:
    """Slices of the batch, each holding at most :data:`CHUNK_BYTES` of per-image work (at least one image)."""
    step = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _level_table(weight: torch.Tensor, colours: int, levels: int) -> torch.Tensor:
    """Lookup table of the thermometer conv: ``(C*kh*kw*(L+2)) x out``.

    Row ``((c*kh + ky)*kw + kx)*(L+2) + v`` holds ``sum_b w[:, c*L+b, ky, kx] * (+1 if b < v else -1)
    = 2 S_v - S_L`` with ``S_v = sum_{b<v} w_b`` (v = 0..L); row ``v = L+1`` is 0 (zero padding).
    """
    out, _, kh, kw = weight.shape
    w = weight.reshape(out, colours, levels, kh, kw).permute(1, 3, 4, 2, 0)  # C kh kw L out
    table = weight.new_zeros(colours, kh, kw, levels + 2, out)
    table[..., 1 : levels + 1, :] = w.cumsum(3)
    total = table[..., levels : levels + 1, :].clone()
    table[..., : levels + 1, :].mul_(2.0).sub_(total)
    return table.reshape(-1, out)


class _ThermometerConv(torch.autograd.Function):
    """``conv2d(thermometer_encode(images), weight)`` by table lookup; gradient for the weight only.

    Forward: with ``k_c`` the level count of colour ``c`` (:func:`thermometer_count`), output pixel
    ``p`` sums the table rows (:func:`_level_table`) of its ``C x kh x kw`` taps,
    ``out[p] = sum_{c, t} T[c, t, k_c(p*s + t - pad)]`` (``F.embedding_bag``, mode sum), i.e.
    ``C*kh*kw`` lookups per output instead of ``C*L*kh*kw`` multiply-accumulates.
    Backward: ``dL/dT[c, t, v] = sum of dL/dout[p]`` over the outputs whose tap ``t`` reads a pixel with
    ``k_c = v`` (pixels sorted by ``k_c``, one ``embedding_bag`` per tap over the output gradient),
    then ``dL/dw[:, c*L+b, t] = sum_v dL/dT[c, t, v] (2 * 1[b < v] - 1)``.
    """

    @staticmethod
    def forward(
        ctx,
        images: torch.Tensor,
        weight: torch.Tensor,
        resolution: int,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> torch.Tensor:
        levels = thermometer_levels(resolution)
        n, colours, h, w = images.shape
        out_channels, _, kh, kw = weight.shape
        (sh, sw), (ph, pw) = stride, padding
        ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        counts = thermometer_count(images, resolution).to(INDEX_DTYPE)
        padded = F.pad(counts, (pw, pw, ph, ph), value=levels + 1).permute(0, 2, 3, 1)  # N Hp Wp C
        row_offsets = torch.arange(colours * kh * kw, device=images.device, dtype=INDEX_DTYPE).mul_(levels + 2)
        table = _level_table(weight, colours, levels)
        out = weight.new_empty(n, ho, wo, out_channels)
        for part in _chunks(n, ho * wo * colours * kh * kw * INDEX_DTYPE.itemsize):
            taps = [
                padded[part, ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw]
                for ky in range(kh)
                for kx in range(kw)
            ]
            index = torch.stack(taps, dim=-1).add_(row_offsets.view(colours, kh * kw))  # n Ho Wo C taps
            out[part] = F.embedding_bag(index.view(-1, colours * kh * kw), table, mode="sum").view(
                -1, ho, wo, out_channels
            )
        ctx.save_for_backward(counts)
        ctx.geometry = (levels, weight.shape, stride, padding)
        return out.permute(0, 3, 1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[1]:
            return None, None, None, None, None
        (counts,) = ctx.saved_tensors
        levels, (out_channels, _, kh, kw), (sh, sw), (ph, pw) = ctx.geometry
        n, colours, h, w = counts.shape
        ho, wo = grad.shape[2:]
        # grad scattered onto input resolution: buffer row (lo_h + p*sh, lo_w + q*sw) holds dL/dout[p, q], so
        # input pixel (y, x) reads its tap (ky, kx) at row (lo_h + y + ph - ky, lo_w + x + pw - kx).
        lo_h, lo_w = max(0, kh - 1 - ph), max(0, kw - 1 - pw)
        hb, wb = lo_h + max((ho - 1) * sh + 1, h + ph), lo_w + max((wo - 1) * sw + 1, w + pw)
        shifts = [-(ky * wb + kx) for ky in range(kh) for kx in range(kw)]
        hist = grad.new_zeros(colours, kh * kw, levels + 1, out_channels)
        for part in _chunks(n, hb * wb * out_channels * grad.element_size()):
            chunk = grad[part].permute(0, 2, 3, 1)
            m = chunk.shape[0]
            buffer = grad.new_zeros(m, hb, wb, out_channels)
            buffer[:, lo_h : lo_h + (ho - 1) * sh + 1 : sh, lo_w : lo_w + (wo - 1) * sw + 1 : sw] = chunk
            rows = buffer.view(-1, out_channels)
            base = torch.arange(m * hb * wb, device=grad.device, dtype=INDEX_DTYPE).view(m, hb, wb)
            base = base[:, lo_h + ph : lo_h + ph + h, lo_w + pw : lo_w + pw + w].reshape(-1)
            for c in range(colours):
                key = counts[part, c].reshape(-1)
                order = torch.argsort(key)
                sizes = torch.bincount(key, minlength=levels + 1)
                offsets = sizes.cumsum(0).sub_(sizes).to(INDEX_DTYPE)  # first position of each level
                sorted_base = base[order]
                for t, shift in enumerate(shifts):
                    hist[c, t] += F.embedding_bag(sorted_base + shift, rows, offsets, mode="sum")
        cum = hist.cumsum(2)
        grad_levels = hist.sum(2, keepdim=True) - 2.0 * cum[:, :, :levels]  # C taps L out
        grad_w = grad_levels.view(colours, kh, kw, levels, out_channels).permute(4, 0, 3, 1, 2)
        return None, grad_w.reshape(out_channels, colours * levels, kh, kw), None, None, None


def thermometer_conv2d(
    images: torch.Tensor,
    weight: torch.Tensor,
    resolution: int = 8,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """``conv2d(thermometer_encode(images, resolution), weight, stride=stride, padding=padding)``.

    ``images``: N x C x H x W in [0, 1]; ``weight``: out x (C*L) x kh x kw (no bias, groups 1).
    Returns N x out x H' x W' (channels-last strides on CPU). The code carries no gradient, so only
    ``weight`` receives one. On CPU the result comes from a lookup table of cumulative weight sums
    (:class:`_ThermometerConv`): the same sums, added in another order; elsewhere from the encoded
    convolution itself.
    """
    levels = thermometer_levels(resolution)
    if images.dim() != 4 or weight.dim() != 4 or weight.shape[1] != images.shape[1] * levels:
        raise ValueError(
            f"thermometer_conv2d needs images N x C x H x W and a weight out x C*{levels} x kh x kw, "
            f"got {tuple(images.shape)} and {tuple(weight.shape)}"
        )
    stride, padding = _pair(stride), _pair(padding)
    if images.device.type != "cpu":
        return F.conv2d(thermometer_encode(images, resolution).to(weight.dtype), weight, None, stride, padding)
    return _ThermometerConv.apply(images, weight, resolution, stride, padding)


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
