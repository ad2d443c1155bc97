// Portable variant of the depthwise filter gradient: 8-float "vectors" as plain arrays, which
// the compiler maps to whatever the baseline ISA offers.
#include <cstdint>

#include "kernels/backward/dw_bwd_filter_params.hpp"
#include "kernels/common/touch.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  // A GCC/Clang vector type: kept in registers and mapped onto the baseline SIMD (two SSE2
  // registers), where an array of floats was spilled and instrumented element by element.
  using Reg = float __attribute__((vector_size(32)));
  using Mask = int;  // number of active lanes
  static constexpr std::int64_t kLanes = 8;
  static constexpr bool kCheapMasks = false;   // masked loads and stores cost what plain ones do
  static constexpr bool kFixedWidths = false;  // compile-time 7- and 14-column rows
  // Only the runtime-stride sweep, one kernel row per pass: the compile-time stride 1 and 2
  // sweeps, their border variants and the multi-row passes, on 8-float arrays, took this file
  // 220 s to compile (490 s under ASan), the critical path of both builds.
  static constexpr bool kCompact = true;
  static Reg zero() { return Reg{}; }
  static Reg load(const float* p, Mask m) {
    Reg r{};
    for (int i = 0; i < m; ++i) r[i] = p[i];
    return r;
  }
  static Reg loadu(const float* p) { return load(p, 8); }
  // Keeps a loaded vector in a register (no refolding into several memory operands).
  static void pin(Reg& r) { (void)r; }
  static Reg fma(Reg a, Reg b, Reg c) { return c + a * b; }
  static Reg add(Reg a, Reg b) { return a + b; }
  static void store(float* p, Reg r, Mask m) {
    for (int i = 0; i < m; ++i) p[i] = r[i];
  }
  static void storeu(float* p, Reg r) { store(p, r, 8); }
  static Mask mask(int n) { return n > 8 ? 8 : n; }
};

#include "kernels/backward/dw_bwd_filter_impl.inc"

}  // namespace

void dw_bwd_filter_portable(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                            float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

void dw_bwd_filter_reduce(const DwBwdFilterParams& p, float* dw, float* db, std::int64_t begin,
                          std::int64_t end) {
  // Element i of the result is part[0][i] + part[1][i] + ... in tile order (vectorised over i).
  const std::int64_t taps_c = p.kh * p.kw * p.c;
  auto sum = [&](float* out, std::int64_t lo, std::int64_t hi) {  // out = element lo
    const std::int64_t len = hi - lo;
    if (len <= 0) return;
    for (std::int64_t i = 0; i < len; ++i) out[i] = p.part[lo + i];
    for (std::int64_t t = 1; t < p.tiles; ++t) {
      const float* src = p.part + t * p.part_stride + lo;
      for (std::int64_t i = 0; i < len; ++i) out[i] += src[i];
    }
  };
  const std::int64_t mid = end < taps_c ? end : taps_c;
  if (begin < mid) sum(dw + begin, begin, mid);
  if (db != nullptr && end > taps_c) {
    const std::int64_t lo = begin > taps_c ? begin : taps_c;
    sum(db + (lo - taps_c), lo, end);
  }
}

}  // namespace groupconv::detail
