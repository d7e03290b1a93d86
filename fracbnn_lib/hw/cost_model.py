"""The cost model's shared parts: the device, the loop and array records, and the arithmetic of cycles and BRAM.

Every figure is modelled, never measured: an accelerator's cost module (:mod:`.cifar10.cost`,
:mod:`.imagenet.cost`) lists its pipelined loops (:class:`LoopCost`) and on-chip arrays
(:class:`ArrayCost`) from the layer table its C++ runs; the tests hold the loops' trips to the
C-simulation's counting build, entry by entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SUMMARY_KEYS = (
    "modelled",
    "clock_mhz",
    "cycles",
    "cycles_ii_only",
    "fps",
    "lut",
    "dsp",
    "bram36",
    "lutram",
    "on_chip_bits",
    "dram_bytes_per_image",
    "bandwidth_bound_fps",
)
"""The keys every accelerator's ``cost_summary`` returns, hence ``metrics.json`` ``hls.cost`` on both networks
(a figure an accelerator's model does not price yet is ``None``, and listed in ``not_modelled``)."""

ZU3EG = {"lut": 70_560, "ff": 141_120, "dsp": 360, "bram36": 216}
"""The Ultra96v2's xczu3eg-sbva484-1-e."""
BUDGET = 0.8
"""Share of each ZU3EG resource the model allows (room for routing, the AXI interconnect, timing)."""


@dataclass(frozen=True)
class LoopCost:
    """One entry into a pipelined loop: the layer, the loop's label in the C++, trips, II and fill depth."""

    layer: str
    loop: str
    trips: int
    ii: int = 1
    depth: int = 0

    @property
    def cycles_ii_only(self) -> int:
        return self.trips * self.ii

    @property
    def cycles(self) -> int:
        return self.trips * self.ii + self.depth


def loop_log(loops: Iterable[LoopCost]) -> list[tuple[str, int]]:
    """``(loop, trips)`` per entry: what the counting build of the C-simulation logs for one image."""
    return [(loop.loop, loop.trips) for loop in loops]


def total_cycles(loops: Iterable[LoopCost]) -> tuple[int, int]:
    """(cycles with fills, cycles at II only) of a list of loop entries."""
    loops = list(loops)
    return sum(loop.cycles for loop in loops), sum(loop.cycles_ii_only for loop in loops)


def images_per_s(cycles: float, clock_mhz: float = 250.0) -> float:
    """Images per second of a design taking ``cycles`` per image at ``clock_mhz``, one image at a time."""
    return clock_mhz * 1e6 / cycles


@dataclass(frozen=True)
class ArrayCost:
    """One on-chip array: ``banks`` banks of ``width`` bits x ``depth`` words after partitioning, and its storage."""

    name: str
    banks: int
    width: int
    depth: int
    storage: str  # "bram", "lutram" or "registers"

    @property
    def bits(self) -> int:
        return self.banks * self.width * self.depth

    @property
    def bram18(self) -> int:
        return self.banks * bram18_per_bank(self.width, self.depth) if self.storage == "bram" else 0

    @property
    def luts(self) -> int:
        return self.banks * math.ceil(self.depth / 64) * self.width if self.storage == "lutram" else 0

    @property
    def flip_flops(self) -> int:
        return self.bits if self.storage == "registers" else 0


def bram18_per_bank(width: int, depth: int) -> int:
    """BRAM18 for one ``width`` x ``depth`` bank (aspect ratios 512 x 36, 1K x 18, 2K x 9, 4K x 4, 8K x 2, 16K x 1)."""
    for words, bits in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        if depth <= words:
            return math.ceil(width / bits)
    return math.ceil(depth / 16384) * width


def dsp_per_multiply(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for an ``a`` x ``b``-bit multiply (27 x 18 signed; the wider operand on the 27-bit port)."""
    return math.ceil(max(a_bits, b_bits) / 27) * math.ceil(min(a_bits, b_bits) / 18)


def budget_check(summary: Mapping[str, Any]) -> dict[str, tuple[float, float, bool]]:
    """Per resource the model prices: (modelled, allowed = 80% of the ZU3EG, within the allowance)."""
    return {
        name: (summary[name], BUDGET * ZU3EG[name], summary[name] <= BUDGET * ZU3EG[name])
        for name in ("lut", "dsp", "bram36")
        if summary.get(name) is not None
    }


def bandwidth_bound_fps(dram_bytes: int, port_bits: int, clock_mhz: float) -> float:
    """Images/s if one AXI port of ``port_bits`` moved every DRAM byte at one beat a cycle: ``bytes/s / bytes``."""
    return port_bits / 8 * clock_mhz * 1e6 / dram_bytes
