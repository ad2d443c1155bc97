// Portable variant of the direct input-gradient kernel: 8-float "vectors" as plain arrays.
#include <cstdint>

#include "kernels/backward/bwd_data_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  // A GCC/Clang vector type: kept in registers and mapped onto the baseline SIMD (two SSE2
  // registers), where an array of floats was spilled and instrumented element by element.
  using Reg = float __attribute__((vector_size(32)));
  using Mask = int;  // number of active lanes
  static constexpr std::int64_t kLanes = 8;
  static constexpr bool kCheapMasks = false;  // masked loads and stores cost what plain ones do
  static Reg zero() { return Reg{}; }
  static Reg set1(float x) { return Reg{} + x; }
  static Reg loadu(const float* p) { return load(p, 8); }
  static Reg load(const float* p, Mask m) {
    Reg r{};
    for (int i = 0; i < m; ++i) r[i] = p[i];
    return r;
  }
  static Reg fma(Reg a, Reg b, Reg c) { return c + a * b; }
  static Reg add(Reg a, Reg b) { return a + b; }
  static void storeu(float* p, Reg r) { store(p, r, 8); }
  static void store(float* p, Reg r, Mask m) {
    for (int i = 0; i < m; ++i) p[i] = r[i];
  }
  static Mask mask(int n) { return n > 8 ? 8 : n; }
};

#include "kernels/backward/bwd_data_impl.inc"

}  // namespace

void bwd_data_portable(const BwdDataParams& p, const float* dy, float* dx, std::int64_t begin,
                       std::int64_t end, std::int64_t* scratch) {
  entry(p, dy, dx, begin, end, scratch);
}

}  // namespace groupconv::detail
