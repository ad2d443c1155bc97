// Fuzzes shape validation: resolve() on arbitrary descriptors and shapes (any rank, any int64
// values, explicit or inferred groups, every padding mode and layout) must either return a
// geometry that satisfies the rules of SPEC section 1, or throw ShapeError. Anything else --
// another exception, a crash, signed overflow (UBSan), a leak -- is a bug.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "groupconv/geometry.hpp"

namespace {

using groupconv::ConvDesc;
using groupconv::Geometry;
using groupconv::Shapes;
using i64 = std::int64_t;

// Mostly small sizes (where the interesting arithmetic is), sometimes huge or extreme ones.
i64 pick(FuzzedDataProvider& p) {
  static const i64 special[] = {0,
                                1,
                                -1,
                                2,
                                3,
                                std::numeric_limits<i64>::max(),
                                std::numeric_limits<i64>::min(),
                                std::numeric_limits<i64>::max() / 2,
                                std::numeric_limits<i64>::max() / 4 + 1,
                                i64{1} << 31,
                                i64{1} << 32,
                                3037000499,  // floor(sqrt(2^63 - 1))
                                3037000500,
                                i64{1} << 62,
                                1'000'000'000'000};
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return p.ConsumeIntegralInRange<i64>(-2, 40);
    case 1:
      return p.ConsumeIntegralInRange<i64>(0, 5000);
    case 2:
      return p.ConsumeIntegral<i64>();
    default:
      return p.PickValueInArray(special);
  }
}

std::vector<i64> pick_list(FuzzedDataProvider& p, std::size_t usual) {
  const std::size_t n = p.ConsumeBool() ? usual : p.ConsumeIntegralInRange<std::size_t>(0, 6);
  std::vector<i64> v(n);
  for (auto& x : v) x = pick(p);
  return v;
}

i64 ceil_div(i64 a, i64 b) { return static_cast<i64>((static_cast<__int128>(a) + b - 1) / b); }

void check_geometry(const ConvDesc& d, const Geometry& g) {
  // Every size is positive (N may be 0), groups split the channels exactly.
  if (g.n < 0 || g.h < 1 || g.w < 1 || g.c_in < 1 || g.c_out < 1 || g.kh < 1 || g.kw < 1 ||
      g.groups < 1 || g.cig < 1 || g.cog < 1 || g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 ||
      g.ho < 1 || g.wo < 1) {
    __builtin_trap();
  }
  if (g.cig * g.groups != g.c_in || g.cog * g.groups != g.c_out) __builtin_trap();
  if (g.pad_top < 0 || g.pad_bottom < 0 || g.pad_left < 0 || g.pad_right < 0) __builtin_trap();
  if (d.groups && *d.groups != g.groups) __builtin_trap();
  if (d.expect_output_channels && *d.expect_output_channels != g.c_out) __builtin_trap();
  // The output size formula of SPEC section 1, in 128-bit arithmetic.
  auto out = [](i64 in, i64 before, i64 after, i64 k, i64 dil, i64 s) {
    const __int128 eff = static_cast<__int128>(k - 1) * dil + 1;
    return static_cast<i64>((static_cast<__int128>(in) + before + after - eff) / s + 1);
  };
  if (g.ho != out(g.h, g.pad_top, g.pad_bottom, g.kh, g.dh, g.sh) ||
      g.wo != out(g.w, g.pad_left, g.pad_right, g.kw, g.dw, g.sw)) {
    __builtin_trap();
  }
  if (d.padding == groupconv::Padding::kSame || d.padding == groupconv::Padding::kSameLower) {
    if (g.ho != ceil_div(g.h, g.sh) || g.wo != ceil_div(g.w, g.sw)) __builtin_trap();
  }
  // Each of these multiplies sizes: resolve() promised none of them overflows (UBSan checks
  // the multiplications). Their sum may, so each is sunk on its own.
  volatile i64 sink = g.flops();
  sink = g.bytes();
  sink = g.input_elements();
  sink = g.filter_elements();
  sink = g.output_elements();
  (void)sink;
  (void)groupconv::describe(g);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  ConvDesc d;
  d.data_format = p.ConsumeBool() ? groupconv::DataFormat::kNHWC : groupconv::DataFormat::kNCHW;
  d.filter_format =
      p.ConsumeBool() ? groupconv::FilterFormat::kHWIO : groupconv::FilterFormat::kOIHW;
  d.padding = static_cast<groupconv::Padding>(p.ConsumeIntegralInRange<int>(0, 3));
  for (auto& pad : d.explicit_pads) pad = pick(p);
  d.strides = pick_list(p, 1 + 3 * static_cast<std::size_t>(p.ConsumeBool()));
  d.dilations = pick_list(p, 1 + static_cast<std::size_t>(p.ConsumeBool()));
  if (p.ConsumeBool()) d.groups = pick(p);
  if (p.ConsumeBool()) d.expect_output_channels = pick(p);
  Shapes s;
  s.input = pick_list(p, 4);
  s.filter = pick_list(p, 4);
  if (p.ConsumeBool()) s.bias = pick_list(p, 1);
  try {
    check_geometry(d, groupconv::resolve(d, s));
  } catch (const groupconv::ShapeError& e) {
    const auto& diag = e.diagnostic();
    const int code = static_cast<int>(diag.code);
    if (code < 1 || code > 20 || diag.summary.empty() || diag.help.empty()) __builtin_trap();
    (void)diag.render();
  }
  // The non-throwing form agrees.
  groupconv::Diagnostic diag;
  const auto g = groupconv::try_resolve(d, s, &diag);
  (void)g;
  return 0;
}
