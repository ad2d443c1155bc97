// The oracle: straightforward loops accumulating in double, every layout and option.
// Slow by design; every fast kernel is tested against it.
#pragma once

#include "groupconv/geometry.hpp"

namespace groupconv {

// x, w, y in the layouts named by g (g.data_format, g.filter_format); bias may be null.
void reference_conv2d(const Geometry& g, const float* x, const float* w, const float* bias,
                      float* y);

// Double-precision variant for adjoint and error-bound tests.
void reference_conv2d(const Geometry& g, const double* x, const double* w, const double* bias,
                      double* y);

}  // namespace groupconv
