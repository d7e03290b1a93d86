"""The files of a run folder: ``metrics.json``, ``figures/*.png`` and plain-text tables.

One home for what every notebook writes into its run folder, and what the deploy bundle writes on
a board: the standard library, plus matplotlib and pandas only for the objects handed in (no
PyTorch), Python 3.8 syntax. Every file is written atomically (:func:`fracbnn_lib.files.atomic_write`).

``metrics.json`` holds plain JSON (numbers, strings, lists, dicts), one section per notebook, each
merged one level deep (:func:`update_metrics`); accuracies and sparsities are fractions in [0, 1].
Figures are PNGs at 100 dpi without the matplotlib version in their metadata, so a rerun writes
the same bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The run's metrics so far (an empty dict if none were written)."""
    path = Path(run_dir) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def update_metrics(run_dir: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics[section]`` (one level deep) and write the file atomically.

    Returns the whole updated metrics dict.
    """
    metrics = read_metrics(run_dir)
    merged = dict(metrics.get(section, {}))
    merged.update(values)
    metrics[section] = merged
    write_json_atomic(metrics, Path(run_dir) / METRICS_FILE)
    return metrics


def save_figure(fig: Figure, run_dir: str | Path, name: str) -> Path:
    """Save ``fig`` as ``run_dir/figures/<name>.png`` atomically (byte-stable: no software metadata)."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return atomic_write(Path(run_dir) / FIGURES_DIR / f"{name}.png", png.getvalue())


def metrics_text(section: dict[str, Any], hide_suffix: str = "_per_s") -> str:
    """A ``metrics.json`` section as ``key value`` lines (floats to 3 places, nested dicts on one line).

    Keys ending in ``hide_suffix`` (timings, which vary from run to run) are left out.
    """

    def shown(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{name} {shown(number)}" for name, number in value.items())
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    return "\n".join(f"{key:<34} {shown(value)}" for key, value in section.items() if not key.endswith(hide_suffix))


RATE_COLUMNS = ("lr", "weight_decay")
"""Columns :func:`format_table` prints with :func:`format_rate` (a learning rate of 5e-4 is not 0.001 or 0.000)."""


def format_rate(value: Any) -> str:
    """A learning rate or weight decay in the form the recipe writes it: ``1e-3``, ``5e-4``, ``2.5e-4``, ``0``.

    Values from 0.01 up are printed as decimals (``0.1``); NaN and non-numbers as ``str`` gives them.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number or number == 0.0 or number in (float("inf"), float("-inf")):
        return "0" if number == 0.0 else str(number)
    if 0.01 <= abs(number) < 1000:
        return f"{number:.4g}"
    mantissa, exponent = f"{number:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def format_table(table: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """Plain-text rendering of a DataFrame with rounded floats and no index (stable for snapshots).

    Floats are written with ``floats``, except the learning-rate and weight-decay columns
    (:data:`RATE_COLUMNS`), which keep their significant digits (:func:`format_rate`: ``5e-4``, not ``0.001``).
    """
    formatters = {column: format_rate for column in RATE_COLUMNS if column in table.columns}
    return table.to_string(index=False, float_format=floats.format, formatters=formatters or None)
