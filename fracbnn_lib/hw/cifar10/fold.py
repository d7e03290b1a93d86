"""Rung L1 of the ladder: BatchNorm folded into per-channel scale/shift, weights binarised as the hardware does.

:func:`fold_model` turns a CIFAR-10 FracBNN (eval semantics: BN running statistics) into the
float64 parameters the accelerator needs; :class:`FoldedFracBNN` runs them in PyTorch. Per PG conv
with integer MSB/LSB sums ``m``, ``l`` (``±1`` activations and weights, zero padding) and gate
``g = 1[m > T]``:

- ``z = 2 m + g l`` (integer; the conv output is ``z / 3``: ``2/3 m + 1/3 l`` or ``2/3 m``),
- ``T = floor(3/2 θ)``, so that ``2/3 m > θ  <=>  m > T`` exactly (``T = -32768`` if the gate is off),
- ``u = scale * z + shift`` with ``scale = γ1 / (3 sqrt(σ1² + ε))``, ``shift = β1 - μ1 γ1 / sqrt(σ1² + ε) + b_x``
  (bn1 and RPReLU's input shift),
- ``u = u * slope`` where ``u < 0`` (PReLU),
- ``x = bn_scale * (u + residual) + bn_shift`` with ``bn_scale = γ3 / sqrt(σ3² + ε)`` and
  ``bn_shift = β3 - μ3 bn_scale + bn_scale b_y`` (RPReLU's output shift folded into bn3).

The input layer is ``x = conv1_scale * z0 + conv1_shift`` with ``z0`` the ``±1`` conv of the
thermometer code. A weight bit is 1 where the latent weight is > 0 and 0 (i.e. -1) where it is
<= 0: ``torch.sign(0) = 0`` in the training model, so an exact zero is the one place where L1
deliberately differs from L0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...encoding import thermometer_encode, unpack_thermometer
from ...layers import BinaryConv2d, PGBinaryConv2d
from ...models.cifar10 import BasicBlock
from ...quantizers import quant_sign
from ..bits import WORD_BITS
from ..export_folder import ExportError
from ..folding import bn_affine, gate_threshold, per_channel, weight_bits
from .layout import BLOCKS, CLASSES, COLOURS, FC_IN, PG_LAYERS, STEM_CHANNELS, PGLayer


@dataclass
class FoldedPG:
    """Folded parameters of one PG conv and what follows it (shapes: ``cout`` or ``cout x cin x 3 x 3``)."""

    bits: np.ndarray
    threshold: np.ndarray
    scale: np.ndarray
    shift: np.ndarray
    slope: np.ndarray
    bn_scale: np.ndarray
    bn_shift: np.ndarray


@dataclass
class FoldedParams:
    """Everything the accelerator computes with, in float64 before fixed-point quantisation.

    ``conv1_bits``: bool 16 x 3L x 3 x 3 (L thermometer levels per colour); ``pg``: one
    :class:`FoldedPG` per entry of :data:`~fracbnn_lib.hw.layout.PG_LAYERS`; ``fc_weight`` 10 x 64,
    ``fc_bias`` 10.
    """

    resolution: int
    levels: int
    conv1_bits: np.ndarray
    conv1_scale: np.ndarray
    conv1_shift: np.ndarray
    pg: list[FoldedPG]
    fc_weight: np.ndarray
    fc_bias: np.ndarray


def _fail(message: str) -> None:
    raise ExportError(message)


def check_architecture(model: nn.Module) -> None:
    """Raise :class:`ExportError` (one line) unless ``model`` is the CIFAR-10 FracBNN ResNet-20 layout.

    Checks every module the accelerator implements: the binary input conv (3 x L thermometer
    channels, L <= 64), bn1, the nine BasicBlocks (PG convs, channels 16/32/64, strides, shortcuts),
    and a 64 -> 10 linear layer; and that weights are binary (stage 2 or later).
    """
    name = type(model).__name__
    if not all(hasattr(model, attr) for attr in ("encoder", "conv1", "bn1", "layer1", "layer2", "layer3", "linear")):
        _fail(f"{name} is not the CIFAR-10 FracBNN ResNet-20 (fracbnn_resnet20); the accelerator runs only that layout")
    levels = getattr(model.encoder, "levels", None)
    conv1 = model.conv1
    if not isinstance(conv1, BinaryConv2d) or levels is None:
        _fail(f"{name}.conv1 is not a binary input conv after a thermometer encoder; export needs fracbnn_resnet20")
    if levels > WORD_BITS:
        _fail(f"{levels} thermometer levels do not fit the {WORD_BITS}-bit input words (use resolution >= 4)")
    for path, cin, cout, _, stride in BLOCKS:
        stage, index = path.split(".")
        blocks = getattr(model, stage)
        block = blocks[int(index)] if isinstance(blocks, nn.Sequential) and int(index) < len(blocks) else None
        if not isinstance(block, BasicBlock):
            _fail(f"{path} is not a FracBNN BasicBlock; export needs the fracbnn_resnet20 layout")
        for conv_name, c_in, s in (("conv1", cin, stride), ("conv2", cout, 1)):
            conv = getattr(block, conv_name)
            if not isinstance(conv, PGBinaryConv2d):
                _fail(f"{path}.{conv_name} is not a PGBinaryConv2d; export needs the fracbnn_resnet20 layout")
            if conv.in_channels > WORD_BITS or conv.out_channels > WORD_BITS:
                _fail(
                    f"{path}.{conv_name} has {conv.in_channels} -> {conv.out_channels} channels; the accelerator "
                    f"packs at most {WORD_BITS} channels into one 64-bit word"
                )
            geometry = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.groups)
            if geometry != (c_in, cout, (3, 3), (s, s), (1, 1), 1) or conv.dilation != (1, 1):
                _fail(
                    f"{path}.{conv_name} is {conv.in_channels}->{conv.out_channels} stride {conv.stride[0]}; the "
                    f"accelerator's layout needs {c_in}->{cout} 3x3 stride {s} pad 1"
                )
        if len(blocks) != 3:
            _fail(f"{stage} has {len(blocks)} blocks; the accelerator's ResNet-20 layout has 3 per stage")
    if conv1.in_channels != COLOURS * levels or conv1.out_channels != STEM_CHANNELS or conv1.kernel_size != (3, 3):
        _fail(f"conv1 is {conv1.in_channels}->{conv1.out_channels}; the accelerator needs {COLOURS * levels}->16 3x3")
    if conv1.stride != (1, 1) or conv1.padding != (1, 1) or conv1.groups != 1:
        _fail("conv1 must be a 3x3 conv with stride 1 and padding 1")
    linear = model.linear
    if not isinstance(linear, nn.Linear) or linear.in_features != FC_IN or linear.out_features != CLASSES:
        _fail(f"the classifier must be Linear({FC_IN}, {CLASSES}): FracNet_T writes {CLASSES} logits")
    if not all(m.binary_weights for m in model.modules() if isinstance(m, BinaryConv2d)):
        _fail("the model still uses float weights (stage 1); export a binary-weight model (stage 2 or later)")


def fold_pg(block: BasicBlock, layer: PGLayer) -> FoldedPG:
    """Fold one PG conv of ``block`` with its BN, RPReLU and second BN (see the module docstring)."""
    k = layer.half
    conv: PGBinaryConv2d = getattr(block, f"conv{k}")
    rprelu = getattr(block, f"rprelu{k}")
    a1, b1 = bn_affine(getattr(block, f"bn{k}"))
    a3, b3 = bn_affine(getattr(block, f"bn{k + 2}"))
    cout = layer.cout
    shift_y = per_channel(rprelu.shift_y.bias, cout)
    return FoldedPG(
        bits=weight_bits(conv.weight),
        threshold=gate_threshold(conv.threshold, conv.gating, cout),
        scale=a1 / 3.0,
        shift=b1 + per_channel(rprelu.shift_x.bias, cout),
        slope=per_channel(rprelu.prelu.weight, cout),
        bn_scale=a3,
        bn_shift=b3 + a3 * shift_y,
    )


def fold_model(model: nn.Module) -> FoldedParams:
    """Fold a CIFAR-10 FracBNN (checked with :func:`check_architecture`) into :class:`FoldedParams`."""
    check_architecture(model)
    scale, shift = bn_affine(model.bn1)
    pg = []
    for layer in PG_LAYERS:
        stage, index = layer.block.split(".")
        pg.append(fold_pg(getattr(model, stage)[int(index)], layer))
    return FoldedParams(
        resolution=int(model.encoder.resolution),
        levels=int(model.encoder.levels),
        conv1_bits=weight_bits(model.conv1.weight),
        conv1_scale=scale,
        conv1_shift=shift,
        pg=pg,
        fc_weight=model.linear.weight.detach().double().numpy().copy(),
        fc_bias=(
            model.linear.bias.detach().double().numpy().copy() if model.linear.bias is not None else np.zeros(CLASSES)
        ),
    )


def _pm1(bits: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(bits.astype(np.float64) * 2.0 - 1.0).to(dtype)


def _vector(values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(dtype).view(1, -1, 1, 1)


class FoldedFracBNN(nn.Module):
    """The folded float model (rung L1): same mathematics as the training model in eval mode.

    Input: images N x 3 x 32 x 32 in [0, 1] (:meth:`forward`) or the accelerator's packed words
    ``uint64[N, 3, 32, 32]`` (:meth:`forward_packed`). Output: logits N x 10 in ``dtype``
    (float64 by default). ``trace`` (a dict) receives each layer's output ``x`` (``"conv1"`` and
    every PG layer name) and each PG layer's gate mask (``"<name>.gate"``).
    """

    def __init__(self, folded: FoldedParams, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.resolution = folded.resolution
        self.levels = folded.levels
        self.dtype = dtype
        self.register_buffer("conv1_weight", _pm1(folded.conv1_bits, dtype))
        self.register_buffer("conv1_scale", _vector(folded.conv1_scale, dtype))
        self.register_buffer("conv1_shift", _vector(folded.conv1_shift, dtype))
        for i, p in enumerate(folded.pg):
            self.register_buffer(f"pg{i}_weight", _pm1(p.bits, dtype))
            self.register_buffer(f"pg{i}_threshold", _vector(p.threshold, dtype))
            for field in ("scale", "shift", "slope", "bn_scale", "bn_shift"):
                self.register_buffer(f"pg{i}_{field}", _vector(getattr(p, field), dtype))
        self.register_buffer("fc_weight", torch.from_numpy(folded.fc_weight).to(dtype))
        self.register_buffer("fc_bias", torch.from_numpy(folded.fc_bias).to(dtype))

    def _pg(self, i: int, x: torch.Tensor, residual: torch.Tensor, stride: int, trace: dict | None) -> torch.Tensor:
        p = {f: getattr(self, f"pg{i}_{f}") for f in ("weight", "threshold", "scale", "shift", "slope")}
        level = torch.round((quant_sign(x) + 1.0) * 1.5)  # 0..3: the 2-bit code of {-1, -1/3, 1/3, 1}
        msb = torch.where(level >= 2, 1.0, -1.0).to(x.dtype)
        lsb = torch.where(torch.remainder(level, 2) == 1, 1.0, -1.0).to(x.dtype)
        m = F.conv2d(msb, p["weight"], stride=stride, padding=1)
        gate = m > p["threshold"]
        z = 2.0 * m + gate * F.conv2d(lsb, p["weight"], stride=stride, padding=1)
        u = z * p["scale"] + p["shift"]
        u = torch.where(u < 0, u * p["slope"], u)
        out = (u + residual) * getattr(self, f"pg{i}_bn_scale") + getattr(self, f"pg{i}_bn_shift")
        if trace is not None:
            trace[f"{PG_LAYERS[i].name}.gate"] = gate
            trace[PG_LAYERS[i].name] = out
        return out

    def forward_encoded(self, encoded: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
        """Logits from the thermometer code N x 3L x 32 x 32 in {-1, +1}."""
        z = F.conv2d(encoded.to(self.dtype), self.conv1_weight, padding=1)
        x = z * self.conv1_scale + self.conv1_shift
        if trace is not None:
            trace["conv1"] = x
        for i, layer in enumerate(PG_LAYERS):
            if layer.stride == 2:
                pooled = F.avg_pool2d(x, 2)
                residual = torch.cat((pooled, pooled), dim=1)
            else:
                residual = x
            x = self._pg(i, x, residual, layer.stride, trace)
        return x.mean(dim=(2, 3)) @ self.fc_weight.t() + self.fc_bias

    def forward(self, images: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
        return self.forward_encoded(thermometer_encode(images.to(self.dtype), self.resolution), trace)

    def forward_packed(self, packed: np.ndarray, trace: dict | None = None) -> torch.Tensor:
        """Logits from the accelerator's input words ``uint64[N, 3, 32, 32]``."""
        return self.forward_encoded(torch.from_numpy(unpack_thermometer(packed, self.levels)), trace)


def fold_to_module(model: nn.Module, dtype: torch.dtype = torch.float64) -> FoldedFracBNN:
    """Shortcut: ``FoldedFracBNN(fold_model(model), dtype)`` in eval mode."""
    return FoldedFracBNN(fold_model(model), dtype).eval()


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|`` (0 if both are zero): the ladder's "relative" logit difference."""
    scale = float(b.abs().max())
    diff = float((a - b).abs().max())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
