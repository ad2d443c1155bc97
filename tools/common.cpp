#include "common.hpp"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace groupconv::cli {

void bad_option(const std::string& option, const std::string& value, const std::string& what,
                const std::string& expected, const std::string& help) {
  Diagnostic d;
  d.code = Code::kBadArgument;
  d.summary = option + " '" + value + "': " + what;
  d.expected = expected;
  d.found = "'" + value + "'";
  d.help = help;
  throw ShapeError(std::move(d));
}

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::int64_t parse_int(const std::string& option, const std::string& value,
                       const std::string& example) {
  const std::string t = trim(value);
  std::int64_t v = 0;
  const char* end = t.data() + t.size();
  const auto [p, ec] = std::from_chars(t.data(), end, v);
  if (t.empty() || ec == std::errc::invalid_argument || p != end) {
    bad_option(option, value, "not an integer", "an integer, e.g. " + example,
               "write a plain decimal integer, e.g. " + option + " " + example);
  }
  if (ec == std::errc::result_out_of_range) {
    bad_option(option, value, "out of range", "an integer that fits in 64 bits",
               "check the value for a typo");
  }
  return v;
}

}  // namespace

std::vector<std::int64_t> parse_int_list(const std::string& option, const std::string& value,
                                         const std::string& example) {
  std::string s = trim(value);
  // Accept pasted numpy / Python shapes: "(1, 28, 28, 32)", "[3, 3, 8, 64]", "(7,)".
  if (s.size() >= 2 &&
      ((s.front() == '(' && s.back() == ')') || (s.front() == '[' && s.back() == ']'))) {
    s = trim(s.substr(1, s.size() - 2));
    if (!s.empty() && s.back() == ',') s.pop_back();
  }
  if (s.empty()) {
    bad_option(option, value, "empty list", "comma-separated integers, e.g. " + example,
               "e.g. " + option + " " + example);
  }
  std::vector<std::int64_t> out;
  std::string usage = "e.g. ";
  usage += option;
  usage += ' ';
  usage += example;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    const std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (trim(item).empty()) {
      bad_option(option, value, "empty entry in the list",
                 "comma-separated integers, e.g. " + example, usage);
    }
    std::int64_t v = 0;
    try {
      v = parse_int(option, item, example);
    } catch (const ShapeError&) {
      bad_option(option, value, "'" + trim(item) + "' is not an integer",
                 "comma-separated integers, e.g. " + example, usage);
    }
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

ConvDesc GeometryOptions::desc() const {
  ConvDesc d;
  if (groups) {
    const auto v = parse_int_list("--groups", *groups, "4");
    if (v.size() != 1) {
      bad_option("--groups", *groups, "expected one integer", "one integer", "e.g. --groups 4");
    }
    d.groups = v[0];
  }
  if (strides) d.strides = parse_int_list("--strides", *strides, "2 or 2,1");
  if (dilations) d.dilations = parse_int_list("--dilations", *dilations, "2 or 2,1");
  if (padding) {
    const std::string p = upper(trim(*padding));
    if (p == "VALID") {
      d.padding = Padding::kValid;
    } else if (p == "SAME" || p == "SAME_UPPER") {
      d.padding = Padding::kSame;
    } else if (p == "SAME_LOWER") {
      d.padding = Padding::kSameLower;
    } else {
      if (p.empty() || (!std::isdigit(static_cast<unsigned char>(p[0])) && p[0] != '-' &&
                        p[0] != '(' && p[0] != '[')) {
        bad_option("--padding", *padding, "not a padding mode",
                   "VALID, SAME, SAME_LOWER, or explicit pads T,B,L,R",
                   "e.g. --padding SAME or --padding 1,1,1,1");
      }
      const auto v = parse_int_list("--padding", *padding, "1,1,1,1");
      d.padding = Padding::kExplicit;
      if (v.size() == 1) {
        d.explicit_pads = {v[0], v[0], v[0], v[0]};
      } else if (v.size() == 2) {
        d.explicit_pads = {v[0], v[0], v[1], v[1]};
      } else if (v.size() == 4) {
        d.explicit_pads = {v[0], v[1], v[2], v[3]};
      } else {
        bad_option("--padding", *padding,
                   "explicit padding needs 1, 2 or 4 values, found " + std::to_string(v.size()),
                   "P (all sides), PH,PW (symmetric), or T,B,L,R",
                   "e.g. --padding 1,1,1,1 (top, bottom, left, right)");
      }
    }
  }
  if (data_format) {
    const std::string f = upper(trim(*data_format));
    if (f == "NHWC") {
      d.data_format = DataFormat::kNHWC;
    } else if (f == "NCHW") {
      d.data_format = DataFormat::kNCHW;
    } else {
      bad_option("--data-format", *data_format, "unknown layout", "NHWC or NCHW",
                 "NHWC is TensorFlow's default, NCHW PyTorch's");
    }
  }
  if (filter_format) {
    const std::string f = upper(trim(*filter_format));
    if (f == "HWIO") {
      d.filter_format = FilterFormat::kHWIO;
    } else if (f == "OIHW") {
      d.filter_format = FilterFormat::kOIHW;
    } else {
      bad_option("--filter-format", *filter_format, "unknown filter layout", "HWIO or OIHW",
                 "HWIO is TensorFlow's [KH,KW,C_in/G,C_out], OIHW PyTorch's [C_out,C_in/G,KH,KW]");
    }
  }
  if (expect_output_channels) {
    const auto v = parse_int_list("--expect-output-channels", *expect_output_channels, "64");
    if (v.size() != 1) {
      bad_option("--expect-output-channels", *expect_output_channels, "expected one integer",
                 "one integer", "e.g. --expect-output-channels 64");
    }
    d.expect_output_channels = v[0];
  }
  return d;
}

Isa parse_isa(const std::string& option, const std::string& value) {
  const std::string v = upper(trim(value));
  if (v == "PORTABLE") return Isa::kPortable;
  if (v == "AVX2") return Isa::kAvx2;
  if (v == "AVX512") return Isa::kAvx512;
  bad_option(option, value, "unknown instruction set", "portable, avx2 or avx512",
             "the fastest level the CPU supports is used by default; pass a lower one to test "
             "that path");
}

PlanOptions ComputeOptions::plan_options() const {
  PlanOptions o;
  if (threads < 0) {
    bad_option("--threads", std::to_string(threads), "must be >= 0", "0 (all cores) or a count",
               "e.g. --threads 1");
  }
  o.threads = threads;
  if (isa) o.max_isa = parse_isa("--isa", *isa);
  return o;
}

bool ComputeOptions::verbose_enabled() const {
  if (verbose) return true;
  const char* v = std::getenv("GROUPCONV_VERBOSE");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

int ComputeOptions::resolved_threads() const { return threads > 0 ? threads : default_threads(); }

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  // va_copy initialised `copy`; clang 14's analyzer does not see it (a false positive).
  const int n =
      std::vsnprintf(nullptr, 0, fmt, copy);  // NOLINT(clang-analyzer-valist.Uninitialized)
  va_end(copy);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

std::string si(double value, const char* unit) {
  static const char* const prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  while (std::fabs(value) >= 1000.0 && i < 6) {
    value /= 1000.0;
    ++i;
  }
  return format(i == 0 ? "%.0f %s%s" : "%.2f %s%s", value, prefixes[i], unit);
}

std::string shape_of(const std::array<std::int64_t, 4>& s) {
  return shape_string(std::vector<std::int64_t>(s.begin(), s.end()));
}

bool Style::enabled() {
  static const bool on = ::isatty(1) != 0 && std::getenv("NO_COLOR") == nullptr;
  return on;
}
std::string Style::bold(const std::string& s) { return enabled() ? "\033[1m" + s + "\033[0m" : s; }
std::string Style::dim(const std::string& s) { return enabled() ? "\033[2m" + s + "\033[0m" : s; }
std::string Style::green(const std::string& s) {
  return enabled() ? "\033[32m" + s + "\033[0m" : s;
}
std::string Style::red(const std::string& s) { return enabled() ? "\033[31m" + s + "\033[0m" : s; }

}  // namespace groupconv::cli
