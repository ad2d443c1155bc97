// The convolution descriptor and its resolution into every derived number.
//
// Data flows one way: user arguments -> ConvDesc + Shapes -> resolve() -> Geometry -> Plan.
// resolve() is the single place where shapes are validated; nothing below it re-checks them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "groupconv/diagnostics.hpp"

namespace groupconv {

enum class DataFormat : std::uint8_t { kNHWC, kNCHW };    // input and output layout
enum class FilterFormat : std::uint8_t { kHWIO, kOIHW };  // filter layout
enum class Padding : std::uint8_t { kValid, kSame, kSameLower, kExplicit };

const char* to_string(DataFormat f);
const char* to_string(FilterFormat f);
const char* to_string(Padding p);

// What the user asked for, independent of the tensors' shapes.
struct ConvDesc {
  DataFormat data_format = DataFormat::kNHWC;
  FilterFormat filter_format = FilterFormat::kHWIO;
  // 1 value (both dims), 2 values (h, w) or TF's 4-list in data_format order with 1 at N and C.
  std::vector<std::int64_t> strides{1};
  std::vector<std::int64_t> dilations{1};
  Padding padding = Padding::kValid;
  std::array<std::int64_t, 4> explicit_pads{0, 0, 0, 0};  // top, bottom, left, right
  // Absent: inferred as C_in / filter_in_channels, exactly as tf.nn.conv2d does.
  std::optional<std::int64_t> groups;
  // When set, the filter's output channels must equal this (catches per-group filters).
  std::optional<std::int64_t> expect_output_channels;
};

// The shapes of the tensors, in the layouts named by the descriptor.
struct Shapes {
  std::vector<std::int64_t> input;                // [N,H,W,C] or [N,C,H,W]
  std::vector<std::int64_t> filter;               // [KH,KW,I,O] or [O,I,KH,KW]
  std::optional<std::vector<std::int64_t>> bias;  // [C_out] when present
};

// Every derived number of a valid convolution. Sizes are int64; all products were checked
// for overflow by resolve(), so the accessors below cannot overflow.
struct Geometry {
  DataFormat data_format = DataFormat::kNHWC;
  FilterFormat filter_format = FilterFormat::kHWIO;
  std::int64_t n = 0, h = 0, w = 0;  // input batch and spatial size
  std::int64_t c_in = 0, c_out = 0;  // all channels
  std::int64_t groups = 1;           // G
  std::int64_t cig = 0, cog = 0;     // channels per group: C_in / G, C_out / G
  std::int64_t kh = 0, kw = 0;       // kernel size
  std::int64_t sh = 1, sw = 1;       // strides
  std::int64_t dh = 1, dw = 1;       // dilations (1 = dense)
  std::int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  std::int64_t ho = 0, wo = 0;  // output spatial size
  bool has_bias = false;
  bool groups_inferred = false;

  [[nodiscard]] std::int64_t input_elements() const { return n * h * w * c_in; }
  [[nodiscard]] std::int64_t filter_elements() const { return kh * kw * cig * c_out; }
  [[nodiscard]] std::int64_t output_elements() const { return n * ho * wo * c_out; }
  // 2 * N * Ho * Wo * C_out * Cig * KH * KW (padded taps included, as everyone counts).
  [[nodiscard]] std::int64_t flops() const { return 2 * n * ho * wo * c_out * cig * kh * kw; }
  // Bytes read and written once: input + filter + bias + output, float32.
  [[nodiscard]] std::int64_t bytes() const {
    return 4 * (input_elements() + filter_elements() + (has_bias ? c_out : 0) + output_elements());
  }
  [[nodiscard]] bool is_depthwise() const { return cig == 1; }
  [[nodiscard]] std::int64_t multiplier() const { return cog; }  // meaningful when depthwise
  // Shapes in the user's layouts.
  [[nodiscard]] std::array<std::int64_t, 4> input_shape() const;
  [[nodiscard]] std::array<std::int64_t, 4> filter_shape() const;
  [[nodiscard]] std::array<std::int64_t, 4> output_shape() const;
};

// Validates and resolves. Throws ShapeError (never anything else for bad shapes or arguments).
Geometry resolve(const ConvDesc& desc, const Shapes& shapes);

// Non-throwing form: returns the geometry, or std::nullopt with *diagnostic filled in.
std::optional<Geometry> try_resolve(const ConvDesc& desc, const Shapes& shapes,
                                    Diagnostic* diagnostic) noexcept;

// Labelled rendering of a shape, e.g. "[N=1, H=28, W=28, C=32]".
std::string labelled_input_shape(DataFormat f, const std::vector<std::int64_t>& s);
std::string labelled_filter_shape(FilterFormat f, const std::vector<std::int64_t>& s);
// "[1, 28, 28, 32]"
std::string shape_string(const std::vector<std::int64_t>& s);

// A human-readable summary of a resolved geometry (used by `groupconv check`): output shape,
// per-group breakdown, padding, FLOPs and bytes.
std::string describe(const Geometry& g);

}  // namespace groupconv
