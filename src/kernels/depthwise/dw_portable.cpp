// Depthwise kernel, portable C++ (4-float vectors the compiler maps to the baseline SIMD;
// blocks of up to 8 output pixels). The body is dw_impl.inc; only the vector traits live here.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/unroll.hpp"
#include "kernels/depthwise/dw_params.hpp"

namespace groupconv::detail::dw {
namespace {

struct V {
  // A GCC/Clang vector type: kept in registers and mapped onto the baseline SIMD (SSE2),
  // where an array of floats was spilled and instrumented element by element.
  using Reg = float __attribute__((vector_size(16)));
  using Mask = int;  // number of leading lanes
  struct Idx {
    std::int32_t i[4];
  };
  static constexpr int kLanes = 4;
  static constexpr int kMaxBlock = static_cast<int>(kMaxBlockPortable);
  static constexpr bool kCheapMasks = false;
  static Reg loadu(const float* p) {
    Reg r;
    std::memcpy(&r, p, sizeof(r));
    return r;
  }
  static void storeu(float* p, Reg v) { std::memcpy(p, &v, sizeof(v)); }
  static Reg zero() { return Reg{}; }
  static Reg load(const float* p, Mask m) {
    Reg r{};
    if (m == 4) {
      std::memcpy(&r, p, sizeof(r));
    } else {
      for (int j = 0; j < m; ++j) r[j] = p[j];
    }
    return r;
  }
  static Reg load_aligned(const float* p) {
    Reg r;
    std::memcpy(&r, p, sizeof(r));
    return r;
  }
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }
  static void store(float* p, Reg v, Mask m) {
    if (m == 4) {
      std::memcpy(p, &v, sizeof(v));
    } else {
      for (int j = 0; j < m; ++j) p[j] = v[j];
    }
  }
  static void stream(float* p, Reg v) { std::memcpy(p, &v, sizeof(v)); }
  static void fence() {}
  static Mask mask(int n) { return n >= 4 ? 4 : n; }
  static Idx index(const std::int32_t* i) {
    Idx r;
    std::memcpy(r.i, i, sizeof(r.i));
    return r;
  }
  static Reg permute(Reg v, Idx i) {
    Reg r{};
    for (int j = 0; j < 4; ++j) r[j] = v[i.i[j]];
    return r;
  }
};

#include "kernels/depthwise/dw_impl.inc"

}  // namespace

void run_portable(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end) {
  run_tasks(p, x, y, begin, end);
}

}  // namespace groupconv::detail::dw
