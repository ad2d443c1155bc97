// Narrow-group kernel, AVX-512 build (see narrow_group_impl.inc for the algorithm).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/touch.hpp"
#include "kernels/grouped/narrow_group_params.hpp"

namespace {

struct Vec {
  using R = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static M mask(std::int64_t n) {
    if (n <= 0) return 0;
    return n >= 16 ? static_cast<M>(0xFFFF) : static_cast<M>((1u << n) - 1u);
  }
  static R loadm(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static void storem(float* p, R v, M m) { _mm512_mask_storeu_ps(p, m, v); }
  static R load(const float* p) { return _mm512_load_ps(p); }  // packed, 64-byte aligned
  static R loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm512_storeu_ps(p, v); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R bcast(const float* p) { return _mm512_set1_ps(*p); }
  template <int IMM>
  static R lperm(R v) {
    // The masked form with an all-ones mask: GCC 12's unmasked one passes an undefined source
    // and warns (-Wmaybe-uninitialized); the instruction is the same.
    return _mm512_mask_permute_ps(v, static_cast<__mmask16>(0xFFFF), v, IMM);
  }
  static R lpermv(const std::int32_t* idx, R v) {
    return _mm512_mask_permutevar_ps(v, static_cast<__mmask16>(0xFFFF), v, _mm512_load_si512(idx));
  }
  static R perm1(const std::int32_t* idx, R v) {
    return _mm512_mask_permutexvar_ps(v, static_cast<__mmask16>(0xFFFF), _mm512_load_si512(idx), v);
  }
  static R perm2(const std::int32_t* idx, R a, R b) {
    return _mm512_permutex2var_ps(a, _mm512_load_si512(idx), b);
  }
};

}  // namespace

#include "kernels/grouped/narrow_group_impl.inc"

namespace groupconv::detail {

void narrow_group_run_avx512(const NarrowParams& q, const float* x, float* y, std::int64_t begin,
                             std::int64_t end) {
  switch (q.mode) {
    case NarrowMode::kBcast:
      // Groups of 8 input channels get a compile-time trip count for the j loop, as on AVX2.
      if (q.cig == 8) {
        run_tasks<SrcBcastN<8>, 1, 14, 12, 12>(q, x, y, begin, end);
      } else {
        run_tasks<SrcBcast, 1, 14, 12, 12>(q, x, y, begin, end);
      }
      break;
    case NarrowMode::kLane2:
      run_tasks<SrcLane<2>, 1, 14, 12, 12>(q, x, y, begin, end);
      break;
    case NarrowMode::kLane4:
      run_tasks<SrcLane<4>, 1, 14, 12, 12>(q, x, y, begin, end);
      break;
    case NarrowMode::kPerm1:
      run_tasks<SrcPerm1, 1, 14, 12, 12>(q, x, y, begin, end);
      break;
    case NarrowMode::kPerm2:
      run_tasks<SrcPerm2, 1, 14, 12, 12>(q, x, y, begin, end);
      break;
  }
}

}  // namespace groupconv::detail
