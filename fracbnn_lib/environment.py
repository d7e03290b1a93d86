"""The environment of a run: what it records in its ``metrics.json`` (versions, git commit, device, CPU
kernels), and how the entry points set up OpenMP before PyTorch loads (:func:`bound_openmp_spinning`)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


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

    from .version import __version__

    return {
        "torch": torch.__version__,
        "fracbnn_lib": __version__,
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


OPENMP_SPIN = {"GOMP_SPINCOUNT": "10000"}
"""How long PyTorch's OpenMP workers (GNU libgomp) spin at a barrier before they sleep: 10,000 turns
instead of libgomp's 300,000. On an idle machine a step is as fast; on a busy one a waiting worker no
longer burns the time slice of the worker it waits for (``benchmarks/bench_busy.py``: 2.8x less time
per training step with six other busy processes on two cores)."""


def bound_openmp_spinning(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set :data:`OPENMP_SPIN` in ``environ`` (default ``os.environ``) where the user has not set it; returns it.

    libgomp reads it once, when it loads: the CLI and the pipeline call this before PyTorch is imported,
    and the pipeline's notebook kernels inherit it.
    """
    environ = os.environ if environ is None else environ
    for name, value in OPENMP_SPIN.items():
        environ.setdefault(name, value)
    return environ
