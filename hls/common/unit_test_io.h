// The unit tests' input and output (hls/cifar10/unit_tests.cc, hls/imagenet/unit_tests.cc): whitespace-separated
// integers on stdin, one integer per line on stdout, compared with the numpy reference by the Python tests.
// Not part of the HLS projects.
#ifndef FRACNET_UNIT_TEST_IO_H
#define FRACNET_UNIT_TEST_IO_H

#include <cstdio>
#include <cstdlib>
#include <iostream>

// The next integer on stdin; a missing or malformed one ends the program with status 2.
inline long long read_int() {
  long long value;
  if (!(std::cin >> value)) {
    std::fprintf(stderr, "unit_tests: expected an integer on stdin\n");
    std::exit(2);
  }
  return value;
}

// The next unsigned 64-bit word on stdin (a packed word of bits); status 2 if there is none.
inline unsigned long long read_word() {
  unsigned long long value;
  if (!(std::cin >> value)) {
    std::fprintf(stderr, "unit_tests: expected a 64-bit word on stdin\n");
    std::exit(2);
  }
  return value;
}

inline void print_int(long long value) { std::printf("%lld\n", value); }
inline void print_word(unsigned long long value) { std::printf("%llu\n", value); }

#endif  // FRACNET_UNIT_TEST_IO_H
