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

  colour_t image_buf[COLOURS];         // the input as level counts, row-banked per colour
  fmap_t fmap;                         // residual stream x, OC_TILE lanes
  plane_t msb_a, lsb_a, msb_b, lsb_b;  // packed 2-bit activations, ping-pong between layers
#pragma HLS ARRAY_PARTITION variable = fmap complete dim = 1
#pragma HLS ARRAY_PARTITION variable = image_buf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = image_buf complete dim = 2
#pragma HLS ARRAY_PARTITION variable = msb_a complete dim = 1
#pragma HLS ARRAY_PARTITION variable = lsb_a complete dim = 1
#pragma HLS ARRAY_PARTITION variable = msb_b complete dim = 1
#pragma HLS ARRAY_PARTITION variable = lsb_b complete dim = 1
  FRACNET_STORAGE(fmap, ram_t2p, bram, RAM_T2P_BRAM)
  FRACNET_STORAGE(image_buf, ram_t2p, bram, RAM_T2P_BRAM)
  FRACNET_STORAGE(msb_a, ram_t2p, bram, RAM_T2P_BRAM)
  FRACNET_STORAGE(lsb_a, ram_t2p, bram, RAM_T2P_BRAM)
  FRACNET_STORAGE(msb_b, ram_t2p, bram, RAM_T2P_BRAM)
  FRACNET_STORAGE(lsb_b, ram_t2p, bram, RAM_T2P_BRAM)

  load_image(image, image_buf);
  stem_conv_bn(image_buf, fmap, msb_a, lsb_a);

  int tile = 0;
BLOCK:
  for (int b = 0; b < NUM_BLOCKS; b++) {
    const BlockSpec block = BLOCKS[b];
    if (block.stride == 2) avgpool_concat(fmap, block.cin, block.h_in);
    pg_conv_bn(msb_a, lsb_a, fmap, msb_b, lsb_b, block.cin, block.cout, block.h_in, block.stride, tile);
    tile += block.cout / OC_TILE;
    pg_conv_bn(msb_b, lsb_b, fmap, msb_a, lsb_a, block.cout, block.cout, block.h_in / block.stride, 1, tile);
    tile += block.cout / OC_TILE;
  }

  avgpool_fc(fmap, output);
}
