"""The modelled cost of the ImageNet accelerator: cycles per layer, DRAM traffic, images/s, on-chip memory.

An analytical model of ``hls/imagenet`` from its layer table (:func:`~.layout.layer_table`), never a
measurement. It shares CIFAR-10's machinery (:mod:`fracbnn_lib.hw.cost_model`: :class:`LoopCost`, BRAM
packing, the ZU3EG's resources, the summary's keys).

**Cycles.** :func:`accelerator_loops` lists every pipelined loop entry in the order the top function
runs them (the counting build of the C-simulation logs the same entries, with each memory's accesses per
bank and iteration; a test holds them equal). An entry costs its trips times its loop's II plus a fill: the
pipeline depth of a compute loop, or for a loop on an AXI master the DRAM read latency of its first burst
(:class:`CostSettings`). Everything runs in sequence (no overlap of transfers and compute).

**Initiation intervals, as the engines are written** (:mod:`fracbnn_lib.hw.cost_model`): the input tile is one
bank of true dual-port BRAM, and ``pixels`` reads it ``4 x taps`` times for the window (four code planes per
tap) and, in a pixel's last group, ``4`` words per lane and shortcut position for the shortcut's codes
(``code_at``): 164 reads an iteration for a 3x3 layer at stride 1, 132 for a 1x1 layer, 548 at stride 2,
so the one ``pixels`` schedule runs at II 274. The stem reads each level count once per lane (96 reads of a
row bank: II 48; a tool may merge the lanes' identical reads, the count does not) and its table 3 times per
single-port bank; the table load writes 8 entries an iteration into one single-port bank (II 8). Stated
beside the measured ports: the epilogue's ``pool_acc[o] +=`` and ``out_tile`` read-modify-write, whose
addresses the tool cannot tell apart between iterations (II 2 each), and the register accumulators ``m``,
``l`` (II 1). A redesign of the engines (a row-banked tile, shortcut codes read once per pixel) is what
brings ``pixels`` back towards II 1; this model states the C++ as it is.

**DRAM traffic** (:func:`layer_traffic`): bytes each layer reads (input rows once per row tile,
weights and parameters once per row tile and 32-channel tile) and writes (its 4-bit output map).
**Bandwidth bound**: bytes per image over a port's 64 bits x 200 MHz = 1.6 GB/s (the design's ports at the
clock of ``hls/common/clock.mk``; the Ultra96v2's HP ports are 128 bits wide and its LPDDR4 peaks at
8.5 GB/s, so the ports bind first).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..cost_model import (
    CLOCK_MHZ,
    REGISTER_UNIT,
    ArrayCost,
    IIBound,
    LoopCost,
    PortUse,
    UnitUse,
    bandwidth_bound_fps,
    cycles_of_ns,
    images_per_s,
    loop_summary,
    part_totals,
    total_cycles,
    with_loop_iis,
)
from ..fixed_point import FORMAT_PRESETS, Formats, resolve_formats
from ..units import Unit
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
    """The model's assumptions: the clock, a DRAM burst's read latency and the compute pipelines' depths.

    ``depth`` counts 5 ns stages (as :class:`fracbnn_lib.hw.cifar10.cost.CostSettings` does).
    """

    clock_mhz: float = CLOCK_MHZ
    dram_latency_ns: float = 200.0
    """From a burst's address to its first beat on the Zynq UltraScale+ HP ports (about 200 ns)."""
    depth: Mapping[str, int] = field(
        default_factory=lambda: {
            # row read 2, table 1, 27-count sum 2, scale * z 3, round 1, q4 2, write beat 1
            "stem_pixels": 12,
            # tile read 2, code planes 1, 64-bit popcount 2, taps 1, gate and z 1, three products (multiply 3 + round
            # 1 each), q4 2, pack 1, write 1
            "pixels": 23,
            "layer": 0,  # a marker, no iterations
        }
    )
    interface_allowance: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"m_axi": (1_000, 1_500), "s_axilite": (300, 400), "fsm": (300, 300)}
    )
    """(LUT, FF) per instance of what the model does not synthesise: as CIFAR-10's
    (:class:`fracbnn_lib.hw.cifar10.cost.CostSettings`), an allowance."""

    @property
    def dram_latency(self) -> int:
        """The DRAM burst latency in cycles at ``clock_mhz``."""
        return cycles_of_ns(self.dram_latency_ns, self.clock_mhz)


def _stem_table_writes(levels: int) -> int:
    """The most entries one 64-bit word of the stem's tables writes into one (lane, tap) bank."""
    slots = COLOURS * (levels + 1)
    entries = stem_table_words(levels) * 8
    return max(max(Counter(i // slots for i in range(w, min(w + 8, entries))).values()) for w in range(0, entries, 8))


def stem_loops(levels: int = 32) -> list[LoopCost]:
    """The stem's loop entries: its tables and parameters, then per output row two input rows and its pixels."""
    table = LoopCost(
        "stem", "stem_table", stem_table_words(levels), port_use=(PortUse("stem_table", _stem_table_writes(levels), 1),)
    )
    params = LoopCost(
        "stem", "stem_params", STEM_CHANNELS, stated=(IIBound(1, "nothing: scale and shift are registers"),)
    )
    loops = [table, params]
    for oy in range(STEM_SIZE):
        rows = [r for r in range(0 if oy == 0 else 1, 3) if 2 * oy - 1 + r >= 0]
        loops += [
            LoopCost("stem", "stem_load_row", COLOURS * IMAGE_SIZE, port_use=(PortUse("stem_rows", 1, 2),))
            for _ in rows
        ]
        # per lane, the three taps of a window row read that row's bank of each colour; a table per lane and tap,
        # read once per colour
        pixels = (PortUse("stem_rows", 3 * STEM_CHANNELS, 2), PortUse("stem_table", COLOURS, 1))
        loops.append(LoopCost("stem", "stem_pixels", STEM_SIZE, port_use=pixels))
    return loops


ACCUMULATORS = IIBound(
    1, "dependence: m[lane], l[lane] accumulate the groups in registers: one add in the carried path"
)
OUT_TILE = IIBound(
    2,
    "dependence: out_tile[p] read and written in the epilogue at p = i / gin: the tool cannot prove that two "
    "iterations' p differ and assumes distance 1 (none is measured): read 1 + write 1",
    "out_tile",
)
POOL_ACC = IIBound(
    2,
    "dependence: pool_acc[o] += x at the same o in every iteration: the tool assumes distance 1 (measured: gin): "
    "read 1 + 64-bit add and write 1",
    "pool_acc",
)


def pg_layer_loops(layer: Layer, last: bool) -> list[LoopCost]:
    """One PG layer's loop entries (``pg_conv_bn``), in order, with each entry's accesses per memory bank."""
    k, s, size, so = layer.ksize, layer.stride, layer.size_in, layer.size_out
    gin, gout, taps = groups(layer.cin), groups(layer.cout), k * k
    # per pixels iteration, the tile's one bank: 4 code planes per tap, and in a pixel's last group 4 words per
    # lane and shortcut position (one position at stride 1, the 2 x 2 block at stride 2)
    tile_reads = CODE_BITS * taps + LANES * CODE_BITS * (4 if s == 2 else 1)
    loops = [LoopCost(layer.name, "layer", 0, stated=(IIBound(1, "nothing: a marker per layer, no iterations"),))]
    for t in range(so // ROW_TILE):
        r0 = t * ROW_TILE * s - k // 2
        rows = [r for r in range((ROW_TILE - 1) * s + k) if 0 <= r0 + r < size]
        loops += [
            LoopCost(layer.name, "load_row", size * gin * CODE_BITS, port_use=(PortUse("tile", 1, 2),)) for _ in rows
        ]
        for go in range(gout):
            for half in range(2):
                if go * 64 + half * LANES >= layer.cout:
                    continue
                weights = LoopCost(
                    layer.name, "load_weights", LANES * taps * gin, port_use=(PortUse("weight_tile", 1, 2),)
                )
                params = LoopCost(
                    layer.name,
                    "load_params",
                    len(PARAM_FIELDS) * LANES,
                    stated=(IIBound(1, "nothing: the parameters are registers"),),
                )
                uses = [PortUse("tile", tile_reads, 2), PortUse("weight_tile", 1, 2)]
                if last:  # pool_acc[o] read and written, o % 32 = lane: its own bank
                    uses.append(PortUse("pool_acc", 2, 2))
                    carried: tuple[tuple[str, int], ...] = (("pool_acc", gin),)
                else:  # the output codes' 4 planes written, and read first by the second half of 64 channels
                    uses.append(PortUse("out_tile", CODE_BITS * (1 + half), 2))
                    carried = ()
                stated = (ACCUMULATORS, POOL_ACC if last else OUT_TILE)
                pixels = LoopCost(
                    layer.name, "pixels", ROW_TILE * so * gin, port_use=tuple(uses), carried=carried, stated=stated
                )
                loops += [weights, params, pixels]
            if not last:
                loops.append(
                    LoopCost(
                        layer.name, "store_group", ROW_TILE * so * CODE_BITS, port_use=(PortUse("out_tile", 1, 2),)
                    )
                )
    if last:
        loops.append(LoopCost(layer.name, "store_pooled", layer.cout, port_use=(PortUse("pool_acc", 1, 2),)))
    return loops


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """Every pipelined loop entry of ``FracNetImageNet`` for one image, with its II and fill (module docstring)."""
    settings = settings or CostSettings()
    table = layer_table(levels)
    last = len(table) - 1
    raw = stem_loops(levels) + [loop for i, layer in enumerate(table) for loop in pg_layer_loops(layer, i == last)]

    def fill(loop: LoopCost) -> int:
        return settings.dram_latency if loop.loop in DRAM_LOOPS else settings.depth.get(loop.loop, 0)

    return with_loop_iis([replace(loop, depth=fill(loop)) for loop in raw])


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


def accelerator_arrays(formats: str | Formats | Mapping[str, Any] = "default") -> list[ArrayCost]:
    """The on-chip arrays of ``fracnet.cc`` as its pragmas partition and bind them (``tile`` and ``out_tile``:
    ``ram_t2p``, true dual port), and ``pg_conv_bn``'s per-lane parameters (registers: every lane reads its
    own in every cycle)."""
    formats = resolve_formats(formats)
    lane_params = 16 + 3 * formats.scale.width + 3 * formats.param.width
    return [
        ArrayCost("stem_table", STEM_CHANNELS * TAPS * COLOURS, 8, 33, "lutram"),
        ArrayCost("stem_rows", 3 * COLOURS, 8, IMAGE_SIZE, "registers"),
        ArrayCost("tile", 1, 64, 6720, "bram", "tdp"),
        ArrayCost("out_tile", 1, 64, ROW_TILE * 112 * CODE_BITS, "bram", "tdp"),
        ArrayCost("weight_tile", LANES * TAPS, 64, 16, "lutram"),
        ArrayCost("pool_acc", 32, 64, OUT_CHANNELS // 32, "lutram"),
        ArrayCost("per-lane parameters (threshold, 3 scales, 3 shifts)", 1, LANES * lane_params, 1, "registers"),
    ]


# --------------------------------------------------------------------------- logic

INTERFACES = {"m_axi": 3, "s_axilite": 1, "fsm": 1}
"""``FracNetImageNet``'s AXI masters (``IMG``, ``WGT``, ``FMAP``), its AXI-lite ``CTRL`` and its state machines."""
RUNTIME_DIVIDERS = 8
"""Divisions and remainders by run-time values in pipelined loops: ``LOAD_WEIGHTS`` ``i / (taps gin)``,
``i / gin``, ``% taps``, ``i % gin``; ``PIXELS`` ``i / gin``, ``i % gin``, ``p / So``, ``p % So``."""
COUNTER_BITS = 16 * 14
"""Loop counters and address registers: about sixteen of 14 bits (rows, columns, groups, words)."""
SUM_BITS = 16
"""``conv_sum_t`` and the group accumulators ``m``, ``l`` (``|m| <= 9 x 1024``)."""


def accelerator_units(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> list[UnitUse]:
    """The logic of ``hls/imagenet`` (``engines.h``) as instances of synthesised units, part by part."""
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm, formats.scale, formats.param
    u = Unit.of
    fmt = {"fm_w": fm.width, "fm_i": fm.integer}
    mux2 = u("mux", ways=2, width=1)
    epilogue = u(
        "imagenet_epilogue",
        **fmt,
        scale_w=scale.width,
        scale_i=scale.integer,
        param_w=param.width,
        param_i=param.integer,
        z_bits=SUM_BITS,
        s_bits=6,
    )
    stem_bn = u(
        "mac_round_sat",
        a_w=scale.width,
        a_i=scale.integer,
        b_bits=11,
        c_w=param.width,
        c_i=param.integer,
        out_w=fm.width,
        out_i=fm.integer,
    )
    counter = u("counter", width=12)
    return [
        UnitUse("PG popcounts (32 lanes x 9 taps x 2 planes)", u("xor_popcount", n=64), LANES * TAPS * 2),
        UnitUse("2-bit planes from 4-bit codes (9 taps)", u("code_planes", width=64), TAPS),
        UnitUse(
            "tap sums and group accumulators (32 lanes x 2 planes)",
            u("dot_sum", taps=TAPS, count_bits=7, acc_bits=SUM_BITS),
            2 * LANES,
        ),
        UnitUse("gates (32 lanes)", u("pg_gate", sum_bits=SUM_BITS, threshold_bits=16), LANES),
        UnitUse("epilogues: scale, RPReLU, BN with res_scale (32 lanes)", epilogue, LANES),
        UnitUse("4-bit quantisers (32 PG + 32 stem lanes)", u("quantiser4", **fmt), LANES + STEM_CHANNELS),
        UnitUse("shortcut code sums (32 lanes)", u("shortcut_codes", group=64), LANES),
        UnitUse("pooled-sum accumulators (32 lanes, int64)", u("accumulator", in_bits=fm.width, acc_bits=64), LANES),
        UnitUse("output code placement and merge (4 planes x 64 bits x 2)", mux2, CODE_BITS * 64 * 2),
        UnitUse(
            f"run-time dividers ({RUNTIME_DIVIDERS}, 32-bit, 32 pipelined stages each)",
            u("divider_stage", width=32),
            RUNTIME_DIVIDERS * 32,
        ),
        UnitUse("stem level counts", u("popcount", n=levels), 1),
        UnitUse(
            "stem table sums (32 lanes x 27 lookups)",
            u("adder_tree", inputs=TAPS * COLOURS, width=8, acc_bits=0),
            STEM_CHANNELS,
        ),
        UnitUse("stem BN (32 lanes)", stem_bn, STEM_CHANNELS),
        UnitUse("stem row reads (27 x 8 bits, 224:1)", u("mux", ways=IMAGE_SIZE, width=1), TAPS * COLOURS * 8),
        UnitUse(f"loop counters and addresses ({COUNTER_BITS} bits)", counter, COUNTER_BITS / 12),
    ]


def _allowance(settings: CostSettings, index: int) -> dict[str, int]:
    return {
        f"{kind} x {count} (allowance)": count * settings.interface_allowance[kind][index]
        for kind, count in INTERFACES.items()
    }


def accelerator_luts(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, int]:
    """LUTs per part: the units, the LUTRAM of the arrays and the interface allowance."""
    settings = settings or CostSettings()
    luts = {k: v for k, v in part_totals(accelerator_units(formats, levels), "lut").items() if v}
    luts["LUTRAM (stem tables, weight tile, pooled sums)"] = sum(a.luts for a in accelerator_arrays(formats))
    return {**luts, **_allowance(settings, 0)}


def accelerator_ffs(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, int]:
    """Flip-flops per part: the units' registers, the register arrays and the interface allowance."""
    settings = settings or CostSettings()
    ffs = {k: v for k, v in part_totals(accelerator_units(formats, levels), "ff").items() if v}
    ffs.update({a.name: a.flip_flops for a in accelerator_arrays(formats) if a.storage == "registers"})
    return {**ffs, **_allowance(settings, 1)}


def accelerator_dsps(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> dict[str, int]:
    """DSP48E2 per part, as yosys maps the units' multiplies."""
    return {k: v for k, v in part_totals(accelerator_units(formats, levels), "dsp").items() if v}


def table_units() -> list[Unit]:
    """Every unit this model prices at the format presets and 32 levels (what ``unit_costs.json`` holds)."""
    units = {use.unit for formats in FORMAT_PRESETS.values() for use in accelerator_units(formats, 32)}
    return sorted(units | {REGISTER_UNIT}, key=lambda unit: unit.key)


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``compute_cycles``, ``port_gb_per_s`` and ``per_layer``): per layer cycles and DRAM bytes, totals, images/s,
    on-chip memory, and the engines' logic by synthesised units (LUT, FF, DSP). ``estimated_units`` lists units
    priced without synthesis."""
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
    arrays = accelerator_arrays(formats)
    uses = accelerator_units(formats, levels)
    return {
        "modelled": True,
        "clock_mhz": settings.clock_mhz,
        "cycles": cycles,
        "cycles_ii_only": cycles_ii,
        "fps": images_per_s(cycles, settings.clock_mhz),
        "lut": sum(accelerator_luts(formats, levels, settings).values()),
        "ff": sum(accelerator_ffs(formats, levels, settings).values()),
        "dsp": sum(accelerator_dsps(formats, levels).values()),
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "lutram": sum(a.luts for a in arrays),
        "on_chip_bits": sum(a.bits for a in arrays),
        "dram_bytes_per_image": dram,
        "bandwidth_bound_fps": bandwidth_bound_fps(dram, PORT_BITS, settings.clock_mhz),
        "loops": loop_summary(loops),
        "not_modelled": [],
        "estimated_units": sorted({use.unit.key for use in uses if use.cost.estimated}),
        "compute_cycles": sum(row["compute_cycles"] for row in per_layer.values()),
        "port_gb_per_s": PORT_BITS / 8 * settings.clock_mhz * 1e6 / 1e9,
        "per_layer": per_layer,
    }
