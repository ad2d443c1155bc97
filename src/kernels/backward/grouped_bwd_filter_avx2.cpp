// avx2 variant of the grouped filter gradient (see grouped_bwd_filter_impl.inc).
#include <immintrin.h>

#include <cstdint>

#include "kernels/backward/grouped_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  using Reg = __m256;
  using Mask = __m256i;
  using Idx = __m256i;
  static constexpr std::int64_t kLanes = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static void store(float* p, Reg r, Mask m) { _mm256_maskstore_ps(p, m, r); }
  static Mask mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Idx index(const std::int32_t* i) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(i));
  }
  static Reg permute(Reg v, Idx i) { return _mm256_permutevar8x32_ps(v, i); }
  static Reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  // Element B of each group of 4 lanes (128-bit half) to all 4 lanes: one in-lane shuffle
  // with an immediate, no index register.
  template <int B>
  static Reg splat4(Reg v) {
    return _mm256_permute_ps(v, B * 0x55);
  }
};

#include "kernels/backward/grouped_bwd_filter_impl.inc"

}  // namespace

void grouped_bwd_filter_avx2(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                             float* dw, float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

}  // namespace groupconv::detail
