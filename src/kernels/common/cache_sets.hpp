// How many of the 64 sets of a 32 KiB, 8-way L1 (64-byte lines) a run of pixels reaches
// when consecutive pixels lie `stride_bytes` apart: a stride of s whole lines reaches
// 64 / gcd(s, 64) sets (a 1536-byte stride, 24 lines, reaches 8); any other stride spreads
// over all 64.
#pragma once

#include <cstdint>
#include <numeric>

namespace groupconv::detail {

inline std::int64_t l1_sets_reached(std::int64_t stride_bytes) {
  if (stride_bytes % 64 != 0) return 64;
  return 64 / std::gcd(stride_bytes / 64, std::int64_t{64});
}

}  // namespace groupconv::detail
