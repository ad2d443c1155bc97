// Quick suite runner for kernel work:
//   gc_layers [layers.csv] [threads] [filter-substring] [fwd|bwd_data|bwd_filter]
// Prints GFLOP/s, % of the layer's roofline and the kernel chosen. `groupconv bench` is the
// user-facing equivalent.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "suite/suite.hpp"

int main(int argc, char** argv) {
  using namespace groupconv;
  const std::string path = argc > 1 ? argv[1] : "bench/layers.csv";
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const std::string filter = argc > 3 ? argv[3] : "";
  suite::Pass pass = suite::Pass::kForward;
  if (argc > 4 && !suite::parse_pass(argv[4], &pass)) {
    std::fprintf(stderr, "unknown pass '%s' (fwd | bwd_data | bwd_filter)\n", argv[4]);
    return 2;
  }
  try {
    for (const auto& l : suite::load_layers(path)) {
      if (!filter.empty() && l.name.find(filter) == std::string::npos) continue;
      const auto t = suite::time_layer(l, threads, 0.3, Isa::kAvx512, pass);
      const Geometry g = resolve(l.desc(), l.shapes());
      const double roof = suite::roofline_gflops(g, threads);
      std::printf("%-24s %8.3f ms %8.1f GFLOP/s %5.1f%% roof  %s\n", l.name.c_str(), t.median_ms,
                  t.gflops, 100.0 * t.gflops / roof, t.kernel.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  return 0;
}
