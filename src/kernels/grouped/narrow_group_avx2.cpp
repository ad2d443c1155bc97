// Narrow-group kernel, AVX2 + FMA build (see narrow_group_impl.inc for the algorithm).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/touch.hpp"
#include "kernels/grouped/narrow_group_params.hpp"

namespace {

struct Vec {
  using R = __m256;
  using M = __m256i;
  static constexpr int L = 8;
  static M mask(std::int64_t n) {
    const int k = n <= 0 ? 0 : (n >= 8 ? 8 : static_cast<int>(n));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), lane);
  }
  static R loadm(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  static void storem(float* p, R v, M m) { _mm256_maskstore_ps(p, m, v); }
  static R load(const float* p) { return _mm256_load_ps(p); }  // packed, 64-byte aligned
  static R loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R bcast(const float* p) { return _mm256_broadcast_ss(p); }
  template <int IMM>
  static R lperm(R v) {
    return _mm256_permute_ps(v, IMM);
  }
  static R lpermv(const std::int32_t* idx, R v) {
    return _mm256_permutevar_ps(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx)));
  }
  static R perm1(const std::int32_t* idx, R v) {
    return _mm256_permutevar8x32_ps(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx)));
  }
  // idx: low 3 bits pick the lane, the sign bit picks the second vector.
  static R perm2(const std::int32_t* idx, R a, R b) {
    const __m256i i = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(a, i), _mm256_permutevar8x32_ps(b, i),
                            _mm256_castsi256_ps(i));
  }
};

}  // namespace

#include "kernels/grouped/narrow_group_impl.inc"

namespace groupconv::detail {
namespace {

// One-vector broadcast tiles on 3-wide kernels: 7-pixel blocks in place of 10 where they cover
// the row with fewer loads (a block of P pixels loads P + 2 columns per kernel row and input
// channel; a row of wo pixels runs ceil(wo / P) blocks, the last one overlapping). 7- and
// 14-pixel rows (the last stages of RegNet and ResNeXt) ran 10-pixel blocks 30-43% past
// their end.
bool seven_wide(const NarrowParams& q) {
  if (q.kw != 3 || q.dw != 1) return false;
  return (q.wo + 6) / 7 * 9 < (q.wo + 9) / 10 * 12;
}

}  // namespace

void narrow_group_run_avx2(const NarrowParams& q, const float* x, float* y, std::int64_t begin,
                           std::int64_t end) {
  switch (q.mode) {
    case NarrowMode::kBcast:
      // Groups of 8 input channels (ResNeXt's and RegNet's) get a compile-time trip count for
      // the j loop (same operations in the same order). Interleaved medians on resnext50_c3:
      // 68 -> 75 GFLOP/s, resnext50_c3_s2 32 -> 55.
      if (q.vt == 2) {
        if (q.cig == 8) {
          run_tasks<SrcBcastN<8>, 2, 4, 2, 4>(q, x, y, begin, end);
        } else {
          run_tasks<SrcBcast, 2, 4, 2, 4>(q, x, y, begin, end);
        }
      } else if (seven_wide(q)) {
        if (q.cig == 8) {
          run_tasks<SrcBcastN<8>, 1, 7, 8, 8>(q, x, y, begin, end);
        } else {
          run_tasks<SrcBcast, 1, 7, 8, 8>(q, x, y, begin, end);
        }
      } else if (q.cig == 8) {
        run_tasks<SrcBcastN<8>, 1, 10, 8, 8>(q, x, y, begin, end);
      } else {
        run_tasks<SrcBcast, 1, 10, 8, 8>(q, x, y, begin, end);
      }
      break;
    case NarrowMode::kLane2:
      run_tasks<SrcLane<2>, 1, 8, 8, 8>(q, x, y, begin, end);
      break;
    case NarrowMode::kLane4:
      run_tasks<SrcLane<4>, 1, 8, 8, 8>(q, x, y, begin, end);
      break;
    case NarrowMode::kPerm1:
      run_tasks<SrcPerm1, 1, 8, 8, 8>(q, x, y, begin, end);
      break;
    case NarrowMode::kPerm2:
      run_tasks<SrcPerm2, 1, 8, 6, 8>(q, x, y, begin, end);
      break;
  }
}

}  // namespace groupconv::detail
