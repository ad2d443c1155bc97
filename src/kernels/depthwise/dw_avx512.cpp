// Depthwise kernel, AVX-512 (16 channels per zmm, masked tails, 32 registers: blocks of up to
// 16 output pixels). The body is dw_impl.inc; only the vector traits live here.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/unroll.hpp"
#include "kernels/depthwise/dw_params.hpp"

namespace groupconv::detail::dw {
namespace {

struct V {
  using Reg = __m512;
  using Mask = __mmask16;
  using Idx = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kMaxBlock = static_cast<int>(kMaxBlockAvx512);
  static constexpr bool kCheapMasks = true;
  static Reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg load_aligned(const float* p) { return _mm512_load_ps(p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static void stream(float* p, Reg v) { _mm512_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static Mask mask(int n) {
    return static_cast<Mask>(n >= 16 ? 0xFFFFu : (1u << static_cast<unsigned>(n)) - 1u);
  }
  static Idx index(const std::int32_t* i) { return _mm512_loadu_si512(i); }
  static Reg permute(Reg v, Idx i) { return _mm512_mask_permutexvar_ps(v, 0xFFFF, i, v); }
};

#include "kernels/depthwise/dw_impl.inc"

}  // namespace

void run_avx512(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end) {
  run_tasks(p, x, y, begin, end);
}

}  // namespace groupconv::detail::dw
