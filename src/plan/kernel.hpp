// The contract between the plan and the kernel families.
//
// Kernels never see user layouts: the plan hands them NHWC input/output and an HWIO filter
// (converting NCHW / OIHW once, outside the hot path). A kernel is created once per plan (it
// packs the filter into whatever order its inner loop wants) and then run many times.
//
// Work is cut into `num_tasks()` independent tasks. Each task writes a fixed, disjoint set of
// output elements and computes every one of them in a fixed order, so the result does not
// depend on how the tasks are shared among threads: output is bit-identical for any thread
// count. The plan gives each thread a contiguous range of tasks to start with, which it may run
// in several calls, and a private scratch area of `scratch_bytes()` bytes (64-byte aligned),
// allocated once at plan time; a thread that finishes early takes over the end of another's
// range (parallel_for_balanced) unless the kernel asks for the static split (`balanced()`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "groupconv/geometry.hpp"
#include "groupconv/isa.hpp"

namespace groupconv::detail {

struct KernelProblem {
  const Geometry* g;         // NHWC / HWIO view of the problem (data/filter format fields set so)
  const float* filter_hwio;  // [KH, KW, Cig, C_out]; valid only during create()
  const float* bias;         // [C_out] or nullptr; valid only during create()
  Isa isa;                   // the highest level the kernel may use
  // The kernel runs isa's own code; false lets it take a narrower ISA's kernel where that is
  // known to be faster (PlanOptions::exact_isa).
  bool exact_isa = false;
  // Threads the plan will run with. Kernels may use it to order their tasks (which thread
  // gets which part of the output), never to change what a task computes or how.
  int threads = 1;
};

class Kernel {
 public:
  Kernel() = default;
  virtual ~Kernel() = default;
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;
  Kernel(Kernel&&) = delete;
  Kernel& operator=(Kernel&&) = delete;

  // Parameters in the name, XNNPACK-style: e.g. "dwconv_3x3s1_16c_avx512".
  [[nodiscard]] virtual std::string name() const = 0;
  [[nodiscard]] virtual std::int64_t num_tasks() const = 0;
  [[nodiscard]] virtual std::size_t scratch_bytes() const { return 0; }
  // False: each thread runs exactly its static range (parallel_for), in one call — for task
  // orders built around which thread gets which rows.
  [[nodiscard]] virtual bool balanced() const { return true; }
  // Runs tasks [begin, end). x: NHWC input, y: NHWC output. Must not allocate.
  virtual void run(const float* x, float* y, std::int64_t begin, std::int64_t end,
                   void* scratch) const = 0;
};

// A family's factory: returns a kernel, or nullptr with *why_not saying why it declines
// (e.g. "needs Cig == 1, got 4"). Must not throw for any valid geometry.
using KernelFactory = std::unique_ptr<Kernel> (*)(const KernelProblem& p, std::string* why_not);

struct KernelEntry {
  const char* family;  // "depthwise", "pointwise", ...
  KernelFactory create;
};

// Best-first list; the last entries (generic, reference) accept everything.
const KernelEntry* kernel_registry(std::size_t* count);

// Factories of the families (src/kernels/<family>/).
std::unique_ptr<Kernel> make_depthwise_kernel(const KernelProblem& p, std::string* why_not);
std::unique_ptr<Kernel> make_pointwise_kernel(const KernelProblem& p, std::string* why_not);
std::unique_ptr<Kernel> make_narrow_group_kernel(const KernelProblem& p, std::string* why_not);
std::unique_ptr<Kernel> make_wide_group_kernel(const KernelProblem& p, std::string* why_not);
std::unique_ptr<Kernel> make_generic_kernel(const KernelProblem& p, std::string* why_not);
std::unique_ptr<Kernel> make_reference_kernel(const KernelProblem& p, std::string* why_not);

}  // namespace groupconv::detail
