// FracBNN ImageNet accelerator: the layer table driving the engines, and the schedule that overlaps DRAM with compute.
//
// thermometer words -> stem (binary 3x3 conv 96 -> 32, stride 2, + BN) -> 13 ReActNet blocks, each a PG 3x3 conv
// (in -> in) and a PG 1x1 conv (in -> out), 26 entries of the table (fracnet_config.h, generated from
// fracbnn_lib.hw.imagenet.layout) -> per-channel sums of the last 7 x 7 map. Feature maps ping-pong between the two
// halves of fmaps in DRAM.
//
// Every step runs its calls on distinct arrays (each ping-pong pair is two arrays, the branch on the step's
// parity names them), so the HLS tool starts them together and the step takes as long as the longest:
//   stem tile t:       stem_load(t + 1) [IMG]       || stem_compute(t)    || store_tile(t - 1) [FMAP]
//   PG row tile t:     store_tile(t - 1), load_tile(t + 1) [FMAP]  || the row tile's weight tiles, in turn:
//   PG weight tile j:  load_weight_tile(next) [WGT]  || compute_tile(j)
// The weight tiles form one sequence over the network: the next one is loaded while one computes, across row
// tiles and layers (the first during the stem). What cannot overlap: a layer's first input tile (the layer before
// must be stored) and its last output tile. README.md gives each loop's II and each array's storage; the model
// (fracbnn_lib.hw.imagenet.cost) prices the same schedule.
#include "fracnet.h"

#include "engines.h"

static const LayerSpec LAYERS[NUM_LAYERS] = FRACNET_LAYER_TABLE;

namespace {

// The weight tiles in order over the network: which buffers hold the one computing, and the next one to load
// (its layer, its index among the layer's weight tiles of a row tile, the row tile, and its DRAM beats).
struct WeightTiles {
  bool a_current;
  int layer, tile, row, weight_beat, param_beat;
};

// Past one loaded weight tile: the layer's next, its first again for the next row tile, or the next layer's first.
inline void advance(WeightTiles &wt) {
  if (wt.layer >= NUM_LAYERS) return;
  const LayerSpec &N = LAYERS[wt.layer];
  wt.weight_beat += N.tile_weight_beats, wt.param_beat += PARAM_TILE_BEATS;
  if (++wt.tile < N.oc_tiles) return;
  wt.tile = 0, wt.weight_beat = N.weight_beat, wt.param_beat = N.param_beat;
  if (++wt.row < N.tiles) return;
  wt.row = 0;
  if (++wt.layer < NUM_LAYERS) wt.weight_beat = LAYERS[wt.layer].weight_beat, wt.param_beat = LAYERS[wt.layer].param_beat;
}

// Row tile t of layer L: its weight tiles in turn, each computing beside the next one's load (into the buffers the
// computing one is not in).
inline void row_tile(const LayerSpec &L, bool last, int first_row, const beat_t *weights, const beat_t *params,
                     const tile_t tile, weight_tile_t weights_a, weight_tile_t weights_b, param_tile_t params_a,
                     param_tile_t params_b, WeightTiles &wt, acc_tile_t acc, sc_tile_t sc_sums, out_tile_t out,
                     pool_acc_t pool_acc) {
#pragma HLS INLINE off
#pragma HLS ALLOCATION function instances = compute_tile limit = 1
#pragma HLS ALLOCATION function instances = load_weight_tile limit = 1
  int oc0 = 0;
WEIGHT_TILES:
  for (int j = 0; j < L.oc_tiles; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 4 max = 128 avg = 48
    const bool load = wt.layer < NUM_LAYERS;
    const LayerSpec &N = LAYERS[load ? wt.layer : 0];
    if (wt.a_current) {
      if (load) load_weight_tile(N, weights, params, wt.weight_beat, wt.param_beat, weights_b, params_b);
      compute_tile(L, last, oc0, first_row, tile, weights_a, params_a, acc, sc_sums, out, pool_acc);
    } else {
      if (load) load_weight_tile(N, weights, params, wt.weight_beat, wt.param_beat, weights_a, params_a);
      compute_tile(L, last, oc0, first_row, tile, weights_b, params_b, acc, sc_sums, out, pool_acc);
    }
    wt.a_current = !wt.a_current;
    advance(wt);
    oc0 += LANES;
  }
}

// Store row tile t - 1's output and load row tile t + 1's input (one master, FMAP: one after the other).
inline void transfer(const LayerSpec &L, bool store, const out_tile_t out, beat_t *dst, bool load, const beat_t *src,
                     int first_row, tile_t tile) {
#pragma HLS INLINE off
  if (store) store_tile(out, L.pixels * L.gout, L.gout, (L.cout - GROUP * (L.gout - 1)) / LANES, dst);
  if (load) load_tile(L, src, first_row, tile);
}

// One PG layer: its row tiles, each beside the transfers of the ones before and after.
inline void pg_layer(const LayerSpec &L, bool last, const beat_t *weights, const beat_t *params, const beat_t *in,
                     beat_t *out_map, tile_t tile_a, tile_t tile_b, out_tile_t out_a, out_tile_t out_b,
                     weight_tile_t weights_a, weight_tile_t weights_b, param_tile_t params_a, param_tile_t params_b,
                     WeightTiles &wt, acc_tile_t acc, sc_tile_t sc_sums, pool_acc_t pool_acc) {
  int first_row = L.ksize == 3 ? -1 : 0;  // row tile t's first input row (-1: the padding row)
  int dst = 0;                            // the next output row tile to store, in beats from out_map
  load_tile(L, in, first_row, tile_a);    // the first input tile (the layer before is stored)
ROW_TILES:
  for (int t = 0; t < L.tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 14 avg = 3
    const bool store = t > 0 && !last, load = t + 1 < L.tiles;
    const int next_row = first_row + L.row_step;
    if ((t & 1) == 0) {
      transfer(L, store, out_b, out_map + dst, load, in, next_row, tile_b);
      row_tile(L, last, first_row, weights, params, tile_a, weights_a, weights_b, params_a, params_b, wt, acc, sc_sums,
               out_a, pool_acc);
    } else {
      transfer(L, store, out_a, out_map + dst, load, in, next_row, tile_a);
      row_tile(L, last, first_row, weights, params, tile_b, weights_a, weights_b, params_a, params_b, wt, acc, sc_sums,
               out_b, pool_acc);
    }
    first_row = next_row;
    if (store) dst += L.store_beats;
  }
  if (!last) {  // the last row tile's output
    const int slices = (L.cout - GROUP * (L.gout - 1)) / LANES;
    if (L.tiles & 1)
      store_tile(out_a, L.pixels * L.gout, L.gout, slices, out_map + dst);
    else
      store_tile(out_b, L.pixels * L.gout, L.gout, slices, out_map + dst);
  }
}

// The stem, its tiles each beside the next one's input rows and the one before's output; the network's first
// weight tile loads beside the first input rows.
inline void stem(const image_beat_t *image, const beat_t *weights, const beat_t *params, beat_t *out_map,
                 stem_table_t table, stem_rows_t rows_a, stem_rows_t rows_b, out_tile_t out_a, out_tile_t out_b,
                 weight_tile_t weights_a, param_tile_t params_a, WeightTiles &wt) {
  scale_t scale[STEM_CHANNELS];
  param_t shift[STEM_CHANNELS];
  FRACNET_REGISTERS(scale)
  FRACNET_REGISTERS(shift)
  const int beats = STEM_PIXELS * BEAT_WORDS, slices = STEM_CHANNELS / LANES;
  stem_load_tables(weights, params, table, scale, shift);
  stem_load(image, 0, rows_a);
  load_weight_tile(LAYERS[0], weights, params, wt.weight_beat, wt.param_beat, weights_a, params_a);
  advance(wt);
STEM_TILES:
  for (int t = 0; t < STEM_TILES; t++) {
    if ((t & 1) == 0) {
      if (t + 1 < STEM_TILES) stem_load(image, t + 1, rows_b);
      stem_compute(t, rows_a, table, scale, shift, out_a);
      if (t > 0) store_tile(out_b, STEM_PIXELS, 1, slices, out_map + (t - 1) * beats);
    } else {
      if (t + 1 < STEM_TILES) stem_load(image, t + 1, rows_a);
      stem_compute(t, rows_b, table, scale, shift, out_b);
      store_tile(out_a, STEM_PIXELS, 1, slices, out_map + (t - 1) * beats);
    }
  }
  if (STEM_TILES & 1)
    store_tile(out_a, STEM_PIXELS, 1, slices, out_map + (STEM_TILES - 1) * beats);
  else
    store_tile(out_b, STEM_PIXELS, 1, slices, out_map + (STEM_TILES - 1) * beats);
}

}  // namespace

void FracNetImageNet(const image_beat_t image[IMAGE_BEATS], const beat_t weights[WEIGHT_BEATS],
                     const beat_t params[PARAM_BEATS], beat_t fmaps[2 * FMAP_BEATS], beat_t pooled[POOLED_BEATS]) {
// Three AXI masters (IMG: 64-bit; WGT and FMAP: 128-bit), each on its own HP port of the Ultra96 (the block design),
// bursts of 64 beats with 4 outstanding (256 beats in flight hide the ~40-cycle DRAM latency), depths the regions'
// (for C/RTL co-simulation); every buffer address and ap_ctrl in the one AXI-lite port CTRL (Vitis
// HLS puts an address there only when told, Vivado HLS 2019.2 by itself).
  FRACNET_PRAGMA_EXPANDED(HLS INTERFACE m_axi port = image offset = slave bundle = IMG depth = FRACNET_IMAGE_BEATS
                              max_read_burst_length = 64
                              num_read_outstanding = 4)
  FRACNET_PRAGMA_EXPANDED(HLS INTERFACE m_axi port = weights offset = slave bundle = WGT depth = FRACNET_WEIGHT_BEATS
                              max_read_burst_length = 64
                              num_read_outstanding = 4)
  FRACNET_PRAGMA_EXPANDED(HLS INTERFACE m_axi port = params offset = slave bundle = WGT depth = FRACNET_PARAM_BEATS
                              max_read_burst_length = 64
                              num_read_outstanding = 4)
  FRACNET_PRAGMA_EXPANDED(HLS INTERFACE m_axi port = fmaps offset = slave bundle = FMAP depth = FRACNET_FMAPS_BEATS
                              max_read_burst_length = 64
                              num_read_outstanding = 4 max_write_burst_length = 64 num_write_outstanding = 4)
  FRACNET_PRAGMA_EXPANDED(HLS INTERFACE m_axi port = pooled offset = slave bundle = FMAP depth = FRACNET_POOLED_BEATS
                              max_write_burst_length = 64
                              num_write_outstanding = 4)
  FRACNET_PACKED(weights)
  FRACNET_PACKED(params)
  FRACNET_PACKED(fmaps)
  FRACNET_PACKED(pooled)
#pragma HLS INTERFACE s_axilite port = image bundle = CTRL
#pragma HLS INTERFACE s_axilite port = weights bundle = CTRL
#pragma HLS INTERFACE s_axilite port = params bundle = CTRL
#pragma HLS INTERFACE s_axilite port = fmaps bundle = CTRL
#pragma HLS INTERFACE s_axilite port = pooled bundle = CTRL
#pragma HLS INTERFACE s_axilite port = return bundle = CTRL
// One instance of each engine and transfer serves all its call sites (the branches name different arrays: the tool
// multiplexes the instance's memory ports between them); compute_tile and load_weight_tile are shared inside row_tile.
#pragma HLS ALLOCATION function instances = row_tile limit = 1
#pragma HLS ALLOCATION function instances = transfer limit = 1
#pragma HLS ALLOCATION function instances = store_tile limit = 1
#pragma HLS ALLOCATION function instances = stem_compute limit = 1
#pragma HLS ALLOCATION function instances = stem_load limit = 1

  stem_table_t stem_table;
  stem_rows_t stem_rows_a, stem_rows_b;
  tile_t tile_a, tile_b;
  out_tile_t out_a, out_b;
  weight_tile_t weights_a, weights_b;
  param_tile_t params_a, params_b;
  acc_tile_t acc;
  sc_tile_t sc_sums;
  pool_acc_t pool_acc;
  // Storage, one declaration per array (hls_support.h): banks and ports for the pragmas and the counting build.
  FRACNET_MEMORY_BANKED(stem_table, RAM_1P_LUTRAM, 1)      // a LUTRAM per lane and tap
  FRACNET_MEMORY_BANKED(stem_rows_a, RAM_T2P_BRAM, 1)      // a bank per input row mod 3 and colour
  FRACNET_MEMORY_BANKED(stem_rows_b, RAM_T2P_BRAM, 1)
  FRACNET_MEMORY_BANKED2(tile_a, RAM_S2P_BRAM, 1, 3)       // a bank per window position (or slot) and plane
  FRACNET_MEMORY_BANKED2(tile_b, RAM_S2P_BRAM, 1, 3)
  FRACNET_MEMORY_BANKED(out_a, RAM_T2P_BRAM, 1)            // a bank per slice of LANES channels
  FRACNET_MEMORY_BANKED(out_b, RAM_T2P_BRAM, 1)
  FRACNET_MEMORY_BANKED(weights_a, RAM_S2P_BRAM, 1)        // a bank per slot
  FRACNET_MEMORY_BANKED(weights_b, RAM_S2P_BRAM, 1)
  FRACNET_REGISTERS(params_a)
  FRACNET_REGISTERS(params_b)
  FRACNET_MEMORY_BANKED(acc, RAM_T2P_BRAM, 2)              // a bank per lane
  FRACNET_MEMORY(sc_sums, RAM_S2P_BRAM)                    // one bank: the 8 lanes' shortcut sums of a pixel
  FRACNET_MEMORY_BANKED(pool_acc, RAM_1P_LUTRAM, 1)        // a bank per lane

  WeightTiles wt = {true, 0, 0, 0, LAYERS[0].weight_beat, LAYERS[0].param_beat};
  stem(image, weights, params, fmaps, stem_table, stem_rows_a, stem_rows_b, out_a, out_b, weights_a, params_a, wt);
LAYER:
  for (int i = 0; i < NUM_LAYERS; i++) {
    FRACNET_LOOP_ENTER("layer");
    const bool odd = (i & 1) != 0;
    pg_layer(LAYERS[i], i == NUM_LAYERS - 1, weights, params, fmaps + (odd ? FMAP_BEATS : 0),
             fmaps + (odd ? 0 : FMAP_BEATS), tile_a, tile_b, out_a, out_b, weights_a, weights_b, params_a, params_b, wt,
             acc, sc_sums, pool_acc);
  }
  store_pooled(pool_acc, pooled);
}
