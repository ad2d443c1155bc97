// Benchmark suites (SPEC section 4): parsing layers.csv and timing layers through a Plan.
// Used by `groupconv bench`, the benchmark executables and the peers benchmark.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "groupconv/conv2d.hpp"

namespace groupconv::suite {

struct Layer {
  std::string name;
  std::int64_t n, h, w, c_in, c_out, groups, kh, kw, stride_h, stride_w, dil_h, dil_w;
  std::string padding;  // SAME | VALID | t:b:l:r
  int line = 0;         // 1-based line in the file

  // NHWC / HWIO descriptor and shapes of the layer.
  [[nodiscard]] ConvDesc desc() const;
  [[nodiscard]] Shapes shapes() const;
};

// Parses a suite; throws ShapeError(kFile) naming the line on malformed content.
std::vector<Layer> parse_layers(const std::string& text, const std::string& source_name);
std::vector<Layer> load_layers(const std::string& path);

struct Timing {
  double median_ms = 0;
  double gflop = 0;  // by the FLOP formula
  double gflops = 0;
  int runs = 0;
  std::string kernel;
};

enum class Pass { kForward, kBackwardData, kBackwardFilter };
const char* to_string(Pass p);  // "fwd", "bwd_data", "bwd_filter"
// Parses "fwd" | "bwd_data" | "bwd_filter"; false when unknown.
bool parse_pass(const std::string& s, Pass* out);

// Builds a plan (filter packed once, outside the timed loop), warms up, then runs until
// min_time_s has passed (at least 5 runs) and reports the median. Buffers 64-byte aligned.
// Backward passes are timed the same way through BackwardDataPlan / BackwardFilterPlan (FLOPs
// quoted with the forward's count, as the field does).
Timing time_layer(const Layer& layer, int threads, double min_time_s, Isa max_isa = Isa::kAvx512,
                  Pass pass = Pass::kForward);

// The machine's measured FMA peak (KERNELS.md): 117 GFLOP/s per core.
constexpr double kPeakGflopsPerCore = 117.0;
// DRAM bandwidth in GB/s for 1 and 2 cores (KERNELS.md).
double dram_gbps(int threads);

// The layer's limit in GFLOP/s: in-bounds taps at the FMA peak, or (when the layer moves more
// than the 32 MiB L3) bytes at the DRAM bandwidth, whichever is lower; quoted as nominal FLOP/s
// so it compares with the measured figure.
double roofline_gflops(const Geometry& g, int threads);

// Multiply-adds whose input tap falls inside the input (padded taps skipped), x2.
double inbounds_flops(const Geometry& g);

}  // namespace groupconv::suite
