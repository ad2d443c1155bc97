// Which per-ISA kernel sets this build compiled. The AVX-512 translation units are optional
// (CMake's GROUPCONV_AVX512_KERNELS); dispatch names their entry points only inside
// `if constexpr (kAvx512Kernels)`, so a build without them links, and detected_isa() never
// returns Isa::kAvx512 there.
#pragma once

#ifndef GROUPCONV_AVX512_KERNELS
#define GROUPCONV_AVX512_KERNELS 1
#endif

namespace groupconv::detail {

inline constexpr bool kAvx512Kernels = GROUPCONV_AVX512_KERNELS != 0;

}  // namespace groupconv::detail
