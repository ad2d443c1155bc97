// Depthwise tiles across channel vectors (multiplier 1): the register tiles shared by the
// driver (dw_tiles.cpp) and the per-ISA translation unit (dw_tiles_avx512.cpp).
//
// A tile computes m output pixels x nv vectors of 16 channels:
//   y[p][c] = bias[c] + sum_{kh < kh_n, kw < kw_n} x[p * x_pix + kh * x_kh + kw * x_kw + c]
//                                                  * w[kh * w_kh + kw * w_kw + c]
// with the m x nv accumulators in registers. Every pixel reads nv consecutive vectors (whole
// 64-byte lines), so a pixel stride that folds onto few L1 sets (512 or 1024 channels) still
// uses every line it fetches. Two kinds: the plain tile (avx512_tile) loads each tap's nv
// filter vectors once for all m pixels and reads the input straight from memory, one vector
// per FMA, for any kernel, stride and dilation; the sliding tile (avx512_slide) walks each
// kernel row's input columns once and feeds every loaded vector to all the taps that read it.
// The taps are whatever the caller passes (the driver clips them to the input), so nothing is
// tested here. The filter is packed per block of vectors as [KH][KW][nv * 16] with zero
// tails; `tail` (1..15, 0 = none) masks the plain tile's last vector.
//
// POD only: included by the per-ISA translation units.
#pragma once

#include <cstdint>

namespace groupconv::detail::dwt {

struct TileArgs {
  const float* x;             // input: pixel 0, first tap, first channel of the block
  const float* w;             // packed filter of the block at the first tap
  const float* bias;          // nv * 16 values
  float* y;                   // output: pixel 0, first channel of the block
  std::int64_t x_pix;         // floats between the tile's pixels (input): sw * C
  std::int64_t y_pix;         // floats between the tile's pixels (output): C
  std::int64_t x_kh, x_kw;    // floats per kernel-row / kernel-column step (input)
  std::int64_t w_kh, w_kw;    // floats per kernel-row / kernel-column step (packed filter)
  std::int64_t kh_n, kw_n;    // taps walked (0: the output is the bias)
  std::int64_t tail;          // lanes of the last vector (0: all 16)
  std::int64_t lskip, rskip;  // sliding edge tiles: window columns left out (see avx512_slide)
};

using TileFn = void (*)(const TileArgs&);

inline constexpr int kMaxPixels = 10;  // the widest tile of either kind
inline constexpr int kMaxVectors = 4;  // nv: 1 .. kMaxVectors

// The AVX-512 tile for m in 1 .. 6 pixels and nv vectors, masked (tail) or not.
TileFn avx512_tile(int m, int nv, bool tail);

// Most pixels of a sliding tile (2 vectors) with kw kernel columns.
constexpr int slide_max_pixels(int kw) { return kw <= 3 ? 10 : kw <= 5 ? 8 : 6; }

// The AVX-512 sliding tile (dilation 1: x_pix = s * x_kw; whole vectors, tail 0) for kw in
// {3, 5, 7}, stride s in {1, 2}, m in 1 .. slide_max_pixels(kw) pixels and nv in {1, 2}
// vectors; nullptr otherwise. Its window is the (m - 1) * s + kw input columns from pixel 0's
// first tap; `edge` tiles (at stride 2 of at most 3 pixels, nullptr above) read only columns
// [lskip, window - rskip), from a.x on.
TileFn avx512_slide(int kw, int s, int m, int nv, bool edge);

}  // namespace groupconv::detail::dwt
