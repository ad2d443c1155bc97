// Shared pieces of the `groupconv` command-line tool: the geometry options of `check` and
// `run`, strict parsing of option values (every refusal is a ShapeError with Code::kBadArgument,
// so it is rendered like any other diagnostic and exits with status 2), and output helpers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "groupconv/groupconv.hpp"

namespace groupconv::cli {

// What `check` prints for a valid geometry: the output shape, describe(g), the channel ranges
// of each group and the work.
std::string check_report(const Geometry& g);

// Throws ShapeError(kBadArgument): "--option 'value': what", with the expected form and a fix.
[[noreturn]] void bad_option(const std::string& option, const std::string& value,
                             const std::string& what, const std::string& expected,
                             const std::string& help);

// "1,28,28,32", "[1, 28, 28, 32]" or "(2,)" -> integers. Refuses garbage, empty entries and
// values that do not fit in int64.
std::vector<std::int64_t> parse_int_list(const std::string& option, const std::string& value,
                                         const std::string& example);

// The options that describe a convolution, shared by `check` and `run`.
struct GeometryOptions {
  std::optional<std::string> groups, strides, dilations, padding, data_format, filter_format,
      expect_output_channels;

  // Parses every value (throws ShapeError(kBadArgument) on garbage).
  [[nodiscard]] ConvDesc desc() const;
};

// --threads, --isa, --verbose: the options of every command that computes.
struct ComputeOptions {
  int threads = 0;
  std::optional<std::string> isa;
  bool verbose = false;

  // threads (0 = all cores) and the ISA cap; validated.
  [[nodiscard]] PlanOptions plan_options() const;
  // --verbose, or GROUPCONV_VERBOSE set to anything but "" or "0".
  [[nodiscard]] bool verbose_enabled() const;
  // The number of threads a plan will use.
  [[nodiscard]] int resolved_threads() const;
};

// What each command was given (main.cpp fills them from the command line) and the command.
// Only main.cpp includes CLI11: it is header-only, and each translation unit that included it
// spent ~30 s of an ASan build compiling its inline functions again.
struct CheckArgs {
  std::string input_shape, filter_shape;
  std::optional<std::string> bias_shape;
  GeometryOptions geometry;
};
int run_check(const CheckArgs& args);

struct RunArgs {
  std::string output;
  std::optional<std::string> input, filter, bias, kernel;
  // Backward passes: the forward output's gradient, shapes of tensors whose data is not
  // needed, and where the bias gradient goes.
  std::optional<std::string> grad_output, input_shape, filter_shape, bias_output;
  std::string pass = "fwd";
  GeometryOptions geometry;
  ComputeOptions compute;
};
int run_run(const RunArgs& args);

struct BenchArgs {
  std::string layers;
  double min_time = 0.5;
  std::optional<std::string> csv, plot, filter;
  std::string pass = "fwd";
  ComputeOptions compute;
};
int run_bench(const BenchArgs& args);

struct DemoArgs {
  ComputeOptions compute;
  double min_time = 0.2;
  bool no_bench = false;
};
int run_demo(const DemoArgs& args);

Isa parse_isa(const std::string& option, const std::string& value);

// printf into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "14.45 MFLOP", "1.2 GB": value with an SI prefix.
std::string si(double value, const char* unit);
// "[1, 28, 28, 64]"
std::string shape_of(const std::array<std::int64_t, 4>& s);

// Terminal styling for stdout (off when stdout is not a terminal or NO_COLOR is set).
struct Style {
  static bool enabled();
  static std::string bold(const std::string& s);
  static std::string dim(const std::string& s);
  static std::string green(const std::string& s);
  static std::string red(const std::string& s);
};

}  // namespace groupconv::cli
