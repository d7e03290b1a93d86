"""FracBNN ResNet-20 for CIFAR-10 (binary input layer, precision-gated 2-bit activations).

| variant | params | W/A | top-1 (paper) |
|---|---|---|---|
| FracBNN ResNet-20 | 287,146 | 1 / 1.4 | 89.1% |

Module and parameter names follow the official release, so its checkpoints load strictly
(:func:`fracbnn_lib.checkpoint.load_checkpoint`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..encoding import ThermometerEncoder
from ..layers import PGBinaryConv2d, ThermometerConv2d, set_binary_weights, set_gating
from ..quantizers import RPReLU, quant_sign_with_levels
from .shortcuts import DuplicateChannels


class BasicBlock(nn.Module):
    """FracBNN residual block (pre-activation ReActNet variant).

    ``x = bn3(rprelu1(bn1(conv1(q(x)))) + shortcut(x))``,
    ``x = bn4(rprelu2(bn2(conv2(q(x)))) + x)``, with ``q`` the 2-bit :func:`quant_sign` and
    conv1/conv2 3x3 :class:`PGBinaryConv2d`. The downsampling shortcut (stride 2) is a 2x2 average
    pool whose result is concatenated with itself along channels.
    Input N x in x H x W, output N x out x H/stride x W/stride.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.rprelu1 = RPReLU(planes)
        self.rprelu2 = RPReLU(planes)
        self.conv1 = PGBinaryConv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = PGBinaryConv2d(planes, planes, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            if planes != 2 * in_planes or stride != 2:
                raise ValueError(f"unsupported block {in_planes}->{planes}, stride {stride}")
            self.shortcut: nn.Module = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2), DuplicateChannels())
        else:
            self.shortcut = nn.Identity()
        self.bn3 = nn.BatchNorm2d(planes)
        self.bn4 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, levels = quant_sign_with_levels(x)  # the PG convs keep the int8 levels for their backward pass
        x = self.bn3(self.rprelu1(self.bn1(self.conv1(q, levels=levels))) + self.shortcut(x))
        q, levels = quant_sign_with_levels(x)
        return self.bn4(self.rprelu2(self.bn2(self.conv2(q, levels=levels))) + x)


class FracBNNResNet20(nn.Module):
    """Thermometer encoder -> binary input conv (96->16) + BN -> 3 x 3 BasicBlocks -> pool -> FC.

    Input: images N x 3 x 32 x 32 in [0, 1] (no mean/std normalisation). Output: logits N x classes.
    ``encoder`` describes the code (resolution, levels); ``conv1`` (:class:`ThermometerConv2d`)
    takes the images and computes ``conv1(encoder(x))`` without materialising the 96-channel code.
    """

    def __init__(self, num_classes: int = 10, resolution: int = 8) -> None:
        super().__init__()
        self.encoder = ThermometerEncoder(resolution)
        self.conv1 = ThermometerConv2d(
            3 * self.encoder.levels, 16, kernel_size=3, stride=1, padding=1, resolution=resolution
        )
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, 16, stride=1)
        self.layer2 = self._make_layer(16, 32, stride=2)
        self.layer3 = self._make_layer(32, 64, stride=2)
        self.linear = nn.Linear(64, num_classes)

    @staticmethod
    def _make_layer(in_planes: int, planes: int, stride: int, blocks: int = 3) -> nn.Sequential:
        strides = [stride] + [1] * (blocks - 1)
        return nn.Sequential(*(BasicBlock(in_planes if i == 0 else planes, planes, s) for i, s in enumerate(strides)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x))  # conv1(encoder(x)), by lookup: ThermometerConv2d encodes its input
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def fracbnn_resnet20(*, num_classes: int = 10, binary_weights: bool = True, gating: bool = True) -> FracBNNResNet20:
    """Build the CIFAR-10 FracBNN (287,146 parameters for 10 classes).

    Defaults give the final FracBNN (binary weights, gate on); stage 1 of the recipe is
    ``binary_weights=False, gating=False``.
    """
    model = FracBNNResNet20(num_classes=num_classes)
    set_binary_weights(model, binary_weights)
    set_gating(model, gating)
    return model
