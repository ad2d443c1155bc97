// gc_peers: runs a benchmark suite (bench/layers.csv) through groupconv, oneDNN and XNNPACK,
// interleaved per layer, and prints GFLOP/s, % of the layer's roofline and the implementation
// each library chose. scripts/bench_peers.sh runs it with torch_peer.py and writes
// docs/PERFORMANCE.md.
//
//   gc_peers [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R] [--csv OUT]
//            [--pass fwd|bwd_data|bwd_filter|all] [--filter SUBSTR]
//            [--libs groupconv,onednn,xnnpack]
//
// Passes: the forward (x, w -> y), the input gradient (dy, w -> dx: groupconv's
// BackwardDataPlan, oneDNN's convolution_backward_data) and the filter gradient with the bias
// gradient (x, dy -> dw, db: BackwardFilterPlan, convolution_backward_weights); XNNPACK has
// no backward operator (reported n/a). GFLOP/s use the forward's FLOP count for every pass.
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
// - each library's output is checked against groupconv's reference (reference_conv2d,
//   reference_backward_data, reference_backward_filter: float in, double accumulation;
//   relative L2 < 1e-4, the worse of dw and db for the filter gradient) so a mis-configured
//   peer is caught instead of timed; a wrong result is reported, not ranked.
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

#include "groupconv/backward.hpp"
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

using groupconv::suite::Pass;

// The tensors of one layer, shared by every library: forward (x, w -> y), input gradient
// (dy, w -> dx), filter gradient (x, dy -> dw, db). HWIO filters, NHWC activations.
struct Tensors {
  float* x = nullptr;
  float* w = nullptr;
  float* y = nullptr;
  float* dy = nullptr;
  float* dx = nullptr;
  float* dw = nullptr;
  float* db = nullptr;
};

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
  // After the checked run, outside any timing: bring the result into the shared tensors
  // (oneDNN's filter gradient is in its own blocked layout).
  virtual void finish() {}
  [[nodiscard]] virtual std::string impl() const = 0;
  // Milliseconds of a layout conversion the library needs outside the timed loop and a user
  // holding HWIO filters would pay each training step (0 = none).
  [[nodiscard]] virtual double reorder_ms() const { return 0.0; }
};

class GroupconvRunner final : public Runner {
 public:
  GroupconvRunner(const Layer& l, Pass pass, const Tensors& t) : layer_(l), pass_(pass), t_(t) {}
  [[nodiscard]] std::string library() const override { return "groupconv"; }
  bool prepare(int threads) override {
    if (threads == threads_) return ok_;
    threads_ = threads;
    ok_ = false;
    groupconv::PlanOptions opt;
    opt.threads = threads;
    fwd_.reset();
    bd_.reset();
    bf_.reset();
    try {
      const groupconv::Geometry g = groupconv::resolve(layer_.desc(), layer_.shapes());
      const auto out = g.output_shape();
      const std::vector<i64> dy_shape(out.begin(), out.end());
      switch (pass_) {
        case Pass::kForward:
          fwd_ =
              std::make_unique<groupconv::Plan>(layer_.desc(), layer_.shapes(), t_.w, nullptr, opt);
          impl_ = fwd_->kernel_name() + " (" + groupconv::to_string(fwd_->isa()) + ")";
          break;
        case Pass::kBackwardData:
          bd_ = std::make_unique<groupconv::BackwardDataPlan>(layer_.desc(), layer_.shapes(),
                                                              dy_shape, t_.w, opt);
          impl_ = bd_->kernel_name();
          break;
        case Pass::kBackwardFilter:
          bf_ = std::make_unique<groupconv::BackwardFilterPlan>(layer_.desc(), layer_.shapes(),
                                                                dy_shape, opt);
          impl_ = bf_->kernel_name();
          break;
      }
      ok_ = true;
    } catch (const std::exception& e) {
      impl_ = std::string("plan failed: ") + e.what();
    }
    return ok_;
  }
  void run() override {
    switch (pass_) {
      case Pass::kForward:
        fwd_->execute(t_.x, t_.y);
        break;
      case Pass::kBackwardData:
        bd_->execute(t_.dy, t_.dx);
        break;
      case Pass::kBackwardFilter:
        bf_->execute(t_.x, t_.dy, t_.dw, t_.db);
        break;
    }
  }
  [[nodiscard]] std::string impl() const override { return impl_; }

 private:
  const Layer& layer_;
  Pass pass_;
  Tensors t_;
  std::unique_ptr<groupconv::Plan> fwd_;
  std::unique_ptr<groupconv::BackwardDataPlan> bd_;
  std::unique_ptr<groupconv::BackwardFilterPlan> bf_;
  int threads_ = 0;
  bool ok_ = false;
  std::string impl_;
};

// oneDNN, NHWC activations, weights in format_tag::any, algorithm direct or auto (main()
// times both when they pick different implementations and keeps the faster):
// - forward: convolution_forward (forward_inference), the weights reordered once from HWIO;
// - input gradient: convolution_backward_data with a forward_training hint, the weights
//   reordered once from HWIO (outside the timed loop; reorder_ms() says what it costs);
// - filter gradient: convolution_backward_weights with the bias gradient and a
//   forward_training hint; the weight gradient is produced in oneDNN's layout and reordered
//   to HWIO only for the check (reorder_ms() again).
// oneDNN fixes a primitive's thread count when the primitive is created (from
// omp_get_max_threads), so prepare() creates the primitives for each thread count after
// omp_set_num_threads.
class OnednnRunner final : public Runner {
 public:
  OnednnRunner(const Geometry& g, Pass pass, const Tensors& t, bool use_auto, double reorder_time)
      : eng_(dnnl::engine::kind::cpu, 0),
        strm_(eng_),
        g_(g),
        pass_(pass),
        t_(t),
        use_auto_(use_auto),
        reorder_time_(reorder_time) {}
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
      const dnnl::memory::desc bias_md({g.c_out}, dt::f32, tag::x);
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
      const auto alg =
          use_auto_ ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct;
      // Dilation is 0-based in oneDNN (0 = dense).
      const dims strides{g.sh, g.sw}, dil{g.dh - 1, g.dw - 1}, pad_l{g.pad_top, g.pad_left},
          pad_r{g.pad_bottom, g.pad_right};
      src_mem_ = dnnl::memory(src_md, eng_, t_.x);
      dst_mem_ = dnnl::memory(dst_md, eng_, t_.y);
      switch (pass_) {
        case Pass::kForward: {
          const dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, alg, src_md,
                                                   any_w_md, dst_md, strides, dil, pad_l, pad_r);
          const dnnl::convolution_forward::primitive_desc pd(cd, eng_);
          impl_ = pd.impl_info_str();
          reorder_in(user_w_md, pd.weights_desc(), t_.w);
          prim_ = dnnl::convolution_forward(pd);
          args_ = {{DNNL_ARG_SRC, src_mem_}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_DST, dst_mem_}};
          break;
        }
        case Pass::kBackwardData: {
          const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, src_md,
                                                   any_w_md, dst_md, strides, dil, pad_l, pad_r);
          const dnnl::convolution_forward::primitive_desc hint(fd, eng_);
          const dnnl::convolution_backward_data::desc bd(alg, src_md, any_w_md, dst_md, strides,
                                                         dil, pad_l, pad_r);
          const dnnl::convolution_backward_data::primitive_desc pd(bd, eng_, hint);
          impl_ = pd.impl_info_str();
          reorder_in(user_w_md, pd.weights_desc(), t_.w);
          const dnnl::memory diff_dst(pd.diff_dst_desc(), eng_, t_.dy);
          const dnnl::memory diff_src(pd.diff_src_desc(), eng_, t_.dx);
          prim_ = dnnl::convolution_backward_data(pd);
          args_ = {{DNNL_ARG_DIFF_DST, diff_dst},
                   {DNNL_ARG_WEIGHTS, w_mem_},
                   {DNNL_ARG_DIFF_SRC, diff_src}};
          break;
        }
        case Pass::kBackwardFilter: {
          const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, src_md,
                                                   any_w_md, bias_md, dst_md, strides, dil, pad_l,
                                                   pad_r);
          const dnnl::convolution_forward::primitive_desc hint(fd, eng_);
          const dnnl::convolution_backward_weights::desc bw(alg, src_md, any_w_md, bias_md, dst_md,
                                                            strides, dil, pad_l, pad_r);
          const dnnl::convolution_backward_weights::primitive_desc pd(bw, eng_, hint);
          impl_ = pd.impl_info_str();
          w_mem_ = dnnl::memory(pd.diff_weights_desc(), eng_);
          user_w_mem_ = dnnl::memory(user_w_md, eng_, t_.dw);
          reorder_ = dnnl::reorder(w_mem_, user_w_mem_);
          const dnnl::memory diff_dst(pd.diff_dst_desc(), eng_, t_.dy);
          const dnnl::memory diff_bias(pd.diff_bias_desc(), eng_, t_.db);
          prim_ = dnnl::convolution_backward_weights(pd);
          args_ = {{DNNL_ARG_SRC, src_mem_},
                   {DNNL_ARG_DIFF_DST, diff_dst},
                   {DNNL_ARG_DIFF_WEIGHTS, w_mem_},
                   {DNNL_ARG_DIFF_BIAS, diff_bias}};
          break;
        }
      }
      // What a user holding HWIO filters pays per step for the conversion (timed briefly).
      reorder_ms_ = 0;
      if (pass_ != Pass::kForward && w_mem_.get_desc() != user_w_mem_.get_desc()) {
        reorder_ms_ = measure([&] { run_reorder(); }, reorder_time_).median_ms;
      }
      ok_ = true;
    } catch (const dnnl::error& e) {
      impl_ = std::string("oneDNN refused: ") + e.what();
    }
    return ok_;
  }
  void run() override {
    prim_.execute(strm_, args_);
    strm_.wait();
  }
  void finish() override {
    if (pass_ == Pass::kBackwardFilter) run_reorder();
  }
  [[nodiscard]] double reorder_ms() const override { return reorder_ms_; }
  [[nodiscard]] std::string impl() const override {
    return impl_ + (ok_ ? (use_auto_ ? " (auto)" : " (direct)") : "");
  }
  // The implementation name alone, to see whether direct and auto chose the same.
  [[nodiscard]] const std::string& raw_impl() const { return impl_; }
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  // HWIO -> the layout the primitive asked for, once.
  void reorder_in(const dnnl::memory::desc& user_md, const dnnl::memory::desc& md, const float* w) {
    user_w_mem_ = dnnl::memory(user_md, eng_, const_cast<float*>(w));
    w_mem_ = dnnl::memory(md, eng_);
    reorder_ = dnnl::reorder(user_w_mem_, w_mem_);
    run_reorder();
  }
  // The filter-gradient pass reorders oneDNN's layout -> HWIO; the others HWIO -> oneDNN's.
  void run_reorder() {
    if (pass_ == Pass::kBackwardFilter) {
      reorder_.execute(strm_, w_mem_, user_w_mem_);
    } else {
      reorder_.execute(strm_, user_w_mem_, w_mem_);
    }
    strm_.wait();
  }
  dnnl::engine eng_;
  dnnl::stream strm_;
  Geometry g_;
  Pass pass_;
  Tensors t_;
  bool use_auto_;
  double reorder_time_;
  int threads_ = 0;
  bool ok_ = false;
  double reorder_ms_ = 0;
  std::string impl_;
  dnnl::memory w_mem_, user_w_mem_, src_mem_, dst_mem_;
  dnnl::reorder reorder_;
  dnnl::primitive prim_;
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
  std::vector<Pass> passes{Pass::kForward};
  double min_time_s = 0.3;
  int rounds = 3;
  std::string csv;
  std::string filter;
  std::string libs = "groupconv,onednn,xnnpack";
};

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: gc_peers [--layers FILE] [--threads 1,2] [--min-time S] [--rounds R]\n"
               "                [--pass fwd|bwd_data|bwd_filter|all] [--csv OUT]\n"
               "                [--filter SUBSTR] [--libs groupconv,onednn,xnnpack]\n"
               "Runs each layer of the suite through groupconv, oneDNN and XNNPACK (interleaved,\n"
               "best of R medians) and checks every output against groupconv's reference.\n"
               "--pass takes a comma-separated list too; XNNPACK has no backward (n/a).\n");
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
      } else if (a == "--pass") {
        o.passes.clear();
        std::stringstream ss(value());
        std::string part;
        while (std::getline(ss, part, ',')) {
          Pass p{};
          if (part == "all") {
            o.passes = {Pass::kForward, Pass::kBackwardData, Pass::kBackwardFilter};
          } else if (groupconv::suite::parse_pass(part, &p)) {
            o.passes.push_back(p);
          } else {
            throw std::invalid_argument("pass");
          }
        }
        if (o.passes.empty()) throw std::invalid_argument("pass");
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
  Pass pass = Pass::kForward;
  double gflops = 0;  // 0 when the library could not run or was wrong
  double median_ms = 0;
  double min_ms = 0;  // the fastest single run: less sensitive to other jobs on the machine
  int runs = 0;
  double gflop = 0;
  double roofline = 0;
  double rel_l2 = 0;
  double reorder_ms = 0;  // oneDNN backward: the HWIO <-> blocked filter reorder, untimed
  std::string status;     // ok | wrong | failed | n/a
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
       "pct_roofline,pct_peak,rel_l2,status,impl,pass,reorder_ms\n";
  char buf[512];
  for (const auto& r : results) {
    const double peak = groupconv::suite::kPeakGflopsPerCore * r.threads;
    std::snprintf(buf, sizeof buf, "%s,%d,%s,%.3f,%.5f,%.3f,%.5f,%d,%.6f,%.3f,%.2f,%.2f,%.3g,%s,",
                  csv_escape(r.layer).c_str(), r.threads, r.library.c_str(), r.gflops, r.median_ms,
                  r.min_ms > 0 ? r.gflop / (r.min_ms * 1e-3) : 0.0, r.min_ms, r.runs, r.gflop,
                  r.roofline, r.roofline > 0 ? 100.0 * r.gflops / r.roofline : 0.0,
                  100.0 * r.gflops / peak, r.rel_l2, r.status.c_str());
    f << buf << csv_escape(r.impl) << "," << groupconv::suite::to_string(r.pass) << ",";
    if (r.reorder_ms > 0) {
      std::snprintf(buf, sizeof buf, "%.5f", r.reorder_ms);
      f << buf;
    }
    f << "\n";
  }
  if (!f) std::fprintf(stderr, "gc_peers: could not write %s\n", path.c_str());
}

const Result* find(const std::vector<Result>& rs, const std::string& layer, int threads,
                   const std::string& lib, Pass pass) {
  for (const auto& r : rs) {
    if (r.layer == layer && r.threads == threads && r.library == lib && r.pass == pass) return &r;
  }
  return nullptr;
}

void print_table(const std::vector<Result>& rs, const std::vector<std::string>& layers, int threads,
                 Pass pass) {
  std::printf(
      "\n== %s, %d thread%s: GFLOP/s (median, best of rounds); ratio = groupconv / best "
      "correct peer ==\n",
      groupconv::suite::to_string(pass), threads, threads == 1 ? "" : "s");
  std::printf("%-22s %9s %9s %9s %7s %7s %7s  %s\n", "layer", "groupconv", "oneDNN", "XNNPACK",
              "ratio", "gc%roof", "pr%roof", "groupconv kernel | oneDNN impl | XNNPACK path");
  double log_sum = 0;
  int log_n = 0;
  for (const auto& name : layers) {
    const Result* gc = find(rs, name, threads, "groupconv", pass);
    const Result* dn = find(rs, name, threads, "onednn", pass);
    const Result* xn = find(rs, name, threads, "xnnpack", pass);
    const Result* any = gc != nullptr ? gc : dn != nullptr ? dn : xn;
    if (any == nullptr) continue;
    auto fig = [](const Result* r) {
      char b[32];
      if (r == nullptr || r->status == "failed") return std::string("-");
      if (r->status == "n/a") return std::string("n/a");
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
  std::printf(", passes");
  for (Pass p : opt.passes) std::printf(" %s", groupconv::suite::to_string(p));
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
    const auto b_n = static_cast<std::size_t>(g.c_out);
    // Every tensor at its own offset within a page (4 KiB aliasing, KERNELS.md).
    Buffer x(in_n, 0), w(w_n, 2048 + 128), y(out_n, 1024 + 64), dy(out_n, 3072 + 192),
        dx(in_n, 1024 + 64), dw(w_n, 2048 + 128), db(b_n, 512), ref(std::max(in_n, out_n), 0),
        ref_w(w_n, 0), ref_b(b_n, 0);
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < in_n; ++i) x.data()[i] = dist(rng);
    for (std::size_t i = 0; i < w_n; ++i) w.data()[i] = dist(rng);
    for (std::size_t i = 0; i < out_n; ++i) dy.data()[i] = dist(rng);
    const Tensors t{x.data(), w.data(), y.data(), dy.data(), dx.data(), dw.data(), db.data()};

    for (Pass pass : opt.passes) {
      // The checked outputs and their references (float in, double accumulation).
      std::vector<std::pair<const Buffer*, std::size_t>> outs;
      switch (pass) {
        case Pass::kForward:
          groupconv::reference_conv2d(g, x.data(), w.data(), nullptr, ref.data());
          outs = {{&y, out_n}};
          break;
        case Pass::kBackwardData:
          groupconv::reference_backward_data(g, dy.data(), w.data(), ref.data());
          outs = {{&dx, in_n}};
          break;
        case Pass::kBackwardFilter:
          groupconv::reference_backward_filter(g, x.data(), dy.data(), ref_w.data(), ref_b.data());
          outs = {{&dw, w_n}, {&db, b_n}};
          break;
      }
      const Buffer* refs[2] = {pass == Pass::kBackwardFilter ? &ref_w : &ref, &ref_b};

      std::vector<std::unique_ptr<Runner>> runners;
      const OnednnRunner* direct_p = nullptr;
      const OnednnRunner* auto_p = nullptr;
      if (wanted(opt, "groupconv")) {
        runners.push_back(std::make_unique<GroupconvRunner>(layer, pass, t));
      }
      if (wanted(opt, "onednn")) {
        const double reorder_time = std::min(0.05, opt.min_time_s);
        auto direct = std::make_unique<OnednnRunner>(g, pass, t, false, reorder_time);
        auto autom = std::make_unique<OnednnRunner>(g, pass, t, true, reorder_time);
        direct_p = direct.get();
        auto_p = autom.get();
        runners.push_back(std::move(direct));
        runners.push_back(std::move(autom));
      }
      const bool xnn = wanted(opt, "xnnpack");
      if (xnn && pass == Pass::kForward) {
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
          res.pass = pass;
          res.gflop = static_cast<double>(g.flops()) * 1e-9;
          res.roofline = roof;
          ready[k] = r.prepare(threads);
          res.impl = r.impl();
          res.reorder_ms = r.reorder_ms();
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
          for (const auto& o : outs) o.first->fill(std::numeric_limits<float>::quiet_NaN());
          r.run();
          r.finish();
          res.rel_l2 = 0;
          for (std::size_t o = 0; o < outs.size(); ++o) {
            res.rel_l2 = std::max(
                res.rel_l2, relative_l2(outs[o].first->data(), refs[o]->data(), outs[o].second));
          }
          res.status = res.rel_l2 < kTolerance ? "ok" : "wrong";
          if (res.status != "ok") ready[k] = false;
        }
        if (xnn && pass != Pass::kForward) {
          Result na;
          na.layer = layer.name;
          na.threads = threads;
          na.library = "xnnpack";
          na.pass = pass;
          na.gflop = static_cast<double>(g.flops()) * 1e-9;
          na.roofline = roof;
          na.status = "n/a";
          na.impl = "no backward operator";
          rs.push_back(na);
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
          std::printf("%-22s %-10s %dT %-9s %9.1f GFLOP/s %6.1f%% roof  rel_l2 %.1e %-6s %s\n",
                      r.layer.c_str(), groupconv::suite::to_string(pass), threads,
                      r.library.c_str(), r.gflops,
                      r.roofline > 0 ? 100.0 * r.gflops / r.roofline : 0.0, r.rel_l2,
                      r.status.c_str(), r.impl.c_str());
          results.push_back(r);
        }
        std::fflush(stdout);
      }
    }
  }
  for (Pass pass : opt.passes) {
    for (int threads : opt.threads) print_table(results, names, threads, pass);
  }
  std::printf("\ntotal time %.0f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
  if (!opt.csv.empty()) write_csv(opt.csv, results);
  for (auto& [th, p] : pools) pthreadpool_destroy(p);
  bool any_wrong = false;
  for (const auto& r : results) any_wrong = any_wrong || r.status == "wrong";
  return any_wrong ? 1 : 0;
}
