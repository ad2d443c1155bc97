#include "groupconv/diagnostics.hpp"

#include <cstdio>

namespace groupconv {

std::string code_string(Code code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "GC%03d", static_cast<int>(code));
  return buf;
}

std::string Diagnostic::render() const {
  std::string out = "error[" + code_string(code) + "]: " + summary + "\n";
  for (const auto& line : context) out += "  " + line + "\n";
  if (!rule.empty()) out += "  rule:     " + rule + "\n";
  if (!expected.empty()) out += "  expected: " + expected + "\n";
  if (!found.empty()) out += "  found:    " + found + "\n";
  if (!help.empty()) out += "  help: " + help + "\n";
  if (!repro.empty()) out += "  repro: " + repro + "\n";
  return out;
}

ShapeError::ShapeError(Diagnostic diagnostic)
    : std::invalid_argument(diagnostic.render()), diagnostic_(std::move(diagnostic)) {}

}  // namespace groupconv
