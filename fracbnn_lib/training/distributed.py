"""Devices, ranks and random states: what a training run needs to run on one CPU, many GPUs, and to resume exactly.

Multi-GPU: launch with ``torchrun --nproc_per_node N -m fracbnn_lib train ...``;
:func:`init_distributed` reads torchrun's environment; :func:`all_reduce_sum` sums over the ranks
(unchanged in a single process); :func:`rng_state` / :func:`set_rng_state` save and restore every
random state a resumed epoch needs (torch, CUDA, numpy, Python, the data loader's generator).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


class DeviceError(ValueError):
    """A device that does not exist on this machine (the message says which ones do)."""


def init_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); returns ``(rank, world_size)``.

    Backend NCCL with CUDA, Gloo otherwise; each rank uses GPU ``LOCAL_RANK``. Without torchrun's
    variables (a single process) nothing is initialised and ``(0, 1)`` is returned.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; under torchrun ``"cuda"`` means GPU ``LOCAL_RANK``.

    Raises :class:`DeviceError` for a name torch does not know or a device this machine lacks.
    """
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device} was asked for, but CUDA is not available here: use cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device} was asked for, but MPS is not available here: use cpu (or auto)")
    elif device.type not in ("cpu", "mps"):
        raise DeviceError(f"device {device} is not supported: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is None and rank_and_world()[1] > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state(loader: Iterable) -> dict[str, Any]:
    """This process's random states as tensors and plain numbers (loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    generator = getattr(loader, "generator", None)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached": cached,
        },
        "python": random.getstate(),
        "loader": generator.get_state() if isinstance(generator, torch.Generator) else None,
    }


def set_rng_state(state: Mapping[str, Any], loader: Iterable) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state(
        ("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    generator = getattr(loader, "generator", None)
    if isinstance(generator, torch.Generator) and state["loader"] is not None:
        generator.set_state(state["loader"])


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum ``values`` over the ranks (unchanged in a single process)."""
    if rank_and_world()[1] == 1:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
