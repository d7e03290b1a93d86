// FracBNN ImageNet accelerator: the top function (see typedefs.h for the DRAM layout).
#ifndef FRACNET_IMAGENET_H
#define FRACNET_IMAGENET_H

#include "typedefs.h"

void FracNetImageNet(const uint32_t image[COLOURS * IMG * IMG], const word_t weights[WEIGHT_WORDS],
                     const int64_t params[PARAM_WORDS], word_t fmaps[2 * FMAP_WORDS], int64_t pooled[OUT_CHANNELS]);

#endif  // FRACNET_IMAGENET_H
