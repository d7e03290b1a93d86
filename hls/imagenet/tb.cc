// Testbench of the FracBNN ImageNet accelerator: runs FracNetImageNet on an export's test vectors.
//
//   tb EXPORT_DIR [N]
//
// Reads the DRAM images EXPORT_DIR/weights.bin and params.bin, images.npy (uint32 N x 3 x 224 x 224) and
// expected_pooled.npy (int64 N x 1024, the bit-exact reference's outputs), all written by `fracbnn export`,
// runs the first N images (default: all) and prints how many outputs differ. Exit status 0 only if none.
// Used by `make csim` (g++) and csim.tcl (Vivado/Vitis HLS C simulation).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "engines.h"
#include "fracnet.h"
#include "npy.h"

namespace {

// A DRAM region of little-endian 64-bit words as the 128-bit beats of its master (word 2 i in the low half of beat i).
bool read_region(const std::string &path, long words, std::vector<beat_t> &out) {
  std::ifstream in(path.c_str(), std::ios::binary | std::ios::ate);
  if (!in || long(in.tellg()) != words * 8) return false;
  std::vector<uint64_t> raw(words);
  in.seekg(0);
  in.read(reinterpret_cast<char *>(raw.data()), words * 8);
  out.resize(words / BEAT_WORDS);
  for (long i = 0; i < long(out.size()); i++) out[i] = make_beat(raw[2 * i], raw[2 * i + 1]);
  return bool(in);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s EXPORT_DIR [N]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<beat_t> weights, params;
  if (!read_region(dir + "/weights.bin", WEIGHT_WORDS, weights) || !read_region(dir + "/params.bin", PARAM_WORDS, params)) {
    std::fprintf(stderr, "error: %s/weights.bin or params.bin is missing or does not fit this build: export again\n",
                 dir.c_str());
    return 2;
  }
  Npy images, expected;
  std::string error;
  if (!read_npy(dir + "/images.npy", images, error) || images.shape.empty() ||
      !expect(images, "<u4", images.shape[0], COLOURS * IMG * IMG, "images.npy", error)) {
    std::fprintf(stderr, "error: %s (run `fracbnn export` with --images first)\n", error.c_str());
    return 2;
  }
  const long total = images.shape[0];
  const bool have_expected = read_npy(dir + "/expected_pooled.npy", expected, error);
  if (have_expected && !expect(expected, "<i8", total, OUT_CHANNELS, "expected_pooled.npy", error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 2;
  }
  const long n = argc > 2 ? std::min(total, std::atol(argv[2])) : total;
  const uint32_t *words = reinterpret_cast<const uint32_t *>(images.data.data());
  const int64_t *reference = reinterpret_cast<const int64_t *>(expected.data.data());
  std::vector<beat_t> fmaps(2 * FMAP_BEATS), pooled(POOLED_BEATS);
  std::vector<image_beat_t> image(IMAGE_BEATS);
  long mismatched = 0;
  for (long i = 0; i < n; i++) {
    const uint32_t *first = words + i * COLOURS * IMG * IMG;
    for (int j = 0; j < IMAGE_BEATS; j++) image[j] = image_beat_t(first[2 * j]) | image_beat_t(first[2 * j + 1]) << 32;
    FracNetImageNet(image.data(), weights.data(), params.data(), fmaps.data(), pooled.data());
    for (int o = 0; o < OUT_CHANNELS; o++)
      if (have_expected && int64_t(beat_word(pooled[o / 2], o % 2)) != reference[i * OUT_CHANNELS + o]) mismatched++;
  }
  std::printf("csim: %ld images", n);
  if (have_expected) std::printf(", %ld of %ld outputs differ from expected_pooled.npy", mismatched, n * OUT_CHANNELS);
  std::printf("\n");
  return mismatched == 0 ? 0 : 1;
}
