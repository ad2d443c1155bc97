// `groupconv bench`: times every layer of a suite file (SPEC section 4) through a Plan (filter
// packed once outside the timed loop, 64-byte-aligned buffers, median of repeated runs after a
// warm-up) and prints GFLOP/s, % of the FMA peak, % of the layer's roofline and the kernel.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench_report.hpp"
#include "common.hpp"
#include "io/npy.hpp"

namespace groupconv::cli {
namespace {

// --pass fwd | bwd_data | bwd_filter | all
std::vector<suite::Pass> parse_passes(const std::string& value) {
  if (value == "all") {
    return {suite::Pass::kForward, suite::Pass::kBackwardData, suite::Pass::kBackwardFilter};
  }
  suite::Pass p{};
  if (!suite::parse_pass(value, &p)) {
    bad_option("--pass", value, "unknown pass", "fwd | bwd_data | bwd_filter | all",
               "fwd times the forward convolution, bwd_data the input gradient, bwd_filter the "
               "filter (and bias) gradient; all runs the three per layer");
  }
  return {p};
}

// One progress line on stderr, redrawn in place on a terminal.
class Progress {
 public:
  Progress() : tty_(::isatty(2) != 0) {}
  void show(const std::string& line) {
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  }
  void clear() {
    if (tty_) std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }

 private:
  bool tty_;
};

// The plan's kernel choice for a layer (built once more, outside the timing, for --verbose).
void print_selection(const suite::Layer& l, const PlanOptions& options) {
  const Geometry g = resolve(l.desc(), l.shapes());
  std::vector<float> w(static_cast<std::size_t>(g.filter_elements()), 0.0f);
  Plan plan(l.desc(), l.shapes(), w.data(), nullptr, options);
  std::fprintf(stderr, "%s: kernel selection (isa %s, %d threads):\n%s", l.name.c_str(),
               to_string(plan.isa()), plan.threads(), plan.selection_log().c_str());
}

int run(const BenchArgs& a) {
  const PlanOptions options = a.compute.plan_options();
  const std::vector<suite::Pass> passes = parse_passes(a.pass);
  if (!(a.min_time >= 0) || !std::isfinite(a.min_time) || a.min_time > 3600) {
    bad_option("--min-time", format("%g", a.min_time), "must be between 0 and 3600 seconds",
               "seconds per layer, e.g. 0.5", "e.g. --min-time 0.5");
  }
  std::vector<suite::Layer> layers;
  for (auto& l : suite::load_layers(a.layers)) {
    if (a.filter && l.name.find(*a.filter) == std::string::npos) continue;
    // Validate every layer before timing any, so a bad line fails in a second, not at the end.
    try {
      (void)resolve(l.desc(), l.shapes());
    } catch (const ShapeError& e) {
      Diagnostic d = e.diagnostic();
      d.summary =
          a.layers + ":" + std::to_string(l.line) + ": layer '" + l.name + "': " + d.summary;
      throw ShapeError(std::move(d));
    }
    layers.push_back(std::move(l));
  }
  if (layers.empty()) {
    bad_option("--layers", a.layers,
               a.filter ? "no layer matches --filter" : "no layers in the file",
               "one layer per line: name,n,h,w,c_in,c_out,groups,kh,kw,stride_h,stride_w,dil_h,"
               "dil_w,padding",
               "see bench/layers.csv");
  }
  // Open the outputs first: a bad path fails now, not after minutes of timing.
  std::unique_ptr<io::AtomicFile> csv_file, svg_file;
  if (a.csv) csv_file = std::make_unique<io::AtomicFile>(*a.csv);
  if (a.plot) svg_file = std::make_unique<io::AtomicFile>(*a.plot);

  const int threads = a.compute.resolved_threads();
  const Isa isa = effective_isa(options.max_isa);
  std::printf(
      "groupconv bench: %zu layers from %s, %d thread%s, isa %s, peak %.0f GFLOP/s "
      "(%.0f per core), median of runs over >= %.2f s per layer\n",
      layers.size(), a.layers.c_str(), threads, threads == 1 ? "" : "s", to_string(isa),
      suite::kPeakGflopsPerCore * threads, suite::kPeakGflopsPerCore, a.min_time);
  std::fputs(Style::bold(table_header()).c_str(), stdout);
  std::fflush(stdout);
  Progress progress;
  std::vector<BenchResult> results;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.show(format("bench [%zu/%zu] %s  (%.1f s elapsed)", i + 1, layers.size(),
                         layers[i].name.c_str(), elapsed));
    if (a.compute.verbose_enabled()) {
      progress.clear();
      print_selection(layers[i], options);
    }
    for (const suite::Pass pass : passes) {
      results.push_back(measure(layers[i], threads, a.min_time, options.max_isa, pass));
      progress.clear();
      std::fputs(table_row(results.back()).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  std::fputs(table_footer(results).c_str(), stdout);
  if (csv_file) {
    const std::string text = results_csv(results);
    csv_file->write(text.data(), text.size());
    csv_file->commit();
    std::printf("wrote %s\n", a.csv->c_str());
  }
  if (svg_file) {
    const std::string text =
        results_svg(results, format("groupconv bench: %s, %d thread%s", a.layers.c_str(), threads,
                                    threads == 1 ? "" : "s"));
    svg_file->write(text.data(), text.size());
    svg_file->commit();
    std::printf("wrote %s\n", a.plot->c_str());
  }
  return 0;
}

}  // namespace

int run_bench(const BenchArgs& args) { return run(args); }

}  // namespace groupconv::cli
