"""The staged training recipe of FracBNN, as configuration: :class:`Stage` and :func:`recipe`.

A stage is (weights float | binary, gate off | on) plus its optimiser and schedule; :func:`recipe`
gives the paper's three stages (DESIGN.md, "Training recipe") or the release's two-step variant,
each stage starting from the previous one's best checkpoint (:func:`~.runner.run_recipe`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..accelerators import for_dataset
from ..data import DATASETS

RELEASE_MILESTONES = (100, 150, 200)

RELEASE_EPOCHS = {"cifar10": 250, "imagenet": 120}
"""The paper's epochs per stage, by network (:attr:`fracbnn_lib.accelerators.Accelerator.name`)."""

GATING_REG = 0.5e-5


@dataclass(frozen=True)
class Stage:
    """One training stage: which weights and gate, for how long, with which optimiser settings.

    ``binary_weights``: sign(W) in every binary conv (else the latent float W); ``gating``: the
    precision gate of every PG conv on (else the full 2-bit conv everywhere). Adam with ``lr`` and
    coupled ``weight_decay``; ``schedule`` ``"linear"`` (to 0 over ``epochs``) or ``"multistep"``
    (x ``gamma`` at ``milestones``). With the gate on, ``gating_reg * sum ||θ - gating_target||^2``
    is added to the loss; the thresholds ``θ`` learn at ``threshold_lr_scale x lr`` (1 in the paper's recipe:
    one learning rate for every parameter). ``kd``: knowledge distillation from a teacher (ImageNet). ``init_from``:
    the stage whose best checkpoint this one starts from (``""``: the model as built), which
    :func:`~.runner.run_stage` loads from the same checkpoint folder.
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
    threshold_lr_scale: float = 1.0
    kd: bool = False
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"stage {self.name}: epochs must be at least 1, got {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"stage {self.name}: the learning rate must be a positive number, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"stage {self.name}: weight decay must be a number >= 0, got {self.weight_decay}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"stage {self.name}: gamma must be a positive number, got {self.gamma}")
        if not (math.isfinite(self.threshold_lr_scale) and self.threshold_lr_scale > 0):
            scale = self.threshold_lr_scale
            raise ValueError(f"stage {self.name}: threshold_lr_scale must be a positive number, got {scale}")
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
    gating_reg: float = GATING_REG,
    threshold_lr_scale: float = 1.0,
) -> list[Stage]:
    """The training stages of DESIGN.md for ``dataset`` (``synthetic`` trains like ``cifar10``).

    ``variant="paper"``: stage1 (float weights, gate off), stage2 (binary, off), stage3 (binary,
    on). ``variant="release"``: the release README's two steps, stage1 (float, on) and stage2
    (binary, on). ``epochs``, ``lr`` and ``weight_decay`` override every stage's value (multistep
    milestones are rescaled, see the module docstring); ``gating_target`` is ``g``. ``gating_reg`` (the
    paper's 0.5e-5) and ``threshold_lr_scale`` (the paper's 1) are the gate's two training settings; a run
    much shorter than the paper's may raise them so the thresholds move at all (the embedded default does,
    and says so: ``params/synthetic.yaml``). Every stage
    after the first starts from the one before it (``init_from``).

    CIFAR-10: stage 1 Adam lr 1e-3, wd 1e-5, linear, 250 epochs; later stages lr 1e-3, wd 0,
    x0.1 at 100/150/200. ImageNet (with KD): stage 1 lr 5e-4, wd 1e-5, linear, 120 epochs; later
    stages lr 5e-4, wd 0, linear.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if variant not in ("paper", "release"):
        raise ValueError(f"unknown recipe variant {variant!r}; choose 'paper' or 'release'")
    network = for_dataset(dataset).name
    imagenet = network == "imagenet"
    full = RELEASE_EPOCHS[network]
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
                gating_reg=float(gating_reg),
                threshold_lr_scale=float(threshold_lr_scale),
                kd=imagenet,
                init_from=f"stage{i}" if i else "",
                **settings,
            )
        )
    return stages


NO_TEACHER = (
    "no teacher: knowledge distillation is off, the stages train on the labels (cross-entropy); the paper "
    "distils ImageNet from a ResNet-50 (dataset imagenet with --teacher, or teacher_weights in the params file)"
)
"""What a run without a teacher file says, once, instead of distilling (``imagenet-tiny``'s choice)."""


def teacher_problem(dataset: str, teacher: str | None, setting: str) -> str | None:
    """Why ``teacher`` cannot serve ``dataset``'s training, or None: the one rule of ``fracbnn train`` and the pipeline.

    - ``imagenet`` needs a teacher: the paper's recipe distils from a ResNet-50, and a run of days on the labels
      alone would quietly not be that recipe, so its absence is an error naming ``setting``.
    - ``imagenet-tiny`` (the generated 10-class default) takes none: a ResNet-50 predicts ImageNet's 1000
      classes, not its 10. It trains on the labels and says so (:func:`without_missing_teacher`, :data:`NO_TEACHER`).
    - CIFAR-10 and the synthetic set train on the labels; a teacher given for them is a mistake.

    ``setting``: the option or parameter that holds the teacher (``--teacher``, ``teacher_weights``), for the message.
    Whether the file exists is :func:`~fracbnn_lib.models.imagenet.load_teacher`'s check.
    """
    if dataset == "imagenet" and not teacher:
        give = f"pass {setting} PATH" if setting.startswith("-") else f"set {setting} to its path"
        return f"ImageNet trains by knowledge distillation (the paper's recipe): {give}, a ResNet-50 state dict"
    if dataset == "imagenet-tiny" and teacher:
        return (
            f"{setting} does not fit imagenet-tiny (a ResNet-50 teacher predicts 1000 ImageNet classes, imagenet-tiny "
            "has 10): drop it; imagenet-tiny trains on the labels"
        )
    if for_dataset(dataset).name != "imagenet" and teacher:
        return f"{setting} is for ImageNet's knowledge distillation; {dataset} trains on the labels: drop it"
    return None


def without_missing_teacher(stages: list[Stage], teacher_weights: str | None) -> tuple[list[Stage], str]:
    """The stages as they can run: distillation (``kd``) switched off when no teacher file is given.

    Returns the stages and a one-line note (empty if nothing changed). A given file is loaded later by
    :func:`fracbnn_lib.models.imagenet.load_teacher`, which fails clearly if it does not exist. The CLI and
    the pipeline refuse ``imagenet`` without a teacher before this (:func:`teacher_problem`).
    """
    if teacher_weights or not any(stage.kd for stage in stages):
        return list(stages), ""
    return [dataclasses.replace(stage, kd=False) for stage in stages], NO_TEACHER
