"""The accelerator's parameters in hardware form: packed weight words, integer thresholds, fixed-point raws.

:func:`quantize_params` maps :class:`~fracbnn_lib.hw.fold.FoldedParams` onto the arrays of
:data:`~fracbnn_lib.hw.layout.PARAM_ARRAYS` (tile-major for the PG layers) in the chosen
:class:`~fracbnn_lib.hw.fixed_point.Formats`, counting saturated values. The same arrays are
written as a C++ header (:mod:`.headers`: constant ROMs for synthesis) and as ``params.bin`` (read
at run time by the C-simulation library and by the numpy reference), so the three agree by construction.

``params.bin``: the arrays in :data:`PARAM_ARRAYS` order, little-endian, words as uint64 and
every other element as the float64 it represents (exact: a fixed-point value has at most 32
significant bits).

The stem's lookup table (:func:`stem_level_dots`) is derived from ``conv1_weight``, not stored:
``weights.h`` holds it as a ROM, the C-simulation library computes it after loading ``params.bin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..bits import pack_bits
from ..fixed_point import Formats
from .layout import COLOURS, OC_TILE, PARAM_ARRAYS, PG_LAYERS, PG_TILES, TAPS, array_kind

if TYPE_CHECKING:
    from .fold import FoldedParams


@dataclass
class AcceleratorParams:
    """Raw integer arrays by name (``uint64`` words, ``int64`` thresholds and fixed-point raws).

    ``saturated`` counts, per array, the parameters that did not fit their format (clamped).
    """

    formats: Formats
    levels: int
    arrays: dict[str, np.ndarray]
    saturated: dict[str, int] = field(default_factory=dict)

    def value(self, name: str) -> np.ndarray:
        """The represented values of a fixed-point or integer array as float64."""
        kind = array_kind(name)
        raw = self.arrays[name]
        return raw.astype(np.float64) if kind == "sum" else getattr(self.formats, kind).to_float(raw)

    def to_blob(self) -> bytes:
        """``params.bin`` (see the module docstring)."""
        parts = []
        for array in PARAM_ARRAYS:
            data = self.arrays[array.name]
            if array.kind == "word":
                parts.append(np.ascontiguousarray(data, dtype="<u8").tobytes())
            else:
                parts.append(np.ascontiguousarray(self.value(array.name), dtype="<f8").tobytes())
        return b"".join(parts)

    @classmethod
    def from_blob(cls, blob: bytes, formats: Formats, levels: int) -> AcceleratorParams:
        """Inverse of :meth:`to_blob`; raises ``ValueError`` if the size or a value does not fit."""
        expected = 8 * sum(a.size for a in PARAM_ARRAYS)
        if len(blob) != expected:
            raise ValueError(f"params.bin has {len(blob)} bytes, the accelerator's layout needs {expected}")
        arrays, offset = {}, 0
        for array in PARAM_ARRAYS:
            chunk = blob[offset : offset + 8 * array.size]
            offset += 8 * array.size
            if array.kind == "word":
                arrays[array.name] = np.frombuffer(chunk, dtype="<u8").astype(np.uint64).reshape(array.shape)
                continue
            values = np.frombuffer(chunk, dtype="<f8").reshape(array.shape)
            scale = 1.0 if array.kind == "sum" else 2.0 ** getattr(formats, array.kind).frac
            raw = values * scale
            if not np.array_equal(raw, np.round(raw)):
                raise ValueError(f"params.bin: {array.name} holds values that are not in its format")
            arrays[array.name] = raw.astype(np.int64)
        return cls(formats=formats, levels=levels, arrays=arrays)

    @property
    def classes(self) -> int:
        """Classes the accelerator's FC layer writes."""
        return int(self.arrays["fc_bias"].shape[0])

    def logits(self, outputs: np.ndarray) -> np.ndarray:
        """Logits of the accelerator's outputs: on CIFAR-10 the outputs are the logits (``float32[N, 10]``)."""
        return np.asarray(outputs, dtype=np.float32)

    def memory_bits(self) -> dict[str, int]:
        """On-chip bits per array as stored (words 64 bits, thresholds 16, fixed point its width)."""
        widths = {"word": 64, "sum": 16, "scale": self.formats.scale.width, "param": self.formats.param.width}
        return {a.name: a.size * widths[a.kind] for a in PARAM_ARRAYS}

    def used_weight_bits(self) -> int:
        """Binary weights actually used (channels x taps), excluding the unused bits of 64-bit words."""
        stem = self.arrays["conv1_weight"].shape[0] * COLOURS * self.levels * TAPS
        return stem + sum(layer.cout * layer.cin * TAPS for layer in PG_LAYERS)


def _tiles(values: list[np.ndarray]) -> np.ndarray:
    """Concatenate per-layer ``cout``-vectors (or ``cout x ...`` arrays) and cut them into 16-channel tiles."""
    stacked = np.concatenate(values, axis=0)
    return stacked.reshape(PG_TILES, OC_TILE, *stacked.shape[1:])


def quantize_params(folded: FoldedParams, formats: Formats) -> AcceleratorParams:
    """Pack the weights and quantise every parameter to its format (AP_RND, AP_SAT)."""
    levels = folded.levels
    stem = folded.conv1_bits.reshape(folded.conv1_bits.shape[0], COLOURS, levels, TAPS)
    arrays = {
        "conv1_weight": pack_bits(stem.transpose(0, 1, 3, 2)),  # 16 x 3 x 9 words, level b -> bit 63-b
        "pg_weight": _tiles(
            [pack_bits(p.bits.reshape(p.bits.shape[0], p.bits.shape[1], TAPS).transpose(0, 2, 1)) for p in folded.pg]
        ),  # tiles x 16 x 9 words, channel k -> bit 63-k
        "pg_threshold": _tiles([p.threshold for p in folded.pg]).astype(np.int64),
    }
    floats = {
        "conv1_scale": folded.conv1_scale,
        "conv1_shift": folded.conv1_shift,
        "fc_weight": folded.fc_weight,
        "fc_bias": folded.fc_bias,
        **{
            f"pg_{f}": _tiles([getattr(p, f) for p in folded.pg])
            for f in ("scale", "shift", "slope", "bn_scale", "bn_shift")
        },
    }
    saturated = {}
    for name, values in floats.items():
        raw, sat = getattr(formats, array_kind(name)).quantize(values)
        arrays[name] = raw
        saturated[name] = int(sat.sum())
    return AcceleratorParams(formats=formats, levels=levels, arrays=arrays, saturated=saturated)
