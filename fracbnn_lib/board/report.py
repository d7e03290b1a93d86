"""Results of a board evaluation: accuracy, agreement with the exported logits, timing beside the paper's
board figures, a confusion-matrix figure, and the run's ``metrics.json``.

Like :mod:`.driver`, this module runs on PYNQ board images: numpy and matplotlib only (no pyplot, no
PyTorch), Python 3.8 syntax and APIs. Files are written atomically (temporary file, then rename),
with the semantics of ``fracbnn_lib.metrics.update_metrics`` and ``fracbnn_lib.analysis.save_figure``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
BOARD_KEYS = ("backend", "images", "accuracy", "latency_ms_median", "latency_ms_p95", "fps")
"""Keys of the ``board`` section of ``metrics.json`` (DESIGN.md section 4)."""

BACKEND_LABELS = {
    "pynq": "PYNQ board",
    "csim": "C-simulation on the host CPU, not a board figure",
}

PAPER_BOARD: tuple[dict[str, Any], ...] = (
    {"quantity": "top1_accuracy", "value": 0.891, "unit": "", "source": "paper (CIFAR-10, float model)"},
    {"quantity": "fps", "value": 2806.9, "unit": "images/s", "source": "as reported (Ultra96v2, 250 MHz)"},
    {"quantity": "power_w", "value": 4.1, "unit": "W", "source": "as reported (Ultra96v2, 250 MHz)"},
    {"quantity": "fps", "value": 1419.2, "unit": "images/s", "source": "release deploy notebook"},
    {"quantity": "latency_ms", "value": 0.70, "unit": "ms", "source": "release deploy notebook"},
)
"""The paper's and the release's board figures for CIFAR-10 (DESIGN.md section 1).

``as reported``: as commonly quoted from the paper's tables (not confirmed against a copy of them);
``release deploy notebook``: the release's own early run on 1000 images (latency measured from
``ap_start`` to ``ap_idle``).
"""


# --------------------------------------------------------------------------- numbers


def accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Share of images whose arg-max logit is the label (``labels`` ``[N]``, ``logits`` ``[N, C]``)."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """``int64[classes, classes]``: row = true label, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def logit_agreement(logits: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """How ``logits`` ``[N, C]`` compare with the exported ``expected`` ones (notebook 04's C-simulation).

    ``identical_images``: images whose every logit is bit-identical; ``mismatched_logits``: logits
    that differ; ``max_abs_diff``; ``argmax_agreement``: share of images with the same arg-max.
    """
    logits, expected = np.asarray(logits, dtype=np.float32), np.asarray(expected, dtype=np.float32)
    same = logits == expected
    return {
        "images": int(logits.shape[0]),
        "identical_images": int(np.all(same, axis=1).sum()),
        "mismatched_logits": int((~same).sum()),
        "max_abs_diff": float(np.max(np.abs(logits - expected))) if logits.size else 0.0,
        "argmax_agreement": float(np.mean(np.argmax(logits, axis=1) == np.argmax(expected, axis=1))),
    }


def board_metrics(result: Any, labels: np.ndarray) -> dict[str, Any]:
    """The ``board`` section of ``metrics.json`` from a driver's ``BatchResult`` and the labels."""
    timing = result.timing
    return {
        "backend": result.backend,
        "images": int(result.logits.shape[0]),
        "accuracy": accuracy(labels, result.logits),
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


def _paper(quantity: str, source_prefix: str) -> dict[str, Any]:
    return next(r for r in PAPER_BOARD if r["quantity"] == quantity and r["source"].startswith(source_prefix))


def _with_unit(value: float, unit: str, digits: int) -> str:
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def comparison_text(metrics: dict[str, Any]) -> str:
    """The measured ``board`` metrics beside the paper's board figures, as plain text.

    The measured value ends each line, so a timing never shifts the columns (the notebook
    regression masks timings in place).
    """
    backend = BACKEND_LABELS.get(metrics["backend"], metrics["backend"])
    median, p95 = metrics["latency_ms_median"], metrics["latency_ms_p95"]
    rows = [
        ("top-1 accuracy", _paper("top1_accuracy", "paper"), f"{metrics['accuracy']:.3f}", 3),
        ("throughput", _paper("fps", "as reported"), _with_unit(metrics["fps"], "images/s", 1), 1),
        ("throughput, release's run", _paper("fps", "release"), "", 1),
        ("latency per image, median", _paper("latency_ms", "release"), _with_unit(median, "ms", 3), 2),
        ("latency per image, p95", None, _with_unit(p95, "ms", 3), 2),
        ("power", _paper("power_w", "as reported"), "not measured", 1),
    ]
    lines = [
        f"{'quantity':<27} {'paper / release':<17} {'source':<34} measured here ({backend})",
        "-" * 110,
    ]
    for quantity, paper, measured, digits in rows:
        reported = _with_unit(paper["value"], paper["unit"], digits) if paper else "-"
        source = paper["source"] if paper else ""
        lines.append(f"{quantity:<27} {reported:<17} {source:<34} {measured}".rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures


def plot_confusion(matrix: np.ndarray, names: list[str], title: str = "") -> Figure:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    fig = Figure(figsize=(6.4, 5.2))
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
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_latency(latencies_s: np.ndarray, title: str = "") -> Figure:
    """Histogram of the per-image round-trip times in milliseconds, with the median and p95 marked."""
    ms = np.asarray(latencies_s, dtype=np.float64) * 1e3
    fig = Figure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    ax.hist(ms, bins=min(40, max(5, ms.size // 5)), color="tab:blue", alpha=0.8)
    for value, label, style in ((np.median(ms), "median", "-"), (np.percentile(ms, 95), "p95", "--")):
        ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:.3f} ms")
    ax.set_xlabel("round trip per image (ms)")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- files


def _write_atomic(path: Path, write: Callable[[Any], object], mode: str) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_metrics(folder: str | Path) -> dict[str, Any]:
    """``folder/metrics.json`` (an empty dict if there is none)."""
    path = Path(folder) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_metrics(folder: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics[section]`` of ``folder/metrics.json`` (one level deep), atomically.

    Returns the whole updated metrics dict.
    """
    metrics = read_metrics(folder)
    merged = dict(metrics.get(section, {}))
    merged.update(values)
    metrics[section] = merged

    def write(handle: Any) -> None:
        json.dump(metrics, handle, indent=2)
        handle.write("\n")

    _write_atomic(Path(folder) / METRICS_FILE, write, "w")
    return metrics


def save_figure(fig: Figure, folder: str | Path, name: str) -> Path:
    """Save ``fig`` as ``folder/figures/<name>.png``, atomically."""
    path = Path(folder) / FIGURES_DIR / f"{name}.png"
    return _write_atomic(
        path,
        lambda handle: fig.savefig(handle, format="png", dpi=100, bbox_inches="tight"),
        "wb",
    )
