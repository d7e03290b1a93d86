"""Exact ``ap_fixed<W, I, AP_RND, AP_SAT>`` arithmetic in numpy, and the accelerator's format settings.

A value of format ``<W, I>`` is stored as its raw two's-complement integer ``r`` (int64) with
``F = W - I`` fractional bits: the value is ``r / 2**F``, ``r`` in ``[-2**(W-1), 2**(W-1) - 1]``.
Every product and sum of fixed-point values is again an integer with a known number of fractional
bits, so the only inexact step is the assignment to a narrower format, which Vivado HLS performs as

- ``AP_RND``: round to the nearest representable value, ties towards plus infinity
  (``r = floor(v * 2**F + 1/2)``), then
- ``AP_SAT``: clamp to the format's range (rounding first, then saturation, as ``ap_fixed_base``).

:meth:`FixedFormat.requantize` does exactly this on integers, so the numpy reference reproduces the
C++ bit for bit. :class:`Formats` groups the four formats of the datapath (feature maps, BN scales,
other parameters, logits); :data:`FORMAT_PRESETS` names the paper's formats and ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

MAX_PRODUCT_BITS = 62
"""Every exact intermediate of the reference must fit an int64 with a bit to spare."""

SUM_BITS = 16
"""Binary conv sums enter the datapath as 16-bit integers (``sum_t``)."""
SUM_MIN = -(1 << (SUM_BITS - 1))
"""Gate thresholds are ``int16_t`` (``sum_t``); a threshold of ``SUM_MIN`` keeps the gate always open."""
SUM_MAX = (1 << (SUM_BITS - 1)) - 1


class FormatError(ValueError):
    """A fixed-point format setting that the accelerator cannot use."""


@dataclass(frozen=True)
class FixedFormat:
    """A signed ``ap_fixed<width, integer, AP_RND, AP_SAT>`` format.

    ``integer`` counts the sign bit (Vivado's convention): ``<16, 9>`` spans [-256, 256) in steps of 2**-7.
    """

    width: int
    integer: int

    def __post_init__(self) -> None:
        if not 2 <= self.width <= 32:
            raise FormatError(f"fixed-point width must be in 2..32, got {self.width}")
        if not 1 <= self.integer <= self.width:
            raise FormatError(f"integer bits must be in 1..width, got <{self.width},{self.integer}>")

    @property
    def frac(self) -> int:
        """Fractional bits ``F = W - I``."""
        return self.width - self.integer

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def step(self) -> float:
        """The value of one least significant bit, ``2**-F``."""
        return 2.0**-self.frac

    def c_type(self) -> str:
        """The C++ type: ``ap_fixed<W,I,AP_RND,AP_SAT>``."""
        return f"ap_fixed<{self.width},{self.integer},AP_RND,AP_SAT>"

    def __str__(self) -> str:
        return f"<{self.width},{self.integer}>"

    def saturate(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clamp raw integers to the range: ``(clamped, saturated mask)``."""
        clamped = np.clip(raw, self.raw_min, self.raw_max)
        return clamped, clamped != raw

    def requantize(self, raw: np.ndarray, frac: int) -> tuple[np.ndarray, np.ndarray]:
        """Assign exact values ``raw / 2**frac`` (int64) to this format: AP_RND, then AP_SAT.

        Returns ``(raw integers of this format, saturated mask)``.
        """
        raw = np.asarray(raw, dtype=np.int64)
        shift = frac - self.frac
        if shift > 0:
            raw = (raw + np.int64(1 << (shift - 1))) >> np.int64(shift)
        elif shift < 0:
            raw = raw << np.int64(-shift)
        return self.saturate(raw)

    def quantize(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assign float values (an exact ``double`` each, as ``param_t x = 0.123;`` in C++) to this format.

        ``floor(v * 2**F + 1/2)`` is exact in float64 for the magnitudes used here (< 2**52 steps).
        Returns ``(raw integers, saturated mask)``.
        """
        scaled = np.asarray(values, dtype=np.float64) * 2.0**self.frac
        if not np.all(np.isfinite(scaled)):
            raise FormatError("cannot quantise non-finite values (NaN or inf in the model's parameters?)")
        limit = 2.0**62
        raw = np.floor(np.clip(scaled, -limit, limit) + 0.5).astype(np.int64)
        return self.saturate(raw)

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        """The represented values ``raw / 2**F`` as float64 (exact)."""
        return np.asarray(raw, dtype=np.float64) * self.step

    @classmethod
    def parse(cls, text: str | tuple[int, int] | FixedFormat) -> FixedFormat:
        """From ``"ap_fixed<16,9>"``, ``"<16,9>"``, ``"16,9"`` or ``(16, 9)``."""
        if isinstance(text, FixedFormat):
            return text
        if isinstance(text, (tuple, list)) and len(text) == 2:
            return cls(int(text[0]), int(text[1]))
        match = re.fullmatch(r"\s*(?:ap_fixed)?\s*<?\s*(\d+)\s*,\s*(\d+)\s*(?:,[^>]*)?>?\s*", str(text))
        if not match:
            raise FormatError(f"cannot read fixed-point format {text!r}; write it as ap_fixed<W,I> or W,I")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Formats:
    """The fixed-point formats of the accelerator's datapath (DESIGN.md, "The CIFAR-10 accelerator").

    - ``fm``: feature maps, i.e. the residual stream ``x`` and every value derived from it per pixel;
    - ``scale``: the BN scales that multiply integer conv sums (the 1/3 of the 2-bit planes folded in);
    - ``param``: every other per-channel parameter (BN shifts, PReLU slopes, the second BN) and the FC layer;
    - ``logit``: the FC output before its conversion to ``float``.

    Conv sums and gate thresholds are integers (``int16_t``) and need no format.
    """

    fm: FixedFormat
    scale: FixedFormat
    param: FixedFormat
    logit: FixedFormat

    def __post_init__(self) -> None:
        widest, what = max((bits, what) for what, bits in self.intermediate_bits().items())
        if widest > MAX_PRODUCT_BITS:
            raise FormatError(
                f"formats too wide: the exact {what} needs {widest} bits (at most {MAX_PRODUCT_BITS}); "
                "narrow fm, scale or param"
            )

    def intermediate_bits(self) -> dict[str, int]:
        """Bits of every exact intermediate of the datapath (each must fit an int64 with a bit to spare).

        A sum ``a * b + c`` of formats with ``(I, F)`` integer and fractional bits needs
        ``max(Ia + Ib, Ic) + 1`` integer and ``max(Fa + Fb, Fc)`` fractional bits.
        """
        fm, scale, param = self.fm, self.scale, self.param

        def mac(i_ab: int, f_ab: int, c: FixedFormat) -> int:
            return max(i_ab, c.integer) + 1 + max(f_ab, c.frac)

        return {
            "scale * conv sum + shift": mac(scale.integer + SUM_BITS, scale.frac, param),
            "fm * slope": fm.width + param.width,
            "bn_scale * (y + residual) + bn_shift": mac(scale.integer + fm.integer + 1, scale.frac + fm.frac, param),
            "sum of 64 pixels": fm.width + 6,
            "FC accumulator": mac(param.integer + fm.integer + 6, param.frac + fm.frac, param),
        }

    def to_dict(self) -> dict[str, dict[str, int | str]]:
        """JSON-ready: ``{name: {"width", "integer", "c_type"}}``."""
        return {name: {**asdict(fmt), "c_type": fmt.c_type()} for name, fmt in self.items()}

    def items(self) -> list[tuple[str, FixedFormat]]:
        return [("fm", self.fm), ("scale", self.scale), ("param", self.param), ("logit", self.logit)]

    def describe(self) -> str:
        """One line, e.g. ``fm <16,9>, scale <12,4>, param <12,4>, logit <16,9>``."""
        return ", ".join(f"{name} {fmt}" for name, fmt in self.items())


def _formats(fm: tuple[int, int], scale: tuple[int, int], param: tuple[int, int], logit: tuple[int, int]) -> Formats:
    return Formats(FixedFormat(*fm), FixedFormat(*scale), FixedFormat(*param), FixedFormat(*logit))


FORMAT_PRESETS: dict[str, Formats] = {
    "default": _formats(fm=(26, 7), scale=(27, 4), param=(26, 4), logit=(32, 12)),
    "paper": _formats(fm=(16, 9), scale=(12, 4), param=(12, 4), logit=(16, 9)),
}
"""Named format sets.

- ``paper``: the release's ``ap_fixed<16,9>`` for feature maps (and the FC output) and
  ``ap_fixed<12,4>`` for every parameter.
- ``default``: the narrowest formats that keep the float model's decisions (argmax agreement of the
  bit-exact reference with the float model >= 0.99), measured with notebook 04's format sweep on two
  checkpoints trained for two epochs per stage on the synthetic set (500 test images each; the
  weakly trained models, whose top-1 margins are often below 0.01, are the hardest case):
  fm ``<26,7>`` (19 fractional bits; ``<24,7>`` falls to 0.984-0.990), BN scales ``<27,4>`` (23
  fractional bits: the conv-sum scales are about 0.01, so their relative precision needs them;
  ``<24,4>`` falls to 0.984; 27 bits is what a DSP48E2's 27-bit port takes, so ``scale * z`` is one
  DSP, not two), other parameters ``<26,4>`` (22 and 24 bits land on either side of 0.99 by chance,
  0.986-0.996), logits ``<32,12>``: 0.998 on both checkpoints (1.000 on their first 200 images), where
  the previous ``<28,7>``/``<32,4>``/``<26,4>`` gave 1.000, at 116 DSP48E2 instead of 232 (cost model,
  :mod:`fracbnn_lib.hw.cifar10.cost`). The integer bits are those trained models need (feature maps
  within ±64, parameters within ±8). With fewer fractional bits, rounding flips 2-bit activations that
  sit next to the quantiser's thresholds, and flips compound through the 18 binary layers. Every exact
  intermediate of the datapath fits 64 bits (one machine word in C-simulation).
"""


def sweep_formats(fractional_bits: tuple[int, ...] = (9, 13, 17, 21)) -> dict[str, Formats]:
    """Notebook 04's format sweep: the paper's formats, then formats with ``F`` fractional bits for feature
    maps, named after the preset they equal or ``F=<F>``, then the ``default`` preset if no ``F`` gave it.

    For each ``F``: fm ``<F+7, 7>``, BN scales ``<min(F+11, 32), 4>`` (``F+7`` fractional bits, at most 28),
    other parameters ``<F+5, 4>`` (``F+1``), logits ``<32, 12>``; ``F = 21`` is the previous default
    (fm ``<28,7>``, scales ``<32,4>``, parameters ``<26,4>``).
    """
    candidates = {"paper": FORMAT_PRESETS["paper"]}
    for f in fractional_bits:
        try:
            formats = _formats(fm=(f + 7, 7), scale=(min(f + 11, 32), 4), param=(f + 5, 4), logit=(32, 12))
        except FormatError:
            continue
        name = next((k for k, v in FORMAT_PRESETS.items() if v == formats), f"F={f}")
        candidates[name] = formats
    if FORMAT_PRESETS["default"] not in candidates.values():
        candidates["default"] = FORMAT_PRESETS["default"]
    return candidates


def resolve_formats(spec: str | Formats | Mapping[str, object] = "default") -> Formats:
    """A :class:`Formats` from a preset name, a ``Formats``, or a mapping of the four names to formats.

    A mapping may give only some names; the others come from ``"default"``. Formats are written as
    ``"ap_fixed<16,9>"``, ``"16,9"`` or ``(16, 9)``.
    """
    if isinstance(spec, Formats):
        return spec
    if isinstance(spec, str):
        if spec not in FORMAT_PRESETS:
            raise FormatError(f"unknown formats {spec!r}; choose one of {', '.join(FORMAT_PRESETS)} or give a mapping")
        return FORMAT_PRESETS[spec]
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"fm", "scale", "param", "logit"}
        if unknown:
            raise FormatError(f"unknown format names {sorted(unknown)}; use fm, scale, param, logit")
        base = asdict(FORMAT_PRESETS["default"])
        chosen = {name: FixedFormat.parse(spec.get(name, (v["width"], v["integer"]))) for name, v in base.items()}
        return Formats(**chosen)
    raise FormatError(f"formats must be a preset name, a Formats or a mapping, got {type(spec).__name__}")
