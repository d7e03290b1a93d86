// C-simulation library: FracNet_T compiled with g++ and called from Python (fracbnn_lib.hw.cifar10.csim).
//
// Not part of the HLS project. Built with -DFRACNET_RUNTIME_PARAMS, so the parameter arrays are
// ordinary globals filled from an export's params.bin (one g++ build serves every checkpoint exported
// with the same formats). Each image runs the unmodified FracNet_T; several images run at once in
// parallel threads. A call loads its parameters and runs its images under one lock, so concurrent
// callers with different exports never see each other's parameters.
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fracnet.h"
#include "hls_support.h"
#include "layers.h"
#include "params.h"

#define FRACNET_DEFINE_PARAM(name, kind, type, dims, count) type name dims;
FRACNET_PARAMS(FRACNET_DEFINE_PARAM)
#undef FRACNET_DEFINE_PARAM
level_dot_t conv1_level_dot[STEM_CHANNELS][TAPS][LEVEL_SLOTS];

namespace {

std::mutex params_mutex;  // guards the parameter arrays above

// Words are stored as uint64; every other element as the double it represents (exact).
void load_array(word_t *dst, int count, const unsigned char *&src) {
  for (int i = 0; i < count; i++, src += 8) std::memcpy(&dst[i], src, 8);
}

template <typename T>
void load_array(T *dst, int count, const unsigned char *&src) {
  for (int i = 0; i < count; i++, src += 8) {
    double value;
    std::memcpy(&value, src, 8);
    dst[i] = value;
  }
}

std::string describe_layout() {
  std::string layout;
#define FRACNET_LAYOUT_ENTRY(name, kind, type, dims, count) \
  layout += std::string(layout.empty() ? "" : ";") + #name ":" #kind ":" + std::to_string(count);
  FRACNET_PARAMS(FRACNET_LAYOUT_ENTRY)
#undef FRACNET_LAYOUT_ENTRY
  return layout;
}

long param_bytes() {
  long bytes = 0;
#define FRACNET_COUNT_BYTES(name, kind, type, dims, count) bytes += 8L * (count);
  FRACNET_PARAMS(FRACNET_COUNT_BYTES)
#undef FRACNET_COUNT_BYTES
  return bytes;
}

void load_params(const unsigned char *blob) {
  const unsigned char *src = blob;
#define FRACNET_LOAD_PARAM(name, kind, type, dims, count) load_array(reinterpret_cast<type *>(name), (count), src);
  FRACNET_PARAMS(FRACNET_LOAD_PARAM)
#undef FRACNET_LOAD_PARAM
  for (int k = 0; k < STEM_CHANNELS; k++) {  // the derived stem table (params.h)
    for (int tap = 0; tap < TAPS; tap++) {
      for (int colour = 0; colour < COLOURS; colour++) {
        for (int on = 0; on <= LEVELS; on++) {
          conv1_level_dot[k][tap][colour * (LEVELS + 1) + on] = stem_level_dot(conv1_weight[k][colour][tap], on);
        }
      }
    }
  }
}

void run_range(const uint64_t *images, float *out, long begin, long end) {
  const int words = COLOURS * IMG * IMG;
  static_assert(sizeof(uint64) == sizeof(uint64_t), "ap_uint<64> must be stored as one 64-bit word");
  uint64 image[COLOURS][IMG][IMG];
  for (long n = begin; n < end; n++) {
    for (int i = 0; i < words; i++) image[i / (IMG * IMG)][(i / IMG) % IMG][i % IMG] = images[n * words + i];
    FracNet_T(image, out + n * CLASSES);
  }
}

}  // namespace

extern "C" {

// "name:kind:count;..." in params.bin order (checked against fracbnn_lib.hw.cifar10.layout before use).
const char *fracnet_layout() {
  static const std::string layout = describe_layout();
  return layout.c_str();
}

// The compile-time settings this library was built with.
const char *fracnet_config() {
  static const std::string config =
      "levels=" + std::to_string(LEVELS) + ";fm=" + std::to_string(FRACNET_FM_W) + "," + std::to_string(FRACNET_FM_I) +
      ";scale=" + std::to_string(FRACNET_SCALE_W) + "," + std::to_string(FRACNET_SCALE_I) +
      ";param=" + std::to_string(FRACNET_PARAM_W) + "," + std::to_string(FRACNET_PARAM_I) +
      ";logit=" + std::to_string(FRACNET_LOGIT_W) + "," + std::to_string(FRACNET_LOGIT_I);
  return config.c_str();
}

// Load params.bin (blob, size bytes), then run n images (uint64[n][3][32][32], C order) into out
// (float[n][10]) on up to `threads` threads. Returns 0, or -1 if the blob does not fit the layout.
int fracnet_predict(const unsigned char *blob, long size, const uint64_t *images, float *out, long n, int threads) {
  std::lock_guard<std::mutex> lock(params_mutex);
  if (size != param_bytes()) return -1;
  load_params(blob);
  if (n <= 0) return 0;
  if (threads < 1) threads = 1;
  if (threads > n) threads = (int)n;
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; t++) workers.emplace_back(run_range, images, out, n * t / threads, n * (t + 1) / threads);
  run_range(images, out, 0, n / threads);
  for (std::thread &worker : workers) worker.join();
  return 0;
}

#ifdef FRACNET_COUNT
// Counting build (-DFRACNET_COUNT): load params.bin, run one image (uint64[3][32][32]) and write the log of
// its pipelined loops (hls_support.h: fracnet_loop_report) into out (capacity bytes). Returns the length
// written, -1 if the blob does not fit the layout, -2 if out is too small.
long fracnet_count_loops(const unsigned char *blob, long size, const uint64_t *image, char *out, long capacity) {
  std::lock_guard<std::mutex> lock(params_mutex);
  if (size != param_bytes()) return -1;
  load_params(blob);
  fracnet_count_reset();
  float logits[CLASSES];
  run_range(image, logits, 0, 1);
  const std::string text = fracnet_loop_report();
  if ((long)text.size() + 1 > capacity) return -2;
  std::memcpy(out, text.c_str(), text.size() + 1);
  return (long)text.size();
}
#endif

}  // extern "C"
