#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "test_util.hpp"

namespace groupconv {
namespace {

using testing::make_problem;
using testing::rel_l2;
using testing::run_plan;
using testing::run_reference;
using testing::shapes_for;

// Random geometries through the default plan (whatever kernel it picks) vs the reference.
TEST(Plan, RandomGeometriesMatchReference) {
  std::mt19937 rng(1234);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 150; ++iter) {
    ConvDesc d;
    d.data_format = pick(0, 1) ? DataFormat::kNHWC : DataFormat::kNCHW;
    d.filter_format = pick(0, 1) ? FilterFormat::kHWIO : FilterFormat::kOIHW;
    const int groups = pick(1, 4);
    const int cig = pick(1, 5);
    const int cog = pick(1, 5);
    const int kh = pick(1, 4), kw = pick(1, 4);
    d.strides = {pick(1, 3), pick(1, 3)};
    d.dilations = {pick(1, 2), pick(1, 2)};
    d.groups = groups;
    switch (pick(0, 3)) {
      case 0:
        d.padding = Padding::kValid;
        break;
      case 1:
        d.padding = Padding::kSame;
        break;
      case 2:
        d.padding = Padding::kSameLower;
        break;
      default:
        d.padding = Padding::kExplicit;
        d.explicit_pads = {pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2)};
    }
    const int h = pick(kh * 2, 12), w = pick(kw * 2, 12);
    auto s = shapes_for(d, pick(1, 2), h, w, groups * cig, kh, kw, cig, groups * cog, pick(0, 1));
    auto p = make_problem(d, s, static_cast<std::uint32_t>(iter));
    const auto want = run_reference(p);
    for (int threads : {1, 2}) {
      PlanOptions opt;
      opt.threads = threads;
      opt.min_flops_per_thread = 0;  // split even tiny test layers
      std::string kernel;
      const auto got = run_plan(p, opt, &kernel);
      ASSERT_LT(rel_l2(got, want), 1e-5) << "iter " << iter << " kernel " << kernel;
    }
  }
}

TEST(Plan, OneAndTwoThreadsAreBitIdentical) {
  ConvDesc d;
  d.padding = Padding::kSame;
  d.groups = 4;
  auto p = make_problem(d, shapes_for(d, 2, 15, 13, 32, 3, 3, 8, 64, true), 7);
  PlanOptions one, two;
  one.threads = 1;
  one.min_flops_per_thread = 0;  // split even tiny test layers
  two.threads = 2;
  two.min_flops_per_thread = 0;  // split even tiny test layers
  const auto a = run_plan(p, one);
  const auto b = run_plan(p, two);
  ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

// Layers too small for another worker run on fewer threads (min_flops_per_thread), and give
// the same bits as the split run.
TEST(Plan, SmallLayersRunOnFewerThreads) {
  ConvDesc d;
  d.padding = Padding::kSame;
  d.groups = 32;
  // 7x7x32 depthwise 3x3: 2 * 49 * 32 * 9 = 28224 FLOPs.
  const auto tiny = make_problem(d, shapes_for(d, 1, 7, 7, 32, 3, 3, 1, 32, true), 11);
  PlanOptions opt;
  opt.threads = 4;
  Plan small(tiny.desc, tiny.shapes, tiny.w.data(), tiny.b.data(), opt);
  EXPECT_EQ(small.threads(), 1);
  opt.min_flops_per_thread = 10000;  // floor(28224 / 10000) = 2 workers
  EXPECT_EQ(plan_threads(tiny.g, opt), 2);
  opt.min_flops_per_thread = 0;
  Plan split(tiny.desc, tiny.shapes, tiny.w.data(), tiny.b.data(), opt);
  EXPECT_EQ(split.threads(), 4);
  std::vector<float> a(static_cast<std::size_t>(tiny.g.output_elements()));
  std::vector<float> b(a.size());
  small.execute(tiny.x.data(), a.data());
  split.execute(tiny.x.data(), b.data());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  // 56x56x32 depthwise 3x3 (1.8 MFLOPs) keeps both threads asked for.
  const auto big = make_problem(d, shapes_for(d, 1, 56, 56, 32, 3, 3, 1, 32, false), 12);
  opt = PlanOptions{};
  opt.threads = 2;
  EXPECT_EQ(plan_threads(big.g, opt), 2);
}

TEST(Plan, EmptyBatchGivesEmptyOutput) {
  ConvDesc d;
  d.padding = Padding::kSame;
  const Shapes s{{0, 8, 8, 4}, {3, 3, 4, 8}, std::nullopt};
  std::vector<float> w(3 * 3 * 4 * 8, 1.0f);
  Plan plan(d, s, w.data(), nullptr);
  EXPECT_EQ(plan.geometry().output_elements(), 0);
  plan.execute(nullptr, nullptr);  // nothing to read or write
}

TEST(Plan, SelectionLogNamesEveryCandidateUpToTheChosenOne) {
  ConvDesc d;
  d.groups = 2;
  const Shapes s{{1, 5, 5, 4}, {3, 3, 2, 4}, std::nullopt};
  std::vector<float> w(3 * 3 * 2 * 4, 1.0f);
  Plan plan(d, s, w.data(), nullptr);
  EXPECT_NE(plan.selection_log().find("chosen"), std::string::npos) << plan.selection_log();
  EXPECT_FALSE(plan.kernel_name().empty());
}

TEST(Plan, ForcedReferenceKernelIsUsed) {
  ConvDesc d;
  d.groups = 2;
  auto p = make_problem(d, shapes_for(d, 1, 6, 6, 4, 3, 3, 2, 4, false), 3);
  PlanOptions opt;
  opt.force_kernel = "reference";
  std::string kernel;
  const auto got = run_plan(p, opt, &kernel);
  EXPECT_EQ(kernel, "reference_double");
  EXPECT_LT(rel_l2(got, run_reference(p)), 1e-6);
}

}  // namespace
}  // namespace groupconv
