"""The fixed-point datapath both bit-exact references (rung L2) share: rounding, ``±1`` planes, thermometer codes.

Raw fixed-point values are int64 arrays with a known number of fractional bits; the one inexact step is an
assignment to a format (:meth:`Datapath.assign`: AP_RND, then AP_SAT, as ``ap_fixed`` does it), which the
datapath counts. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fixed_point import FixedFormat


def plus_minus_one(bits: np.ndarray) -> np.ndarray:
    """Booleans as float32 ``±1`` (True = +1): the values a binary conv multiplies."""
    return bits.astype(np.float32) * 2.0 - 1.0


def align(raw: np.ndarray, frac: int, target: int) -> np.ndarray:
    """Raw values with ``frac`` fractional bits as raws with ``target >= frac`` (exact: a left shift)."""
    return raw << np.int64(target - frac)


class Datapath:
    """Fixed-point operations on raw int64 arrays, counting saturations until :meth:`take_saturated`.

    ``params``: an accelerator's quantised parameters (``.formats``: its :class:`~.fixed_point.Formats`);
    each accelerator's reference subclasses this with the parameter reads of its own layout.
    """

    def __init__(self, params: Any) -> None:
        self.p = params
        self.fm: FixedFormat = params.formats.fm
        self._saturated = 0

    def assign(self, raw: np.ndarray, frac: int, fmt: FixedFormat | None = None) -> np.ndarray:
        """``fmt(raw / 2**frac)``: AP_RND, then AP_SAT (``fmt`` defaults to ``fm``)."""
        out, sat = (fmt or self.fm).requantize(raw, frac)
        self._saturated += int(sat.sum())
        return out

    def take_saturated(self) -> int:
        count, self._saturated = self._saturated, 0
        return count


def thermometer_planes(on: np.ndarray, levels: int) -> np.ndarray:
    """The thermometer code of level counts ``N x 3 x H x W``: float32 ``±1`` planes ``N x 3L x H x W`` (``c*L+b``)."""
    n, c, h, w = on.shape
    code = np.arange(levels)[None, None, :, None, None] < on[:, :, None]
    return plus_minus_one(code).reshape(n, c * levels, h, w)


@dataclass
class ReferenceTrace:
    """What a reference's datapath did, per layer (CIFAR-10: ``"conv1"``, the 18 PG layers, ``"pool"``,
    ``"logits"``; ImageNet: ``"stem"`` and the 26 PG layers).

    ``saturated``: values clamped by AP_SAT while computing the layer; ``gate_open`` / ``outputs``
    (PG layers): outputs whose precision gate opened, and all outputs; ``open_lanes`` (PG layers):
    a histogram (``lanes + 1`` bins) of how many of a ``lanes``-lane tile's lanes opened their gate at one
    pixel. With ``keep_values``, ``values`` holds each layer's output (CIFAR-10: float64 values
    N x C x (H*W); ImageNet: the 4-bit codes it writes, int8 N x C x H x W), one array per chunk of images.
    """

    keep_values: bool = False
    lanes: int = 16
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    saturated: dict[str, int] = field(default_factory=dict)
    gate_open: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    open_lanes: dict[str, np.ndarray] = field(default_factory=dict)

    def record(self, name: str, raw: np.ndarray, fmt: FixedFormat, saturated: int) -> None:
        self.saturated[name] = self.saturated.get(name, 0) + saturated
        self.keep(name, fmt.to_float(raw) if self.keep_values else raw)

    def keep(self, name: str, values: np.ndarray) -> None:
        """Keep one chunk's ``values`` of layer ``name`` (with ``keep_values``)."""
        if self.keep_values:
            self.values.setdefault(name, []).append(values)

    def record_gate(self, name: str, gate: np.ndarray) -> None:
        """``gate``: bool N x C x pixels (or N x C x H x W). Also counts, per tile of ``lanes`` output channels
        and pixel, how many lanes opened."""
        gate = gate.reshape(gate.shape[0], gate.shape[1], -1)
        self.gate_open[name] = self.gate_open.get(name, 0) + int(gate.sum())
        self.outputs[name] = self.outputs.get(name, 0) + int(gate.size)
        lanes = gate.reshape(gate.shape[0], -1, self.lanes, gate.shape[-1]).sum(axis=2)
        histogram = np.bincount(lanes.ravel(), minlength=self.lanes + 1)
        self.open_lanes[name] = self.open_lanes.get(name, np.zeros(self.lanes + 1, np.int64)) + histogram

    def layer_values(self, name: str) -> np.ndarray:
        """All images' outputs of layer ``name`` (needs ``keep_values``): float64 N x C x (H*W)."""
        return np.concatenate(self.values[name])

    def gate_open_share(self) -> dict[str, float]:
        """Per PG layer, the share of outputs whose gate opened (computed at 2 bits)."""
        return {name: self.gate_open[name] / total for name, total in self.outputs.items() if total}

    def sparsity(self) -> dict[str, float]:
        """Per PG layer, the share of outputs whose gate stayed closed (computed at 1 bit only)."""
        return {name: 1.0 - self.gate_open[name] / total for name, total in self.outputs.items() if total}

    def total_saturated(self) -> int:
        return sum(self.saturated.values())
