// Umbrella header of the groupconv C++ API.
#pragma once

#include "groupconv/backward.hpp"     // IWYU pragma: export
#include "groupconv/conv2d.hpp"       // IWYU pragma: export
#include "groupconv/diagnostics.hpp"  // IWYU pragma: export
#include "groupconv/geometry.hpp"     // IWYU pragma: export
#include "groupconv/isa.hpp"          // IWYU pragma: export
#include "groupconv/reference.hpp"    // IWYU pragma: export
