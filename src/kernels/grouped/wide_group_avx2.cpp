// AVX2 + FMA register tiles of the implicit-GEMM engine (see wide_group_tile.hpp).
//
// 16 ymm registers: MR pixels x U vectors of 8 channels with MR * U <= 12 accumulators
// (12 x 1, 6 x 2, 4 x 3), the U filter vectors and one broadcast. Zen 4 issues two ymm FMAs a
// cycle, the same FLOP rate as its AVX-512 path.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/grouped/wide_group_tile.hpp"

namespace groupconv::detail::wg {
namespace wg_avx2 {
namespace {

using i64 = std::int64_t;

__m256i lane_mask(i64 lanes) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), idx);
}

template <int MR, int NV>
void tile(const TileArgs& a) {
  constexpr int NR = NV * 8;
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_loadu_ps(a.bias + 8 * v);
  }
  const i64 xs = a.x_pix;
  const i64 cig = a.cig;
  const float* xk = a.x;
  const float* wk = a.w;
  for (i64 kh = 0; kh < a.kh_n; ++kh) {
    const float* xw = xk;
    const float* wp = wk;
    for (i64 kw = 0; kw < a.kw_n; ++kw) {
      const float* xc = xw;
      const float* xend = xw + cig;
      for (; xc != xend; ++xc, wp += NR) {
        __m256 w[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_ps(wp + 8 * v);
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
          const __m256 b = _mm256_broadcast_ss(xc + m * xs);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[m][v] = _mm256_fmadd_ps(b, w[v], acc[m][v]);
        }
      }
      xw += a.x_kw;
    }
    xk += a.x_kh;
    wk += a.w_kh;
  }
  float* y = a.y;
  if (a.n_valid == NR) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + m * a.y_pix + 8 * v, acc[m][v]);
    }
  } else {
    __m256i k[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) k[v] = lane_mask(a.n_valid - 8 * v);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_maskstore_ps(y + m * a.y_pix + 8 * v, k[v], acc[m][v]);
    }
  }
}

template <int NV, int MR>
void entry(const TileArgs& a) {
  if constexpr (MR > 1) {
    if (a.m < MR) {
      entry<NV, MR - 1>(a);
      return;
    }
  }
  tile<MR, NV>(a);
}

}  // namespace
}  // namespace wg_avx2

const TileSet& avx2_tiles() {
  using namespace wg_avx2;
  static const TileSet set{
      2,
      3,
      {nullptr, &entry<1, 12>, &entry<2, 6>, &entry<3, 4>, nullptr, nullptr, nullptr, nullptr},
      {0, 12, 6, 4, 0, 0, 0, 0}};
  return set;
}

}  // namespace groupconv::detail::wg
