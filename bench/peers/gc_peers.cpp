// gc_peers: runs a benchmark suite (bench/layers.csv) through groupconv, oneDNN and XNNPACK,
// interleaved per layer, and prints GFLOP/s, % of the layer's roofline and the implementation
// each library chose. scripts/bench_peers.sh runs it with torch_peer.py and writes
// docs/PERFORMANCE.md.
//
//   gc_peers [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R] [--csv OUT]
//            [--filter SUBSTR] [--libs groupconv,onednn,xnnpack]
//
// Method (the same for every library):
// - float32, NHWC input and output, the filter prepared once outside the timed loop
//   (groupconv: a Plan; oneDNN: weights in format_tag::any, reordered once; XNNPACK: the
//   operator packs at creation and is set up once);
// - one input buffer and one output buffer shared by all libraries, 64-byte aligned, the
//   output at a different page offset than the input (4 KiB aliasing, KERNELS.md);
// - per layer and thread count, R rounds of (groupconv, oneDNN, XNNPACK); in each round a
//   library warms up, then runs until --min-time has passed (at least 5 runs); the figure
//   reported is the best of the R medians;
// - each library's output is checked against groupconv's reference (relative L2 < 1e-4) so a
//   mis-configured peer is caught instead of timed; a wrong result is reported, not ranked.
// Threads: groupconv through PlanOptions::threads, oneDNN (OpenMP runtime) through
// omp_set_num_threads, XNNPACK through a pthreadpool of that size.
#include <omp.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "groupconv/groupconv.hpp"
#include "suite/suite.hpp"

namespace {

using groupconv::Geometry;
using groupconv::suite::Layer;
using i64 = std::int64_t;

constexpr double kTolerance = 1e-4;

// ---------------------------------------------------------------------------------------
// Buffers: page-aligned allocations with the data placed at a chosen offset in the page.

struct PageFree {
  void operator()(void* p) const { ::operator delete (p, std::align_val_t{4096}); }
};

class Buffer {
 public:
  Buffer(std::size_t floats, std::size_t page_offset_bytes) {
    const std::size_t bytes = floats * sizeof(float) + page_offset_bytes + 64;
    mem_.reset(::operator new (bytes, std::align_val_t{4096}));
    data_ = reinterpret_cast<float*>(static_cast<char*>(mem_.get()) + page_offset_bytes);
    count_ = floats;
  }
  [[nodiscard]] float* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return count_; }
  void fill(float v) const { std::fill(data_, data_ + count_, v); }

 private:
  std::unique_ptr<void, PageFree> mem_;
  float* data_ = nullptr;
  std::size_t count_ = 0;
};

double relative_l2(const float* y, const float* ref, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(y[i]) - static_cast<double>(ref[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  if (den == 0) return num == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  const double r = std::sqrt(num / den);
  return std::isnan(r) ? std::numeric_limits<double>::infinity() : r;
}

// ---------------------------------------------------------------------------------------
// Timing.

struct Sample {
  double median_ms = 0;
  double min_ms = 0;
  int runs = 0;
};

Sample measure(const std::function<void()>& run, double min_time_s) {
  using clock = std::chrono::steady_clock;
  // Warm-up: at least two runs and 50 ms, so caches, pages and thread pools are hot, and the
  // previous library's idle workers (OpenMP and pthreadpool spin before they sleep) have
  // stopped competing for the cores.
  const auto warm_start = clock::now();
  for (int i = 0; i < 2 || std::chrono::duration<double>(clock::now() - warm_start).count() < 0.05;
       ++i) {
    run();
  }
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
  return {ms[ms.size() / 2], ms.front(), static_cast<int>(ms.size())};
}

// ---------------------------------------------------------------------------------------
// The libraries. Each is prepared once per layer (filter packed), bound to a thread count,
// then run many times. `impl` names what the library chose.

class Runner {
 public:
  virtual ~Runner() = default;
  Runner() = default;
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  [[nodiscard]] virtual std::string library() const = 0;
  // Binds the thread count; returns false (with impl() saying why) when it cannot run.
  virtual bool prepare(int threads) = 0;
  virtual void run() = 0;
  [[nodiscard]] virtual std::string impl() const = 0;
};

class GroupconvRunner final : public Runner {
 public:
  GroupconvRunner(const Layer& l, const float* w, const float* x, float* y)
      : layer_(l), w_(w), x_(x), y_(y) {}
  [[nodiscard]] std::string library() const override { return "groupconv"; }
  bool prepare(int threads) override {
    if (threads == threads_) return plan_ != nullptr;
    threads_ = threads;
    groupconv::PlanOptions opt;
    opt.threads = threads;
    try {
      plan_ = std::make_unique<groupconv::Plan>(layer_.desc(), layer_.shapes(), w_, nullptr, opt);
    } catch (const std::exception& e) {
      impl_ = std::string("plan failed: ") + e.what();
      plan_.reset();
      return false;
    }
    impl_ = plan_->kernel_name() + " (" + groupconv::to_string(plan_->isa()) + ")";
    return true;
  }
  void run() override { plan_->execute(x_, y_); }
  [[nodiscard]] std::string impl() const override { return impl_; }

 private:
  const Layer& layer_;
  const float* w_;
  const float* x_;
  float* y_;
  std::unique_ptr<groupconv::Plan> plan_;
  int threads_ = 0;
  std::string impl_;
};

// oneDNN: forward-inference convolution on NHWC src/dst, weights in format_tag::any
// (reordered once from our HWIO), algorithm direct or auto (main() times both when they pick
// different implementations and keeps the faster). oneDNN fixes a primitive's thread count
// when the primitive is created (from omp_get_max_threads), so prepare() creates the
// primitive, and reorders the weights, for each thread count after omp_set_num_threads.
class OnednnRunner final : public Runner {
 public:
  OnednnRunner(const Geometry& g, const float* w, const float* x, float* y, bool use_auto)
      : eng_(dnnl::engine::kind::cpu, 0),
        strm_(eng_),
        g_(g),
        w_(w),
        x_(x),
        y_(y),
        use_auto_(use_auto) {}
  [[nodiscard]] std::string library() const override { return "onednn"; }
  bool prepare(int threads) override {
    omp_set_num_threads(threads);
    if (threads == threads_) return ok_;
    threads_ = threads;
    ok_ = false;
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    using dims = dnnl::memory::dims;
    const Geometry& g = g_;
    try {
      const dnnl::memory::desc src_md({g.n, g.c_in, g.h, g.w}, dt::f32, tag::nhwc);
      const dnnl::memory::desc dst_md({g.n, g.c_out, g.ho, g.wo}, dt::f32, tag::nhwc);
      // Our HWIO filter seen as oneDNN's logical weights: (G, O/G, I/G, KH, KW) grouped, or
      // (O, I, KH, KW) when G = 1; element (g, o, i, h, w) sits at
      // ((h*KW + w)*Cig + i)*C_out + g*Cog + o.
      dnnl::memory::desc user_w_md;
      dnnl::memory::desc any_w_md;
      if (g.groups > 1) {
        user_w_md =
            dnnl::memory::desc({g.groups, g.cog, g.cig, g.kh, g.kw}, dt::f32,
                               dims{g.cog, 1, g.c_out, g.kw * g.cig * g.c_out, g.cig * g.c_out});
        any_w_md = dnnl::memory::desc({g.groups, g.cog, g.cig, g.kh, g.kw}, dt::f32, tag::any);
      } else {
        user_w_md = dnnl::memory::desc({g.c_out, g.cig, g.kh, g.kw}, dt::f32,
                                       dims{1, g.c_out, g.kw * g.cig * g.c_out, g.cig * g.c_out});
        any_w_md = dnnl::memory::desc({g.c_out, g.cig, g.kh, g.kw}, dt::f32, tag::any);
      }
      // Dilation is 0-based in oneDNN (0 = dense).
      const dnnl::convolution_forward::desc cd(
          dnnl::prop_kind::forward_inference,
          use_auto_ ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct,
          src_md, any_w_md, dst_md, dims{g.sh, g.sw}, dims{g.dh - 1, g.dw - 1},
          dims{g.pad_top, g.pad_left}, dims{g.pad_bottom, g.pad_right});
      const dnnl::convolution_forward::primitive_desc pd(cd, eng_);
      impl_ = pd.impl_info_str();
      // The weights, reordered once into the layout the implementation asked for.
      dnnl::memory user_w(user_w_md, eng_, const_cast<float*>(w_));
      w_mem_ = dnnl::memory(pd.weights_desc(), eng_);
      dnnl::reorder(user_w, w_mem_).execute(strm_, user_w, w_mem_);
      strm_.wait();
      src_mem_ = dnnl::memory(pd.src_desc(), eng_, const_cast<float*>(x_));
      dst_mem_ = dnnl::memory(pd.dst_desc(), eng_, y_);
      conv_ = dnnl::convolution_forward(pd);
      args_ = {{DNNL_ARG_SRC, src_mem_}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_DST, dst_mem_}};
      ok_ = true;
    } catch (const dnnl::error& e) {
      impl_ = std::string("oneDNN refused: ") + e.what();
    }
    return ok_;
  }
  void run() override {
    conv_.execute(strm_, args_);
    strm_.wait();
  }
  [[nodiscard]] std::string impl() const override {
    return impl_ + (ok_ ? (use_auto_ ? " (auto)" : " (direct)") : "");
  }
  // The implementation name alone, to see whether direct and auto chose the same.
  [[nodiscard]] const std::string& raw_impl() const { return impl_; }
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  dnnl::engine eng_;
  dnnl::stream strm_;
  Geometry g_;
  const float* w_;
  const float* x_;
  float* y_;
  bool use_auto_;
  int threads_ = 0;
  bool ok_ = false;
  std::string impl_;
  dnnl::memory w_mem_, src_mem_, dst_mem_;
  dnnl::convolution_forward conv_;
  std::unordered_map<int, dnnl::memory> args_;
};

// XNNPACK: xnn_create_convolution2d_nhwc_f32 with groups; depthwise layers (one input
// channel per group) use XNN_FLAG_DEPTHWISE_CONVOLUTION, whose filter layout
// [1, KH, KW, G*multiplier] is our HWIO; other layers repack HWIO into XNNPACK's
// [G][Cog][KH][KW][Cig]. The operator packs the weights at creation.
class XnnpackRunner final : public Runner {
 public:
  XnnpackRunner(const Geometry& g, const float* w, const float* x, float* y,
                std::map<int, pthreadpool_t>* pools)
      : g_(g), x_(x), y_(y), pools_(pools) {
    const bool depthwise = g.cig == 1;
    std::vector<float> packed;
    const float* kernel = w;
    if (!depthwise) {
      packed.resize(static_cast<std::size_t>(g.filter_elements()));
      std::size_t i = 0;
      for (i64 gi = 0; gi < g.groups; ++gi)
        for (i64 o = 0; o < g.cog; ++o)
          for (i64 h = 0; h < g.kh; ++h)
            for (i64 ww = 0; ww < g.kw; ++ww)
              for (i64 ci = 0; ci < g.cig; ++ci)
                packed[i++] = w[((h * g.kw + ww) * g.cig + ci) * g.c_out + gi * g.cog + o];
      kernel = packed.data();
    }
    auto u32 = [](i64 v) { return static_cast<std::uint32_t>(v); };
    const xnn_status s = xnn_create_convolution2d_nhwc_f32(
        u32(g.pad_top), u32(g.pad_right), u32(g.pad_bottom), u32(g.pad_left), u32(g.kh), u32(g.kw),
        u32(g.sh), u32(g.sw), u32(g.dh), u32(g.dw), u32(g.groups), static_cast<std::size_t>(g.cig),
        static_cast<std::size_t>(g.cog), static_cast<std::size_t>(g.c_in),
        static_cast<std::size_t>(g.c_out), kernel, nullptr, -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::infinity(), depthwise ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0u,
        &op_);
    if (s != xnn_status_success) {
      impl_ = "xnn_create_convolution2d_nhwc_f32 failed (status " +
              std::to_string(static_cast<int>(s)) + ")";
      op_ = nullptr;
    } else {
      impl_ = guess_path();
    }
  }
  ~XnnpackRunner() override {
    if (op_ != nullptr) xnn_delete_operator(op_);
  }
  XnnpackRunner(const XnnpackRunner&) = delete;
  XnnpackRunner& operator=(const XnnpackRunner&) = delete;
  [[nodiscard]] std::string library() const override { return "xnnpack"; }
  bool prepare(int threads) override {
    if (op_ == nullptr) return false;
    if (threads == threads_) return true;
    threads_ = threads;
    pool_ = pool_for(threads);
    const xnn_status s = xnn_setup_convolution2d_nhwc_f32(
        op_, static_cast<std::size_t>(g_.n), static_cast<std::size_t>(g_.h),
        static_cast<std::size_t>(g_.w), x_, y_, pool_);
    if (s != xnn_status_success) {
      impl_ = "xnn_setup_convolution2d_nhwc_f32 failed (status " +
              std::to_string(static_cast<int>(s)) + ")";
      xnn_delete_operator(op_);
      op_ = nullptr;
      return false;
    }
    return true;
  }
  void run() override { xnn_run_operator(op_, pool_); }
  [[nodiscard]] std::string impl() const override { return impl_; }

 private:
  pthreadpool_t pool_for(int threads) {
    auto it = pools_->find(threads);
    if (it == pools_->end()) {
      it = pools_->emplace(threads, pthreadpool_create(static_cast<std::size_t>(threads))).first;
    }
    return it->second;
  }
  // XNNPACK does not report its choice; this restates its documented path selection
  // (convolution-nhwc.c, 2022): 1x1 stride-1 unpadded -> GEMM (or a per-channel multiply-add
  // when Cig = Cog = 1), one channel per group -> a depthwise kernel when one exists for
  // the tap count, otherwise the indirect GEMM.
  [[nodiscard]] std::string guess_path() const {
    const bool unit = g_.kh == 1 && g_.kw == 1 && g_.sh == 1 && g_.sw == 1 && g_.pad_top == 0 &&
                      g_.pad_bottom == 0 && g_.pad_left == 0 && g_.pad_right == 0;
    if (unit) return g_.cig == 1 && g_.cog == 1 ? "vmulcaddc (likely)" : "gemm (likely)";
    if (g_.cig == 1 && g_.cog == 1) {
      return "dwconv " + std::to_string(g_.kh * g_.kw) + "-tap or igemm (likely)";
    }
    return "igemm (likely)";
  }
  Geometry g_;
  const float* x_;
  float* y_;
  std::map<int, pthreadpool_t>* pools_;
  pthreadpool_t pool_ = nullptr;
  int threads_ = 0;
  xnn_operator_t op_ = nullptr;
  std::string impl_;
};

// ---------------------------------------------------------------------------------------
// Options and output.

struct Options {
  std::string layers = "bench/layers.csv";
  std::vector<int> threads{1, 2};
  double min_time_s = 0.3;
  int rounds = 3;
  std::string csv;
  std::string filter;
  std::string libs = "groupconv,onednn,xnnpack";
};

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: gc_peers [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R]\n"
               "                [--csv OUT] [--filter SUBSTR] [--libs groupconv,onednn,xnnpack]\n"
               "Runs each layer of the suite through groupconv, oneDNN and XNNPACK (interleaved,\n"
               "best of R medians) and checks every output against groupconv's reference.\n");
  std::exit(code);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gc_peers: %s needs a value\n", a.c_str());
        usage(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--layers") {
        o.layers = value();
      } else if (a == "--threads") {
        o.threads.clear();
        std::stringstream ss(value());
        std::string part;
        while (std::getline(ss, part, ',')) o.threads.push_back(std::stoi(part));
        if (o.threads.empty() ||
            std::any_of(o.threads.begin(), o.threads.end(), [](int t) { return t < 1; })) {
          throw std::invalid_argument("threads");
        }
      } else if (a == "--min-time") {
        o.min_time_s = std::stod(value());
      } else if (a == "--rounds") {
        o.rounds = std::max(1, std::stoi(value()));
      } else if (a == "--csv") {
        o.csv = value();
      } else if (a == "--filter") {
        o.filter = value();
      } else if (a == "--libs") {
        o.libs = value();
      } else if (a == "--help" || a == "-h") {
        usage(0);
      } else {
        std::fprintf(stderr, "gc_peers: unknown option %s\n", a.c_str());
        usage(2);
      }
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "gc_peers: bad value for %s\n", a.c_str());
      usage(2);
    }
  }
  return o;
}

bool wanted(const Options& o, const std::string& lib) {
  std::stringstream ss(o.libs);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part == lib) return true;
  }
  return false;
}

struct Result {
  std::string layer;
  int threads = 0;
  std::string library;
  double gflops = 0;  // 0 when the library could not run or was wrong
  double median_ms = 0;
  double min_ms = 0;  // the fastest single run: less sensitive to other jobs on the machine
  int runs = 0;
  double gflop = 0;
  double roofline = 0;
  double rel_l2 = 0;
  std::string status;  // ok | wrong | failed
  std::string impl;
};

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void write_csv(const std::string& path, const std::vector<Result>& results) {
  std::ofstream f(path);
  f << "layer,threads,library,gflops,median_ms,gflops_fastest,min_ms,runs,gflop,roofline_gflops,"
       "pct_roofline,pct_peak,rel_l2,status,impl\n";
  char buf[512];
  for (const auto& r : results) {
    const double peak = groupconv::suite::kPeakGflopsPerCore * r.threads;
    std::snprintf(buf, sizeof buf, "%s,%d,%s,%.3f,%.5f,%.3f,%.5f,%d,%.6f,%.3f,%.2f,%.2f,%.3g,%s,",
                  csv_escape(r.layer).c_str(), r.threads, r.library.c_str(), r.gflops, r.median_ms,
                  r.min_ms > 0 ? r.gflop / (r.min_ms * 1e-3) : 0.0, r.min_ms, r.runs, r.gflop,
                  r.roofline, r.roofline > 0 ? 100.0 * r.gflops / r.roofline : 0.0,
                  100.0 * r.gflops / peak, r.rel_l2, r.status.c_str());
    f << buf << csv_escape(r.impl) << "\n";
  }
  if (!f) std::fprintf(stderr, "gc_peers: could not write %s\n", path.c_str());
}

const Result* find(const std::vector<Result>& rs, const std::string& layer, int threads,
                   const std::string& lib) {
  for (const auto& r : rs) {
    if (r.layer == layer && r.threads == threads && r.library == lib) return &r;
  }
  return nullptr;
}

void print_table(const std::vector<Result>& rs, const std::vector<std::string>& layers,
                 int threads) {
  std::printf(
      "\n== %d thread%s: GFLOP/s (median, best of rounds); ratio = groupconv / best "
      "correct peer ==\n",
      threads, threads == 1 ? "" : "s");
  std::printf("%-22s %9s %9s %9s %7s %7s %7s  %s\n", "layer", "groupconv", "oneDNN", "XNNPACK",
              "ratio", "gc%roof", "pr%roof", "groupconv kernel | oneDNN impl | XNNPACK path");
  double log_sum = 0;
  int log_n = 0;
  for (const auto& name : layers) {
    const Result* gc = find(rs, name, threads, "groupconv");
    const Result* dn = find(rs, name, threads, "onednn");
    const Result* xn = find(rs, name, threads, "xnnpack");
    const Result* any = gc != nullptr ? gc : dn != nullptr ? dn : xn;
    if (any == nullptr) continue;
    auto fig = [](const Result* r) {
      char b[32];
      if (r == nullptr || r->status == "failed") return std::string("-");
      if (r->status == "wrong") return std::string("WRONG");
      std::snprintf(b, sizeof b, "%.1f", r->gflops);
      return std::string(b);
    };
    auto ok = [](const Result* r) { return r != nullptr && r->status == "ok" ? r->gflops : 0.0; };
    const double best = std::max(ok(dn), ok(xn));
    const double ratio = best > 0 ? ok(gc) / best : 0.0;
    if (ratio > 0) {
      log_sum += std::log(ratio);
      ++log_n;
    }
    const double roof = any->roofline;
    std::printf("%-22s %9s %9s %9s %7.2f %6.1f%% %6.1f%%  %s | %s | %s\n", name.c_str(),
                fig(gc).c_str(), fig(dn).c_str(), fig(xn).c_str(), ratio, 100.0 * ok(gc) / roof,
                100.0 * best / roof, gc != nullptr ? gc->impl.c_str() : "-",
                dn != nullptr ? dn->impl.c_str() : "-", xn != nullptr ? xn->impl.c_str() : "-");
  }
  if (log_n > 0) {
    std::printf("geometric mean of groupconv / best peer over %d layers: %.3f\n", log_n,
                std::exp(log_sum / log_n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  std::vector<Layer> layers;
  try {
    layers = groupconv::suite::load_layers(opt.layers);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::fprintf(stderr, "gc_peers: xnn_initialize failed\n");
    return 1;
  }
  std::printf("gc_peers: %s, threads", opt.layers.c_str());
  for (int t : opt.threads) std::printf(" %d", t);
  std::printf(", min-time %.2f s, %d interleaved rounds; oneDNN %d.%d.%d\n", opt.min_time_s,
              opt.rounds, dnnl::version()->major, dnnl::version()->minor, dnnl::version()->patch);
  std::map<int, pthreadpool_t> pools;
  std::vector<Result> results;
  std::vector<std::string> names;
  const auto t_start = std::chrono::steady_clock::now();
  for (const auto& layer : layers) {
    if (!opt.filter.empty() && layer.name.find(opt.filter) == std::string::npos) continue;
    Geometry g;
    try {
      g = groupconv::resolve(layer.desc(), layer.shapes());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", layer.name.c_str(), e.what());
      continue;
    }
    names.push_back(layer.name);
    const auto in_n = static_cast<std::size_t>(g.input_elements());
    const auto w_n = static_cast<std::size_t>(g.filter_elements());
    const auto out_n = static_cast<std::size_t>(g.output_elements());
    // Input at page offset 0, output 1 KiB + 64 B into its page, filter elsewhere again.
    Buffer x(in_n, 0), w(w_n, 2048 + 128), y(out_n, 1024 + 64), ref(out_n, 0);
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < in_n; ++i) x.data()[i] = dist(rng);
    for (std::size_t i = 0; i < w_n; ++i) w.data()[i] = dist(rng);
    groupconv::reference_conv2d(g, x.data(), w.data(), nullptr, ref.data());

    std::vector<std::unique_ptr<Runner>> runners;
    const OnednnRunner* direct_p = nullptr;
    const OnednnRunner* auto_p = nullptr;
    if (wanted(opt, "groupconv")) {
      runners.push_back(std::make_unique<GroupconvRunner>(layer, w.data(), x.data(), y.data()));
    }
    if (wanted(opt, "onednn")) {
      auto direct = std::make_unique<OnednnRunner>(g, w.data(), x.data(), y.data(), false);
      auto autom = std::make_unique<OnednnRunner>(g, w.data(), x.data(), y.data(), true);
      direct_p = direct.get();
      auto_p = autom.get();
      runners.push_back(std::move(direct));
      runners.push_back(std::move(autom));
    }
    if (wanted(opt, "xnnpack")) {
      runners.push_back(std::make_unique<XnnpackRunner>(g, w.data(), x.data(), y.data(), &pools));
    }

    for (int threads : opt.threads) {
      const double roof = groupconv::suite::roofline_gflops(g, threads);
      std::vector<Result> rs(runners.size());
      std::vector<bool> ready(runners.size());
      for (std::size_t k = 0; k < runners.size(); ++k) {
        Runner& r = *runners[k];
        Result& res = rs[k];
        res.layer = layer.name;
        res.threads = threads;
        res.library = r.library();
        res.gflop = static_cast<double>(g.flops()) * 1e-9;
        res.roofline = roof;
        ready[k] = r.prepare(threads);
        res.impl = r.impl();
        if (!ready[k]) {
          res.status = "failed";
          continue;
        }
        // oneDNN's auto algorithm is timed only when it chose another implementation.
        if (&r == auto_p && direct_p != nullptr && direct_p->ok() &&
            auto_p->raw_impl() == direct_p->raw_impl()) {
          ready[k] = false;
          res.status = "same";
          continue;
        }
        y.fill(std::numeric_limits<float>::quiet_NaN());
        r.run();
        res.rel_l2 = relative_l2(y.data(), ref.data(), out_n);
        res.status = res.rel_l2 < kTolerance ? "ok" : "wrong";
        if (res.status != "ok") ready[k] = false;
      }
      for (int round = 0; round < opt.rounds; ++round) {
        for (std::size_t k = 0; k < runners.size(); ++k) {
          if (!ready[k]) continue;
          runners[k]->prepare(threads);  // oneDNN's OpenMP team size is process-wide
          const Sample s = measure([&] { runners[k]->run(); }, opt.min_time_s);
          if (rs[k].runs == 0 || s.median_ms < rs[k].median_ms) rs[k].median_ms = s.median_ms;
          if (rs[k].runs == 0 || s.min_ms < rs[k].min_ms) rs[k].min_ms = s.min_ms;
          rs[k].runs += s.runs;
        }
      }
      for (auto& r : rs) {
        if (r.median_ms > 0) r.gflops = r.gflop / (r.median_ms * 1e-3);
      }
      // oneDNN direct and auto chose different implementations: keep the faster as "onednn".
      std::vector<Result> kept;
      for (auto& r : rs) {
        if (r.status == "same") continue;
        auto it = std::find_if(kept.begin(), kept.end(),
                               [&](const Result& k) { return k.library == r.library; });
        if (it == kept.end()) {
          kept.push_back(r);
        } else if (r.status == "ok" && (it->status != "ok" || r.gflops > it->gflops)) {
          *it = r;
        }
      }
      for (const auto& r : kept) {
        std::printf("%-22s %dT %-9s %9.1f GFLOP/s %6.1f%% roof  rel_l2 %.1e %-6s %s\n",
                    r.layer.c_str(), threads, r.library.c_str(), r.gflops,
                    r.roofline > 0 ? 100.0 * r.gflops / r.roofline : 0.0, r.rel_l2,
                    r.status.c_str(), r.impl.c_str());
        results.push_back(r);
      }
      std::fflush(stdout);
    }
  }
  for (int threads : opt.threads) print_table(results, names, threads);
  std::printf("\ntotal time %.0f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  if (!opt.csv.empty()) write_csv(opt.csv, results);
  for (auto& [t, p] : pools) pthreadpool_destroy(p);
  bool any_wrong = false;
  for (const auto& r : results) any_wrong = any_wrong || r.status == "wrong";
  return any_wrong ? 1 : 0;
}
