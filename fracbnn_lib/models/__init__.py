"""FracBNN model builders: CIFAR-10 ResNet-20 and ImageNet ReActNet (MobileNet-V1) variants, and trained models.

Which network a data set or a checkpoint needs is one lookup in :mod:`fracbnn_lib.accelerators`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path

from torch import nn

from ..accelerators import Accelerator, for_dataset, for_state_dict
from .cifar10 import BasicBlock, FracBNNResNet20, fracbnn_resnet20
from .imagenet import BuildingBlock, FracBNNReActNet, fracbnn_reactnet

BUILDERS = {"fracbnn_resnet20": fracbnn_resnet20, "fracbnn_reactnet": fracbnn_reactnet}
"""The model builder each accelerator's descriptor names (:attr:`~fracbnn_lib.accelerators.Accelerator.model`)."""


def build_model(accelerator: Accelerator, num_classes: int | None = None, **switches: bool) -> nn.Module:
    """The FracBNN an accelerator runs (``binary_weights``, ``gating`` as its builder takes them); classes default
    to those of the accelerator's first data set."""
    classes = num_classes if num_classes is not None else next(iter(accelerator.datasets.values()))
    return BUILDERS[accelerator.model](num_classes=classes, **switches)


def model_builder(dataset: str) -> Callable[[], nn.Module]:
    """The FracBNN of a data set with its classes (``fracbnn_reactnet`` with 10 classes for ``imagenet-tiny``)."""
    accelerator = for_dataset(dataset)
    return functools.partial(build_model, accelerator, accelerator.datasets[dataset])


def load_trained_model(checkpoint: str | Path) -> nn.Module:
    """The FracBNN of a checkpoint (ours or the release's) in eval mode, strictly loaded.

    The network is the one whose classifier the checkpoint holds (:func:`fracbnn_lib.accelerators.for_state_dict`),
    with as many classes as that classifier has (a checkpoint with neither is tried as a ResNet-20, whose strict
    load then lists the missing and unexpected keys). Our checkpoints record their stage: its switches (binary
    weights, gate) are applied, so a stage-2 checkpoint exports with the gate off and a stage-1 checkpoint is
    refused by the export. Raises :class:`~fracbnn_lib.checkpoint.CheckpointError` (one line) for a file that
    is no checkpoint of either network.
    """
    from ..accelerators import CIFAR10, UnknownAcceleratorError
    from ..checkpoint import load_checkpoint, map_official_keys, model_state, read_checkpoint
    from ..layers import set_binary_weights, set_gating

    state = map_official_keys(model_state(read_checkpoint(checkpoint)))
    try:
        accelerator = for_state_dict(state)
        model = build_model(accelerator, int(state[accelerator.classifier_key].shape[0]))
    except UnknownAcceleratorError:
        model = build_model(CIFAR10)
    stored = load_checkpoint(checkpoint, model)
    stage = stored.get("config", {}).get("stage", {}) if isinstance(stored.get("config"), Mapping) else {}
    if "binary_weights" in stage:
        set_binary_weights(model, bool(stage["binary_weights"]))
    if "gating" in stage:
        set_gating(model, bool(stage["gating"]))
    return model.eval()


def trained_model_for(dataset: str, checkpoint: str | Path) -> nn.Module:
    """:func:`load_trained_model` of ``checkpoint``, refused unless it is ``dataset``'s network with its classes.

    What notebooks 03-05 run on when given a ``checkpoint`` (ours, or the release's imported with ``fracbnn
    import-release``): a ReActNet for a CIFAR-10 data set, or a classifier of 1000 classes for a 10-class one, is
    a :class:`~fracbnn_lib.checkpoint.CheckpointError` (one line) that names both.
    """
    from ..checkpoint import CheckpointError

    model = load_trained_model(checkpoint)
    wanted = for_dataset(dataset)
    state = model.state_dict()
    held = for_state_dict(state)
    classes = int(state[held.classifier_key].shape[0])
    if held is not wanted or classes != wanted.datasets[dataset]:
        raise CheckpointError(
            f"{checkpoint} holds a {type(model).__name__} of {classes} classes (the {held.name} accelerator's "
            f"network); data set {dataset} runs the {wanted.name} accelerator's with {wanted.datasets[dataset]}: "
            "pass a checkpoint of that network, or the data set it was trained on"
        )
    return model


__all__ = [
    "BasicBlock",
    "BuildingBlock",
    "FracBNNReActNet",
    "FracBNNResNet20",
    "fracbnn_reactnet",
    "fracbnn_resnet20",
    "build_model",
    "load_trained_model",
    "trained_model_for",
    "model_builder",
]
