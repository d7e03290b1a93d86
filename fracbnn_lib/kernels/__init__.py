"""Native CPU kernels and their build cache: the fused precision gate and quantiser (:mod:`.fused`,
``fused.cc``) and the compile-once cache of shared libraries (:mod:`.native`) that the
C-simulation library (:mod:`fracbnn_lib.hw.csim_build`) shares.

The readable PyTorch formulations in :mod:`fracbnn_lib.layers` and :mod:`fracbnn_lib.quantizers`
stay the reference: ``FRACBNN_FUSED=0`` runs them instead, and the tests hold the kernels equal to
them (outputs and gradients).
"""
