// One test per diagnostic code that resolve() emits: feed the bad input, check the code, the
// key numbers in the rendered text, the structure (summary, rule, expected, found, help) and
// that the repro line, parsed back, reproduces the same code.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "groupconv/geometry.hpp"

namespace groupconv {
namespace {

using V = std::vector<std::int64_t>;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

V parse_list(const std::string& s) {
  V v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoll(item));
  return v;
}

// Parses the `groupconv check ...` repro line back into a descriptor and shapes.
void parse_repro(const std::string& line, ConvDesc* d, Shapes* s) {
  std::stringstream ss(line);
  std::string word;
  ss >> word;
  ASSERT_EQ(word, "groupconv");
  ss >> word;
  ASSERT_EQ(word, "check");
  *d = ConvDesc{};
  *s = Shapes{};
  std::string flag, value;
  while (ss >> flag >> value) {
    if (flag == "--input-shape") {
      s->input = parse_list(value);
    } else if (flag == "--filter-shape") {
      s->filter = parse_list(value);
    } else if (flag == "--bias-shape") {
      s->bias = parse_list(value);
    } else if (flag == "--groups") {
      d->groups = std::stoll(value);
    } else if (flag == "--strides") {
      d->strides = parse_list(value);
    } else if (flag == "--dilations") {
      d->dilations = parse_list(value);
    } else if (flag == "--expect-output-channels") {
      d->expect_output_channels = std::stoll(value);
    } else if (flag == "--data-format") {
      d->data_format = value == "NCHW" ? DataFormat::kNCHW : DataFormat::kNHWC;
    } else if (flag == "--filter-format") {
      d->filter_format = value == "OIHW" ? FilterFormat::kOIHW : FilterFormat::kHWIO;
    } else if (flag == "--padding") {
      if (value == "SAME") {
        d->padding = Padding::kSame;
      } else if (value == "SAME_LOWER") {
        d->padding = Padding::kSameLower;
      } else if (value == "VALID") {
        d->padding = Padding::kValid;
      } else {
        const V p = parse_list(value);
        ASSERT_EQ(p.size(), 4u) << line;
        d->padding = Padding::kExplicit;
        d->explicit_pads = {p[0], p[1], p[2], p[3]};
      }
    } else {
      FAIL() << "unknown flag in repro: " << flag;
    }
  }
}

// Resolves, expects a refusal with `code`, checks the common structure and the repro line,
// and returns the rendered text.
std::string refused(const ConvDesc& d, const Shapes& s, Code code, bool check_repro = true) {
  Diagnostic diag;
  const auto g = try_resolve(d, s, &diag);
  EXPECT_FALSE(g.has_value());
  EXPECT_EQ(code_string(diag.code), code_string(code)) << diag.render();
  const std::string text = diag.render();
  EXPECT_EQ(text.rfind("error[" + code_string(code) + "]: ", 0), 0u) << text;
  EXPECT_FALSE(diag.summary.empty());
  EXPECT_FALSE(diag.context.empty()) << text;
  EXPECT_FALSE(diag.rule.empty()) << text;
  EXPECT_FALSE(diag.expected.empty()) << text;
  EXPECT_FALSE(diag.found.empty()) << text;
  EXPECT_FALSE(diag.help.empty()) << text;
  EXPECT_NE(text.find("\n  help: "), std::string::npos) << text;
  // The exception carries the same diagnostic, is an std::invalid_argument, and what() is
  // the rendering.
  try {
    (void)resolve(d, s);
    ADD_FAILURE() << "resolve() accepted what try_resolve() refused";
  } catch (const std::invalid_argument& e) {
    const auto* se = dynamic_cast<const ShapeError*>(&e);
    EXPECT_NE(se, nullptr);
    if (se != nullptr) {
      EXPECT_EQ(se->code(), code);
    }
    EXPECT_EQ(std::string(e.what()), text);
  }
  // The repro line reproduces the same refusal.
  if (!check_repro) return text;
  ConvDesc d2;
  Shapes s2;
  parse_repro(diag.repro, &d2, &s2);
  Diagnostic again;
  EXPECT_FALSE(try_resolve(d2, s2, &again)) << diag.repro;
  EXPECT_EQ(again.code, code) << diag.repro << "\n" << again.render();
  return text;
}

void expect_has(const std::string& text, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    EXPECT_NE(text.find(p), std::string::npos) << "'" << p << "' in\n" << text;
}

ConvDesc with_groups(std::int64_t g) {
  ConvDesc d;
  d.groups = g;
  return d;
}

// ---- GC001 -----------------------------------------------------------------------------
TEST(Diagnostics, GC001_CinNotDivisibleByExplicitGroups_SpecExample) {
  // `groupconv check --input-shape 1,28,28,33 --filter-shape 3,3,8,16 --groups 4`
  const std::string t = refused(with_groups(4), {{1, 28, 28, 33}, {3, 3, 8, 16}, std::nullopt},
                                Code::kCinNotDivisible);
  expect_has(t, {"[N=1, H=28, W=28, C=33]", "groups=4", "33 % 4 = 1",
                 "32 (4 x 8) or 36 (4 x 9)",  // nearest valid C_in
                 "divides 33: 1, 3, 11, 33",  // group counts that work for 33
                 "expects C_in = 4 x 8 = 32"});
}

TEST(Diagnostics, GC001_CinNotDivisibleByInferredGroups) {
  const std::string t =
      refused(ConvDesc{}, {{1, 28, 28, 33}, {3, 3, 8, 16}, std::nullopt}, Code::kCinNotDivisible);
  expect_has(
      t, {"33 / 8 is not an integer", "32 (8 x 4) or 40 (8 x 5)", "1, 3, 11, 33", "tf.nn.conv2d"});
}

TEST(Diagnostics, GC001_MoreGroupsThanChannels) {
  const std::string t = refused(with_groups(64), {{1, 8, 8, 32}, {3, 3, 1, 64}, std::nullopt},
                                Code::kCinNotDivisible);
  expect_has(t, {"32 % 64 = 32", "64 (64 x 1)", "1, 2, 4, 8, 16, 32"});
}

TEST(Diagnostics, GC001_HugeNumbersDoNotOverflowTheMessage) {
  const std::string t = refused(with_groups(2), {{1, 1, 1, kMax}, {1, 1, kMax, 2}, std::nullopt},
                                Code::kCinNotDivisible);
  expect_has(t, {"9223372036854775807 % 2 = 1", "9223372036854775806 (2 x 4611686018427387903)"});
  EXPECT_EQ(t.find("9223372036854775808"), std::string::npos) << t;  // no wrapped sum
}

// ---- GC002 -----------------------------------------------------------------------------
TEST(Diagnostics, GC002_CoutNotDivisible) {
  const std::string t = refused(with_groups(4), {{1, 28, 28, 32}, {3, 3, 8, 30}, std::nullopt},
                                Code::kCoutNotDivisible);
  expect_has(t, {"30 % 4 = 2", "28 (4 x 7) or 32 (4 x 8)", "4 x 30 = 120"});
}

// ---- GC003 -----------------------------------------------------------------------------
TEST(Diagnostics, GC003_UngroupedFilter_SpecExample) {
  const std::string t = refused(with_groups(4), {{1, 28, 28, 32}, {3, 3, 32, 64}, std::nullopt},
                                Code::kFilterInChannels);
  expect_has(t, {"filter does not fit groups=4", "[N=1, H=28, W=28, C=32]",
                 "32 channels = 4 groups x 8", "[KH=3, KW=3, I=32, O=64]",
                 "expected: filter [3, 3, 8, 64]", "32 / 4 = 8", "ungrouped filter", "groups=1"});
  // ... and groups=1 does accept it.
  EXPECT_TRUE(
      try_resolve(with_groups(1), {{1, 28, 28, 32}, {3, 3, 32, 64}, std::nullopt}, nullptr));
}

TEST(Diagnostics, GC003_DepthwiseFilterInTensorFlowDepthwiseLayout) {
  // tf.nn.depthwise_conv2d filter [3, 3, 32, 2] (multiplier 2) with groups = 32.
  const std::string t = refused(with_groups(32), {{1, 28, 28, 32}, {3, 3, 32, 2}, std::nullopt},
                                Code::kFilterInChannels);
  expect_has(t, {"groups=1", "depthwise_conv2d", "w.reshape(3, 3, 1, 64)"});
}

TEST(Diagnostics, GC003_InChannelsNeitherGroupedNorUngrouped) {
  const std::string t = refused(with_groups(4), {{1, 28, 28, 32}, {3, 3, 5, 64}, std::nullopt},
                                Code::kFilterInChannels);
  expect_has(t, {"32 / 4 = 8", "expected: filter [3, 3, 8, 64]", "found:    filter [3, 3, 5, 64]"});
  EXPECT_EQ(t.find("ungrouped"), std::string::npos) << t;
}

TEST(Diagnostics, GC003_OihwShowsExpectedOihwShape) {
  ConvDesc d = with_groups(4);
  d.data_format = DataFormat::kNCHW;
  d.filter_format = FilterFormat::kOIHW;
  const std::string t =
      refused(d, {{1, 32, 28, 28}, {64, 32, 3, 3}, std::nullopt}, Code::kFilterInChannels);
  expect_has(t,
             {"[N=1, C=32, H=28, W=28]", "[O=64, I=32, KH=3, KW=3]", "[64, 8, 3, 3]", "groups=1"});
}

// ---- GC004 -----------------------------------------------------------------------------
TEST(Diagnostics, GC004_ExplicitGroupsDisagreeWithShapes) {
  const std::string t = refused(with_groups(4), {{1, 28, 28, 32}, {3, 3, 16, 64}, std::nullopt},
                                Code::kGroupsMismatch);
  expect_has(t, {"groups=4 but the shapes imply groups=2", "32 / 16 = 2", "[3, 3, 8, 64]"});
  // groups=1 given for a grouped filter: the shapes imply 4.
  const std::string t1 = refused(with_groups(1), {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt},
                                 Code::kGroupsMismatch);
  expect_has(t1, {"groups=1 but the shapes imply groups=4", "[3, 3, 32, 64]"});
}

// ---- GC005 -----------------------------------------------------------------------------
TEST(Diagnostics, GC005_OihwGivenWhereHwioExpected) {
  const std::string t =
      refused(with_groups(4), {{1, 28, 28, 32}, {64, 8, 3, 3}, std::nullopt}, Code::kFilterLayout);
  expect_has(t, {"looks like OIHW", "HWIO filter [3, 3, 8, 64]", "transpose(2, 3, 1, 0)",
                 "--filter-format OIHW"});
  // Inferred groups, depthwise PyTorch weight [C, 1, KH, KW] handed to a HWIO API.
  const std::string t2 =
      refused(ConvDesc{}, {{1, 28, 28, 32}, {32, 1, 3, 3}, std::nullopt}, Code::kFilterLayout);
  expect_has(t2, {"[3, 3, 1, 32]"});
}

TEST(Diagnostics, GC005_HwioGivenWhereOihwExpected) {
  ConvDesc d = with_groups(4);
  d.data_format = DataFormat::kNCHW;
  d.filter_format = FilterFormat::kOIHW;
  const std::string t =
      refused(d, {{1, 32, 28, 28}, {3, 3, 8, 64}, std::nullopt}, Code::kFilterLayout);
  expect_has(t, {"looks like HWIO", "OIHW filter [64, 8, 3, 3]", "transpose(3, 2, 0, 1)",
                 "--filter-format HWIO"});
}

TEST(Diagnostics, GC005_OtherLayoutThatResolvesButCannotFitTheInput) {
  // OIHW [8, 8, 3, 3] on C_in = 8 read as HWIO: 3 in-channels, and 8 % 3 != 0 -> GC005.
  const std::string t =
      refused(ConvDesc{}, {{1, 5, 5, 8}, {8, 8, 3, 3}, std::nullopt}, Code::kFilterLayout);
  expect_has(t, {"[3, 3, 8, 8]"});
  // OIHW [9, 9, 3, 3] as HWIO on C_in = 9: a 9x9 kernel, I = 3 -> 3 groups, O = 3: resolves
  // channel-wise, but the 9x9 kernel does not fit the 5x5 input; read as OIHW it does.
  const std::string t2 =
      refused(ConvDesc{}, {{1, 5, 5, 9}, {9, 9, 3, 3}, std::nullopt}, Code::kFilterLayout);
  expect_has(t2, {"[3, 3, 9, 9]", "transpose(2, 3, 1, 0)"});
}

// ---- GC006 -----------------------------------------------------------------------------
TEST(Diagnostics, GC006_PerGroupOutputChannels) {
  ConvDesc d = with_groups(4);
  // Without the expectation, [3, 3, 8, 16] is a valid conv with 16 outputs (4 per group).
  const auto g = try_resolve(d, {{1, 28, 28, 32}, {3, 3, 8, 16}, std::nullopt}, nullptr);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->c_out, 16);
  EXPECT_NE(describe(*g).find("8 input -> 4 output channels"), std::string::npos);
  d.expect_output_channels = 64;
  const std::string t =
      refused(d, {{1, 28, 28, 32}, {3, 3, 8, 16}, std::nullopt}, Code::kOutputChannels);
  expect_has(t, {"filter gives 16 output channels, expected 64", "per-group", "16 = 64 / 4",
                 "[3, 3, 8, 64]", "--expect-output-channels 64"});
}

TEST(Diagnostics, GC006_PerGroupCountNotDivisibleByGroups) {
  // groups=8, filter O = 4 (per group of 32 outputs): GC002 would fire, but the expectation
  // explains it better.
  ConvDesc d = with_groups(8);
  d.expect_output_channels = 32;
  const std::string t =
      refused(d, {{1, 8, 8, 64}, {3, 3, 8, 4}, std::nullopt}, Code::kOutputChannels);
  expect_has(t, {"4 = 32 / 8", "[3, 3, 8, 32]"});
}

TEST(Diagnostics, GC006_PlainMismatch) {
  ConvDesc d = with_groups(4);
  d.expect_output_channels = 48;
  const std::string t =
      refused(d, {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt}, Code::kOutputChannels);
  expect_has(t, {"64 output channels, expected 48", "[3, 3, 8, 48]"});
}

// ---- GC007 -----------------------------------------------------------------------------
TEST(Diagnostics, GC007_WrongRank) {
  expect_has(refused(ConvDesc{}, {{28, 28, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kRank),
             {"[N, H, W, C]", "rank 3", "batch dimension"});
  expect_has(refused(ConvDesc{}, {{2, 5, 28, 28, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kRank),
             {"rank 5", "leading batch"});
  ConvDesc nchw;
  nchw.data_format = DataFormat::kNCHW;
  expect_has(refused(nchw, {{3, 28}, {3, 3, 3, 8}, std::nullopt}, Code::kRank),
             {"[N, C, H, W]", "rank 2"});
  expect_has(refused(ConvDesc{}, {{1, 28, 28, 3}, {3, 3, 8}, std::nullopt}, Code::kRank),
             {"filter must be 4-D", "[KH, KW, C_in/G, C_out]", "rank 3"});
  expect_has(refused(ConvDesc{}, {{1, 28, 28, 3}, {3, 3, 3, 8}, V{1, 8}}, Code::kRank),
             {"bias must be 1-D", "rank 2"});
}

// ---- GC009 -----------------------------------------------------------------------------
TEST(Diagnostics, GC009_NonPositiveSizes) {
  expect_has(
      refused(ConvDesc{}, {{1, 0, 28, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"input H is 0", "H >= 1"});
  expect_has(
      refused(ConvDesc{}, {{1, 28, -5, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"input W is -5"});
  expect_has(
      refused(ConvDesc{}, {{1, 28, 28, 0}, {3, 3, 3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"input C is 0"});
  expect_has(
      refused(ConvDesc{}, {{-1, 28, 28, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"input N is -1", "N = 0"});
  expect_has(
      refused(ConvDesc{}, {{1, 28, 28, 3}, {0, 3, 3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"filter KH is 0"});
  expect_has(
      refused(ConvDesc{}, {{1, 28, 28, 3}, {3, 3, 3, 0}, std::nullopt}, Code::kNonPositiveSize),
      {"filter O is 0"});
  expect_has(
      refused(ConvDesc{}, {{1, 28, 28, 3}, {3, 3, -3, 8}, std::nullopt}, Code::kNonPositiveSize),
      {"filter I is -3"});
}

// ---- GC010 / GC011 ---------------------------------------------------------------------
TEST(Diagnostics, GC010_Strides) {
  ConvDesc d;
  d.strides = {0};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kStride),
             {"strides must be positive", "(0, 0)"});
  d.strides = {2, -1};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kStride), {"(2, -1)"});
  d.strides = {1, 2, 3};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kStride),
             {"1, 2 or 4 entries", "3 entries"});
  d.strides = {};  // (a command line cannot spell an empty list: no repro check)
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kStride, false),
             {"0 entries"});
}

TEST(Diagnostics, GC011_Dilations) {
  ConvDesc d;
  d.dilations = {1, 0};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kDilation),
             {"dilations must be positive", "(1, 0)"});
  d.dilations = {1, 1, 1, 1, 1};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kDilation),
             {"5 entries"});
}

// ---- GC012 -----------------------------------------------------------------------------
TEST(Diagnostics, GC012_NonPositiveGroups) {
  expect_has(refused(with_groups(0), {{1, 8, 8, 4}, {3, 3, 2, 8}, std::nullopt}, Code::kGroups),
             {"groups must be at least 1, got 0"});
  expect_has(refused(with_groups(-2), {{1, 8, 8, 4}, {3, 3, 2, 8}, std::nullopt}, Code::kGroups),
             {"got -2"});
}

// ---- GC013 -----------------------------------------------------------------------------
TEST(Diagnostics, GC013_FourListWithNonOneBatchOrChannel) {
  ConvDesc d;
  d.strides = {2, 2, 2, 2};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kFourList),
             {"strides = [2, 2, 2, 2]", "[1, h, w, 1]"});
  ConvDesc n;
  n.data_format = DataFormat::kNCHW;
  n.dilations = {1, 2, 1, 1};  // NCHW: position 1 is C
  expect_has(refused(n, {{1, 3, 8, 8}, {3, 3, 3, 8}, std::nullopt}, Code::kFourList),
             {"dilations = [1, 2, 1, 1]", "[1, 1, h, w]"});
}

// ---- GC014 -----------------------------------------------------------------------------
TEST(Diagnostics, GC014_NegativeExplicitPadding) {
  ConvDesc d;
  d.padding = Padding::kExplicit;
  d.explicit_pads = {1, 1, -2, 0};
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kNegativePadding),
             {"left is negative", "left = -2", "(1, 1, -2, 0)"});
}

// ---- GC015 -----------------------------------------------------------------------------
TEST(Diagnostics, GC015_DilatedKernelLargerThanPaddedInput) {
  ConvDesc d;
  d.dilations = {5};
  // eff = (3-1)*5+1 = 11 > 8
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kEmptyOutput),
             {"along H", "8 + 0 + 0 = 8 < (3 - 1) * 5 + 1 = 11", "add 3 rows"});
  ConvDesc e;
  e.padding = Padding::kExplicit;
  e.explicit_pads = {0, 0, 1, 0};
  // W: 2 + 1 = 3 < 4 (kernel 4, dense)
  expect_has(refused(e, {{1, 9, 2, 3}, {1, 4, 3, 8}, std::nullopt}, Code::kEmptyOutput),
             {"along W", "2 + 1 + 0 = 3 < (4 - 1) * 1 + 1 = 4"});
}

// ---- GC016 -----------------------------------------------------------------------------
TEST(Diagnostics, GC016_BiasLength) {
  expect_has(refused(with_groups(4), {{1, 8, 8, 32}, {3, 3, 8, 64}, V{16}}, Code::kBias),
             {"bias has 16 values", "64 output channels", "bias [64]", "per-group"});
  expect_has(refused(ConvDesc{}, {{1, 8, 8, 3}, {3, 3, 3, 8}, V{7}}, Code::kBias),
             {"bias has 7 values", "bias [8]"});
}

// ---- GC017 -----------------------------------------------------------------------------
TEST(Diagnostics, GC017_Overflow) {
  expect_has(refused(ConvDesc{}, {{1 << 30, 1 << 20, 1 << 20, 32}, {3, 3, 8, 64}, std::nullopt},
                     Code::kOverflow),
             {"input elements", "1073741824 x 1048576 x 1048576 x 32", "2^63"});
  // Fits as elements, overflows as bytes: 2^62 elements x 4.
  expect_has(
      refused(ConvDesc{},
              {{1, std::int64_t{1} << 31, std::int64_t{1} << 31, 1}, {1, 1, 1, 1}, std::nullopt},
              Code::kOverflow),
      {"bytes"});
  // FLOPs overflow while every tensor fits: SAME output 2^20 x 2^20 x 1 channel, each from a
  // 2^10 x 2^10 kernel over 2^10 in-channels: 2 * 2^40 * 2^30 = 2^71.
  ConvDesc same;
  same.padding = Padding::kSame;
  expect_has(
      refused(same, {{1, 1 << 20, 1 << 20, 1 << 10}, {1 << 10, 1 << 10, 1 << 10, 1}, std::nullopt},
              Code::kOverflow),
      {"FLOPs", "2 x N x Ho x Wo x C_out x C_in/G x KH x KW"});
  // A dilated kernel size that overflows.
  ConvDesc d;
  d.dilations = {kMax / 2};
  expect_has(refused(d, {{1, 8, 8, 3}, {5, 1, 3, 8}, std::nullopt}, Code::kOverflow),
             {"dilated kernel size"});
}

// ---- GC019 -----------------------------------------------------------------------------
TEST(Diagnostics, GC019_BadExpectOutputChannels) {
  ConvDesc d;
  d.expect_output_channels = 0;
  expect_has(refused(d, {{1, 8, 8, 3}, {3, 3, 3, 8}, std::nullopt}, Code::kBadArgument),
             {"expected output channels must be at least 1"});
}

TEST(Diagnostics, CodeStringsAreStable) {
  EXPECT_EQ(code_string(Code::kCinNotDivisible), "GC001");
  EXPECT_EQ(code_string(Code::kFilterInChannels), "GC003");
  EXPECT_EQ(code_string(Code::kOverflow), "GC017");
  EXPECT_EQ(code_string(Code::kFile), "GC020");
}

// resolve() on random, often absurd, input: only ShapeError escapes, and every accepted
// geometry satisfies the invariants of SPEC section 1. (The libFuzzer target goes deeper;
// this runs in every build, including the ASan+UBSan one.)
TEST(Diagnostics, RandomInputOnlyEverRefusesWithShapeError) {
  std::mt19937_64 rng(12345);
  const std::int64_t specials[] = {0,
                                   1,
                                   2,
                                   3,
                                   4,
                                   7,
                                   8,
                                   16,
                                   33,
                                   64,
                                   -1,
                                   -7,
                                   kMax,
                                   kMax - 1,
                                   kMax / 2,
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::int64_t{1} << 31,
                                   std::int64_t{1} << 32};
  auto pick = [&]() -> std::int64_t {
    switch (rng() % 3) {
      case 0:
        return specials[rng() % std::size(specials)];
      case 1:
        return static_cast<std::int64_t>(rng() % 9) + 1;
      default:
        return static_cast<std::int64_t>(rng() % 70) - 2;
    }
  };
  auto list = [&](std::size_t max_len) {
    V v(rng() % (max_len + 1));
    for (auto& x : v) x = pick();
    return v;
  };
  auto small = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  int accepted = 0;
  for (int it = 0; it < 6000; ++it) {
    // A consistent problem, then (most of the time) one to three fields replaced by noise.
    ConvDesc d;
    d.data_format = rng() % 2 ? DataFormat::kNCHW : DataFormat::kNHWC;
    d.filter_format = rng() % 2 ? FilterFormat::kOIHW : FilterFormat::kHWIO;
    d.padding = static_cast<Padding>(rng() % 4);
    d.strides = {small(1, 3), small(1, 3)};
    d.dilations = {small(1, 2)};
    for (auto& p : d.explicit_pads) p = small(0, 2);
    const std::int64_t groups = small(1, 4), cig = small(1, 3), cog = small(1, 3);
    const std::int64_t n = small(0, 2), h = small(5, 9), w = small(5, 9), kh = small(1, 3),
                       kw = small(1, 3);
    if (rng() % 2) d.groups = groups;
    if (rng() % 8 == 0) d.expect_output_channels = groups * cog;
    const bool nhwc = d.data_format == DataFormat::kNHWC;
    const bool hwio = d.filter_format == FilterFormat::kHWIO;
    Shapes s;
    s.input = nhwc ? V{n, h, w, groups * cig} : V{n, groups * cig, h, w};
    s.filter = hwio ? V{kh, kw, cig, groups * cog} : V{groups * cog, cig, kh, kw};
    if (rng() % 3 == 0) s.bias = V{groups * cog};
    const int mutations = static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 12) {
        case 0:
          if (s.input.size() == 4) s.input[rng() % 4] = pick();
          break;
        case 1:
          if (s.filter.size() == 4) s.filter[rng() % 4] = pick();
          break;
        case 2:
          s.input = list(6);
          break;
        case 3:
          s.filter = list(6);
          break;
        case 4:
          s.bias = rng() % 2 ? V{pick()} : list(3);
          break;
        case 5:
          d.strides = rng() % 2 ? V{pick()} : list(5);
          break;
        case 6:
          d.dilations = rng() % 2 ? V{pick()} : list(5);
          break;
        case 7:
          d.explicit_pads[rng() % 4] = pick();
          break;
        case 8:
          d.groups = pick();
          break;
        case 9:
          d.expect_output_channels = pick();
          break;
        case 10:
          s.input = V{pick(), pick(), pick(), pick()};
          break;
        default:
          s.filter = V{pick(), pick(), pick(), pick()};
          break;
      }
    }
    try {
      const Geometry g = resolve(d, s);
      ++accepted;
      ASSERT_GE(g.n, 0);
      ASSERT_GE(g.ho, 1);
      ASSERT_GE(g.wo, 1);
      ASSERT_EQ(g.groups * g.cig, g.c_in);
      ASSERT_EQ(g.groups * g.cog, g.c_out);
      ASSERT_GE(g.pad_top, 0);
      ASSERT_GE(g.pad_left, 0);
      // Ho = floor((H + pt + pb - ((KH-1)*dh + 1)) / sh) + 1, with the resolved pads.
      ASSERT_EQ(g.ho, (g.h + g.pad_top + g.pad_bottom - ((g.kh - 1) * g.dh + 1)) / g.sh + 1);
      ASSERT_EQ(g.wo, (g.w + g.pad_left + g.pad_right - ((g.kw - 1) * g.dw + 1)) / g.sw + 1);
      if (d.padding == Padding::kSame || d.padding == Padding::kSameLower) {
        ASSERT_EQ(g.ho, g.h / g.sh + (g.h % g.sh != 0 ? 1 : 0));
        ASSERT_LE(g.pad_bottom - g.pad_top, 1);
        ASSERT_GE(g.pad_bottom - g.pad_top, -1);
      }
      (void)g.bytes();
      (void)g.flops();
    } catch (const ShapeError& e) {
      ASSERT_FALSE(e.diagnostic().summary.empty());
      ASSERT_FALSE(e.diagnostic().help.empty()) << e.what();
    }
  }
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace groupconv
