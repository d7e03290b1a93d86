"""Training one stage: the loss, the epoch loop, evaluation, checkpoints and exact resume.

See :mod:`fracbnn_lib.training` for the losses, the optimiser and what is written where.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..checkpoint import CheckpointError, atomic_save, load_checkpoint, read_checkpoint
from ..files import FolderLock, atomic_write, check_writable, remove_stale_temporaries
from ..gating import GatingStats, measure_gating
from ..layers import PGBinaryConv2d, set_binary_weights, set_gating
from .distributed import all_reduce_sum, rank_and_world, resolve_device, rng_state, seed_everything, set_rng_state
from .recipe import Stage

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "sparsity", "time_s")

RESUME_KEYS = ("model", "config", "epoch", "optimizer", "scheduler", "history", "rng")
"""What ``<stage>_last.pt`` must hold to resume a stage exactly."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message is one line and says what to do."""


def _progress_disabled(progress: bool) -> bool:
    return (
        not progress or rank_and_world()[0] != 0 or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    )


def progress_stream() -> TextIO:
    """Where progress bars write: stdout inside a Jupyter kernel, stderr elsewhere.

    A finished bar erases itself with carriage returns (``leave=False``). In a notebook that leaves an
    empty stream output, a blank stderr band above the cell's printed tables, unless the bar shares the
    stream of that text: Jupyter merges consecutive stdout outputs and drops what a carriage return
    overwrote, so the bar vanishes without a trace. In a terminal stdout stays for the logs.
    """
    return sys.stdout if type(sys.stdout).__module__.startswith("ipykernel") else sys.stderr


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True, mininterval: float = 2.0) -> tqdm:
    """A progress bar over ``iterable`` that is erased when it finishes (off on other ranks and with TQDM_DISABLE)."""
    return tqdm(
        iterable,
        desc=desc,
        leave=False,
        mininterval=mininterval,
        file=progress_stream(),
        disable=_progress_disabled(enabled),
    )


def gating_penalty(model: nn.Module, target: float = 0.0) -> torch.Tensor:
    """``sum over PG convs of ||θ - target||^2`` (a scalar; multiply by the stage's ``gating_reg``)."""
    thresholds = [m.threshold for m in model.modules() if isinstance(m, PGBinaryConv2d)]
    if not thresholds:
        raise ValueError(f"{type(model).__name__} has no precision-gated convs to regularise")
    return torch.stack([((theta - target) ** 2).sum() for theta in thresholds]).sum()


def _pg_layer_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, PGBinaryConv2d)]


def _reduce_gating(model: nn.Module, stats: GatingStats) -> GatingStats:
    """Gating counts summed over the ranks (layers in the model's order)."""
    names = _pg_layer_names(model)
    summed = all_reduce_sum(
        [float(stats.total.get(n, 0)) for n in names] + [float(stats.high.get(n, 0)) for n in names]
    )
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
    correct, total = all_reduce_sum([float(correct), float(total)])
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


def _parameter_groups(model: nn.Module, stage: Stage) -> list[dict[str, Any]]:
    """Adam's parameter groups: the PG thresholds at ``threshold_lr_scale x lr`` (if not 1), the rest at ``lr``."""
    if stage.threshold_lr_scale == 1.0:
        return [{"params": list(model.parameters())}]
    thresholds = {id(m.threshold) for m in model.modules() if isinstance(m, PGBinaryConv2d)}
    rest = [p for p in model.parameters() if id(p) not in thresholds]
    gated = [p for p in model.parameters() if id(p) in thresholds]
    return [{"params": rest}, {"params": gated, "lr": stage.lr * stage.threshold_lr_scale}]


def _make_optimizer(model: nn.Module, stage: Stage) -> tuple[torch.optim.Optimizer, Any]:
    optimizer = torch.optim.Adam(_parameter_groups(model, stage), lr=stage.lr, weight_decay=stage.weight_decay)
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
    bar = progress_bar(loader, desc, progress)
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
    total_loss, total_correct, total = all_reduce_sum([loss_sum.item(), float(correct.item()), float(count)])
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
    return {"stage": stage.config(), "seed": seed, "model": type(model).__name__, "world_size": rank_and_world()[1]}


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
    rank, world_size = rank_and_world()
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
    rank, world_size = rank_and_world()
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
        if rank == 0:
            done = int(saved["epoch"])
            print(
                f"{stage.name}: resuming from {last_path.name} after epoch {done} of {stage.epochs}"
                + (" (finished)" if done >= stage.epochs else "")
                + " (resume=False / --no-resume starts it over)"
            )
        load_checkpoint(saved, model)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        start_epoch = int(saved["epoch"])
        history = saved["history"]
        rows = [{col: history[col][i] for col in HISTORY_COLUMNS} for i in range(start_epoch)]
        rng_states = saved["rng"]
        set_rng_state(rng_states[rank] if rank < len(rng_states) else rng_states[0], train_loader)
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
        rng_states = [rng_state(train_loader)]
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


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """``KLDiv(log_softmax(student), softmax(teacher), reduction='batchmean')`` (temperature 1)."""
    return F.kl_div(
        F.log_softmax(student_logits, dim=1), F.softmax(teacher_logits.detach(), dim=1), reduction="batchmean"
    )
