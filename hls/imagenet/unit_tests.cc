// Unit tests of the ImageNet accelerator's primitives (engines.h), driven from
// tests/test_hls_imagenet_primitives.py.
//
// Not part of the HLS project. Built with g++ (-std=c++11, as the accelerator's sources) against the
// ap_types headers and a generated fracnet_config.h (fracbnn_lib.hw.imagenet.layout.config_header). One
// sub-command per primitive, named on the command line; it reads whitespace-separated integers on stdin
// and writes integers on stdout, which the Python test compares with the numpy reference
// (fracbnn_lib.hw.imagenet.reference, .layout, .fold):
//
//   quantize  n, then n raw fm_t values. Prints per value: raw_of(from_raw(raw)) (the raw read back),
//             quantize4(x), and the 2-bit code ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5) of the same x.
//   planes    n, then n cases of the four code planes b0 b1 b2 b3 of 64 channels (one pixel and group of
//             an fmap). Prints per case code_planes' msb and lsb words, then code_at(b, k) for k = 0 .. 63.
//   stem      STEM_TABLE_WORDS words of level-dot tables (the head of weights.bin), 2 x 32 raw params
//             (scale, shift), 3 x 224 x 224 uint32 image words, then the size of the output buffer (words).
//             Runs the stem's engines as fracnet.cc does, one after the other (stem_load_tables, then per stem
//             tile stem_load, stem_compute and store_tile) on on-chip buffers full of garbage, and prints the whole
//             output buffer, which starts as 0xa5.. words (words past the 112 x 112 x 4 map must stay so).
//   pg        a LayerSpec (typedefs.h, fracbnn_lib.hw.imagenet.layout.Layer.spec: offsets in 128-bit beats) and a
//             pooled flag (0: write codes, 1: the last layer, write pooled sums), then the weights region (count,
//             words), the params region (count, raws), the input map (count, words) and the size of the output
//             map buffer. Runs the PG engines on every row tile and weight tile of the layer, one after the other
//             (load_tile, then per weight tile load_weight_tile and compute_tile, then store_tile; store_pooled at
//             the end of the pooled form) on on-chip buffers full of garbage, and prints the whole output map
//             buffer (0xa5.. words beforehand) and then the 1024 pooled sums (0x5a.. beforehand: pool_acc starts
//             as 0x5a.. too, so only the layer's cout sums change, and only when pooled).
//
// Not reachable alone: the stem's and the PG epilogue's fixed-point arithmetic (BN, RPReLU, shortcut
// sums), the packing of codes into slices and planes are inline in the engines; they are tested through the stem's
// and the PG engines' outputs, every word of which is compared. The overlapped schedule of fracnet.cc (the steps, the
// weight-tile sequence) is checked by the C-simulation against the reference on whole images. popcount64's __SYNTHESIS__
// loop is not compiled here (g++ takes __builtin_popcountll).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "engines.h"
#include "unit_test_io.h"

namespace {

const word_t MAP_SENTINEL = 0xa5a5a5a5a5a5a5a5ULL;    // output map words before a call
const int64_t POOL_SENTINEL = 0x5a5a5a5a5a5a5a5aLL;   // pooled sums before a call

long read_count(long most) {
  const long long n = read_int();
  if (n < 0 || n > most) {
    std::fprintf(stderr, "unit_tests: a count of %lld is out of range\n", n);
    std::exit(2);
  }
  return long(n);
}


int run_quantize() {
  const long n = read_count(1L << 24);
  const ap_ufixed<2, 1> three_halves = 1.5;
  for (long i = 0; i < n; i++) {
    const fm_t x = from_raw<FRACNET_FM_W, FRACNET_FM_I>(read_int());
    const ap_ufixed<2, 2, AP_RND, AP_SAT> q2 = (x + fm_t(1)) * three_halves;
    print_int(raw_of<FRACNET_FM_W, FRACNET_FM_I>(x));
    print_int(quantize4(x));
    print_int(q2.to_int());
  }
  return 0;
}

int run_planes() {
  const long n = read_count(1L << 24);
  for (long i = 0; i < n; i++) {
    word_t b[CODE_BITS];
    for (int j = 0; j < CODE_BITS; j++) b[j] = read_word();
    word_t msb, lsb;
    code_planes(b, msb, lsb);
    print_word(msb);
    print_word(lsb);
    for (int k = 0; k < GROUP; k++) print_int(code_at(b, k));
  }
  return 0;
}

// 64-bit words as 128-bit beats (an odd count gets a zero word).
std::vector<beat_t> beats_of(const std::vector<word_t> &words) {
  std::vector<beat_t> beats((words.size() + 1) / BEAT_WORDS);
  for (size_t i = 0; i < beats.size(); i++)
    beats[i] = make_beat(words[2 * i], 2 * i + 1 < words.size() ? words[2 * i + 1] : word_t(0));
  return beats;
}

void print_beats(const std::vector<beat_t> &beats, long words) {
  for (long i = 0; i < words; i++) print_word(beat_word(beats[i / 2], int(i % 2)));
}

int run_stem() {
  std::vector<word_t> weights(STEM_TABLE_BEATS * BEAT_WORDS);
  for (size_t i = 0; i < weights.size(); i++) weights[i] = read_word();
  std::vector<word_t> params(2 * STEM_CHANNELS);
  for (size_t i = 0; i < params.size(); i++) params[i] = word_t(read_int());
  std::vector<image_beat_t> image(IMAGE_BEATS);
  for (size_t i = 0; i < 2 * image.size(); i++) {
    const word_t word = read_word();
    if (word >> 32) {
      std::fprintf(stderr, "unit_tests stem: image words are 32-bit\n");
      return 2;
    }
    image[i / 2] |= image_beat_t(word) << (32 * (i % 2));
  }
  const long out_words = read_count(1L << 24);
  if (out_words < long(STEM_SIZE) * STEM_SIZE * CODE_BITS || out_words % 2) {
    std::fprintf(stderr, "unit_tests stem: the output buffer must hold the 112 x 112 map, in whole beats\n");
    return 2;
  }
  std::vector<beat_t> out(out_words / 2, make_beat(MAP_SENTINEL, MAP_SENTINEL));
  const std::vector<beat_t> weight_beats = beats_of(weights), param_beats = beats_of(params);
  static stem_table_t table;
  static stem_rows_t rows;
  static out_tile_t tile;
  std::memset(table, 0x5b, sizeof(table));  // garbage: no result may depend on what the buffers held
  std::memset(rows, 0x6c, sizeof(rows));
  std::memset(tile, 0xc3, sizeof(tile));
  scale_t scale[STEM_CHANNELS];
  param_t shift[STEM_CHANNELS];
  stem_load_tables(weight_beats.data(), param_beats.data(), table, scale, shift);
  for (int t = 0; t < STEM_TILES; t++) {
    stem_load(image.data(), t, rows);
    stem_compute(t, rows, table, scale, shift, tile);
    store_tile(tile, STEM_PIXELS, 1, STEM_CHANNELS / LANES, out.data() + t * STEM_PIXELS * BEAT_WORDS);
  }
  print_beats(out, out_words);
  return 0;
}

int run_pg() {
  LayerSpec L;
  int *field[] = {&L.ksize, &L.cin, &L.cout, &L.size_in, &L.stride, &L.size_out, &L.gin, &L.gout, &L.rows,
                  &L.tiles, &L.pixels, &L.passes, &L.oc_tiles, &L.in_rows, &L.bank_cols, &L.tile_row_step,
                  &L.last_valid, &L.row_step, &L.in_row_beats, &L.store_beats, &L.weight_beat, &L.param_beat,
                  &L.tile_weight_beats};
  for (size_t i = 0; i < sizeof(field) / sizeof(field[0]); i++) *field[i] = int(read_int());
  const bool pooled = read_int() != 0;
  std::vector<word_t> weights(read_count(WEIGHT_WORDS));
  for (size_t i = 0; i < weights.size(); i++) weights[i] = read_word();
  std::vector<word_t> params(read_count(PARAM_WORDS));
  for (size_t i = 0; i < params.size(); i++) params[i] = word_t(read_int());
  std::vector<word_t> in(read_count(FMAP_WORDS));
  for (size_t i = 0; i < in.size(); i++) in[i] = read_word();
  const long out_words = read_count(FMAP_WORDS + 4096);

  const int S = L.size_in, K = L.ksize, pad = K / 2;
  const int taps = K * K;
  if ((K != 1 && K != 3) || (L.stride != 1 && L.stride != 2) || L.size_out * L.stride != S || L.cin < 1 ||
      L.cin > MAX_CHANNELS || L.cout < LANES || L.cout % LANES || L.cout > MAX_CHANNELS ||
      L.gin != (L.cin + GROUP - 1) / GROUP || L.gout != (L.cout + GROUP - 1) / GROUP ||
      L.rows * L.tiles != L.size_out || L.pixels != L.rows * L.size_out || L.pixels > MAX_PIXELS ||
      L.pixels < LANES || L.pixels * L.gout > OUT_DEPTH || L.oc_tiles * LANES != L.cout ||
      L.passes != (K == 3 ? L.gin : (L.gin + TAPS - 1) / TAPS) || (pooled && L.tiles != 1) ||
      (K == 1 && L.gin > 1 && L.gin % TAPS == 1) ||
      L.tile_weight_beats * BEAT_WORDS != LANES * taps * L.gin || L.weight_beat < 0 || L.param_beat < 0 ||
      long(L.weight_beat + L.oc_tiles * L.tile_weight_beats) * BEAT_WORDS > long(weights.size()) ||
      long(L.param_beat + L.oc_tiles * PARAM_TILE_BEATS) * BEAT_WORDS > long(params.size()) ||
      long(S) * S * L.gin * CODE_BITS > long(in.size()) || out_words % 2 ||
      long(L.size_out) * L.size_out * L.gout * CODE_BITS > out_words) {
    std::fprintf(stderr, "unit_tests pg: the layer does not fit the engine or the regions given\n");
    return 2;
  }
  std::vector<beat_t> out(out_words / 2, make_beat(MAP_SENTINEL, MAP_SENTINEL));
  std::vector<beat_t> pooled_sums(POOLED_BEATS);
  const std::vector<beat_t> weight_beats = beats_of(weights), param_beats = beats_of(params), in_beats = beats_of(in);
  static tile_t tile;
  static out_tile_t out_tile;
  static weight_tile_t wbuf;
  static param_tile_t praw;
  static acc_tile_t acc;
  static sc_tile_t sc_sums;
  static pool_acc_t pool_acc;
  std::memset(tile, 0x3c, sizeof(tile));  // garbage: no result may depend on what the buffers held
  std::memset(out_tile, 0xc3, sizeof(out_tile));
  std::memset(wbuf, 0x96, sizeof(wbuf));
  std::memset(praw, 0x87, sizeof(praw));
  std::memset(acc, 0x69, sizeof(acc));
  for (int p = 0; p < MAX_PIXELS; p++) sc_sums[p] = ~sc_word_t(0);
  std::memset(pool_acc, 0x5a, sizeof(pool_acc));  // = POOL_SENTINEL: channels the layer does not have keep it
  for (int t = 0; t < L.tiles; t++) {
    const int first_row = t * L.row_step - pad;
    load_tile(L, in_beats.data(), first_row, tile);
    for (int j = 0; j < L.oc_tiles; j++) {
      load_weight_tile(L, weight_beats.data(), param_beats.data(), L.weight_beat + j * L.tile_weight_beats,
                       L.param_beat + j * PARAM_TILE_BEATS, wbuf, praw);
      compute_tile(L, pooled, j * LANES, first_row, tile, wbuf, praw, acc, sc_sums, out_tile, pool_acc);
    }
    if (!pooled)
      store_tile(out_tile, L.pixels * L.gout, L.gout, (L.cout - GROUP * (L.gout - 1)) / LANES,
                 out.data() + t * L.store_beats);
  }
  if (pooled) store_pooled(pool_acc, pooled_sums.data());
  print_beats(out, out_words);
  for (int o = 0; o < OUT_CHANNELS; o++)
    print_int(pooled ? int64_t(beat_word(pooled_sums[o / 2], o % 2)) : POOL_SENTINEL);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const char *command = argc == 2 ? argv[1] : "";
  if (!std::strcmp(command, "quantize")) return run_quantize();
  if (!std::strcmp(command, "planes")) return run_planes();
  if (!std::strcmp(command, "stem")) return run_stem();
  if (!std::strcmp(command, "pg")) return run_pg();
  std::fprintf(stderr, "usage: unit_tests quantize|planes|stem|pg < integers\n");
  return 2;
}
