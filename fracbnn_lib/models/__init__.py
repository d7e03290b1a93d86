"""FracBNN model builders: CIFAR-10 ResNet-20 and ImageNet ReActNet (MobileNet-V1) variants."""

import functools
from collections.abc import Callable

from torch import nn

from .cifar10 import BasicBlock, FracBNNResNet20, fracbnn_resnet20
from .imagenet import BuildingBlock, FracBNNReActNet, fracbnn_reactnet


def model_builder(dataset: str) -> Callable[[], nn.Module]:
    """The FracBNN of a data set: ``fracbnn_reactnet`` for ImageNet (10 classes for ``imagenet-tiny``),
    ``fracbnn_resnet20`` otherwise."""
    if dataset == "imagenet-tiny":
        return functools.partial(fracbnn_reactnet, num_classes=10)
    return fracbnn_reactnet if dataset == "imagenet" else fracbnn_resnet20


__all__ = [
    "BasicBlock",
    "BuildingBlock",
    "FracBNNReActNet",
    "FracBNNResNet20",
    "fracbnn_reactnet",
    "fracbnn_resnet20",
    "model_builder",
]
