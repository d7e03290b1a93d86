"""Inference throughput of one model on the same images: PyTorch (eval) vs the bit-exact reference vs C-simulation.

    .venv/bin/python benchmarks/bench_inference.py [--checkpoint runs/default/checkpoints/final.pt]
        [--images 200] [--seconds 3] [--formats default]
    .venv/bin/python benchmarks/bench_inference.py --network imagenet [--checkpoint ...] [--images 8]

``--network imagenet`` times the ReActNet at 224 x 224 and ``hls/imagenet`` (its bar: at least 1 image/s
for C-simulation on 2 cores; the release's ImageNet design has no C-simulation at all); without a
checkpoint it uses a ReActNet with random BN statistics and gate thresholds.

Every backend runs in this one process on the same images, one after another, so the printed ratios
compare like with like (absolute rates depend on the machine and its load). C-simulation runs with
one thread and with one thread per available core. The issue's bar: at least 40 images/s for
C-simulation on 2 cores (the paper's own HLS code, compiled the same way, simulates about 4.4 images/s
on one core). The library is built (or found in the cache) before timing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from machine import machine_info

from fracbnn_lib import fracbnn_resnet20, pack_thermometer, thermometer_encode
from fracbnn_lib.hw.cifar10.csim import build_library, csim_forward
from fracbnn_lib.hw.cifar10.fold import fold_model
from fracbnn_lib.hw.cifar10.headers import config_header
from fracbnn_lib.hw.cifar10.params import quantize_params
from fracbnn_lib.hw.cifar10.reference import reference_forward
from fracbnn_lib.hw.csim_build import default_threads
from fracbnn_lib.hw.fixed_point import resolve_formats
from fracbnn_lib.hw.ladder import images_per_second
from fracbnn_lib.models import load_trained_model

ROOT = Path(__file__).resolve().parents[1]


def _images(n: int, data_dir: Path) -> tuple[torch.Tensor, str]:
    if (data_dir / "cifar-10-batches-py").is_dir():
        from fracbnn_lib.data import load_test_images

        return load_test_images("synthetic", data_dir, n)[0], f"{n} synthetic test images"
    torch.manual_seed(0)
    return torch.rand(n, 3, 32, 32), f"{n} random images"


def _cifar10_backends(args: argparse.Namespace, cores: int) -> tuple[dict, np.ndarray]:
    """The CIFAR-10 backends on ``args.images`` images of the synthetic set (random ones without it)."""
    if args.checkpoint.is_file():
        model, source = load_trained_model(args.checkpoint), "trained checkpoint"
    else:
        torch.manual_seed(0)
        model, source = fracbnn_resnet20().eval(), "random initialisation (no checkpoint found)"
    images, what = _images(args.images, args.data_dir)
    packed = pack_thermometer(thermometer_encode(images))
    params = quantize_params(fold_model(model), resolve_formats(args.formats))
    build_library(config_header(params.formats, params.levels))
    print(machine_info())
    print(f"model: {source}; {what}; formats {args.formats}; {cores} cores; torch threads {torch.get_num_threads()}")

    def pytorch(batch: np.ndarray) -> None:
        with torch.no_grad():
            model(images[: len(batch)])

    return {
        "PyTorch eval (float32)": pytorch,
        "fixed-point reference (numpy)": lambda batch: reference_forward(params, batch),
        "C-simulation, 1 thread": lambda batch: csim_forward(params, batch, 1),
        f"C-simulation, {cores} threads": lambda batch: csim_forward(params, batch, cores),
    }, packed


def _imagenet_backends(args: argparse.Namespace, cores: int) -> tuple[dict, np.ndarray, str]:
    """The ImageNet backends on ``args.images`` random 224 x 224 images."""
    from fracbnn_lib.data import IMAGENET_MEAN, IMAGENET_STD
    from fracbnn_lib.hw.imagenet import csim
    from fracbnn_lib.hw.imagenet.fold import fold_reactnet
    from fracbnn_lib.hw.imagenet.layout import config_header as imagenet_config
    from fracbnn_lib.hw.imagenet.layout import image_words, layout_string
    from fracbnn_lib.hw.imagenet.reference import reference_forward as imagenet_reference
    from fracbnn_lib.models import fracbnn_reactnet

    torch.manual_seed(0)
    if args.checkpoint.is_file():
        model, source = load_trained_model(args.checkpoint), "trained checkpoint"
    else:
        model, source = fracbnn_reactnet().eval(), "random initialisation, random BN statistics (no checkpoint found)"
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
            if hasattr(module, "threshold"):
                module.threshold.data.uniform_(-4.0, 4.0)
    images = torch.rand(args.images, 3, 224, 224)
    normalised = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    packed = image_words(pack_thermometer(thermometer_encode(images)))
    dram = fold_reactnet(model, resolve_formats(args.formats))
    library, layout = csim.build_library(imagenet_config(dram.formats, dram.levels)), layout_string(dram.levels)

    def pytorch(batch: np.ndarray) -> None:
        with torch.no_grad():
            model(normalised[: len(batch)])

    def run_csim(threads: int):
        return lambda batch: csim.run_library(library, layout, dram.weights, dram.params, batch, threads)

    backends = {
        "PyTorch eval (float32)": pytorch,
        "fixed-point reference (numpy)": lambda batch: imagenet_reference(dram, batch),
        "C-simulation, 1 thread": run_csim(1),
        f"C-simulation, {cores} threads": run_csim(cores),
    }
    return backends, packed, f"FracBNN ReActNet, {source}; {args.images} random 224 x 224 images"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=("cifar10", "imagenet"), default="cifar10")
    parser.add_argument("--checkpoint", type=Path, help="default: final.pt of runs/default or runs/imagenet-tiny")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "synthetic")
    parser.add_argument("--images", type=int, help="images per timed batch (default: 200 CIFAR-10, 8 ImageNet)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per backend")
    parser.add_argument("--formats", default="default")
    args = parser.parse_args(argv)
    args.images = args.images or (8 if args.network == "imagenet" else 200)
    run = "imagenet-tiny" if args.network == "imagenet" else "default"
    args.checkpoint = args.checkpoint or ROOT / "runs" / run / "checkpoints" / "final.pt"

    cores = default_threads()
    if args.network == "imagenet":
        backends, packed, what = _imagenet_backends(args, cores)
        print(machine_info())
        print(f"{what}; formats {args.formats}; {cores} cores; torch threads {torch.get_num_threads()}")
    else:
        backends, packed = _cifar10_backends(args, cores)
    rates = {name: images_per_second(run, packed, args.seconds) for name, run in backends.items()}
    base = rates["PyTorch eval (float32)"]
    print(f"{'backend':<34} {'images/s':>10} {'vs PyTorch':>11}")
    for name, rate in rates.items():
        print(f"{name:<34} {rate:>10.1f} {rate / base:>10.3f}x")
    single = rates["C-simulation, 1 thread"]
    print(f"C-simulation scaling {cores} threads / 1 thread: {rates[f'C-simulation, {cores} threads'] / single:.2f}x")
    if args.network == "cifar10":
        print(f"C-simulation vs the paper's HLS code (~4.4 images/s on one core): {single / 4.4:.1f}x per core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
