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
//             (scale, shift), 3 x 224 x 224 uint32 image words, then the size of the output buffer.
//             Calls stem_conv_bn itself (the engine has the image size built in: the whole 224 x 224 input
//             is the smallest it can run) and prints the whole output buffer, which starts as 0xa5.. words
//             (words past the 112 x 112 x 4 map must stay so).
//   pg        a layer description {ksize, cin, cout, size_in, stride, weight_word, param_word} and a
//             pooled flag (0: write codes, 1: the last layer, write pooled sums), then the weights region
//             (count, words), the params region (count, raws), the input map (count, words) and the size
//             of the output map buffer. Calls pg_conv_bn itself with that LayerSpec (it needs no layer
//             table; every output height is a multiple of ROW_TILE) on on-chip buffers full of garbage,
//             and prints the whole output map buffer (0xa5.. words beforehand) and then the 1024 pooled
//             sums (0x5a.. beforehand: only the layer's cout are written, and only when pooled).
//
// Not reachable alone: the stem's and the PG epilogue's fixed-point arithmetic (BN, RPReLU, shortcut
// sums), the packing of codes into planes and fmap_word are inline in the engines; they are tested
// through stem_conv_bn and pg_conv_bn, whose every output word is compared. popcount64's __SYNTHESIS__
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

int run_stem() {
  std::vector<word_t> weights(STEM_TABLE_WORDS);
  for (size_t i = 0; i < weights.size(); i++) weights[i] = read_word();
  std::vector<int64_t> params(2 * STEM_CHANNELS);
  for (size_t i = 0; i < params.size(); i++) params[i] = read_int();
  std::vector<uint32_t> image(long(COLOURS) * IMG * IMG);
  for (size_t i = 0; i < image.size(); i++) {
    const word_t word = read_word();
    if (word >> 32) {
      std::fprintf(stderr, "unit_tests stem: image words are 32-bit\n");
      return 2;
    }
    image[i] = uint32_t(word);
  }
  const long out_words = read_count(1L << 24);
  if (out_words < long(STEM_SIZE) * STEM_SIZE * CODE_BITS) {
    std::fprintf(stderr, "unit_tests stem: the output buffer must hold the 112 x 112 map\n");
    return 2;
  }
  std::vector<word_t> out(out_words, MAP_SENTINEL);
  static stem_table_t table;
  static stem_rows_t rows;
  std::memset(table, 0x5b, sizeof(table));  // garbage: no result may depend on what the buffers held
  std::memset(rows, 0x6c, sizeof(rows));
  stem_conv_bn(image.data(), weights.data(), params.data(), out.data(), table, rows);
  for (long i = 0; i < out_words; i++) print_word(out[i]);
  return 0;
}

int run_pg() {
  LayerSpec L;
  L.ksize = int(read_int());
  L.cin = int(read_int());
  L.cout = int(read_int());
  L.size_in = int(read_int());
  L.stride = int(read_int());
  L.weight_word = long(read_int());
  L.param_word = long(read_int());
  const bool pooled = read_int() != 0;
  std::vector<word_t> weights(read_count(WEIGHT_WORDS));
  for (size_t i = 0; i < weights.size(); i++) weights[i] = read_word();
  std::vector<int64_t> params(read_count(PARAM_WORDS));
  for (size_t i = 0; i < params.size(); i++) params[i] = read_int();
  std::vector<word_t> in(read_count(FMAP_WORDS));
  for (size_t i = 0; i < in.size(); i++) in[i] = read_word();
  const long out_words = read_count(FMAP_WORDS + 4096);

  const int S = L.size_in, K = L.ksize;
  const int so = (L.stride == 1 || L.stride == 2) ? S / L.stride : 0;
  const int gin = (L.cin + GROUP - 1) / GROUP, gout = (L.cout + GROUP - 1) / GROUP;
  const long tile_rows = (ROW_TILE - 1) * L.stride + K;
  if ((K != 1 && K != 3) || so < 1 || S % L.stride || so % ROW_TILE || S > MAX_IN_WIDTH || L.cin < 1 ||
      L.cin > MAX_CHANNELS || L.cout < LANES || L.cout % LANES || L.cout > MAX_CHANNELS ||
      tile_rows * S * gin * CODE_BITS > TILE_WORDS || L.weight_word < 0 || L.param_word < 0 ||
      L.weight_word + long(L.cout) * K * K * gin > long(weights.size()) ||
      L.param_word + long(PARAM_ARRAYS) * L.cout > long(params.size()) ||
      long(S) * S * gin * CODE_BITS > long(in.size()) || long(so) * so * gout * CODE_BITS > out_words) {
    std::fprintf(stderr, "unit_tests pg: the layer does not fit the engine or the regions given\n");
    return 2;
  }
  std::vector<word_t> out(out_words, MAP_SENTINEL);
  std::vector<int64_t> pooled_sums(OUT_CHANNELS, POOL_SENTINEL);
  static tile_t tile;
  static out_tile_t out_tile;
  static weight_tile_t wbuf;
  static int64_t pool_acc[OUT_CHANNELS];
  std::memset(tile, 0x3c, sizeof(tile));  // garbage: no result may depend on what the buffers held
  std::memset(out_tile, 0xc3, sizeof(out_tile));
  std::memset(wbuf, 0x96, sizeof(wbuf));
  std::memset(pool_acc, 0x69, sizeof(pool_acc));
  pg_conv_bn(L, weights.data(), params.data(), in.data(), out.data(), pooled ? pooled_sums.data() : NULL, tile,
             out_tile, wbuf, pool_acc);
  for (long i = 0; i < out_words; i++) print_word(out[i]);
  for (int o = 0; o < OUT_CHANNELS; o++) print_int(pooled_sums[o]);
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
