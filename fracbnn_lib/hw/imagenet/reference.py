"""Rung L2 for ImageNet: a bit-exact numpy model of ``hls/imagenet``, vectorised over images.

The same order of operations and rounding points as ``engines.h`` (every assignment to ``fm_t`` is
AP_RND then AP_SAT, :meth:`~fracbnn_lib.hw.fixed_point.FixedFormat.requantize`), exact integer
arithmetic everywhere else. Between layers a feature map is its 4-bit codes
``k = q4(x) = sat_[0,15](floor((15 x + 16) / 2))``; a PG conv reads the 2-bit code ``q2`` as a
function of ``k`` (0-2 -> 0, 3-7 -> 1, 8-12 -> 2, 13-15 -> 3, the quantisers' rounding boundaries
coincide) and its shortcut reads ``k`` itself. The stem convolves the thermometer code of each word's
level count (the C++ looks the same dot products up in tables: two formulations, one result). The last
layer's raw outputs are summed per channel (``pooled``); :func:`~.params.classify` turns the sums into logits,
on the ARM as on this machine.
"""

from __future__ import annotations

import numpy as np
import torch

from ..bits import unpack_bits
from ..datapath import Datapath, ReferenceTrace, plus_minus_one, thermometer_planes
from .layout import (
    GROUP,
    LANES,
    PARAM_FIELDS,
    STEM_CHANNELS,
    Layer,
    image_words,
    layer_table,
    stem_table_dots,
    stem_table_words,
    unpack_layer_params,
)
from .params import DramRegions

CHUNK = 4
"""Images per vectorised step (a 112 x 112 x 64 map of 4 images as float32 planes is about 26 MB)."""

Q2_OF_Q4 = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3], dtype=np.int64)
"""The 2-bit code of each 4-bit code."""


def quantize4(raw: np.ndarray, frac: int) -> np.ndarray:
    """``q4`` of raw ``fm`` values (``frac`` fractional bits): int64 codes 0..15 (``engines.h``: ``quantize4``)."""
    return np.clip((15 * raw + (np.int64(16) << np.int64(frac))) >> np.int64(frac + 1), 0, 15)


def _conv(planes: np.ndarray, weight: np.ndarray, ksize: int, stride: int) -> np.ndarray:
    """Exact ``±1`` conv, padding ``ksize // 2``: float32 planes N x C x H x W, weights O x C x k x k.

    Returns int64 N x O x H' x W'. The sums are integers below 2**15, so float32 computes them exactly.
    """
    with torch.no_grad():
        out = torch.nn.functional.conv2d(
            torch.from_numpy(planes), torch.from_numpy(weight), stride=stride, padding=ksize // 2
        )
    return np.rint(out.numpy()).astype(np.int64)


class ImageNetDatapath(Datapath):
    """The shared fixed-point operations (``assign``: AP_RND then AP_SAT, counted) on the DRAM parameter region."""

    def field(self, layer_word: int, index: int, cout: int) -> np.ndarray:
        """Field ``index`` of a layer's parameters (stored per weight tile, :func:`~.layout.pack_layer_params`)."""
        words = self.p.params[layer_word : layer_word + len(PARAM_FIELDS) * cout]
        return unpack_layer_params(words, cout)[index][None, :, None, None]


def stem_conv_bn(dp: ImageNetDatapath, words: np.ndarray) -> np.ndarray:
    """``stem_conv_bn``: input words ``uint32[N, 3, 224, 224]`` -> 4-bit codes ``int64[N, 32, 112, 112]``."""
    levels = dp.p.levels
    counts = unpack_bits(words.astype(np.uint64) << np.uint64(32), levels).sum(axis=-1, dtype=np.int64)
    table = dp.p.weights[: stem_table_words(levels)].astype("<u8").view(np.int8)
    # the stem's weights, read back from its tables: w_b = (dot(b + 1) - dot(b)) / 2
    dots = stem_table_dots(table, levels).astype(np.int64).reshape(STEM_CHANNELS, 9, 3, levels + 1)
    w = ((dots[..., 1:] - dots[..., :-1]) // 2).transpose(0, 2, 3, 1).reshape(STEM_CHANNELS, 3 * levels, 3, 3)
    z0 = _conv(thermometer_planes(counts, levels), w.astype(np.float32), 3, 2)
    fs, fp = dp.p.formats.scale.frac, dp.p.formats.param.frac
    frac = max(fs, fp)
    scale = dp.p.params[:STEM_CHANNELS][None, :, None, None]
    shift = dp.p.params[STEM_CHANNELS : 2 * STEM_CHANNELS][None, :, None, None]
    x = dp.assign((z0 * scale << np.int64(frac - fs)) + (shift << np.int64(frac - fp)), frac)
    return quantize4(x, dp.fm.frac)


def _layer_weight(p: DramRegions, layer: Layer) -> np.ndarray:
    k, g = layer.ksize, -(-layer.cin // GROUP)
    words = p.weights[layer.weight_word : layer.weight_word + layer.weight_words].reshape(layer.cout, g, k * k)
    words = words.transpose(0, 2, 1)  # cout x taps x groups
    bits = unpack_bits(words, GROUP).reshape(layer.cout, k * k, g * GROUP)[..., : layer.cin]
    return plus_minus_one(bits.transpose(0, 2, 1).reshape(layer.cout, layer.cin, k, k))


def shortcut_sums(codes: np.ndarray, layer: Layer) -> np.ndarray:
    """The shortcut's code sums ``s`` (four codes' worth): ``4 k``, or the 2x2 block's sum at stride 2.

    Output channel ``o`` reads input channel ``o mod cin`` (channels duplicated when ``cout = 2 cin``).
    """
    if layer.stride == 2:
        n, c, h, w = codes.shape
        s = codes.reshape(n, c, h // 2, 2, w // 2, 2).sum(axis=(3, 5))
    else:
        s = 4 * codes
    return np.concatenate([s] * (layer.cout // layer.cin), axis=1) if layer.cout != layer.cin else s


def pg_conv_bn(dp: ImageNetDatapath, codes: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """``pg_conv_bn`` on 4-bit codes ``N x cin x S x S``: ``(raw fm outputs N x cout x S' x S', gate)``."""
    p, fm = dp.p, dp.fm
    fs, fp, f = p.formats.scale.frac, p.formats.param.frac, fm.frac
    n = len(codes)
    q2 = Q2_OF_Q4[codes]
    planes = plus_minus_one(np.concatenate((q2 >= 2, q2 % 2 == 1)))
    sums = _conv(planes, _layer_weight(p, layer), layer.ksize, layer.stride)
    m, l_sum = sums[:n], sums[n:]
    word, cout = layer.param_word, layer.cout
    gate = m > dp.field(word, 0, cout)
    z = 2 * m + np.where(gate, l_sum, 0)
    frac = max(fs, fp)
    y = dp.assign(
        (z * dp.field(word, 1, cout) << np.int64(frac - fs)) + (dp.field(word, 2, cout) << np.int64(frac - fp)), frac
    )
    negative = y < 0
    y = np.where(negative, dp.assign(np.where(negative, y * dp.field(word, 3, cout), 0), f + fp), y)
    s = shortcut_sums(codes, layer)
    frac = max(fs + f, fp)
    exact = (
        (y * dp.field(word, 4, cout) << np.int64(frac - fs - f))
        + (s * dp.field(word, 5, cout) << np.int64(frac - fs))
        + (dp.field(word, 6, cout) << np.int64(frac - fp))
    )
    return dp.assign(exact, frac), gate


def _forward_chunk(p: DramRegions, words: np.ndarray, trace: ReferenceTrace) -> np.ndarray:
    dp = ImageNetDatapath(p)
    codes = stem_conv_bn(dp, words)
    trace.saturated["stem"] = trace.saturated.get("stem", 0) + dp.take_saturated()
    trace.keep("stem", codes.astype(np.int8))
    layers = layer_table(p.levels)
    for i, layer in enumerate(layers):
        x, gate = pg_conv_bn(dp, codes, layer)
        trace.record_gate(layer.name, gate)
        trace.saturated[layer.name] = trace.saturated.get(layer.name, 0) + dp.take_saturated()
        codes = quantize4(x, dp.fm.frac) if i < len(layers) - 1 else None
        if codes is not None:
            trace.keep(layer.name, codes.astype(np.int8))
    return x.sum(axis=(2, 3))


def reference_forward(
    params: DramRegions, packed: np.ndarray, trace: ReferenceTrace | None = None, chunk: int = CHUNK
) -> np.ndarray:
    """The accelerator's outputs ``int64[N, 1024]`` (per channel, the sum of the last map's raw values).

    ``packed``: ``uint32[N, 3, 224, 224]`` (or :func:`fracbnn_lib.pack_thermometer`'s uint64 words).
    ``trace`` (:class:`~fracbnn_lib.hw.datapath.ReferenceTrace`, tiles of 32 lanes), if given, receives per
    layer the saturated values and the gates that opened, and with ``keep_values`` the 4-bit codes each layer
    writes (``"stem"`` and every layer but the last).
    """
    words = image_words(packed)
    trace = trace if trace is not None else ReferenceTrace(lanes=LANES)
    parts = [_forward_chunk(params, words[i : i + chunk], trace) for i in range(0, len(words), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 1024), np.int64)
