"""The accelerator's C++ primitives (``hls/cifar10/layers.h``) against the numpy reference, bit for bit.

``hls/cifar10/unit_tests.cc`` is compiled once with g++ as the C-simulation library is (the ap_types
headers of hls4ml, ``-DFRACNET_RUNTIME_PARAMS``, a generated ``fracnet_config.h``: default formats,
32 levels). Each test runs one of its sub-commands on seeded random inputs and compares every integer
it prints with :mod:`fracbnn_lib.hw.reference`, :mod:`fracbnn_lib.hw.layout`, :mod:`fracbnn_lib.hw.params`
and :mod:`fracbnn_lib.encoding`: the 2-bit quantiser (at its bounds and saturation ends) and its lanes,
tile packing, the XNOR-popcount dot product, level counts and thermometer words, the stem's lookup
table, and ``pg_conv_bn`` itself on conv tiles of several sizes (stride 1 and 2; the conv sums through the
row-banked window, the gate, the residual, quantise-and-pack, several tiles) with parameters that keep its
output exact, so every sum can be read back and compared with ``binary_conv``.
"""

from pathlib import Path

import numpy as np
import pytest
from unit_test_build import build_unit_tests, run_unit_tests

from fracbnn_lib.encoding import pack_thermometer
from fracbnn_lib.hw.bits import WORD_BITS, pack_bits, unpack_bits
from fracbnn_lib.hw.cifar10.headers import config_header
from fracbnn_lib.hw.cifar10.layout import OC_TILE, PG_TILES, TAPS
from fracbnn_lib.hw.cifar10.reference import binary_conv, count_levels, quantize2, quantizer_bounds
from fracbnn_lib.hw.fixed_point import SUM_MAX, SUM_MIN, resolve_formats
from fracbnn_lib.hw.folding import stem_level_dots

HLS_DIR = Path(__file__).resolve().parents[1] / "hls" / "cifar10"
FORMATS = resolve_formats("default")
LEVELS = 32
LANE_SHIFT = np.uint64(WORD_BITS - OC_TILE)  # a tile's lanes_t is its 16 channels' packed word >> 48


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    """``unit_tests.cc`` built once (g++ missing or a failed build fails every test, with the reason)."""
    folder = tmp_path_factory.mktemp("hls_unit_tests")
    return build_unit_tests(HLS_DIR, config_header(FORMATS, LEVELS), folder, "-std=c++14", "-DFRACNET_RUNTIME_PARAMS")


def _run(program: Path, command: str, values, dtype=np.int64) -> np.ndarray:
    """Run one sub-command on ``values`` (integers, written to stdin) and read back what it prints as ``dtype``."""
    return np.array(run_unit_tests(program, command, values), dtype=dtype)


def _random_words(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(0, 2**64, size=shape, dtype=np.uint64, endpoint=False)


def _lanes(bits: np.ndarray) -> np.ndarray:
    """16 booleans per row (lane k first) as lanes_t values: lane k at bit 15 - k."""
    return pack_bits(bits) >> LANE_SHIFT


def test_quantize2_matches_the_reference_and_the_rounding_formula_at_every_boundary(program):
    fm = FORMATS.fm
    low, high = quantizer_bounds(fm)
    rng = np.random.default_rng(1)
    edges = [low, high, 0, fm.raw_min, fm.raw_max]
    near = np.concatenate([np.arange(edge - 3, edge + 4) for edge in edges])
    near = near[(near >= fm.raw_min) & (near <= fm.raw_max)]
    scale = 1 << fm.frac  # raws within a few units of +-1 and of the bounds, and over the whole range
    raw = np.concatenate(
        [
            near,
            rng.integers(low - 4096, high + 4096, size=8000),
            rng.integers(-2 * scale, 2 * scale, size=8000),
            rng.integers(fm.raw_min, fm.raw_max, size=8000, endpoint=True),
        ]
    )
    raw = np.concatenate([raw, np.zeros(-len(raw) % OC_TILE, np.int64)])
    out = _run(program, "quantize2", [len(raw), *raw])
    per_value, tiles = out[: 2 * len(raw)].reshape(-1, 2), out[2 * len(raw) :].reshape(-1, 2)
    msb, lsb = quantize2(raw, fm)
    assert np.array_equal(per_value[:, 0], raw)  # the raw bits round-trip through fm_t
    assert np.array_equal(tiles[:, 0].astype(np.uint64), _lanes(msb.reshape(-1, OC_TILE)))
    assert np.array_equal(tiles[:, 1].astype(np.uint64), _lanes(lsb.reshape(-1, OC_TILE)))
    assert np.array_equal(per_value[:, 1], 2 * msb + lsb)  # ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5)
    assert {0, 1, 2, 3} == set(per_value[:, 1].tolist())


def test_place_tile_packs_tiles_like_pack_bits_and_tile0_starts_a_new_word(program):
    rng = np.random.default_rng(2)
    cases = 3000
    bits = rng.random((cases, WORD_BITS)) < 0.5
    tiles = rng.integers(1, WORD_BITS // OC_TILE, size=cases, endpoint=True)
    start = _random_words(rng, cases)  # garbage that tile 0 must discard
    lanes = _lanes(bits.reshape(cases, -1, OC_TILE))
    values = [cases]
    for i in range(cases):
        values += [start[i], tiles[i], *lanes[i, : tiles[i]]]
    out = _run(program, "place_tile", values, np.uint64)
    keep = np.arange(WORD_BITS)[None, :] < OC_TILE * tiles[:, None]
    assert np.array_equal(out, pack_bits(bits & keep))


def test_binary_dot_is_the_sum_of_pm1_products_over_the_valid_channels(program):
    rng = np.random.default_rng(3)
    cases = 5000
    channels = rng.integers(1, WORD_BITS, size=cases, endpoint=True)
    valid = np.arange(WORD_BITS)[None, :] < channels[:, None]
    a, w = (rng.random((2, cases, WORD_BITS)) < 0.5) & valid  # unused bits are 0 in both
    words = np.stack([pack_bits(a), pack_bits(w), channels.astype(np.uint64)], axis=1)
    out = _run(program, "binary_dot", [cases, *words.ravel()])
    products = np.where(a == w, 1, -1) * valid
    assert np.array_equal(out, products.sum(axis=1))


def test_count_levels_and_thermometer_words_match_the_reference_and_pack_thermometer(program):
    rng = np.random.default_rng(4)
    on = rng.integers(0, LEVELS, size=3000, endpoint=True)
    thermometer = np.arange(LEVELS)[None, :] < on[:, None]
    words = np.concatenate([pack_bits(thermometer), _random_words(rng, 3000)])  # random words: any bits set
    out = _run(program, "levels", [len(words), *words], np.uint64)
    counts, therm = out[: len(words)].astype(np.int64), out[len(words) :]
    assert np.array_equal(counts, count_levels(words, LEVELS))
    assert np.array_equal(counts[: len(on)], on)
    code = np.where(np.arange(LEVELS)[None, :] < np.arange(LEVELS + 1)[:, None], 1.0, -1.0)
    assert np.array_equal(therm, pack_thermometer(code[:, :, None, None], colour_channels=1).ravel())


def test_stem_level_dot_tables_match_stem_level_dots(program):
    rng = np.random.default_rng(5)
    lanes = 64
    weight = _random_words(rng, (lanes, 3, TAPS))
    weight[: lanes // 2] &= pack_bits(np.ones(LEVELS, bool))  # as exported (bits below the levels zero) ...
    out = _run(program, "stem", [lanes, *weight.ravel()])  # ... and with them set (ignored)
    assert np.array_equal(out.reshape(lanes, TAPS, -1), stem_level_dots(weight, LEVELS))


def _conv_case(rng: np.random.Generator, size: int, channels: int, cout: int):
    """Random packed MSB/LSB planes (2 x H x W words) and weights (cout x 9 words) of ``channels`` channels."""
    planes = pack_bits(rng.random((2, size, size, channels)) < 0.5)
    return planes, pack_bits(rng.random((cout, TAPS, channels)) < 0.5)


def _reference_sums(planes: np.ndarray, weight: np.ndarray, channels: int, stride: int) -> np.ndarray:
    """``binary_conv`` of the unpacked words: MSB and LSB sums, int64 2 x cout x pixels."""
    pm1 = unpack_bits(planes, channels).transpose(0, 3, 1, 2).astype(np.float32) * 2 - 1  # 2 x C x H x W
    kernel = unpack_bits(weight, channels).transpose(0, 2, 1).reshape(len(weight), -1)  # column c * 9 + tap
    return binary_conv(pm1, kernel.astype(np.float32) * 2 - 1, stride)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(
    "size, channels, cout, tile0",
    [(8, 32, 64, 5), (6, 5, 32, 0), (32, 16, 16, PG_TILES - 1), (8, 64, 32, 3), (6, 40, 16, 1)],  # 2 slices: 64, 40
)
def test_pg_conv_bn_gates_sums_adds_the_residual_and_packs_its_quantised_output(
    program, stride, size, channels, cout, tile0
):
    rng = np.random.default_rng([7, stride, size, channels])
    fm = FORMATS.fm
    planes, weight = _conv_case(rng, size, channels, cout)
    threshold = rng.integers(-20, 20, size=cout, endpoint=True)
    threshold[:2] = SUM_MIN, SUM_MAX  # gate always open, always closed
    pixels = (size // stride) ** 2
    residual = rng.integers(-4 << fm.frac, 4 << fm.frac, size=(cout, pixels))
    values = [size, channels, cout, stride, tile0, *planes.ravel(), *weight.ravel(), *threshold, *residual.ravel()]
    out = _run(program, "pg_conv_bn", values, str)  # signed raws, then unsigned words
    x = out[: cout * pixels].astype(np.int64).reshape(cout, pixels)
    words = out[cout * pixels :].astype(np.uint64).reshape(-1, 2)
    m, l_sum = _reference_sums(planes, weight, channels, stride)
    gate = m > threshold[:, None]
    z = 2 * m + np.where(gate, l_sum, 0)
    assert 0 < gate.mean() < 1
    assert np.array_equal(x, (z << (fm.frac - 5)) + residual)  # x = z / 32 + residual, exact
    msb, lsb = quantize2(x, fm)
    assert np.array_equal(words[:, 0], pack_bits(msb.T))
    assert np.array_equal(words[:, 1], pack_bits(lsb.T))
