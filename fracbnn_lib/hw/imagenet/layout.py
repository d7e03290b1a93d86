"""The ImageNet accelerator's layer table, on-chip geometry and DRAM layout (``hls/imagenet/typedefs.h``), in one place.

The 13 ReActNet blocks of :data:`~fracbnn_lib.topology.REACTNET_BLOCKS` become 26 entries of the layer table
(a PG 3x3 conv ``in -> in`` at the block's stride, then a PG 1x1 conv ``in -> out``), written with every
value the C++ would otherwise divide for (output size, groups, rows per tile, tiles, passes, bank columns,
offsets in 128-bit beats) into the export's ``fracnet_config.h``, so that ``fracnet.cc`` and this package read
one table and no pipelined loop divides by a run-time value.

**The engine** (``hls/imagenet/engines.h``, README): :data:`LANES` output channels at once, :data:`TAPS` slots
of 64-channel XOR-popcounts per lane and bit plane (a 3x3 window of one input group; on a 1x1 layer nine input
groups of one pixel). A layer runs in row tiles of :attr:`Layer.rows` output rows, each tile's input rows held in
an on-chip tile of nine banks (:data:`TILE_BANKS` x :data:`TILE_DEPTH` elements of four code planes), the tile's
partial sums in ``acc`` (:data:`MAX_PIXELS` pixels) and its output codes in an out tile (:data:`OUT_DEPTH`
pixel-groups); :func:`tile_rows` picks the most rows that fit all three.

**DRAM regions** (little-endian; the ``weights``, ``params``, ``fmaps`` and ``pooled`` masters move 128-bit beats,
two 64-bit words each, the image master 64-bit beats of two image words):

- ``image``: ``uint32[3, 224, 224]``, level ``b`` of a colour at bit ``31 - b`` (the high half of
  :func:`fracbnn_lib.pack_thermometer`'s words);
- ``weights`` (``weights.bin``, uint64 words): the stem's level-dot tables (int8, 8 per word), entry
  ``slot * 288 + lane * 9 + tap`` with ``slot = colour * (L + 1) + levels`` (one beat fills 16 of the 288
  lane-and-tap tables at one slot), then per layer ``cout x groups x taps`` words of 64 input channels (channel
  ``j`` of group ``g`` at bit ``63 - j``, 1 = +1): the words of :data:`LANES` output channels (one weight tile)
  are one burst, a beat's two words two taps (3x3) or two groups (1x1), so they fill two banks of the weight
  buffer;
- ``params`` (``params.bin``): int64 raw fixed-point values: the stem's scale and shift (32 each), then per
  layer and weight tile of :data:`LANES` channels the 7 fields of :data:`PARAM_FIELDS` (``LANES`` values each):
  one burst of 56 words per tile (:func:`pack_layer_params`);
- ``fmaps``: two ping-pong maps of 4-bit codes, ``FMAP_WORDS`` each: word ``((row * W + col) * G + g) * 4 + b``
  holds bit ``b`` of the codes of channels ``64 g .. 64 g + 63`` (a row tile's rows are one burst);
- ``pooled``: ``int64[1024]``, per channel the sum of the last 7 x 7 map's raw values.

numpy only (no PyTorch); the deploy bundle carries this module.
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
STEM_LANES = 16
"""Lanes of the stem engine (``typedefs.h``): it computes the 32 channels in two halves over a stem tile's pixels, its
144 table banks (16 lanes x 9 taps) holding both halves' tables."""
TAPS = 9
GROUP = 64
CODE_BITS = 4
OUT_CHANNELS = 1024
POOL_PIXELS = 49
PARAM_FIELDS = ("threshold", "scale", "shift", "slope", "bn_scale", "res_scale", "bn_shift")
"""Per-channel parameters of a PG layer, in their DRAM order within a weight tile; ``threshold`` is an integer."""
SCALE_FIELDS = ("scale", "bn_scale", "res_scale")
"""The fields held in the ``scale`` format (they multiply integers or feature maps); the others use ``param``."""

LANES = 8
"""Output channels the PG engine computes at once (one weight tile): 9 slots x 8 lanes x 2 planes of 64-bit
XOR-popcounts, the redesign's size for the ZU3EG (:mod:`.cost` prices it)."""
SLICES = GROUP // LANES
"""Weight tiles per 64-channel output group: the out tile's banks (one per slice of :data:`LANES` channels)."""
TILE_BANKS = 9
"""Banks of an input tile: a 3x3 window's nine elements (rows and columns mod 3), or a 1x1 layer's nine groups."""
TILE_DEPTH = 512
"""Elements per input-tile bank (one element: the four code planes of one pixel and 64-channel group)."""
MAX_PIXELS = 1024
"""Output pixels of a row tile (the depth of ``acc``, the partial sums between passes)."""
OUT_DEPTH = 2048
"""Pixel-groups of a row tile's output (the depth of an out-tile bank)."""
MAX_GROUPS = 16
"""64-channel input groups of the widest layer (1024 channels)."""
STEM_ROWS = 8
"""Output rows of a stem tile (14 tiles of 8 x 112 pixels)."""
STEM_IN_ROWS = 2 * STEM_ROWS + 1
"""Input rows a stem tile reads (stride 2, 3x3)."""
STEM_ROW_DEPTH = -(-STEM_IN_ROWS // 3) * (IMAGE_SIZE // 2)
"""Elements (two columns' level counts) per stem row bank: rows mod 3, 112 beats a row."""
BEAT_WORDS = 2
"""64-bit words per beat of the 128-bit masters (``weights``, ``params``, ``fmaps``, ``pooled``)."""
PARAM_TILE_WORDS = len(PARAM_FIELDS) * LANES
"""Parameter words of one weight tile (7 fields x :data:`LANES`): one burst."""


def stem_table_words(levels: int) -> int:
    """Words of the stem's level-dot tables: ``3 (L + 1)`` slots x 288 lane-and-tap tables, int8, 8 per word."""
    return COLOURS * (levels + 1) * STEM_CHANNELS * TAPS // 8


def groups(channels: int) -> int:
    """64-channel words needed for ``channels``."""
    return (channels + GROUP - 1) // GROUP


def _bank_depth(ksize: int, cin: int, size: int, stride: int, rows: int) -> int:
    """Elements the deepest input-tile bank holds for a row tile of ``rows`` output rows."""
    gin = groups(cin)
    if ksize == 3:
        in_rows = (rows - 1) * stride + 3
        return -(-in_rows // 3) * -(-(size + 2) // 3) * gin  # rows mod 3, columns (shifted by one) mod 3
    # pixel p's group g at (p / 9) gin + g, in a bank by p and g mod 9; a pass reads all nine banks, up to its
    # first group + 8 past the last pixel's base
    return (-(-rows * size // TILE_BANKS) - 1) * gin + TAPS * -(-gin // TAPS)


def tile_rows(ksize: int, cin: int, cout: int, size: int, stride: int) -> int:
    """The most output rows per row tile that divide the output and fit ``acc``, the out tile and the input tile."""
    size_out = size // stride
    fits = [
        rows
        for rows in range(1, size_out + 1)
        if size_out % rows == 0
        and LANES <= rows * size_out <= MAX_PIXELS  # a pass is long enough to shift the next pass's weights in
        and rows * size_out * groups(cout) <= OUT_DEPTH
        and _bank_depth(ksize, cin, size, stride, rows) <= TILE_DEPTH
    ]
    if not fits:
        raise ValueError(f"a {ksize}x{ksize} layer {cin} -> {cout} at {size} x {size} does not fit the engine's tiles")
    return fits[-1]


@dataclass(frozen=True)
class Layer:
    """One entry of the layer table: a PG conv of block ``block`` (``half`` 1: 3x3, 2: 1x1).

    ``weight_word`` and ``param_word`` are offsets in 64-bit words (even: a 128-bit beat); ``rows``: output
    rows per row tile (:func:`tile_rows` unless given).
    """

    block: int
    half: int
    ksize: int
    cin: int
    cout: int
    size_in: int
    stride: int
    weight_word: int
    param_word: int
    rows: int = 0

    def __post_init__(self) -> None:
        if self.ksize == 1 and self.gin > 1 and self.gin % TAPS == 1:
            raise ValueError(
                f"a 1x1 layer of {self.gin} input groups: a weight beat's two words (a lane's last group, the next "
                "lane's first) would fill one bank of the weight buffer"
            )
        if not self.rows:
            object.__setattr__(self, "rows", tile_rows(self.ksize, self.cin, self.cout, self.size_in, self.stride))

    @property
    def name(self) -> str:
        return f"block{self.block}.{'conv3x3' if self.half == 1 else 'pointwise'}"

    @property
    def size_out(self) -> int:
        return self.size_in // self.stride

    @property
    def gin(self) -> int:
        return groups(self.cin)

    @property
    def gout(self) -> int:
        return groups(self.cout)

    @property
    def taps(self) -> int:
        return self.ksize * self.ksize

    @property
    def tiles(self) -> int:
        """Row tiles of the layer."""
        return self.size_out // self.rows

    @property
    def pixels(self) -> int:
        """Output pixels of a row tile."""
        return self.rows * self.size_out

    @property
    def passes(self) -> int:
        """Passes over a row tile's pixels per weight tile: one per input group (3x3), per nine groups (1x1)."""
        return self.gin if self.ksize == 3 else -(-self.gin // TAPS)

    @property
    def oc_tiles(self) -> int:
        """Weight tiles of :data:`LANES` output channels."""
        return self.cout // LANES

    @property
    def in_rows(self) -> int:
        """Input rows a row tile needs (padding rows included)."""
        return (self.rows - 1) * self.stride + self.ksize

    @property
    def bank_cols(self) -> int:
        """Columns of a 3x3 layer's tile per bank column (the map's columns shifted by one for the padding, mod 3)."""
        return -(-(self.size_in + 2) // 3) if self.ksize == 3 else 0

    @property
    def weight_words(self) -> int:
        return self.cout * self.taps * self.gin

    @property
    def tile_weight_words(self) -> int:
        """Weight words of one weight tile (:data:`LANES` output channels)."""
        return LANES * self.taps * self.gin

    @property
    def param_words(self) -> int:
        return len(PARAM_FIELDS) * self.cout

    @property
    def fmap_words_in(self) -> int:
        return self.size_in * self.size_in * self.gin * CODE_BITS

    @property
    def fmap_words_out(self) -> int:
        return self.size_out * self.size_out * self.gout * CODE_BITS

    def spec(self) -> tuple[int, ...]:
        """The C++ ``LayerSpec`` (``typedefs.h``), field by field, offsets in 128-bit beats."""
        last_valid = self.cin - GROUP * (self.gin - 1)
        return (
            self.ksize, self.cin, self.cout, self.size_in, self.stride, self.size_out, self.gin, self.gout,
            self.rows, self.tiles, self.pixels, self.passes, self.oc_tiles, self.in_rows, self.bank_cols,
            self.bank_cols * self.gin, last_valid, self.rows * self.stride,
            self.size_in * self.gin * CODE_BITS // BEAT_WORDS, self.pixels * self.gout * CODE_BITS // BEAT_WORDS,
            self.weight_word // BEAT_WORDS, self.param_word // BEAT_WORDS, self.tile_weight_words // BEAT_WORDS,
        )  # fmt: skip


SPEC_FIELDS = (
    "ksize", "cin", "cout", "size_in", "stride", "size_out", "gin", "gout", "rows", "tiles", "pixels", "passes",
    "oc_tiles", "in_rows", "bank_cols", "tile_row_step", "last_valid", "row_step", "in_row_beats", "store_beats",
    "weight_beat", "param_beat", "tile_weight_beats",
)  # fmt: skip
"""The fields of ``LayerSpec`` in ``typedefs.h``, in order (:meth:`Layer.spec`)."""


def layer_table(levels: int) -> tuple[Layer, ...]:
    """The 26 PG layers with their offsets into ``weights.bin`` and ``params.bin``."""
    layers, weight_word, param_word, size = [], stem_table_words(levels), 2 * STEM_CHANNELS, STEM_SIZE
    for b, (cin, cout, stride) in enumerate(BLOCKS):
        for half, (k, c_in, c_out, s) in enumerate(((3, cin, cin, stride), (1, cin, cout, 1)), start=1):
            layer = Layer(b, half, k, c_in, c_out, size, s, weight_word, param_word)
            layers.append(layer)
            weight_word += layer.weight_words
            param_word += layer.param_words
            size = layer.size_out
    if layers[-1].tiles != 1:
        raise ValueError("the last layer must be one row tile (its pooled sums are kept per weight tile)")
    return tuple(layers)


def weight_words(levels: int) -> int:
    last = layer_table(levels)[-1]
    return last.weight_word + last.weight_words


def param_words(levels: int) -> int:
    last = layer_table(levels)[-1]
    return last.param_word + last.param_words


def fmap_words(levels: int) -> int:
    """Words of one ping-pong map: the largest map written (the stem's and block 0's at 112 x 112)."""
    stem = STEM_SIZE * STEM_SIZE * groups(STEM_CHANNELS) * CODE_BITS
    return max([stem, *(layer.fmap_words_out for layer in layer_table(levels)[:-1])])


def pack_layer_params(fields: np.ndarray) -> np.ndarray:
    """A layer's 7 x ``cout`` per-channel values (:data:`PARAM_FIELDS` order) in DRAM order: per weight tile of
    :data:`LANES` channels, the 7 fields' ``LANES`` values each."""
    fields = np.asarray(fields)
    count, cout = fields.shape
    return fields.reshape(count, cout // LANES, LANES).transpose(1, 0, 2).reshape(-1)


def unpack_layer_params(words: np.ndarray, cout: int) -> np.ndarray:
    """:func:`pack_layer_params` undone: ``7 x cout`` from a layer's parameter words."""
    words = np.asarray(words)
    return words.reshape(cout // LANES, len(PARAM_FIELDS), LANES).transpose(1, 0, 2).reshape(len(PARAM_FIELDS), cout)


def stem_table_order(dots: np.ndarray) -> np.ndarray:
    """The stem's level-dot tables ``32 x 9 x 3 (L + 1)`` (lane, tap, slot) in DRAM order: slot-major, then lane and
    tap (:func:`stem_table_words`)."""
    dots = np.asarray(dots)
    return dots.reshape(STEM_CHANNELS * TAPS, -1).T.reshape(-1)


def stem_table_dots(entries: np.ndarray, levels: int) -> np.ndarray:
    """:func:`stem_table_order` undone: ``32 x 9 x 3 (L + 1)`` from the tables' entries in DRAM order."""
    slots = COLOURS * (levels + 1)
    return np.asarray(entries)[: slots * STEM_CHANNELS * TAPS].reshape(slots, STEM_CHANNELS, TAPS).transpose(1, 2, 0)


LAYOUT_VERSION = 3
"""Bumped when the DRAM layout changes (2: weight-tile parameters, slot-major stem tables, 128-bit beats; 3: a
layer's weights group-major, then tap)."""


def layout_string(levels: int) -> str:
    """What the C-simulation library reports as its layout (``csim_api.cc``: ``fracnet_layout``)."""
    return (
        f"version={LAYOUT_VERSION};levels={levels};lanes={LANES};weights={weight_words(levels)};"
        f"params={param_words(levels)};fmap={fmap_words(levels)}"
    )


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
    """``fracnet_config.h`` for ``hls/imagenet``: the formats, levels, region sizes, geometry and the layer table."""
    rows = ",\n".join("    {" + ", ".join(str(value) for value in layer.spec()) + "}" for layer in layer_table(levels))
    geometry = {
        "LANES": LANES,
        "TILE_DEPTH": TILE_DEPTH,
        "MAX_PIXELS": MAX_PIXELS,
        "OUT_DEPTH": OUT_DEPTH,
        "STEM_ROWS": STEM_ROWS,
        "STEM_ROW_DEPTH": STEM_ROW_DEPTH,
        "LAYOUT_VERSION": LAYOUT_VERSION,
    }
    lines = [
        "// Generated by fracbnn_lib.hw.imagenet (fracbnn export): formats, levels, geometry and the layer table.",
        "#ifndef FRACNET_CONFIG_H",
        "#define FRACNET_CONFIG_H",
        *(
            f"#define FRACNET_{name.upper()}_{part} {value}"
            for name, fmt in formats.items()
            if name != "logit"
            for part, value in (("W", fmt.width), ("I", fmt.integer))
        ),
        f"#define FRACNET_LEVELS {levels}",
        *(f"#define FRACNET_{name} {value}" for name, value in geometry.items()),
        f"#define FRACNET_NUM_LAYERS {len(layer_table(levels))}",
        f"#define FRACNET_WEIGHT_WORDS {weight_words(levels)}",
        f"#define FRACNET_PARAM_WORDS {param_words(levels)}",
        f"#define FRACNET_FMAP_WORDS {fmap_words(levels)}",
        "// the DRAM regions in beats of their masters (the interfaces' depths)",
        f"#define FRACNET_IMAGE_BEATS {COLOURS * IMAGE_SIZE * IMAGE_SIZE // 2}",
        f"#define FRACNET_WEIGHT_BEATS {weight_words(levels) // BEAT_WORDS}",
        f"#define FRACNET_PARAM_BEATS {param_words(levels) // BEAT_WORDS}",
        f"#define FRACNET_FMAPS_BEATS {2 * fmap_words(levels) // BEAT_WORDS}",
        f"#define FRACNET_POOLED_BEATS {OUT_CHANNELS // BEAT_WORDS}",
        f"// {{{', '.join(SPEC_FIELDS)}}}",
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
