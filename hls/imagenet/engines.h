// FracBNN ImageNet accelerator: the two engines every layer of the table runs on.
//
//   stem_conv_bn   thermometer words -> binary 3x3 conv 96 -> 32 at stride 2 (level-dot tables) + BN
//   pg_conv_bn     one precision-gated conv (3x3 in -> in, or 1x1 in -> out) with BN, RPReLU, the 4-bit
//                  shortcut (identity, 2x2 average at stride 2, channels duplicated when out = 2 in) and
//                  the second BN; it writes the 4-bit codes of its output, or (the last layer) pooled sums
//
// Both work in row tiles of ROW_TILE output rows: the input rows a tile needs are read from DRAM in one
// burst per row into an on-chip tile, then for each group of LANES output channels the weights and
// per-channel parameters are read, and every pixel of the tile is computed LANES channels at a time,
// one 64-channel input group per cycle. The numpy twin is fracbnn_lib.hw.imagenet.reference; the cost
// model (fracbnn_lib.hw.imagenet.cost) predicts every pipelined loop's trips and accesses per memory bank
// and iteration, checked against the counting build (hls_support.h: every access to an on-chip memory is
// wrapped in FRACNET_READ / FRACNET_WRITE).
#ifndef FRACNET_IMAGENET_ENGINES_H
#define FRACNET_IMAGENET_ENGINES_H

#include "hls_support.h"
#include "typedefs.h"

// The raw integer of a fixed-point value, and back (the DRAM images hold raw values).
template <int W, int I>
inline int64_t raw_of(ap_fixed<W, I, AP_RND, AP_SAT> x) {
  ap_int<W> raw;
  raw.range(W - 1, 0) = x.range(W - 1, 0);
  return raw.to_int64();
}

template <int W, int I>
inline ap_fixed<W, I, AP_RND, AP_SAT> from_raw(int64_t raw) {
  ap_fixed<W, I, AP_RND, AP_SAT> x;
  x.range(W - 1, 0) = ap_int<W>(raw).range(W - 1, 0);
  return x;
}

inline int popcount64(word_t x) {
#ifdef __SYNTHESIS__
  int count = 0;
  for (int i = 0; i < 64; i++) {
#pragma HLS UNROLL
    count += (x >> i) & 1;
  }
  return count;
#else
  return __builtin_popcountll(x);
#endif
}

// q4(x) = sat_[0,15](floor((x + 1) * 15/2 + 1/2)) = sat(floor((15 x + 16) / 2)), on the raw value.
inline code_t quantize4(fm_t x) {
  const int F = FRACNET_FM_W - FRACNET_FM_I;
  int64_t k = (15 * raw_of(x) + (int64_t(16) << F)) >> (F + 1);
  return k < 0 ? code_t(0) : k > 15 ? code_t(15) : code_t(k);
}

// The 2-bit code's planes from the 4-bit code's planes b3..b0 (bit 1 = +1): q2(x) is a function of q4(x),
// because q2's rounding boundaries (x + 1) * 3/2 = 1/2, 3/2, 5/2 are q4's boundaries 5/2, 15/2, 25/2:
// codes 0-2 -> 0, 3-7 -> 1, 8-12 -> 2, 13-15 -> 3; MSB = q2 >= 2 = b3, LSB = q2 odd.
inline void code_planes(const word_t b[CODE_BITS], word_t &msb, word_t &lsb) {
  const word_t b3 = FRACNET_READ(b[3]), b2 = FRACNET_READ(b[2]), b1 = FRACNET_READ(b[1]), b0 = FRACNET_READ(b[0]);
  msb = b3;
  lsb = (~b3 & (b2 | (b1 & b0))) | (b3 & b2 & (b1 | b0));
}

inline code_t code_at(const word_t b[CODE_BITS], int k) {
  const int bit = 63 - k;
  const word_t b3 = FRACNET_READ(b[3]), b2 = FRACNET_READ(b[2]), b1 = FRACNET_READ(b[1]), b0 = FRACNET_READ(b[0]);
  return code_t(((b3 >> bit) & 1) << 3 | ((b2 >> bit) & 1) << 2 | ((b1 >> bit) & 1) << 1 | ((b0 >> bit) & 1));
}

inline long fmap_word(int row, int col, int width, int groups, int g) {
  return ((long(row) * width + col) * groups + g) * CODE_BITS;
}

// The binary input layer: z0 = sum over valid taps and colours of the lane's level-dot table at the
// colour word's level count; x = fm(scale * z0 + shift); writes q4(x) of the 112 x 112 x 32 map.
inline void stem_conv_bn(const uint32_t *image, const word_t *weights, const int64_t *params, word_t *out,
                         stem_table_t table, stem_rows_t rows) {
  scale_t scale[STEM_CHANNELS];
  param_t shift[STEM_CHANNELS];
  FRACNET_REGISTERS(scale)
  FRACNET_REGISTERS(shift)
  FRACNET_LOOP_ENTER("stem_table");
STEM_TABLE:
  for (long w = 0; w < STEM_TABLE_WORDS; w++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const word_t word = weights[w];
    for (int j = 0; j < 8; j++) {
      const long i = w * 8 + j;
      const int slot = i % (COLOURS * LEVEL_SLOTS), tap = (i / (COLOURS * LEVEL_SLOTS)) % TAPS;
      FRACNET_WRITE(table[i / (COLOURS * LEVEL_SLOTS * TAPS)][tap][slot]) = int8_t(word >> (8 * j));
    }
  }
  FRACNET_LOOP_ENTER("stem_params");
STEM_PARAMS:
  for (int c = 0; c < STEM_CHANNELS; c++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    scale[c] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(params[c]);
    shift[c] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(params[STEM_CHANNELS + c]);
  }
STEM_ROW:
  for (int oy = 0; oy < STEM_SIZE; oy++) {
    // rows 2 oy - 1 .. 2 oy + 1; row 2 oy - 1 is the previous output row's last input row
    const int first_new = oy == 0 ? 0 : 1;
    for (int r = 0; r < first_new; r++)
      for (int c = 0; c < COLOURS; c++)
        for (int x = 0; x < IMG; x++) FRACNET_WRITE(rows[0][c][x]) = FRACNET_READ(rows[2][c][x]);
    for (int r = first_new; r < 3; r++) {
      const int iy = 2 * oy - 1 + r;
      if (iy < 0) continue;
      FRACNET_LOOP_ENTER("stem_load_row");
    STEM_LOAD:
      for (int i = 0; i < COLOURS * IMG; i++) {
#pragma HLS PIPELINE II = 1
        FRACNET_LOOP_TRIP();
        const int c = i / IMG, x = i % IMG;
        const uint32_t word = image[(long(c) * IMG + iy) * IMG + x];
        FRACNET_WRITE(rows[r][c][x]) = uint8_t(popcount64(word_t(word) >> (32 - LEVELS)));
      }
    }
    FRACNET_LOOP_ENTER("stem_pixels");
  STEM_PIXEL:
    for (int ox = 0; ox < STEM_SIZE; ox++) {
#pragma HLS PIPELINE II = 1
      FRACNET_LOOP_TRIP();
      word_t planes[CODE_BITS] = {0, 0, 0, 0};
      FRACNET_REGISTERS(planes)
      for (int lane = 0; lane < STEM_CHANNELS; lane++) {
        int z = 0;
        for (int tap = 0; tap < TAPS; tap++) {
          const int iy = 2 * oy - 1 + tap / 3, ix = 2 * ox - 1 + tap % 3;
          if (iy < 0 || ix < 0 || ix >= IMG) continue;
          for (int c = 0; c < COLOURS; c++)
            z += FRACNET_READ(table[lane][tap][c * LEVEL_SLOTS + FRACNET_READ(rows[tap / 3][c][ix])]);
        }
        const fm_t x = scale[lane] * stem_sum_t(z) + shift[lane];
        const code_t k = quantize4(x);
        for (int b = 0; b < CODE_BITS; b++) planes[b] |= word_t((k >> b) & 1) << (63 - lane);
      }
      for (int b = 0; b < CODE_BITS; b++) out[fmap_word(oy, ox, STEM_SIZE, 1, 0) + b] = planes[b];
    }
  }
}

// One precision-gated layer of the table (see the file comment). Per output channel o with MSB/LSB sums
// m, l over the valid taps: gate m > T; z = 2 m + gate * l; y = fm(scale z + shift); y = fm(slope y) if
// y < 0; with s the sum of the 4-bit codes under the shortcut (4 k at stride 1, the 2x2 block's sum at
// stride 2, channel o mod cin): x' = fm(bn_scale y + res_scale s + bn_shift). Writes q4(x'), or adds
// x' to pooled[o] when pooled is given (the last layer).
inline void pg_conv_bn(const LayerSpec &L, const word_t *weights, const int64_t *params, const word_t *in,
                       word_t *out, int64_t *pooled, tile_t tile, out_tile_t out_tile, weight_tile_t wbuf,
                       int64_t pool_acc[OUT_CHANNELS]) {
  sum_t threshold[LANES];
  scale_t scale[LANES], bn_scale[LANES], res_scale[LANES];
  param_t shift[LANES], slope[LANES], bn_shift[LANES];
  FRACNET_REGISTERS(threshold)
  FRACNET_REGISTERS(scale)
  FRACNET_REGISTERS(bn_scale)
  FRACNET_REGISTERS(res_scale)
  FRACNET_REGISTERS(shift)
  FRACNET_REGISTERS(slope)
  FRACNET_REGISTERS(bn_shift)
  const int K = L.ksize, pad = K / 2, S = L.size_in, stride = L.stride, So = S / stride;
  const int gin = (L.cin + GROUP - 1) / GROUP, gout = (L.cout + GROUP - 1) / GROUP;
  const int taps = K * K;
  const int tile_rows = (ROW_TILE - 1) * stride + K;
  if (pooled)
    for (int o = 0; o < L.cout; o++) FRACNET_WRITE(pool_acc[o]) = 0;
ROW_TILES:
  for (int t = 0; t < So / ROW_TILE; t++) {
    const int r0 = t * ROW_TILE * stride - pad;  // image row of the tile's first row
    for (int r = 0; r < tile_rows; r++) {
      const int iy = r0 + r;
      if (iy < 0 || iy >= S) continue;
      FRACNET_LOOP_ENTER("load_row");
    LOAD_ROW:
      for (int i = 0; i < S * gin * CODE_BITS; i++) {
#pragma HLS PIPELINE II = 1
        FRACNET_LOOP_TRIP();
        FRACNET_WRITE(tile[long(r) * S * gin * CODE_BITS + i]) = in[long(iy) * S * gin * CODE_BITS + i];
      }
    }
  OUT_GROUPS:
    for (int go = 0; go < gout; go++) {
    OC_TILES:
      for (int half = 0; half < GROUP / LANES && go * GROUP + half * LANES < L.cout; half++) {
        const int oc0 = go * GROUP + half * LANES;
        FRACNET_LOOP_ENTER("load_weights");
      LOAD_WEIGHTS:
        for (int i = 0; i < LANES * taps * gin; i++) {
#pragma HLS PIPELINE II = 1
          FRACNET_LOOP_TRIP();
          const int lane = i / (taps * gin), tap = (i / gin) % taps, g = i % gin;
          FRACNET_WRITE(wbuf[lane][tap][g]) = weights[L.weight_word + (long(oc0 + lane) * taps + tap) * gin + g];
        }
        FRACNET_LOOP_ENTER("load_params");
      LOAD_PARAMS:
        for (int i = 0; i < PARAM_ARRAYS * LANES; i++) {
#pragma HLS PIPELINE II = 1
          FRACNET_LOOP_TRIP();
          const int field = i / LANES, lane = i % LANES;
          const int64_t raw = params[L.param_word + long(field) * L.cout + oc0 + lane];
          switch (field) {
            case 0: threshold[lane] = sum_t(raw); break;
            case 1: scale[lane] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(raw); break;
            case 2: shift[lane] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(raw); break;
            case 3: slope[lane] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(raw); break;
            case 4: bn_scale[lane] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(raw); break;
            case 5: res_scale[lane] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(raw); break;
            default: bn_shift[lane] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(raw); break;
          }
        }
        FRACNET_LOOP_ENTER("pixels");
        int m[LANES], l[LANES];
        word_t planes[CODE_BITS];
        FRACNET_REGISTERS(m)
        FRACNET_REGISTERS(l)
        FRACNET_REGISTERS(planes)
      PIXELS:  // one 64-channel input group of one pixel per cycle; the epilogue after its last group
        for (int i = 0; i < ROW_TILE * So * gin; i++) {
#pragma HLS PIPELINE II = 1
          FRACNET_LOOP_TRIP();
          const int p = i / gin, g = i % gin;
          const int oy = t * ROW_TILE + p / So, ox = p % So;
          if (g == 0)
            for (int lane = 0; lane < LANES; lane++) m[lane] = l[lane] = 0;
          const int valid = L.cin - g * GROUP < GROUP ? L.cin - g * GROUP : GROUP;
          for (int tap = 0; tap < taps; tap++) {
            const int iy = oy * stride - pad + tap / K, ix = ox * stride - pad + tap % K;
            if (iy < 0 || iy >= S || ix < 0 || ix >= S) continue;
            word_t msb, lsb;
            code_planes(&tile[(long(iy - r0) * S + ix) * gin * CODE_BITS + g * CODE_BITS], msb, lsb);
            for (int lane = 0; lane < LANES; lane++) {
              const word_t w = FRACNET_READ(wbuf[lane][tap][g]);
              m[lane] += valid - 2 * popcount64(msb ^ w);
              l[lane] += valid - 2 * popcount64(lsb ^ w);
            }
          }
          if (g != gin - 1) continue;
          for (int b = 0; b < CODE_BITS; b++) planes[b] = 0;
          for (int lane = 0; lane < LANES; lane++) {
            const int o = oc0 + lane, c = o % L.cin;
            const word_t *at = &tile[(c / GROUP) * CODE_BITS];
            int s = 0;  // the shortcut's code sum (always four codes' worth)
            if (stride == 2) {
              for (int d = 0; d < 4; d++)
                s += code_at(at + (long(2 * oy + d / 2 - r0) * S + 2 * ox + d % 2) * gin * CODE_BITS, c % GROUP);
            } else {
              s = 4 * code_at(at + (long(oy - r0) * S + ox) * gin * CODE_BITS, c % GROUP);
            }
            const conv_sum_t z = 2 * m[lane] + (m[lane] > threshold[lane] ? l[lane] : 0);
            fm_t y = scale[lane] * z + shift[lane];
            if (y < 0) y = y * slope[lane];
            const fm_t x = bn_scale[lane] * y + res_scale[lane] * code_sum_t(s) + bn_shift[lane];
            if (pooled) {
              FRACNET_WRITE(pool_acc[o]) = FRACNET_READ(pool_acc[o]) + raw_of(x);
            } else {
              const code_t k = quantize4(x);
              for (int b = 0; b < CODE_BITS; b++) planes[b] |= word_t((k >> b) & 1) << (63 - (o % GROUP));
            }
          }
          if (!pooled)
            for (int b = 0; b < CODE_BITS; b++)
              FRACNET_WRITE(out_tile[long(p) * CODE_BITS + b]) =
                  half == 0 ? planes[b] : FRACNET_READ(out_tile[long(p) * CODE_BITS + b]) | planes[b];
        }
      }
      if (pooled) continue;
      FRACNET_LOOP_ENTER("store_group");
    STORE_GROUP:
      for (int i = 0; i < ROW_TILE * So * CODE_BITS; i++) {
#pragma HLS PIPELINE II = 1
        FRACNET_LOOP_TRIP();
        const int p = i / CODE_BITS, b = i % CODE_BITS;
        out[fmap_word(t * ROW_TILE + p / So, p % So, So, gout, go) + b] = FRACNET_READ(out_tile[i]);
      }
    }
  }
  if (!pooled) return;
  FRACNET_LOOP_ENTER("store_pooled");
STORE_POOLED:
  for (int o = 0; o < L.cout; o++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    pooled[o] = FRACNET_READ(pool_acc[o]);
  }
}

#endif  // FRACNET_IMAGENET_ENGINES_H
