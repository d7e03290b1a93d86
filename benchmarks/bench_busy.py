"""Training on a busy machine: the same training steps with and without a concurrent CPU load, per thread policy.

A fixed workload (``--steps`` training steps of the stage-3 FracBNN on a batch of ``--batch`` random
images, after two warm-up steps) runs in a fresh process per case, so every case starts its OpenMP
runtime with its own settings. The cases cross

- the machine: idle, or busy with ``--load`` processes that spin on the CPU for the whole case
  (what a second training run or a compiler does to a shared machine);
- the thread policy of the training process: PyTorch's default (one thread per core; GNU OpenMP's
  workers spin 300,000 turns at a barrier before they sleep), ``OMP_WAIT_POLICY=PASSIVE`` (they
  sleep at once), shorter spins (``GOMP_SPINCOUNT``; 10,000 is
  :data:`fracbnn_lib.environment.OPENMP_SPIN`, what the CLI and the pipeline set), and one thread.

Printed per case: seconds per step (median of the steps), and the slowdown against the same policy
on the idle machine beside the share of the CPUs the load takes. Run from the repository root::

    .venv/bin/python benchmarks/bench_busy.py [--load 6] [--steps 6] [--batch 64]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from machine import machine_info

from fracbnn_lib.environment import OPENMP_SPIN

POLICIES = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 100k": {"GOMP_SPINCOUNT": "100000"},
    "spin 10k": dict(OPENMP_SPIN),
    "1 thread": {"OMP_NUM_THREADS": "1"},
}
"""Thread policies: environment of the training process."""

STEP = r"""
import json, os, statistics, sys, time
import torch, torch.nn.functional as F
from fracbnn_lib import fracbnn_resnet20
steps, batch = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
model = fracbnn_resnet20()
optimizer = torch.optim.Adam(model.parameters(), 1e-3)
images, labels = torch.rand(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
times = []
for i in range(steps + 2):
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    optimizer.step()
    if i >= 2:
        times.append(time.perf_counter() - start)
print(json.dumps({"s_per_step": statistics.median(times), "threads": torch.get_num_threads()}))
"""


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


@contextlib.contextmanager
def spinning(load: int) -> Iterator[None]:
    """``load`` processes spinning on the CPU for the duration of the block (a busy machine)."""
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(load)]
    for spinner in spinners:
        spinner.start()
    time.sleep(1.5 if load else 0.0)  # let the scheduler see the load
    try:
        yield
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()


def run_case(policy: str, load: int, steps: int, batch: int) -> dict[str, float]:
    """One case in a fresh process, with ``load`` spinning processes beside it."""
    with spinning(load):
        env = {**os.environ, **POLICIES[policy]}
        done = subprocess.run(
            [sys.executable, "-c", STEP, str(steps), str(batch)], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=6, help="spinning processes on the busy machine")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    results = {}
    for load in (0, args.load):
        for policy in POLICIES:
            results[policy, load] = run_case(policy, load, args.steps, args.batch)
    cores = os.cpu_count() or 1
    print(machine_info())
    print(f"stage-3 FracBNN training step, batch {args.batch}; busy = {args.load} spinning processes on {cores} cores")
    print(f"(a fair share would leave this process {cores / (cores + args.load):.0%} of the CPU: about "
          f"{(cores + args.load) / cores:.1f}x slower)")  # fmt: skip
    print(f"{'policy':<10} {'threads idle/busy':>18} {'idle s/step':>12} {'busy s/step':>12} {'slowdown':>9}")
    for policy in POLICIES:
        idle, busy = results[policy, 0], results[policy, args.load]
        slowdown = busy["s_per_step"] / idle["s_per_step"]
        threads = f"{idle['threads']}/{busy['threads']}"
        print(f"{policy:<10} {threads:>18} {idle['s_per_step']:12.3f} {busy['s_per_step']:12.3f} {slowdown:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
