// `groupconv demo`: the product in under a minute, on built-in data.
//   1. the grouped convolution of a familiar example, computed and checked against the
//      float64 reference;
//   2. the mistakes people make with grouped convolutions, each with its diagnostic;
//   3. a short benchmark on a few layers of real networks.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "bench_report.hpp"
#include "common.hpp"

namespace groupconv::cli {
namespace {

void heading(const std::string& s) { std::printf("\n%s\n", Style::bold(s).c_str()); }

// Prints each line of text indented.
void indented(const std::string& text, const char* indent = "    ") {
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    const std::string line =
        text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    std::printf("%s%s\n", indent, line.c_str());
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

std::string join_shape(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// The command line that shows the same thing.
std::string command_line(const ConvDesc& d, const Shapes& s) {
  std::string c = "$ groupconv check --input-shape " + join_shape(s.input) + " --filter-shape " +
                  join_shape(s.filter);
  if (d.groups) c += " --groups " + std::to_string(*d.groups);
  if (d.padding == Padding::kSame) c += " --padding SAME";
  if (d.expect_output_channels) {
    c += " --expect-output-channels " + std::to_string(*d.expect_output_channels);
  }
  return c;
}

// Shows a configuration: either check's report or the diagnostic it raises.
void show_check(const ConvDesc& d, const Shapes& s) {
  std::printf("    %s\n", Style::dim(command_line(d, s)).c_str());
  try {
    indented(check_report(resolve(d, s)), "      ");
  } catch (const ShapeError& e) {
    std::string text = e.what();
    // The repro line repeats the command above; keep the demo compact.
    const auto repro = text.find("  repro: ");
    if (repro != std::string::npos) text.erase(repro);
    indented(Style::red(text.substr(0, text.find('\n'))) + text.substr(text.find('\n')), "      ");
  }
}

std::vector<float> random_data(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void part1(const PlanOptions& options, bool verbose) {
  heading("1. A grouped convolution, done right");
  std::printf(
      "    A 3x3 convolution over a 28x28 feature map with 32 channels, split into 4 groups of 8\n"
      "    channels, producing 64 output channels (16 per group). In TensorFlow's layouts the\n"
      "    input is NHWC [1, 28, 28, 32] and the filter HWIO [3, 3, 8, 64]: its I dim is the 8\n"
      "    channels each group sees, its O dim counts ALL 64 outputs.\n\n");
  ConvDesc d;
  d.groups = 4;
  d.padding = Padding::kSame;
  const Shapes s{{1, 28, 28, 32}, {3, 3, 8, 64}, std::vector<std::int64_t>{64}};
  const Geometry g = resolve(d, s);
  const auto x = random_data(static_cast<std::size_t>(g.input_elements()), 1);
  const auto w = random_data(static_cast<std::size_t>(g.filter_elements()), 2);
  const auto b = random_data(static_cast<std::size_t>(g.c_out), 3);
  Plan plan(d, s, w.data(), b.data(), options);
  if (verbose) {
    std::fprintf(stderr, "kernel selection (isa %s, %d threads):\n%s", to_string(plan.isa()),
                 plan.threads(), plan.selection_log().c_str());
  }
  std::vector<float> y(static_cast<std::size_t>(g.output_elements()));
  std::vector<float> ref(y.size());
  plan.execute(x.data(), y.data());  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  plan.execute(x.data(), y.data());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto r0 = std::chrono::steady_clock::now();
  reference_conv2d(g, x.data(), w.data(), b.data(), ref.data());
  const double ref_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r0).count();
  double sum = 0, ref_sum = 0, num = 0, den = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    sum += y[i];
    ref_sum += ref[i];
    const double diff = static_cast<double>(y[i]) - ref[i];
    num += diff * diff;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  std::printf("    %s\n", Style::dim(command_line(d, s) + " --bias-shape 64").c_str());
  indented(check_report(g), "      ");
  std::printf("\n    computed with random data (seeded), SAME padding, bias:\n");
  std::printf("      output    %s  (kernel %s, %d thread%s, %.3f ms; reference %.1f ms)\n",
              shape_of(g.output_shape()).c_str(), plan.kernel_name().c_str(), plan.threads(),
              plan.threads() == 1 ? "" : "s", ms, ref_ms);
  std::printf("      checksum  sum(y) = %.6f, float64 reference %.6f\n", sum, ref_sum);
  std::printf("      relative L2 error vs the reference: %.2e  %s\n", err,
              err < 1e-5 ? Style::green("(ok: below 1e-5)").c_str()
                         : Style::red("(ABOVE the 1e-5 bound)").c_str());
}

void part2() {
  heading("2. The mistakes people make, and what groupconv says about them");
  ConvDesc d;
  d.groups = 4;
  std::printf("\n    a) 33 input channels: 33 cannot be split into 4 groups\n");
  show_check(d, {{1, 28, 28, 33}, {3, 3, 8, 64}, std::nullopt});
  std::printf("\n    b) the ungrouped filter [3, 3, 32, 64] with groups=4\n");
  show_check(d, {{1, 28, 28, 32}, {3, 3, 32, 64}, std::nullopt});
  std::printf(
      "\n    c) a per-group output count: filter [3, 3, 8, 16] meant as \"16 outputs per group\".\n"
      "       It is valid, but the O dim counts ALL outputs: the result has 16 channels, not "
      "64.\n       `check` shows it in the breakdown (4 outputs per group):\n");
  show_check(d, {{1, 28, 28, 32}, {3, 3, 8, 16}, std::nullopt});
  std::printf("\n       and --expect-output-channels turns it into an error that explains it:\n");
  ConvDesc expect = d;
  expect.expect_output_channels = 64;
  show_check(expect, {{1, 28, 28, 32}, {3, 3, 8, 16}, std::nullopt});
  std::printf(
      "\n    d) a PyTorch (OIHW) filter [64, 8, 3, 3] where TensorFlow's HWIO is expected\n");
  show_check(d, {{1, 28, 28, 32}, {64, 8, 3, 3}, std::nullopt});
}

// A few layers of real networks (a subset of bench/layers.csv), small enough to time in
// seconds.
constexpr const char* kDemoLayers =
    "tutorial_g4,1,28,28,32,64,4,3,3,1,1,1,1,SAME\n"
    "resnext50_c3,1,28,28,256,256,32,3,3,1,1,1,1,SAME\n"
    "mnv2_dw3,1,56,56,144,144,144,3,3,1,1,1,1,SAME\n"
    "convnext_dw3,1,14,14,384,384,384,7,7,1,1,1,1,SAME\n"
    "shufflenet_g3_expand,1,28,28,60,240,3,1,1,1,1,1,1,VALID\n"
    "alexnet_conv4,1,13,13,384,384,2,3,3,1,1,1,1,SAME\n";

void part3(const ComputeOptions& compute, double min_time) {
  const int threads = compute.resolved_threads();
  const PlanOptions options = compute.plan_options();
  heading("3. A short benchmark");
  std::printf(
      "    Layers of ResNeXt-50, MobileNetV2, ConvNeXt, ShuffleNet and AlexNet, %d thread%s,\n"
      "    isa %s; %% peak is of %.0f GFLOP/s per core, %% roof of the layer's own limit.\n"
      "    The full suite: groupconv bench --layers bench/layers.csv\n\n",
      threads, threads == 1 ? "" : "s", to_string(effective_isa(options.max_isa)),
      suite::kPeakGflopsPerCore);
  std::printf("    %s", Style::bold(table_header()).c_str());
  std::fflush(stdout);
  std::vector<BenchResult> results;
  for (const auto& l : suite::parse_layers(kDemoLayers, "demo")) {
    results.push_back(measure(l, threads, min_time, options.max_isa));
    std::printf("    %s", table_row(results.back()).c_str());
    std::fflush(stdout);
  }
  std::printf("    %s", table_footer(results).c_str());
}

int run(const DemoArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  const PlanOptions options = a.compute.plan_options();
  if (!(a.min_time >= 0) || !std::isfinite(a.min_time) || a.min_time > 10) {
    bad_option("--min-time", format("%g", a.min_time), "must be between 0 and 10 seconds",
               "seconds per layer, e.g. 0.2", "e.g. --min-time 0.2");
  }
  std::printf("%s\n", Style::bold("groupconv demo: grouped 2-D convolution on the CPU, and the "
                                  "shape mistakes it explains")
                          .c_str());
  part1(options, a.compute.verbose_enabled());
  part2();
  if (!a.no_bench) part3(a.compute, a.min_time);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\ndemo finished in %.1f s. Next: groupconv check --help, groupconv run --help\n", s);
  return 0;
}

}  // namespace

int run_demo(const DemoArgs& args) { return run(args); }

}  // namespace groupconv::cli
