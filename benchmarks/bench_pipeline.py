"""Wall time of the embedded-default pipeline (``make reproduce``), per notebook.

Runs ``fracbnn_lib.pipeline`` on ``params/synthetic.yaml`` into a temporary run folder (kernel
start-up included, as a user sees it) and prints each notebook's wall time, its share of the
total, and the accuracies the run reached. Run from the repository root::

    .venv/bin/python benchmarks/bench_pipeline.py [--params params/synthetic.yaml] [--keep DIR] [--only 01,02]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info

from fracbnn_lib import pipeline
from fracbnn_lib.run_files import read_metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params/synthetic.yaml")
    parser.add_argument("--keep", type=Path, help="write the run here instead of a temporary folder")
    parser.add_argument("--only", help="comma-separated notebook slots, as for the pipeline (default: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.keep or Path(tmp)
        start = time.perf_counter()
        command = ["--params", args.params, "--runs-dir", str(runs), "--run-name", "bench", "--fresh"]
        status = pipeline.main(command + (["--only", args.only] if args.only else []))
        total = time.perf_counter() - start
        if status:
            return status
        metrics = read_metrics(runs / "bench")
    wall = metrics["run"]["wall_s"]
    print()
    print(machine_info())
    print(f"{'notebook':<30} {'wall s':>8} {'share':>7}")
    for name, seconds in wall.items():
        print(f"{name:<30} {seconds:8.1f} {seconds / total:7.1%}")
    print(f"{'pipeline total (with set-up)':<30} {total:8.1f} {1:7.1%}")
    for stage in ("stage1", "stage2", "stage3"):
        if stage in metrics:
            print(f"{stage} test accuracy {metrics[stage]['test_accuracy']:.3f} (chance 0.100)")
    if "gating" in metrics:
        print(f"gating sparsity {metrics['gating']['sparsity']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
