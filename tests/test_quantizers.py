"""Quantisers: forward values and straight-through gradients against hand-computed cases."""

import pytest
import torch

from fracbnn_lib import LearnableBias, RPReLU, quant_sign, sign_ste


def test_sign_ste_forward_and_clipped_gradient():
    x = torch.tensor([-2.0, -1.3, -1.29, -0.5, 0.0, 0.5, 1.29, 1.3, 2.0], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1, -1, -1, -1, 0, 1, 1, 1, 1]
    y.backward(torch.arange(1.0, 10.0))
    assert x.grad.tolist() == [0, 0, 3, 4, 5, 6, 7, 0, 0]


def test_quant_sign_two_bit_levels():
    x = torch.tensor([-5.0, -1.0, -0.7, -0.5, -0.2, 0.0, 0.2, 0.5, 0.7, 1.0, 3.0])
    third = 1.0 / 3.0
    expected = [-1, -1, -1, -third, -third, third, third, third, 1, 1, 1]
    # 0.0 -> (0 + 1) * 1.5 = 1.5 rounds half to even -> level 2 -> +1/3
    assert torch.allclose(quant_sign(x), torch.tensor(expected))
    levels = torch.unique(quant_sign(torch.linspace(-2, 2, 101)))
    assert torch.allclose(levels, torch.tensor([-1.0, -third, third, 1.0]))


def test_quant_sign_msb_lsb_decomposition():
    y = quant_sign(torch.linspace(-1.5, 1.5, 301))
    msb = torch.sign(y)
    lsb = (y - 2.0 / 3.0 * msb) * 3.0
    assert torch.all(lsb.round().abs() == 1)
    assert torch.allclose(2.0 / 3.0 * msb + 1.0 / 3.0 * lsb.round(), y)


def test_quant_sign_gradient_and_bits():
    x = torch.tensor([-1.5, -1.0, -0.99, 0.0, 0.99, 1.0, 1.5], requires_grad=True)
    quant_sign(x, bits=4).sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert len(torch.unique(quant_sign(torch.linspace(-1, 1, 1001), bits=4))) == 16
    with pytest.raises(ValueError, match="bits"):
        quant_sign(x, bits=0)


def test_learnable_bias_and_rprelu():
    bias = LearnableBias(3)
    assert bias.bias.shape == (1, 3, 1, 1) and torch.all(bias.bias == 0)
    act = RPReLU(2)
    with torch.no_grad():
        act.shift_x.bias[:] = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
        act.shift_y.bias[:] = torch.tensor([0.5, 0.0]).view(1, 2, 1, 1)
    x = torch.tensor([[-3.0, 2.0]]).view(1, 2, 1, 1)
    # channel 0: PReLU(-3 + 1) = 0.25 * -2 = -0.5, + 0.5 = 0; channel 1: PReLU(2 - 1) = 1
    assert act(x).flatten().tolist() == [0.0, 1.0]
    assert [name for name, _ in act.named_parameters()] == ["shift_x.bias", "shift_y.bias", "prelu.weight"]
