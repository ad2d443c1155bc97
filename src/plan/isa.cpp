#include "groupconv/isa.hpp"

#include <cstdlib>
#include <cstring>

#include "kernels/common/built_isa.hpp"

namespace groupconv {

const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

namespace {

Isa cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (detail::kAvx512Kernels && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kPortable;
}

// GROUPCONV_MAX_ISA caps the level (for testing every path on one machine).
Isa env_cap() {
  const char* v = std::getenv("GROUPCONV_MAX_ISA");
  if (v == nullptr) return Isa::kAvx512;
  if (std::strcmp(v, "portable") == 0 || std::strcmp(v, "PORTABLE") == 0) return Isa::kPortable;
  if (std::strcmp(v, "avx2") == 0 || std::strcmp(v, "AVX2") == 0) return Isa::kAvx2;
  return Isa::kAvx512;
}

Isa min_isa(Isa a, Isa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

}  // namespace

Isa detected_isa() {
  static const Isa isa = min_isa(cpu_isa(), env_cap());
  return isa;
}

Isa effective_isa(Isa requested) { return min_isa(requested, detected_isa()); }

}  // namespace groupconv
