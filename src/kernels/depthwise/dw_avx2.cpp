// Depthwise kernel, AVX2 + FMA (8 channels per ymm, maskload/maskstore tails, 16 registers:
// blocks of up to 8 output pixels). The body is dw_impl.inc; only the vector traits live here.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/unroll.hpp"
#include "kernels/depthwise/dw_params.hpp"

namespace groupconv::detail::dw {
namespace {

struct V {
  using Reg = __m256;
  using Mask = __m256i;
  using Idx = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kMaxBlock = static_cast<int>(kMaxBlockAvx2);
  static constexpr bool kCheapMasks = false;  // vmaskmovps stores are slow on AMD
  static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg load_aligned(const float* p) { return _mm256_load_ps(p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static void stream(float* p, Reg v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static Mask mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Idx index(const std::int32_t* i) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(i));
  }
  static Reg permute(Reg v, Idx i) { return _mm256_permutevar8x32_ps(v, i); }
};

#include "kernels/depthwise/dw_impl.inc"

}  // namespace

void run_avx2(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end) {
  run_tasks(p, x, y, begin, end);
}

}  // namespace groupconv::detail::dw
