"""The environment a run records in its ``metrics.json``: versions, git commit, device and CPU kernels."""

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
