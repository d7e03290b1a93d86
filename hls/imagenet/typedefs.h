// FracBNN ImageNet accelerator (ReActNet): data types, dimensions, the on-chip geometry and the DRAM layout.
//
// Formats, levels, the geometry and the layer table come from the generated fracnet_config.h (written by
// `fracbnn export` from fracbnn_lib.hw.imagenet.layout), so one source tree serves every fixed-point setting
// and checkpoint; the table carries every value the engines would otherwise divide for. As for CIFAR-10, every
// assignment to fm_t rounds to nearest (ties up, AP_RND) and saturates (AP_SAT); products and sums of ap_fixed
// values are exact.
//
// Everything big lives in DRAM (the ZU3EG's 7.6 Mbit of BRAM cannot hold 3.5 MB of binary weights). Three AXI
// masters: IMG (64-bit beats: two image words), WGT (weights and params) and FMAP (feature maps and pooled), both
// 128-bit (two 64-bit words a beat, the first at the low half); every transfer is one long burst:
//   image   uint32 [3][224][224]       thermometer words, level b of a colour at bit 31 - b; a stem tile reads
//                                      its rows of each colour as one burst
//   weights uint64 [WEIGHT_WORDS]      the stem's level-dot tables (int8, 8 per word, entry
//                                      slot * 288 + lane * 9 + tap, slot = colour * (L + 1) + levels), then per
//                                      PG layer out channel x input group x tap: 64 input channels per word,
//                                      channel k of the group at bit 63 - k (1 = +1); a weight tile (LANES out
//                                      channels) is one burst
//   params  int64  [PARAM_WORDS]       raw fixed-point values: stem scale and shift (32 each), then per PG layer
//                                      and weight tile the 7 fields (threshold, scale, shift, slope, bn_scale,
//                                      res_scale, bn_shift) of its LANES channels: one burst of 56 words
//   fmaps   uint64 [2][FMAP_WORDS]     two ping-pong feature maps of 4-bit codes k = q4(x) in 0..15:
//                                      word ((row * W + col) * G + g) * 4 + b holds bit b of the codes of
//                                      channels 64 g .. 64 g + 63 (channel k at bit 63 - k); a row tile's input
//                                      rows are one burst, its output rows another
//   pooled  int64  [1024]              sum over the last 7 x 7 map of each channel's raw fm value
// A layer reads its input map and writes its output map; only the last writes pooled sums instead.
// The classifier (mean = pooled / 49, FC 1024 -> 1000) runs on the ARM (fracbnn_lib.hw.imagenet.params.classify).
#ifndef FRACNET_IMAGENET_TYPEDEFS_H
#define FRACNET_IMAGENET_TYPEDEFS_H

#include <ap_fixed.h>
#include <ap_int.h>
#include <stdint.h>

#include "fracnet_config.h"

#if !defined(FRACNET_LAYOUT_VERSION) || FRACNET_LAYOUT_VERSION != 3
#error "fracnet_config.h was exported for another DRAM layout of hls/imagenet: export the checkpoint again"
#endif

typedef uint64_t word_t;      // 64 channels of one bit plane (or weights), channel k at bit 63 - k
// One beat of the 128-bit masters: word 0 (low) in bits 63..0, word 1 (high) in bits 127..64. A struct, packed into one
// 128-bit word on the m_axi ports (FRACNET_PACKED in fracnet.cc: DATA_PACK / AGGREGATE, first field at the LSBs),
// laid out as the two words in memory, so the C-simulation reads the DRAM images as they are.
struct beat_t {
  word_t low, high;
};
typedef uint64_t image_beat_t;  // one beat of the image master: image words 2j (bits 31..0) and 2j + 1 (63..32)
typedef int16_t sum_t;        // binary conv sums (at most 9 x 1024 in magnitude) and gate thresholds
typedef uint8_t code_t;       // a 4-bit activation code q4(x) = sat(floor((x + 1) * 15/2 + 1/2)), 0..15
typedef uint8_t level_t;      // a colour word's level count, 0..LEVELS
typedef uint32_t slice_t;     // the 4-bit codes of one weight tile's LANES channels at one pixel: plane b in
                              // bits 8 b + 7 .. 8 b, lane k at bit 8 b + 7 - k (LANES = 8)
// Integers entering fixed-point products, at their exact widths (so every product and sum stays within
// 64 bits: the hardware's operand widths, and ap_fixed's one-word fast path in C-simulation).
typedef ap_int<11> stem_sum_t;   // the stem's z0: at most 9 taps x 3 colours x 32 levels
typedef ap_int<16> conv_sum_t;   // z = 2 m + l: at most 3 x 9 x 1024
typedef ap_uint<6> code_sum_t;   // a shortcut's sum of four codes, 0..60

typedef ap_fixed<FRACNET_FM_W, FRACNET_FM_I, AP_RND, AP_SAT> fm_t;           // values inside a layer
typedef ap_fixed<FRACNET_SCALE_W, FRACNET_SCALE_I, AP_RND, AP_SAT> scale_t;  // BN scales
typedef ap_fixed<FRACNET_PARAM_W, FRACNET_PARAM_I, AP_RND, AP_SAT> param_t;  // other parameters

const int IMG = 224;
const int IMG_BEATS_PER_ROW = IMG / 2;  // 112 image beats (two words each) per row of a colour
const int COLOURS = 3;
const int LEVELS = FRACNET_LEVELS;
const int LEVEL_SLOTS = LEVELS + 1;  // a colour word holds 0..LEVELS levels
const int TAPS = 9;
const int STEM_CHANNELS = 32;
const int STEM_SIZE = IMG / 2;        // the stem convolves at stride 2: 112 x 112
const int STEM_TABLES = STEM_CHANNELS * TAPS;  // one level-dot table per stem channel and tap
const int STEM_SLOTS = COLOURS * LEVEL_SLOTS;  // entries per table
const int STEM_LANES = 16;                     // the stem engine's lanes: two halves of the 32 channels
const int STEM_HALVES = STEM_CHANNELS / STEM_LANES;
const int STEM_BANKS = STEM_LANES * TAPS;      // table banks: one per lane and tap, holding its channels' tables
const int STEM_ROWS = FRACNET_STEM_ROWS;       // output rows per stem tile
const int STEM_TILES = STEM_SIZE / STEM_ROWS;
const int STEM_PIXELS = STEM_ROWS * STEM_SIZE;
const int STEM_ROW_DEPTH = FRACNET_STEM_ROW_DEPTH;  // elements per stem row bank (rows mod 3, 112 a row)
const int GROUP = 64;                 // channels per word
const int CODE_BITS = 4;              // bit planes of a feature-map code
const int BEAT_WORDS = 2;             // 64-bit words per 128-bit beat
const int LANES = FRACNET_LANES;      // output channels computed at once: a weight tile
const int SLICES = GROUP / LANES;     // weight tiles per 64-channel output group: out-tile banks
const int TILE_BANKS = 9;             // input-tile banks: a 3x3 window's rows and columns mod 3, or nine groups
const int TILE_DEPTH = FRACNET_TILE_DEPTH;  // elements (four code planes of one pixel and group) per bank
const int MAX_PIXELS = FRACNET_MAX_PIXELS;  // output pixels of a row tile (acc)
const int OUT_DEPTH = FRACNET_OUT_DEPTH;    // pixel-groups of a row tile's output (out tile)
const int MAX_GROUPS = 16;            // 1024 channels
const int MAX_CHANNELS = GROUP * MAX_GROUPS;
const int PARAM_ARRAYS = 7;           // threshold, scale, shift, slope, bn_scale, res_scale, bn_shift
const int PARAM_TILE_BEATS = PARAM_ARRAYS * LANES / BEAT_WORDS;  // one weight tile's parameters
const int OUT_CHANNELS = 1024;
const int POOLED_BEATS = OUT_CHANNELS / BEAT_WORDS;

// One entry of the layer table (fracnet_config.h: FRACNET_LAYER_TABLE, fracbnn_lib.hw.imagenet.layout.Layer.spec).
struct LayerSpec {
  int ksize;              // 3: PG 3x3 conv in -> in; 1: PG 1x1 conv in -> out
  int cin;
  int cout;
  int size_in;            // input height = width
  int stride;             // 2: the 3x3 conv downsamples and its shortcut is a 2x2 average
  int size_out;
  int gin;                // 64-channel input groups
  int gout;               // 64-channel output groups
  int rows;               // output rows per row tile
  int tiles;              // row tiles
  int pixels;             // output pixels per row tile (rows x size_out)
  int passes;             // passes over a row tile per weight tile: gin (3x3), ceil(gin / 9) (1x1)
  int oc_tiles;           // weight tiles (cout / LANES)
  int in_rows;            // input rows a row tile needs, padding included
  int bank_cols;          // 3x3: tile columns per bank column, ceil((size_in + 2) / 3)
  int tile_row_step;      // 3x3: bank_cols x gin, the tile address step of one row per bank
  int last_valid;         // channels in the last input group
  int row_step;           // input rows between row tiles (rows x stride)
  int in_row_beats;       // beats of one input row (size_in x gin x 2)
  int store_beats;        // beats of one row tile's output (pixels x gout x 2)
  int weight_beat;        // first beat of the layer's weights
  int param_beat;         // first beat of the layer's parameters
  int tile_weight_beats;  // beats of one weight tile's weights (LANES x taps x gin / 2)
};

const int NUM_LAYERS = FRACNET_NUM_LAYERS;
const int WEIGHT_WORDS = FRACNET_WEIGHT_WORDS;
const int PARAM_WORDS = FRACNET_PARAM_WORDS;
const int FMAP_WORDS = FRACNET_FMAP_WORDS;
const int WEIGHT_BEATS = WEIGHT_WORDS / BEAT_WORDS;
const int PARAM_BEATS = PARAM_WORDS / BEAT_WORDS;
const int FMAP_BEATS = FMAP_WORDS / BEAT_WORDS;
const int IMAGE_BEATS = COLOURS * IMG * IMG_BEATS_PER_ROW;
const int STEM_TABLE_BEATS = STEM_SLOTS * STEM_TABLES / (8 * BEAT_WORDS);  // 16 int8 entries a beat
const int STEM_PARAM_BEATS = 2 * STEM_CHANNELS / BEAT_WORDS;

// On-chip buffers (declared in the top function, FracNetImageNet, with their banks and storage).
typedef int8_t stem_table_t[STEM_BANKS][STEM_HALVES * STEM_SLOTS];  // level-dot tables, a bank per lane and tap
typedef uint16_t stem_rows_t[TILE_BANKS][STEM_ROW_DEPTH];      // a stem tile's level counts, two columns an
                                                               // element, a bank per row mod 3 and colour
typedef word_t tile_t[TILE_BANKS][TILE_DEPTH][CODE_BITS];      // a row tile's input codes, a bank per window
                                                               // position (and code plane)
typedef slice_t out_tile_t[SLICES][OUT_DEPTH];                 // a row tile's output codes, a bank per slice
typedef word_t weight_tile_t[TAPS][LANES * MAX_GROUPS];        // a weight tile, a bank per slot: [slot][pass * LANES + lane]
typedef int64_t param_tile_t[PARAM_ARRAYS][LANES];             // its raw parameters (registers)
struct acc_t {                                                 // one lane's partial sums between passes
  sum_t m, l;
};
typedef acc_t acc_tile_t[MAX_PIXELS][LANES];                   // a bank per lane
typedef ap_uint<6 * LANES> sc_word_t;                          // the shortcut's code sums of LANES lanes, 6 bits each
typedef sc_word_t sc_tile_t[MAX_PIXELS];                       // ... per pixel, from their pass to the last
typedef int64_t pool_acc_t[LANES][OUT_CHANNELS / LANES];       // the last layer's pooled sums, a bank per lane

#endif  // FRACNET_IMAGENET_TYPEDEFS_H
