// Portable variant of the depthwise filter gradient: 8-float "vectors" as plain arrays, which
// the compiler maps to whatever the baseline ISA offers.
#include <cstdint>

#include "kernels/backward/dw_bwd_filter_params.hpp"

namespace groupconv::detail {
namespace {

struct V {
  struct Reg {
    float v[8];
  };
  using Mask = int;  // number of active lanes
  static constexpr std::int64_t kLanes = 8;
  static Reg zero() { return Reg{}; }
  static Reg load(const float* p, Mask m) {
    Reg r{};
    for (int i = 0; i < m; ++i) r.v[i] = p[i];
    return r;
  }
  static Reg fma(Reg a, Reg b, Reg c) {
    for (int i = 0; i < 8; ++i) c.v[i] += a.v[i] * b.v[i];
    return c;
  }
  static Reg add(Reg a, Reg b) {
    for (int i = 0; i < 8; ++i) a.v[i] += b.v[i];
    return a;
  }
  static void store(float* p, Reg r, Mask m) {
    for (int i = 0; i < m; ++i) p[i] = r.v[i];
  }
  static Mask mask(int n) { return n > 8 ? 8 : n; }
};

#include "kernels/backward/dw_bwd_filter_impl.hpp"

}  // namespace

void dw_bwd_filter_portable(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                            float* db, std::int64_t begin, std::int64_t end, float* scratch) {
  entry(p, x, dy, dw, db, begin, end, scratch);
}

}  // namespace groupconv::detail
