#include <gtest/gtest.h>

#include "groupconv/groupconv.hpp"

namespace groupconv {
namespace {

// 1x3x3x2 input, 2 groups, 2x2 kernel, VALID: hand-computed.
TEST(Reference, TinyHandComputedGroupedExample) {
  ConvDesc d;
  d.groups = 2;
  const Geometry g = resolve(d, {{1, 3, 3, 2}, {2, 2, 1, 2}, std::vector<std::int64_t>{2}});
  // x[h][w][c]: channel 0 = 1..9, channel 1 = 10 * (1..9)
  std::vector<float> x(18);
  for (int i = 0; i < 9; ++i) {
    x[static_cast<std::size_t>(2 * i)] = static_cast<float>(i + 1);
    x[static_cast<std::size_t>(2 * i + 1)] = static_cast<float>(10 * (i + 1));
  }
  // w[kh][kw][0][o]: o=0 (group 0) all ones; o=1 (group 1) [1, 0; 0, -1]
  const std::vector<float> w = {1, 1, 1, 0, 1, 0, 1, -1};
  const std::vector<float> b = {0.5f, -2.0f};
  std::vector<float> y(8);
  reference_conv2d(g, x.data(), w.data(), b.data(), y.data());
  // group 0 at (0,0): 1+2+4+5 = 12 (+0.5); group 1 at (0,0): 10 - 50 = -40 (-2)
  EXPECT_FLOAT_EQ(y[0], 12.5f);
  EXPECT_FLOAT_EQ(y[1], -42.0f);
  // (0,1): 2+3+5+6 = 16; 20 - 60 = -40
  EXPECT_FLOAT_EQ(y[2], 16.5f);
  EXPECT_FLOAT_EQ(y[3], -42.0f);
  // (1,1): 5+6+8+9 = 28
  EXPECT_FLOAT_EQ(y[6], 28.5f);
}

}  // namespace
}  // namespace groupconv
