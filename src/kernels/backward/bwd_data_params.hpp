// Input gradient (direct gather, any stride/dilation/padding): parameters shared by the
// per-ISA translation units. Plain data only (see the ODR note in dw_bwd_filter_impl.hpp).
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
