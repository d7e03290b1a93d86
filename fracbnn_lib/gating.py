"""Measuring precision-gating sparsity without counters on the modules.

The release stores counts on every PG conv and overwrites them at each forward. Here a
context manager attaches forward hooks for its duration and returns a :class:`GatingStats`
object that accumulates over any number of batches::

    with measure_gating(model) as stats:
        for images, _ in loader:
            model(images)
    stats.sparsity, stats.per_layer()

Each hook recomputes the gate mask (one 1-bit conv per layer) under ``torch.no_grad``.
The tables and figures of what was measured (per-layer sparsity, the learned thresholds, weights
that no longer train) follow: notebooks 03 and 04 show them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from .layers import BinaryConv2d, PGBinaryConv2d
from .quantizers import SIGN_STE_CLIP


@dataclass
class GatingStats:
    """Counts of outputs per PG layer: ``total`` and ``high`` (computed at 2 bits)."""

    total: dict[str, int] = field(default_factory=dict)
    high: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, mask: torch.Tensor) -> None:
        self.total[name] = self.total.get(name, 0) + mask.numel()
        self.high[name] = self.high.get(name, 0) + int(mask.sum())

    def per_layer(self) -> dict[str, float]:
        """Sparsity per layer: the share of outputs computed at 1 bit only (mask 0)."""
        return {name: 1.0 - self.high[name] / n for name, n in self.total.items() if n}

    @property
    def sparsity(self) -> float:
        """Overall sparsity over all PG outputs: ``1 - sum(high) / sum(total)``."""
        total = sum(self.total.values())
        return 1.0 - sum(self.high.values()) / total if total else 0.0

    @property
    def effective_activation_bits(self) -> float:
        """Average activation bits spent per PG output: ``1 + (1 - sparsity)`` (paper: ~1.4)."""
        return 2.0 - self.sparsity

    def table(self):
        """Per-layer table (pandas DataFrame): outputs, 2-bit outputs, sparsity."""
        import pandas as pd

        rows = [
            {"layer": name, "outputs": n, "outputs_2bit": self.high[name], "sparsity": s}
            for (name, n), s in zip(self.total.items(), self.per_layer().values(), strict=True)
        ]
        return pd.DataFrame(rows, columns=["layer", "outputs", "outputs_2bit", "sparsity"])


@contextmanager
def measure_gating(model: nn.Module) -> Iterator[GatingStats]:
    """Record the gate masks of every :class:`PGBinaryConv2d` in ``model`` while inside the block."""
    stats = GatingStats()
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, PGBinaryConv2d):

            def hook(mod: PGBinaryConv2d, inputs: tuple[torch.Tensor], _out, name: str = name) -> None:
                with torch.no_grad():
                    stats.add(name, mod.gate_mask(inputs[0]))

            handles.append(module.register_forward_hook(hook))
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------- tables and figures


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


def threshold_movement(model: nn.Module, initial: float = -1.0) -> dict[str, Any]:
    """How far training moved the gate thresholds from their initial value (``metrics.json`` ``gating.thresholds``).

    ``{"initial", "mean", "largest_move", "per_layer": {layer: mean θ}}``: the mean over all channels, the
    layer mean that moved farthest from ``initial`` (signed), and each PG layer's mean threshold.
    """
    per_layer = {name: float(t.mean()) for name, t in thresholds(model).items()}
    values = np.concatenate(list(thresholds(model).values())) if per_layer else np.zeros(1)
    largest = max(per_layer.values(), key=lambda m: abs(m - initial), default=initial)
    return {"initial": initial, "mean": float(values.mean()), "largest_move": largest - initial, "per_layer": per_layer}


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
    ax.set_xlabel("precision-gated conv")
    ax.set_ylabel("share of outputs")
    ax.set_title("precision gating per layer: outputs computed at 1 bit and at 2 bits")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
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
    hist_ax.set_title("all channels", fontsize=10)
    box_ax.set_title("per precision-gated conv", fontsize=10)
    fig.suptitle("learned gate thresholds θ (one per output channel, initialised to -1)")
    fig.tight_layout()
    return fig


def plot_gating_sweep(sweep: pd.DataFrame) -> Figure:
    """The accuracy-sparsity trade-off of the gating target ``g``: sparsity (left axis) and accuracy (right).

    ``sweep``: :func:`fracbnn_lib.training.gating_sweep` rows (target, sparsity, test_accuracy). When the
    targets moved the sparsity by less than 0.05, the title says the sweep is too short to show a trade-off.
    """
    fig = Figure(figsize=(6.4, 3.8))
    sparsity_ax = fig.subplots()
    accuracy_ax = sparsity_ax.twinx()
    lines = sparsity_ax.plot(sweep["target"], sweep["sparsity"], marker="o", color="tab:blue", label="gating sparsity")
    lines += accuracy_ax.plot(
        sweep["target"], sweep["test_accuracy"], marker="s", color="tab:orange", label="test accuracy"
    )
    sparsity_ax.set_xlabel("gating target g (where the regulariser pulls the thresholds)")
    sparsity_ax.set_ylabel("gating sparsity (share of outputs at 1 bit)", color="tab:blue")
    accuracy_ax.set_ylabel("top-1 test accuracy", color="tab:orange")
    for ax in (sparsity_ax, accuracy_ax):
        ax.set_ylim(0, 1)
    sparsity_ax.grid(True, alpha=0.3)
    spread = float(sweep["sparsity"].max() - sweep["sparsity"].min()) if len(sweep) else 0.0
    title = "gating target sweep: sparsity against accuracy"
    if spread < 0.05:
        title += f"\n(sparsity moved by {spread:.3f} only: too few epochs or targets to show the trade-off)"
    sparsity_ax.set_title(title, fontsize=9)
    sparsity_ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
