"""The modelled hardware cost of the CIFAR-10 accelerator, and of the release's design beside it.

Every figure here is an analytical model computed from the layer table the C++ runs
(:data:`~fracbnn_lib.hw.layout.PG_LAYERS`), never a measurement: only a synthesis report
(:mod:`fracbnn_lib.hw.report`) or a board measures.

**Cycles.** :func:`accelerator_loops` lists the pipelined loops of ``hls/cifar10`` in the order the
top function runs them, one :class:`LoopCost` per pipeline entry: its trips, its initiation interval
(II) with what bounds it, and the pipeline's fill (``depth``, a setting: csynth reports the real one)::

    cycles_ii_only = trips * II          cycles = trips * II + depth

The II is derived, not assumed (:mod:`fracbnn_lib.hw.cost_model`): from the storage each array is declared
with (``hls_support.h``: a bank per lane, row bank or class; 2 ports per bank of true dual-port RAM, 1 of
a ROM) and the accesses per bank and iteration each loop makes, ``ceil(accesses / ports)``, with the
recurrences stated beside it (the accumulators of ``STEM``, ``GLOBAL_POOL`` and ``FC`` are registers: one
add in the loop-carried path). The counting build of the C-simulation
(:func:`~fracbnn_lib.hw.cifar10.csim.loop_counts`) logs the same entries with their measured accesses per
bank, and the tests hold the two equal entry by entry. :func:`release_loops` models the release's
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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..cost_model import (
    CLOCK_MHZ,
    ArrayCost,
    IIBound,
    LoopCost,
    PortUse,
    bandwidth_bound_fps,
    cycles_of_ns,
    dsp_per_multiply,
    images_per_s,
    loop_summary,
    total_cycles,
    with_loop_iis,
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

    ``clock_mhz``: the accelerators' clock (:data:`~fracbnn_lib.hw.cost_model.CLOCK_MHZ`, ``hls/common/clock.mk``).
    ``depth``: pipeline fill per entry, per loop: the stages between the loop's first read and its last
    write at 5 ns (4.375 ns after the HLS target's 12.5% uncertainty: about six LUT levels, a BRAM read, or
    one DSP48E2 stage; multiplies wider than 27 x 18 cascade two or four DSPs over three stages; each
    rounding and saturation into ``fm_t`` is a wide add and compare, one stage). csynth reports the real
    depths. ``dram_latency_ns``: from a burst's address to its first beat on the Zynq UltraScale+ HP ports
    (about 200 ns), paid by the loops on an AXI master (``LOAD_IMAGE``, ``STORE``) on top of their depth.
    ``primitive_luts``: LUTs of the calibrated primitives (module docstring). ``control_luts``: FSMs, address
    counters and the AXI adapters.
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
    primitive_luts: Mapping[str, int] = field(
        default_factory=lambda: {"xor_popcount_32": 63, "xor_popcount_64": 136, "tap_adder_tree_9x8": 98}
    )
    control_luts: int = 3_000

    @property
    def dram_latency(self) -> int:
        """The DRAM burst latency in cycles at ``clock_mhz``."""
        return cycles_of_ns(self.dram_latency_ns, self.clock_mhz)


DRAM_LOOPS = ("LOAD_IMAGE", "STORE")
"""The loops on an AXI master: their fill adds the DRAM latency (:attr:`CostSettings.dram_latency`)."""


# --------------------------------------------------------------------------- cycles


def _planes(layer_index: int) -> tuple[str, str]:
    """The (input, output) plane pair of PG layer ``layer_index``: conv1 of a block reads ``_a`` and writes ``_b``,
    conv2 reads ``_b`` and writes ``_a`` (``fracnet.cc``; the stem writes ``_a``)."""
    return ("a", "b") if layer_index % 2 == 0 else ("b", "a")


def accelerator_loops(levels: int = 32, settings: CostSettings | None = None) -> list[LoopCost]:
    """The pipelined loops of ``hls/cifar10`` for one image, one entry each, in execution order.

    ``LOAD_IMAGE`` (3 x 32 x 32 words); ``STEM`` (32 x 32 pixels x 3 colours, one colour per
    cycle); per output tile of a PG conv ``TILE_PARAMS`` (the tile's weights and parameters into
    registers, 16 cycles) and ``PG_PIXELS`` over its ``h_out^2`` output pixels (stride-2 convs at
    output resolution); before each stride-2 block ``POOL`` (II 3: four reads and a write per
    dual-port lane bank) and ``CONCAT``; then ``GLOBAL_POOL`` (4 tiles x 64 pixels),
    ``FC`` (64 channels, 10 classes at once) and ``STORE`` (10 logits).

    Each entry carries the accesses per bank and iteration of every memory it touches (``port_use``, what the
    counting build measures), the bounds stated beside them and the II they give, with its reason.
    """
    settings = settings or CostSettings()
    depth = settings.depth
    t2p, rom = 2, 1  # ports per bank: true dual-port BRAM; single-port ROM (BRAM or LUTRAM)

    def loop(layer: str, name: str, trips: int, uses: tuple[PortUse, ...], *stated: IIBound) -> LoopCost:
        fill = depth[name] + (settings.dram_latency if name in DRAM_LOOPS else 0)
        return LoopCost(layer, name, trips, 1, fill, port_use=uses, stated=stated)

    registers = "dependence: {} accumulates in registers: one add in the loop-carried path"
    loops = [
        loop("input", "LOAD_IMAGE", COLOURS * IMAGE_SIZE * IMAGE_SIZE, (PortUse("image_buf", 1, t2p),)),
        loop(
            "conv1",
            "STEM",
            COLOURS * IMAGE_SIZE * IMAGE_SIZE,
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
        for _ in range(layer.tiles):
            loops += [
                loop(layer.name, "TILE_PARAMS", OC_TILE, tile_params),
                loop(layer.name, "PG_PIXELS", layer.h_out**2, pixels),
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
                "fps": images_per_s(cycles, CLOCK_MHZ),
                "lut": sum(accelerator_luts(levels, lsb_engines=e).values()),
            }
        )
    return rows


# --------------------------------------------------------------------------- totals


def cost_summary(
    formats: str | Formats | Mapping[str, Any] = "default", levels: int = 32, settings: CostSettings | None = None
) -> dict[str, Any]:
    """The ``hls.cost`` section of ``metrics.json`` (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS`, then
    ``release_cycles``): modelled cycles, images/s at the clock, LUT, DSP, BRAM36, LUTRAM, bits on chip,
    the DRAM traffic of one image (its input words in, its logits out) and per loop its trips, II and bound."""
    settings = settings or CostSettings()
    loops = accelerator_loops(levels, settings)
    cycles, ii_only = total_cycles(loops)
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
        "loops": loop_summary(loops),
        "not_modelled": [],
        "release_cycles": total_cycles(release_loops())[1],
    }
