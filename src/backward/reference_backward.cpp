// Backward oracles: the forward's loop nest, scattering into double accumulators instead of
// gathering. Any layout; slow by design.
#include <cstdint>
#include <vector>

#include "groupconv/backward.hpp"

namespace groupconv {
namespace {

using i64 = std::int64_t;

struct Index {
  const Geometry& g;
  [[nodiscard]] i64 x(i64 n, i64 h, i64 w, i64 c) const {
    return g.data_format == DataFormat::kNHWC ? ((n * g.h + h) * g.w + w) * g.c_in + c
                                              : ((n * g.c_in + c) * g.h + h) * g.w + w;
  }
  [[nodiscard]] i64 y(i64 n, i64 h, i64 w, i64 c) const {
    return g.data_format == DataFormat::kNHWC ? ((n * g.ho + h) * g.wo + w) * g.c_out + c
                                              : ((n * g.c_out + c) * g.ho + h) * g.wo + w;
  }
  [[nodiscard]] i64 f(i64 kh, i64 kw, i64 i, i64 o) const {
    return g.filter_format == FilterFormat::kHWIO ? ((kh * g.kw + kw) * g.cig + i) * g.c_out + o
                                                  : ((o * g.cig + i) * g.kh + kh) * g.kw + kw;
  }
};

// Calls body(x_index, y_index, f_index) for every in-bounds multiply-add of the forward.
template <typename Body>
void for_each_tap(const Geometry& g, Body&& body) {
  const Index ix{g};
  for (i64 n = 0; n < g.n; ++n)
    for (i64 oh = 0; oh < g.ho; ++oh)
      for (i64 ow = 0; ow < g.wo; ++ow)
        for (i64 gr = 0; gr < g.groups; ++gr)
          for (i64 o = 0; o < g.cog; ++o) {
            const i64 oc = gr * g.cog + o;
            for (i64 kh = 0; kh < g.kh; ++kh) {
              const i64 ih = oh * g.sh - g.pad_top + kh * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (i64 kw = 0; kw < g.kw; ++kw) {
                const i64 iw = ow * g.sw - g.pad_left + kw * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                for (i64 i = 0; i < g.cig; ++i) {
                  body(ix.x(n, ih, iw, gr * g.cig + i), ix.y(n, oh, ow, oc), ix.f(kh, kw, i, oc));
                }
              }
            }
          }
}

template <typename T>
void bwd_data(const Geometry& g, const T* dy, const T* w, T* dx) {
  std::vector<double> acc(static_cast<std::size_t>(g.input_elements()), 0.0);
  for_each_tap(g, [&](i64 xi, i64 yi, i64 fi) {
    acc[static_cast<std::size_t>(xi)] += static_cast<double>(dy[yi]) * static_cast<double>(w[fi]);
  });
  for (std::size_t i = 0; i < acc.size(); ++i) dx[i] = static_cast<T>(acc[i]);
}

template <typename T>
void bwd_filter(const Geometry& g, const T* x, const T* dy, T* dw, T* db) {
  std::vector<double> acc(static_cast<std::size_t>(g.filter_elements()), 0.0);
  for_each_tap(g, [&](i64 xi, i64 yi, i64 fi) {
    acc[static_cast<std::size_t>(fi)] += static_cast<double>(x[xi]) * static_cast<double>(dy[yi]);
  });
  for (std::size_t i = 0; i < acc.size(); ++i) dw[i] = static_cast<T>(acc[i]);
  if (db != nullptr) {
    const Index ix{g};
    for (i64 oc = 0; oc < g.c_out; ++oc) {
      double s = 0;
      for (i64 n = 0; n < g.n; ++n)
        for (i64 oh = 0; oh < g.ho; ++oh)
          for (i64 ow = 0; ow < g.wo; ++ow) s += static_cast<double>(dy[ix.y(n, oh, ow, oc)]);
      db[oc] = static_cast<T>(s);
    }
  }
}

}  // namespace

void reference_backward_data(const Geometry& g, const double* dy, const double* w, double* dx) {
  bwd_data(g, dy, w, dx);
}
void reference_backward_data(const Geometry& g, const float* dy, const float* w, float* dx) {
  bwd_data(g, dy, w, dx);
}
void reference_backward_filter(const Geometry& g, const double* x, const double* dy, double* dw,
                               double* db) {
  bwd_filter(g, x, dy, dw, db);
}
void reference_backward_filter(const Geometry& g, const float* x, const float* dy, float* dw,
                               float* db) {
  bwd_filter(g, x, dy, dw, db);
}

}  // namespace groupconv
