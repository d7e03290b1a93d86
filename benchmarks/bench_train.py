"""Training-step throughput and peak memory: FracBNN ResNet-20 per stage vs a plain float ResNet-20.

One step is forward + cross-entropy (+ the gating regulariser when the gate is on, as
``fracbnn_lib.training`` adds it) + backward + Adam step, on a fixed batch of random images.
The plain ResNet-20 has FracBNN's topology (3x3 stem conv 3->16 + BN + ReLU, 3 x 3 basic
blocks with 16/32/64 channels, the same average-pool + channel-duplication shortcuts, global
pool, linear 64->10) with one float conv per layer and ReLU; it runs both in NCHW and in
channels-last memory format, and the faster of the two is the baseline of every ratio. Stage 3
runs a second time with :mod:`fracbnn_lib.kernels.fused`'s CPU kernels switched off (the PyTorch
formulation of the same mathematics, what runs without a C++ compiler), so the kernels' gain is a
ratio measured side by side too.

Timing: warm-up steps, then ``--reps`` rounds; each round times one step of every model, in an
order rotated from round to round, so all models see the same machine state; the table gives
the median per model. Peak memory (CPU): each model runs in a fresh process (glibc's mmap
threshold set to 128 KiB, so freed tensors leave the resident set); after a warm-up step the
kernel's resident-set high-water mark is reset (``/proc/self/clear_refs``) and the figure is
``VmHWM - VmRSS`` across one step: the memory a step adds on top of model, optimiser and batch.
CUDA (when present): ``torch.cuda.max_memory_allocated`` growth across one step.

``--network imagenet`` times the ImageNet FracBNN (ReActNet, 224 x 224, 1000 classes) per stage
instead, at the paper's batch 256 unless ``--batch`` says otherwise, each step distilling from a
frozen eval-mode torchvision ResNet-50 as the paper's recipe does (random teacher weights: the
teacher's cost does not depend on them). It has no plain baseline; its table gives absolute times,
and the epoch estimate ``ceil(1,281,167 / batch) x step`` (compute only: JPEG decoding and
augmentation run on the CPU's loader workers beside it and are not in it).
Run from the repository root::

    .venv/bin/python benchmarks/bench_train.py [--batch 128] [--reps 5] [--device cpu|cuda|all]
    .venv/bin/python benchmarks/bench_train.py --network imagenet --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from machine import machine_info
from torch import nn

from fracbnn_lib import fracbnn_resnet20
from fracbnn_lib.kernels import fused
from fracbnn_lib.models.imagenet import fracbnn_reactnet
from fracbnn_lib.training import GATING_REG, distillation_loss, gating_penalty

STAGES = {
    "stage1": (False, False, True),
    "stage2": (True, False, True),
    "stage3": (True, True, True),
    "stage3_unfused": (True, True, False),
}
"""FracBNN stages: (binary weights, gate on, :mod:`fracbnn_lib.kernels.fused`'s CPU kernels on); without the
kernels the PyTorch formulation runs, as without a C++ compiler."""
PLAIN = {"plain": torch.contiguous_format, "plain_cl": torch.channels_last}
MODELS = (*PLAIN, *STAGES)
NETWORKS = {"cifar10": (32, 10, 128), "imagenet": (224, 1000, 256)}
"""Network -> (image side, classes, the paper's batch size)."""
IMAGENET_TRAIN_IMAGES = 1_281_167
LABELS = {
    "plain": "plain ResNet-20 (NCHW)",
    "plain_cl": "plain ResNet-20 (channels-last)",
    "stage1": "FracBNN stage 1 (float W, gate off)",
    "stage2": "FracBNN stage 2 (binary W, gate off)",
    "stage3": "FracBNN stage 3 (binary W, gate on)",
    "stage3_unfused": "  the same, fused kernels off",
}


# --------------------------------------------------------------------------- the plain baseline


class PlainShortcut(nn.Module):
    """FracBNN's downsampling shortcut: 2x2 average pool, result concatenated with itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2)
        return torch.cat((x, x), dim=1)


class PlainBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with float 3x3 convs."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = PlainShortcut() if stride != 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class PlainResNet20(nn.Module):
    """Float ResNet-20 with FracBNN's topology: input N x 3 x 32 x 32, logits N x classes."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks = []
        for in_planes, planes, stride in ((16, 16, 1), (16, 32, 2), (32, 64, 2)):
            blocks += [
                PlainBlock(in_planes, planes, stride),
                PlainBlock(planes, planes, 1),
                PlainBlock(planes, planes, 1),
            ]
        self.layers = nn.Sequential(*blocks)
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


# --------------------------------------------------------------------------- one training step


def build(name: str, batch: int, device: torch.device, network: str = "cifar10") -> Callable[[], None]:
    """Model ``name`` of ``network`` with Adam and a fixed batch on ``device``; returns one step's function.

    CIFAR-10: cross-entropy on the labels. ImageNet: the distillation loss against a frozen ResNet-50.
    """
    from torchvision.models import resnet50

    torch.manual_seed(0)
    side, classes, _ = NETWORKS[network]
    images = torch.rand(batch, 3, side, side, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    teacher = resnet50().to(device).eval().requires_grad_(False) if network == "imagenet" else None
    if name in PLAIN:
        if network != "cifar10":
            raise ValueError(f"{name} is a CIFAR-10 baseline; {network} has none")
        model = PlainResNet20().to(device, memory_format=PLAIN[name])
        images = images.contiguous(memory_format=PLAIN[name])
        gated, kernels = False, True
    else:
        binary, gated, kernels = STAGES[name]
        builder = fracbnn_resnet20 if network == "cifar10" else fracbnn_reactnet
        model = builder(binary_weights=binary, gating=gated).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_of(logits: torch.Tensor) -> torch.Tensor:
        if teacher is None:
            return F.cross_entropy(logits, labels)
        with torch.no_grad():
            lessons = teacher(images)
        return distillation_loss(logits, lessons)

    def step() -> None:
        loss = loss_of(model(images))
        if gated:
            loss = loss + GATING_REG * gating_penalty(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if kernels:
        return step

    def unfused_step() -> None:
        with mock.patch.object(fused, "library", lambda: None):
            step()

    return unfused_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    names: list[str], batch: int, device: torch.device, warmup: int, reps: int, network: str = "cifar10"
) -> dict[str, list[float]]:
    """Seconds per step for each model: ``reps`` rounds, each round one step per model, order rotated."""
    steps = {name: build(name, batch, device, network) for name in names}
    for _ in range(warmup):
        for step in steps.values():
            step()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            steps[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------- peak memory


def _proc_status_kib(key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {key}")
    return int(match.group(1))


def step_peak_bytes(name: str, batch: int, device: torch.device, network: str = "cifar10") -> int:
    """Memory one step adds at its peak (this process; see the module docstring for the method)."""
    step = build(name, batch, device, network)
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    base = _proc_status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    step()
    return (_proc_status_kib("VmHWM") - base) * 1024


def measure_memory(
    names: list[str], batch: int, device: torch.device, threads: int, network: str = "cifar10"
) -> dict[str, float]:
    """Peak step memory per model, each measured in a fresh process (NaN where it cannot be measured)."""
    if device.type == "cpu" and not Path("/proc/self/clear_refs").exists():
        return {name: float("nan") for name in names}
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    peaks = {}
    for name in names:
        command = [sys.executable, __file__, "--memory-worker", name, "--batch", str(batch), "--device", str(device)]
        command += ["--threads", str(threads), "--network", network]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        peaks[name] = json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"]
    return peaks


# --------------------------------------------------------------------------- report


def report(
    device: torch.device, times: dict[str, list[float]], peaks: dict[str, float], batch: int, network: str = "cifar10"
) -> str:
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    plain = [name for name in PLAIN if name in medians]
    base = min(plain, key=medians.__getitem__) if plain else None
    base_peak = peaks.get(base, float("nan")) if base else float("nan")
    rows = [
        f"{network}, {device.type.upper()}, batch {batch}, {len(next(iter(times.values())))} timed rounds (median); "
        f"baseline: {LABELS[base] if base else 'none'}",
        f"{'model':<38} {'step s':>7} {'img/s':>7} {'ratio':>6} {'spread':>7} {'peak MiB':>9} {'ratio':>6}",
    ]
    for name, median in medians.items():
        spread = (max(times[name]) - min(times[name])) / median
        ratio = f"{median / medians[base]:6.2f}" if base else "     -"
        peak = peaks.get(name, float("nan"))
        mem_ratio = peak / base_peak if base_peak == base_peak and base_peak > 0 else float("nan")
        rows.append(
            f"{LABELS[name]:<38} {median:7.3f} {batch / median:7.1f} {ratio} {spread:7.1%} "
            f"{peak / 2**20:9.1f} {mem_ratio:6.2f}"
        )
    rows.append("ratio: step time (peak memory) / the baseline's; spread: (max - min) / median over rounds")
    if network == "imagenet":
        steps = math.ceil(IMAGENET_TRAIN_IMAGES / batch)
        for name, median in medians.items():
            rows.append(
                f"{LABELS[name]}: one ImageNet epoch ({steps} steps) ~ {steps * median / 60:.1f} min of compute"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=tuple(NETWORKS), default="cifar10", help="ResNet-20 or ReActNet")
    parser.add_argument("--batch", type=int, help="batch size (default: the paper's, 128 CIFAR-10, 256 ImageNet)")
    parser.add_argument("--reps", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all", help="all: CPU, and CUDA if present")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--models", help=f"comma-separated subset of {','.join(MODELS)} (default: all the network has)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--memory-worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch = args.batch or NETWORKS[args.network][2]
    if batch < 1:
        parser.error(f"--batch must be at least 1, got {batch}")
    if args.memory_worker:
        peak = step_peak_bytes(args.memory_worker, batch, torch.device(args.device), args.network)
        print(json.dumps({"peak_bytes": peak}))
        return 0
    default_models = MODELS if args.network == "cifar10" else ("stage1", "stage2", "stage3")
    names = [name.strip() for name in (args.models or ",".join(default_models)).split(",") if name.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.network != "cifar10" and set(names) & set(PLAIN):
        parser.error(f"the plain baselines are CIFAR-10 ResNet-20s; --network {args.network} has none")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device; none is visible (use --device cpu)")
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    print(machine_info())
    for device in devices:
        times = time_steps(names, batch, device, args.warmup, args.reps, args.network)
        peaks = {} if args.no_memory else measure_memory(names, batch, device, args.threads, args.network)
        print()
        print(report(device, times, peaks, batch, args.network))
    return 0


if __name__ == "__main__":
    sys.exit(main())
