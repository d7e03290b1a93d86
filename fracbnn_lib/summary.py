"""The model summary of a FracBNN, in the spirit of larq's ``summary``, and accuracy against model size.

Counting conventions:

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
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from .gating import GatingStats
from .layers import BinaryConv2d, PGBinaryConv2d
from .quantizers import RPReLU

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


def accuracy_vs_size_points(
    summary: pd.DataFrame,
    stage_accuracy: Mapping[str, float],
    sweep: pd.DataFrame | None = None,
    paper_accuracy: float | None = None,
    paper_label: str = "FracBNN (paper)",
) -> pd.DataFrame:
    """The points of :func:`plot_accuracy_vs_size`: columns label, memory_bytes, accuracy, source.

    ``summary``: :func:`model_summary` of the final model; ``stage_accuracy``: test accuracy per stage
    (``stage1`` at the float-32 size, its latent weights; later stages at the binary size; a key that is no
    stage, such as a given checkpoint's name, is a point at the binary size labelled with the key);
    ``sweep``: :func:`fracbnn_lib.training.gating_sweep` rows (``g=<target>``); ``paper_accuracy``: the
    paper's top-1 at the same size (source ``paper``), labelled ``paper_label`` (say its data set when it is
    not the run's).
    """
    totals = summary_totals(summary)
    size, float_size = totals["memory_bytes"], totals["float32_memory_bytes"]
    rows = [
        (
            f"stage {name.removeprefix('stage')}" if name.startswith("stage") else name,
            float_size if name == "stage1" else size,
            accuracy,
            "run",
        )
        for name, accuracy in stage_accuracy.items()
    ]
    if sweep is not None:
        rows += [(f"g={r.target:g}", size, r.test_accuracy, "run") for r in sweep.itertuples()]
    if paper_accuracy is not None:
        rows.append((paper_label, size, paper_accuracy, "paper"))
    return pd.DataFrame(rows, columns=["label", "memory_bytes", "accuracy", "source"])


LABEL_STEP = 1.45
"""How far right of its point a label starts (a factor on the log size axis)."""
LABEL_GAP = 0.055
"""The least vertical distance between two labels of :func:`plot_accuracy_vs_size` (accuracy units)."""


def label_heights(accuracies: Sequence[float], gap: float = LABEL_GAP) -> list[float]:
    """Heights for the labels of points that share one x: each as near its own point as the others allow.

    Labels keep their points' order from bottom to top. A label with room stays at its point's height;
    labels that would come closer than ``gap`` form a group, spaced ``gap`` apart about their points' mean
    height (groups merge until none overlap), never below 0.
    """
    order = sorted(range(len(accuracies)), key=lambda i: (accuracies[i], i))
    groups = [[i] for i in order]  # bottom to top

    def placed(group: list[int]) -> list[float]:
        centre = sum(float(accuracies[i]) for i in group) / len(group)
        bottom = max(0.0, centre - gap * (len(group) - 1) / 2)
        return [bottom + gap * k for k in range(len(group))]

    merged = True
    while merged:
        merged = False
        for k in range(len(groups) - 1):
            if placed(groups[k])[-1] + gap > placed(groups[k + 1])[0] + 1e-12:
                groups[k : k + 2] = [groups[k] + groups[k + 1]]
                merged = True
                break
    heights = [0.0] * len(accuracies)
    for group in groups:
        for i, height in zip(group, placed(group), strict=True):
            heights[i] = height
    return heights


def plot_accuracy_vs_size(points: pd.DataFrame, chance: float | None = None, title: str = "") -> Figure:
    """Accuracy vs model size; ``points``: columns label, memory_bytes, accuracy, source ("run" or a paper source).

    Every label is anchored to its own point: an annotation whose ``xy`` is the point, its text to the right
    at the height :func:`label_heights` gives it among the points of the same size, joined to the point by a
    thin line. ``chance``: the data set's chance accuracy, drawn as a dashed line.
    """
    fig = Figure(figsize=(7.5, 4.4))
    ax = fig.subplots()
    for source, group in points.groupby("source", sort=False):
        marker = "o" if source == "run" else "*"
        size = 60 if source == "run" else 160
        name = "this run" if source == "run" else source
        ax.scatter(group["memory_bytes"] / 1024, group["accuracy"], marker=marker, s=size, label=name, zorder=3)
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=0.8, label=f"chance ({chance:g})")
    kib = points["memory_bytes"].to_numpy() / 1024
    heights = [0.0] * len(points)
    for size in sorted(set(kib)):
        members = [i for i in range(len(points)) if kib[i] == size]
        crowd = label_heights([float(points["accuracy"].iloc[i]) for i in members])
        for i, height in zip(members, crowd, strict=True):
            heights[i] = height
    for i, r in enumerate(points.itertuples()):
        ax.annotate(
            r.label,
            xy=(kib[i], r.accuracy),
            xytext=(kib[i] * LABEL_STEP, heights[i]),
            textcoords="data",
            fontsize=8,
            va="center",
            ha="left",
            arrowprops={"arrowstyle": "-", "color": "0.45", "linewidth": 0.6, "shrinkA": 1, "shrinkB": 4},
        )
    ax.set_xscale("log")
    ax.set_xlim(kib.min() / 1.6, kib.max() * LABEL_STEP * 3.5)  # room for the labels right of the last points
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, max(1.05, max(heights) + LABEL_GAP))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "top-1 test accuracy against model size")
    fig.tight_layout()
    return fig
