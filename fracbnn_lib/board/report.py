"""Results of a board evaluation: accuracy, agreement with the exported logits, timing beside the paper's
board figures, a confusion-matrix figure, and the run's ``metrics.json``.

Like :mod:`.driver`, this module runs on PYNQ board images: numpy and matplotlib only (no pyplot, no
PyTorch), Python 3.8 syntax and APIs. It writes the run folder's files with :mod:`fracbnn_lib.run_files`
and compares logits with :mod:`fracbnn_lib.logits`, torch-free modules the deploy bundle carries too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..logits import accuracy
from ..paper import PAPER_DATASET_NAMES, chance_level, dataset_classes, paper_row

BOARD_KEYS = ("backend", "images", "accuracy", "latency_ms_median", "latency_ms_p95", "fps")
"""Keys of the ``board`` section of ``metrics.json`` (DESIGN.md section 4)."""

BACKEND_LABELS = {
    "pynq": "PYNQ board",
    "csim": "C-simulation on the host CPU, not a board figure",
}

# --------------------------------------------------------------------------- numbers


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """``int64[classes, classes]``: row = true label, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def board_metrics(result: Any, labels: np.ndarray) -> dict[str, Any]:
    """The ``board`` section of ``metrics.json`` from a driver's ``BatchResult`` and the labels."""
    timing = result.timing
    return {
        "backend": result.backend,
        "images": int(result.logits.shape[0]),
        "accuracy": accuracy(result.logits, labels),
        "latency_ms_median": timing.latency_ms_median,
        "latency_ms_p95": timing.latency_ms_p95,
        "fps": timing.fps,
    }


def class_names(manifest: dict, classes: int = 10) -> list[str]:
    """Class names from an export's manifest (``test_vectors.classes``), else ``"0"`` ... ``"9"``."""
    names = (manifest.get("test_vectors") or {}).get("classes")
    if isinstance(names, list) and len(names) == classes:
        return [str(n) for n in names]
    return [str(k) for k in range(classes)]


# --------------------------------------------------------------------------- text


UNITS_SHOWN = {"1/s": "images/s", "fraction": ""}
"""How :data:`fracbnn_lib.paper.PAPER_REPORTED`'s units read in the board comparison."""


def _source_shown(row: dict[str, Any]) -> str:
    """Where a reported figure comes from, as the board comparison prints it."""
    network = PAPER_DATASET_NAMES.get(row["dataset"], row["dataset"])
    if row["source"] == "paper":
        return f"paper ({network}, FracBNN top-1)" if row["quantity"] == "top1_accuracy" else f"paper ({network})"
    if row["source"] == "as reported":
        return f"as reported ({network}, Ultra96v2)"
    return row["source"]


def _with_unit(value: float, unit: str, digits: int) -> str:
    unit = UNITS_SHOWN.get(unit, unit)
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def _reported(dataset: str, quantity: str, source: str) -> dict[str, Any] | None:
    try:
        return paper_row(dataset, quantity, source)
    except KeyError:
        return None


def comparison_text(metrics: dict[str, Any], dataset: str = "cifar10") -> str:
    """The measured ``board`` metrics beside the paper's board figures for ``dataset``'s network, as plain text.

    ``dataset``: the data set the export's test vectors come from (its manifest's ``dataset``); the
    paper's figures are its network's (CIFAR-10's for ``synthetic``, ImageNet's for ``imagenet-tiny``), each
    with its source (``as reported``: quoted from the paper's tables, not confirmed against a copy). The
    first row is the data set's chance accuracy. The measured value ends each line, so a timing never
    shifts the columns (the notebook regression masks timings in place).
    """
    backend = BACKEND_LABELS.get(metrics["backend"], metrics["backend"])
    median, p95 = metrics["latency_ms_median"], metrics["latency_ms_p95"]
    try:
        chance = f"{chance_level(dataset):.3f} (1 of {dataset_classes(dataset)} classes)"
    except ValueError:  # a data set the kit does not know: its classes are unknown here
        chance = ""
    rows = [
        ("chance accuracy", None, chance, 3),
        ("top-1 accuracy", _reported(dataset, "top1_accuracy", "paper"), f"{metrics['accuracy']:.3f}", 3),
        ("throughput", _reported(dataset, "fps", "as reported"), _with_unit(metrics["fps"], "images/s", 1), 1),
        ("throughput, release's run", _reported(dataset, "fps", "release deploy notebook"), "", 1),
        (
            "latency per image, median",
            _reported(dataset, "latency_ms", "release deploy notebook"),
            _with_unit(median, "ms", 3),
            2,
        ),
        ("latency per image, p95", None, _with_unit(p95, "ms", 3), 2),
        ("power", _reported(dataset, "power_w", "as reported"), "not measured", 1),
    ]
    lines = [
        f"{'quantity':<27} {'paper / release':<17} {'source':<36} measured here ({backend})",
        "-" * 110,
    ]
    for quantity, paper, measured, digits in rows:
        if paper is None and not measured:
            continue  # neither the paper nor this run has a figure of this kind for this network
        reported = _with_unit(paper["value"], paper["unit"], digits) if paper else "-"
        source = _source_shown(paper) if paper else ""
        lines.append(f"{quantity:<27} {reported:<17} {source:<36} {measured}".rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with an Agg canvas attached, so ``tight_layout`` needs no fallback renderer
    (matplotlib 3.1, PYNQ 2.7's, warns "falling back to Agg renderer" on a figure without one)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(matrix: np.ndarray, names: list[str], title: str = "") -> Figure:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells; titled
    ``confusion matrix: <title>``."""
    fig = _figure(6.4, 5.2)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    classes = matrix.shape[0]
    ax.set_xticks(range(classes))
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticks(range(classes))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > threshold else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set_title(f"confusion matrix: {title}" if title else "confusion matrix")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_latency(latencies_s: np.ndarray, title: str = "") -> Figure:
    """Histogram of the per-image round-trip times in milliseconds, with the median and p95 marked; ``title``
    (default: "round trip per image") says which backend measured them."""
    ms = np.asarray(latencies_s, dtype=np.float64) * 1e3
    fig = _figure(6.0, 3.4)
    ax = fig.add_subplot()
    ax.hist(ms, bins=min(40, max(5, ms.size // 5)), color="tab:blue", alpha=0.8)
    for value, label, style in ((np.median(ms), "median", "-"), (np.percentile(ms, 95), "p95", "--")):
        ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:.3f} ms")
    ax.set_xlabel("round trip per image (ms)")
    ax.set_ylabel("images")
    ax.set_title(title or "round trip per image")
    ax.legend()
    fig.tight_layout()
    return fig
