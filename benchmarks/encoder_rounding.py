"""The kit's thermometer count against the release's arithmetic on the release's ImageNet path.

    .venv/bin/python benchmarks/encoder_rounding.py [--logit-images 4]

Both models receive images normalised with the ImageNet mean and std (what the ResNet-50 teacher needs)
and un-normalise them, ``x * std + mean`` in float32, before the thermometer code. The release then
counts ``round(255 x / 8)`` on that float value; the kit counts ``round(round(255 x) / 8)``, rounding to
the 8-bit pixel ``k`` first (``fracbnn_lib.encoding.thermometer_count``). The round trip leaves ``255 x``
up to about 2e-5 from ``k``, so at a tie ``k = 8n + 4`` the release rounds by the sign of that noise and
the kit half to even. Which way the noise points is a fixed function of the colour channel and ``k``:
the script first prints that table (of the 3 x 32 tie values, how many the release rounds the other way),
then what it means on photographs.

The photographs: matplotlib's sample photograph (Grace Hopper, 512 x 600, shipped with matplotlib;
nothing is downloaded) through the release's validation transform (Resize 256, CenterCrop 224) and
through more 224 x 224 crops of it (Resize to several sizes, crops at the centre and the four corners),
all 8-bit (PIL resizes in uint8), then ToTensor and Normalize as the release does. Printed: the share of
thermometer counts that differ (all by one level, all at ties), and on a random-initialised ReActNet
(random BN statistics and gate thresholds; no trained ImageNet model is in the kit) the largest logit
difference between the two counts and how many arg-max decisions moved.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from machine import machine_info

from fracbnn_lib import encoding
from fracbnn_lib.data import IMAGENET_MEAN, IMAGENET_STD
from fracbnn_lib.encoding import release_thermometer_count, thermometer_count, thermometer_levels

RESOLUTION = 8
SIZES = (224, 256, 288, 320, 384, 448, 512)
"""Shorter side the photograph is resized to before a 224 x 224 crop (256 + centre crop is the release's
validation transform)."""


def photograph_crops() -> tuple[torch.Tensor, list[str]]:
    """The photograph's 224 x 224 crops as ToTensor gives them (N x 3 x 224 x 224, exact multiples of 1/255)."""
    import matplotlib.cbook
    import torchvision.transforms as T
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        photo = Image.open(handle).convert("RGB")
    crops, names = [], []
    for size in SIZES:
        resized = T.Resize(size)(photo)
        width, height = resized.size
        corners = {"centre": ((width - 224) // 2, (height - 224) // 2), "top left": (0, 0),
                   "top right": (width - 224, 0), "bottom left": (0, height - 224),
                   "bottom right": (width - 224, height - 224)}  # fmt: skip
        for where, (left, top) in corners.items():
            if where != "centre" and size == 224 and width == 224:
                continue  # the same crops again
            crops.append(T.ToTensor()(resized.crop((left, top, left + 224, top + 224))))
            names.append(f"Resize({size}) {where}")
    return torch.stack(crops), names


def release_path(images: torch.Tensor) -> torch.Tensor:
    """What the thermometer encoder of either model sees on the ImageNet path: Normalize, then ``x * std + mean``."""
    import torchvision.transforms as T

    normalised = torch.stack([T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(image) for image in images])
    std, mean = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    return normalised, normalised * std + mean


def tie_table() -> np.ndarray:
    """``bool[3, L]``: whether the release's count differs from the kit's at tie value ``k = 8n + 4`` of each colour."""
    ties = torch.arange(RESOLUTION // 2, 256, RESOLUTION, dtype=torch.float32)  # 4, 12, ..., 252
    pixels = (ties / 255).view(1, 1, -1, 1).expand(1, 3, -1, 1).contiguous()
    _, seen = release_path(pixels)
    differ = release_thermometer_count(seen, RESOLUTION) != thermometer_count(seen.clone(), RESOLUTION)
    return differ.numpy()[0, :, :, 0]


@contextmanager
def release_rounding():
    """Inside: the kit's models count levels with the release's arithmetic (for this measurement only)."""
    kept = encoding.thermometer_count
    encoding.thermometer_count = release_thermometer_count
    try:
        yield
    finally:
        encoding.thermometer_count = kept


def random_reactnet() -> torch.nn.Module:
    from fracbnn_lib.models import fracbnn_reactnet

    torch.manual_seed(0)
    model = fracbnn_reactnet().eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
        if hasattr(module, "threshold"):
            module.threshold.data.uniform_(-4.0, 4.0)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logit-images", type=int, default=4, help="crops run through the random ReActNet")
    args = parser.parse_args(argv)
    print(machine_info())
    print()

    table = tie_table()
    levels = thermometer_levels(RESOLUTION)
    print(f"tie values k = 8n + 4 (n = 0..{levels - 1}) per colour where the release's count differs from the kit's:")
    for colour, row in zip("RGB", table, strict=True):
        ks = [RESOLUTION * n + RESOLUTION // 2 for n in np.flatnonzero(row)]
        print(f"  {colour}: {int(row.sum()):2d} of {levels}  (k = {', '.join(map(str, ks))})")
    print(f"  in all {int(table.sum())} of {table.size} tie values, {table.sum() / 256 / 3:.1%} of the 768 (colour, k)")

    images, names = photograph_crops()
    normalised, seen = release_path(images)
    pixels = torch.round(images * 255)
    assert torch.equal(pixels / 255, images), "ToTensor of an 8-bit image is k / 255 exactly"
    ours, release = thermometer_count(seen.clone(), RESOLUTION), release_thermometer_count(seen, RESOLUTION)
    differ = ours != release
    ties = pixels % RESOLUTION == RESOLUTION // 2
    print()
    print(f"{len(images)} crops of 224 x 224 of matplotlib's sample photograph (first: {names[0]}, the release's "
          f"validation transform is {names[SIZES.index(256) * 5 - 4]})")  # fmt: skip
    print(f"  largest |255 x - k| after Normalize and x * std + mean: {float((seen * 255 - pixels).abs().max()):.2e}")
    print(f"  pixel values at a tie (k = 8n + 4): {float(ties.float().mean()):.1%}")
    print(f"  thermometer counts that differ: {float(differ.float().mean()):.2%} ({int(differ.sum()):,} of "
          f"{differ.numel():,}); all at ties: {bool(not differ[~ties].any())}; largest difference "
          f"{int((ours - release).abs().max())} level")  # fmt: skip
    per_crop = differ.flatten(1).float().mean(1)
    print(f"  per crop: {float(per_crop.min()):.2%} to {float(per_crop.max()):.2%}; the release's validation "
          f"transform: {float(per_crop[names.index('Resize(256) centre')]):.2%}")  # fmt: skip
    exact = release_thermometer_count(images, RESOLUTION) != thermometer_count(images.clone(), RESOLUTION)
    print(f"  without the normalise round trip (CIFAR-10's path: x = k / 255): {int(exact.sum())} counts differ")

    if args.logit_images > 0:
        model = random_reactnet()
        batch = normalised[: args.logit_images]
        with torch.no_grad():
            kit = model(batch)
            with release_rounding():
                theirs = model(batch)
        spread = float(kit.abs().max())
        moved = int((kit.argmax(1) != theirs.argmax(1)).sum())
        print()
        print(f"random-initialised ReActNet (1000 classes; random BN statistics and thresholds), {len(batch)} crops:")
        print(f"  largest logit difference, release's count vs the kit's: {float((kit - theirs).abs().max()):.4g} "
              f"(largest |logit| {spread:.4g}); arg-max moved on {moved} of {len(batch)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
