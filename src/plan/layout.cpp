#include "plan/layout.hpp"

#include <cstdint>

#include "plan/parallel.hpp"

namespace groupconv::detail {

using i64 = std::int64_t;

void oihw_to_hwio(const Geometry& g, const float* oihw, float* hwio) {
  for (i64 o = 0; o < g.c_out; ++o)
    for (i64 i = 0; i < g.cig; ++i)
      for (i64 kh = 0; kh < g.kh; ++kh)
        for (i64 kw = 0; kw < g.kw; ++kw)
          hwio[((kh * g.kw + kw) * g.cig + i) * g.c_out + o] =
              oihw[((o * g.cig + i) * g.kh + kh) * g.kw + kw];
}

void hwio_to_oihw(const Geometry& g, const float* hwio, float* oihw) {
  for (i64 o = 0; o < g.c_out; ++o)
    for (i64 i = 0; i < g.cig; ++i)
      for (i64 kh = 0; kh < g.kh; ++kh)
        for (i64 kw = 0; kw < g.kw; ++kw)
          oihw[((o * g.cig + i) * g.kh + kh) * g.kw + kw] =
              hwio[((kh * g.kw + kw) * g.cig + i) * g.c_out + o];
}

namespace {
// [N, C, P] -> [N, P, C] in 32x32 tiles (cache friendly both ways); tasks = N x P-tiles.
void transpose_cp(const float* src, float* dst, i64 n, i64 c, i64 p, int threads) {
  constexpr i64 kT = 32;
  const i64 ptiles = (p + kT - 1) / kT;
  parallel_for(n * ptiles, threads, [&](i64 begin, i64 end, int) {
    for (i64 t = begin; t < end; ++t) {
      const i64 b = t / ptiles;
      const i64 p0 = (t % ptiles) * kT;
      const i64 p1 = p0 + kT < p ? p0 + kT : p;
      const float* s = src + b * c * p;
      float* d = dst + b * c * p;
      for (i64 c0 = 0; c0 < c; c0 += kT) {
        const i64 c1 = c0 + kT < c ? c0 + kT : c;
        for (i64 pp = p0; pp < p1; ++pp)
          for (i64 cc = c0; cc < c1; ++cc) d[pp * c + cc] = s[cc * p + pp];
      }
    }
  });
}
// [N, P, C] -> [N, C, P]
void transpose_pc(const float* src, float* dst, i64 n, i64 c, i64 p, int threads) {
  constexpr i64 kT = 32;
  const i64 ctiles = (c + kT - 1) / kT;
  parallel_for(n * ctiles, threads, [&](i64 begin, i64 end, int) {
    for (i64 t = begin; t < end; ++t) {
      const i64 b = t / ctiles;
      const i64 c0 = (t % ctiles) * kT;
      const i64 c1 = c0 + kT < c ? c0 + kT : c;
      const float* s = src + b * c * p;
      float* d = dst + b * c * p;
      for (i64 p0 = 0; p0 < p; p0 += kT) {
        const i64 p1 = p0 + kT < p ? p0 + kT : p;
        for (i64 cc = c0; cc < c1; ++cc)
          for (i64 pp = p0; pp < p1; ++pp) d[cc * p + pp] = s[pp * c + cc];
      }
    }
  });
}
}  // namespace

void channels_first_to_last(const float* src, float* dst, i64 n, i64 c, i64 p, int threads) {
  transpose_cp(src, dst, n, c, p, threads);
}
void channels_last_to_first(const float* src, float* dst, i64 n, i64 c, i64 p, int threads) {
  transpose_pc(src, dst, n, c, p, threads);
}

void nchw_to_nhwc(const Geometry& g, const float* src, float* dst, int threads) {
  transpose_cp(src, dst, g.n, g.c_in, g.h * g.w, threads);
}

void nhwc_to_nchw_output(const Geometry& g, const float* src, float* dst, int threads) {
  transpose_pc(src, dst, g.n, g.c_out, g.ho * g.wo, threads);
}

}  // namespace groupconv::detail
