// FracBNN CIFAR-10 accelerator: data types and dimensions.
//
// Formats, levels and the layer table come from the generated fracnet_config.h (written by `fracbnn export`
// next to weights.h, from fracbnn_lib.hw.cifar10.layout), so one source tree serves every fixed-point setting. Every assignment to fm_t and logit_t rounds to
// nearest (ties up, AP_RND) and then saturates (AP_SAT); products and sums of ap_fixed values are exact
// (full-precision result types), so the datapath rounds only where it assigns to fm_t or logit_t.
// Packed words, conv sums and thresholds are plain integers: binary arithmetic needs no ap types.
#ifndef FRACNET_TYPEDEFS_H
#define FRACNET_TYPEDEFS_H

#include <ap_fixed.h>
#include <ap_int.h>
#include <stdint.h>

#include "fracnet_config.h"

typedef ap_uint<64> uint64;  // interface word of FracNet_T (AXI register image_V, as in the paper's design)
typedef uint64_t word_t;     // a packed word: 64 channels (or thermometer levels), channel k at bit 63 - k
typedef uint32_t lanes_t;    // the OC_TILE bits of one output-channel tile, lane k at bit OC_TILE - 1 - k
typedef int16_t sum_t;       // gate thresholds (binary conv sums are ints of at most 12 bits)
typedef uint8_t level_t;     // levels on in one colour word, 0..LEVELS (the input as the stem reads it)
typedef int8_t level_dot_t;  // a stem weight word's dot product with a thermometer code, -LEVELS..LEVELS
typedef uint32_t slice_t;    // one slice of a packed word: the SLICE_BITS channels an XOR-popcount counts per cycle
typedef int16_t stem_sum_t;  // a pixel's stem sum over the colours so far (|z| <= 2 x 9 x LEVELS before the last)

typedef ap_fixed<FRACNET_FM_W, FRACNET_FM_I, AP_RND, AP_SAT> fm_t;           // feature maps
typedef ap_fixed<FRACNET_SCALE_W, FRACNET_SCALE_I, AP_RND, AP_SAT> scale_t;  // BN scales
typedef ap_fixed<FRACNET_PARAM_W, FRACNET_PARAM_I, AP_RND, AP_SAT> param_t;  // other parameters
typedef ap_fixed<FRACNET_LOGIT_W, FRACNET_LOGIT_I, AP_RND, AP_SAT> logit_t;  // FC outputs
typedef ap_fixed<FRACNET_FM_W, FRACNET_FM_I, AP_TRN, AP_SAT> fm_floor_t;     // rounds down: quantiser bounds

// Exact intermediates: a 2x2 pooling sum, a 64-pixel sum, and the FC accumulator sum_c w * mean + b.
typedef ap_fixed<FRACNET_FM_W + 2, FRACNET_FM_I + 2> pool4_t;
typedef ap_fixed<FRACNET_FM_W + 6, FRACNET_FM_I + 6> pool64_t;
typedef ap_fixed<FRACNET_PARAM_W + FRACNET_FM_W + 7, FRACNET_PARAM_I + FRACNET_FM_I + 7> fc_acc_t;

// Network dimensions (the FracBNN ResNet-20 of DESIGN.md).
const int IMG = 32;                 // input height and width
const int COLOURS = 3;              // input words per pixel (one per colour channel)
const int LEVELS = FRACNET_LEVELS;  // thermometer levels per colour word
const int TAPS = 9;                 // 3x3 kernels
const int OC_TILE = 16;             // output channels computed in parallel (lanes)
const int MAX_CHANNELS = 64;        // channels per packed word
const int SLICE_BITS = 32;          // channels one XOR-popcount counts per cycle (a 64-channel conv: 2 per pixel)
const int SLICES = MAX_CHANNELS / SLICE_BITS;
const int STEM_CHANNELS = 16;       // output channels of the binary input layer
const int NUM_BLOCKS = FRACNET_NUM_BLOCKS;  // BasicBlocks, two PG convs each (fracnet_config.h)
const int PG_TILES = FRACNET_PG_TILES;      // 16-channel tiles over all 18 PG convs (6 x 1 + 6 x 2 + 6 x 4)
const int FC_IN = 64;
const int POOL_SIZE = 8;            // the last stage's maps are 8 x 8
const int CLASSES = 10;
const int FMAP_DEPTH = STEM_CHANNELS * IMG * IMG / OC_TILE;  // per-lane depth of the feature-map buffer

// Feature maps (the residual stream) live in OC_TILE lanes: channel ch, pixel p of an h x h map is
// fmap[ch % OC_TILE][(ch / OC_TILE) * h * h + p]. Every layer's map fits (16x32x32 = 32x16x16 x 2 = 64x8x8 x 4).
typedef fm_t fmap_t[OC_TILE][FMAP_DEPTH];

// Row-banked maps: row r of a map is in bank r % 3 at address r / 3, so the three rows of a 3x3
// window are always in three different banks, each read through its own port with a bank index
// known at compile time (layers.h: read_column, write_row).
const int ROW_BANKS = 3;
const int BANK_ROWS = (IMG + ROW_BANKS - 1) / ROW_BANKS;  // 11 rows of 32 per bank
// One bit plane (MSB or LSB) of the 2-bit activations: a packed word per pixel.
typedef word_t plane_t[ROW_BANKS][BANK_ROWS][IMG];
// The input as level counts, in the order of its words (load_levels -> stem_conv_bn, a FIFO in hardware).
const int WORDS = COLOURS * IMG * IMG;
const int LEVEL_FIFO_DEPTH = 64;
typedef level_t level_fifo_t[WORDS];
// The stem runs colour-major, STEM_LAG words behind the input: pixel (r, c) of a colour needs word (r + 1, c + 1).
const int STEM_LAG = IMG + 1;
// A stem lane's table of dot products, one per colour and level count (params.h: conv1_level_dot).
const int LEVEL_SLOTS = COLOURS * (LEVELS + 1);

#endif  // FRACNET_TYPEDEFS_H
