"""Binary and precision-gated convolutions, stage switches and gating measurement."""

import torch
import torch.nn.functional as F

from fracbnn_lib import (
    BinaryConv2d,
    PGBinaryConv2d,
    fracbnn_resnet20,
    measure_gating,
    precision_gate,
    quant_sign,
    set_binary_weights,
    set_gating,
)


def _pg_1x1(weights, threshold, **kwargs):
    conv = PGBinaryConv2d(len(weights), 1, kernel_size=1, **kwargs)
    with torch.no_grad():
        conv.weight[:] = torch.tensor(weights).view(1, -1, 1, 1)
        conv.threshold.fill_(threshold)
    return conv


def test_pg_gate_hand_computed():
    # x = 2/3 m + 1/3 l per channel; w = sign(W) = (+1, -1, +1)
    conv = _pg_1x1([0.3, -2.0, 0.7], threshold=0.5)
    x = torch.tensor([[1.0, -1.0, -1 / 3], [1 / 3, 1 / 3, -1.0]]).view(2, 3, 1, 1)
    out = conv(x).flatten()
    # pixel 0: msb = 2/3 * (1 + 1 - 1) = 2/3 > 0.5 -> full = 1 + 1 - 1/3 = 5/3
    # pixel 1: msb = 2/3 * (1 - 1 - 1) = -2/3 <= 0.5 -> msb only
    assert torch.allclose(out, torch.tensor([5 / 3, -2 / 3]))
    assert conv.gate_mask(x).flatten().tolist() == [True, False]


def test_gate_off_is_the_binary_conv_and_stage1_uses_float_weights():
    torch.manual_seed(0)
    pg = PGBinaryConv2d(8, 4, 3, padding=1, gating=False)
    plain = BinaryConv2d(8, 4, 3, padding=1)
    plain.weight.data.copy_(pg.weight.data)
    x = quant_sign(torch.randn(2, 8, 5, 5))
    assert torch.equal(pg(x), plain(x))
    assert torch.equal(pg(x), F.conv2d(x, torch.sign(pg.weight), padding=1))
    set_binary_weights(pg, False)
    assert torch.allclose(pg(x), F.conv2d(x, pg.weight, padding=1), atol=1e-6)
    assert pg.gate_mask(x).all()


def test_gate_on_matches_the_formula_with_float_weights():
    torch.manual_seed(1)
    pg = PGBinaryConv2d(6, 5, 3, padding=1, stride=2, binary_weights=False)
    pg.threshold.data.uniform_(-1, 1)
    x = quant_sign(torch.randn(3, 6, 7, 7))
    msb = F.conv2d(torch.sign(x), pg.weight, padding=1, stride=2) * 2 / 3
    full = F.conv2d(x, pg.weight, padding=1, stride=2)
    mask = (msb > pg.threshold).float()
    assert torch.allclose(pg(x), (1 - mask) * msb + mask * full, atol=1e-6)
    assert 0 < mask.mean() < 1


def test_gate_gradients_sparse_and_dense():
    msb = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    theta = torch.zeros(1)
    s = torch.sigmoid(5 * msb.detach())
    ds = 5 * s * (1 - s)
    for sparse, passes in ((True, torch.tensor([0.0, 1.0, 1.0])), (False, torch.ones(3))):
        msb.grad = None
        mask = precision_gate(msb, theta, sparse=sparse)
        assert mask.tolist() == [0.0, 0.0, 1.0]
        mask.sum().backward()
        assert torch.allclose(msb.grad, ds * passes)


def test_threshold_receives_gradient_only_with_the_gate_on():
    torch.manual_seed(2)
    pg = PGBinaryConv2d(4, 3, 3, padding=1)
    pg.threshold.data.fill_(0.0)
    x = quant_sign(torch.randn(2, 4, 6, 6)).requires_grad_()
    pg(x).square().sum().backward()
    assert pg.threshold.grad is not None and pg.threshold.grad.abs().sum() > 0
    pg.zero_grad()
    set_gating(pg, False)
    pg(x).square().sum().backward()
    assert pg.threshold.grad is None or torch.all(pg.threshold.grad == 0)


def test_stage_switches_reach_every_conv():
    model = fracbnn_resnet20(binary_weights=False, gating=False)
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    pgs = [m for m in convs if isinstance(m, PGBinaryConv2d)]
    assert len(convs) == 19 and len(pgs) == 18
    assert not any(c.binary_weights for c in convs) and not any(p.gating for p in pgs)
    set_binary_weights(model, True)
    set_gating(model, True)
    assert all(c.binary_weights for c in convs) and all(p.gating for p in pgs)


def test_measure_gating_counts_without_module_state():
    torch.manual_seed(3)
    model = fracbnn_resnet20().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 3, 32, 32)
    with measure_gating(model) as stats:
        model(x[:3])
        model(x[3:])
    assert len(stats.per_layer()) == 18
    assert stats.total["layer1.0.conv1"] == 4 * 16 * 32 * 32
    assert stats.total["layer3.2.conv2"] == 4 * 64 * 8 * 8
    assert 0.0 < stats.sparsity < 1.0
    assert abs(stats.effective_activation_bits - (2 - stats.sparsity)) < 1e-12
    assert list(stats.table().columns) == ["layer", "outputs", "outputs_2bit", "sparsity"]
    # hooks are removed and nothing was written to the modules
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with measure_gating(set_gating(model, False)) as off:
        model(x)
    assert off.sparsity == 0.0


def test_measure_gating_accumulates_like_one_big_batch():
    torch.manual_seed(4)
    model = fracbnn_resnet20().eval()
    x = torch.rand(6, 3, 32, 32)
    with measure_gating(model) as split:
        model(x[:2])
        model(x[2:])
    with measure_gating(model) as whole:
        model(x)
    assert split.high == whole.high and split.total == whole.total
