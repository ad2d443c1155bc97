// Portable register tiles of the implicit-GEMM engine (see wide_group_tile.hpp): plain C++
// over small fixed-size accumulator arrays, which the compiler vectorises for the baseline
// ISA (SSE2 on x86-64).
#include <cstddef>
#include <cstdint>

#include "kernels/grouped/wide_group_tile.hpp"

namespace groupconv::detail::wg {
namespace wg_portable {
namespace {

using i64 = std::int64_t;

template <int MR, int NR>
void tile(const TileArgs& a) {
  float acc[MR][NR];
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NR; ++j) acc[m][j] = a.bias[j];
  }
  const i64 xs = a.x_pix;
  const float* xk = a.x;
  const float* wk = a.w;
  for (i64 kh = 0; kh < a.kh_n; ++kh) {
    const float* xw = xk;
    const float* wp = wk;
    for (i64 kw = 0; kw < a.kw_n; ++kw) {
      for (i64 c = 0; c < a.cig; ++c, wp += NR) {
        for (int m = 0; m < MR; ++m) {
          const float xv = xw[m * xs + c];
          for (int j = 0; j < NR; ++j) acc[m][j] += xv * wp[j];
        }
      }
      xw += a.x_kw;
    }
    xk += a.x_kh;
    wk += a.w_kh;
  }
  const i64 nv = a.n_valid;
  for (int m = 0; m < MR; ++m) {
    float* y = a.y + m * a.y_pix;
    for (i64 j = 0; j < nv; ++j) y[j] = acc[m][j];
  }
}

template <int NR, int MR>
void entry(const TileArgs& a) {
  if constexpr (MR > 1) {
    if (a.m < MR) {
      entry<NR, MR - 1>(a);
      return;
    }
  }
  tile<MR, NR>(a);
}

}  // namespace
}  // namespace wg_portable

const TileSet& portable_tiles() {
  using namespace wg_portable;
  static const TileSet set{
      2,
      2,
      2,
      2,
      {nullptr, &entry<8, 6>, &entry<16, 4>, nullptr, nullptr, nullptr, nullptr, nullptr},
      {0, 6, 4, 0, 0, 0, 0, 0}};
  return set;
}

}  // namespace groupconv::detail::wg
