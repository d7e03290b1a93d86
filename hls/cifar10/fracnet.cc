// FracBNN CIFAR-10 accelerator: the network as a sequence of layers.
//
// thermometer words -> binary input conv + BN -> 9 BasicBlocks (2 precision-gated convs each, the
// first block of stages 2 and 3 downsampling with stride 2 and an average-pool shortcut)
// -> global average pool -> FC. All weights and parameters are on chip (params.h).
#include "fracnet.h"

#include "layers.h"

struct BlockSpec {
  int cin;     // input channels
  int cout;    // output channels
  int h_in;    // input height = width
  int stride;  // 2: conv1 downsamples and the shortcut is avgpool + concat
};

// layer1.0-2, layer2.0-2, layer3.0-2, from fracnet_config.h (generated from fracbnn_lib.hw.cifar10.layout.BLOCKS)
static const BlockSpec BLOCKS[NUM_BLOCKS] = FRACNET_BLOCKS;

void FracNet_T(uint64 image[COLOURS][IMG][IMG], float output[CLASSES]) {
#pragma HLS INTERFACE m_axi depth = 3072 port = image offset = slave bundle = IMG
#pragma HLS INTERFACE m_axi depth = 10 port = output offset = slave bundle = RESULT
// Both buffer addresses in CTRL: Vivado HLS 2019.2 puts an offset=slave address there by itself, Vitis HLS
// only when told (otherwise into a second AXI-lite port, s_axi_control, that the block design never connects).
#pragma HLS INTERFACE s_axilite port = image bundle = CTRL
#pragma HLS INTERFACE s_axilite port = output bundle = CTRL
#pragma HLS INTERFACE s_axilite port = return bundle = CTRL
#pragma HLS ALLOCATION function instances = pg_conv_bn limit = 1
#pragma HLS ALLOCATION function instances = avgpool_concat limit = 1

  // Storage, one declaration per array (hls_support.h): banks and ports for the pragmas and the counting build.
  fmap_t fmap;                         // residual stream x, OC_TILE lanes
  plane_t msb_a, lsb_a, msb_b, lsb_b;  // packed 2-bit activations, ping-pong between layers
  FRACNET_MEMORY_BANKED(fmap, RAM_T2P_BRAM, 1)   // a bank per lane
  FRACNET_MEMORY_BANKED(msb_a, RAM_T2P_BRAM, 1)  // a bank per row bank
  FRACNET_MEMORY_BANKED(lsb_a, RAM_T2P_BRAM, 1)
  FRACNET_MEMORY_BANKED(msb_b, RAM_T2P_BRAM, 1)
  FRACNET_MEMORY_BANKED(lsb_b, RAM_T2P_BRAM, 1)

  load_stem(image, fmap, msb_a, lsb_a);  // the image load and the stem side by side (DATAFLOW)

  int tile = 0;
BLOCK:
  for (int b = 0; b < NUM_BLOCKS; b++) {
    const BlockSpec block = BLOCKS[b];
    if (block.stride == 2) avgpool_concat(fmap, block.cin, block.h_in);
    pg_conv_bn(msb_a, lsb_a, fmap, msb_b, lsb_b, block.cin, block.cout, block.h_in, block.stride, tile);
    tile += block.cout / OC_TILE;
    const int h_out = block.stride == 2 ? block.h_in >> 1 : block.h_in;  // stride 1 or 2: no divider
    pg_conv_bn(msb_b, lsb_b, fmap, msb_a, lsb_a, block.cout, block.cout, h_out, 1, tile);
    tile += block.cout / OC_TILE;
  }

  avgpool_fc(fmap, output);
}
