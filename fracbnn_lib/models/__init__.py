"""FracBNN model builders: CIFAR-10 ResNet-20 and ImageNet ReActNet (MobileNet-V1) variants."""

from .cifar10 import BasicBlock, FracBNNResNet20, fracbnn_resnet20
from .imagenet import BuildingBlock, FracBNNReActNet, fracbnn_reactnet

__all__ = [
    "BasicBlock",
    "BuildingBlock",
    "FracBNNReActNet",
    "FracBNNResNet20",
    "fracbnn_reactnet",
    "fracbnn_resnet20",
]
