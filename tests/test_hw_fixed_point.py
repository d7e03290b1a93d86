"""ap_fixed<W,I,AP_RND,AP_SAT> arithmetic of the numpy reference, format settings and the 2-bit quantiser."""

from fractions import Fraction
from math import floor

import numpy as np
import pytest
import torch

from fracbnn_lib import quant_sign
from fracbnn_lib.hw.cifar10.reference import quantize2, quantizer_bounds
from fracbnn_lib.hw.fixed_point import FORMAT_PRESETS, FixedFormat, FormatError, Formats, resolve_formats


def _ap_rnd_sat(value: Fraction, fmt: FixedFormat) -> int:
    """Independent model of the assignment: round to nearest with ties up, then clamp (raw integer)."""
    raw = floor(value * 2**fmt.frac + Fraction(1, 2))
    return max(fmt.raw_min, min(fmt.raw_max, raw))


def test_requantize_rounds_to_nearest_ties_up_then_saturates():
    fmt = FixedFormat(8, 4)  # steps of 1/16 in [-8, 8)
    rng = np.random.default_rng(0)
    raw = rng.integers(-(2**14), 2**14, size=2000)
    raw = np.concatenate([raw, [8, -8, 24, -24, 7, -9, 2**13, -(2**13)]])  # exact ties at frac=4 + 4
    out, saturated = fmt.requantize(raw, frac=8)
    expected = [_ap_rnd_sat(Fraction(int(r), 2**8), fmt) for r in raw]
    assert out.tolist() == expected
    assert saturated.tolist() == [
        not fmt.raw_min <= floor(Fraction(int(r), 16) + Fraction(1, 2)) <= fmt.raw_max for r in raw
    ]


def test_ties_go_towards_plus_infinity():
    fmt = FixedFormat(8, 4)
    values = np.array([1 / 32, -1 / 32, 3 / 32, -3 / 32])  # exactly half a step
    raw, _ = fmt.quantize(values)
    assert raw.tolist() == [1, 0, 2, -1]


def test_quantize_saturates_and_reports_it():
    fmt = FixedFormat(8, 4)
    raw, saturated = fmt.quantize(np.array([100.0, -100.0, 7.96875, -8.0]))
    assert raw.tolist() == [127, -128, 127, -128] and saturated.tolist() == [True, True, True, False]
    with pytest.raises(FormatError, match="non-finite"):
        fmt.quantize(np.array([np.nan]))


def test_raising_precision_is_exact():
    fmt = FixedFormat(16, 4)
    raw, saturated = fmt.requantize(np.array([3, -5]), frac=2)
    assert raw.tolist() == [3 << 10, -5 << 10] and not saturated.any()
    assert fmt.to_float(raw).tolist() == [0.75, -1.25]


@pytest.mark.parametrize("text", ["ap_fixed<16,9>", "<16,9>", "16,9", " ap_fixed< 16 , 9 , AP_RND, AP_SAT > ", (16, 9)])
def test_parse_accepts_the_usual_spellings(text):
    assert FixedFormat.parse(text) == FixedFormat(16, 9)
    assert FixedFormat(16, 9).c_type() == "ap_fixed<16,9,AP_RND,AP_SAT>" and str(FixedFormat(16, 9)) == "<16,9>"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("16", "cannot read fixed-point format"), ("40,8", "width must be in 2..32"), ("16,0", "integer bits")],
)
def test_bad_formats_are_refused_with_one_line(spec, message):
    with pytest.raises(FormatError, match=message) as err:
        FixedFormat.parse(spec)
    assert "\n" not in str(err.value)


def test_formats_whose_exact_intermediates_overflow_int64_are_refused():
    with pytest.raises(FormatError, match="bn_scale|FC accumulator"):
        Formats(FixedFormat(32, 8), FixedFormat(32, 4), FixedFormat(32, 8), FixedFormat(32, 12))
    for formats in FORMAT_PRESETS.values():
        assert max(formats.intermediate_bits().values()) <= 62


def test_resolve_formats_presets_and_partial_mappings():
    assert resolve_formats("paper").fm == FixedFormat(16, 9) and resolve_formats("paper").param == FixedFormat(12, 4)
    mixed = resolve_formats({"fm": "ap_fixed<20,6>"})
    assert mixed.fm == FixedFormat(20, 6) and mixed.scale == FORMAT_PRESETS["default"].scale
    with pytest.raises(FormatError, match="unknown formats 'tiny'; choose one of default, paper"):
        resolve_formats("tiny")
    with pytest.raises(FormatError, match="unknown format names"):
        resolve_formats({"feature_maps": (16, 9)})
    assert resolve_formats("default").to_dict()["fm"]["c_type"].startswith("ap_fixed<")


@pytest.mark.parametrize("frac", [2, 7, 14, 21])
def test_quantiser_comparisons_equal_the_rounding_formula(frac):
    """MSB/LSB from three comparisons == ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5) for every raw x around."""
    fmt = FixedFormat(frac + 4, 4)
    one = 1 << frac
    centres = [0, -2 * one // 3, 2 * one // 3, -one, one]
    raw = np.unique(
        np.concatenate(
            [np.arange(c - 300, c + 300) for c in centres] + [np.arange(-4 * one, 4 * one, max(1, one // 64))]
        )
    )
    q = np.clip((3 * (raw + one) + one) >> (frac + 1), 0, 3)  # floor((x + 1) * 3/2 + 1/2), saturated to 0..3
    msb, lsb = quantize2(raw, fmt)
    assert np.array_equal(msb, q >= 2) and np.array_equal(lsb, q % 2 == 1)
    low, high = quantizer_bounds(fmt)
    assert low == floor(Fraction(-2, 3) * 2**frac) and high == floor(Fraction(2, 3) * 2**frac)


def test_quantiser_codes_match_the_float_quantiser_away_from_ties():
    fmt = FixedFormat(28, 7)
    x = torch.linspace(-1.5, 1.5, 2001, dtype=torch.float64)
    levels = quant_sign(x)  # {-1, -1/3, 1/3, 1}
    raw, _ = fmt.quantize(x.numpy())
    msb, lsb = quantize2(raw, fmt)
    value = np.where(msb, 2 / 3, -2 / 3) + np.where(lsb, 1 / 3, -1 / 3)
    assert np.allclose(value, levels.numpy())
