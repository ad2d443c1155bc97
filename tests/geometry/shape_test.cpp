// Shape arithmetic of resolve() against hand-computed cases: every padding mode, strides,
// dilations, both data and filter layouts, the 1/2/4-list forms, N = 0. The expected numbers
// are worked out by hand in the comments (SPEC section 1), not taken from the code under test.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "groupconv/geometry.hpp"

namespace groupconv {
namespace {

using V = std::vector<std::int64_t>;

ConvDesc desc(Padding p, V strides = {1}, V dilations = {1}) {
  ConvDesc d;
  d.padding = p;
  d.strides = std::move(strides);
  d.dilations = std::move(dilations);
  return d;
}

// One spatial axis of a square problem: input H = W = `in`, kernel k x k, NHWC / HWIO,
// 2 channels in, 2 out.
struct Axis {
  std::int64_t out, before, after;
};
Axis axis(const ConvDesc& d, std::int64_t in, std::int64_t k) {
  const Geometry g = resolve(d, {{1, in, in, 2}, {k, k, 2, 2}, std::nullopt});
  EXPECT_EQ(g.ho, g.wo);
  EXPECT_EQ(g.pad_top, g.pad_left);
  EXPECT_EQ(g.pad_bottom, g.pad_right);
  return {g.ho, g.pad_top, g.pad_bottom};
}

void expect_axis(const ConvDesc& d, std::int64_t in, std::int64_t k, Axis want) {
  const Axis a = axis(d, in, k);
  EXPECT_EQ(a.out, want.out) << "in " << in << " k " << k << " " << to_string(d.padding);
  EXPECT_EQ(a.before, want.before) << "in " << in << " k " << k << " " << to_string(d.padding);
  EXPECT_EQ(a.after, want.after) << "in " << in << " k " << k << " " << to_string(d.padding);
}

TEST(ShapeArithmetic, Valid) {
  // Ho = floor((H - ((K-1)*d + 1)) / s) + 1
  expect_axis(desc(Padding::kValid), 28, 3, {26, 0, 0});
  expect_axis(desc(Padding::kValid), 7, 3, {5, 0, 0});
  expect_axis(desc(Padding::kValid, {2}), 7, 3, {3, 0, 0});        // (7-3)/2+1 = 3
  expect_axis(desc(Padding::kValid, {2}), 8, 3, {3, 0, 0});        // (8-3)/2+1 = 3 (floor 2.5)
  expect_axis(desc(Padding::kValid, {3}), 10, 1, {4, 0, 0});       // (10-1)/3+1 = 4
  expect_axis(desc(Padding::kValid, {1}, {2}), 7, 3, {3, 0, 0});   // eff 5: 7-5+1 = 3
  expect_axis(desc(Padding::kValid, {2}, {3}), 11, 3, {3, 0, 0});  // eff 7: (11-7)/2+1 = 3
  expect_axis(desc(Padding::kValid), 3, 3, {1, 0, 0});             // kernel = input
  expect_axis(desc(Padding::kValid), 1, 1, {1, 0, 0});
}

TEST(ShapeArithmetic, SameEvenAndOddTotals) {
  // Ho = ceil(H/s); total = max((Ho-1)*s + (K-1)*d + 1 - H, 0); SAME: top = floor(total/2).
  expect_axis(desc(Padding::kSame), 28, 3, {28, 1, 1});            // total 2
  expect_axis(desc(Padding::kSame, {2}), 7, 3, {4, 1, 1});         // Ho 4: 6+3-7 = 2
  expect_axis(desc(Padding::kSame, {2}), 8, 3, {4, 0, 1});         // Ho 4: 6+3-8 = 1 (odd)
  expect_axis(desc(Padding::kSame), 5, 4, {5, 1, 2});              // 4+4-5 = 3 (odd)
  expect_axis(desc(Padding::kSame), 5, 2, {5, 0, 1});              // 4+2-5 = 1
  expect_axis(desc(Padding::kSame, {2}), 5, 1, {3, 0, 0});         // 4+1-5 = 0
  expect_axis(desc(Padding::kSame, {4}), 10, 1, {3, 0, 0});        // 8+1-10 = -1 -> 0
  expect_axis(desc(Padding::kSame, {4}), 10, 2, {3, 0, 0});        // 8+2-10 = 0
  expect_axis(desc(Padding::kSame, {3}), 10, 5, {4, 2, 2});        // 9+5-10 = 4
  expect_axis(desc(Padding::kSame, {5}), 1, 7, {1, 3, 3});         // 0+7-1 = 6: kernel >> input
  expect_axis(desc(Padding::kSame, {1}, {2}), 10, 3, {10, 2, 2});  // eff 5: 9+5-10 = 4
  expect_axis(desc(Padding::kSame, {1}, {3}), 6, 2, {6, 1, 2});    // eff 4: 5+4-6 = 3 (odd)
  expect_axis(desc(Padding::kSame, {2}, {2}), 9, 3, {5, 2, 2});    // eff 5: 8+5-9 = 4
  expect_axis(desc(Padding::kSame, {2}, {2}), 10, 3, {5, 1, 2});   // eff 5: 8+5-10 = 3 (odd)
}

TEST(ShapeArithmetic, SameLowerPutsTheExtraOnTop) {
  // Same totals as above; SAME_LOWER: bottom = floor(total/2), the odd one on top.
  expect_axis(desc(Padding::kSameLower), 28, 3, {28, 1, 1});
  expect_axis(desc(Padding::kSameLower, {2}), 8, 3, {4, 1, 0});
  expect_axis(desc(Padding::kSameLower), 5, 4, {5, 2, 1});
  expect_axis(desc(Padding::kSameLower), 5, 2, {5, 1, 0});
  expect_axis(desc(Padding::kSameLower, {5}), 1, 7, {1, 3, 3});
  expect_axis(desc(Padding::kSameLower, {1}, {3}), 6, 2, {6, 2, 1});
  expect_axis(desc(Padding::kSameLower, {2}, {2}), 10, 3, {5, 2, 1});
  expect_axis(desc(Padding::kSameLower, {4}), 10, 1, {3, 0, 0});
}

TEST(ShapeArithmetic, ExplicitPads) {
  ConvDesc d = desc(Padding::kExplicit, {2});
  d.explicit_pads = {1, 2, 0, 3};  // top, bottom, left, right
  const Geometry g = resolve(d, {{1, 5, 6, 2}, {3, 3, 2, 2}, std::nullopt});
  EXPECT_EQ(g.pad_top, 1);
  EXPECT_EQ(g.pad_bottom, 2);
  EXPECT_EQ(g.pad_left, 0);
  EXPECT_EQ(g.pad_right, 3);
  EXPECT_EQ(g.ho, 3);  // padded 8: (8-3)/2+1 = 3
  EXPECT_EQ(g.wo, 4);  // padded 9: (9-3)/2+1 = 4
  // Explicit pads that only let the kernel fit: padded 3 = eff 3 -> 1.
  d = desc(Padding::kExplicit);
  d.explicit_pads = {1, 1, 2, 0};
  const Geometry g2 = resolve(d, {{1, 1, 1, 2}, {3, 3, 2, 2}, std::nullopt});
  EXPECT_EQ(g2.ho, 1);
  EXPECT_EQ(g2.wo, 1);
  // Explicit pads are ignored unless the padding mode is explicit.
  d = desc(Padding::kValid);
  d.explicit_pads = {5, 5, 5, 5};
  EXPECT_EQ(resolve(d, {{1, 5, 5, 2}, {3, 3, 2, 2}, std::nullopt}).ho, 3);
}

TEST(ShapeArithmetic, DifferentHAndW) {
  ConvDesc d = desc(Padding::kSame, {2, 1}, {1, 3});
  // H: 9, K 3, s 2, d 1: Ho 5, total 8+3-9 = 2 -> 1, 1
  // W: 7, K 2, s 1, d 3: eff 4, Wo 7, total 6+4-7 = 3 -> 1, 2
  const Geometry g = resolve(d, {{2, 9, 7, 4}, {3, 2, 4, 6}, std::nullopt});
  EXPECT_EQ(g.sh, 2);
  EXPECT_EQ(g.sw, 1);
  EXPECT_EQ(g.dh, 1);
  EXPECT_EQ(g.dw, 3);
  EXPECT_EQ(g.kh, 3);
  EXPECT_EQ(g.kw, 2);
  EXPECT_EQ(g.ho, 5);
  EXPECT_EQ(g.wo, 7);
  EXPECT_EQ(g.pad_top, 1);
  EXPECT_EQ(g.pad_bottom, 1);
  EXPECT_EQ(g.pad_left, 1);
  EXPECT_EQ(g.pad_right, 2);
  EXPECT_EQ((g.output_shape()), (std::array<std::int64_t, 4>{2, 5, 7, 6}));
}

TEST(ShapeArithmetic, StrideAndDilationListForms) {
  const Shapes s{{1, 13, 11, 2}, {3, 3, 2, 2}, std::nullopt};
  // VALID, strides (2, 3): Ho = (13-3)/2+1 = 6, Wo = (11-3)/3+1 = 3.
  for (const V& st : {V{2, 3}, V{1, 2, 3, 1}}) {
    const Geometry g = resolve(desc(Padding::kValid, st), s);
    EXPECT_EQ(g.sh, 2);
    EXPECT_EQ(g.sw, 3);
    EXPECT_EQ(g.ho, 6);
    EXPECT_EQ(g.wo, 3);
  }
  // One value for both dims.
  const Geometry g1 = resolve(desc(Padding::kValid, {2}), s);
  EXPECT_EQ(g1.sh, 2);
  EXPECT_EQ(g1.sw, 2);
  // Dilations (2, 1) as a 4-list: eff H 5 -> 9, W 3 -> 9.
  const Geometry gd = resolve(desc(Padding::kValid, {1}, {1, 2, 1, 1}), s);
  EXPECT_EQ(gd.dh, 2);
  EXPECT_EQ(gd.dw, 1);
  EXPECT_EQ(gd.ho, 9);
  EXPECT_EQ(gd.wo, 9);
  // NCHW: the 4-list is [1, 1, h, w].
  ConvDesc dn = desc(Padding::kValid, {1, 1, 2, 3});
  dn.data_format = DataFormat::kNCHW;
  const Geometry gn = resolve(dn, {{1, 2, 13, 11}, {3, 3, 2, 2}, std::nullopt});
  EXPECT_EQ(gn.sh, 2);
  EXPECT_EQ(gn.sw, 3);
  EXPECT_EQ(gn.ho, 6);
  EXPECT_EQ(gn.wo, 3);
}

TEST(ShapeArithmetic, SpecExampleGroupedNHWC) {
  ConvDesc d;
  d.groups = 4;
  const Geometry g = resolve(d, {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt});
  EXPECT_EQ(g.groups, 4);
  EXPECT_FALSE(g.groups_inferred);
  EXPECT_EQ(g.c_in, 32);
  EXPECT_EQ(g.c_out, 64);
  EXPECT_EQ(g.cig, 8);
  EXPECT_EQ(g.cog, 16);
  EXPECT_EQ(g.ho, 26);
  EXPECT_EQ(g.wo, 26);
  // FLOPs = 2 * 1 * 26 * 26 * 64 * 8 * 3 * 3 = 6,230,016
  EXPECT_EQ(g.flops(), 6230016);
  // bytes = 4 * (28*28*32 + 3*3*8*64 + 26*26*64) = 4 * (25088 + 4608 + 43264) = 291,840
  EXPECT_EQ(g.bytes(), 291840);
  EXPECT_EQ(g.input_elements(), 25088);
  EXPECT_EQ(g.filter_elements(), 4608);
  EXPECT_EQ(g.output_elements(), 43264);
  EXPECT_EQ((g.output_shape()), (std::array<std::int64_t, 4>{1, 26, 26, 64}));
  EXPECT_EQ((g.filter_shape()), (std::array<std::int64_t, 4>{3, 3, 8, 64}));
  const std::string text = describe(g);
  EXPECT_NE(text.find("[N=1, H=26, W=26, C=64]"), std::string::npos) << text;
  EXPECT_NE(text.find("8 input -> 16 output channels"), std::string::npos) << text;
  EXPECT_NE(text.find("6230016"), std::string::npos) << text;
}

TEST(ShapeArithmetic, GroupsInferredAsTensorFlowDoes) {
  const Geometry g = resolve(ConvDesc{}, {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt});
  EXPECT_EQ(g.groups, 4);  // 32 / 8
  EXPECT_TRUE(g.groups_inferred);
  // Same filter in-channels as C_in: an ordinary convolution.
  const Geometry g1 = resolve(ConvDesc{}, {{1, 8, 8, 3}, {3, 3, 3, 16}, std::nullopt});
  EXPECT_EQ(g1.groups, 1);
  EXPECT_NE(describe(g1).find("ordinary convolution"), std::string::npos);
}

TEST(ShapeArithmetic, DepthwiseWithMultiplier) {
  ConvDesc d = desc(Padding::kSame, {2});
  const Geometry g = resolve(d, {{1, 9, 9, 32}, {3, 3, 1, 64}, std::nullopt});
  EXPECT_EQ(g.groups, 32);
  EXPECT_TRUE(g.is_depthwise());
  EXPECT_EQ(g.multiplier(), 2);
  EXPECT_EQ(g.ho, 5);  // ceil(9/2)
  EXPECT_NE(describe(g).find("channel multiplier 2"), std::string::npos) << describe(g);
}

TEST(ShapeArithmetic, NchwAndOihw) {
  ConvDesc d = desc(Padding::kValid, {2});
  d.data_format = DataFormat::kNCHW;
  d.filter_format = FilterFormat::kOIHW;
  d.groups = 3;
  // input [N=2, C=6, H=10, W=7], filter [O=9, I=2, KH=3, KW=1]
  const Geometry g = resolve(d, {{2, 6, 10, 7}, {9, 2, 3, 1}, V{9}});
  EXPECT_EQ(g.n, 2);
  EXPECT_EQ(g.c_in, 6);
  EXPECT_EQ(g.h, 10);
  EXPECT_EQ(g.w, 7);
  EXPECT_EQ(g.kh, 3);
  EXPECT_EQ(g.kw, 1);
  EXPECT_EQ(g.cig, 2);
  EXPECT_EQ(g.cog, 3);
  EXPECT_EQ(g.ho, 4);  // (10-3)/2+1
  EXPECT_EQ(g.wo, 4);  // (7-1)/2+1
  EXPECT_TRUE(g.has_bias);
  EXPECT_EQ((g.input_shape()), (std::array<std::int64_t, 4>{2, 6, 10, 7}));
  EXPECT_EQ((g.filter_shape()), (std::array<std::int64_t, 4>{9, 2, 3, 1}));
  EXPECT_EQ((g.output_shape()), (std::array<std::int64_t, 4>{2, 9, 4, 4}));
  // Mixed: NCHW data with an HWIO filter, NHWC data with an OIHW filter.
  d.filter_format = FilterFormat::kHWIO;
  EXPECT_EQ(resolve(d, {{2, 6, 10, 7}, {3, 1, 2, 9}, std::nullopt}).output_elements(),
            2 * 9 * 4 * 4);
  d.data_format = DataFormat::kNHWC;
  d.filter_format = FilterFormat::kOIHW;
  EXPECT_EQ((resolve(d, {{2, 10, 7, 6}, {9, 2, 3, 1}, std::nullopt}).output_shape()),
            (std::array<std::int64_t, 4>{2, 4, 4, 9}));
}

TEST(ShapeArithmetic, EmptyBatchIsValid) {
  ConvDesc d;
  d.padding = Padding::kSame;
  const Geometry g = resolve(d, {{0, 5, 5, 4}, {3, 3, 2, 8}, V{8}});
  EXPECT_EQ(g.n, 0);
  EXPECT_EQ(g.ho, 5);
  EXPECT_EQ(g.output_elements(), 0);
  EXPECT_EQ(g.input_elements(), 0);
  EXPECT_EQ(g.flops(), 0);
  EXPECT_EQ(g.bytes(), 4 * (3 * 3 * 2 * 8 + 8));  // filter + bias
  EXPECT_EQ((g.output_shape()), (std::array<std::int64_t, 4>{0, 5, 5, 8}));
}

TEST(ShapeArithmetic, LargeButRepresentableSizes) {
  // 2^40 input elements resolve fine (nothing is allocated by resolve()).
  const Geometry g = resolve(ConvDesc{}, {{1024, 1024, 1024, 1024}, {1, 1, 1024, 1}, std::nullopt});
  EXPECT_EQ(g.input_elements(), std::int64_t{1} << 40);
  EXPECT_EQ(g.flops(), std::int64_t{2} << 40);
  // SAME with a huge stride does not overflow ceil(H / s).
  ConvDesc d = desc(Padding::kSame, {INT64_MAX});
  const Geometry g2 = resolve(d, {{1, INT64_MAX / 8, 1, 1}, {1, 1, 1, 1}, std::nullopt});
  EXPECT_EQ(g2.ho, 1);
}

}  // namespace
}  // namespace groupconv
