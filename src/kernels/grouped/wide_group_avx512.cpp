// AVX-512 register tiles of the implicit-GEMM engine (see wide_group_tile.hpp).
//
// A tile of `units` groups of 8 output channels holds units / 2 zmm accumulators per pixel,
// plus one ymm accumulator when units is odd: on Zen 4 a ymm FMA costs half a zmm FMA, so an
// 8-channel remainder runs at full rate. 32 registers allow up to 28 accumulators: 12 x 2,
// 8 x 3 vectors. Per input channel and tap the tile loads its filter vectors once and
// broadcasts one input value per pixel, each feeding every vector of that pixel. 16-channel
// tiles take 6 pixels, not 14: each pixel's input needs its own address, and 14 of them spilled
// general registers inside the channel loop; 1T medians of 3 interleaved runs over the grouped
// sweep, 14 -> 6 pixels: 1.05-1.09x on RegNetX's 16-channel groups, 3x1 / 1x3 kernels and
// dilation 4 (24- and 32-channel tiles lost 2-5% at 6 pixels and keep 12).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/grouped/wide_group_tile.hpp"

namespace groupconv::detail::wg {
namespace wg_avx512 {
namespace {

using i64 = std::int64_t;

__mmask16 tail_mask(i64 lanes) {
  return lanes >= 16 ? static_cast<__mmask16>(0xffff)
                     : static_cast<__mmask16>((1u << static_cast<unsigned>(lanes)) - 1u);
}

// MR pixels x (NZ zmm + YT ymm) vectors. No software prefetch: prefetching each next tap's
// pixels (as the AVX2 tiles do, measured on Zen 3) cost 0-13% on Zen 4 over the grouped
// sweep's wide layers (resnext50_c4 112.8 -> 107.6 GFLOP/s, 14x14x1024 64 groups 72.9 -> 64.5).
template <int MR, int NZ, int YT>
void tile(const TileArgs& a) {
  constexpr int NR = NZ * 16 + YT * 8;
  constexpr int NZ1 = NZ + (NZ == 0 ? 1 : 0);  // array extent: at least 1
  // One pixel alone would leave too few dependency chains for a 4-cycle FMA: split its K loop
  // over 4 accumulator sets (summed in a fixed order at the end).
  constexpr int S = MR == 1 ? 4 : 1;
  __m512 acc[S][MR][NZ1];
  __m256 acy[S][MR];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) {
      acc[0][m][v] = _mm512_loadu_ps(a.bias + 16 * v);
#pragma GCC unroll 4
      for (int s = 1; s < S; ++s) acc[s][m][v] = _mm512_setzero_ps();
    }
    if (YT) {
      acy[0][m] = _mm256_loadu_ps(a.bias + 16 * NZ);
#pragma GCC unroll 4
      for (int s = 1; s < S; ++s) acy[s][m] = _mm256_setzero_ps();
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
      const float* xc = xw;
      const float* xend = xw + cig;
      if (S > 1) {
        for (; xend - xc >= S; xc += S) {
#pragma GCC unroll 4
          for (int s = 0; s < S; ++s, wp += NR) {
            const float xv = xc[s];
            if (NZ > 0) {
              const __m512 b = _mm512_set1_ps(xv);
#pragma GCC unroll 4
              for (int v = 0; v < NZ; ++v) {
                acc[s][0][v] = _mm512_fmadd_ps(b, _mm512_loadu_ps(wp + 16 * v), acc[s][0][v]);
              }
            }
            if (YT) {
              acy[s][0] =
                  _mm256_fmadd_ps(_mm256_set1_ps(xv), _mm256_loadu_ps(wp + 16 * NZ), acy[s][0]);
            }
          }
        }
      }
      for (; xc != xend; ++xc, wp += NR) {
        __m512 w[NZ1];
#pragma GCC unroll 4
        for (int v = 0; v < NZ; ++v) w[v] = _mm512_loadu_ps(wp + 16 * v);
        __m256 wy = _mm256_setzero_ps();
        if (YT) wy = _mm256_loadu_ps(wp + 16 * NZ);
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
          const float xv = xc[m * xs];
          if (NZ > 0) {
            const __m512 b = _mm512_set1_ps(xv);
#pragma GCC unroll 4
            for (int v = 0; v < NZ; ++v) acc[0][m][v] = _mm512_fmadd_ps(b, w[v], acc[0][m][v]);
          }
          if (YT) acy[0][m] = _mm256_fmadd_ps(_mm256_set1_ps(xv), wy, acy[0][m]);
        }
      }
      xw += a.x_kw;
    }
    xk += a.x_kh;
    wk += a.w_kh;
  }
  if (S > 1) {
    constexpr int s1 = S > 1 ? 1 : 0, s2 = S > 2 ? 2 : 0, s3 = S > 3 ? 3 : 0;
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) {
      acc[0][0][v] = _mm512_add_ps(_mm512_add_ps(acc[0][0][v], acc[s1][0][v]),
                                   _mm512_add_ps(acc[s2][0][v], acc[s3][0][v]));
    }
    if (YT) {
      acy[0][0] = _mm256_add_ps(_mm256_add_ps(acy[0][0], acy[s1][0]),
                                _mm256_add_ps(acy[s2][0], acy[s3][0]));
    }
  }
  float* y = a.y;
  if (a.n_valid == NR) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NZ; ++v) _mm512_storeu_ps(y + m * a.y_pix + 16 * v, acc[0][m][v]);
      if (YT) _mm256_storeu_ps(y + m * a.y_pix + 16 * NZ, acy[0][m]);
    }
  } else {
    __mmask16 k[NZ1];
#pragma GCC unroll 4
    for (int v = 0; v < NZ; ++v) k[v] = tail_mask(a.n_valid - 16 * v > 0 ? a.n_valid - 16 * v : 0);
    const i64 ylanes = a.n_valid - 16 * NZ;
    const auto ky = static_cast<__mmask8>(tail_mask(ylanes > 0 ? ylanes : 0) & 0xff);
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
      for (int v = 0; v < NZ; ++v) {
        _mm512_mask_storeu_ps(y + m * a.y_pix + 16 * v, k[v], acc[0][m][v]);
      }
      if (YT) _mm256_mask_storeu_ps(y + m * a.y_pix + 16 * NZ, ky, acy[0][m]);
    }
  }
}

template <int NZ, int YT, int MR>
void dispatch_m(const TileArgs& a) {
  if constexpr (MR > 1) {
    if (a.m < MR) {
      dispatch_m<NZ, YT, MR - 1>(a);
      return;
    }
  }
  tile<MR, NZ, YT>(a);
}

template <int NZ, int YT, int MR>
void entry(const TileArgs& a) {
  dispatch_m<NZ, YT, MR>(a);
}

}  // namespace
}  // namespace wg_avx512

const TileSet& avx512_tiles() {
  using namespace wg_avx512;
  // Flat 1x1 layers: 16-channel tiles of 6 pixels. 1T medians of 3 interleaved runs, 32 -> 16
  // channels: ShuffleNet's expanding 1x1 layers (3-8 groups, 17-100 inputs a group)
  // 1.01-1.07x (shufflenet_g3_expand 101 -> 108 GFLOP/s), 1x1 layers without groups
  // (ResNet-50's, MobileNets') 1.02-1.05x, at 110-117 GFLOP/s, 4 and 8 groups of 16 / 64
  // 1.07-1.09x. Groups of at most 24 outputs keep their one tile (12 x 24: ShuffleNet's
  // reducing layers lost 7-8% as 16 + 8). On spatial layers 16-channel tiles gained as often
  // as they lost (grouped sweep geomean 1.00, 0.91-1.17).
  static const TileSet set{4,
                           4,
                           2,
                           6,
                           {nullptr, &entry<0, 1, 14>, &entry<1, 0, 6>, &entry<1, 1, 12>,
                            &entry<2, 0, 12>, &entry<2, 1, 8>, &entry<3, 0, 8>, nullptr},
                           {0, 14, 6, 12, 12, 8, 8, 0}};
  return set;
}

}  // namespace groupconv::detail::wg
