"""Thermometer encoding and its packing into the accelerator's uint64 input words."""

import numpy as np
import pytest
import torch

from fracbnn_lib import ThermometerEncoder, pack_thermometer, thermometer_encode, unpack_thermometer
from fracbnn_lib.encoding import thermometer_levels


def test_levels_per_resolution():
    assert thermometer_levels(8) == 32
    assert thermometer_levels(4) == 64
    assert thermometer_levels(16) == 16
    with pytest.raises(ValueError, match="resolution"):
        thermometer_levels(0)


def test_hand_computed_code_and_channel_order():
    # pixel values k/255: k = 0 -> 0 levels on; k = 20 -> round(2.5) = 2 (half to even); k = 255 -> 32
    x = torch.tensor([0, 20, 255], dtype=torch.float32).div(255).view(1, 3, 1, 1)
    code = thermometer_encode(x)
    assert code.shape == (1, 96, 1, 1)
    on = (code.flatten() > 0).view(3, 32).sum(1).tolist()
    assert on == [0, 2, 32]
    # channel c * 32 + b: levels are filled from b = 0 upwards
    assert code.flatten()[32:35].tolist() == [1, 1, -1]
    assert set(code.unique().tolist()) == {-1.0, 1.0}


def test_any_batch_size_and_module_form():
    encoder = ThermometerEncoder(8)
    for n in (1, 7):
        x = torch.rand(n, 3, 4, 5)
        assert torch.equal(encoder(x), thermometer_encode(x))
        assert encoder(x).shape == (n, 96, 4, 5)


def test_matches_the_release_formula_on_8bit_pixels():
    k = torch.arange(256, dtype=torch.float32)
    x = (k / 255).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    code = thermometer_encode(x).view(1, 3, 32, 16, 16)
    release_levels = torch.round(k.view(16, 16) / 8)  # the release: round(255 * p / resolution)
    assert torch.equal((code > 0).sum(2)[0, 0].float(), release_levels)


def test_pack_bit_order_and_round_trip():
    x = torch.tensor([0, 20, 255], dtype=torch.float32).div(255).view(1, 3, 1, 1)
    words = pack_thermometer(thermometer_encode(x))
    assert words.dtype == np.uint64 and words.shape == (1, 3, 1, 1)
    assert words[0, 0, 0, 0] == 0
    assert words[0, 1, 0, 0] == np.uint64(0b11 << 62)  # levels 0 and 1 -> bits 63 and 62
    assert words[0, 2, 0, 0] == np.uint64(0xFFFFFFFF00000000)  # low 32 bits stay zero
    batch = thermometer_encode(torch.rand(5, 3, 32, 32))
    packed = pack_thermometer(batch)
    assert packed.shape == (5, 3, 32, 32)
    assert np.array_equal(unpack_thermometer(packed), batch.numpy())


def test_pack_rejects_bad_shapes():
    with pytest.raises(ValueError, match="N x"):
        pack_thermometer(torch.ones(2, 95, 4, 4))
    with pytest.raises(ValueError, match="64-bit"):
        pack_thermometer(torch.ones(1, 3 * 85, 2, 2))


def _imagenet_path(images: torch.Tensor) -> torch.Tensor:
    """What the ReActNet's encoder sees of ``images``: the release's Normalize, then the model's ``x * std + mean``."""
    import torchvision.transforms as T

    from fracbnn_lib.data import IMAGENET_MEAN, IMAGENET_STD

    normalised = torch.stack([T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(image) for image in images])
    return normalised * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


def test_the_count_is_a_function_of_the_8bit_pixel_and_the_releases_is_not_on_the_imagenet_path():
    """README, "Differences from the release, on purpose" (benchmarks/encoder_rounding.py prints the figures).

    Every 8-bit value of every colour, through the normalise round trip both models make: the kit's count is
    the count of the pixel itself; the release's rounds some ties k = 8n + 4 by the sign of the float noise
    (measured: 14 of the 96 tie values, one level each), and nothing else.
    """
    from fracbnn_lib.encoding import release_thermometer_count, thermometer_count

    k = torch.arange(256, dtype=torch.float32)
    pixels = (k / 255).view(1, 1, 1, 256).expand(1, 3, 1, 256).contiguous()
    seen = _imagenet_path(pixels)
    assert 0 < float((seen * 255 - k).abs().max()) < 1e-4  # the round trip's noise
    ours, release = thermometer_count(seen.clone()), release_thermometer_count(seen)
    assert torch.equal(ours, thermometer_count(pixels.clone()))  # the kit: the pixel's count, noise or not
    assert torch.equal(release_thermometer_count(pixels), ours)  # the release on exact k / 255 (CIFAR-10's path)
    differ = (ours != release)[0, :, 0]
    ties = k.remainder(8) == 4
    assert not differ[:, ~ties].any() and int((ours - release).abs().max()) == 1
    assert 0 < int(differ.sum()) < 96 // 2  # some ties, far from all (14 with torch 2.14's float32)


def test_on_a_photograph_the_releases_imagenet_arithmetic_moves_a_few_percent_of_the_counts():
    """matplotlib's sample photograph through the release's validation transform: 3.8% of its counts differ."""
    import matplotlib.cbook
    import torchvision.transforms as T
    from PIL import Image

    from fracbnn_lib.encoding import release_thermometer_count, thermometer_count
    from fracbnn_lib.photographs import SAMPLE_PHOTOGRAPH

    with matplotlib.cbook.get_sample_data(SAMPLE_PHOTOGRAPH) as handle:
        photo = Image.open(handle).convert("RGB")
    image = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])(photo).unsqueeze(0)
    seen = _imagenet_path(image)
    differ = thermometer_count(seen.clone()) != release_thermometer_count(seen)
    assert 0.02 < float(differ.float().mean()) < 0.06
