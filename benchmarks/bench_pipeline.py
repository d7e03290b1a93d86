"""Wall time of the embedded-default pipeline (``make reproduce``), per notebook, on an idle and on a busy machine.

Runs ``fracbnn_lib.pipeline`` on ``params/synthetic.yaml`` into a temporary run folder (kernel
start-up included, as a user sees it) and prints each notebook's wall time, its share of the
total, and the accuracies the run reached. With ``--load N`` it runs a second time, right after,
beside N processes that spin on the CPU (``bench_busy.spinning``), and prints both side by side.
Run from the repository root::

    .venv/bin/python benchmarks/bench_pipeline.py [--params params/synthetic.yaml] [--load 2] [--only 01,02]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_busy import spinning
from machine import machine_info

from fracbnn_lib import pipeline
from fracbnn_lib.run_files import read_metrics


def run_once(params: str, only: str | None, load: int) -> tuple[dict, float] | None:
    """One pipeline run into a temporary folder beside ``load`` spinning processes: (metrics, wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp, spinning(load):
        start = time.perf_counter()
        command = ["--params", params, "--runs-dir", tmp, "--run-name", "bench", "--fresh"]
        status = pipeline.main(command + (["--only", only] if only else []))
        total = time.perf_counter() - start
        return (read_metrics(Path(tmp) / "bench"), total) if status == 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params/synthetic.yaml")
    parser.add_argument("--only", help="comma-separated notebook slots, as for the pipeline (default: all)")
    parser.add_argument("--load", type=int, default=0, help="also run beside N spinning processes")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    machine = machine_info()
    runs = {"idle": run_once(args.params, args.only, 0)}
    if args.load:
        runs[f"busy ({args.load} spinning)"] = run_once(args.params, args.only, args.load)
    if any(run is None for run in runs.values()):
        return 1
    print()
    print(machine)
    names = list(next(iter(runs.values()))[0]["run"]["wall_s"])
    print(f"{'notebook':<30}" + "".join(f" {label:>22}" for label in runs))
    for name in names:
        print(f"{name:<30}" + "".join(f" {metrics['run']['wall_s'][name]:20.1f} s" for metrics, _ in runs.values()))
    print(f"{'pipeline total (with set-up)':<30}" + "".join(f" {total:20.1f} s" for _, total in runs.values()))
    for label, (metrics, _) in runs.items():
        accuracies = ", ".join(
            f"{stage} {metrics[stage]['test_accuracy']:.3f}"
            for stage in ("stage1", "stage2", "stage3")
            if stage in metrics
        )
        print(f"{label}: test accuracy {accuracies or '-'} (chance 0.100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
