// AVX2+FMA variant of the direct input-gradient kernel (8 channels per vector, masked tails).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/bwd_data_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr std::int64_t kLanes = 8;
  static constexpr bool kCheapMasks = false;  // masked loads and stores cost what plain ones do
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static void storeu(float* p, Reg r) { _mm256_storeu_ps(p, r); }
  static void store(float* p, Reg r, Mask m) { _mm256_maskstore_ps(p, m, r); }
  static Mask mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

#include "kernels/backward/bwd_data_impl.inc"

}  // namespace

void bwd_data_avx2(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                   std::int64_t end, std::int64_t* scratch) {
  entry(p, dy, dx, begin, end, scratch);
}

}  // namespace groupconv::detail
