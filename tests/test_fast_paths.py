"""Fast training paths against the straightforward formulation of the paper's mathematics.

The reference functions below compute FracBNN the plain way (the release's formulation: sign and
quantiser STEs as autograd functions, the gate through ``sigmoid(5 (msb - θ)) > 0.5``, two
convolutions per gated layer, RPReLU from its three sub-modules, the input conv over the
materialised thermometer code). Every optimised path must give the same forward values and the
same (pseudo-)gradients: bit for bit where the arithmetic is the same, else within 1e-5
relative in float32 and 1e-10 in float64 (only the order of additions differs).
"""

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from fracbnn_lib import PGBinaryConv2d, RPReLU, fracbnn_resnet20, measure_gating, quant_sign, sign_ste
from fracbnn_lib import encoding as encoding_module
from fracbnn_lib.encoding import thermometer_conv2d, thermometer_encode
from fracbnn_lib.kernels import fused
from fracbnn_lib.layers import BinaryConv2d, ThermometerConv2d
from fracbnn_lib.models.cifar10 import BasicBlock
from fracbnn_lib.quantizers import quant_sign_with_levels
from fracbnn_lib.training import GATING_REG, gating_penalty

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


# --------------------------------------------------------------------------- the straightforward formulation


class RefSignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 1.3).to(grad.dtype)


class RefQuantSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bits):
        ctx.save_for_backward(x)
        step = 2.0 / (2**bits - 1)
        return torch.round((x.clamp(-1.0, 1.0) + 1.0) / step) * step - 1.0

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 1.0).to(grad.dtype), None


class RefGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, sparse):
        ctx.save_for_backward(s)
        ctx.sparse = sparse
        return (s > 0.5).to(s.dtype)

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return (grad * (s >= 0.5).to(grad.dtype) if ctx.sparse else grad), None


def ref_weight(conv):
    return RefSignSTE.apply(conv.weight) if conv.binary_weights else conv.weight


def ref_pg(conv, x):
    """``msb = 2/3 conv(sign(x), w)``, ``full = conv(x, w)``, ``out = msb + gate * (full - msb)``."""
    w = ref_weight(conv)

    def conv2d(inp):
        return F.conv2d(inp, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    full = conv2d(x)
    if not conv.gating:
        return full
    msb = conv2d(RefSignSTE.apply(x)) * (2.0 / 3.0)
    mask = RefGate.apply(torch.sigmoid(5.0 * (msb - conv.threshold)), conv.sparse_bp)
    return msb + mask * (full - msb)


def ref_rprelu(act, x):
    return act.prelu(x + act.shift_x.bias) + act.shift_y.bias


def ref_encode(x, resolution=8):
    levels = round(255 / resolution)
    on = torch.round(torch.round(x.clamp(0.0, 1.0) * 255.0) / resolution)
    steps = torch.arange(levels, dtype=x.dtype).view(1, 1, levels, 1, 1)
    code = (steps < on.unsqueeze(2)).to(x.dtype) * 2.0 - 1.0
    return code.reshape(x.shape[0], -1, *x.shape[2:])


def ref_block(block, x):
    x = block.bn3(
        ref_rprelu(block.rprelu1, block.bn1(ref_pg(block.conv1, RefQuantSign.apply(x, 2)))) + block.shortcut(x)
    )
    return block.bn4(ref_rprelu(block.rprelu2, block.bn2(ref_pg(block.conv2, RefQuantSign.apply(x, 2)))) + x)


def ref_resnet20(model, images):
    conv1 = model.conv1
    code = ref_encode(images, model.encoder.resolution)
    out = model.bn1(F.conv2d(code, ref_weight(conv1), None, conv1.stride, conv1.padding))
    for stage in (model.layer1, model.layer2, model.layer3):
        for block in stage:
            out = ref_block(block, out)
    return model.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


# --------------------------------------------------------------------------- helpers


def relative(a, b, floor=0.0):
    """``max |a - b| / max(max |b|, floor)``; ``floor`` keeps zero gradients from dividing noise by noise."""
    a, b = a.detach(), b.detach()
    scale = max(float(b.abs().max()), floor)
    return float((a - b).abs().max()) / scale if scale > 0 else float((a - b).abs().max())


def forward_backward(module, function, inputs, grad_seed=0):
    """Output, input gradients and parameter gradients of ``function(module, *inputs)`` for a fixed random grad."""
    module.zero_grad(set_to_none=True)
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = function(module, *inputs)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype)
    out.backward(grad)
    params = {name: p.grad for name, p in module.named_parameters()}
    return out.detach(), [t.grad for t in inputs if t.is_floating_point()], params


def assert_same(fast, ref, dtype, exact=False):
    (out_f, inputs_f, params_f), (out_r, inputs_r, params_r) = fast, ref
    check = (lambda a, b: torch.equal(a, b)) if exact else (lambda a, b: relative(a, b) <= TOLERANCE[dtype])
    assert check(out_f, out_r), f"forward differs by {relative(out_f, out_r):.2e}"
    for a, b in zip(inputs_f, inputs_r, strict=True):
        assert (a is None) == (b is None)
        assert a is None or check(a, b), f"input gradient differs by {relative(a, b):.2e}"
    assert params_f.keys() == params_r.keys()
    floor = max((float(b.abs().max()) for b in params_r.values() if b is not None), default=0.0)
    for name, a in params_f.items():
        b = params_r[name]
        assert (a is None) == (b is None), name
        if a is not None:
            error = relative(a, b, floor)
            assert torch.equal(a, b) if exact else error <= TOLERANCE[dtype], f"{name} gradient differs by {error:.2e}"


# --------------------------------------------------------------------------- quantisers


def test_sign_ste_is_the_reference_bit_for_bit():
    x = torch.cat([torch.randn(1000) * 2, torch.tensor([0.0, -0.0, 1.3, -1.3, 1.2999999, -1.2999999, 1.3000001])])
    for dtype in (torch.float32, torch.float64):
        xd = x.to(dtype)
        fast = forward_backward(torch.nn.Module(), lambda _, t: sign_ste(t), [xd])
        ref = forward_backward(torch.nn.Module(), lambda _, t: RefSignSTE.apply(t), [xd])
        assert_same(fast, ref, dtype, exact=True)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_quant_sign_is_the_reference_bit_for_bit(bits):
    edges = torch.tensor([-1.0, 1.0, 0.0, -1 / 3, 1 / 3, 2 / 3, -2 / 3, 0.9999999, -0.9999999, 1.0000001, 5.0, -5.0])
    x = torch.cat([torch.randn(4000) * 1.5, edges, torch.linspace(-1.2, 1.2, 2401)])
    for dtype in (torch.float32, torch.float64):
        xd = x.to(dtype)
        fast = forward_backward(torch.nn.Module(), lambda _, t: quant_sign(t, bits), [xd])
        ref = forward_backward(torch.nn.Module(), lambda _, t: RefQuantSign.apply(t, bits), [xd])
        assert_same(fast, ref, dtype, exact=True)
        if bits <= 7:
            with_levels = forward_backward(torch.nn.Module(), lambda _, t: quant_sign_with_levels(t, bits)[0], [xd])
            assert_same(with_levels, ref, dtype, exact=True)


def test_quant_sign_levels_reproduce_the_values():
    x = torch.randn(3, 5, 7, 7, requires_grad=True)
    y, levels = quant_sign_with_levels(x)
    assert levels.dtype == torch.int8 and not levels.requires_grad and levels.shape == x.shape
    assert torch.equal(levels.to(torch.float32) * (2.0 / 3.0) - 1.0, y.detach())
    assert set(levels.unique().tolist()) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="bits"):
        quant_sign_with_levels(x, bits=8)


def test_quant_sign_keeps_a_byte_mask_not_the_input():
    y = quant_sign(torch.randn(4, 8, requires_grad=True))
    (mask,) = y.grad_fn.saved_tensors
    assert mask.dtype == torch.uint8


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rprelu_matches_its_three_sub_modules(dtype):
    torch.manual_seed(0)
    act = RPReLU(6).to(dtype)
    with torch.no_grad():
        act.shift_x.bias.uniform_(-0.5, 0.5)
        act.shift_y.bias.uniform_(-0.5, 0.5)
        act.prelu.weight.uniform_(-0.5, 1.0)  # negative slopes too
    x = torch.randn(4, 6, 5, 5, dtype=dtype)
    x[0, :, 0, 0] = -act.shift_x.bias.detach().flatten()  # z = 0 exactly: PReLU takes the slope branch
    fast = forward_backward(act, lambda m, t: m(t), [x])
    ref = forward_backward(act, ref_rprelu, [x])
    assert torch.equal(fast[0], ref[0])
    assert_same(fast, ref, dtype)


# --------------------------------------------------------------------------- the precision-gated conv


def _pg_case(dtype, binary, gating, sparse, stride):
    torch.manual_seed(int(binary) + 2 * int(gating) + 4 * int(sparse) + 8 * stride)
    conv = PGBinaryConv2d(6, 5, 3, stride=stride, padding=1, binary_weights=binary, gating=gating, sparse_bp=sparse)
    conv = conv.to(dtype)
    with torch.no_grad():
        conv.threshold.uniform_(-1.5, 1.5)
    return conv


INPUT_KINDS = ("two_bit", "two_bit_levels", "off_grid")


def _pg_input(kind, dtype):
    x = torch.randn(3, 6, 9, 9, generator=torch.Generator().manual_seed(7), dtype=dtype)
    if kind == "off_grid":
        return x * 2  # beyond the sign STE's clip: the general input-gradient path
    return RefQuantSign.apply(x, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("gating", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_pg_conv_matches_the_reference(dtype, binary, gating, sparse, stride, kind):
    conv = _pg_case(dtype, binary, gating, sparse, stride)
    x = _pg_input(kind, dtype)
    if kind == "two_bit_levels":
        levels = torch.round((x + 1.0) * 1.5).to(torch.int8)

        def fast_fn(m, t):
            return m(t, levels=levels)
    else:

        def fast_fn(m, t):
            return m(t)

    fast = forward_backward(conv, fast_fn, [x])
    ref = forward_backward(conv, ref_pg, [x])
    assert torch.equal(fast[0], ref[0]), "forward values must be the reference's, bit for bit"
    assert_same(fast, ref, dtype)
    if gating:
        assert 0 < float((fast[0] != F.conv2d(x, ref_weight(conv).detach(), None, stride, 1)).float().mean()) < 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("gating", [False, True])
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_pg_conv_fused_node_matches_the_library_readable_reference(dtype, binary, gating, kind):
    """forward (TwoBitConv) == readable_forward (precision_gate, autograd), values and gradients."""
    conv = _pg_case(dtype, binary, gating, True, 1)
    x = _pg_input(kind, dtype)
    fast = forward_backward(conv, lambda m, t: m(t), [x])
    readable = forward_backward(conv, lambda m, t: m.readable_forward(t), [x])
    assert torch.equal(fast[0], readable[0]), "forward values must be the reference's, bit for bit"
    assert_same(fast, readable, dtype)
    assert_same(readable, forward_backward(conv, ref_pg, [x]), dtype)  # and the test's own formulation


def test_pg_conv_gate_ties_pass_the_sparse_gradient():
    # msb == θ exactly: the gate stays closed (sigmoid = 0.5 is not > 0.5), yet the sparse
    # pseudo-gradient passes (0.5 >= 0.5), as in the release
    conv = PGBinaryConv2d(3, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0, 1.0]).view(1, 3, 1, 1))
        conv.threshold.fill_(2.0 / 3.0)
    x = torch.tensor([1.0, -1 / 3, -1 / 3, 1 / 3, 1 / 3, 1.0]).view(2, 3, 1, 1)
    x = RefQuantSign.apply(x, 2)  # pixel 0: msb = 2/3 (1 + 1 - 1) = 2/3 == θ; pixel 1: msb = 2/3 (1 - 1 + 1)
    for sparse in (True, False):
        conv.sparse_bp = sparse
        fast = forward_backward(conv, lambda m, t: m(t), [x])
        ref = forward_backward(conv, ref_pg, [x])
        assert torch.equal(fast[0], ref[0])
        assert_same(fast, ref, torch.float32)
        assert fast[2]["threshold"].abs().sum() > 0


def test_pg_forward_decisions_are_what_measure_gating_counts():
    torch.manual_seed(11)
    conv = PGBinaryConv2d(8, 8, 3, padding=1)
    with torch.no_grad():
        conv.threshold.uniform_(-2, 2)
    x = quant_sign(torch.randn(4, 8, 10, 10))
    out = conv(x)
    w = torch.sign(conv.weight.detach())
    msb = F.conv2d(torch.sign(x), w, padding=1) * (2.0 / 3.0)
    full = F.conv2d(x, w, padding=1)
    with measure_gating(conv) as stats:
        conv(x)
    mask = conv.gate_mask(x)
    assert stats.high[""] == int(mask.sum()) and 0 < mask.float().mean() < 1
    assert torch.equal(out[~mask], msb[~mask])
    assert torch.allclose(out[mask], full[mask], rtol=0, atol=1e-6)


def test_pg_conv_keeps_compact_tensors_for_backward():
    conv = PGBinaryConv2d(8, 4, 3, padding=1)
    q, levels = quant_sign_with_levels(torch.randn(2, 8, 6, 6, requires_grad=True))
    kept = conv(q, levels=levels).grad_fn.saved_tensors
    assert [t.dtype for t in kept] == [torch.int8, torch.float32, torch.float32, torch.int16, torch.int16]
    kept = conv(q).grad_fn.saved_tensors  # levels derived from a 2-bit x
    assert kept[0].dtype == torch.int8
    conv.binary_weights = False  # float weights: msb and full - msb as floats
    assert [t.dtype for t in conv(q).grad_fn.saved_tensors][3:] == [torch.float32, torch.float32]
    off_grid = conv(torch.randn(2, 8, 6, 6, requires_grad=True)).grad_fn.saved_tensors
    assert off_grid[0].dtype == torch.float32


def test_pg_conv_without_grad_matches_and_keeps_nothing():
    conv = _pg_case(torch.float32, True, True, True, 1)
    x = quant_sign(torch.randn(2, 6, 7, 7))
    with torch.no_grad():
        out = conv(x)
    assert out.grad_fn is None
    assert torch.equal(out, ref_pg(conv, x).detach())


# --------------------------------------------------------------------------- the fused gate kernel


def _gated_layer_step(layout, sparse, threads=2):
    torch.manual_seed(5)
    conv = PGBinaryConv2d(16, 16, 3, padding=1, sparse_bp=sparse).to(memory_format=layout)
    with torch.no_grad():
        conv.threshold.uniform_(-1.5, 0.5)
    x = torch.randn(4, 16, 12, 12).contiguous(memory_format=layout).requires_grad_()
    q, levels = quant_sign_with_levels(x)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = conv(q, levels=levels)
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
        out.backward(grad.contiguous(memory_format=layout))
    finally:
        torch.set_num_threads(previous)
    return out.detach(), x.grad, conv.weight.grad, conv.threshold.grad


def test_the_fused_kernels_are_built_and_taken(monkeypatch):
    assert fused.library() is not None, "g++ with OpenMP builds the kernels (CI has it)"
    calls = []
    for name in ("quantize", "gate_forward", "gate_backward"):
        original = getattr(fused, name)
        monkeypatch.setattr(fused, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    _gated_layer_step(torch.contiguous_format, True)
    assert calls == ["quantize", "gate_forward", "gate_backward"]


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_gate_matches_the_pytorch_formulation(monkeypatch, layout, sparse, threads):
    with_kernels = _gated_layer_step(layout, sparse, threads)
    monkeypatch.setattr(fused, "gate_applies", lambda *args: False)
    plain = _gated_layer_step(layout, sparse, threads)
    assert torch.equal(with_kernels[0], plain[0]), "the fused forward is PyTorch's arithmetic, bit for bit"
    for a, b in zip(with_kernels[1:], plain[1:], strict=True):
        assert a.shape == b.shape and (a - b).abs().max() <= 1e-5 * b.abs().max()
    assert with_kernels[3].abs().sum() > 0


def _quantizer_outputs(x, bits, with_levels):
    """``(y, levels, saved mask, dL/dx)`` of the quantiser on ``x`` (levels empty unless asked for)."""
    x = x.detach().requires_grad_()
    y, levels = quant_sign_with_levels(x, bits) if with_levels else (quant_sign(x, bits), torch.empty(0))
    (mask,) = y.grad_fn.saved_tensors
    y.backward(torch.linspace(-1.0, 1.0, y.numel()).view(y.shape))
    return y.detach(), levels, mask, x.grad


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("bits", [1, 2, 3, 7])
@pytest.mark.parametrize("with_levels", [False, True], ids=["values", "levels"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_quantizer_matches_the_pytorch_formulation(monkeypatch, layout, bits, with_levels, threads):
    grid = torch.arange(-(2**bits), 2**bits + 1) / (2**bits - 1)  # grid values and the midpoints between them
    x = torch.cat([torch.randn(6 * 7 * 9 * 11 - grid.numel() - 4) * 1.5, grid, torch.tensor([1.0, -1.0, 0.0, -0.0])])
    x = x.view(6, 7, 9, 11).contiguous(memory_format=layout)
    assert fused.quantize_applies(x)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with_kernel = _quantizer_outputs(x, bits, with_levels)
        monkeypatch.setattr(fused, "quantize_applies", lambda *args: False)
        plain = _quantizer_outputs(x, bits, with_levels)
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(with_kernel, plain, strict=True):
        assert a.dtype == b.dtype and a.stride() == b.stride() and torch.equal(a, b)
    assert with_kernel[0].unique().numel() == 2**bits
    with torch.no_grad():  # nothing kept without a gradient to compute
        assert quant_sign(x.requires_grad_(), bits).grad_fn is None


def test_fused_kernels_fall_back_with_a_warning_when_they_cannot_be_built(monkeypatch, tmp_path):
    monkeypatch.setenv("FRACBNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler-fracbnn")
    fused.library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="fused kernels unavailable .*'no-such-compiler-fracbnn' not found"):
            assert fused.library() is None
        assert not fused.quantize_applies(torch.zeros(3))
        conv = _pg_case(torch.float32, True, True, True, 1)
        x = _pg_input("two_bit", torch.float32)
        assert_same(forward_backward(conv, lambda m, t: m(t), [x]), forward_backward(conv, ref_pg, [x]), torch.float32)
        fused.library.cache_clear()
        monkeypatch.setenv("FRACBNN_FUSED", "0")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # switched off on purpose: no warning
            assert fused.library() is None
    finally:
        fused.library.cache_clear()


# --------------------------------------------------------------------------- thermometer input layer


def test_thermometer_encode_is_the_reference_formula():
    k = torch.arange(256, dtype=torch.float32) / 255
    images = torch.cat([torch.rand(3, 3, 8, 8), k.view(1, 1, 16, 16).expand(3, 3, 16, 16)[:, :, :8, :8]])
    images[0, 0, 0, :3] = torch.tensor([-0.2, 1.3, 0.5])
    for resolution in (1, 4, 8, 16, 32):
        for dtype in (torch.float32, torch.float64):
            assert torch.equal(
                thermometer_encode(images.to(dtype), resolution), ref_encode(images.to(dtype), resolution)
            )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "resolution"),
    [(3, 1, 1, 8), (3, 2, 1, 8), (1, 1, 0, 16), (3, 2, 0, 32), (2, 1, 1, 64), (3, 1, 2, 8)],
)
def test_thermometer_conv_matches_the_encoded_conv(dtype, kernel, stride, padding, resolution):
    levels = round(255 / resolution)
    generator = torch.Generator().manual_seed(kernel * 100 + stride * 10 + padding)
    images = torch.rand(3, 3, 9, 8, generator=generator, dtype=dtype)
    images[0, :, 0, 0] = torch.tensor([0.0, 1.0, 20 / 255], dtype=dtype)
    weight = torch.randn(5, 3 * levels, kernel, kernel, generator=generator, dtype=dtype)
    module = torch.nn.Module()
    module.weight = torch.nn.Parameter(weight)

    def fast_fn(m, t):
        return thermometer_conv2d(t, m.weight, resolution, stride, padding)

    def ref_fn(m, t):
        return F.conv2d(ref_encode(t, resolution), m.weight, None, stride, padding)

    assert_same(forward_backward(module, fast_fn, [images]), forward_backward(module, ref_fn, [images]), dtype)


def test_thermometer_conv_chunks_give_the_same_result(monkeypatch):
    images = torch.rand(5, 3, 8, 8)
    weight = torch.randn(4, 96, 3, 3, requires_grad=True)
    grad = torch.randn(5, 4, 4, 4)
    out = thermometer_conv2d(images, weight, 8, 2, 1)
    (whole,) = torch.autograd.grad(out, weight, grad)
    monkeypatch.setattr(encoding_module, "CHUNK_BYTES", 1)  # one image per chunk
    chunked_out = thermometer_conv2d(images, weight, 8, 2, 1)
    (chunked,) = torch.autograd.grad(chunked_out, weight, grad)
    assert torch.equal(chunked_out, out)
    assert relative(chunked, whole) < 1e-6


def test_thermometer_conv2d_module_and_errors():
    torch.manual_seed(5)
    stem = ThermometerConv2d(96, 16, 3, padding=1)
    plain = BinaryConv2d(96, 16, 3, padding=1)
    plain.weight.data.copy_(stem.weight.data)
    images = torch.rand(2, 3, 8, 8)
    for binary in (True, False):
        stem.binary_weights = plain.binary_weights = binary
        assert relative(stem(images), plain(thermometer_encode(images))) < 1e-6
    with pytest.raises(ValueError, match="thermometer_conv2d needs images"):
        stem(thermometer_encode(images))  # the code instead of the images
    with pytest.raises(ValueError, match="multiple of the 32 thermometer levels"):
        ThermometerConv2d(95, 16, 3)


# --------------------------------------------------------------------------- whole blocks and models


@pytest.mark.parametrize("stride", [1, 2])
def test_basic_block_matches_the_reference(stride):
    torch.manual_seed(stride)
    block = BasicBlock(8, 8 * stride, stride).double()
    for conv in (block.conv1, block.conv2):
        conv.threshold.data.uniform_(-1, 1)
    x = torch.randn(3, 8, 8, 8, dtype=torch.float64)
    fast = forward_backward(copy.deepcopy(block), lambda m, t: m(t), [x])
    ref = forward_backward(copy.deepcopy(block), ref_block, [x])
    assert_same(fast, ref, torch.float64)


@pytest.mark.parametrize(("binary", "gating"), [(False, False), (True, False), (True, True), (False, True)])
def test_resnet20_step_matches_the_reference(binary, gating):
    """Logits, and every parameter's gradient of the training loss, for each stage of the recipe."""
    torch.manual_seed(3)
    model = fracbnn_resnet20(binary_weights=binary, gating=gating).double()
    for name, p in model.named_parameters():
        # random thresholds and RPReLU biases: with binary weights a BN output is often exactly 0, and
        # PReLU's branch at 0 would then depend on the rounding of the BN mean (i.e. on memory layout)
        if name.endswith(("threshold", "bias")) and p.dim() == 4:
            p.data.uniform_(-0.5, 0.5)
    images = torch.rand(4, 3, 16, 16, dtype=torch.float64)  # any size works; 16 x 16 keeps the test fast
    labels = torch.tensor([0, 3, 5, 9])

    def loss(m, forward):
        logits = forward(m, images)
        value = F.cross_entropy(logits, labels) + (GATING_REG * gating_penalty(m) if gating else 0)
        return logits, value

    results = []
    for forward in (lambda m, t: m(t), ref_resnet20):
        m = copy.deepcopy(model)
        logits, value = loss(m, forward)
        value.backward()
        results.append((logits.detach(), {n: p.grad for n, p in m.named_parameters()}))
    (fast_logits, fast_grads), (ref_logits, ref_grads) = results
    assert relative(fast_logits, ref_logits) < 1e-10
    floor = max(float(g.abs().max()) for g in ref_grads.values() if g is not None)
    for name, grad in fast_grads.items():
        ref = ref_grads[name]
        assert (grad is None) == (ref is None), name
        assert grad is None or relative(grad, ref, floor) < 1e-10, f"{name}: {relative(grad, ref, floor):.2e}"


def test_resnet20_step_is_deterministic_on_cpu():
    grads = []
    for _ in range(2):
        torch.manual_seed(0)
        model = fracbnn_resnet20()
        F.cross_entropy(model(torch.rand(6, 3, 16, 16)), torch.arange(6)).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))
