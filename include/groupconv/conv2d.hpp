// Forward grouped convolution: a plan built once per geometry, executed many times.
//
//   groupconv::ConvDesc desc;                       // NHWC / HWIO, SAME, groups = 4
//   desc.padding = groupconv::Padding::kSame;
//   desc.groups = 4;
//   groupconv::Plan plan(desc, {{1, 28, 28, 32}, {3, 3, 8, 64}, std::nullopt}, w);
//   plan.execute(x, y);                             // no allocation, no validation
//
// Plan creation validates (throws ShapeError), chooses a kernel, packs the filter and
// allocates the workspace. execute() allocates nothing. A plan may be executed from one
// thread at a time (it owns its workspace); create one plan per calling thread otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "groupconv/geometry.hpp"
#include "groupconv/isa.hpp"

namespace groupconv {

struct PlanOptions {
  // Worker threads for execute(); 0 = all cores (or GROUPCONV_NUM_THREADS when set).
  int threads = 0;
  // Highest instruction set the kernels may use; further capped by the CPU and by the
  // GROUPCONV_MAX_ISA environment variable (portable | avx2 | avx512).
  Isa max_isa = Isa::kAvx512;
  // Run max_isa's own kernels (after the CPU cap) even where a kernel of a narrower ISA is
  // known to run the geometry faster (on AVX-512 machines some depthwise and narrow-group
  // geometries take the AVX2 kernel by default: same FLOP peak on Zen 4, better blocking),
  // and keep each kernel family's geometries (on AVX-512 machines narrow groups of 9-16
  // outputs take the wide-group kernel by default). For tests that cover every ISA's code
  // and for ISA comparisons.
  bool exact_isa = false;
  // Use exactly this kernel (by name); ShapeError(kBadArgument) if it declines.
  std::optional<std::string> force_kernel;
  // Layers too small to pay for waking another worker run on fewer of the `threads`: each
  // worker gets at least this many FLOPs (2 * N * Ho * Wo * C_out * Cig * KH * KW, about 3 us
  // of work). 0 splits every layer over all `threads`. Results are bit-identical either way.
  std::int64_t min_flops_per_thread = 160000;
};

// The workers a plan for geometry g runs with under these options (threads, 0 = all cores,
// capped by min_flops_per_thread).
int plan_threads(const Geometry& g, const PlanOptions& options);

class Plan {
 public:
  // filter: in desc.filter_format; bias: C_out values or nullptr (must match shapes.bias).
  Plan(const ConvDesc& desc, const Shapes& shapes, const float* filter, const float* bias,
       const PlanOptions& options = {});
  ~Plan();
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  // x: input in desc.data_format, y: output in the same layout. Neither may be null unless
  // the tensor is empty. Buffers need no alignment (64-byte alignment is fastest).
  void execute(const float* x, float* y);

  [[nodiscard]] const Geometry& geometry() const;
  [[nodiscard]] const std::string& kernel_name() const;
  // One line per candidate kernel: chosen, or why it declined. Printed to stderr by the CLI
  // with --verbose or GROUPCONV_VERBOSE=1; the library itself never prints.
  [[nodiscard]] const std::string& selection_log() const;
  [[nodiscard]] Isa isa() const;
  [[nodiscard]] int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot convolution: validates, plans, executes. Throws ShapeError on invalid input.
void conv2d(const ConvDesc& desc, const Shapes& shapes, const float* x, const float* filter,
            const float* bias, float* y, const PlanOptions& options = {});

// Number of hardware threads the library will use by default.
int default_threads();

}  // namespace groupconv
