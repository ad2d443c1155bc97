// Validation and resolution of a convolution descriptor: the one place where shapes are
// checked. Each refusal builds a Diagnostic (see diagnostics.hpp for the codes) before any
// allocation of tensor memory or any work.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "groupconv/geometry.hpp"

namespace groupconv {
namespace {

using i64 = std::int64_t;
using Dims = std::vector<i64>;

std::string str(i64 v) { return std::to_string(v); }

std::string join(const std::vector<i64>& v, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != 0) out += sep;
    out += std::to_string(v[i]);
  }
  return out;
}

// The four dims of a filter, whichever layout it is in.
struct FilterDims {
  i64 kh, kw, in, out;
};

FilterDims filter_dims(FilterFormat f, const Dims& s) {
  if (f == FilterFormat::kHWIO) return {s[0], s[1], s[2], s[3]};
  return {s[2], s[3], s[1], s[0]};
}

Dims make_filter_shape(FilterFormat f, i64 kh, i64 kw, i64 in, i64 out) {
  if (f == FilterFormat::kHWIO) return {kh, kw, in, out};
  return {out, in, kh, kw};
}

FilterFormat other(FilterFormat f) {
  return f == FilterFormat::kHWIO ? FilterFormat::kOIHW : FilterFormat::kHWIO;
}

// Divisors of n in increasing order, at most `limit` of them (n may be huge: bounded work,
// at most 10^6 trial divisions; larger n get no list).
std::vector<i64> divisors(i64 n, std::size_t limit) {
  std::vector<i64> small, large;
  if (n <= 0 || n > 1'000'000'000'000LL) return {};
  for (i64 d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    small.push_back(d);
    if (d != n / d) large.push_back(n / d);
  }
  small.insert(small.end(), large.rbegin(), large.rend());
  if (small.size() > limit) {
    small.resize(limit);
  }
  return small;
}

// "1, 3, 11, 33" (with ", ..." when the list was cut at `limit`).
std::string divisor_list(i64 n, std::size_t limit) {
  const auto all = divisors(n, limit + 1);
  if (all.empty()) return {};
  std::string out;
  for (std::size_t i = 0; i < all.size() && i < limit; ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(all[i]);
  }
  if (all.size() > limit) out += ", ...";
  return out;
}

// Arithmetic for messages only: nullopt instead of overflow (the numbers in a diagnostic
// come from user input and may be anything).
std::optional<i64> opt_mul(i64 a, i64 b) {
  i64 r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The multiples of m nearest to v (m >= 1, v >= 1), below and above, positive and
// representable: "32 (4 x 8) or 36 (4 x 9)".
std::string nearest_multiples(i64 v, i64 m) {
  const i64 q = v / m;
  std::string out;
  if (q > 0)
    out = std::to_string(q * m) + " (" + std::to_string(m) + " x " + std::to_string(q) + ")";
  if (const auto hi = opt_mul(q + 1, m)) {
    if (!out.empty()) out += " or ";
    out += std::to_string(*hi) + " (" + std::to_string(m) + " x " + std::to_string(q + 1) + ")";
  }
  return out;
}

class Resolver {
 public:
  Resolver(const ConvDesc& d, const Shapes& s) : d_(d), s_(s) {}

  Geometry run() {
    check_ranks();
    read_shapes();
    check_sizes();
    read_strides_and_dilations();
    check_groups_and_padding_args();
    resolve_groups();
    check_output_channels();
    check_bias();
    resolve_padding_and_output();
    check_overflow();
    return g_;
  }

 private:
  const ConvDesc& d_;
  const Shapes& s_;
  Geometry g_;
  FilterDims f_{};

  // ---- rendering helpers -------------------------------------------------------------
  [[nodiscard]] std::string in_label() const {
    return labelled_input_shape(d_.data_format, s_.input);
  }
  [[nodiscard]] std::string filt_label() const {
    return labelled_filter_shape(d_.filter_format, s_.filter);
  }
  [[nodiscard]] std::string repro() const {
    std::string r = "groupconv check --input-shape " + join(s_.input, ",") + " --filter-shape " +
                    join(s_.filter, ",");
    if (d_.groups) r += " --groups " + str(*d_.groups);
    if (d_.strides != Dims{1}) r += " --strides " + join(d_.strides, ",");
    if (d_.dilations != Dims{1}) r += " --dilations " + join(d_.dilations, ",");
    if (d_.padding == Padding::kExplicit) {
      r += " --padding " + join({d_.explicit_pads.begin(), d_.explicit_pads.end()}, ",");
    } else if (d_.padding != Padding::kValid) {
      r += std::string(" --padding ") + to_string(d_.padding);
    }
    if (d_.data_format != DataFormat::kNHWC) r += " --data-format NCHW";
    if (d_.filter_format != FilterFormat::kHWIO) r += " --filter-format OIHW";
    if (s_.bias) r += " --bias-shape " + join(*s_.bias, ",");
    if (d_.expect_output_channels) {
      r += " --expect-output-channels " + str(*d_.expect_output_channels);
    }
    return r;
  }
  [[nodiscard]] std::string fmt_name(bool filter) const {
    return filter ? to_string(d_.filter_format) : to_string(d_.data_format);
  }

  [[noreturn]] void fail(Code code, std::string summary, std::vector<std::string> context,
                         std::string rule, std::string expected, std::string found,
                         std::string help) const {
    Diagnostic diag;
    diag.code = code;
    diag.summary = std::move(summary);
    diag.context = std::move(context);
    diag.rule = std::move(rule);
    diag.expected = std::move(expected);
    diag.found = std::move(found);
    diag.help = std::move(help);
    diag.repro = repro();
    throw ShapeError(std::move(diag));
  }

  // The two shapes, labelled, as the first context lines of most diagnostics.
  [[nodiscard]] std::vector<std::string> shapes_context(const std::string& in_note = {},
                                                        const std::string& filt_note = {}) const {
    std::vector<std::string> c;
    c.push_back("input  " + in_label() + "  " + fmt_name(false) +
                (in_note.empty() ? "" : ": " + in_note));
    c.push_back("filter " + filt_label() + "  " + fmt_name(true) +
                (filt_note.empty() ? "" : ": " + filt_note));
    return c;
  }

  // ---- checked arithmetic ------------------------------------------------------------
  [[nodiscard]] i64 mul(i64 a, i64 b, const char* what) const {
    i64 r = 0;
    if (__builtin_mul_overflow(a, b, &r)) overflow(what);
    return r;
  }
  [[nodiscard]] i64 add(i64 a, i64 b, const char* what) const {
    i64 r = 0;
    if (__builtin_add_overflow(a, b, &r)) overflow(what);
    return r;
  }
  [[noreturn]] void overflow(const char* what) const {
    fail(Code::kOverflow, std::string("sizes overflow 64-bit arithmetic (") + what + ")",
         shapes_context(), "every element count, byte count and FLOP count must fit in int64",
         "sizes whose products stay below 2^63 - 1", std::string(what) + " overflows",
         "check the shapes for a corrupted or mistyped dimension");
  }

  // The checked product of named factors; on overflow, a GC017 that shows the product.
  struct Factor {
    const char* name;
    i64 value;
  };
  [[nodiscard]] i64 product(std::initializer_list<Factor> factors, const char* what) const {
    i64 r = 1;
    bool over = false;
    for (const Factor& f : factors) over = over || __builtin_mul_overflow(r, f.value, &r);
    if (!over) return r;
    std::string names, values;
    for (const Factor& f : factors) {
      names += (names.empty() ? "" : " x ") + std::string(f.name);
      values += (values.empty() ? "" : " x ") + str(f.value);
    }
    fail(Code::kOverflow, std::string("sizes overflow 64-bit arithmetic (") + what + ")",
         shapes_context(), std::string(what) + " = " + names + " must fit in int64 (< 2^63)",
         std::string(what) + " <= 9223372036854775807",
         std::string(what) + " = " + values + " > 2^63 - 1",
         "check the shapes for a corrupted or mistyped dimension (a size read with the wrong "
         "byte order or from the wrong field)");
  }

  // ---- steps -------------------------------------------------------------------------
  void check_ranks() {
    const bool nhwc = d_.data_format == DataFormat::kNHWC;
    if (s_.input.size() != 4) {
      const std::string want = nhwc ? "[N, H, W, C]" : "[N, C, H, W]";
      fail(
          Code::kRank, "input must be 4-D " + want + " (" + fmt_name(false) + ")",
          {"input  " + shape_string(s_.input) + "  rank " + str(static_cast<i64>(s_.input.size()))},
          "rank(input) == 4", "a 4-D input " + want,
          "rank " + str(static_cast<i64>(s_.input.size())),
          s_.input.size() == 3 ? "an unbatched image: add a batch dimension of 1 (x[None] in numpy)"
          : s_.input.size() > 4
              ? "merge the leading batch dimensions into N: x.reshape(-1, *x.shape[-3:])"
              : "a 2-D convolution takes a 4-D input; reshape it to " + want);
    }
    if (s_.filter.size() != 4) {
      const std::string want = d_.filter_format == FilterFormat::kHWIO ? "[KH, KW, C_in/G, C_out]"
                                                                       : "[C_out, C_in/G, KH, KW]";
      fail(Code::kRank, "filter must be 4-D " + want + " (" + fmt_name(true) + ")",
           {"filter " + shape_string(s_.filter) + "  rank " +
            str(static_cast<i64>(s_.filter.size()))},
           "rank(filter) == 4", "a 4-D filter " + want,
           "rank " + str(static_cast<i64>(s_.filter.size())),
           "a 2-D convolution filter has 4 dims; reshape it to " + want);
    }
    if (s_.bias && s_.bias->size() != 1) {
      fail(
          Code::kRank, "bias must be 1-D [C_out]",
          {"bias   " + shape_string(*s_.bias) + "  rank " + str(static_cast<i64>(s_.bias->size()))},
          "rank(bias) == 1", "a 1-D bias [C_out]", "rank " + str(static_cast<i64>(s_.bias->size())),
          "flatten the bias to one value per output channel");
    }
  }

  void read_shapes() {
    const auto& in = s_.input;
    if (d_.data_format == DataFormat::kNHWC) {
      g_.n = in[0], g_.h = in[1], g_.w = in[2], g_.c_in = in[3];
    } else {
      g_.n = in[0], g_.c_in = in[1], g_.h = in[2], g_.w = in[3];
    }
    f_ = filter_dims(d_.filter_format, s_.filter);
    g_.data_format = d_.data_format;
    g_.filter_format = d_.filter_format;
    g_.kh = f_.kh, g_.kw = f_.kw;
  }

  void check_sizes() {
    auto bad = [&](bool filter, const char* dim, i64 v, bool zero_ok) {
      const std::string what = std::string(filter ? "filter " : "input ") + dim;
      fail(Code::kNonPositiveSize,
           what + " is " + str(v) + (zero_ok ? " (negative)" : " (must be >= 1)"), shapes_context(),
           std::string(dim) + (zero_ok ? " >= 0" : " >= 1"),
           std::string(dim) + (zero_ok ? " >= 0" : " >= 1"), std::string(dim) + " = " + str(v),
           zero_ok
               ? "the batch may be empty (N = 0) but never negative"
               : std::string("every ") + (filter ? "kernel and channel" : "channel and spatial") +
                     " size must be at least 1; check the shape and the layout option");
    };
    if (g_.n < 0) bad(false, "N", g_.n, true);
    if (g_.h <= 0) bad(false, "H", g_.h, false);
    if (g_.w <= 0) bad(false, "W", g_.w, false);
    if (g_.c_in <= 0) bad(false, "C", g_.c_in, false);
    if (f_.kh <= 0) bad(true, "KH", f_.kh, false);
    if (f_.kw <= 0) bad(true, "KW", f_.kw, false);
    if (f_.in <= 0) bad(true, "I", f_.in, false);
    if (f_.out <= 0) bad(true, "O", f_.out, false);
  }

  // 1, 2 or TF's 4 entries -> (h, w). The 4-list is in data_format order, with 1 at N and C.
  std::pair<i64, i64> read_pair(const Dims& v, const char* name, Code code) {
    const bool nhwc = d_.data_format == DataFormat::kNHWC;
    std::pair<i64, i64> hw;
    if (v.size() == 1) {
      hw = {v[0], v[0]};
    } else if (v.size() == 2) {
      hw = {v[0], v[1]};
    } else if (v.size() == 4) {
      const i64 n_entry = v[0];
      const i64 c_entry = nhwc ? v[3] : v[1];
      if (n_entry != 1 || c_entry != 1) {
        const std::string want = nhwc ? "[1, h, w, 1]" : "[1, 1, h, w]";
        fail(Code::kFourList,
             std::string(name) + " 4-list must have 1 in the batch and channel positions",
             {std::string(name) + " " + shape_string(v) + "  (" + fmt_name(false) + " order)"},
             std::string(name) + "[N] == 1 and " + name + "[C] == 1",
             std::string(name) + " = " + want, std::string(name) + " = " + shape_string(v),
             "convolution cannot stride or dilate over the batch or channels; pass " + want +
                 " or just [h, w]");
      }
      hw = nhwc ? std::pair{v[1], v[2]} : std::pair{v[2], v[3]};
    } else {
      fail(code, std::string(name) + " must have 1, 2 or 4 entries",
           {std::string(name) + " " + shape_string(v)},
           std::string("len(") + name + ") in {1, 2, 4}",
           "an int, [h, w], or [1, h, w, 1] (NHWC) / [1, 1, h, w] (NCHW)",
           str(static_cast<i64>(v.size())) + " entries", "pass one value for both dims or [h, w]");
    }
    if (hw.first <= 0 || hw.second <= 0) {
      fail(code, std::string(name) + " must be positive",
           {std::string(name) + " " + shape_string(v)}, std::string(name) + " >= 1 in H and W",
           std::string(name) + " >= 1",
           std::string(name) + " (h, w) = (" + str(hw.first) + ", " + str(hw.second) + ")",
           std::string(name) == "dilations" ? "use 1 for an ordinary (dense) kernel"
                                            : "use 1 to visit every pixel, 2 to halve the size");
    }
    return hw;
  }

  void read_strides_and_dilations() {
    std::tie(g_.sh, g_.sw) = read_pair(d_.strides, "strides", Code::kStride);
    std::tie(g_.dh, g_.dw) = read_pair(d_.dilations, "dilations", Code::kDilation);
  }

  void check_groups_and_padding_args() {
    if (d_.groups && *d_.groups <= 0) {
      fail(Code::kGroups, "groups must be at least 1, got " + str(*d_.groups), shapes_context(),
           "groups >= 1", "groups >= 1 (1 = ordinary convolution, C_in = depthwise)",
           "groups = " + str(*d_.groups),
           "omit groups to infer it as C_in / filter in-channels, as tf.nn.conv2d does");
    }
    if (d_.padding == Padding::kExplicit) {
      const auto& p = d_.explicit_pads;
      for (int i = 0; i < 4; ++i) {
        if (p[static_cast<std::size_t>(i)] < 0) {
          static const char* const names[] = {"top", "bottom", "left", "right"};
          fail(Code::kNegativePadding, std::string("explicit padding ") + names[i] + " is negative",
               {"padding (top, bottom, left, right) = (" + str(p[0]) + ", " + str(p[1]) + ", " +
                str(p[2]) + ", " + str(p[3]) + ")"},
               "every explicit pad >= 0", "pads >= 0",
               std::string(names[i]) + " = " + str(p[static_cast<std::size_t>(i)]),
               "zero padding only adds rows and columns; to crop, slice the input before the "
               "convolution");
        }
      }
    }
    if (d_.expect_output_channels && *d_.expect_output_channels <= 0) {
      fail(Code::kBadArgument, "expected output channels must be at least 1", shapes_context(),
           "expect_output_channels >= 1", ">= 1", str(*d_.expect_output_channels),
           "pass the number of output channels you expect, e.g. 64");
    }
  }

  // Would the filter fit if it were in the other layout?
  [[nodiscard]] bool fits_other_layout(std::optional<i64> groups) const {
    const FilterDims o = filter_dims(other(d_.filter_format), s_.filter);
    if (o.in <= 0 || o.out <= 0 || o.kh <= 0 || o.kw <= 0) return false;
    if (groups) return o.in == g_.c_in / *groups && g_.c_in % *groups == 0 && o.out % *groups == 0;
    return g_.c_in % o.in == 0 && o.out % (g_.c_in / o.in) == 0;
  }

  // A filter that resolved but whose kernel is larger than the padded input: is it a filter in
  // the other layout whose channel dims were read as the kernel size? Only when that reading
  // resolves exactly (same groups, a kernel that fits).
  [[nodiscard]] bool kernel_fits_other_layout() const {
    const FilterDims o = filter_dims(other(d_.filter_format), s_.filter);
    if (!fits_other_layout(d_.groups ? std::optional<i64>(g_.groups) : std::nullopt)) return false;
    const auto& p = d_.explicit_pads;
    const bool expl = d_.padding == Padding::kExplicit;
    const bool same = d_.padding == Padding::kSame || d_.padding == Padding::kSameLower;
    auto fits = [&](i64 in, i64 k, i64 dil, i64 before, i64 after) {
      if (same) return true;
      i64 padded = in;
      if (expl && (__builtin_add_overflow(padded, before, &padded) ||
                   __builtin_add_overflow(padded, after, &padded))) {
        return true;  // more padding than any kernel needs
      }
      const auto eff = opt_mul(k - 1, dil);  // padded >= (k - 1) * dil + 1
      return eff.has_value() && padded > *eff;
    };
    return fits(g_.h, o.kh, g_.dh, p[0], p[1]) && fits(g_.w, o.kw, g_.dw, p[2], p[3]);
  }

  [[noreturn]] void fail_other_layout() const {
    const FilterFormat want = d_.filter_format;
    const FilterDims o = filter_dims(other(want), s_.filter);
    const Dims fixed = make_filter_shape(want, o.kh, o.kw, o.in, o.out);
    const std::string perm = want == FilterFormat::kHWIO ? "(2, 3, 1, 0)" : "(3, 2, 0, 1)";
    fail(Code::kFilterLayout,
         std::string("filter looks like ") + to_string(other(want)) + " but " + to_string(want) +
             " is expected",
         shapes_context("", std::string("read as ") + to_string(other(want)) + " it would be " +
                                labelled_filter_shape(other(want), s_.filter)),
         std::string(to_string(want)) + " filters are " +
             (want == FilterFormat::kHWIO ? "[KH, KW, C_in/G, C_out]" : "[C_out, C_in/G, KH, KW]"),
         std::string(to_string(want)) + " filter " + shape_string(fixed),
         std::string(to_string(other(want))) + "-ordered filter " + shape_string(s_.filter),
         "transpose it with w.transpose" + perm + " in numpy (w.permute" + perm +
             " in PyTorch) to get " + shape_string(fixed) + ", or pass filter_format=" +
             to_string(other(want)) + " (--filter-format " + to_string(other(want)) + ")");
  }

  // GC001 help with explicit groups: the nearest valid C_in and the group counts that work.
  [[nodiscard]] std::string cin_suggestions(i64 groups, i64 fin) const {
    const i64 cin = g_.c_in;
    std::string s =
        "nearest C_in that groups=" + str(groups) + " accepts: " + nearest_multiples(cin, groups);
    const std::string divs = divisor_list(cin, 16);
    if (!divs.empty()) s += "; or use a group count that divides " + str(cin) + ": " + divs;
    const auto implied = opt_mul(fin, groups);
    if (implied && *implied != cin) {
      s += "; this filter has " + str(fin) +
           " in-channels per group, so with groups=" + str(groups) +
           " it expects C_in = " + str(groups) + " x " + str(fin) + " = " + str(*implied);
    }
    return s;
  }

  void resolve_groups() {
    const i64 cin = g_.c_in;
    const i64 fin = f_.in;
    const i64 fout = f_.out;
    i64 groups = 0;
    if (d_.groups) {
      groups = *d_.groups;
      if (cin % groups != 0) {
        fail(Code::kCinNotDivisible,
             "input channels " + str(cin) + " are not divisible by groups=" + str(groups),
             shapes_context(
                 str(cin) + " channels cannot be split into " + str(groups) + " equal groups",
                 str(fin) + " input channels per group"),
             "C_in % groups == 0: " + str(cin) + " % " + str(groups) + " = " + str(cin % groups),
             "C_in a multiple of " + str(groups) + ", e.g. " + nearest_multiples(cin, groups),
             "C_in = " + str(cin), cin_suggestions(groups, fin));
      }
      const i64 cig = cin / groups;
      if (fin != cig) {
        if (fits_other_layout(groups)) fail_other_layout();
        const Dims want = make_filter_shape(d_.filter_format, f_.kh, f_.kw, cig, fout);
        const std::string ctx_in =
            str(cin) + " channels = " + str(groups) + " groups x " + str(cig);
        if (fin == cin && groups > 1) {
          std::string help = shape_string(s_.filter) +
                             " is an ungrouped filter; pass groups=1, or give each group its " +
                             str(cig) + (cig == 1 ? " channel" : " channels");
          if (groups == cin && d_.filter_format == FilterFormat::kHWIO) {
            // tf.nn.depthwise_conv2d's filter [KH, KW, C_in, M]: output channel c*M + m, which
            // is exactly the grouped layout [KH, KW, 1, C_in*M] (same memory order).
            const auto all = opt_mul(cin, fout);
            if (all) {
              help +=
                  "; a tf.nn.depthwise_conv2d filter [KH, KW, C_in, multiplier] becomes "
                  "this grouped filter by w.reshape(" +
                  str(f_.kh) + ", " + str(f_.kw) + ", 1, " + str(*all) + ")";
            }
          }
          fail(Code::kFilterInChannels, "filter does not fit groups=" + str(groups),
               shapes_context(ctx_in, str(fin) + " input channels per group"),
               "filter in-channels == C_in / groups = " + str(cin) + " / " + str(groups) + " = " +
                   str(cig),
               "filter " + shape_string(want), "filter " + shape_string(s_.filter), help);
        }
        if (cin % fin == 0) {
          const i64 implied = cin / fin;
          fail(Code::kGroupsMismatch,
               "groups=" + str(groups) + " but the shapes imply groups=" + str(implied),
               shapes_context(ctx_in, str(fin) + " input channels per group -> groups = " +
                                          str(cin) + " / " + str(fin) + " = " + str(implied)),
               "groups == C_in / filter in-channels: " + str(groups) + " != " + str(cin) + " / " +
                   str(fin),
               "groups=" + str(implied) + " for this filter, or filter " + shape_string(want) +
                   " for groups=" + str(groups),
               "groups=" + str(groups) + " with filter " + shape_string(s_.filter),
               "pass groups=" + str(implied) +
                   " (or omit groups to infer it), or reshape the "
                   "filter to " +
                   shape_string(want));
        }
        fail(Code::kFilterInChannels, "filter does not fit groups=" + str(groups),
             shapes_context(ctx_in, str(fin) + " input channels per group"),
             "filter in-channels == C_in / groups = " + str(cin) + " / " + str(groups) + " = " +
                 str(cig),
             "filter " + shape_string(want), "filter " + shape_string(s_.filter),
             "give the filter " + str(cig) + " input channels per group: " + shape_string(want));
      }
    } else {
      if (cin % fin != 0) {
        if (fits_other_layout(std::nullopt)) fail_other_layout();
        std::string help =
            "groups is inferred as C_in / filter in-channels (as tf.nn.conv2d "
            "does); nearest C_in for " +
            str(fin) + " in-channels per group: " + nearest_multiples(cin, fin);
        const std::string divs = divisor_list(cin, 16);
        if (!divs.empty()) {
          help += "; or give the filter an in-channel count that divides " + str(cin) + ": " + divs;
        }
        help += "; or pass groups explicitly to have the shapes checked against it";
        fail(Code::kCinNotDivisible,
             "input channels " + str(cin) + " are not divisible by the filter's " + str(fin) +
                 " in-channels",
             shapes_context(str(cin) + " channels", str(fin) + " input channels per group"),
             "groups = C_in / filter in-channels = " + str(cin) + " / " + str(fin) +
                 " is not an integer",
             "C_in a multiple of " + str(fin), "C_in = " + str(cin), help);
      }
      groups = cin / fin;
      g_.groups_inferred = true;
    }
    if (fout % groups != 0) {
      if (fits_other_layout(d_.groups ? std::optional<i64>(groups) : std::nullopt)) {
        fail_other_layout();
      }
      const auto all = opt_mul(fout, groups);
      if (d_.expect_output_channels && all && *all == *d_.expect_output_channels) {
        fail_per_group(fout, groups, cin / groups, *d_.expect_output_channels);
      }
      std::string help = "C_out is split evenly across the " + str(groups) +
                         " groups; nearest valid C_out: " + nearest_multiples(fout, groups);
      if (all) {
        help += "; if " + str(fout) + " was meant per group, the filter's O dim counts all " +
                "output channels: " + str(groups) + " x " + str(fout) + " = " + str(*all);
      }
      fail(
          Code::kCoutNotDivisible,
          "output channels " + str(fout) + " are not divisible by groups=" + str(groups),
          shapes_context(str(cin) + " channels = " + str(groups) + " groups x " + str(cin / groups),
                         str(fout) + " output channels in all"),
          "C_out % groups == 0: " + str(fout) + " % " + str(groups) + " = " + str(fout % groups),
          "C_out a multiple of " + str(groups), "C_out = " + str(fout), help);
    }
    g_.groups = groups;
    g_.cig = fin;
    g_.c_out = fout;
    g_.cog = fout / groups;
  }

  void check_output_channels() {
    if (!d_.expect_output_channels) return;
    const i64 want = *d_.expect_output_channels;
    if (want == g_.c_out) return;
    fail_per_group(g_.c_out, g_.groups, g_.cig, want);
  }

  // GC006: the filter's O dim (fout) is not the expected C_out (want).
  [[noreturn]] void fail_per_group(i64 fout, i64 groups, i64 cig, i64 want) const {
    const Dims fixed = make_filter_shape(d_.filter_format, f_.kh, f_.kw, cig, want);
    const auto all = opt_mul(fout, groups);
    const bool per_group = all && *all == want;
    const std::string split =
        fout % groups == 0 ? " (" + str(groups) + " groups x " + str(fout / groups) + ")" : "";
    std::string help;
    if (per_group) {
      help = "the filter's O looks per-group (" + str(fout) + " = " + str(want) + " / " +
             str(groups) + "); O counts all " + str(want) + " output channels, not C_out/groups";
      help += want % groups == 0 ? "; use filter " + shape_string(fixed) + " (" + str(groups) +
                                       " groups x " + str(want / groups) + ")"
                                 : "";
    } else {
      help = "give the filter " + str(want) + " output channels: " + shape_string(fixed);
      if (want % groups != 0) {
        help += "; note that " + str(want) + " is not divisible by groups=" + str(groups);
      }
    }
    fail(Code::kOutputChannels,
         "filter gives " + str(fout) + " output channels, expected " + str(want),
         shapes_context(str(g_.c_in) + " channels = " + str(groups) + " groups x " + str(cig),
                        "O = " + str(fout) + " counts ALL output channels" + split),
         "C_out = filter O = " + str(fout) + ", expected " + str(want),
         "filter " + shape_string(fixed) + " -> " + str(want) + " output channels",
         "filter " + shape_string(s_.filter) + " -> " + str(fout) + " output channels", help);
  }

  void check_bias() {
    if (!s_.bias) return;
    const i64 len = (*s_.bias)[0];
    g_.has_bias = true;
    if (len != g_.c_out) {
      fail(Code::kBias,
           "bias has " + str(len) + " values, the convolution has " + str(g_.c_out) +
               " output channels",
           {"filter " + filt_label() + "  " + fmt_name(true) + ": C_out = " + str(g_.c_out),
            "bias   " + shape_string(*s_.bias)},
           "len(bias) == C_out", "bias [" + str(g_.c_out) + "]", "bias " + shape_string(*s_.bias),
           g_.groups > 1 && opt_mul(len, g_.groups) == g_.c_out
               ? "the bias looks per-group; give one value per output channel (" + str(g_.c_out) +
                     ")"
               : "give one bias value per output channel (" + str(g_.c_out) + ")");
    }
  }

  // Output size along one dim, and the pads that produce it.
  struct Axis {
    i64 before, after, out;
  };
  Axis axis(i64 in, i64 k, i64 s, i64 dil, i64 exp_before, i64 exp_after, const char* dim) {
    const i64 eff = add(mul(k - 1, dil, "dilated kernel size"), 1, "dilated kernel size");
    Axis a{};
    switch (d_.padding) {
      case Padding::kValid:
      case Padding::kExplicit: {
        a.before = d_.padding == Padding::kValid ? 0 : exp_before;
        a.after = d_.padding == Padding::kValid ? 0 : exp_after;
        const i64 padded = add(add(in, a.before, "padded size"), a.after, "padded size");
        if (padded < eff) {
          if (kernel_fits_other_layout()) fail_other_layout();
          const std::string kdim = std::string(dim) == "H" ? "KH" : "KW";
          const std::string ddim = std::string(dim) == "H" ? "dh" : "dw";
          fail(Code::kEmptyOutput,
               std::string("the kernel is larger than the padded input along ") + dim,
               shapes_context(),
               "padded " + std::string(dim) + " >= (" + kdim + " - 1) * " + ddim +
                   " + 1: " + str(in) + " + " + str(a.before) + " + " + str(a.after) + " = " +
                   str(padded) + " < (" + str(k) + " - 1) * " + str(dil) + " + 1 = " + str(eff),
               "padded " + std::string(dim) + " >= " + str(eff),
               "padded " + std::string(dim) + " = " + str(padded) + " (output size " +
                   str(padded >= eff ? 1 : 0) + ")",
               "use padding SAME, add " + str(eff - padded) +
                   " rows/columns of padding, or a "
                   "smaller kernel or dilation");
        }
        a.out = (padded - eff) / s + 1;
        break;
      }
      case Padding::kSame:
      case Padding::kSameLower: {
        a.out = in / s + (in % s != 0 ? 1 : 0);  // ceil(in / s) without overflow
        const i64 need =
            add(add(mul(a.out - 1, s, "SAME padding"), eff, "SAME padding"), -in, "SAME padding");
        const i64 total = std::max<i64>(need, 0);
        if (d_.padding == Padding::kSame) {
          a.before = total / 2;
        } else {
          a.before = total - total / 2;
        }
        a.after = total - a.before;
        break;
      }
    }
    return a;
  }

  void resolve_padding_and_output() {
    const auto& p = d_.explicit_pads;
    const Axis ah = axis(g_.h, g_.kh, g_.sh, g_.dh, p[0], p[1], "H");
    const Axis aw = axis(g_.w, g_.kw, g_.sw, g_.dw, p[2], p[3], "W");
    g_.pad_top = ah.before, g_.pad_bottom = ah.after, g_.ho = ah.out;
    g_.pad_left = aw.before, g_.pad_right = aw.after, g_.wo = aw.out;
  }

  void check_overflow() {
    // Element and byte counts of every tensor (also of a zero-padded copy of the input, which
    // a kernel may build), their sum in bytes, and the FLOP count. Everything Geometry's
    // accessors compute is covered, so they cannot overflow.
    const bool nhwc = d_.data_format == DataFormat::kNHWC;
    const i64 in_elems =
        nhwc ? product({{"N", g_.n}, {"H", g_.h}, {"W", g_.w}, {"C", g_.c_in}}, "input elements")
             : product({{"N", g_.n}, {"C", g_.c_in}, {"H", g_.h}, {"W", g_.w}}, "input elements");
    (void)product({{"4 bytes", 4}, {"input elements", in_elems}}, "input bytes");
    const i64 hp = add(add(g_.h, g_.pad_top, "padded H"), g_.pad_bottom, "padded H");
    const i64 wp = add(add(g_.w, g_.pad_left, "padded W"), g_.pad_right, "padded W");
    (void)product({{"4 bytes", 4}, {"N", g_.n}, {"padded H", hp}, {"padded W", wp}, {"C", g_.c_in}},
                  "padded input bytes");
    const i64 f_elems = product(
        {{"KH", g_.kh}, {"KW", g_.kw}, {"C_in/G", g_.cig}, {"C_out", g_.c_out}}, "filter elements");
    (void)product({{"4 bytes", 4}, {"filter elements", f_elems}}, "filter bytes");
    const i64 out_elems = product({{"N", g_.n}, {"Ho", g_.ho}, {"Wo", g_.wo}, {"C_out", g_.c_out}},
                                  "output elements");
    (void)product({{"4 bytes", 4}, {"output elements", out_elems}}, "output bytes");
    const i64 total =
        add(add(add(in_elems, f_elems, "total elements"), out_elems, "total elements"), g_.c_out,
            "total elements");
    (void)product({{"4 bytes", 4}, {"elements", total}}, "total bytes");
    (void)product({{"2", 2},
                   {"N", g_.n},
                   {"Ho", g_.ho},
                   {"Wo", g_.wo},
                   {"C_out", g_.c_out},
                   {"C_in/G", g_.cig},
                   {"KH", g_.kh},
                   {"KW", g_.kw}},
                  "FLOPs");
  }
};

}  // namespace

const char* to_string(DataFormat f) { return f == DataFormat::kNHWC ? "NHWC" : "NCHW"; }
const char* to_string(FilterFormat f) { return f == FilterFormat::kHWIO ? "HWIO" : "OIHW"; }
const char* to_string(Padding p) {
  switch (p) {
    case Padding::kValid:
      return "VALID";
    case Padding::kSame:
      return "SAME";
    case Padding::kSameLower:
      return "SAME_LOWER";
    case Padding::kExplicit:
      return "EXPLICIT";
  }
  return "?";
}

std::string shape_string(const std::vector<std::int64_t>& s) { return "[" + join(s, ", ") + "]"; }

namespace {
std::string labelled(const std::vector<std::int64_t>& s, const char* const* names) {
  if (s.size() != 4) return shape_string(s);
  std::string out = "[";
  for (std::size_t i = 0; i < 4; ++i) {
    if (i != 0) out += ", ";
    out += std::string(names[i]) + "=" + std::to_string(s[i]);
  }
  return out + "]";
}
}  // namespace

std::string labelled_input_shape(DataFormat f, const std::vector<std::int64_t>& s) {
  static const char* const nhwc[] = {"N", "H", "W", "C"};
  static const char* const nchw[] = {"N", "C", "H", "W"};
  return labelled(s, f == DataFormat::kNHWC ? nhwc : nchw);
}

std::string labelled_filter_shape(FilterFormat f, const std::vector<std::int64_t>& s) {
  static const char* const hwio[] = {"KH", "KW", "I", "O"};
  static const char* const oihw[] = {"O", "I", "KH", "KW"};
  return labelled(s, f == FilterFormat::kHWIO ? hwio : oihw);
}

std::array<std::int64_t, 4> Geometry::input_shape() const {
  if (data_format == DataFormat::kNHWC) return {n, h, w, c_in};
  return {n, c_in, h, w};
}
std::array<std::int64_t, 4> Geometry::filter_shape() const {
  if (filter_format == FilterFormat::kHWIO) return {kh, kw, cig, c_out};
  return {c_out, cig, kh, kw};
}
std::array<std::int64_t, 4> Geometry::output_shape() const {
  if (data_format == DataFormat::kNHWC) return {n, ho, wo, c_out};
  return {n, c_out, ho, wo};
}

Geometry resolve(const ConvDesc& desc, const Shapes& shapes) {
  return Resolver(desc, shapes).run();
}

std::optional<Geometry> try_resolve(const ConvDesc& desc, const Shapes& shapes,
                                    Diagnostic* diagnostic) noexcept {
  try {
    return resolve(desc, shapes);
  } catch (const ShapeError& e) {
    if (diagnostic != nullptr) *diagnostic = e.diagnostic();
  } catch (...) {  // std::bad_alloc while building a message
    if (diagnostic != nullptr) {
      diagnostic->code = Code::kBadArgument;
      diagnostic->summary = "out of memory while validating";
    }
  }
  return std::nullopt;
}

std::string describe(const Geometry& g) {
  auto v = [](const std::array<std::int64_t, 4>& a) {
    return std::vector<std::int64_t>(a.begin(), a.end());
  };
  std::string s;
  s += "input  " + labelled_input_shape(g.data_format, v(g.input_shape())) + "  " +
       to_string(g.data_format) + "\n";
  s += "filter " + labelled_filter_shape(g.filter_format, v(g.filter_shape())) + "  " +
       to_string(g.filter_format) + "\n";
  s += "output " + labelled_input_shape(g.data_format, v(g.output_shape())) + "  " +
       to_string(g.data_format) + "\n";
  s +=
      "groups " + str(g.groups) +
      (g.groups_inferred ? " (inferred: C_in / filter I = " + str(g.c_in) + " / " + str(g.cig) + ")"
                         : "") +
      "\n";
  s += "per group: " + str(g.cig) + " input -> " + str(g.cog) + " output channels";
  if (g.groups == 1) {
    s += "  (ordinary convolution)";
  } else if (g.cig == 1) {
    s += "  (depthwise, channel multiplier " + str(g.cog) + ")";
  }
  s += "\n";
  s += "kernel " + str(g.kh) + "x" + str(g.kw) + ", strides " + str(g.sh) + "," + str(g.sw) +
       ", dilations " + str(g.dh) + "," + str(g.dw) + "\n";
  s += "padding top " + str(g.pad_top) + ", bottom " + str(g.pad_bottom) + ", left " +
       str(g.pad_left) + ", right " + str(g.pad_right) + "\n";
  s += "FLOPs " + str(g.flops()) + ", bytes " + str(g.bytes()) + "\n";
  return s;
}

}  // namespace groupconv
