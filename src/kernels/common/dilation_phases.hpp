// Dilation along W at stride 1 as phases of dilation 1. With dilation d, output column
// ow = ph + d * i reads, at tap k, input column ph - pad_left + d * (i + k): only columns of
// one residue r mod d, at consecutive taps. So the output columns of residue ph (phase ph)
// form a dilation-1 convolution over the input columns of residue r, viewed with pixel
// strides d * channels and rows of the full width. Kernels whose fast blocks need dilation 1
// (KW taps in registers, each input column loaded once) run a dilated layer as its d phases.
// POD only: included by per-ISA translation units.
#pragma once

#include <cstdint>

namespace groupconv::detail {

// Phase ph of a row of `w` input and `wo` output columns with `pad_left` padded columns at
// dilation d: its input columns (w, the first is column r), output columns (wo, the first is
// column ph) and left padding.
struct PhaseShape {
  std::int64_t w, wo, pad_left, first_in, first_out;
};

inline PhaseShape dilation_phase(std::int64_t d, std::int64_t w, std::int64_t wo,
                                 std::int64_t pad_left, std::int64_t ph) {
  const std::int64_t q = ph - pad_left;
  const std::int64_t r = ((q % d) + d) % d;
  PhaseShape s{};
  s.wo = ph < wo ? (wo - ph + d - 1) / d : 0;
  s.w = r < w ? (w - r + d - 1) / d : 0;
  s.pad_left = (r - q) / d;
  s.first_in = r;
  s.first_out = ph;
  return s;
}

}  // namespace groupconv::detail
