// FracBNN ImageNet accelerator: the top function (see typedefs.h for the DRAM layout).
#ifndef FRACNET_IMAGENET_H
#define FRACNET_IMAGENET_H

#include "typedefs.h"

// image: the thermometer words uint32[3][224][224], two a 64-bit beat; weights, params, fmaps (two maps) and
// pooled (int64[1024]): 128-bit beats of two 64-bit words, the first in the low half.
void FracNetImageNet(const image_beat_t image[IMAGE_BEATS], const beat_t weights[WEIGHT_BEATS],
                     const beat_t params[PARAM_BEATS], beat_t fmaps[2 * FMAP_BEATS], beat_t pooled[POOLED_BEATS]);

#endif  // FRACNET_IMAGENET_H
