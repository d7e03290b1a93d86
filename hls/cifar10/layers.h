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
//
// Every layer is one flattened loop pipelined at II = 1 (the stride-2 pooling pass at II = 3); a conv with 64 input
// channels takes two iterations per pixel, one per 32-channel slice; the image load and the stem run side by
// side in one DATAFLOW region. No pipelined loop indexes a partitioned array with a bank number known only at
// run time: maps are row-banked (typedefs.h) and read through read_column, one read per bank and port, then
// rotated into window order by a 3:1 multiplexer on the data. No pipelined loop divides by a run-time value.
// Every access to an on-chip memory is wrapped in FRACNET_READ / FRACNET_WRITE (hls_support.h), so the
// counting build measures each loop's accesses per bank and iteration: the II its ports allow, which the
// cost model (fracbnn_lib.hw.cifar10.cost) must state. README.md gives each loop's II and storage.
#ifndef FRACNET_LAYERS_H
#define FRACNET_LAYERS_H

#include "hls_support.h"
#include "params.h"

// Number of set bits among the N low bits of a word (the others are 0): an N-input adder tree in hardware.
template <int N>
inline int popcount_bits(word_t word) {
#ifdef __SYNTHESIS__
  const ap_uint<N> bits = word;
  ap_uint<8> count = 0;
  for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
    count += bits[i];
  }
  return count;
#else
  return __builtin_popcountll(word);
#endif
}

// Slice s of a packed word: channels SLICE_BITS s .. SLICE_BITS (s + 1) - 1, i.e. bits 63 - 32 s .. 32 - 32 s
// (slice 0 holds channels 0..31). In hardware a SLICES:1 multiplexer with constant shifts.
inline slice_t slice_of(word_t word, int s) {
  slice_t out = 0;
  for (int j = 0; j < SLICES; j++) {
    if (j == s) out = slice_t(word >> (MAX_CHANNELS - SLICE_BITS * (j + 1)));
  }
  return out;
}

// Sum of n products of +-1 values in slice s: n - 2 popcount(a XOR w[s]), with a the window word's slice s
// (selected once for every lane) and w a lane's whole weight word. Unused bits are 0 in both. A 64-channel binary
// dot product is the sum over its two slices (n = 32 each); one of at most 32 channels is slice 0 alone.
inline int slice_dot(slice_t a, word_t w, int s, int n) {
  return n - 2 * popcount_bits<SLICE_BITS>(a ^ slice_of(w, s));
}

// The same over the LEVELS thermometer levels of a colour word (bits 63 .. 64 - LEVELS; the rest are 0):
// the popcount tree is only as wide as the levels.
inline int thermometer_dot(word_t a, word_t w) {
  return LEVELS - 2 * popcount_bits<LEVELS>((a ^ w) >> (MAX_CHANNELS - LEVELS));
}

// The levels on in a colour word: its set bits among the LEVELS (m for the thermometer code of m levels).
// The stem reads the input as these counts, so any word with m bits set reads as the code of m levels.
inline level_t count_levels(word_t word) { return popcount_bits<LEVELS>(word >> (MAX_CHANNELS - LEVELS)); }

// The thermometer code of `on` levels: bits 63 .. 64 - on set.
inline word_t thermometer_word(int on) { return on == 0 ? word_t(0) : ~word_t(0) << (MAX_CHANNELS - on); }

// Entry (colour, on) of a stem lane's lookup table for one tap: the dot product of the tap's weight word
// with the thermometer code of `on` levels, i.e. 2 S_on - S_L with S_v the sum of the first v +-1 weights.
// Synthesis reads the table from weights.h (fracbnn_lib.hw.folding.stem_level_dots writes it); the
// C-simulation library fills it with this function after loading conv1_weight.
inline level_dot_t stem_level_dot(word_t weight, int on) { return thermometer_dot(thermometer_word(on), weight); }

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

// Row r of a row-banked map is in bank r % 3 at address r / 3. A WindowRows tracks the top row of a
// 3-row window (top = r * stride - 1, so -1 at the first output row) as its bank and address, advanced
// by additions only (no division in the datapath).
struct WindowRows {
  int top;   // the window's first row (may be -1)
  int bank;  // top mod 3 (0..2)
  int addr;  // floor(top / 3)
  void start() { top = -1, bank = 2, addr = -1; }
  void advance(int rows) {  // rows = stride (1 or 2)
    top += rows;
    bank += rows;
    if (bank >= ROW_BANKS) bank -= ROW_BANKS, addr++;
  }
};

// The words of rows top, top + 1, top + 2 at column col of a row-banked map of h x h pixels, in window
// order (0 where the row or column is outside the map). Bank j is read once, at the address of the one
// window row it holds; the rotation into window order is a 3:1 multiplexer on the data. T: word_t for the
// bit planes, level_t for the input's level counts.
template <typename T>
inline void read_column(const T map[ROW_BANKS][BANK_ROWS][IMG], WindowRows rows, int col, int h, T out[3]) {
  T banked[ROW_BANKS];
  for (int j = 0; j < ROW_BANKS; j++) {
    const int row = rows.top + j - rows.bank + (j < rows.bank ? ROW_BANKS : 0);  // the window row bank j holds
    const int addr = rows.addr + (j < rows.bank ? 1 : 0);
    const bool inside = row >= 0 && row < h && col >= 0 && col < h;
    banked[j] = inside ? FRACNET_READ(map[j][addr][col]) : T(0);  // no read outside the map
  }
  for (int d = 0; d < 3; d++) {  // window row d is in bank (bank + d) mod 3
    const int j = rows.bank + d;
    out[d] = banked[j >= ROW_BANKS ? j - ROW_BANKS : j];
  }
}

// Write (or, for tiles after the first, merge) tile t's bits of pixel (row, col) into a row-banked plane:
// every bank sees at most one read and one write, the one holding the row enabled.
inline void write_row(word_t map[ROW_BANKS][BANK_ROWS][IMG], int bank, int addr, int col, lanes_t bits, int t) {
  for (int j = 0; j < ROW_BANKS; j++) {
    if (j == bank) FRACNET_WRITE(map[j][addr][col]) = place_tile(FRACNET_READ(map[j][addr][col]), bits, t);
  }
}

// The input's words as level counts, in memory order, into the FIFO to the stem: one LEVELS-bit popcount per
// word, so the stem's window holds counts, not 64-bit words. The words are read through one pointer and the
// loop index (address = base + 8 i), so the tool sees one sequential read and bursts it over the IMG master.
inline void load_levels(const uint64 image[COLOURS][IMG][IMG], level_fifo_t level_fifo) {
#pragma HLS INLINE off
  const uint64 *words = &image[0][0][0];
  FRACNET_LOOP_ENTER("LOAD_IMAGE");
LOAD_IMAGE:
  for (int i = 0; i < WORDS; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    FRACNET_WRITE(level_fifo[i]) = count_levels(words[i].to_uint64());
  }
}

// The nine taps of output pixel (r, c): whether each lies inside an h x h input (taps outside are skipped).
inline void tap_inside(int top, int left, int h, bool inside[TAPS]) {
  for (int tap = 0; tap < TAPS; tap++) {
    const int ir = top + tap / 3, ic = left + tap % 3;
    inside[tap] = ir >= 0 && ir < h && ic >= 0 && ic < h;
  }
}

// Binary input layer: 3x3 conv of the thermometer codes (3 colours x LEVELS levels) with binary weights,
// then BN: x = conv1_scale * z0 + conv1_shift. Writes the residual stream and the packed planes of x.
// A tap's dot product with a thermometer code depends only on its level count, so each lane and tap
// looks it up in its table of COLOURS x (LEVELS + 1) entries (conv1_level_dot, LUTROM) instead of
// computing a popcount: the hardware form of fracbnn_lib.encoding.thermometer_conv2d.
// Colour-major, in the order the words arrive from load_levels (the FIFO level_fifo), STEM_LAG = 33 words behind
// them: iteration i takes word i and computes pixel (r, c) of word i - 33, whose window's new (right) column is
// words i - 64, i - 32 and i, i.e. rows r - 1, r, r + 1 at column c + 1 (the two rows above shift through a
// register line of 2 x 32 counts; at c = 31 the same words are column 0 of the next rows, the next pixel's middle
// column). The window shifts every iteration, the first 33 compute nothing, and the last 33 take no word. Each
// pixel's sum over the colours so far waits in stem_acc (a bank per lane); the last colour's adds BN, writes fmap
// and the planes.
inline void stem_conv_bn(const level_fifo_t level_fifo, fmap_t fmap, plane_t msb_out, plane_t lsb_out) {
#pragma HLS INLINE off
  FRACNET_MEMORY_BANKED2(conv1_level_dot, ROM_1P_LUTRAM, 1, 2)  // a LUTROM per lane and tap
  FRACNET_REGISTERS(conv1_scale)
  FRACNET_REGISTERS(conv1_shift)
  stem_sum_t stem_acc[STEM_CHANNELS][IMG * IMG];  // [lane][pixel]: the sum over the colours before this one
  FRACNET_MEMORY_BANKED(stem_acc, RAM_T2P_BRAM, 1)  // a bank per lane
  level_t line[2 * IMG];  // the last 64 counts: line[j] is word i - 1 - j
  level_t window[3][3];   // [window row][window column] of the current colour
  FRACNET_REGISTERS(line)
  FRACNET_REGISTERS(window)
  for (int j = 0; j < 2 * IMG; j++) line[j] = 0;
  for (int d = 0; d < 3; d++) window[d][0] = window[d][1] = window[d][2] = 0;
  int colour = 0, r = 0, c = 0, pixel = 0, out_bank = 0, out_addr = 0;
  FRACNET_LOOP_ENTER("STEM");
STEM:
  for (int i = 0; i < WORDS + STEM_LAG; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS DEPENDENCE variable = stem_acc inter false
#pragma HLS DEPENDENCE variable = fmap inter false
    FRACNET_LOOP_TRIP();
    const level_t incoming = i < WORDS ? FRACNET_READ(level_fifo[i]) : level_t(0);
    const level_t column[3] = {line[2 * IMG - 1], line[IMG - 1], incoming};  // words i - 64, i - 32, i
    for (int j = 2 * IMG - 1; j > 0; j--) line[j] = line[j - 1];
    line[0] = incoming;
    for (int d = 0; d < 3; d++) {
      window[d][0] = window[d][1];
      window[d][1] = window[d][2];
      window[d][2] = column[d];
    }
    if (i < STEM_LAG) continue;  // the first pixel's window is not in yet
    int slot[TAPS];  // the window, tap by tap, as table addresses colour * (LEVELS + 1) + on
    for (int tap = 0; tap < TAPS; tap++) slot[tap] = colour * (LEVELS + 1) + window[tap / 3][tap % 3];
    bool inside[TAPS];
    tap_inside(r - 1, c - 1, IMG, inside);
    lanes_t msb_bits = 0, lsb_bits = 0;
  STEM_LANES:
    for (int k = 0; k < STEM_CHANNELS; k++) {
#pragma HLS UNROLL
      int sum = colour == 0 ? 0 : int(FRACNET_READ(stem_acc[k][pixel]));
      for (int tap = 0; tap < TAPS; tap++) {
        if (inside[tap]) sum += FRACNET_READ(conv1_level_dot[k][tap][slot[tap]]);
      }
      if (colour < COLOURS - 1) {
        FRACNET_WRITE(stem_acc[k][pixel]) = stem_sum_t(sum);
      } else {
        const fm_t x = conv1_scale[k] * sum_t(sum) + conv1_shift[k];
        FRACNET_WRITE(fmap[k][pixel]) = x;
        quantize2(x, k, msb_bits, lsb_bits);
      }
    }
    if (colour == COLOURS - 1) {
      write_row(msb_out, out_bank, out_addr, c, msb_bits, 0);
      write_row(lsb_out, out_bank, out_addr, c, lsb_bits, 0);
    }
    pixel++;
    if (++c == IMG) {
      c = 0, r++;
      if (++out_bank == ROW_BANKS) out_bank = 0, out_addr++;
      if (r == IMG) r = 0, pixel = 0, out_bank = 0, out_addr = 0, colour++;
    }
  }
}

// The image load and the stem as one DATAFLOW region: the stem consumes each level count as load_levels
// produces it, through a FIFO, so the two loops run at the same time (the stem finishes 33 iterations and its
// pipeline after the load).
inline void load_stem(const uint64 image[COLOURS][IMG][IMG], fmap_t fmap, plane_t msb_out, plane_t lsb_out) {
#pragma HLS INLINE off
#pragma HLS DATAFLOW
  level_fifo_t level_fifo;
  FRACNET_MEMORY_STREAM(level_fifo, LEVEL_FIFO_DEPTH)
  load_levels(image, level_fifo);
  stem_conv_bn(level_fifo, fmap, msb_out, lsb_out);
}

// Precision-gated 3x3 conv (pad 1, stride 1 or 2, computed only at output pixels) fused with
// BN + RPReLU + residual add + BN and the quantise-and-pack of its output. The residual stream in
// fmap (already at output resolution) is updated in place. Per output tile of 16 channels:
// TILE_PARAMS shifts the tile's weights (9 words per lane, from 16 lane banks of BRAM) and per-channel
// parameters (one lane per cycle) into registers, then PG_PIXELS runs the tile's h_out x h_out pixels
// (flattened), `slices` iterations each: every XOR-popcount counts SLICE_BITS = 32 channels, so a conv with 64
// input channels takes two iterations per pixel (slice 0, then slice 1, the lanes' partial MSB and LSB sums
// waiting in registers) and one with at most 32 channels one. A pixel's first iteration reads the window's
// middle and right columns (two reads per bank); its left column is the previous pixel's middle (stride 1) or
// right (stride 2) column. Its last iteration gates, runs the epilogue and writes.
// tile0: the layer's first row in the pg_* arrays.
inline void pg_conv_bn(const plane_t msb_in, const plane_t lsb_in, fmap_t fmap, plane_t msb_out, plane_t lsb_out,
                       int cin, int cout, int h_in, int stride, int tile0) {
#pragma HLS INLINE off
  FRACNET_MEMORY_BANKED(pg_weight, ROM_1P_BRAM, 2)  // a bank per lane: 42 tiles x 9 taps deep
  FRACNET_MEMORY(pg_threshold, ROM_1P_BRAM)
  FRACNET_MEMORY(pg_scale, ROM_1P_BRAM)
  FRACNET_MEMORY(pg_shift, ROM_1P_BRAM)
  FRACNET_MEMORY(pg_slope, ROM_1P_BRAM)
  FRACNET_MEMORY(pg_bn_scale, ROM_1P_BRAM)
  FRACNET_MEMORY(pg_bn_shift, ROM_1P_BRAM)
  const int h_out = stride == 2 ? h_in >> 1 : h_in;  // stride is 1 or 2: a select, no divider
  const int pixels = h_out * h_out;
  const int slices = (cin + SLICE_BITS - 1) / SLICE_BITS;  // iterations per pixel (a constant divisor: a shift)
  const int last_n = cin - SLICE_BITS * (slices - 1);     // channels in the last slice
  word_t weight[OC_TILE][TAPS];  // the current tile's weights and parameters, lane by lane (registers)
  sum_t threshold[OC_TILE];
  scale_t scale[OC_TILE], bn_scale[OC_TILE];
  param_t shift[OC_TILE], slope[OC_TILE], bn_shift[OC_TILE];
  word_t msb_win[3][3], lsb_win[3][3];  // [window row][window column]
  int m_part[OC_TILE], l_part[OC_TILE];  // the lanes' MSB and LSB sums over the pixel's slices so far
  FRACNET_REGISTERS(weight)
  FRACNET_REGISTERS(threshold)
  FRACNET_REGISTERS(scale)
  FRACNET_REGISTERS(bn_scale)
  FRACNET_REGISTERS(shift)
  FRACNET_REGISTERS(slope)
  FRACNET_REGISTERS(bn_shift)
  FRACNET_REGISTERS(msb_win)
  FRACNET_REGISTERS(lsb_win)
  FRACNET_REGISTERS(m_part)
  FRACNET_REGISTERS(l_part)
  int base = 0;  // fmap index of the current tile's first pixel
PG_TILE:
  for (int t = 0; t < cout / OC_TILE; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 4 avg = 2
    const int tile = tile0 + t;
    FRACNET_LOOP_ENTER("TILE_PARAMS");
  TILE_PARAMS:
    for (int j = 0; j < OC_TILE; j++) {  // shift registers: static indices only
#pragma HLS PIPELINE II = 1
      FRACNET_LOOP_TRIP();
      for (int k = 0; k < OC_TILE; k++) {
        if (j >= TAPS) continue;
        for (int tap = 0; tap < TAPS - 1; tap++) weight[k][tap] = weight[k][tap + 1];
        weight[k][TAPS - 1] = FRACNET_READ(pg_weight[tile][k][j]);
      }
      for (int k = 0; k < OC_TILE - 1; k++) {
        threshold[k] = threshold[k + 1], scale[k] = scale[k + 1], shift[k] = shift[k + 1];
        slope[k] = slope[k + 1], bn_scale[k] = bn_scale[k + 1], bn_shift[k] = bn_shift[k + 1];
      }
      threshold[OC_TILE - 1] = FRACNET_READ(pg_threshold[tile][j]), scale[OC_TILE - 1] = FRACNET_READ(pg_scale[tile][j]);
      shift[OC_TILE - 1] = FRACNET_READ(pg_shift[tile][j]), slope[OC_TILE - 1] = FRACNET_READ(pg_slope[tile][j]);
      bn_scale[OC_TILE - 1] = FRACNET_READ(pg_bn_scale[tile][j]);
      bn_shift[OC_TILE - 1] = FRACNET_READ(pg_bn_shift[tile][j]);
    }
    WindowRows rows;
    rows.start();
    int c = 0, p = 0, s = 0, out_bank = 0, out_addr = 0;  // column, pixel, slice
    FRACNET_LOOP_ENTER("PG_PIXELS");
  PG_PIXELS:
    for (int i = 0; i < pixels * slices; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 64 max = 1024 avg = 286
#pragma HLS PIPELINE II = 1
#pragma HLS DEPENDENCE variable = fmap inter false
#pragma HLS DEPENDENCE variable = msb_out inter false
#pragma HLS DEPENDENCE variable = lsb_out inter false
      FRACNET_LOOP_TRIP();
      const bool first = s == 0, last = s == slices - 1;
      const int mid_col = c * stride;
      if (first) {  // a new pixel: its window's middle and right columns, the left one kept
        word_t msb_mid[3], msb_right[3], lsb_mid[3], lsb_right[3];
        read_column(msb_in, rows, mid_col, h_in, msb_mid);
        read_column(msb_in, rows, mid_col + 1, h_in, msb_right);
        read_column(lsb_in, rows, mid_col, h_in, lsb_mid);
        read_column(lsb_in, rows, mid_col + 1, h_in, lsb_right);
        for (int d = 0; d < 3; d++) {
          const word_t msb_left = stride == 1 ? msb_win[d][1] : msb_win[d][2];
          const word_t lsb_left = stride == 1 ? lsb_win[d][1] : lsb_win[d][2];
          msb_win[d][0] = c == 0 ? word_t(0) : msb_left;
          lsb_win[d][0] = c == 0 ? word_t(0) : lsb_left;
          msb_win[d][1] = msb_mid[d], msb_win[d][2] = msb_right[d];
          lsb_win[d][1] = lsb_mid[d], lsb_win[d][2] = lsb_right[d];
        }
      }
      slice_t msb_slice[TAPS], lsb_slice[TAPS];  // slice s of the window, once for every lane
      for (int tap = 0; tap < TAPS; tap++) {
        msb_slice[tap] = slice_of(msb_win[tap / 3][tap % 3], s);
        lsb_slice[tap] = slice_of(lsb_win[tap / 3][tap % 3], s);
      }
      const int n = last ? last_n : SLICE_BITS;  // channels in slice s
      bool inside[TAPS];
      tap_inside(rows.top, mid_col - 1, h_in, inside);
      lanes_t msb_bits = 0, lsb_bits = 0;
    PG_LANES:
      for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
        int m = first ? 0 : m_part[k];
        for (int tap = 0; tap < TAPS; tap++) {
          if (inside[tap]) m += slice_dot(msb_slice[tap], weight[k][tap], s, n);
        }
        int l = first ? 0 : l_part[k];
        if (!last || m > threshold[k]) {  // the hardware sums every slice; C-simulation skips an unused last one
          for (int tap = 0; tap < TAPS; tap++) {
            if (inside[tap]) l += slice_dot(lsb_slice[tap], weight[k][tap], s, n);
          }
        }
        if (!last) {
          m_part[k] = m, l_part[k] = l;
        } else {
          int z = 2 * m;
          if (m > threshold[k]) z += l;  // the precision gate opens: add the LSB plane
          fm_t y = scale[k] * sum_t(z) + shift[k];
          if (y < 0) y = y * slope[k];
          const fm_t x = bn_scale[k] * (y + FRACNET_READ(fmap[k][base + p])) + bn_shift[k];
          FRACNET_WRITE(fmap[k][base + p]) = x;
          quantize2(x, k, msb_bits, lsb_bits);
        }
      }
      if (last) {
        write_row(msb_out, out_bank, out_addr, c, msb_bits, t);
        write_row(lsb_out, out_bank, out_addr, c, lsb_bits, t);
        p++;
        if (++c == h_out) {
          c = 0;
          rows.advance(stride);
          if (++out_bank == ROW_BANKS) out_bank = 0, out_addr++;
        }
      }
      s = last ? 0 : s + 1;
    }
    base += pixels;
  }
}

// Downsampling shortcut: 2x2 average pool of the residual stream (cin channels, h_in x h_in), in place
// (output i is written at index i, below every index a later iteration reads), then the result copied
// to channels cin..2cin-1 (concatenation with itself). POOL reads four values and writes one per lane
// bank and iteration: II = 3 on a dual-port bank. Addresses advance by additions (no division).
inline void avgpool_concat(fmap_t fmap, int cin, int h_in) {
#pragma HLS INLINE off
  const ap_ufixed<2, 0> quarter = 0.25;
  const int h = h_in >> 1;
  const int pooled = cin / OC_TILE * h * h;
  int c = 0, base = 0;  // output column in its row; the pool window's top-left input index
  FRACNET_LOOP_ENTER("POOL");
POOL:
  for (int i = 0; i < pooled; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 128 max = 256 avg = 192
#pragma HLS PIPELINE II = 3
#pragma HLS DEPENDENCE variable = fmap inter false
    FRACNET_LOOP_TRIP();
    for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
      const pool4_t sum = FRACNET_READ(fmap[k][base]) + FRACNET_READ(fmap[k][base + 1]) +
                          FRACNET_READ(fmap[k][base + h_in]) + FRACNET_READ(fmap[k][base + h_in + 1]);
      FRACNET_WRITE(fmap[k][i]) = sum * quarter;
    }
    base += 2;
    if (++c == h) c = 0, base += h_in;  // skip the odd input row
  }
  FRACNET_LOOP_ENTER("CONCAT");
CONCAT:
  for (int i = 0; i < pooled; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 128 max = 256 avg = 192
#pragma HLS PIPELINE II = 1
#pragma HLS DEPENDENCE variable = fmap inter false
    FRACNET_LOOP_TRIP();
    for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
      FRACNET_WRITE(fmap[k][pooled + i]) = FRACNET_READ(fmap[k][i]);
    }
  }
}

// Global 8x8 average pool and the FC layer: mean = fm_t(sum_p x[c][p] / 64) (exact sum, one rounding),
// logit = logit_t(sum_c w[o][c] * mean[c] + b[o]) (exact accumulation, one rounding), then float.
// GLOBAL_POOL sums 16 channels at once (one read per lane bank); each finished tile of 16 means is
// shifted into a 64-entry shift register, which FC consumes one channel per cycle for all 10 classes.
inline void avgpool_fc(const fmap_t fmap, float output[CLASSES]) {
#pragma HLS INLINE off
  FRACNET_MEMORY_BANKED(fc_weight, ROM_1P_LUTRAM, 1)  // a LUTROM per class
  FRACNET_REGISTERS(fc_bias)
  const ap_ufixed<7, 0> one_64th = 1.0 / 64;
  const int pixels = POOL_SIZE * POOL_SIZE;
  pool64_t sum[OC_TILE];
  fm_t mean[FC_IN];  // shift register: channel ch at mean[ch] once every tile is in
  fc_acc_t acc[CLASSES];
  FRACNET_REGISTERS(sum)
  FRACNET_REGISTERS(mean)
  FRACNET_REGISTERS(acc)
  int p = 0;
  FRACNET_LOOP_ENTER("GLOBAL_POOL");
GLOBAL_POOL:
  for (int i = 0; i < FC_IN / OC_TILE * POOL_SIZE * POOL_SIZE; i++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    for (int k = 0; k < OC_TILE; k++) {
#pragma HLS UNROLL
      const pool64_t before = p == 0 ? pool64_t(0) : sum[k];
      sum[k] = before + FRACNET_READ(fmap[k][i]);
    }
    if (++p == pixels) {
      p = 0;
      for (int ch = 0; ch < FC_IN; ch++) {
#pragma HLS UNROLL
        mean[ch] = ch < FC_IN - OC_TILE ? mean[ch + OC_TILE] : fm_t(sum[ch - (FC_IN - OC_TILE)] * one_64th);
      }
    }
  }
  for (int o = 0; o < CLASSES; o++) {
#pragma HLS UNROLL
    acc[o] = fc_bias[o];
  }
  FRACNET_LOOP_ENTER("FC");
FC:
  for (int ch = 0; ch < FC_IN; ch++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    for (int o = 0; o < CLASSES; o++) {
#pragma HLS UNROLL
      acc[o] += FRACNET_READ(fc_weight[o][ch]) * mean[0];
    }
    for (int j = 0; j < FC_IN - 1; j++) {
#pragma HLS UNROLL
      mean[j] = mean[j + 1];
    }
  }
  FRACNET_LOOP_ENTER("STORE");
STORE:
  for (int o = 0; o < CLASSES; o++) {
#pragma HLS PIPELINE II = 1
    FRACNET_LOOP_TRIP();
    output[o] = logit_t(acc[0]).to_float();
    for (int j = 0; j < CLASSES - 1; j++) {
#pragma HLS UNROLL
      acc[j] = acc[j + 1];
    }
  }
}

#endif  // FRACNET_LAYERS_H
