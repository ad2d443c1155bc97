// The pointwise family (1x1 as a GEMM per group) against the reference kernel, on every ISA
// path this CPU has: channel counts around each register tile (incl. ShuffleNet's 3 groups of
// 80 -> 20 and 20 -> 80), pixel counts below / above the pixel tile, strides (square and
// asymmetric), bias on / off, N = 1 and 2, G = 1 and G > 1; 1 vs 2 threads bit-identical;
// unaligned buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.hpp"

namespace groupconv {
namespace {

using i64 = std::int64_t;

struct PwCase {
  i64 n, h, w, groups, cig, cog, sh, sw;
  bool bias;
};

void check_pointwise(const PwCase& c, Isa isa, std::uint32_t seed) {
  ConvDesc d;
  d.strides = {c.sh, c.sw};
  d.padding = Padding::kValid;
  d.groups = c.groups;
  const Shapes s = testing::shapes_for(d, c.n, c.h, c.w, c.groups * c.cig, 1, 1, c.cig,
                                       c.groups * c.cog, c.bias);
  const testing::Problem p = testing::make_problem(d, s, seed);
  const std::vector<float> want = testing::run_reference(p);
  const std::string what = "n=" + std::to_string(c.n) + " h=" + std::to_string(c.h) +
                           " w=" + std::to_string(c.w) + " G=" + std::to_string(c.groups) +
                           " cig=" + std::to_string(c.cig) + " cog=" + std::to_string(c.cog) +
                           " s=" + std::to_string(c.sh) + "," + std::to_string(c.sw) +
                           (c.bias ? " bias" : "") + " isa=" + to_string(isa);
  PlanOptions o;
  o.max_isa = isa;
  o.threads = 1;
  o.min_flops_per_thread = 0;  // split even tiny test layers
  std::string kernel;
  const std::vector<float> one = testing::run_plan(p, o, &kernel);
  EXPECT_EQ(kernel.rfind("pointwise_gemm", 0), 0u) << what << " chose " << kernel;
  EXPECT_NE(kernel.find(to_string(isa)), std::string::npos) << what << " chose " << kernel;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < one.size(); ++i) {
    const double tol = 1e-4 * (1.0 + std::fabs(static_cast<double>(want[i])));
    if (!(std::fabs(static_cast<double>(one[i]) - static_cast<double>(want[i])) <= tol) &&
        ++bad <= 3) {
      ADD_FAILURE() << what << ": element " << i << " got " << one[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what;

  o.threads = 2;
  o.min_flops_per_thread = 0;  // split even tiny test layers
  const std::vector<float> two = testing::run_plan(p, o);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0)
      << what << ": 1 vs 2 threads differ";

  Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), o);
  std::vector<float> xbuf(p.x.size() + 3), ybuf(one.size() + 3, NAN);
  std::copy(p.x.begin(), p.x.end(), xbuf.begin() + 3);
  plan.execute(xbuf.data() + 3, ybuf.data() + 3);
  EXPECT_EQ(std::memcmp(one.data(), ybuf.data() + 3, one.size() * sizeof(float)), 0)
      << what << ": unaligned buffers differ";
}

std::vector<PwCase> pw_cases() {
  std::vector<PwCase> v;
  v.push_back({1, 6, 6, 3, 80, 20, 1, 1, false});  // ShuffleNet reduce, small map
  v.push_back({1, 5, 7, 3, 20, 80, 1, 1, true});   // ShuffleNet expand
  for (i64 cog : {8, 9, 16, 17, 24, 31, 32, 33, 47, 48, 49, 64, 72}) {
    v.push_back({1, 3, 5, cog > 40 ? 1 : 2, 12, cog, 1, 1, cog % 2 == 0});
  }
  for (i64 cig : {8, 13, 64, 97}) v.push_back({1, 4, 4, 2, cig, 16, 1, 1, true});
  for (i64 hw : {1, 2, 3, 4, 11}) v.push_back({1, hw, hw + 2, 1, 16, 32, 1, 1, false});
  v.push_back({2, 9, 7, 2, 24, 40, 1, 1, true});    // batch 2
  v.push_back({1, 9, 11, 2, 16, 24, 2, 2, true});   // strided
  v.push_back({2, 7, 13, 1, 32, 16, 1, 3, false});  // asymmetric stride
  v.push_back({1, 10, 5, 3, 8, 8, 3, 1, true});
  return v;
}

void run_all_pointwise(Isa isa) {
  if (effective_isa(isa) != isa) GTEST_SKIP() << to_string(isa) << " not available here";
  std::uint32_t seed = 500;
  for (const PwCase& c : pw_cases()) {
    check_pointwise(c, isa, seed += 11);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(Pointwise, Portable) { run_all_pointwise(Isa::kPortable); }
TEST(Pointwise, Avx2) { run_all_pointwise(Isa::kAvx2); }
TEST(Pointwise, Avx512) { run_all_pointwise(Isa::kAvx512); }

TEST(Pointwise, DeclinesOtherShapes) {
  for (const auto& [k, cig, pad] :
       std::vector<std::tuple<i64, i64, bool>>{{3, 16, false}, {1, 4, false}, {1, 16, true}}) {
    ConvDesc d;
    d.padding = pad ? Padding::kExplicit : Padding::kValid;
    d.explicit_pads = {1, 1, 1, 1};
    d.groups = 2;
    const Shapes s = testing::shapes_for(d, 1, 6, 6, 2 * cig, k, k, cig, 32, false);
    const testing::Problem p = testing::make_problem(d, s, 3);
    PlanOptions o;
    o.force_kernel = "pointwise";
    EXPECT_THROW(testing::run_plan(p, o), ShapeError) << k << " " << cig << " " << pad;
  }
}

}  // namespace
}  // namespace groupconv
