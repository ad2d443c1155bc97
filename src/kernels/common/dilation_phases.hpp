// Dilation along W at stride 1 as phases of dilation 1. With dilation d, output column
// ow = ph + d * i reads, at tap k, input column ph - pad_left + d * (i + k): only columns of
// one residue r mod d, at consecutive taps. So the output columns of residue ph (phase ph)
// form a dilation-1 convolution over the input columns of residue r, viewed with pixel
// strides d * channels and rows of the full width. Kernels whose fast blocks need dilation 1
// (KW taps in registers, each input column loaded once) run a dilated layer as its d phases.
// The templates below are for the kernels' baseline translation units (depthwise.cpp,
// narrow_group.cpp) only, never the per-ISA ones (ODR: see the kernels' impl headers).
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

// A kernel parameter struct P (depthwise's dw::Params, NarrowParams) with its shape fields
// set (copy_shape) gets its strides and phase fields: input pixel and row strides xs, xrow,
// output pixel and row strides ypx, yrow, one phase, and the full row's shape.
template <class P>
void init_strides(P& p) {
  p.xs = p.c_in;
  p.xrow = p.w * p.c_in;
  p.ypx = p.c_out;
  p.yrow = p.wo * p.c_out;
  p.phases = 1;
  p.full_w = p.w;
  p.full_wo = p.wo;
  p.full_pad_left = p.pad_left;
}

// Runs the layer of p (init_strides done, dilation p.dw along W at stride 1) as p.dw phases of
// dilation 1: pixel strides of dw pixels, and w, wo, pad_left those of phase 0 (what the
// plan's choices see); for_each_phase sets each phase's.
template <class P>
void use_phases(P& p) {
  const std::int64_t d = p.dw;
  p.phases = d;
  p.dw = 1;
  p.xs = d * p.c_in;
  p.ypx = d * p.c_out;
  const PhaseShape s0 = dilation_phase(d, p.full_w, p.full_wo, p.full_pad_left, 0);
  p.w = s0.w;
  p.wo = s0.wo;
  p.pad_left = s0.pad_left;
}

// run(params, x, y) once per phase, with that phase's shape and first input and output
// columns (once, unchanged, without phases).
template <class P, class F>
void for_each_phase(const P& p, const float* x, float* y, F&& run) {
  if (p.phases == 1) {
    run(p, x, y);
    return;
  }
  for (std::int64_t ph = 0; ph < p.phases; ++ph) {
    const PhaseShape s = dilation_phase(p.phases, p.full_w, p.full_wo, p.full_pad_left, ph);
    P q = p;
    q.w = s.w;
    q.wo = s.wo;
    q.pad_left = s.pad_left;
    run(q, x + s.first_in * p.c_in, y + s.first_out * p.c_out);
  }
}

}  // namespace groupconv::detail
