"""The staged training recipe of FracBNN, as configuration.

A :class:`Stage` is (weights float | binary, gate off | on) plus its optimiser and schedule.
:func:`recipe` gives the paper's three stages (DESIGN.md, "Training recipe") or the release's
two-step variant; :func:`train_stage` trains one stage, each initialised from the previous
stage's best checkpoint::

    model = fracbnn_resnet20()
    previous = None
    for stage in recipe("cifar10"):
        result = train_stage(model, stage, train_loader, test_loader, out_dir="ckpt", init_from=previous)
        previous = result.checkpoint

Loss per batch (mean over the batch):

- CIFAR-10: ``CE(student(x), y)``; ImageNet: ``KL(softmax(teacher(x)) || softmax(student(x)))``
  (:func:`fracbnn_lib.models.imagenet.distillation_loss`, teacher frozen and in eval mode);
- plus, when the stage's gate is on, the gating-target regulariser ``0.5e-5 * sum_θ ||θ - g||^2``
  over every threshold tensor θ (1 x C x 1 x 1) of the precision-gated convs.

Optimiser: Adam with PyTorch's coupled weight decay (L2 added to the gradient of every parameter,
thresholds, BN and PReLU included), as in the release. Schedules step at the end of each epoch:
``"linear"`` is ``LambdaLR(1 - epoch / epochs)``; ``"multistep"`` multiplies by ``gamma`` at the
milestones (the release: x0.1 at epochs 100, 150 and 200 of 250). When ``recipe(epochs=...)``
shortens a multistep stage below 250 epochs, its milestones keep their share of training:
``ceil(m * epochs / 250)`` (e.g. 3 epochs -> milestones 2, 2, 3).

Every epoch is evaluated on every test image, together with the measured gating sparsity
(:func:`fracbnn_lib.gating.measure_gating`). ``out_dir/<stage>.pt`` holds the best model
(highest test accuracy, later epochs win ties as in the release), ``out_dir/<stage>_last.pt`` the
latest epoch with everything needed to resume exactly (model, optimiser, scheduler, epoch,
history, and the random states of torch, CUDA, numpy, Python and the data loader's generator), and
``out_dir/<stage>_history.csv`` the per-epoch metrics; all are written atomically.

Multi-GPU: launch with ``torchrun --nproc_per_node N -m fracbnn_lib train ...``;
:func:`init_distributed` reads torchrun's environment, :func:`train_stage` wraps the model in
``DistributedDataParallel``, sums losses, accuracies and gating counts over the ranks, and only
rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import CheckpointError, atomic_save, load_checkpoint, read_checkpoint
from .files import FolderLock, atomic_write, check_writable, remove_stale_temporaries
from .gating import GatingStats, measure_gating
from .layers import PGBinaryConv2d, set_binary_weights, set_gating
from .models.imagenet import distillation_loss

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "sparsity", "time_s")
RELEASE_MILESTONES = (100, 150, 200)
RELEASE_EPOCHS = {"cifar10": 250, "imagenet": 120}
GATING_REG = 0.5e-5
RESUME_KEYS = ("model", "config", "epoch", "optimizer", "scheduler", "history", "rng")
"""What ``<stage>_last.pt`` must hold to resume a stage exactly."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message is one line and says what to do."""


class DeviceError(ValueError):
    """A device that does not exist on this machine (the message says which ones do)."""


# --------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Stage:
    """One training stage: which weights and gate, for how long, with which optimiser settings.

    ``binary_weights``: sign(W) in every binary conv (else the latent float W); ``gating``: the
    precision gate of every PG conv on (else the full 2-bit conv everywhere). Adam with ``lr`` and
    coupled ``weight_decay``; ``schedule`` ``"linear"`` (to 0 over ``epochs``) or ``"multistep"``
    (x ``gamma`` at ``milestones``). With the gate on, ``gating_reg * sum ||θ - gating_target||^2``
    is added to the loss. ``kd``: knowledge distillation from a teacher (ImageNet).
    """

    name: str
    binary_weights: bool
    gating: bool
    epochs: int
    lr: float
    weight_decay: float
    schedule: str = "linear"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    gating_target: float = 0.0
    gating_reg: float = GATING_REG
    kd: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"stage {self.name}: epochs must be at least 1, got {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"stage {self.name}: the learning rate must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"stage {self.name}: weight decay must be a number >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"stage {self.name}: gamma must be a positive number, got {self.gamma}")
        for name in ("gating_target", "gating_reg"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"stage {self.name}: {name} must be a finite number, got {getattr(self, name)}")
        if self.schedule not in ("linear", "multistep"):
            raise ValueError(f"stage {self.name}: schedule must be 'linear' or 'multistep', got {self.schedule!r}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))

    def config(self) -> dict[str, Any]:
        """Plain-data form (for checkpoints): every field, milestones as a list."""
        return {**dataclasses.asdict(self), "milestones": list(self.milestones)}


def _scaled_milestones(epochs: int, full: int) -> tuple[int, ...]:
    if epochs >= full:
        return RELEASE_MILESTONES
    return tuple(math.ceil(m * epochs / full) for m in RELEASE_MILESTONES)


def recipe(
    dataset: str = "cifar10",
    variant: str = "paper",
    *,
    epochs: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    gating_target: float = 0.0,
) -> list[Stage]:
    """The training stages of DESIGN.md for ``dataset`` (``synthetic`` trains like ``cifar10``).

    ``variant="paper"``: stage1 (float weights, gate off), stage2 (binary, off), stage3 (binary,
    on). ``variant="release"``: the release README's two steps, stage1 (float, on) and stage2
    (binary, on). ``epochs``, ``lr`` and ``weight_decay`` override every stage's value (multistep
    milestones are rescaled, see the module docstring); ``gating_target`` is ``g``.

    CIFAR-10: stage 1 Adam lr 1e-3, wd 1e-5, linear, 250 epochs; later stages lr 1e-3, wd 0,
    x0.1 at 100/150/200. ImageNet (with KD): stage 1 lr 5e-4, wd 1e-5, linear, 120 epochs; later
    stages lr 5e-4, wd 0, linear.
    """
    if dataset not in ("synthetic", "cifar10", "imagenet"):
        raise ValueError(f"unknown dataset {dataset!r}; choose one of synthetic, cifar10, imagenet")
    if variant not in ("paper", "release"):
        raise ValueError(f"unknown recipe variant {variant!r}; choose 'paper' or 'release'")
    imagenet = dataset == "imagenet"
    full = RELEASE_EPOCHS["imagenet" if imagenet else "cifar10"]
    n = full if epochs is None else int(epochs)
    base_lr = 5e-4 if imagenet else 1e-3
    first = {"schedule": "linear", "weight_decay": 1e-5}
    later = {"schedule": "linear"} if imagenet else {"schedule": "multistep", "milestones": _scaled_milestones(n, full)}
    later["weight_decay"] = 0.0
    switches = [(False, False), (True, False), (True, True)] if variant == "paper" else [(False, True), (True, True)]
    stages = []
    for i, (binary, gate) in enumerate(switches):
        settings = first if i == 0 else later
        if weight_decay is not None:
            settings = {**settings, "weight_decay": float(weight_decay)}
        stages.append(
            Stage(
                name=f"stage{i + 1}",
                binary_weights=binary,
                gating=gate,
                epochs=n,
                lr=base_lr if lr is None else float(lr),
                gating_target=float(gating_target),
                kd=imagenet,
                **settings,
            )
        )
    return stages


# --------------------------------------------------------------------------- devices, ranks, seeds


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


def _world() -> tuple[int, int]:
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
    if device.type == "cuda" and device.index is None and _world()[1] > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state(loader: Iterable) -> dict[str, Any]:
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


def _set_rng_state(state: Mapping[str, Any], loader: Iterable) -> None:
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


def _progress_disabled(progress: bool) -> bool:
    return not progress or _world()[0] != 0 or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------- losses and evaluation


def gating_penalty(model: nn.Module, target: float = 0.0) -> torch.Tensor:
    """``sum over PG convs of ||θ - target||^2`` (a scalar; multiply by the stage's ``gating_reg``)."""
    thresholds = [m.threshold for m in model.modules() if isinstance(m, PGBinaryConv2d)]
    if not thresholds:
        raise ValueError(f"{type(model).__name__} has no precision-gated convs to regularise")
    return torch.stack([((theta - target) ** 2).sum() for theta in thresholds]).sum()


def _all_reduce(values: list[float]) -> list[float]:
    """Sum ``values`` over the ranks (unchanged in a single process)."""
    if _world()[1] == 1:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _pg_layer_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, PGBinaryConv2d)]


def _reduce_gating(model: nn.Module, stats: GatingStats) -> GatingStats:
    """Gating counts summed over the ranks (layers in the model's order)."""
    names = _pg_layer_names(model)
    summed = _all_reduce([float(stats.total.get(n, 0)) for n in names] + [float(stats.high.get(n, 0)) for n in names])
    total, high = summed[: len(names)], summed[len(names) :]
    return GatingStats(
        total={n: int(t) for n, t in zip(names, total, strict=True) if t},
        high={n: int(h) for n, h, t in zip(names, high, total, strict=True) if t},
    )


def _count_correct(model: nn.Module, loader: Iterable, device: torch.device) -> tuple[float, float]:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images.to(device, non_blocking=True))
            correct += int((logits.argmax(1).cpu() == labels).sum())
            total += len(labels)
    correct, total = _all_reduce([float(correct), float(total)])
    return correct, total


def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> float:
    """Top-1 accuracy (a fraction) of ``model`` in eval mode over every image of ``loader``.

    Under ``torch.distributed`` the counts of all ranks are summed (each rank's loader holding a
    shard of the test set).
    """
    correct, total = _count_correct(model, loader, torch.device(device))
    if not total:
        raise ValueError("the evaluation loader yielded no images")
    return correct / total


def evaluate_with_gating(
    model: nn.Module, loader: Iterable, device: str | torch.device = "cpu"
) -> tuple[float, GatingStats]:
    """Accuracy and the measured gating (:class:`GatingStats`, summed over ranks) in one pass."""
    with measure_gating(model) as stats:
        accuracy = evaluate(model, loader, device)
    return accuracy, _reduce_gating(model, stats)


# --------------------------------------------------------------------------- one stage


@dataclass
class StageResult:
    """What :func:`train_stage` returns: the stage, its per-epoch history and checkpoint paths."""

    stage: Stage
    history: pd.DataFrame
    checkpoint: Path
    last_checkpoint: Path

    @property
    def test_accuracy(self) -> float:
        """Test accuracy after the last epoch (fraction)."""
        return float(self.history["test_accuracy"].iloc[-1])

    @property
    def best_test_accuracy(self) -> float:
        return float(self.history["test_accuracy"].max())

    @property
    def final_train_loss(self) -> float:
        return float(self.history["train_loss"].iloc[-1])

    def metrics(self) -> dict[str, float | int]:
        """``{epochs, test_accuracy, best_test_accuracy, final_train_loss}`` (the metrics.json section)."""
        return {
            "epochs": len(self.history),
            "test_accuracy": self.test_accuracy,
            "best_test_accuracy": self.best_test_accuracy,
            "final_train_loss": self.final_train_loss,
        }


def _make_optimizer(model: nn.Module, stage: Stage) -> tuple[torch.optim.Optimizer, Any]:
    optimizer = torch.optim.Adam(model.parameters(), lr=stage.lr, weight_decay=stage.weight_decay)
    if stage.schedule == "linear":
        epochs = stage.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 - epoch / epochs)
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(stage.milestones), gamma=stage.gamma)
    return optimizer, scheduler


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda handle: frame.to_csv(handle, index=False), text=True)


def _history_frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return frame.astype({"epoch": "int64"})


def _train_epoch(
    net: nn.Module,
    model: nn.Module,
    stage: Stage,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    teacher: nn.Module | None,
    desc: str,
    progress: bool,
) -> tuple[float, float]:
    """One pass over ``loader``; returns (mean loss, accuracy) over all ranks' samples."""
    net.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    bar = tqdm(loader, desc=desc, leave=False, mininterval=2.0, disable=_progress_disabled(progress))
    for images, labels in bar:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        logits = net(images)
        if stage.kd:
            with torch.no_grad():
                lessons = teacher(images)
            loss = distillation_loss(logits, lessons)
        else:
            loss = F.cross_entropy(logits, labels)
        if stage.gating:
            loss = loss + stage.gating_reg * gating_penalty(model, stage.gating_target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        count += len(labels)
        if not bar.disable:
            bar.set_postfix(loss=f"{loss_sum.item() / count:.3f}", refresh=False)
    total_loss, total_correct, total = _all_reduce([loss_sum.item(), float(correct.item()), float(count)])
    return total_loss / total, total_correct / total


def _check_finite(model: nn.Module, stage: Stage, epoch: int, train_loss: float) -> None:
    """:class:`TrainingError` when the epoch's loss or any weight is NaN or infinite (nothing is saved then)."""
    broken = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if math.isfinite(train_loss) and not broken:
        return
    what = f"the training loss became {train_loss}" if not math.isfinite(train_loss) else f"{broken[0]} holds NaN/Inf"
    raise TrainingError(
        f"{stage.name} diverged in epoch {epoch} ({what}); nothing of that epoch was saved: lower the learning "
        "rate and start the stage over (--no-resume, resume=False)"
    )


def _stage_config(model: nn.Module, stage: Stage, seed: int) -> dict[str, Any]:
    return {"stage": stage.config(), "seed": seed, "model": type(model).__name__, "world_size": _world()[1]}


def train_stage(
    model: nn.Module,
    stage: Stage,
    train_loader: Iterable,
    test_loader: Iterable,
    *,
    out_dir: str | Path,
    device: str | torch.device = "cpu",
    seed: int = 0,
    init_from: str | Path | None = None,
    resume: bool = True,
    teacher: nn.Module | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> StageResult:
    """Train ``model`` for one :class:`Stage` and return its :class:`StageResult`.

    Sets the stage switches (:func:`set_binary_weights`, :func:`set_gating`), then either resumes
    exactly from ``out_dir/<stage>_last.pt`` (``resume=True`` and a checkpoint of the same stage
    settings and seed exists; a finished stage returns at once) or starts fresh: loads ``init_from``
    strictly (a previous stage's checkpoint) and seeds Python, numpy, torch and the training
    loader's generator with ``seed``. Each epoch trains on ``train_loader``, steps the scheduler,
    evaluates accuracy and gating sparsity on every image of ``test_loader``, writes the checkpoints
    and CSV (module docstring) and calls ``on_epoch_end(row)`` with the epoch's history row.

    ``teacher`` (required when ``stage.kd``) is moved to ``device``, frozen and kept in eval mode.
    On return ``model`` holds the last epoch's weights; the best are in ``result.checkpoint``.
    Under torchrun (:func:`init_distributed`) the model is wrapped in DistributedDataParallel.
    """
    out_dir = Path(out_dir)
    device = resolve_device(device)
    rank, world_size = _world()
    if stage.kd and teacher is None:
        raise ValueError(f"{stage.name} trains by knowledge distillation: pass teacher=load_teacher(path)")
    with contextlib.ExitStack() as held:
        if rank == 0:  # rank 0 alone writes, so it alone holds the folder
            check_writable(out_dir, "checkpoint folder")
            held.enter_context(FolderLock(out_dir, "checkpoint folder"))
            remove_stale_temporaries(out_dir)
        return _train_stage(model, stage, train_loader, test_loader, out_dir, device, seed, init_from, resume,
                            teacher, progress, on_epoch_end)  # fmt: skip


def _train_stage(
    model: nn.Module,
    stage: Stage,
    train_loader: Iterable,
    test_loader: Iterable,
    out_dir: Path,
    device: torch.device,
    seed: int,
    init_from: str | Path | None,
    resume: bool,
    teacher: nn.Module | None,
    progress: bool,
    on_epoch_end: Callable[[dict[str, float]], None] | None,
) -> StageResult:
    rank, world_size = _world()
    if stage.kd:
        teacher = teacher.to(device).eval().requires_grad_(False)
    set_binary_weights(model, stage.binary_weights)
    set_gating(model, stage.gating)
    model.to(device)
    optimizer, scheduler = _make_optimizer(model, stage)
    config = _stage_config(model, stage, seed)
    best_path, last_path = out_dir / f"{stage.name}.pt", out_dir / f"{stage.name}_last.pt"
    csv_path = out_dir / f"{stage.name}_history.csv"

    saved = None
    if resume and last_path.is_file():
        saved = read_checkpoint(last_path)
        if saved.get("config") != config:
            warnings.warn(
                f"{last_path} was written with other settings; training {stage.name} from the start", stacklevel=2
            )
            saved = None
        elif any(key not in saved for key in RESUME_KEYS):
            absent = ", ".join(key for key in RESUME_KEYS if key not in saved)
            raise CheckpointError(
                f"{last_path} cannot resume {stage.name} (it has no {absent}): delete it, or start the stage over "
                "without resuming (--no-resume, resume=False)"
            )
    if saved is not None:
        load_checkpoint(saved, model)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        start_epoch = int(saved["epoch"])
        history = saved["history"]
        rows = [{col: history[col][i] for col in HISTORY_COLUMNS} for i in range(start_epoch)]
        rng_states = saved["rng"]
        _set_rng_state(rng_states[rank] if rank < len(rng_states) else rng_states[0], train_loader)
    else:
        if init_from is not None:
            load_checkpoint(init_from, model)
        start_epoch, rows = 0, []
        seed_everything(seed)
        generator = getattr(train_loader, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(seed + rank)

    net: nn.Module = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=not stage.gating
        )
    best = max((row["test_accuracy"] for row in rows), default=-1.0)
    sampler = getattr(train_loader, "sampler", None)
    for epoch in range(start_epoch, stage.epochs):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        desc = f"{stage.name} {epoch + 1}/{stage.epochs}"
        train_loss, train_accuracy = _train_epoch(
            net, model, stage, train_loader, optimizer, device, teacher, desc, progress
        )
        scheduler.step()
        if world_size > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)
        _check_finite(model, stage, epoch + 1, train_loss)
        test_accuracy, stats = evaluate_with_gating(model, test_loader, device)
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "sparsity": stats.sparsity,
            "time_s": time.perf_counter() - started,
        }
        rows.append(row)
        rng_states = [_rng_state(train_loader)]
        if world_size > 1:
            gathered: list[Any] = [None] * world_size
            dist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if rank == 0:
            metrics = {k: row[k] for k in ("epoch", "train_loss", "test_accuracy", "sparsity")}
            state = {
                "model": model.state_dict(),
                "config": config,
                "epoch": epoch + 1,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "metrics": {**metrics, "best_test_accuracy": max(best, test_accuracy)},
            }
            if test_accuracy >= best:
                atomic_save(state, best_path)
            history = {col: [r[col] for r in rows] for col in HISTORY_COLUMNS}
            atomic_save({**state, "history": history, "rng": rng_states}, last_path)
            _write_csv(_history_frame(rows), csv_path)
        best = max(best, test_accuracy)
        if world_size > 1:
            dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(dict(row))
    if not best_path.is_file():
        raise CheckpointError(f"{best_path} is missing although {last_path} says {stage.name} is finished")
    return StageResult(stage=stage, history=_history_frame(rows), checkpoint=best_path, last_checkpoint=last_path)
