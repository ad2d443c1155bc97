// `groupconv check`: validates shapes and options without computing anything, and prints the
// output shape, the per-group breakdown, FLOPs and bytes, or the diagnostic (exit 2).
#include <cstdio>

#include "common.hpp"

namespace groupconv::cli {
namespace {

// The channel ranges of each group, so a per-group filter (C_out/G given where C_out was
// meant) shows at a glance: "group 0: in [0, 8) -> out [0, 4)".
std::string group_table(const Geometry& g) {
  std::string s;
  const std::int64_t shown = g.groups <= 6 ? g.groups : 4;
  auto row = [&](std::int64_t i) {
    const long long in0 = i * g.cig;
    const long long out0 = i * g.cog;
    return format("  group %lld: input channels [%lld, %lld) -> output channels [%lld, %lld)\n",
                  static_cast<long long>(i), in0, in0 + g.cig, out0, out0 + g.cog);
  };
  for (std::int64_t i = 0; i < shown; ++i) {
    s += row(i);
  }
  if (shown < g.groups) {
    const std::int64_t i = g.groups - 1;
    s += format("  ... (%lld more)\n", static_cast<long long>(g.groups - shown - 1));
    s += row(i);
  }
  return s;
}

}  // namespace

std::string check_report(const Geometry& g) {
  std::string s = Style::bold("ok") + ": output " + shape_of(g.output_shape()) + " " +
                  to_string(g.data_format) + ", " + std::to_string(g.c_out) +
                  " channels = " + std::to_string(g.groups) + " groups x " + std::to_string(g.cog) +
                  "\n";
  s += describe(g);
  s += group_table(g);
  s += "work   " + si(static_cast<double>(g.flops()), "FLOP") + ", " +
       si(static_cast<double>(g.bytes()), "B") + " moved (input + filter + bias + output)\n";
  return s;
}

int run_check(const CheckArgs& args) {
  ConvDesc desc = args.geometry.desc();
  Shapes shapes;
  shapes.input = parse_int_list("--input-shape", args.input_shape, "1,28,28,32");
  shapes.filter = parse_int_list("--filter-shape", args.filter_shape, "3,3,8,64");
  if (args.bias_shape) {
    shapes.bias = parse_int_list("--bias-shape", *args.bias_shape, "64");
  }
  const Geometry g = resolve(desc, shapes);
  std::fputs(check_report(g).c_str(), stdout);
  return 0;
}

}  // namespace groupconv::cli
