"""The cost model's shared parts: the device, the clock, the loop, array and unit records, and the arithmetic of
cycles, initiation intervals and BRAM.

Every figure is modelled, never measured: an accelerator's cost module (:mod:`.cifar10.cost`,
:mod:`.imagenet.cost`) lists its pipelined loops (:class:`LoopCost`), its on-chip arrays (:class:`ArrayCost`)
and its logic as instances of synthesised units (:class:`UnitUse`: the units' LUTs, flip-flops and DSPs from
yosys, :mod:`.units`, :mod:`.synthesis`) from the layer table its C++ runs. The tests hold each loop entry's
trips, its accesses per memory bank and iteration (:class:`~.csim_build.PortUse`) and the dependences carried
through memory to the C-simulation's counting build (``hls/common/hls_support.h``), entry by entry, and
each loop's II to the one those measurements imply (:func:`implied_iis`).

**Initiation intervals.** A loop entry's II is the largest of

- for each declared memory it touches, ``ceil(accesses to one bank in one iteration / ports per bank)``
  (measured: ``port_use``);
- the bounds the model states because the counting build cannot see them (:class:`IIBound`): a recurrence
  (an accumulator read and written every iteration, with the latency of its loop-carried path over its
  distance), or a dependence the tool assumes where it cannot prove the addresses differ.

One synthesised loop has one schedule, so every entry of a loop runs at the largest II among its entries
(:func:`with_loop_iis`): on ImageNet one ``pixels`` loop serves 3x3 and 1x1, stride 1 and 2 layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from .csim_build import LoopRecord, PortUse
from .fixed_point import Formats
from .synthesis import UnitCost, unit_cost
from .units import Unit, dsp_per_multiply

CLOCK_MHZ = 200.0
"""The accelerators' clock: ``CLOCK_MHZ`` of ``hls/common/clock.mk``, which the HLS target (``project.tcl``) and the
block design's ``pl_clk0`` (``bitstream/block_design.tcl``) read too (a test holds them equal). 200 MHz, not the
paper's 250: the release's own block design ran its IP at 200 MHz; the paper's FPS implies 253 MHz for the
release's cycles, a rate its block design never ran at; and the Ultra96v2's part is the slowest speed grade (-1)
with the modelled design at ~74% of its LUTs in popcount trees, where 4 ns rarely closes (``clock.mk``)."""

SUMMARY_KEYS = (
    "modelled",
    "clock_mhz",
    "cycles",
    "cycles_ii_only",
    "fps",
    "lut",
    "ff",
    "dsp",
    "bram36",
    "lutram",
    "on_chip_bits",
    "dram_bytes_per_image",
    "bandwidth_bound_fps",
    "loops",
)
"""The keys every accelerator's ``cost_summary`` returns, hence ``metrics.json`` ``hls.cost`` on both networks
(a figure an accelerator's model does not price yet is ``None``, and listed in ``not_modelled``). ``loops``:
per loop label, its trips over all entries, its II and what bounds the II (:func:`loop_summary`)."""

ZU3EG = {"lut": 70_560, "ff": 141_120, "dsp": 360, "bram36": 216, "lutram": 28_800}
"""The Ultra96v2's xczu3eg-sbva484-1-e (``lutram``: the LUTs of its SLICEMs, 1.8 Mbit of distributed RAM)."""
BUDGET = 0.8
"""Share of each ZU3EG resource the model allows (room for routing, the AXI interconnect, timing)."""


class IIBound(NamedTuple):
    """A lower bound on a loop's II that the model states (the counting build measures only port pressure).

    ``reason`` says what it is and why (``"dependence: ..."``); ``array``: the memory a dependence runs through
    (empty for registers), which must cover every dependence the counting build measures through memory.
    """

    ii: int
    reason: str
    array: str = ""


@dataclass(frozen=True)
class LoopCost:
    """One entry into a pipelined loop: the layer, the loop's label in the C++, trips, II and fill depth.

    ``bound``: what sets the II (``"port: tile 548 accesses/bank, 2 ports"``, ``"dependence: ..."``);
    ``port_use``: per declared memory the entry touches, the most accesses to one bank in one iteration and its
    ports per bank; ``carried``: ``(array, distance)`` of each dependence carried through memory (both as the
    counting build measures them); ``stated``: the bounds the model states beside them (:class:`IIBound`).
    ``overlap``: cycles of this entry that run at the same time as the entries before it (a ``DATAFLOW`` region:
    a consumer keeping pace with its producer), so not counted again: ``cycles = trips * II + depth - overlap``.
    """

    layer: str
    loop: str
    trips: int
    ii: int = 1
    depth: int = 0
    bound: str = ""
    port_use: tuple[PortUse, ...] = ()
    carried: tuple[tuple[str, int], ...] = ()
    stated: tuple[IIBound, ...] = ()
    overlap: int = 0

    @property
    def cycles_ii_only(self) -> int:
        return self.trips * self.ii - self.overlap

    @property
    def cycles(self) -> int:
        return self.trips * self.ii + self.depth - self.overlap


def port_bound(use: PortUse) -> str:
    """``"port: fmap 5 accesses/bank, 2 ports"``: the reason a memory's ports give an II."""
    accesses = f"{use.accesses} access{'es' if use.accesses != 1 else ''}/bank"
    return f"port: {use.array} {accesses}, {use.ports} port{'s' if use.ports != 1 else ''}"


def entry_ii(port_use: Sequence[PortUse], stated: Sequence[IIBound] = ()) -> tuple[int, str]:
    """The II one loop entry needs and what bounds it: the largest of its memories' ``ceil(accesses / ports)``
    and its stated bounds (ties: the memory used most, then the first listed)."""
    candidates = [(use.ii, use.accesses / use.ports, port_bound(use)) for use in port_use if use.ports]
    candidates += [(bound.ii, float(bound.ii), bound.reason) for bound in stated]
    if not candidates:
        return 1, "nothing: no on-chip memory or recurrence in the loop"
    ii, _, reason = max(candidates, key=lambda candidate: candidate[:2])
    return max(1, ii), reason


def with_loop_iis(loops: Sequence[LoopCost]) -> list[LoopCost]:
    """Every entry at its loop's II: the largest any entry of the same loop label needs (one synthesised loop, one
    schedule), its ``bound`` naming the entry's layer where entries differ."""
    worst: dict[str, tuple[int, str, str]] = {}
    iis: dict[str, set[int]] = {}
    for loop in loops:
        ii, reason = entry_ii(loop.port_use, loop.stated)
        iis.setdefault(loop.loop, set()).add(ii)
        if loop.loop not in worst or ii > worst[loop.loop][0]:
            worst[loop.loop] = (ii, reason, loop.layer)
    differ = {name for name, values in iis.items() if len(values) > 1}
    out = []
    for loop in loops:
        ii, reason, layer = worst[loop.loop]
        if loop.loop in differ:
            reason = f"{reason} (in {layer}: one schedule serves every entry)"
        out.append(replace(loop, ii=ii, bound=reason))
    return out


def loop_log(loops: Iterable[LoopCost]) -> list[LoopRecord]:
    """Per entry, what the counting build of the C-simulation logs for one image (trips, port use, carried
    dependences), as the model predicts it."""
    return [
        LoopRecord(loop.loop, loop.trips, tuple(sorted(loop.port_use)), tuple(sorted(loop.carried))) for loop in loops
    ]


def implied_iis(records: Sequence[LoopRecord], loops: Sequence[LoopCost]) -> dict[str, int]:
    """Per loop label, the II that the measured ``records`` imply with the bounds the model ``loops`` state: the
    largest over the loop's entries of ``ceil(accesses / ports)`` and of the stated bounds (at least 1)."""
    stated: dict[str, list[IIBound]] = {}
    for loop in loops:
        stated.setdefault(loop.loop, []).extend(loop.stated)
    iis: dict[str, int] = {}
    for record in records:
        need = max([1, *(use.ii for use in record.port_use), *(bound.ii for bound in stated.get(record.loop, []))])
        iis[record.loop] = max(iis.get(record.loop, 1), need)
    return iis


def unstated_dependences(records: Sequence[LoopRecord], loops: Sequence[LoopCost]) -> list[tuple[str, str, int]]:
    """``(loop, array, distance)`` for each dependence carried through memory that the counting build measured and
    no stated bound of the model covers (must be empty)."""
    covered: dict[str, set[str]] = {}
    for loop in loops:
        covered.setdefault(loop.loop, set()).update(bound.array for bound in loop.stated if bound.array)
    return [
        (record.loop, array, distance)
        for record in records
        for array, distance in record.carried
        if array not in covered.get(record.loop, set())
    ]


def loop_summary(loops: Iterable[LoopCost]) -> dict[str, dict[str, Any]]:
    """``metrics.json`` ``hls.cost.loops``: per loop label (in order of first entry) its trips over all entries,
    its II and what bounds it."""
    summary: dict[str, dict[str, Any]] = {}
    for loop in loops:
        row = summary.setdefault(loop.loop, {"trips": 0, "ii": loop.ii, "bound": loop.bound})
        row["trips"] += loop.trips
        if loop.ii > row["ii"]:
            row.update(ii=loop.ii, bound=loop.bound)
    return summary


def total_cycles(loops: Iterable[LoopCost]) -> tuple[int, int]:
    """(cycles with fills, cycles at II only) of a list of loop entries."""
    loops = list(loops)
    return sum(loop.cycles for loop in loops), sum(loop.cycles_ii_only for loop in loops)


def images_per_s(cycles: float, clock_mhz: float = CLOCK_MHZ) -> float:
    """Images per second of a design taking ``cycles`` per image at ``clock_mhz``, one image at a time."""
    return clock_mhz * 1e6 / cycles


@dataclass(frozen=True)
class ArrayCost:
    """One on-chip array: ``banks`` banks of ``width`` bits x ``depth`` words after partitioning, its storage
    (``"bram"``, ``"lutram"`` or ``"registers"``) and, in BRAM, its ports: ``"tdp"`` (true dual port, two
    read/write ports: ``ram_t2p``), ``"sdp"`` (simple dual port, one read and one write port: ``ram_s2p``) or
    ``"rom"`` (read-only, one or two read ports: ``rom_1p``/``rom_2p``, built in simple-dual-port mode)."""

    name: str
    banks: int
    width: int
    depth: int
    storage: str
    ports: str = "tdp"

    @property
    def bits(self) -> int:
        return self.banks * self.width * self.depth

    @property
    def bram18(self) -> int:
        return self.banks * bram18_per_bank(self.width, self.depth, self.ports) if self.storage == "bram" else 0

    @property
    def luts(self) -> int:
        return self.banks * math.ceil(self.depth / 64) * self.width if self.storage == "lutram" else 0

    @property
    def flip_flops(self) -> int:
        """Registers: the bits times the flip-flops per bit of the synthesised ``register`` unit (one)."""
        if self.storage != "registers":
            return 0
        return round(self.bits * unit_cost(REGISTER_UNIT).ff / REGISTER_UNIT.params[0][1])


REGISTER_UNIT = Unit("register", (("width", 64),))
"""A 64-bit register stage: what a register array's flip-flops are priced from, per bit."""

BRAM18_SHAPES = {
    "tdp": ((1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
    "sdp": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
}
"""RAMB18E2 aspect ratios (depth x width) per port mode (UG573): 36-bit ports exist only in simple dual port
(one port reads, the other writes), so a true-dual-port bank is at most 18 bits wide. A RAMB36E2 is two
RAMB18E2 (1K x 36 true dual port, 512 x 72 simple dual port), so counting BRAM18 loses nothing."""


def bram18_per_bank(width: int, depth: int, ports: str) -> int:
    """BRAM18 for one ``width`` x ``depth`` bank in port mode ``ports`` (``"tdp"``, ``"sdp"`` or ``"rom"``): ``width``
    over the widest aspect ratio of the mode whose depth holds ``depth`` words (:data:`BRAM18_SHAPES`)."""
    shapes = BRAM18_SHAPES["sdp" if ports == "rom" else ports]
    for words, bits in shapes:
        if depth <= words:
            return math.ceil(width / bits)
    return math.ceil(depth / 16384) * width


def stem_bn_unit(formats: Formats, sum_bits: int) -> Unit:
    """The stem's batch norm on both accelerators: ``fm(scale * sum + shift)`` on a ``sum_bits``-bit level sum
    (the synthesised ``mac_round_sat`` at ``formats``)."""
    scale, param, fm = formats.scale, formats.param, formats.fm
    return Unit.of(
        "mac_round_sat",
        a_w=scale.width,
        a_i=scale.integer,
        b_bits=sum_bits,
        c_w=param.width,
        c_i=param.integer,
        out_w=fm.width,
        out_i=fm.integer,
    )


@dataclass(frozen=True)
class UnitUse:
    """``count`` instances of a synthesised ``unit`` in one part of a design (``part`` names it for the tables)."""

    part: str
    unit: Unit
    count: float

    @property
    def cost(self) -> UnitCost:
        return unit_cost(self.unit)

    def amount(self, resource: str) -> float:
        """``count`` x the unit's ``resource`` (``"lut"``, ``"ff"`` or ``"dsp"``)."""
        return self.count * getattr(self.cost, resource)


def part_totals(uses: Iterable[UnitUse], resource: str) -> dict[str, int]:
    """Per part, the rounded total of ``resource`` over its unit uses (parts in first-use order)."""
    totals: dict[str, float] = {}
    for use in uses:
        totals[use.part] = totals.get(use.part, 0.0) + use.amount(resource)
    return {part: round(value) for part, value in totals.items()}


def multiplier_check(uses: Iterable[UnitUse]) -> list[dict[str, Any]]:
    """Per unit with multiplies: DSP48E2 of yosys's mapping beside :func:`dsp_per_multiply`'s rule on its
    variable multiplies (a constant operand's multiply is not in the rule; yosys may still map it to a DSP)."""
    rows = {}
    for use in uses:
        if use.unit in rows or not (use.unit.multiplies() or use.cost.dsp):
            continue
        rule = sum(dsp_per_multiply(a, b) for a, b in use.unit.multiplies())
        rows[use.unit] = {"unit": use.unit.key, "yosys_dsp": use.cost.dsp, "rule_dsp": rule}
    return list(rows.values())


BUDGET_RESOURCES = ("lut", "ff", "dsp", "bram36")
"""The resources every accelerator's check covers; ImageNet's adds ``"lutram"`` (its distributed RAM)."""


class Budget(NamedTuple):
    """One resource against the allowance: ``modelled``, ``allowed`` (80% of the ZU3EG), ``fits``; then the
    modelled figure times the model's stated uncertainty (``uncertainty``: how far the same model falls
    below the one implemented design we know, the release's, never below 1) and ``fits_with_uncertainty``
    (``None`` where no implemented figure exists to state it)."""

    modelled: float
    allowed: float
    fits: bool
    uncertainty: float | None
    fits_with_uncertainty: bool | None


def budget_check(summary: Mapping[str, Any], resources: Sequence[str] = BUDGET_RESOURCES) -> dict[str, Budget]:
    """Per resource the model prices, of ``resources`` (ImageNet's check adds ``"lutram"``): :class:`Budget`
    against 80% of the ZU3EG.

    The uncertainty of a resource is ``max(1, reported / modelled)`` for the release's design
    (``summary["release"]``: the model's figures for the release's structure beside the paper's
    post-implementation ones), so the fit holds *with* it only if the design fits even when the model
    under-counts it as much as it under-counts the release's.
    """
    release = summary.get("release") or {}
    reported = release.get("paper") or {}
    rows = {}
    for name in resources:
        if summary.get(name) is None:
            continue
        allowed = BUDGET * ZU3EG[name]
        paper = reported.get("bram" if name == "bram36" else name)
        factor = max(1.0, paper / release[name]) if paper and release.get(name) else None
        within = None if factor is None else summary[name] * factor <= allowed
        rows[name] = Budget(summary[name], allowed, summary[name] <= allowed, factor, within)
    return rows


def bandwidth_bound_fps(dram_bytes: int, port_bits: int, clock_mhz: float) -> float:
    """Images/s if one AXI port of ``port_bits`` moved every DRAM byte at one beat a cycle: ``bytes/s / bytes``."""
    return port_bits / 8 * clock_mhz * 1e6 / dram_bytes


def cycles_of_ns(ns: float, clock_mhz: float) -> int:
    """Whole clock cycles covering ``ns`` nanoseconds at ``clock_mhz``."""
    return math.ceil(ns * clock_mhz / 1000 - 1e-9)
