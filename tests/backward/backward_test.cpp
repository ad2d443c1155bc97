#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "test_util.hpp"

namespace groupconv {
namespace {

using testing::random_vector;
using testing::rel_l2;
using testing::shapes_for;

struct Case {
  ConvDesc desc;
  Shapes shapes;
  Geometry g;
};

// Random geometry covering layouts, paddings, strides, dilations, groups and multipliers.
Case random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  ConvDesc d;
  d.data_format = pick(0, 1) ? DataFormat::kNHWC : DataFormat::kNCHW;
  d.filter_format = pick(0, 1) ? FilterFormat::kHWIO : FilterFormat::kOIHW;
  int groups = pick(1, 4), cig = pick(1, 4), cog = pick(1, 4);
  if (pick(0, 3) == 0) {  // depthwise with multiplier
    cig = 1;
    groups = pick(1, 9);
  }
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
  const int h = pick(kh * 2 + 1, 11), w = pick(kw * 2 + 1, 11);
  Shapes s = shapes_for(d, pick(1, 2), h, w, groups * cig, kh, kw, cig, groups * cog, true);
  return {d, s, resolve(d, s)};
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<std::int64_t> out_shape(const Geometry& g) {
  const auto a = g.output_shape();
  return {a.begin(), a.end()};
}

// The filter-gradient plans of (d, s) at each ISA and thread count: dw (and db when `bias`;
// otherwise db must stay untouched) match the references, and every thread count after the
// first gives the first one's dw and db bit for bit. `on_plan` sees each plan before it runs
// (to check or count which kernel it chose); `what` starts every failure message.
template <class OnPlan>
void check_filter_plans(const ConvDesc& d, const Shapes& s, const Geometry& g,
                        const std::vector<float>& x, const std::vector<float>& dy,
                        const std::vector<float>& dw_ref, const std::vector<float>& db_ref,
                        bool bias, const std::vector<Isa>& isas,
                        std::initializer_list<int> thread_counts, const std::string& what,
                        OnPlan&& on_plan) {
  for (Isa isa : isas) {
    std::vector<float> first_dw, first_db;
    for (int threads : thread_counts) {
      PlanOptions opt;
      opt.threads = threads;
      opt.min_flops_per_thread = 0;  // split even tiny test layers
      opt.max_isa = isa;
      BackwardFilterPlan plan(d, s, out_shape(g), opt);
      on_plan(plan);
      if (::testing::Test::HasFatalFailure()) return;
      std::vector<float> dw(dw_ref.size(), NAN), db(db_ref.size(), NAN);
      plan.execute(x.data(), dy.data(), dw.data(), bias ? db.data() : nullptr);
      const std::string at =
          what + " " + plan.kernel_name() + " threads=" + std::to_string(threads);
      ASSERT_LT(rel_l2(dw, dw_ref), 1e-5) << at;
      if (bias) {
        ASSERT_LT(rel_l2(db, db_ref), 1e-5) << at;
      } else {
        for (float v : db) ASSERT_TRUE(std::isnan(v)) << at << ": db written without a bias";
      }
      if (first_dw.empty()) {
        first_dw = dw;
        first_db = db;
        continue;
      }
      ASSERT_EQ(0, std::memcmp(first_dw.data(), dw.data(), dw.size() * sizeof(float))) << at;
      if (bias) {
        ASSERT_EQ(0, std::memcmp(first_db.data(), db.data(), db.size() * sizeof(float))) << at;
      }
    }
  }
}

// Random x and dy for g, and the reference filter and bias gradients of them.
struct FilterCase {
  std::vector<float> x, dy, dw_ref, db_ref;
};

FilterCase filter_case(const Geometry& g, std::mt19937& rng) {
  FilterCase f;
  f.x = random_vector<float>(static_cast<std::size_t>(g.input_elements()), rng);
  f.dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
  f.dw_ref.resize(static_cast<std::size_t>(g.filter_elements()));
  f.db_ref.resize(static_cast<std::size_t>(g.c_out));
  reference_backward_filter(g, f.x.data(), f.dy.data(), f.dw_ref.data(), f.db_ref.data());
  return f;
}

// The input-gradient plans of (d, s) with filter w at each ISA and thread count, with
// `force_kernel` pinned when it is not empty: dx matches the reference, and every thread
// count after the first gives the first one's dx bit for bit. `on_plan` sees each plan before
// it runs (to check or count which kernel it chose); `what` starts every failure message.
template <class OnPlan>
void check_data_plans(const ConvDesc& d, const Shapes& s, const Geometry& g,
                      const std::vector<float>& w, const std::vector<float>& dy,
                      const std::vector<float>& dx_ref, const std::vector<Isa>& isas,
                      std::initializer_list<int> thread_counts, const std::string& force_kernel,
                      const std::string& what, OnPlan&& on_plan) {
  for (Isa isa : isas) {
    std::vector<float> first;
    for (int threads : thread_counts) {
      PlanOptions opt;
      opt.threads = threads;
      opt.min_flops_per_thread = 0;  // split even tiny test layers
      opt.max_isa = isa;
      opt.exact_isa = true;  // cover each ISA's own kernels
      if (!force_kernel.empty()) opt.force_kernel = force_kernel;
      BackwardDataPlan plan(d, s, out_shape(g), w.data(), opt);
      on_plan(plan);
      if (::testing::Test::HasFatalFailure()) return;
      std::vector<float> dx(dx_ref.size(), NAN);
      plan.execute(dy.data(), dx.data());
      const std::string at =
          what + " " + plan.kernel_name() + " threads=" + std::to_string(threads);
      ASSERT_LT(rel_l2(dx, dx_ref), 1e-5) << at;
      if (first.empty()) {
        first = dx;
        continue;
      }
      ASSERT_EQ(0, std::memcmp(first.data(), dx.data(), dx.size() * sizeof(float))) << at;
    }
  }
}

// <conv(x, w), dy> = <x, bwd_data(dy, w)> = <w, bwd_filter(x, dy)>, in float64.
TEST(Backward, AdjointIdentitiesHoldInDouble) {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 200; ++iter) {
    const Case c = random_case(rng);
    const Geometry& g = c.g;
    const auto x = random_vector<double>(static_cast<std::size_t>(g.input_elements()), rng);
    const auto w = random_vector<double>(static_cast<std::size_t>(g.filter_elements()), rng);
    const auto dy = random_vector<double>(static_cast<std::size_t>(g.output_elements()), rng);
    std::vector<double> y(dy.size()), dx(x.size()), dw(w.size()),
        db(static_cast<std::size_t>(g.c_out));
    reference_conv2d(g, x.data(), w.data(), nullptr, y.data());
    reference_backward_data(g, dy.data(), w.data(), dx.data());
    reference_backward_filter(g, x.data(), dy.data(), dw.data(), db.data());
    const double a = dot(y, dy), b = dot(x, dx), e = dot(w, dw);
    const double scale = std::max(1.0, std::abs(a));
    ASSERT_NEAR(a, b, 1e-10 * scale) << "iter " << iter;
    ASSERT_NEAR(a, e, 1e-10 * scale) << "iter " << iter;
    // db is the gradient of <conv(x, w) + b, dy> with respect to b: the sum of dy per channel.
    std::vector<double> ones(static_cast<std::size_t>(g.c_out), 1.0), yb(dy.size());
    reference_conv2d(g, x.data(), w.data(), ones.data(), yb.data());
    ASSERT_NEAR(dot(yb, dy) - a, dot(ones, db), 1e-10 * scale) << "iter " << iter;
  }
}

// Central finite differences of L(x, w) = <conv(x, w), dy> along random directions.
TEST(Backward, FiniteDifferencesAgreeWithGradients) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 30; ++iter) {
    const Case c = random_case(rng);
    const Geometry& g = c.g;
    const auto x = random_vector<double>(static_cast<std::size_t>(g.input_elements()), rng);
    const auto w = random_vector<double>(static_cast<std::size_t>(g.filter_elements()), rng);
    const auto dy = random_vector<double>(static_cast<std::size_t>(g.output_elements()), rng);
    const auto vx = random_vector<double>(x.size(), rng);
    const auto vw = random_vector<double>(w.size(), rng);
    auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww) {
      std::vector<double> y(dy.size());
      reference_conv2d(g, xx.data(), ww.data(), nullptr, y.data());
      return dot(y, dy);
    };
    const double h = 1e-3;
    auto shifted = [&](const std::vector<double>& v, const std::vector<double>& dir, double s) {
      std::vector<double> r(v);
      for (std::size_t i = 0; i < r.size(); ++i) r[i] += s * dir[i];
      return r;
    };
    const double fd_x = (loss(shifted(x, vx, h), w) - loss(shifted(x, vx, -h), w)) / (2 * h);
    const double fd_w = (loss(x, shifted(w, vw, h)) - loss(x, shifted(w, vw, -h))) / (2 * h);
    std::vector<double> dx(x.size()), dw(w.size());
    reference_backward_data(g, dy.data(), w.data(), dx.data());
    reference_backward_filter(g, x.data(), dy.data(), dw.data(), nullptr);
    ASSERT_NEAR(fd_x, dot(dx, vx), 1e-6 * std::max(1.0, std::abs(fd_x))) << iter;
    ASSERT_NEAR(fd_w, dot(dw, vw), 1e-6 * std::max(1.0, std::abs(fd_w))) << iter;
  }
}

// The planned (fast) passes against the references, 1 and 2 threads bit-identical.
TEST(Backward, PlansMatchReferenceAndAreThreadInvariant) {
  std::mt19937 rng(2024);
  for (int iter = 0; iter < 240; ++iter) {
    const Case c = random_case(rng);
    const Geometry& g = c.g;
    const auto x = random_vector<float>(static_cast<std::size_t>(g.input_elements()), rng);
    const auto w = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
    const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
    std::vector<float> dx_ref(x.size()), dw_ref(w.size()),
        db_ref(static_cast<std::size_t>(g.c_out));
    reference_backward_data(g, dy.data(), w.data(), dx_ref.data());
    reference_backward_filter(g, x.data(), dy.data(), dw_ref.data(), db_ref.data());
    std::vector<std::vector<float>> dxs, dws, dbs;
    // Every ISA level this CPU can run (levels it lacks cannot be executed here).
    const Isa isa = static_cast<Isa>(iter % 3);
    if (effective_isa(isa) != isa) continue;
    for (int threads : {1, 2}) {
      PlanOptions opt;
      opt.threads = threads;
      opt.min_flops_per_thread = 0;  // split even tiny test layers
      opt.max_isa = isa;
      std::vector<float> dx(x.size(), NAN), dw(w.size(), NAN), db(db_ref.size(), NAN);
      conv2d_backward_data(c.desc, c.shapes, out_shape(g), dy.data(), w.data(), dx.data(), opt);
      conv2d_backward_filter(c.desc, c.shapes, out_shape(g), x.data(), dy.data(), dw.data(),
                             db.data(), opt);
      ASSERT_LT(rel_l2(dx, dx_ref), 1e-5) << "iter " << iter;
      ASSERT_LT(rel_l2(dw, dw_ref), 1e-5) << "iter " << iter;
      ASSERT_LT(rel_l2(db, db_ref), 1e-5) << "iter " << iter;
      dxs.push_back(dx);
      dws.push_back(dw);
      dbs.push_back(db);
    }
    ASSERT_EQ(0, std::memcmp(dxs[0].data(), dxs[1].data(), dxs[0].size() * 4)) << iter;
    ASSERT_EQ(0, std::memcmp(dws[0].data(), dws[1].data(), dws[0].size() * 4)) << iter;
    ASSERT_EQ(0, std::memcmp(dbs[0].data(), dbs[1].data(), dbs[0].size() * 4)) << iter;
  }
}

TEST(Backward, WrongGradOutputShapeNamesBothShapes) {
  ConvDesc d;
  d.padding = Padding::kSame;
  d.strides = {2};
  d.groups = 4;
  const Shapes s{{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt};
  std::vector<float> w(3 * 3 * 8 * 64, 0.0f), dy(1), dx(1);
  try {
    BackwardDataPlan plan(d, s, {1, 28, 28, 64}, w.data());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_EQ(e.code(), Code::kGradOutputShape);
    const std::string t = e.what();
    EXPECT_NE(t.find("[1, 14, 14, 64]"), std::string::npos) << t;
    EXPECT_NE(t.find("[1, 28, 28, 64]"), std::string::npos) << t;
  }
  // An NCHW-ordered dy for an NHWC convolution gets a hint.
  try {
    BackwardFilterPlan plan(d, s, {1, 64, 14, 14});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_EQ(e.code(), Code::kGradOutputShape);
    EXPECT_NE(std::string(e.what()).find("NCHW"), std::string::npos) << e.what();
  }
}

TEST(Backward, EmptyBatchGivesZeroFilterGradient) {
  ConvDesc d;
  d.groups = 2;
  const Shapes s{{0, 5, 5, 4}, {3, 3, 2, 6}, std::vector<std::int64_t>{6}};
  std::vector<float> dw(3 * 3 * 2 * 6, NAN), db(6, NAN);
  conv2d_backward_filter(d, s, {0, 3, 3, 6}, nullptr, nullptr, dw.data(), db.data());
  for (float v : dw) EXPECT_EQ(v, 0.0f);
  for (float v : db) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The vectorised depthwise filter gradient on edge cases: channel counts around every vector
// width, every specialised kernel width and a generic one, borders, strides, dilations.
TEST(Backward, DepthwiseFilterGradientEdgeCases) {
  std::mt19937 rng(77);
  int checked = 0;
  for (int c : {1, 7, 8, 9, 16, 17, 31, 33, 64, 65}) {
    for (auto [kh, kw] :
         {std::pair{3, 3}, {1, 1}, {5, 5}, {7, 7}, {2, 4}, {3, 6}, {4, 3}, {1, 7}}) {
      ConvDesc d;
      d.groups = c;
      const int variant = (c + kh + kw) % 4;
      d.strides = {1 + variant % 2, 1 + (variant / 2) % 2};
      d.dilations = {variant == 3 ? 2 : 1, 1};
      d.padding = variant == 1 ? Padding::kValid : Padding::kSame;
      const Shapes s = shapes_for(d, 1 + c % 2, 9 + variant, 11 - variant, c, kh, kw, 1, c, true);
      Geometry g;
      try {
        g = resolve(d, s);
      } catch (const ShapeError&) {
        continue;  // VALID with a kernel larger than the input
      }
      const FilterCase fc = filter_case(g, rng);
      const std::string what =
          "c=" + std::to_string(c) + " k=" + std::to_string(kh) + "x" + std::to_string(kw);
      ASSERT_NO_FATAL_FAILURE(check_filter_plans(
          d, s, g, fc.x, fc.dy, fc.dw_ref, fc.db_ref, true, testing::runnable_isas(), {1, 2}, what,
          [&](const BackwardFilterPlan& plan) {
            ASSERT_NE(plan.kernel_name().find("dwconv"), std::string::npos) << plan.kernel_name();
            ++checked;
          }));
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The depthwise filter gradient's decomposition: row tiles (summed in tile order), strips
// of rows with register-resident taps, channel groups, the streaming split of big layers
// (one channel group), border kernel rows, kernel rows left over from the register chunk
// (KH not a multiple of it, KH below it), the generic kernel width (> 7), compile-time row
// widths (7 and 14 columns at 7x7; 7, 14 and 28 at 3x3, the sliding sweep, with the first,
// last, only and dilated rows that leave kernel rows out), compile-time and run-time strides and
// dilations, channel tails, db absent. 1, 2 and 3 threads must agree bit for bit.
TEST(Backward, DepthwiseFilterGradientTilesStripsAndThreads) {
  struct DwCase {
    int n, h, w, c, kh, kw, sh, sw, dh, dw;
    Padding pad;
    bool bias;
  };
  const DwCase cases[] = {
      {1, 40, 37, 24, 3, 3, 1, 1, 1, 1, Padding::kSame, true},  // tiles x groups, strips
      {3, 17, 23, 13, 3, 3, 2, 2, 1, 1, Padding::kSame, true},  // stride 2, tail, tiles span n
      {2, 30, 9, 40, 7, 7, 1, 1, 1, 1, Padding::kSame, true},   // 7x7, border kernel rows
      {1, 9, 7, 72, 7, 7, 1, 1, 1, 1, Padding::kSame, false},   // small map, no db
      {2, 7, 7, 24, 7, 7, 1, 1, 1, 1, Padding::kSame, true},    // compile-time 7-wide rows
      {1, 15, 14, 16, 7, 7, 1, 1, 1, 1, Padding::kSame, true},  // compile-time 14-wide rows
      {3, 7, 7, 20, 7, 7, 1, 1, 1, 1, Padding::kSame, true},    // tail, images
      // Packed copies: 1 and 2 L1 sets (1024, 512 channels) on every ISA, 4 sets (256, 768)
      // with 8 lanes, and 4 sets for 7x7 kernels on maps of at most 7 columns with 16.
      {3, 7, 7, 192, 7, 7, 1, 1, 1, 1, Padding::kSame, true},     // 768-byte pixels, in place
      {3, 7, 7, 768, 7, 7, 1, 1, 1, 1, Padding::kSame, true},     // 4 sets, 7 wide: packed
      {2, 14, 14, 512, 7, 7, 1, 1, 1, 1, Padding::kSame, false},  // packed, strips in an image
      {1, 10, 9, 256, 7, 7, 1, 1, 1, 1, Padding::kSame, true},    // packed chunks (8 lanes)
      {1, 10, 9, 1024, 7, 7, 1, 1, 1, 1, Padding::kSame, true},   // packed chunks, groups
      {2, 13, 28, 512, 3, 3, 1, 1, 1, 1, Padding::kSame, true},   // packed 3x3 sliding rows
      {2, 13, 28, 128, 3, 3, 1, 1, 1, 1, Padding::kSame, true},   // 8 sets: in place
      {1, 23, 22, 512, 3, 3, 2, 2, 1, 1, Padding::kSame, true},   // packed 3x3, stride 2
      {1, 15, 14, 1024, 3, 3, 2, 2, 1, 1, Padding::kSame, true},  // 1 set, stride 2
      {2, 14, 14, 768, 3, 3, 1, 1, 1, 1, Padding::kSame, true},   // packed x, dy in place
      {1, 14, 14, 256, 3, 3, 2, 2, 1, 1, Padding::kSame, true},   // dy in place, stride 2
      {1, 8, 20, 256, 3, 3, 1, 1, 1, 1, Padding::kSame, true},    // dy in place, blocks
      {2, 9, 11, 256, 3, 3, 1, 2, 1, 1, Padding::kValid, false},  // dy in place, VALID
      {1, 6, 9, 512, 3, 3, 1, 1, 1, 1, Padding::kSame, false},    // 2 sets: dy copied too
      {1, 15, 16, 512, 5, 5, 1, 1, 1, 1, Padding::kValid, true},  // packed 5x5, VALID
      {2, 7, 7, 24, 3, 3, 1, 1, 1, 1, Padding::kSame, true},      // 3x3 sliding, 7 wide
      {1, 14, 14, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, false},   // 3x3 sliding, 14, no db
      {1, 5, 28, 40, 3, 3, 1, 1, 1, 1, Padding::kSame, true},     // 3x3 sliding, 28 wide
      {3, 1, 14, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, true},     // one row: middle kernel row
      {1, 9, 14, 8, 3, 3, 1, 1, 2, 1, Padding::kSame, true},      // 14 wide, dilated rows
      {1, 12, 20, 16, 3, 3, 2, 2, 1, 1, Padding::kSame, true},    // 3x3 stride-2 slide, pl = 0
      {1, 11, 21, 24, 3, 3, 2, 2, 1, 1, Padding::kSame, true},    // 3x3 stride-2 slide, pl = 1
      {2, 9, 17, 16, 3, 3, 2, 2, 1, 1, Padding::kValid, false},   // 3x3 stride-2 slide, VALID
      {2, 21, 19, 17, 5, 5, 1, 2, 2, 1, Padding::kSame, true},    // R = 2 chunks + leftover row
      {1, 25, 26, 16, 2, 3, 1, 1, 1, 1, Padding::kValid, true},   // KH below the chunk
      {1, 16, 30, 9, 4, 3, 1, 1, 1, 2, Padding::kSame, true},     // run-time dilation (S = 0)
      {2, 14, 31, 11, 1, 9, 1, 3, 1, 1, Padding::kSame, true},    // generic kernel width
      {1, 12, 40, 8, 3, 11, 2, 1, 1, 2, Padding::kSame, true},    // generic, dilated
      {1, 12, 14, 12, 3, 17, 1, 1, 1, 1, Padding::kSame, true},   // 51 taps: masked tail
      {2, 15, 29, 58, 3, 3, 2, 2, 1, 1, Padding::kSame, true},    // shifted tail, stride 2
      {1, 9, 12, 512, 1, 9, 1, 1, 1, 1, Padding::kSame, true},    // packed, generic width
      {4, 64, 64, 136, 3, 3, 1, 1, 1, 1, Padding::kSame, true},   // > 8 MiB: streaming split
  };
  std::mt19937 rng(91);
  for (const DwCase& k : cases) {
    ConvDesc d;
    d.groups = k.c;
    d.strides = {k.sh, k.sw};
    d.dilations = {k.dh, k.dw};
    d.padding = k.pad;
    const Shapes s = shapes_for(d, k.n, k.h, k.w, k.c, k.kh, k.kw, 1, k.c, k.bias);
    const Geometry g = resolve(d, s);
    const FilterCase fc = filter_case(g, rng);
    const std::string what =
        "c=" + std::to_string(k.c) + " k=" + std::to_string(k.kh) + "x" + std::to_string(k.kw);
    ASSERT_NO_FATAL_FAILURE(check_filter_plans(
        d, s, g, fc.x, fc.dy, fc.dw_ref, fc.db_ref, k.bias, testing::runnable_isas(), {1, 2, 3},
        what, [](const BackwardFilterPlan& plan) {
          ASSERT_NE(plan.kernel_name().find("dwconv"), std::string::npos) << plan.kernel_name();
        }));
  }
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The vectorised grouped filter gradient: lane-broadcast (Cog a multiple of the width) and
// lane-permute (small groups packed into one vector) modes, multipliers, borders, strides.
TEST(Backward, GroupedFilterGradientEdgeCases) {
  std::mt19937 rng(31);
  int vectorised = 0;
  const std::pair<int, int> channels[] = {{4, 4},
                                          {8, 8},
                                          {16, 16},
                                          {3, 8},
                                          {8, 16},
                                          {2, 4},
                                          {1, 2},
                                          {1, 4},
                                          {5, 8},
                                          {6, 16},
                                          {4, 32},
                                          {12, 8},
                                          // Cog above the width and not a multiple of it:
                                          // whole vectors per group, the last one masked.
                                          {4, 20},
                                          {2, 12},
                                          {3, 9},
                                          {1, 17},
                                          // Cog below the width that does not divide it
                                          // (3, 5, 6, 7 channels per group): one masked vector.
                                          {3, 3},
                                          {5, 5},
                                          {2, 6},
                                          {7, 7}};
  for (auto [cig, cog] : channels) {
    for (auto [kh, kw] : {std::pair{3, 3}, {1, 1}, {5, 4}, {2, 7}}) {
      const int groups = 1 + (cig + cog + kh) % 5;
      ConvDesc d;
      d.groups = groups;
      const int variant = (cig * 3 + cog + kw) % 4;
      d.strides = {1 + variant % 2, 1 + (variant / 2) % 2};
      d.dilations = {1, variant == 3 ? 2 : 1};
      d.padding = variant == 2 ? Padding::kSameLower : Padding::kSame;
      const Shapes s = shapes_for(d, 1 + groups % 2, 7 + variant, 12 - variant, groups * cig, kh,
                                  kw, cig, groups * cog, true);
      const Geometry g = resolve(d, s);
      const FilterCase fc = filter_case(g, rng);
      const std::string what = "cig=" + std::to_string(cig) + " cog=" + std::to_string(cog) +
                               " g=" + std::to_string(groups);
      ASSERT_NO_FATAL_FAILURE(check_filter_plans(
          d, s, g, fc.x, fc.dy, fc.dw_ref, fc.db_ref, true, testing::runnable_isas(), {1, 2}, what,
          [&](const BackwardFilterPlan& plan) {
            vectorised += plan.kernel_name().find("gconv") != std::string::npos ? 1 : 0;
          }));
    }
  }
  EXPECT_GT(vectorised, 40);
}

// Four input and four output channels per group (ResNeXt's first stage): whole vectors run
// in-lane splats and, with stride and dilation 1 along W, walk each row by input column;
// masked tail vectors keep the permutation path. Rows narrower than the kernel, every
// border, and maps large enough for several row blocks (a block spanning two images).
TEST(Backward, GroupedFilterGradientFourChannelGroups) {
  std::mt19937 rng(47);
  struct FourCase {
    int n, h, w, groups, kh, kw, sh, sw, dh, dw;
  };
  const FourCase cases[] = {{1, 6, 9, 2, 3, 3, 1, 1, 1, 1},    {2, 5, 1, 4, 3, 3, 1, 1, 1, 1},
                            {1, 4, 2, 6, 1, 3, 1, 1, 1, 1},    {1, 7, 8, 5, 3, 5, 1, 1, 1, 1},
                            {1, 9, 11, 4, 7, 7, 1, 1, 1, 1},   {1, 8, 10, 2, 3, 3, 2, 1, 1, 1},
                            {1, 8, 10, 2, 3, 3, 1, 2, 1, 1},   {1, 8, 10, 2, 3, 3, 1, 1, 2, 2},
                            {2, 22, 40, 64, 3, 3, 1, 1, 1, 1}, {1, 30, 33, 32, 3, 3, 2, 2, 1, 1}};
  for (const FourCase& k : cases) {
    ConvDesc d;
    d.groups = k.groups;
    d.strides = {k.sh, k.sw};
    d.dilations = {k.dh, k.dw};
    d.padding = Padding::kSame;
    const Shapes s = shapes_for(d, k.n, k.h, k.w, 4 * k.groups, k.kh, k.kw, 4, 4 * k.groups, true);
    const Geometry g = resolve(d, s);
    const FilterCase fc = filter_case(g, rng);
    const std::string what = describe(g);
    ASSERT_NO_FATAL_FAILURE(check_filter_plans(
        d, s, g, fc.x, fc.dy, fc.dw_ref, fc.db_ref, true, testing::runnable_isas(), {1, 2, 3}, what,
        [&](const BackwardFilterPlan& plan) {
          if (plan.kernel_name().find("avx") != std::string::npos) {
            EXPECT_NE(plan.kernel_name().find("gconv_perm"), std::string::npos)
                << what << ": " << plan.kernel_name();
          }
        }));
  }
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The vectorised input-gradient gather (strided geometries): depthwise channel counts around
// every vector width, grouped channel counts below, at and above a vector, strides 2 and 3,
// dilations, every padding mode, both layouts; 1 and 2 threads bit-identical.
TEST(Backward, StridedInputGradientGatherEdgeCases) {
  std::mt19937 rng(4242);
  int gathered = 0, phased = 0, dycols = 0;
  // (1, 3): depthwise with a multiplier, which runs as stride-1 phases.
  const std::pair<int, int> channels[] = {{1, 1},  {2, 3}, {4, 4},   {8, 8},
                                          {16, 5}, {9, 2}, {17, 16}, {1, 3}};
  int variant = 0;
  for (auto [cig, cog] : channels) {
    for (int c : {1, 7, 8, 17, 33, 40}) {
      if (cig > 1 && c > 17) continue;
      for (auto [kh, kw] : {std::pair{3, 3}, {1, 1}, {2, 5}}) {
        ++variant;
        const int groups = cig == 1 ? c : 1 + c % 3;
        ConvDesc d;
        d.groups = groups;
        d.strides = {2 + variant % 2, 2 + (variant / 2) % 2};
        d.dilations = {1 + (variant / 3) % 2, 1};
        switch (variant % 4) {
          case 0:
            d.padding = Padding::kSame;
            break;
          case 1:
            d.padding = Padding::kValid;
            break;
          case 2:
            d.padding = Padding::kSameLower;
            break;
          default:
            d.padding = Padding::kExplicit;
            d.explicit_pads = {1, 0, 2, 1};
        }
        d.data_format = variant % 5 == 0 ? DataFormat::kNCHW : DataFormat::kNHWC;
        d.filter_format = variant % 3 == 0 ? FilterFormat::kOIHW : FilterFormat::kHWIO;
        const Shapes s = shapes_for(d, 1 + variant % 2, 8 + variant % 5, 13 - variant % 4,
                                    groups * cig, kh, kw, cig, groups * cog, false);
        Geometry g;
        try {
          g = resolve(d, s);
        } catch (const ShapeError&) {
          continue;
        }
        const auto w = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
        const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
        std::vector<float> dx_ref(static_cast<std::size_t>(g.input_elements()));
        reference_backward_data(g, dy.data(), w.data(), dx_ref.data());
        const std::string what = "cig=" + std::to_string(cig) + " cog=" + std::to_string(cog) +
                                 " c=" + std::to_string(c) + " k=" + std::to_string(kh) + "x" +
                                 std::to_string(kw);
        // Pinned: the direct gather (grouped strided geometries otherwise run as stride-1
        // forward phases).
        for (const bool pinned : {false, true}) {
          auto on_plan = [&](const BackwardDataPlan& plan) {
            const std::string& kn = plan.kernel_name();
            if (pinned || (cig == 1 && cog == 1)) {
              // Multipliers have no vectorised direct kernel: the scalar loop when pinned.
              ASSERT_TRUE(kn.find("gather") != std::string::npos ||
                          kn.find("dycols") != std::string::npos ||
                          (cog > 1 && kn == "bwd_data_depthwise_direct"))
                  << kn;
            }
            phased += kn.find("phases") != std::string::npos ? 1 : 0;
            gathered += kn.find("gather") != std::string::npos ? 1 : 0;
            dycols += kn.find("dycols") != std::string::npos ? 1 : 0;
          };
          check_data_plans(d, s, g, w, dy, dx_ref, testing::runnable_isas(), {1, 2},
                           pinned ? "bwd_direct" : "", what, on_plan);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
  EXPECT_GT(gathered, 60);
  EXPECT_GT(phased, 20);
  EXPECT_GT(dycols, 10);
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The packed-GEMM filter gradient (groups with >= 8 outputs on AVX2): channel counts below,
// at and above the register tile (input tails, output vectors with masked tails, the
// transposed 8-input-lane tiles with kernel-column tails), maps large enough for several
// reduction chunks per image and batches of 3 (chunks never cross images), few groups (the
// channel blocks split into parts, on either side), strides, dilations, asymmetric padding
// at every border; 1, 2 and 3 threads bit-identical.
TEST(Backward, GemmFilterGradientEdgeCases) {
  if (effective_isa(Isa::kAvx2) != Isa::kAvx2) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(47);
  struct G {
    int cig, cog, groups, kh, kw, sh, sw, dh, dw, n, h, w;
  };
  const G cases[] = {
      {8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 30, 29},    // transposed tiles, several chunks
      {8, 8, 3, 3, 3, 2, 2, 1, 1, 3, 17, 15},    // stride 2, batch 3
      {16, 8, 2, 3, 5, 1, 1, 2, 2, 2, 13, 21},   // 2 input lane vectors, tap tail, dilation
      {8, 5, 3, 2, 4, 1, 2, 1, 1, 1, 9, 12},     // output tail in the transposed tiles
      {8, 6, 2, 3, 3, 1, 1, 1, 1, 1, 10, 11},    // transposed tiles of 3 + 3 outputs
      {8, 3, 3, 3, 3, 1, 1, 1, 1, 2, 7, 9},      // one transposed tile of 3 outputs
      {24, 7, 1, 1, 2, 1, 1, 1, 3, 2, 6, 11},    // one group: parts over input blocks
      {8, 16, 4, 3, 3, 1, 1, 1, 1, 2, 14, 14},   // tutorial-like
      {16, 16, 5, 3, 3, 1, 1, 1, 1, 1, 16, 18},  // 6-input tiles with a 4-input tail
      {32, 32, 2, 3, 3, 1, 1, 2, 2, 1, 20, 20},  // dilated, parts split the input blocks
      {13, 24, 2, 3, 2, 2, 1, 1, 1, 2, 11, 10},  // 3-vector tiles, odd inputs
      {7, 40, 1, 2, 3, 1, 1, 1, 1, 1, 12, 9},    // 5 output vectors: a 1-vector tail
      {20, 80, 3, 1, 1, 1, 1, 1, 1, 1, 14, 14},  // ShuffleNet expand (parts over outputs)
      {80, 20, 3, 1, 1, 1, 1, 1, 1, 2, 7, 7},    // ShuffleNet reduce (masked output tail)
      {16, 32, 2, 1, 1, 1, 1, 1, 1, 2, 9, 13},   // 1x1 read in place
      {24, 16, 3, 1, 1, 2, 2, 1, 1, 1, 15, 11},  // 1x1 stride 2 in place
      {3, 9, 2, 4, 3, 3, 2, 1, 2, 2, 19, 13},    // 9 outputs: one lane in the 2nd vector
      {48, 33, 1, 5, 5, 1, 1, 1, 1, 1, 9, 9},    // big kernel, odd outputs
      {64, 64, 1, 3, 3, 1, 1, 1, 1, 1, 24, 24},  // several chunks per image
      {8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 64, 40},    // 2 groups per task, several chunks
  };
  // AVX2 and, where the CPU has it, the AVX-512 build (tiles of up to 24 accumulators).
  std::vector<Isa> isas;
  for (const Isa isa : testing::runnable_isas()) {
    if (isa != Isa::kPortable) isas.push_back(isa);
  }
  int k = 0;
  int direct = 0;  // plans that read x and dy in place (no packing)
  for (const G& c : cases) {
    ConvDesc d;
    d.groups = c.groups;
    d.strides = {c.sh, c.sw};
    d.dilations = {c.dh, c.dw};
    d.padding = Padding::kExplicit;
    d.explicit_pads = {k % 3, (k + 1) % 3, (k + 2) % 3, k % 2 + 1};
    if (k % 4 == 3) d.padding = Padding::kSame;
    if (k % 5 == 4) d.data_format = DataFormat::kNCHW;
    ++k;
    const Shapes s =
        shapes_for(d, c.n, c.h, c.w, c.groups * c.cig, c.kh, c.kw, c.cig, c.groups * c.cog, true);
    const Geometry g = resolve(d, s);
    const FilterCase fc = filter_case(g, rng);
    const std::string what = "cig=" + std::to_string(c.cig) + " cog=" + std::to_string(c.cog);
    ASSERT_NO_FATAL_FAILURE(check_filter_plans(
        d, s, g, fc.x, fc.dy, fc.dw_ref, fc.db_ref, true, isas, {1, 2, 3}, what,
        [&](const BackwardFilterPlan& plan) {
          EXPECT_NE(plan.kernel_name().find("gemm"), std::string::npos) << plan.kernel_name();
          direct += plan.kernel_name().find("_direct") != std::string::npos ? 1 : 0;
        }));
  }
  // Both ways run: in place (1x1, pixel strides over many cache sets) and packed (the rest).
  const auto runs = static_cast<int>(isas.size());
  EXPECT_GE(direct, 9 * runs);
  EXPECT_LT(direct, (3 * static_cast<int>(std::size(cases)) - 10) * runs);
}

}  // namespace
}  // namespace groupconv

namespace groupconv {
namespace {

// The per-dy-column ("dycols") input gradient, depthwise and grouped, for 3, 5 and 7 taps at
// stride 2 or 1 along W (stride 2 along H): every
// row width from 1 to 41 (interior blocks, edge blocks on either side, rows narrower than a
// block), left pads 0, 1 and 2 (even and odd block origins), forward outputs that stop short
// of the input's right edge (VALID), channel counts that are and are not a multiple of the
// vector (the latter take the plain gather), stride 2 or 1 along H; every ISA level, 1, 2 and
// 3 threads bit-identical.
TEST(Backward, DyColumnsInputGradientEveryWidth) {
  std::mt19937 rng(777);
  int checked = 0;
  struct Cfg {
    int k, sw, widths;
  };
  // (taps, stride along W, widths tried): every block shape of the dycols kernels.
  const Cfg cfgs[] = {{3, 2, 41}, {5, 2, 30}, {7, 2, 30}, {3, 1, 30}, {5, 1, 30}, {7, 1, 30}};
  for (const Cfg& cfg : cfgs) {
    for (int w = 1; w <= cfg.widths; ++w) {
      for (int variant = 0; variant < 5; ++variant) {
        // 0-2 depthwise (12 channels: a partial vector, masked on AVX-512, elsewhere a full
        // vector ending at C); 3-4 grouped with the group's input channels filling one or two
        // vectors, several output channels.
        const int c = variant == 2 ? 12 : 16 * (1 + w % 2);
        const int groups = variant < 3 ? c : 2;
        const int cig = variant < 3 ? 1 : 8 * (variant - 2);
        const int cog = variant < 3 ? 1 : 3 + variant;
        ConvDesc d;
        d.groups = groups;
        // Stride 2 along H whenever W's is 1 (stride 1 in both runs the transposed forward).
        d.strides = {cfg.sw == 1 ? 2 : 1 + w % 2, cfg.sw};
        switch ((w + variant) % 4) {
          case 0:
            d.padding = Padding::kSame;
            break;
          case 1:
            d.padding = Padding::kValid;
            break;
          case 2:
            d.padding = Padding::kExplicit;
            d.explicit_pads = {1, 1, 1, 1};
            break;
          default:
            d.padding = Padding::kExplicit;
            d.explicit_pads = {0, 2, cfg.k / 2 + 1, 0};
        }
        const Shapes s = shapes_for(d, 1 + w % 2, 5 + cfg.k % 4, w, groups * cig, cfg.k, cfg.k, cig,
                                    groups * cog, false);
        Geometry g;
        try {
          g = resolve(d, s);
        } catch (const ShapeError&) {
          continue;  // VALID on a row narrower than the kernel
        }
        const auto wt = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
        const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
        std::vector<float> dx_ref(static_cast<std::size_t>(g.input_elements()));
        reference_backward_data(g, dy.data(), wt.data(), dx_ref.data());
        const std::string what = "k=" + std::to_string(cfg.k) + " sw=" + std::to_string(cfg.sw) +
                                 " w=" + std::to_string(w) + " c=" + std::to_string(c) +
                                 " variant=" + std::to_string(variant);
        check_data_plans(d, s, g, wt, dy, dx_ref, testing::runnable_isas(), {1, 2, 3}, "", what,
                         [&](const BackwardDataPlan&) { ++checked; });
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
  EXPECT_GT(checked, 2000);
}

// Grouped dycols edge blocks read a row of zeros for the dy columns outside the output; groups
// with more output channels than that row holds (1024) test each column instead. Both, at
// stride 2 and 1 along W, against the reference, 1 and 2 threads bit-identical.
TEST(Backward, DyColumnsGroupedEdgesWideGroups) {
  std::mt19937 rng(4242);
  int checked = 0;
  for (const int cog : {9, 1030}) {
    for (const int sw : {1, 2}) {
      ConvDesc d;
      d.groups = 2;
      d.strides = {2, sw};
      d.padding = Padding::kSame;
      const Shapes s = shapes_for(d, 1, 5, 13, 16, 3, 3, 8, 2 * cog, false);
      const Geometry g = resolve(d, s);
      const auto wt = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
      const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
      std::vector<float> dx_ref(static_cast<std::size_t>(g.input_elements()));
      reference_backward_data(g, dy.data(), wt.data(), dx_ref.data());
      const std::string what = "cog=" + std::to_string(cog) + " sw=" + std::to_string(sw);
      check_data_plans(d, s, g, wt, dy, dx_ref, testing::runnable_isas(), {1, 2}, "", what,
                       [&](const BackwardDataPlan& plan) {
                         if (plan.kernel_name().find("dycols") != std::string::npos) ++checked;
                       });
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(checked, 3);
}

// On AVX-512 machines a plan that may (exact_isa = false) runs groups of 8 input channels at
// stride 2 on the AVX2 dy-column kernel (the 16-lane one needs 16 per group); exact_isa keeps
// the AVX-512 path (stride-1 phases). Both agree with the reference.
TEST(Backward, EightChannelGroupsTakeAvxTwoDyColumnsOnAvx512Machines) {
  if (effective_isa(Isa::kAvx512) != Isa::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  std::mt19937 rng(77);
  ConvDesc d;
  d.groups = 4;
  d.strides = {2, 2};
  d.padding = Padding::kSame;
  const Shapes s = shapes_for(d, 1, 9, 12, 32, 3, 3, 8, 32, false);
  const Geometry g = resolve(d, s);
  const auto wt = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
  const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
  std::vector<float> dx_ref(static_cast<std::size_t>(g.input_elements()));
  reference_backward_data(g, dy.data(), wt.data(), dx_ref.data());
  for (const bool exact : {false, true}) {
    PlanOptions opt;
    opt.threads = 2;
    opt.min_flops_per_thread = 0;
    opt.exact_isa = exact;
    BackwardDataPlan plan(d, s, out_shape(g), wt.data(), opt);
    const std::string name = plan.kernel_name();
    if (exact) {
      EXPECT_EQ(name.find("dycols"), std::string::npos) << name;
    } else {
      EXPECT_EQ(name, "bwd_data_gconv_dycols_s2k3_avx2");
    }
    std::vector<float> dx(dx_ref.size(), NAN);
    plan.execute(dy.data(), dx.data());
    EXPECT_LT(rel_l2(dx, dx_ref), 1e-5) << name;
  }
}

// On AVX-512 machines a plan that may (exact_isa = false) runs wide groups (32 or more input
// channels) at stride 2 on outputs of at most 12 columns as stride-1 phases; exact_isa keeps
// the 16-lane dy-column kernel, and 14-column outputs keep it too. All agree with the
// reference.
TEST(Backward, WideStridedGroupsOnNarrowOutputsTakePhasesOnAvx512Machines) {
  if (effective_isa(Isa::kAvx512) != Isa::kAvx512) GTEST_SKIP() << "no AVX-512 here";
  std::mt19937 rng(78);
  struct Want {
    int h, w, cig, groups;
    bool exact;
    const char* head;
  };
  const Want wants[] = {{13, 11, 32, 3, false, "bwd_data_phases:"},
                        {14, 14, 48, 2, false, "bwd_data_phases:"},
                        {13, 11, 32, 3, true, "bwd_data_gconv_dycols_s2k3_avx512"},
                        {28, 27, 32, 2, false, "bwd_data_gconv_dycols_s2k3_avx512"},
                        {13, 11, 16, 3, false, "bwd_data_gconv_dycols_s2k3_avx512"}};
  for (const Want& w : wants) {
    ConvDesc d;
    d.groups = w.groups;
    d.strides = {2, 2};
    d.padding = Padding::kSame;
    const Shapes s =
        shapes_for(d, 2, w.h, w.w, w.groups * w.cig, 3, 3, w.cig, w.groups * w.cig, false);
    const Geometry g = resolve(d, s);
    const auto wt = random_vector<float>(static_cast<std::size_t>(g.filter_elements()), rng);
    const auto dy = random_vector<float>(static_cast<std::size_t>(g.output_elements()), rng);
    std::vector<float> dx_ref(static_cast<std::size_t>(g.input_elements()));
    reference_backward_data(g, dy.data(), wt.data(), dx_ref.data());
    PlanOptions opt;
    opt.threads = 2;
    opt.min_flops_per_thread = 0;
    opt.exact_isa = w.exact;
    BackwardDataPlan plan(d, s, out_shape(g), wt.data(), opt);
    const std::string name = plan.kernel_name();
    EXPECT_EQ(name.rfind(w.head, 0), 0u) << w.h << "x" << w.w << " cig " << w.cig << ": " << name;
    std::vector<float> dx(dx_ref.size(), NAN);
    plan.execute(dy.data(), dx.data());
    EXPECT_LT(rel_l2(dx, dx_ref), 1e-5) << name;
  }
}

}  // namespace
}  // namespace groupconv
