"""Notebook 04 on the CIFAR-10 accelerator: the ladder's run, formats, per-layer error, memory, modelled cost.

:func:`run_ladder` runs the rungs (:mod:`fracbnn_lib.hw.ladder`, the same on both accelerators) on an
export's test vectors; the rest are this accelerator's own analyses. Everything returns pandas DataFrames
or matplotlib ``Figure`` objects built without pyplot (save them with
:func:`fracbnn_lib.run_files.save_figure`). A *code flip* is an activation whose 2-bit code (the input of
the next binary layer) differs between two models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ...logits import accuracy, argmax_agreement
from ...paper import paper_value
from ...quantizers import quant_sign
from ..cost_model import ZU3EG, LoopCost, budget_check, images_per_s
from ..datapath import ReferenceTrace
from ..export_folder import EXPECTED_FILE, IMAGES_FILE
from ..fixed_point import FORMAT_PRESETS, Formats, sweep_formats
from ..ladder import CSIM, FLOAT, FOLDED, REFERENCE, Ladder, timed
from . import cost
from .csim import ExportCsim
from .fold import FoldedParams, fold_to_module
from .layout import IMAGE_SIZE, PG_LAYERS, STEM_CHANNELS
from .params import AcceleratorParams, quantize_params
from .reference import reference_forward

LAYERS = ("conv1", *(layer.name for layer in PG_LAYERS))
"""The layers whose outputs both models expose: the input conv and the 18 PG convs."""

RELEASE_ON_CHIP_BITS = {"weights": 535_000, "feature maps": 1_950_000}
"""On-chip memory of the release's CIFAR-10 design, counted from its sources (DESIGN.md)."""


def sweep_candidates(fractional_bits: tuple[int, ...] = (9, 13, 17, 21)) -> dict[str, Formats]:
    """The paper's formats, then formats shaped like ``default`` with ``F`` fractional bits for feature maps
    (:func:`~fracbnn_lib.hw.fixed_point.sweep_formats`)."""
    return sweep_formats(fractional_bits)


def format_sweep(
    folded: FoldedParams,
    packed: np.ndarray,
    labels: np.ndarray,
    float_logits: np.ndarray,
    candidates: Mapping[str, Formats],
) -> pd.DataFrame:
    """The bit-exact reference under each candidate format set, against the float model.

    Columns: formats, fm/scale/param formats, argmax agreement, accuracy, mean and max absolute
    logit difference to the float model, saturated values, and on-chip kbit for the feature-map
    buffer and the parameters.
    """
    rows = []
    for name, formats in candidates.items():
        params = quantize_params(folded, formats)
        trace = ReferenceTrace()
        logits = reference_forward(params, packed, trace)
        diff = np.abs(logits.astype(np.float64) - float_logits)
        bits = params.memory_bits()
        words = bits.pop("conv1_weight") + bits.pop("pg_weight")
        rows.append(
            {
                "formats": name,
                "fm": str(formats.fm),
                "scale": str(formats.scale),
                "param": str(formats.param),
                "argmax_agreement": argmax_agreement(logits, float_logits),
                "accuracy": accuracy(logits, labels),
                "mean_abs_diff": float(diff.mean()),
                "max_abs_diff": float(diff.max()),
                "saturated": trace.total_saturated() + sum(params.saturated.values()),
                "fm_buffer_kbit": STEM_CHANNELS * IMAGE_SIZE * IMAGE_SIZE * formats.fm.width / 1000,
                "param_kbit": sum(bits.values()) / 1000,
                "weight_kbit": words / 1000,
            }
        )
    return pd.DataFrame(rows)


def paper_formats_metrics(sweep: pd.DataFrame) -> dict[str, float]:
    """The paper's formats in ``metrics.json`` ``hls.paper_formats``: their row of :func:`format_sweep`."""
    row = sweep.set_index("formats").loc["paper"]
    return {
        "argmax_agreement_float_reference": float(row["argmax_agreement"]),
        "accuracy_reference": float(row["accuracy"]),
        "mean_abs_logit_diff": float(row["mean_abs_diff"]),
    }


def plot_format_sweep(sweep: pd.DataFrame) -> Figure:
    """Argmax agreement and mean logit error per candidate format set (left to right as in ``sweep``)."""
    fig = Figure(figsize=(9, 3.4))
    left, right = fig.subplots(1, 2)
    x = np.arange(len(sweep))
    labels = [f"{r.formats}\nfm {r.fm}" for r in sweep.itertuples()]
    left.bar(x, sweep["argmax_agreement"], color=["C3" if f == "paper" else "C0" for f in sweep["formats"]])
    left.axhline(0.99, color="k", linestyle=":", label="99%")
    left.set_ylim(min(0.8, float(sweep["argmax_agreement"].min()) - 0.02), 1.0)
    left.set_ylabel("argmax agreement with float")
    left.legend(fontsize=8, loc="lower right")
    right.bar(x, sweep["mean_abs_diff"], color="C1")
    right.set_yscale("log")
    right.set_ylabel("mean |logit - float logit|")
    for ax in (left, right):
        ax.set_xticks(x, labels, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle("fixed-point formats: agreement with the float model's decisions, and logit error")
    fig.tight_layout()
    return fig


def run_ladder(model: nn.Module, export_dir: str | Path, images: torch.Tensor, labels: Any) -> Ladder:
    """Run L0 (float), L1 (folded), L2 (reference) and L3 (C-simulation) on the export's test vectors.

    ``images``: the same images as float ``N x 3 x 32 x 32`` in [0, 1] (what the export packed into
    ``images.npy``); ``labels``: ``N`` integers. The library is built (or found) before the timing.
    """
    folder = Path(export_dir)
    packed = np.load(folder / IMAGES_FILE)
    csim = ExportCsim(folder)
    with torch.no_grad():
        float_logits = model.eval()(images).numpy()
        folded_logits = fold_to_module(model)(images).numpy()
    trace = ReferenceTrace()
    reference, reference_rate = timed(lambda: reference_forward(csim.params, packed, trace), len(packed))
    outputs, csim_rate = timed(lambda: csim.outputs(packed), len(packed))
    return Ladder(
        accelerator="cifar10",
        params=csim.params,
        labels=np.asarray(labels, dtype=np.int64),
        packed=packed,
        logits={FLOAT: float_logits, FOLDED: folded_logits, REFERENCE: reference, CSIM: csim.params.logits(outputs)},
        reference_outputs=reference,
        csim_outputs=outputs,
        expected_outputs=np.load(folder / EXPECTED_FILE),
        trace=trace,
        images_per_s={"reference": reference_rate, "csim": csim_rate},
    )


def _codes(values: np.ndarray) -> np.ndarray:
    """The 2-bit codes 0..3 that the float quantiser gives ``values`` (what the next layer sees)."""
    return torch.round((quant_sign(torch.as_tensor(values)) + 1.0) * 1.5).numpy().astype(np.int8)


def layer_error_table(model: nn.Module, params: AcceleratorParams, images: torch.Tensor) -> pd.DataFrame:
    """Per layer, the fixed-point reference's outputs (with ``params``) against the folded float model's on
    ``images`` (float ``N x 3 x 32 x 32`` in [0, 1]; both run end to end).

    Columns: ``layer``, ``max_abs_error``, ``rms_error`` (of the layer's output ``x``),
    ``code_flips`` (share of its activations whose 2-bit code differs) and ``saturated`` (values
    clamped while computing the layer).
    """
    from .export import pack_images

    folded = fold_to_module(model)
    packed = pack_images(images, folded.resolution)
    float_trace: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        folded.forward_packed(packed, float_trace)
    trace = ReferenceTrace(keep_values=True)
    reference_forward(params, packed, trace)
    rows = []
    for name in LAYERS:
        fixed = trace.layer_values(name)
        exact = float_trace[name].double().numpy().reshape(fixed.shape)
        error = fixed - exact
        rows.append(
            {
                "layer": name,
                "max_abs_error": float(np.abs(error).max()),
                "rms_error": float(np.sqrt((error**2).mean())),
                "code_flips": float((_codes(fixed) != _codes(exact)).mean()),
                "saturated": trace.saturated[name],
            }
        )
    return pd.DataFrame(rows)


def format_label(name: str) -> str:
    """A format preset as a reader knows it: ``paper`` -> "release's <16,9>/<12,4> (paper)", ours with its formats."""
    if name == "paper":
        return "the release's ap_fixed<16,9> / <12,4> (paper)"
    formats = FORMAT_PRESETS.get(name)
    return f"ours ({name}: fm <{formats.fm.width},{formats.fm.integer}>)" if formats is not None else name


def plot_layer_errors(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """RMS error (left, log scale) and share of flipped 2-bit codes (right) per layer, one line per format set."""
    fig = Figure(figsize=(12, 3.8))
    left, right = fig.subplots(1, 2)
    for name, table in tables.items():
        x = np.arange(len(table))
        left.plot(x, table["rms_error"].clip(lower=1e-12), marker="o", label=format_label(name))
        right.plot(x, table["code_flips"], marker="o", label=format_label(name))
        for ax in (left, right):
            ax.set_xticks(x, table["layer"], rotation=60, ha="right", fontsize=7)
    left.set_yscale("log")
    left.set_ylabel("RMS error of the layer output")
    left.set_title("fixed-point error against the float folded model, per layer", fontsize=9)
    right.set_ylabel("share of 2-bit codes flipped")
    right.set_title("activation codes that change, per layer", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("layer")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def saturation_table(trace: ReferenceTrace, params: AcceleratorParams) -> pd.DataFrame:
    """Values clamped by AP_SAT: per layer of the datapath, then per parameter array (at export)."""
    rows = [{"where": name, "kind": "datapath", "saturated": count} for name, count in trace.saturated.items()]
    rows += [{"where": name, "kind": "parameter", "saturated": count} for name, count in params.saturated.items()]
    return pd.DataFrame(rows)


def memory_table(params: AcceleratorParams) -> pd.DataFrame:
    """On-chip memory of the accelerator: every parameter array as stored, then the feature-map buffers.

    Buffers (``hls/cifar10/fracnet.cc``, ``layers.h``, sized by :func:`.cost.accelerator_arrays`): the stem's
    colour sums (16 lanes x 1024 ``int16``), the four packed activation planes (MSB/LSB, ping-pong), row-banked
    (3 banks of 11 rows of 32 words), and the residual stream (16 lanes x 1024 ``fm_t``). Columns: ``memory``,
    ``kind``, ``bits`` and ``kbit``.
    """
    rows = [{"memory": name, "kind": "parameters", "bits": bits} for name, bits in params.memory_bits().items()]
    buffers = ("stem_acc (colour sums)", "msb/lsb planes (ping-pong)", "fmap (residual stream)")
    rows += [
        {"memory": array.name, "kind": "buffer", "bits": array.bits}
        for array in cost.accelerator_arrays(params.formats)
        if array.name in buffers
    ]
    table = pd.DataFrame(rows)
    table["kbit"] = table["bits"] / 1000
    return table


def memory_summary(params: AcceleratorParams) -> pd.DataFrame:
    """Totals of :func:`memory_table` (weights, other parameters, buffers) beside the release's design."""
    table = memory_table(params)
    weights = table[table["memory"].isin(["conv1_weight", "pg_weight"])]["bits"].sum()
    other = table[table["kind"] == "parameters"]["bits"].sum() - weights
    buffers = table[table["kind"] == "buffer"]["bits"].sum()
    rows = [
        ("binary weights (64-bit words)", weights, RELEASE_ON_CHIP_BITS["weights"]),
        ("binary weights actually used", params.used_weight_bits(), math.nan),
        ("other parameters (fixed point)", other, math.nan),
        ("feature-map buffers", buffers, RELEASE_ON_CHIP_BITS["feature maps"]),
    ]
    frame = pd.DataFrame(rows, columns=["memory", "bits", "release_bits"])
    frame["kbit"] = frame["bits"] / 1000
    frame["release_kbit"] = frame["release_bits"] / 1000
    frame["bram36_at_least"] = np.ceil(frame["bits"] / 36_864).astype(int)
    return frame.drop(columns=["bits", "release_bits"])


# --------------------------------------------------------------------------- the modelled hardware cost

LOOP_KINDS = {
    "LOAD_IMAGE": "image load",
    "LOOP_GetImg": "image load",
    "STEM": "conv",
    "PG_PIXELS": "conv",
    "Loop_Tile": "conv",
    "bn1": "BN, RPReLU, residual",
    "LOOP_BN_RELU_SC": "BN, RPReLU, residual",
    "LOOP_Quant_Pack": "quantise and pack",
    "POOL": "shortcut pool",
    "CONCAT": "shortcut pool",
    "avgpool_init": "shortcut pool",
    "LOOP_avgpool": "shortcut pool",
    "avgpool_write": "shortcut pool",
}
"""What each loop of our design and of the release's does (other loops: "buffers and classifier")."""


def cycle_table(loops: list[LoopCost]) -> pd.DataFrame:
    """Modelled cycles per layer: ``layer``, ``loops`` (labels), ``trips``, ``cycles_ii_only``, ``cycles``."""
    rows: dict[str, dict[str, Any]] = {}
    for loop in loops:
        row = rows.setdefault(
            loop.layer, {"layer": loop.layer, "loops": [], "trips": 0, "cycles_ii_only": 0, "cycles": 0}
        )
        if loop.loop not in row["loops"]:
            row["loops"].append(loop.loop)
        row["trips"] += loop.trips
        row["cycles_ii_only"] += loop.cycles_ii_only
        row["cycles"] += loop.cycles
    table = pd.DataFrame(rows.values())
    table["loops"] = table["loops"].map(" + ".join)
    return table


HEADROOM = 1.35
"""The cycle axis of :func:`plot_layer_cycles` reaches this multiple of its tallest bar."""


def _kind_cycles(loops: list[LoopCost], layers: list[str]) -> dict[str, np.ndarray]:
    kinds: dict[str, np.ndarray] = {}
    for loop in loops:
        kind = LOOP_KINDS.get(loop.loop, "buffers and classifier")
        kinds.setdefault(kind, np.zeros(len(layers)))[layers.index(loop.layer)] += loop.cycles
    return kinds


def plot_layer_cycles(ours: list[LoopCost], release: list[LoopCost]) -> Figure:
    """Stacked bars of modelled cycles per layer and kind of work: this design beside the release's structure."""
    layers = list(dict.fromkeys([loop.layer for loop in ours]))
    fig = Figure(figsize=(max(7, 0.42 * len(layers) + 2), 4.4))
    ax = fig.subplots()
    x = np.arange(len(layers))
    designs = ((-0.2, _kind_cycles(ours, layers), None), (0.2, _kind_cycles(release, layers), "//"))
    kinds = sorted(set(designs[0][1]) | set(designs[1][1]))
    tallest = max(float(sum(cycles.values()).max()) for _, cycles, _ in designs)
    ax.set_ylim(0, HEADROOM * tallest)  # the tallest bar ends below the frame, clear of the legend's row
    for offset, cycles, hatch in designs:
        bottom = np.zeros(len(layers))
        for i, kind in enumerate(kinds):
            values = cycles.get(kind, np.zeros(len(layers)))
            ax.bar(x + offset, values, 0.4, bottom=bottom, color=f"C{i}", hatch=hatch, edgecolor="white",
                   label=kind if hatch is None else None)  # fmt: skip
            bottom += values
    ax.bar([0], [0], color="white", edgecolor="grey", hatch="//", label="right, hatched: the release's structure")
    ax.set_xticks(x, layers, rotation=60, ha="right", fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles per image (modelled)")
    ax.set_title("Modelled cycles per layer: this design (left bars) and the release's structure (right)")
    ax.legend(fontsize=7, title="kind of work", title_fontsize=7, loc="upper right", ncols=2)
    fig.tight_layout()
    return fig


def cost_vs_paper(summary: Mapping[str, Any]) -> pd.DataFrame:
    """This design (modelled, at its clock), the release's structure (modelled by the same units, at the paper's
    clock), the paper's implemented figures (as reported), the release's csynth estimate, the ratio reported /
    modelled for the release (the model's uncertainty) and the ZU3EG."""
    clock = paper_value("cifar10", "clock_mhz", "as reported")
    release = summary["release"]
    paper, csynth, ratio = release["paper"], release["csynth"], release["ratio"]
    paper_fps = paper_value("cifar10", "fps", "as reported")
    rows = [
        ("clock, MHz", summary["clock_mhz"], clock, clock, math.nan, math.nan, math.nan),
        ("images/s at that clock", summary["fps"], images_per_s(release["cycles"], clock), paper_fps, math.nan,
         paper_fps / images_per_s(release["cycles"], clock), math.nan),
        ("cycles per image", summary["cycles"], release["cycles"], clock * 1e6 / paper_fps, math.nan,
         clock * 1e6 / paper_fps / release["cycles"], math.nan),
        ("LUT", summary["lut"], release["lut"], paper["lut"], csynth["lut"], ratio["lut"], ZU3EG["lut"]),
        ("FF", summary["ff"], release["ff"], math.nan, csynth["ff"], math.nan, ZU3EG["ff"]),
        ("DSP", summary["dsp"], release["dsp"], paper["dsp"], csynth["dsp"], ratio["dsp"], ZU3EG["dsp"]),
        ("BRAM36", summary["bram36"], release["bram36"], paper["bram"], csynth["bram36"], ratio["bram36"],
         ZU3EG["bram36"]),
    ]  # fmt: skip
    columns = [
        "figure",
        "this design (modelled)",
        "release structure (modelled)",
        "paper (as reported)",
        "release csynth",
        "paper / release modelled",
        "ZU3EG",
    ]
    table = pd.DataFrame(rows, columns=columns)
    table["paper / release modelled"] = [_ratio(value) for value in table["paper / release modelled"]]
    return table


def _ratio(value: float | None) -> str:
    """A ratio as text (``0.86``; empty where none), so a table's integer float format leaves it readable."""
    return "" if value is None or math.isnan(value) else f"{value:.2f}"


def resource_table(formats: str | Formats, levels: int) -> pd.DataFrame:
    """Modelled LUTs, flip-flops and DSPs per part (synthesised units, the interface allowance), and
    BRAM18/LUTRAM/flip-flops per on-chip array."""
    rows = [("LUT", name, value) for name, value in cost.accelerator_luts(levels, formats).items()]
    arrays = cost.accelerator_arrays(formats, levels)
    registers = {array.name for array in arrays if array.storage == "registers"}
    rows += [
        ("FF", name, value) for name, value in cost.accelerator_ffs(levels, formats).items() if name not in registers
    ]
    rows += [("DSP", name, value) for name, value in cost.accelerator_dsps(formats, levels).items()]
    for array in arrays:
        amount = {"bram": array.bram18, "lutram": array.luts, "registers": array.flip_flops}[array.storage]
        unit = {"bram": "BRAM18", "lutram": "LUT (LUTRAM)", "registers": "FF"}[array.storage]
        ports = f", {array.ports}" if array.storage == "bram" else ""
        rows.append((unit, f"{array.name} ({array.banks} x {array.width} b x {array.depth}{ports})", amount))
    return pd.DataFrame(rows, columns=["resource", "part", "amount"])


def gate_sharing_table(trace: ReferenceTrace, images: int, levels: int) -> pd.DataFrame:
    """:func:`.cost.gate_sharing` for the gate measured in ``trace`` (16 LSB engines: the design as built)."""
    return pd.DataFrame(cost.gate_sharing(trace.open_lanes, images, engines=(16, 8, 6, 4, 2), levels=levels))


def design_options_table(trace: ReferenceTrace, images: int, levels: int, formats: str | Formats) -> pd.DataFrame:
    """:func:`.cost.design_options` with the gate measured in ``trace`` (the rows with shared LSB engines): every
    structure priced by the same units and loop model, its LUT, FF, DSP, BRAM36, cycles, images/s at the clock,
    the clock 10,000 images/s needs and whether it fits 80% of the ZU3EG (also with the stated uncertainty)."""
    return pd.DataFrame(cost.design_options(trace.open_lanes, images, levels, formats))


def budget_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Modelled LUT, FF, DSP and BRAM36 against 80% of the ZU3EG: ``resource``, ``modelled``, ``allowed``, ``fits``,
    then ``uncertainty`` (``max(1, reported / modelled)`` for the release's design, as text; empty for FF, which
    has no implemented figure), ``with_uncertainty`` (modelled x uncertainty) and ``fits_with_uncertainty``."""
    rows = [
        (name, b.modelled, b.allowed, b.fits, _ratio(b.uncertainty),
         math.nan if b.uncertainty is None else b.modelled * b.uncertainty, b.fits_with_uncertainty)
        for name, b in budget_check(summary).items()
    ]  # fmt: skip
    columns = ["resource", "modelled", "allowed", "fits", "uncertainty", "with_uncertainty", "fits_with_uncertainty"]
    return pd.DataFrame(rows, columns=columns)
