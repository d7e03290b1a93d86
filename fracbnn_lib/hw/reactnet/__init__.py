"""The ImageNet accelerator (``hls/imagenet``): layout, DRAM images, bit-exact reference, C-simulation, cost.

The same ladder as CIFAR-10's :mod:`fracbnn_lib.hw` (whose fixed-point formats, folding helpers, bit
packing, build cache and export-folder conventions it uses): :mod:`.layout` (layer table, DRAM regions),
:mod:`.params` (fold a checkpoint into ``weights.bin``/``params.bin``), :mod:`.reference` (L2),
:mod:`.csim` (L3) and :mod:`.cost` (cycles, DRAM traffic, images/s).
"""
