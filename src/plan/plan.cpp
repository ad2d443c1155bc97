// Plan: validate -> convert the filter to HWIO -> choose a kernel (best first, each candidate
// says why it declines) -> allocate the layout buffers and per-thread scratch. execute() then
// only transposes (NCHW users) and runs the kernel's tasks (parallel.hpp: balanced, or static
// where the kernel asks).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "groupconv/conv2d.hpp"
#include "plan/aligned_buffer.hpp"
#include "plan/kernel.hpp"
#include "plan/layout.hpp"
#include "plan/parallel.hpp"

namespace groupconv {

using i64 = std::int64_t;
using detail::AlignedBuffer;

int default_threads() {
  if (const char* v = std::getenv("GROUPCONV_NUM_THREADS")) {
    const int t = std::atoi(v);
    if (t > 0) return t;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

int plan_threads(const Geometry& g, const PlanOptions& options) {
  const int threads = options.threads > 0 ? options.threads : default_threads();
  if (options.min_flops_per_thread <= 0) return threads;
  // 2-thread A/B on depthwise layers (one process, medians): 7x7x32 3x3 9.0 -> 31.3 GFLOP/s on
  // one thread, 7x7x64 26.9 -> 60.6, 14x14x32 s2 15.3 -> 28.8, 7x7x64 7x7 63.9 -> 88.1
  // (307 kFLOP); 7x7x256 and 14x14x64 (226 kFLOP) about even; 7x7x512 (452 kFLOP) and larger
  // ran faster on two.
  const double cap =
      static_cast<double>(g.flops()) / static_cast<double>(options.min_flops_per_thread);
  return cap >= threads ? threads : std::max(1, static_cast<int>(cap));
}

struct Plan::Impl {
  Geometry user;  // as the user gave it
  Geometry nhwc;  // the kernels' view: NHWC / HWIO
  std::unique_ptr<detail::Kernel> kernel;
  std::string kernel_name;
  std::string log;
  Isa isa = Isa::kPortable;
  int threads = 1;
  AlignedBuffer x_buf, y_buf;  // NCHW users only
  AlignedBuffer scratch;       // threads * scratch_stride
  std::size_t scratch_stride = 0;
};

namespace {

Diagnostic bad_argument(std::string summary, std::string help) {
  Diagnostic d;
  d.code = Code::kBadArgument;
  d.summary = std::move(summary);
  d.help = std::move(help);
  return d;
}

}  // namespace

Plan::Plan(const ConvDesc& desc, const Shapes& shapes, const float* filter, const float* bias,
           const PlanOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  p.user = resolve(desc, shapes);
  if (filter == nullptr && p.user.filter_elements() > 0) {
    throw ShapeError(bad_argument("filter data is null", "pass a pointer to the filter values"));
  }
  if (shapes.bias.has_value() != (bias != nullptr)) {
    throw ShapeError(bad_argument(bias == nullptr ? "bias shape given but bias data is null"
                                                  : "bias data given but no bias shape",
                                  "pass both the bias shape and its data, or neither"));
  }
  if (options.threads < 0) {
    throw ShapeError(
        bad_argument("threads must be >= 0 (0 = all cores), got " + std::to_string(options.threads),
                     "pass threads=0 for all cores, or a positive count"));
  }
  p.nhwc = p.user;
  p.nhwc.data_format = DataFormat::kNHWC;
  p.nhwc.filter_format = FilterFormat::kHWIO;
  p.isa = effective_isa(options.max_isa);
  p.threads = plan_threads(p.user, options);

  // The kernels take HWIO; convert an OIHW filter once, here.
  std::vector<float> hwio;
  const float* w = filter;
  if (p.user.filter_format == FilterFormat::kOIHW) {
    hwio.resize(static_cast<std::size_t>(p.user.filter_elements()));
    detail::oihw_to_hwio(p.user, filter, hwio.data());
    w = hwio.data();
  }

  const detail::KernelProblem problem{&p.nhwc, w, bias, p.isa, options.exact_isa, p.threads};
  std::size_t count = 0;
  const detail::KernelEntry* entries = detail::kernel_registry(&count);
  for (std::size_t i = 0; i < count; ++i) {
    const detail::KernelEntry& e = entries[i];
    if (options.force_kernel && *options.force_kernel != e.family) {
      p.log += std::string(e.family) + ": skipped (force_kernel=" + *options.force_kernel + ")\n";
      continue;
    }
    std::string why;
    auto k = e.create(problem, &why);
    if (k) {
      p.kernel_name = k->name();
      p.log += std::string(e.family) + ": chosen -> " + p.kernel_name + "\n";
      p.kernel = std::move(k);
      break;
    }
    p.log += std::string(e.family) + ": declined (" + why + ")\n";
  }
  if (!p.kernel) {
    Diagnostic d = bad_argument("no kernel accepted this convolution",
                                "drop force_kernel, or pick a family that accepts it");
    d.context.push_back("kernel selection:");
    d.context.push_back(p.log);
    throw ShapeError(std::move(d));
  }

  if (p.user.data_format == DataFormat::kNCHW) {
    p.x_buf.reset(static_cast<std::size_t>(p.user.input_elements()) * sizeof(float));
    p.y_buf.reset(static_cast<std::size_t>(p.user.output_elements()) * sizeof(float));
  }
  const std::size_t sb = p.kernel->scratch_bytes();
  // Odd number of cache lines between threads' scratch: no false sharing, no 4 KiB aliasing.
  p.scratch_stride = sb == 0 ? 0 : ((sb + 63) / 64 | 1) * 64;
  p.scratch.reset(p.scratch_stride * static_cast<std::size_t>(p.threads));
}

Plan::~Plan() = default;
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;

const Geometry& Plan::geometry() const { return impl_->user; }
const std::string& Plan::kernel_name() const { return impl_->kernel_name; }
const std::string& Plan::selection_log() const { return impl_->log; }
Isa Plan::isa() const { return impl_->isa; }
int Plan::threads() const { return impl_->threads; }

void Plan::execute(const float* x, float* y) {
  Impl& p = *impl_;
  if (p.user.output_elements() == 0) return;  // empty batch
  if (x == nullptr || y == nullptr) {
    throw ShapeError(bad_argument(x == nullptr ? "input data is null" : "output data is null",
                                  "pass pointers to the input and output buffers"));
  }
  const float* xk = x;
  float* yk = y;
  if (p.user.data_format == DataFormat::kNCHW) {
    detail::nchw_to_nhwc(p.user, x, p.x_buf.floats(), p.threads);
    xk = p.x_buf.floats();
    yk = p.y_buf.floats();
  }
  const detail::Kernel& k = *p.kernel;
  auto* scratch = static_cast<char*>(p.scratch.data());
  auto body = [&](i64 begin, i64 end, int tid) {
    k.run(
        xk, yk, begin, end,
        scratch == nullptr ? nullptr : scratch + p.scratch_stride * static_cast<std::size_t>(tid));
  };
  if (k.balanced()) {
    detail::parallel_for_balanced(k.num_tasks(), p.threads, body);
  } else {
    detail::parallel_for(k.num_tasks(), p.threads, body);
  }
  if (p.user.data_format == DataFormat::kNCHW) {
    detail::nhwc_to_nchw_output(p.user, yk, y, p.threads);
  }
}

void conv2d(const ConvDesc& desc, const Shapes& shapes, const float* x, const float* filter,
            const float* bias, float* y, const PlanOptions& options) {
  Plan plan(desc, shapes, filter, bias, options);
  plan.execute(x, y);
}

}  // namespace groupconv
