"""The modelled cost of the ImageNet accelerator: cycles per layer, DRAM traffic, images/s, on-chip memory.

An analytical model of ``hls/imagenet`` from its layer table (:func:`~.layout.layer_table`), never a
measurement. It shares CIFAR-10's machinery (:mod:`fracbnn_lib.hw.cost_model`: :class:`LoopCost`, BRAM
packing, the ZU3EG's resources, the summary's keys).

**Cycles.** :func:`accelerator_loops` lists every pipelined loop entry in the order the top function
runs them (the counting build of the C-simulation logs the same entries; a test holds them equal).
Each loop is II = 1; an entry costs its trips plus a fill: the pipeline depth of a compute loop, or
for a loop on an AXI master the DRAM read latency of its first burst (:class:`CostSettings`).
Everything runs in sequence (no overlap of transfers and compute), so the cycles include the time
the design spends moving data at one 64-bit word per cycle.

**DRAM traffic** (:func:`layer_traffic`): bytes each layer reads (input rows once per row tile,
weights and parameters once per row tile and 32-channel tile) and writes (its 4-bit output map).
**Bandwidth bound**: bytes per image over a port's 64 bits x 250 MHz = 2.0 GB/s (the design's ports;
the Ultra96v2's HP ports are 128 bits wide and its LPDDR4 peaks at 8.5 GB/s, so the ports bind first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cost_model import ArrayCost, LoopCost, bandwidth_bound_fps, images_per_s, total_cycles
from ..fixed_point import Formats, resolve_formats
from .layout import (
    CODE_BITS,
    COLOURS,
    IMAGE_SIZE,
    LANES,
    OUT_CHANNELS,
    PARAM_FIELDS,
    ROW_TILE,
    STEM_CHANNELS,
    STEM_SIZE,
    TAPS,
    Layer,
    groups,
    layer_table,
    stem_table_words,
)

WORD_BYTES = 8
PORT_BITS = 64
"""Width of the design's AXI masters (``fracnet.cc``); the Ultra96v2's HP ports take up to 128."""
DRAM_LOOPS = ("stem_table", "stem_params", "stem_load_row", "load_row", "load_weights", "load_params")
DRAM_LOOPS += ("store_group", "store_pooled")


@dataclass(frozen=True)
class CostSettings:
    """The model's assumptions: the clock, a DRAM burst's read latency and the compute pipelines' depths."""

    clock_mhz: float = 250.0
    dram_latency: int = 50
    """Cycles from a burst's address to its first beat (about 200 ns on the Zynq UltraScale+ HP ports)."""
    depth: Mapping[str, int] = field(default_factory=lambda: {"stem_pixels": 12, "pixels": 16, "layer": 0})


def stem_loops(levels: int = 32) -> list[LoopCost]:
    """The stem's loop entries: its tables and parameters, then per output row two input rows and its pixels."""
    loops = [LoopCost("stem", "stem_table", stem_table_words(levels)), LoopCost("stem", "stem_params", STEM_CHANNELS)]
    for oy in range(STEM_SIZE):
        rows = [r for r in range(0 if oy == 0 else 1, 3) if 2 * oy - 1 + r >= 0]
        loops += [LoopCost("stem", "stem_load_row", COLOURS * IMAGE_SIZE) for _ in rows]
        loops.append(LoopCost("stem", "stem_pixels", STEM_SIZE))
    return loops


def pg_layer_loops(layer: Layer, last: bool) -> list[LoopCost]:
    """One PG layer's loop entries (``pg_conv_bn``), in order."""
    k, s, size, so = layer.ksize, layer.stride, layer.size_in, layer.size_out
    gin, gout, taps = groups(layer.cin), groups(layer.cout), k * k
    loops = [LoopCost(layer.name, "layer", 0)]
    for t in range(so // ROW_TILE):
        r0 = t * ROW_TILE * s - k // 2
        rows = [r for r in range((ROW_TILE - 1) * s + k) if 0 <= r0 + r < size]
        loops += [LoopCost(layer.name, "load_row", size * gin * CODE_BITS) for _ in rows]
        for go in range(gout):
            for half in range(2):
                if go * 64 + half * LANES >= layer.cout:
                    continue
                loops.append(LoopCost(layer.name, "load_weights", LANES * taps * gin))
                loops.append(LoopCost(layer.name, "load_params", len(PARAM_FIELDS) * LANES))
                loops.append(LoopCost(layer.name, "pixels", ROW_TILE * so * gin))
            if not last:
                loops.append(LoopCost(layer.name, "store_group", ROW_TILE * so * CODE_BITS))
    if last:
        loops.append(LoopCost(layer.name, "store_pooled", layer.cout))
    return loops


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """Every pipelined loop entry of ``FracNetImageNet`` for one image, with its fill (see the module docstring)."""
    settings = settings or CostSettings()
    table = layer_table(levels)
    last = len(table) - 1
    raw = stem_loops(levels) + [loop for i, layer in enumerate(table) for loop in pg_layer_loops(layer, i == last)]

    def fill(loop: LoopCost) -> int:
        return settings.dram_latency if loop.loop in DRAM_LOOPS else settings.depth.get(loop.loop, 0)

    return [LoopCost(loop.layer, loop.loop, loop.trips, 1, fill(loop)) for loop in raw]


def layer_traffic(loops: Iterable[LoopCost]) -> dict[str, dict[str, int]]:
    """DRAM bytes per layer: ``{layer: {"read": bytes, "written": bytes}}`` (the image read at 4 bytes a word)."""
    traffic: dict[str, dict[str, int]] = {}
    for loop in loops:
        row = traffic.setdefault(loop.layer, {"read": 0, "written": 0})
        if loop.loop == "stem_load_row":
            row["read"] += loop.trips * 4
        elif loop.loop in ("store_group", "store_pooled"):
            row["written"] += loop.trips * WORD_BYTES
        elif loop.loop in DRAM_LOOPS:
            row["read"] += loop.trips * WORD_BYTES
    return traffic


def accelerator_arrays() -> list[ArrayCost]:
    """The on-chip arrays of ``fracnet.cc`` as its pragmas partition and bind them."""
    return [
        ArrayCost("stem_table", STEM_CHANNELS * TAPS * COLOURS, 8, 33, "lutram"),
        ArrayCost("stem_rows", 3 * COLOURS, 8, IMAGE_SIZE, "registers"),
        ArrayCost("tile", 1, 64, 6720, "bram"),
        ArrayCost("out_tile", 1, 64, ROW_TILE * 112 * CODE_BITS, "bram"),
        ArrayCost("weight_tile", LANES * TAPS, 64, 16, "lutram"),
        ArrayCost("pool_acc", 32, 64, OUT_CHANNELS // 32, "lutram"),
    ]


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``compute_cycles``, ``port_gb_per_s`` and ``per_layer``): per layer cycles and DRAM bytes, totals, images/s,
    on-chip memory. ``formats`` does not change this model's figures yet (it prices no datapath logic: ``lut``,
    ``dsp`` are ``None`` and listed in ``not_modelled``)."""
    resolve_formats(formats)
    settings = settings or CostSettings()
    loops = accelerator_loops(levels, settings)
    cycles, cycles_ii = total_cycles(loops)
    traffic = layer_traffic(loops)
    per_layer: dict[str, dict[str, int]] = {}
    for loop in loops:
        row = per_layer.setdefault(loop.layer, {"cycles": 0, "compute_cycles": 0})
        row["cycles"] += loop.cycles
        if loop.loop in ("pixels", "stem_pixels"):
            row["compute_cycles"] += loop.cycles
    for name, row in per_layer.items():
        row.update(dram_read_bytes=traffic[name]["read"], dram_written_bytes=traffic[name]["written"])
    dram = sum(t["read"] + t["written"] for t in traffic.values())
    arrays = accelerator_arrays()
    return {
        "modelled": True,
        "clock_mhz": settings.clock_mhz,
        "cycles": cycles,
        "cycles_ii_only": cycles_ii,
        "fps": images_per_s(cycles, settings.clock_mhz),
        "lut": None,
        "dsp": None,
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "lutram": sum(a.luts for a in arrays),
        "on_chip_bits": sum(a.bits for a in arrays),
        "dram_bytes_per_image": dram,
        "bandwidth_bound_fps": bandwidth_bound_fps(dram, PORT_BITS, settings.clock_mhz),
        "not_modelled": ["lut", "dsp"],
        "compute_cycles": sum(row["compute_cycles"] for row in per_layer.values()),
        "port_gb_per_s": PORT_BITS / 8 * settings.clock_mhz * 1e6 / 1e9,
        "per_layer": per_layer,
    }
