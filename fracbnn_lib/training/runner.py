"""Running the recipe: each stage started from the checkpoint its declaration names, ``final.pt`` promoted once.

A :class:`~.recipe.Stage` says where its weights come from (``init_from``: the previous stage's
best checkpoint ``<out_dir>/<name>.pt``), so the CLI, notebooks 02 and 03 and the gating sweep all
chain stages the same way::

    results = run_recipe(model, recipe("cifar10"), train_loader, test_loader, out_dir="ckpt")
    # ckpt/stage1.pt, stage2.pt, stage3.pt (best of each), ckpt/final.pt (= stage3.pt)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoint import CheckpointError, atomic_save, read_checkpoint
from .distributed import rank_and_world
from .loop import StageResult, train_stage
from .recipe import Stage

FINAL_CHECKPOINT = "final.pt"
"""The finished model of a run: the last stage's best checkpoint, promoted (``checkpoints/final.pt``)."""


def start_checkpoint(stage: Stage, out_dir: str | Path, init_from: str | Path | None = None) -> Path | None:
    """The checkpoint ``stage`` starts from: ``init_from`` if given, else the one its declaration names.

    Raises :class:`CheckpointError` (one line, saying which stage to train first) when the declared
    checkpoint ``out_dir/<stage.init_from>.pt`` does not exist; ``None`` for a first stage.
    """
    if init_from is not None:
        return Path(init_from)
    if not stage.init_from:
        return None
    path = Path(out_dir) / f"{stage.init_from}.pt"
    if not path.is_file():
        raise CheckpointError(
            f"{stage.name} starts from {stage.init_from}'s checkpoint {path}: train {stage.init_from} first "
            "(or pass init_from)"
        )
    return path


def run_stage(
    model: nn.Module,
    stage: Stage,
    train_loader: Iterable,
    test_loader: Iterable,
    *,
    out_dir: str | Path,
    init_from: str | Path | None = None,
    **train: Any,
) -> StageResult:
    """:func:`~.loop.train_stage` from :func:`start_checkpoint` (``train``: its other keyword arguments)."""
    start = start_checkpoint(stage, out_dir, init_from)
    return train_stage(model, stage, train_loader, test_loader, out_dir=out_dir, init_from=start, **train)


def promote_final(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Copy ``checkpoint`` (the last stage's best) to ``out_dir/final.pt``, atomically; returns that path."""
    return atomic_save(read_checkpoint(checkpoint), Path(out_dir) / FINAL_CHECKPOINT)


def run_recipe(
    model: nn.Module,
    stages: Sequence[Stage],
    train_loader: Iterable,
    test_loader: Iterable,
    *,
    out_dir: str | Path,
    init_from: str | Path | None = None,
    promote: bool = True,
    after_stage: Callable[[Stage, StageResult], None] | None = None,
    **train: Any,
) -> list[StageResult]:
    """Train ``stages`` in order (:func:`run_stage`), then promote the last one's best to ``final.pt``.

    ``init_from`` overrides where the first stage starts; each later one starts from the stage
    before it. ``promote``: write ``final.pt`` (rank 0 only), for a run that ends with the recipe's
    last stage. ``after_stage(stage, result)`` is called as each stage ends.
    """
    results = []
    for i, stage in enumerate(stages):
        result = run_stage(
            model, stage, train_loader, test_loader, out_dir=out_dir, init_from=init_from if i == 0 else None, **train
        )
        results.append(result)
        if after_stage is not None:
            after_stage(stage, result)
    if promote and results and rank_and_world()[0] == 0:
        promote_final(results[-1].checkpoint, out_dir)
    return results
