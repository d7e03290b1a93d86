"""The run's ``metrics.json``: one file per run, each notebook merging its own section.

Values are plain JSON (numbers, strings, lists, dicts); accuracies and sparsities are
fractions in [0, 1]. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .files import atomic_write

METRICS_FILE = "metrics.json"


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


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit of ``cwd`` (or of this package's checkout), or None outside git."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment_info() -> dict[str, Any]:
    """Versions and machine facts recorded in every run: torch, fracbnn_lib, python, git commit, device.

    ``cpu_capability`` is the vector instruction set torch's CPU kernels use (e.g. ``AVX2``,
    ``AVX512``): a seeded CPU training run repeats exactly on machines with the same one, not across
    them (the kernels round differently).
    """
    import torch

    from . import __version__

    return {
        "torch": torch.__version__,
        "fracbnn_lib": __version__,
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
