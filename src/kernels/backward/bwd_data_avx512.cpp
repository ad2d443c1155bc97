// AVX-512 variant of the direct input-gradient kernel (16 channels per vector, masked tails).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/bwd_data_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr std::int64_t kLanes = 16;
  static constexpr bool kCheapMasks = true;  // masked loads and stores cost what plain ones do
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static void storeu(float* p, Reg r) { _mm512_storeu_ps(p, r); }
  static void store(float* p, Reg r, Mask m) { _mm512_mask_storeu_ps(p, m, r); }
  static Mask mask(int n) {
    return static_cast<Mask>(n >= 16 ? 0xFFFFu : ((1u << static_cast<unsigned>(n)) - 1u));
  }
};

#include "kernels/backward/bwd_data_impl.inc"

}  // namespace

void bwd_data_avx512(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                     std::int64_t end, std::int64_t* scratch) {
  entry(p, dy, dx, begin, end, scratch);
}

}  // namespace groupconv::detail
