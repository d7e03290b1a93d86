// FracBNN ImageNet accelerator: the layer table driving the two engines.
//
// thermometer words -> stem (binary 3x3 conv 96 -> 32, stride 2, + BN) -> 13 ReActNet blocks, each a PG 3x3
// conv (in -> in) and a PG 1x1 conv (in -> out), 26 entries of the table (fracnet_config.h, generated from
// fracbnn_lib.hw.imagenet.layout) -> per-channel sums of the last 7 x 7 map. Feature maps ping-pong between
// the two halves of fmaps in DRAM; weights and per-channel parameters are read from DRAM tile by tile.
#include "fracnet.h"

#include "engines.h"

static const LayerSpec LAYERS[NUM_LAYERS] = FRACNET_LAYER_TABLE;

void FracNetImageNet(const uint32_t image[COLOURS * IMG * IMG], const word_t weights[WEIGHT_WORDS],
                     const int64_t params[PARAM_WORDS], word_t fmaps[2 * FMAP_WORDS], int64_t pooled[OUT_CHANNELS]) {
// One AXI master per DRAM region kind, 64-bit beats, bursts of up to 256 beats (2 KB, the AXI4 limit) on
// the Ultra96's HP ports; every buffer address and ap_ctrl in the one AXI-lite port CTRL (Vitis HLS puts an
// address there only when told, Vivado HLS 2019.2 by itself).
#pragma HLS INTERFACE m_axi port = image offset = slave bundle = IMG depth = 150528 max_read_burst_length = 256
#pragma HLS INTERFACE m_axi port = weights offset = slave bundle = WGT depth = 1 max_read_burst_length = 256
#pragma HLS INTERFACE m_axi port = params offset = slave bundle = WGT depth = 1 max_read_burst_length = 256
#pragma HLS INTERFACE m_axi port = fmaps offset = slave bundle = FMAP depth = 1 max_read_burst_length = 256 max_write_burst_length = 256
#pragma HLS INTERFACE m_axi port = pooled offset = slave bundle = FMAP depth = 1024
#pragma HLS INTERFACE s_axilite port = image bundle = CTRL
#pragma HLS INTERFACE s_axilite port = weights bundle = CTRL
#pragma HLS INTERFACE s_axilite port = params bundle = CTRL
#pragma HLS INTERFACE s_axilite port = fmaps bundle = CTRL
#pragma HLS INTERFACE s_axilite port = pooled bundle = CTRL
#pragma HLS INTERFACE s_axilite port = return bundle = CTRL
#pragma HLS ALLOCATION function instances = pg_conv_bn limit = 1

  stem_table_t stem_table;
  stem_rows_t stem_rows;
  tile_t tile;
  out_tile_t out_tile;
  weight_tile_t weight_tile;
  int64_t pool_acc[OUT_CHANNELS];
  // Storage, one declaration per array (hls_support.h): banks and ports for the pragmas and the counting build.
  FRACNET_MEMORY_BANKED2(stem_table, RAM_1P_LUTRAM, 1, 2)  // a bank per lane and tap
  FRACNET_MEMORY_BANKED2(stem_rows, RAM_TOOL, 1, 2)        // a bank per window row and colour
  FRACNET_MEMORY(tile, RAM_T2P_BRAM)                       // one bank: every tap and shortcut read shares its 2 ports
  FRACNET_MEMORY(out_tile, RAM_T2P_BRAM)
  FRACNET_MEMORY_BANKED2(weight_tile, RAM_TOOL, 1, 2)  // a bank per lane and tap
  FRACNET_MEMORY_CYCLIC(pool_acc, RAM_TOOL, 1, 32)     // a bank per lane (o % 32)

  stem_conv_bn(image, weights, params, fmaps, stem_table, stem_rows);
LAYER:
  for (int i = 0; i < NUM_LAYERS; i++) {
    FRACNET_LOOP_ENTER("layer");
    const word_t *in = fmaps + (i % 2) * FMAP_WORDS;
    word_t *out = fmaps + ((i + 1) % 2) * FMAP_WORDS;
    pg_conv_bn(LAYERS[i], weights, params, in, out, i == NUM_LAYERS - 1 ? pooled : 0, tile, out_tile, weight_tile,
               pool_acc);
  }
}
