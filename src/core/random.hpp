#pragma once
// splitmix64: a tiny, well-mixed generator whose output is the same on every platform, so
// seeded results (randn, rand, shuffles) reproduce everywhere.
#include <cstdint>

namespace ndgrad {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

}  // namespace ndgrad
