#include "suite/suite.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "groupconv/backward.hpp"
#include "plan/aligned_buffer.hpp"

namespace groupconv::suite {

using i64 = std::int64_t;

namespace {

[[noreturn]] void file_error(const std::string& source, int line, const std::string& what,
                             const std::string& help) {
  Diagnostic d;
  d.code = Code::kFile;
  d.summary = source + ":" + std::to_string(line) + ": " + what;
  d.expected = "name,n,h,w,c_in,c_out,groups,kh,kw,stride_h,stride_w,dil_h,dil_w,padding";
  d.help = help;
  throw ShapeError(std::move(d));
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

ConvDesc Layer::desc() const {
  ConvDesc d;
  d.strides = {stride_h, stride_w};
  d.dilations = {dil_h, dil_w};
  d.groups = groups;
  if (padding == "SAME") {
    d.padding = Padding::kSame;
  } else if (padding == "VALID") {
    d.padding = Padding::kValid;
  } else {
    d.padding = Padding::kExplicit;
    std::stringstream ss(padding);
    std::string part;
    for (std::size_t i = 0; i < 4 && std::getline(ss, part, ':'); ++i) {
      d.explicit_pads[i] = std::stoll(part);
    }
  }
  return d;
}

Shapes Layer::shapes() const {
  return {{n, h, w, c_in}, {kh, kw, groups > 0 ? c_in / groups : 0, c_out}, std::nullopt};
}

std::vector<Layer> parse_layers(const std::string& text, const std::string& source) {
  std::vector<Layer> layers;
  std::stringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(trim(cell));
    if (f.size() != 14) {
      file_error(source, line_no,
                 "expected 14 comma-separated fields, found " + std::to_string(f.size()),
                 "one layer per line; see bench/layers.csv");
    }
    Layer l;
    l.name = f[0];
    l.line = line_no;
    i64* nums[] = {&l.n,  &l.h,  &l.w,        &l.c_in,     &l.c_out, &l.groups,
                   &l.kh, &l.kw, &l.stride_h, &l.stride_w, &l.dil_h, &l.dil_w};
    for (std::size_t i = 0; i < 12; ++i) {
      try {
        std::size_t used = 0;
        *nums[i] = std::stoll(f[i + 1], &used);
        if (used != f[i + 1].size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        file_error(source, line_no,
                   "field " + std::to_string(i + 2) + " '" + f[i + 1] + "' is not an integer",
                   "sizes, strides and dilations are plain integers");
      }
    }
    l.padding = f[13];
    if (l.padding != "SAME" && l.padding != "VALID") {
      std::stringstream ps(l.padding);
      std::string part;
      int count = 0;
      bool ok = true;
      while (std::getline(ps, part, ':')) {
        ++count;
        ok = ok && !part.empty() && part.find_first_not_of("0123456789") == std::string::npos &&
             part.size() < 10;
      }
      if (!ok || count != 4) {
        file_error(source, line_no, "padding '" + l.padding + "' is not SAME, VALID or t:b:l:r",
                   "write SAME, VALID, or four non-negative integers like 1:1:1:1");
      }
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

std::vector<Layer> load_layers(const std::string& path) {
  std::ifstream f(path);
  if (!f) file_error(path, 0, "cannot open the file", "check the path");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_layers(ss.str(), path);
}

const char* to_string(Pass p) {
  switch (p) {
    case Pass::kForward:
      return "fwd";
    case Pass::kBackwardData:
      return "bwd_data";
    case Pass::kBackwardFilter:
      return "bwd_filter";
  }
  return "?";
}

bool parse_pass(const std::string& s, Pass* out) {
  for (Pass p : {Pass::kForward, Pass::kBackwardData, Pass::kBackwardFilter}) {
    if (s == to_string(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

namespace {
void fill(float* p, i64 n, int mod, float scale, float shift) {
  for (i64 i = 0; i < n; ++i) p[i] = static_cast<float>(i % mod) * scale - shift;
}
}  // namespace

Timing time_layer(const Layer& layer, int threads, double min_time_s, Isa max_isa, Pass pass) {
  const ConvDesc d = layer.desc();
  const Shapes s = layer.shapes();
  const Geometry g = resolve(d, s);
  const auto out = g.output_shape();
  const std::vector<i64> dy_shape(out.begin(), out.end());
  detail::AlignedBuffer x(static_cast<std::size_t>(g.input_elements()) * 4 + 1024);
  detail::AlignedBuffer w(static_cast<std::size_t>(g.filter_elements()) * 4 + 2048);
  // Each tensor starts at a different offset within a page (4 KiB aliasing, KERNELS.md).
  detail::AlignedBuffer y(static_cast<std::size_t>(g.output_elements()) * 4 + 1024);
  detail::AlignedBuffer b(static_cast<std::size_t>(g.c_out) * 4);
  float* xp = x.floats() + 128;
  float* wp = w.floats() + 512;
  float* yp = y.floats() + 256;
  fill(xp, g.input_elements(), 13, 0.1f, 0.6f);
  fill(wp, g.filter_elements(), 7, 0.1f, 0.3f);
  fill(yp, g.output_elements(), 11, 0.1f, 0.5f);
  PlanOptions opt;
  opt.threads = threads;
  opt.max_isa = max_isa;
  std::function<void()> run;
  std::string kernel;
  std::unique_ptr<Plan> fwd;
  std::unique_ptr<BackwardDataPlan> bd;
  std::unique_ptr<BackwardFilterPlan> bf;
  switch (pass) {
    case Pass::kForward:
      fwd = std::make_unique<Plan>(d, s, wp, nullptr, opt);
      kernel = fwd->kernel_name();
      run = [&] { fwd->execute(xp, yp); };
      break;
    case Pass::kBackwardData:
      bd = std::make_unique<BackwardDataPlan>(d, s, dy_shape, wp, opt);
      kernel = bd->kernel_name();
      run = [&] { bd->execute(yp, xp); };
      break;
    case Pass::kBackwardFilter:
      bf = std::make_unique<BackwardFilterPlan>(d, s, dy_shape, opt);
      kernel = bf->kernel_name();
      run = [&] { bf->execute(xp, yp, wp, b.floats()); };
      break;
  }
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i) run();  // warm-up
  std::vector<double> ms;
  const auto start = clock::now();
  while (ms.size() < 5 ||
         std::chrono::duration<double>(clock::now() - start).count() < min_time_s) {
    const auto t0 = clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    if (ms.size() >= 100000) break;
  }
  std::sort(ms.begin(), ms.end());
  Timing t;
  t.runs = static_cast<int>(ms.size());
  t.median_ms = ms[ms.size() / 2];
  t.gflop = static_cast<double>(g.flops()) * 1e-9;
  t.gflops = t.gflop / (t.median_ms * 1e-3);
  t.kernel = kernel;
  return t;
}

double dram_gbps(int threads) { return threads >= 2 ? 46.0 : 30.0; }

double inbounds_flops(const Geometry& g) {
  // Count in-bounds taps per axis independently: taps(h) x taps(w).
  auto taps = [](i64 in, i64 out, i64 k, i64 s, i64 d, i64 pad) {
    i64 count = 0;
    for (i64 o = 0; o < out; ++o) {
      for (i64 t = 0; t < k; ++t) {
        const i64 i = o * s - pad + t * d;
        count += (i >= 0 && i < in) ? 1 : 0;
      }
    }
    return count;
  };
  const double th = static_cast<double>(taps(g.h, g.ho, g.kh, g.sh, g.dh, g.pad_top));
  const double tw = static_cast<double>(taps(g.w, g.wo, g.kw, g.sw, g.dw, g.pad_left));
  return 2.0 * static_cast<double>(g.n) * th * tw * static_cast<double>(g.c_out * g.cig);
}

double roofline_gflops(const Geometry& g, int threads) {
  const double peak = kPeakGflopsPerCore * threads;
  const double compute_s = inbounds_flops(g) * 1e-9 / peak;
  double t = compute_s;
  const double bytes = static_cast<double>(g.bytes());
  if (bytes > 32.0 * 1024 * 1024) t = std::max(t, bytes * 1e-9 / dram_gbps(threads));
  return static_cast<double>(g.flops()) * 1e-9 / t;
}

}  // namespace groupconv::suite
