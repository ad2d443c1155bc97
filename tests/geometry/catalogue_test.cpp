// The examples of docs/DIAGNOSTICS.md: one typical refusal per code, each checked to produce
// its code. With GROUPCONV_PRINT_CATALOGUE=1 the test prints every rendering as Markdown, which
// is how the examples in docs/DIAGNOSTICS.md were produced:
//   GROUPCONV_PRINT_CATALOGUE=1 build/<dir>/tests/test_geometry --gtest_filter='Catalogue.*'
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "groupconv/backward.hpp"
#include "groupconv/geometry.hpp"
#include "io/npy.hpp"

namespace groupconv {
namespace {

using V = std::vector<std::int64_t>;

struct Example {
  Code code;
  const char* title;
  std::function<void()> run;  // throws the ShapeError of the example
};

std::function<void()> resolving(ConvDesc d, Shapes s) {
  return [d, s] { (void)resolve(d, s); };
}

ConvDesc groups(std::int64_t g) {
  ConvDesc d;
  d.groups = g;
  return d;
}

std::vector<Example> examples() {
  std::vector<Example> e;
  ConvDesc d;
  e.push_back({Code::kCinNotDivisible, "C_in not divisible by groups",
               resolving(groups(4), {{1, 28, 28, 33}, {3, 3, 8, 16}, std::nullopt})});
  e.push_back({Code::kCinNotDivisible,
               "C_in not divisible by the filter's in-channels (groups inferred)",
               resolving(ConvDesc{}, {{1, 28, 28, 33}, {3, 3, 8, 64}, std::nullopt})});
  e.push_back({Code::kCoutNotDivisible, "C_out not divisible by groups",
               resolving(groups(4), {{1, 28, 28, 32}, {3, 3, 8, 30}, std::nullopt})});
  e.push_back({Code::kFilterInChannels, "an ungrouped filter with groups=4",
               resolving(groups(4), {{1, 28, 28, 32}, {3, 3, 32, 64}, std::nullopt})});
  e.push_back({Code::kFilterInChannels, "a tf.nn.depthwise_conv2d filter with groups = C_in",
               resolving(groups(32), {{1, 28, 28, 32}, {3, 3, 32, 2}, std::nullopt})});
  e.push_back({Code::kFilterInChannels, "filter in-channels fit neither",
               resolving(groups(4), {{1, 28, 28, 32}, {3, 3, 5, 64}, std::nullopt})});
  e.push_back({Code::kGroupsMismatch, "explicit groups disagree with the shapes",
               resolving(groups(4), {{1, 28, 28, 32}, {3, 3, 16, 64}, std::nullopt})});
  e.push_back({Code::kFilterLayout, "a PyTorch (OIHW) filter where HWIO is expected",
               resolving(groups(4), {{1, 28, 28, 32}, {64, 8, 3, 3}, std::nullopt})});
  {
    ConvDesc o = groups(4);
    o.data_format = DataFormat::kNCHW;
    o.filter_format = FilterFormat::kOIHW;
    e.push_back({Code::kFilterLayout, "a TensorFlow (HWIO) filter where OIHW is expected",
                 resolving(o, {{1, 32, 28, 28}, {3, 3, 8, 64}, std::nullopt})});
  }
  {
    ConvDesc o = groups(4);
    o.expect_output_channels = 64;
    e.push_back({Code::kOutputChannels, "a per-group output count with --expect-output-channels 64",
                 resolving(o, {{1, 28, 28, 32}, {3, 3, 8, 16}, std::nullopt})});
  }
  e.push_back({Code::kRank, "an unbatched (3-D) input",
               resolving(ConvDesc{}, {{28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  e.push_back({Code::kDtype, "a float64 .npy file", [] {
                 // np.save of np.zeros((2, 3)) (dtype float64): header and 48 data bytes.
                 std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
                 header.resize(117, ' ');
                 header += '\n';
                 std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(118) + char(0) +
                                     header + std::string(48, '\0');
                 (void)io::parse_npy(bytes, "x.npy");
               }});
  e.push_back({Code::kNonPositiveSize, "a zero spatial size",
               resolving(ConvDesc{}, {{1, 0, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  d = ConvDesc{};
  d.strides = {0};
  e.push_back({Code::kStride, "a zero stride",
               resolving(d, {{1, 28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  d = ConvDesc{};
  d.dilations = {1, 2, 3};
  e.push_back({Code::kDilation, "a dilation list of the wrong length",
               resolving(d, {{1, 28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  e.push_back({Code::kGroups, "groups = 0",
               resolving(groups(0), {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt})});
  d = ConvDesc{};
  d.strides = {2, 2, 2, 2};
  e.push_back({Code::kFourList, "a TF 4-list that strides over channels",
               resolving(d, {{1, 28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  d = ConvDesc{};
  d.padding = Padding::kExplicit;
  d.explicit_pads = {1, 1, -1, 1};
  e.push_back({Code::kNegativePadding, "negative explicit padding",
               resolving(d, {{1, 28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  d = ConvDesc{};
  d.dilations = {4};
  e.push_back({Code::kEmptyOutput, "a dilated kernel larger than the input",
               resolving(d, {{1, 7, 7, 3}, {3, 3, 3, 16}, std::nullopt})});
  e.push_back({Code::kBias, "a per-group bias",
               resolving(groups(4), {{1, 28, 28, 32}, {3, 3, 8, 64}, V{16}})});
  e.push_back(
      {Code::kOverflow, "sizes that overflow",
       resolving(ConvDesc{}, {{1 << 30, 1 << 20, 1 << 20, 32}, {3, 3, 32, 64}, std::nullopt})});
  e.push_back(
      {Code::kGradOutputShape, "a gradient of the wrong shape (backward pass)", [] {
         ConvDesc b;
         b.groups = 4;
         (void)resolve_backward(b, {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt}, {1, 28, 28, 64});
       }});
  d = ConvDesc{};
  d.expect_output_channels = 0;
  e.push_back({Code::kBadArgument, "an invalid option value",
               resolving(d, {{1, 28, 28, 3}, {3, 3, 3, 16}, std::nullopt})});
  e.push_back({Code::kFile, "a truncated .npy file", [] {
                 std::string header =
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }";
                 header.resize(117, ' ');
                 header += '\n';
                 const std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(118) +
                                           char(0) + header + std::string(64, '\0');
                 (void)io::parse_npy(bytes, "x.npy");
               }});
  return e;
}

TEST(Catalogue, EveryExampleGivesItsCode) {
  const bool print = std::getenv("GROUPCONV_PRINT_CATALOGUE") != nullptr;
  std::vector<bool> seen(21, false);
  for (const Example& ex : examples()) {
    try {
      ex.run();
      ADD_FAILURE() << ex.title << ": accepted";
    } catch (const ShapeError& err) {
      EXPECT_EQ(code_string(err.code()), code_string(ex.code)) << ex.title << "\n" << err.what();
      seen[static_cast<std::size_t>(err.code())] = true;
      if (print) {
        std::printf("### %s: %s\n\n```\n%s```\n\n", code_string(ex.code).c_str(), ex.title,
                    err.what());
      }
    }
  }
  for (int c = 1; c <= 20; ++c) {
    EXPECT_TRUE(seen[static_cast<std::size_t>(c)])
        << "no example for " << code_string(static_cast<Code>(c));
  }
}

}  // namespace
}  // namespace groupconv
