"""The modelled cost of the ImageNet accelerator: cycles with overlap, IIs, DRAM traffic per master, resources.

An analytical model of ``hls/imagenet`` from its layer table (:func:`~.layout.layer_table`), never a
measurement. It shares CIFAR-10's machinery (:mod:`fracbnn_lib.hw.cost_model`: :class:`LoopCost`, the IIs from
port pressure, BRAM packing, the ZU3EG, the summary's keys) and prices resources the same way.

**Loops and IIs.** :func:`accelerator_loops` lists every pipelined loop entry in the order the top function runs
them, with each on-chip memory's accesses per bank and iteration (the counting build of the C-simulation logs the
same entries; a test holds them equal) and the bounds stated beside them; the IIs follow
(:func:`~fracbnn_lib.hw.cost_model.with_loop_iis`). Every loop runs at II 1: the input tile (simple dual port: one
port writes, the other reads) has a bank per window position and code plane, read once per iteration, the
shortcut's elements among the window's in the pass of its group (its sums wait in ``sc_sums`` for the last pass);
the weights of a pass sit in registers (the next pass's are read one lane a cycle from a bank per slot); the partial
sums are read and written once per lane bank (a dependence at the distance of a row tile's pixels, at least 49,
beyond the pipeline's depth); the stem reads each table and row bank once per iteration (one colour a cycle).

**Cycles, with overlap.** :func:`accelerator_schedule` gives the order the C++ overlaps those entries in: a stem
tile beside the next one's image rows and the one before's store; a PG row tile beside the store of the one before
and the load of the one after (one master, so those two in turn); each weight tile beside the next one's load.
A step takes its longest branch; an entry ``trips x II + fill``, the fill its pipeline depth at 5 ns, plus a DRAM
burst's latency on an AXI master (:class:`CostSettings`). What stays in sequence: the stem's tables, each layer's
first input tile and last output tile.

**DRAM** (:func:`master_traffic`): bytes per image on each master (``IMG`` 64-bit, ``WGT`` and ``FMAP`` 128-bit)
and the images/s each could carry alone at one beat a cycle; the design's bound is the larger of compute and
transfer per step, which the schedule already takes.

**Resources**, priced as CIFAR-10's are (:mod:`fracbnn_lib.hw.cifar10.cost`): the logic as instances of units
synthesised by yosys (:func:`accelerator_units`: :class:`~fracbnn_lib.hw.cost_model.UnitUse` of
:mod:`fracbnn_lib.hw.units`, their LUTs, flip-flops and DSP48E2 from ``unit_costs.json``), summed per part by
:func:`accelerator_luts`, :func:`accelerator_ffs` and :func:`accelerator_dsps`; the arrays as declared
(:func:`accelerator_arrays`: BRAM18 by each bank's port mode, UG573; LUTRAM; registers, one flip-flop a bit); the
three AXI adapters, the AXI-lite adapter and the state machines an allowance
(:attr:`CostSettings.interface_allowance`). :func:`~fracbnn_lib.hw.cost_model.budget_check` holds the totals
against 80% of the ZU3EG, LUTRAM included (:data:`BUDGET_RESOURCES`), also with the model's stated uncertainty
(``release`` in :func:`cost_summary`).

**As built** (default formats, 200 MHz): 1,619,752 cycles an image, 123.5 images/s, 52,216 LUT, 27,238 FF, 64 DSP,
145 BRAM36, 5,632 LUTs of LUTRAM: within 80% of the ZU3EG in every resource. The redesign before its fit (60,563
LUT, 233 BRAM36) read each input-tile bank twice a cycle, routed the slots 9:1 and ran a 32-lane stem
(``hls/imagenet/README.md`` lists the steps between).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import cost_model
from ..cost_model import (
    CLOCK_MHZ,
    REGISTER_UNIT,
    ArrayCost,
    IIBound,
    LoopCost,
    PortUse,
    UnitUse,
    cycles_of_ns,
    images_per_s,
    loop_summary,
    part_totals,
    stem_bn_unit,
    with_loop_iis,
)
from ..fixed_point import FORMAT_PRESETS, Formats, resolve_formats
from ..units import Unit
from .layout import (
    BEAT_WORDS,
    CODE_BITS,
    COLOURS,
    GROUP,
    IMAGE_SIZE,
    LANES,
    MAX_GROUPS,
    MAX_PIXELS,
    OUT_CHANNELS,
    OUT_DEPTH,
    PARAM_TILE_WORDS,
    SLICES,
    STEM_CHANNELS,
    STEM_IN_ROWS,
    STEM_LANES,
    STEM_ROW_DEPTH,
    STEM_ROWS,
    STEM_SIZE,
    TAPS,
    TILE_BANKS,
    TILE_DEPTH,
    Layer,
    layer_table,
    stem_table_words,
)

WORD_BYTES = 8
MASTERS = {"IMG": 64, "WGT": 128, "FMAP": 128}
"""The AXI masters of ``fracnet.cc`` and their data widths in bits (the Ultra96v2's HP ports take up to 128)."""
MASTER_OF = {
    "stem_table": "WGT",
    "stem_params": "WGT",
    "load_params": "WGT",
    "load_weights": "WGT",
    "stem_load": "IMG",
    "load_tile": "FMAP",
    "store_tile": "FMAP",
    "store_pooled": "FMAP",
}
"""The master each DRAM loop moves its beats on (its fill adds the DRAM latency)."""
WRITES = ("store_tile", "store_pooled")
STEM_TILES = STEM_SIZE // STEM_ROWS
STEM_PIXELS = STEM_ROWS * STEM_SIZE
STEM_TABLE_BEATS_PER_SLOT = STEM_CHANNELS * TAPS // 16
STEM_HALVES = STEM_CHANNELS // STEM_LANES


@dataclass(frozen=True)
class CostSettings:
    """The model's assumptions: the clock, a DRAM burst's latency, the pipelines' depths and the interface allowance.

    ``depth`` counts 5 ns stages (as :class:`fracbnn_lib.hw.cifar10.cost.CostSettings` does).
    ``interface_allowance``: (LUT, FF) per instance of what the model does not synthesise (:data:`INTERFACES`): as
    CIFAR-10's, an allowance. ``axi_buffer_bram18``: each AXI channel's burst buffer (64 beats x 4 outstanding).
    """

    clock_mhz: float = CLOCK_MHZ
    dram_latency_ns: float = 200.0
    """From a burst's address to its first beat on the Zynq UltraScale+ HP ports (about 200 ns); paid once per entry
    of a loop on an AXI master (its bursts are issued back to back, four outstanding)."""
    depth: Mapping[str, int] = field(
        default_factory=lambda: {
            # row bank read 2, window and slot 1, LUTRAM read 1, nine-entry sum 2, colour sum 1, scale * z 3, round 1,
            # q4 2, pack and write 1
            "stem_pixels": 14,
            # tile read 2, code planes and slot routing 1, XOR-popcount 2, nine-slot sum 2, acc add 1, gate and z 1,
            # then scale * z (3 + round 1), y * slope (3 + round 1), bn_scale * y + res_scale * s + bn_shift (3 + add
            # 1 + round 1), q4 2, pack and write 1
            "pixels": 26,
            "stem_table": 2,  # beat 1, bank write 1
            "stem_params": 2,  # beat 1, register shift 1
            "stem_load": 3,  # beat 1, level counts 1, bank write 1
            "load_tile": 2,  # beat 1, bank write 1
            "store_tile": 3,  # bank read 2, beat 1
            "load_params": 2,  # beat 1, register shift 1
            "load_weights": 2,  # beat 1, bank write 1
            "store_pooled": 2,  # read 1, beat 1
            "layer": 0,  # a marker, no iterations
        }
    )
    interface_allowance: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"m_axi": (1_000, 1_500), "s_axilite": (300, 400), "fsm": (300, 300)}
    )
    axi_buffer_bram18: int = 2

    @property
    def dram_latency(self) -> int:
        """The DRAM burst latency in cycles at ``clock_mhz``."""
        return cycles_of_ns(self.dram_latency_ns, self.clock_mhz)


# --------------------------------------------------------------------------- loops and their accesses

REGISTERS = "nothing: {} in registers"
Z_STEM = IIBound(1, "dependence: z[k] accumulates the three colours in registers: one add in the loop-carried path")
SHADOW = IIBound(
    1, "dependence: the next pass's weights shift in and take over in registers (active, shadow): no memory"
)
POOL_SUM = IIBound(1, "dependence: pool_sum[k] accumulates the pixels in registers: one 64-bit add in the carried path")


def acc_bound(pixels: int) -> IIBound:
    """The partial sums' dependence: acc[p] is read a pass (``pixels`` iterations) after it is written."""
    return IIBound(
        1,
        f"dependence: acc[p][k] read {pixels} iterations after its write (a pass), beyond the pipeline's depth: "
        "DEPENDENCE inter false",
        "acc",
    )


def _weight_writes(layer: Layer) -> int:
    """The most words one beat of ``load_weights`` writes into one slot bank (``engines.h``'s word order: 3x3 (lane,
    g, tap) into bank tap; 1x1 (lane, g) into bank g mod 9, or lane mod 2 for a layer of one group): 1."""
    slots = []
    for lane in range(LANES):
        if layer.ksize == 3:
            slots += [tap for _ in range(layer.gin) for tap in range(TAPS)]
        elif layer.gin == 1:
            slots += [lane % 2]
        else:
            slots += [g % TAPS for g in range(layer.gin)]
    return max(
        max(slots[i : i + BEAT_WORDS].count(s) for s in slots[i : i + BEAT_WORDS]) for i in range(0, len(slots), 2)
    )


def shortcut_pass(layer: Layer, oc0: int) -> int:
    """The pass of ``compute_tile`` (weight tile ``oc0``) that reads the shortcut's input group ``(oc0 mod cin) / 64``:
    its codes are summed there (3x3: pass ``g``; 1x1: pass ``g / 9``)."""
    gs = (oc0 % layer.cin) // GROUP
    return gs if layer.ksize == 3 else gs // TAPS


def sc_bound(distance: int) -> IIBound:
    """The shortcut sums' dependence: sc_sums[p] is read in the last pass, ``distance`` iterations after its write."""
    return IIBound(
        1,
        f"dependence: sc_sums[p] read {distance} iterations after its write (the shortcut's pass to the last), "
        "beyond the pipeline's depth: DEPENDENCE inter false",
        "sc_sums",
    )


def _input_rows(layer: Layer, tile: int) -> int:
    """Input rows row tile ``tile`` reads (those inside the map)."""
    first = tile * layer.rows * layer.stride - layer.ksize // 2
    return min(layer.size_in, first + layer.in_rows) - max(0, first)


Schedule = int | tuple[str, tuple["Schedule", ...]]
"""A loop entry (its index in :func:`accelerator_loops`), or ``("seq", children)`` run in turn, or ``("par",
children)`` run at once (a step: as long as its longest child)."""


def _seq(*children: Schedule) -> Schedule:
    return ("seq", tuple(children))


def _par(*children: Schedule) -> Schedule:
    return ("par", tuple(children))


class _Plan:
    """The loop entries in the order the C++ enters them, and the schedule that overlaps them."""

    def __init__(self, levels: int) -> None:
        self.levels = levels
        self.loops: list[LoopCost] = []
        self.parts: list[tuple[str, Schedule]] = []  # (layer, its schedule) in order
        self.table = layer_table(levels)
        self.a_current = True  # the weight tile computing is in weights_a / params_a
        self.next = (0, 0)  # the next weight tile to load: (layer index, tile index over its row tiles)

    def add(self, loop: LoopCost) -> int:
        self.loops.append(loop)
        return len(self.loops) - 1

    def load_next_weights(self, into: str) -> Schedule:
        """``load_weight_tile`` of the next tile of the sequence into buffers ``into`` (``a`` or ``b``), if any."""
        index, tile = self.next
        if index >= len(self.table):
            return _seq()
        layer = self.table[index]
        self.next = (index, tile + 1) if tile + 1 < layer.oc_tiles * layer.tiles else (index + 1, 0)
        stated = (IIBound(1, REGISTERS.format("the parameters shift")),)
        params = LoopCost(layer.name, "load_params", PARAM_TILE_WORDS // BEAT_WORDS, stated=stated)
        weights = LoopCost(
            layer.name,
            "load_weights",
            layer.tile_weight_words // BEAT_WORDS,
            port_use=(PortUse(f"weights_{into}", _weight_writes(layer), 1),),
        )
        return _seq(self.add(params), self.add(weights))

    def stem(self) -> None:
        loops = []
        loops.append(
            self.add(
                LoopCost(
                    "stem",
                    "stem_table",
                    stem_table_words(self.levels) // BEAT_WORDS,
                    port_use=(PortUse("stem_table", 1, 1),),
                )
            )
        )
        stated = (IIBound(1, REGISTERS.format("scale and shift")),)
        loops.append(self.add(LoopCost("stem", "stem_params", 2 * STEM_CHANNELS // BEAT_WORDS, stated=stated)))

        def rows(tile: int, buffer: str) -> Schedule:
            count = (2 * STEM_ROWS if tile == 0 else STEM_IN_ROWS) * (IMAGE_SIZE // 2)
            uses = (PortUse(f"stem_rows_{buffer}", 1, 2),)
            return _seq(*(self.add(LoopCost("stem", "stem_load", count, port_use=uses)) for _ in range(COLOURS)))

        def store(buffer: str) -> int:
            return self.add(
                LoopCost("stem", "store_tile", STEM_PIXELS * BEAT_WORDS, port_use=(PortUse(f"out_{buffer}", 1, 2),))
            )

        loops.append(_par(rows(0, "a"), self.load_next_weights("a")))
        for t in range(STEM_TILES):
            this, other = ("a", "b") if t % 2 == 0 else ("b", "a")
            load = rows(t + 1, other) if t + 1 < STEM_TILES else _seq()
            uses = (
                PortUse(f"out_{this}", 1, 2),
                PortUse(f"stem_rows_{this}", 1, 2),
                PortUse("stem_table", 1, 1),
            )
            trips = STEM_HALVES * STEM_PIXELS * COLOURS
            pixels = self.add(LoopCost("stem", "stem_pixels", trips, port_use=uses, stated=(Z_STEM,)))
            loops.append(_par(load, pixels, store(other) if t > 0 else _seq()))
        loops.append(store("a" if STEM_TILES % 2 else "b"))
        self.parts.append(("stem", _seq(*loops)))

    def pixels(self, layer: Layer, last: bool, oc0: int, tile: str, out: str, weights: str) -> LoopCost:
        # the tile (simple dual port): each bank read once, the window's element (or group); the shortcut's are
        # among them in its pass
        uses = [PortUse(f"tile_{tile}", 1, 1), PortUse(f"weights_{weights}", 1, 1)]
        stated: list[IIBound] = [SHADOW]
        carried: list[tuple[str, int]] = []
        if layer.passes >= 2:  # pass 0 writes, the last reads, the ones between both
            uses.append(PortUse("acc", 1 if layer.passes == 2 else 2, 2))
            carried.append(("acc", layer.pixels))
            stated.append(acc_bound(layer.pixels))
        sc_pass = shortcut_pass(layer, oc0)
        if sc_pass < layer.passes - 1:  # written in the shortcut's pass, read in the last
            distance = (layer.passes - 1 - sc_pass) * layer.pixels
            uses.append(PortUse("sc_sums", 1, 1))
            carried.append(("sc_sums", distance))
            stated.append(sc_bound(distance))
        if last:
            uses.append(PortUse("pool_acc", 1, 1))
            stated.append(POOL_SUM)
        else:
            uses.append(PortUse(f"out_{out}", 1, 2))
        trips = LANES + layer.passes * layer.pixels
        return LoopCost(
            layer.name, "pixels", trips, port_use=tuple(sorted(uses)), carried=tuple(carried), stated=tuple(stated)
        )

    def pg_layer(self, layer: Layer, last: bool) -> None:
        loops: list[Schedule] = [self.add(LoopCost(layer.name, "layer", 0, stated=(IIBound(1, "nothing: a marker"),)))]

        def load_tile(t: int, buffer: str) -> int:
            trips = _input_rows(layer, t) * layer.size_in * layer.gin * CODE_BITS // BEAT_WORDS
            return self.add(LoopCost(layer.name, "load_tile", trips, port_use=(PortUse(f"tile_{buffer}", 1, 1),)))

        def store_tile(buffer: str) -> int:
            trips = layer.pixels * layer.gout * CODE_BITS // BEAT_WORDS
            return self.add(LoopCost(layer.name, "store_tile", trips, port_use=(PortUse(f"out_{buffer}", 1, 2),)))

        loops.append(load_tile(0, "a"))
        for t in range(layer.tiles):
            this, other = ("a", "b") if t % 2 == 0 else ("b", "a")
            transfer = _seq(
                store_tile(other) if t > 0 and not last else _seq(),
                load_tile(t + 1, other) if t + 1 < layer.tiles else _seq(),
            )
            steps = []
            for j in range(layer.oc_tiles):
                current, loading = ("a", "b") if self.a_current else ("b", "a")
                load = self.load_next_weights(loading)
                compute = self.add(self.pixels(layer, last, j * LANES, this, this, current))
                steps.append(_par(load, compute))
                self.a_current = not self.a_current
            loops.append(_par(transfer, _seq(*steps)))
        if not last:
            loops.append(store_tile("a" if layer.tiles % 2 else "b"))
        self.parts.append((layer.name, _seq(*loops)))

    def build(self) -> None:
        self.stem()
        for i, layer in enumerate(self.table):
            self.pg_layer(layer, i == len(self.table) - 1)
        store = LoopCost("pool", "store_pooled", OUT_CHANNELS // BEAT_WORDS, port_use=(PortUse("pool_acc", 1, 1),))
        self.parts.append(("pool", self.add(store)))


def _plan(levels: int, settings: CostSettings) -> tuple[list[LoopCost], list[tuple[str, Schedule]]]:
    plan = _Plan(levels)
    plan.build()

    def fill(loop: LoopCost) -> int:
        return settings.depth.get(loop.loop, 0) + (settings.dram_latency if loop.loop in MASTER_OF else 0)

    return with_loop_iis([replace(loop, depth=fill(loop)) for loop in plan.loops]), plan.parts


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """Every pipelined loop entry of ``FracNetImageNet`` for one image, in the order the C++ enters them, with its
    accesses per memory bank, carried dependences, stated bounds, II and fill (module docstring)."""
    return _plan(levels, settings or CostSettings())[0]


def accelerator_schedule(levels: int = 32, settings: CostSettings | None = None) -> list[tuple[str, Schedule]]:
    """Per part (``"stem"``, each PG layer, ``"pool"``), in order, how its loop entries (indices into
    :func:`accelerator_loops`) overlap: :data:`Schedule`."""
    return _plan(levels, settings or CostSettings())[1]


def schedule_cycles(node: Schedule, loops: Sequence[LoopCost], ii_only: bool = False) -> int:
    """Cycles of a schedule: an entry's ``trips x II`` (+ its fill unless ``ii_only``), a sequence's sum, a step's
    longest child."""
    if isinstance(node, int):
        return loops[node].cycles_ii_only if ii_only else loops[node].cycles
    kind, children = node
    cycles = [schedule_cycles(child, loops, ii_only) for child in children]
    return (sum(cycles) if kind == "seq" else max(cycles)) if cycles else 0


# --------------------------------------------------------------------------- DRAM


def master_traffic(loops: Iterable[LoopCost]) -> dict[str, dict[str, int]]:
    """Per AXI master, the bytes one image reads and writes (``{"IMG": {"read": ..., "written": ...}, ...}``)."""
    traffic = {name: {"read": 0, "written": 0} for name in MASTERS}
    for loop in loops:
        master = MASTER_OF.get(loop.loop)
        if master:
            traffic[master]["written" if loop.loop in WRITES else "read"] += loop.trips * MASTERS[master] // 8
    return traffic


def layer_traffic(loops: Iterable[LoopCost]) -> dict[str, dict[str, int]]:
    """DRAM bytes per layer (the layer whose data a loop moves): ``{layer: {"read": bytes, "written": bytes}}``."""
    traffic: dict[str, dict[str, int]] = {}
    for loop in loops:
        row = traffic.setdefault(loop.layer, {"read": 0, "written": 0})
        master = MASTER_OF.get(loop.loop)
        if master:
            row["written" if loop.loop in WRITES else "read"] += loop.trips * MASTERS[master] // 8
    return traffic


# --------------------------------------------------------------------------- resources

BUDGET_RESOURCES = (*cost_model.BUDGET_RESOURCES, "lutram")
"""What :func:`~fracbnn_lib.hw.cost_model.budget_check` holds ImageNet's design to: CIFAR-10's resources and the
LUTRAM of its stem tables and pooled sums."""


def accelerator_arrays(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> list[ArrayCost]:
    """The on-chip arrays of ``fracnet.cc`` as its storage declarations bank and bind them (README.md): the input
    tiles, the weight tiles and ``sc_sums`` ``RAM_S2P_BRAM`` (simple dual port: one port writes, the other reads;
    512 x 36 a BRAM18, UG573), the out tiles, ``acc`` and the stem's rows ``RAM_T2P_BRAM`` (true dual port: at most
    1K x 18 a BRAM18), with the registers of the engines and the AXI adapters' burst buffers (simple dual port)."""
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm.width, formats.scale.width, formats.param.width
    param_bits = 16 + 3 * scale + 3 * param  # threshold, scale, bn_scale, res_scale, shift, slope, bn_shift
    settings = CostSettings()
    return [
        ArrayCost("tile_a, tile_b (input tiles)", 2 * TILE_BANKS * CODE_BITS, 64, TILE_DEPTH, "bram", "sdp"),
        ArrayCost("out_a, out_b (output codes)", 2 * SLICES, 4 * LANES, OUT_DEPTH, "bram", "tdp"),
        ArrayCost("weights_a, weights_b (weight tiles)", 2 * TAPS, 64, LANES * MAX_GROUPS, "bram", "sdp"),
        ArrayCost("acc (partial sums)", LANES, 32, MAX_PIXELS, "bram", "tdp"),
        ArrayCost("sc_sums (the shortcut's code sums)", 1, SC_BITS * LANES, MAX_PIXELS, "bram", "sdp"),
        ArrayCost("stem_rows_a, stem_rows_b (level counts)", 2 * TILE_BANKS, 16, STEM_ROW_DEPTH, "bram", "tdp"),
        ArrayCost("AXI burst buffers (allowance: 4 channels)", 4 * settings.axi_buffer_bram18, 36, 512, "bram", "sdp"),
        ArrayCost(
            "stem_table (level-dot tables)", STEM_LANES * TAPS, 8, STEM_HALVES * COLOURS * (levels + 1), "lutram"
        ),
        ArrayCost("pool_acc (pooled sums)", LANES, 64, OUT_CHANNELS // LANES, "lutram"),
        ArrayCost("weights of a pass, and of the next (active, shadow)", 1, 2 * LANES * TAPS * 64, 1, "registers"),
        ArrayCost("params_a, params_b and the tile's typed parameters", 1, 3 * LANES * param_bits, 1, "registers"),
        ArrayCost("stem scale and shift (raw and typed)", 1, 2 * STEM_CHANNELS * (scale + param), 1, "registers"),
        ArrayCost(
            "stem sums and windows, pool sums",
            1,
            STEM_LANES * STEM_SUM_BITS + COLOURS * 3 * 16 + LANES * 64 + LANES * fm,
            1,
            "registers",
        ),
    ]


SUM_BITS = 16
"""``sum_t`` (``int16_t``): the partial sums ``m``, ``l`` in ``acc`` and the gate's threshold; ``conv_sum_t``, ``z =
2 m + l``, is 16 bits too."""
POPCOUNT_BITS = 7
"""A 64-bit popcount's width (a slot's valid channels are at most 64, too)."""
STEM_SUM_BITS = 11
"""``stem_sum_t``: the stem's sum over 9 taps and 3 colours of 32 levels."""
CODE_SUM_BITS = 6
"""``code_sum_t``: the shortcut's sum of four 4-bit codes, 0..60."""
SC_BITS = CODE_SUM_BITS
"""Bits a lane's shortcut sum takes in ``sc_sums`` (``sc_word_t``: :data:`LANES` of them a word)."""

COUNTER_BITS = {
    "stem_load_tables": (11, 7, 8, 8, 5),  # i (table beats), slot, base, first, i (parameter beats)
    "stem_load": (2, 11, 2, 10, 7),  # c, i, bank, addr, col
    "stem_compute": (13, 1, 2, 7, 10, 8, 2, 10),  # i, half, c, ox, p, base, r3, rq
    # i, half, g, col, r3, row_base, c3, col_base; 1x1: pr, pc, pbase, gr, gc
    "load_tile": (13, 1, 4, 7, 2, 9, 2, 9, 2, 2, 9, 2, 2),
    "store_tile": (12, 1, 11, 4),  # i, half, e, g
    "load_weight_tile": (5, 3, 3, 10, 4, 4, 4, 3),  # i, field, lane (parameters); i, slot, pass, g, lane (weights)
    # i, pass, p, length, groups_left, ox, top, left, r3, rq, c3, cq, p9r, p9c, pbase, first_group, at
    "compute_tile": (15, 5, 10, 11, 5, 7, 8, 8, 2, 9, 2, 9, 2, 2, 9, 4, 11),
    "store_pooled": (9,),  # i
    # layer, row tile, weight tile, oc0, first_row, dst; the weight tiles' layer, tile, row, beats; stem tile
    "FracNetImageNet": (5, 4, 7, 10, 8, 20, 5, 7, 4, 18, 14, 4),
}
"""Loop counters and address registers of ``hls/imagenet`` per function, in bits (what each counts up to): no
pipelined loop divides, every position, bank and address advances by one of these."""
COUNTER_UNIT = 12
"""The counter unit's width: counters are priced per bit from ``counter(width=12)``, as CIFAR-10's."""

INTERFACES = {"m_axi": 3, "s_axilite": 1, "fsm": 1}
"""``FracNetImageNet``'s AXI masters (``IMG``, ``WGT``, ``FMAP``), its AXI-lite ``CTRL`` and its state machines."""


def accelerator_units(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> list[UnitUse]:
    """The logic of ``hls/imagenet`` (``engines.h``) as instances of synthesised units, part by part.

    One instance of each engine and transfer serves all its call sites (``ALLOCATION limit=1``), so the memories of
    each ping-pong pair gain 2:1 multiplexers on their ports (read data and addresses; write data is shared).
    """
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm, formats.scale, formats.param
    u = Unit.of
    fmt = {"fm_w": fm.width, "fm_i": fm.integer}
    mux2, mux3, mux8 = u("mux", ways=2, width=1), u("mux", ways=3, width=1), u("mux", ways=8, width=1)
    epilogue = u(
        "imagenet_epilogue",
        **fmt,
        scale_w=scale.width,
        scale_i=scale.integer,
        param_w=param.width,
        param_i=param.integer,
        z_bits=SUM_BITS,
        s_bits=CODE_SUM_BITS,
    )
    stem_bn = stem_bn_unit(formats, STEM_SUM_BITS)
    param_bits = 16 + 3 * scale.width + 3 * param.width
    # one engine instance serves both arrays of a pair: read data and addresses (write data is shared)
    out_address, row_address = 11, 10
    ping_pong = (
        # compute_tile reads (read data), load_tile writes: the tiles are simple dual port, each port driven by one
        # engine, so their addresses need no multiplexer
        TILE_BANKS * CODE_BITS * 64
        + TAPS * 64  # compute_tile reads, load_weight_tile writes (simple dual port, as the tiles)
        + LANES * param_bits  # compute_tile reads the parameter registers
        + SLICES * (4 * LANES + 2 * out_address)  # store_tile reads, compute_tile writes
        + TILE_BANKS * (16 + 2 * row_address)  # stem_compute reads, stem_load writes
    )
    counter_bits = sum(sum(bits) for bits in COUNTER_BITS.values())
    return [
        UnitUse("PG XOR-popcounts (9 slots x 8 lanes x 2 planes)", u("xor_popcount", n=64), TAPS * LANES * 2),
        UnitUse(
            "PG slot sums and partial sums (8 lanes x 2 planes: nine slots, the acc add)",
            u("dot_sum", taps=TAPS, count_bits=POPCOUNT_BITS, acc_bits=SUM_BITS),
            LANES * 2,
        ),
        UnitUse(
            "PG slot routing (nine banks to nine slots, 2 planes x 64 bits: rows, then columns, 3:1 each)",
            mux3,
            2 * TAPS * 2 * 64,
        ),
        UnitUse("PG code planes (q2 from four planes, nine banks)", u("code_planes", width=64), TILE_BANKS),
        UnitUse("PG weights: slot 0 of a 1x1 layer of one group from bank 0 or 1 (2:1)", mux2, 64),
        UnitUse(
            "PG shortcut: each bank's byte at the shortcut's channel, 4 planes (8:1)",
            mux8,
            TILE_BANKS * CODE_BITS * LANES,
        ),
        UnitUse(
            "PG shortcut: those bytes routed to its 4 positions (2 rows x 3 banks, then 4 positions; 3:1)",
            mux3,
            (2 * 3 + 4) * CODE_BITS * LANES,
        ),
        UnitUse("PG shortcut: code sums (8 lanes)", u("shortcut_codes"), LANES),
        UnitUse("PG shortcut: sums of its pass or from sc_sums (2:1)", mux2, SC_BITS * LANES),
        UnitUse("PG gates (8 lanes)", u("pg_gate", sum_bits=SUM_BITS, threshold_bits=16), LANES),
        UnitUse("PG epilogues: scale, RPReLU, BN with res_scale (8 lanes)", epilogue, LANES),
        UnitUse("4-bit quantisers (8 PG + 16 stem lanes)", u("quantiser4", **fmt), LANES + STEM_LANES),
        UnitUse("PG pool sums (8 lanes, int64)", u("accumulator", in_bits=fm.width, acc_bits=64), LANES),
        UnitUse(
            "stem table sums (16 lanes x 9 entries, 3 colours)",
            u("adder_tree", inputs=TAPS, width=8, acc_bits=STEM_SUM_BITS),
            STEM_LANES,
        ),
        UnitUse("stem BN (16 lanes)", stem_bn, STEM_LANES),
        UnitUse(
            "stem BN: each lane's scale and shift of its half (2:1)", mux2, STEM_LANES * (scale.width + param.width)
        ),
        UnitUse("stem level counts (two 32-bit words a beat)", u("popcount", n=levels), 2),
        UnitUse("stem table addresses (9 taps)", u("stem_slot", levels=levels, windows=3), TAPS),
        UnitUse("stem window rows (three row banks, rotated)", u("read_column", width=16), 1),
        UnitUse("store: slices into plane words (2 of 4 planes)", mux2, 2 * 64),
        UnitUse("ping-pong: 2:1 multiplexers on the shared engines' memory ports", mux2, ping_pong),
        UnitUse(
            f"loop counters and addresses ({counter_bits} bits)",
            u("counter", width=COUNTER_UNIT),
            counter_bits / COUNTER_UNIT,
        ),
    ]


def _allowance(settings: CostSettings, index: int) -> dict[str, int]:
    return {
        f"{kind} x {count} (allowance)": count * settings.interface_allowance[kind][index]
        for kind, count in INTERFACES.items()
    }


def accelerator_luts(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, int]:
    """LUTs of ``hls/imagenet`` per part: its units (:func:`accelerator_units`), the LUTRAM of its arrays and the
    interface allowance (:attr:`CostSettings.interface_allowance`)."""
    settings = settings or CostSettings()
    luts = {k: v for k, v in part_totals(accelerator_units(formats, levels), "lut").items() if v}
    luts["LUTRAM (stem tables, pooled sums)"] = sum(a.luts for a in accelerator_arrays(formats, levels))
    return {**luts, **_allowance(settings, 0)}


def accelerator_ffs(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, int]:
    """Flip-flops of ``hls/imagenet`` per part: its units' pipeline registers, its register arrays and the
    interface allowance."""
    settings = settings or CostSettings()
    ffs = {k: v for k, v in part_totals(accelerator_units(formats, levels), "ff").items() if v}
    ffs.update({a.name: a.flip_flops for a in accelerator_arrays(formats, levels) if a.storage == "registers"})
    return {**ffs, **_allowance(settings, 1)}


def accelerator_dsps(formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32) -> dict[str, int]:
    """DSP48E2 of ``hls/imagenet`` per part, as yosys maps its units' multiplies
    (:func:`~fracbnn_lib.hw.cost_model.multiplier_check` sets them beside the ``dsp_per_multiply`` rule)."""
    return {k: v for k, v in part_totals(accelerator_units(formats, levels), "dsp").items() if v}


def table_units() -> list[Unit]:
    """Every unit this model prices at the format presets and 32 levels (what ``unit_costs.json`` holds)."""
    units = {use.unit for formats in FORMAT_PRESETS.values() for use in accelerator_units(formats, 32)}
    return sorted(units | {REGISTER_UNIT}, key=lambda unit: unit.key)


# --------------------------------------------------------------------------- totals


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``compute_cycles``, ``port_gb_per_s``, ``masters``, ``bram18``, ``estimated_units``, ``per_layer`` and
    ``release``). ``estimated_units`` lists units priced without synthesis (formats nobody committed, no yosys here).
    ``release``: the model's stated uncertainty. No ImageNet design's resources are reported, so it is the one
    implemented design the same units are held against, the release's CIFAR-10 accelerator
    (:func:`fracbnn_lib.hw.cifar10.cost.release_summary`: modelled beside the paper's figures, ``network`` says
    whose); :func:`~fracbnn_lib.hw.cost_model.budget_check` scales the figures by ``max(1, reported / modelled)``."""
    from ..cifar10.cost import release_summary

    settings = settings or CostSettings()
    loops, parts = _plan(levels, settings)
    cycles = sum(schedule_cycles(node, loops) for _, node in parts)
    ii_only = sum(schedule_cycles(node, loops, ii_only=True) for _, node in parts)
    fps = images_per_s(cycles, settings.clock_mhz)
    traffic = layer_traffic(loops)
    per_layer: dict[str, dict[str, int]] = {}
    for name, node in parts:
        per_layer[name] = {"cycles": schedule_cycles(node, loops), "compute_cycles": 0}
    for loop in loops:
        if loop.loop in ("pixels", "stem_pixels"):
            per_layer[loop.layer]["compute_cycles"] += loop.cycles
    for name, row in per_layer.items():
        moved = traffic.get(name, {"read": 0, "written": 0})
        row.update(dram_read_bytes=moved["read"], dram_written_bytes=moved["written"])
    masters = {}
    for name, moved in master_traffic(loops).items():
        peak = MASTERS[name] / 8 * settings.clock_mhz * 1e6
        total = moved["read"] + moved["written"]
        masters[name] = {
            "bits": MASTERS[name],
            "read_bytes": moved["read"],
            "written_bytes": moved["written"],
            "peak_gb_per_s": peak / 1e9,
            "average_gb_per_s": total * fps / 1e9,
            "bound_fps": peak / max(max(moved["read"], moved["written"]), 1),
        }
    arrays = accelerator_arrays(formats, levels)
    uses = accelerator_units(formats, levels)
    bram18 = sum(a.bram18 for a in arrays)
    return {
        "modelled": True,
        "clock_mhz": settings.clock_mhz,
        "cycles": cycles,
        "cycles_ii_only": ii_only,
        "fps": fps,
        "lut": sum(accelerator_luts(formats, levels, settings).values()),
        "ff": sum(accelerator_ffs(formats, levels, settings).values()),
        "dsp": sum(accelerator_dsps(formats, levels).values()),
        "bram36": math.ceil(bram18 / 2),
        "lutram": sum(a.luts for a in arrays),
        "on_chip_bits": sum(a.bits for a in arrays),
        "dram_bytes_per_image": sum(row["read"] + row["written"] for row in traffic.values()),
        "bandwidth_bound_fps": min(master["bound_fps"] for master in masters.values()),
        "loops": loop_summary(loops),
        "not_modelled": [],
        "compute_cycles": sum(row["compute_cycles"] for row in per_layer.values()),
        "port_gb_per_s": {name: master["peak_gb_per_s"] for name, master in masters.items()},
        "masters": masters,
        "bram18": bram18,
        "estimated_units": sorted({use.unit.key for use in uses if use.cost.estimated}),
        "per_layer": per_layer,
        "release": {
            "network": "cifar10",
            **{
                key: value
                for key, value in release_summary().items()
                if key in ("lut", "dsp", "bram36", "paper", "ratio")
            },
        },
    }
