// Which kernel taps of each output row (or column) fall inside the input, for the kernels that
// skip the padded taps instead of reading zeros (wide_group's implicit GEMM, the depthwise
// channel-vector tiles). Baseline code only: included by translation units compiled for the
// baseline ISA.
#pragma once

#include <cstdint>
#include <vector>

namespace groupconv::detail {

struct TapRanges {
  std::vector<std::int64_t> lo, hi;  // output o reads taps [lo[o], hi[o]) (empty: all padding)
  std::int64_t full_lo = 0;          // outputs [full_lo, full_hi) read every tap; both 0 when
  std::int64_t full_hi = 0;          // none does
};

// Along one axis: `outputs` outputs with stride s, leading padding pad, dilation d, k taps, over
// an input of `size`. Tap t of output o reads input o * s - pad + t * d.
inline TapRanges tap_ranges(std::int64_t outputs, std::int64_t s, std::int64_t pad, std::int64_t d,
                            std::int64_t k, std::int64_t size) {
  TapRanges r;
  r.lo.resize(static_cast<std::size_t>(outputs));
  r.hi.resize(static_cast<std::size_t>(outputs));
  std::int64_t first = -1;
  for (std::int64_t o = 0; o < outputs; ++o) {
    const std::int64_t i0 = o * s - pad;
    std::int64_t a = 0;
    while (a < k && i0 + a * d < 0) ++a;
    std::int64_t b = k;
    while (b > a && i0 + (b - 1) * d >= size) --b;
    r.lo[static_cast<std::size_t>(o)] = a;
    r.hi[static_cast<std::size_t>(o)] = b;
    if (a == 0 && b == k) {
      if (first < 0) first = o;
      r.full_lo = first;
      r.full_hi = o + 1;
    }
  }
  return r;
}

}  // namespace groupconv::detail
