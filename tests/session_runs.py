"""The session's copy of the repository and its pipeline runs (the fixtures are in ``tests/conftest.py``).

Helpers that test modules import (``from session_runs import ...``): a repository copy that uses this
checkout's ``.venv``, the environment a user has after ``. .venv/bin/activate``, a command run there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
XILINX_TOOLS = ("vivado_hls", "vitis_hls", "vivado")


def repository_copy(target: Path) -> Path:
    """The checkout's tracked and unignored files (mtimes kept, so make sees the same state) and its .venv."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    return target


def user_environment(copy: Path) -> dict[str, str]:
    """This machine's environment as after ``. .venv/bin/activate`` in ``copy``, without any Xilinx tool."""
    folders = [
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not any((Path(folder) / tool).exists() for tool in XILINX_TOOLS)
    ]
    env = dict(
        os.environ, PATH=os.pathsep.join([str(copy / ".venv" / "bin"), *folders]), VIRTUAL_ENV=str(copy / ".venv")
    )
    env.pop("PYTHONPATH", None)
    env["TQDM_DISABLE"] = "1"
    return env


def run_command(command: str, copy: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A shell command in the copy, as a user types it."""
    return subprocess.run(command, shell=True, cwd=copy, env=env, capture_output=True, text=True, timeout=3600)


@dataclass(frozen=True)
class PipelineRun:
    """One ``make reproduce`` in the copy: the command's result, and ``metrics.json`` as the pipeline left it."""

    copy: Path
    command: str
    done: subprocess.CompletedProcess
    run_dir: Path
    metrics: dict[str, Any]


def pipeline_run(copy: Path, command: str, run_name: str) -> PipelineRun:
    """Run ``command`` (a ``make reproduce``) in the copy; it must succeed."""
    import json

    done = run_command(command, copy, user_environment(copy))
    run_dir = copy / "runs" / run_name
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return PipelineRun(copy, command, done, run_dir, json.loads((run_dir / "metrics.json").read_text()))
