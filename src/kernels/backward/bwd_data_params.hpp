// Input gradient (direct gather, any stride/dilation/padding): parameters shared by the
// per-ISA translation units. Plain data only (see the ODR note in dw_bwd_filter_impl.inc).
#pragma once

#include <cstdint>

namespace groupconv::detail {

struct BwdDataParams {
  std::int64_t n, h, w, c_in, c_out, ho, wo;  // input (NHWC) and output sizes
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  std::int64_t groups, cig, cog;  // cig == 1 && cog == 1: depthwise; else cig >= 2
  // Column taps: for input column iw, entries [col_off[iw], col_off[iw + 1]) of col_tap hold
  // (kw, ow) pairs, in increasing kw, of the forward output columns that read iw.
  const std::int32_t* col_off;
  const std::int32_t* col_tap;
  // Packed filter: depthwise [KH*KW][C]; grouped [KH*KW][G][Cog][Cig].
  const float* wpk;
};

// The per-dy-column blocks of bwd_data_impl.inc ("dycols") serve a geometry on an ISA of
// `lanes` floats per vector: stride 1 or 2 and 3, 5 or 7 taps along W with dilation 1;
// depthwise with multiplier 1 (channel tails masked) or a group's input channels filling
// whole vectors. The plan (naming, skipping the phases) and the kernels ask this one rule.
inline bool bwd_data_dycols(std::int64_t sw, std::int64_t kw, std::int64_t dw, std::int64_t cig,
                            std::int64_t cog, std::int64_t lanes) {
  if ((sw != 1 && sw != 2) || (kw != 3 && kw != 5 && kw != 7) || dw != 1) return false;
  return cig == 1 ? cog == 1 : cig % lanes == 0;
}

// Runs tasks [begin, end) (one per input row n*H + ih), each writing its whole dx row.
// scratch: at least 2 * kh int64 values.
using BwdDataFn = void (*)(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                           std::int64_t end, std::int64_t* scratch);

void bwd_data_avx512(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                     std::int64_t end, std::int64_t* scratch);
void bwd_data_avx2(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                   std::int64_t end, std::int64_t* scratch);
void bwd_data_portable(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                       std::int64_t end, std::int64_t* scratch);

}  // namespace groupconv::detail
