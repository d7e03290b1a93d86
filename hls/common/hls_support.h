// What differs between C-simulation, Vivado HLS and Vitis HLS: loop counting and storage binding.
//
// Loop counting, for the cost model's check: C-simulation only (-DFRACNET_COUNT); synthesis never sees it.
// FRACNET_LOOP_ENTER(name) marks where a pipeline is entered (once per pass over a flattened loop),
// FRACNET_LOOP_TRIP() one iteration of its pipelined body. The counting build of the C-simulation
// library (fracbnn_lib.hw.cifar10.csim.loop_counts) runs one image and returns the log in order, which
// the tests compare, entry by entry, with each accelerator's cost.accelerator_loops.
#ifndef FRACNET_HLS_SUPPORT_H
#define FRACNET_HLS_SUPPORT_H

#ifdef FRACNET_COUNT
#include <vector>

struct LoopEntry {
  const char *loop;
  long trips;
};

// The log of the image running on this thread (the counting build runs one image at a time).
inline std::vector<LoopEntry> &fracnet_loop_log() {
  static thread_local std::vector<LoopEntry> log;
  return log;
}

#define FRACNET_LOOP_ENTER(name) fracnet_loop_log().push_back(LoopEntry{name, 0})
#define FRACNET_LOOP_TRIP() (fracnet_loop_log().back().trips++)
#else
#define FRACNET_LOOP_ENTER(name)
#define FRACNET_LOOP_TRIP()
#endif

// Storage binding in both tools' spelling: Vitis HLS BIND_STORAGE, Vivado HLS 2019.2 RESOURCE.
#define FRACNET_PRAGMA(text) _Pragma(#text)
#ifdef __VITIS_HLS__
#define FRACNET_STORAGE(var, vitis_type, vitis_impl, vivado_core) \
  FRACNET_PRAGMA(HLS BIND_STORAGE variable = var type = vitis_type impl = vitis_impl)
#else
#define FRACNET_STORAGE(var, vitis_type, vitis_impl, vivado_core) FRACNET_PRAGMA(HLS RESOURCE variable = var core = vivado_core)
#endif

#endif  // FRACNET_HLS_SUPPORT_H
