// Depthwise filter gradient (multiplier 1): parameters shared by the per-ISA translation
// units. Plain data only (see the ODR note in dw_bwd_filter_impl.hpp).
#pragma once

#include <cstdint>

namespace groupconv::detail {

struct DwBwdFilterParams {
  std::int64_t n, h, w, c;  // input (NHWC), c = C_in = C_out
  std::int64_t ho, wo;      // output
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  std::int64_t vecs;  // vectors per channel block (1 or 2)
  std::int64_t rows;  // kernel rows per task (register blocking along KH)
};

// Runs tasks [begin, end) of the decomposition (channel block x kernel-row chunk). dw is HWIO
// [KH][KW][1][C]; db (C values) is written by the tasks of the first row chunk when non-null.
// scratch: at least kh * kw * 2 * 16 + 2 * 16 floats, 64-byte aligned.
using DwBwdFilterFn = void (*)(const DwBwdFilterParams& p, const float* x, const float* dy,
                               float* dw, float* db, std::int64_t begin, std::int64_t end,
                               float* scratch);

// Lanes per vector of each ISA's variant and the variants themselves.
constexpr std::int64_t kDwBwdLanesAvx512 = 16;
constexpr std::int64_t kDwBwdLanesAvx2 = 8;
constexpr std::int64_t kDwBwdLanesPortable = 8;
void dw_bwd_filter_avx512(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                          float* db, std::int64_t begin, std::int64_t end, float* scratch);
void dw_bwd_filter_avx2(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                        float* db, std::int64_t begin, std::int64_t end, float* scratch);
void dw_bwd_filter_portable(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                            float* db, std::int64_t begin, std::int64_t end, float* scratch);

}  // namespace groupconv::detail
