// Helpers shared by the unit tests: deterministic random data, random geometries and the
// relative L2 error against the double-accumulating reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "groupconv/groupconv.hpp"

namespace groupconv::testing {

inline std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Uniform values in [-1, 1) of type T (float data, or double for the float64 identities)
// from the caller's generator, so a test's draws stay one deterministic sequence.
template <typename T>
std::vector<T> random_vector(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// The ISA levels this CPU runs, lowest first: the loops that test every kernel variant (the
// others are skipped here and run on a machine that has them).
inline std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    if (effective_isa(isa) == isa) out.push_back(isa);
  }
  return out;
}

inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    num += d * d;
    den += static_cast<double>(want[i]) * static_cast<double>(want[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// A convolution problem with data, in the layouts of its descriptor.
struct Problem {
  ConvDesc desc;
  Shapes shapes;
  Geometry g;
  std::vector<float> x, w, b;
};

inline Problem make_problem(const ConvDesc& desc, const Shapes& shapes, std::uint32_t seed) {
  Problem p{desc, shapes, resolve(desc, shapes), {}, {}, {}};
  p.x = random_floats(static_cast<std::size_t>(p.g.input_elements()), seed);
  p.w = random_floats(static_cast<std::size_t>(p.g.filter_elements()), seed + 1);
  if (shapes.bias) p.b = random_floats(static_cast<std::size_t>(p.g.c_out), seed + 2);
  return p;
}

inline std::vector<float> run_reference(const Problem& p) {
  std::vector<float> y(static_cast<std::size_t>(p.g.output_elements()));
  reference_conv2d(p.g, p.x.data(), p.w.data(), p.b.empty() ? nullptr : p.b.data(), y.data());
  return y;
}

inline std::vector<float> run_plan(const Problem& p, const PlanOptions& opt,
                                   std::string* kernel = nullptr) {
  Plan plan(p.desc, p.shapes, p.w.data(), p.b.empty() ? nullptr : p.b.data(), opt);
  if (kernel != nullptr) *kernel = plan.kernel_name();
  std::vector<float> y(static_cast<std::size_t>(p.g.output_elements()), NAN);
  plan.execute(p.x.data(), y.data());
  return y;
}

// Shapes in the descriptor's layouts from NHWC-style numbers.
inline Shapes shapes_for(const ConvDesc& d, std::int64_t n, std::int64_t h, std::int64_t w,
                         std::int64_t cin, std::int64_t kh, std::int64_t kw, std::int64_t cig,
                         std::int64_t cout, bool bias) {
  Shapes s;
  s.input = d.data_format == DataFormat::kNHWC ? std::vector<std::int64_t>{n, h, w, cin}
                                               : std::vector<std::int64_t>{n, cin, h, w};
  s.filter = d.filter_format == FilterFormat::kHWIO ? std::vector<std::int64_t>{kh, kw, cig, cout}
                                                    : std::vector<std::int64_t>{cout, cig, kh, kw};
  if (bias) s.bias = std::vector<std::int64_t>{cout};
  return s;
}

}  // namespace groupconv::testing
