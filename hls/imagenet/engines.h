// FracBNN ImageNet accelerator: the engines every layer of the table runs on, and the transfers around them.
//
//   stem_*          thermometer words -> binary 3x3 conv 96 -> 32 at stride 2 (level-dot tables) + BN
//   compute_tile    one weight tile (LANES output channels) of one row tile of a precision-gated conv (3x3 in -> in,
//                   or 1x1 in -> out) with BN, RPReLU, the 4-bit shortcut (identity, 2x2 average at stride 2,
//                   channels duplicated when out = 2 in) and the second BN; it writes the 4-bit codes of its
//                   output into the out tile, or (the last layer) sums them per channel
//   load_tile, store_tile, load_weight_tile, stem_load   the DRAM transfers, each one sequential burst per call
//
// A layer runs in row tiles (LayerSpec.rows output rows). While a row tile computes, the transfer of the one
// before (its output codes, from the other out tile) and of the one after (its input rows, into the other input
// tile) run beside it; within a row tile, while one weight tile computes, the next weight tile's weights and
// parameters are read into the other weight buffer (the next layer's first, at a layer's last). Each ping-pong
// pair is two arrays and each step calls its functions on distinct arrays, so the tool runs them at once
// (fracnet.cc, README.md).
//
// The PG engine (compute_tile) works in passes: for each input group (3x3) or nine input groups (1x1), one pass
// over the row tile's pixels, one pixel per cycle: TAPS slots x LANES lanes x 2 planes of XOR-popcounts, the
// slots fed by the nine banks of the input tile (a 3x3 window of one group: banks by row and column mod 3; nine
// groups of one pixel on a 1x1 layer: banks by the pixel's and the group's digits mod 9, load_tile), one read per
// bank (the tiles are simple dual port: load_tile writes, compute_tile reads), routed to the slots by two 3:1
// rotations (rows, then columns). The lanes' weights for the pass sit in registers, the next pass's shift in one
// lane a cycle beside them. The partial sums wait in acc between passes; the shortcut's codes are summed in the pass
// that reads its group (among the window's elements) and wait in sc_sums; the last pass adds them and runs the
// epilogue. No pipelined loop divides: every position, bank and address advances by counters.
//
// The numpy twin is fracbnn_lib.hw.imagenet.reference; the cost model (fracbnn_lib.hw.imagenet.cost) predicts every
// pipelined loop's trips and accesses per memory bank and iteration, checked against the counting build
// (hls_support.h: every access to an on-chip memory is wrapped in FRACNET_READ / FRACNET_WRITE).
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
#elif defined(__POPCNT__)
  return __builtin_popcountll(x);
#else  // C-simulation without a popcount instruction: SWAR, inline (the builtin would call libgcc)
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return int((x * 0x0101010101010101ULL) >> 56);
#endif
}

// Word `half` (0: bits 63..0, 1: bits 127..64) of a 128-bit beat, and a beat of two words.
inline word_t beat_word(const beat_t &beat, int half) { return half ? beat.high : beat.low; }

inline beat_t make_beat(word_t low, word_t high) {
  beat_t beat;
  beat.low = low, beat.high = high;
  return beat;
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
  msb = b[3];
  lsb = (~b[3] & (b[2] | (b[1] & b[0]))) | (b[3] & b[2] & (b[1] | b[0]));
}

// The code of channel k (0..63) of a pixel-group's four planes.
inline code_t code_at(const word_t b[CODE_BITS], int k) {
  const int bit = 63 - k;
  return code_t(((b[3] >> bit) & 1) << 3 | ((b[2] >> bit) & 1) << 2 | ((b[1] >> bit) & 1) << 1 | ((b[0] >> bit) & 1));
}

// The 8 bits of a byte, each at the bottom of its own byte (bit i at bit 8 i): shifts and masks, wires in hardware.
inline word_t spread_byte(uint8_t byte) {
  word_t x = byte;
  x = (x | x << 28) & 0x0000000F0000000FULL;
  x = (x | x << 14) & 0x0003000300030003ULL;
  x = (x | x << 7) & 0x0101010101010101ULL;
  return x;
}

// The level count of a 32-bit colour word: its set bits among the top LEVELS (the code of that many levels).
inline level_t count_levels(uint32_t word) { return level_t(popcount64(word_t(word) >> (32 - LEVELS))); }

// Lane k's code in plane b of a slice: bit 8 b + 7 - k (the code's bit b moved to bit 8 b, then to its lane).
inline slice_t place_code(code_t code, int k) {
  const slice_t spread = slice_t(code & 1) | slice_t(code & 2) << 7 | slice_t(code & 4) << 14 | slice_t(code & 8) << 21;
  return spread << (7 - k);
}

// ------------------------------------------------------------------------------------------------------- stem

// The stem's level-dot tables and its BN (registers). A beat holds 16 of the 288 lane-and-tap tables at one slot;
// table q = lane * 9 + tap (lanes 0..31) lives in bank q mod 144 (the engine's 16 lanes x 9 taps) at half
// q / 144 (lanes 0..15, then 16..31): address half * STEM_SLOTS + slot. 144 = 9 x 16, so a beat fills 16 banks of one
// half and each bank's byte of a beat is fixed (k mod 16).
inline void stem_load_tables(const beat_t *weights, const beat_t *params, stem_table_t table,
                             scale_t scale[STEM_CHANNELS], param_t shift[STEM_CHANNELS]) {
#pragma HLS INLINE off
  int slot = 0, base = 0, first = 0;  // the beat's slot, its half's address base (0 or STEM_SLOTS), its first bank
  FRACNET_LOOP_ENTER("stem_table");
STEM_TABLE:
  for (int i = 0; i < STEM_TABLE_BEATS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const beat_t beat = weights[i];
    for (int k = 0; k < STEM_BANKS; k++) {  // bank k takes byte k mod 16 of the beats of its run
      if (k >= first && k < first + 2 * 8) {
        FRACNET_WRITE(table[k][base + slot]) = int8_t(beat_word(beat, (k % 16) >> 3) >> (8 * (k % 8)));
      }
    }
    first += 2 * 8;
    if (first == STEM_BANKS) {
      first = 0;
      if (base == 0) {
        base = STEM_SLOTS;
      } else {
        base = 0, slot++;
      }
    }
  }
  int64_t raw[2 * STEM_CHANNELS];  // scale then shift, shifted in two a beat
  FRACNET_REGISTERS(raw)
  FRACNET_LOOP_ENTER("stem_params");
STEM_PARAMS:
  for (int i = 0; i < STEM_PARAM_BEATS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const beat_t beat = params[i];
    for (int k = 0; k < 2 * STEM_CHANNELS - 2; k++) raw[k] = raw[k + 2];
    raw[2 * STEM_CHANNELS - 2] = int64_t(beat_word(beat, 0));
    raw[2 * STEM_CHANNELS - 1] = int64_t(beat_word(beat, 1));
  }
  for (int k = 0; k < STEM_CHANNELS; k++) {
#pragma HLS UNROLL
    scale[k] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(raw[k]);
    shift[k] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(raw[STEM_CHANNELS + k]);
  }
}

// Stem tile t's input rows 16 t - 1 .. 16 t + 15 as level counts (two columns an element): row r (local
// r - 16 t + 1) of colour c in bank (local mod 3) * 3 + c at (local / 3) * 112 + beat. One burst per colour.
inline void stem_load(const image_beat_t *image, int t, stem_rows_t rows) {
#pragma HLS INLINE off
  const int first = t == 0 ? 0 : 2 * STEM_ROWS * t - 1;  // first image row read (row -1 is padding)
  const int count = t == 0 ? 2 * STEM_ROWS : 2 * STEM_ROWS + 1;
STEM_LOAD_COLOURS:
  for (int c = 0; c < COLOURS; c++) {
    const image_beat_t *src = image + (c * IMG + first) * IMG_BEATS_PER_ROW;
    int bank = t == 0 ? 1 : 0, addr = 0, col = 0;  // local row mod 3, (local row / 3) * 112, beat in the row
    FRACNET_LOOP_ENTER("stem_load");
  STEM_LOAD:
    for (int i = 0; i < count * IMG_BEATS_PER_ROW; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1792 max = 1904 avg = 1896
#pragma HLS PIPELINE II = 1
      FRACNET_LOOP_TRIP();
      const image_beat_t beat = src[i];
      const uint16_t counts = uint16_t(count_levels(uint32_t(beat)) | count_levels(uint32_t(beat >> 32)) << 8);
      for (int j = 0; j < 3; j++) {
        for (int cc = 0; cc < COLOURS; cc++) {
          if (j == bank && cc == c) FRACNET_WRITE(rows[j * COLOURS + cc][addr + col]) = counts;
        }
      }
      if (++col == IMG_BEATS_PER_ROW) {
        col = 0;
        if (++bank == 3) bank = 0, addr += IMG_BEATS_PER_ROW;
      }
    }
  }
}

// Stem tile t: z0 = sum over valid taps and colours of the lane's level-dot table at the colour word's level count;
// x = fm(scale * z0 + shift); q4(x) into slices 0..3 of the out tile (pixel-group p: one group). STEM_LANES lanes: two
// halves over the tile's pixels (channels 0..15, then 16..31: slices 0, 1 then 2, 3). One colour per iteration
// (three per pixel): each row bank of the colour read once (the columns 2 ox and 2 ox + 1 of an element; column
// 2 ox - 1 kept from the pixel before), each lane-and-tap table once (at half * STEM_SLOTS + slot).
inline void stem_compute(int t, const stem_rows_t rows, const stem_table_t table, const scale_t scale[STEM_CHANNELS],
                         const param_t shift[STEM_CHANNELS], out_tile_t out) {
#pragma HLS INLINE off
  int z[STEM_LANES];               // conv sums over the colours so far
  uint16_t left[COLOURS][3];       // element ox - 1 of each colour and window row: its high count is column 2 ox - 1
  FRACNET_REGISTERS(z)
  FRACNET_REGISTERS(left)
  int half = 0, c = 0, ox = 0, p = 0;
  int base = 0;                    // the table address of the half's and colour's slot 0: half * STEM_SLOTS + c * 33
  int r3 = 0, rq = 0;              // the window's first local row (2 oy) mod 3 and its bank address (/ 3 x 112)
  bool top = t == 0;               // the window's first row is the padding row -1
  FRACNET_LOOP_ENTER("stem_pixels");
STEM_PIXELS:
  for (int i = 0; i < STEM_HALVES * STEM_PIXELS * COLOURS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    uint16_t cur[3];  // window rows 0..2 at element ox of colour c
    FRACNET_REGISTERS(cur)
    for (int j = 0; j < 3; j++) {
      const int d = j >= r3 ? j - r3 : j - r3 + 3;  // the window row bank j holds
      const int addr = (j < r3 ? rq + IMG_BEATS_PER_ROW : rq) + ox;
      uint16_t word = 0;
      for (int cc = 0; cc < COLOURS; cc++) {
        if (cc == c && !(top && d == 0)) word = FRACNET_READ(rows[j * COLOURS + cc][addr]);
      }
      cur[d] = word;
    }
    int slot[TAPS];
    bool valid[TAPS];
    FRACNET_REGISTERS(slot)
    FRACNET_REGISTERS(valid)
    for (int d = 0; d < 3; d++) {
      const uint16_t before = c == 0 ? left[0][d] : c == 1 ? left[1][d] : left[2][d];
      slot[3 * d] = base + (before >> 8);
      slot[3 * d + 1] = base + (cur[d] & 0xFF);
      slot[3 * d + 2] = base + (cur[d] >> 8);
      for (int dx = 0; dx < 3; dx++) valid[3 * d + dx] = !(top && d == 0) && !(ox == 0 && dx == 0);
    }
    for (int cc = 0; cc < COLOURS; cc++) {
      if (cc == c)
        for (int d = 0; d < 3; d++) left[cc][d] = cur[d];
    }
    slice_t codes[STEM_LANES / LANES];
    FRACNET_REGISTERS(codes)
    for (int s = 0; s < STEM_LANES / LANES; s++) codes[s] = 0;
  STEM_LANES_LOOP:
    for (int k = 0; k < STEM_LANES; k++) {
#pragma HLS UNROLL
      int sum = c == 0 ? 0 : z[k];
      for (int tap = 0; tap < TAPS; tap++) {
        if (valid[tap]) sum += FRACNET_READ(table[k * TAPS + tap][slot[tap]]);
      }
      z[k] = sum;
      if (c == COLOURS - 1) {  // the half's channel: lane k or STEM_LANES + k (a 2:1 choice of its BN)
        const scale_t a = half ? scale[STEM_LANES + k] : scale[k];
        const param_t b = half ? shift[STEM_LANES + k] : shift[k];
        const fm_t x = a * stem_sum_t(sum) + b;
        codes[k / LANES] |= place_code(quantize4(x), k % LANES);
      }
    }
    if (c == COLOURS - 1) {  // slices 2 half, 2 half + 1
      for (int s = 0; s < STEM_CHANNELS / LANES; s++) {
        if ((s >> 1) == half) FRACNET_WRITE(out[s][p]) = codes[s & 1];
      }
    }
    base += LEVEL_SLOTS;
    if (++c == COLOURS) {
      c = 0, p++, base -= COLOURS * LEVEL_SLOTS;
      if (++ox == STEM_SIZE) {
        ox = 0, top = false;
        r3 += 2;
        if (r3 >= 3) r3 -= 3, rq += IMG_BEATS_PER_ROW;
      }
      if (p == STEM_PIXELS) {  // the second half: the tile's pixels again
        half = 1, p = 0, base = STEM_SLOTS, top = t == 0, r3 = rq = 0;
      }
    }
  }
}

// --------------------------------------------------------------------------------------------- PG transfers

// Row tile t's input rows (first_row .. first_row + in_rows - 1, those inside the map: one burst) into the input
// tile. 3x3: local row lr = row - first_row, local column lc = col + 1 (the padding column is lc 0), element
// (lr, lc, g) in bank (lr mod 3) * 3 + lc mod 3 at ((lr / 3) * bank_cols + lc / 3) * gin + g. 1x1: pixel
// p = lr * size_in + col and group g, with p mod 9 = 3 pr + pc and g mod 9 = 3 gr + gc, in bank
// ((pr + gr) mod 3) * 3 + (pc + gc) mod 3 at (p / 9) * gin + g: the nine groups of a pass are nine banks, in an order
// that two 3:1 rotations by (pr, pc) undo (compute_tile). Planes 0, 1 from a beat, then 2, 3.
inline void load_tile(const LayerSpec &L, const beat_t *in, int first_row, tile_t tile) {
#pragma HLS INLINE off
  const bool three = L.ksize == 3;
  const int lo = first_row < 0 ? 0 : first_row;
  const int hi = first_row + L.in_rows > L.size_in ? L.size_in : first_row + L.in_rows;
  const beat_t *src = in + lo * L.in_row_beats;
  int half = 0, g = 0, col = 0;
  int r3 = lo - first_row, row_base = 0;  // 3x3: local row mod 3 (starts at 0 or 1) and (local row / 3) x tile_row_step
  int c3 = 1, col_base = 0;               // 3x3: local column mod 3 and (local column / 3) x gin
  int pr = 0, pc = 0, pbase = 0;          // 1x1: the pixel mod 9 (two digits in base 3) and (pixel / 9) x gin
  int gr = 0, gc = 0;                     // 1x1: the group mod 9 (two digits in base 3)
  FRACNET_LOOP_ENTER("load_tile");
LOAD_TILE:
  for (int i = 0; i < (hi - lo) * L.in_row_beats; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 112 max = 6272 avg = 3000
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const beat_t beat = src[i];
    const int br = pr + gr >= 3 ? pr + gr - 3 : pr + gr, bc = pc + gc >= 3 ? pc + gc - 3 : pc + gc;
    const int bank = three ? r3 * 3 + c3 : br * 3 + bc;
    const int addr = three ? row_base + col_base + g : pbase + g;
    for (int j = 0; j < TILE_BANKS; j++) {
      if (j == bank) {
        for (int b = 0; b < CODE_BITS; b++) {
          if ((b >> 1) == half) FRACNET_WRITE(tile[j][addr][b]) = beat_word(beat, b & 1);
        }
      }
    }
    if (++half == BEAT_WORDS) {  // the element is complete: the next
      half = 0;
      if (++gc == 3) {
        gc = 0;
        if (++gr == 3) gr = 0;
      }
      if (++g == L.gin) {
        g = 0, gr = gc = 0;
        if (++pc == 3) {
          pc = 0;
          if (++pr == 3) pr = 0, pbase += L.gin;
        }
        col_base += L.gin;
        if (++c3 == 3) c3 = 0;
        else col_base -= L.gin;
        if (++col == L.size_in) {
          col = 0, c3 = 1, col_base = 0;
          if (++r3 == 3) r3 = 0, row_base += L.tile_row_step;
        }
      }
    }
  }
}

// The out tile's pixel-groups 0 .. elements - 1 (pixel-major, gout groups a pixel) to dst, two beats each (planes 0, 1
// then 2, 3), one burst; in the last group only the first last_slices slices hold channels (the rest are 0).
inline void store_tile(const out_tile_t out, int elements, int gout, int last_slices, beat_t *dst) {
#pragma HLS INLINE off
  int half = 0, e = 0, g = 0;
  FRACNET_LOOP_ENTER("store_tile");
STORE_TILE:
  for (int i = 0; i < elements * BEAT_WORDS; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 196 max = 3584 avg = 1600
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    word_t plane[2] = {0, 0};
    FRACNET_REGISTERS(plane)
    for (int s = 0; s < SLICES; s++) {
      if (g != gout - 1 || s < last_slices) {
        const slice_t codes = FRACNET_READ(out[s][e]);
        for (int k = 0; k < 2; k++) plane[k] |= word_t((codes >> (8 * (2 * half + k))) & 0xFF) << (56 - 8 * s);
      }
    }
    dst[i] = make_beat(plane[0], plane[1]);
    if (++half == BEAT_WORDS) {
      half = 0, e++;
      if (++g == gout) g = 0;
    }
  }
}

// One weight tile (LANES output channels of layer L, from weight beat w and parameter beat p) into a weight buffer
// and parameter registers. Its parameters are one burst (field-major, LANES each, two a beat); its
// weights another, lane by lane: 3x3 words (lane, g, tap) into bank tap at g * LANES + lane; 1x1 words (lane, g)
// into bank g mod 9 at (g / 9) * LANES + lane: the bank is the slot and g (g / 9) the pass that reads it. A beat's
// two words go to two banks (the buffers are simple dual port: one write a bank a cycle): consecutive taps, or
// consecutive groups; a 1x1 layer of one group (two lanes a beat, both slot 0) puts lane k's word in bank k mod 2.
inline void load_weight_tile(const LayerSpec &L, const beat_t *weights, const beat_t *params, int w, int p,
                             weight_tile_t wbuf, param_tile_t praw) {
#pragma HLS INLINE off
  int field = 0, lane = 0;  // of the beat's first word (LANES is even: a beat's two words share the field)
  FRACNET_LOOP_ENTER("load_params");
LOAD_PARAMS:
  for (int i = 0; i < PARAM_TILE_BEATS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const beat_t beat = params[p + i];
    praw[field][lane] = int64_t(beat_word(beat, 0));  // registers: each one's enable decoded from the counters
    praw[field][lane + 1] = int64_t(beat_word(beat, 1));
    lane += 2;
    if (lane == LANES) lane = 0, field++;
  }
  const bool three = L.ksize == 3, pairs = !three && L.gin == 1;
  int slot = 0, pass = 0, g = 0;
  lane = 0;
  FRACNET_LOOP_ENTER("load_weights");
LOAD_WEIGHTS:
  for (int i = 0; i < L.tile_weight_beats; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 4 max = 576 avg = 200
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    const beat_t beat = weights[w + i];
    for (int h = 0; h < BEAT_WORDS; h++) {
      for (int j = 0; j < TAPS; j++) {
        if (j == slot) FRACNET_WRITE(wbuf[j][pass * LANES + lane]) = beat_word(beat, h);
      }
      if (three) {  // (lane, g, tap): the tap is the slot, g the pass
        if (++slot == TAPS) {
          slot = 0;
          if (++pass == L.gin) pass = 0, lane++;
        }
      } else {  // (lane, g): slot g mod 9, pass g / 9
        if (++g == L.gin) {
          g = 0, pass = 0, lane++;
          slot = pairs ? (lane & 1) : 0;
        } else if (++slot == TAPS) {
          slot = 0, pass++;
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------- PG engine

// A 3x3 window whose first local row is `top` (mod 3: r3; its bank address rq): per bank row d, the address in the
// bank of the window row it holds ((d - r3) mod 3); per window row dy, whether it is inside the map.
inline void window_rows(const LayerSpec &L, int first_row, int top, int r3, int rq, int row_base[3],
                        bool row_inside[3]) {
  for (int d = 0; d < 3; d++) {
    row_base[d] = rq + (d < r3 ? L.tile_row_step : 0);
    const int row = first_row + top + d;
    row_inside[d] = row >= 0 && row < L.size_in;
  }
}

// One output's epilogue: gate m > T; z = 2 m + gate * l; y = fm(scale z + shift); y = fm(slope y) if y < 0;
// x' = fm(bn_scale y + res_scale s + bn_shift), s the shortcut's sum of four codes.
inline fm_t pg_epilogue(sum_t m, sum_t l, int s, sum_t threshold, const scale_t &scale, const param_t &shift,
                        const param_t &slope, const scale_t &bn_scale, const scale_t &res_scale, const param_t &bn_shift) {
  const conv_sum_t z = 2 * int(m) + (m > threshold ? int(l) : 0);
  fm_t y = scale * z + shift;
  if (y < 0) y = y * slope;
  return bn_scale * y + res_scale * code_sum_t(s) + bn_shift;
}

// One weight tile (output channels oc0 .. oc0 + LANES - 1) of row tile t (its first input row first_row) of layer L.
// Per output channel o with MSB/LSB sums m, l over the valid taps: gate m > T; z = 2 m + gate * l;
// y = fm(scale z + shift); y = fm(slope y) if y < 0; with s the sum of the 4-bit codes under the shortcut (4 k at
// stride 1, the 2x2 block's sum at stride 2, channel o mod cin): x' = fm(bn_scale y + res_scale s + bn_shift).
// Writes q4(x') into the out tile (slice (oc0 / 8) mod 8 of pixel-group p * gout + oc0 / 64), or (last) sums x' over
// the pixels into pool_acc.
//
// One flattened loop: LANES iterations that shift the first pass's weights in, then `passes` passes over the
// row tile's pixels. Per iteration: each input-tile bank read once at the window element (or group) it holds, the
// nine elements routed to their slots (the bank of slot (dy, dx) is ((R + dy) mod 3, (C + dx) mod 3): a row rotation
// by R, then a column rotation by C); in the pass of the shortcut's group (oc0 mod cin / 64) its codes summed from
// those elements and, unless that pass is the last, written to sc_sums, which the last pass reads; acc read (after
// the first pass) and written (before the last); the next pass's weights one lane a cycle from the weight buffer.
inline void compute_tile(const LayerSpec &L, bool last, int oc0, int first_row, const tile_t tile,
                         const weight_tile_t wbuf, const param_tile_t praw, acc_tile_t acc, sc_tile_t sc_sums,
                         out_tile_t out, pool_acc_t pool_acc) {
#pragma HLS INLINE off
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
  for (int k = 0; k < LANES; k++) {
#pragma HLS UNROLL
    threshold[k] = sum_t(praw[0][k]);
    scale[k] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(praw[1][k]);
    shift[k] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(praw[2][k]);
    slope[k] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(praw[3][k]);
    bn_scale[k] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(praw[4][k]);
    res_scale[k] = from_raw<FRACNET_SCALE_W, FRACNET_SCALE_I>(praw[5][k]);
    bn_shift[k] = from_raw<FRACNET_PARAM_W, FRACNET_PARAM_I>(praw[6][k]);
  }
  const bool three = L.ksize == 3, wide = L.stride == 2, pairs = !three && L.gin == 1;
  const int oc_in = oc0 >= L.cin ? oc0 - L.cin : oc0;  // the shortcut's first channel: o mod cin (cout is cin or 2 cin)
  const int gs = oc_in >> 6, cbase = oc_in & 63;      // its group and first bit
  const int go = oc0 >> 6, slice = (oc0 >> 3) & (SLICES - 1);
  const int gs_q = gs >= TAPS ? 1 : 0, gs_r = gs >= TAPS ? gs - TAPS : gs;  // 1x1: its pass and slot
  const int gs_row = gs_r >= 6 ? 2 : gs_r >= 3 ? 1 : 0, gs_col = gs_r - 3 * gs_row;
  const int gs_pass = three ? gs : gs_q;  // the pass that reads the shortcut's group: its codes are summed there
  const bool sc_kept = gs_pass != L.passes - 1;  // ... and kept in sc_sums for the last pass
  word_t active[LANES][TAPS], shadow[LANES][TAPS];  // this pass's weights, the next pass's
  int64_t pool_sum[LANES];
  FRACNET_REGISTERS(active)
  FRACNET_REGISTERS(shadow)
  FRACNET_REGISTERS(pool_sum)
  int pass = -1, p = 0, length = LANES;  // -1: the weights of pass 0 shift in
  int groups_left = L.gin;                // input groups from this pass on (1x1: the pass's slots, at most 9)
  int ox = 0;                             // output column in the row tile
  int top = 0, left = 0;                  // 3x3: the window's local row (oy * stride) and column (ox * stride),
  int r3 = 0, rq = 0, c3 = 0, cq = 0;     // mod 3, and / 3 times tile_row_step or gin
  int p9r = 0, p9c = 0, pbase = 0;        // 1x1: p mod 9 as (p9r, p9c) = its two digits in base 3, and (p / 9) gin
  int first_group = 0;                    // 1x1: the pass's first group (9 pass)
  int at = go;                            // out tile pixel-group p * gout + go
  int row_base[3];                        // 3x3: per bank row the address of the window row it holds, per window
  bool row_inside[3];                     // row whether it is inside the map (set at each window row)
  FRACNET_REGISTERS(row_base)
  FRACNET_REGISTERS(row_inside)
  window_rows(L, first_row, 0, 0, 0, row_base, row_inside);
  FRACNET_LOOP_ENTER("pixels");
PIXELS:
  for (int i = 0; i < LANES + L.passes * L.pixels; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 57 max = 16392 avg = 1600
#pragma HLS PIPELINE II = 1
#pragma HLS DEPENDENCE variable = acc inter false
#pragma HLS DEPENDENCE variable = sc_sums inter false
    FRACNET_LOOP_TRIP();
    const int next = pass + 1;  // the pass whose weights shift in (at p < LANES)
    if (p < LANES && next < L.passes) {
      const int slots = three ? TAPS : groups_left - (pass < 0 ? 0 : TAPS);  // 1x1: groups of pass `next`
      for (int k = 0; k < LANES - 1; k++)
        for (int j = 0; j < TAPS; j++) shadow[k][j] = shadow[k + 1][j];
      for (int j = 0; j < TAPS; j++) {  // (a 1x1 layer of one group: an odd lane's word in bank 1)
        if (j < slots) shadow[LANES - 1][j] = FRACNET_READ(wbuf[j == 0 && pairs && (p & 1) ? 1 : j][next * LANES + p]);
      }
    }
    if (pass >= 0) {
      const bool final = pass == L.passes - 1, sc_pass = pass == gs_pass;
      // The nine banks, each read once: bank (br, bc) holds slot (dy, dx) = ((br - R) mod 3, (bc - C) mod 3) of the
      // pass (3x3: the window element (dy, dx), (R, C) the window's first local row and column mod 3; 1x1: group
      // 9 pass + 3 dy + dx of the pixel, (R, C) the digits of p mod 9). Per bank: its code planes and, for the
      // shortcut, its byte at the shortcut's channels; then two 3:1 rotations route them to the slots, rows first.
      const int R = three ? r3 : p9r, C = three ? c3 : p9c;
      word_t bank_msb[3][3], bank_lsb[3][3];  // per bank (row, column): its element's code planes and the byte at
      uint8_t bank_byte[3][3][CODE_BITS];     // the shortcut's channels per plane
      int count[TAPS];                        // per slot: valid channels (0: outside the map, or no group)
      FRACNET_REGISTERS(bank_msb)
      FRACNET_REGISTERS(bank_lsb)
      FRACNET_REGISTERS(bank_byte)
      FRACNET_REGISTERS(count)
      // Every bank is read (3x3: padding positions are in the tile; 1x1: the addresses a pass reads are within the
      // tile, layout._bank_depth); what lies outside the map, or past the layer's groups, is not counted.
      if (three) {
        const int n = pass == L.gin - 1 ? L.last_valid : GROUP;
        int col_base[3];
        bool col_inside[3];
        FRACNET_REGISTERS(col_base)
        FRACNET_REGISTERS(col_inside)
        for (int d = 0; d < 3; d++) {  // per bank column the address of the window column it holds; per window
          const int col = left - 1 + d;  // column whether it is inside the map
          col_base[d] = cq + (d < c3 ? L.gin : 0), col_inside[d] = col >= 0 && col < L.size_in;
        }
        for (int br = 0; br < 3; br++) {
          for (int bc = 0; bc < 3; bc++) {
            word_t b[CODE_BITS];
            FRACNET_REGISTERS(b)
            for (int k = 0; k < CODE_BITS; k++) b[k] = FRACNET_READ(tile[3 * br + bc][row_base[br] + col_base[bc] + pass][k]);
            code_planes(b, bank_msb[br][bc], bank_lsb[br][bc]);
            // the byte at the shortcut's channels, of the banks that hold its elements (the others' are not used)
            if (sc_pass) {
              const int dy = br >= R ? br - R : br - R + 3, dx = bc >= C ? bc - C : bc - C + 3;
              if (dy >= 1 && dx >= 1 && (wide || (dy == 1 && dx == 1)))
                for (int k = 0; k < CODE_BITS; k++) bank_byte[br][bc][k] = uint8_t(b[k] >> (56 - cbase));
            }
          }
        }
        for (int dy = 0; dy < 3; dy++)
          for (int dx = 0; dx < 3; dx++) count[3 * dy + dx] = row_inside[dy] && col_inside[dx] ? n : 0;
      } else {  // bank (br, bc) holds the pass's group s = 3 ((br - R) mod 3) + (bc - C) mod 3 at pbase + 9 pass + s
        const int last_slot = L.gin - 1 - first_group;  // the layer's last group (its last_valid channels)
        for (int br = 0; br < 3; br++) {
          for (int bc = 0; bc < 3; bc++) {
            const int dy = br >= R ? br - R : br - R + 3, dx = bc >= C ? bc - C : bc - C + 3, s = 3 * dy + dx;
            word_t b[CODE_BITS];
            FRACNET_REGISTERS(b)
            for (int k = 0; k < CODE_BITS; k++) b[k] = FRACNET_READ(tile[3 * br + bc][pbase + first_group + s][k]);
            code_planes(b, bank_msb[br][bc], bank_lsb[br][bc]);
            if (sc_pass && s == gs_r)
              for (int k = 0; k < CODE_BITS; k++) bank_byte[br][bc][k] = uint8_t(b[k] >> (56 - cbase));
          }
        }
        for (int s = 0; s < TAPS; s++) count[s] = s >= groups_left ? 0 : s == last_slot ? L.last_valid : GROUP;
      }
      word_t row_msb[3][3], row_lsb[3][3];  // rows rotated: [dy][bc] = bank ((dy + R) mod 3, bc)
      uint8_t row_byte[2][3][CODE_BITS];    // the shortcut's rows (3x3: dy = 1, 2; 1x1: its group's row)
      FRACNET_REGISTERS(row_msb)
      FRACNET_REGISTERS(row_lsb)
      FRACNET_REGISTERS(row_byte)
      for (int dy = 0; dy < 3; dy++) {
        const int br = dy + R >= 3 ? dy + R - 3 : dy + R;
        for (int bc = 0; bc < 3; bc++) {
          row_msb[dy][bc] = bank_msb[br][bc], row_lsb[dy][bc] = bank_lsb[br][bc];
        }
      }
      for (int h = 0; h < 2; h++) {
        const int sy = three ? 1 + h : gs_row, br = sy + R >= 3 ? sy + R - 3 : sy + R;
        if (sc_pass)
          for (int bc = 0; bc < 3; bc++)
            for (int k = 0; k < CODE_BITS; k++) row_byte[h][bc][k] = bank_byte[br][bc][k];
      }
      word_t msb[TAPS], lsb[TAPS];
      FRACNET_REGISTERS(msb)
      FRACNET_REGISTERS(lsb)
      for (int dx = 0; dx < 3; dx++) {  // columns rotated: slot (dy, dx) = row dy's bank column (dx + C) mod 3
        const int bc = dx + C >= 3 ? dx + C - 3 : dx + C;
        for (int dy = 0; dy < 3; dy++) {
          msb[3 * dy + dx] = row_msb[dy][bc], lsb[3 * dy + dx] = row_lsb[dy][bc];
        }
      }
      uint8_t shortcut[4][CODE_BITS];  // its bytes at (dy, dx) = (1, 1), (1, 2), (2, 1), (2, 2); 1x1: [0], its group
      FRACNET_REGISTERS(shortcut)
      for (int e = 0; e < 4; e++) {
        const int sx = three ? 1 + (e & 1) : gs_col, bc = sx + C >= 3 ? sx + C - 3 : sx + C;
        if (sc_pass)
          for (int k = 0; k < CODE_BITS; k++) shortcut[e][k] = row_byte[e >> 1][bc][k];
      }
      // Popcounts: the slots' sums of this pass, lane by lane: n - 2 popcount(a ^ w) over the valid slots, i.e. the
      // valid channels less twice the popcounts' sum.
      int m[LANES], l[LANES], channels = 0;
      FRACNET_REGISTERS(m)
      FRACNET_REGISTERS(l)
      for (int k = 0; k < LANES; k++) m[k] = l[k] = 0;
      for (int slot = 0; slot < TAPS; slot++) {
        if (count[slot] == 0) continue;
        channels += count[slot];
        for (int k = 0; k < LANES; k++) {
          m[k] += popcount64(msb[slot] ^ active[k][slot]);
          l[k] += popcount64(lsb[slot] ^ active[k][slot]);
        }
      }
      // The shortcut's code sums (four codes' worth, at most 60: 6 bits a lane), in the pass that reads its group;
      // kept in sc_sums until the last pass unless that is the last.
      int s_sum[LANES];  // lane k's sum; in sc_sums at bits 6 k + 5 .. 6 k
      FRACNET_REGISTERS(s_sum)
      if (sc_pass) {
        const int elements = three && wide ? 4 : 1, weight = three && wide ? 1 : 4;
        word_t sums = 0;  // byte 7 - k: lane k's sum of codes (at most 60: no carry between bytes)
        for (int e = 0; e < 4; e++) {
          if (e < elements)
            for (int b = 0; b < CODE_BITS; b++) sums += spread_byte(shortcut[e][b]) << b;
        }
        uint64_t packed = 0;
        for (int k = 0; k < LANES; k++) {
          s_sum[k] = weight * int((sums >> (8 * (7 - k))) & 0xFF);
          packed |= uint64_t(s_sum[k]) << (6 * k);
        }
        if (sc_kept) FRACNET_WRITE(sc_sums[p]) = sc_word_t(packed);
      } else if (final) {
        const uint64_t packed = FRACNET_READ(sc_sums[p]).to_uint64();
        for (int k = 0; k < LANES; k++) s_sum[k] = int((packed >> (6 * k)) & 63);
      }
      slice_t codes = 0;
      for (int k = 0; k < LANES; k++) {
        acc_t sums = {sum_t(channels - 2 * m[k]), sum_t(channels - 2 * l[k])};
        if (pass > 0) {
          const acc_t before = FRACNET_READ(acc[p][k]);
          sums.m += before.m, sums.l += before.l;
        }
        if (!final) {
          FRACNET_WRITE(acc[p][k]) = sums;
          continue;
        }
        const fm_t x = pg_epilogue(sums.m, sums.l, s_sum[k], threshold[k], scale[k], shift[k], slope[k], bn_scale[k],
                                   res_scale[k], bn_shift[k]);
        if (last) {
          pool_sum[k] = (p == 0 ? int64_t(0) : pool_sum[k]) + raw_of(x);
          if (p == L.pixels - 1) FRACNET_WRITE(pool_acc[k][oc0 >> 3]) = pool_sum[k];
        } else {
          codes |= place_code(quantize4(x), k);
        }
      }
      if (final && !last) {
        for (int s = 0; s < SLICES; s++) {
          if (s == slice) FRACNET_WRITE(out[s][at]) = codes;
        }
      }
    }
    // The next iteration's position.
    if (++p == length) {  // the end of a pass (or of the first weights): the next pass's weights take over
      p = 0, length = L.pixels;
      if (pass >= 0 && !three) groups_left -= TAPS, first_group += TAPS;
      pass++;
      for (int k = 0; k < LANES; k++)
        for (int j = 0; j < TAPS; j++) active[k][j] = shadow[k][j];
      ox = 0, top = left = 0, r3 = rq = c3 = cq = 0, p9r = p9c = pbase = 0, at = go;
      window_rows(L, first_row, 0, 0, 0, row_base, row_inside);
    } else if (pass >= 0) {
      at += L.gout;
      if (++p9c == 3) {
        p9c = 0;
        if (++p9r == 3) p9r = 0, pbase += L.gin;
      }
      c3 += L.stride, left += L.stride;
      if (c3 >= 3) c3 -= 3, cq += L.gin;
      if (++ox == L.size_out) {
        ox = 0, c3 = cq = 0, left = 0;
        r3 += L.stride, top += L.stride;
        if (r3 >= 3) r3 -= 3, rq += L.tile_row_step;
        window_rows(L, first_row, top, r3, rq, row_base, row_inside);
      }
    }
  }
}

// The pooled sums of the last layer to DRAM: two channels a beat.
inline void store_pooled(const pool_acc_t pool_acc, beat_t *pooled) {
#pragma HLS INLINE off
  FRACNET_LOOP_ENTER("store_pooled");
STORE_POOLED:
  for (int i = 0; i < POOLED_BEATS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    word_t words[2] = {0, 0};
    FRACNET_REGISTERS(words)
    for (int j = 0; j < LANES; j++) {
      for (int h = 0; h < 2; h++) {
        if (j == ((2 * i + h) & (LANES - 1))) words[h] = word_t(FRACNET_READ(pool_acc[j][(2 * i + h) >> 3]));
      }
    }
    pooled[i] = make_beat(words[0], words[1]);
  }
}

#endif  // FRACNET_IMAGENET_ENGINES_H
