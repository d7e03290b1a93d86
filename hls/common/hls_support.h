// What differs between C-simulation, Vivado HLS and Vitis HLS: storage declarations, loop and access counting.
//
// Storage. Every on-chip array's storage is declared once, by one macro that emits the partition and binding
// pragmas and, in the counting build, tells the counter the array's banks and ports per bank. The macro
// sits where the array is defined; a global ROM (weights.h) has no defining function, so its declaration
// sits in the one function that uses it (UG1399, "Applying Optimization Directives to Global Variables":
// a directive applies to a global from a scope that uses it).
//
//   FRACNET_MEMORY(a, KIND)                 one bank
//   FRACNET_MEMORY_BANKED(a, KIND, d)       dimension d (1-based) completely partitioned: a bank per index
//   FRACNET_MEMORY_BANKED2(a, KIND, d, e)   dimensions d and e completely partitioned
//   FRACNET_MEMORY_CYCLIC(a, KIND, d, f)    dimension d cyclically partitioned into f banks (index % f)
//   FRACNET_MEMORY_STREAM(a, depth)         a FIFO of `depth` words between two processes of a DATAFLOW region,
//                                           written and read in index order (STREAM; 1 port: one write or read)
//   FRACNET_REGISTERS(a)                    every element a register (complete partition of all dimensions)
//
// KIND (ports per bank, what the HLS tool binds):
//   RAM_T2P_BRAM    2  true dual-port block RAM, each port reads or writes (UG573: at most 18 bits a RAMB18)
//   RAM_S2P_BRAM    1+1 simple dual-port block RAM: one port reads, the other writes (UG573: 36 bits a RAMB18,
//                   72 a RAMB36); counted per direction: the most reads, or the most writes, to one bank in one
//                   iteration, against one port (logged as 1 port)
//   ROM_1P_BRAM     1  single-port block ROM
//   ROM_1P_LUTRAM   1  single-port distributed ROM
//   RAM_1P_LUTRAM   1  single-port distributed RAM
//   RAM_TOOL        2  no binding pragma: the tool picks a RAM, at most dual-port
// Registers have no port limit and are not counted.
//
// Access counting (C-simulation only, -DFRACNET_COUNT; every macro below is the bare access otherwise, so
// synthesis and the bit-exact C-simulation compile the same C++). Each access to a declared memory inside a
// pipelined loop is wrapped where it happens: FRACNET_READ(a[i][j]) as a value, FRACNET_WRITE(a[i][j]) = x
// as a target. The counter finds the array by the element's address (so accesses through a function's
// parameter or a pointer count against the array they reach), its bank from the declared partitioning, and
// per pipeline iteration the accesses to each bank. An access to an address no declaration covers is logged
// as the array "undeclared".
//
// Loop counting: FRACNET_LOOP_ENTER(name) marks where a pipeline is entered (once per pass over a flattened
// loop), FRACNET_LOOP_TRIP() the start of one iteration of its pipelined body (in the counting build, an
// object whose lifetime is the iteration). The counting build of the C-simulation library (the loop_counts
// of fracbnn_lib.hw.cifar10.csim and fracbnn_lib.hw.imagenet.csim) runs one image and returns, per entry in
// order, its trips and for every declared memory it touched: the most accesses to one bank in one iteration,
// the ports per bank, and the smallest distance (in iterations) of a read of an element after an earlier
// iteration of the same entry wrote it (0: no such read: no dependence carried through that array). The II the
// ports allow is max over arrays of ceil(accesses / ports); fracbnn_lib.hw.cost_model holds each
// accelerator's cost model to it (tests/test_hw_ladder.py, tests/test_imagenet_accelerator.py).
#ifndef FRACNET_HLS_SUPPORT_H
#define FRACNET_HLS_SUPPORT_H

#define FRACNET_PRAGMA(text) _Pragma(#text)
// A pragma whose text names macros (a depth from fracnet_config.h): they are expanded before it is stringized.
#define FRACNET_PRAGMA_EXPANDED(text) FRACNET_PRAGMA(text)

// ------------------------------------------------------------------------------------------------ storage
// Binding in both tools' spelling: Vitis HLS BIND_STORAGE, Vivado HLS 2019.2 RESOURCE.
#ifdef __VITIS_HLS__
#define FRACNET_BIND(a, vitis_type, vitis_impl, vivado_core) \
  FRACNET_PRAGMA(HLS BIND_STORAGE variable = a type = vitis_type impl = vitis_impl)
#else
#define FRACNET_BIND(a, vitis_type, vitis_impl, vivado_core) FRACNET_PRAGMA(HLS RESOURCE variable = a core = vivado_core)
#endif
// A struct on an AXI master packed into one wide word (its first field at the least significant bits).
#ifdef __VITIS_HLS__
#define FRACNET_PACKED(port) FRACNET_PRAGMA(HLS AGGREGATE variable = port)
#else
#define FRACNET_PACKED(port) FRACNET_PRAGMA(HLS DATA_PACK variable = port)
#endif
#define FRACNET_BIND_RAM_T2P_BRAM(a) FRACNET_BIND(a, ram_t2p, bram, RAM_T2P_BRAM)
#define FRACNET_BIND_RAM_S2P_BRAM(a) FRACNET_BIND(a, ram_s2p, bram, RAM_S2P_BRAM)
#define FRACNET_BIND_ROM_1P_BRAM(a) FRACNET_BIND(a, rom_1p, bram, ROM_1P_BRAM)
#define FRACNET_BIND_ROM_1P_LUTRAM(a) FRACNET_BIND(a, rom_1p, lutram, ROM_1P_LUTRAM)
#define FRACNET_BIND_RAM_1P_LUTRAM(a) FRACNET_BIND(a, ram_1p, lutram, RAM_1P_LUTRAM)
#define FRACNET_BIND_RAM_TOOL(a)
#define FRACNET_PORTS_RAM_T2P_BRAM 2
#define FRACNET_PORTS_RAM_S2P_BRAM FRACNET_SIMPLE_DUAL_PORT
#define FRACNET_PORTS_ROM_1P_BRAM 1
#define FRACNET_PORTS_ROM_1P_LUTRAM 1
#define FRACNET_PORTS_RAM_1P_LUTRAM 1
#define FRACNET_PORTS_RAM_TOOL 2

#define FRACNET_SIMPLE_DUAL_PORT (-1)  // one read port and one write port per bank

#define FRACNET_COMPLETE(a, d) FRACNET_PRAGMA(HLS ARRAY_PARTITION variable = a complete dim = d)
#define FRACNET_CYCLIC(a, d, f) FRACNET_PRAGMA(HLS ARRAY_PARTITION variable = a cyclic factor = f dim = d)

#define FRACNET_MEMORY(a, KIND) FRACNET_BIND_##KIND(a) FRACNET_DECLARE(a, FRACNET_PORTS_##KIND, 0, 0, 0, 0)
#define FRACNET_MEMORY_BANKED(a, KIND, d) \
  FRACNET_COMPLETE(a, d) FRACNET_BIND_##KIND(a) FRACNET_DECLARE(a, FRACNET_PORTS_##KIND, d, 0, 0, 0)
#define FRACNET_MEMORY_BANKED2(a, KIND, d, e)                \
  FRACNET_COMPLETE(a, d) FRACNET_COMPLETE(a, e) FRACNET_BIND_##KIND(a) \
  FRACNET_DECLARE(a, FRACNET_PORTS_##KIND, d, e, 0, 0)
#define FRACNET_MEMORY_CYCLIC(a, KIND, d, f) \
  FRACNET_CYCLIC(a, d, f) FRACNET_BIND_##KIND(a) FRACNET_DECLARE(a, FRACNET_PORTS_##KIND, 0, 0, d, f)
#define FRACNET_MEMORY_STREAM(a, depth) \
  FRACNET_PRAGMA(HLS STREAM variable = a depth = depth) FRACNET_DECLARE(a, 1, 0, 0, 0, 0)
#define FRACNET_REGISTERS(a) FRACNET_COMPLETE(a, 0)

#ifndef FRACNET_COUNT
#define FRACNET_DECLARE(a, ports, complete1, complete2, cyclic_dim, cyclic_factor)
#define FRACNET_READ(element) (element)
#define FRACNET_WRITE(element) (element)
#define FRACNET_LOOP_ENTER(name)
#define FRACNET_LOOP_TRIP()
#else
// ------------------------------------------------------------------------------------------ counting build
#include <stddef.h>
#include <stdint.h>

#include <map>
#include <string>
#include <vector>

// One declared memory array of the running image.
struct FracnetArray {
  std::string name;
  uintptr_t base;
  size_t bytes, element;
  int ports;
  bool simple;                   // simple dual port: reads and writes counted apart (one port each)
  std::vector<long> strides, extents, factors;  // per banked dimension: element stride, extent, banks (factor)
  long banks;
  std::vector<int> count;        // accesses per bank in the open iteration (simple: reads, then writes per bank)
  std::vector<long> touched;     // banks with a nonzero count in the open iteration
  std::vector<long> last_write;  // per element: the iteration serial of its last write (-1: none)
  long bank_of(size_t index) const {
    long bank = 0;
    for (size_t d = 0; d < strides.size(); d++) bank = bank * factors[d] + (long(index) / strides[d]) % extents[d] % factors[d];
    return bank;
  }
};

// One declared array's use in one loop entry.
struct FracnetUse {
  std::string array;
  int ports;
  long accesses;  // most accesses to one bank in one iteration
  long distance;  // smallest iteration distance of a read after an earlier iteration's write (0: none)
};

struct LoopEntry {
  const char *loop;
  long trips;
  std::vector<FracnetUse> uses;
};

struct FracnetCounter {
  std::vector<LoopEntry> log;
  std::map<uintptr_t, FracnetArray> arrays;  // by base address
  FracnetArray *last = 0;                    // the array of the previous access (most accesses repeat it)
  std::vector<FracnetArray *> open_arrays;   // arrays touched in the open iteration
  bool open = false;                         // an iteration of the last entered loop is running
  long serial = 0;                           // iterations begun so far, over all entries
  long entry_first = 0;                      // serial of the current entry's first iteration

  FracnetUse &use_of(const std::string &name, int ports) {
    std::vector<FracnetUse> &uses = log.back().uses;
    for (size_t i = 0; i < uses.size(); i++)
      if (uses[i].array == name) return uses[i];
    uses.push_back(FracnetUse{name, ports, 0, 0});
    return uses.back();
  }
  FracnetArray *find(uintptr_t address) {
    if (last && address >= last->base && address < last->base + last->bytes) return last;
    std::map<uintptr_t, FracnetArray>::iterator it = arrays.upper_bound(address);
    if (it == arrays.begin()) return 0;
    --it;
    if (address >= it->second.base + it->second.bytes) return 0;
    return last = &it->second;
  }
  void enter(const char *loop) {
    log.push_back(LoopEntry{loop, 0, std::vector<FracnetUse>()});
    entry_first = serial;
  }
  void begin() {
    log.back().trips++;
    serial++;
    open = true;
  }
  void end() {  // fold the iteration's counts into the entry's maxima
    for (size_t a = 0; a < open_arrays.size(); a++) {
      FracnetArray &array = *open_arrays[a];
      int most = 0;
      for (size_t t = 0; t < array.touched.size(); t++) {
        int &count = array.count[array.touched[t]];
        if (count > most) most = count;
        count = 0;
      }
      array.touched.clear();
      FracnetUse &use = use_of(array.name, array.ports);
      if (most > use.accesses) use.accesses = most;
    }
    open_arrays.clear();
    open = false;
  }
  void access(const void *element, bool write) {
    if (!open || log.empty()) return;  // outside a pipelined loop: not counted
    FracnetArray *array = find(reinterpret_cast<uintptr_t>(element));
    if (!array) {
      use_of("undeclared", 0).accesses = 1;
      return;
    }
    const size_t index = (reinterpret_cast<uintptr_t>(element) - array->base) / array->element;
    const long bank = array->bank_of(index) + (array->simple && write ? array->banks : 0);
    if (array->touched.empty()) open_arrays.push_back(array);
    if (array->count[bank]++ == 0) array->touched.push_back(bank);
    long &written = array->last_write[index];
    if (write) {
      written = serial;
    } else if (written >= entry_first + 1 && written < serial) {  // iterations of this entry have serials > entry_first
      FracnetUse &use = use_of(array->name, array->ports);
      const long distance = serial - written;
      if (use.distance == 0 || distance < use.distance) use.distance = distance;
    }
  }
  void declare(const char *name, uintptr_t base, size_t bytes, size_t element, int ports, const std::vector<long> &dims,
               const std::vector<long> &factors) {
    std::map<uintptr_t, FracnetArray>::iterator it = arrays.lower_bound(base);  // drop what the new range overlaps
    if (it != arrays.begin()) {
      std::map<uintptr_t, FracnetArray>::iterator before = it;
      --before;
      if (before->second.base + before->second.bytes > base) it = before;
    }
    while (it != arrays.end() && it->second.base < base + bytes) arrays.erase(it++);
    FracnetArray array;
    array.name = name, array.base = base, array.bytes = bytes, array.element = element;
    array.simple = ports == FRACNET_SIMPLE_DUAL_PORT;
    array.ports = array.simple ? 1 : ports;
    array.banks = 1;
    long stride = long(bytes / element);
    for (size_t d = 0; d < dims.size(); d++) {
      stride /= dims[d];
      if (factors[d] == 0) continue;
      array.strides.push_back(stride), array.extents.push_back(dims[d]), array.factors.push_back(factors[d]);
      array.banks *= factors[d];
    }
    array.count.assign(array.simple ? 2 * array.banks : array.banks, 0);
    array.last_write.assign(bytes / element, -1);
    arrays[base] = array;
    last = 0;
  }
};

// The counter of the image running on this thread (the counting build runs one image at a time).
inline FracnetCounter &fracnet_counter() {
  static thread_local FracnetCounter counter;
  return counter;
}

inline std::vector<LoopEntry> &fracnet_loop_log() { return fracnet_counter().log; }

// Start counting an image: an empty log, no declared arrays.
inline void fracnet_count_reset() {
  FracnetCounter &counter = fracnet_counter();
  counter.log.clear();
  counter.arrays.clear();
  counter.last = 0;
  counter.open_arrays.clear();
  counter.open = false;
}

// The log as text: "LOOP:trips|array,accesses,ports,distance|...;LOOP:trips...;" (arrays in first-touch order).
inline std::string fracnet_loop_report() {
  std::string text;
  const std::vector<LoopEntry> &log = fracnet_loop_log();
  for (size_t i = 0; i < log.size(); i++) {
    text += std::string(log[i].loop) + ":" + std::to_string(log[i].trips);
    for (size_t u = 0; u < log[i].uses.size(); u++) {
      const FracnetUse &use = log[i].uses[u];
      text += "|" + use.array + "," + std::to_string(use.accesses) + "," + std::to_string(use.ports) + "," +
              std::to_string(use.distance);
    }
    text += ";";
  }
  return text;
}

struct FracnetIteration {
  FracnetIteration() { fracnet_counter().begin(); }
  ~FracnetIteration() { fracnet_counter().end(); }
};

// The shape of an array type: its extents, outermost first.
template <typename T>
struct FracnetShape {
  static void dims(std::vector<long> &) {}
};
template <typename T, size_t N>
struct FracnetShape<T[N]> {
  static void dims(std::vector<long> &out) {
    out.push_back(long(N));
    FracnetShape<T>::dims(out);
  }
};

template <typename A>
inline void fracnet_declare(const char *name, A &array, int ports, int complete1, int complete2, int cyclic_dim,
                            int cyclic_factor) {
  std::vector<long> dims;
  FracnetShape<A>::dims(dims);
  std::vector<long> factors(dims.size(), 0);
  if (complete1) factors[complete1 - 1] = dims[complete1 - 1];
  if (complete2) factors[complete2 - 1] = dims[complete2 - 1];
  if (cyclic_dim) factors[cyclic_dim - 1] = cyclic_factor;
  size_t elements = 1;
  for (size_t d = 0; d < dims.size(); d++) elements *= size_t(dims[d]);
  fracnet_counter().declare(name, reinterpret_cast<uintptr_t>(&array), sizeof(A), sizeof(A) / elements, ports, dims,
                            factors);
}

template <typename T>
inline T &fracnet_access(T &element, bool write) {
  fracnet_counter().access(&element, write);
  return element;
}

#define FRACNET_DECLARE(a, ports, complete1, complete2, cyclic_dim, cyclic_factor) \
  fracnet_declare(#a, a, ports, complete1, complete2, cyclic_dim, cyclic_factor);
#define FRACNET_READ(element) fracnet_access((element), false)
#define FRACNET_WRITE(element) fracnet_access((element), true)
#define FRACNET_LOOP_ENTER(name) fracnet_counter().enter(name)
#define FRACNET_LOOP_TRIP() FracnetIteration fracnet_iteration_
#endif  // FRACNET_COUNT

#endif  // FRACNET_HLS_SUPPORT_H
