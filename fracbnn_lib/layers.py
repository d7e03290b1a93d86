"""Binary convolutions of FracBNN: the binary input layer and the precision-gated conv.

Stage switches are plain configuration on the modules (``binary_weights``, ``gating``), set
for a whole model with :func:`set_binary_weights` and :func:`set_gating`; no statistics are
stored on the modules (see :mod:`fracbnn_lib.gating` for measuring sparsity).

The precision-gated conv is written twice on purpose: :meth:`PGBinaryConv2d.readable_forward` is the
paper's formulation step by step (:func:`precision_gate`), and :meth:`PGBinaryConv2d.forward` runs the
same mathematics as one autograd node (:class:`fracbnn_lib.kernels.two_bit_conv.TwoBitConv`, with
compact saved tensors and fused CPU kernels); the tests hold the two equal, values and gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .encoding import thermometer_conv2d, thermometer_levels
from .kernels.two_bit_conv import GATE_SHARPNESS, MSB_SCALE, ConvGeometry, TwoBitConv
from .quantizers import sign_ste


class _Gate(torch.autograd.Function):
    """Forward ``1[s > 0.5]``; backward identity, or (sparse) identity only where ``s >= 0.5``."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, sparse: bool) -> torch.Tensor:
        mask = s > 0.5
        ctx.save_for_backward(s >= 0.5 if sparse else s.new_empty(0))
        ctx.sparse = sparse
        return mask.to(s.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        if not ctx.sparse:
            return grad, None
        (mask,) = ctx.saved_tensors
        return grad * mask.to(grad.dtype), None


def precision_gate(msb: torch.Tensor, threshold: torch.Tensor, sparse: bool = True) -> torch.Tensor:
    """The precision gate ``mask = 1[sigmoid(5 (msb - θ)) > 0.5]``, i.e. ``1[msb > θ]``.

    ``msb``: N x C x H x W (the MSB conv, already scaled by 2/3); ``threshold``: 1 x C x 1 x 1.
    Gradients reach ``msb`` and ``θ`` through the sigmoid; through the step itself they pass as
    identity (``sparse=False``) or only where the sigmoid is >= 0.5 (``sparse=True``, default).
    Returns a float mask shaped like ``msb``.

    With ``sparse=True`` the pass-through set ``{s >= 0.5}`` differs from the forward's
    ``{s > 0.5}`` only at exact ties, as in the release.
    """
    return _Gate.apply(torch.sigmoid(GATE_SHARPNESS * (msb - threshold)), sparse)


class BinaryConv2d(nn.Conv2d):
    """Convolution whose weights are binarised with :func:`sign_ste` (stage 2 on).

    Constructed like :class:`torch.nn.Conv2d` (``bias`` defaults to ``False``, as every FracBNN
    conv). With ``binary_weights=False`` (stage 1) the latent float weights are used directly.
    """

    def __init__(self, *args, bias: bool = False, binary_weights: bool = True, **kwargs) -> None:
        super().__init__(*args, bias=bias, **kwargs)
        self.binary_weights = binary_weights

    def effective_weight(self) -> torch.Tensor:
        """The weight the forward pass convolves with: ``sign(W)`` or ``W``."""
        return sign_ste(self.weight) if self.binary_weights else self.weight

    def conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``conv2d`` with this layer's geometry (stride, padding, dilation, groups, bias)."""
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def geometry(self) -> ConvGeometry:
        """Stride, padding, dilation and groups as ``conv2d`` takes them (string padding resolved)."""
        padding = self.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = (0, 0)
            elif all(d * (k - 1) % 2 == 0 for d, k in zip(self.dilation, self.kernel_size, strict=True)):
                padding = tuple(d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size, strict=True))
            else:
                raise ValueError(f"{type(self).__name__} supports padding='same' only with odd kernel extents")
        return ConvGeometry(tuple(self.stride), tuple(padding), tuple(self.dilation), self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, self.effective_weight())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, binary_weights={self.binary_weights}"


class ThermometerConv2d(BinaryConv2d):
    """The binary input layer: a :class:`BinaryConv2d` over the thermometer code of its input images.

    ``forward(images)`` with images N x C x H x W in [0, 1] equals
    ``conv2d(thermometer_encode(images, resolution), w)`` (``w = sign(W)``, or ``W`` in stage 1),
    computed by :func:`fracbnn_lib.encoding.thermometer_conv2d` without materialising the code.
    ``in_channels`` counts code channels (``C * L``, e.g. 96), so the weight is
    ``out x C*L x k x k`` as in the release and in the hardware export; ``forward`` takes the
    ``C = in_channels / L`` colour channels.
    """

    def __init__(self, *args, resolution: int = 8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resolution = resolution
        self.levels = thermometer_levels(resolution)
        if self.in_channels % self.levels or self.groups != 1 or self.dilation != (1, 1) or self.bias is not None:
            raise ValueError(
                f"ThermometerConv2d needs in_channels a multiple of the {self.levels} thermometer levels, "
                "groups=1, dilation=1 and no bias"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        geometry = self.geometry()
        return thermometer_conv2d(images, self.effective_weight(), self.resolution, geometry.stride, geometry.padding)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, resolution={self.resolution}"


class PGBinaryConv2d(BinaryConv2d):
    """Precision-gated binary convolution on 2-bit activations (FracBNN, Sec. 3).

    Input ``x``: N x C_in x H x W, a 2-bit activation (levels ±1/3, ±1). With ``w`` the effective
    weight (``sign(W)``, or ``W`` in stage 1) and the per-output-channel threshold ``θ``
    (``self.threshold``, 1 x C_out x 1 x 1, init -1):

    - ``msb  = 2/3 * conv(sign(x), w)`` (the 1-bit MSB plane only)
    - ``full = conv(x, w)`` (both planes: ``2/3 conv(msb) + 1/3 conv(lsb)``)
    - ``mask = 1[msb > θ]`` (:func:`precision_gate`)
    - ``out  = (1 - mask) * msb + mask * full``

    With ``gating=False`` the gate is off and ``out = full`` everywhere (stages 1 and 2).
    Output N x C_out x H' x W'.
    """

    def __init__(
        self,
        *args,
        gating: bool = True,
        sparse_bp: bool = True,
        threshold_init: float = -1.0,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gating = gating
        self.sparse_bp = sparse_bp
        self.threshold = nn.Parameter(torch.full((1, self.out_channels, 1, 1), threshold_init))

    def msb_conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``2/3 * conv(sign(x), weight)``: the MSB-plane partial sum."""
        return self.conv(sign_ste(x), weight) * MSB_SCALE

    def gate_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean N x C_out x H' x W' mask of outputs computed at 2 bits (all ones if gating is off)."""
        msb = self.msb_conv(x, self.effective_weight())
        return msb > self.threshold if self.gating else torch.ones_like(msb, dtype=torch.bool)

    def forward(self, x: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """Gated (or plain) conv of the 2-bit activation ``x``.

        ``levels``: optionally the int8 level indices ``k`` of ``x`` (``x = k * 2/3 - 1``, as
        :func:`fracbnn_lib.quantizers.quant_sign_with_levels` returns them); they spare the layer
        deriving (and checking) them for its backward pass.
        """
        weight = self.effective_weight()
        keep = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or self.threshold.requires_grad)
        switches = (self.gating, self.sparse_bp, self.binary_weights, keep)
        return TwoBitConv.apply(x, levels, weight, self.threshold, self.geometry(), switches)

    def readable_forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` as the paper writes it (the tested reference of the fused node, slower).

        ``full = conv(x, w)``; gate off: ``full``; gate on: ``msb = 2/3 conv(sign_ste(x), w)``,
        ``mask = precision_gate(msb, θ)``, ``out = msb + mask * (full - msb)``, every gradient by autograd.
        """
        weight = self.effective_weight()
        full = self.conv(x, weight)
        if not self.gating:
            return full
        msb = self.msb_conv(x, weight)
        return msb + precision_gate(msb, self.threshold, self.sparse_bp) * (full - msb)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gating={self.gating}, sparse_bp={self.sparse_bp}"


def set_binary_weights(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch every :class:`BinaryConv2d` (PG convs included) to binary (True) or float weights."""
    for module in model.modules():
        if isinstance(module, BinaryConv2d):
            module.binary_weights = bool(enabled)
    return model


def set_gating(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch the precision gate of every :class:`PGBinaryConv2d` on or off."""
    for module in model.modules():
        if isinstance(module, PGBinaryConv2d):
            module.gating = bool(enabled)
    return model
