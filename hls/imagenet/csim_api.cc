// C-simulation library of the ImageNet accelerator: FracNetImageNet compiled with g++ and called from
// Python (fracbnn_lib.hw.imagenet.csim). Not part of the HLS project.
//
// The DRAM images (weights.bin, params.bin of an export) are passed in as they are (64-bit words, read two a beat by
// the 128-bit masters); each thread owns its feature-map buffers and runs the unmodified top function on its share of
// the images.
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "engines.h"
#include "fracnet.h"
#include "hls_support.h"

namespace {

std::string describe_layout() {
  std::string text = "version=" + std::to_string(FRACNET_LAYOUT_VERSION) + ";levels=" + std::to_string(LEVELS) +
                     ";lanes=" + std::to_string(LANES) + ";weights=" + std::to_string(WEIGHT_WORDS) +
                     ";params=" + std::to_string(PARAM_WORDS) + ";fmap=" + std::to_string(FMAP_WORDS);
  return text;
}

// 64-bit words as 128-bit beats (word 2 i in the low half of beat i): the same memory.
const beat_t *beats_of(const void *words) { return static_cast<const beat_t *>(words); }

// The pooled sums of one image from their beats.
void pooled_of(const std::vector<beat_t> &beats, int64_t *pooled) {
  for (int i = 0; i < POOLED_BEATS; i++)
    for (int h = 0; h < BEAT_WORDS; h++) pooled[BEAT_WORDS * i + h] = int64_t(beat_word(beats[i], h));
}

void run_images(const beat_t *weights, const beat_t *params, const uint32_t *images, int64_t *pooled, long first,
                long last) {
  std::vector<beat_t> fmaps(2 * FMAP_BEATS), sums(POOLED_BEATS);
  for (long n = first; n < last; n++) {
    const image_beat_t *image = reinterpret_cast<const image_beat_t *>(images + n * COLOURS * IMG * IMG);
    FracNetImageNet(image, weights, params, fmaps.data(), sums.data());
    pooled_of(sums, pooled + n * OUT_CHANNELS);
  }
}

}  // namespace

extern "C" {

// What this build expects of params.bin and weights.bin (checked by the Python side before a call).
const char *fracnet_layout() {
  static const std::string layout = describe_layout();
  return layout.c_str();
}

// pooled (int64 n x 1024) <- the accelerator on n images (uint32 n x 3 x 224 x 224, 8-byte aligned); 0, or -1 for
// sizes that do not match this build's layout.
int fracnet_predict(const uint64_t *weights, long weight_words, const int64_t *params, long param_words,
                    const uint32_t *images, int64_t *pooled, long n, int threads) {
  if (weight_words != WEIGHT_WORDS || param_words != PARAM_WORDS) return -1;
  static_assert(sizeof(beat_t) == 2 * sizeof(word_t), "a beat is two words");
  if (threads < 1) threads = 1;
  if (threads > n) threads = n > 0 ? int(n) : 1;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++)
    workers.emplace_back(run_images, beats_of(weights), beats_of(params), images, pooled, n * t / threads,
                         n * (t + 1) / threads);
  for (auto &worker : workers) worker.join();
  return 0;
}

#ifdef FRACNET_COUNT
// The counting build: every pipelined loop entered for one image, in order (hls_support.h:
// fracnet_loop_report), into out; returns the text's length, or -1 (sizes) / -2 (out too small).
long fracnet_count_loops(const uint64_t *weights, long weight_words, const int64_t *params, long param_words,
                         const uint32_t *image, char *out, long capacity) {
  if (weight_words != WEIGHT_WORDS || param_words != PARAM_WORDS) return -1;
  fracnet_count_reset();
  std::vector<beat_t> fmaps(2 * FMAP_BEATS), sums(POOLED_BEATS);
  FracNetImageNet(reinterpret_cast<const image_beat_t *>(image), beats_of(weights), beats_of(params), fmaps.data(),
                  sums.data());
  const std::string text = fracnet_loop_report();
  if (long(text.size()) + 1 > capacity) return -2;
  std::snprintf(out, capacity, "%s", text.c_str());
  return long(text.size());
}
#endif
}
