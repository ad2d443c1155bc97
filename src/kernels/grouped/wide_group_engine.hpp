// The implicit-GEMM convolution engine shared by the wide_group and pointwise families.
//
// Per group: M = output pixels, N = Cog, K = Cig * KH * KW. The filter is packed once per
// (group, output-channel tile) as [KH][KW][Cig][NR]; a register tile of up to max_m pixels x
// NR channels keeps its accumulators in registers for the whole K loop (no split K), reading
// the input in place (NHWC: a pixel's Cig values of a group are contiguous).
//
// Padded taps are never computed: output rows and columns whose taps all fall inside the
// input (the interior) run as full tiles along a row; border columns of interior rows run as
// tiles down the column (same clipped kernel-column range for every pixel of the tile);
// border rows run with their clipped kernel-row range, and their corner pixels one at a time.
// 1x1 convolutions with unit stride and no padding treat the image as one line of pixels.
//
// Tasks: (n, group, channel tile, row block or pixel chunk); each task writes its own output
// elements in a fixed order, so output is bit-identical for any thread count.
#pragma once

#include <memory>
#include <string>

#include "plan/kernel.hpp"

namespace groupconv::detail::wg {

// Builds the engine for the ISA in p.isa; `family` prefixes the kernel name.
std::unique_ptr<Kernel> make_gemm_conv_kernel(const KernelProblem& p, const char* family);

}  // namespace groupconv::detail::wg
