"""The hardware units the cost models price, as small parameterised Verilog modules for yosys.

Every LUT, flip-flop and DSP figure of :mod:`.cifar10.cost` and :mod:`.imagenet.cost` is a count of
instances times the cost of one *unit*: a piece of datapath written here as the plain Verilog an HLS
tool emits for the C++ it stands for (``hls/cifar10/layers.h``, ``hls/imagenet/engines.h``, and the
release's ``xcel-cifar10`` for :func:`~.cifar10.cost.release_luts`), synthesised alone by yosys
(:mod:`.synthesis`). The synthesised figures are committed in ``unit_costs.json``, so the models never
need yosys; ``tests/test_hw_units.py`` re-synthesises every unit and holds the table equal to yosys.

A unit is named by its kind and parameters, ``kind(p=v,...)`` (:class:`Unit`); :data:`KINDS` maps each
kind to its Verilog generator. Datapath units register their outputs (and the fixed-point chains each
multiply-add and each rounding) as a pipelined HLS schedule at 4 ns would, so yosys counts those
flip-flops too; pure multiplexers and wiring are combinational. Fixed-point arithmetic follows
``ap_fixed<W, I, AP_RND, AP_SAT>``: products and sums exact, then round half up and saturate where the
C++ assigns to a narrower type (:mod:`.fixed_point`). The standard library only.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field


def dsp_per_multiply(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for an ``a`` x ``b``-bit multiply (27 x 18 signed; the wider operand on the 27-bit port)."""
    return math.ceil(max(a_bits, b_bits) / 27) * math.ceil(min(a_bits, b_bits) / 18)


# --------------------------------------------------------------------------- naming


@dataclass(frozen=True)
class Unit:
    """One unit: its kind and its integer parameters (in the order the kind's generator takes them)."""

    kind: str
    params: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, kind: str, **params: int) -> Unit:
        if kind not in KINDS:
            raise KeyError(f"unknown unit kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        names = list(inspect.signature(KINDS[kind]).parameters)[1:]
        if set(params) != set(names):
            raise TypeError(f"unit {kind} takes {', '.join(names)}; got {', '.join(params) or 'nothing'}")
        return cls(kind, tuple((name, int(params[name])) for name in names))

    @classmethod
    def parse(cls, key: str) -> Unit:
        """The unit named by :attr:`key`, e.g. ``xor_popcount(n=64)``."""
        match = re.fullmatch(r"(\w+)\((.*)\)", key)
        if not match:
            raise ValueError(f"not a unit key: {key!r}")
        params = [p.split("=") for p in match.group(2).split(",") if p]
        return cls.of(match.group(1), **{name: int(value) for name, value in params})

    @property
    def key(self) -> str:
        return f"{self.kind}({','.join(f'{name}={value}' for name, value in self.params)})"

    @property
    def module(self) -> str:
        """A Verilog identifier for the unit (negative parameters written ``m``)."""
        return self.kind + "".join(f"__{name}{str(value).replace('-', 'm')}" for name, value in self.params)

    def verilog(self) -> str:
        """The unit as one Verilog module named :attr:`module`."""
        return build(self).source()

    def verilog_sha256(self) -> str:
        return hashlib.sha256(self.verilog().encode()).hexdigest()

    def multiplies(self) -> list[tuple[int, int]]:
        """Operand widths of the unit's variable multiplies (what :func:`dsp_per_multiply` prices)."""
        return list(build(self).multiplies)

    def __str__(self) -> str:
        return self.key


# --------------------------------------------------------------------------- a small Verilog builder


@dataclass
class Port:
    direction: str  # "input" or "output"
    name: str
    width: int
    signed: bool = False


@dataclass
class Module:
    """A Verilog module being written: ports, body lines, and the operand widths of its multiplies."""

    name: str
    ports: list[Port] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    multiplies: list[tuple[int, int]] = field(default_factory=list)
    clocked: bool = False
    _count: int = 0

    def input(self, name: str, width: int, signed: bool = False) -> str:
        self.ports.append(Port("input", name, width, signed))
        return name

    def output(self, name: str, width: int, expr: str, signed: bool = False, registered: bool = True) -> str:
        """An output port driven by ``expr``, through a register unless ``registered`` is false."""
        self.ports.append(Port("output", name, width, signed))
        value = self.reg(expr, width, signed) if registered else expr
        self.lines.append(f"assign {name} = {value};")
        return name

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def wire(self, expr: str, width: int, signed: bool = True, stem: str = "w") -> str:
        name = self.fresh(stem)
        self.lines.append(f"wire {'signed ' if signed else ''}[{width - 1}:0] {name} = {expr};")
        return name

    def reg(self, expr: str, width: int, signed: bool = True, stem: str = "r") -> str:
        """A register stage: ``expr`` sampled at every clock edge (a pipeline register of the HLS schedule)."""
        self.clocked = True
        name = self.fresh(stem)
        self.lines.append(f"reg {'signed ' if signed else ''}[{width - 1}:0] {name};")
        self.lines.append(f"always @(posedge clk) {name} <= {expr};")
        return name

    def source(self) -> str:
        ports = ([Port("input", "clk", 1)] if self.clocked else []) + self.ports
        decls = ",\n  ".join(
            f"{p.direction} {'signed ' if p.signed else ''}{f'[{p.width - 1}:0] ' if p.width > 1 else ''}{p.name}"
            for p in ports
        )
        body = "\n".join("  " + line for line in self.lines)
        return f"(* keep_hierarchy *)\nmodule {self.name} (\n  {decls}\n);\n{body}\nendmodule\n"


def const(value: int, width: int) -> str:
    """A signed ``width``-bit constant (two's complement)."""
    return f"$signed({width}'h{value & ((1 << width) - 1):x})"


# --------------------------------------------------------------------------- fixed-point helpers


@dataclass(frozen=True)
class Fix:
    """A signed fixed-point wire: its name, width and fractional bits."""

    name: str
    width: int
    frac: int


def align(m: Module, x: Fix, frac: int) -> Fix:
    """``x`` with ``frac`` fractional bits (``frac >= x.frac``: a left shift, exact)."""
    if frac == x.frac:
        return x
    shift = frac - x.frac
    return Fix(m.wire(f"{x.name} <<< {shift}", x.width + shift, stem="al"), x.width + shift, frac)


def add(m: Module, *terms: Fix) -> Fix:
    """The exact sum of signed fixed-point terms."""
    frac = max(t.frac for t in terms)
    aligned = [align(m, t, frac) for t in terms]
    width = max(t.width for t in aligned) + math.ceil(math.log2(len(aligned)))
    return Fix(m.wire(" + ".join(t.name for t in aligned), width, stem="sum"), width, frac)


def mul(m: Module, a: Fix, b: Fix, constant: bool = False) -> Fix:
    """The exact product of two signed fixed-point values (a DSP48E2 multiply when wide enough); a
    ``constant`` operand's multiply is left out of :attr:`Module.multiplies` (HLS may build it from adders)."""
    if not constant:
        m.multiplies.append((a.width, b.width))
    return Fix(m.wire(f"{a.name} * {b.name}", a.width + b.width, stem="p"), a.width + b.width, a.frac + b.frac)


def registered(m: Module, x: Fix) -> Fix:
    return Fix(m.reg(x.name, x.width), x.width, x.frac)


def round_sat(m: Module, x: Fix, width: int, frac: int) -> Fix:
    """``ap_fixed<width, width - frac, AP_RND, AP_SAT>(x)``: round half up (add half an LSB, floor), saturate."""
    if x.frac > frac:
        drop = x.frac - frac
        half = m.wire(f"{x.name} + {const(1 << (drop - 1), x.width + 1)}", x.width + 1, stem="rnd")
        shifted, swidth = m.wire(f"{half} >>> {drop}", x.width + 1 - drop, stem="sh"), x.width + 1 - drop
    else:
        shifted, swidth = align(m, x, frac).name, x.width + frac - x.frac
    if swidth <= width:
        return Fix(m.wire(shifted, width, stem="ext"), width, frac)
    top, bottom = (1 << (width - 1)) - 1, -(1 << (width - 1))
    hi, lo = f"({shifted} > {const(top, swidth)})", f"({shifted} < {const(bottom, swidth)})"
    expr = f"{hi} ? {const(top, width)} : {lo} ? {const(bottom, width)} : {shifted}[{width - 1}:0]"
    return Fix(m.wire(expr, width, stem="sat"), width, frac)


def fix_input(m: Module, name: str, width: int, integer: int) -> Fix:
    return Fix(m.input(name, width, signed=True), width, width - integer)


def int_input(m: Module, name: str, width: int, signed: bool = True) -> Fix:
    """An integer input as a signed fixed-point value (an unsigned one gains a zero sign bit)."""
    m.input(name, width, signed=signed)
    if signed:
        return Fix(name, width, 0)
    return Fix(m.wire(f"$signed({{1'b0, {name}}})", width + 1, stem="u"), width + 1, 0)


def bits_for(value: int) -> int:
    """Bits of a signed integer holding -value .. value."""
    return max(1, int(value).bit_length() + 1)


# --------------------------------------------------------------------------- binary datapath units


def xor_popcount(m: Module, n: int) -> None:
    """Ones of ``a XOR w`` over ``n`` bits, as an unrolled sum (``popcount_bits<N>(a ^ w)``)."""
    a, w = m.input("a", n), m.input("w", n)
    bits = n.bit_length()
    m.lines.append(f"reg [{bits - 1}:0] c; integer i;")
    m.lines.append(f"always @* begin c = 0; for (i = 0; i < {n}; i = i + 1) c = c + ({a}[i] ^ {w}[i]); end")
    m.output("count", bits, "c", registered=False)


def slice_xor_popcount(m: Module, n: int, slices: int) -> None:
    """Ones of ``a XOR w[slice]`` over ``n`` bits: one tap of a lane whose engine counts ``n`` of a word's
    ``n x slices`` channels per cycle (``layers.h`` ``slice_dot``). ``a`` is the window word's slice, selected
    once for every lane; the unit selects the lane's weight slice (``slices``:1) itself."""
    a, w = m.input("a", n), m.input("w", n * slices)
    sel = m.input("slice", max(1, (slices - 1).bit_length()))
    bits = n.bit_length()
    m.lines.append(f"wire [{n - 1}:0] ws = {w}[({slices - 1} - {sel}) * {n} +: {n}];")
    m.lines.append(f"reg [{bits - 1}:0] c; integer i;")
    m.lines.append(f"always @* begin c = 0; for (i = 0; i < {n}; i = i + 1) c = c + ({a}[i] ^ ws[i]); end")
    m.output("count", bits, "c", registered=False)


def compressor_popcount(m: Module, n: int) -> None:
    """Ones of ``a XOR w`` over ``n`` bits as a compressor tree: full adders over three XORed pairs (a 6-input
    function per output: one LUT6 each), then 6:3 counters column by column until at most three rows remain,
    summed by one ternary add. What an HLS tool emits for ``popcount_bits`` written as a tree of 6-bit counts."""
    a, w = m.input("a", n), m.input("w", n)
    columns: dict[int, list[str]] = {0: []}
    for i in range(0, n - n % 3, 3):
        x = [f"({a}[{j}] ^ {w}[{j}])" for j in range(i, i + 3)]
        columns[0].append(m.wire(" ^ ".join(x), 1, signed=False, stem="fs"))
        majority = f"({x[0]} & {x[1]}) | ({x[0]} & {x[2]}) | ({x[1]} & {x[2]})"
        columns.setdefault(1, []).append(m.wire(majority, 1, signed=False, stem="fc"))
    columns[0] += [m.wire(f"{a}[{j}] ^ {w}[{j}]", 1, signed=False, stem="fx") for j in range(n - n % 3, n)]
    while max(len(bits) for bits in columns.values()) > 3:
        target = max(3, max(len(bits) for bits in columns.values()) // 2)
        merged: dict[int, list[str]] = {}
        for weight in sorted(columns):
            bits = list(columns[weight])
            while len(bits) > target and len(bits) >= 6:
                group, bits = bits[:6], bits[6:]
                count = m.wire(" + ".join(f"{{2'b0, {b}}}" for b in group), 3, signed=False, stem="gpc")
                for k in range(3):
                    merged.setdefault(weight + k, []).append(f"{count}[{k}]")
            while len(bits) > target and len(bits) >= 3:
                group, bits = bits[:3], bits[3:]
                count = m.wire(" + ".join(f"{{1'b0, {b}}}" for b in group), 2, signed=False, stem="fa")
                for k in range(2):
                    merged.setdefault(weight + k, []).append(f"{count}[{k}]")
            merged.setdefault(weight, []).extend(bits)
        columns = merged
    width = n.bit_length()
    rows = []
    for r in range(max(len(bits) for bits in columns.values())):
        parts = [
            f"({{{width}'d0, {bits[r]}}} << {weight})" for weight, bits in sorted(columns.items()) if r < len(bits)
        ]
        rows.append("(" + " | ".join(parts) + ")")
    m.output("count", width, " + ".join(rows), registered=False)


def popcount(m: Module, n: int) -> None:
    """Ones of an ``n``-bit word (``count_levels``: an input word's thermometer level count)."""
    a = m.input("a", n)
    bits = n.bit_length()
    m.lines.append(f"reg [{bits - 1}:0] c; integer i;")
    m.lines.append(f"always @* begin c = 0; for (i = 0; i < {n}; i = i + 1) c = c + {a}[i]; end")
    m.output("count", bits, "c", registered=False)


def swar_popcount(m: Module, n: int) -> None:
    """The release's ``compute_engine_64``: XOR, then the mask-and-shift (SWAR) popcount on 64-bit words."""
    if n != 64:
        raise ValueError("the release's SWAR popcount is 64 bits wide")
    a, w = m.input("a", 64), m.input("w", 64)
    m1, m2, m4 = 0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F
    x0 = m.wire(f"{a} ^ {w}", 64, signed=False)
    x1 = m.wire(f"{x0} - (({x0} >> 1) & 64'h{m1:x})", 64, signed=False)
    x2 = m.wire(f"({x1} & 64'h{m2:x}) + (({x1} >> 2) & 64'h{m2:x})", 64, signed=False)
    x3 = m.wire(f"({x2} + ({x2} >> 4)) & 64'h{m4:x}", 64, signed=False)
    x4 = m.wire(f"{x3} + ({x3} >> 8)", 64, signed=False)
    x5 = m.wire(f"{x4} + ({x4} >> 16)", 64, signed=False)
    x6 = m.wire(f"{x5} + ({x5} >> 32)", 64, signed=False)
    m.output("count", 7, f"{x6}[6:0]", registered=False)


def dot_sum(m: Module, taps: int, count_bits: int, acc_bits: int) -> None:
    """One lane's binary conv sum over ``taps`` taps: ``sum of n - 2 popcount`` over the taps inside the map.

    ``n`` (the valid channels, ``count_bits`` wide) is a run-time input; with ``acc_bits`` the sum is added
    to an accumulator (cleared by ``clear``: ImageNet's partial sums over its passes, the release's). Registered.
    """
    n = int_input(m, "n", count_bits, signed=False)
    inside = m.input("inside", taps)
    term_bits = count_bits + 2
    terms = []
    for t in range(taps):
        pc = int_input(m, f"pc{t}", count_bits, signed=False)
        term = m.wire(f"{n.name} - ({pc.name} <<< 1)", term_bits, stem="dot")
        terms.append(m.wire(f"{inside}[{t}] ? {term} : {const(0, term_bits)}", term_bits, stem="tap"))
    width = bits_for(taps * (1 << count_bits))
    total = m.wire(" + ".join(terms), width, stem="sum")
    if acc_bits:
        acc, clear = m.input("acc", acc_bits, signed=True), m.input("clear", 1)
        total = m.wire(f"({clear} ? {const(0, acc_bits)} : {acc}) + {total}", acc_bits, stem="acc")
        width = acc_bits
    m.output("sum", width, total, signed=True)


def adder_tree(m: Module, inputs: int, width: int, acc_bits: int) -> None:
    """A masked sum of ``inputs`` signed ``width``-bit values (the stems' table lookups), with an optional
    accumulator of ``acc_bits`` (both stems sum their three colours over three cycles). Registered."""
    inside = m.input("inside", inputs)
    terms = []
    for i in range(inputs):
        v = m.input(f"v{i}", width, signed=True)
        terms.append(m.wire(f"{inside}[{i}] ? {v} : {const(0, width)}", width, stem="tap"))
    out = max(acc_bits, width + math.ceil(math.log2(inputs)))
    total = m.wire(" + ".join(terms), out, stem="sum")
    if acc_bits:
        acc, clear = m.input("acc", acc_bits, signed=True), m.input("clear", 1)
        total = m.wire(f"({clear} ? {const(0, acc_bits)} : {acc}) + {total}", out, stem="acc")
    m.output("sum", out, total, signed=True)


def pg_gate(m: Module, sum_bits: int, threshold_bits: int) -> None:
    """The precision gate: ``z = 2 m + (m > T ? l : 0)`` (integers). Registered."""
    msb, lsb = m.input("m", sum_bits, signed=True), m.input("l", sum_bits, signed=True)
    threshold = m.input("t", threshold_bits, signed=True)
    width = sum_bits + 2
    z = m.wire(f"({msb} <<< 1) + (({msb} > {threshold}) ? {lsb} : {const(0, sum_bits)})", width, stem="z")
    m.output("z", width, z, signed=True)


# --------------------------------------------------------------------------- fixed-point datapath units


def mac_round_sat(m: Module, a_w: int, a_i: int, b_bits: int, c_w: int, c_i: int, out_w: int, out_i: int) -> None:
    """``out(a * b + c)`` with ``b`` an integer (a stem's BN on its conv sum): one multiply-add, one rounding."""
    a = fix_input(m, "a", a_w, a_i)
    b = int_input(m, "b", b_bits)
    c = fix_input(m, "c", c_w, c_i)
    total = registered(m, add(m, mul(m, a, b), c))
    y = round_sat(m, total, out_w, out_w - out_i)
    m.output("y", out_w, y.name, signed=True)


def pg_epilogue(
    m: Module, fm_w: int, fm_i: int, scale_w: int, scale_i: int, param_w: int, param_i: int, z_bits: int
) -> None:
    """CIFAR-10's per-lane epilogue of ``pg_conv_bn``: ``y = fm(scale z + shift)``; ``y = fm(y slope)``
    where ``y < 0``; ``x = fm(bn_scale (y + r) + bn_shift)`` with ``r`` the residual. Registered after each
    multiply-add and each rounding."""
    frac = fm_w - fm_i
    z = int_input(m, "z", z_bits)
    scale, shift = fix_input(m, "scale", scale_w, scale_i), fix_input(m, "shift", param_w, param_i)
    slope = fix_input(m, "slope", param_w, param_i)
    bn_scale, bn_shift = fix_input(m, "bn_scale", scale_w, scale_i), fix_input(m, "bn_shift", param_w, param_i)
    residual = fix_input(m, "r", fm_w, fm_i)
    y = registered(m, round_sat(m, registered(m, add(m, mul(m, scale, z), shift)), fm_w, frac))
    sloped = round_sat(m, registered(m, mul(m, y, slope)), fm_w, frac)
    y2 = Fix(m.reg(f"{y.name}[{fm_w - 1}] ? {sloped.name} : {y.name}", fm_w), fm_w, frac)
    t = add(m, y2, residual)
    x = round_sat(m, registered(m, add(m, mul(m, bn_scale, t), bn_shift)), fm_w, frac)
    m.output("x", fm_w, x.name, signed=True)


def imagenet_epilogue(
    m: Module, fm_w: int, fm_i: int, scale_w: int, scale_i: int, param_w: int, param_i: int, z_bits: int, s_bits: int
) -> None:
    """ImageNet's per-lane epilogue (``engines.h`` ``pg_conv_bn``): ``y = fm(scale z + shift)``, the slope on
    negatives, ``x = fm(bn_scale y + res_scale s + bn_shift)`` with ``s`` the shortcut's code sum (unsigned)."""
    frac = fm_w - fm_i
    z = int_input(m, "z", z_bits)
    scale, shift = fix_input(m, "scale", scale_w, scale_i), fix_input(m, "shift", param_w, param_i)
    slope = fix_input(m, "slope", param_w, param_i)
    bn_scale, res_scale = fix_input(m, "bn_scale", scale_w, scale_i), fix_input(m, "res_scale", scale_w, scale_i)
    bn_shift = fix_input(m, "bn_shift", param_w, param_i)
    s = int_input(m, "s", s_bits, signed=False)
    y = registered(m, round_sat(m, registered(m, add(m, mul(m, scale, z), shift)), fm_w, frac))
    sloped = round_sat(m, registered(m, mul(m, y, slope)), fm_w, frac)
    y2 = Fix(m.reg(f"{y.name}[{fm_w - 1}] ? {sloped.name} : {y.name}", fm_w), fm_w, frac)
    total = registered(m, add(m, mul(m, bn_scale, y2), mul(m, res_scale, s), bn_shift))
    x = round_sat(m, total, fm_w, frac)
    m.output("x", fm_w, x.name, signed=True)


def release_bn_lane(m: Module) -> None:
    """One lane of the release's ``bn_relu_shortcut`` (``FIX_FM_acc = ap_fixed<16,9>``, ``FIX_WT = <12,4>``):
    ``t0 = fm(2/3 t0)``, ``t0 = fm(t0 + t1/3)``, ``t0 = fm(bn0 t0 + b0)``, ``+ x_bias``, ``fm(t0 relu_w)`` on
    negatives, ``+ y_bias``, ``r = fm(r + t0)``, ``out = fm(bn1 r + b1)``; 2/3 and 1/3 are ``FIX_WT`` constants."""
    fm_w, frac, wt_w, wt_i = 16, 7, 12, 4
    t0 = int_input(m, "t0", 16)
    t1 = int_input(m, "t1", 16)
    residual = fix_input(m, "r", fm_w, fm_w - frac)
    bn0, b0 = fix_input(m, "bn0", wt_w, wt_i), fix_input(m, "b0", wt_w, wt_i)
    x_bias, y_bias = fix_input(m, "x_bias", wt_w, wt_i), fix_input(m, "y_bias", wt_w, wt_i)
    relu_w = fix_input(m, "relu_w", wt_w, wt_i)
    bn1, b1 = fix_input(m, "bn1", wt_w, wt_i), fix_input(m, "b1", wt_w, wt_i)
    two_thirds = Fix(const(171, wt_w), wt_w, 8)  # FIX_WT(2/3) = 171/256
    one_third = Fix(const(85, wt_w), wt_w, 8)  # FIX_WT(1/3) = 85/256
    a = registered(m, round_sat(m, mul(m, two_thirds, t0, constant=True), fm_w, frac))
    a = registered(m, round_sat(m, add(m, a, mul(m, one_third, t1, constant=True)), fm_w, frac))
    a = registered(m, round_sat(m, registered(m, add(m, mul(m, bn0, a), b0)), fm_w, frac))
    a = round_sat(m, add(m, a, x_bias), fm_w, frac)
    sloped = round_sat(m, registered(m, mul(m, a, relu_w)), fm_w, frac)
    a = Fix(m.reg(f"{a.name}[{fm_w - 1}] ? {sloped.name} : {a.name}", fm_w), fm_w, frac)
    a = registered(m, round_sat(m, add(m, a, y_bias), fm_w, frac))
    r = registered(m, round_sat(m, add(m, residual, a), fm_w, frac))
    out = round_sat(m, registered(m, add(m, mul(m, bn1, r), b1)), fm_w, frac)
    m.output("out", fm_w, out.name, signed=True)


def release_gate(m: Module) -> None:
    """The release's gate test in ``binary_conv3x3_tile``: ``msb_scale * comparator > threshold`` with
    ``msb_scale = FIX_WT(2/3)`` a constant, ``comparator`` an ``int16`` and ``threshold`` a ``FIX_WT``."""
    comparator = int_input(m, "comparator", 16)
    threshold = fix_input(m, "threshold", 12, 4)
    product = mul(m, Fix(const(171, 12), 12, 8), comparator, constant=True)
    lhs, rhs = align(m, product, max(product.frac, threshold.frac)), align(m, threshold, product.frac)
    m.output("open", 1, f"{lhs.name} > {rhs.name}", registered=True, signed=False)


def quantiser2(m: Module, fm_w: int, fm_i: int) -> None:
    """The 2-bit activation quantiser as three comparisons (``layers.h`` ``quantize2``): MSB = ``x >= 0``,
    LSB = ``x > Q_HIGH`` or ``x > Q_LOW`` (the largest ``fm_t`` values below 2/3 and -2/3). Registered."""
    frac = fm_w - fm_i
    x = m.input("x", fm_w, signed=True)
    q_high, q_low = math.floor(2 / 3 * 2**frac), math.floor(-2 / 3 * 2**frac)
    high = f"~{x}[{fm_w - 1}]"
    odd = f"({high} ? ({x} > {const(q_high, fm_w)}) : ({x} > {const(q_low, fm_w)}))"
    m.output("q", 2, f"{{{high}, {odd}}}", signed=False)


def release_quantiser2(m: Module, fm_w: int, fm_i: int) -> None:
    """The release's ``to2bit``: ``ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5)``, 1.5 a ``FIX_WT`` constant."""
    frac = fm_w - fm_i
    x = fix_input(m, "x", fm_w, fm_i)
    one = Fix(const(1 << frac, fm_w), fm_w, frac)
    s = add(m, x, one)
    scaled = Fix(m.wire(f"({s.name} <<< 1) + {s.name}", s.width + 2, stem="x15"), s.width + 2, frac + 1)
    rounded = m.wire(f"({scaled.name} + {const(1 << frac, scaled.width)}) >>> {frac + 1}", scaled.width - frac - 1)
    q = f"({rounded} < 0) ? 2'd0 : ({rounded} > 3) ? 2'd3 : {rounded}[1:0]"
    m.output("q", 2, q, signed=False)


def quantiser4(m: Module, fm_w: int, fm_i: int) -> None:
    """ImageNet's ``quantize4``: ``k = sat_[0,15]((15 raw + (16 << F)) >> (F + 1))`` on the raw value. Registered."""
    frac = fm_w - fm_i
    x = m.input("x", fm_w, signed=True)
    width = fm_w + 6
    k = m.wire(f"((({x} <<< 4) - {x}) + {const(16 << frac, width)}) >>> {frac + 1}", width - frac - 1, stem="k")
    m.output("k", 4, f"({k} < 0) ? 4'd0 : ({k} > 15) ? 4'd15 : {k}[3:0]", signed=False)


def code_planes(m: Module, width: int) -> None:
    """ImageNet's ``code_planes``: the 2-bit code's MSB and LSB planes from a 4-bit code's four bit planes."""
    b = [m.input(f"b{i}", width) for i in range(4)]
    m.output("msb", width, b[3], registered=False)
    lsb = f"(~{b[3]} & ({b[2]} | ({b[1]} & {b[0]}))) | ({b[3]} & {b[2]} & ({b[1]} | {b[0]}))"
    m.output("lsb", width, lsb, registered=False)


def shortcut_codes(m: Module) -> None:
    """ImageNet's shortcut for one lane (``compute_tile``): the lane's 4-bit codes at four positions, summed at
    stride 2 (the 2x2 block's), or ``4 k`` of the first at stride 1. Each code's four plane bits are the lane's bit
    of the shortcut's channel byte, picked in each bank and routed to the positions before (``mux`` units)."""
    stride2 = m.input("stride2", 1)
    codes = [m.input(f"k{p}", 4) for p in range(4)]
    total = m.wire(" + ".join(f"{{2'b0, {c}}}" for c in codes), 6, signed=False)
    m.output("s", 6, f"{stride2} ? {total} : {{{codes[0]}, 2'b0}}", signed=False)


def avgpool4(m: Module, fm_w: int, fm_i: int) -> None:
    """A 2x2 average pool of one lane (``avgpool_concat``): four ``fm_t`` summed, times 1/4, rounded to ``fm_t``."""
    frac = fm_w - fm_i
    values = [fix_input(m, f"x{i}", fm_w, fm_i) for i in range(4)]
    total = add(m, *values)
    quarter = Fix(total.name, total.width, frac + 2)  # times 1/4: the same bits, two more fractional
    m.output("y", fm_w, round_sat(m, quarter, fm_w, frac).name, signed=True)


def global_pool_lane(m: Module, fm_w: int, fm_i: int) -> None:
    """One lane of ``avgpool_fc``'s global pool: a 64-pixel sum (``fm_w + 6`` bits, cleared at each tile's
    first pixel) and its mean, ``fm_t(sum / 64)``."""
    frac = fm_w - fm_i
    x = m.input("x", fm_w, signed=True)
    first = m.input("first", 1)
    width = fm_w + 6
    m.clocked = True
    m.lines.append(f"reg signed [{width - 1}:0] acc;")
    m.lines.append(f"always @(posedge clk) acc <= ({first} ? {const(0, width)} : acc) + {x};")
    mean = round_sat(m, Fix("acc", width, frac + 6), fm_w, frac)
    m.output("mean", fm_w, mean.name, signed=True)


def accumulator(m: Module, in_bits: int, acc_bits: int) -> None:
    """A register ``acc += x`` (``acc_bits`` wide), cleared by ``clear`` (ImageNet's pooled sums, the release's
    8x8 pool)."""
    x, clear = m.input("x", in_bits, signed=True), m.input("clear", 1)
    m.clocked = True
    m.lines.append(f"reg signed [{acc_bits - 1}:0] acc;")
    m.lines.append(f"always @(posedge clk) acc <= ({clear} ? {const(0, acc_bits)} : acc) + {x};")
    m.output("sum", acc_bits, "acc", signed=True, registered=False)


def fc_mac(m: Module, w_w: int, w_i: int, x_w: int, x_i: int) -> None:
    """One class of the FC layer: ``acc += w * mean``, exact (``fc_acc_t``, ``w_w + x_w + 7`` bits)."""
    w, x = fix_input(m, "w", w_w, w_i), fix_input(m, "x", x_w, x_i)
    load = m.input("load", 1)
    bias = fix_input(m, "bias", w_w, w_i)
    product = mul(m, w, x)
    width = w_w + x_w + 7
    b = align(m, bias, product.frac)
    m.clocked = True
    m.lines.append(f"reg signed [{width - 1}:0] acc;")
    m.lines.append(f"always @(posedge clk) acc <= {load} ? {b.name} : acc + {product.name};")
    m.output("acc", width, "acc", signed=True, registered=False)


def logit_out(m: Module, acc_w: int, acc_frac: int, logit_w: int, logit_i: int) -> None:
    """``logit_t(acc).to_float()``: round and saturate the FC accumulator to ``logit_t``, then convert to
    IEEE single (sign, leading-one search, normalising shift, exponent). Registered."""
    acc = Fix(m.input("acc", acc_w, signed=True), acc_w, acc_frac)
    logit = registered(m, round_sat(m, acc, logit_w, logit_w - logit_i))
    w = logit_w
    mag = m.wire(f"{logit.name}[{w - 1}] ? -{logit.name} : {logit.name}", w, signed=False, stem="mag")
    lz_bits = w.bit_length()
    m.lines.append(f"reg [{lz_bits - 1}:0] lz; integer i;")
    m.lines.append(f"always @* begin lz = {w}; for (i = 0; i < {w}; i = i + 1) if ({mag}[i]) lz = {w - 1} - i; end")
    norm = m.wire(f"{mag} << lz", w, signed=False, stem="norm")
    mant = f"{{{norm}[{w - 2}:0], {max(0, 24 - w)}'b0}}" if w < 24 else f"{norm}[{w - 2}:{w - 24}]"
    exponent = m.wire(f"8'd{127 + logit_i - 1} - lz", 8, signed=False, stem="exp")
    word = f"({mag} == 0) ? 32'd0 : {{{logit.name}[{w - 1}], {exponent}, {mant}}}"
    m.output("f", 32, word, signed=False)


# --------------------------------------------------------------------------- multiplexers, wiring, control


def mux(m: Module, ways: int, width: int) -> None:
    """A ``ways``:1 multiplexer of ``width`` bits with a binary select (combinational)."""
    sel = m.input("sel", max(1, (ways - 1).bit_length()))
    d = m.input("d", ways * width)
    if ways & (ways - 1):  # select values beyond the last input read input 0
        expr = f"({sel} < {ways}) ? {d}[{sel} * {width} +: {width}] : {d}[{width - 1}:0]"
    else:
        expr = f"{d}[{sel} * {width} +: {width}]"
    m.output("y", width, expr, registered=False)


def read_column(m: Module, width: int) -> None:
    """``layers.h`` ``read_column`` (and ImageNet's stem window rows, ``stem_compute``): three bank words, each zeroed
    outside the map, rotated into window order by the window's first bank (three 3:1 multiplexers). Combinational."""
    bank = m.input("bank", 2)
    inside = m.input("inside", 3)
    banked = [m.wire(f"{inside}[{j}] ? {m.input(f'b{j}', width)} : {width}'d0", width, signed=False) for j in range(3)]
    for d in range(3):
        order = [banked[(j + d) % 3] for j in range(3)]
        rotated = f"({bank} == 0) ? {order[0]} : ({bank} == 1) ? {order[1]} : {order[2]}"
        m.output(f"o{d}", width, rotated, registered=False)


def place_tile(m: Module, lanes: int, word: int) -> None:
    """``layers.h`` ``place_tile``: ``lanes`` output bits placed at tile ``t`` of a ``word``-bit packed word,
    the other tiles kept (merged) or, at tile 0, cleared. Combinational."""
    tiles = word // lanes
    t = m.input("t", max(1, (tiles - 1).bit_length()))
    bits, old = m.input("bits", lanes), m.input("old", word)
    kept = m.wire(f"({t} == 0) ? {word}'d0 : {old}", word, signed=False)
    placed = m.wire(f"{{{word - lanes}'d0, {bits}}} << ({word - lanes} - {t} * {lanes})", word, signed=False)
    m.output("word", word, f"{kept} | {placed}", registered=False)


def stem_slot(m: Module, levels: int, windows: int) -> None:
    """A stem's table address of one tap: ``colour * (levels + 1) + on``, ``on`` the level count of the
    iteration's colour, picked from ``windows`` windows (3: one per colour, a 3:1 multiplexer, ImageNet's stem and
    CIFAR-10's row-major one; 1: the one window of CIFAR-10's colour-major stem). Combinational."""
    bits = levels.bit_length()
    colour = m.input("colour", 2)
    on = [m.input(f"on{c}", bits) for c in range(windows)]
    slot_bits = (3 * (levels + 1) - 1).bit_length()
    chosen = on[-1]
    for c in reversed(range(windows - 1)):
        chosen = f"({colour} == {c}) ? {on[c]} : {chosen}"
    chosen = m.wire(chosen, bits, signed=False)
    m.output("slot", slot_bits, f"{colour} * {levels + 1} + {chosen}", registered=False)


def counter(m: Module, width: int) -> None:
    """A loop counter: cleared at ``start``, ``+1`` per trip, wrapping at a run-time ``bound`` (``last`` out)."""
    start, step = m.input("start", 1), m.input("step", 1)
    bound = m.input("bound", width)
    m.clocked = True
    m.lines.append(f"reg [{width - 1}:0] q;")
    m.lines.append(f"wire last_w = q == {bound};")
    m.lines.append(f"always @(posedge clk) if ({start}) q <= 0; else if ({step}) q <= last_w ? {width}'d0 : q + 1'b1;")
    m.output("count", width, "q", registered=False)
    m.output("last", 1, "last_w", registered=False)


def register(m: Module, width: int) -> None:
    """A ``width``-bit register stage (flip-flops only)."""
    m.output("q", width, m.input("d", width), signed=False)


KINDS: dict[str, Callable[..., None]] = {
    f.__name__: f
    for f in (
        xor_popcount,
        slice_xor_popcount,
        compressor_popcount,
        popcount,
        swar_popcount,
        dot_sum,
        adder_tree,
        pg_gate,
        mac_round_sat,
        pg_epilogue,
        imagenet_epilogue,
        release_bn_lane,
        release_gate,
        quantiser2,
        release_quantiser2,
        quantiser4,
        code_planes,
        shortcut_codes,
        avgpool4,
        global_pool_lane,
        accumulator,
        fc_mac,
        logit_out,
        mux,
        read_column,
        place_tile,
        stem_slot,
        counter,
        register,
    )
}
"""Every unit kind: its Verilog generator, called with a fresh :class:`Module` and the unit's parameters."""


def build(unit: Unit) -> Module:
    module = Module(unit.module)
    KINDS[unit.kind](module, **dict(unit.params))
    return module
