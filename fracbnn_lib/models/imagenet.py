"""FracBNN ReActNet (MobileNet-V1 variant) for ImageNet, with knowledge distillation.

| variant | W/A | top-1 (release README / paper) |
|---|---|---|
| FracBNN ReActNet | 1 / 1.4 | 71.7% / 71.8% |

The student takes images normalised with ImageNet mean/std (what the teacher needs) and
de-normalises them before thermometer encoding. The ResNet-50 teacher is a separate, frozen,
eval-mode object (:func:`load_teacher`), never a sub-module of the student, and is read from
a local file only.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..data import IMAGENET_MEAN, IMAGENET_STD
from ..encoding import ThermometerEncoder
from ..layers import PGBinaryConv2d, ThermometerConv2d, set_binary_weights, set_gating
from ..quantizers import RPReLU, quant_sign
from ..topology import REACTNET_BLOCKS
from .shortcuts import DuplicateChannels

SHORTCUT_BITS = 4


class BuildingBlock(nn.Module):
    """ReActNet building block with PG convs and 4-bit shortcuts.

    ``x = shiftbn1(rprelu1(bn(pg3x3(q(x)))) + shortcut1(q4(x)))``,
    ``x = shiftbn2(rprelu2(bn(pg1x1(q(x)))) + shortcut2(q4(x)))``; ``shortcut1`` is a 2x2
    average pool when ``stride == 2``, ``shortcut2`` duplicates channels when ``out == 2 * in``.
    """

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        if oup not in (inp, 2 * inp):
            raise ValueError(f"unsupported block {inp}->{oup}: out must equal in or 2 * in")
        self.conv3x3 = nn.Sequential(PGBinaryConv2d(inp, inp, 3, stride, 1), nn.BatchNorm2d(inp))
        self.shortcut1 = nn.AvgPool2d(kernel_size=2, stride=2) if stride == 2 else nn.Identity()
        self.pointwise = nn.Sequential(PGBinaryConv2d(inp, oup, 1, 1, 0), nn.BatchNorm2d(oup))
        self.shortcut2 = DuplicateChannels() if oup == 2 * inp else nn.Identity()
        self.rprelu1 = RPReLU(inp)
        self.rprelu2 = RPReLU(oup)
        self.shiftbn1 = nn.BatchNorm2d(inp)
        self.shiftbn2 = nn.BatchNorm2d(oup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shiftbn1(self.rprelu1(self.conv3x3(quant_sign(x))) + self.shortcut1(quant_sign(x, SHORTCUT_BITS)))
        return self.shiftbn2(self.rprelu2(self.pointwise(quant_sign(x))) + self.shortcut2(quant_sign(x, SHORTCUT_BITS)))


class FracBNNReActNet(nn.Module):
    """Encoder (224x224) -> binary conv 96->32 stride 2 + BN -> 13 blocks -> AvgPool(7) -> FC 1024->classes.

    Input: normalised images N x 3 x 224 x 224. Output: logits N x classes. ``encoder`` describes
    the code; ``model[0][0]`` (:class:`ThermometerConv2d`) encodes the de-normalised images itself.
    """

    def __init__(self, num_classes: int = 1000, resolution: int = 8) -> None:
        super().__init__()
        self.encoder = ThermometerEncoder(resolution)
        self.register_buffer("img_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("img_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        layers: list[nn.Module] = [
            nn.Sequential(
                ThermometerConv2d(3 * self.encoder.levels, 32, 3, 2, 1, resolution=resolution), nn.BatchNorm2d(32)
            )
        ]
        layers += [BuildingBlock(i, o, s) for i, o, s in REACTNET_BLOCKS]
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.model = nn.Sequential(*layers)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.img_std + self.img_mean  # model[0][0] (ThermometerConv2d) encodes the images itself
        return self.fc(self.model(x).flatten(1))


def fracbnn_reactnet(*, num_classes: int = 1000, binary_weights: bool = True, gating: bool = True) -> FracBNNReActNet:
    """Build the ImageNet FracBNN; defaults give the final model (binary weights, gate on)."""
    model = FracBNNReActNet(num_classes=num_classes)
    set_binary_weights(model, binary_weights)
    set_gating(model, gating)
    return model


def load_teacher(path: str | Path) -> nn.Module:
    """A frozen, eval-mode torchvision ResNet-50 with weights from a local ``.pth`` state dict.

    Raises ``FileNotFoundError`` naming the path if it does not exist (nothing is downloaded), and
    :class:`~fracbnn_lib.checkpoint.CheckpointError` (one line) for a file that is not a readable
    ResNet-50 state dict (empty, corrupt, another architecture), loaded strictly.
    """
    from torchvision.models import resnet50

    from ..checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"teacher weights not found at {path}: save torchvision's ResNet-50 state dict there "
            "(e.g. torchvision.models.resnet50(weights='IMAGENET1K_V1').state_dict())"
        )
    teacher = resnet50()
    load_checkpoint(path, teacher)
    teacher.requires_grad_(False)
    return teacher.eval()
