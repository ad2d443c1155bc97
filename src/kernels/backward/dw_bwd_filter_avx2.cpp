// AVX2+FMA variant of the depthwise filter gradient (8 channels per vector, masked tails).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/dw_bwd_filter_params.hpp"
#include "kernels/common/touch.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr std::int64_t kLanes = 8;
  static constexpr bool kCheapMasks = false;  // masked loads and stores cost what plain ones do
  static constexpr bool kFixedWidths = true;  // compile-time 7- and 14-column rows
  static constexpr bool kCompact = false;     // every sweep variant (see dw_bwd_filter_impl.inc)
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  // Keeps a loaded vector in a register (no refolding into several memory operands).
  static void pin(Reg& r) { asm("" : "+x"(r)); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static void store(float* p, Reg r, Mask m) { _mm256_maskstore_ps(p, m, r); }
  static void storeu(float* p, Reg r) { _mm256_storeu_ps(p, r); }
  static Mask mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

#include "kernels/backward/dw_bwd_filter_impl.inc"

}  // namespace

void dw_bwd_filter_avx2(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                        float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

}  // namespace groupconv::detail
