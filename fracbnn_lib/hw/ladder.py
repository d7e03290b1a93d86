"""Notebook 04's verification ladder, the same on both accelerators: :class:`Ladder`, its table and its metrics.

Each accelerator's ``run_ladder(model, export_dir, images, labels)`` runs the rungs on the export's test
vectors and returns a :class:`Ladder`: L0 the PyTorch float model, L1 the folded float model (CIFAR-10
only), L2 the bit-exact numpy reference, L3 the g++ C-simulation of the HLS C++. L2 and L3 give the
accelerator's *outputs* (CIFAR-10: the logits; ImageNet: the pooled sums, which the ARM's classifier turns
into logits), which must be equal bit for bit; every rung gives logits, compared by accuracy and arg-max
agreement with L0.

Agreement conventions: *arg-max agreement* is the share of images whose top-1 class is the same;
*mismatched* outputs or logits are values whose bit patterns differ.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..gating import GatingStats
from ..logits import accuracy, argmax_agreement, mismatched_logits, mismatched_outputs
from .datapath import ReferenceTrace

FLOAT, FOLDED, REFERENCE, CSIM = "L0 float model", "L1 folded model", "L2 fixed-point reference", "L3 C-simulation"
"""The rungs' names, in ladder order."""


@dataclass
class Ladder:
    """Every rung's results on the same ``N`` test vectors of one export.

    ``accelerator``: its name (:mod:`fracbnn_lib.accelerators`); ``params``: the export's parameters as the
    accelerator stores them; ``labels``: ``int64[N]``; ``packed``: the input words; ``logits``: rung name ->
    ``float32[N, classes]`` in ladder order; ``reference_outputs``, ``csim_outputs``: the accelerator's
    outputs from L2 and L3; ``expected_outputs``: what the export recorded (``expected_logits.npy`` /
    ``expected_pooled.npy``); ``trace``: what L2's datapath did (saturations, gates);
    ``images_per_s``: the measured rates of ``"reference"`` and ``"csim"``; ``modules``: the float model's
    module of each PG layer the trace names, where the two names differ (ImageNet).
    """

    accelerator: str
    params: Any
    labels: np.ndarray
    packed: np.ndarray
    logits: dict[str, np.ndarray]
    reference_outputs: np.ndarray
    csim_outputs: np.ndarray
    expected_outputs: np.ndarray
    trace: ReferenceTrace
    images_per_s: dict[str, float] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)

    @property
    def mismatched_outputs(self) -> int:
        """Outputs of the C-simulation whose bits differ from the reference's (0 is the requirement)."""
        return mismatched_outputs(self.csim_outputs, self.reference_outputs)


def timed(run: Callable[[], np.ndarray], images: int) -> tuple[np.ndarray, float]:
    """``run()``'s result and the images per second it took (``images`` / wall time)."""
    start = time.perf_counter()
    result = run()
    return result, images / max(time.perf_counter() - start, 1e-9)


def ladder_table(ladder: Ladder) -> pd.DataFrame:
    """One row per rung: accuracy, arg-max agreement with L0, outputs and logits differing from L2, largest
    logit difference to L0 (``outputs_differing_from_reference`` only for the rungs that compute the
    accelerator's outputs)."""
    outputs = {REFERENCE: ladder.reference_outputs, CSIM: ladder.csim_outputs}
    reference, float_logits = ladder.logits[REFERENCE], ladder.logits[FLOAT]
    rows = []
    for name, logits in ladder.logits.items():
        rows.append(
            {
                "rung": name,
                "accuracy": accuracy(logits, ladder.labels),
                "argmax_agreement_float": argmax_agreement(logits, float_logits),
                "outputs_differing_from_reference": (
                    mismatched_outputs(outputs[name], ladder.reference_outputs) if name in outputs else ""
                ),
                "logits_differing_from_reference": mismatched_logits(logits, reference),
                "max_abs_diff_float": float(np.abs(np.asarray(logits, np.float64) - float_logits).max()),
            }
        )
    return pd.DataFrame(rows)


def photograph_table(
    model: nn.Module,
    hardware: ModuleType,
    photos: torch.Tensor,
    names: Sequence[str],
    formats: Sequence[str] = ("paper", "default"),
    classes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The accelerator's path on natural photographs (:func:`fracbnn_lib.photographs.sample_photographs`).

    For each format set in ``formats`` the model is exported with ``photos`` as its test vectors (into a
    temporary folder, removed afterwards) and the ladder runs on them (``hardware.run_ladder``: float model,
    bit-exact reference, C-simulation). ``photos``: float ``N x 3 x S x S`` in [0, 1] at the accelerator's
    image size; ``names``: ``N`` names; ``classes``: class names (else class indices are shown). One row per
    photograph and format set: ``photograph``, ``formats``, the top-1 class of ``float``, ``reference`` and
    ``csim``, ``csim_equals_reference`` (every output bit-equal), ``max_abs_diff_float`` (the reference's
    largest logit difference to the float model). A photograph has no label: the ladder's labels are placeholders
    and no accuracy is reported.
    """
    unlabelled = np.zeros(len(photos), np.int64)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fracbnn-photographs-") as scratch:
        for name in formats:
            folder = Path(scratch) / name
            hardware.export_accelerator(model, folder, photos, unlabelled, formats=name)
            ladder = hardware.run_ladder(model, folder, photos, unlabelled)
            top = {rung: np.asarray(ladder.logits[rung]).argmax(axis=1) for rung in (FLOAT, REFERENCE, CSIM)}
            shown = {rung: [classes[k] if classes is not None else int(k) for k in tops] for rung, tops in top.items()}
            same = [
                mismatched_outputs(ladder.csim_outputs[i : i + 1], ladder.reference_outputs[i : i + 1]) == 0
                for i in range(len(photos))
            ]
            error = np.abs(np.asarray(ladder.logits[REFERENCE], np.float64) - ladder.logits[FLOAT]).max(axis=1)
            for i, photo in enumerate(names):
                rows.append(
                    {
                        "photograph": photo,
                        "formats": name,
                        "float": shown[FLOAT][i],
                        "reference": shown[REFERENCE][i],
                        "csim": shown[CSIM][i],
                        "csim_equals_reference": bool(same[i]),
                        "max_abs_diff_float": float(error[i]),
                    }
                )
    return pd.DataFrame(rows)


def hardware_sparsity_table(ladder: Ladder, float_stats: GatingStats | None = None) -> pd.DataFrame:
    """Per PG layer: the share of outputs whose gate stayed closed in the accelerator (and in the float model)."""
    hardware = ladder.trace.sparsity()
    table = pd.DataFrame({"layer": list(hardware), "hardware_sparsity": list(hardware.values())})
    if float_stats is not None:
        per_module = float_stats.per_layer()
        table["float_sparsity"] = [per_module.get(ladder.modules.get(name, name), np.nan) for name in hardware]
    return table


def plot_hardware_sparsity(table: pd.DataFrame) -> Figure:
    """Bars: gating sparsity per PG layer as the accelerator computes it (and as the float model does)."""
    fig = Figure(figsize=(max(6, 0.3 * len(table) + 2), 3.6))
    ax = fig.subplots()
    x = np.arange(len(table))
    width = 0.4 if "float_sparsity" in table else 0.8
    ax.bar(x - (width / 2 if width < 0.8 else 0), table["hardware_sparsity"], width, label="accelerator (fixed point)")
    if "float_sparsity" in table:
        ax.bar(x + width / 2, table["float_sparsity"], width, label="float model", alpha=0.7)
    ax.set_xticks(x, table["layer"], rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("gating sparsity (MSB only)")
    ax.set_title("precision gate per layer: share of outputs computed at 1 bit")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def hls_metrics(ladder: Ladder, formats: str, cost_summary: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The ``hls`` section of ``metrics.json`` (notebook 04), the same keys on both accelerators.

    ``accelerator``, ``images``, ``formats``; ``accuracy_float``/``_reference``/``_csim``;
    ``argmax_agreement_float_reference``; ``csim_reference_mismatched_outputs`` and ``..._logits`` (both 0
    when the C-simulation is bit-exact); ``expected_reference_mismatched_outputs`` (the export's recorded
    outputs against this run's reference); ``saturated_values`` (the datapath's, on these images);
    ``csim_images_per_s``, ``reference_images_per_s``; ``cost``: the cost model's summary
    (:data:`~fracbnn_lib.hw.cost_model.SUMMARY_KEYS` and the accelerator's own keys); then ``extra``.
    """
    rungs = {"float": FLOAT, "reference": REFERENCE, "csim": CSIM}
    return {
        "accelerator": ladder.accelerator,
        "images": len(ladder.labels),
        "formats": formats,
        **{f"accuracy_{key}": accuracy(ladder.logits[rung], ladder.labels) for key, rung in rungs.items()},
        "argmax_agreement_float_reference": argmax_agreement(ladder.logits[REFERENCE], ladder.logits[FLOAT]),
        "csim_reference_mismatched_outputs": ladder.mismatched_outputs,
        "csim_reference_mismatched_logits": mismatched_logits(ladder.logits[CSIM], ladder.logits[REFERENCE]),
        "expected_reference_mismatched_outputs": mismatched_outputs(ladder.expected_outputs, ladder.reference_outputs),
        "saturated_values": ladder.trace.total_saturated(),
        "csim_images_per_s": float(ladder.images_per_s["csim"]),
        "reference_images_per_s": float(ladder.images_per_s["reference"]),
        "cost": {key: value for key, value in cost_summary.items() if key != "per_layer"},
        **extra,
    }


def images_per_second(predict: Callable[[np.ndarray], Any], packed: np.ndarray, min_seconds: float = 1.0) -> float:
    """Throughput of ``predict`` on the batch ``packed``, repeated until ``min_seconds`` have passed (warm)."""
    predict(packed[: min(len(packed), 2)])  # warm up (a C-simulation build, caches)
    done, start = 0, time.perf_counter()
    while True:
        predict(packed)
        done += len(packed)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed
