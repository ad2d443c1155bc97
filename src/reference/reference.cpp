// The oracle. Plain loops over every output element, accumulating in double; every layout
// and option of SPEC section 1 is handled here directly (no transposes), so it shares no code
// path with the fast kernels it checks.
#include "groupconv/reference.hpp"

#include <cstdint>

namespace groupconv {
namespace {

using i64 = std::int64_t;

template <typename T>
void reference_impl(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const bool nhwc = g.data_format == DataFormat::kNHWC;
  const bool hwio = g.filter_format == FilterFormat::kHWIO;
  auto xi = [&](i64 n, i64 h, i64 wi, i64 c) {
    return nhwc ? ((n * g.h + h) * g.w + wi) * g.c_in + c : ((n * g.c_in + c) * g.h + h) * g.w + wi;
  };
  auto yi = [&](i64 n, i64 h, i64 wi, i64 c) {
    return nhwc ? ((n * g.ho + h) * g.wo + wi) * g.c_out + c
                : ((n * g.c_out + c) * g.ho + h) * g.wo + wi;
  };
  auto wi_ = [&](i64 kh, i64 kw, i64 i, i64 o) {
    return hwio ? ((kh * g.kw + kw) * g.cig + i) * g.c_out + o
                : ((o * g.cig + i) * g.kh + kh) * g.kw + kw;
  };
  for (i64 n = 0; n < g.n; ++n) {
    for (i64 oh = 0; oh < g.ho; ++oh) {
      for (i64 ow = 0; ow < g.wo; ++ow) {
        for (i64 gr = 0; gr < g.groups; ++gr) {
          for (i64 o = 0; o < g.cog; ++o) {
            const i64 oc = gr * g.cog + o;
            double acc = bias != nullptr ? static_cast<double>(bias[oc]) : 0.0;
            for (i64 kh = 0; kh < g.kh; ++kh) {
              const i64 ih = oh * g.sh - g.pad_top + kh * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (i64 kw = 0; kw < g.kw; ++kw) {
                const i64 iw = ow * g.sw - g.pad_left + kw * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                for (i64 i = 0; i < g.cig; ++i) {
                  acc += static_cast<double>(x[xi(n, ih, iw, gr * g.cig + i)]) *
                         static_cast<double>(w[wi_(kh, kw, i, oc)]);
                }
              }
            }
            y[yi(n, oh, ow, oc)] = static_cast<T>(acc);
          }
        }
      }
    }
  }
}

}  // namespace

void reference_conv2d(const Geometry& g, const float* x, const float* w, const float* bias,
                      float* y) {
  reference_impl(g, x, w, bias, y);
}

void reference_conv2d(const Geometry& g, const double* x, const double* w, const double* bias,
                      double* y) {
  reference_impl(g, x, w, bias, y);
}

}  // namespace groupconv
