// groupconv: the command-line tool (SPEC section 3).
//
//   groupconv check  shapes -> output shape, per-group breakdown, FLOPs, bytes (or the diagnostic)
//   groupconv run    .npy in, .npy out
//   groupconv bench  a layers.csv suite: GFLOP/s, % of peak and of the roofline, kernel chosen
//   groupconv demo   the product in one minute
//
// Exit status: 0 success, 2 invalid arguments or data (the rendered diagnostic on stderr),
// 1 internal error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <vector>

#include "common.hpp"

namespace {

namespace cli = groupconv::cli;

// A registered subcommand: its CLI11 node and what to run when it was given.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

void add_options(CLI::App& app, cli::GeometryOptions& o) {
  app.add_option("--groups", o.groups,
                 "number of groups G (default: inferred as C_in / filter in-channels, like "
                 "tf.nn.conv2d)");
  app.add_option("--strides", o.strides, "S, SH,SW, or TF's 1,SH,SW,1 (default 1)");
  app.add_option("--dilations", o.dilations, "D, DH,DW, or TF's 1,DH,DW,1 (default 1)");
  app.add_option("--padding", o.padding,
                 "VALID (default), SAME (extra at bottom/right), SAME_LOWER, or explicit "
                 "T,B,L,R (also P or PH,PW)");
  app.add_option("--data-format", o.data_format, "NHWC (default, TensorFlow) or NCHW (PyTorch)");
  app.add_option("--filter-format", o.filter_format,
                 "HWIO [KH,KW,C_in/G,C_out] (default) or OIHW [C_out,C_in/G,KH,KW]");
  app.add_option("--expect-output-channels", o.expect_output_channels,
                 "fail unless the convolution produces exactly C output channels (catches "
                 "per-group filters)");
}

void add_options(CLI::App& app, cli::ComputeOptions& o, bool with_isa = true) {
  app.add_option("--threads", o.threads, "worker threads (default 0 = all cores)");
  if (with_isa) {
    app.add_option("--isa", o.isa,
                   "highest instruction set to use: portable, avx2 or avx512 (default: the "
                   "best this CPU has; env GROUPCONV_MAX_ISA caps it too)");
  }
  app.add_flag("-v,--verbose", o.verbose,
               "print which kernel was chosen and why the others declined (stderr); env "
               "GROUPCONV_VERBOSE=1 does the same");
}

Command add_check(CLI::App& root) {
  auto args = std::make_shared<cli::CheckArgs>();
  CLI::App* app =
      root.add_subcommand("check",
                          "Validate a convolution's shapes and print its output shape, per-group "
                          "breakdown, FLOPs and bytes (nothing is computed)");
  app->add_option("--input-shape", args->input_shape,
                  "input shape N,H,W,C (NHWC) or N,C,H,W (NCHW), e.g. 1,28,28,32")
      ->required();
  app->add_option("--filter-shape", args->filter_shape,
                  "filter shape KH,KW,C_in/G,C_out (HWIO) or C_out,C_in/G,KH,KW (OIHW), e.g. "
                  "3,3,8,64")
      ->required();
  app->add_option("--bias-shape", args->bias_shape, "bias shape C_out (optional)");
  add_options(*app, args->geometry);
  return {app, [args] { return cli::run_check(*args); }};
}

Command add_run(CLI::App& root) {
  auto args = std::make_shared<cli::RunArgs>();
  CLI::App* app = root.add_subcommand(
      "run",
      "Convolve .npy files: float32, little-endian, C order; shapes come from the files. "
      "The output appears complete or not at all");
  app->add_option("--input", args->input,
                  "input .npy, NHWC (or NCHW with --data-format); for --pass bwd_data only its "
                  "shape is used (or give --input-shape)");
  app->add_option("--filter", args->filter,
                  "filter .npy, HWIO (or OIHW with --filter-format); for --pass bwd_filter only "
                  "its shape is used (or give --filter-shape)");
  app->add_option("--bias", args->bias, "bias .npy of shape [C_out] (optional)");
  app->add_option("--output", args->output, "output .npy (written atomically)")->required();
  app->add_option("--pass", args->pass,
                  "fwd (default): y = conv(x, w); bwd_data: dx from --grad-output and --filter; "
                  "bwd_filter: dw (and db with --bias-output) from --input and --grad-output");
  app->add_option("--grad-output", args->grad_output,
                  "dy.npy, the gradient of the forward output (backward passes)");
  app->add_option("--input-shape", args->input_shape,
                  "forward input shape for --pass bwd_data when no --input file is given");
  app->add_option("--filter-shape", args->filter_shape,
                  "filter shape for --pass bwd_filter when no --filter file is given");
  app->add_option("--bias-output", args->bias_output,
                  "--pass bwd_filter: also write the bias gradient db [C_out] here");
  app->add_option("--kernel", args->kernel,
                  "use exactly this kernel (by name, see --verbose); fails if it declines");
  add_options(*app, args->geometry);
  add_options(*app, args->compute);
  return {app, [args] { return cli::run_run(*args); }};
}

Command add_bench(CLI::App& root) {
  auto args = std::make_shared<cli::BenchArgs>();
  CLI::App* app = root.add_subcommand(
      "bench",
      "Time every layer of a suite file (e.g. bench/layers.csv): GFLOP/s, % of peak, "
      "% of roofline, kernel chosen");
  app->add_option("--layers", args->layers,
                  "suite file: name,n,h,w,c_in,c_out,groups,kh,kw,stride_h,stride_w,dil_h,dil_w,"
                  "padding per line")
      ->required();
  app->add_option("--min-time", args->min_time,
                  "seconds of timed runs per layer (at least 5 runs; default 0.5)");
  app->add_option("--csv", args->csv, "write name,threads,gflop,median_ms,gflops,kernel rows");
  app->add_option("--plot", args->plot, "write an SVG bar chart of GFLOP/s with the rooflines");
  app->add_option("--filter", args->filter, "only the layers whose name contains this text");
  app->add_option("--pass", args->pass,
                  "fwd (default), bwd_data (input gradient), bwd_filter (filter and bias "
                  "gradient) or all; backward rows are named layer:pass and quote GFLOP/s with "
                  "the forward FLOP count");
  add_options(*app, args->compute);
  return {app, [args] { return cli::run_bench(*args); }};
}

Command add_demo(CLI::App& root) {
  auto args = std::make_shared<cli::DemoArgs>();
  CLI::App* app = root.add_subcommand(
      "demo",
      "A one-minute tour on built-in data: a grouped convolution checked against the "
      "reference, the shape mistakes it explains, a short benchmark");
  add_options(*app, args->compute);
  app->add_option("--min-time", args->min_time,
                  "seconds of timing per benchmark layer (default 0.2)");
  app->add_flag("--no-bench", args->no_bench, "skip the benchmark part");
  return {app, [args] { return cli::run_demo(*args); }};
}

int run_cli(int argc, char** argv) {
  using namespace groupconv;
  CLI::App app{
      "groupconv: grouped 2-D convolution on the CPU (depthwise, grouped, pointwise), with "
      "diagnostics that explain shape mistakes.\nExit status: 0 ok, 2 invalid arguments or "
      "data, 1 internal error.",
      "groupconv"};
  app.require_subcommand(1);
  app.footer(
      "Run `groupconv <command> --help` for a command's options; `groupconv demo` for a "
      "tour.");
  std::vector<Command> commands = {add_check(app), add_run(app), add_bench(app), add_demo(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    for (const auto& c : commands) {
      if (c.app->parsed()) return c.run();
    }
    std::fputs(app.help().c_str(), stderr);
    return 2;
  } catch (const ShapeError& e) {
    std::fflush(stdout);
    std::fputs(e.what(), stderr);
    return 2;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fputs("error: out of memory\n", stderr);
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Building the option tree allocates too: nothing may escape main.
  try {
    return run_cli(argc, argv);
  } catch (...) {
    std::fputs("internal error: unexpected exception\n", stderr);
    return 1;
  }
}
