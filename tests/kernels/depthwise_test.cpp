// The depthwise family against the reference on generated edge cases, at every ISA level:
// channel counts around each vector tile, padding taps at every border, widths below the
// register block, strides, dilations, multipliers, kernel shapes, bias, batch; 1 vs 2 threads
// bit-identical; unaligned user buffers; the non-temporal store path.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "plan/kernel.hpp"
#include "test_util.hpp"

namespace groupconv {
namespace {

using testing::make_problem;
using testing::Problem;
using testing::rel_l2;
using testing::run_reference;
using testing::shapes_for;

struct Case {
  int n, h, w, c, m, kh, kw, sh, sw, dh, dw;
  int pt, pb, pl, pr;  // explicit padding
  bool bias;
};

std::string describe(const Case& k) {
  return "n=" + std::to_string(k.n) + " h=" + std::to_string(k.h) + " w=" + std::to_string(k.w) +
         " c=" + std::to_string(k.c) + " m=" + std::to_string(k.m) + " k=" + std::to_string(k.kh) +
         "x" + std::to_string(k.kw) + " s=" + std::to_string(k.sh) + "x" + std::to_string(k.sw) +
         " d=" + std::to_string(k.dh) + "x" + std::to_string(k.dw) +
         " pad=" + std::to_string(k.pt) + ":" + std::to_string(k.pb) + ":" + std::to_string(k.pl) +
         ":" + std::to_string(k.pr) + (k.bias ? " bias" : "");
}

Problem problem_for(const Case& k, std::uint32_t seed) {
  ConvDesc d;
  d.strides = {k.sh, k.sw};
  d.dilations = {k.dh, k.dw};
  d.padding = Padding::kExplicit;
  d.explicit_pads = {k.pt, k.pb, k.pl, k.pr};
  return make_problem(d, shapes_for(d, k.n, k.h, k.w, k.c, k.kh, k.kw, 1, k.c * k.m, k.bias), seed);
}

// Runs the plan on copies of the data placed `offset` floats past a 64-byte boundary.
std::vector<float> run_at(const Problem& p, Isa isa, int threads, std::size_t offset,
                          std::string* kernel) {
  PlanOptions opt;
  opt.threads = threads;
  opt.min_flops_per_thread = 0;  // split even tiny test layers
  opt.max_isa = isa;
  opt.exact_isa = true;
  Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), opt);
  *kernel = plan.kernel_name();
  const std::size_t nx = p.x.size(), ny = static_cast<std::size_t>(p.g.output_elements());
  std::vector<float> xbuf(nx + 32), ybuf(ny + 32, NAN);
  auto align = [](std::vector<float>& v, std::size_t off) {
    const auto addr = reinterpret_cast<std::uintptr_t>(v.data());
    return v.data() + ((64 - addr % 64) % 64) / sizeof(float) + off;
  };
  float* xp = align(xbuf, offset);
  float* yp = align(ybuf, offset);
  std::memcpy(xp, p.x.data(), nx * sizeof(float));
  plan.execute(xp, yp);
  return {yp, yp + ny};
}

// The W-specialised blocks: dilation 1 at stride 1 or 2, or a dilation along W at stride 1
// run as phases of dilation 1 (when every phase has input and output columns).
bool specialised(const Case& k) {
  if (k.m != 1 || (k.kw != 3 && k.kw != 5 && k.kw != 7)) return false;
  if (k.dw == 1) return k.sw == 1 || k.sw == 2;
  const int wo = (k.w + k.pl + k.pr - k.dw * (k.kw - 1) - 1) / k.sw + 1;
  return k.sw == 1 && k.w >= k.dw && wo >= k.dw;
}

void check(const Case& k, std::uint32_t seed) {
  SCOPED_TRACE(describe(k));
  const Problem p = problem_for(k, seed);
  const auto want = run_reference(p);
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    SCOPED_TRACE(to_string(isa));
    std::string k1, k2, k3;
    const auto one = run_at(p, isa, 1, 0, &k1);
    const auto two = run_at(p, isa, 2, 0, &k2);
    const auto odd = run_at(p, isa, 3, 1, &k3);  // 4-byte offset, 3 threads
    const std::string tail = std::string("_") + to_string(effective_isa(isa));
    ASSERT_EQ(k1.rfind("dwconv_", 0), 0u) << k1;
    ASSERT_TRUE(k1.size() > tail.size() &&
                k1.compare(k1.size() - tail.size(), tail.size(), tail) == 0)
        << k1;
    ASSERT_EQ(k1.find("any_") == std::string::npos, specialised(k)) << k1;
    ASSERT_EQ(k1, k2);
    ASSERT_EQ(k1, k3);
    ASSERT_LT(rel_l2(one, want), 2e-6) << k1;
    ASSERT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0) << k1;
    ASSERT_EQ(std::memcmp(one.data(), odd.data(), one.size() * sizeof(float)), 0) << k1;
  }
}

Case same(int n, int h, int w, int c, int m, int kh, int kw, int s, bool bias) {
  const int ph = kh - 1, pw = kw - 1;
  return {n, h, w, c, m, kh, kw, s, s, 1, 1, ph / 2, ph - ph / 2, pw / 2, pw - pw / 2, bias};
}

// Several channel groups per pixel too: on AVX2, 100 channels under a 7x7 kernel end in a
// group of one tail tile (masked), 130 under a 3x3 in a tail moved back into its group.
TEST(Depthwise, ChannelCountsAroundEveryTile) {
  std::uint32_t seed = 1;
  for (int c : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40, 48, 100, 130}) {
    check(same(1, 9, 11, c, 1, 3, 3, 1, c % 2 == 0), seed++);
    check(same(1, 8, 7, c, 1, 7, 7, 2, c % 2 == 1), seed++);
  }
}

TEST(Depthwise, SpecialisedKernelsEveryBorder) {
  std::uint32_t seed = 100;
  for (int kw : {3, 5, 7}) {
    for (int kh : {1, 3, 5, 7}) {
      for (int s : {1, 2}) {
        // Widths below, at and above the register blocks (4-float / 8 / 16 pixels).
        for (int w : {1, 2, kw, 9, 19, 37}) {
          const int c = 17 + (w % 3) * 8;
          check(same(1, 6 + s, w, c, 1, kh, kw, s, (w + kh) % 2 == 0), seed++);
        }
      }
    }
  }
  // Asymmetric and oversized padding, VALID, asymmetric strides.
  check({1, 10, 23, 16, 1, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, true}, seed++);
  check({1, 10, 23, 16, 1, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, false}, seed++);
  check({2, 12, 30, 20, 1, 5, 5, 1, 2, 1, 1, 0, 0, 0, 0, true}, seed++);
  check({1, 12, 30, 20, 1, 7, 7, 2, 1, 1, 1, 3, 3, 3, 3, false}, seed++);
  check({1, 13, 29, 33, 1, 7, 5, 3, 2, 1, 1, 1, 3, 4, 0, true}, seed++);
}

// Every row width from 1 to 40: rows narrower than the narrowest instantiated block (one
// block that stores only the row), rows of one block, rows cut into several near-equal blocks
// whose first and last include the border pixels; symmetric, asymmetric and no padding.
TEST(Depthwise, EveryRowWidth) {
  std::uint32_t seed = 500;
  for (int kw : {3, 5, 7}) {
    for (int s : {1, 2}) {
      for (int w = 1; w <= 40; ++w) {
        const int pl = w % 3 == 0 ? 0 : (kw - 1) / 2 + (w % 3 == 2 ? 1 : 0);
        const int pr = w % 3 == 0 ? 0 : kw - 1 - (kw - 1) / 2;
        if (w + pl + pr < kw) continue;
        const int c = w % 2 == 0 ? 13 : 24;  // tail tile vs full tiles only
        check({1, 4, w, c, 1, 3, kw, 1, s, 1, 1, 1, 1, pl, pr, w % 4 == 1}, seed++);
      }
    }
  }
}

// Column strips (several per row when the pixel stride reaches few L1 sets: 192 and 384
// channels) and the compile-time edge blocks of 5x5 at stride 2 (0-2 padded columns at either
// end) and of 5x5 / 7x7 at stride 1 (KW/2), next to pads that take the address table.
TEST(Depthwise, StripsAndEdgePadsOfWideKernels) {
  std::uint32_t seed = 4000;
  for (int c : {192, 384}) {
    for (int w : {14, 28, 30}) check(same(1, 5, w, c, 1, 3, 3, 1, w == 28), seed++);
  }
  check(same(2, 6, 56, 96, 1, 3, 3, 2, true), seed++);
  for (int w = 9; w <= 22; ++w) {
    for (auto [pl, pr] : {std::pair{1, 2}, {2, 1}, {1, 1}, {0, 2}, {2, 2}, {3, 1}}) {
      check({1, 5, w, 24, 1, 5, 5, 2, 2, 1, 1, 2, 2, pl, pr, w % 2 == 0}, seed++);
    }
    check({1, 5, w, 16, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, false}, seed++);
    check({1, 8, w, 16, 1, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, true}, seed++);
    check({1, 8, w, 16, 1, 7, 7, 1, 1, 1, 1, 3, 3, 2, 4, false}, seed++);
  }
}

TEST(Depthwise, GenericKernelShapesStridesDilations) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    Case k{};
    k.n = pick(1, 3) == 3 ? 3 : 1;
    k.kh = pick(1, 7);
    k.kw = pick(1, 7);
    k.sh = pick(1, 3);
    k.sw = pick(1, 3);
    k.dh = pick(1, 2);
    k.dw = pick(1, 3);
    k.c = pick(1, 40);
    k.m = 1;
    k.pt = pick(0, k.kh - 1);
    k.pb = pick(0, k.kh - 1);
    k.pl = pick(0, k.kw - 1);
    k.pr = pick(0, k.kw - 1);
    k.h = pick((k.kh - 1) * k.dh + 1, 14);
    k.w = pick((k.kw - 1) * k.dw + 1, 40);
    k.bias = pick(0, 1) == 1;
    check(k, 1000 + static_cast<std::uint32_t>(iter));
  }
}

TEST(Depthwise, Multipliers) {
  std::uint32_t seed = 2000;
  for (int m : {2, 3, 4, 5, 16}) {
    for (int c : {1, 5, 8, 17}) {
      check(same(1, 9, 13, c, m, 3, 3, 1, c % 2 == 0), seed++);
      check(same(3, 8, 10, c, m, 5, 2, 2, c % 2 == 1), seed++);
    }
  }
  check({1, 11, 17, 7, 2, 3, 3, 2, 1, 2, 2, 1, 1, 2, 2, true}, seed++);
}

TEST(Depthwise, BatchAndWideRows) {
  check(same(3, 14, 40, 24, 1, 3, 3, 1, true), 3000);
  check(same(3, 14, 40, 24, 1, 3, 3, 2, false), 3001);
  check(same(2, 9, 57, 48, 1, 7, 7, 1, true), 3002);
}

// Fewer images than threads: the cache-resident 3x3 layers give each thread a band of rows
// (one-row tasks, bands of uneven height, more bands than some maps have rows). Every thread
// count must write every output element, bit-identical to one thread.
// Pixel strides that fold onto few L1 sets run on packed copies of each task's input rows
// (5x5 and larger at 128, 256, 384... channels, strided ones at 512 and 1024 only; 3x3 at
// 1024, and at 512 on rows narrower than 14): windows of a few output
// rows with the kernel's halo rows copied again, kernel rows in the padding, strides,
// dilations (a taller window; along W the generic blocks), asymmetric pads and batches.
TEST(Depthwise, PackedWindowsOfAliasingStrides) {
  std::uint32_t seed = 4500;
  check(same(1, 14, 14, 512, 1, 3, 3, 1, true), seed++);
  check(same(2, 7, 7, 1024, 1, 3, 3, 1, false), seed++);
  check(same(1, 13, 13, 1024, 1, 3, 3, 2, true), seed++);
  check(same(1, 12, 56, 128, 1, 7, 7, 1, true), seed++);
  check(same(2, 11, 28, 256, 1, 5, 5, 2, false), seed++);  // in place since 4 sets at stride 2
  check(same(1, 11, 14, 512, 1, 5, 5, 2, false), seed++);
  check({1, 12, 15, 1024, 1, 7, 7, 2, 2, 1, 1, 3, 2, 3, 3, true}, seed++);
  check({1, 10, 20, 384, 1, 7, 7, 1, 1, 2, 1, 5, 4, 3, 3, true}, seed++);
  check({1, 9, 17, 256, 1, 5, 5, 1, 1, 1, 2, 0, 3, 1, 2, false}, seed++);
  check({1, 16, 16, 128, 1, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, true}, seed++);
}

// 3x3 stride 2 on 256 channels (a 1 KiB pixel stride, 4 of L1's sets), 3x3 stride 1 on 512
// channels (2 sets) with rows of 14 pixels or more, and 5x5 / 7x7 at stride 2 on 4-8 sets:
// AVX2 runs adjacent tiles in pairs, 2-4 pixels a block; rows narrower than 2, every border,
// 1-3 kernel rows, row dilation and stride.
TEST(Depthwise, TilePairsOfFoldingStrides) {
  std::uint32_t seed = 5200;
  for (const int w : {1, 2, 3, 4, 5, 8, 9, 15, 28}) {
    check(same(1, 7, w, 256, 1, 3, 3, 2, w % 2 == 0), seed++);
  }
  check(same(2, 9, 13, 256, 1, 1, 3, 2, true), seed++);
  check({1, 11, 14, 256, 1, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, false}, seed++);
  check({1, 6, 17, 256, 1, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2, true}, seed++);
  check({1, 12, 12, 768, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true}, seed++);
  for (const int w : {14, 15, 16, 21, 28}) {
    check(same(1, 5, w, 512, 1, 3, 3, 1, w % 2 == 1), seed++);
  }
  check({1, 9, 18, 512, 1, 3, 3, 1, 1, 2, 1, 2, 2, 1, 1, true}, seed++);
  check({2, 6, 16, 512, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, false}, seed++);
  check({1, 7, 14, 512, 1, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, true}, seed++);
  check(same(1, 4, 14, 1536, 1, 3, 3, 1, true), seed++);
  for (const int k : {5, 7}) {  // 5x5 and 7x7 at stride 2 on 4-8 sets
    for (const int w : {1, 2, 3, 6, 15, 28}) {
      check(same(1, 9, w, 128, 1, k, k, 2, w % 2 == 0), seed++);
    }
    check(same(2, 8, 14, 384, 1, k, k, 2, true), seed++);
    check({1, 11, 17, 256, 1, k, k, 2, 2, 1, 1, 0, k - 1, k / 2, 1, false}, seed++);
    check({1, 10, 16, 128, 1, k, k, 1, 2, 2, 1, 3, 3, 2, 2, true}, seed++);
  }
  for (const int c : {512, 1024, 1536}) {  // stride 2 on 1 and 2 sets: pairs, never copies
    check(same(1, 9, 14, c, 1, 3, 3, 2, c == 512), seed++);
    check({1, 7, 5, c, 1, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, c != 512}, seed++);
  }
  // The pairs run where the ISA is AVX2 (AVX-512 tiles are whole lines already).
  for (const Case& k :
       {same(1, 8, 8, 256, 1, 3, 3, 2, true), same(1, 6, 14, 512, 1, 3, 3, 1, true),
        same(1, 14, 14, 1024, 1, 3, 3, 2, false), same(1, 14, 14, 128, 1, 7, 7, 2, false),
        same(1, 14, 14, 256, 1, 5, 5, 2, true)}) {
    const Problem p = problem_for(k, seed);
    std::string name;
    run_at(p, Isa::kAvx2, 1, 0, &name);
    if (effective_isa(Isa::kAvx2) == Isa::kAvx2) {
      EXPECT_NE(name.find("_pairs_"), std::string::npos) << name;
    }
  }
}

// Dilation along W at stride 1 runs as phases of dilation 1 (see dw::Params::phases): every
// residue of the output columns, rows as narrow as the dilation, pads wider than a phase's
// kernel reach, dilation along H too or not, stride 2 along H, channel tails, batch, and the
// pixel strides of the phases that fold onto few L1 sets (tile pairs, packed windows).
TEST(Depthwise, DilationPhases) {
  std::uint32_t seed = 6100;
  for (const int d : {2, 3, 4}) {
    for (const int k : {3, 5, 7}) {
      for (const int w : {d, d + 1, 2 * d + 1, 17, 30}) {
        const int pw = (k - 1) * d;
        const Case c{1, 5, w, 24, 1, 3, k, 1, 1, 1, d, 1, 1, pw / 2, pw - pw / 2, w % 2 == 0};
        check(c, seed++);
      }
    }
  }
  check({1, 9, 20, 40, 1, 3, 3, 1, 1, 1, 2, 0, 0, 0, 0, true}, seed++);    // VALID
  check({1, 8, 19, 16, 1, 5, 5, 2, 1, 3, 2, 1, 4, 3, 1, false}, seed++);   // H: s2 d3
  check({2, 7, 13, 72, 1, 3, 3, 1, 1, 2, 2, 2, 2, 5, 0, true}, seed++);    // wide left pad
  check({1, 6, 11, 8, 1, 7, 7, 1, 1, 1, 3, 3, 3, 0, 9, false}, seed++);    // wide right pad
  check({1, 6, 28, 256, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true}, seed++);   // 2 sets: pairs
  check({1, 5, 28, 512, 1, 3, 3, 1, 1, 1, 2, 1, 1, 2, 2, false}, seed++);  // 1 set: copies
  check({1, 9, 16, 128, 1, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, true}, seed++);
  check({1, 6, 24, 1024, 1, 7, 7, 1, 1, 1, 2, 3, 3, 6, 6, false}, seed++);
  if (effective_isa(Isa::kAvx2) == Isa::kAvx2) {  // the phases of 256 channels (2 KB) pair
    const Problem p = problem_for({1, 6, 28, 256, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true}, seed);
    std::string name;
    run_at(p, Isa::kAvx2, 1, 0, &name);
    EXPECT_EQ(name, "dwconv_3x3s1d2_8c_pairs_avx2");
  }
}

TEST(Depthwise, RowBandsEveryThreadCount) {
  std::uint32_t seed = 3500;
  for (const int c : {8, 144, 384}) {  // one, two and three 512-byte channel groups (AVX2)
    for (const int h : {1, 2, 3, 7}) {
      for (const int n : {1, 2}) {
        const Case k = same(n, h, 9, c, 1, 3, 3, 1, true);
        SCOPED_TRACE(describe(k));
        const Problem p = problem_for(k, seed++);
        const auto want = run_reference(p);
        for (const Isa isa : testing::runnable_isas()) {
          SCOPED_TRACE(to_string(isa));
          std::string name;
          const auto one = run_at(p, isa, 1, 0, &name);
          ASSERT_LT(rel_l2(one, want), 2e-6) << name;
          for (const int threads : {2, 3, 4, 5}) {
            SCOPED_TRACE(threads);
            const auto many = run_at(p, isa, threads, 0, &name);
            ASSERT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0) << name;
          }
        }
      }
    }
  }
}

// Output above the non-temporal threshold (16 MiB): streamed stores when aligned (AVX-512
// directly, AVX2 through the staging buffer when the channel groups cover whole lines), plain
// stores when the user's buffer is not aligned or the channels end in a tail. 144 channels
// leave a last channel group of two tiles; 1000 a tail tile.
TEST(Depthwise, StreamingStoresLargeOutput) {
  for (const Case& k :
       {same(1, 66, 64, 1024, 1, 3, 3, 1, true), same(2, 128, 120, 144, 1, 3, 3, 1, false),
        same(1, 72, 60, 1000, 1, 3, 3, 1, true),
        Case{1, 66, 64, 1024, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, false}}) {  // phases, staged
    SCOPED_TRACE(describe(k));
    const Problem p = problem_for(k, 4000);
    const auto want = run_reference(p);
    for (const Isa isa : testing::runnable_isas()) {
      SCOPED_TRACE(to_string(isa));
      std::string k1, k2;
      const auto aligned = run_at(p, isa, 2, 0, &k1);
      const auto odd = run_at(p, isa, 1, 1, &k2);
      ASSERT_EQ(k1.rfind("dwconv_", 0), 0U) << k1;
      ASSERT_LT(rel_l2(aligned, want), 2e-6) << k1;
      ASSERT_EQ(std::memcmp(aligned.data(), odd.data(), odd.size() * sizeof(float)), 0);
    }
  }
}

// On AVX-512 machines a plan that may (exact_isa = false) takes the AVX2 kernel on rows of at
// most 8 pixels, and the AVX-512 one on wide rows; both agree with the reference.
TEST(Depthwise, AvxTwoKernelOnNarrowRowsOfAvx512Machines) {
  if (effective_isa(Isa::kAvx512) != Isa::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  struct Want {
    Case k;
    const char* tail;
  };
  // n h w c m kh kw sh sw dh dw pt pb pl pr bias
  const Want wants[] = {{{1, 7, 7, 96, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, "_8c_avx2"},
                        {{1, 9, 7, 40, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, false}, "_8c_avx2"},
                        {{1, 6, 20, 48, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true}, "_16c_avx512"}};
  for (const Want& w : wants) {
    SCOPED_TRACE(describe(w.k));
    const Problem p = problem_for(w.k, 5);
    PlanOptions opt;
    opt.threads = 2;
    opt.min_flops_per_thread = 0;
    Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), opt);
    const std::string name = plan.kernel_name();
    ASSERT_GT(name.size(), std::strlen(w.tail));
    EXPECT_EQ(name.substr(name.size() - std::strlen(w.tail)), w.tail) << name;
    std::vector<float> y(static_cast<std::size_t>(p.g.output_elements()));
    plan.execute(p.x.data(), y.data());
    EXPECT_LT(rel_l2(y, run_reference(p)), 2e-6) << name;
  }
}

TEST(Depthwise, DeclinesGroupsWithSeveralInputChannels) {
  ConvDesc d;
  d.groups = 4;
  const Geometry g = resolve(d, shapes_for(d, 1, 8, 8, 8, 3, 3, 2, 8, false));
  const std::vector<float> w(static_cast<std::size_t>(g.filter_elements()), 1.0f);
  const detail::KernelProblem pr{&g, w.data(), nullptr, Isa::kAvx512, true};
  std::string why;
  EXPECT_EQ(detail::make_depthwise_kernel(pr, &why), nullptr);
  EXPECT_NE(why.find("1 input channel"), std::string::npos) << why;
}

}  // namespace
}  // namespace groupconv
