// The reference kernel (the oracle of every fast kernel) checked two ways:
//  - tiny examples computed by hand (NCHW/OIHW; padding, stride and dilation; SAME vs
//    SAME_LOWER), and
//  - an independent formulation written here: the problem is sliced into G ungrouped
//    convolutions, each input slice is copied into an explicitly zero-padded buffer, and each
//    is computed by a separate naive direct convolution with no bounds checks. Pads and
//    output sizes are recomputed here from the SPEC formulas, not taken from resolve().
// Plus: the float reference is exactly the double reference rounded to float.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "groupconv/groupconv.hpp"
#include "test_util.hpp"

namespace groupconv {
namespace {

using i64 = std::int64_t;
using V = std::vector<i64>;

// ---- hand-computed examples -------------------------------------------------------------

// The NHWC example of smoke_test.cpp, in NCHW / OIHW: input channel 0 = 1..9, channel 1 =
// 10 * (1..9); group 0 filter all ones, group 1 filter [1, 0; 0, -1]; bias (0.5, -2).
TEST(ReferenceHand, NchwOihwGrouped) {
  ConvDesc d;
  d.data_format = DataFormat::kNCHW;
  d.filter_format = FilterFormat::kOIHW;
  d.groups = 2;
  const Geometry g = resolve(d, {{1, 2, 3, 3}, {2, 1, 2, 2}, V{2}});
  std::vector<float> x(18);
  for (int i = 0; i < 9; ++i) {
    x[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
    x[static_cast<std::size_t>(9 + i)] = static_cast<float>(10 * (i + 1));
  }
  const std::vector<float> w = {1, 1, 1, 1, /* o=1 */ 1, 0, 0, -1};
  const std::vector<float> b = {0.5f, -2.0f};
  std::vector<float> y(8, NAN);
  reference_conv2d(g, x.data(), w.data(), b.data(), y.data());
  // channel 0: window sums 1+2+4+5 = 12, 16, 24, 28 (+0.5)
  // channel 1: 10*(a - (a+4)) = -40 everywhere (-2)
  const std::vector<float> want = {12.5f, 16.5f, 24.5f, 28.5f, -42.0f, -42.0f, -42.0f, -42.0f};
  EXPECT_EQ(y, want);
}

// One channel, 5x5 input x[h][w] = 5h + w + 1, 2x2 kernel [[1, 2], [3, 4]], dilation 2
// (effective 3x3), stride 2, explicit pads top 1, bottom 0, left 0, right 1:
// padded 6x6 -> Ho = Wo = (6 - 3) / 2 + 1 = 2.
//   y(0,0): rows -1 (pad), 1; cols 0, 2: 3*x[1][0] + 4*x[1][2] = 18 + 32 = 50
//   y(0,1): cols 2, 4:                    3*x[1][2] + 4*x[1][4] = 24 + 40 = 64
//   y(1,0): rows 1, 3: 6 + 2*8 + 3*16 + 4*18 = 142
//   y(1,1): 8 + 2*10 + 3*18 + 4*20 = 162
TEST(ReferenceHand, PaddedStridedDilated) {
  ConvDesc d;
  d.strides = {2};
  d.dilations = {2};
  d.padding = Padding::kExplicit;
  d.explicit_pads = {1, 0, 0, 1};
  const Geometry g = resolve(d, {{1, 5, 5, 1}, {2, 2, 1, 1}, std::nullopt});
  ASSERT_EQ(g.ho, 2);
  ASSERT_EQ(g.wo, 2);
  std::vector<float> x(25);
  for (int i = 0; i < 25; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
  const std::vector<float> w = {1, 2, 3, 4};
  std::vector<float> y(4, NAN);
  reference_conv2d(g, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(y, (std::vector<float>{50, 64, 142, 162}));
}

// A 1x4 row [1, 2, 3, 4] with a 1x2 kernel [10, 1]: total padding 1. SAME puts it on the
// right: y[i] = 10 x[i] + x[i+1] = [12, 23, 34, 40]; SAME_LOWER on the left:
// y[i] = 10 x[i-1] + x[i] = [1, 12, 23, 34].
TEST(ReferenceHand, SameVersusSameLower) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w = {10, 1};
  for (const auto& [p, want] :
       {std::pair{Padding::kSame, std::vector<float>{12, 23, 34, 40}},
        std::pair{Padding::kSameLower, std::vector<float>{1, 12, 23, 34}}}) {
    ConvDesc d;
    d.padding = p;
    const Geometry g = resolve(d, {{1, 1, 4, 1}, {1, 2, 1, 1}, std::nullopt});
    std::vector<float> y(4, NAN);
    reference_conv2d(g, x.data(), w.data(), nullptr, y.data());
    EXPECT_EQ(y, want) << to_string(p);
  }
}

// ---- the independent formulation ---------------------------------------------------------

struct Case {
  DataFormat df;
  FilterFormat ff;
  Padding padding;
  i64 n, h, w, groups, cig, cog, kh, kw, sh, sw, dh, dw;
  std::array<i64, 4> pads;  // explicit: top, bottom, left, right
  bool bias;
};

// Pads and output size from SPEC section 1, recomputed here.
struct Axis {
  i64 before, after, out;
};
Axis axis(Padding p, i64 in, i64 k, i64 s, i64 d, i64 eb, i64 ea) {
  const i64 eff = (k - 1) * d + 1;
  if (p == Padding::kValid) return {0, 0, (in - eff) / s + 1};
  if (p == Padding::kExplicit) return {eb, ea, (in + eb + ea - eff) / s + 1};
  const i64 out = (in + s - 1) / s;
  const i64 total = std::max<i64>((out - 1) * s + eff - in, 0);
  const i64 small = total / 2, big = total - small;
  return p == Padding::kSame ? Axis{small, big, out} : Axis{big, small, out};
}

// x, w, bias in the case's layouts; returns y in the case's data layout.
template <typename T>
std::vector<double> sliced_conv(const Case& c, const std::vector<T>& x, const std::vector<T>& w,
                                const std::vector<T>& b) {
  const Axis ah = axis(c.padding, c.h, c.kh, c.sh, c.dh, c.pads[0], c.pads[1]);
  const Axis aw = axis(c.padding, c.w, c.kw, c.sw, c.dw, c.pads[2], c.pads[3]);
  const i64 cin = c.groups * c.cig, cout = c.groups * c.cog;
  const i64 hp = c.h + ah.before + ah.after, wp = c.w + aw.before + aw.after;
  const bool nhwc = c.df == DataFormat::kNHWC, hwio = c.ff == FilterFormat::kHWIO;
  auto x_at = [&](i64 n, i64 h, i64 wi, i64 ch) {
    const i64 idx =
        nhwc ? ((n * c.h + h) * c.w + wi) * cin + ch : ((n * cin + ch) * c.h + h) * c.w + wi;
    return static_cast<double>(x[static_cast<std::size_t>(idx)]);
  };
  auto w_at = [&](i64 kh, i64 kw, i64 i, i64 o) {
    const i64 idx = hwio ? ((kh * c.kw + kw) * c.cig + i) * cout + o
                         : ((o * c.cig + i) * c.kh + kh) * c.kw + kw;
    return static_cast<double>(w[static_cast<std::size_t>(idx)]);
  };
  std::vector<double> y(static_cast<std::size_t>(c.n * ah.out * aw.out * cout), NAN);
  auto y_ref = [&](i64 n, i64 h, i64 wi, i64 ch) -> double& {
    const i64 idx = nhwc ? ((n * ah.out + h) * aw.out + wi) * cout + ch
                         : ((n * cout + ch) * ah.out + h) * aw.out + wi;
    return y[static_cast<std::size_t>(idx)];
  };
  for (i64 g = 0; g < c.groups; ++g) {
    // Group g as an ungrouped convolution: padded input slice [N, Hp, Wp, Cig] and filter
    // slice [KH, KW, Cig, Cog], both dense in this canonical layout.
    std::vector<double> xs(static_cast<std::size_t>(c.n * hp * wp * c.cig), 0.0);
    for (i64 n = 0; n < c.n; ++n)
      for (i64 h = 0; h < c.h; ++h)
        for (i64 wi = 0; wi < c.w; ++wi)
          for (i64 i = 0; i < c.cig; ++i)
            xs[static_cast<std::size_t>(((n * hp + h + ah.before) * wp + wi + aw.before) * c.cig +
                                        i)] = x_at(n, h, wi, g * c.cig + i);
    std::vector<double> ws(static_cast<std::size_t>(c.kh * c.kw * c.cig * c.cog));
    for (i64 kh = 0; kh < c.kh; ++kh)
      for (i64 kw = 0; kw < c.kw; ++kw)
        for (i64 i = 0; i < c.cig; ++i)
          for (i64 o = 0; o < c.cog; ++o)
            ws[static_cast<std::size_t>(((kh * c.kw + kw) * c.cig + i) * c.cog + o)] =
                w_at(kh, kw, i, g * c.cog + o);
    // Naive direct convolution of the slice: every tap is inside the padded buffer.
    for (i64 n = 0; n < c.n; ++n)
      for (i64 oh = 0; oh < ah.out; ++oh)
        for (i64 ow = 0; ow < aw.out; ++ow)
          for (i64 o = 0; o < c.cog; ++o) {
            double acc = 0.0;
            for (i64 i = 0; i < c.cig; ++i)
              for (i64 kh = 0; kh < c.kh; ++kh)
                for (i64 kw = 0; kw < c.kw; ++kw) {
                  const i64 ih = oh * c.sh + kh * c.dh, iw = ow * c.sw + kw * c.dw;
                  acc += xs[static_cast<std::size_t>(((n * hp + ih) * wp + iw) * c.cig + i)] *
                         ws[static_cast<std::size_t>(((kh * c.kw + kw) * c.cig + i) * c.cog + o)];
                }
            const i64 oc = g * c.cog + o;
            y_ref(n, oh, ow, oc) =
                acc + (c.bias ? static_cast<double>(b[static_cast<std::size_t>(oc)]) : 0.0);
          }
  }
  return y;
}

ConvDesc desc_of(const Case& c, bool explicit_groups) {
  ConvDesc d;
  d.data_format = c.df;
  d.filter_format = c.ff;
  d.padding = c.padding;
  d.strides = {c.sh, c.sw};
  d.dilations = {c.dh, c.dw};
  d.explicit_pads = c.pads;
  if (explicit_groups) d.groups = c.groups;
  return d;
}

Shapes shapes_of(const Case& c) {
  const i64 cin = c.groups * c.cig, cout = c.groups * c.cog;
  Shapes s;
  s.input = c.df == DataFormat::kNHWC ? V{c.n, c.h, c.w, cin} : V{c.n, cin, c.h, c.w};
  s.filter = c.ff == FilterFormat::kHWIO ? V{c.kh, c.kw, c.cig, cout} : V{cout, c.cig, c.kh, c.kw};
  if (c.bias) s.bias = V{cout};
  return s;
}

Case random_case(std::mt19937& rng) {
  auto r = [&](i64 lo, i64 hi) {
    return lo + static_cast<i64>(rng() % static_cast<unsigned>(hi - lo + 1));
  };
  Case c{};
  c.df = rng() % 2 ? DataFormat::kNCHW : DataFormat::kNHWC;
  c.ff = rng() % 2 ? FilterFormat::kOIHW : FilterFormat::kHWIO;
  c.padding = static_cast<Padding>(rng() % 4);
  c.n = r(0, 2);
  if (rng() % 6 != 0 && c.n == 0) c.n = 1;  // mostly non-empty
  c.h = r(1, 8);
  c.w = r(1, 8);
  switch (rng() % 4) {
    case 0:
      c.groups = 1, c.cig = r(1, 4), c.cog = r(1, 4);
      break;  // ordinary
    case 1:
      c.groups = r(2, 8), c.cig = 1, c.cog = r(1, 3);
      break;  // depthwise, multiplier
    default:
      c.groups = r(2, 4), c.cig = r(1, 3), c.cog = r(1, 3);
      break;  // grouped
  }
  c.kh = r(1, 4);
  c.kw = r(1, 4);
  c.sh = r(1, 3);
  c.sw = r(1, 3);
  c.dh = r(1, 3);
  c.dw = r(1, 2);
  for (auto& p : c.pads) p = r(0, 2);
  c.bias = rng() % 2 == 0;
  return c;
}

TEST(ReferenceVsSlicedGroups, HundredsOfRandomGeometries) {
  std::mt19937 rng(2024);
  int tested = 0, empty = 0, skipped = 0;
  int by_layout[2][2] = {};
  int by_padding[4] = {};
  for (int it = 0; tested < 600 && it < 5000; ++it) {
    const Case c = random_case(rng);
    const ConvDesc d = desc_of(c, rng() % 2 == 0);
    const Shapes s = shapes_of(c);
    const auto g = try_resolve(d, s, nullptr);
    const Axis ah = axis(c.padding, c.h, c.kh, c.sh, c.dh, c.pads[0], c.pads[1]);
    const Axis aw = axis(c.padding, c.w, c.kw, c.sw, c.dw, c.pads[2], c.pads[3]);
    const i64 eff_h = (c.kh - 1) * c.dh + 1, eff_w = (c.kw - 1) * c.dw + 1;
    const bool fits = c.padding == Padding::kSame || c.padding == Padding::kSameLower ||
                      (c.h + ah.before + ah.after >= eff_h && c.w + aw.before + aw.after >= eff_w);
    ASSERT_EQ(g.has_value(), fits) << "it " << it;
    if (!g) {
      ++skipped;
      continue;
    }
    ASSERT_EQ(g->ho, ah.out);
    ASSERT_EQ(g->wo, aw.out);
    ASSERT_EQ(g->pad_top, ah.before);
    ASSERT_EQ(g->pad_bottom, ah.after);
    ASSERT_EQ(g->pad_left, aw.before);
    ASSERT_EQ(g->pad_right, aw.after);
    const auto x = testing::random_floats(static_cast<std::size_t>(g->input_elements()), 3 * it);
    const auto w =
        testing::random_floats(static_cast<std::size_t>(g->filter_elements()), 3 * it + 1);
    const auto b = testing::random_floats(static_cast<std::size_t>(g->c_out), 3 * it + 2);
    std::vector<float> y(static_cast<std::size_t>(g->output_elements()), NAN);
    reference_conv2d(*g, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data());
    const std::vector<double> want = sliced_conv(c, x, w, b);
    ASSERT_EQ(y.size(), want.size());
    for (std::size_t i = 0; i < y.size(); ++i) {
      // Both accumulate in double; the reference rounds once to float.
      ASSERT_NEAR(y[i], want[i], 1e-6 * (1.0 + std::abs(want[i]))) << "it " << it << " i " << i;
    }
    ++tested;
    empty += g->output_elements() == 0 ? 1 : 0;
    ++by_layout[c.df == DataFormat::kNCHW][c.ff == FilterFormat::kOIHW];
    ++by_padding[static_cast<int>(c.padding)];
  }
  EXPECT_EQ(tested, 600);
  EXPECT_GT(empty, 0);    // N = 0 covered
  EXPECT_GT(skipped, 0);  // VALID/explicit refusals covered
  for (auto& row : by_layout)
    for (int count : row) EXPECT_GT(count, 50);
  for (int count : by_padding) EXPECT_GT(count, 50);
}

TEST(ReferenceVsSlicedGroups, DoubleReferenceOnDoubleData) {
  std::mt19937 rng(77);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  int tested = 0;
  for (int it = 0; tested < 100 && it < 1000; ++it) {
    const Case c = random_case(rng);
    const auto g = try_resolve(desc_of(c, true), shapes_of(c), nullptr);
    if (!g) continue;
    std::vector<double> x(static_cast<std::size_t>(g->input_elements()));
    std::vector<double> w(static_cast<std::size_t>(g->filter_elements()));
    std::vector<double> b(static_cast<std::size_t>(g->c_out));
    for (auto* v : {&x, &w, &b})
      for (auto& e : *v) e = dist(rng);  // not representable in float: a true double test
    std::vector<double> y(static_cast<std::size_t>(g->output_elements()), NAN);
    reference_conv2d(*g, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data());
    const std::vector<double> want = sliced_conv(c, x, w, b);
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-12) << "it " << it;
    ++tested;
  }
  EXPECT_EQ(tested, 100);
}

// The float reference accumulates in double and rounds once, so on float data it equals the
// double reference rounded to float, bit for bit.
TEST(ReferenceFloatVsDouble, FloatIsDoubleRoundedOnce) {
  std::mt19937 rng(99);
  int tested = 0;
  for (int it = 0; tested < 100 && it < 1000; ++it) {
    const Case c = random_case(rng);
    const auto g = try_resolve(desc_of(c, false), shapes_of(c), nullptr);
    if (!g) continue;
    const auto x = testing::random_floats(static_cast<std::size_t>(g->input_elements()), it);
    const auto w = testing::random_floats(static_cast<std::size_t>(g->filter_elements()), it + 7);
    const auto b = testing::random_floats(static_cast<std::size_t>(g->c_out), it + 9);
    std::vector<float> yf(static_cast<std::size_t>(g->output_elements()), NAN);
    reference_conv2d(*g, x.data(), w.data(), c.bias ? b.data() : nullptr, yf.data());
    const std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()),
        bd(b.begin(), b.end());
    std::vector<double> yd(yf.size(), NAN);
    reference_conv2d(*g, xd.data(), wd.data(), c.bias ? bd.data() : nullptr, yd.data());
    for (std::size_t i = 0; i < yf.size(); ++i) {
      ASSERT_EQ(yf[i], static_cast<float>(yd[i])) << "it " << it << " i " << i;
    }
    ++tested;
  }
  EXPECT_EQ(tested, 100);
}

}  // namespace
}  // namespace groupconv
