"""What a training run is and did, for a reader: the stages as a table, the learning curves as a figure."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def stage_table(stages: Iterable[Any]) -> pd.DataFrame:
    """One row per training stage (:class:`fracbnn_lib.training.Stage`): weights, gate and optimiser settings."""
    rows = [
        {
            "stage": st.name,
            "weights": "binary" if st.binary_weights else "float",
            "gate": "on" if st.gating else "off",
            "epochs": st.epochs,
            "lr": st.lr,
            "weight_decay": st.weight_decay,
            "schedule": st.schedule,
            "milestones": ",".join(str(m) for m in st.milestones) if st.schedule == "multistep" else "-",
            "gating_target": st.gating_target if st.gating else math.nan,
            "kd": st.kd,
        }
        for st in stages
    ]
    return pd.DataFrame(rows)


def plot_learning_curves(history: pd.DataFrame, title: str = "") -> Figure:
    """Training loss, train/test accuracy (and gating sparsity if measured) and learning rate per epoch."""
    fig = Figure(figsize=(12, 3.4))
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)
    loss_ax.plot(history["epoch"], history["train_loss"], marker="o")
    loss_ax.set_ylabel("train loss")
    acc_ax.plot(history["epoch"], history["train_accuracy"], marker="o", label="train")
    acc_ax.plot(history["epoch"], history["test_accuracy"], marker="o", label="test")
    if "sparsity" in history and (history["sparsity"] > 0).any():
        acc_ax.plot(history["epoch"], history["sparsity"], marker="s", linestyle=":", label="gating sparsity")
    acc_ax.set_ylabel("fraction")
    acc_ax.set_ylim(0, 1)
    acc_ax.legend(fontsize=8)
    lr_ax.plot(history["epoch"], history["lr"], marker="o")
    lr_ax.set_ylabel("learning rate")
    for ax in (loss_ax, acc_ax, lr_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
