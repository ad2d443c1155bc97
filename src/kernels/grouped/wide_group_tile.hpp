// The register-tile micro-kernels of the implicit-GEMM convolution engine (wide groups and
// 1x1), one set per ISA (wide_group_avx512.cpp, wide_group_avx2.cpp, wide_group_portable.cpp).
//
// A tile computes `m` output pixels x NR output channels of one group (NR = 8 * units):
//   y[p][j] = bias[j] + sum_{kh < kh_n, kw < kw_n, c < cig}
//             x[p * x_pix + kh * x_kh + kw * x_kw + c] * w[kh * w_kh + (kw * cig + c) * NR + j]
// with the accumulators in registers for the whole K loop, the filter packed as
// [KH][KW][Cig][NR] (zero-padded to NR, so every filter load is a full vector), and the input
// values broadcast straight from memory. Only the first n_valid channels are stored (masked
// tails). The taps are whatever the caller passes: the driver clips them to the ones inside
// the input, so no bounds are checked here.
//
// POD only: this header is included by the per-ISA translation units.
#pragma once

#include <cstdint>

namespace groupconv::detail::wg {

struct TileArgs {
  const float* x;           // input: pixel 0, first tap, first channel of the group
  const float* w;           // packed filter at the first tap
  const float* bias;        // NR values (zeros when the convolution has no bias)
  float* y;                 // output: pixel 0, first channel of the tile
  std::int64_t x_pix;       // floats between consecutive pixels of the tile (input)
  std::int64_t y_pix;       // floats between consecutive pixels of the tile (output)
  std::int64_t x_kh, x_kw;  // floats per kernel-row / kernel-column step (input)
  std::int64_t w_kh;        // floats per kernel-row step (packed filter: KW * cig * NR)
  std::int64_t kh_n, kw_n;  // taps walked (0 allowed: the output is the bias)
  std::int64_t cig;         // input channels per tap
  std::int64_t m;           // pixels, 1 .. max_m
  std::int64_t n_valid;     // output channels stored, 1 .. NR
};

using TileFn = void (*)(const TileArgs&);

// What one ISA offers: tiles of `units` * 8 channels for units in 1 .. max_units; wider output
// channel counts are cut into tiles of main_units (the remainder tile is at most max_units).
// narrow_units replaces main_units where rows are too short to fill main_units' pixel tile
// evenly (the engine decides; equal to main_units when the ISA has no preference).
// flat_units replaces main_units on 1x1 layers at unit stride without padding, whose image
// is one line of pixels (equal to main_units when the ISA has no preference).
struct TileSet {
  int main_units;
  int narrow_units;
  int flat_units;
  int max_units;
  TileFn fn[8];  // indexed by units (fn[0] unused)
  int max_m[8];  // the widest pixel tile for that many units
};

const TileSet& avx512_tiles();
const TileSet& avx2_tiles();
const TileSet& portable_tiles();

}  // namespace groupconv::detail::wg
