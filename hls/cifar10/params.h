// FracBNN CIFAR-10 accelerator: the parameter arrays.
//
// FRACNET_PARAMS lists every array once: X(name, kind, element type, dimensions, element count).
// The order is the order of params.bin and of fracbnn_lib.hw.cifar10.layout.PARAM_ARRAYS. PG-layer arrays
// are tile-major: row t holds the 16 output channels of tile t (layer by layer, 42 tiles in all).
//
// Synthesis and the testbench include the generated weights.h (constant ROMs). The C-simulation
// library (FRACNET_RUNTIME_PARAMS) declares the same arrays writable and fills them from params.bin,
// so one g++ build serves every checkpoint exported with the same formats.
//
// One more array is derived, not stored in params.bin: the stem's lookup table
//   conv1_level_dot[k][tap][colour * (LEVELS + 1) + on] = stem_level_dot(conv1_weight[k][colour][tap], on)
// (layers.h). weights.h holds it as a constant ROM beside the others; the C-simulation library fills it
// after loading params.bin.
#ifndef FRACNET_PARAMS_H
#define FRACNET_PARAMS_H

#include "typedefs.h"

#define FRACNET_PARAMS(X)                                                                          \
  X(conv1_weight, word, word_t, [STEM_CHANNELS][COLOURS][TAPS], STEM_CHANNELS * COLOURS * TAPS)   \
  X(conv1_scale, scale, scale_t, [STEM_CHANNELS], STEM_CHANNELS)                                   \
  X(conv1_shift, param, param_t, [STEM_CHANNELS], STEM_CHANNELS)                                   \
  X(pg_weight, word, word_t, [PG_TILES][OC_TILE][TAPS], PG_TILES * OC_TILE * TAPS)                 \
  X(pg_threshold, sum, sum_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                             \
  X(pg_scale, scale, scale_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                             \
  X(pg_shift, param, param_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                             \
  X(pg_slope, param, param_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                             \
  X(pg_bn_scale, scale, scale_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                          \
  X(pg_bn_shift, param, param_t, [PG_TILES][OC_TILE], PG_TILES * OC_TILE)                          \
  X(fc_weight, param, param_t, [CLASSES][FC_IN], CLASSES * FC_IN)                                  \
  X(fc_bias, param, param_t, [CLASSES], CLASSES)

#ifdef FRACNET_RUNTIME_PARAMS
#define FRACNET_DECLARE_PARAM(name, kind, type, dims, count) extern type name dims;
FRACNET_PARAMS(FRACNET_DECLARE_PARAM)
#undef FRACNET_DECLARE_PARAM
extern level_dot_t conv1_level_dot[STEM_CHANNELS][TAPS][LEVEL_SLOTS];
#else
#include "weights.h"
#endif

#endif  // FRACNET_PARAMS_H
