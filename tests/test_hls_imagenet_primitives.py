"""The ImageNet accelerator's C++ primitives (``hls/imagenet/engines.h``) against the numpy reference, bit for bit.

``hls/imagenet/unit_tests.cc`` is compiled with g++ (``-std=c++11``, the ap_types headers of hls4ml, a
generated ``fracnet_config.h``: default formats, 32 levels as exported; a second build with 8 levels for
the stem's input words), once per module. Each test runs one of its sub-commands on seeded random inputs
and compares every integer it prints with :mod:`fracbnn_lib.hw.imagenet.reference`, ``.layout`` and
``.params``: ``quantize4`` (at every code boundary and both saturation ends) and the 2-bit code it
implies, ``code_planes`` and ``code_at`` on planes packed with ``pack_bits``, the stem's engines
(``stem_load_tables``, ``stem_load``, ``stem_compute``, ``store_tile``) on a whole input (their size is fixed:
224 x 224) of ``image_words``, and the PG engines (``load_tile``, ``load_weight_tile``, ``compute_tile``,
``store_tile``, ``store_pooled``) on every row tile and weight tile of a small layer (``Layer.spec``: 3x3 and 1x1,
stride 1 and 2, identity and duplicated shortcuts, one and two groups in and out, gates open, closed and mixed,
saturating parameters, weights and parameters at random beat offsets; every output word of the map, or every
pooled sum of the last layer's form). The engines' inline arithmetic (BN, RPReLU, the shortcut sums, packing
codes into slices and planes) is reached through the engines' outputs; lanes whose parameters pass only the
shortcut through also check the shortcut sums against their definition.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from unit_test_build import build_unit_tests, run_unit_tests

from fracbnn_lib.encoding import pack_thermometer, thermometer_encode
from fracbnn_lib.hw.bits import pack_bits
from fracbnn_lib.hw.cifar10.reference import quantize2, quantizer_bounds
from fracbnn_lib.hw.fixed_point import SUM_MAX, SUM_MIN, FixedFormat, resolve_formats
from fracbnn_lib.hw.imagenet.fold import pack_layer_weights, stem_table
from fracbnn_lib.hw.imagenet.layout import (
    CODE_BITS,
    GROUP,
    OUT_CHANNELS,
    PARAM_FIELDS,
    SCALE_FIELDS,
    STEM_CHANNELS,
    STEM_SIZE,
    Layer,
    config_header,
    groups,
    image_words,
    layer_table,
    pack_layer_params,
)
from fracbnn_lib.hw.imagenet.params import DramRegions
from fracbnn_lib.hw.imagenet.reference import Q2_OF_Q4, ImageNetDatapath, pg_conv_bn, quantize4, stem_conv_bn

HLS_DIR = Path(__file__).resolve().parents[1] / "hls" / "imagenet"
FORMATS = resolve_formats("default")
LEVELS = 32
MAP_SENTINEL = np.uint64(0xA5A5A5A5A5A5A5A5)  # unit_tests.cc: output map words before a call
POOL_SENTINEL = 0x5A5A5A5A5A5A5A5A  # unit_tests.cc: pooled sums before a call
GUARD = 64  # output words past the map, which must keep MAP_SENTINEL


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """``unit_tests.cc`` built once per levels setting (g++ missing or a failed build fails the test, with why)."""

    @cache
    def program(levels: int) -> Path:
        folder = tmp_path_factory.mktemp(f"hls_imagenet_unit_tests_{levels}")
        return build_unit_tests(HLS_DIR, config_header(FORMATS, levels), folder, "-std=c++11")

    return program


@pytest.fixture(scope="module")
def program(build) -> Path:
    """The build with the exported setting (32 levels)."""
    return build(LEVELS)


def _run(program: Path, command: str, values) -> np.ndarray:
    """Run one sub-command on ``values`` (integers, written to stdin); what it prints, as strings."""
    return np.array(run_unit_tests(program, command, values))


def _random_words(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(0, 2**64, size=shape, dtype=np.uint64, endpoint=False)


def _code_planes(codes: np.ndarray) -> np.ndarray:
    """4-bit codes ``... x 64`` (channel k last) -> ``... x 4`` plane words: bit b of channel k's code at bit 63 - k."""
    return np.stack([pack_bits((codes >> b) & 1) for b in range(CODE_BITS)], axis=-1)


def _fmap_words(codes: np.ndarray) -> np.ndarray:
    """Codes ``C x H x W`` as the fmap region (``typedefs.h``): word ``((row * W + col) * G + g) * 4 + b``."""
    c, h, w = codes.shape
    padded = np.zeros((groups(c) * GROUP, h, w), np.int64)  # channels past C: code 0, all bits 0
    padded[:c] = codes
    per_group = padded.reshape(-1, GROUP, h, w).transpose(2, 3, 0, 1)  # H x W x G x 64
    return _code_planes(per_group).ravel()


def _raws(fmt: FixedFormat, values: np.ndarray, rng: np.random.Generator, edges: float = 0.08) -> np.ndarray:
    """``values`` in ``fmt`` (raw), a share ``edges`` of them replaced by raw_min, raw_max, 0, 1 or -1."""
    raw, _ = fmt.quantize(values)
    pick = rng.random(raw.shape) < edges
    raw[pick] = rng.choice([fmt.raw_min, fmt.raw_max, 0, 1, -1], size=int(pick.sum()))
    return raw


# ------------------------------------------------------------------------------------------- quantisers


def test_quantize4_and_the_2bit_code_match_the_reference_at_every_boundary_and_saturation(program):
    """Per raw fm value: the raw read back (from_raw, raw_of), ``quantize4`` and the 2-bit code
    ``ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5)`` against ``quantize4``, ``Q2_OF_Q4`` and ``quantize2``."""
    fm = FORMATS.fm
    rng = np.random.default_rng(11)
    code_edges = [-((-(2 * k - 16) << fm.frac) // 15) for k in range(17)]  # least raw with q4 >= k
    edges = [*code_edges, *quantizer_bounds(fm), 0, fm.raw_min, fm.raw_max, 1 << fm.frac, -(1 << fm.frac)]
    near = np.concatenate([np.arange(edge - 3, edge + 4) for edge in edges])
    near = near[(near >= fm.raw_min) & (near <= fm.raw_max)]
    scale = 1 << fm.frac
    raw = np.concatenate(
        [
            near,
            rng.integers(-2 * scale, 2 * scale, size=8000),
            rng.integers(fm.raw_min, fm.raw_max, size=4000, endpoint=True),
        ]
    )
    out = _run(program, "quantize", [len(raw), *raw]).astype(np.int64).reshape(-1, 3)
    codes = quantize4(raw, fm.frac)
    msb, lsb = quantize2(raw, fm)
    assert np.array_equal(out[:, 0], raw)  # the raw bits round-trip through fm_t
    assert np.array_equal(out[:, 1], codes)
    assert np.array_equal(out[:, 2], Q2_OF_Q4[codes])  # q2 is a function of q4 ...
    assert np.array_equal(out[:, 2], 2 * msb + lsb)  # ... and the CIFAR-10 quantiser's comparisons agree
    assert set(out[:, 1].tolist()) == set(range(16))
    around = out[: 7 * len(code_edges), 1].reshape(-1, 7)  # q4 at edge - 3 .. edge + 3 of each code edge k
    k = np.arange(len(code_edges))[:, None]
    assert np.array_equal(around, np.clip(np.where(np.arange(7) < 3, k - 1, k), 0, 15))


def test_code_planes_and_code_at_read_codes_packed_with_pack_bits(program):
    """``code_planes`` (msb, lsb words) and ``code_at`` of all 64 channels, on plane words packed from codes:
    against the codes and ``Q2_OF_Q4``; for codes q4(x), against ``quantize2(x)`` itself."""
    fm = FORMATS.fm
    rng = np.random.default_rng(12)
    raw = rng.integers(-3 << fm.frac, 3 << fm.frac, size=(500, GROUP))
    raw[:5] = np.array([fm.raw_min, fm.raw_max, 0, -1, 1])[:, None]  # rows of one edge value
    raw[5, ::2] = fm.raw_min  # and a row alternating with random values
    codes = np.concatenate(
        [
            quantize4(raw, fm.frac),
            rng.integers(0, 16, size=(1500, GROUP)),
            np.zeros((1, GROUP), np.int64),
            np.full((1, GROUP), 15),
            np.tile(np.arange(16), (16, GROUP // 16)),
        ]
    )
    planes = _code_planes(codes)
    out = _run(program, "planes", [len(planes), *planes.ravel()]).astype(np.uint64).reshape(len(codes), -1)
    q2 = Q2_OF_Q4[codes]
    assert np.array_equal(out[:, 2:].astype(np.int64), codes)
    assert np.array_equal(out[:, 0], pack_bits(q2 >= 2))
    assert np.array_equal(out[:, 1], pack_bits(q2 % 2 == 1))
    msb, lsb = quantize2(raw, fm)
    assert np.array_equal(out[: len(raw), 0], pack_bits(msb))
    assert np.array_equal(out[: len(raw), 1], pack_bits(lsb))


# ------------------------------------------------------------------------------------------------ stem


def _stem_params(rng: np.random.Generator) -> np.ndarray:
    """Raw scale (32) and shift (32): scales across a code step per z0 unit and more, edge values in some lanes."""
    scale = rng.uniform(-0.15, 0.15, STEM_CHANNELS)
    shift = rng.uniform(-1.5, 1.5, STEM_CHANNELS)
    scale_raw, shift_raw = _raws(FORMATS.scale, scale, rng, 0.0), _raws(FORMATS.param, shift, rng, 0.0)
    scale_raw[:4] = 0, FORMATS.scale.raw_max, FORMATS.scale.raw_min, 1
    shift_raw[[0, 4, 5]] = 0, FORMATS.param.raw_max, FORMATS.param.raw_min
    return np.concatenate([scale_raw, shift_raw])


@pytest.mark.parametrize("levels", [LEVELS, 8])
def test_stem_conv_bn_writes_the_reference_codes_of_image_words(build, levels):
    """Every word ``stem_conv_bn`` writes (the 112 x 112 x 32 map of 4-bit codes, then untouched guard
    words) against ``stem_conv_bn`` of the reference, on ``image_words`` of thermometer-encoded random
    images with rows of 0 and of all levels, and random 32-bit words (bits below the levels set)."""
    rng = np.random.default_rng([13, levels])
    images = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(levels))
    words = image_words(pack_thermometer(thermometer_encode(images, round(255 / levels))))
    words[0, :, :5] = 0  # top rows: no level on
    words[0, :, -5:] = np.uint32(0xFFFFFFFF)  # bottom rows: every level on (and every bit)
    words[0, :, 100:140, :40] = rng.integers(0, 2**32, size=(3, 40, 40), dtype=np.uint32)  # any bits
    words[0, :, :, -1] = rng.integers(0, 2**32, size=(3, 224), dtype=np.uint32)  # the last column, read by taps at 223
    bits = rng.random((STEM_CHANNELS, 3 * levels, 3, 3)) < 0.5
    table = stem_table(bits, levels)
    params = _stem_params(rng)
    out_words = STEM_SIZE * STEM_SIZE * CODE_BITS + GUARD
    out = _run(build(levels), "stem", [*table, *params, *words.ravel(), out_words]).astype(np.uint64)
    images_p = DramRegions(FORMATS, levels, table, params, np.zeros((1, OUT_CHANNELS)), np.zeros(1), {})
    codes = stem_conv_bn(ImageNetDatapath(images_p), words)[0]
    assert set(np.unique(codes[6:]).tolist()) == set(range(16))  # lanes 6.. see every code
    assert np.all(codes[0] == codes[0, 0, 0])  # scale 0: one code per lane
    assert np.array_equal(out[:-GUARD], _fmap_words(codes))
    assert np.all(out[-GUARD:] == MAP_SENTINEL)


# ---------------------------------------------------------------------------------------------- PG engine

TRANSPARENT = 7
"""Lanes ``o % 8 == 7``: only the shortcut passes (scale 0, res_scale 1/30, bn_shift -1 + 2**-10), q4 = (s + 2) // 4."""


def _layer_params(rng: np.random.Generator, layer: Layer) -> np.ndarray:
    """The 7 per-channel arrays (raw, ``PARAM_FIELDS`` order) of a PG layer: typical random values with
    edge values mixed in, gate thresholds around the sums' spread; by lane ``o % 8``: 1 the gate always
    open (``SUM_MIN``), 2 always closed (``SUM_MAX``), 3 saturating (scale, slope, bn_scale at their
    maxima), 4 scale 0, 7 transparent (:data:`TRANSPARENT`)."""
    cout, spread = layer.cout, np.sqrt(layer.ksize**2 * layer.cin)
    values = {
        "scale": rng.uniform(-1, 1, cout) / spread,
        "shift": rng.uniform(-1, 1, cout),
        "slope": rng.uniform(-1, 1.5, cout),
        "bn_scale": rng.uniform(-1.5, 1.5, cout),
        "res_scale": rng.uniform(-0.1, 0.1, cout),
        "bn_shift": rng.uniform(-1, 1, cout),
    }
    lane = np.arange(cout) % 8
    threshold = rng.integers(-int(2 * spread), int(2 * spread), size=cout, endpoint=True)
    threshold[lane == 1], threshold[lane == 2] = SUM_MIN, SUM_MAX
    rows = [threshold]
    for field in PARAM_FIELDS[1:]:
        fmt = FORMATS.scale if field in SCALE_FIELDS else FORMATS.param
        rows.append(_raws(fmt, values[field], rng))
    raw = dict(zip(PARAM_FIELDS, rows, strict=True))
    high = lane == 3  # saturating lanes: y and x' clamp at both ends of fm
    for field in ("scale", "slope", "bn_scale"):
        raw[field][high] = (FORMATS.scale if field in SCALE_FIELDS else FORMATS.param).raw_max
    raw["scale"][lane == 4] = 0  # y = fm(shift)
    see = lane == TRANSPARENT
    raw["scale"][see], raw["shift"][see] = 0, 0
    raw["res_scale"][see] = FORMATS.scale.quantize(np.array(1 / 30))[0]
    raw["bn_shift"][see] = FORMATS.param.quantize(np.array(-1 + 2**-10))[0]
    return np.stack(rows)


def _layer_case(rng: np.random.Generator, ksize: int, cin: int, cout: int, size: int, stride: int):
    """A layer placed at random offsets in weights and params regions of random garbage, and its input codes."""
    weight_word, param_word = (2 * int(v) for v in rng.integers(1, 50, size=2))  # whole 128-bit beats
    layer = Layer(0, 1 if ksize == 3 else 2, ksize, cin, cout, size, stride, weight_word, param_word)
    weights = _random_words(rng, weight_word + layer.weight_words + 37)
    bits = rng.random((cout, cin, ksize, ksize)) < 0.5
    weights[weight_word : weight_word + layer.weight_words] = pack_layer_weights(bits).ravel()
    params = rng.integers(-(2**40), 2**40, size=param_word + len(PARAM_FIELDS) * cout + 29)
    params[param_word : param_word + len(PARAM_FIELDS) * cout] = pack_layer_params(_layer_params(rng, layer))
    codes = rng.integers(0, 16, size=(cin, size, size))
    codes[0], codes[1, : size // 2] = 0, 15  # a channel at code 0, half a channel at 15
    return layer, weights, params, codes


def _run_pg(program: Path, layer: Layer, weights, params, codes, pooled: bool):
    """``pg_conv_bn`` in C++: (output map words incl. the guard, 1024 pooled sums)."""
    inputs = _fmap_words(codes)
    out_words = layer.fmap_words_out + GUARD
    values = [*layer.spec(), int(pooled), len(weights), *weights, len(params), *params, len(inputs), *inputs, out_words]
    out = _run(program, "pg", values)
    return out[:out_words].astype(np.uint64), out[out_words:].astype(np.int64)


def _reference(layer: Layer, weights, params, codes) -> tuple[np.ndarray, np.ndarray]:
    """``pg_conv_bn`` of the reference: raw fm outputs ``cout x S' x S'`` and the gate."""
    images = DramRegions(FORMATS, LEVELS, weights, params, np.zeros((1, OUT_CHANNELS)), np.zeros(1), {})
    x, gate = pg_conv_bn(ImageNetDatapath(images), codes[None], layer)
    return x[0], gate[0]


def _shortcut_codes(codes: np.ndarray, layer: Layer) -> np.ndarray:
    """What a transparent lane writes, from the shortcut's definition: (s + 2) // 4 of channel o mod cin."""
    c, h, _ = codes.shape
    s = 4 * codes if layer.stride == 1 else codes.reshape(c, h // 2, 2, h // 2, 2).sum(axis=(2, 4))
    return (s[np.arange(layer.cout) % layer.cin] + 2) // 4


PG_SHAPES = [  # ksize, cin, cout, size_in, stride
    (3, 32, 32, 7, 1),  # one group, half its lanes
    (3, 96, 96, 14, 1),  # two row tiles; second group in and out half full
    (3, 64, 64, 14, 2),
    (3, 128, 128, 28, 2),  # two row tiles and two groups at stride 2
    (1, 32, 64, 14, 1),  # block 0's pointwise: channels duplicated
    (1, 64, 128, 7, 1),
    (1, 96, 96, 14, 1),
]


@pytest.mark.parametrize("ksize, cin, cout, size, stride", PG_SHAPES)
def test_pg_conv_bn_writes_the_reference_codes(program, ksize, cin, cout, size, stride):
    """Every word of the output map ``pg_conv_bn`` writes (4-bit codes q4(x') of every channel and pixel,
    then untouched guard words; pooled untouched) against the reference's ``pg_conv_bn`` and ``quantize4``;
    transparent lanes against the shortcut sums' definition; and the gate shown to matter."""
    rng = np.random.default_rng([21, ksize, cin, cout, size, stride])
    layer, weights, params, codes = _layer_case(rng, ksize, cin, cout, size, stride)
    out, pooled = _run_pg(program, layer, weights, params, codes, pooled=False)
    x, gate = _reference(layer, weights, params, codes)
    expected = quantize4(x, FORMATS.fm.frac)
    lane = np.arange(cout) % 8
    mixed = gate[(lane != 1) & (lane != 2)]
    assert np.all(gate[lane == 1]) and not np.any(gate[lane == 2]) and 0.1 < mixed.mean() < 0.9
    assert set(np.unique(expected).tolist()) == set(range(16))
    assert np.array_equal(out[:-GUARD], _fmap_words(expected))
    assert np.all(out[-GUARD:] == MAP_SENTINEL)
    assert np.all(pooled == POOL_SENTINEL)
    assert np.array_equal(expected[lane == TRANSPARENT], _shortcut_codes(codes, layer)[lane == TRANSPARENT])
    for forced in (SUM_MIN, SUM_MAX):  # a gate opened or closed everywhere changes some outputs
        changed = params.copy()
        changed[layer.param_word : layer.param_word + cout] = forced
        assert not np.array_equal(quantize4(_reference(layer, weights, changed, codes)[0], FORMATS.fm.frac), expected)


LAST = layer_table(LEVELS)[-1]


@pytest.mark.parametrize(
    "ksize, cin, cout, size, stride",
    [(1, 128, 256, 7, 1), (3, 64, 64, 14, 2), (LAST.ksize, LAST.cin, LAST.cout, LAST.size_in, LAST.stride)],
)
def test_pg_conv_bn_pooled_sums_are_the_reference_outputs_summed_per_channel(program, ksize, cin, cout, size, stride):
    """The last layer's form (pooled given): the ``cout`` pooled sums against the reference's raw outputs
    summed over the 7 x 7 map, bit for bit (saturated lanes included); the other sums and the output map
    untouched. The last case is the layer table's last layer (1x1, 1024 -> 1024, 7 x 7)."""
    rng = np.random.default_rng([22, ksize, cin, cout, size, stride])
    layer, weights, params, codes = _layer_case(rng, ksize, cin, cout, size, stride)
    out, pooled = _run_pg(program, layer, weights, params, codes, pooled=True)
    x, _ = _reference(layer, weights, params, codes)
    fm = FORMATS.fm
    assert np.any(x == fm.raw_max) and np.any(x == fm.raw_min) and np.any(np.abs(x) < 1 << fm.frac)
    assert np.array_equal(pooled[:cout], x.sum(axis=(1, 2)))
    assert np.all(pooled[cout:] == POOL_SENTINEL)
    assert np.all(out == MAP_SENTINEL)
