// The C ABI: statuses, diagnostics copied into caller-owned buffers (truncated safely),
// argument checks, and results that match the C++ API and the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "groupconv/groupconv.h"
#include "groupconv/groupconv.hpp"
#include "test_util.hpp"

#ifdef GROUPCONV_HAVE_C_TEST
extern "C" int gc_c_smoke(char* message, size_t message_size);
#endif

namespace {

using V = std::vector<std::int64_t>;

struct Err {
  char text[4096] = {};
  gc_error e{0, text, sizeof text, 0};
  [[nodiscard]] std::string str() const { return text; }
};

gc_shapes shapes_of(const V& in, const V& w, const V* bias = nullptr) {
  return gc_shapes{in.data(),
                   static_cast<int32_t>(in.size()),
                   w.data(),
                   static_cast<int32_t>(w.size()),
                   bias == nullptr ? nullptr : bias->data(),
                   bias == nullptr ? 0 : static_cast<int32_t>(bias->size())};
}

#ifdef GROUPCONV_HAVE_C_TEST
TEST(CApi, HeaderCompilesAsCAndWorksFromC) {
  char message[256] = {};
  EXPECT_EQ(gc_c_smoke(message, sizeof message), 0) << message;
  EXPECT_NE(std::string(message).find("error[GC001]"), std::string::npos) << message;
}
#endif

TEST(CApi, CheckSpecExampleRefusedWithGC001) {
  gc_conv_desc d{};
  d.groups = 4;
  const V in{1, 28, 28, 33}, w{3, 3, 8, 16};
  const gc_shapes s = shapes_of(in, w);
  Err err;
  gc_geometry g{};
  EXPECT_EQ(gc_check(&d, &s, &g, &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 1);
  EXPECT_EQ(err.e.needed, err.str().size() + 1);
  for (const char* part : {"error[GC001]", "33", "32 (4 x 8) or 36 (4 x 9)", "help:"}) {
    EXPECT_NE(err.str().find(part), std::string::npos) << part << "\n" << err.str();
  }
  // The text is the C++ rendering.
  groupconv::ConvDesc cd;
  cd.groups = 4;
  groupconv::Diagnostic diag;
  (void)groupconv::try_resolve(cd, {in, w, std::nullopt}, &diag);
  EXPECT_EQ(err.str(), diag.render());
}

TEST(CApi, CheckFillsEveryDerivedNumber) {
  gc_conv_desc d{};
  d.data_format = GC_NCHW;
  d.filter_format = GC_OIHW;
  d.padding = GC_SAME_LOWER;
  d.num_strides = 2;
  d.strides[0] = 2;
  d.strides[1] = 1;
  d.num_dilations = 4;
  d.dilations[0] = 1;
  d.dilations[1] = 1;
  d.dilations[2] = 1;
  d.dilations[3] = 2;
  const V in{2, 6, 9, 8}, w{12, 2, 3, 2}, b{12};
  const gc_shapes s = shapes_of(in, w, &b);
  gc_geometry g{};
  Err err;
  ASSERT_EQ(gc_check(&d, &s, &g, &err.e), GC_OK) << err.str();
  EXPECT_EQ(err.e.code, 0);
  EXPECT_EQ(err.str(), "");
  groupconv::ConvDesc cd;
  cd.data_format = groupconv::DataFormat::kNCHW;
  cd.filter_format = groupconv::FilterFormat::kOIHW;
  cd.padding = groupconv::Padding::kSameLower;
  cd.strides = {2, 1};
  cd.dilations = {1, 1, 1, 2};
  const groupconv::Geometry want = groupconv::resolve(cd, {in, w, b});
  EXPECT_EQ(g.groups, want.groups);
  EXPECT_EQ(g.groups, 3);
  EXPECT_EQ(g.groups_inferred, 1);
  EXPECT_EQ(g.has_bias, 1);
  EXPECT_EQ(g.cig, want.cig);
  EXPECT_EQ(g.cog, want.cog);
  EXPECT_EQ(g.ho, want.ho);
  EXPECT_EQ(g.wo, want.wo);
  EXPECT_EQ(g.pad_top, want.pad_top);
  EXPECT_EQ(g.pad_bottom, want.pad_bottom);
  EXPECT_EQ(g.pad_left, want.pad_left);
  EXPECT_EQ(g.pad_right, want.pad_right);
  EXPECT_EQ(g.dw, 2);
  EXPECT_EQ(g.sh, 2);
  EXPECT_EQ(g.flops, want.flops());
  EXPECT_EQ(g.bytes, want.bytes());
  const auto os = want.output_shape();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(g.output_shape[i], os[i]);
  // The geometry pointer is optional.
  EXPECT_EQ(gc_check(&d, &s, nullptr, nullptr), GC_OK);
}

TEST(CApi, DiagnosticTextIsTruncatedSafely) {
  gc_conv_desc d{};
  d.groups = 4;
  const V in{1, 28, 28, 32}, w{3, 3, 32, 64};
  const gc_shapes s = shapes_of(in, w);
  Err full;
  ASSERT_EQ(gc_check(&d, &s, nullptr, &full.e), GC_INVALID);
  EXPECT_EQ(full.e.code, 3);
  const std::string text = full.str();
  ASSERT_GT(text.size(), 100u);

  char small[17];
  std::memset(small, 'x', sizeof small);
  gc_error e{0, small, 16, 0};  // one guard byte beyond text_size
  EXPECT_EQ(gc_check(&d, &s, nullptr, &e), GC_INVALID);
  EXPECT_EQ(e.code, 3);
  EXPECT_EQ(std::string(small), text.substr(0, 15));
  EXPECT_EQ(small[16], 'x');
  EXPECT_EQ(e.needed, text.size() + 1);

  char one = 'x';
  gc_error e1{0, &one, 1, 0};
  EXPECT_EQ(gc_check(&d, &s, nullptr, &e1), GC_INVALID);
  EXPECT_EQ(one, '\0');

  gc_error none{0, nullptr, 100, 0};  // no buffer: code and length only
  EXPECT_EQ(gc_check(&d, &s, nullptr, &none), GC_INVALID);
  EXPECT_EQ(none.code, 3);
  EXPECT_EQ(none.needed, text.size() + 1);

  char zero = 'x';
  gc_error e0{0, &zero, 0, 0};
  EXPECT_EQ(gc_check(&d, &s, nullptr, &e0), GC_INVALID);
  EXPECT_EQ(zero, 'x');

  // A success clears a previous error.
  const V ok{1, 28, 28, 32}, okw{3, 3, 8, 64};
  const gc_shapes s2 = shapes_of(ok, okw);
  EXPECT_EQ(gc_check(&d, &s2, nullptr, &full.e), GC_OK);
  EXPECT_EQ(full.e.code, 0);
  EXPECT_EQ(full.str(), "");
}

TEST(CApi, EveryResolveCodeComesThrough) {
  struct Case {
    gc_conv_desc d;
    V in, w;
    int code;
  };
  gc_conv_desc base{};
  std::vector<Case> cases;
  auto add = [&](gc_conv_desc d, V in, V w, int code) { cases.push_back({d, in, w, code}); };
  gc_conv_desc g4 = base;
  g4.groups = 4;
  add(g4, {1, 8, 8, 33}, {3, 3, 8, 16}, 1);
  add(g4, {1, 8, 8, 32}, {3, 3, 8, 30}, 2);
  add(g4, {1, 8, 8, 32}, {3, 3, 32, 64}, 3);
  add(g4, {1, 8, 8, 32}, {3, 3, 16, 64}, 4);
  add(g4, {1, 8, 8, 32}, {64, 8, 3, 3}, 5);
  gc_conv_desc e = g4;
  e.expect_output_channels = 64;
  add(e, {1, 8, 8, 32}, {3, 3, 8, 16}, 6);
  add(base, {8, 8, 3}, {3, 3, 3, 8}, 7);
  add(base, {1, 0, 8, 3}, {3, 3, 3, 8}, 9);
  gc_conv_desc st = base;
  st.num_strides = 1;
  st.strides[0] = 0;
  add(st, {1, 8, 8, 3}, {3, 3, 3, 8}, 10);
  st.num_strides = 3;  // 3 entries: refused by resolve as a wrong list length
  st.strides[0] = 1;
  st.strides[1] = 1;
  st.strides[2] = 1;
  add(st, {1, 8, 8, 3}, {3, 3, 3, 8}, 10);
  gc_conv_desc dl = base;
  dl.num_dilations = 2;
  dl.dilations[0] = 1;
  dl.dilations[1] = -1;
  add(dl, {1, 8, 8, 3}, {3, 3, 3, 8}, 11);
  gc_conv_desc gn = base;
  gn.groups = -3;
  add(gn, {1, 8, 8, 3}, {3, 3, 3, 8}, 12);
  gc_conv_desc fl = base;
  fl.num_strides = 4;
  fl.strides[0] = 2;
  fl.strides[1] = 1;
  fl.strides[2] = 1;
  fl.strides[3] = 1;
  add(fl, {1, 8, 8, 3}, {3, 3, 3, 8}, 13);
  gc_conv_desc np = base;
  np.padding = GC_EXPLICIT;
  np.pads[3] = -1;
  add(np, {1, 8, 8, 3}, {3, 3, 3, 8}, 14);
  add(base, {1, 2, 8, 3}, {3, 3, 3, 8}, 15);
  add(base, {1LL << 40, 1LL << 20, 1LL << 20, 3}, {3, 3, 3, 8}, 17);
  gc_conv_desc eo = base;
  eo.expect_output_channels = -1;
  add(eo, {1, 8, 8, 3}, {3, 3, 3, 8}, 19);
  for (const Case& c : cases) {
    const gc_shapes s = shapes_of(c.in, c.w);
    Err err;
    EXPECT_EQ(gc_check(&c.d, &s, nullptr, &err.e), GC_INVALID) << c.code;
    EXPECT_EQ(err.e.code, c.code) << err.str();
    char tag[16];
    std::snprintf(tag, sizeof tag, "error[GC%03d]", c.code);
    EXPECT_EQ(err.str().rfind(tag, 0), 0u) << err.str();
  }
  // Bias of the wrong length: GC016.
  const V in{1, 8, 8, 3}, w{3, 3, 3, 8}, b{7};
  const gc_shapes s = shapes_of(in, w, &b);
  Err err;
  EXPECT_EQ(gc_check(&base, &s, nullptr, &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 16);
}

TEST(CApi, BadArgumentsAreRefusedNotCrashed) {
  const V in{1, 8, 8, 3}, w{3, 3, 3, 8};
  const gc_shapes s = shapes_of(in, w);
  gc_conv_desc d{};
  auto expect_bad = [&](const gc_conv_desc* dp, const gc_shapes* sp, const char* part) {
    Err err;
    EXPECT_EQ(gc_check(dp, sp, nullptr, &err.e), GC_INVALID) << part;
    EXPECT_EQ(err.e.code, 19) << err.str();
    EXPECT_NE(err.str().find(part), std::string::npos) << err.str();
    EXPECT_EQ(gc_check(dp, sp, nullptr, nullptr), GC_INVALID);  // without an error struct too
  };
  expect_bad(nullptr, &s, "desc is NULL");
  expect_bad(&d, nullptr, "shapes is NULL");
  gc_conv_desc bad = d;
  bad.data_format = 7;
  expect_bad(&bad, &s, "data_format");
  bad = d;
  bad.filter_format = -1;
  expect_bad(&bad, &s, "filter_format");
  bad = d;
  bad.padding = 4;
  expect_bad(&bad, &s, "padding");
  bad = d;
  bad.num_strides = 5;
  expect_bad(&bad, &s, "num_strides");
  bad = d;
  bad.num_dilations = -1;
  expect_bad(&bad, &s, "num_dilations");
  bad = d;
  bad.reserved0 = 1;
  expect_bad(&bad, &s, "reserved0");
  gc_shapes sb = s;
  sb.input = nullptr;
  expect_bad(&d, &sb, "input shape pointer is NULL");
  sb = s;
  sb.filter_rank = -2;
  expect_bad(&d, &sb, "filter rank");
  sb = s;
  sb.input_rank = 1000;
  expect_bad(&d, &sb, "input rank");
  // A NULL shape pointer with rank 0 is a rank-0 shape: GC007.
  sb = s;
  sb.filter = nullptr;
  sb.filter_rank = 0;
  Err err;
  EXPECT_EQ(gc_check(&d, &sb, nullptr, &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 7);
}

// Runs the same problem through gc_conv2d, a C plan (every ISA) and gc_reference_conv2d.
TEST(CApi, Conv2dAndPlansMatchTheReference) {
  struct P {
    gc_conv_desc d;
    V in, w;
    bool bias;
  };
  std::vector<P> problems;
  {
    gc_conv_desc d{};
    d.groups = 4;
    d.padding = GC_SAME;
    problems.push_back({d, {2, 9, 7, 8}, {3, 3, 2, 12}, true});
  }
  {
    gc_conv_desc d{};
    d.data_format = GC_NCHW;
    d.filter_format = GC_OIHW;
    d.num_strides = 1;
    d.strides[0] = 2;
    d.num_dilations = 1;
    d.dilations[0] = 2;
    problems.push_back({d, {1, 6, 11, 10}, {12, 1, 3, 3}, false});  // depthwise x2
  }
  {
    gc_conv_desc d{};
    d.padding = GC_EXPLICIT;
    d.pads[0] = 1;
    d.pads[3] = 2;
    problems.push_back({d, {1, 5, 6, 6}, {1, 1, 6, 5}, true});  // pointwise
  }
  for (const P& p : problems) {
    const V b{p.w[p.d.filter_format == GC_HWIO ? 3 : 0]};
    const gc_shapes s = shapes_of(p.in, p.w, p.bias ? &b : nullptr);
    gc_geometry g{};
    Err err;
    ASSERT_EQ(gc_check(&p.d, &s, &g, &err.e), GC_OK) << err.str();
    const auto x = groupconv::testing::random_floats(static_cast<std::size_t>(g.input_elements), 1);
    const auto w =
        groupconv::testing::random_floats(static_cast<std::size_t>(g.filter_elements), 2);
    const auto bias = groupconv::testing::random_floats(static_cast<std::size_t>(g.c_out), 3);
    const float* bp = p.bias ? bias.data() : nullptr;
    std::vector<float> want(static_cast<std::size_t>(g.output_elements));
    ASSERT_EQ(gc_reference_conv2d(&p.d, &s, x.data(), w.data(), bp, want.data(), &err.e), GC_OK)
        << err.str();
    std::vector<float> y(want.size(), -1.0f);
    ASSERT_EQ(gc_conv2d(&p.d, &s, x.data(), w.data(), bp, y.data(), 1, &err.e), GC_OK) << err.str();
    EXPECT_LT(groupconv::testing::rel_l2(y, want), 1e-5);
    for (int isa : {GC_ISA_BEST, GC_ISA_PORTABLE, GC_ISA_AVX2, GC_ISA_AVX512}) {
      gc_plan_options o{2, isa, nullptr};
      gc_plan* plan = nullptr;
      ASSERT_EQ(gc_plan_create(&p.d, &s, w.data(), bp, &o, &plan, &err.e), GC_OK) << err.str();
      ASSERT_NE(plan, nullptr);
      EXPECT_STRNE(gc_plan_kernel_name(plan), "");
      gc_geometry pg{};
      EXPECT_EQ(gc_plan_geometry(plan, &pg, &err.e), GC_OK);
      EXPECT_EQ(pg.output_elements, g.output_elements);
      for (int rep = 0; rep < 2; ++rep) {
        std::fill(y.begin(), y.end(), -1.0f);
        ASSERT_EQ(gc_plan_execute(plan, x.data(), y.data(), &err.e), GC_OK) << err.str();
        EXPECT_LT(groupconv::testing::rel_l2(y, want), 1e-5) << "isa " << isa;
      }
      gc_plan_destroy(plan);
    }
  }
}

TEST(CApi, PlanErrorPaths) {
  gc_conv_desc d{};
  d.groups = 4;
  const V in{1, 8, 8, 32}, w{3, 3, 32, 64};
  const gc_shapes bad = shapes_of(in, w);
  std::vector<float> filt(3 * 3 * 32 * 64);
  Err err;
  const V w2{3, 3, 8, 64};
  const gc_shapes good = shapes_of(in, w2);
  gc_plan* valid = nullptr;
  ASSERT_EQ(gc_plan_create(&d, &good, filt.data(), nullptr, nullptr, &valid, &err.e), GC_OK);
  gc_plan* plan = valid;  // must be reset to NULL on failure
  EXPECT_EQ(gc_plan_create(&d, &bad, filt.data(), nullptr, nullptr, &plan, &err.e), GC_INVALID);
  EXPECT_EQ(plan, nullptr);
  gc_plan_destroy(valid);
  EXPECT_EQ(err.e.code, 3);
  EXPECT_EQ(gc_plan_create(&d, &bad, filt.data(), nullptr, nullptr, nullptr, &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 19);

  // NULL filter data.
  EXPECT_EQ(gc_plan_create(&d, &good, nullptr, nullptr, nullptr, &plan, &err.e), GC_INVALID);
  EXPECT_EQ(plan, nullptr);
  // Bias data without a bias shape.
  const float bias[64] = {};
  EXPECT_EQ(gc_plan_create(&d, &good, filt.data(), bias, nullptr, &plan, &err.e), GC_INVALID);
  // Unknown ISA, unknown kernel, negative threads.
  gc_plan_options o{0, 9, nullptr};
  EXPECT_EQ(gc_plan_create(&d, &good, filt.data(), nullptr, &o, &plan, &err.e), GC_INVALID);
  EXPECT_NE(err.str().find("max_isa"), std::string::npos);
  o = gc_plan_options{0, GC_ISA_BEST, "no_such_kernel"};
  EXPECT_EQ(gc_plan_create(&d, &good, filt.data(), nullptr, &o, &plan, &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 19);
  o = gc_plan_options{-1, GC_ISA_BEST, nullptr};
  EXPECT_EQ(gc_plan_create(&d, &good, filt.data(), nullptr, &o, &plan, &err.e), GC_INVALID);

  ASSERT_EQ(gc_plan_create(&d, &good, filt.data(), nullptr, nullptr, &plan, &err.e), GC_OK);
  std::vector<float> x(8 * 8 * 32), y(6 * 6 * 64);
  EXPECT_EQ(gc_plan_execute(plan, nullptr, y.data(), &err.e), GC_INVALID);
  EXPECT_EQ(err.e.code, 19);
  EXPECT_EQ(gc_plan_execute(plan, x.data(), nullptr, &err.e), GC_INVALID);
  EXPECT_EQ(gc_plan_execute(plan, x.data(), y.data(), &err.e), GC_OK);
  gc_plan_destroy(plan);

  EXPECT_EQ(gc_plan_execute(nullptr, x.data(), y.data(), &err.e), GC_INVALID);
  EXPECT_EQ(gc_plan_geometry(nullptr, nullptr, &err.e), GC_INVALID);
  EXPECT_STREQ(gc_plan_kernel_name(nullptr), "");
  gc_plan_destroy(nullptr);
}

TEST(CApi, OneShotErrorPathsAndEmptyBatch) {
  gc_conv_desc d{};
  const V in{1, 4, 4, 2}, w{3, 3, 2, 3};
  const gc_shapes s = shapes_of(in, w);
  std::vector<float> x(32), f(54), y(12);
  Err err;
  EXPECT_EQ(gc_conv2d(&d, &s, nullptr, f.data(), nullptr, y.data(), 0, &err.e), GC_INVALID);
  EXPECT_NE(err.str().find("input data is NULL"), std::string::npos) << err.str();
  EXPECT_EQ(gc_conv2d(&d, &s, x.data(), f.data(), nullptr, nullptr, 0, &err.e), GC_INVALID);
  EXPECT_EQ(gc_conv2d(&d, &s, x.data(), nullptr, nullptr, y.data(), 0, &err.e), GC_INVALID);
  EXPECT_EQ(gc_reference_conv2d(&d, &s, x.data(), nullptr, nullptr, y.data(), &err.e), GC_INVALID);
  const float b[3] = {1, 2, 3};
  EXPECT_EQ(gc_reference_conv2d(&d, &s, x.data(), f.data(), b, y.data(), &err.e), GC_INVALID);
  EXPECT_NE(err.str().find("no bias shape"), std::string::npos) << err.str();
  EXPECT_EQ(gc_conv2d(&d, &s, x.data(), f.data(), nullptr, y.data(), -4, &err.e), GC_INVALID);
  // N = 0: valid, nothing to read or write, NULL buffers allowed.
  const V empty{0, 4, 4, 2};
  const gc_shapes se = shapes_of(empty, w);
  gc_geometry g{};
  EXPECT_EQ(gc_check(&d, &se, &g, &err.e), GC_OK);
  EXPECT_EQ(g.output_elements, 0);
  EXPECT_EQ(gc_conv2d(&d, &se, nullptr, f.data(), nullptr, nullptr, 0, &err.e), GC_OK) << err.str();
  EXPECT_EQ(gc_reference_conv2d(&d, &se, nullptr, f.data(), nullptr, nullptr, &err.e), GC_OK)
      << err.str();
}

TEST(CApi, VersionAndStatusStrings) {
  EXPECT_STREQ(gc_version(), "0.1.0");
  EXPECT_STREQ(gc_status_string(GC_OK), "ok");
  EXPECT_STREQ(gc_status_string(GC_INTERNAL), "internal error");
  EXPECT_STREQ(gc_status_string(GC_INVALID), "invalid input");
  EXPECT_STREQ(gc_status_string(42), "unknown status");
}

}  // namespace
