"""The modelled hardware cost of the CIFAR-10 accelerator, and of the release's design beside it.

Every figure here is an analytical model computed from the layer table the C++ runs
(:data:`~fracbnn_lib.hw.layout.PG_LAYERS`), never a measurement: only a synthesis report
(:mod:`fracbnn_lib.hw.report`) or a board measures.

**Cycles.** :func:`accelerator_loops` lists the pipelined loops of ``hls/cifar10`` in the order the
top function runs them, one :class:`LoopCost` per pipeline entry: its trips, its initiation interval
(II) with what bounds it, and the pipeline's fill (``depth``, a setting: csynth reports the real one)::

    cycles_ii_only = trips * II - overlap          cycles = trips * II + depth - overlap

(``overlap``: the stem's cycles under the image load's, the two loops of one ``DATAFLOW`` region.) The II is
derived, not assumed (:mod:`fracbnn_lib.hw.cost_model`): from the storage each array is declared
with (``hls_support.h``: a bank per lane, row bank or class; 2 ports per bank of true dual-port RAM, 1 of
a ROM) and the accesses per bank and iteration each loop makes, ``ceil(accesses / ports)``, with the
recurrences stated beside it (the accumulators of ``GLOBAL_POOL`` and ``FC`` are registers: one add in the
loop-carried path; the stem's colour sums wait a colour, 1,024 iterations, in ``stem_acc``). The counting
build of the C-simulation (:func:`~fracbnn_lib.hw.cifar10.csim.loop_counts`) logs the same entries with their
measured accesses per bank, and the tests hold the two equal entry by entry. :func:`release_loops` models the release's
``xcel-cifar10`` from its loop bounds (II = 1, no fill): 90,307 cycles per image.

**On-chip memory** (:func:`accelerator_arrays`): each array's banks after partitioning and the
storage the HLS binds them to. A BRAM bank of ``width`` x ``depth`` takes ``ceil(width / w)``
BRAM18 at the widest aspect ratio ``d x w`` with ``depth <= d`` that its port mode allows (UG573: 512 x
36 only in simple dual port and for ROMs; a true-dual-port bank, ``ram_t2p``, is at most 1K x 18, so a
64-bit plane bank takes 4 BRAM18, not 2); a LUTRAM bank ``ceil(depth / 64) * width`` LUTs (a RAM64X1S
per bit and 64 words); registers one flip-flop per bit.

**Logic** (:func:`accelerator_units`): every operator of the C++ as instances of a *unit*, a small
Verilog module synthesised alone by yosys (:mod:`fracbnn_lib.hw.units`; its LUTs, flip-flops and DSP48E2
are committed in ``fracbnn_lib/hw/unit_costs.json``, :mod:`fracbnn_lib.hw.synthesis`): XOR-popcounts,
the lanes' tap sums and gates, the fixed-point epilogue at the export's formats (``scale z + shift``,
RPReLU's slope on negatives, ``bn_scale (y + r) + bn_shift``, each rounded and saturated to ``fm_t``),
the quantisers, the window and bank multiplexers, the multiplexers in front of memories that one
function instance shares (the ping-pong planes, the residual stream), the pools, the FC layer and the
loop counters. :func:`accelerator_luts`, :func:`accelerator_ffs` and :func:`accelerator_dsps` sum them
per part; LUTs add the LUTROM of :func:`accelerator_arrays`, flip-flops its registers. The AXI adapters
and the state machines are the one allowance (:attr:`CostSettings.interface_allowance`), not synthesised.

**The model held against the release** (:func:`release_summary`): the release's ``xcel-cifar10``
(its arrays, partitions, SWAR popcounts, per-lane BN chain, line buffers, multiplexers, as read from its
sources) priced by the same units: beside the paper's post-implementation figures (51,444 LUT, 126 DSP,
212 BRAM36) the model counts 59,639 LUT (reported / modelled 0.86), 122 DSP (1.03) and 260 BRAM36 (0.82;
the release's three buffers alone come to csynth's 216 BRAM18 exactly). That gap is the model's stated
uncertainty: :func:`~fracbnn_lib.hw.cost_model.budget_check` holds our design against 80% of the ZU3EG
with its figures also scaled by ``max(1, reported / modelled)``. The release maintainer's own csynth
estimate is 193,380 LUT (an HLS estimate, 3.8x the implemented design).

**The design space** (:class:`Design`, :func:`design_options`, issue 22): the design before (16 lanes x 9
taps x 2 planes of 64-bit XOR-popcounts, the image load then the stem) came to 69,398 LUT, 98% of the
device against an allowance of 56,448, at 20,612 cycles (9,703 images/s at 200 MHz). Each alternative is
priced by the same units and loop model: tighter popcounts (compressor trees, 65,366), one popcount set for
both planes or 8 lanes (they fit at about 6,200-6,400 images/s), 12 lanes (neither), shared LSB engines
(their weight multiplexers cost more than they save), the stem beside the load (17,573 cycles, the LUTs
unchanged), and popcounts of 32-bit slices: a 64-channel conv takes two iterations per pixel, but the 32- and
16-channel convs, 88% of the tile-pixels, keep one, and a slice's XOR-popcount with its weight-slice select is 78
LUTs against 137. Built (:data:`BUILT`): the slices and the stem beside the load, 52,231 LUT (93% of the
allowance, with the stated uncertainty too), 26,992 FF, 116 DSP, 70 BRAM36, 18,895 cycles: 10,585 images/s at
200 MHz (10,000 need 189 MHz). The fastest structure that fits, and the only one at >= 10,000 images/s.

**A gate that pays** (:func:`gate_sharing`): the design computes both bit planes for all 16 lanes
every cycle, so the precision gate saves nothing. With ``E < 16`` LSB engines per tile, a pixel
whose gate opens ``n`` lanes would take ``max(1, ceil(n / E))`` cycles; from the measured histogram
of open lanes (:attr:`~fracbnn_lib.hw.reference.ReferenceTrace.open_lanes`) the model prices each
``E`` in cycles and LUTs. Sharing saves ``(16 - E) x 9`` popcounts and tap sums but needs, per engine, a
16:1 multiplexer over the lanes' nine 64-bit weight words, more than the popcounts it replaces, and with
about half the lanes open most pixels take several cycles, so the design keeps 16 (the table of
:func:`gate_sharing` shows both for a checkpoint's measured gate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...paper import paper_value
from ..cost_model import (
    CLOCK_MHZ,
    REGISTER_UNIT,
    ArrayCost,
    IIBound,
    LoopCost,
    PortUse,
    UnitUse,
    bandwidth_bound_fps,
    budget_check,
    cycles_of_ns,
    images_per_s,
    loop_summary,
    part_totals,
    stem_bn_unit,
    total_cycles,
    with_loop_iis,
)
from ..fixed_point import FORMAT_PRESETS, Formats, resolve_formats
from ..units import Unit
from .layout import CLASSES, COLOURS, FC_IN, IMAGE_SIZE, OC_TILE, PARAM_ARRAYS, PG_LAYERS, STEM_CHANNELS, TAPS

TABLE_FORMATS = FORMAT_PRESETS
"""The format sets whose units ``unit_costs.json`` holds: the presets (other formats are synthesised on the spot
where yosys is installed, or estimated: :func:`fracbnn_lib.hw.synthesis.unit_cost`)."""

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

    ``clock_mhz``: the accelerators' clock (:data:`~fracbnn_lib.hw.cost_model.CLOCK_MHZ`, ``hls/common/clock.mk``).
    ``depth``: pipeline fill per entry, per loop: the stages between the loop's first read and its last
    write at 5 ns (4.375 ns after the HLS target's 12.5% uncertainty: about six LUT levels, a BRAM read, or
    one DSP48E2 stage; multiplies wider than 27 x 18 cascade two or four DSPs over three stages; each
    rounding and saturation into ``fm_t`` is a wide add and compare, one stage). csynth reports the real
    depths. ``dram_latency_ns``: from a burst's address to its first beat on the Zynq UltraScale+ HP ports
    (about 200 ns), paid by the loops on an AXI master (``LOAD_IMAGE``, ``STORE``) on top of their depth.
    ``interface_allowance``: (LUT, FF) of what the model does not synthesise, per kind, counted once per
    instance (:data:`INTERFACES`): an ``m_axi`` bundle's adapter, the ``s_axilite`` control adapter and
    the state machines of the top function and its loops. An allowance, not a synthesis: the order of
    the adapters HLS tools report for a 64-bit bundle with their default 16-beat bursts and outstanding
    requests, and a one-hot FSM of a few hundred states; a csynth report (``fracbnn hls-report``)
    replaces it.
    """

    clock_mhz: float = CLOCK_MHZ
    depth: Mapping[str, int] = field(
        default_factory=lambda: {
            # the burst's read beat 1, the 32-level popcount 1, the bank write 1
            "LOAD_IMAGE": 3,
            # bank read 2, window and slot 1, LUTROM 1, 9-tap sum 1, colour sum 1, scale * z 3, round 1, quantise
            # and pack 1, write 1
            "STEM": 12,
            "TILE_PARAMS": 3,  # ROM address 1, read 1, register shift 1
            # plane read 2, rotation and XOR 1, 64-bit popcount 2, 9-tap sum 1, gate and z 1, then three products
            # each multiply 3 + round into fm_t 1 (scale * z + shift, y * slope, bn_scale * (y + r) + bn_shift)
            # with the residual add 1 between, quantise and pack 1, write 1: 22
            "PG_PIXELS": 22,
            "POOL": 6,  # four reads over the II's 3 cycles, data 1, 4-input add 1, round into fm_t 1, write 1
            "CONCAT": 3,  # read 2, write 1
            "GLOBAL_POOL": 4,  # read 2, add 1, mean (shift) rounded into fm_t 1
            "FC": 6,  # LUTROM read 1, 26 x 28 multiply in two DSPs 3, 61-bit accumulate 1, mean shift 1
            "STORE": 5,  # logit rounding 1, fixed-to-float 3, write beat 1
        }
    )
    dram_latency_ns: float = 200.0
    interface_allowance: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: {"m_axi": (1_000, 1_500), "s_axilite": (300, 400), "fsm": (300, 300)}
    )

    @property
    def dram_latency(self) -> int:
        """The DRAM burst latency in cycles at ``clock_mhz``."""
        return cycles_of_ns(self.dram_latency_ns, self.clock_mhz)


DRAM_LOOPS = ("LOAD_IMAGE", "STORE")
"""The loops on an AXI master: their fill adds the DRAM latency (:attr:`CostSettings.dram_latency`)."""

MAX_CHANNELS = 64
"""Channels per packed word (``typedefs.h``)."""


@dataclass(frozen=True)
class Design:
    """A structure of the CIFAR-10 accelerator the model can price (:func:`design_options`); :data:`BUILT` is the one
    ``hls/cifar10`` implements, the one the counting build of the C-simulation is held to.

    ``lanes``: output channels per PG tile (each lane one channel's popcounts, tap sums, gate and epilogue; the
    stem, pools and buffers keep 16 lanes). ``slice_bits``: channels one XOR-popcount counts per cycle: a
    64-channel word takes ``64 / slice_bits`` pipeline iterations per pixel, the partial sums accumulating in
    registers (``cin <= slice_bits`` layers take one). ``shared_planes``: the MSB and LSB planes through one set
    of popcounts, one after the other (two iterations per pixel). ``lsb_engines``: LSB popcount sets per tile
    (``None``: one per lane); fewer are shared by the lanes whose gate opened (:func:`gate_sharing`: data-dependent
    cycles). ``popcount``: ``"adder"`` (``popcount_bits`` as a sum, :func:`~fracbnn_lib.hw.units.xor_popcount`) or
    ``"compressor"`` (a tree of full adders and 6:3 counters, :func:`~fracbnn_lib.hw.units.compressor_popcount`;
    64-bit slices only). ``fused_stem``: the stem runs colour-major beside the image load, the two loops in one
    ``DATAFLOW`` region joined by a FIFO of level counts (else: the load, then a pixel-major stem).
    """

    lanes: int = OC_TILE
    slice_bits: int = 32
    shared_planes: bool = False
    lsb_engines: int | None = None
    popcount: str = "adder"
    fused_stem: bool = True

    @property
    def slices(self) -> int:
        """Slices of a 64-channel word."""
        return MAX_CHANNELS // self.slice_bits

    @property
    def lsb_sets(self) -> int:
        """LSB popcount sets per tile (0 with shared planes: the MSB set serves both)."""
        return 0 if self.shared_planes else (self.lanes if self.lsb_engines is None else self.lsb_engines)

    def passes(self, cin: int) -> int:
        """Pipeline iterations per output pixel of a PG conv with ``cin`` input channels."""
        return math.ceil(cin / self.slice_bits) * (2 if self.shared_planes else 1)

    @property
    def multi_pass(self) -> bool:
        """Whether some PG conv takes several iterations per pixel (its partial sums accumulate in registers)."""
        return any(self.passes(layer.cin) > 1 for layer in PG_LAYERS)


BUILT = Design()
"""What ``hls/cifar10`` implements: 16 lanes, MSB and LSB popcounts of 32-bit slices (a 64-channel conv takes two
iterations per pixel), the stem beside the image load."""
BEFORE = Design(slice_bits=64, fused_stem=False)
"""The design before issue 22's fit: 64-bit popcounts (one iteration per pixel), the image load then the stem."""
STEM_LAG = IMAGE_SIZE + 1
"""Iterations the colour-major stem runs behind the image load: pixel ``(r, c)`` waits for word ``(r + 1, c + 1)``."""
STEM_ACC_BITS = 16
"""``stem_sum_t`` (``int16_t``): a pixel's stem sum over the colours so far, per lane (``stem_acc``)."""
LEVEL_FIFO_DEPTH = 64
"""Depth of the FIFO of level counts between the image load and the stem (``fracnet.cc``)."""


# --------------------------------------------------------------------------- cycles


def _planes(layer_index: int) -> tuple[str, str]:
    """The (input, output) plane pair of PG layer ``layer_index``: conv1 of a block reads ``_a`` and writes ``_b``,
    conv2 reads ``_b`` and writes ``_a`` (``fracnet.cc``; the stem writes ``_a``)."""
    return ("a", "b") if layer_index % 2 == 0 else ("b", "a")


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """The pipelined loops of ``hls/cifar10`` (:data:`BUILT`) for one image, one entry each, in execution order
    (:func:`design_loops`)."""
    return design_loops(BUILT, levels, settings)


def design_loops(design: Design, levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """The pipelined loops of ``hls/cifar10`` for one image, one entry each, in execution order.

    ``LOAD_IMAGE`` (3 x 32 x 32 words, one level count each into the FIFO ``level_fifo``) and, in the same
    ``DATAFLOW`` region, ``STEM`` (colour-major: one colour of one pixel per cycle, 33 iterations behind the
    load, so 3 x 32 x 32 + 33 trips, all but 33 of them under the load's: ``overlap``); per output tile of a PG
    conv ``TILE_PARAMS`` (the tile's weights and parameters into registers, 16 cycles) and ``PG_PIXELS`` over its
    ``h_out^2`` output pixels (stride-2 convs at output resolution), two iterations per pixel where the conv
    has 64 input channels (32-bit slices); before each stride-2 block ``POOL`` (II 3: four reads and a write
    per dual-port lane bank) and ``CONCAT``; then ``GLOBAL_POOL`` (4 tiles x 64 pixels), ``FC`` (64 channels, 10
    classes at once) and ``STORE`` (10 logits). That is :data:`BUILT`; another ``design`` (:class:`Design`) is
    priced the same way (the counting build holds :data:`BUILT` only).

    Each entry carries the accesses per bank and iteration of every memory it touches (``port_use``, what the
    counting build measures), the bounds stated beside them and the II they give, with its reason.
    """
    settings = settings or CostSettings()
    depth = settings.depth
    t2p, rom = 2, 1  # ports per bank: true dual-port BRAM; single-port ROM (BRAM or LUTRAM); a FIFO: 1 per side

    def loop(layer: str, name: str, trips: int, uses: tuple[PortUse, ...], *stated: IIBound, extra: int = 0):
        fill = depth[name] + extra + (settings.dram_latency if name in DRAM_LOOPS else 0)
        return LoopCost(layer, name, trips, 1, fill, port_use=uses, stated=stated)

    registers = "dependence: {} accumulates in registers: one add in the loop-carried path"
    words = COLOURS * IMAGE_SIZE * IMAGE_SIZE
    if design.fused_stem:
        stem_acc = IIBound(
            1,
            f"dependence: stem_acc[k][pixel] is read a colour ({IMAGE_SIZE**2:,} iterations) after it is written, "
            f"far beyond the pipeline's depth",
            "stem_acc",
        )
        stem = loop(
            "conv1",
            "STEM",
            words + STEM_LAG,
            (  # the FIFO; a LUTROM per lane and tap; the colour sums; the output row's bank; a lane bank of fmap
                PortUse("level_fifo", 1, 1),
                PortUse("conv1_level_dot", 1, rom),
                PortUse("stem_acc", 2, t2p),
                PortUse("msb_a", 2, t2p),
                PortUse("lsb_a", 2, t2p),
                PortUse("fmap", 1, t2p),
            ),
            stem_acc,
            IIBound(1, "no memory: the level counts of the two rows above shift through registers (2 x 32)"),
        )
        loops = [
            loop("input", "LOAD_IMAGE", words, (PortUse("level_fifo", 1, 1),)),
            replace(stem, carried=(("stem_acc", IMAGE_SIZE**2),), overlap=words),
        ]
    else:
        loops = [
            loop("input", "LOAD_IMAGE", words, (PortUse("image_buf", 1, t2p),)),
            loop(
                "conv1",
                "STEM",
                words,
                (  # per colour bank 2 reads (middle, right column); a LUTROM per lane and tap; the output row's bank
                    PortUse("image_buf", 2, t2p),
                    PortUse("conv1_level_dot", 1, rom),
                    PortUse("msb_a", 2, t2p),
                    PortUse("lsb_a", 2, t2p),
                    PortUse("fmap", 1, t2p),
                ),
                IIBound(1, registers.format("z[k] (the three colours' sums)")),
            ),
        ]
    accumulate = 1 if design.multi_pass else 0  # the partial sums' add: one more stage
    for index, layer in enumerate(PG_LAYERS):
        if layer.stride == 2:
            pooled = (layer.cin // OC_TILE) * layer.h_out**2
            loops += [  # per lane bank: POOL four reads and a write, CONCAT one of each
                loop(layer.block, "POOL", pooled, (PortUse("fmap", 5, t2p),)),
                loop(layer.block, "CONCAT", pooled, (PortUse("fmap", 2, t2p),)),
            ]
        read, write = _planes(index)
        params = ("pg_weight", "pg_threshold", "pg_scale", "pg_shift", "pg_slope", "pg_bn_scale", "pg_bn_shift")
        tile_params = tuple(PortUse(name, 1, rom) for name in params)  # one word per lane bank, one per array
        pixels = (  # input planes: 2 reads per row bank (middle, right column); output planes and fmap: read + write
            *(PortUse(f"{plane}_{side}", 2, t2p) for side in (read, write) for plane in ("msb", "lsb")),
            PortUse("fmap", 2, t2p),
        )
        for _ in range(math.ceil(layer.cout / design.lanes)):
            loops += [
                loop(layer.name, "TILE_PARAMS", max(design.lanes, TAPS), tile_params),
                loop(layer.name, "PG_PIXELS", layer.h_out**2 * design.passes(layer.cin), pixels, extra=accumulate),
            ]
    last = PG_LAYERS[-1]
    loops += [
        loop(
            "pool",
            "GLOBAL_POOL",
            last.tiles * last.h_out**2,
            (PortUse("fmap", 1, t2p),),
            IIBound(1, registers.format("sum[k] (64 pixels)")),
        ),
        loop(
            "linear",
            "FC",
            FC_IN,
            (PortUse("fc_weight", 1, rom),),
            IIBound(1, registers.format("acc[o] (w * mean, the multiply off the loop-carried path)")),
        ),
        loop("linear", "STORE", CLASSES, (), IIBound(1, "AXI: one write beat per iteration; acc shifts in registers")),
    ]
    return with_loop_iis(loops)


def release_loops() -> list[LoopCost]:
    """The release's ``xcel-cifar10`` (``FracNet_T`` in ``bnn_tiled.cc``), modelled at II = 1 without fill.

    One shared 16-lane conv engine on 33 x 33 line-buffered maps runs once per bit plane (MSB, then
    LSB, whatever the gate says) over ``(h_in + 1)^2`` positions per output tile (stride-2 convs at
    input resolution, then subsampled); ``quant_and_pack`` always walks four 64-channel tiles
    (``4 h_in^2``); ``bn_relu_shortcut`` runs per output tile and pixel; ``avgpool_concat`` before
    each stride-2 block; buffer initialisation, an image load and the classifier around them. One
    entry per loop and call. The II is assumed (the release's sources are not in this repository).
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
    return [replace(loop, bound="assumed: the release's loops at II = 1") for loop in loops]


# --------------------------------------------------------------------------- memory


def _words(name: str) -> int:
    """Elements of the parameter array ``name`` (:data:`~fracbnn_lib.hw.layout.PARAM_ARRAYS`)."""
    return next(array.size for array in PARAM_ARRAYS if array.name == name)


def accelerator_arrays(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, design: Design = BUILT
) -> list[ArrayCost]:
    """The on-chip arrays of ``hls/cifar10``, partitioned and bound as its pragmas say (``README.md``).

    The maps are ``ram_t2p`` (true dual port: a PG conv reads two columns of its input planes per cycle and
    reads and writes the residual stream; the stem reads and writes its colour sums ``stem_acc``), the
    parameters ``rom_1p``, the FIFO between the image load and the stem a LUTRAM. Registers held elsewhere (the
    pool sums, the FC accumulators, the counters) are counted with their units (:func:`accelerator_units`).
    """
    formats = resolve_formats(formats)
    fm, scale, param = formats.fm.width, formats.scale.width, formats.param.width
    map_depth = BANK_ROWS * IMAGE_SIZE
    if design.fused_stem:
        stem = [
            ArrayCost("level_fifo (load to stem)", 1, LEVEL_BITS, LEVEL_FIFO_DEPTH, "lutram"),
            ArrayCost("stem_acc (colour sums)", STEM_CHANNELS, STEM_ACC_BITS, IMAGE_SIZE**2, "bram", "tdp"),
        ]
        stem_window = 9 * LEVEL_BITS + 2 * IMAGE_SIZE * LEVEL_BITS  # one colour's window, two rows of counts
    else:
        stem = [ArrayCost("image_buf", COLOURS * ROW_BANKS, LEVEL_BITS, map_depth, "bram", "tdp")]
        stem_window = COLOURS * 9 * LEVEL_BITS
    arrays = [
        *stem,
        ArrayCost("msb/lsb planes (ping-pong)", 4 * ROW_BANKS, 64, map_depth, "bram", "tdp"),
        ArrayCost("fmap (residual stream)", OC_TILE, fm, STEM_CHANNELS * IMAGE_SIZE**2 // OC_TILE, "bram", "tdp"),
        ArrayCost("pg_weight", OC_TILE, 64, _words("pg_weight") // OC_TILE, "bram", "rom"),
        ArrayCost("pg_threshold", 1, 16, _words("pg_threshold"), "bram", "rom"),
        ArrayCost("pg_scale, pg_bn_scale", 2, scale, _words("pg_scale"), "bram", "rom"),
        ArrayCost("pg_shift, pg_slope, pg_bn_shift", 3, param, _words("pg_shift"), "bram", "rom"),
        ArrayCost("conv1_level_dot (stem tables)", STEM_CHANNELS * TAPS, LEVEL_BITS, COLOURS * (levels + 1), "lutram"),
        ArrayCost("fc_weight", CLASSES, param, _words("fc_weight") // CLASSES, "lutram"),
        ArrayCost(
            "the tile's weights and parameters",
            1,
            design.lanes * (TAPS * 64 + 16 + 2 * scale + 3 * param),
            1,
            "registers",
        ),
        ArrayCost("conv1 BN", 1, STEM_CHANNELS * (scale + param), 1, "registers"),
        ArrayCost("windows (PG planes, stem level counts)", 1, 2 * 9 * 64 + stem_window, 1, "registers"),
        ArrayCost("means (FC input shift register)", 1, FC_IN * fm, 1, "registers"),
    ]
    if design.multi_pass:
        sums = design.lanes + design.lsb_sets
        arrays.append(ArrayCost(f"PG partial sums ({sums} lane-planes)", 1, sums * PG_SUM_BITS, 1, "registers"))
    return arrays


# --------------------------------------------------------------------------- logic: units, LUTs, flip-flops, DSPs

SUM_BITS = 16
"""``sum_t`` (``int16_t``): a conv sum enters its BN multiply as a 16-bit integer."""
POPCOUNT_BITS = 7
"""A 64-bit popcount's width (``binary_dot``'s ``n`` is at most 64, too)."""
PG_SUM_BITS = 12
"""One plane's nine-tap sum, ``|m| <= 9 x 64``, as :func:`~fracbnn_lib.hw.units.dot_sum` sizes it."""
STEM_SUM_BITS = 11
"""The stem's sum over three colours, ``|z| <= 3 x 9 x 32``."""
MAP_ADDRESS_BITS = (BANK_ROWS * IMAGE_SIZE - 1).bit_length()
FMAP_ADDRESS_BITS = (STEM_CHANNELS * IMAGE_SIZE**2 // OC_TILE - 1).bit_length()

COUNTER_BITS = {
    "LOAD_IMAGE": (12,),  # i
    "STEM": (12, 2, 5, 5, 10, 2, 4),  # i, colour, c, r, pixel, out_bank, out_addr
    "level_fifo": (6, 6, 7),  # the FIFO's read and write pointers and fill
    "TILE_PARAMS": (5, 3, 6),  # j, t, tile
    "PG_PIXELS": (11, 1, 11, 6, 2, 4, 6, 2, 4, 11),  # i, slice, p, c, out_bank, out_addr, window top/bank/addr, base
    "POOL": (9, 5, 11),  # i, c, base
    "CONCAT": (9,),
    "GLOBAL_POOL": (9, 7),  # i, p
    "FC": (7,),
    "STORE": (4,),
    "BLOCK": (4, 6),  # b, tile
}
"""Loop counters and address registers of ``hls/cifar10`` per loop, in bits (what each counts up to)."""
COUNTER_BITS_BEFORE = {
    **COUNTER_BITS,
    "LOAD_IMAGE": (12, 5, 5, 2, 4, 2),  # i, col, row, bank, addr, colour
    "STEM": (12, 2, 5, 6, 2, 4, 6, 2, 4),  # i, colour, c, r, out_bank, out_addr, window top/bank/addr
    "level_fifo": (),
    "PG_PIXELS": (11, 6, 2, 4, 6, 2, 4, 11),  # p, c, out_bank, out_addr, window top/bank/addr, base
}
"""The same for the image load then a pixel-major stem, one iteration per pixel (:data:`BEFORE`)."""
COUNTER_UNIT = 12
"""The counter unit's width: counters are priced per bit from ``counter(width=12)``."""

INTERFACES = {"m_axi": 2, "s_axilite": 1, "fsm": 1}
"""``FracNet_T``'s AXI masters (``IMG``, ``RESULT``), its AXI-lite ``CTRL`` and its state machines."""


def _fmt(fmt: Any, prefix: str) -> dict[str, int]:
    return {f"{prefix}_w": fmt.width, f"{prefix}_i": fmt.integer}


def _formats_units(formats: Formats) -> dict[str, Unit]:
    """The units whose size follows the formats, at ``formats``."""
    fm, scale, param, logit = formats.fm, formats.scale, formats.param, formats.logit
    u = Unit.of
    fc_acc = param.width + fm.width + 7
    return {
        "epilogue": u("pg_epilogue", **_fmt(fm, "fm"), **_fmt(scale, "scale"), **_fmt(param, "param"), z_bits=SUM_BITS),
        "stem_bn": stem_bn_unit(formats, SUM_BITS),
        "quantiser": u("quantiser2", **_fmt(fm, "fm")),
        "avgpool": u("avgpool4", **_fmt(fm, "fm")),
        "global_pool": u("global_pool_lane", **_fmt(fm, "fm")),
        "fc": u("fc_mac", w_w=param.width, w_i=param.integer, x_w=fm.width, x_i=fm.integer),
        "logit": u(
            "logit_out", acc_w=fc_acc, acc_frac=param.frac + fm.frac, logit_w=logit.width, logit_i=logit.integer
        ),
    }


def _popcount_unit(design: Design) -> Unit:
    """One tap's XOR-popcount of ``design`` (:class:`Design`: ``slice_bits``, ``popcount``)."""
    if design.slice_bits < MAX_CHANNELS:
        if design.popcount != "adder":
            raise ValueError("compressor-tree popcounts are priced for 64-bit slices only")
        return Unit.of("slice_xor_popcount", n=design.slice_bits, slices=design.slices)
    return Unit.of("xor_popcount" if design.popcount == "adder" else "compressor_popcount", n=MAX_CHANNELS)


def accelerator_units(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, design: Design = BUILT
) -> list[UnitUse]:
    """The logic of ``hls/cifar10`` as instances of synthesised units, part by part (``design``: :data:`BUILT`, or
    another structure :func:`design_options` prices; for ``lanes != 16`` only the PG engine is re-priced).

    One ``pg_conv_bn`` instance serves every PG layer and one ``avgpool_concat`` every pool
    (``ALLOCATION limit=1``), so the memories they share with the other functions gain multiplexers on their
    ports: the ping-pong planes (read data, write data, addresses) and the residual stream ``fmap``
    (addresses from four functions, write data from three).
    """
    formats = resolve_formats(formats)
    fm = formats.fm.width
    by = _formats_units(formats)
    u = Unit.of
    mux2, mux3, mux4 = u("mux", ways=2, width=1), u("mux", ways=3, width=1), u("mux", ways=4, width=1)
    lanes, e, n = design.lanes, design.lsb_sets, design.slice_bits
    popcount = _popcount_unit(design)
    bits = f"{n}-bit slices" if n < MAX_CHANNELS else f"64 bits, {design.popcount}"
    count_bits = n.bit_length()
    uses = [UnitUse(f"PG MSB popcounts ({lanes} lanes x 9 taps, {bits})", popcount, lanes * TAPS)]
    if design.shared_planes:
        uses.append(UnitUse("PG plane select (MSB or LSB window, 9 taps x 64 bits, 2:1)", mux2, TAPS * MAX_CHANNELS))
    else:
        uses.append(UnitUse(f"PG LSB popcounts ({e} lanes x 9 taps, {bits})", popcount, e * TAPS))
    if n < MAX_CHANNELS:
        uses.append(
            UnitUse(
                f"PG window slices (2 planes x 9 taps x {n} bits, {design.slices}:1)",
                u("mux", ways=design.slices, width=1),
                2 * TAPS * n,
            )
        )
    sums = lanes + e
    accumulate = PG_SUM_BITS if design.multi_pass else 0
    uses += [
        UnitUse(
            f"PG tap sums ({sums} lane-planes{', accumulating' if accumulate else ''})",
            u("dot_sum", taps=TAPS, count_bits=count_bits, acc_bits=accumulate),
            sums,
        ),
        UnitUse(f"PG gates ({lanes} lanes)", u("pg_gate", sum_bits=PG_SUM_BITS, threshold_bits=16), lanes),
        UnitUse(f"PG epilogues: scale, RPReLU, residual, BN ({lanes} lanes)", by["epilogue"], lanes),
        UnitUse(f"quantisers ({lanes} PG + 16 stem lanes)", by["quantiser"], lanes + STEM_CHANNELS),
        UnitUse("PG window columns (2 planes x mid/right)", u("read_column", width=64), 4),
        UnitUse("PG window left columns (2 planes x 3 rows x 64 bits, 2:1)", mux2, 2 * 3 * 64),
        UnitUse("PG output words (2 planes)", u("place_tile", lanes=lanes, word=64), 2),
    ]
    if e < lanes and not design.shared_planes:  # each engine picks one of the lanes' nine weight words; each lane a sum
        uses += [
            UnitUse(
                f"LSB weight multiplexers ({e} engines x 9 x 64 bits, {lanes}:1)",
                u("mux", ways=lanes, width=1),
                e * TAPS * 64,
            ),
            UnitUse(
                f"LSB sum routing ({lanes} lanes x {PG_SUM_BITS} bits, {e}:1)",
                u("mux", ways=e, width=1),
                lanes * PG_SUM_BITS,
            ),
            UnitUse(
                f"LSB lane scheduler ({e} engines x 4-bit lane index, {lanes}:1)", u("mux", ways=lanes, width=1), e * 4
            ),
        ]
    stem_sum = u("adder_tree", inputs=TAPS, width=LEVEL_BITS, acc_bits=STEM_SUM_BITS)
    uses += [
        UnitUse("input level counts (one popcount per word)", u("popcount", n=levels), 1),
        UnitUse("stem table sums (16 lanes x 9 taps, 3 colours)", stem_sum, STEM_CHANNELS),
    ]
    if design.fused_stem:
        uses.append(UnitUse("stem table addresses (9 taps)", u("stem_slot", levels=levels, windows=1), TAPS))
    else:
        uses += [
            UnitUse("stem table addresses (9 taps)", u("stem_slot", levels=levels, windows=COLOURS), TAPS),
            UnitUse("stem window columns (3 colours x mid/right)", u("read_column", width=LEVEL_BITS), COLOURS * 2),
        ]
    uses += [
        UnitUse("stem BN (16 lanes)", by["stem_bn"], STEM_CHANNELS),
        UnitUse(
            "plane buffer ports: read data (one pg_conv_bn on both ping-pong pairs, 2:1)",
            mux2,
            (2 * ROW_BANKS * 2 + 2 * ROW_BANKS) * 64,
        ),
        UnitUse("plane buffer ports: write data (stem or pg_conv_bn, 2:1)", mux2, 2 * ROW_BANKS * 64),
        UnitUse("plane buffer ports: addresses (3:1)", mux3, 4 * ROW_BANKS * 2 * MAP_ADDRESS_BITS),
        UnitUse("fmap ports: addresses (4 functions, 4:1)", mux4, OC_TILE * 2 * FMAP_ADDRESS_BITS),
        UnitUse("fmap ports: write data (3 functions, 3:1)", mux3, OC_TILE * fm),
    ]
    if not design.fused_stem:
        uses.append(
            UnitUse("image_buf ports: addresses (load or stem, 2:1)", mux2, COLOURS * ROW_BANKS * MAP_ADDRESS_BITS)
        )
    uses += [
        UnitUse("2x2 average pools (16 lanes)", by["avgpool"], OC_TILE),
        UnitUse("global pool sums and means (16 lanes)", by["global_pool"], OC_TILE),
        UnitUse("FC multiply-accumulates (10 classes)", by["fc"], CLASSES),
        UnitUse("logit rounding and float conversion", by["logit"], 1),
    ]
    counters = COUNTER_BITS if design.fused_stem else COUNTER_BITS_BEFORE
    counter_bits = sum(sum(bits) for bits in counters.values())
    uses.append(
        UnitUse(
            f"loop counters and addresses ({counter_bits} bits)",
            u("counter", width=COUNTER_UNIT),
            counter_bits / COUNTER_UNIT,
        )
    )
    return uses


def _allowance(settings: CostSettings, interfaces: Mapping[str, int], index: int) -> dict[str, int]:
    return {
        f"{kind} x {count} (allowance)": count * settings.interface_allowance[kind][index]
        for kind, count in interfaces.items()
    }


def accelerator_luts(
    levels: int = 32,
    formats: str | Formats | Mapping[str, Any] = "default",
    settings: CostSettings | None = None,
    design: Design = BUILT,
) -> dict[str, int]:
    """LUTs of ``hls/cifar10`` per part: its units (:func:`accelerator_units`), the LUTROM and LUTRAM of its arrays
    and the interface allowance (:attr:`CostSettings.interface_allowance`)."""
    settings = settings or CostSettings()
    luts = {k: v for k, v in part_totals(accelerator_units(formats, levels, design), "lut").items() if v}
    name = (
        "LUTROM and LUTRAM (stem tables, FC weights, level FIFO)"
        if design.fused_stem
        else "LUTROM (stem tables, FC weights)"
    )
    luts[name] = sum(a.luts for a in accelerator_arrays(formats, levels, design))
    return {**luts, **_allowance(settings, INTERFACES, 0)}


def accelerator_ffs(
    levels: int = 32,
    formats: str | Formats | Mapping[str, Any] = "default",
    settings: CostSettings | None = None,
    design: Design = BUILT,
) -> dict[str, int]:
    """Flip-flops of ``hls/cifar10`` per part: its units' pipeline registers, its register arrays and the
    interface allowance."""
    settings = settings or CostSettings()
    ffs = {k: v for k, v in part_totals(accelerator_units(formats, levels, design), "ff").items() if v}
    arrays = accelerator_arrays(formats, levels, design)
    ffs.update({a.name: a.flip_flops for a in arrays if a.storage == "registers"})
    return {**ffs, **_allowance(settings, INTERFACES, 1)}


def accelerator_dsps(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, design: Design = BUILT
) -> dict[str, int]:
    """DSP48E2 of ``hls/cifar10`` per part, as yosys maps its units' multiplies (:func:`multiplier_check` sets
    them beside the ``dsp_per_multiply`` rule)."""
    return {k: v for k, v in part_totals(accelerator_units(formats, levels, design), "dsp").items() if v}


# --------------------------------------------------------------------------- the gate, priced


def _pg_pixel_cycles(design: Design, open_lanes: Mapping[str, np.ndarray] | None, images: int | None) -> float | int:
    """``PG_PIXELS``' iterations per image of ``design``: per tile-pixel ``passes``, times ``max(1, ceil(n / E))``
    where fewer LSB engines ``E`` than lanes share the ``n`` open lanes (from the measured histograms)."""
    if design.lsb_sets >= design.lanes or design.shared_planes:
        tiles = [(math.ceil(layer.cout / design.lanes), layer) for layer in PG_LAYERS]
        return sum(n * layer.h_out**2 * design.passes(layer.cin) for n, layer in tiles)
    if open_lanes is None or not images:
        raise ValueError("fewer LSB engines than lanes: the cycles depend on the gate (open_lanes, images)")
    total = 0.0
    for layer in PG_LAYERS:
        histogram = np.asarray(open_lanes[layer.name], dtype=np.float64)
        per_pixel = np.maximum(1, np.ceil(np.arange(len(histogram)) / design.lsb_sets)) * design.passes(layer.cin)
        total += float(histogram @ per_pixel) / images
    return total


def design_cost(
    design: Design,
    open_lanes: Mapping[str, np.ndarray] | None = None,
    images: int | None = None,
    levels: int = 32,
    formats: str | Formats | Mapping[str, Any] = "default",
    settings: CostSettings | None = None,
) -> dict[str, Any]:
    """One structure priced by the units and the loop model: ``lut``, ``ff``, ``dsp``, ``bram36``, ``pg_cycles``
    (``PG_PIXELS``' iterations), ``cycles``, ``fps`` at the clock, ``mhz_for_10k`` (the clock 10,000 images/s
    needs), ``fits`` (every resource within 80% of the ZU3EG) and ``fits_with_uncertainty`` (also with the model's
    stated uncertainty, :func:`~fracbnn_lib.hw.cost_model.budget_check`; FF has none to state)."""
    settings = settings or CostSettings()
    loops = design_loops(replace(design, lsb_engines=None), levels, settings)
    pg = _pg_pixel_cycles(design, open_lanes, images)
    built_pg = sum(loop.trips * loop.ii for loop in loops if loop.loop == "PG_PIXELS")
    cycles = total_cycles(loops)[0] - built_pg + pg
    arrays = accelerator_arrays(formats, levels, design)
    summary = {
        "lut": sum(accelerator_luts(levels, formats, settings, design).values()),
        "ff": sum(accelerator_ffs(levels, formats, settings, design).values()),
        "dsp": sum(accelerator_dsps(formats, levels, design).values()),
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "release": release_summary(settings),
    }
    checks = budget_check(summary)
    return {
        **{key: summary[key] for key in ("lut", "ff", "dsp", "bram36")},
        "pg_cycles": pg,
        "cycles": cycles,
        "fps": images_per_s(cycles, settings.clock_mhz),
        "mhz_for_10k": cycles * TARGET_FPS / 1e6,
        "fits": all(check.fits for check in checks.values()),
        "fits_with_uncertainty": all(check.fits_with_uncertainty is not False for check in checks.values()),
    }


TARGET_FPS = 10_000
"""Issue 22's throughput target, images per second (the clock a design needs for it: ``cycles x 10,000``)."""

DESIGN_OPTIONS: tuple[tuple[str, Design], ...] = (
    ("before: 16 lanes x 9 taps x 2 planes of 64-bit popcounts; load, then stem", BEFORE),
    ("before, compressor-tree popcounts (6:3 counters)", replace(BEFORE, popcount="compressor")),
    ("before, MSB and LSB through one popcount set (2 iterations per pixel)", replace(BEFORE, shared_planes=True)),
    ("before, 8 lanes per tile", replace(BEFORE, lanes=8)),
    ("before, 12 lanes per tile", replace(BEFORE, lanes=12)),
    ("before, 8 LSB engines shared by the open lanes", replace(BEFORE, lsb_engines=8)),
    ("before, 4 LSB engines shared by the open lanes", replace(BEFORE, lsb_engines=4)),
    ("before, 2 LSB engines shared by the open lanes", replace(BEFORE, lsb_engines=2)),
    ("before, stem beside the load (DATAFLOW)", replace(BEFORE, fused_stem=True)),
    ("32-bit slices (2 iterations per 64-channel pixel); load, then stem", replace(BUILT, fused_stem=False)),
    ("16-bit slices (up to 4 iterations per pixel); load, then stem", replace(BEFORE, slice_bits=16)),
    ("built: 32-bit slices, stem beside the load", BUILT),
    ("built, 16-bit slices", replace(BUILT, slice_bits=16)),
    ("built, 8 LSB engines shared by the open lanes", replace(BUILT, lsb_engines=8)),
)
"""The structures :func:`design_options` prices: the design before, each change on its own, what is built."""


def design_options(
    open_lanes: Mapping[str, np.ndarray] | None = None,
    images: int | None = None,
    levels: int = 32,
    formats: str | Formats | Mapping[str, Any] = "default",
    settings: CostSettings | None = None,
) -> list[dict[str, Any]]:
    """The design space of issue 22: each structure of :data:`DESIGN_OPTIONS` priced by :func:`design_cost` (its
    LUT, FF, DSP, BRAM36, cycles, images/s at the clock, the clock 10,000 images/s needs, whether it fits), one
    row each with ``design`` (its description). Rows with shared LSB engines need the gate's histogram of open
    lanes (``open_lanes`` over ``images`` images, :attr:`~fracbnn_lib.hw.datapath.ReferenceTrace.open_lanes`);
    without it they are left out."""
    rows = []
    for name, design in DESIGN_OPTIONS:
        if design.lsb_sets < design.lanes and not design.shared_planes and open_lanes is None:
            continue
        rows.append({"design": name, **design_cost(design, open_lanes, images, levels, formats, settings)})
    return rows


def gate_sharing(
    open_lanes: Mapping[str, np.ndarray], images: int, engines: Sequence[int] = (16, 8, 4), levels: int = 32
) -> list[dict[str, float]]:
    """Cycles per image, LUTs and flip-flops with ``E`` LSB engines per 16-lane tile of the design as built, from
    measured gate histograms.

    ``open_lanes``: per PG layer, how many tile-pixels opened ``n`` lanes (``n`` = 0..16), over
    ``images`` images (:attr:`ReferenceTrace.open_lanes`). A tile-pixel's iteration takes ``max(1, ceil(n / E))``
    cycles; every other loop is unchanged. ``E = 16`` is the design as built.
    """
    rows = []
    for e in engines:
        design = replace(BUILT, lsb_engines=None if e >= OC_TILE else e)
        priced = design_cost(design, open_lanes, images, levels)
        rows.append(
            {
                "lsb_engines": e,
                "pg_cycles": priced["pg_cycles"],
                "cycles": priced["cycles"],
                "fps": priced["fps"],
                "lut": priced["lut"],
                "ff": priced["ff"],
            }
        )
    return rows


# --------------------------------------------------------------------------- the release's design, priced

RELEASE_FORMATS = resolve_formats("paper")
"""The release's ``FIX_FM_acc = ap_fixed<16,9>`` and ``FIX_WT = ap_fixed<12,4>`` (the ``paper`` preset)."""
RELEASE_MAP = IMAGE_SIZE + 1
"""The release's maps are ``WIDTH`` x ``WIDTH`` = 33 x 33 (a padding row and column)."""
RELEASE_LAYER_TILES = sum(layer.tiles for layer in PG_LAYERS)
RELEASE_INTERFACES = {"m_axi": 2, "s_axilite": 1, "fsm": 1}
RELEASE_COUNTER_BITS = 12 * 11
"""About a dozen loops of its functions with two or three counters each (row, column, channel tile)."""


def release_arrays() -> list[ArrayCost]:
    """The release's on-chip arrays as its sources partition them (``bnn_tiled.cc``, ``layer.h``, ``pgconv.h``).

    ``msb_fmap[3][33][33]`` (64-bit words, partitioned by plane), ``out_buf_0[4][16][33][33]`` (the residual
    stream, 64 banks), ``out_buf_t0``/``t1[16][33][33]`` (the MSB and LSB conv sums, ``int16``, 16 banks
    each), ``conv_weight_all[45][16][3][3]`` (partitioned on its last three dimensions by the conv engine:
    144 ROM banks of 45 words), ``avgpool_concat``'s ``out_tmp[16][16][16]``; RAMs without a binding pragma
    are the tool's dual-port RAM (``tdp``). The per-channel ``FIX_WT`` arrays (eight per PG layer, each
    ``[tiles][16]``) reach the one ``bn_relu_shortcut`` and conv instances through 18 call sites: priced as
    what those multiplexers over constant arrays amount to, one LUTROM per lane and parameter over the 42
    tiles. Line buffers and windows are registers.
    """
    depth = RELEASE_MAP * RELEASE_MAP
    wt = RELEASE_FORMATS.param.width
    return [
        ArrayCost("msb_fmap (input words, then MSB/LSB planes)", 3, 64, depth, "bram", "tdp"),
        ArrayCost("out_buf_0 (residual stream, FIX_FM_acc)", 4 * OC_TILE, 16, depth, "bram", "tdp"),
        ArrayCost("out_buf_t0, out_buf_t1 (conv sums, int16)", 2 * OC_TILE, 16, depth, "bram", "tdp"),
        ArrayCost("conv_weight_all (45 tiles x 16 x 9 words)", OC_TILE * TAPS, 64, 45, "bram", "rom"),
        ArrayCost("out_tmp (2x2 pool)", OC_TILE, 16, 16 * 16, "bram", "tdp"),
        ArrayCost("per-channel FIX_WT parameters (8 per lane)", 8 * OC_TILE, wt, RELEASE_LAYER_TILES, "lutram"),
        ArrayCost("linear_weight", CLASSES, wt, FC_IN, "lutram"),
        ArrayCost("line buffers and window (2 x 33 + 9 words)", 1, (2 * RELEASE_MAP + 9) * 64, 1, "registers"),
        ArrayCost("conv partial sums, BN staging registers", 1, 3 * OC_TILE * 16, 1, "registers"),
    ]


def release_units() -> list[UnitUse]:
    """The release's logic as instances of the same units (its sources; ``ALLOCATION limit=1`` on the conv
    engine, ``bn_relu_shortcut`` and ``quant_and_pack``, so one of each).

    The conv engine: 16 lanes x 9 taps of ``compute_engine_64`` (XOR and a SWAR popcount), each lane's sum
    of nine ``in_channels - 2 pc`` added to its partial sum, the gate test ``2/3 comparator > threshold``;
    the 33-word line buffers read at a run-time column (33:1); the MSB and LSB passes swap the two conv-sum
    buffers. ``bn1`` (the stem's BN, inlined), ``bn_relu_shortcut``'s chain of eight roundings and five
    multiplies per lane, ``to2bit`` and the bit packing, the pools, the FC layer, the multiplexers on the
    ports of the buffers the functions share, the loop counters.
    """
    fmts = RELEASE_FORMATS
    fm, wt = fmts.fm, fmts.param
    u = Unit.of
    mux2, mux3 = u("mux", ways=2, width=1), u("mux", ways=3, width=1)
    address = (RELEASE_MAP * RELEASE_MAP - 1).bit_length()
    return [
        UnitUse("conv popcounts (16 lanes x 9 taps, SWAR)", u("swar_popcount", n=64), OC_TILE * TAPS),
        UnitUse(
            "conv lane sums (16 lanes, with partial sums)",
            u("dot_sum", taps=TAPS, count_bits=POPCOUNT_BITS, acc_bits=16),
            OC_TILE,
        ),
        UnitUse("gate tests (16 lanes)", u("release_gate"), OC_TILE),
        UnitUse("line buffer reads (2 rows x 64 bits, 33:1)", u("mux", ways=RELEASE_MAP, width=1), 2 * 64),
        UnitUse("conv-sum buffer swap (MSB/LSB passes, 16 lanes x 3 x 16 bits, 2:1)", mux2, OC_TILE * 3 * 16),
        UnitUse("conv input plane select (msb_fmap[c_in], 3:1)", mux3, 2 * 64),
        UnitUse(
            "bn1 (16 lanes)",
            u(
                "mac_round_sat",
                a_w=wt.width,
                a_i=wt.integer,
                b_bits=16,
                c_w=wt.width,
                c_i=wt.integer,
                out_w=fm.width,
                out_i=fm.integer,
            ),
            OC_TILE,
        ),
        UnitUse("bn_relu_shortcut (16 lanes)", u("release_bn_lane"), OC_TILE),
        UnitUse("to2bit quantisers (16 lanes)", u("release_quantiser2", fm_w=fm.width, fm_i=fm.integer), OC_TILE),
        UnitUse("bit packing (2 planes)", u("place_tile", lanes=OC_TILE, word=64), 2),
        UnitUse("2x2 average pools (16 lanes)", u("avgpool4", fm_w=fm.width, fm_i=fm.integer), OC_TILE),
        UnitUse("8x8 average pool (16 lanes, FIX_32_10)", u("accumulator", in_bits=16, acc_bits=32), OC_TILE),
        UnitUse("FC (10 classes)", u("fc_mac", w_w=fm.width, w_i=fm.integer, x_w=fm.width, x_i=fm.integer), CLASSES),
        UnitUse(
            "output to float", u("logit_out", acc_w=39, acc_frac=2 * fm.frac, logit_w=fm.width, logit_i=fm.integer), 1
        ),
        UnitUse(
            "out_buf_0 ports: addresses (6 functions, 4 x 16 banks)", u("mux", ways=6, width=1), 4 * OC_TILE * address
        ),
        UnitUse("out_buf_0 ports: write data (4 functions)", u("mux", ways=4, width=1), 4 * OC_TILE * 16),
        UnitUse("out_buf_t0/t1 ports: addresses (3 functions)", mux3, 2 * OC_TILE * address),
        UnitUse("out_buf_t0/t1 ports: write data (2 functions)", mux2, 2 * OC_TILE * 16),
        UnitUse("msb_fmap ports: addresses (4 functions)", u("mux", ways=4, width=1), 3 * address),
        UnitUse("msb_fmap ports: write data (3 functions)", mux3, 3 * 64),
        UnitUse(
            f"loop counters ({RELEASE_COUNTER_BITS} bits)",
            u("counter", width=COUNTER_UNIT),
            RELEASE_COUNTER_BITS / COUNTER_UNIT,
        ),
    ]


def release_summary(settings: CostSettings | None = None) -> dict[str, Any]:
    """The release's structure priced like ours: ``cycles`` (:func:`release_loops`), ``lut``, ``ff``, ``dsp``,
    ``bram36``, ``lutram``, then ``paper`` (the post-implementation figures as reported), ``csynth`` (the
    release maintainer's csynth estimate) and ``ratio`` (reported / modelled, per resource)."""
    settings = settings or CostSettings()
    uses, arrays = release_units(), release_arrays()
    lutram = sum(a.luts for a in arrays)
    lut = round(sum(use.amount("lut") for use in uses)) + lutram
    lut += sum(_allowance(settings, RELEASE_INTERFACES, 0).values())
    ff = round(sum(use.amount("ff") for use in uses)) + sum(a.flip_flops for a in arrays)
    ff += sum(_allowance(settings, RELEASE_INTERFACES, 1).values())
    modelled = {
        "cycles": total_cycles(release_loops())[1],
        "lut": lut,
        "dsp": round(sum(use.amount("dsp") for use in uses)),
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "ff": ff,
        "lutram": lutram,
    }
    paper = {name: paper_value("cifar10", name, "as reported") for name in ("lut", "dsp", "bram")}
    paper = {name: int(value) for name, value in paper.items() if value is not None}
    csynth = {name: int(paper_value("cifar10", name, "release csynth")) for name in ("lut", "dsp", "ff")}
    csynth["bram36"] = int(paper_value("cifar10", "bram18", "release csynth")) // 2
    ratio = {name: paper[key] / modelled[name] for name, key in (("lut", "lut"), ("dsp", "dsp"), ("bram36", "bram"))}
    return {**modelled, "paper": paper, "csynth": csynth, "ratio": ratio}


# --------------------------------------------------------------------------- totals


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` for the design as built (:func:`design_summary` of
    :data:`BUILT`)."""
    return design_summary(BUILT, formats, levels, settings)


def design_summary(
    design: Design,
    formats: str | Formats | Mapping[str, Any] = "default",
    levels: int = 32,
    settings: CostSettings | None = None,
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``release_cycles`` and ``release``): modelled cycles, images/s at the clock, LUT, FF, DSP, BRAM36, LUTRAM,
    bits on chip, the DRAM traffic of one image (its input words in, its logits out) and per loop its trips, II
    and bound; ``release`` is the
    release's structure priced the same way beside the paper's implemented figures
    (:func:`release_summary`), the model's stated uncertainty (:func:`~fracbnn_lib.hw.cost_model.budget_check`).
    ``estimated_units`` lists units priced without synthesis (formats nobody committed, no yosys here)."""
    settings = settings or CostSettings()
    loops = design_loops(design, levels, settings)
    cycles, ii_only = total_cycles(loops)
    arrays = accelerator_arrays(formats, levels, design)
    release = release_summary(settings)
    uses = accelerator_units(formats, levels, design)
    dram = COLOURS * IMAGE_SIZE * IMAGE_SIZE * 8 + CLASSES * 4
    return {
        "modelled": True,
        "clock_mhz": settings.clock_mhz,
        "cycles": cycles,
        "cycles_ii_only": ii_only,
        "fps": images_per_s(cycles, settings.clock_mhz),
        "lut": sum(accelerator_luts(levels, formats, settings, design).values()),
        "ff": sum(accelerator_ffs(levels, formats, settings, design).values()),
        "dsp": sum(accelerator_dsps(formats, levels, design).values()),
        "bram36": math.ceil(sum(a.bram18 for a in arrays) / 2),
        "lutram": sum(a.luts for a in arrays),
        "on_chip_bits": sum(a.bits for a in arrays),
        "dram_bytes_per_image": dram,
        "bandwidth_bound_fps": bandwidth_bound_fps(dram, 64, settings.clock_mhz),
        "loops": loop_summary(loops),
        "not_modelled": [],
        "release_cycles": release["cycles"],
        "release": {key: release[key] for key in ("cycles", "lut", "dsp", "bram36", "ff", "paper", "csynth", "ratio")},
        "estimated_units": sorted({use.unit.key for use in uses if use.cost.estimated}),
    }


def table_units() -> list[Unit]:
    """Every unit this model prices, at the formats it is asked about (:data:`TABLE_FORMATS`), 32 levels, the
    structures :func:`design_options` and :func:`gate_sharing` try, and the release's units: what
    ``unit_costs.json`` holds."""
    units = {use.unit for use in release_units()}
    designs = [design for _, design in DESIGN_OPTIONS]
    designs += [replace(BUILT, lsb_engines=e) for e in (8, 6, 4, 2)]
    for formats in TABLE_FORMATS.values():
        for design in designs:
            units |= {use.unit for use in accelerator_units(formats, 32, design)}
    return sorted(units | {REGISTER_UNIT}, key=lambda unit: unit.key)
