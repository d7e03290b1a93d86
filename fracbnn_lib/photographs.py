"""Natural photographs that ship with the kit's dependencies (matplotlib's sample data): never downloaded.

Notebook 01 encodes one of them; notebook 04 runs all of them through the accelerator's path (float model,
bit-exact reference and C-simulation at the release's formats and the kit's), so a network trained on real
data (the authors', imported with ``fracbnn import-release``) is seen on real images even where no data set
is at hand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE_PHOTOGRAPH = "grace_hopper.jpg"
"""The photograph notebook 01 encodes (Grace Hopper; public domain)."""
SAMPLE_PHOTOGRAPHS = {"grace_hopper.jpg": "jpeg", "Minduka_Present_Blue_Pack.png": "png"}
"""Every photograph in matplotlib's sample data, with its file format (the other sample files are plots)."""
VIEWS = ("whole", "mirrored", "centre")
"""The views :func:`sample_photographs` takes of each photograph: the centre square, its mirror image, and the
middle 60% of that square (a closer crop)."""


def sample_photograph(size: int = 128, name: str = SAMPLE_PHOTOGRAPH) -> torch.Tensor:
    """One of matplotlib's sample photographs as a float image ``3 x size x size`` in [0, 1].

    The centre square of the photograph, area-resized to ``size``; an alpha channel is dropped.
    """
    import matplotlib.cbook
    import matplotlib.image

    if name not in SAMPLE_PHOTOGRAPHS:
        raise ValueError(f"no sample photograph {name!r}: choose one of {', '.join(SAMPLE_PHOTOGRAPHS)}")
    with matplotlib.cbook.get_sample_data(name) as handle:
        pixels = np.asarray(matplotlib.image.imread(handle, format=SAMPLE_PHOTOGRAPHS[name]))
    if pixels.dtype != np.uint8:  # PNGs read as float in [0, 1]
        pixels = np.round(pixels * 255.0).astype(np.uint8)
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = torch.from_numpy(np.array(pixels[top : top + side, left : left + side, :3]))  # a writable copy
    image = square.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    return F.interpolate(image, size=(size, size), mode="area")[0].clamp_(0.0, 1.0)


def sample_photographs(size: int) -> tuple[torch.Tensor, list[str]]:
    """Every sample photograph in each of :data:`VIEWS`: float ``N x 3 x size x size`` in [0, 1] and N names.

    ``N = 2 x 3``; a name is ``"<file stem> (<view>)"``. The centre view is the middle 60% of the square,
    resized from the photograph at ``size / 0.6`` so it keeps that resolution's detail.
    """
    images, names = [], []
    for name in SAMPLE_PHOTOGRAPHS:
        whole = sample_photograph(size, name)
        larger = sample_photograph(round(size / 0.6), name)
        margin = (larger.shape[-1] - size) // 2
        views = {
            "whole": whole,
            "mirrored": whole.flip(-1),
            "centre": larger[:, margin : margin + size, margin : margin + size],
        }
        stem = name.rsplit(".", 1)[0]
        for view in VIEWS:
            images.append(views[view])
            names.append(f"{stem} ({view})")
    return torch.stack(images), names
