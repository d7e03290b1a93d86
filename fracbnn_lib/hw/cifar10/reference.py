"""Rung L2 of the ladder: a bit-exact numpy model of the accelerator's datapath, vectorised over images.

It computes what ``hls/cifar10`` computes, in the same order of operations, with the same
rounding points (every assignment to ``fm_t``/``logit_t`` is AP_RND then AP_SAT, see
:mod:`.fixed_point`); everything else is exact integer arithmetic on raw fixed-point values.
Binary convs are exact integer sums of ``±1`` products over the valid taps (a padding tap adds
nothing), i.e. ``n - 2 popcount(a XOR w)`` summed over the taps inside the image. The stem reads
each input word as its level count (:func:`count_levels`, the C++'s ``load_levels``) and convolves
the thermometer code of that count; the C++ looks the same dot products up in a table
(:func:`~fracbnn_lib.hw.params.stem_level_dots`), so the two are independent formulations.

Per pixel of a PG layer (raw integers, ``F`` the fractional bits of ``fm``):

1. 2-bit code of ``x``: ``q = ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 3/2)``, computed as the C++ does with
   three comparisons: ``MSB = x >= 0``, ``LSB = x > Q_HIGH`` if ``MSB`` else ``x > Q_LOW``, where
   ``Q_LOW = floor(-2/3 * 2**F)`` and ``Q_HIGH = floor(2/3 * 2**F)`` (:func:`quantize2`)
2. ``m``, ``l``: MSB/LSB sums; gate ``m > T``; ``z = 2 m + gate * l``
3. ``y = fm(scale * z + shift)``; ``y = fm(y * slope)`` where ``y < 0``
4. residual ``r``: ``x``, or for stride 2 ``fm((x00 + x01 + x10 + x11) / 4)`` duplicated along channels
5. ``x' = fm(bn_scale * (y + r) + bn_shift)`` (``y + r`` exact)

Then ``mean = fm(sum_p x / 64)``, ``logit = logit_t(sum_c fc_w * mean + fc_b)`` and ``float(logit)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..bits import unpack_bits
from ..datapath import Datapath, ReferenceTrace, align, plus_minus_one, thermometer_planes
from ..fixed_point import FixedFormat
from .layout import CLASSES, PG_LAYERS, TAPS, array_kind, check_packed
from .params import AcceleratorParams

CHUNK = 64
"""Images per vectorised step (bounds memory: about 100 MB of int64 feature maps per 64 images)."""


def binary_conv(planes: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    """Exact 3x3 conv, padding 1, of ``±1`` planes (N x C x H x W float32) with ``weight`` (O x C*9, ±1).

    Weight column ``c * 9 + tap`` (tap = 3 * row + col of the kernel). Returns int64 N x O x
    (H/stride * W/stride). Padding taps are zeros, i.e. skipped. The sums are integers of at most
    64 * 9 * 3 in magnitude, so PyTorch's float32 ``conv2d`` (used for speed) computes them exactly.
    """
    n, c = planes.shape[:2]
    kernel = torch.from_numpy(weight).view(-1, c, 3, 3)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(torch.from_numpy(planes), kernel, stride=stride, padding=1)
    return np.rint(out.numpy()).astype(np.int64).reshape(n, kernel.shape[0], -1)


def quantizer_bounds(fm: FixedFormat) -> tuple[int, int]:
    """Raw ``(Q_LOW, Q_HIGH)``: the largest ``fm`` values below -2/3 and 2/3 (``floor(∓2/3 * 2**F)``)."""
    scaled = 1 << (fm.frac + 1)  # 2 * 2**F
    return -((scaled + 2) // 3), scaled // 3


def quantize2(x: np.ndarray, fm: FixedFormat) -> tuple[np.ndarray, np.ndarray]:
    """MSB and LSB planes (booleans, True = +1) of the 2-bit code of raw ``fm`` values ``x``.

    Equal to ``q = sat_[0,3](floor((x + 1) * 3/2 + 1/2))``, ``MSB = q >= 2``, ``LSB = q odd``
    (``ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5)``), computed with the C++'s comparisons.
    """
    low, high = quantizer_bounds(fm)
    msb = x >= 0
    return msb, np.where(msb, x > high, x > low)


class Cifar10Datapath(Datapath):
    """The datapath on CIFAR-10's tile-major parameter arrays (:class:`~.params.AcceleratorParams`)."""

    def affine(
        self, value: np.ndarray, value_frac: int, scale: str, shift: str, rows: slice | None = None
    ) -> np.ndarray:
        """``fm(scale * value + shift)`` per channel (axis 1) of N x C x P values, exact before the one rounding."""
        a, b = self.p.arrays[scale], self.p.arrays[shift]
        fa, fb = getattr(self.p.formats, array_kind(scale)).frac, getattr(self.p.formats, array_kind(shift)).frac
        if rows is not None:
            a, b = a[rows].reshape(-1), b[rows].reshape(-1)
        frac = max(fa + value_frac, fb)
        exact = align(value * a[None, :, None], fa + value_frac, frac) + align(b[None, :, None], fb, frac)
        return self.assign(exact, frac)


def count_levels(packed: np.ndarray, levels: int) -> np.ndarray:
    """Levels on per input word, ``int64[N, 3, 32, 32]``: its set bits among bits ``63 .. 64 - L``.

    The C++'s ``count_levels`` in ``load_levels``: the accelerator reads every input word this way.
    """
    return unpack_bits(packed, levels).sum(axis=-1, dtype=np.int64)


def _stem_weight(params: AcceleratorParams) -> np.ndarray:
    words = params.arrays["conv1_weight"]  # 16 x 3 x 9
    bits = unpack_bits(words, params.levels)  # 16 x 3 x 9 x L
    return plus_minus_one(bits.transpose(0, 1, 3, 2).reshape(words.shape[0], -1))  # 16 x (3L x 9), channel c*L+b


def _pg_weight(params: AcceleratorParams, layer_index: int) -> np.ndarray:
    layer = PG_LAYERS[layer_index]
    words = params.arrays["pg_weight"][layer.tile : layer.tile + layer.tiles].reshape(layer.cout, TAPS)
    bits = unpack_bits(words, layer.cin)  # cout x 9 x cin
    return plus_minus_one(bits.transpose(0, 2, 1).reshape(layer.cout, -1))


def stem_conv_bn(dp: Cifar10Datapath, packed: np.ndarray) -> np.ndarray:
    """The binary input layer (``load_levels`` + ``stem_conv_bn``): raw ``fm`` values ``N x 16 x 1024``."""
    levels = dp.p.levels
    z0 = binary_conv(thermometer_planes(count_levels(packed, levels), levels), _stem_weight(dp.p), 1)
    return dp.affine(z0, 0, "conv1_scale", "conv1_shift")


def avgpool_concat(dp: Cifar10Datapath, x: np.ndarray, size: int) -> np.ndarray:
    """The stride-2 shortcut (``avgpool_concat``): ``fm((x00 + x01 + x10 + x11) / 4)``, channels duplicated."""
    n, channels = x.shape[:2]
    blocks = x.reshape(n, channels, size // 2, 2, size // 2, 2).sum(axis=(3, 5))
    pooled = dp.assign(blocks.reshape(n, channels, -1), dp.fm.frac + 2)
    return np.concatenate((pooled, pooled), axis=1)


def pg_conv_bn(
    dp: Cifar10Datapath, x: np.ndarray, residual: np.ndarray, layer_index: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One precision-gated conv with BN, RPReLU and the residual (``pg_conv_bn``): ``(x', gate)``, raw ``fm``."""
    layer, fm, p = PG_LAYERS[layer_index], dp.fm, dp.p
    n = x.shape[0]
    rows = slice(layer.tile, layer.tile + layer.tiles)
    msb, lsb = quantize2(x, fm)
    planes = plus_minus_one(np.concatenate((msb, lsb))).reshape(2 * n, layer.cin, size, size)
    sums = binary_conv(planes, _pg_weight(p, layer_index), layer.stride)
    m, l_sum = sums[:n], sums[n:]
    gate = m > p.arrays["pg_threshold"][rows].reshape(-1)[None, :, None]
    z = 2 * m + np.where(gate, l_sum, 0)
    y = dp.affine(z, 0, "pg_scale", "pg_shift", rows)
    slope = p.arrays["pg_slope"][rows].reshape(-1)[None, :, None]
    negative = y < 0
    y = np.where(negative, dp.assign(np.where(negative, y * slope, 0), fm.frac + p.formats.param.frac), y)
    return dp.affine(y + residual, fm.frac, "pg_bn_scale", "pg_bn_shift", rows), gate


def global_pool(dp: Cifar10Datapath, x: np.ndarray) -> np.ndarray:
    """The 8 x 8 global average pool (``avgpool_fc``, loop ``GLOBAL_POOL``): raw ``fm`` means ``N x 64``."""
    return dp.assign(x.sum(axis=2), dp.fm.frac + 6)


def fc(dp: Cifar10Datapath, mean: np.ndarray) -> np.ndarray:
    """The classifier (``avgpool_fc``, loop ``FC``): raw logits ``N x 10``, ``logit(sum_c w * mean + b)``."""
    fm, param = dp.fm, dp.p.formats.param
    frac = param.frac + fm.frac
    acc = mean @ dp.p.arrays["fc_weight"].T + align(dp.p.arrays["fc_bias"][None, :], param.frac, frac)
    return dp.assign(acc, frac, dp.p.formats.logit)


def _forward_chunk(params: AcceleratorParams, packed: np.ndarray, trace: ReferenceTrace) -> np.ndarray:
    """``FracNet_T`` on a chunk of images, step by step as ``fracnet.cc`` calls the layer functions."""
    fm, logit = params.formats.fm, params.formats.logit
    dp = Cifar10Datapath(params)
    size = packed.shape[-1]
    x = stem_conv_bn(dp, packed)
    trace.record("conv1", x, fm, dp.take_saturated())
    for i, layer in enumerate(PG_LAYERS):
        residual = avgpool_concat(dp, x, size) if layer.stride == 2 else x
        x, gate = pg_conv_bn(dp, x, residual, i, size)
        size //= layer.stride
        trace.record_gate(layer.name, gate)
        trace.record(layer.name, x, fm, dp.take_saturated())
    mean = global_pool(dp, x)
    trace.record("pool", mean[:, :, None], fm, dp.take_saturated())
    logits = fc(dp, mean)
    trace.record("logits", logits[:, :, None], logit, dp.take_saturated())
    return (logits.astype(np.float64) * logit.step).astype(np.float32)


def reference_forward(
    params: AcceleratorParams, packed: np.ndarray, trace: ReferenceTrace | None = None, chunk: int = CHUNK
) -> np.ndarray:
    """Logits ``float32[N, 10]`` of the accelerator for input words ``uint64[N, 3, 32, 32]``.

    ``trace`` (a :class:`ReferenceTrace`), if given, receives per-layer saturation and gate counts
    (and the layers' outputs if it keeps values).
    """
    packed = check_packed(packed)
    trace = trace if trace is not None else ReferenceTrace()
    outputs = [_forward_chunk(params, packed[i : i + chunk], trace) for i in range(0, len(packed), chunk)]
    return np.concatenate(outputs) if outputs else np.zeros((0, CLASSES), dtype=np.float32)
