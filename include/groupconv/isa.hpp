// Instruction-set levels. Kernels are compiled once per level and chosen at run time.
#pragma once

#include <cstdint>

namespace groupconv {

enum class Isa : std::uint8_t { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

const char* to_string(Isa isa);

// The best level this CPU supports and this build compiled kernels for (a build configured
// with GROUPCONV_AVX512_KERNELS=OFF, or =HOST on a machine without AVX-512, stops at avx2),
// capped by GROUPCONV_MAX_ISA (portable | avx2 | avx512).
Isa detected_isa();

// min(requested, detected_isa()).
Isa effective_isa(Isa requested);

}  // namespace groupconv
