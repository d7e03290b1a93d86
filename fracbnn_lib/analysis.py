"""Analyses behind the notebooks: thermometer encoding, gating sparsity, model summary, plots.

Everything here returns plain data (pandas DataFrames, dicts, numpy arrays) or matplotlib
``Figure`` objects built without pyplot (no global figure state; a notebook displays a figure by
ending a cell with it). :func:`save_figure` writes a figure atomically into ``run_dir/figures/``.

Counting conventions (the model summary, in the spirit of larq's ``summary``):

- A MAC is one multiply-accumulate of a conv or linear layer (``outputs x fan_in``). A conv
  with binary weights on binary (thermometer) or MSB-plane inputs is a *binary* MAC
  (XNOR + popcount); everything else is a *float* (32-bit) MAC. BatchNorm and RPReLU are
  per-channel, element-wise operations (folded or cheap in hardware) and count no MACs.
- A precision-gated conv always computes its MSB plane (``binary_macs``); its LSB plane
  (``lsb_macs``, the same count) is only spent where the gate opens, so
  ``lsb_macs_spent = lsb_macs * (1 - sparsity)`` with the layer's measured sparsity.
- Memory: binary weights take 1 bit, every other parameter 32 bits (buffers such as BN's
  running statistics fold into per-channel scale/shift and are not counted).
- Bit operations (BOPs) of a layer: ``MACs x weight bits x activation bits``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from .encoding import thermometer_encode, thermometer_levels
from .gating import GatingStats
from .layers import BinaryConv2d, PGBinaryConv2d
from .quantizers import SIGN_STE_CLIP, RPReLU

FIGURES_DIR = "figures"

# --------------------------------------------------------------------------- paper's reported points

PAPER_REPORTED: tuple[dict[str, Any], ...] = (
    {"dataset": "cifar10", "quantity": "top1_accuracy", "value": 0.891, "unit": "fraction", "source": "paper"},
    {"dataset": "cifar10", "quantity": "parameters", "value": 287146, "unit": "count", "source": "paper"},
    {"dataset": "cifar10", "quantity": "activation_bits", "value": 1.4, "unit": "bits", "source": "paper"},
    {"dataset": "cifar10", "quantity": "weight_bits", "value": 1, "unit": "bits", "source": "paper"},
    {"dataset": "cifar10", "quantity": "fps", "value": 2806.9, "unit": "1/s", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "power_w", "value": 4.1, "unit": "W", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "lut", "value": 51444, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "dsp", "value": 126, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "bram", "value": 212, "unit": "count", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "clock_mhz", "value": 250, "unit": "MHz", "source": "as reported"},
    {"dataset": "cifar10", "quantity": "fps", "value": 1419.2, "unit": "1/s", "source": "release deploy notebook"},
    {"dataset": "cifar10", "quantity": "latency_ms", "value": 0.70, "unit": "ms", "source": "release deploy notebook"},
    {"dataset": "imagenet", "quantity": "top1_accuracy", "value": 0.717, "unit": "fraction", "source": "release"},
    {"dataset": "imagenet", "quantity": "top1_accuracy", "value": 0.718, "unit": "fraction", "source": "paper"},
    {"dataset": "imagenet", "quantity": "activation_bits", "value": 1.4, "unit": "bits", "source": "paper"},
    {"dataset": "imagenet", "quantity": "weight_bits", "value": 1, "unit": "bits", "source": "paper"},
    {"dataset": "imagenet", "quantity": "fps", "value": 48.1, "unit": "1/s", "source": "as reported"},
    {"dataset": "imagenet", "quantity": "power_w", "value": 6.1, "unit": "W", "source": "as reported"},
)
"""The paper's and the release's reported figures (DESIGN.md section 1).

``source``: ``"paper"`` (the FPGA 2021 paper), ``"release"`` (the official release's README),
``"as reported"`` (board figures as commonly quoted from the paper's tables; not confirmed
against a copy of the tables), ``"release deploy notebook"`` (the release's own early board run).
"""

PAPER_DATASET = {"synthetic": "cifar10", "cifar10": "cifar10", "imagenet": "imagenet"}
"""Which paper results a run on a data set is compared with (the synthetic set uses the CIFAR-10 model)."""


def paper_reported(dataset: str | None = None) -> pd.DataFrame:
    """:data:`PAPER_REPORTED` as a DataFrame (dataset, quantity, value, unit, source), optionally one data set's."""
    table = pd.DataFrame(PAPER_REPORTED)
    if dataset is not None:
        table = table[table["dataset"] == PAPER_DATASET.get(dataset, dataset)].reset_index(drop=True)
    return table


def paper_value(dataset: str, quantity: str, source: str = "paper") -> float | None:
    """One reported value (``None`` if the paper reports none for this data set and source)."""
    rows = [
        r
        for r in PAPER_REPORTED
        if r["dataset"] == PAPER_DATASET.get(dataset, dataset) and r["quantity"] == quantity and r["source"] == source
    ]
    return float(rows[0]["value"]) if rows else None


def run_vs_paper(metrics: Mapping[str, Any], dataset: str) -> pd.DataFrame:
    """The run's headline numbers beside the paper's (columns quantity, run, paper, paper_source).

    ``metrics`` is the run's ``metrics.json`` content; absent sections give NaN in the run column.
    Board rows measured on a backend other than a PYNQ board say so (``board [C-simulation] FPS``):
    a C-simulation figure is not a board figure.
    """

    def get(section: str, key: str) -> float:
        value = metrics.get(section, {}).get(key)
        return float(value) if isinstance(value, (int, float)) else math.nan

    sparsity = get("gating", "sparsity")
    ref = PAPER_DATASET.get(dataset, dataset)
    board_source = "as reported"
    backend = metrics.get("board", {}).get("backend")
    board = "board" if backend in (None, "pynq") else f"board [{'C-simulation' if backend == 'csim' else backend}]"
    rows = [
        ("stage 1 test accuracy", get("stage1", "test_accuracy"), None, ""),
        ("stage 2 test accuracy", get("stage2", "test_accuracy"), None, ""),
        ("stage 3 (final) test accuracy", get("stage3", "test_accuracy"), paper_value(ref, "top1_accuracy"), "paper"),
        ("gating sparsity", sparsity, None, ""),
        ("effective activation bits", 2.0 - sparsity, paper_value(ref, "activation_bits"), "paper"),
        ("parameters", get("model", "parameters"), paper_value(ref, "parameters"), "paper"),
        ("model size (KiB)", get("model", "memory_bytes") / 1024, None, ""),
        ("HLS C-sim accuracy", get("hls", "accuracy_csim"), None, ""),
        (f"{board} accuracy", get("board", "accuracy"), None, ""),
        (f"{board} FPS", get("board", "fps"), paper_value(ref, "fps", board_source), board_source),
    ]
    return pd.DataFrame(
        [{"quantity": q, "run": r, "paper": math.nan if p is None else p, "paper_source": s} for q, r, p, s in rows]
    )


# --------------------------------------------------------------------------- thermometer encoding


def thermometer_decode(encoded: torch.Tensor, resolution: int = 8, colour_channels: int = 3) -> torch.Tensor:
    """Reconstruct images from their thermometer code (inverse of :func:`thermometer_encode` up to rounding).

    ``encoded``: N x (C*L) x H x W in {-1, +1}. With ``n`` levels on in channel ``c``, the pixel
    becomes ``min(n * resolution, 255) / 255``. Returns float N x C x H x W in [0, 1].
    """
    n, cl, h, w = encoded.shape
    levels = cl // colour_channels
    on = (encoded.reshape(n, colour_channels, levels, h, w) > 0).sum(dim=2).to(torch.float32)
    return (on * resolution).clamp(max=255.0) / 255.0


def encoding_table(resolutions: Iterable[int], colour_channels: int = 3) -> pd.DataFrame:
    """Levels and encoded input channels per resolution: ``L = round(255 / r)``, channels ``C * L``."""
    rows = []
    for r in resolutions:
        levels = thermometer_levels(r)
        rows.append({"resolution": r, "levels": levels, "encoded_channels": colour_channels * levels})
    return pd.DataFrame(rows, columns=["resolution", "levels", "encoded_channels"])


def reconstruction_table(images: torch.Tensor, resolutions: Iterable[int]) -> pd.DataFrame:
    """Error left by encoding then decoding ``images`` (N x 3 x H x W in [0, 1]) at each resolution.

    Errors are in 8-bit intensity units against ``round(255 * p)``: ``max_error``, ``mean_abs_error``
    and ``rmse``. Quantisation to steps of ``r`` bounds the error by about ``r / 2``.
    """
    target = torch.round(images.clamp(0, 1) * 255.0)
    table = encoding_table(resolutions, colour_channels=images.shape[1])
    errors = []
    for r in table["resolution"]:
        diff = thermometer_decode(thermometer_encode(images, int(r)), int(r), images.shape[1]) * 255.0 - target
        errors.append(
            {
                "max_error": float(diff.abs().max()),
                "mean_abs_error": float(diff.abs().mean()),
                "rmse": float(diff.pow(2).mean().sqrt()),
            }
        )
    return pd.concat([table, pd.DataFrame(errors)], axis=1)


def input_layer_cost(
    resolutions: Iterable[int],
    *,
    out_channels: int = 16,
    kernel_size: int = 3,
    stride: int = 1,
    height: int = 32,
    width: int = 32,
    colour_channels: int = 3,
    fixed_bits: int = 8,
) -> pd.DataFrame:
    """Cost of the first conv: thermometer-encoded binary layer vs a ``fixed_bits`` fixed-point layer.

    Output size ``ceil(H / stride) x ceil(W / stride)`` (padding ``k // 2``). For ``C_in`` input
    channels: ``MACs = H' W' C_out C_in k^2``; ``BOPs = MACs x weight bits x activation bits``;
    weight memory ``C_out C_in k^2 x weight bits``. The fixed-point layer sees the ``C`` colour
    channels at ``fixed_bits`` x ``fixed_bits``; the binary layer ``C * L`` channels at 1 x 1 (XNOR +
    popcount). Column ``bops_vs_fixed`` is each row's BOPs over the fixed-point layer's.
    """
    outputs = math.ceil(height / stride) * math.ceil(width / stride) * out_channels
    taps = kernel_size * kernel_size

    def row(name: str, resolution: float, channels: int, bits: int) -> dict[str, Any]:
        macs = outputs * channels * taps
        return {
            "layer": name,
            "resolution": resolution,
            "input_channels": channels,
            "weight_bits": bits,
            "activation_bits": bits,
            "macs": macs,
            "bops": macs * bits * bits,
            "weight_memory_bits": out_channels * channels * taps * bits,
        }

    rows = [row(f"{fixed_bits}-bit fixed point", math.nan, colour_channels, fixed_bits)]
    rows += [row(f"thermometer r={r}", r, colour_channels * thermometer_levels(r), 1) for r in resolutions]
    table = pd.DataFrame(rows).astype({"resolution": "Int64"})
    table["bops_vs_fixed"] = table["bops"] / table["bops"].iloc[0]
    return table


# --------------------------------------------------------------------------- gating


def sparsity_table(stats: GatingStats) -> pd.DataFrame:
    """Per PG layer: outputs, outputs computed at 2 bits, sparsity and effective activation bits ``2 - s``."""
    table = stats.table()
    table["effective_bits"] = 2.0 - table["sparsity"]
    return table


def thresholds(model: nn.Module) -> dict[str, np.ndarray]:
    """The learned gate thresholds ``θ`` of every PG conv: ``{layer name: float array of C_out}``."""
    return {
        name: m.threshold.detach().cpu().flatten().numpy().copy()
        for name, m in model.named_modules()
        if isinstance(m, PGBinaryConv2d)
    }


def threshold_table(model: nn.Module) -> pd.DataFrame:
    """Per PG layer: channels and the mean, std, min and max of its thresholds."""
    rows = [
        {"layer": name, "channels": t.size, "mean": t.mean(), "std": t.std(), "min": t.min(), "max": t.max()}
        for name, t in thresholds(model).items()
    ]
    return pd.DataFrame(rows, columns=["layer", "channels", "mean", "std", "min", "max"])


def dead_weight_table(model: nn.Module, limit: float = SIGN_STE_CLIP) -> pd.DataFrame:
    """Latent weights of every binary conv with ``|w| >= limit``: they get no gradient through the sign STE.

    Columns layer, weights, dead, dead_share. The release applies no weight clipping, so such
    weights are frozen for the rest of training.
    """
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, BinaryConv2d):
            dead = int((m.weight.detach().abs() >= limit).sum())
            rows.append(
                {"layer": name, "weights": m.weight.numel(), "dead": dead, "dead_share": dead / m.weight.numel()}
            )
    return pd.DataFrame(rows, columns=["layer", "weights", "dead", "dead_share"])


def gating_sweep(
    build_model: Callable[[], nn.Module],
    targets: Sequence[float],
    train_loader: Iterable,
    test_loader: Iterable,
    *,
    dataset: str,
    init_from: str | Path,
    out_dir: str | Path,
    epochs: int,
    lr: float | None = None,
    device: str = "cpu",
    seed: int = 0,
    teacher: nn.Module | None = None,
) -> pd.DataFrame:
    """Fine-tune the gated stage once per gating target ``g``; accuracy and sparsity after the last epoch.

    For each ``g``: a fresh model from ``build_model()`` is initialised from ``init_from`` (the
    stage-2 checkpoint) and trained with the recipe's gated stage (:func:`fracbnn_lib.training.recipe`
    with ``epochs``, ``lr`` and ``gating_target=g``; multistep milestones rescaled to ``epochs``)
    into ``out_dir/target_<g>/``. Returns one row per target: target, epochs, test_accuracy,
    final_train_loss, sparsity (all on the test set after the last epoch), effective_bits and
    mean_threshold.
    """
    from .training import recipe, train_stage

    rows = []
    for target in targets:
        stage = recipe(dataset, epochs=epochs, lr=lr, gating_target=float(target))[-1]
        model = build_model()
        result = train_stage(
            model,
            stage,
            train_loader,
            test_loader,
            out_dir=Path(out_dir) / f"target_{target:+.2f}",
            device=device,
            seed=seed,
            init_from=init_from,
            resume=False,
            teacher=teacher,
            progress=False,
        )
        last = result.history.iloc[-1]
        rows.append(
            {
                "target": float(target),
                "epochs": int(epochs),
                "test_accuracy": float(last["test_accuracy"]),
                "final_train_loss": float(last["train_loss"]),
                "sparsity": float(last["sparsity"]),
                "effective_bits": 2.0 - float(last["sparsity"]),
                "mean_threshold": float(np.concatenate(list(thresholds(model).values())).mean()),
            }
        )
    return pd.DataFrame(rows)


def stage_table(stages: Iterable[Any]) -> pd.DataFrame:
    """One row per training stage (:class:`fracbnn_lib.training.Stage`): weights, gate and optimiser settings."""
    rows = [
        {
            "stage": st.name,
            "weights": "binary" if st.binary_weights else "float",
            "gate": "on" if st.gating else "off",
            "epochs": st.epochs,
            "lr": st.lr,
            "weight_decay": st.weight_decay,
            "schedule": st.schedule,
            "milestones": ",".join(str(m) for m in st.milestones) if st.schedule == "multistep" else "-",
            "gating_target": st.gating_target if st.gating else math.nan,
            "kd": st.kd,
        }
        for st in stages
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- model summary

SUMMARY_COLUMNS = [
    "layer",
    "kind",
    "weight_bits",
    "activation_bits",
    "parameters",
    "binary_parameters",
    "memory_bytes",
    "binary_macs",
    "float_macs",
    "lsb_macs",
    "lsb_macs_spent",
]


def _layer_kind(module: nn.Module) -> str:
    if isinstance(module, PGBinaryConv2d):
        return "pg conv"
    if isinstance(module, BinaryConv2d):
        return "binary conv"
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batchnorm"
    if isinstance(module, RPReLU):
        return "rprelu"
    return type(module).__name__.lower()


def _summary_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters (an RPReLU counts as one layer), in definition order."""
    layers, covered = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in covered):
            continue
        if isinstance(module, RPReLU):
            covered.append(name)
            layers.append((name, module))
        elif any(True for _ in module.parameters(recurse=False)):
            layers.append((name, module))
    return layers


def _conv_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs per image: ``outputs x fan_in`` of a conv (``C_in / groups x k_h x k_w``) or linear layer."""
    outputs = output[0].numel()
    if isinstance(module, nn.Conv2d):
        return outputs * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
    return outputs * module.in_features


def model_summary(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 32, 32),
    sparsity: GatingStats | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per-layer summary of a FracBNN (one row per layer owning parameters), per image.

    Runs one forward pass on zeros of ``input_shape`` (batch of 1) to measure output sizes.
    ``sparsity``: measured per-layer gating sparsity (a :class:`GatingStats` or ``{layer: s}``);
    a PG layer without a value spends all its LSB MACs (as with the gate off).

    Columns: layer, kind (``binary conv``, ``pg conv``, ``conv``, ``linear``, ``batchnorm``,
    ``rprelu``), weight_bits (1 for binarised weights, else 32), activation_bits (1 for the
    thermometer input, 2 for PG convs, else 32), parameters, binary_parameters, memory_bytes,
    binary_macs, float_macs, lsb_macs, lsb_macs_spent (see the module docstring).
    """
    if isinstance(sparsity, GatingStats):
        sparsity = sparsity.per_layer()
    sparsity = dict(sparsity or {})
    layers = _summary_layers(model)
    macs: dict[str, int] = {}
    handles = []
    for name, module in layers:
        if isinstance(module, (nn.Conv2d, nn.Linear)):

            def hook(mod: nn.Module, _inputs, output: torch.Tensor, name: str = name) -> None:
                macs[name] = _conv_macs(mod, output)

            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    param = next(model.parameters())
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape[1:], device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    rows = []
    for name, module in layers:
        kind = _layer_kind(module)
        parameters = sum(p.numel() for p in module.parameters())
        binary = isinstance(module, BinaryConv2d) and module.binary_weights
        binary_parameters = module.weight.numel() if binary else 0
        layer_macs = macs.get(name, 0)
        gated = isinstance(module, PGBinaryConv2d)
        lsb = layer_macs if gated and binary else 0
        spent_share = 1.0 - sparsity.get(name, 0.0) if gated and module.gating else 1.0
        rows.append(
            {
                "layer": name,
                "kind": kind,
                "weight_bits": 1 if binary else 32,
                "activation_bits": 2 if gated else 1 if isinstance(module, BinaryConv2d) else 32,
                "parameters": parameters,
                "binary_parameters": binary_parameters,
                "memory_bytes": (binary_parameters + 32 * (parameters - binary_parameters)) / 8,
                "binary_macs": layer_macs if binary else 0,
                "float_macs": 0 if binary else layer_macs,
                "lsb_macs": lsb,
                "lsb_macs_spent": lsb * spent_share,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summary_totals(summary: pd.DataFrame) -> dict[str, float]:
    """Totals of a :func:`model_summary`.

    ``parameters``, ``binary_parameters``, ``float_parameters``, ``memory_bytes``,
    ``float32_memory_bytes`` (every parameter at 32 bits), ``compression_ratio`` (their ratio),
    ``binary_macs``, ``float_macs``, ``binary_mac_share`` (binary / all MACs), ``lsb_macs``,
    ``lsb_macs_spent`` and ``lsb_saving`` (share of LSB MACs the gate skips).
    """
    parameters = int(summary["parameters"].sum())
    binary_parameters = int(summary["binary_parameters"].sum())
    memory = float(summary["memory_bytes"].sum())
    binary_macs = int(summary["binary_macs"].sum())
    float_macs = int(summary["float_macs"].sum())
    lsb = int(summary["lsb_macs"].sum())
    spent = float(summary["lsb_macs_spent"].sum())
    return {
        "parameters": parameters,
        "binary_parameters": binary_parameters,
        "float_parameters": parameters - binary_parameters,
        "memory_bytes": memory,
        "float32_memory_bytes": 4.0 * parameters,
        "compression_ratio": 4.0 * parameters / memory if memory else math.nan,
        "binary_macs": binary_macs,
        "float_macs": float_macs,
        "binary_mac_share": binary_macs / (binary_macs + float_macs) if binary_macs + float_macs else math.nan,
        "lsb_macs": lsb,
        "lsb_macs_spent": spent,
        "lsb_saving": 1.0 - spent / lsb if lsb else 0.0,
    }


def model_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """The ``model`` section of ``metrics.json``: parameters, binary/float weight bits, memory in bytes."""
    totals = summary_totals(summary)
    return {
        "parameters": totals["parameters"],
        "binary_weight_bits": totals["binary_parameters"],
        "float_weight_bits": 32 * totals["float_parameters"],
        "memory_bytes": totals["memory_bytes"],
    }


def _spent_of(spent: float, total: int) -> str:
    """``"spent / total"`` with ``spent`` padded to the width of ``total``: the column's width and
    alignment do not move with the measured sparsity."""
    total_text = f"{total:,}"
    return f"{round(spent):>{len(total_text)},} / {total_text}"


def format_summary(summary: pd.DataFrame, kinds: Iterable[str] | None = None) -> str:
    """Fixed-width text rendering of a :func:`model_summary` with its totals (stable for snapshots).

    ``kinds`` limits the rows shown (e.g. ``("binary conv", "pg conv", "linear")``); the totals
    always cover every layer, and one line counts the rows left out.
    """
    shown = summary if kinds is None else summary[summary["kind"].isin(list(kinds))]
    header = [
        "layer",
        "kind",
        "W bits",
        "A bits",
        "params",
        "memory KiB",
        "binary MACs",
        "float MACs",
        "LSB MACs spent",
    ]
    body = [
        [
            r.layer,
            r.kind,
            str(r.weight_bits),
            str(r.activation_bits),
            f"{r.parameters:,}",
            f"{r.memory_bytes / 1024:.2f}",
            f"{r.binary_macs:,}",
            f"{r.float_macs:,}",
            _spent_of(r.lsb_macs_spent, r.lsb_macs) if r.lsb_macs else "-",
        ]
        for r in shown.itertuples()
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    align = ["<", "<", ">", ">", ">", ">", ">", ">", ">"]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True)).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule, *(line(row) for row in body)]
    left_out = summary.loc[~summary.index.isin(shown.index)]
    if len(left_out):
        kinds_left = ", ".join(sorted(left_out["kind"].unique()))
        out.append(
            f"(+ {len(left_out)} layers not shown: {kinds_left}; {int(left_out['parameters'].sum()):,} parameters)"
        )
    t = summary_totals(summary)
    out += [
        rule,
        f"Total parameters: {t['parameters']:,} (1-bit: {t['binary_parameters']:,}; 32-bit: {t['float_parameters']:,})",
        f"Model size: {t['memory_bytes'] / 1024:,.2f} KiB (float-32 equivalent"
        f" {t['float32_memory_bytes'] / 1024:,.2f} KiB; compression {t['compression_ratio']:.2f}x)",
        f"MACs per image: {t['binary_macs'] + t['float_macs']:,} (binarised: {t['binary_mac_share']:.2%})",
        f"LSB-plane MACs: {round(t['lsb_macs_spent']):,} spent of {t['lsb_macs']:,}"
        f" (gating saves {t['lsb_saving']:.2%})",
    ]
    return "\n".join(out)


def format_table(table: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """Plain-text rendering of a DataFrame with rounded floats and no index (stable for snapshots)."""
    return table.to_string(index=False, float_format=floats.format)


# --------------------------------------------------------------------------- figures


def save_figure(fig: Figure, run_dir: str | Path, name: str) -> Path:
    """Save ``fig`` as ``run_dir/figures/<name>.png`` atomically (temporary file, then rename)."""
    folder = Path(run_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _image_hwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()


def plot_bit_planes(
    image: torch.Tensor, resolution: int = 8, channel: int = 0, levels: Sequence[int] | None = None
) -> Figure:
    """An image (3 x H x W in [0, 1]) and some thermometer bit planes of one colour channel (white = +1)."""
    n_levels = thermometer_levels(resolution)
    levels = list(levels) if levels is not None else list(np.linspace(0, n_levels - 1, 6).round().astype(int))
    code = thermometer_encode(image.unsqueeze(0), resolution)[0]
    fig = Figure(figsize=(2.0 * (len(levels) + 1), 2.4))
    axes = fig.subplots(1, len(levels) + 1)
    axes[0].imshow(_image_hwc(image))
    axes[0].set_title("image")
    for ax, b in zip(axes[1:], levels, strict=True):
        ax.imshow(code[channel * n_levels + b].cpu().numpy(), cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{'RGB'[channel] if channel < 3 else channel} level {b}")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"thermometer code, resolution {resolution} ({n_levels} levels per channel)")
    return fig


def plot_reconstructions(image: torch.Tensor, resolutions: Sequence[int]) -> Figure:
    """An image decoded from its thermometer code at each resolution, with the max error in 8-bit units."""
    table = reconstruction_table(image.unsqueeze(0), resolutions)
    fig = Figure(figsize=(2.0 * (len(resolutions) + 1), 2.6))
    axes = fig.subplots(1, len(resolutions) + 1)
    axes[0].imshow(_image_hwc(image))
    axes[0].set_title("original")
    for ax, r, err in zip(axes[1:], resolutions, table["max_error"], strict=True):
        decoded = thermometer_decode(thermometer_encode(image.unsqueeze(0), r), r)[0]
        ax.imshow(_image_hwc(decoded))
        ax.set_title(f"r={r}: {thermometer_levels(r)} levels\nmax err {err:.0f}/255")
    for ax in axes:
        ax.set_axis_off()
    return fig


def plot_encoding_cost(encoding: pd.DataFrame, cost: pd.DataFrame, chosen: int | None = 8) -> Figure:
    """Encoded channels vs resolution (left) and the input layer's bit operations (right); ``chosen`` is marked."""
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    left.plot(encoding["resolution"], encoding["encoded_channels"], marker="o")
    left.set_xscale("log", base=2)
    left.set_yscale("log", base=2)
    left.set_xlabel("resolution r (8-bit steps per level)")
    left.set_ylabel("encoded input channels 3 x round(255/r)")
    left.grid(True, alpha=0.3)
    binary = cost[cost["resolution"].notna()]
    fixed = cost[cost["resolution"].isna()].iloc[0]
    right.plot(binary["resolution"], binary["bops"], marker="o", label="thermometer, binary (XNOR/popcount)")
    right.axhline(fixed["bops"], color="C3", linestyle="--", label=fixed["layer"])
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("resolution r")
    right.set_ylabel("bit operations per image (MACs x W bits x A bits)")
    if chosen is not None:
        for ax in (left, right):
            ax.axvline(chosen, color="0.5", linestyle=":", label=f"r = {chosen}")
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame, title: str = "") -> Figure:
    """Training loss, train/test accuracy (and gating sparsity if measured) and learning rate per epoch."""
    fig = Figure(figsize=(12, 3.4))
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)
    loss_ax.plot(history["epoch"], history["train_loss"], marker="o")
    loss_ax.set_ylabel("train loss")
    acc_ax.plot(history["epoch"], history["train_accuracy"], marker="o", label="train")
    acc_ax.plot(history["epoch"], history["test_accuracy"], marker="o", label="test")
    if "sparsity" in history and (history["sparsity"] > 0).any():
        acc_ax.plot(history["epoch"], history["sparsity"], marker="s", linestyle=":", label="gating sparsity")
    acc_ax.set_ylabel("fraction")
    acc_ax.set_ylim(0, 1)
    acc_ax.legend(fontsize=8)
    lr_ax.plot(history["epoch"], history["lr"], marker="o")
    lr_ax.set_ylabel("learning rate")
    for ax in (loss_ax, acc_ax, lr_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_layer_sparsity(table: pd.DataFrame, overall: float | None = None) -> Figure:
    """Bar chart per PG layer: share of outputs computed at 1 bit (sparsity) and at 2 bits."""
    fig = Figure(figsize=(max(6, 0.45 * len(table) + 2), 3.8))
    ax = fig.subplots()
    x = np.arange(len(table))
    ax.bar(x, table["sparsity"], label="1 bit (MSB only)")
    ax.bar(x, 1 - table["sparsity"], bottom=table["sparsity"], label="2 bits (MSB + LSB)", alpha=0.6)
    if overall is not None:
        ax.axhline(overall, color="k", linestyle="--", label=f"overall sparsity {overall:.3f}")
    ax.set_xticks(x, table["layer"], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of outputs")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_threshold_distribution(values: Mapping[str, np.ndarray]) -> Figure:
    """Learned gate thresholds: histogram over all layers (left) and a box per layer (right)."""
    fig = Figure(figsize=(12, 3.8))
    hist_ax, box_ax = fig.subplots(1, 2, width_ratios=[1, 2])
    hist_ax.hist(np.concatenate(list(values.values())), bins=40)
    hist_ax.axvline(-1.0, color="k", linestyle=":", label="init -1")
    hist_ax.xaxis.set_major_locator(MaxNLocator(4))
    hist_ax.set_xlabel("threshold θ")
    hist_ax.set_ylabel("channels")
    hist_ax.legend(fontsize=8)
    box_ax.boxplot(list(values.values()))
    box_ax.set_xticks(np.arange(1, len(values) + 1), list(values), rotation=60, ha="right", fontsize=8)
    box_ax.set_ylabel("threshold θ")
    fig.tight_layout()
    return fig


def plot_gating_sweep(sweep: pd.DataFrame) -> Figure:
    """Sparsity and test accuracy against the gating target ``g``."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    ax.plot(sweep["target"], sweep["sparsity"], marker="o", label="gating sparsity")
    ax.plot(sweep["target"], sweep["test_accuracy"], marker="s", label="test accuracy")
    ax.set_xlabel("gating target g")
    ax.set_ylabel("fraction")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_size(points: pd.DataFrame) -> Figure:
    """Accuracy vs model size; ``points``: columns label, memory_bytes, accuracy, source ("run" or a paper source)."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for source, group in points.groupby("source", sort=False):
        marker = "o" if source == "run" else "*"
        size = 60 if source == "run" else 160
        ax.scatter(group["memory_bytes"] / 1024, group["accuracy"], marker=marker, s=size, label=source)
    for i, r in enumerate(points.itertuples()):
        stacked = int((points["memory_bytes"].iloc[:i] == r.memory_bytes).sum())  # earlier labels at this size
        ax.annotate(
            r.label,
            (r.memory_bytes / 1024, r.accuracy),
            textcoords="offset points",
            xytext=(8, -10 * stacked),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
