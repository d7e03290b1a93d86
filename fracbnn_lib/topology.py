"""The ImageNet network's block table, in one torch-free place: the model builds it, the accelerator's layout runs it.

numpy-free and torch-free, so the deploy bundle (the accelerator's layer table) and the model share one table.
"""

from __future__ import annotations

REACTNET_BLOCKS = (
    (32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
    (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
    (512, 1024, 2), (1024, 1024, 1),
)  # fmt: skip
"""(in, out, stride) of the FracBNN ReActNet's 13 building blocks (:mod:`fracbnn_lib.models.imagenet`)."""
