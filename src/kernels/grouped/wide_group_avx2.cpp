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

// Stores the first n (0..8) lanes of v without touching the others: AMD runs vmaskmovps
// stores as slow microcode, so the tail is written with 4-, 2- and 1-lane stores.
inline void store_lanes(float* p, __m256 v, i64 n) {
  if (n >= 8) {
    _mm256_storeu_ps(p, v);
    return;
  }
  __m128 q = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(p, q);
    q = _mm256_extractf128_ps(v, 1);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), q);
    q = _mm_movehl_ps(q, q);
    p += 2;
    n -= 2;
  }
  if (n >= 1) _mm_store_ss(p, q);
}

// Prefetches the first input lines of one tap of MR pixels (the hardware prefetcher follows
// the rest of a long channel run).
template <int MR>
inline void prefetch_tap(const float* x, i64 xs, i64 cig) {
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
    const char* p = reinterpret_cast<const char*>(x + m * xs);
    _mm_prefetch(p, _MM_HINT_T0);
    if (cig > 16) _mm_prefetch(p + 64, _MM_HINT_T0);
  }
}

template <int MR, int NV>
void tile(const TileArgs& a) {
  constexpr int NR = NV * 8;
  // One pixel alone would leave NV dependency chains for a 4-cycle FMA: split its K loop
  // over 4 accumulator sets (summed in a fixed order at the end).
  constexpr int S = MR == 1 ? 4 : 1;
  __m256 acc[S][MR][NV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[0][m][v] = _mm256_loadu_ps(a.bias + 8 * v);
#pragma GCC unroll 4
      for (int s = 1; s < S; ++s) acc[s][m][v] = _mm256_setzero_ps();
    }
  }
  const i64 xs = a.x_pix;
  const i64 cig = a.cig;
  const float* xk = a.x;
  const float* wk = a.w;
  for (i64 kh = 0; kh < a.kh_n; ++kh) {
    const float* xw = xk;
    const float* wp = wk;
    for (i64 kw = 0; kw < a.kw_n; ++kw) {
      if (kw + 1 < a.kw_n) {
        prefetch_tap<MR>(xw + a.x_kw, xs, cig);
      } else if (kh + 1 < a.kh_n) {
        prefetch_tap<MR>(xk + a.x_kh, xs, cig);
      }
      const float* xc = xw;
      const float* xend = xw + cig;
      if (S > 1) {
        for (; xend - xc >= S; xc += S) {
#pragma GCC unroll 4
          for (int s = 0; s < S; ++s, wp += NR) {
            __m256 w[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_ps(wp + 8 * v);
            const __m256 b = _mm256_broadcast_ss(xc + s);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[s][0][v] = _mm256_fmadd_ps(b, w[v], acc[s][0][v]);
          }
        }
      }
      for (; xc != xend; ++xc, wp += NR) {
        __m256 w[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_ps(wp + 8 * v);
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
          const __m256 b = _mm256_broadcast_ss(xc + m * xs);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[0][m][v] = _mm256_fmadd_ps(b, w[v], acc[0][m][v]);
        }
      }
      xw += a.x_kw;
    }
    xk += a.x_kh;
    wk += a.w_kh;
  }
  if (S > 1) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[0][0][v] =
          _mm256_add_ps(_mm256_add_ps(acc[0][0][v], acc[S > 1 ? 1 : 0][0][v]),
                        _mm256_add_ps(acc[S > 2 ? 2 : 0][0][v], acc[S > 3 ? 3 : 0][0][v]));
    }
  }
  float* y = a.y;
  if (a.n_valid == NR) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + m * a.y_pix + 8 * v, acc[0][m][v]);
    }
  } else {
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const i64 lanes = a.n_valid - 8 * v;
        store_lanes(y + m * a.y_pix + 8 * v, acc[0][m][v], lanes > 0 ? lanes : 0);
      }
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
  // 3 x 32 reads half the input values per FMA of 6 x 16 and wins on long rows; rows that
  // 3 does not divide leave 2-pixel tiles, where 6 x 16 (narrow_units) does better.
  static const TileSet set{
      4,
      2,
      4,
      4,
      {nullptr, &entry<1, 12>, &entry<2, 6>, &entry<3, 4>, &entry<4, 3>, nullptr, nullptr, nullptr},
      {0, 12, 6, 4, 3, 0, 0, 0}};
  return set;
}

}  // namespace groupconv::detail::wg
