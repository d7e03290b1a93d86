// Unit tests of the accelerator's primitives (layers.h), driven from tests/test_hls_primitives.py.
//
// Not part of the HLS project. Built with g++ and -DFRACNET_RUNTIME_PARAMS (so params.h only declares the
// parameter arrays; they are defined below, unused) against a generated fracnet_config.h. One sub-command
// per primitive, named on the command line; it reads whitespace-separated integers on stdin and writes
// integers on stdout, which the Python test compares with the numpy reference (fracbnn_lib.hw):
//
//   quantize2   n, then n raw fm_t values (n a multiple of OC_TILE). Value i goes to lane i % 16 of tile
//               i / 16. Prints per value: its raw read back from the fm_t and the code
//               ap_ufixed<2,2,AP_RND,AP_SAT>((x + 1) * 1.5); then per tile: the msb and lsb lanes_t.
//   place_tile  n, then n cases: a starting word, a tile count T (1..4) and T lanes_t values. Prints per
//               case the word after place_tile(word, bits_t, t) for t = 0 .. T-1.
//   binary_dot  n, then n cases: a, w, channels. Prints the binary dot product over the channels as pg_conv_bn
//               computes it: slice_dot over the word's 32-channel slices (one for at most 32 channels).
//   levels      n, then n words. Prints count_levels(word) per word, then thermometer_word(on) for
//               on = 0 .. LEVELS.
//   stem        n, then n lanes of COLOURS x TAPS weight words ([lane][colour][tap], as conv1_weight).
//               Prints the lanes' lookup tables [lane][tap][colour * (LEVELS + 1) + on] of stem_level_dot,
//               filled as the C-simulation library fills conv1_level_dot.
//   pg_conv_bn  h, channels, cout, stride, tile0, the MSB and LSB planes (h x h words each, row-major), cout x TAPS weight words
//               ([channel][tap]), cout gate thresholds and cout x (h / stride)^2 raw fm_t residuals. Calls
//               pg_conv_bn itself with those weights and thresholds in tiles tile0 .. of the pg_* arrays and
//               BN / RPReLU parameters that make its output exact, x = z / 32 + residual (scale 1/32, shifts
//               0, slope 1, bn_scale 1; every other tile holds other values). Prints the raw fm_t output per
//               channel and pixel, then per output pixel the packed MSB and LSB words it wrote.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "layers.h"
#include "unit_test_io.h"

#define FRACNET_DEFINE_PARAM(name, kind, type, dims, count) type name dims;
FRACNET_PARAMS(FRACNET_DEFINE_PARAM)
#undef FRACNET_DEFINE_PARAM
level_dot_t conv1_level_dot[STEM_CHANNELS][TAPS][LEVEL_SLOTS];

namespace {

const int FM_FRAC = FRACNET_FM_W - FRACNET_FM_I;


void read_plane(plane_t plane, int h) {
  std::memset(plane, 0xa5, sizeof(plane_t));  // words outside the map are garbage: no result may depend on them
  for (int r = 0; r < h; r++) {
    for (int c = 0; c < h; c++) plane[r % ROW_BANKS][r / ROW_BANKS][c] = read_word();
  }
}

int run_quantize2() {
  const long long n = read_int();
  if (n % OC_TILE) {
    std::fprintf(stderr, "unit_tests quantize2: n must be a multiple of %d\n", OC_TILE);
    return 2;
  }
  const ap_ufixed<2, 1> three_halves = 1.5;
  std::vector<lanes_t> msb(n / OC_TILE, 0), lsb(n / OC_TILE, 0);
  for (long long i = 0; i < n; i++) {
    const long long raw = read_int();
    fm_t x;
    x.range(FRACNET_FM_W - 1, 0) = raw;  // the raw bits (two's complement, W low bits of raw)
    const ap_ufixed<2, 2, AP_RND, AP_SAT> q = (x + fm_t(1)) * three_halves;
    print_int(std::llround(std::ldexp(x.to_double(), FM_FRAC)));
    print_int(q.to_int());
    quantize2(x, int(i % OC_TILE), msb[i / OC_TILE], lsb[i / OC_TILE]);
  }
  for (long long t = 0; t < n / OC_TILE; t++) {
    print_int(msb[t]);
    print_int(lsb[t]);
  }
  return 0;
}

int run_place_tile() {
  const long long n = read_int();
  for (long long i = 0; i < n; i++) {
    word_t word = read_word();
    const long long tiles = read_int();
    for (int t = 0; t < tiles; t++) word = place_tile(word, lanes_t(read_int()), t);
    print_word(word);
  }
  return 0;
}

int run_binary_dot() {
  const long long n = read_int();
  for (long long i = 0; i < n; i++) {
    const word_t a = read_word(), w = read_word();
    const int channels = int(read_int());
    int dot = 0;
    for (int s = 0; s * SLICE_BITS < channels; s++) {
      const int n = channels - s * SLICE_BITS < SLICE_BITS ? channels - s * SLICE_BITS : SLICE_BITS;
      dot += slice_dot(slice_of(a, s), w, s, n);
    }
    print_int(dot);
  }
  return 0;
}

int run_levels() {
  const long long n = read_int();
  for (long long i = 0; i < n; i++) print_int(count_levels(read_word()));
  for (int on = 0; on <= LEVELS; on++) print_word(thermometer_word(on));
  return 0;
}

int run_stem() {
  const long long n = read_int();
  std::vector<word_t> weight(n * COLOURS * TAPS);
  for (word_t &word : weight) word = read_word();
  for (long long k = 0; k < n; k++) {
    level_dot_t table[TAPS][LEVEL_SLOTS];
    for (int tap = 0; tap < TAPS; tap++) {  // the fill loop of csim_api.cc's load_params
      for (int colour = 0; colour < COLOURS; colour++) {
        for (int on = 0; on <= LEVELS; on++) {
          table[tap][colour * (LEVELS + 1) + on] = stem_level_dot(weight[(k * COLOURS + colour) * TAPS + tap], on);
        }
      }
    }
    for (int tap = 0; tap < TAPS; tap++) {
      for (int slot = 0; slot < LEVEL_SLOTS; slot++) print_int(table[tap][slot]);
    }
  }
  return 0;
}

// pg_conv_bn itself, with parameters that turn its output into the conv sums z (plus the residual).
int run_pg_conv_bn() {
  const int h_in = int(read_int()), cin = int(read_int()), cout = int(read_int()), stride = int(read_int());
  const int tile0 = int(read_int());
  const int h_out = stride ? h_in / stride : 0, tiles = cout / OC_TILE;
  if (h_in < 1 || h_in > IMG || (stride != 1 && stride != 2) || h_in % stride || cin < 1 || cin > MAX_CHANNELS ||
      cout % OC_TILE || cout < OC_TILE || cout > MAX_CHANNELS || tiles * h_out * h_out > FMAP_DEPTH || tile0 < 0 ||
      tile0 + tiles > PG_TILES) {
    std::fprintf(stderr, "unit_tests pg_conv_bn: bad size, channels, stride or tile0\n");
    return 2;
  }
  static plane_t msb_in, lsb_in, msb_out, lsb_out;
  static fmap_t fmap;
  read_plane(msb_in, h_in);
  read_plane(lsb_in, h_in);
  std::memset(msb_out, 0x3c, sizeof(plane_t));
  std::memset(lsb_out, 0xc3, sizeof(plane_t));
  for (int tile = 0; tile < PG_TILES; tile++) {  // other tiles: values that would show in the output
    for (int k = 0; k < OC_TILE; k++) {
      for (int tap = 0; tap < TAPS; tap++) pg_weight[tile][k][tap] = ~word_t(0);
      pg_threshold[tile][k] = 0, pg_scale[tile][k] = 0.5, pg_shift[tile][k] = 1.25, pg_slope[tile][k] = 0.75;
      pg_bn_scale[tile][k] = 1.5, pg_bn_shift[tile][k] = -0.5;
    }
  }
  for (int ch = 0; ch < cout; ch++) {
    for (int tap = 0; tap < TAPS; tap++) pg_weight[tile0 + ch / OC_TILE][ch % OC_TILE][tap] = read_word();
  }
  for (int ch = 0; ch < cout; ch++) {
    const int tile = tile0 + ch / OC_TILE, k = ch % OC_TILE;
    pg_threshold[tile][k] = sum_t(read_int());
    pg_scale[tile][k] = 1.0 / 32, pg_shift[tile][k] = 0, pg_slope[tile][k] = 1;
    pg_bn_scale[tile][k] = 1, pg_bn_shift[tile][k] = 0;
  }
  const int pixels = h_out * h_out;
  for (int ch = 0; ch < cout; ch++) {  // the residual stream (fmap_t layout, typedefs.h)
    for (int p = 0; p < pixels; p++) {
      fmap[ch % OC_TILE][ch / OC_TILE * pixels + p].range(FRACNET_FM_W - 1, 0) = read_int();
    }
  }
  pg_conv_bn(msb_in, lsb_in, fmap, msb_out, lsb_out, cin, cout, h_in, stride, tile0);
  for (int ch = 0; ch < cout; ch++) {
    for (int p = 0; p < pixels; p++) {
      print_int(std::llround(std::ldexp(fmap[ch % OC_TILE][ch / OC_TILE * pixels + p].to_double(), FM_FRAC)));
    }
  }
  for (int r = 0; r < h_out; r++) {
    for (int c = 0; c < h_out; c++) {
      print_word(msb_out[r % ROW_BANKS][r / ROW_BANKS][c]);
      print_word(lsb_out[r % ROW_BANKS][r / ROW_BANKS][c]);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  const char *command = argc == 2 ? argv[1] : "";
  if (!std::strcmp(command, "quantize2")) return run_quantize2();
  if (!std::strcmp(command, "place_tile")) return run_place_tile();
  if (!std::strcmp(command, "binary_dot")) return run_binary_dot();
  if (!std::strcmp(command, "levels")) return run_levels();
  if (!std::strcmp(command, "stem")) return run_stem();
  if (!std::strcmp(command, "pg_conv_bn")) return run_pg_conv_bn();
  std::fprintf(stderr, "usage: unit_tests quantize2|place_tile|binary_dot|levels|stem|pg_conv_bn < integers\n");
  return 2;
}
