// Grouped filter gradient as a packed GEMM per group and tap: parameters shared by the kernel
// translation unit and the plan. Plain data only.
//
//   dw[g][kh][kw][i][o] = sum over the N x Ho x Wo output pixels of x[.., g*Cig + i] * dy[.., g*Cog
//   + o]
//
// Each task owns a slice of one group's register tiles (mr input channels x nv vectors of
// output channels, every tap) and reduces over the output rows in fixed chunks of one image:
// it packs the chunk's rows of x and dy (its channels only; dy zero-padded to whole vectors)
// into a per-thread scratch - the NHWC pixel stride of C floats would map a group's pixels
// onto a few cache sets - then runs every tile over the chunk. Where both pixel strides reach
// enough sets (`direct`), the tiles read the tensors in place and nothing is packed. The order is
// fixed: the result never depends on the thread count.
#pragma once

#include <cstdint>

namespace groupconv::detail {

struct GemmBwdFilterParams {
  std::int64_t n, h, w, c_in, c_out, ho, wo;
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  std::int64_t groups, cig, cog;
  std::int64_t mr, nv;      // register tile: mr input channels x nv vectors of outputs
  std::int64_t parts;       // tasks per group: slices of its input- or output-channel blocks
  std::int64_t split_co;    // 1: parts split the output-channel blocks, 0: the input ones
  std::int64_t chunk_rows;  // output rows of one image per reduction chunk
  std::int64_t scratch_x;   // floats of the per-thread scratch before the packed dy
  std::int64_t tmode;       // 1: transposed tiles (Cog <= 8, Cig % 8 == 0): lanes = 8 inputs
  std::int64_t taps;        // tmode: kernel columns per tile (1..3)
  std::int64_t wp;          // tmode: packed x row width, (Wo - 1) * sw + (KW - 1) * dw + 1
  std::int64_t gpt;         // groups per task (> 1 only in tmode with Cig = Cog = 8, parts = 1:
                            // a task packs whole 64-byte lines of x and dy, two groups each)
  std::int64_t direct;      // 1: the tiles read x and dy in place (NHWC strides), no packing
                            // (tmode 0, gpt 1, whole output vectors; see the plan)
  const float* x;           // NHWC input and output gradient of this call
  const float* dy;
};

inline std::int64_t gemm_bwd_filter_tasks(const GemmBwdFilterParams& p) {
  return p.groups / p.gpt * p.parts;
}

// Per-thread scratch (floats): a chunk's packed x rows, then (at scratch_x) its packed dy rows.
inline std::int64_t gemm_bwd_filter_scratch_x(const GemmBwdFilterParams& p) {
  std::int64_t rows_in = (p.chunk_rows - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  rows_in = rows_in < p.h ? rows_in : p.h;
  // Whole cache lines, then 5 more: the two panels never share a 4 KiB page offset.
  const std::int64_t w = p.wp > p.w ? p.wp : p.w;
  return (rows_in * w * p.cig * p.gpt + 15) / 16 * 16 + 80;
}
inline std::int64_t gemm_bwd_filter_scratch(const GemmBwdFilterParams& p) {
  return gemm_bwd_filter_scratch_x(p) + p.chunk_rows * p.wo * ((p.cog + 7) / 8 * 8) * p.gpt;
}

// Output channels per transposed tile for `span` output channels of a task: with 3 taps at
// most 4 (12 accumulators, 3 x vectors and a broadcast fill the 16 AVX2 registers), split
// evenly (8 channels as 4 + 4 ran ResNeXt's 8-channel groups 15-30% faster than 3 + 3 + 2,
// at 1 and 2 threads); with 1 or 2 taps 10 / taps.
inline std::int64_t gemmt_outputs(std::int64_t taps, std::int64_t span) {
  if (taps != 3) return 10 / taps;
  const std::int64_t k = span > 0 ? (span + 3) / 4 : 1;
  const std::int64_t nc = (span + k - 1) / k;
  return nc < 1 ? 1 : nc;
}

// Tasks [begin, end) of gemm_bwd_filter_tasks(p): writes dw (HWIO) and db (when not null).
// AVX2: GEMM tiles of at most 12 accumulators; AVX-512 (VL): at most 24.
void gemm_bwd_filter_avx2(const GemmBwdFilterParams& p, float* dw, float* db, float* scratch,
                          std::int64_t begin, std::int64_t end);
void gemm_bwd_filter_avx512(const GemmBwdFilterParams& p, float* dw, float* db, float* scratch,
                            std::int64_t begin, std::int64_t end);

}  // namespace groupconv::detail
