// FracBNN CIFAR-10 accelerator: the layer functions.
//
// Activations are 2-bit codes q = 0..3 for {-1, -1/3, 1/3, 1}, stored as two packed bit planes:
// MSB q[1] and LSB q[0] (bit 1 = +1), channel k of a word at bit 63 - k. A binary dot product over n
// valid channels is n - 2 popcount(a XOR w); taps outside the map are skipped (zero padding).
//
// Precision-gated conv, per output channel and pixel: m = MSB sum; if m > T (T = floor(3/2 theta),
// i.e. 2/3 m > theta) the LSB sum l is added: z = 2 m + l, else z = 2 m. The conv output z / 3 is never
// formed: the 1/3 is folded into the BN scale, so conv sums stay integers until one multiply-add.
// Then per channel: y = scale * z + shift (BN1 + RPReLU's input shift), PReLU, and with the residual
// x = bn_scale * (y + residual) + bn_shift (BN3 with RPReLU's output shift folded in); the sum y + residual
// is exact (one bit wider than fm_t), so each layer rounds three times: y, y * slope (if y < 0), x.
// The result updates the residual stream in place and is quantised and packed for the next layer
// in the same pass (no separate re-packing pass).
#ifndef FRACNET_LAYERS_H
#define FRACNET_LAYERS_H

#include "params.h"

// Number of set bits of a 64-bit word (an adder tree in hardware).
inline int popcount64(word_t x) {
#ifdef __SYNTHESIS__
  const ap_uint<MAX_CHANNELS> bits = x;
  ap_uint<7> count = 0;
  for (int i = 0; i < MAX_CHANNELS; i++) {
#pragma HLS UNROLL
    count += bits[i];
  }
  return count;
#else
  return __builtin_popcountll(x);
#endif
}

// Sum of n products of +-1 values packed in a and w: n - 2 popcount(a XOR w). Unused bits are 0 in both.
inline int binary_dot(word_t a, word_t w, int n) { return n - 2 * popcount64(a ^ w); }

// The 2-bit activation quantiser q = ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5) as three comparisons:
// q >= 1 <=> x >= -2/3, q >= 2 <=> x >= 0, q >= 3 <=> x >= 2/3. No fm_t value equals +-2/3, so
// x >= +-2/3 <=> x > Q_LOW / Q_HIGH, the largest fm_t values below -2/3 and 2/3 (rounded down).
// MSB = q[1] = (x >= 0), LSB = q[0]; lane k of a tile is bit OC_TILE - 1 - k.
const fm_t Q_LOW = fm_floor_t(-2.0 / 3);
const fm_t Q_HIGH = fm_floor_t(2.0 / 3);

inline void quantize2(fm_t x, int lane, lanes_t &msb, lanes_t &lsb) {
  const bool high = x >= 0;
  const bool odd = high ? x > Q_HIGH : x > Q_LOW;
  msb |= lanes_t(high) << (OC_TILE - 1 - lane);
  lsb |= lanes_t(odd) << (OC_TILE - 1 - lane);
}

// Place the bits of output-channel tile t (channels 16t..16t+15) into a packed word; tile 0 starts a new word.
inline word_t place_tile(word_t word, lanes_t bits, int t) {
  const word_t kept = (t == 0) ? word_t(0) : word;
  return kept | (word_t(bits) << (MAX_CHANNELS - OC_TILE * (t + 1)));
}

// Copy the input words into on-chip memory (one burst over the AXI master port).
inline void load_image(const uint64 image[COLOURS][IMG][IMG], word_t image_buf[COLOURS][IMG][IMG]) {
LOAD_IMAGE:
  for (int i = 0; i < COLOURS * IMG * IMG; i++) {
#pragma HLS PIPELINE II = 1
    const int colour = i / (IMG * IMG), row = (i / IMG) % IMG, col = i % IMG;
    image_buf[colour][row][col] = image[colour][row][col].to_uint64();
  }
}

// Binary input layer: 3x3 conv of the thermometer words (3 colours x LEVELS levels) with binary weights,
// then BN: x = conv1_scale * z0 + conv1_shift. Writes the residual stream and the packed planes of x.
inline void stem_conv_bn(const word_t image[COLOURS][IMG][IMG], fmap_t fmap, plane_t msb_out, plane_t lsb_out) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable = conv1_weight complete dim = 0
#pragma HLS ARRAY_PARTITION variable = conv1_scale complete dim = 1
#pragma HLS ARRAY_PARTITION variable = conv1_shift complete dim = 1
STEM_ROWS:
  for (int r = 0; r < IMG; r++) {
  STEM_COLS:
    for (int c = 0; c < IMG; c++) {
#pragma HLS PIPELINE II = 1
      word_t window[TAPS][COLOURS];
      bool valid[TAPS];
      for (int tap = 0; tap < TAPS; tap++) {
        const int ir = r + tap / 3 - 1, ic = c + tap % 3 - 1;
        valid[tap] = ir >= 0 && ir < IMG && ic >= 0 && ic < IMG;
        for (int colour = 0; colour < COLOURS; colour++) {
          window[tap][colour] = valid[tap] ? image[colour][ir][ic] : word_t(0);
        }
      }
      lanes_t msb_bits = 0, lsb_bits = 0;
    STEM_LANES:
      for (int k = 0; k < STEM_CHANNELS; k++) {
#pragma HLS UNROLL
        int z = 0;
        for (int tap = 0; tap < TAPS; tap++) {
          if (!valid[tap]) continue;
          for (int colour = 0; colour < COLOURS; colour++) {
            z += binary_dot(window[tap][colour], conv1_weight[k][colour][tap], LEVELS);
          }
        }
        const fm_t x = conv1_scale[k] * sum_t(z) + conv1_shift[k];
        fmap[k][r * IMG + c] = x;
        quantize2(x, k, msb_bits, lsb_bits);
      }
      msb_out[r][c] = place_tile(0, msb_bits, 0);
      lsb_out[r][c] = place_tile(0, lsb_bits, 0);
    }
  }
}

// Precision-gated 3x3 conv (pad 1, stride 1 or 2, computed only at output pixels) fused with
// BN + RPReLU + residual add + BN and the quantise-and-pack of its output. The residual stream in
// fmap (already at output resolution) is updated in place. Loops run over the layer's own size:
// cout / 16 tiles of h_out x h_out pixels. tile0: the layer's first row in the pg_* arrays.
inline void pg_conv_bn(const plane_t msb_in, const plane_t lsb_in, fmap_t fmap, plane_t msb_out, plane_t lsb_out,
                       int cin, int cout, int h_in, int stride, int tile0) {
#pragma HLS INLINE off
#pragma HLS ARRAY_PARTITION variable = pg_weight complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_weight complete dim = 3
#pragma HLS ARRAY_PARTITION variable = pg_threshold complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_scale complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_shift complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_slope complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_bn_scale complete dim = 2
#pragma HLS ARRAY_PARTITION variable = pg_bn_shift complete dim = 2
  const int h_out = h_in / stride;
  const int pixels = h_out * h_out;
PG_TILE:
  for (int t = 0; t < cout / OC_TILE; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4
    const int tile = tile0 + t;
  PG_ROWS:
    for (int r = 0; r < h_out; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 8 max = 32
    PG_COLS:
      for (int c = 0; c < h_out; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 8 max = 32
#pragma HLS PIPELINE II = 1
        word_t msb_win[TAPS], lsb_win[TAPS];
        bool valid[TAPS];
        for (int tap = 0; tap < TAPS; tap++) {
          const int ir = r * stride + tap / 3 - 1, ic = c * stride + tap % 3 - 1;
          valid[tap] = ir >= 0 && ir < h_in && ic >= 0 && ic < h_in;
          msb_win[tap] = valid[tap] ? msb_in[ir][ic] : word_t(0);
          lsb_win[tap] = valid[tap] ? lsb_in[ir][ic] : word_t(0);
        }
        lanes_t msb_bits = 0, lsb_bits = 0;
      PG_LANES:
        for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
          int m = 0;
          for (int tap = 0; tap < TAPS; tap++) {
            if (valid[tap]) m += binary_dot(msb_win[tap], pg_weight[tile][k][tap], cin);
          }
          int z = 2 * m;
          if (m > pg_threshold[tile][k]) {  // the precision gate opens: add the LSB plane
            for (int tap = 0; tap < TAPS; tap++) {
              if (valid[tap]) z += binary_dot(lsb_win[tap], pg_weight[tile][k][tap], cin);
            }
          }
          fm_t y = pg_scale[tile][k] * sum_t(z) + pg_shift[tile][k];
          if (y < 0) y = y * pg_slope[tile][k];
          const int index = t * pixels + r * h_out + c;
          const fm_t x = pg_bn_scale[tile][k] * (y + fmap[k][index]) + pg_bn_shift[tile][k];
          fmap[k][index] = x;
          quantize2(x, k, msb_bits, lsb_bits);
        }
        msb_out[r][c] = place_tile(msb_out[r][c], msb_bits, t);
        lsb_out[r][c] = place_tile(lsb_out[r][c], lsb_bits, t);
      }
    }
  }
}

// Downsampling shortcut: 2x2 average pool of the residual stream (cin channels, h_in x h_in), in place
// (each output index is at most its first input index, so no input is overwritten before it is read),
// then the result copied to channels cin..2cin-1 (concatenation with itself).
inline void avgpool_concat(fmap_t fmap, int cin, int h_in) {
#pragma HLS INLINE off
  const ap_ufixed<2, 0> quarter = 0.25;
  const int h = h_in / 2;
  const int tiles = cin / OC_TILE;
POOL_TILE:
  for (int t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 2
  POOL_PIXEL:
    for (int p = 0; p < h * h; p++) {
#pragma HLS LOOP_TRIPCOUNT min = 64 max = 256
#pragma HLS PIPELINE II = 2
      const int base = t * h_in * h_in + 2 * (p / h) * h_in + 2 * (p % h);
      for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
        const pool4_t sum = fmap[k][base] + fmap[k][base + 1] + fmap[k][base + h_in] + fmap[k][base + h_in + 1];
        fmap[k][t * h * h + p] = sum * quarter;
      }
    }
  }
CONCAT:
  for (int i = 0; i < tiles * h * h; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 256 max = 256
#pragma HLS PIPELINE II = 1
    for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
      fmap[k][tiles * h * h + i] = fmap[k][i];
    }
  }
}

// Global 8x8 average pool and the FC layer: mean = fm_t(sum_p x[c][p] / 64) (exact sum, one rounding),
// logit = logit_t(sum_c w[o][c] * mean[c] + b[o]) (exact accumulation, one rounding), then float.
inline void avgpool_fc(const fmap_t fmap, float output[CLASSES]) {
#pragma HLS INLINE off
  const ap_ufixed<7, 0> one_64th = 1.0 / 64;
  const int pixels = POOL_SIZE * POOL_SIZE;
  fm_t mean[FC_IN];
POOL_CHANNEL:
  for (int ch = 0; ch < FC_IN; ch++) {
    pool64_t sum = 0;
  POOL_SUM:
    for (int p = 0; p < pixels; p++) {
#pragma HLS PIPELINE II = 1
      sum += fmap[ch % OC_TILE][(ch / OC_TILE) * pixels + p];
    }
    mean[ch] = sum * one_64th;
  }
FC:
  for (int o = 0; o < CLASSES; o++) {
    fc_acc_t acc = fc_bias[o];
  FC_SUM:
    for (int ch = 0; ch < FC_IN; ch++) {
#pragma HLS PIPELINE II = 1
      acc += fc_weight[o][ch] * mean[ch];
    }
    output[o] = logit_t(acc).to_float();
  }
}

#endif  // FRACNET_LAYERS_H
