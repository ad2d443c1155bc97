// Backward plans. Like the forward plan, they convert user layouts (NCHW, OIHW) once into
// NHWC / HWIO buffers owned by the plan and run NHWC kernels on the balanced task partition
// (src/plan/parallel.hpp: each task is independent of which thread runs it).
//
// Input gradient: one task per input row (n, ih). Each input pixel gathers, for every tap
// whose forward output position is on the stride grid, dy[pixel] x w[tap] into a row of C_in
// accumulators, in a fixed tap order: no atomics, no scatter, bit-identical for any split.
//
// Filter gradient: one task per block of output channels (whole groups when groups are
// narrow, a slice of one group's outputs when they are wide). The task reduces over
// N x Ho x Wo in a fixed order into a private [KH][KW][Cig][block] accumulator and writes its
// disjoint slice of dw (and db): the reduction order never depends on the thread count.
#include "groupconv/backward.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/backward/bwd_data_params.hpp"
#include "kernels/backward/dw_bwd_filter_params.hpp"
#include "kernels/backward/gemm_bwd_filter_params.hpp"
#include "kernels/backward/grouped_bwd_filter_params.hpp"
#include "kernels/common/built_isa.hpp"
#include "kernels/common/cache_sets.hpp"
#include "plan/aligned_buffer.hpp"
#include "plan/copy_shape.hpp"
#include "plan/layout.hpp"
#include "plan/parallel.hpp"

namespace groupconv {

using i64 = std::int64_t;
using detail::AlignedBuffer;

namespace {

std::vector<i64> vec(const std::array<i64, 4>& a) { return {a.begin(), a.end()}; }

// NHWC/HWIO view of a user geometry.
Geometry kernel_view(const Geometry& g) {
  Geometry k = g;
  k.data_format = DataFormat::kNHWC;
  k.filter_format = FilterFormat::kHWIO;
  return k;
}

// Forward output position along one axis that input position `in` reaches through tap t,
// or -1 when it is off the stride grid or outside the output.
inline i64 out_pos(i64 in, i64 t, i64 pad, i64 dil, i64 stride, i64 out_size) {
  const i64 v = in + pad - t * dil;
  if (v < 0 || v % stride != 0) return -1;
  const i64 o = v / stride;
  return o < out_size ? o : -1;
}

// ---- input gradient ---------------------------------------------------------------------
class BwdDataKernel {
 public:
  BwdDataKernel(const Geometry& g, const float* w_hwio, Isa isa) : g_(g) {
    const i64 taps = g.kh * g.kw;
    w_.reset(static_cast<std::size_t>(g.filter_elements()) * sizeof(float));
    float* p = w_.floats();
    if (g.cig == 1) {
      std::memcpy(p, w_hwio, static_cast<std::size_t>(g.filter_elements()) * sizeof(float));
    } else {
      // [tap][g][o][i]: the innermost loop runs over the group's input channels.
      for (i64 t = 0; t < taps; ++t)
        for (i64 gr = 0; gr < g.groups; ++gr)
          for (i64 o = 0; o < g.cog; ++o)
            for (i64 i = 0; i < g.cig; ++i)
              p[((t * g.groups + gr) * g.cog + o) * g.cig + i] =
                  w_hwio[(t * g.cig + i) * g.c_out + gr * g.cog + o];
    }
    // The vectorised gather (src/kernels/backward/): depthwise with multiplier 1, or groups
    // with at least 2 input channels. Multipliers keep the scalar loop below.
    if ((g.cig == 1 && g.cog == 1) || g.cig >= 2) {
      fn_ = isa == Isa::kAvx2 ? &detail::bwd_data_avx2 : &detail::bwd_data_portable;
      if constexpr (detail::kAvx512Kernels) {
        if (isa == Isa::kAvx512) fn_ = &detail::bwd_data_avx512;
      }
      isa_name_ = to_string(isa);
      isa_ = isa;
      // Column taps: for each input column, the (kw, ow) pairs that read it.
      col_off_.assign(static_cast<std::size_t>(g.w + 1), 0);
      col_tap_.clear();
      for (i64 iw = 0; iw < g.w; ++iw) {
        for (i64 kw = 0; kw < g.kw; ++kw) {
          const i64 ow = out_pos(iw, kw, g.pad_left, g.dw, g.sw, g.wo);
          if (ow < 0) continue;
          col_tap_.push_back(static_cast<std::int32_t>(kw));
          col_tap_.push_back(static_cast<std::int32_t>(ow));
        }
        col_off_[static_cast<std::size_t>(iw + 1)] = static_cast<std::int32_t>(col_tap_.size() / 2);
      }
      prm_ = detail::BwdDataParams{};
      detail::copy_shape(g, prm_);
      prm_.groups = g.groups;
      prm_.cig = g.cig;
      prm_.cog = g.cog;
      prm_.col_off = col_off_.data();
      prm_.col_tap = col_tap_.data();
      prm_.wpk = w_.floats();
    }
  }
  [[nodiscard]] i64 num_tasks() const { return g_.n * g_.h; }
  [[nodiscard]] std::size_t scratch_bytes() const {
    return static_cast<std::size_t>(std::max(g_.c_in, 2 * g_.kh)) * sizeof(i64);
  }
  static bool dycols(const Geometry& g, Isa isa) {
    return detail::bwd_data_dycols(g.sw, g.kw, g.dw, g.cig, g.cog, isa == Isa::kAvx512 ? 16 : 8);
  }
  [[nodiscard]] std::string name() const {
    if (fn_ != nullptr) {
      if (dycols(g_, isa_)) {
        return std::string(g_.cig == 1 ? "bwd_data_dw_dycols_s" : "bwd_data_gconv_dycols_s") +
               std::to_string(g_.sw) + "k" + std::to_string(g_.kw) + "_" + isa_name_;
      }
      return std::string(g_.cig == 1 ? "bwd_data_dw_gather_" : "bwd_data_gconv_gather_") +
             isa_name_;
    }
    return g_.cig == 1 ? "bwd_data_depthwise_direct" : "bwd_data_grouped_direct";
  }

  void run(const float* dy, float* dx, i64 begin, i64 end, float* acc) const {
    if (fn_ != nullptr) {
      fn_(prm_, dy, dx, begin, end, reinterpret_cast<i64*>(acc));
      return;
    }
    const Geometry& g = g_;
    const float* w = w_.floats();
    const i64 m = g.cog;
    for (i64 task = begin; task < end; ++task) {
      const i64 n = task / g.h;
      const i64 ih = task % g.h;
      for (i64 iw = 0; iw < g.w; ++iw) {
        std::fill_n(acc, g.c_in, 0.0f);
        for (i64 kh = 0; kh < g.kh; ++kh) {
          const i64 oh = out_pos(ih, kh, g.pad_top, g.dh, g.sh, g.ho);
          if (oh < 0) continue;
          for (i64 kw = 0; kw < g.kw; ++kw) {
            const i64 ow = out_pos(iw, kw, g.pad_left, g.dw, g.sw, g.wo);
            if (ow < 0) continue;
            const float* d = dy + ((n * g.ho + oh) * g.wo + ow) * g.c_out;
            const float* wt = w + (kh * g.kw + kw) * g.cig * g.c_out;
            if (g.cig == 1 && m == 1) {
              for (i64 c = 0; c < g.c_in; ++c) acc[c] += d[c] * wt[c];
            } else if (g.cig == 1) {
              for (i64 c = 0; c < g.c_in; ++c) {
                float s = 0.0f;
                for (i64 k = 0; k < m; ++k) s += d[c * m + k] * wt[c * m + k];
                acc[c] += s;
              }
            } else {
              for (i64 gr = 0; gr < g.groups; ++gr) {
                float* a = acc + gr * g.cig;
                for (i64 o = 0; o < g.cog; ++o) {
                  const float dv = d[gr * g.cog + o];
                  const float* wr = wt + (gr * g.cog + o) * g.cig;
                  for (i64 i = 0; i < g.cig; ++i) a[i] += dv * wr[i];
                }
              }
            }
          }
        }
        std::memcpy(dx + ((n * g.h + ih) * g.w + iw) * g.c_in, acc,
                    static_cast<std::size_t>(g.c_in) * sizeof(float));
      }
    }
  }

 private:
  Geometry g_;
  AlignedBuffer w_;
  detail::BwdDataFn fn_ = nullptr;
  detail::BwdDataParams prm_{};
  std::vector<std::int32_t> col_off_, col_tap_;
  std::string isa_name_;
  Isa isa_ = Isa::kPortable;
};

// The ISA of the direct input-gradient kernel: on AVX-512 machines, groups whose input
// channels fill whole 8-lane vectors but not 16-lane ones (ResNeXt's 8) take the AVX2 kernel,
// whose per-dy-column blocks need cig % 8 == 0; the 16-lane kernel would fall back to
// stride-1 phases (resnext50_c3_s2 1T: 35.7 GFLOP/s with phases, 75.3 with AVX2 dy columns).
Isa bwd_data_isa(const Geometry& g, Isa isa, bool exact) {
  if (isa == Isa::kAvx512 && !exact && g.cig >= 2 && !BwdDataKernel::dycols(g, Isa::kAvx512) &&
      BwdDataKernel::dycols(g, Isa::kAvx2)) {
    return Isa::kAvx2;
  }
  return isa;
}

// On AVX-512 machines, wide groups (at least 32 input channels) at stride 2 on outputs of at
// most 12 columns run as stride-1 phases on the forward kernels, not as per-dy-column blocks:
// the phases' implicit GEMMs ran 1.16-1.68x faster there (Zen 4, 1T medians of 3 interleaved
// runs: ResNeXt-101's c5 downsampling blocks 77 -> 98-108 GFLOP/s, ResNeXt-50's 14x14x1024
// with 32 groups 79 -> 99 (2T 153 -> 182), 20x20 and 24x24 inputs 1.16-1.39x, 5x5 kernels
// 1.27x), and 0.87-0.94x on 14-column outputs (28x28 inputs), where the blocks keep them;
// 16-input groups gained nothing (0.85-1.06x). exact_isa keeps the blocks (for the tests of
// the AVX-512 direct kernel).
bool prefer_phases(const Geometry& g, Isa isa, bool exact) {
  return isa == Isa::kAvx512 && !exact && g.sh == 2 && g.sw == 2 && g.cig >= 32 && g.wo <= 12;
}

// ---- filter gradient --------------------------------------------------------------------
class BwdFilterKernel {
 public:
  BwdFilterKernel(const Geometry& g, Isa isa) : g_(g) {
    if (g.cig == 1 && g.cog == 1) {
      init_depthwise(isa);
      return;
    }
    if (init_gemm(isa)) return;
    if (init_grouped(isa)) return;
    if (g.cog >= 32) {
      block_ = 32;  // a slice of one group's outputs
      blocks_per_group_ = (g.cog + block_ - 1) / block_;
      tasks_ = g.groups * blocks_per_group_;
    } else {
      groups_per_task_ = std::max<i64>(1, 64 / g.cog);
      block_ = groups_per_task_ * g.cog;
      tasks_ = (g.groups + groups_per_task_ - 1) / groups_per_task_;
    }
  }
  [[nodiscard]] i64 num_tasks() const { return tasks_; }
  // Post pass after run() (depthwise row tiles summed in tile order): tasks, and a range.
  static constexpr i64 kPostChunk = 4096;
  [[nodiscard]] i64 num_post_tasks() const {
    return dw_fn_ != nullptr && dw_.tiles > 1 ? (dw_.part_stride + kPostChunk - 1) / kPostChunk : 0;
  }
  void post(float* dw, float* db, i64 begin, i64 end) const {
    detail::dw_bwd_filter_reduce(dw_, dw, db, begin * kPostChunk,
                                 std::min(end * kPostChunk, dw_.part_stride));
  }
  [[nodiscard]] std::size_t scratch_bytes() const {
    if (dw_fn_ != nullptr) return 0;
    if (gemm_)
      return static_cast<std::size_t>(detail::gemm_bwd_filter_scratch(gm_)) * sizeof(float);
    return static_cast<std::size_t>(g_.kh * g_.kw * g_.cig * block_ + block_) * sizeof(float);
  }
  [[nodiscard]] std::string name() const {
    if (dw_fn_ != nullptr) {
      return "bwd_filter_dwconv_" + std::to_string(dw_rows_) + "x" + std::to_string(g_.kw) + "r_" +
             std::to_string(lanes_) + "c_" + isa_name_;
    }
    if (gemm_) {
      if (gm_.tmode != 0) {
        return "bwd_filter_gconv_gemmt_8x" + std::to_string(gm_.taps) + "t" +
               std::to_string(detail::gemmt_outputs(gm_.taps, gm_.cog)) + "o" +
               (gm_.gpt > 1 ? "_2g" : "") + "_" + isa_name_;
      }
      return "bwd_filter_gconv_gemm_" + std::to_string(gm_.mr) + "x" + std::to_string(gm_.nv * 8) +
             (gm_.direct != 0 ? "_direct" : "") + "_" + isa_name_;
    }
    if (gr_fn_ != nullptr) {
      return std::string("bwd_filter_gconv_") + (gr_.broadcast != 0 ? "bcast_" : "perm_") +
             std::to_string(gr_.taps) + "t" + std::to_string(gr_.ins) + "i_" + isa_name_;
    }
    return g_.cig == 1 ? "bwd_filter_depthwise_direct" : "bwd_filter_grouped_direct";
  }

  // dw: HWIO, db: C_out or nullptr.
  void run(const float* x, const float* dy, float* dw, float* db, i64 begin, i64 end,
           float* scratch) const {
    if (dw_fn_ != nullptr) {
      dw_fn_(dw_, x, dy, dw, db, begin, end);
      return;
    }
    if (gemm_) {
      detail::GemmBwdFilterParams p = gm_;
      p.x = x;
      p.dy = dy;
      gemm_fn_(p, dw, db, scratch, begin, end);
      return;
    }
    if (gr_fn_ != nullptr) {
      gr_fn_(gr_, x, dy, dw, db, begin, end);
      return;
    }
    const Geometry& g = g_;
    for (i64 task = begin; task < end; ++task) {
      // Output channels [oc0, oc1), belonging to groups [g0, g1).
      i64 oc0 = 0, oc1 = 0;
      if (blocks_per_group_ > 0) {
        const i64 gr = task / blocks_per_group_;
        const i64 b = task % blocks_per_group_;
        oc0 = gr * g.cog + b * block_;
        oc1 = std::min(oc0 + block_, (gr + 1) * g.cog);
      } else {
        oc0 = task * groups_per_task_ * g.cog;
        oc1 = std::min(oc0 + block_, g.c_out);
      }
      const i64 width = oc1 - oc0;
      const i64 taps = g.kh * g.kw;
      float* acc = scratch;  // [tap][i][width]
      float* bacc = scratch + taps * g.cig * block_;
      std::fill_n(acc, taps * g.cig * width, 0.0f);
      std::fill_n(bacc, width, 0.0f);
      for (i64 n = 0; n < g.n; ++n) {
        for (i64 oh = 0; oh < g.ho; ++oh) {
          for (i64 ow = 0; ow < g.wo; ++ow) {
            const float* d = dy + ((n * g.ho + oh) * g.wo + ow) * g.c_out + oc0;
            for (i64 j = 0; j < width; ++j) bacc[j] += d[j];
            for (i64 kh = 0; kh < g.kh; ++kh) {
              const i64 ih = oh * g.sh - g.pad_top + kh * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (i64 kw = 0; kw < g.kw; ++kw) {
                const i64 iw = ow * g.sw - g.pad_left + kw * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                const float* xp = x + ((n * g.h + ih) * g.w + iw) * g.c_in;
                float* a = acc + (kh * g.kw + kw) * g.cig * width;
                accumulate(xp, d, a, oc0, width);
              }
            }
          }
        }
      }
      for (i64 t = 0; t < taps; ++t)
        for (i64 i = 0; i < g.cig; ++i)
          std::memcpy(dw + (t * g.cig + i) * g.c_out + oc0, acc + (t * g.cig + i) * width,
                      static_cast<std::size_t>(width) * sizeof(float));
      if (db != nullptr)
        std::memcpy(db + oc0, bacc, static_cast<std::size_t>(width) * sizeof(float));
    }
  }

 private:
  // a[i][j] += x[channel of (oc0 + j), i] * d[j] for j in [0, width).
  void accumulate(const float* xp, const float* d, float* a, i64 oc0, i64 width) const {
    const Geometry& g = g_;
    if (g.cig == 1 && g.cog == 1) {
      const float* xc = xp + oc0;
      for (i64 j = 0; j < width; ++j) a[j] += xc[j] * d[j];
      return;
    }
    const i64 g0 = oc0 / g.cog;
    const i64 first = oc0 - g0 * g.cog;  // offset inside the first group (wide groups only)
    i64 j = 0;
    for (i64 gr = g0; j < width; ++gr) {
      const i64 o_begin = gr == g0 ? first : 0;
      const i64 len = std::min(g.cog - o_begin, width - j);
      for (i64 i = 0; i < g.cig; ++i) {
        const float xv = xp[gr * g.cig + i];
        float* ar = a + i * width + j;
        const float* dr = d + j;
        for (i64 o = 0; o < len; ++o) ar[o] += xv * dr[o];
      }
      j += len;
    }
  }

  // Depthwise, multiplier 1: the vectorised per-ISA kernel (src/kernels/backward/).
  // Tasks are (row tile x channel group); the split depends on the geometry and ISA only,
  // never on the thread count, and tiles' partials are summed in tile order (post pass).
  void init_depthwise(Isa isa) {
    const Geometry& g = g_;
    if (isa == Isa::kAvx2) {
      dw_fn_ = &detail::dw_bwd_filter_avx2;
      lanes_ = detail::kDwBwdLanesAvx2;
    } else {
      dw_fn_ = &detail::dw_bwd_filter_portable;
      lanes_ = detail::kDwBwdLanesPortable;
    }
    if constexpr (detail::kAvx512Kernels) {
      if (isa == Isa::kAvx512) {
        dw_fn_ = &detail::dw_bwd_filter_avx512;
        lanes_ = detail::kDwBwdLanesAvx512;
      }
    }
    isa_name_ = to_string(isa);
    detail::DwBwdFilterParams& p = dw_;
    p = detail::DwBwdFilterParams{g.n,  g.h,   g.w,    g.c_in, g.ho,   g.wo,      g.kh,
                                  g.kw, g.sh,  g.sw,   g.dh,   g.dw,   g.pad_top, g.pad_left,
                                  1,    1,     1,      1,      0,      0,         nullptr,
                                  0,    false, g.c_in, false,  g.c_in, false};
    dw_rows_ = g.kw <= 3 ? 3 : (g.kw <= 5 ? 2 : 1);
    if (g.kh < dw_rows_) dw_rows_ = 1;                    // the kernel instantiates R = max or 1
    if (g.kw > 7 || isa == Isa::kPortable) dw_rows_ = 1;  // portable: one row a pass
    // Interior columns: 0 <= ow*sw - pl and ow*sw - pl + (KW-1)*dw < W.
    p.ow_lo = (g.pad_left + g.sw - 1) / g.sw;
    const i64 hi_lim = g.w - 1 - (g.kw - 1) * g.dw + g.pad_left;  // ow*sw <= hi_lim
    p.ow_hi = std::min<i64>(hi_lim < 0 ? 0 : hi_lim / g.sw + 1, g.wo);
    p.ow_lo = std::min(p.ow_lo, p.ow_hi);
    const i64 blocks = (g.c_in + lanes_ - 1) / lanes_;
    const i64 rows_total = g.n * g.ho;
    const i64 taps = g.kh * g.kw;
    const i64 bytes = (g.n * g.h * g.w + rows_total * g.wo) * g.c_in * 4;
    i64 tiles = 1;
    // Packed copies where the pixel stride folds onto few of L1's 64 sets (8 sets: 128, 384
    // channels; 4: 256, 768; 2: 512; 1: 1024): a pass over one channel vector then keeps at
    // most 64 lines of its rows in L1 and re-reads them from L2 or L3. Copies cost a load and
    // a store per vector and pixel, which passes over rows that stay in L1 do not repay (Zen 3,
    // AVX2, 1T, one process, medians; pack off -> on, at up to 8 sets): 7x7x1024 3x3 7.1 -> 23.6
    // GFLOP/s, 28x28x256 3x3 18.7 -> 28.5, 5x5 26.8 -> 43.0, 7x7 28.6 -> 38.0, 14x14x512 5x5 14.2
    // -> 32.2, 28x28x128 3x3 22.2 -> 27.3, mnv2_dw5 (384) 22.3 -> 24.7 (p5 24.1 -> 33.3),
    // ConvNeXt's 7x7 on 7- and 14-pixel maps 35 -> 50-67; strides reaching 16 or 64 sets 4-20%
    // slower with copies (MobileNetV2's 576 and 960 channels, 14x14x264 / 392, 7x7 kernels on 392
    // and 776).
    //
    // On Zen 4 (where the AVX-512 kernel runs) the copies pay at fewer sets only: at 4 and 8
    // sets (128, 256, 384, 768 channels) the passes ran 1.1-1.85x faster on x and dy
    // themselves over the depthwise sweep's 3x3 and 5x5 layers (1T, one process, medians of
    // 3; mnv2_dw5 51 -> 65 GFLOP/s), and at 1 and 2 sets (512, 1024) 0.6-0.95x. A 16-lane pass
    // reads whole 64-byte lines, an 8-lane pass half of each (the other half read again by
    // the next vector's pass): the AVX2 kernel there gained from copies at up to 4 sets
    // (8 sets: 1.03-1.41x faster on x itself). The exception: 7x7 kernels on maps of at most
    // 7 columns (one kernel row a pass: seven passes over each row) keep their copies at 4
    // sets (convnext_dw4, 768 channels: 77 copied, 71 in place).
    const i64 sets = detail::l1_sets_reached(g.c_in * 4);
    const bool many_passes = g.kh >= 7 && g.kw >= 7 && g.w <= 7;
    p.pack = sets <= (lanes_ == 16 ? (many_passes ? 4 : 2) : 4);
    // The dy rows of 3x3 kernels (one pass a channel vector reads each dy vector once) are
    // read in place where the stride reaches 4 or 8 sets: their copy cost more than the
    // line halves read again (1T / 2T, one process, medians of 5, copied -> in place):
    // mnv2_dw5 (384 channels, 8 sets) 22.0 -> 26.4 / 33.4 -> 37.6 GFLOP/s, mnv1_dw_256_s2
    // (4 sets) 11.8 -> 13.3 / 32.3 -> 34.7; at 2 sets (512 channels) 33.0 -> 24.0 at 1T.
    p.dy_in_place = p.pack && sets >= 4;
    if (bytes > (8 << 20)) {
      // Streams from DRAM: every task takes whole pixels (all channels) of a row tile.
      p.groups = 1;
      tiles = 16;
      p.touch = true;
    } else {
      p.groups = std::clamp<i64>(blocks / 4, 1, 16);
      // At least 16 tasks (row tiles x channel groups), or 4 where several channel groups
      // share a layer whose x and dy fit the two cores' L2 (2 MiB): mostly one row tile, no
      // partial sums. Zen 4, medians of 5 interleaved runs, 16 -> 4 tasks: 2T mnv2_dw4 119 ->
      // 144 GFLOP/s, mnv2_dw5 69 -> 120, mnv2_dw6 80 -> 131, convnext_dw3 92 -> 193; 1T
      // 1.06-1.18x on 22 of the depthwise sweep's layers up to 2 MiB (geomean 1.02), while
      // 4-5 MiB layers lost up to 14% (56x56x256 stride 2, 28x28x768).
      const i64 want = p.groups > 1 && bytes <= (2 << 20) ? 4 : 16;
      tiles = (want + p.groups - 1) / p.groups;
    }
    // The tile sum adds tiles * taps * C; keep it below ~2% of the FMAs.
    tiles = std::clamp<i64>(tiles, 1, std::max<i64>(1, rows_total * g.wo / 64));
    tiles = std::min(tiles, std::max<i64>(rows_total, 1));
    p.tile_rows = std::max<i64>(1, (rows_total + tiles - 1) / tiles);
    p.tiles = std::max<i64>(1, (rows_total + p.tile_rows - 1) / p.tile_rows);
    p.part_stride = (taps + 1) * g.c_in;
    // Strips: the lines a strip touches for a pair of channel vectors (its x rows, KH - 1
    // of them shared with the next strip, and its dy rows; 64 bytes a pixel) fit in 24 KiB
    // of L1, so the second vector of a pair finds them there.
    const i64 lines = 384 - (g.kh - 1) * g.dh * g.w;
    p.strip_rows = std::clamp<i64>(lines / (g.sh * g.w + g.wo), 1, 16);
    if (p.tiles > 1) {
      part_.reset(static_cast<std::size_t>(p.tiles * p.part_stride) * sizeof(float));
      p.part = part_.floats();
    }
    tasks_ = p.tiles * p.groups;
  }

  // Groups with at least 8 outputs on an AVX2 or AVX-512 CPU: packed GEMM per group and tap
  // (8-lane vectors on both; the AVX-512 build has 32 registers for larger tiles). The tile,
  // the chunks and the task split depend on the geometry only, never on the thread count.
  bool init_gemm(Isa isa) {
    const Geometry& g = g_;
    if (isa == Isa::kPortable) return false;
    if (g.cog < 8 && (g.cig % 8 != 0 || g.kw < 2)) return false;  // transposed tiles only
    // One output vector and at most 4 input channels a group: a GEMM tile of Cig x 8 has at
    // most 4 accumulator chains; the broadcast tiles (init_grouped) hold taps x Cig of them.
    // 1T medians, one process, GEMM -> broadcast, 28x28 with 32 groups: Cig 1 -> 8 outputs
    // 5.1 -> 10.3 GFLOP/s, 2 -> 8 9.0 -> 17.2, 3 -> 8 14.6 -> 22.1, 4 -> 8 19.4 -> 27.3 (56x56
    // stride 2: 9.0 -> 20.7); with 5-7 inputs, or 16 outputs, the GEMM was faster.
    if (g.cog == 8 && g.cig <= 4) return false;
    detail::GemmBwdFilterParams& p = gm_;
    p = detail::GemmBwdFilterParams{};
    detail::copy_shape(g, p);
    p.groups = g.groups;
    p.cig = g.cig;
    p.cog = g.cog;
    const i64 vg = (g.cog + 7) / 8;
    p.nv = vg % 3 == 0 ? 3 : vg == 1 ? 1 : 2;
    gemm_fn_ = &detail::gemm_bwd_filter_avx2;
    isa_name_ = "avx2";
    i64 acc = 12;
    if constexpr (detail::kAvx512Kernels) {
      if (isa == Isa::kAvx512) {
        gemm_fn_ = &detail::gemm_bwd_filter_avx512;
        isa_name_ = "avx512";
        // 24 accumulators: 1T medians of 3 interleaved runs, 12 -> 24 (AVX2 -> AVX-512VL
        // build): resnext50_c5 88.7 -> 111.9 GFLOP/s, c4 102.9 -> 107.4, alexnet_conv2
        // 108.4 -> 114.7, alexnet_conv4 105.1 -> 112.8, dilated_g8 91.5 -> 97.0.
        acc = 24;
      }
    }
    const i64 mr_max = std::min<i64>(12, acc / p.nv);
    i64 blocks = (g.cig + mr_max - 1) / mr_max;
    p.mr = (g.cig + blocks - 1) / blocks;
    if (vg == 1 && g.cig % 8 == 0 && g.kw >= 2) {  // transposed tiles: 8 input lanes
      p.tmode = 1;
      p.taps = std::min<i64>(3, g.kw);
      p.wp = (g.wo - 1) * g.sw + (g.kw - 1) * g.dw + 1;
      p.mr = 8;
      blocks = g.cig / 8;
    }
    const i64 cob = (vg + p.nv - 1) / p.nv;
    // Few groups: split each group's channel blocks (the wider side, so each part packs a
    // slice of it) into parts, for at least 4 tasks (more parts re-pack the other side more
    // often: 16 lost ~30% on ShuffleNet's 1x1 layers).
    p.split_co = cob >= blocks ? 1 : 0;
    p.gpt = 1;
    p.parts = std::clamp<i64>((4 + g.groups - 1) / g.groups, 1, std::max(cob, blocks));
    // Chunk: output rows whose packed x and dy rows take about 64 KiB (L2; chunks sized for
    // L1 ran slower on ResNeXt c3: more accumulator round trips, shorter pack streams), and
    // at least ~96 pixels to amortise each tile's accumulator loads and stores. The AVX-512
    // build (Zen 4: 1 MiB of L2, twice Zen 3's) takes 128 KiB: 1T medians of 7 interleaved
    // runs, 64 -> 128 KiB: alexnet_conv2 113 -> 118 GFLOP/s, resnext50_c3 / c3_s2 / c3_b16
    // 1.03x, tutorial_g4 1.02x, the others within 1%.
    const i64 xw =
        p.split_co != 0 ? g.cig : std::min(g.cig, (blocks + p.parts - 1) / p.parts * p.mr);
    const i64 dyw = (p.split_co != 0 ? (cob + p.parts - 1) / p.parts * p.nv : vg) * 8;
    // ResNeXt's 8 + 8 per group: a task takes 2 groups, so its packs read whole cache lines
    // (a group's 32 bytes per pixel, 1 KiB apart, wasted half of every line fetched).
    if (p.tmode != 0 && g.cig == 8 && g.cog == 8 && p.parts == 1 && g.groups % 2 == 0) {
      p.gpt = 2;
    }
    // No packing for 1x1 kernels whose NHWC pixel strides both reach at least 16 of the 64
    // L1 sets (a stride of s lines reaches 64 / gcd(s, 64)): with one tap a packed value is
    // used once per tile, and packing cost as much as the tiles on ShuffleNet's 1x1 layers
    // (unpacked: shufflenet_g3_expand 30 -> 41 GFLOP/s). With KH x KW taps the packing pays
    // for itself (tutorial_g4, 3x3: median 66 packed, 50 unpacked), and strides of 1-4 KiB
    // (ResNeXt c4/c5, dilated_g8: 1 to 4 sets) ran 10-30% slower unpacked.
    p.direct = p.tmode == 0 && g.kh * g.kw == 1 && detail::l1_sets_reached(g.c_in * 4) >= 16 &&
               detail::l1_sets_reached(g.c_out * 4) >= 16;
    const i64 chunk_bytes = isa == Isa::kAvx512 ? (128 << 10) : (64 << 10);
    const i64 row_bytes = (g.sh * g.w * xw + g.wo * dyw) * 4 * p.gpt;
    const i64 halo = (g.kh - 1) * g.dh * g.w * xw * 4 * p.gpt;
    p.chunk_rows = std::max<i64>((96 + g.wo - 1) / std::max<i64>(1, g.wo),
                                 (chunk_bytes - halo) / std::max<i64>(1, row_bytes));
    p.chunk_rows = std::clamp<i64>(p.chunk_rows, 1, std::max<i64>(1, g.ho));
    p.scratch_x = detail::gemm_bwd_filter_scratch_x(p);
    gemm_ = true;
    tasks_ = detail::gemm_bwd_filter_tasks(p);
    return true;
  }

  // Grouped: output channels as lanes; a vector inside one group (broadcast input values) or
  // spanning whole small groups (permuted input vector). Declines other channel counts.
  bool init_grouped(Isa isa) {
    const Geometry& g = g_;
    i64 lanes = detail::kDwBwdLanesPortable;
    i64 budget = 12;
    detail::GroupedBwdFilterFn fn = &detail::grouped_bwd_filter_portable;
    if (isa == Isa::kAvx2) {
      lanes = detail::kDwBwdLanesAvx2;
      fn = &detail::grouped_bwd_filter_avx2;
    }
    if constexpr (detail::kAvx512Kernels) {
      if (isa == Isa::kAvx512) {
        lanes = detail::kDwBwdLanesAvx512;
        budget = 24;
        fn = &detail::grouped_bwd_filter_avx512;
      }
    }
    // Permute mode packs lanes / Cog whole groups into a vector; otherwise (Cog above the
    // width, or one that does not divide it, such as 3, 5, 6 or 7) broadcast mode gives each
    // group ceil(Cog / lanes) vectors, the last one masked: 3 of 8 lanes for Cog = 3 still
    // ran 9x the scalar direct loop (grouped_3pg in bench/layers_extra.csv).
    i64 broadcast = 0;
    if (g.cog % lanes == 0 || g.cog > lanes || lanes % g.cog != 0 ||
        (lanes / g.cog) * g.cig > lanes) {
      broadcast = 1;
    }
    // Input channels per task: the largest divisor of Cig up to 8 (a chunk never overhangs:
    // broadcast mode reads its channels from memory). Five and seven channels a group ran one
    // at a time before, 3 accumulator chains per task: 28x28x80 with 16 groups (5 per group)
    // at 6.7 GFLOP/s, oneDNN 14.
    i64 ins = 1;
    for (i64 c : {8, 7, 6, 5, 4, 3, 2}) {
      if (g.cig % c == 0 && c <= budget) {
        ins = c;
        break;
      }
    }
    gr_ = detail::GroupedBwdFilterParams{};
    detail::copy_shape(g, gr_);
    gr_.cig = g.cig;
    gr_.cog = g.cog;
    gr_.broadcast = broadcast;
    gr_.ins = ins;
    gr_.taps = std::min<i64>({3, g.kw, std::max<i64>(1, budget / ins)});
    // Row blocks whose x and dy rows (all channels) take about 448 KiB: each thread walks
    // its tasks over one block while it is in L2 instead of streaming every row from L3
    // once per task (48 passes on ResNeXt's 4-channel groups: 8-row blocks ran resnext50_c2
    // 46 -> 56 GFLOP/s at 1 thread, 2 threads unchanged; 2- and 4-row blocks were slower).
    {
      const i64 row_bytes = (g.sh * g.w * g.c_in + g.wo * g.c_out) * 4;
      gr_.block_rows = std::max<i64>(1, (448 << 10) / std::max<i64>(1, row_bytes));
      if (gr_.block_rows >= g.n * g.ho) gr_.block_rows = 0;
    }
    gr_fn_ = fn;
    isa_name_ = to_string(isa);
    tasks_ = detail::grouped_bwd_filter_tasks(gr_, lanes);
    return true;
  }

  Geometry g_;
  bool gemm_ = false;
  void (*gemm_fn_)(const detail::GemmBwdFilterParams&, float*, float*, float*, i64, i64) = nullptr;
  detail::GemmBwdFilterParams gm_{};
  detail::GroupedBwdFilterFn gr_fn_ = nullptr;
  detail::GroupedBwdFilterParams gr_{};
  detail::DwBwdFilterFn dw_fn_ = nullptr;
  detail::DwBwdFilterParams dw_{};
  AlignedBuffer part_;  // depthwise: the row tiles' partial sums
  i64 dw_rows_ = 0;
  i64 lanes_ = 0;
  std::string isa_name_;
  i64 block_ = 0;
  i64 blocks_per_group_ = 0;
  i64 groups_per_task_ = 0;
  i64 tasks_ = 0;
};

Diagnostic null_data(const char* what) {
  Diagnostic d;
  d.code = Code::kBadArgument;
  d.summary = std::string(what) + " data is null";
  d.help = "pass pointers to every tensor of the pass";
  return d;
}

}  // namespace

Geometry resolve_backward(const ConvDesc& desc, const Shapes& shapes,
                          const std::vector<i64>& grad_output_shape) {
  const Geometry g = resolve(desc, shapes);
  const std::vector<i64> want = vec(g.output_shape());
  if (grad_output_shape != want) {
    Diagnostic d;
    d.code = Code::kGradOutputShape;
    d.summary = "grad_output (dy) does not match the forward output shape";
    d.context.push_back("input  " + labelled_input_shape(g.data_format, shapes.input) + "  " +
                        to_string(g.data_format));
    d.context.push_back("filter " + labelled_filter_shape(g.filter_format, shapes.filter) + "  " +
                        to_string(g.filter_format));
    d.context.push_back("forward output " + labelled_input_shape(g.data_format, want));
    d.rule = "shape(dy) == shape(conv2d(x, w)) = " + shape_string(want);
    d.expected = "dy " + shape_string(want);
    d.found = "dy " + shape_string(grad_output_shape);
    d.help = grad_output_shape.size() == 4 && g.data_format == DataFormat::kNHWC &&
                     grad_output_shape[1] == want[3] && grad_output_shape[3] == want[2]
                 ? "dy looks NCHW; transpose it to NHWC or pass data_format=NCHW"
                 : "pass the gradient of this convolution's output (same strides, padding and "
                   "dilations as the forward)";
    throw ShapeError(std::move(d));
  }
  return g;
}

// ---- BackwardDataPlan ---------------------------------------------------------------------
// With stride 1, the input gradient IS a forward convolution: dy padded by (K-1)*d - pad,
// correlated with the filter rotated by 180 degrees and with each group's in/out channels
// swapped. Building that forward Plan reuses every fast forward kernel (and its ISA
// dispatch) for the backward pass. Returns nullptr when the geometry does not map (strides
// > 1, or pads larger than the dilated kernel).
std::unique_ptr<Plan> transposed_forward_plan(const Geometry& g, const float* w_hwio,
                                              const PlanOptions& options) {
  if (g.sh != 1 || g.sw != 1) return nullptr;
  const i64 eh = (g.kh - 1) * g.dh, ew = (g.kw - 1) * g.dw;
  const i64 pads[4] = {eh - g.pad_top, eh - g.pad_bottom, ew - g.pad_left, ew - g.pad_right};
  for (i64 p : pads) {
    if (p < 0) return nullptr;
  }
  ConvDesc d;
  d.padding = Padding::kExplicit;
  d.explicit_pads = {pads[0], pads[1], pads[2], pads[3]};
  d.dilations = {g.dh, g.dw};
  d.groups = g.groups;
  const Shapes s{{g.n, g.ho, g.wo, g.c_out}, {g.kh, g.kw, g.cog, g.c_in}, std::nullopt};
  std::vector<float> wt(static_cast<std::size_t>(g.filter_elements()));
  for (i64 kh = 0; kh < g.kh; ++kh)
    for (i64 kw = 0; kw < g.kw; ++kw)
      for (i64 gr = 0; gr < g.groups; ++gr)
        for (i64 o = 0; o < g.cog; ++o)
          for (i64 i = 0; i < g.cig; ++i)
            wt[static_cast<std::size_t>(((kh * g.kw + kw) * g.cog + o) * g.c_in + gr * g.cig + i)] =
                w_hwio[(((g.kh - 1 - kh) * g.kw + (g.kw - 1 - kw)) * g.cig + i) * g.c_out +
                       gr * g.cog + o];
  return std::make_unique<Plan>(d, s, wt.data(), nullptr, options);
}

// Strided input gradient as sh x sw stride-1 phases: the input positions ih = rh + sh*j
// (j < ceil((H - rh) / sh)) are reached only through the taps kh with (rh + pt - kh*dh) on
// the stride grid; over j they form a forward correlation of dy with those taps (reversed),
// dilation step*dh/sh and pads from the first/last tap. Each phase is a forward Plan built
// at plan time into a preallocated buffer, then interleaved into dx.
struct AxisPhase {
  std::vector<i64> taps;  // filter taps, in the forward's (reversed) order
  i64 dil = 1, pad0 = 0, pad1 = 0, size = 0;
};

bool axis_phase(i64 r, i64 in, i64 out, i64 k, i64 s, i64 d, i64 pad, AxisPhase* a) {
  a->size = (in - r + s - 1) / s;
  std::vector<i64> asc;
  for (i64 t = 0; t < k; ++t) {
    if ((r + pad - t * d) % s == 0) asc.push_back(t);
  }
  if (asc.empty() || a->size <= 0) return true;
  const i64 kr = static_cast<i64>(asc.size());
  a->dil = kr > 1 ? (asc[1] - asc[0]) * d / s : 1;
  const i64 q_last = (r + pad - asc.back() * d) / s;
  a->pad0 = -q_last;
  a->pad1 = a->size + a->dil * (kr - 1) - out - a->pad0;
  a->taps.assign(asc.rbegin(), asc.rend());
  return a->pad0 >= 0 && a->pad1 >= 0;
}

struct DataPhase {
  i64 rh = 0, rw = 0, hr = 0, wr = 0;
  std::unique_ptr<Plan> plan;  // null: no tap reaches these positions (dx = 0)
  AlignedBuffer buf;
};

bool phase_plans(const Geometry& g, const float* w_hwio, const PlanOptions& options,
                 std::vector<DataPhase>* phases) {
  for (i64 rh = 0; rh < g.sh; ++rh) {
    for (i64 rw = 0; rw < g.sw; ++rw) {
      AxisPhase ah, aw;
      if (!axis_phase(rh, g.h, g.ho, g.kh, g.sh, g.dh, g.pad_top, &ah) ||
          !axis_phase(rw, g.w, g.wo, g.kw, g.sw, g.dw, g.pad_left, &aw)) {
        return false;
      }
      if (ah.size <= 0 || aw.size <= 0) continue;
      DataPhase ph;
      ph.rh = rh;
      ph.rw = rw;
      ph.hr = ah.size;
      ph.wr = aw.size;
      if (!ah.taps.empty() && !aw.taps.empty()) {
        const i64 krh = static_cast<i64>(ah.taps.size()), krw = static_cast<i64>(aw.taps.size());
        ConvDesc d;
        d.padding = Padding::kExplicit;
        d.explicit_pads = {ah.pad0, ah.pad1, aw.pad0, aw.pad1};
        d.dilations = {ah.dil, aw.dil};
        d.groups = g.groups;
        const Shapes s{{g.n, g.ho, g.wo, g.c_out}, {krh, krw, g.cog, g.c_in}, std::nullopt};
        std::vector<float> wt(static_cast<std::size_t>(krh * krw * g.cog * g.c_in));
        for (i64 th = 0; th < krh; ++th)
          for (i64 tw = 0; tw < krw; ++tw)
            for (i64 gr = 0; gr < g.groups; ++gr)
              for (i64 o = 0; o < g.cog; ++o)
                for (i64 i = 0; i < g.cig; ++i)
                  wt[static_cast<std::size_t>(((th * krw + tw) * g.cog + o) * g.c_in + gr * g.cig +
                                              i)] =
                      w_hwio[((ah.taps[static_cast<std::size_t>(th)] * g.kw +
                               aw.taps[static_cast<std::size_t>(tw)]) *
                                  g.cig +
                              i) *
                                 g.c_out +
                             gr * g.cog + o];
        try {
          ph.plan = std::make_unique<Plan>(d, s, wt.data(), nullptr, options);
        } catch (const ShapeError&) {
          return false;
        }
        const std::string& kn = ph.plan->kernel_name();
        if (kn.rfind("generic", 0) == 0 || kn.rfind("reference", 0) == 0) return false;
        ph.buf.reset(static_cast<std::size_t>(g.n * ph.hr * ph.wr * g.c_in) * sizeof(float));
      }
      phases->push_back(std::move(ph));
    }
  }
  return true;
}

struct BackwardDataPlan::Impl {
  Geometry user, k;
  std::vector<DataPhase> phases;  // strided geometries as stride-1 forward phases
  std::unique_ptr<Plan> forward;  // stride-1 geometries: a forward plan does the work
  std::unique_ptr<BwdDataKernel> kernel;
  std::string name;
  int threads = 1;
  AlignedBuffer dy_buf, dx_buf, scratch;
  std::size_t stride = 0;
};

BackwardDataPlan::BackwardDataPlan(const ConvDesc& desc, const Shapes& shapes,
                                   const std::vector<i64>& grad_output_shape, const float* filter,
                                   const PlanOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  p.user = resolve_backward(desc, shapes, grad_output_shape);
  if (filter == nullptr) throw ShapeError(null_data("filter"));
  p.k = kernel_view(p.user);
  p.threads = plan_threads(p.user, options);
  std::vector<float> hwio;
  const float* w = filter;
  if (p.user.filter_format == FilterFormat::kOIHW) {
    hwio.resize(static_cast<std::size_t>(p.user.filter_elements()));
    detail::oihw_to_hwio(p.user, filter, hwio.data());
    w = hwio.data();
  }
  // force_kernel = "bwd_direct" pins the direct gather kernel (tests use it to cover it).
  const bool direct_only = options.force_kernel && *options.force_kernel == "bwd_direct";
  if (p.user.n > 0 && !direct_only) p.forward = transposed_forward_plan(p.k, w, options);
  // Only worth it when a specialised forward kernel took the transposed problem; the direct
  // kernel below beats the generic forward one.
  if (p.forward && (p.forward->kernel_name().rfind("generic", 0) == 0 ||
                    p.forward->kernel_name().rfind("reference", 0) == 0)) {
    p.forward.reset();
  }
  // Strided grouped geometries: stride-1 phases on the forward kernels (measured 1.25x the
  // gather on resnext50_c3_s2). Depthwise keeps the gather, which beat the phases 2x on
  // mnv2_dw2_s2 (sub-kernels 1x1/1x2/2x1/2x2 and the interleave copy cost more than they save).
  // Groups whose input channels fill whole vectors, stride <= 2 and 3-7 taps along W, keep
  // the direct kernel's per-dy-column blocks (2.5x the phases on resnext50_c3_s2), except
  // wide groups on narrow outputs (prefer_phases).
  // Depthwise with a multiplier (no vectorised gather) takes the phases too: 1.5 -> 12 GFLOP/s
  // on a 56x56x32 m = 2 stride-2 layer, whose phases run narrow_group's m-to-1 kernels.
  const Isa isa = effective_isa(options.max_isa);
  const Isa direct_isa = bwd_data_isa(p.k, isa, options.exact_isa);  // of the direct kernel
  if (p.user.n > 0 && !direct_only && !p.forward && (p.k.sh > 1 || p.k.sw > 1) &&
      (p.k.cig >= 2 || p.k.cog >= 2) &&
      (!BwdDataKernel::dycols(p.k, direct_isa) || prefer_phases(p.k, isa, options.exact_isa)) &&
      !phase_plans(p.k, w, options, &p.phases)) {
    p.phases.clear();
  }
  if (p.forward) {
    p.name = "bwd_data_as_fwd:" + p.forward->kernel_name();
  } else if (!p.phases.empty()) {
    p.name = "bwd_data_phases:";
    for (const DataPhase& ph : p.phases) {
      if (ph.plan) {
        p.name += ph.plan->kernel_name();
        break;
      }
    }
  } else {
    p.kernel = std::make_unique<BwdDataKernel>(p.k, w, direct_isa);
    p.name = p.kernel->name();
  }
  if (p.user.data_format == DataFormat::kNCHW) {
    p.dy_buf.reset(static_cast<std::size_t>(p.user.output_elements()) * sizeof(float));
    p.dx_buf.reset(static_cast<std::size_t>(p.user.input_elements()) * sizeof(float));
  }
  if (p.kernel) {
    p.stride = ((p.kernel->scratch_bytes() + 63) / 64 | 1) * 64;
    p.scratch.reset(p.stride * static_cast<std::size_t>(p.threads));
  }
}
BackwardDataPlan::~BackwardDataPlan() = default;
BackwardDataPlan::BackwardDataPlan(BackwardDataPlan&&) noexcept = default;
BackwardDataPlan& BackwardDataPlan::operator=(BackwardDataPlan&&) noexcept = default;
const Geometry& BackwardDataPlan::geometry() const { return impl_->user; }
const std::string& BackwardDataPlan::kernel_name() const { return impl_->name; }

void BackwardDataPlan::execute(const float* dy, float* dx) {
  Impl& p = *impl_;
  if (p.user.input_elements() == 0) return;
  if (dy == nullptr || dx == nullptr) throw ShapeError(null_data(dy == nullptr ? "dy" : "dx"));
  const Geometry& g = p.user;
  const float* dyk = dy;
  float* dxk = dx;
  if (g.data_format == DataFormat::kNCHW) {
    detail::channels_first_to_last(dy, p.dy_buf.floats(), g.n, g.c_out, g.ho * g.wo, p.threads);
    dyk = p.dy_buf.floats();
    dxk = p.dx_buf.floats();
  }
  if (p.forward) {
    p.forward->execute(dyk, dxk);
  } else if (!p.phases.empty()) {
    for (const DataPhase& ph : p.phases) {
      if (ph.plan) ph.plan->execute(dyk, ph.buf.floats());
      const float* src = ph.plan ? ph.buf.floats() : nullptr;
      const std::size_t bytes = static_cast<std::size_t>(g.c_in) * sizeof(float);
      detail::parallel_for(g.n * ph.hr, p.threads, [&](i64 b, i64 e, int) {
        for (i64 row = b; row < e; ++row) {
          const i64 n = row / ph.hr, j = row % ph.hr;
          float* out = dxk + ((n * g.h + ph.rh + g.sh * j) * g.w + ph.rw) * g.c_in;
          for (i64 k = 0; k < ph.wr; ++k) {
            float* o = out + k * g.sw * g.c_in;
            if (src != nullptr) {
              std::memcpy(o, src + (row * ph.wr + k) * g.c_in, bytes);
            } else {
              std::memset(o, 0, bytes);
            }
          }
        }
      });
    }
  } else {
    char* scratch = static_cast<char*>(p.scratch.data());
    detail::parallel_for_balanced(p.kernel->num_tasks(), p.threads, [&](i64 b, i64 e, int tid) {
      p.kernel->run(dyk, dxk, b, e,
                    reinterpret_cast<float*>(scratch + p.stride * static_cast<std::size_t>(tid)));
    });
  }
  if (g.data_format == DataFormat::kNCHW) {
    detail::channels_last_to_first(dxk, dx, g.n, g.c_in, g.h * g.w, p.threads);
  }
}

// ---- BackwardFilterPlan -------------------------------------------------------------------
struct BackwardFilterPlan::Impl {
  Geometry user, k;
  std::unique_ptr<BwdFilterKernel> kernel;
  std::string name;
  int threads = 1;
  AlignedBuffer x_buf, dy_buf, dw_buf, scratch;
  std::size_t stride = 0;
};

BackwardFilterPlan::BackwardFilterPlan(const ConvDesc& desc, const Shapes& shapes,
                                       const std::vector<i64>& grad_output_shape,
                                       const PlanOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  p.user = resolve_backward(desc, shapes, grad_output_shape);
  p.k = kernel_view(p.user);
  p.threads = plan_threads(p.user, options);
  p.kernel = std::make_unique<BwdFilterKernel>(p.k, effective_isa(options.max_isa));
  p.name = p.kernel->name();
  if (p.user.data_format == DataFormat::kNCHW) {
    p.x_buf.reset(static_cast<std::size_t>(p.user.input_elements()) * sizeof(float));
    p.dy_buf.reset(static_cast<std::size_t>(p.user.output_elements()) * sizeof(float));
  }
  if (p.user.filter_format == FilterFormat::kOIHW) {
    p.dw_buf.reset(static_cast<std::size_t>(p.user.filter_elements()) * sizeof(float));
  }
  p.stride = ((p.kernel->scratch_bytes() + 63) / 64 | 1) * 64;
  p.scratch.reset(p.stride * static_cast<std::size_t>(p.threads));
}
BackwardFilterPlan::~BackwardFilterPlan() = default;
BackwardFilterPlan::BackwardFilterPlan(BackwardFilterPlan&&) noexcept = default;
BackwardFilterPlan& BackwardFilterPlan::operator=(BackwardFilterPlan&&) noexcept = default;
const Geometry& BackwardFilterPlan::geometry() const { return impl_->user; }
const std::string& BackwardFilterPlan::kernel_name() const { return impl_->name; }

void BackwardFilterPlan::execute(const float* x, const float* dy, float* dw, float* db) {
  Impl& p = *impl_;
  const Geometry& g = p.user;
  if (dw == nullptr) throw ShapeError(null_data("dw"));
  if (g.n > 0 && (x == nullptr || dy == nullptr)) {
    throw ShapeError(null_data(x == nullptr ? "x" : "dy"));
  }
  const float* xk = x;
  const float* dyk = dy;
  float* dwk = g.filter_format == FilterFormat::kOIHW ? p.dw_buf.floats() : dw;
  if (g.data_format == DataFormat::kNCHW && g.n > 0) {
    detail::channels_first_to_last(x, p.x_buf.floats(), g.n, g.c_in, g.h * g.w, p.threads);
    detail::channels_first_to_last(dy, p.dy_buf.floats(), g.n, g.c_out, g.ho * g.wo, p.threads);
    xk = p.x_buf.floats();
    dyk = p.dy_buf.floats();
  }
  char* scratch = static_cast<char*>(p.scratch.data());
  detail::parallel_for_balanced(p.kernel->num_tasks(), p.threads, [&](i64 b, i64 e, int tid) {
    p.kernel->run(xk, dyk, dwk, db, b, e,
                  reinterpret_cast<float*>(scratch + p.stride * static_cast<std::size_t>(tid)));
  });
  if (p.kernel->num_post_tasks() > 0) {
    detail::parallel_for(p.kernel->num_post_tasks(), p.threads,
                         [&](i64 b, i64 e, int) { p.kernel->post(dwk, db, b, e); });
  }
  if (g.filter_format == FilterFormat::kOIHW) detail::hwio_to_oihw(g, dwk, dw);
}

void conv2d_backward_data(const ConvDesc& desc, const Shapes& shapes,
                          const std::vector<i64>& grad_output_shape, const float* dy,
                          const float* filter, float* dx, const PlanOptions& options) {
  BackwardDataPlan plan(desc, shapes, grad_output_shape, filter, options);
  plan.execute(dy, dx);
}

void conv2d_backward_filter(const ConvDesc& desc, const Shapes& shapes,
                            const std::vector<i64>& grad_output_shape, const float* x,
                            const float* dy, float* dw, float* db, const PlanOptions& options) {
  BackwardFilterPlan plan(desc, shapes, grad_output_shape, options);
  plan.execute(x, dy, dw, db);
}

}  // namespace groupconv
