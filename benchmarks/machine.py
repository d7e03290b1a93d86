"""The machine and versions a benchmark ran on, printed at the top of every benchmark's output."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import torch

from fracbnn_lib.environment import environment_info

ROOT = Path(__file__).resolve().parents[1]


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return platform.processor() or platform.machine()


def _local_changes() -> bool:
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT
        )
    except OSError:
        return False
    return bool(status.stdout.strip())


def machine_info() -> str:
    """CPU, cores, torch threads, versions, git commit (and whether the tree has local changes), load, CUDA device."""
    env = environment_info()
    commit = (env["git_commit"] or "no git")[:10] + (" + local changes" if _local_changes() else "")
    lines = [
        f"CPU: {_cpu_name()} ({env['cpu_capability']} kernels), {os.cpu_count()} logical cores, "
        f"torch threads {torch.get_num_threads()}",
        f"python {env['python']}, torch {env['torch']}, fracbnn_lib {env['fracbnn_lib']} ({commit}), "
        f"{platform.system()} {platform.release()}",
    ]
    if hasattr(os, "getloadavg"):
        lines.append("load average before the run (1/5/15 min): " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    if torch.cuda.is_available():
        lines.append(f"CUDA: {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}")
    return "\n".join(lines)
