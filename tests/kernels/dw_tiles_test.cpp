// The channel-vector depthwise tiles (AVX-512; kernels/depthwise/dw_tiles.hpp), both kinds,
// against the reference on generated edge cases: channel counts that end in a partial vector
// or a partial block, rows narrower than a tile and every remainder tile, padding at each
// border (rows and columns entirely in the padding too), strides, dilation, non-square
// kernels, bias, batch; tasks run in one call or in pieces in reverse order, bit-identical.
// Then the plan's choice on AVX-512 machines: which layers take the tiles, which keep the
// depthwise kernel, and that the chosen kernel is right at 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "groupconv/backward.hpp"
#include "kernels/depthwise/dw_tiles_kernel.hpp"
#include "test_util.hpp"

namespace groupconv {
namespace {

using detail::DwTileMode;
using testing::make_problem;
using testing::Problem;
using testing::rel_l2;
using testing::run_reference;
using testing::shapes_for;

struct Case {
  int n, h, w, c, kh, kw, sh, sw, dh, dw;
  int pt, pb, pl, pr;
  bool bias;
};

std::string describe(const Case& k) {
  return "n=" + std::to_string(k.n) + " h=" + std::to_string(k.h) + " w=" + std::to_string(k.w) +
         " c=" + std::to_string(k.c) + " k=" + std::to_string(k.kh) + "x" + std::to_string(k.kw) +
         " s=" + std::to_string(k.sh) + "x" + std::to_string(k.sw) + " d=" + std::to_string(k.dh) +
         "x" + std::to_string(k.dw) + " pad=" + std::to_string(k.pt) + ":" + std::to_string(k.pb) +
         ":" + std::to_string(k.pl) + ":" + std::to_string(k.pr) + (k.bias ? " bias" : "");
}

Problem problem_for(const Case& k, std::uint32_t seed) {
  ConvDesc d;
  d.groups = k.c;
  d.strides = {k.sh, k.sw};
  d.dilations = {k.dh, k.dw};
  d.padding = Padding::kExplicit;
  d.explicit_pads = {k.pt, k.pb, k.pl, k.pr};
  return make_problem(d, shapes_for(d, k.n, k.h, k.w, k.c, k.kh, k.kw, 1, k.c, k.bias), seed);
}

bool have_avx512() { return effective_isa(Isa::kAvx512) == Isa::kAvx512; }

// Runs the kernel directly: all tasks in one call, and in single-task pieces from the last
// to the first (another thread's order). Returns the first; expects both to be bit-identical.
std::vector<float> run_kernel(const Problem& p, DwTileMode mode, std::string* name) {
  detail::KernelProblem kp;
  kp.g = &p.g;
  kp.filter_hwio = p.w.data();
  kp.bias = p.b.empty() ? nullptr : p.b.data();
  kp.isa = Isa::kAvx512;
  const std::unique_ptr<detail::Kernel> k = detail::make_dw_tile_kernel(kp, mode);
  if (k == nullptr) return {};
  *name = k->name();
  const auto ny = static_cast<std::size_t>(p.g.output_elements());
  std::vector<float> one(ny, NAN), pieces(ny, NAN);
  k->run(p.x.data(), one.data(), 0, k->num_tasks(), nullptr);
  for (std::int64_t t = k->num_tasks() - 1; t >= 0; --t) {
    k->run(p.x.data(), pieces.data(), t, t + 1, nullptr);
  }
  EXPECT_EQ(std::memcmp(one.data(), pieces.data(), ny * sizeof(float)), 0) << *name;
  return one;
}

void check(const Case& k, DwTileMode mode, std::uint32_t seed) {
  SCOPED_TRACE(describe(k) + (mode == DwTileMode::kSlide ? " slide" : " tiles"));
  const Problem p = problem_for(k, seed);
  std::string name;
  const std::vector<float> got = run_kernel(p, mode, &name);
  ASSERT_FALSE(got.empty()) << "the kernel declined";
  EXPECT_LT(rel_l2(got, run_reference(p)), 2e-6) << name;
}

Case same(int n, int h, int w, int c, int k, int s, bool bias) {
  const int pad = k - 1;
  return {n, h, w, c, k, k, s, s, 1, 1, pad / 2, pad - pad / 2, pad / 2, pad - pad / 2, bias};
}

// 1-1040 channels: one to four vectors a block, several blocks, partial last vectors.
TEST(DepthwiseTiles, ChannelCountsAroundEveryVectorAndBlock) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512 here";
  std::uint32_t seed = 1;
  for (int c : {1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 100, 128, 130, 1040}) {
    check(same(1, 6, 13, c, 3, 1, true), DwTileMode::kTiles, seed++);
    check(same(1, 7, 12, c, 3, 2, c % 2 == 0), DwTileMode::kTiles, seed++);
    // The sliding tiles take whole vectors only.
    const Case k = same(1, 6, 13, c, 5, 1, true);
    if (c % 16 == 0) {
      check(k, DwTileMode::kSlide, seed++);
      check(same(1, 7, 12, c, 7, 2, false), DwTileMode::kSlide, seed++);
    } else {
      std::string name;
      EXPECT_TRUE(run_kernel(problem_for(k, seed++), DwTileMode::kSlide, &name).empty())
          << describe(k) << ": the sliding tiles took a partial vector (" << name << ")";
    }
  }
}

// Every row width up to two tiles and more (the balanced tiles of every size, rows narrower
// than one tile, rows with no interior column) for each kernel width the sliding tiles
// compile, at both strides.
TEST(DepthwiseTiles, EveryRowWidthAndKernel) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512 here";
  std::uint32_t seed = 100;
  for (int k : {3, 5, 7}) {
    for (int s : {1, 2}) {
      for (int w = 1; w <= 25; ++w) {
        for (DwTileMode mode : {DwTileMode::kTiles, DwTileMode::kSlide}) {
          check(same(1, 4 + k / 2, w, 48, k, s, w % 3 == 0), mode, seed++);
        }
      }
    }
  }
}

// Explicit and asymmetric paddings, VALID, pads wider than the kernel (rows and columns whose
// taps all fall in the padding: the output is the bias), batch 2.
TEST(DepthwiseTiles, PaddingsAndBatch) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512 here";
  // n h w c kh kw sh sw dh dw pt pb pl pr bias
  const Case cases[] = {
      {2, 9, 11, 48, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, true},   // VALID, batch 2
      {1, 9, 11, 48, 3, 3, 1, 1, 1, 1, 2, 0, 0, 2, false},  // one-sided pads
      {1, 5, 6, 64, 3, 3, 1, 1, 1, 1, 4, 4, 5, 5, true},    // rows/columns all in padding
      {1, 8, 17, 32, 5, 5, 2, 2, 1, 1, 0, 4, 4, 0, true},   // stride 2, one-sided
      {2, 10, 23, 96, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, false},
      {1, 3, 3, 16, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, true},  // a map smaller than the kernel
  };
  std::uint32_t seed = 300;
  for (const Case& k : cases) {
    for (DwTileMode mode : {DwTileMode::kTiles, DwTileMode::kSlide}) check(k, mode, seed++);
  }
}

// The plain tiles take any kernel, stride and dilation; the sliding ones decline what they
// cannot walk (dilation along W, strides above 2, other kernel widths).
TEST(DepthwiseTiles, PlainTilesAnyShapeSlidingOnlyTheirs) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512 here";
  // n h w c kh kw sh sw dh dw pt pb pl pr bias
  const Case plain_only[] = {
      {1, 12, 14, 40, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true},   // dilation 2
      {1, 13, 16, 33, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, false},  // stride 3
      {1, 9, 10, 64, 1, 4, 1, 1, 1, 1, 0, 0, 1, 2, true},    // 1x4
      {1, 11, 9, 20, 2, 2, 2, 1, 1, 1, 0, 1, 0, 1, true},    // 2x2, stride 2x1
  };
  std::uint32_t seed = 400;
  for (const Case& k : plain_only) {
    check(k, DwTileMode::kTiles, seed++);
    std::string name;
    EXPECT_TRUE(run_kernel(problem_for(k, seed++), DwTileMode::kSlide, &name).empty())
        << describe(k) << ": the sliding tiles took it (" << name << ")";
  }
  // Non-square kernels whose width the sliding tiles compile: any kernel height.
  const Case sliding[] = {
      {1, 12, 14, 48, 1, 3, 1, 1, 1, 1, 0, 0, 1, 1, true},
      {1, 12, 30, 32, 5, 3, 2, 2, 1, 1, 2, 2, 1, 1, true},
      {1, 12, 14, 16, 2, 7, 1, 2, 2, 1, 1, 1, 3, 3, false},  // dilation along H only
  };
  for (const Case& k : sliding) {
    for (DwTileMode mode : {DwTileMode::kTiles, DwTileMode::kSlide}) check(k, mode, seed++);
  }
}

// The plan's choice on AVX-512 machines (PlanOptions::exact_isa off), and its result at 1 and
// 2 threads.
TEST(DepthwiseTiles, PlanTakesTilesWhereTheyMeasuredFaster) {
  if (!have_avx512()) GTEST_SKIP() << "no AVX-512 here";
  struct Want {
    Case k;
    const char* kernel;  // a substring of the plan's kernel name; nullptr: not the tiles
  };
  const Want wants[] = {
      {same(1, 30, 30, 48, 3, 1, true), "_slide_10x32_avx512"},    // 3x3, 30-pixel rows
      {same(1, 28, 28, 128, 5, 1, false), "_slide_8x32_avx512"},   // 5x5, >= 128 channels
      {same(1, 12, 56, 128, 7, 1, true), "_slide_6x32_avx512"},    // 7x7, 56-pixel rows
      {same(1, 16, 16, 256, 3, 2, true), "_tiles_6x64_avx512"},    // 3x3 s2, 4 L1 sets
      {same(1, 14, 14, 96, 5, 2, false), "_slide_8x32_avx512"},    // 5x5 s2
      {same(1, 14, 14, 1024, 3, 1, true), "_tiles_6x64_avx512"},   // 1024 channels
      {same(1, 12, 20, 48, 3, 1, true), nullptr},                  // 20-pixel rows
      {same(1, 7, 7, 96, 7, 1, true), nullptr},                    // 7x7 on 7-pixel rows
      {same(1, 14, 14, 512, 3, 1, false), "_slide_10x32_avx512"},  // 14 pixels, 2 L1 sets
      {same(1, 14, 14, 96, 3, 1, false), nullptr},                 // 14 pixels, 32 L1 sets
      {same(1, 6, 56, 96, 3, 2, true), "_slide_10x32_avx512"},     // 3x3 s2, 28 outputs
      {same(1, 14, 14, 384, 3, 2, true), nullptr},                 // 3x3 s2, 8 L1 sets
      {same(1, 7, 7, 1024, 3, 1, true), nullptr},                  // 1024 on 7-pixel rows
  };
  std::uint32_t seed = 500;
  for (const Want& w : wants) {
    SCOPED_TRACE(describe(w.k));
    const Problem p = problem_for(w.k, seed++);
    const auto want = run_reference(p);
    std::vector<float> ys[2];
    for (int threads : {1, 2}) {
      PlanOptions opt;
      opt.threads = threads;
      opt.min_flops_per_thread = 0;
      std::string name;
      ys[threads - 1] = testing::run_plan(p, opt, &name);
      if (w.kernel != nullptr) {
        EXPECT_NE(name.find(w.kernel), std::string::npos) << name;
      } else {
        EXPECT_EQ(name.find("_tiles_"), std::string::npos) << name;
        EXPECT_EQ(name.find("_slide_"), std::string::npos) << name;
      }
      EXPECT_LT(rel_l2(ys[threads - 1], want), 2e-6) << name;
    }
    EXPECT_EQ(std::memcmp(ys[0].data(), ys[1].data(), ys[0].size() * sizeof(float)), 0);
    // exact_isa keeps the depthwise kernel's own AVX-512 code.
    PlanOptions exact;
    exact.exact_isa = true;
    std::string name;
    testing::run_plan(p, exact, &name);
    EXPECT_EQ(name.find("_tiles_"), std::string::npos) << name;
    EXPECT_EQ(name.find("_slide_"), std::string::npos) << name;
  }
}

// Random depthwise layers through default plans (on AVX-512 machines the rule sends many of
// them to the tiles, the others to the depthwise kernel), the forward and the input gradient
// (at stride 1 a forward convolution on the same kernels), 1 or 2 threads.
TEST(DepthwiseTiles, RandomLayersThroughDefaultPlans) {
  std::mt19937 rng(2026);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tiles = 0;
  for (int i = 0; i < 60; ++i) {
    const int k = 3 + 2 * pick(0, 2);
    const int c = pick(0, 3) == 0 ? pick(1, 70) : 16 * pick(1, 40);
    const int s = pick(1, 2);
    const Case kc{pick(1, 2), pick(k, 24), pick(k, 40), c,          k,
                  k,          s,           s,           1,          1,
                  pick(0, k), pick(0, k),  pick(0, k),  pick(0, k), pick(0, 1) == 1};
    SCOPED_TRACE(describe(kc));
    const Problem p = problem_for(kc, static_cast<std::uint32_t>(600 + i));
    PlanOptions opt;
    opt.threads = pick(1, 2);
    opt.min_flops_per_thread = 0;
    std::string name;
    const auto y = testing::run_plan(p, opt, &name);
    tiles += name.find("_tiles_") != std::string::npos || name.find("_slide_") != std::string::npos;
    EXPECT_LT(rel_l2(y, run_reference(p)), 2e-6) << name;
    const auto os = p.g.output_shape();
    const std::vector<std::int64_t> dy_shape(os.begin(), os.end());
    Shapes sb = p.shapes;
    sb.bias.reset();
    BackwardDataPlan bp(p.desc, sb, dy_shape, p.w.data(), opt);
    const auto dy = testing::random_floats(static_cast<std::size_t>(p.g.output_elements()), 7);
    std::vector<float> dx(static_cast<std::size_t>(p.g.input_elements()), NAN);
    std::vector<float> want(dx.size());
    bp.execute(dy.data(), dx.data());
    reference_backward_data(p.g, dy.data(), p.w.data(), want.data());
    EXPECT_LT(rel_l2(dx, want), 2e-6) << bp.kernel_name();
  }
  if (have_avx512()) {
    EXPECT_GT(tiles, 10) << "the rule should send a good share of them to the tiles";
  }
}

}  // namespace
}  // namespace groupconv
