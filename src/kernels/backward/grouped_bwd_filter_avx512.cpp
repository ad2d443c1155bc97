// avx512 variant of the grouped filter gradient (see grouped_bwd_filter_impl.inc).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/grouped_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m512;
  using Mask = __mmask16;
  using Idx = __m512i;
  static constexpr std::int64_t kLanes = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static void store(float* p, Reg r, Mask m) { _mm512_mask_storeu_ps(p, m, r); }
  static Mask mask(int n) {
    return static_cast<Mask>(n >= 16 ? 0xFFFFu : ((1u << static_cast<unsigned>(n)) - 1u));
  }
  static Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Idx index(const std::int32_t* i) { return _mm512_loadu_si512(i); }
  // maskz form: GCC 12 warns about the undefined source of the unmasked one.
  static Reg permute(Reg v, Idx i) { return _mm512_maskz_permutexvar_ps(0xFFFF, i, v); }
  static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  template <int B>
  static Reg splat4(Reg v) {
    return _mm512_maskz_permute_ps(0xFFFF, v, B * 0x55);  // maskz: see permute
  }
};

#include "kernels/backward/grouped_bwd_filter_impl.inc"

}  // namespace

void grouped_bwd_filter_avx512(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                               float* dw, float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

}  // namespace groupconv::detail
