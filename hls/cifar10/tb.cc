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

namespace {

// A minimal reader of the .npy files numpy writes (format 1.0-3.0, C order, little endian).
struct Npy {
  std::string descr;
  std::vector<long> shape;
  std::vector<char> data;
};

bool read_npy(const std::string &path, Npy &npy, std::string &error) {
  std::ifstream in(path.c_str(), std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = path + " is not a .npy file";
    return false;
  }
  unsigned long header_len = 0;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const int len_size = magic[6] == 1 ? 2 : 4;
  in.read(reinterpret_cast<char *>(len_bytes), len_size);
  for (int i = len_size - 1; i >= 0; i--) header_len = header_len * 256 + len_bytes[i];
  std::string header(header_len, ' ');
  in.read(&header[0], header_len);
  if (header.find("'fortran_order': False") == std::string::npos) {
    error = path + " is not in C order";
    return false;
  }
  const size_t d = header.find("'descr': '");
  const size_t s = header.find("'shape': (");
  if (d == std::string::npos || s == std::string::npos) {
    error = path + ": unreadable header";
    return false;
  }
  npy.descr = header.substr(d + 10, header.find('\'', d + 10) - d - 10);
  npy.shape.clear();
  const std::string dims = header.substr(s + 10, header.find(')', s) - s - 10);
  long count = 1;
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_of("0123456789") != std::string::npos) {
      npy.shape.push_back(std::atol(item.c_str()));
      count *= npy.shape.back();
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const long item = npy.descr.empty() ? 0 : npy.descr[npy.descr.size() - 1] - '0';  // bytes per element
  npy.data.resize(count * item);
  in.read(npy.data.data(), npy.data.size());
  if (!in) {
    error = path + " is truncated";
    return false;
  }
  return true;
}

bool expect(const Npy &npy, const char *descr, long n, long inner, const std::string &name, std::string &error) {
  long size = 1;
  for (size_t i = 1; i < npy.shape.size(); i++) size *= npy.shape[i];
  if (npy.descr != descr || npy.shape.empty() || npy.shape[0] != n || size != inner) {
    error = name + ": expected " + descr + " with " + std::to_string(n) + " rows of " + std::to_string(inner);
    return false;
  }
  return true;
}

}  // namespace

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
