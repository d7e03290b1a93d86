"""The staged training recipe of FracBNN, as configuration.

A :class:`Stage` is (weights float | binary, gate off | on) plus its optimiser and schedule.
:func:`recipe` gives the paper's three stages (DESIGN.md, "Training recipe") or the release's
two-step variant; :func:`train_stage` trains one stage, each initialised from the previous
stage's best checkpoint, as the stage declares (:mod:`.runner`)::

    model = fracbnn_resnet20()
    results = run_recipe(model, recipe("cifar10"), train_loader, test_loader, out_dir="ckpt")

Loss per batch (mean over the batch):

- CIFAR-10: ``CE(student(x), y)``; ImageNet: ``KL(softmax(teacher(x)) || softmax(student(x)))``
  (:func:`~.loop.distillation_loss`, teacher frozen and in eval mode);
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

from .distributed import DeviceError, init_distributed, resolve_device, seed_everything
from .loop import (
    HISTORY_COLUMNS,
    RESUME_KEYS,
    StageResult,
    TrainingError,
    distillation_loss,
    evaluate,
    evaluate_with_gating,
    gating_penalty,
    train_stage,
)
from .recipe import (
    GATING_REG,
    NO_TEACHER,
    RELEASE_EPOCHS,
    RELEASE_MILESTONES,
    Stage,
    recipe,
    teacher_problem,
    without_missing_teacher,
)
from .report import plot_learning_curves, stage_table
from .runner import FINAL_CHECKPOINT, promote_final, run_recipe, run_stage, start_checkpoint
from .sweep import gating_sweep

__all__ = [
    "DeviceError",
    "FINAL_CHECKPOINT",
    "GATING_REG",
    "HISTORY_COLUMNS",
    "RELEASE_EPOCHS",
    "RELEASE_MILESTONES",
    "RESUME_KEYS",
    "Stage",
    "StageResult",
    "TrainingError",
    "distillation_loss",
    "evaluate",
    "evaluate_with_gating",
    "gating_penalty",
    "gating_sweep",
    "init_distributed",
    "plot_learning_curves",
    "promote_final",
    "recipe",
    "without_missing_teacher",
    "teacher_problem",
    "NO_TEACHER",
    "resolve_device",
    "run_recipe",
    "run_stage",
    "seed_everything",
    "stage_table",
    "start_checkpoint",
    "train_stage",
]
