"""FracBNN's element-wise work as fused CPU kernels (``fused.cc``): the precision gate and the quantiser.

:class:`fracbnn_lib.layers.PGBinaryConv2d` with the gate on spends a dozen element-wise passes per
layer around its two convolutions (the gate's comparison, the output select, the int16 sums kept for
the backward pass; in the backward pass the surrogate sigmoid, the masks, the threshold gradient and
the three gradients the convolutions need), and the 2-bit quantiser in front of it five more (clamp,
shift, scale, round, the level indices and the pass-through mask). On the CPU these run as fused
loops instead, one pass over memory each, on PyTorch's own OpenMP threads. The mathematics is
:class:`.two_bit_conv.TwoBitConv`'s and :func:`fracbnn_lib.quantizers.quant_sign`'s (their
docstrings give it); ``tests/test_fast_paths.py`` checks outputs and gradients against the
straightforward formulation.

The kernels are compiled on first use with the system's C++ compiler (``$CXX``, default ``g++``)
into the cache of :mod:`fracbnn_lib.kernels.native` (about a second). Where they cannot be built (no
compiler, no OpenMP), or with ``FRACBNN_FUSED=0`` in the environment, the PyTorch formulation runs
and a warning says so once. They apply to float32 CPU tensors, contiguous in NCHW or channels-last
order (the quantiser's of any shape).
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import warnings
from pathlib import Path

import torch

from . import native

SOURCE = Path(__file__).with_name("fused.cc")
VERSION = 2
"""What ``fracbnn_fused_version()`` returns for this module's calling convention."""


VECTOR_FLAGS = {
    "AVX2": ["-mavx2"],
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mprefer-vector-width=512"],
}
"""x86-64 vector extensions by the instruction set PyTorch's own CPU kernels use on this machine."""


def compile_flags() -> list[str]:
    """g++ flags: OpenMP (PyTorch's runtime), no FMA contraction (the forward stays bit-identical to
    PyTorch's), and the vector extensions PyTorch uses here (part of the cache key, so machines of
    different generations sharing a home folder each get their own build)."""
    flags = ["-O3", "-std=c++17", "-fPIC", "-shared", "-fopenmp", "-ffp-contract=off", "-fno-math-errno"]
    flags.append("-fno-trapping-math")
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags += VECTOR_FLAGS.get(torch.backends.cpu.get_cpu_capability(), [])
    return flags


def build() -> Path:
    """The kernels' library, compiled if not cached; :class:`.native.NativeBuildError` if it cannot be."""
    cxx = native.compiler()
    flags = compile_flags()
    name = "libfracbnn-fused-" + native.content_hash(
        "fracbnn fused kernels", [SOURCE.read_bytes(), native.compiler_identity(cxx), " ".join(flags).encode()]
    )
    return native.build_cached(
        name + ".so", lambda _work, target: [cxx, *flags, str(SOURCE), "-o", str(target)], "fused kernels"
    )


@functools.cache
def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None (with one warning) where they are switched off or cannot be built."""
    if os.environ.get("FRACBNN_FUSED", "1") == "0":
        return None
    try:
        lib = ctypes.CDLL(str(build()))
    except (native.NativeBuildError, OSError) as err:
        warnings.warn(f"fused kernels unavailable ({err}); using the PyTorch formulation", stacklevel=2)
        return None
    if lib.fracbnn_fused_version() != VERSION:
        warnings.warn("fused kernels of another version in the cache; using the PyTorch formulation", stacklevel=2)
        return None
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    lib.fracbnn_gate_forward.argtypes = [pointer] * 6 + [size, size, size, ctypes.c_int]
    lib.fracbnn_gate_backward.argtypes = [pointer] * 4 + [ctypes.c_int, ctypes.c_float] + [pointer] * 4
    lib.fracbnn_gate_backward.argtypes += [size, size, size, ctypes.c_int]
    lib.fracbnn_levels_to_planes.argtypes = [pointer] * 3 + [size, ctypes.c_int]
    lib.fracbnn_quantize.argtypes = [pointer, ctypes.c_float, ctypes.c_float] + [pointer] * 3 + [size, ctypes.c_int]
    gate = (lib.fracbnn_gate_forward, lib.fracbnn_gate_backward, lib.fracbnn_levels_to_planes)
    for function in (*gate, lib.fracbnn_quantize):
        function.restype = None
    return lib


def _inner(t: torch.Tensor) -> int | None:
    """1 for a channels-last tensor, H * W for a contiguous NCHW one, None for any other layout."""
    if t.is_contiguous():
        return t.shape[2] * t.shape[3]
    if t.is_contiguous(memory_format=torch.channels_last):
        return 1
    return None


def gate_applies(full: torch.Tensor, msb_sum: torch.Tensor, threshold: torch.Tensor) -> bool:
    """Whether the fused kernels take this layer call: float32 CPU tensors in one supported layout."""
    return (
        full.device.type == "cpu"
        and full.dtype == msb_sum.dtype == threshold.dtype == torch.float32
        and full.dim() == 4
        and full.stride() == msb_sum.stride()
        and _inner(full) is not None
        and library() is not None
    )


def gate_forward(
    full: torch.Tensor, msb_sum: torch.Tensor, threshold: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(out, M, L)`` for ``full = conv(x, w)`` and ``msb_sum = M = conv(sign(x), w)`` (N x C x H x W).

    ``out = msb + 1[msb - θ > 0] (full - msb)`` with ``msb = 2/3 M``; ``M`` and ``L = round(3 (full - msb))``
    as int16, same shape and layout. Requires :func:`gate_applies`.
    """
    lib = library()
    theta = threshold.detach().reshape(-1).contiguous()
    out = torch.empty_like(full)
    msb16 = torch.empty_like(full, dtype=torch.int16)
    lsb16 = torch.empty_like(full, dtype=torch.int16)
    lib.fracbnn_gate_forward(
        full.data_ptr(), msb_sum.data_ptr(), theta.data_ptr(), out.data_ptr(), msb16.data_ptr(), lsb16.data_ptr(),
        full.numel(), full.shape[1], _inner(full), torch.get_num_threads(),
    )  # fmt: skip
    return out, msb16, lsb16


def gate_backward(
    grad: torch.Tensor, msb16: torch.Tensor, lsb16: torch.Tensor, threshold: torch.Tensor, sparse: bool, scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(g_full, g_msb, g_in, dL/dθ)`` for ``g = dL/dout`` and the int16 sums kept by :func:`gate_forward`.

    With ``d = 2/3 M - θ`` and ``s = sigmoid(5 d)``: ``g_gate = s (1 - s) g L`` (zero where
    ``s < 1/2`` if ``sparse``), ``g_full = g 1[d > 0]``, ``g_msb = g - g_full + scale g_gate``,
    ``g_in = g_full + 2/3 g_msb``, ``dL/dθ = -scale sum_{N,H,W} g_gate`` (shaped like ``threshold``).
    """
    lib = library()
    grad = grad.contiguous(memory_format=torch.channels_last if _inner(msb16) == 1 else torch.contiguous_format)
    theta = threshold.detach().reshape(-1).contiguous()
    grad_full, grad_msb, grad_in = (torch.empty_like(grad) for _ in range(3))
    sums = torch.empty(theta.numel(), dtype=torch.float64)
    lib.fracbnn_gate_backward(
        grad.data_ptr(), msb16.data_ptr(), lsb16.data_ptr(), theta.data_ptr(), int(sparse), scale,
        grad_full.data_ptr(), grad_msb.data_ptr(), grad_in.data_ptr(), sums.data_ptr(),
        grad.numel(), grad.shape[1], _inner(grad), torch.get_num_threads(),
    )  # fmt: skip
    grad_theta = sums.mul_(-scale).to(threshold.dtype).view_as(threshold)
    return grad_full, grad_msb, grad_in, grad_theta


def levels_to_planes(levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 2-bit activation ``x = 2/3 k - 1`` and ``sign(x)`` from int8 levels ``k`` (any layout)."""
    lib = library()
    layout = torch.channels_last if levels.dim() == 4 and _inner(levels) == 1 else torch.contiguous_format
    levels = levels.contiguous(memory_format=layout)
    x = torch.empty_like(levels, dtype=torch.float32)
    sign = torch.empty_like(x)
    threads = torch.get_num_threads()
    lib.fracbnn_levels_to_planes(levels.data_ptr(), x.data_ptr(), sign.data_ptr(), levels.numel(), threads)
    return x, sign


def quantize_applies(x: torch.Tensor) -> bool:
    """Whether :func:`quantize` takes ``x``: a float32 CPU tensor, contiguous (or 4-D channels-last)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and (x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)))
        and library() is not None
    )


def quantize(
    x: torch.Tensor, step: float, clip: float, with_levels: bool, with_mask: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(y, k, inside)``: the quantiser's forward pass over ``x`` in one pass (shapes and layout of ``x``).

    ``k = round((clamp(x, -1, 1) + 1) / step)`` (round half to even), ``y = k * step - 1``, the same
    float operations in the same order as :func:`fracbnn_lib.quantizers.quant_sign`'s PyTorch
    formulation (bit-identical); ``k`` as int8 (``with_levels``, needs ``2 / step <= 127``) and the
    straight-through mask ``inside = 1[|x| < clip]`` as uint8 (``with_mask``), else None.
    Requires :func:`quantize_applies`.
    """
    lib = library()
    y = torch.empty_like(x)
    levels = torch.empty_like(x, dtype=torch.int8) if with_levels else None
    inside = torch.empty_like(x, dtype=torch.uint8) if with_mask else None
    lib.fracbnn_quantize(
        x.data_ptr(), step, clip, y.data_ptr(), levels.data_ptr() if with_levels else None,
        inside.data_ptr() if with_mask else None, x.numel(), torch.get_num_threads(),
    )  # fmt: skip
    return y, levels, inside
