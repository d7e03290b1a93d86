"""The gating sweep: the gated stage fine-tuned once per gating target, for the accuracy-sparsity trade-off."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from ..gating import thresholds
from .recipe import recipe
from .runner import run_stage


def gating_sweep(
    build_model: Callable[[], nn.Module],
    targets: Sequence[float],
    train_loader: Iterable,
    test_loader: Iterable,
    *,
    dataset: str,
    init_from: str | Path,
    out_dir: str | Path,
    epochs: int,
    lr: float | None = None,
    gating_reg: float | None = None,
    threshold_lr_scale: float = 1.0,
    device: str = "cpu",
    seed: int = 0,
    teacher: nn.Module | None = None,
) -> pd.DataFrame:
    """Fine-tune the gated stage once per gating target ``g``; accuracy and sparsity after the last epoch.

    For each ``g``: a fresh model from ``build_model()`` is initialised from ``init_from`` (the
    stage-2 checkpoint) and trained with the recipe's gated stage (:func:`fracbnn_lib.training.recipe`
    with ``epochs``, ``lr``, ``gating_target=g`` and the gate's training settings ``gating_reg`` (None: the
    paper's) and ``threshold_lr_scale``; multistep milestones rescaled to ``epochs``)
    into ``out_dir/target_<g>/``. Returns one row per target: target, epochs, test_accuracy,
    final_train_loss, sparsity (all on the test set after the last epoch), effective_bits and
    mean_threshold.
    """
    rows = []
    for target in targets:
        settings = {"gating_reg": gating_reg} if gating_reg is not None else {}
        stage = recipe(
            dataset,
            epochs=epochs,
            lr=lr,
            gating_target=float(target),
            threshold_lr_scale=threshold_lr_scale,
            **settings,
        )[-1]
        model = build_model()
        result = run_stage(
            model,
            stage,
            train_loader,
            test_loader,
            out_dir=Path(out_dir) / f"target_{target:+.2f}",
            device=device,
            seed=seed,
            init_from=init_from,
            resume=False,
            teacher=teacher,
            progress=False,
        )
        last = result.history.iloc[-1]
        rows.append(
            {
                "target": float(target),
                "epochs": int(epochs),
                "test_accuracy": float(last["test_accuracy"]),
                "final_train_loss": float(last["train_loss"]),
                "sparsity": float(last["sparsity"]),
                "effective_bits": 2.0 - float(last["sparsity"]),
                "mean_threshold": float(np.concatenate(list(thresholds(model).values())).mean()),
            }
        )
    return pd.DataFrame(rows)
