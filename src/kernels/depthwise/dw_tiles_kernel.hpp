// The channel-vector depthwise kernel (see dw_tiles.hpp): its factory, for depthwise.cpp.
#pragma once

#include <memory>

#include "plan/kernel.hpp"

namespace groupconv::detail {

enum class DwTileMode {
  kTiles,  // 6 pixels x 4 vectors, every input vector read from memory by its FMA
  kSlide,  // up to 10 / 8 / 6 pixels x 2 vectors, each input vector loaded once a kernel row,
           // the whole row (edge tiles leave out the columns in the padding)
};

// Multiplier 1 on an AVX-512 CPU (p.isa) in an AVX-512 build; kSlide also needs dilation 1
// along W, stride 1 or 2 along W, 3, 5 or 7 kernel columns and whole vectors (C % 16 == 0).
// nullptr where that does not hold.
std::unique_ptr<Kernel> make_dw_tile_kernel(const KernelProblem& p, DwTileMode mode);

}  // namespace groupconv::detail
