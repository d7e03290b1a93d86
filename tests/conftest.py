"""Fixtures the test modules share: run the pipeline once, check it many times.

The suite's expensive work is the embedded defaults' pipeline (notebooks 01 -> 05 on ``params/synthetic.yaml``
and on ``params/imagenet-tiny.yaml``). It runs once per session, as the README's own command
``make reproduce`` in a copy of the repository (:func:`repo_copy`: tracked and unignored files, this
checkout's ``.venv``), and everything that needs a finished run reads it:

- :func:`embedded_run`: the README test's ``make reproduce`` and its checks, nbval (which re-executes the
  committed notebooks in the same copy: the training stages resume from their finished checkpoints, every
  other cell runs and is compared), the browser test (JupyterLab on the same copy), the ladder tests on a
  trained checkpoint;
- :func:`imagenet_tiny_run`: the README test's ImageNet command and the ImageNet ladder on a trained ReActNet.

Tests that need either run, or train for a while, are marked ``slow``; ``make test-fast`` (``pytest -m "not
slow"``) runs the rest, for the inner loop.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from session_runs import ROOT, PipelineRun, pipeline_run, repository_copy, user_environment


@pytest.fixture(scope="session")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository that uses this checkout's ``.venv`` (nothing is written into the checkout)."""
    if not (ROOT / ".venv" / "bin" / "python").is_file() or not (ROOT / ".git").exists():
        pytest.fail("run this through 'make test' in a git checkout (it needs the .venv that make sets up)")
    copy = repository_copy(tmp_path_factory.mktemp("repo"))
    stale = subprocess.run(["make", "-q", "setup"], cwd=copy, env=user_environment(copy), capture_output=True)
    assert stale.returncode == 0, "the .venv is older than pyproject.toml: run 'make setup' first"
    return copy


@pytest.fixture(scope="session")
def embedded_run(repo_copy: Path) -> PipelineRun:
    """``make reproduce`` (the embedded default, ``runs/default``), run once per session in the copy."""
    return pipeline_run(repo_copy, "make reproduce", "default")


@pytest.fixture(scope="session")
def imagenet_tiny_run(repo_copy: Path) -> PipelineRun:
    """``make reproduce PARAMS=params/imagenet-tiny.yaml`` (``runs/imagenet-tiny``), run once per session."""
    return pipeline_run(repo_copy, "make reproduce PARAMS=params/imagenet-tiny.yaml", "imagenet-tiny")
