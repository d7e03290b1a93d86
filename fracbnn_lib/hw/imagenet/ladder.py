"""Notebook 04 on the ImageNet accelerator: the ladder's run, per-layer error, the modelled cost per layer.

:func:`run_ladder` runs the rungs (:mod:`fracbnn_lib.hw.ladder`, the same on both accelerators): the
PyTorch model (L0, float), the bit-exact numpy reference (L2) and the g++ C-simulation of ``hls/imagenet``
(L3) on an export's test vectors. The accelerator's outputs are the pooled sums; the logits are the ARM's
classifier applied to them (:func:`~.params.classify`), so "C-simulation == reference" is checked on every
pooled sum. The modelled cost (:mod:`.cost`) is shown per layer beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ...data import IMAGENET_MEAN, IMAGENET_STD
from ...paper import paper_value
from ..cost_model import budget_check
from ..datapath import ReferenceTrace
from ..export_folder import IMAGES_FILE
from ..ladder import CSIM, FLOAT, REFERENCE, Ladder, timed
from .cost import BUDGET_RESOURCES
from .csim import ExportCsim
from .export import EXPECTED_POOLED_FILE
from .layout import LANES, POOL_PIXELS, layer_table
from .params import DramRegions
from .reference import reference_forward


def float_model_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] normalised as the ReActNet expects them (it de-normalises before encoding)."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def float_modules() -> dict[str, str]:
    """The float model's PG conv module of each accelerator layer (``block0.conv3x3`` -> ``model.1.conv3x3.0``)."""
    return {
        layer.name: f"model.{layer.block + 1}.{'conv3x3' if layer.half == 1 else 'pointwise'}.0"
        for layer in layer_table(32)
    }


def run_ladder(model: nn.Module, export_dir: str | Path, images: torch.Tensor, labels: Any) -> Ladder:
    """Run L0 (float), L2 (reference) and L3 (C-simulation) on the export's test vectors (no folded rung here).

    ``images``: the same images as float ``N x 3 x 224 x 224`` in [0, 1]; ``labels``: ``N`` integers.
    """
    folder = Path(export_dir)
    packed = np.load(folder / IMAGES_FILE)
    csim = ExportCsim(folder)  # loads the export once and builds (or finds) the library, outside the timing
    params = csim.params
    with torch.no_grad():
        float_logits = model.eval()(float_model_input(images)).numpy()
    trace = ReferenceTrace(lanes=LANES)
    pooled, reference_rate = timed(lambda: reference_forward(params, packed, trace), len(packed))
    outputs, csim_rate = timed(lambda: csim.outputs(packed), len(packed))
    return Ladder(
        accelerator="imagenet",
        params=params,
        labels=np.asarray(labels, dtype=np.int64),
        packed=packed,
        logits={FLOAT: float_logits, REFERENCE: params.logits(pooled), CSIM: params.logits(outputs)},
        reference_outputs=pooled,
        csim_outputs=outputs,
        expected_outputs=np.load(folder / EXPECTED_POOLED_FILE),
        trace=trace,
        images_per_s={"reference": reference_rate, "csim": csim_rate},
        modules=float_modules(),
    )


def float_codes(model: nn.Module, images: torch.Tensor) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The float model's 4-bit codes ``q4 = round((clamp(x) + 1) * 15/2)`` where the accelerator writes codes.

    Returns ``{layer: int8 N x C x H x W}`` (``"stem"`` and every PG layer but the last, named as
    :func:`~.layout.layer_table`) and the global pool's means (float64 N x 1024).
    """
    from ...models.imagenet import BuildingBlock

    outputs: dict[str, torch.Tensor] = {}
    hooks = [model.model[0].register_forward_hook(lambda _m, _i, out: outputs.__setitem__("stem", out))]
    for b, block in enumerate(m for m in model.model if isinstance(m, BuildingBlock)):
        for half, bn in ((1, block.shiftbn1), (2, block.shiftbn2)):
            name = f"block{b}.{'conv3x3' if half == 1 else 'pointwise'}"
            hooks.append(bn.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out)))
    hooks.append(model.model[-1].register_forward_hook(lambda _m, _i, out: outputs.__setitem__("pool", out)))
    try:
        with torch.no_grad():
            model.eval()(float_model_input(images))
    finally:
        for hook in hooks:
            hook.remove()
    pool = outputs.pop("pool").flatten(1).double().numpy()
    last = layer_table(32)[-1].name
    codes = {
        name: torch.round((out.clamp(-1.0, 1.0) + 1.0) * 7.5).to(torch.int8).numpy()
        for name, out in outputs.items()
        if name != last
    }
    return codes, pool


def layer_error_table(model: nn.Module, params: DramRegions, images: torch.Tensor) -> pd.DataFrame:
    """Per layer, how far the accelerator's activations (with ``params``) are from the float model's on ``images``.

    Rows ``stem`` and every PG layer but the last: the share of 4-bit codes that differ and their mean
    absolute difference (in code steps of 2/15); a last row: the largest relative difference of the
    global pool's means. ``images``: float N x 3 x 224 x 224 in [0, 1] (a few suffice).
    """
    from .export import pack_images

    trace = ReferenceTrace(keep_values=True, lanes=LANES)
    pooled = reference_forward(params, pack_images(images, int(model.model[0][0].resolution)), trace)
    expected, pool = float_codes(model, images)
    rows = []
    for name, parts in trace.values.items():
        diff = np.abs(np.concatenate(parts).astype(np.int64) - expected[name].astype(np.int64))
        row = {"layer": name, "values": diff.size, "codes_differing": (diff > 0).mean(), "mean_abs_steps": diff.mean()}
        rows.append(row)
    means = pooled * 2.0**-params.formats.fm.frac / POOL_PIXELS
    relative = np.abs(means - pool).max() / max(np.abs(pool).max(), 1e-12)
    rows.append({"layer": "pool (means)", "values": pool.size, "max_relative_difference": relative})
    columns = ["layer", "values", "codes_differing", "mean_abs_steps", "max_relative_difference"]
    return pd.DataFrame(rows, columns=columns)


def plot_layer_errors(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """The share of each layer's 4-bit codes where the accelerator differs from the float model, one bar series
    per format set (``tables``: format name -> :func:`layer_error_table`)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(tables), 1)
    for i, (name, table) in enumerate(tables.items()):
        rows = table.dropna(subset=["codes_differing"])
        x = np.arange(len(rows)) + (i - (len(tables) - 1) / 2) * width
        ax.bar(x, rows["codes_differing"], width, label=f"fixed point ({name} formats)")
    ax.set_xticks(np.arange(len(rows)), rows["layer"], rotation=90, fontsize=6)
    ax.set(
        title="4-bit activation codes differing from the float model, per layer",
        xlabel="layer (output written to DRAM)",
        ylabel="share of codes",
    )
    ax.legend()
    return fig


def layer_cost_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The modelled cost per layer: cycles (all, computing), DRAM KiB read and written."""
    return pd.DataFrame(
        [
            {
                "layer": name,
                "cycles": row["cycles"],
                "compute_cycles": row["compute_cycles"],
                "dram_read_kib": row["dram_read_bytes"] / 1024,
                "dram_written_kib": row["dram_written_bytes"] / 1024,
            }
            for name, row in summary["per_layer"].items()
        ]
    )


def plot_layer_cost(summary: dict[str, Any]) -> Figure:
    """Modelled cycles per layer (computing and moving data) and DRAM traffic per layer, on their own axes."""
    table = layer_cost_table(summary)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    cycles, traffic = fig.subplots(1, 2)
    x = np.arange(len(table))
    cycles.bar(x, table["compute_cycles"], label="computing (pixel loops)")
    cycles.bar(
        x,
        table["cycles"] - table["compute_cycles"],
        bottom=table["compute_cycles"],
        label="transfers and fills not hidden",
    )
    cycles.set(title=f"modelled cycles per layer ({summary['clock_mhz']:g} MHz)", xlabel="layer", ylabel="cycles")
    traffic.bar(x - 0.2, table["dram_read_kib"], width=0.4, label="read")
    traffic.bar(x + 0.2, table["dram_written_kib"], width=0.4, label="written")
    traffic.set(title="modelled DRAM traffic per layer", xlabel="layer", ylabel="KiB per image")
    for ax in (cycles, traffic):
        ax.set_xticks(x, table["layer"], rotation=90, fontsize=6)
        ax.legend()
    fig.suptitle(
        f"ImageNet accelerator, modelled: {summary['fps']:.1f} images/s, "
        f"{summary['dram_bytes_per_image'] / 2**20:.1f} MiB DRAM traffic per image"
    )
    return fig


def cost_vs_paper(summary: dict[str, Any]) -> pd.DataFrame:
    """The modelled figures beside the paper's reported ImageNet board figure (source ``as reported``: quoted from
    the paper's tables, not confirmed against a copy), then the modelled resources against 80% of the ZU3EG
    (LUTRAM included: :data:`.cost.BUDGET_RESOURCES`)."""
    rows = [
        {"quantity": f"images/s (modelled, {summary['clock_mhz']:g} MHz, overlapped)", "value": summary["fps"]},
        {
            "quantity": "images/s if bound by the busiest AXI master's bandwidth",
            "value": summary["bandwidth_bound_fps"],
        },
        {
            "quantity": "images/s of the paper's board (Ultra96v2; as reported)",
            "value": paper_value("imagenet", "fps", "as reported"),
        },
        {"quantity": "cycles per image (modelled)", "value": summary["cycles"]},
        {"quantity": "DRAM bytes per image (modelled)", "value": summary["dram_bytes_per_image"]},
        {"quantity": "on-chip memory, kbit (modelled)", "value": summary["on_chip_bits"] / 1000},
    ]
    for name, budget in budget_check(summary, BUDGET_RESOURCES).items():
        verdict = "fits" if budget.fits else "does not fit"
        rows.append(
            {"quantity": f"{name.upper()} (modelled; 80% of the ZU3EG is {budget.allowed:,.0f}: {verdict})",
             "value": budget.modelled}
        )  # fmt: skip
    return pd.DataFrame(rows)
