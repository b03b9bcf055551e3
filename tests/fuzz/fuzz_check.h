// FUZZ_CHECK: an invariant of the code under fuzzing. A violation prints where and why and aborts,
// which libFuzzer reports as a crash and saves the input for (tests/fuzz/run_fuzz.sh prints its
// path). Unlike assert, it stays on in every build.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, ...)                                                           \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #condition); \
      std::fprintf(stderr, __VA_ARGS__);                                                     \
      std::fprintf(stderr, "\n");                                                            \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
