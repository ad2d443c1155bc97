// AVX-512 variant of the depthwise filter gradient (16 channels per vector, masked tails).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/dw_bwd_filter_params.hpp"
#include "kernels/common/touch.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr std::int64_t kLanes = 16;
  static constexpr bool kCheapMasks = true;    // masked loads and stores cost what plain ones do
  static constexpr bool kFixedWidths = false;  // compile-time 7- and 14-column rows
  static constexpr bool kCompact = false;      // every sweep variant (see dw_bwd_filter_impl.inc)
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  // Keeps a loaded vector in a register (no refolding into several memory operands).
  static void pin(Reg& r) { asm("" : "+v"(r)); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static void store(float* p, Reg r, Mask m) { _mm512_mask_storeu_ps(p, m, r); }
  static void storeu(float* p, Reg r) { _mm512_storeu_ps(p, r); }
  static Mask mask(int n) {
    return static_cast<Mask>(n >= 16 ? 0xFFFFu : ((1u << static_cast<unsigned>(n)) - 1u));
  }
};

#include "kernels/backward/dw_bwd_filter_impl.inc"

}  // namespace

void dw_bwd_filter_avx512(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                          float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

}  // namespace groupconv::detail
