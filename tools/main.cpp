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
#include <new>
#include <vector>

#include "common.hpp"

namespace {

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
  std::vector<cli::Command> commands = {cli::add_check(app), cli::add_run(app), cli::add_bench(app),
                                        cli::add_demo(app)};
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
