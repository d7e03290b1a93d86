"""Measuring precision-gating sparsity without counters on the modules.

The release stores counts on every PG conv and overwrites them at each forward. Here a
context manager attaches forward hooks for its duration and returns a :class:`GatingStats`
object that accumulates over any number of batches::

    with measure_gating(model) as stats:
        for images, _ in loader:
            model(images)
    stats.sparsity, stats.per_layer()

Each hook recomputes the gate mask (one 1-bit conv per layer) under ``torch.no_grad``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import PGBinaryConv2d


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
