// FracBNN ImageNet accelerator (ReActNet): data types, dimensions and the DRAM layout.
//
// Formats, levels and the layer table come from the generated fracnet_config.h (written by
// `fracbnn export` from fracbnn_lib.hw.imagenet.layout), so one source tree serves every fixed-point
// setting and checkpoint. As for CIFAR-10, every assignment to fm_t rounds to nearest (ties up, AP_RND)
// and saturates (AP_SAT); products and sums of ap_fixed values are exact.
//
// Everything big lives in DRAM (the ZU3EG's 7.6 Mbit of BRAM cannot hold 3.5 MB of binary weights):
//   image   uint32 [3][224][224]       thermometer words, level b of a colour at bit 31 - b
//   weights uint64 [WEIGHT_WORDS]      the stem's level-dot tables (int8, 8 per word), then per PG layer
//                                      out channel x tap x input group: 64 input channels per word,
//                                      channel k of the group at bit 63 - k (1 = +1)
//   params  int64  [PARAM_WORDS]       raw fixed-point values: stem scale/shift, then per PG layer its
//                                      7 per-channel arrays (threshold, scale, shift, slope, bn_scale,
//                                      res_scale, bn_shift), each cout long
//   fmaps   uint64 [2][FMAP_WORDS]     two ping-pong feature maps of 4-bit codes k = q4(x) in 0..15:
//                                      word ((row * W + col) * G + g) * 4 + b holds bit b of the codes of
//                                      channels 64 g .. 64 g + 63 (channel k at bit 63 - k)
//   pooled  int64  [1024]              sum over the last 7 x 7 map of each channel's raw fm value
// A layer reads its input map and writes its output map; only the last writes pooled sums instead.
// The classifier (mean = pooled / 49, FC 1024 -> 1000) runs on the ARM (fracbnn_lib.hw.imagenet.params.classify).
#ifndef FRACNET_IMAGENET_TYPEDEFS_H
#define FRACNET_IMAGENET_TYPEDEFS_H

#include <ap_fixed.h>
#include <ap_int.h>
#include <stdint.h>

#include "fracnet_config.h"

typedef uint64_t word_t;  // 64 channels of one bit plane (or weights), channel k at bit 63 - k
typedef int16_t sum_t;    // binary conv sums (at most 9 x 1024 in magnitude) and gate thresholds
typedef uint8_t code_t;   // a 4-bit activation code q4(x) = sat(floor((x + 1) * 15/2 + 1/2)), 0..15
// Integers entering fixed-point products, at their exact widths (so every product and sum stays within
// 64 bits: the hardware's operand widths, and ap_fixed's one-word fast path in C-simulation).
typedef ap_int<11> stem_sum_t;   // the stem's z0: at most 9 taps x 3 colours x 32 levels
typedef ap_int<16> conv_sum_t;   // z = 2 m + l: at most 3 x 9 x 1024
typedef ap_uint<6> code_sum_t;   // a shortcut's sum of four codes, 0..60

typedef ap_fixed<FRACNET_FM_W, FRACNET_FM_I, AP_RND, AP_SAT> fm_t;           // values inside a layer
typedef ap_fixed<FRACNET_SCALE_W, FRACNET_SCALE_I, AP_RND, AP_SAT> scale_t;  // BN scales
typedef ap_fixed<FRACNET_PARAM_W, FRACNET_PARAM_I, AP_RND, AP_SAT> param_t;  // other parameters

const int IMG = 224;
const int COLOURS = 3;
const int LEVELS = FRACNET_LEVELS;
const int LEVEL_SLOTS = LEVELS + 1;  // a colour word holds 0..LEVELS levels
const int TAPS = 9;
const int STEM_CHANNELS = 32;
const int STEM_SIZE = IMG / 2;        // the stem convolves at stride 2: 112 x 112
const int GROUP = 64;                 // channels per word
const int CODE_BITS = 4;              // bit planes of a feature-map code
const int LANES = 32;                 // output channels computed in parallel
const int ROW_TILE = 7;               // output rows per tile (every map's height is a multiple of 7)
const int MAX_GROUPS = 16;            // 1024 channels
const int MAX_CHANNELS = GROUP * MAX_GROUPS;
const int MAX_IN_WIDTH = 112;         // widest input map of a PG layer
const int MAX_TILE_ROWS = (ROW_TILE - 1) * 2 + 3;  // input rows of a stride-2 3x3 tile (15)
const int TILE_WORDS = 7168 * MAX_TILE_ROWS / GROUP * CODE_BITS;  // W x C <= 7168 for every PG input
const int POOL_PIXELS = 49;           // the last map is 7 x 7
const int OUT_CHANNELS = 1024;

// One entry of the layer table (fracnet_config.h: FRACNET_LAYER_TABLE).
struct LayerSpec {
  int ksize;          // 3: PG 3x3 conv in -> in; 1: PG 1x1 conv in -> out
  int cin;
  int cout;
  int size_in;        // input height = width
  int stride;         // 2: the 3x3 conv downsamples and its shortcut is a 2x2 average
  long weight_word;   // first word of the layer's weights
  long param_word;    // first word of the layer's 7 parameter arrays
};

const int NUM_LAYERS = FRACNET_NUM_LAYERS;
const long WEIGHT_WORDS = FRACNET_WEIGHT_WORDS;
const long PARAM_WORDS = FRACNET_PARAM_WORDS;
const long FMAP_WORDS = FRACNET_FMAP_WORDS;
const long STEM_TABLE_WORDS = STEM_CHANNELS * TAPS * COLOURS * LEVEL_SLOTS / 8;
const int PARAM_ARRAYS = 7;

// On-chip buffers (declared in the top function, FracNetImageNet, with their partitioning).
typedef int8_t stem_table_t[STEM_CHANNELS][TAPS][COLOURS * LEVEL_SLOTS];  // level-dot tables per lane and tap
typedef uint8_t stem_rows_t[3][COLOURS][IMG];          // level counts of the stem's three input rows
typedef word_t tile_t[TILE_WORDS];                     // input codes of a tile's rows
typedef word_t out_tile_t[ROW_TILE * MAX_IN_WIDTH * CODE_BITS];  // output codes of one group's tile
typedef word_t weight_tile_t[LANES][TAPS][MAX_GROUPS];  // the weights of LANES output channels  // threshold, scale, shift, slope, bn_scale, res_scale, bn_shift

#endif  // FRACNET_IMAGENET_TYPEDEFS_H
