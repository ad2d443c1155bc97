// `groupconv run`: reads the input, filter and optional bias from .npy files, convolves, and
// writes the output .npy atomically (it appears complete or not at all). Shapes come from the
// files; everything is validated before any output is created.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "common.hpp"
#include "io/npy.hpp"

namespace groupconv::cli {
namespace {

// Refuses outputs larger than the machine's memory with a clear message rather than letting
// the allocation die in the kernel's OOM killer (explicit pads can make a tiny input's output
// enormous).
void check_fits_in_memory(const Geometry& g, const std::string& output) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return;
  const double mem = static_cast<double>(pages) * static_cast<double>(page);
  const double need = 4.0 * static_cast<double>(g.output_elements());
  if (need > mem) {
    Diagnostic d;
    d.code = Code::kOverflow;
    d.summary = output + ": the output " + shape_of(g.output_shape()) + " needs " + si(need, "B") +
                ", more than this machine's " + si(mem, "B") + " of memory";
    d.context = {"padding top " + std::to_string(g.pad_top) + ", bottom " +
                 std::to_string(g.pad_bottom) + ", left " + std::to_string(g.pad_left) +
                 ", right " + std::to_string(g.pad_right)};
    d.expected = "an output that fits in memory";
    d.found = si(need, "B");
    d.help = "check the padding, strides and input size; split the batch into smaller runs";
    throw ShapeError(std::move(d));
  }
}

// A tensor given as a .npy file, or (for backward passes that need only its shape) as a
// --*-shape option.
struct Operand {
  std::optional<io::NpyArray> array;
  std::vector<std::int64_t> shape;
  std::string label;  // "input x.npy" or "input shape"
};

Operand operand(const std::optional<std::string>& file, const std::optional<std::string>& shape,
                const char* name, const char* file_opt, const char* shape_opt, bool need_data) {
  Operand op;
  if (file) {
    op.array = io::read_npy(*file);
    op.shape = op.array->shape;
    op.label = std::string(name) + " " + *file;
    return op;
  }
  if (shape && !need_data) {
    op.shape = parse_int_list(shape_opt, *shape, "1,28,28,32");
    op.label = std::string(name) + " (" + shape_opt + ")";
    return op;
  }
  bad_option(
      file_opt, "",
      std::string("missing: this pass needs the ") + name +
          (need_data ? " data" : " (or only its shape)"),
      std::string(file_opt) + " FILE.npy" + (need_data ? "" : std::string(" or ") + shape_opt),
      std::string("pass ") + file_opt + " with a float32 .npy file");
}

void check_pass_options(const RunArgs& a) {
  const bool fwd = a.pass == "fwd";
  if (!fwd && a.pass != "bwd_data" && a.pass != "bwd_filter") {
    bad_option("--pass", a.pass, "unknown pass", "fwd | bwd_data | bwd_filter",
               "fwd computes y = conv(x, w); bwd_data dx from dy and w; bwd_filter dw (and db) "
               "from x and dy");
  }
  if (fwd && (a.grad_output || a.bias_output)) {
    bad_option(a.grad_output ? "--grad-output" : "--bias-output",
               a.grad_output ? *a.grad_output : *a.bias_output, "only used by backward passes",
               "--pass bwd_data or --pass bwd_filter",
               "drop the option, or choose a backward pass");
  }
  if (!fwd && !a.grad_output) {
    bad_option("--grad-output", "",
               "missing: --pass " + a.pass +
                   " needs dy, the gradient of "
                   "the forward output",
               "--grad-output dy.npy", "pass the forward output's gradient");
  }
  if (a.pass != "bwd_filter" && a.bias_output) {
    bad_option("--bias-output", *a.bias_output, "only --pass bwd_filter computes a bias gradient",
               "--pass bwd_filter", "drop --bias-output");
  }
}

int run(const RunArgs& a) {
  check_pass_options(a);
  const ConvDesc desc = a.geometry.desc();
  PlanOptions options = a.compute.plan_options();
  if (a.kernel) options.force_kernel = *a.kernel;
  const bool fwd = a.pass == "fwd";
  const bool bwd_data = a.pass == "bwd_data";
  const bool bwd_filter = a.pass == "bwd_filter";
  // Read and validate everything before the output file is created.
  const Operand x = operand(a.input, a.input_shape, "input", "--input", "--input-shape", !bwd_data);
  const Operand w =
      operand(a.filter, a.filter_shape, "filter", "--filter", "--filter-shape", !bwd_filter);
  std::optional<io::NpyArray> b;
  if (a.bias) b = io::read_npy(*a.bias);
  std::optional<io::NpyArray> dy;
  if (a.grad_output) dy = io::read_npy(*a.grad_output);
  std::optional<std::vector<std::int64_t>> bias_shape;
  if (b) bias_shape = b->shape;
  if (bwd_filter && a.bias_output) {
    // The bias gradient has C_out values; resolve() checks the filter gives them.
    bias_shape = std::vector<std::int64_t>{
        desc.filter_format == FilterFormat::kHWIO && w.shape.size() == 4 ? w.shape[3]
        : w.shape.empty()                                                ? 0
                                                                         : w.shape[0]};
  }
  const Shapes shapes{x.shape, w.shape, bias_shape};
  Geometry g;
  try {
    g = fwd ? resolve(desc, shapes) : resolve_backward(desc, shapes, dy->shape);
  } catch (const ShapeError& e) {
    // Say which file holds which shape: the diagnostic itself only knows shapes.
    Diagnostic d = e.diagnostic();
    d.context.push_back(
        x.label + " " + shape_string(x.shape) + ", " + w.label + " " + shape_string(w.shape) +
        (b ? ", bias " + *a.bias + " " + shape_string(b->shape) : "") +
        (dy ? ", grad_output " + *a.grad_output + " " + shape_string(dy->shape) : ""));
    throw ShapeError(std::move(d));
  }
  check_fits_in_memory(g, a.output);
  std::vector<float> out;
  std::vector<float> db;
  std::string kernel;
  int threads = 0;
  const auto t0 = std::chrono::steady_clock::now();
  if (fwd) {
    Plan plan(desc, shapes, w.array->data.data(), b ? b->data.data() : nullptr, options);
    if (a.compute.verbose_enabled()) {
      std::fprintf(stderr, "groupconv: kernel selection (isa %s, %d threads):\n%s",
                   to_string(plan.isa()), plan.threads(), plan.selection_log().c_str());
    }
    out.resize(static_cast<std::size_t>(g.output_elements()));
    plan.execute(x.array->data.data(), out.data());
    kernel = plan.kernel_name();
    threads = plan.threads();
  } else if (bwd_data) {
    BackwardDataPlan plan(desc, shapes, dy->shape, w.array->data.data(), options);
    out.resize(static_cast<std::size_t>(g.input_elements()));
    plan.execute(dy->data.data(), out.data());
    kernel = plan.kernel_name();
    threads = options.threads > 0 ? options.threads : default_threads();
  } else {
    BackwardFilterPlan plan(desc, shapes, dy->shape, options);
    out.resize(static_cast<std::size_t>(g.filter_elements()));
    if (a.bias_output) db.resize(static_cast<std::size_t>(g.c_out));
    plan.execute(x.array->data.data(), dy->data.data(), out.data(),
                 a.bias_output ? db.data() : nullptr);
    kernel = plan.kernel_name();
    threads = options.threads > 0 ? options.threads : default_threads();
  }
  if (a.compute.verbose_enabled() && !fwd) {
    std::fprintf(stderr, "groupconv: %s kernel %s\n", a.pass.c_str(), kernel.c_str());
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto out_shape = fwd ? g.output_shape() : bwd_data ? g.input_shape() : g.filter_shape();
  const char* layout = bwd_filter ? to_string(g.filter_format) : to_string(g.data_format);
  if (a.bias_output) {
    io::write_npy(*a.bias_output, {g.c_out}, db.data());
  }
  io::write_npy(a.output, std::vector<std::int64_t>(out_shape.begin(), out_shape.end()),
                out.data());
  std::printf("wrote %s: %s float32 %s (%s, kernel %s, %d threads, %.3f ms)\n", a.output.c_str(),
              shape_of(out_shape).c_str(), layout, a.pass.c_str(), kernel.c_str(), threads, ms);
  if (a.bias_output) {
    std::printf("wrote %s: [%lld] float32 (bias gradient)\n", a.bias_output->c_str(),
                static_cast<long long>(g.c_out));
  }
  return 0;
}

}  // namespace

int run_run(const RunArgs& args) { return run(args); }

}  // namespace groupconv::cli
