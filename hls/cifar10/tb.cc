// Testbench of the FracBNN CIFAR-10 accelerator: runs FracNet_T on an export's test vectors.
//
//   tb EXPORT_DIR [N]
//
// Reads EXPORT_DIR/images.npy (uint64 N x 3 x 32 x 32 thermometer words), labels.npy (int64 N) and
// expected_logits.npy (float32 N x 10: the bit-exact reference's logits), all written by
// `fracbnn export` / notebook 04, runs the first N images (default: all) through FracNet_T with the
// parameters compiled in from EXPORT_DIR/weights.h, and prints the accuracy and the number of logits
// that differ from the expected ones. Exit status 0 only if every logit is identical.
// Used by `make csim` (g++) and by csim.tcl (Vivado/Vitis HLS C simulation).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fracnet.h"
#include "npy.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s EXPORT_DIR [N]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  Npy images, labels, expected;
  std::string error;
  if (!read_npy(dir + "/images.npy", images, error) || images.shape.empty()) {
    std::fprintf(stderr, "error: %s (run `fracbnn export` with --images first)\n", error.c_str());
    return 2;
  }
  const long total = images.shape[0];
  const bool have_labels = read_npy(dir + "/labels.npy", labels, error);
  const bool have_expected = read_npy(dir + "/expected_logits.npy", expected, error);
  if (!expect(images, "<u8", total, COLOURS * IMG * IMG, "images.npy", error) ||
      (have_labels && !expect(labels, "<i8", total, 1, "labels.npy", error)) ||
      (have_expected && !expect(expected, "<f4", total, CLASSES, "expected_logits.npy", error))) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 2;
  }
  const long n = argc > 2 ? std::min(total, std::atol(argv[2])) : total;

  const uint64_t *words = reinterpret_cast<const uint64_t *>(images.data.data());
  const int64_t *label = reinterpret_cast<const int64_t *>(labels.data.data());
  const float *reference = reinterpret_cast<const float *>(expected.data.data());
  long correct = 0, mismatched = 0;
  for (long i = 0; i < n; i++) {
    uint64 image[COLOURS][IMG][IMG];
    for (int w = 0; w < COLOURS * IMG * IMG; w++) {
      image[w / (IMG * IMG)][(w / IMG) % IMG][w % IMG] = words[i * COLOURS * IMG * IMG + w];
    }
    float output[CLASSES];
    FracNet_T(image, output);
    int best = 0;
    for (int o = 0; o < CLASSES; o++) {
      if (output[o] > output[best]) best = o;
      if (have_expected && std::memcmp(&output[o], &reference[i * CLASSES + o], sizeof(float)) != 0) mismatched++;
    }
    if (have_labels && best == label[i]) correct++;
  }
  std::printf("csim: %ld images", n);
  if (have_labels) std::printf(", accuracy %.4f", double(correct) / n);
  if (have_expected) std::printf(", %ld of %ld logits differ from expected_logits.npy", mismatched, n * CLASSES);
  std::printf("\n");
  return mismatched == 0 ? 0 : 1;
}
