"""The ImageNet accelerator's layer table and DRAM layout (``hls/imagenet/typedefs.h``), in one place.

The 13 ReActNet blocks of :data:`~fracbnn_lib.topology.REACTNET_BLOCKS` become 26 entries of
the layer table (a PG 3x3 conv ``in -> in`` at the block's stride, then a PG 1x1 conv ``in -> out``),
written into the export's ``fracnet_config.h`` so that ``fracnet.cc`` and this package read one table.

DRAM regions (all little-endian 64-bit words except the image):

- ``image``: ``uint32[3, 224, 224]``, level ``b`` of a colour at bit ``31 - b`` (the high half of
  :func:`fracbnn_lib.pack_thermometer`'s words);
- ``weights`` (``weights.bin``): the stem's level-dot tables (int8, 8 per word, entry
  ``((k * 9 + tap) * 3 + colour) * (L + 1) + levels``), then per layer ``cout x taps x groups``
  words of 64 input channels (channel ``j`` of group ``g`` at bit ``63 - j``, 1 = +1);
- ``params`` (``params.bin``): int64 raw fixed-point values: the stem's scale and shift (32 each),
  then per layer the 7 arrays of :data:`PARAM_FIELDS`, ``cout`` each;
- ``fmaps``: two ping-pong maps of 4-bit codes, ``FMAP_WORDS`` each (bit planes of 64 channels);
- ``pooled``: ``int64[1024]``, per channel the sum of the last 7 x 7 map's raw values.

numpy only (no PyTorch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...topology import REACTNET_BLOCKS

if TYPE_CHECKING:
    pass

BLOCKS = REACTNET_BLOCKS
"""(in, out, stride) of the 13 building blocks: the model's own table (:mod:`fracbnn_lib.topology`)."""

IMAGE_SIZE = 224
COLOURS = 3
STEM_CHANNELS = 32
STEM_SIZE = IMAGE_SIZE // 2
TAPS = 9
GROUP = 64
CODE_BITS = 4
LANES = 32
ROW_TILE = 7
OUT_CHANNELS = 1024
POOL_PIXELS = 49
PARAM_FIELDS = ("threshold", "scale", "shift", "slope", "bn_scale", "res_scale", "bn_shift")
"""Per-channel parameters of a PG layer, in their DRAM order; ``threshold`` is an integer."""
SCALE_FIELDS = ("scale", "bn_scale", "res_scale")
"""The fields held in the ``scale`` format (they multiply integers or feature maps); the others use ``param``."""


def stem_table_words(levels: int) -> int:
    """Words of the stem's level-dot tables: ``32 x 9 x 3 x (L + 1)`` int8 entries, 8 per word."""
    entries = STEM_CHANNELS * TAPS * COLOURS * (levels + 1)
    return (entries + 7) // 8


def groups(channels: int) -> int:
    """64-channel words needed for ``channels``."""
    return (channels + GROUP - 1) // GROUP


@dataclass(frozen=True)
class Layer:
    """One entry of the layer table: a PG conv of block ``block`` (``half`` 1: 3x3, 2: 1x1)."""

    block: int
    half: int
    ksize: int
    cin: int
    cout: int
    size_in: int
    stride: int
    weight_word: int
    param_word: int

    @property
    def name(self) -> str:
        return f"block{self.block}.{'conv3x3' if self.half == 1 else 'pointwise'}"

    @property
    def size_out(self) -> int:
        return self.size_in // self.stride

    @property
    def weight_words(self) -> int:
        return self.cout * self.ksize * self.ksize * groups(self.cin)

    @property
    def fmap_words_out(self) -> int:
        return self.size_out * self.size_out * groups(self.cout) * CODE_BITS


def layer_table(levels: int) -> tuple[Layer, ...]:
    """The 26 PG layers with their offsets into ``weights.bin`` and ``params.bin``."""
    layers, weight_word, param_word, size = [], stem_table_words(levels), 2 * STEM_CHANNELS, STEM_SIZE
    for b, (cin, cout, stride) in enumerate(BLOCKS):
        for half, (k, c_in, c_out, s) in enumerate(((3, cin, cin, stride), (1, cin, cout, 1)), start=1):
            layer = Layer(b, half, k, c_in, c_out, size, s, weight_word, param_word)
            layers.append(layer)
            weight_word += layer.weight_words
            param_word += len(PARAM_FIELDS) * c_out
            size = layer.size_out
    return tuple(layers)


def weight_words(levels: int) -> int:
    last = layer_table(levels)[-1]
    return last.weight_word + last.weight_words


def param_words(levels: int) -> int:
    last = layer_table(levels)[-1]
    return last.param_word + len(PARAM_FIELDS) * last.cout


def fmap_words(levels: int) -> int:
    """Words of one ping-pong map: the largest map written (the stem's and block 0's at 112 x 112)."""
    stem = STEM_SIZE * STEM_SIZE * groups(STEM_CHANNELS) * CODE_BITS
    return max([stem, *(layer.fmap_words_out for layer in layer_table(levels)[:-1])])


def layout_string(levels: int) -> str:
    """What the C-simulation library reports as its layout (``csim_api.cc``: ``fracnet_layout``)."""
    return f"levels={levels};weights={weight_words(levels)};params={param_words(levels)};fmap={fmap_words(levels)}"


def dram_bytes(levels: int) -> dict[str, int]:
    """Bytes of each DRAM region the accelerator reads or writes for one image."""
    return {
        "image": COLOURS * IMAGE_SIZE * IMAGE_SIZE * 4,
        "weights": weight_words(levels) * 8,
        "params": param_words(levels) * 8,
        "fmaps": 2 * fmap_words(levels) * 8,
        "pooled": OUT_CHANNELS * 8,
    }


def config_header(formats, levels: int) -> str:
    """``fracnet_config.h`` for ``hls/imagenet``: the formats, the levels, the region sizes and the layer table."""
    rows = ",\n".join(
        f"    {{{layer.ksize}, {layer.cin}, {layer.cout}, {layer.size_in}, {layer.stride}, "
        f"{layer.weight_word}L, {layer.param_word}L}}"
        for layer in layer_table(levels)
    )
    lines = [
        "// Generated by fracbnn_lib.hw.imagenet (fracbnn export): formats, levels and the layer table.",
        "#ifndef FRACNET_CONFIG_H",
        "#define FRACNET_CONFIG_H",
        *(
            f"#define FRACNET_{name.upper()}_{part} {value}"
            for name, fmt in formats.items()
            if name != "logit"
            for part, value in (("W", fmt.width), ("I", fmt.integer))
        ),
        f"#define FRACNET_LEVELS {levels}",
        f"#define FRACNET_NUM_LAYERS {len(layer_table(levels))}",
        f"#define FRACNET_WEIGHT_WORDS {weight_words(levels)}L",
        f"#define FRACNET_PARAM_WORDS {param_words(levels)}L",
        f"#define FRACNET_FMAP_WORDS {fmap_words(levels)}L",
        "// {ksize, cin, cout, size_in, stride, weight_word, param_word}",
        f"#define FRACNET_LAYER_TABLE {{ \\\n{rows.replace(chr(10), ' ' + chr(92) + chr(10))} \\\n}}",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def image_words(packed: np.ndarray) -> np.ndarray:
    """The accelerator's ``uint32[N, 3, 224, 224]`` input words.

    From :func:`fracbnn_lib.pack_thermometer`'s ``uint64`` words (levels in the high 32 bits) or uint32
    words; ``ValueError`` (one line) for another shape or a level below bit 32.
    """
    packed = np.asarray(packed)
    if packed.ndim != 4 or packed.shape[1:] != (COLOURS, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected input words [N, 3, 224, 224], got shape {packed.shape}")
    if packed.dtype == np.uint32:
        return np.ascontiguousarray(packed)
    if packed.dtype != np.uint64 or np.any(packed & np.uint64(0xFFFFFFFF)):
        raise ValueError("expected uint64 words with at most 32 levels (pack_thermometer) or uint32 words")
    return np.ascontiguousarray((packed >> np.uint64(32)).astype(np.uint32))
