// The wide_group family (implicit GEMM, >= 16 channels per group) against the reference
// kernel, on every ISA path this CPU has: channel counts below / at / above each register tile,
// pixel counts below / above the pixel tile, padding taps at every border (including rows and
// columns entirely in the padding), strides, dilations, non-square kernels, bias on / off,
// N = 1 and 2, G = 1 and G > 1; 1 vs 2 threads bit-identical; unaligned buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace groupconv {
namespace {

using i64 = std::int64_t;

struct WideCase {
  i64 n, h, w, groups, cig, cog, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;
  bool bias;
};

std::string describe_case(const WideCase& c) {
  return "n=" + std::to_string(c.n) + " h=" + std::to_string(c.h) + " w=" + std::to_string(c.w) +
         " G=" + std::to_string(c.groups) + " cig=" + std::to_string(c.cig) +
         " cog=" + std::to_string(c.cog) + " k=" + std::to_string(c.kh) + "x" +
         std::to_string(c.kw) + " s=" + std::to_string(c.sh) + "," + std::to_string(c.sw) +
         " d=" + std::to_string(c.dh) + "," + std::to_string(c.dw) +
         " pad=" + std::to_string(c.pt) + ":" + std::to_string(c.pb) + ":" + std::to_string(c.pl) +
         ":" + std::to_string(c.pr) + (c.bias ? " bias" : "");
}

// Element-wise comparison: float accumulation against the double reference.
void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = 1e-4 * (1.0 + std::fabs(static_cast<double>(want[i])));
    if (!(std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i])) <= tol)) {
      if (++bad <= 3) {
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
      }
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

void check_case(const WideCase& c, Isa isa, std::uint32_t seed) {
  ConvDesc d;
  d.strides = {c.sh, c.sw};
  d.dilations = {c.dh, c.dw};
  d.padding = Padding::kExplicit;
  d.explicit_pads = {c.pt, c.pb, c.pl, c.pr};
  d.groups = c.groups;
  const Shapes s = testing::shapes_for(d, c.n, c.h, c.w, c.groups * c.cig, c.kh, c.kw, c.cig,
                                       c.groups * c.cog, c.bias);
  const testing::Problem p = testing::make_problem(d, s, seed);
  const std::vector<float> want = testing::run_reference(p);
  const std::string what = describe_case(c) + " isa=" + to_string(isa);

  PlanOptions o;
  o.max_isa = isa;
  o.threads = 1;
  o.min_flops_per_thread = 0;  // split even tiny test layers
  std::string kernel;
  const std::vector<float> one = testing::run_plan(p, o, &kernel);
  EXPECT_EQ(kernel.rfind("wide_group_igemm", 0), 0u) << what << " chose " << kernel;
  EXPECT_NE(kernel.find(to_string(isa)), std::string::npos) << what << " chose " << kernel;
  expect_close(one, want, what);

  o.threads = 2;
  o.min_flops_per_thread = 0;  // split even tiny test layers
  const std::vector<float> two = testing::run_plan(p, o);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0)
      << what << ": 1 vs 2 threads differ";

  // Unaligned input and output (one float past a 64-byte boundary).
  Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), o);
  std::vector<float> xbuf(p.x.size() + 1), ybuf(one.size() + 1, NAN);
  std::copy(p.x.begin(), p.x.end(), xbuf.begin() + 1);
  plan.execute(xbuf.data() + 1, ybuf.data() + 1);
  EXPECT_EQ(std::memcmp(one.data(), ybuf.data() + 1, one.size() * sizeof(float)), 0)
      << what << ": unaligned buffers differ";
}

std::vector<WideCase> cases() {
  std::vector<WideCase> v;
  // Output channels around every tile width (8-channel units; 16/32/48 tiles and remainders).
  for (i64 cog : {16, 17, 24, 31, 32, 33, 40, 48, 56, 65, 72, 80, 104}) {
    v.push_back({1, 6, 7, cog > 60 ? 1 : 2, 16, cog, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, cog % 2 == 1});
  }
  // Long rows (the AVX2 path switches to its 3 x 32 tile there) with several channel splits.
  for (i64 cog : {24, 32, 40, 72, 80}) {
    v.push_back({1, 3, 26, 1, 16, cog, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, cog % 16 == 0});
  }
  // Input channels that are multiples of nothing; G = 1.
  for (i64 cig : {17, 20, 23, 40})
    v.push_back({1, 5, 9, 1, cig, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true});
  // Pixel counts below / at / above the widest pixel tile (up to 14), along rows and columns.
  for (i64 w : {1, 2, 5, 13, 14, 15, 16, 17, 30}) {
    v.push_back({1, w > 20 ? 3 : 17, w, 2, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false});
  }
  // Padding at every border, asymmetric; whole rows / columns in the padding.
  v.push_back({1, 9, 11, 2, 16, 16, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2, true});
  v.push_back({1, 8, 8, 1, 16, 20, 3, 3, 1, 1, 1, 1, 3, 4, 4, 3, true});
  v.push_back({1, 4, 5, 1, 18, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, false});
  v.push_back({1, 3, 3, 1, 16, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true});  // no interior
  // Strides (square, asymmetric), dilations, non-square kernels.
  v.push_back({1, 15, 16, 2, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true});
  v.push_back({1, 13, 17, 2, 19, 17, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, false});
  v.push_back({1, 11, 20, 1, 16, 40, 3, 3, 1, 3, 1, 1, 1, 0, 1, 2, true});
  v.push_back({1, 16, 16, 2, 32, 32, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true});
  v.push_back({1, 12, 19, 1, 16, 24, 3, 3, 1, 1, 3, 2, 3, 3, 1, 2, false});
  v.push_back({1, 9, 18, 2, 16, 16, 1, 5, 1, 1, 1, 1, 0, 0, 2, 2, true});
  v.push_back({1, 18, 7, 1, 20, 32, 5, 1, 1, 1, 1, 1, 2, 2, 0, 0, false});
  v.push_back({1, 10, 10, 1, 16, 48, 2, 4, 1, 2, 1, 1, 0, 1, 1, 2, true});
  v.push_back({1, 12, 12, 1, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true});  // padded 1x1
  // Batch 2; larger K (AlexNet-like 5x5 with 48 input channels per group).
  v.push_back({2, 7, 9, 3, 16, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true});
  v.push_back({1, 9, 9, 2, 48, 40, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, true});
  // Outside the wide/narrow line: Cog > 16 with few input channels, Cig > 16 with Cog 8.
  v.push_back({1, 8, 9, 1, 3, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true});
  v.push_back({1, 8, 9, 2, 24, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false});
  // Pixel strides that fold onto 1 or 2 of L1's sets cap the pixel tile (pixel_cap): 1024
  // and 512 input channels along rows, a 4 KiB row stride down the border columns.
  v.push_back({1, 5, 12, 64, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true});
  v.push_back({1, 4, 14, 32, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false});
  v.push_back({1, 20, 16, 4, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true});
  return v;
}

void run_all(Isa isa) {
  if (effective_isa(isa) != isa) GTEST_SKIP() << to_string(isa) << " not available here";
  std::uint32_t seed = 100;
  for (const WideCase& c : cases()) {
    check_case(c, isa, seed += 7);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(WideGroup, Portable) { run_all(Isa::kPortable); }
TEST(WideGroup, Avx2) { run_all(Isa::kAvx2); }
TEST(WideGroup, Avx512) { run_all(Isa::kAvx512); }

// Inputs of 3 MiB or more with several groups run pixel-major in blocks of rows whose input
// rows are read first (see GemmConvKernel's constructor): a stride-2 layer whose blocks end
// mid-image, and a batch of 2 with dilation and asymmetric padding.
TEST(WideGroup, LargeInputsRunPixelMajorBlocks) {
  const WideCase big[] = {{1, 32, 96, 16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true},
                          {2, 24, 64, 16, 16, 16, 3, 3, 2, 2, 2, 1, 2, 2, 1, 1, false}};
  std::uint32_t seed = 900;
  for (const Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    if (effective_isa(isa) != isa) continue;
    for (const WideCase& c : big) {
      ASSERT_GE(c.n * c.h * c.w * c.groups * c.cig * 4, i64{3} << 20);
      check_case(c, isa, seed++);
    }
  }
}

TEST(WideGroup, EmptyBatch) {
  ConvDesc d;
  d.padding = Padding::kSame;
  d.groups = 2;
  const Shapes s = testing::shapes_for(d, 0, 8, 8, 64, 3, 3, 32, 64, true);
  const testing::Problem p = testing::make_problem(d, s, 1);
  PlanOptions o;
  o.force_kernel = "wide_group";
  std::string kernel;
  EXPECT_TRUE(testing::run_plan(p, o, &kernel).empty());
  EXPECT_EQ(kernel.rfind("wide_group_igemm", 0), 0u) << kernel;
}

TEST(WideGroup, DeclinesNarrowGroups) {
  ConvDesc d;
  d.padding = Padding::kSame;
  d.groups = 8;
  const Shapes s = testing::shapes_for(d, 1, 8, 8, 32, 3, 3, 4, 32, false);
  const testing::Problem p = testing::make_problem(d, s, 1);
  PlanOptions o;
  o.force_kernel = "wide_group";
  EXPECT_THROW(testing::run_plan(p, o), ShapeError);
}

}  // namespace
}  // namespace groupconv
