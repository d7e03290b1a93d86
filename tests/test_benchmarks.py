"""The benchmark scripts run and print their side-by-side tables (smoke-sized; the figures are in RESULTS.md)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\(\w+ kernels\), \d+ logical cores, torch threads \d+", done.stdout)
    assert "fracbnn_lib" in done.stdout  # machine, instruction set and versions
    return done.stdout


@pytest.mark.slow
def test_bench_train_prints_step_time_and_memory_ratios_against_the_plain_resnet():
    out = _bench("bench_train.py", "--batch", "8", "--reps", "2", "--device", "cpu")
    assert "baseline: plain ResNet-20" in out
    labels = ("plain ResNet-20 (NCHW)", "FracBNN stage 1", "FracBNN stage 2", "FracBNN stage 3", "  the same, fused")
    for label in labels:
        row = next(line for line in out.splitlines() if line.startswith(label))
        step, rate, ratio = (float(v) for v in row[38:].split()[:3])
        assert step > 0 and rate > 0 and ratio > 0
    baseline = next(line for line in out.splitlines() if re.match(r"plain ResNet-20 .* 1\.00 ", line))
    assert baseline


@pytest.mark.slow
def test_bench_train_times_the_imagenet_reactnet_with_its_teacher_and_estimates_an_epoch():
    out = _bench("bench_train.py", "--network", "imagenet", "--batch", "1", "--reps", "1", "--warmup", "0",
                 "--device", "cpu", "--models", "stage3", "--no-memory")  # fmt: skip
    assert "imagenet, CPU, batch 1" in out and "baseline: none" in out
    row = next(line for line in out.splitlines() if line.startswith("FracBNN stage 3"))
    step = float(row[38:].split()[0])
    estimate = re.search(r"one ImageNet epoch \(1281167 steps\) ~ ([\d.]+) min", out)
    assert estimate and abs(float(estimate.group(1)) - 1281167 * step / 60) <= 0.1 + 1e-3 * float(estimate.group(1))


def test_bench_train_refuses_a_plain_baseline_for_imagenet():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--network", "imagenet",
                           "--models", "plain", "--device", "cpu"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--network imagenet has none" in done.stderr


def test_bench_train_runs_stage3_with_and_without_the_fused_kernels(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_train

    from fracbnn_lib.kernels import fused

    calls = []
    for name in ("quantize", "gate_forward", "gate_backward"):
        original = getattr(fused, name)
        monkeypatch.setattr(fused, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    bench_train.build("stage3_unfused", 2, torch.device("cpu"))()
    assert calls == []
    bench_train.build("stage3", 2, torch.device("cpu"))()
    assert {"quantize", "gate_forward", "gate_backward"} <= set(calls)


@pytest.mark.slow
def test_bench_inference_compares_pytorch_reference_and_csim(tmp_path):
    missing = tmp_path / "none"
    args = ("--checkpoint", str(missing / "final.pt"), "--data-dir", str(missing), "--images", "4", "--seconds", "0.05")
    out = _bench("bench_inference.py", *args)
    assert "random initialisation (no checkpoint found)" in out
    for backend in ("PyTorch eval (float32)", "fixed-point reference (numpy)", "C-simulation, 1 thread"):
        row = next(line for line in out.splitlines() if line.startswith(backend))
        assert float(row.split()[-2]) > 0 and row.endswith("x")


@pytest.mark.slow
def test_bench_inference_times_the_imagenet_accelerator(tmp_path):
    args = ("--network", "imagenet", "--checkpoint", str(tmp_path / "none.pt"), "--images", "1", "--seconds", "0.01")
    out = _bench("bench_inference.py", *args)
    assert "FracBNN ReActNet, random initialisation" in out and "224 x 224" in out
    for backend in ("PyTorch eval (float32)", "fixed-point reference (numpy)", "C-simulation, 1 thread"):
        row = next(line for line in out.splitlines() if line.startswith(backend))
        assert float(row.split()[-2]) > 0 and row.endswith("x")


@pytest.mark.slow
def test_bench_pipeline_times_each_notebook_idle_and_busy():
    out = _bench("bench_pipeline.py", "--only", "01", "--load", "1")
    row = [line for line in out.splitlines() if line.startswith("01_thermometer_encoding")][-1]  # the bench's table
    idle, busy = float(row.split()[1]), float(row.split()[3])
    assert idle > 0 and busy > 0 and "pipeline total" in out and "busy (1 spinning)" in out


@pytest.mark.slow
def test_bench_busy_times_every_thread_policy_idle_and_busy():
    out = _bench("bench_busy.py", "--load", "1", "--steps", "1", "--batch", "4")
    for policy in ("default", "passive", "spin 10k", "1 thread"):
        row = next(line for line in out.splitlines() if line.startswith(policy + " "))
        assert row.endswith("x") and float(row.split()[-3]) > 0


FAKE_YOSYS = """
import re, sys
if sys.argv[1] == "-V":
    print("Yosys 0.0 (stand-in)")
    sys.exit(0)
script = sys.argv[-1]
source = re.search(r"read_verilog (\\S+);", script).group(1)
stat = re.search(r"-o (\\S+) stat", script).group(1)
with open(stat, "w") as out:
    for name in re.findall(r"^module (\\w+)", open(source).read(), flags=re.M):
        out.write(f"=== {name} ===\\n     LUT2 3\\n     LUT6 4\\n")
"""


def test_calibrate_luts_prints_yosys_beside_the_unit_table(tmp_path):
    """With a stand-in yosys (3 + 4 LUTs per unit) the script synthesises every unit of the models and prints
    each beside the committed table (``changed``: the stand-in's figures are not yosys's); the table itself is
    held to the real yosys by ``tests/test_hw_units.py``."""
    from fracbnn_lib.hw.synthesis import load_table

    fake = tmp_path / "yosys"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_YOSYS)
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    script = [sys.executable, str(ROOT / "benchmarks" / "calibrate_luts.py"), "--jobs", "2"]
    out = subprocess.run(script, capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Yosys 0.0 (stand-in); synth_xilinx -family xcup -abc9")
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert set(rows) == set(load_table()["units"])
    assert all(row[:3] == ["7", "0", "0"] and row[3] in ("=", "changed") for row in rows.values())


def test_encoder_rounding_prints_the_tie_table_and_the_photographs_share():
    out = _bench("encoder_rounding.py", "--logit-images", "0")
    rows = re.findall(r"^  ([RGB]): +(\d+) of 32", out, re.MULTILINE)
    assert [colour for colour, _ in rows] == ["R", "G", "B"] and 0 < sum(int(n) for _, n in rows) < 48
    share = re.search(r"counts that differ: ([\d.]+)% .*; all at ties: True; largest difference 1 level", out)
    assert share and 1.0 < float(share.group(1)) < 8.0
    assert "(CIFAR-10's path: x = k / 255): 0 counts differ" in out
