"""The README's commands are the ones that work.

Every command of the README's "Quickstart" and "From checkpoint to accelerator" sections runs here,
literally and in the README's order, in the session's copy of the repository (``tests/conftest.py``: so
nothing is written into this checkout's ``runs/`` or ``deploy/``) that uses this checkout's ``.venv``:
``make reproduce`` on both embedded defaults (the session's one run of each, which the other tests read
too), then the export, the C-simulation and the deploy bundle of that run. A command that
needs what this machine cannot have is checked for the message it gives instead: the Xilinx tools
(taken off ``PATH`` here, so the check does not depend on the machine), the real data sets, a bitstream
(refused, then given as a stand-in file, as a user copies the Vivado build's) and a board (``scp``: the
folder it copies must hold the bundle). ``make test`` is the command running this test.

A README command this file does not know fails the test, so the README cannot gain a command that is
not run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from session_runs import PipelineRun, run_command, user_environment

from fracbnn_lib import pipeline
from fracbnn_lib.hw.cost_model import SUMMARY_KEYS

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Quickstart", "From checkpoint to accelerator")


@dataclass(frozen=True)
class Outcome:
    """What a README command must do here: ``runs`` (exit 0), ``refuses`` (non-zero, with ``message``),
    ``board`` (needs a board; ``message`` is the folder it copies) or ``suite`` (the command running us)."""

    kind: str
    message: str = ""


EXPECTED = {
    "make reproduce": Outcome("runs"),
    "make test": Outcome("suite"),
    "make reproduce PARAMS=params/cifar10.yaml DATA=/data/cifar10": Outcome("refuses", "CIFAR-10 not found"),
    "make reproduce PARAMS=params/imagenet.yaml DATA=/data/imagenet": Outcome("refuses", "ImageNet not found"),
    "make reproduce PARAMS=params/imagenet-tiny.yaml": Outcome("runs"),
    "python -m fracbnn_lib export runs/default/checkpoints/final.pt --check csim": Outcome("runs"),
    "make -C hls/cifar10 csim": Outcome("runs"),
    "make -C hls/cifar10 hls": Outcome("refuses", "vivado_hls not found: source the Xilinx settings script"),
    "make -C hls/cifar10 vivado": Outcome("refuses", "no exported IP in ../../runs/default/export: run make hls"),
    "make -C hls/imagenet csim N=2": Outcome("runs"),
    "python -m fracbnn_lib deploy --run-dir runs/default --bitstream runs/default/export/bitstream/FracNet_T.bit": (
        Outcome("refuses", "FracNet_T.bit not found: build it with 'make vivado' in hls/cifar10")
    ),
    "scp -r deploy/default xilinx@pynq:~/jupyter_notebooks/": Outcome("board", "deploy/default"),
    "python -m fracbnn_lib deploy --run-dir runs/imagenet-tiny": Outcome("runs"),
}


def readme_commands(text: str, section: str) -> list[str]:
    """The shell commands of the ```bash blocks under the README heading that starts with ``section``.

    Comments (`` #`` to the end of a line) are dropped and backslash continuations joined.
    """
    match = re.search(rf"^## {re.escape(section)}.*?$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no section '{section}'"
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", match.group(1), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(re.split(r"\s#", line, maxsplit=1)[0].split())
            if command:
                commands.append(command)
    return commands


def test_the_readme_knows_only_commands_this_test_runs():
    text = (ROOT / "README.md").read_text()
    commands = [command for section in SECTIONS for command in readme_commands(text, section)]
    assert commands == list(EXPECTED), "README.md's commands changed: update EXPECTED in tests/test_readme.py"
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test"), "CI must run the README's make test"


def _check_embedded_default_run(run: PipelineRun) -> None:
    """``make reproduce``'s run: every notebook, metrics.json with DESIGN.md's keys and plausible values."""
    run_dir, metrics = run.run_dir, run.metrics
    present, _ = pipeline.find_notebooks(ROOT / "notebooks", list(pipeline.SLOTS))
    assert list(metrics["run"]["wall_s"]) == [nb.name for nb in present]
    for nb in present:
        assert (run_dir / nb.path.name).stat().st_size > 0
    run_keys = {"name", "dataset", "seed", "torch", "fracbnn_lib", "git_commit", "device", "cpu_capability", "wall_s"}
    assert run_keys <= set(metrics["run"]) and metrics["run"]["name"] == "default"
    assert metrics["encoding"] == {"resolution": 8, "levels": 32, "input_channels": 96}
    assert metrics["model"]["parameters"] == 287_146
    assert {"binary_weight_bits", "float_weight_bits", "memory_bytes"} <= set(metrics["model"])
    for stage in ("stage1", "stage2", "stage3"):
        assert {"epochs", "test_accuracy", "best_test_accuracy", "final_train_loss"} <= set(metrics[stage])
        assert metrics[stage]["test_accuracy"] > 0.2, f"{stage} is not above chance (0.1)"
    gating = metrics["gating"]
    assert 0.0 < gating["sparsity"] < 1.0 and len(gating["per_layer"]) == 18
    assert all(0.0 <= s <= 1.0 for s in gating["per_layer"].values())
    assert (run_dir / "checkpoints" / "final.pt").is_file()
    assert any((run_dir / "figures").glob("*.png"))
    hls = metrics["hls"]  # 04: the export's C-simulation reproduces the fixed-point reference bit for bit
    assert hls["accelerator"] == "cifar10" and hls["images"] == 200
    assert hls["csim_reference_mismatched_outputs"] == hls["csim_reference_mismatched_logits"] == 0
    assert hls["expected_reference_mismatched_outputs"] == 0
    assert hls["accuracy_csim"] == hls["accuracy_reference"] and hls["argmax_agreement_float_reference"] >= 0.99
    modelled = hls["cost"]  # the cost model's totals, marked as modelled
    assert modelled["modelled"] is True and modelled["release_cycles"] == 90_307
    # at 200 MHz: 32-bit popcount slices and the stem beside the image load (issue 22: was <= 21,000 and >= 9,500)
    assert modelled["cycles_ii_only"] < modelled["cycles"] <= 19_000 and modelled["fps"] >= 10_000
    assert modelled["lut"] <= 0.8 * 70_560  # within 80% of the ZU3EG's LUTs
    assert modelled["loops"]["POOL"]["ii"] == 3 and modelled["loops"]["PG_PIXELS"]["ii"] == 1
    assert set(SUMMARY_KEYS) <= set(modelled) and modelled["not_modelled"] == []  # the same keys on both networks
    assert modelled["release"]["paper"] == {"lut": 51_444, "dsp": 126, "bram": 212}  # the model held against it
    exported = {p.name for p in (run_dir / "export").iterdir()}
    assert {"images.npy", "labels.npy", "expected_logits.npy", "manifest.json"} <= exported
    board = metrics["board"]  # 05 off-board: the C-simulation backend behind the board's driver interface
    assert board["backend"] == "csim" and board["mismatched_logits"] == 0 and board["images"] == hls["images"]
    assert board["accuracy"] == hls["accuracy_csim"] and board["fps"] > 0


def _check_imagenet_tiny_run(run: PipelineRun) -> None:
    """ImageNet's embedded default: all five notebooks, label loss said and recorded, hls and board for ImageNet."""
    run_dir, metrics = run.run_dir, run.metrics
    assert list(metrics["run"]["wall_s"]) == [
        "01_thermometer_encoding",
        "02_step1_training",
        "03_step2_binary",
        "04_hls_export_imagenet",
        "05_board_eval",
    ]
    assert all(metrics[stage]["distillation"] is False for stage in ("stage1", "stage2", "stage3"))
    assert metrics["stage3"]["test_accuracy"] >= 0.6  # it learns its 10 colour classes (chance 0.1; 0.9 measured)
    executed = (run_dir / "02_step1_training.ipynb").read_text()
    assert "knowledge distillation is off" in executed
    hls = metrics["hls"]
    assert hls["accelerator"] == "imagenet" and hls["images"] == 8
    assert hls["csim_reference_mismatched_outputs"] == 0 and hls["accuracy_csim"] == hls["accuracy_reference"]
    assert hls["expected_reference_mismatched_outputs"] == 0
    assert set(SUMMARY_KEYS) <= set(hls["cost"]) and hls["cost"]["not_modelled"] == []  # its logic priced too
    assert all(hls["cost"][name] > 0 for name in ("lut", "ff", "dsp", "bram36", "lutram"))  # every resource priced
    assert hls["cost"]["modelled"] is True and hls["cost"]["fps"] >= 2 * 48.1  # twice the paper's board figure
    board = metrics["board"]
    assert board["backend"] == "csim" and board["mismatched_logits"] == 0 and board["images"] == 8
    assert board["accuracy"] == hls["accuracy_csim"]


def _check(command: str, outcome: Outcome, done: subprocess.CompletedProcess) -> None:
    said = done.stdout[-3000:] + done.stderr[-3000:]
    if outcome.kind == "runs":
        assert done.returncode == 0, f"README command failed: {command}\n{said}"
        return
    assert done.returncode != 0, f"{command} should have refused here:\n{said}"
    errors = [line for line in done.stderr.splitlines() if outcome.message in line]
    assert errors, f"{command} did not say '{outcome.message}':\n{said}"
    assert "Traceback" not in done.stderr, f"{command} refused with a traceback instead of one line:\n{said}"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the README's commands are POSIX shell commands")
def test_every_readme_command_works_on_the_embedded_default(repo_copy, embedded_run, imagenet_tiny_run):
    copy, env = repo_copy, user_environment(repo_copy)
    pipelines = {run.command: run for run in (embedded_run, imagenet_tiny_run)}
    for command, outcome in EXPECTED.items():
        if outcome.kind == "suite":
            continue
        if outcome.kind == "board":
            bundle = copy / outcome.message
            assert (bundle / "05_board_eval.ipynb").is_file() and (bundle / "FracNet_T.bit").is_file()
            assert json.loads((bundle / "bundle.json").read_text())["bitstream"] is True
            continue
        done = pipelines[command].done if command in pipelines else run_command(command, copy, env)
        _check(command, outcome, done)
        if command == "make reproduce":
            _check_embedded_default_run(embedded_run)
        if command == "make reproduce PARAMS=params/imagenet-tiny.yaml":
            _check_imagenet_tiny_run(imagenet_tiny_run)
        if command == "make -C hls/imagenet csim N=2":
            assert "csim: 2 images, 0 of 2048 outputs differ from expected_pooled.npy" in done.stdout
        if outcome.message.startswith("FracNet_T.bit not found"):
            bitstream = copy / "runs" / "default" / "export" / "bitstream"  # what make vivado would leave
            bitstream.mkdir(parents=True)
            (bitstream / "FracNet_T.bit").write_bytes(b"stand-in bitstream")
            (bitstream / "FracNet_T.hwh").write_text("<stand-in hardware handoff/>")
            _check(command, Outcome("runs"), run_command(command, copy, env))
    assert not (copy / "runs" / "cifar10").exists() and not (copy / "runs" / "imagenet").exists()
    bundle = json.loads((copy / "deploy" / "imagenet-tiny" / "bundle.json").read_text())
    assert {"vectors/weights.bin", "vectors/params.bin", "hls/imagenet/engines.h"} <= set(bundle["files"])
