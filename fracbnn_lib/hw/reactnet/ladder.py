"""The verification ladder of the ImageNet accelerator, and its tables and figures (notebook 04 for ImageNet).

Rungs: the PyTorch model (L0, float), the bit-exact numpy reference (L2) and the g++ C-simulation of
``hls/imagenet`` (L3) on an export's test vectors. The accelerator's outputs are the pooled sums; the
logits are the ARM's classifier applied to them (:mod:`.classifier`), so "C-simulation == reference"
is checked on every pooled sum. The modelled cost (:mod:`.cost`) is shown per layer beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ...gating import GatingStats
from ...logits import accuracy, argmax_agreement, mismatched_logits
from ...paper import paper_value
from .export import EXPECTED_POOLED_FILE, IMAGES_FILE, ImageNetCsim, load_export
from .layout import POOL_PIXELS, layer_table
from .reference import reference_pooled

COST_KEYS = ("modelled", "clock_mhz", "cycles", "compute_cycles", "fps", "dram_bytes_per_image")
COST_KEYS += ("bandwidth_bound_fps", "on_chip_bits", "bram18", "lutram_luts")


@dataclass
class ImageNetLadder:
    """Every rung's outputs on the same ``N`` test vectors.

    Logits are ``float32 N x classes``, pooled sums ``int64 N x 1024``; ``gates`` per layer ``[opened, outputs]``.
    """

    labels: np.ndarray
    float_logits: np.ndarray
    reference_pooled: np.ndarray
    reference_logits: np.ndarray
    csim_pooled: np.ndarray
    csim_logits: np.ndarray
    expected_pooled: np.ndarray
    gates: dict[str, list[int]]
    images_per_s: dict[str, float]


def float_model_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] normalised as the ReActNet expects them (it de-normalises before encoding)."""
    from ...models.imagenet import IMAGENET_MEAN, IMAGENET_STD

    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def run_ladder(model: nn.Module, export_dir: str | Path, images: torch.Tensor, labels: Any) -> ImageNetLadder:
    """Run L0, L2 and L3 on the export's test vectors (``images``: the same images, float in [0, 1])."""
    folder = Path(export_dir)
    packed = np.load(folder / IMAGES_FILE)
    csim = ImageNetCsim(folder)  # loads the export once and builds (or finds) the library, outside the timing
    dram = csim.dram
    with torch.no_grad():
        float_logits = model.eval()(float_model_input(images)).numpy()
    gates: dict[str, list[int]] = {}
    start = time.perf_counter()
    pooled = reference_pooled(dram, packed, gates)
    reference_rate = len(packed) / (time.perf_counter() - start)
    start = time.perf_counter()
    csim_pooled, csim_logits = csim(packed)
    csim_rate = len(packed) / (time.perf_counter() - start)
    return ImageNetLadder(
        labels=np.asarray(labels, dtype=np.int64),
        float_logits=float_logits,
        reference_pooled=pooled,
        reference_logits=dram.logits(pooled),
        csim_pooled=csim_pooled,
        csim_logits=csim_logits,
        expected_pooled=np.load(folder / EXPECTED_POOLED_FILE),
        gates=gates,
        images_per_s={"reference": reference_rate, "csim": csim_rate},
    )


def ladder_table(ladder: ImageNetLadder) -> pd.DataFrame:
    """One row per rung: accuracy, arg-max agreement with the float model, outputs differing from the reference."""
    rows = [
        ("L0 PyTorch (float)", ladder.float_logits, None),
        ("L2 fixed-point reference (numpy)", ladder.reference_logits, ladder.reference_pooled),
        ("L3 C-simulation (g++)", ladder.csim_logits, ladder.csim_pooled),
    ]
    return pd.DataFrame(
        [
            {
                "rung": name,
                "accuracy": accuracy(logits, ladder.labels),
                "argmax_agreement_float": argmax_agreement(logits, ladder.float_logits),
                "pooled_outputs_differing_from_reference": (
                    "" if pooled is None else int((pooled != ladder.reference_pooled).sum())
                ),
            }
            for name, logits, pooled in rows
        ]
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


def layer_error_table(model: nn.Module, export_dir: str | Path, images: torch.Tensor) -> pd.DataFrame:
    """Per layer, how far the accelerator's activations are from the float model's on the same images.

    Rows ``stem`` and every PG layer but the last: the share of 4-bit codes that differ and their mean
    absolute difference (in code steps of 2/15); a last row: the largest relative difference of the
    global pool's means. ``images``: float N x 3 x 224 x 224 in [0, 1] (a few suffice).
    """
    from .export import pack_images

    _, dram = load_export(export_dir)
    trace: dict[str, list[np.ndarray]] = {}
    pooled = reference_pooled(dram, pack_images(images, int(model.model[0][0].resolution)), trace=trace)
    expected, pool = float_codes(model, images)
    rows = []
    for name, parts in trace.items():
        diff = np.abs(np.concatenate(parts).astype(np.int64) - expected[name].astype(np.int64))
        row = {"layer": name, "values": diff.size, "codes_differing": (diff > 0).mean(), "mean_abs_steps": diff.mean()}
        rows.append(row)
    means = pooled * 2.0**-dram.formats.fm.frac / POOL_PIXELS
    relative = np.abs(means - pool).max() / max(np.abs(pool).max(), 1e-12)
    rows.append({"layer": "pool (means)", "values": pool.size, "max_relative_difference": relative})
    columns = ["layer", "values", "codes_differing", "mean_abs_steps", "max_relative_difference"]
    return pd.DataFrame(rows, columns=columns)


def plot_layer_errors(table: pd.DataFrame) -> Figure:
    """The share of each layer's 4-bit codes where the accelerator differs from the float model."""
    rows = table.dropna(subset=["codes_differing"])
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(len(rows)), rows["codes_differing"], label="fixed point (this export's formats)")
    ax.set_xticks(np.arange(len(rows)), rows["layer"], rotation=90, fontsize=6)
    ax.set(
        title="4-bit activation codes differing from the float model, per layer",
        xlabel="layer (output written to DRAM)",
        ylabel="share of codes",
    )
    ax.legend()
    return fig


def hardware_sparsity_table(ladder: ImageNetLadder, stats: GatingStats) -> pd.DataFrame:
    """Per PG layer, the share of outputs whose gate stayed closed: in the accelerator and in the float model."""
    rows = []
    for layer in layer_table(32):
        module = f"model.{layer.block + 1}.{'conv3x3' if layer.half == 1 else 'pointwise'}.0"
        opened, total = ladder.gates[layer.name]
        rows.append(
            {
                "layer": layer.name,
                "accelerator": 1.0 - opened / total,
                "float_model": stats.per_layer().get(module, float("nan")),
            }
        )
    return pd.DataFrame(rows)


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
    cycles.bar(x, table["cycles"] - table["compute_cycles"], bottom=table["compute_cycles"], label="DRAM transfers")
    cycles.set(title="modelled cycles per layer (250 MHz)", xlabel="layer", ylabel="cycles")
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
    """The modelled figures beside the paper's reported ImageNet board figure."""
    return pd.DataFrame(
        [
            {"quantity": "images/s (modelled, 250 MHz, in sequence)", "value": summary["fps"]},
            {"quantity": "images/s if bound by one 64-bit port's bandwidth", "value": summary["bandwidth_bound_fps"]},
            {"quantity": "images/s reported by the paper (board, as quoted)", "value": paper_value("imagenet", "fps")},
            {"quantity": "cycles per image (modelled)", "value": summary["cycles"]},
            {"quantity": "DRAM bytes per image (modelled)", "value": summary["dram_bytes_per_image"]},
            {"quantity": "on-chip memory, kbit (modelled)", "value": summary["on_chip_bits"] / 1000},
        ]
    )


def hls_metrics(ladder: ImageNetLadder, formats: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The ``hls`` section of ``metrics.json`` for ImageNet (the keys of CIFAR-10's where they mean the same)."""
    rungs = {"float": ladder.float_logits, "reference": ladder.reference_logits, "csim": ladder.csim_logits}
    return {
        "accelerator": "imagenet",
        "images": len(ladder.labels),
        "formats": formats,
        **{f"accuracy_{rung}": accuracy(logits, ladder.labels) for rung, logits in rungs.items()},
        "argmax_agreement_float_reference": argmax_agreement(ladder.reference_logits, ladder.float_logits),
        "csim_reference_mismatched_outputs": int((ladder.csim_pooled != ladder.reference_pooled).sum()),
        "csim_reference_mismatched_logits": mismatched_logits(ladder.csim_logits, ladder.reference_logits),
        "csim_images_per_s": float(ladder.images_per_s["csim"]),
        "reference_images_per_s": float(ladder.images_per_s["reference"]),
        "cost": {key: summary[key] for key in COST_KEYS},
    }
