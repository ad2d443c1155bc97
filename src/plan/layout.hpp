// Layout conversions done by the plan so kernels only ever see NHWC / HWIO.
#pragma once

#include <cstdint>

#include "groupconv/geometry.hpp"

namespace groupconv::detail {

// OIHW [C_out, Cig, KH, KW] -> HWIO [KH, KW, Cig, C_out] (once, at plan time).
void oihw_to_hwio(const Geometry& g, const float* oihw, float* hwio);
// Input [N, C, H, W] -> [N, H, W, C].
void nchw_to_nhwc(const Geometry& g, const float* src, float* dst, int threads);
// Output [N, Ho, Wo, C_out] -> [N, C_out, Ho, Wo].
void nhwc_to_nchw_output(const Geometry& g, const float* src, float* dst, int threads);

// HWIO -> OIHW (filter gradients for OIHW users).
void hwio_to_oihw(const Geometry& g, const float* hwio, float* oihw);
// [N, C, P] <-> [N, P, C] for any C and P (P = H x W), tiled, parallel over N x tiles.
void channels_first_to_last(const float* src, float* dst, std::int64_t n, std::int64_t c,
                            std::int64_t p, int threads);
void channels_last_to_first(const float* src, float* dst, std::int64_t n, std::int64_t c,
                            std::int64_t p, int threads);

}  // namespace groupconv::detail
