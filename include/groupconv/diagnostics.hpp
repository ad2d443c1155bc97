// Structured diagnostics: every refusal of groupconv has a stable code, a one-line summary,
// the shapes involved (labelled), the rule that was checked with the numbers filled in,
// what was expected and what was found, a `help:` line with the fix and a one-line repro.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace groupconv {

// Stable codes. Never renumber: users grep for them and the docs explain each one.
enum class Code : int {
  kCinNotDivisible = 1,   // GC001 C_in not divisible by groups
  kCoutNotDivisible = 2,  // GC002 C_out not divisible by groups
  kFilterInChannels = 3,  // GC003 filter in-channels != C_in / groups
  kGroupsMismatch = 4,    // GC004 explicit groups disagrees with the shapes
  kFilterLayout = 5,      // GC005 filter given in the other layout (HWIO vs OIHW)
  kOutputChannels = 6,    // GC006 --expect-output-channels mismatch (per-group filter)
  kRank = 7,              // GC007 wrong rank of input, filter, bias or gradient
  kDtype = 8,             // GC008 wrong element type (CLI, Python)
  kNonPositiveSize = 9,   // GC009 zero or negative channel / spatial / kernel size
  kStride = 10,           // GC010 zero or negative stride, or wrong list length
  kDilation = 11,         // GC011 zero or negative dilation, or wrong list length
  kGroups = 12,           // GC012 zero or negative groups
  kFourList = 13,         // GC013 TF 4-list with non-1 N/C entries
  kNegativePadding = 14,  // GC014 negative explicit padding
  kEmptyOutput = 15,      // GC015 dilated kernel larger than the padded input
  kBias = 16,             // GC016 bias of the wrong length
  kOverflow = 17,         // GC017 sizes whose element or byte counts overflow
  kGradOutputShape = 18,  // GC018 dy does not match the forward output shape
  kBadArgument = 19,      // GC019 other invalid argument (null pointer, bad option)
  kFile = 20,             // GC020 unreadable or malformed file (.npy)
};

// "GC003" for Code::kFilterInChannels.
std::string code_string(Code code);

struct Diagnostic {
  Code code = Code::kBadArgument;
  std::string summary;               // one line, no trailing period
  std::vector<std::string> context;  // labelled shapes and derived numbers, one per line
  std::string rule;                  // the rule checked, numbers filled in
  std::string expected;              // what would have been accepted
  std::string found;                 // what was given
  std::string help;                  // the concrete fix
  std::string repro;                 // one-line command that reproduces the refusal

  // Multi-line rendering in the style of rustc:
  //   error[GC003]: filter does not fit groups=4
  //     input  [N=1, H=28, W=28, C=32]  NHWC: 32 channels = 4 groups x 8
  //     ...
  //     help: ...
  [[nodiscard]] std::string render() const;
};

// Thrown by the C++ API for every invalid configuration. Derives from std::invalid_argument,
// so code that already catches that keeps working; what() is the rendered diagnostic.
class ShapeError : public std::invalid_argument {
 public:
  explicit ShapeError(Diagnostic diagnostic);
  [[nodiscard]] const Diagnostic& diagnostic() const noexcept { return diagnostic_; }
  [[nodiscard]] Code code() const noexcept { return diagnostic_.code; }

 private:
  Diagnostic diagnostic_;
};

}  // namespace groupconv
