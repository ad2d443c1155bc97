// AVX-512 register tiles of the channel-vector depthwise kernel (see dw_tiles.hpp).
#include <immintrin.h>

#include <cstdint>

#include "kernels/common/unroll.hpp"
#include "kernels/depthwise/dw_tiles.hpp"

namespace groupconv::detail::dwt {
namespace {

using i64 = std::int64_t;

// What the sliding edge tiles read for input columns in the padding (2 vectors).
alignas(64) constexpr float kZeros[32] = {};

template <int M, int N, bool Tail>
void tile(const TileArgs& a) {
  const auto k =
      static_cast<__mmask16>(Tail ? (1u << static_cast<unsigned>(a.tail)) - 1u : 0xffffu);
  __m512 acc[M][N];
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) acc[m][n] = _mm512_loadu_ps(a.bias + 16 * n);
  }
  const i64 xs = a.x_pix;
  const float* xr = a.x;
  const float* wr = a.w;
  for (i64 kh = 0; kh < a.kh_n; ++kh, xr += a.x_kh, wr += a.w_kh) {
    // One pointer per pixel, advanced by a column step per tap: each load is then a pointer
    // plus a constant (as pixel m times a runtime stride plus 64 n, the compiler kept one
    // index per (m, n) pair and spilled them).
    const float* xp[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) xp[m] = xr + m * xs;
    const float* wc = wr;
    for (i64 kw = 0; kw < a.kw_n; ++kw, wc += a.w_kw) {
      __m512 wv[N];
#pragma GCC unroll 4
      for (int n = 0; n < N; ++n) wv[n] = _mm512_loadu_ps(wc + 16 * n);
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) {
#pragma GCC unroll 4
        for (int n = 0; n < N; ++n) {
          const float* q = xp[m] + 16 * n;
          const __m512 xv = (Tail && n == N - 1) ? _mm512_maskz_loadu_ps(k, q) : _mm512_loadu_ps(q);
          acc[m][n] = _mm512_fmadd_ps(xv, wv[n], acc[m][n]);
        }
        xp[m] += a.x_kw;
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) {
      float* q = a.y + m * a.y_pix + 16 * n;
      if (Tail && n == N - 1) {
        _mm512_mask_storeu_ps(q, k, acc[m][n]);
      } else {
        _mm512_storeu_ps(q, acc[m][n]);
      }
    }
  }
}

// Dilation 1, stride S (1 or 2), KW taps a row, whole vectors: the tile walks each kernel
// row's window of input columns once, left to right, and feeds every loaded vector to the
// (pixel, tap) pairs that read it, with the row's KW x N filter vectors in registers. Loads
// per FMA: at stride 1 with N = 2 and 10 pixels, (12 x 2 + 3 x 2) / 60 = 0.5, where the
// memory-operand tile above needs 1 + 1 / M (Zen 4 sustained about 0.8 zmm loads a cycle:
// that tile topped out at 68% of the FMA peak with its data in L1). Edge tiles (a row's
// first and last) read zeros for the a.lskip first and a.rskip last columns of the window,
// which fall in the padding; a.x then points at the first column inside.
template <int KW, int S, int M, int N, bool Edge>
void slide(const TileArgs& a) {
  constexpr int kCols = (M - 1) * S + KW;
  __m512 acc[M][N];
  unroll<M>([&](auto mm) {
    unroll<N>([&](auto nn) { acc[mm.value][nn.value] = _mm512_loadu_ps(a.bias + 16 * nn.value); });
  });
  const i64 first = Edge ? a.lskip : 0;
  const i64 last = Edge ? kCols - a.rskip : kCols;  // columns [first, last) are read
  const float* xr = a.x;
  const float* wr = a.w;
  for (i64 kh = 0; kh < a.kh_n; ++kh, xr += a.x_kh, wr += a.w_kh) {
    __m512 wv[KW][N];
    unroll<KW>([&](auto kk) {
      unroll<N>([&](auto nn) {
        wv[kk.value][nn.value] = _mm512_loadu_ps(wr + kk.value * a.w_kw + 16 * nn.value);
      });
    });
    const float* xp = xr;
    i64 off = -first * a.x_kw;  // edge tiles: column c at xr + off (when read)
    unroll<kCols>([&](auto cc) {
      constexpr int c = cc.value;
      // Edge tiles read the columns in the padding from a zero line instead (a select, not a
      // branch: with a branch per column GCC spilled the accumulators).
      const float* q = xp;
      if constexpr (Edge) q = c >= first && c < last ? xr + off : kZeros;
      __m512 xv[N];
      unroll<N>([&](auto nn) {
        xv[nn.value] = _mm512_loadu_ps(q + 16 * nn.value);
        // Loaded once into a register: left alone, GCC folded the load into each of the
        // (up to KW) FMAs that use it as a memory operand, one load per FMA again.
        asm("" : "+v"(xv[nn.value]));
      });
      unroll<KW>([&](auto kk) {
        constexpr int kw = kk.value;
        if constexpr (c >= kw && (c - kw) % S == 0 && (c - kw) / S < M) {
          constexpr int m = (c - kw) / S;
          unroll<N>([&](auto nn) {
            constexpr int n = nn.value;
            acc[m][n] = _mm512_fmadd_ps(xv[n], wv[kw][n], acc[m][n]);
          });
        }
      });
      if constexpr (Edge) {
        off += a.x_kw;
      } else {
        xp += a.x_kw;
      }
    });
  }
  unroll<M>([&](auto mm) {
    unroll<N>([&](auto nn) {
      _mm512_storeu_ps(a.y + mm.value * a.y_pix + 16 * nn.value, acc[mm.value][nn.value]);
    });
  });
}

template <int KW, int S, int M>
TileFn slide_n(int nv, bool edge) {
  if constexpr (S == 1) {
    if (edge) return nv == 1 ? &slide<KW, S, M, 1, true> : &slide<KW, S, M, 2, true>;
  } else {
    // At stride 2 the selects of wider edge tiles spilled the accumulators.
    if (edge) {
      if constexpr (M <= 3) {
        return nv == 1 ? &slide<KW, S, M, 1, true> : &slide<KW, S, M, 2, true>;
      }
      return nullptr;
    }
  }
  return nv == 1 ? &slide<KW, S, M, 1, false> : &slide<KW, S, M, 2, false>;
}

template <int KW, int S, int M>
TileFn slide_m(int m, int nv, bool edge) {
  if constexpr (M > 1) {
    if (m < M) return slide_m<KW, S, M - 1>(m, nv, edge);
  }
  return slide_n<KW, S, M>(nv, edge);
}

template <int M, int N>
TileFn pick(bool tail) {
  return tail ? &tile<M, N, true> : &tile<M, N, false>;
}

template <int M>
TileFn pick_n(int nv, bool tail) {
  switch (nv) {
    case 1:
      return pick<M, 1>(tail);
    case 2:
      return pick<M, 2>(tail);
    case 3:
      return pick<M, 3>(tail);
    default:
      return pick<M, 4>(tail);
  }
}

template <int M>
TileFn pick_m(int m, int nv, bool tail) {
  if constexpr (M > 1) {
    if (m < M) return pick_m<M - 1>(m, nv, tail);
  }
  return pick_n<M>(nv, tail);
}

}  // namespace

TileFn avx512_tile(int m, int nv, bool tail) {
  if (m < 1 || m > 6 || nv < 1 || nv > kMaxVectors) return nullptr;
  return pick_m<6>(m, nv, tail);
}

TileFn avx512_slide(int kw, int s, int m, int nv, bool edge) {
  if (nv < 1 || nv > 2 || m > slide_max_pixels(kw) || m < 1) return nullptr;
  switch (kw * 10 + s) {
    case 31:
      return slide_m<3, 1, 10>(m, nv, edge);
    case 32:
      return slide_m<3, 2, 10>(m, nv, edge);
    case 51:
      return slide_m<5, 1, 8>(m, nv, edge);
    case 52:
      return slide_m<5, 2, 8>(m, nv, edge);
    case 71:
      return slide_m<7, 1, 6>(m, nv, edge);
    case 72:
      return slide_m<7, 2, 6>(m, nv, edge);
    default:
      return nullptr;
  }
}

}  // namespace groupconv::detail::dwt
