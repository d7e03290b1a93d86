"""The modelled hardware cost of the CIFAR-10 accelerator, and of the release's design beside it.

Every figure here is an analytical model computed from the layer table the C++ runs
(:data:`~fracbnn_lib.hw.layout.PG_LAYERS`), never a measurement: only a synthesis report
(:mod:`fracbnn_lib.hw.report`) or a board measures.

**Cycles.** :func:`accelerator_loops` lists the pipelined loops of ``hls/cifar10`` in the order the
top function runs them, one :class:`LoopCost` per pipeline entry: its trips, its initiation interval
(II) and the pipeline's fill (``depth``, a setting: csynth reports the real one)::

    cycles_ii_only = trips * II          cycles = trips * II + depth

The counting build of the C-simulation (:func:`~fracbnn_lib.hw.cifar10.csim.loop_counts`) logs the same
entries, and the tests hold the two equal entry by entry. :func:`release_loops` models the release's
``xcel-cifar10`` from its loop bounds (II = 1, no fill): 90,307 cycles per image.

**On-chip memory** (:func:`accelerator_arrays`): each array's banks after partitioning and the
storage the HLS binds them to. A BRAM bank of ``width`` x ``depth`` takes ``ceil(width / w)``
BRAM18 at the widest aspect ratio ``d x w`` with ``depth <= d`` (512 x 36, 1K x 18, 2K x 9, ...);
a LUTRAM bank ``ceil(depth / 64) * width`` LUTs (a RAM64X1S per bit and 64 words); registers one
flip-flop per bit.

**DSPs** (:func:`accelerator_dsps`): an ``a``-bit by ``b``-bit multiply takes
``ceil(max(a, b) / 27) * ceil(min(a, b) / 18)`` DSP48E2 (27 x 18 signed), one per multiply instance.

**LUTs** (:func:`accelerator_luts`): instances x LUTs of each primitive, the primitives' LUTs from
yosys (``synth_xilinx -family xcup -abc9`` on each alone; ``benchmarks/calibrate_luts.py`` re-runs
it): 64-bit XOR-popcount 136, 32-bit 63, a nine-input 8-bit adder tree 98. Yosys maps popcounts
less tightly than Vivado, so the totals lean high. The stem has no popcounts: one 32-bit popcount
counts each input word's levels, and each lane and tap looks its dot product up in a LUTROM table
(``conv1_level_dot``, costed as LUTRAM above). Muxes and comparators count one LUT per bit and
input pair; control and the AXI adapters are an allowance (:attr:`CostSettings.control_luts`).

**A gate that pays** (:func:`gate_sharing`): the design computes both bit planes for all 16 lanes
every cycle, so the precision gate saves nothing. With ``E < 16`` LSB engines per tile, a pixel
whose gate opens ``n`` lanes would take ``max(1, ceil(n / E))`` cycles; from the measured histogram
of open lanes (:attr:`~fracbnn_lib.hw.reference.ReferenceTrace.open_lanes`) the model prices each
``E`` in cycles and LUTs. Sharing saves ``(16 - E) x 9`` popcounts but needs, per engine, a 16:1
multiplexer over its lane's nine 64-bit weight words (4 LUTs a bit): the LUTs drop only below six
engines, where most pixels take two cycles or more, so the design keeps 16 (the table of
:func:`gate_sharing` shows both for a checkpoint's measured gate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cost_model import (
    ArrayCost,
    LoopCost,
    bandwidth_bound_fps,
    dsp_per_multiply,
    images_per_s,
    total_cycles,
)
from ..fixed_point import Formats, resolve_formats
from .layout import CLASSES, COLOURS, FC_IN, IMAGE_SIZE, OC_TILE, PARAM_ARRAYS, PG_LAYERS, STEM_CHANNELS, TAPS

RELEASE_CYCLES = 90_307
"""The release's cycles per image at II = 1 without fill, counted from its loop bounds."""

LEVEL_BITS = 8
"""Width of a level count (``level_t``) and of a stem table entry (``level_dot_t``) in ``hls/cifar10/typedefs.h``."""

ROW_BANKS = 3
BANK_ROWS = math.ceil(IMAGE_SIZE / ROW_BANKS)
"""Row-banked maps (``hls/cifar10/typedefs.h``): row ``r`` in bank ``r % 3`` at address ``r / 3``."""


@dataclass(frozen=True)
class CostSettings:
    """The model's assumptions, stated so that they can be changed and their effect seen.

    ``clock_mhz``: the HLS target (4 ns). ``depth``: pipeline fill per entry, per loop (estimates for
    the datapath between the loop's first read and last write at 4 ns; csynth reports the real ones).
    ``primitive_luts``: LUTs of the calibrated primitives (module docstring). ``control_luts``: FSMs,
    address counters and the AXI adapters.
    """

    clock_mhz: float = 250.0
    depth: Mapping[str, int] = field(
        default_factory=lambda: {
            "LOAD_IMAGE": 4,
            "STEM": 12,
            "TILE_PARAMS": 3,
            "PG_PIXELS": 14,
            "POOL": 4,
            "CONCAT": 3,
            "GLOBAL_POOL": 4,
            "FC": 6,
            "STORE": 4,
        }
    )
    primitive_luts: Mapping[str, int] = field(
        default_factory=lambda: {"xor_popcount_32": 63, "xor_popcount_64": 136, "tap_adder_tree_9x8": 98}
    )
    control_luts: int = 3_000


# --------------------------------------------------------------------------- cycles


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """The pipelined loops of ``hls/cifar10`` for one image, one entry each, in execution order.

    ``LOAD_IMAGE`` (3 x 32 x 32 words); ``STEM`` (32 x 32 pixels x 3 colours, one colour per
    cycle); per output tile of a PG conv ``TILE_PARAMS`` (the tile's weights and parameters into
    registers, 16 cycles) and ``PG_PIXELS`` over its ``h_out^2`` output pixels (stride-2 convs at
    output resolution); before each stride-2 block ``POOL`` (II 3: four reads and a write per
    dual-port lane bank) and ``CONCAT``; then ``GLOBAL_POOL`` (4 tiles x 64 pixels),
    ``FC`` (64 channels, 10 classes at once) and ``STORE`` (10 logits).
    """
    depth = (settings or CostSettings()).depth

    def loop(layer: str, name: str, trips: int, ii: int = 1) -> LoopCost:
        return LoopCost(layer, name, trips, ii, depth[name])

    loops = [
        loop("input", "LOAD_IMAGE", COLOURS * IMAGE_SIZE * IMAGE_SIZE),
        loop("conv1", "STEM", COLOURS * IMAGE_SIZE * IMAGE_SIZE),
    ]
    for layer in PG_LAYERS:
        if layer.stride == 2:
            pooled = (layer.cin // OC_TILE) * layer.h_out**2
            loops += [loop(layer.block, "POOL", pooled, ii=3), loop(layer.block, "CONCAT", pooled)]
        for _ in range(layer.tiles):
            loops += [loop(layer.name, "TILE_PARAMS", OC_TILE), loop(layer.name, "PG_PIXELS", layer.h_out**2)]
    last = PG_LAYERS[-1]
    loops += [
        loop("pool", "GLOBAL_POOL", last.tiles * last.h_out**2),
        loop("linear", "FC", FC_IN),
        loop("linear", "STORE", CLASSES),
    ]
    return loops


def release_loops() -> list[LoopCost]:
    """The release's ``xcel-cifar10`` (``FracNet_T`` in ``bnn_tiled.cc``), modelled at II = 1 without fill.

    One shared 16-lane conv engine on 33 x 33 line-buffered maps runs once per bit plane (MSB, then
    LSB, whatever the gate says) over ``(h_in + 1)^2`` positions per output tile (stride-2 convs at
    input resolution, then subsampled); ``quant_and_pack`` always walks four 64-channel tiles
    (``4 h_in^2``); ``bn_relu_shortcut`` runs per output tile and pixel; ``avgpool_concat`` before
    each stride-2 block; buffer initialisation, an image load and the classifier around them. One
    entry per loop and call.
    """
    width = IMAGE_SIZE + 1
    loops = [LoopCost("input", "buffer_init", width * width), LoopCost("input", "LOOP_GetImg", COLOURS * 1024)]
    loops += [LoopCost("conv1", "Loop_Tile", width * width) for _ in range(COLOURS * 2)]
    loops.append(LoopCost("conv1", "bn1", IMAGE_SIZE * IMAGE_SIZE))
    for layer in PG_LAYERS:
        loops.append(LoopCost(layer.name, "LOOP_Quant_Pack", 4 * layer.h_in**2))
        if layer.stride == 2:
            loops.append(LoopCost(layer.block, "avgpool_init", (width // 2) ** 2))
            for _ in range(layer.cin // OC_TILE):
                loops.append(LoopCost(layer.block, "LOOP_avgpool", 4 * layer.h_out**2))
                loops.append(LoopCost(layer.block, "avgpool_write", layer.h_out**2))
        loops += [LoopCost(layer.name, "Loop_Tile", (layer.h_in + 1) ** 2) for _ in range(2 * layer.tiles)]
        loops += [LoopCost(layer.name, "LOOP_BN_RELU_SC", layer.h_out**2) for _ in range(layer.tiles)]
    loops += [LoopCost("pool", "buffer_init", FC_IN), LoopCost("pool", "buffer_init", CLASSES)]
    for _ in range(FC_IN // OC_TILE):
        loops += [LoopCost("pool", name, trips) for name, trips in (("init", 16), ("avgpool_8x8", 64), ("out", 16))]
    loops += [LoopCost("linear", name, trips) for name, trips in (("bias", CLASSES), ("matmul", FC_IN), ("out", 10))]
    loops.append(LoopCost("linear", "write_output", CLASSES))
    return loops


# --------------------------------------------------------------------------- memory


def _words(name: str) -> int:
    """Elements of the parameter array ``name`` (:data:`~fracbnn_lib.hw.layout.PARAM_ARRAYS`)."""
    return next(array.size for array in PARAM_ARRAYS if array.name == name)


def accelerator_arrays(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> list[ArrayCost]:
    """The on-chip arrays of ``hls/cifar10``, partitioned and bound as its pragmas say (``README.md``)."""
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm.width, formats.scale.width, formats.param.width
    map_depth = BANK_ROWS * IMAGE_SIZE
    return [
        ArrayCost("image_buf", COLOURS * ROW_BANKS, LEVEL_BITS, map_depth, "bram"),
        ArrayCost("msb/lsb planes (ping-pong)", 4 * ROW_BANKS, 64, map_depth, "bram"),
        ArrayCost("fmap (residual stream)", OC_TILE, fm, STEM_CHANNELS * IMAGE_SIZE**2 // OC_TILE, "bram"),
        ArrayCost("pg_weight", OC_TILE, 64, _words("pg_weight") // OC_TILE, "bram"),
        ArrayCost("pg_threshold", 1, 16, _words("pg_threshold"), "bram"),
        ArrayCost("pg_scale, pg_bn_scale", 2, scale, _words("pg_scale"), "bram"),
        ArrayCost("pg_shift, pg_slope, pg_bn_shift", 3, param, _words("pg_shift"), "bram"),
        ArrayCost("conv1_level_dot (stem tables)", STEM_CHANNELS * TAPS, LEVEL_BITS, COLOURS * (levels + 1), "lutram"),
        ArrayCost("fc_weight", CLASSES, param, _words("fc_weight") // CLASSES, "lutram"),
        ArrayCost(
            "the tile's weights and parameters", 1, OC_TILE * (TAPS * 64 + 16 + 2 * scale + 3 * param), 1, "registers"
        ),
        ArrayCost("conv1 BN", 1, STEM_CHANNELS * (scale + param), 1, "registers"),
        ArrayCost(
            "windows, pool sums, means, FC accumulators",
            1,
            2 * 9 * 64 + COLOURS * 9 * LEVEL_BITS + 16 * (fm + 6) + 64 * fm,
            1,
            "registers",
        ),
    ]


# --------------------------------------------------------------------------- DSPs and LUTs


def accelerator_dsps(formats: str | Formats | Mapping[str, Any] = "default") -> dict[str, int]:
    """DSPs of ``hls/cifar10`` per multiply site: instances x DSPs per multiply."""
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm.width, formats.scale.width, formats.param.width
    sum_bits = 13  # conv sums: |z| <= 2 * 9 * 64 + 9 * 64 (PG), 9 * 3 * 32 (stem)
    return {
        "stem: scale * z": STEM_CHANNELS * dsp_per_multiply(scale, sum_bits),
        "PG: scale * z": OC_TILE * dsp_per_multiply(scale, sum_bits),
        "PG: y * slope": OC_TILE * dsp_per_multiply(fm, param),
        "PG: bn_scale * (y + r)": OC_TILE * dsp_per_multiply(scale, fm + 1),
        "FC: w * mean": CLASSES * dsp_per_multiply(param, fm),
    }


def accelerator_luts(
    levels: int = 32,
    formats: str | Formats | Mapping[str, Any] = "default",
    settings: CostSettings | None = None,
    lsb_engines: int = OC_TILE,
) -> dict[str, int]:
    """LUTs of ``hls/cifar10`` per part (module docstring); ``lsb_engines``: LSB popcount sets per tile (16 built)."""
    settings = settings or CostSettings()
    prim = settings.primitive_luts
    formats = resolve_formats(formats)
    level_popcount = prim["xor_popcount_32"] * math.ceil(levels / 32)
    fm = formats.fm.width
    shared = {}
    if lsb_engines < OC_TILE:  # each engine picks one of 16 lanes' 9 weight words, each lane one engine's sum
        shared = {
            "LSB weight multiplexers (16:1, 4 LUTs a bit)": lsb_engines * TAPS * 64 * 4,
            "LSB result routing and lane scheduler": OC_TILE * 13 * math.ceil(lsb_engines / 4) + 200,
        }
    stem_windows = COLOURS * 3 * 2 * LEVEL_BITS + TAPS * LEVEL_BITS + TAPS * LEVEL_BITS  # rotations, colour mux, slots
    return {
        **shared,
        "PG MSB popcounts (16 lanes x 9 taps)": OC_TILE * TAPS * prim["xor_popcount_64"],
        f"PG LSB popcounts ({lsb_engines} lanes x 9 taps)": lsb_engines * TAPS * prim["xor_popcount_64"],
        "input level counts (one popcount per word)": level_popcount,
        "tap adder trees": (2 * OC_TILE + STEM_CHANNELS) * prim["tap_adder_tree_9x8"],
        "window and row multiplexers": 2 * 3 * 2 * 64 + 2 * 9 * 64 + stem_windows,
        "gates, residual adds, quantisers": OC_TILE * (16 + fm + 1 + 2 * fm) + STEM_CHANNELS * 2 * fm,
        "LUTROM (stem tables, FC weights)": sum(a.luts for a in accelerator_arrays(formats, levels)),
        "control and AXI adapters (allowance)": settings.control_luts,
    }


# --------------------------------------------------------------------------- the gate, priced


def gate_sharing(
    open_lanes: Mapping[str, np.ndarray], images: int, engines: Sequence[int] = (16, 8, 4), levels: int = 32
) -> list[dict[str, float]]:
    """Cycles and LUTs per image with ``E`` LSB engines per 16-lane tile, from measured gate histograms.

    ``open_lanes``: per PG layer, how many tile-pixels opened ``n`` lanes (``n`` = 0..16), over
    ``images`` images (:attr:`ReferenceTrace.open_lanes`). A tile-pixel takes ``max(1, ceil(n / E))``
    cycles; every other loop is unchanged. ``E = 16`` is the design as built.
    """
    base = accelerator_loops()
    other = sum(loop.cycles for loop in base if loop.loop != "PG_PIXELS")
    fills = sum(loop.depth for loop in base if loop.loop == "PG_PIXELS")  # one per tile
    rows = []
    for e in engines:
        pg = 0.0
        for layer in PG_LAYERS:
            histogram = np.asarray(open_lanes[layer.name], dtype=np.float64)
            per_pixel = np.maximum(1, np.ceil(np.arange(len(histogram)) / e))
            pg += float(histogram @ per_pixel) / images
        cycles = other + fills + pg
        rows.append(
            {
                "lsb_engines": e,
                "pg_cycles": pg,
                "cycles": cycles,
                "fps": images_per_s(cycles),
                "lut": sum(accelerator_luts(levels, lsb_engines=e).values()),
            }
        )
    return rows


# --------------------------------------------------------------------------- totals


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``release_cycles``): modelled cycles, images/s at the clock, LUT, DSP, BRAM36, LUTRAM, bits on chip and
    the DRAM traffic of one image (its input words in, its logits out)."""
    settings = settings or CostSettings()
    cycles, ii_only = total_cycles(accelerator_loops(levels, settings))
    arrays = accelerator_arrays(formats, levels)
    dram = COLOURS * IMAGE_SIZE * IMAGE_SIZE * 8 + CLASSES * 4
    return {
        "modelled": True,
        "clock_mhz": settings.clock_mhz,
        "cycles": cycles,
        "cycles_ii_only": ii_only,
        "fps": images_per_s(cycles, settings.clock_mhz),
        "lut": sum(accelerator_luts(levels, formats, settings).values()),
        "dsp": sum(accelerator_dsps(formats).values()),
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "lutram": sum(a.luts for a in arrays),
        "on_chip_bits": sum(a.bits for a in arrays),
        "dram_bytes_per_image": dram,
        "bandwidth_bound_fps": bandwidth_bound_fps(dram, 64, settings.clock_mhz),
        "not_modelled": [],
        "release_cycles": total_cycles(release_loops())[1],
    }
