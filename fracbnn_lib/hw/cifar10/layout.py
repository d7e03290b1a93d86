"""The CIFAR-10 accelerator's fixed layout: layers, tiles and parameter arrays (mirrors ``hls/cifar10/params.h``).

The accelerator runs one network: the FracBNN ResNet-20 of DESIGN.md. Its 18 precision-gated convs
(two per BasicBlock) process output channels in tiles of :data:`OC_TILE` = 16; their per-channel
parameters are stored tile by tile (42 tiles: 6 x 1 + 6 x 2 + 6 x 4), so every tile of every layer
reads its 16 channels' parameters from the same row of the same arrays.

Bit order of a packed 64-bit word: channel (or thermometer level) ``k`` is bit ``63 - k``; bit 1
means +1. Weights: bit 1 where the latent weight is > 0, bit 0 where it is <= 0 (exact zeros
included, unlike ``torch.sign``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 32
COLOURS = 3
TAPS = 9
OC_TILE = 16
STEM_CHANNELS = 16
FC_IN = 64
CLASSES = 10


@dataclass(frozen=True)
class PGLayer:
    """One precision-gated 3x3 conv of the accelerator, with what follows it up to the next quantiser.

    ``name`` is the PyTorch module path (``layer2.0.conv1``); ``tile`` is the first row of the
    tile-major parameter arrays that holds this layer's output channels.
    """

    name: str
    cin: int
    cout: int
    h_in: int
    stride: int
    tile: int

    @property
    def h_out(self) -> int:
        return self.h_in // self.stride

    @property
    def tiles(self) -> int:
        return self.cout // OC_TILE

    @property
    def block(self) -> str:
        """The BasicBlock path, e.g. ``layer2.0``."""
        return self.name.rsplit(".", 1)[0]

    @property
    def half(self) -> int:
        """1 for a block's conv1 (followed by bn1, rprelu1, bn3), 2 for conv2 (bn2, rprelu2, bn4)."""
        return 1 if self.name.endswith("conv1") else 2


BLOCKS: tuple[tuple[str, int, int, int, int], ...] = tuple(
    (
        f"layer{stage + 1}.{i}",
        cin if i == 0 else cout,
        cout,
        h_in if i == 0 else h_in // stride,
        stride if i == 0 else 1,
    )
    for stage, (cin, cout, h_in, stride) in enumerate(((16, 16, 32, 1), (16, 32, 32, 2), (32, 64, 16, 2)))
    for i in range(3)
)
"""The nine BasicBlocks: ``(path, in channels, out channels, input size, stride)``."""


def _pg_layers() -> tuple[PGLayer, ...]:
    layers, tile = [], 0
    for path, cin, cout, h_in, stride in BLOCKS:
        for name, c_in, size, s in ((f"{path}.conv1", cin, h_in, stride), (f"{path}.conv2", cout, h_in // stride, 1)):
            layers.append(PGLayer(name, c_in, cout, size, s, tile))
            tile += cout // OC_TILE
    return tuple(layers)


PG_LAYERS: tuple[PGLayer, ...] = _pg_layers()
PG_TILES = sum(layer.tiles for layer in PG_LAYERS)


@dataclass(frozen=True)
class ParamArray:
    """One parameter array of the accelerator: name, element kind and shape.

    Kinds: ``word`` (``uint64_t`` packed weights), ``sum`` (``int16_t`` gate thresholds),
    ``scale`` / ``param`` (fixed point, in the formats of the same names).
    """

    name: str
    kind: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


PARAM_ARRAYS: tuple[ParamArray, ...] = (
    ParamArray("conv1_weight", "word", (STEM_CHANNELS, COLOURS, TAPS)),
    ParamArray("conv1_scale", "scale", (STEM_CHANNELS,)),
    ParamArray("conv1_shift", "param", (STEM_CHANNELS,)),
    ParamArray("pg_weight", "word", (PG_TILES, OC_TILE, TAPS)),
    ParamArray("pg_threshold", "sum", (PG_TILES, OC_TILE)),
    ParamArray("pg_scale", "scale", (PG_TILES, OC_TILE)),
    ParamArray("pg_shift", "param", (PG_TILES, OC_TILE)),
    ParamArray("pg_slope", "param", (PG_TILES, OC_TILE)),
    ParamArray("pg_bn_scale", "scale", (PG_TILES, OC_TILE)),
    ParamArray("pg_bn_shift", "param", (PG_TILES, OC_TILE)),
    ParamArray("fc_weight", "param", (CLASSES, FC_IN)),
    ParamArray("fc_bias", "param", (CLASSES,)),
)
"""Every array, in the order of ``FRACNET_PARAMS`` in ``hls/cifar10/params.h`` and of ``params.bin``."""


def array_kind(name: str) -> str:
    """The element kind of the parameter array ``name``."""
    for array in PARAM_ARRAYS:
        if array.name == name:
            return array.kind
    raise KeyError(f"no accelerator parameter array named {name!r}")


def layout_string() -> str:
    """``name:kind:size;...``: compared with the C++ library's own layout before parameters are loaded."""
    return ";".join(f"{a.name}:{a.kind}:{a.size}" for a in PARAM_ARRAYS)


def check_packed(packed: np.ndarray) -> np.ndarray:
    """``packed`` as a C-contiguous ``uint64[N, 3, 32, 32]`` array; ``ValueError`` (one line) otherwise."""
    packed = np.asarray(packed)
    if packed.ndim != 4 or packed.shape[1:] != (COLOURS, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"expected packed input words uint64[N, 3, 32, 32] (fracbnn_lib.pack_thermometer), got shape {packed.shape}"
        )
    if packed.dtype != np.uint64:
        raise ValueError(f"expected packed input words of dtype uint64, got {packed.dtype}")
    return np.ascontiguousarray(packed)
