// Narrow-group family: grouped convolution with few channels per group (2 <= Cig <= 16,
// Cog <= 16, not both 16). The factory picks how many whole groups share one vector and how
// each lane gets "input channel j of its own group" (NarrowParams::mode), packs the filter
// once per channel tile in the kernel's order, and hands the tasks to the per-ISA loops
// (narrow_group_avx512.cpp, narrow_group_avx2.cpp) or to the portable loop below.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/common/built_isa.hpp"
#include "kernels/common/dilation_phases.hpp"
#include "kernels/grouped/narrow_group_params.hpp"
#include "plan/aligned_buffer.hpp"
#include "plan/kernel.hpp"

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;

const char* mode_name(NarrowMode m) {
  switch (m) {
    case NarrowMode::kBcast:
      return "bcast";
    case NarrowMode::kLane2:
      return "lane2";
    case NarrowMode::kLane4:
      return "lane4";
    case NarrowMode::kPerm1:
      return "perm1";
    case NarrowMode::kPerm2:
      return "perm2";
  }
  return "?";
}

// Vector blocking for a lane count L (16 for AVX-512, 8 for AVX2).
void choose_blocking(NarrowParams& q, i64 L) {
  q.lanes = L;
  q.vt = 1;
  const i64 cig = q.cig, cog = q.cog;
  if (cig == cog && (cig == 2 || cig == 4)) {
    q.mode = cig == 2 ? NarrowMode::kLane2 : NarrowMode::kLane4;
    q.gt = L / cig;
  } else if (cog > L / 2) {
    q.mode = NarrowMode::kBcast;
    q.gt = 1;
    q.vt = (cog + L - 1) / L;
  } else {
    q.gt = std::min(L / cog, 2 * L / cig);
    q.mode = q.gt * cig <= L ? NarrowMode::kPerm1 : NarrowMode::kPerm2;
  }
  q.gt = std::min(q.gt, q.groups);
}

// On an AVX-512 machine, whether the AVX2 kernel (8-lane vectors) beats the 16-lane one.
// Zen 4 runs a zmm FMA as two ymm halves, so what differs is the blocking. Permute modes pack
// gt groups per zmm: with a group count that is not a multiple of gt the last vector of every
// row runs partly empty, and 14-pixel blocks run 7-pixel rows twice over. 1T A/B (medians of
// 3 interleaved runs, 16 -> 8 lanes, where AVX2 broadcasts one group per ymm): RegNetX-200MF's
// 8-channel groups, 3 / 7 / 19 groups: 3.41x / 2.22x / 1.18x, 46 groups on 7x7: 1.67x; with
// 32-64 groups on 14-56-pixel rows the 16-lane permutes won (ResNeXt 0.81-0.97x).
// Broadcast tiles with at most 4 input channels per group (one zmm FMA per broadcast, few per
// tap) ran 28x28 with 8 groups of 4 -> 16 at 47.9 GFLOP/s on 16 lanes and 83.8 on 8; layers
// of at most 4 such vectors a pixel (tutorial_g4's 4 groups of 8 -> 16) ran 1.17-1.82x faster
// on 8 lanes at 14-56-pixel rows (8 groups: even, 16: 0.88x). Groups of 16 inputs that two
// share a zmm (perm2) ran 1.10-1.12x faster as AVX2 broadcasts (16 -> 8 at 4 and 16 groups).
bool prefer_avx2(const NarrowParams& q) {
  if (q.mode == NarrowMode::kBcast) return q.cig <= 4 || q.groups * q.vt <= 4;
  if (q.mode == NarrowMode::kPerm2 && q.cig >= 16) return true;
  if (q.mode != NarrowMode::kPerm1 && q.mode != NarrowMode::kPerm2) return false;
  return q.groups % q.gt != 0 || q.wo <= 7;
}

class NarrowGroupKernel final : public Kernel {
 public:
  NarrowGroupKernel(const KernelProblem& p, Isa isa) : isa_(isa) {
    const Geometry& g = *p.g;
    NarrowParams& q = q_;
    q = NarrowParams{};
    q.n = g.n, q.h = g.h, q.w = g.w, q.c_in = g.c_in, q.c_out = g.c_out, q.ho = g.ho, q.wo = g.wo;
    q.kh = g.kh, q.kw = g.kw, q.sh = g.sh, q.sw = g.sw, q.dh = g.dh, q.dw = g.dw;
    q.pad_top = g.pad_top, q.pad_left = g.pad_left;
    q.cig = g.cig, q.cog = g.cog, q.groups = g.groups;
    init_strides(q);
    // Dilation along W at stride 1 where a fixed-KW path exists: phases of dilation 1. The
    // generic blocks (a tap at a time, a permute or broadcast per tap and pixel) ran 28x28x256
    // with 32 groups at dilation 2 at 10 GFLOP/s (dilation 1: 44; oneDNN 30).
    if (isa != Isa::kPortable && g.dw > 1 && g.sw == 1 && (g.kw == 3 || g.kw == 5) && g.w >= g.dw &&
        g.wo >= g.dw) {
      use_phases(q);
    }
    if (isa == Isa::kPortable) {
      q.mode = NarrowMode::kBcast;
      q.gt = 1;
      q.vt = 1;
      q.lanes = q.cog;  // one group, Cog packed floats per (tap, j)
    } else {
      choose_blocking(q, isa == Isa::kAvx512 ? 16 : 8);
      if (isa == Isa::kAvx512 && !p.exact_isa && prefer_avx2(q)) {
        isa_ = isa = Isa::kAvx2;
        choose_blocking(q, 8);
      }
    }
    q.tiles = (q.groups + q.gt - 1) / q.gt;
    const i64 lt = q.vt * q.lanes;  // floats per (tap, j) in a tile
    const i64 taps = q.kh * q.kw;

    // Filter: HWIO [kh][kw][j][g * cog + o] -> [tile][kh][kw][j][lane], zero in unused lanes.
    const i64 wcount = q.tiles * taps * q.cig * lt;
    wpack_.reset(static_cast<std::size_t>(wcount) * sizeof(float));
    float* wp = wpack_.floats();
    std::fill_n(wp, wcount, 0.0f);
    bpack_.reset(static_cast<std::size_t>(q.tiles * lt) * sizeof(float));
    float* bp = bpack_.floats();
    std::fill_n(bp, q.tiles * lt, 0.0f);
    for (i64 t = 0; t < q.tiles; ++t) {
      const i64 gn = std::min(q.gt, q.groups - t * q.gt);
      for (i64 lane = 0; lane < gn * q.cog; ++lane) {
        const i64 oc = t * q.gt * q.cog + lane;  // output channel of this lane
        if (p.bias != nullptr) bp[t * lt + lane] = p.bias[oc];
        for (i64 tap = 0; tap < taps; ++tap) {
          for (i64 j = 0; j < q.cig; ++j) {
            wp[((t * taps + tap) * q.cig + j) * lt + lane] =
                p.filter_hwio[(tap * q.cig + j) * q.c_out + oc];
          }
        }
      }
    }
    // Permute indices (same for every tile: tiles start at group boundaries).
    idx_.reset(static_cast<std::size_t>(q.cig * std::max<i64>(q.lanes, 1)) * sizeof(std::int32_t));
    auto* ix = static_cast<std::int32_t*>(idx_.data());
    for (i64 j = 0; j < q.cig; ++j) {
      for (i64 l = 0; l < q.lanes; ++l) {
        const i64 gl = l / q.cog;
        i64 src = gl < q.gt ? gl * q.cig + j : 0;
        if (isa == Isa::kAvx2 && q.mode == NarrowMode::kPerm2 && src >= 8) {
          src = (src & 7) - 2147483648LL;  // low bits pick the lane, sign bit the vector
        }
        ix[j * q.lanes + l] = static_cast<std::int32_t>(src);
      }
    }
    q.wpack = wp;
    q.bpack = bp;
    q.idx = ix;

    // Tasks: (n, row tile, chunk of channel tiles), all tiles of a row together while the
    // input lines are hot; split the tiles only when there are fewer than ~32 row tasks.
    q.rows_per_task = std::clamp<i64>(q.n * q.ho / 32, 1, std::max<i64>(q.ho, 1));
    q.row_tiles = (q.ho + q.rows_per_task - 1) / q.rows_per_task;
    const i64 want_chunks = (32 + q.n * q.row_tiles - 1) / (q.n * q.row_tiles);
    q.tile_chunks = std::clamp<i64>(want_chunks, 1, q.tiles);
    q.tiles_per_chunk = (q.tiles + q.tile_chunks - 1) / q.tile_chunks;
    q.tile_chunks = (q.tiles + q.tiles_per_chunk - 1) / q.tiles_per_chunk;

    // Input and output beyond 16 MiB stream from DRAM (the suite's batch-16 layers).
    q.touch = (g.input_elements() + g.output_elements()) * 4 > (16LL << 20);
    name_ = "narrow_group_" + std::to_string(q.cig) + "to" + std::to_string(q.cog) + "_";
    if (isa == Isa::kPortable) {
      name_ += "direct_portable";
    } else {
      name_ += std::string(mode_name(q.mode)) + "_" + std::to_string(q.gt) + "g_" +
               narrow_group_path(q) + (q.phases > 1 ? "d" + std::to_string(q.phases) : "") +
               (isa == Isa::kAvx512 ? "_avx512" : "_avx2");
    }
  }

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] i64 num_tasks() const override { return q_.num_tasks(); }

  void run(const float* x, float* y, i64 begin, i64 end, void* /*scratch*/) const override {
    // Each phase (dilated layers) over the whole task range.
    for_each_phase(q_, x, y, [&](const NarrowParams& q, const float* xq, float* yq) {
      run_isa(q, xq, yq, begin, end);
    });
  }

 private:
  void run_isa(const NarrowParams& q, const float* x, float* y, i64 begin, i64 end) const {
    switch (isa_) {
      case Isa::kAvx512:
        if constexpr (kAvx512Kernels) narrow_group_run_avx512(q, x, y, begin, end);
        break;
      case Isa::kAvx2:
        narrow_group_run_avx2(q, x, y, begin, end);
        break;
      case Isa::kPortable:
        run_portable(x, y, begin, end);
        break;
    }
  }

  // One group at a time, Cog accumulators per output pixel, padded taps skipped.
  void run_portable(const float* x, float* y, i64 begin, i64 end) const {
    const NarrowParams& q = q_;
    const i64 taps = q.kh * q.kw;
    for (i64 task = begin; task < end; ++task) {
      const i64 chunk = task % q.tile_chunks;
      const i64 rest = task / q.tile_chunks;
      const i64 rt = rest % q.row_tiles;
      const i64 n = rest / q.row_tiles;
      const i64 g_end = std::min(q.tiles, (chunk + 1) * q.tiles_per_chunk);
      const i64 oh_end = std::min(q.ho, (rt + 1) * q.rows_per_task);
      for (i64 oh = rt * q.rows_per_task; oh < oh_end; ++oh) {
        for (i64 gi = chunk * q.tiles_per_chunk; gi < g_end; ++gi) {
          const float* wg = q.wpack + gi * taps * q.cig * q.cog;
          const float* xg = x + n * q.h * q.w * q.c_in + gi * q.cig;
          for (i64 ow = 0; ow < q.wo; ++ow) {
            float acc[16];
            for (i64 o = 0; o < q.cog; ++o) acc[o] = q.bpack[gi * q.cog + o];
            for (i64 kh = 0; kh < q.kh; ++kh) {
              const i64 ih = oh * q.sh - q.pad_top + kh * q.dh;
              if (ih < 0 || ih >= q.h) continue;
              for (i64 kw = 0; kw < q.kw; ++kw) {
                const i64 iw = ow * q.sw - q.pad_left + kw * q.dw;
                if (iw < 0 || iw >= q.w) continue;
                const float* xp = xg + (ih * q.w + iw) * q.c_in;
                const float* wt = wg + (kh * q.kw + kw) * q.cig * q.cog;
                for (i64 j = 0; j < q.cig; ++j) {
                  const float xv = xp[j];
                  const float* wr = wt + j * q.cog;
                  for (i64 o = 0; o < q.cog; ++o) acc[o] += xv * wr[o];
                }
              }
            }
            float* yp = y + ((n * q.ho + oh) * q.wo + ow) * q.c_out + gi * q.cog;
            std::memcpy(yp, acc, static_cast<std::size_t>(q.cog) * sizeof(float));
          }
        }
      }
    }
  }

  NarrowParams q_{};
  Isa isa_;
  AlignedBuffer wpack_, bpack_, idx_;
  std::string name_;
};

}  // namespace

const char* narrow_group_path(const NarrowParams& q) {
  if (q.dw == 1 && q.kw == 3 && q.sw == 1) return "kw3s1";
  if (q.dw == 1 && q.kw == 3 && q.sw == 2) return "kw3s2";
  if (q.dw == 1 && q.kw == 5 && q.sw == 1) return "kw5s1";
  return "gen";
}

std::unique_ptr<Kernel> make_narrow_group_kernel(const KernelProblem& p, std::string* why_not) {
  const Geometry& g = *p.g;
  if (g.cig < 2) {
    *why_not = "needs Cig >= 2, got Cig = " + std::to_string(g.cig) + " (depthwise)";
    return nullptr;
  }
  if (g.cig > 16 || g.cog > 16) {
    *why_not = "needs Cig <= 16 and Cog <= 16, got Cig = " + std::to_string(g.cig) +
               ", Cog = " + std::to_string(g.cog);
    return nullptr;
  }
  if (g.cig >= 16 && g.cog >= 16) {
    *why_not = "Cig = Cog = 16 is a wide group, got Cig = " + std::to_string(g.cig) +
               ", Cog = " + std::to_string(g.cog);
    return nullptr;
  }
  if (g.output_elements() == 0) {
    *why_not = "empty output";
    return nullptr;
  }
  // On AVX-512 machines, groups of 9 to 16 outputs on 2-D kernels are wide_group's: its
  // implicit GEMM (one 16-channel tile of 6 pixels, masked to Cog) ran 1.03-1.94x faster than
  // this family's broadcast tiles. Zen 4, 1T medians of 5 interleaved runs: tutorial_g4
  // (8 -> 16) 108 -> 111 GFLOP/s, 4 -> 16 84 -> 105, 3 -> 16 43 -> 80, 16 -> 12 75 -> 86,
  // 8 -> 9 52 -> 62, 4 -> 16 5x5 59 -> 115, stride 2 and dilation 2 1.11-1.53x, 2T 1.09-1.26x.
  // Not taken: Cog <= 8 (8-channel tiles: 16 -> 8 0.85x) and 1-D kernels (8 -> 16 1x3 0.94x).
  // exact_isa keeps them here, so the ISA tests still cover this family's AVX-512 code.
  if (p.isa == Isa::kAvx512 && !p.exact_isa && g.cog >= 9 && g.kh >= 2 && g.kw >= 2) {
    *why_not = "Cog = " + std::to_string(g.cog) +
               " (9-16) on an AVX-512 CPU runs faster as wide_group's 16-channel tiles";
    return nullptr;
  }
  return std::make_unique<NarrowGroupKernel>(p, p.isa);
}

}  // namespace groupconv::detail
