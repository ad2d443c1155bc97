// `groupconv run`: reads the input, filter and optional bias from .npy files, convolves, and
// writes the output .npy atomically (it appears complete or not at all). Shapes come from the
// files; everything is validated before any output is created.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "common.hpp"
#include "io/npy.hpp"

namespace groupconv::cli {
namespace {

struct RunArgs {
  std::string input, filter, output;
  std::optional<std::string> bias, kernel;
  std::string pass = "fwd";
  GeometryOptions geometry;
  ComputeOptions compute;
};

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

int run(const RunArgs& a) {
  if (a.pass != "fwd") {
    if (a.pass == "bwd_data" || a.pass == "bwd_filter" || a.pass == "bwd") {
      bad_option("--pass", a.pass, "not implemented yet", "fwd",
                 "only the forward pass is available in this version");
    }
    bad_option("--pass", a.pass, "unknown pass", "fwd", "use --pass fwd (the default)");
  }
  const ConvDesc desc = a.geometry.desc();
  PlanOptions options = a.compute.plan_options();
  if (a.kernel) options.force_kernel = *a.kernel;
  // Read and validate everything before the output file is created.
  const io::NpyArray x = io::read_npy(a.input);
  const io::NpyArray w = io::read_npy(a.filter);
  std::optional<io::NpyArray> b;
  if (a.bias) b = io::read_npy(*a.bias);
  const Shapes shapes{x.shape, w.shape, b ? std::optional(b->shape) : std::nullopt};
  Geometry g;
  try {
    g = resolve(desc, shapes);
  } catch (const ShapeError& e) {
    // Say which file holds which shape: the diagnostic itself only knows shapes.
    Diagnostic d = e.diagnostic();
    d.context.push_back("files: input " + a.input + " " + shape_string(x.shape) + ", filter " +
                        a.filter + " " + shape_string(w.shape) +
                        (b ? ", bias " + *a.bias + " " + shape_string(b->shape) : ""));
    throw ShapeError(std::move(d));
  }
  check_fits_in_memory(g, a.output);
  Plan plan(desc, shapes, w.data.data(), b ? b->data.data() : nullptr, options);
  if (a.compute.verbose_enabled()) {
    std::fprintf(stderr, "groupconv: kernel selection (isa %s, %d threads):\n%s",
                 to_string(plan.isa()), plan.threads(), plan.selection_log().c_str());
  }
  std::vector<float> y(static_cast<std::size_t>(g.output_elements()));
  const auto t0 = std::chrono::steady_clock::now();
  plan.execute(x.data.data(), y.data());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto out_shape = g.output_shape();
  io::write_npy(a.output, std::vector<std::int64_t>(out_shape.begin(), out_shape.end()), y.data());
  std::printf("wrote %s: %s float32 %s (kernel %s, %d threads, %.3f ms)\n", a.output.c_str(),
              shape_of(out_shape).c_str(), to_string(g.data_format), plan.kernel_name().c_str(),
              plan.threads(), ms);
  return 0;
}

}  // namespace

Command add_run(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand(
      "run",
      "Convolve .npy files: float32, little-endian, C order; shapes come from the files. "
      "The output appears complete or not at all");
  app->add_option("--input", args->input, "input .npy, NHWC (or NCHW with --data-format)")
      ->required();
  app->add_option("--filter", args->filter, "filter .npy, HWIO (or OIHW with --filter-format)")
      ->required();
  app->add_option("--bias", args->bias, "bias .npy of shape [C_out] (optional)");
  app->add_option("--output", args->output, "output .npy (written atomically)")->required();
  app->add_option("--pass", args->pass,
                  "which pass to compute: fwd (default; the only one so far)");
  app->add_option("--kernel", args->kernel,
                  "use exactly this kernel (by name, see --verbose); fails if it declines");
  args->geometry.add_to(*app);
  args->compute.add_to(*app);
  return {app, [args] { return run(*args); }};
}

}  // namespace groupconv::cli
