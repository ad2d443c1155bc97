// Copies a Geometry's sizes into a kernel's parameter struct. The per-ISA translation units
// see plain data only (never Geometry, see the ODR notes in the kernels' impl headers), so
// every such struct repeats these fields; this fills them the same way for all of them.
#pragma once

#include "groupconv/geometry.hpp"

namespace groupconv::detail {

// P: any struct with the fields below (int64): n, h, w, c_in, c_out, ho, wo, kh, kw, sh, sw,
// dh, dw, pad_top, pad_left.
template <class P>
void copy_shape(const Geometry& g, P& p) {
  p.n = g.n;
  p.h = g.h;
  p.w = g.w;
  p.c_in = g.c_in;
  p.c_out = g.c_out;
  p.ho = g.ho;
  p.wo = g.wo;
  p.kh = g.kh;
  p.kw = g.kw;
  p.sh = g.sh;
  p.sw = g.sw;
  p.dh = g.dh;
  p.dw = g.dw;
  p.pad_top = g.pad_top;
  p.pad_left = g.pad_left;
}

}  // namespace groupconv::detail
