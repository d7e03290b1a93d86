"""Fold a FracBNN ReActNet into the ImageNet accelerator's DRAM images (``weights.bin``, ``params.bin``).

Per PG layer (the conv of a block's half ``k``: ``conv3x3``/``pointwise`` with its BN, ``rprelu{k}``
and ``shiftbn{k}``), with integer MSB/LSB sums ``m``, ``l`` and gate ``g = 1[m > T]``:

- ``z = 2 m + g l``; ``y = fm(scale z + shift)``, ``scale = γ / (3 sqrt(σ² + ε))``, ``shift = β - μ γ /
  sqrt(σ² + ε) + b_x``; ``y = fm(slope y)`` where ``y < 0``;
- the shortcut is ``r = q4(x)`` (identity), its 2x2 average (stride 2) or ``q4(x)`` of channel
  ``o mod cin`` (channels duplicated). With ``s`` the sum of the four codes under it (``4 k`` at
  stride 1) and ``q4 = 2 k / 15 - 1``: ``r = s / 30 - 1``, so
- ``x' = fm(bn_scale y + res_scale s + bn_shift)`` with ``bn_scale = γ2 / sqrt(σ2² + ε)``,
  ``res_scale = bn_scale / 30`` and ``bn_shift = β2 - μ2 bn_scale + bn_scale b_y - bn_scale``.

The stem is ``x = fm(scale z0 + shift)`` (the stem BN) with ``z0`` the ``±1`` conv of the thermometer
code, looked up in level-dot tables. Weight bit 1 where the latent weight is ``> 0``. The classifier
(global pool + FC) runs on the ARM in float64 (:func:`~.params.classify`).
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ..bits import pack_bits
from ..export_folder import ExportError
from ..fixed_point import Formats
from ..folding import bn_affine, gate_threshold, per_channel, stem_level_dots, weight_bits
from .layout import (
    BLOCKS,
    COLOURS,
    GROUP,
    OUT_CHANNELS,
    PARAM_FIELDS,
    SCALE_FIELDS,
    STEM_CHANNELS,
    layer_table,
    pack_layer_params,
    param_words,
    stem_table_order,
    stem_table_words,
    weight_words,
)
from .params import DramRegions


def check_architecture(model: nn.Module) -> None:
    """:class:`ExportError` (one line) unless ``model`` is a FracBNN ReActNet with binary weights."""
    from ...layers import BinaryConv2d, PGBinaryConv2d, ThermometerConv2d
    from ...models.imagenet import BuildingBlock

    name = type(model).__name__
    body = getattr(model, "model", None)
    if not isinstance(body, nn.Sequential) or len(body) != len(BLOCKS) + 2 or not hasattr(model, "fc"):
        raise ExportError(
            f"{name} is not the FracBNN ReActNet (fracbnn_reactnet); the ImageNet accelerator runs only that"
        )
    stem = body[0][0]
    if not isinstance(stem, ThermometerConv2d) or stem.levels > 32 or stem.out_channels != STEM_CHANNELS:
        raise ExportError("the stem must be a ThermometerConv2d 3L -> 32 with at most 32 levels (32-bit input words)")
    if stem.in_channels != COLOURS * stem.levels or stem.stride != (2, 2) or stem.kernel_size != (3, 3):
        raise ExportError("the stem must be a 3x3 conv at stride 2 over the 3 colours' thermometer codes")
    for b, (cin, cout, stride) in enumerate(BLOCKS):
        block = body[b + 1]
        if not isinstance(block, BuildingBlock):
            raise ExportError(f"model[{b + 1}] is not a ReActNet BuildingBlock")
        c3, c1 = block.conv3x3[0], block.pointwise[0]
        if not (isinstance(c3, PGBinaryConv2d) and isinstance(c1, PGBinaryConv2d)):
            raise ExportError(f"block {b} needs precision-gated convs")
        if (c3.in_channels, c3.out_channels, c3.stride[0], c1.out_channels) != (cin, cin, stride, cout):
            raise ExportError(f"block {b} is not {cin}->{cout} at stride {stride}")
    if model.fc.in_features != OUT_CHANNELS:
        raise ExportError(f"the classifier must read {OUT_CHANNELS} channels")
    if not all(m.binary_weights for m in model.modules() if isinstance(m, BinaryConv2d)):
        raise ExportError(
            "the model still uses float weights (stage 1); export a binary-weight model (stage 2 or later)"
        )


def _layer_values(block: nn.Module, half: int, cout: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    seq = block.conv3x3 if half == 1 else block.pointwise
    conv, bn = seq[0], seq[1]
    rprelu, shiftbn = getattr(block, f"rprelu{half}"), getattr(block, f"shiftbn{half}")
    a1, b1 = bn_affine(bn)
    a2, b2 = bn_affine(shiftbn)
    shift_y = per_channel(rprelu.shift_y.bias, cout)
    values = {
        "threshold": gate_threshold(conv.threshold, conv.gating, cout).astype(np.float64),
        "scale": a1 / 3.0,
        "shift": b1 + per_channel(rprelu.shift_x.bias, cout),
        "slope": per_channel(rprelu.prelu.weight, cout),
        "bn_scale": a2,
        "res_scale": a2 / 30.0,
        "bn_shift": b2 + a2 * shift_y - a2,
    }
    return weight_bits(conv.weight), values


def pack_layer_weights(bits: np.ndarray) -> np.ndarray:
    """``cout x cin x k x k`` booleans -> ``uint64[cout, groups, k*k]`` words (64 input channels each; per output
    channel group-major, then tap: a beat's two words are two taps, :mod:`.layout`)."""
    cout, cin, k, _ = bits.shape
    per_tap = bits.reshape(cout, cin, k * k).transpose(0, 2, 1)  # cout x taps x cin
    padded = np.zeros((cout, k * k, -(-cin // GROUP) * GROUP), dtype=bool)
    padded[..., :cin] = per_tap
    return pack_bits(padded.reshape(cout, k * k, -1, GROUP)).transpose(0, 2, 1).copy()


def stem_table(stem_bits: np.ndarray, levels: int) -> np.ndarray:
    """The stem's level-dot tables as words: int8 ``32 x 9 x 3 (L+1)`` in DRAM order (:func:`~.layout.stem_table_order`:
    slot-major), 8 entries per little-endian word."""
    words = pack_bits(stem_bits.reshape(STEM_CHANNELS, COLOURS, levels, 9).transpose(0, 1, 3, 2))  # 32 x 3 x 9
    dots = stem_table_order(stem_level_dots(words, levels)).astype(np.int8)
    padded = np.zeros(stem_table_words(levels) * 8, dtype=np.int8)
    padded[: dots.size] = dots
    return padded.view("<u8").astype(np.uint64)


def fold_reactnet(model: nn.Module, formats: Formats) -> DramRegions:
    """The DRAM images of a FracBNN ReActNet (checked with :func:`check_architecture`) in ``formats``."""
    check_architecture(model)
    body = model.model
    stem = body[0][0]
    levels = int(stem.levels)
    weights = np.zeros(weight_words(levels), dtype=np.uint64)
    params = np.zeros(param_words(levels), dtype=np.int64)
    saturated: dict[str, int] = {}

    def quantized(values: np.ndarray, field: str) -> np.ndarray:
        fmt = formats.scale if field in SCALE_FIELDS else formats.param
        if field == "threshold":
            raw, clamped = values.astype(np.int64), np.zeros(values.shape, bool)
        else:
            raw, clamped = fmt.quantize(values)
        saturated[field] = saturated.get(field, 0) + int(clamped.sum())
        return raw

    def put(offset: int, values: np.ndarray, field: str) -> None:
        raw = quantized(values, field)
        params[offset : offset + len(raw)] = raw

    weights[: stem_table_words(levels)] = stem_table(weight_bits(stem.weight), levels)
    scale, shift = bn_affine(body[0][1])
    put(0, scale, "scale")
    put(STEM_CHANNELS, shift, "shift")
    for layer in layer_table(levels):
        bits, values = _layer_values(body[layer.block + 1], layer.half, layer.cout)
        words = pack_layer_weights(bits).reshape(-1)
        weights[layer.weight_word : layer.weight_word + words.size] = words
        fields = np.stack([quantized(values[field], field) for field in PARAM_FIELDS])
        params[layer.param_word : layer.param_word + layer.param_words] = pack_layer_params(fields)
    fc = model.fc
    bias = fc.bias.detach().double().numpy().copy() if fc.bias is not None else np.zeros(fc.out_features)
    return DramRegions(formats, levels, weights, params, fc.weight.detach().double().numpy().copy(), bias, saturated)
