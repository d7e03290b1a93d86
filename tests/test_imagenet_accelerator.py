"""The ImageNet accelerator (hls/imagenet): layout, bit-exact reference == g++ C-simulation, cost model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fracbnn_lib.encoding import pack_thermometer, thermometer_encode
from fracbnn_lib.hw.fixed_point import resolve_formats
from fracbnn_lib.hw.manifest import ExportError
from fracbnn_lib.hw.reactnet import csim, layout
from fracbnn_lib.hw.reactnet.params import fold_reactnet
from fracbnn_lib.hw.reactnet.reference import Q2_OF_Q4, classify, quantize4, reference_pooled
from fracbnn_lib.models import fracbnn_reactnet
from fracbnn_lib.models.imagenet import REACTNET_BLOCKS

FORMATS = resolve_formats("default")


def _randomised(seed: int) -> torch.nn.Module:
    """A ReActNet whose BN statistics, shifts and gate thresholds are random (not the identity of a fresh model)."""
    torch.manual_seed(seed)
    model = fracbnn_reactnet(num_classes=10).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
        if hasattr(module, "threshold"):
            module.threshold.data.uniform_(-4.0, 4.0)
    return model


def _briefly_trained(seed: int) -> torch.nn.Module:
    """Three Adam steps of the final model (binary weights, gate on) on random labelled images."""
    torch.manual_seed(seed)
    model = fracbnn_reactnet(num_classes=10).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(3):
        images, labels = torch.randn(4, 3, 224, 224), torch.randint(0, 10, (4,))
        loss = F.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def _packed(n: int, seed: int) -> np.ndarray:
    images = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    return layout.image_words(pack_thermometer(thermometer_encode(images, 8)))


def test_the_layer_table_is_the_models_blocks():
    assert layout.BLOCKS == REACTNET_BLOCKS
    table = layout.layer_table(32)
    assert len(table) == 26 and table[-1].size_out == 7 and table[-1].cout == layout.OUT_CHANNELS
    assert layout.weight_words(32) * 8 == 3_561_568  # 3.5 MB of binary weights: DRAM, not BRAM
    offsets = [t.weight_word for t in table]
    assert offsets == sorted(offsets) and offsets[0] == layout.stem_table_words(32)


def test_the_2_bit_code_is_a_function_of_the_4_bit_code():
    x = np.linspace(-1.5, 1.5, 30001)
    frac = FORMATS.fm.frac
    raw = np.floor(x * 2.0**frac + 0.5).astype(np.int64)
    k4 = quantize4(raw, frac)
    value = raw / 2.0**frac
    k2 = np.clip(np.floor((value + 1) * 1.5 + 0.5), 0, 3)  # AP_RND: ties up
    assert np.array_equal(Q2_OF_Q4[k4], k2)
    assert np.array_equal(k4, np.clip(np.floor((value + 1) * 7.5 + 0.5), 0, 15))


def test_export_refuses_other_models():
    from fracbnn_lib import fracbnn_resnet20

    with pytest.raises(ExportError, match="not the FracBNN ReActNet"):
        fold_reactnet(fracbnn_resnet20(), FORMATS)
    with pytest.raises(ExportError, match="float weights"):
        fold_reactnet(fracbnn_reactnet(num_classes=10, binary_weights=False), FORMATS)


@pytest.fixture(scope="module")
def library():
    return csim.build_library(layout.config_header(FORMATS, 32))


@pytest.mark.parametrize("make_model", [_randomised, _briefly_trained], ids=["random", "briefly-trained"])
def test_csim_equals_the_reference_bit_for_bit(library, make_model):
    model = make_model(1)
    images = fold_reactnet(model, FORMATS)
    packed = _packed(8, seed=2)
    gates: dict[str, list[int]] = {}
    expected = reference_pooled(images, packed, gates)
    got = csim.run_library(library, layout.layout_string(32), images.weights, images.params, packed)
    assert got.shape == (8, 1024) and np.array_equal(got, expected)
    assert len(np.unique(expected)) > 1000, "the outputs are degenerate (all saturated or constant)"
    opened = sum(o for o, _ in gates.values()) / sum(t for _, t in gates.values())
    assert 0.0 < opened < 1.0, "the precision gate never or always opened: the test would not see it"
    logits = classify(expected, FORMATS.fm.frac, images.fc_weight, images.fc_bias)
    assert logits.shape == (8, 10) and logits.dtype == np.float32
