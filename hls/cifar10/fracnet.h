// FracBNN CIFAR-10 accelerator: the top function (the interface of the paper's design).
//
// image: thermometer-encoded input words; for colour c, pixel (row, col), level b is bit 63 - b of
//        image[c][row][col] (1 = level on), the bits below 64 - LEVELS are zero. The accelerator reads
//        each word as its level count (the set bits among the LEVELS), so a word with m bits set
//        computes as the thermometer code of m levels.
// output: the 10 logits. The port names give the AXI-lite registers image_V and output_r of the
//         paper's design, so a bitstream built from this source is driven like the official one.
#ifndef FRACNET_H
#define FRACNET_H

#include "typedefs.h"

void FracNet_T(uint64 image[COLOURS][IMG][IMG], float output[CLASSES]);

#endif  // FRACNET_H
