#include "kernels/common/touch.hpp"

#include <cstring>

namespace groupconv::detail {

void touch_lines(const float* p, std::int64_t n) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  const std::int64_t bytes = n * static_cast<std::int64_t>(sizeof(float));
  // Two independent chains of 1-cycle XORs, so the loads never wait on each other.
  std::uint32_t a = 0, c = 0;
  std::int64_t o = 0;
  for (; o + 128 <= bytes; o += 128) {
    std::uint32_t u = 0, v = 0;
    std::memcpy(&u, b + o, sizeof u);
    std::memcpy(&v, b + o + 64, sizeof v);
    a ^= u;
    c ^= v;
  }
  for (; o < bytes; o += 64) {
    std::uint32_t u = 0;
    std::memcpy(&u, b + o, sizeof u);
    a ^= u;
  }
  __asm__ volatile("" : : "r"(a ^ c));  // keeps the loads
}

}  // namespace groupconv::detail
