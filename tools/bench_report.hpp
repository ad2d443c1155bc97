// Timing suite layers and reporting them: the table of `groupconv bench` and `groupconv demo`,
// the CSV file and the SVG chart.
#pragma once

#include <string>
#include <vector>

#include "groupconv/groupconv.hpp"
#include "suite/suite.hpp"

namespace groupconv::cli {

struct BenchResult {
  suite::Layer layer;
  Geometry geometry;
  suite::Timing timing;
  int threads = 1;
  double peak_gflops = 0;      // kPeakGflopsPerCore x threads
  double roofline_gflops = 0;  // the layer's limit (suite::roofline_gflops)
};

// For a backward pass the layer's name gets the pass appended ("mnv2_dw3:bwd_filter"); GFLOP/s
// use the forward's FLOP count, as the field quotes backward passes.
BenchResult measure(const suite::Layer& layer, int threads, double min_time_s, Isa max_isa,
                    suite::Pass pass = suite::Pass::kForward);

std::string table_header();
std::string table_row(const BenchResult& r);
// The geometric mean line under the table.
std::string table_footer(const std::vector<BenchResult>& results);

// `name,threads,gflop,median_ms,gflops,kernel` and one row per layer.
std::string results_csv(const std::vector<BenchResult>& results);

// A horizontal bar chart: GFLOP/s per layer, each layer's roofline marked, the FMA peak as a
// dashed line.
std::string results_svg(const std::vector<BenchResult>& results, const std::string& title);

}  // namespace groupconv::cli
