// The narrow-group family (2 <= Cig <= 16, Cog <= 16, not both 16) against the reference, for
// every ISA level, on generated edge cases: channel counts below / equal to / above a vector
// tile, padding at every border, widths below the register block, strides, dilations,
// non-square kernels, bias on/off, N = 1 and 2, unaligned buffers, 1 vs 2 threads.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "plan/kernel.hpp"
#include "test_util.hpp"

namespace groupconv {
namespace {

using testing::make_problem;
using testing::rel_l2;
using testing::run_reference;
using testing::shapes_for;

const char* isa_suffix(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "_avx512";
    case Isa::kAvx2:
      return "_avx2";
    case Isa::kPortable:
      return "_portable";
  }
  return "";
}

struct Case {
  int n, h, w, groups, cig, cog, kh, kw, sh, sw, dh, dw;
  Padding pad;
  std::array<std::int64_t, 4> pads;  // explicit only
  bool bias;
};

std::string describe_case(const Case& c) {
  return "n" + std::to_string(c.n) + " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " G" +
         std::to_string(c.groups) + " " + std::to_string(c.cig) + "->" + std::to_string(c.cog) +
         " k" + std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s" + std::to_string(c.sh) +
         "," + std::to_string(c.sw) + " d" + std::to_string(c.dh) + "," + std::to_string(c.dw) +
         " pad" + std::to_string(static_cast<int>(c.pad)) + (c.bias ? " bias" : "");
}

// Runs one case at one ISA level: checks the kernel is ours, matches the reference, and that
// 1 and 2 threads (and an unaligned copy of the buffers) give bit-identical output.
void check_case(const Case& c, Isa isa, std::uint32_t seed) {
  // A level this CPU (or GROUPCONV_MAX_ISA) does not allow runs as the level below it, which
  // the loop tests anyway.
  if (effective_isa(isa) != isa) return;
  ConvDesc d;
  d.groups = c.groups;
  d.strides = {c.sh, c.sw};
  d.dilations = {c.dh, c.dw};
  d.padding = c.pad;
  if (c.pad == Padding::kExplicit) d.explicit_pads = c.pads;
  const auto s =
      shapes_for(d, c.n, c.h, c.w, c.groups * c.cig, c.kh, c.kw, c.cig, c.groups * c.cog, c.bias);
  const auto p = make_problem(d, s, seed);
  const auto want = run_reference(p);
  const std::string what = describe_case(c) + " isa " + to_string(isa);

  std::vector<float> first;
  for (int threads : {1, 2}) {
    PlanOptions opt;
    opt.threads = threads;
    opt.min_flops_per_thread = 0;  // split even tiny test layers
    opt.max_isa = isa;
    opt.exact_isa = true;
    opt.force_kernel = "narrow_group";  // 1x1 would otherwise go to pointwise first
    Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), opt);
    const std::string& k = plan.kernel_name();
    ASSERT_EQ(k.rfind("narrow_group_", 0), 0u) << what << ": chose " << k << "\n"
                                               << plan.selection_log();
    ASSERT_NE(k.find(isa_suffix(isa)), std::string::npos) << what << ": chose " << k;
    if (threads == 1) {
      std::vector<float> y(want.size(), NAN);
      plan.execute(p.x.data(), y.data());
      ASSERT_LT(rel_l2(y, want), 1e-5) << what << " kernel " << k;
      first = y;
    } else {
      // Unaligned input and output (offset by one float), plus a guard after the output.
      std::vector<float> xs(p.x.size() + 1), ys(want.size() + 17, 12345.0f);
      std::memcpy(xs.data() + 1, p.x.data(), p.x.size() * sizeof(float));
      plan.execute(xs.data() + 1, ys.data() + 1);
      ASSERT_EQ(ys[0], 12345.0f) << what;
      for (std::size_t i = want.size() + 1; i < ys.size(); ++i) ASSERT_EQ(ys[i], 12345.0f) << what;
      ASSERT_EQ(std::memcmp(ys.data() + 1, first.data(), first.size() * sizeof(float)), 0)
          << what << ": 1 and 2 threads differ, kernel " << k;
    }
  }
}

const Isa kIsas[] = {Isa::kPortable, Isa::kAvx2, Isa::kAvx512};

// One case at every ISA level, one seed.
void check_every_isa(const Case& c, std::uint32_t seed) {
  for (Isa isa : kIsas) check_case(c, isa, seed);
}

// The suite's shapes scaled down, plus each mode of the AVX kernels (lane2/4/8, bcast with one
// and two vectors, perm1/perm2) on every fixed path (3x3 s1, 3x3 s2, 5x5 s1) and the generic one.
TEST(NarrowGroup, ModesAndPaths) {
  const int combos[][2] = {{4, 4},  {8, 8}, {2, 2}, {8, 16},  {3, 3},  {16, 8}, {16, 2},
                           {2, 16}, {5, 7}, {6, 3}, {12, 12}, {16, 1}, {3, 12}};
  const int kernels[][4] = {{3, 3, 1, 1}, {3, 3, 2, 2}, {5, 5, 1, 1}, {1, 1, 1, 1}, {2, 3, 1, 3}};
  std::uint32_t seed = 1;
  for (const auto& cc : combos) {
    for (const auto& kk : kernels) {
      // Groups: one tile, a partial tile, several tiles with a tail.
      for (int groups : {1, 3, 7}) {
        Case c{1,     9,     17, groups, cc[0],          cc[1],        kk[0],          kk[1],
               kk[2], kk[3], 1,  1,      Padding::kSame, {0, 0, 0, 0}, (seed % 2) == 0};
        for (Isa isa : kIsas) check_case(c, isa, seed);
        ++seed;
      }
    }
  }
}

// Widths below the register block, padding at every border, dilations, N = 2.
TEST(NarrowGroup, BordersSmallWidthsDilation) {
  std::uint32_t seed = 100;
  for (int w : {1, 2, 5, 12, 13, 27}) {
    for (int pad : {0, 1, 2}) {
      Case c{2, 6, w, 5, 4, 4, 3, 3, 1, 1, 1, 1, Padding::kExplicit, {pad, 2 - pad, pad, 2}, true};
      if (w + 2 + pad < 3) continue;
      for (Isa isa : kIsas) check_case(c, isa, seed++);
      Case dil{1, 9, w + 4, 3, 8, 8, 3, 3, 1, 1, 2, 2, Padding::kSame, {0, 0, 0, 0}, false};
      for (Isa isa : kIsas) check_case(dil, isa, seed++);
    }
  }
}

// Dilation along W at stride 1 with a fixed 3- or 5-wide path runs as phases of dilation 1
// (AVX): every mode, rows as narrow as the dilation, pads wider than a phase's reach, dilation
// along H or not, stride 2 along H, and the phase's fixed path named in the kernel.
TEST(NarrowGroup, DilationPhases) {
  const int combos[][2] = {{4, 4}, {8, 8}, {2, 2}, {8, 16}, {3, 3}, {16, 2}, {5, 7}};
  std::uint32_t seed = 7000;
  for (const auto& cc : combos) {
    for (const int d : {2, 3}) {
      for (const int k : {3, 5}) {
        for (const int w : {d, 2 * d + 1, 19}) {
          const int pw = (k - 1) * d;
          Case c{1,
                 6,
                 w,
                 3,
                 cc[0],
                 cc[1],
                 3,
                 k,
                 1,
                 1,
                 1,
                 d,
                 Padding::kExplicit,
                 {1, 1, pw / 2, pw - pw / 2},
                 (seed % 2) == 0};
          check_every_isa(c, seed++);
        }
      }
    }
  }
  const Case odd[] = {
      {2, 7, 13, 2, 8, 8, 3, 3, 1, 1, 2, 2, Padding::kExplicit, {2, 2, 5, 0}, true},
      {1, 8, 11, 4, 4, 4, 5, 5, 2, 1, 3, 2, Padding::kExplicit, {1, 4, 0, 9}, false},
      {1, 9, 20, 3, 6, 6, 3, 3, 1, 1, 1, 4, Padding::kValid, {0, 0, 0, 0}, true},
      {1, 9, 20, 3, 4, 8, 3, 3, 1, 1, 2, 2, Padding::kSame, {0, 0, 0, 0}, false}};
  for (const Case& c : odd) check_every_isa(c, seed++);
  if (effective_isa(Isa::kAvx2) == Isa::kAvx2) {
    ConvDesc d;
    d.groups = 4;
    d.dilations = {2, 2};
    d.padding = Padding::kSame;
    const auto p = make_problem(d, shapes_for(d, 1, 12, 12, 32, 3, 3, 8, 32, false), seed);
    PlanOptions opt;
    opt.max_isa = Isa::kAvx2;
    Plan plan(p.desc, p.shapes, p.w.data(), nullptr, opt);
    EXPECT_EQ(plan.kernel_name(), "narrow_group_8to8_bcast_1g_kw3s1d2_avx2");
  }
}

// One-vector broadcast tiles (Cog 5-8) on 3-wide kernels run 7-pixel blocks where those cover
// the row with fewer loads than 10-pixel ones (AVX2): rows of 7, 12-14, 21 and 35 pixels, at
// stride 1 and 2, SAME, VALID and asymmetric padding, with and without the compile-time
// group width (Cig 8 and others).
// On AVX-512 machines a plan that may (exact_isa = false) takes the AVX2 kernel for permute
// modes whose group count leaves the last vector partly empty, on 7-pixel rows, for 16-input
// groups two to a vector, and for broadcast tiles of at most 4 input channels or at most 4
// vectors a pixel; the AVX-512 one otherwise. Groups of 9-16 outputs on 2-D kernels go to
// the wide-group kernel (16-channel tiles), 1-D kernels stay.
TEST(NarrowGroup, AvxTwoKernelWhereItIsFasterOnAvx512Machines) {
  if (effective_isa(Isa::kAvx512) != Isa::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  struct Want {
    Case c;
    const char* head;
    const char* tail;
  };
  const char* narrow = "narrow_group_";
  const char* wide = "wide_group_igemm_";
  const Want wants[] = {
      {{1, 12, 12, 3, 8, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, narrow, "_avx2"},
      {{1, 7, 7, 8, 8, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, false}, narrow, "_avx2"},
      {{1, 10, 10, 4, 4, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, wide, "_avx512"},
      {{1, 10, 10, 6, 16, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, false}, narrow, "_avx2"},
      {{1, 9, 11, 3, 8, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, wide, "_avx512"},
      {{1, 9, 11, 16, 8, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, wide, "_avx512"},
      {{1, 11, 13, 5, 16, 12, 3, 3, 2, 2, 1, 1, Padding::kSame, {}, false}, wide, "_avx512"},
      {{1, 10, 9, 7, 3, 9, 5, 5, 1, 1, 2, 2, Padding::kSame, {}, true}, wide, "_avx512"},
      {{1, 9, 11, 3, 8, 16, 1, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, narrow, ""},
      {{1, 12, 12, 8, 8, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, {}, true}, narrow, "_avx512"}};
  for (const Want& w : wants) {
    const std::string what = describe_case(w.c);
    ConvDesc d;
    d.groups = w.c.groups;
    d.strides = {w.c.sh, w.c.sw};
    d.dilations = {w.c.dh, w.c.dw};
    d.padding = w.c.pad;
    const auto s = shapes_for(d, w.c.n, w.c.h, w.c.w, w.c.groups * w.c.cig, w.c.kh, w.c.kw, w.c.cig,
                              w.c.groups * w.c.cog, w.c.bias);
    const auto p = make_problem(d, s, 9);
    PlanOptions opt;
    opt.threads = 2;
    opt.min_flops_per_thread = 0;
    Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), opt);
    const std::string k = plan.kernel_name();
    ASSERT_EQ(k.rfind(w.head, 0), 0u) << what << ": " << k;
    const std::string tail = w.tail;
    EXPECT_EQ(k.substr(k.size() - tail.size()), tail) << what << ": " << k;
    std::vector<float> y(static_cast<std::size_t>(p.g.output_elements()));
    plan.execute(p.x.data(), y.data());
    EXPECT_LT(rel_l2(y, run_reference(p)), 1e-5) << what << ": " << k;
  }
}

TEST(NarrowGroup, SevenPixelBlocks) {
  std::uint32_t seed = 7500;
  for (const int cig : {8, 3, 6}) {
    for (const int cog : {8, 5}) {
      for (const int wo : {7, 12, 13, 14, 21, 35}) {
        for (const int s : {1, 2}) {
          const int w = (wo - 1) * s + 1;  // SAME-padded rows of wo pixels
          Case same{1,
                    5,
                    w,
                    3,
                    cig,
                    cog,
                    3,
                    3,
                    s,
                    s,
                    1,
                    1,
                    Padding::kExplicit,
                    {1, 1, 1, 1},
                    (seed % 2) == 0};
          check_every_isa(same, seed++);
        }
      }
    }
  }
  const Case odd[] = {
      {2, 6, 9, 4, 8, 8, 3, 3, 1, 1, 1, 1, Padding::kValid, {0, 0, 0, 0}, true},
      {1, 7, 14, 2, 8, 6, 3, 3, 1, 1, 1, 1, Padding::kExplicit, {0, 2, 2, 0}, false},
      {1, 9, 27, 5, 8, 8, 3, 3, 2, 2, 1, 1, Padding::kExplicit, {1, 0, 0, 1}, true}};
  for (const Case& c : odd) check_every_isa(c, seed++);
}

// Random geometries over the whole accepted range.
TEST(NarrowGroup, RandomGeometries) {
  std::mt19937 rng(4321);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    Case c{};
    c.n = pick(1, 2);
    c.cig = pick(2, 16);
    c.cog = pick(1, 16);
    if (c.cig == 16 && c.cog == 16) c.cog = 15;
    c.groups = pick(1, 6);
    c.kh = pick(1, 5);
    c.kw = pick(1, 5);
    c.sh = pick(1, 3);
    c.sw = pick(1, 3);
    c.dh = pick(1, 2);
    c.dw = pick(1, 2);
    c.h = pick((c.kh - 1) * c.dh + 1, 11);
    c.w = pick((c.kw - 1) * c.dw + 1, 30);
    c.bias = pick(0, 1) == 1;
    switch (pick(0, 2)) {
      case 0:
        c.pad = Padding::kValid;
        break;
      case 1:
        c.pad = Padding::kSame;
        break;
      default:
        c.pad = Padding::kExplicit;
        c.pads = {pick(0, 2), pick(0, 2), pick(0, 3), pick(0, 3)};
    }
    for (Isa isa : kIsas) check_case(c, isa, static_cast<std::uint32_t>(1000 + iter));
  }
}

// Input and output beyond 16 MiB (the batch-16 layers): each output row first reads its new
// input rows in address order (touch_rows), at stride 1 and 2.
TEST(NarrowGroup, StreamingLayers) {
  const Case cases[] = {
      {3, 56, 56, 32, 8, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, {0, 0, 0, 0}, true},
      {4, 64, 64, 32, 8, 8, 3, 3, 2, 2, 1, 1, Padding::kExplicit, {1, 1, 1, 1}, false},
  };
  for (const Case& c : cases) {
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) check_case(c, isa, 77);
  }
}

// What the family declines (depthwise, wide groups, more than 16 per group), saying why.
TEST(NarrowGroup, DeclinesOutsideItsRange) {
  for (const auto& cc : {std::array<int, 2>{1, 4}, {16, 16}, {32, 4}, {4, 17}, {17, 2}}) {
    ConvDesc d;
    d.groups = 2;
    d.padding = Padding::kSame;
    const auto s = shapes_for(d, 1, 5, 5, 2 * cc[0], 3, 3, cc[0], 2 * cc[1], false);
    const auto p = make_problem(d, s, 9);
    for (Isa isa : kIsas) {
      const detail::KernelProblem kp{&p.g, p.w.data(), nullptr, isa, true};
      std::string why;
      EXPECT_EQ(detail::make_narrow_group_kernel(kp, &why), nullptr) << cc[0] << "->" << cc[1];
      EXPECT_FALSE(why.empty()) << cc[0] << "->" << cc[1];
    }
  }
  // And what it accepts at the edges of its range.
  for (const auto& cc : {std::array<int, 2>{2, 1}, {16, 15}, {15, 16}, {2, 16}}) {
    ConvDesc d;
    d.groups = 3;
    const auto s = shapes_for(d, 1, 4, 4, 3 * cc[0], 1, 1, cc[0], 3 * cc[1], false);
    const auto p = make_problem(d, s, 10);
    const detail::KernelProblem kp{&p.g, p.w.data(), nullptr, Isa::kAvx2};
    std::string why;
    EXPECT_NE(detail::make_narrow_group_kernel(kp, &why), nullptr) << why;
  }
}

}  // namespace
}  // namespace groupconv
