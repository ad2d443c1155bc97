// portable variant of the grouped filter gradient (see grouped_bwd_filter_impl.inc).

#include <cstdint>

#include "kernels/backward/grouped_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

struct V {
  // A GCC/Clang vector type: kept in registers and mapped onto the baseline SIMD (two SSE2
  // registers), where an array of floats was spilled and instrumented element by element.
  using Reg = float __attribute__((vector_size(32)));
  struct Idx {
    std::int32_t v[8];
  };
  using Mask = int;  // number of active lanes
  static constexpr std::int64_t kLanes = 8;
  static Reg zero() { return Reg{}; }
  static Reg load(const float* p, Mask m) {
    Reg r{};
    for (int i = 0; i < m; ++i) r[i] = p[i];
    return r;
  }
  static Reg fma(Reg a, Reg b, Reg c) { return c + a * b; }
  static Reg add(Reg a, Reg b) { return a + b; }
  static void store(float* p, Reg r, Mask m) {
    for (int i = 0; i < m; ++i) p[i] = r[i];
  }
  static Mask mask(int n) { return n > 8 ? 8 : n; }
  static Reg broadcast(const float* p) { return Reg{} + *p; }
  static Idx index(const std::int32_t* i) {
    Idx r;
    for (int j = 0; j < 8; ++j) r.v[j] = i[j];
    return r;
  }
  static Reg permute(Reg v, Idx i) {
    Reg r{};
    for (int j = 0; j < 8; ++j) r[j] = v[i.v[j]];
    return r;
  }
  static Reg loadu(const float* p) { return load(p, 8); }
  template <int B>
  static Reg splat4(Reg v) {
    Reg r{};
    for (int j = 0; j < 8; ++j) r[j] = v[(j / 4) * 4 + B];
    return r;
  }
};

#include "kernels/backward/grouped_bwd_filter_impl.inc"

}  // namespace

void grouped_bwd_filter_portable(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                                 float* dw, float* db, std::int64_t begin, std::int64_t end) {
  entry(p, x, dy, dw, db, begin, end);
}

}  // namespace groupconv::detail

namespace groupconv::detail {

std::int64_t grouped_bwd_filter_tasks(const GroupedBwdFilterParams& p, std::int64_t lanes) {
  // Broadcast mode: whole vectors inside one group (the last one masked when Cog is not a
  // multiple of the width); permute mode: vectors over consecutive whole groups.
  const std::int64_t vecs = p.broadcast != 0 ? (p.c_out / p.cog) * ((p.cog + lanes - 1) / lanes)
                                             : (p.c_out + lanes - 1) / lanes;
  return vecs * p.kh * ((p.kw + p.taps - 1) / p.taps) * ((p.cig + p.ins - 1) / p.ins);
}

}  // namespace groupconv::detail
