// The wide_group family (>= 16 channels per group on either side, G = 1 included) and the
// implicit-GEMM engine it shares with the pointwise family (see wide_group_engine.hpp).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/common/built_isa.hpp"
#include "kernels/common/cache_sets.hpp"
#include "kernels/common/tap_ranges.hpp"
#include "kernels/common/touch.hpp"
#include "kernels/grouped/wide_group_engine.hpp"
#include "kernels/grouped/wide_group_tile.hpp"
#include "plan/aligned_buffer.hpp"

namespace groupconv::detail {
namespace wg {
namespace {

using i64 = std::int64_t;

const TileSet& tiles_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      if constexpr (kAvx512Kernels) return avx512_tiles();
      break;
    case Isa::kAvx2:
      return avx2_tiles();
    case Isa::kPortable:
      break;
  }
  return portable_tiles();
}

// Most pixels a register tile may read whose input pixels lie `stride` floats apart. A tile
// keeps one 64-byte line of each of its pixels in L1 through the channels of a tap; with a
// pixel stride that folds onto few of L1's 64 sets (1024 channels, or 512 at stride 2: 4 KiB,
// all in one set of 8 ways) a 14-pixel tile evicted its own lines before their next channel.
// 1T medians of 3 interleaved runs, AVX-512 16-channel tiles of 14 -> 6 pixels (1 set):
// 14x14x1024 64 groups 73 -> 117 GFLOP/s, 28x28x512 32 groups s2 55 -> 97, 28x28x1024 64
// groups s2 50 -> 92; 14 -> 10 pixels (2 sets): resnext50_c4 113 -> 118, 28x28x512 32
// groups 109 -> 113; RegNetX-800MF's 672 channels (no folding) unchanged.
i64 pixel_cap(i64 stride_floats) { return 4 * l1_sets_reached(stride_floats * 4) + 2; }

class GemmConvKernel final : public Kernel {
 public:
  GemmConvKernel(const KernelProblem& p, const TileSet& ts, const char* family, const char* isa)
      : g_(*p.g) {
    const Geometry& g = g_;
    flat_ = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_left == 0 &&
            g.ho == g.h && g.wo == g.w;
    if (!flat_) {
      rows_ = tap_ranges(g.ho, g.sh, g.pad_top, g.dh, g.kh, g.h);
      cols_ = tap_ranges(g.wo, g.sw, g.pad_left, g.dw, g.kw, g.w);
    }
    // Channel tiles of one group: one tile when the group fits, otherwise main-size tiles and
    // a remainder of at most max_units (never a lone 8-channel tile after a main one).
    const i64 row =
        flat_ ? g.h * g.w : (cols_.full_hi > cols_.full_lo ? cols_.full_hi - cols_.full_lo : g.wo);
    const i64 main_mr = ts.max_m[ts.main_units];
    const bool even_rows = flat_ || row >= 8 * main_mr || row % main_mr == 0;
    const i64 main_units = flat_ ? ts.flat_units : even_rows ? ts.main_units : ts.narrow_units;
    const i64 max_units = main_units == ts.main_units ? ts.max_units : main_units + 1;
    i64 units = (g.cog + 7) / 8;
    i64 c0 = 0;
    i64 w_off = 0;
    while (units > 0) {
      i64 u = units <= max_units ? units : main_units;
      if (units - u == 1 && u > 1) --u;
      Tile t;
      t.c0 = c0;
      t.nr = 8 * u;
      t.n_valid = std::min<i64>(t.nr, g.cog - c0);
      t.w_off = w_off;
      t.fn = ts.fn[u];
      t.max_m = std::min<i64>(ts.max_m[u], pixel_cap(g.sw * g.c_in));
      tiles_.push_back(t);
      w_off += g.kh * g.kw * g.cig * t.nr;
      c0 += t.nr;
      units -= u;
    }
    col_cap_ = pixel_cap(g.sh * g.w * g.c_in);
    // Named after its widest tile, e.g. wide_group_igemm_3x32_avx2.
    name_ = std::string(family) + "_" + std::to_string(tiles_[0].max_m) + "x" +
            std::to_string(tiles_[0].nr) + "_" + isa;
    group_w_ = w_off;
    group_b_ = c0;
    w_.reset(static_cast<std::size_t>(g.groups * group_w_) * sizeof(float));
    b_.reset(static_cast<std::size_t>(g.groups * group_b_) * sizeof(float));
    std::memset(w_.data(), 0, w_.bytes());
    std::memset(b_.data(), 0, b_.bytes());
    for (i64 gr = 0; gr < g.groups; ++gr) {
      for (const Tile& t : tiles_) {
        float* dst = w_.floats() + gr * group_w_ + t.w_off;
        for (i64 tap = 0; tap < g.kh * g.kw; ++tap) {
          for (i64 c = 0; c < g.cig; ++c) {
            const float* src = p.filter_hwio + (tap * g.cig + c) * g.c_out + gr * g.cog + t.c0;
            std::copy_n(src, t.n_valid, dst + (tap * g.cig + c) * t.nr);
          }
        }
        if (p.bias != nullptr) {
          std::copy_n(p.bias + gr * g.cog + t.c0, t.n_valid, b_.floats() + gr * group_b_ + t.c0);
        }
      }
    }

    // Enough tasks for both cores at batch 1 (an even count where possible), never splitting
    // below a row (spatial) or a few tiles of pixels (flat).
    const i64 base = std::max<i64>(1, g.n * g.groups * static_cast<i64>(tiles_.size()));
    const i64 limit = std::max<i64>(1, flat_ ? g.h * g.w / (2 * tiles_[0].max_m) : g.ho);
    blocks_ = std::clamp<i64>((kTargetTasks + base - 1) / base, 1, limit);
    if ((base * blocks_) % 2 == 1 && blocks_ < limit) ++blocks_;
    // 1x1 layers with several groups and small packed filters run pixel-major: a thread's
    // tasks are a range of pixels with every group, not a range of groups. Group-major, two
    // threads wrote different groups of the same pixels at the same time, and where a
    // group's outputs are not whole 64-byte lines (ShuffleNet's 20 channels, 80 bytes) they
    // shared lines: shufflenet_g3_reduce ran slower at 2 threads than at 1.
    pixel_major_ = flat_ && g.groups > 1 && g.groups * group_w_ * 4 <= (256 << 10);
    // Spatial layers with several groups and a large input run pixel-major too, in blocks of
    // output rows whose input rows fit kBlockInputBytes, and each block's input rows are first
    // read once in address order (touch_). Group-major, each group's pass reads one or two
    // lines of every pixel across the whole input, a pattern the prefetchers do not follow:
    // beyond a few MiB (more than a core's share of a shared L3) every such line waited on
    // memory. 1T medians of 5 interleaved runs, group-major -> pixel-major with touch:
    // 28x28x1024 64 groups s2 16.7 -> 31.9 GFLOP/s, 56x56x512 32 groups 25.5 -> 35.6 (s2
    // 14.7 -> 22.9), 112x112x64 4 groups s2 21.4 -> 41.2, 112x112x96 2 groups s2 43.8 -> 49.6,
    // resnext50_c3_b16 29.0 -> 32.6, dilated_g8 55.3 -> 58.3. Below 3 MiB it lost 4-25%
    // (RegNetY-1.6GF's 112x112x48 and 56x56x120 stride-2 layers, 14x14x1024 64 groups).
    if (!flat_ && g.groups > 1 && g.input_elements() * 4 >= kPixelMajorInputBytes) {
      const i64 rows_in = std::max<i64>(1, kBlockInputBytes / std::max<i64>(1, g.w * g.c_in * 4));
      const i64 rows = std::max<i64>(1, (rows_in - (g.kh - 1) * g.dh - 1) / g.sh + 1);
      blocks_ = std::max<i64>(1, (g.ho + rows - 1) / rows);
      pixel_major_ = true;
      touch_ = true;
    }
  }

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] i64 num_tasks() const override {
    return g_.n * g_.groups * static_cast<i64>(tiles_.size()) * blocks_;
  }

  void run(const float* x, float* y, i64 begin, i64 end, void* /*scratch*/) const override {
    const auto nt = static_cast<i64>(tiles_.size());
    for (i64 task = begin; task < end; ++task) {
      const i64 n = task / (blocks_ * nt * g_.groups);
      i64 b = 0, t = 0, gr = 0;
      if (pixel_major_) {  // (n, block, group, tile)
        t = task % nt;
        gr = (task / nt) % g_.groups;
        b = (task / (nt * g_.groups)) % blocks_;
      } else {  // (n, group, tile, block)
        b = task % blocks_;
        t = (task / blocks_) % nt;
        gr = (task / (blocks_ * nt)) % g_.groups;
      }
      if (touch_ && gr == 0 && t == 0) touch_block(x, n, b);
      if (flat_) {
        run_flat(x, y, n, gr, t, b);
      } else {
        run_spatial(x, y, n, gr, t, b);
      }
    }
  }

 private:
  static constexpr i64 kTargetTasks = 32;
  // Spatial layers whose input reaches this run pixel-major with touched blocks (see the
  // constructor), in blocks of output rows whose input rows take at most kBlockInputBytes.
  static constexpr i64 kPixelMajorInputBytes = 3LL << 20;
  static constexpr i64 kBlockInputBytes = 192LL << 10;

  // Reads the input rows of block b of image n once, in address order (all channels), so
  // every group's pass over them finds them in L2.
  void touch_block(const float* x, i64 n, i64 b) const {
    const Geometry& g = g_;
    const i64 r0 = g.ho * b / blocks_;
    const i64 r1 = g.ho * (b + 1) / blocks_;
    const i64 ih0 = std::max<i64>(0, r0 * g.sh - g.pad_top);
    const i64 ih1 = std::min(g.h, (r1 - 1) * g.sh - g.pad_top + (g.kh - 1) * g.dh + 1);
    if (ih1 > ih0) touch_lines(x + (n * g.h + ih0) * g.w * g.c_in, (ih1 - ih0) * g.w * g.c_in);
  }

  struct Tile {
    i64 c0 = 0;       // first output channel of the tile within its group
    i64 nr = 0;       // channels computed (multiple of 8)
    i64 n_valid = 0;  // channels stored
    i64 w_off = 0;    // packed filter offset within the group
    TileFn fn = nullptr;
    i64 max_m = 1;
  };

  [[nodiscard]] TileArgs base_args(i64 gr, const Tile& t) const {
    TileArgs a{};
    a.w = w_.floats() + gr * group_w_ + t.w_off;
    a.bias = b_.floats() + gr * group_b_ + t.c0;
    a.cig = g_.cig;
    a.n_valid = t.n_valid;
    a.x_kh = g_.dh * g_.w * g_.c_in;
    a.x_kw = g_.dw * g_.c_in;
    a.w_kh = g_.kw * g_.cig * t.nr;
    return a;
  }

  // Runs `count` pixels starting at a.x / a.y (strides already set) in balanced tiles.
  static void line(TileArgs a, const Tile& t, i64 count, i64 cap) {
    if (count <= 0) return;
    const i64 max_m = std::min(t.max_m, cap);
    const i64 tiles = (count + max_m - 1) / max_m;
    const float* x0 = a.x;
    float* y0 = a.y;
    i64 done = 0;
    for (i64 i = 1; i <= tiles; ++i) {
      const i64 next = count * i / tiles;
      a.m = next - done;
      a.x = x0 + done * a.x_pix;
      a.y = y0 + done * a.y_pix;
      t.fn(a);
      done = next;
    }
  }

  void run_flat(const float* x, float* y, i64 n, i64 gr, i64 ti, i64 b) const {
    const Tile& t = tiles_[static_cast<std::size_t>(ti)];
    const i64 hw = g_.h * g_.w;
    // Chunk edges on whole pixel tiles, so only the image's last tile is narrower.
    const i64 p0 = hw * b / blocks_ / t.max_m * t.max_m;
    const i64 p1 = b + 1 == blocks_ ? hw : hw * (b + 1) / blocks_ / t.max_m * t.max_m;
    TileArgs a = base_args(gr, t);
    a.kh_n = a.kw_n = 1;
    a.x_pix = g_.c_in;
    a.y_pix = g_.c_out;
    a.x = x + (n * hw + p0) * g_.c_in + gr * g_.cig;
    a.y = y + (n * hw + p0) * g_.c_out + gr * g_.cog + t.c0;
    line(a, t, p1 - p0, t.max_m);
  }

  // Points `a` at output pixel (oh, ow) with kernel rows [kh0, kh1) and columns [kw0, kw1).
  void aim(TileArgs* a, const float* xn, float* yn, const float* w0, i64 oh, i64 ow, i64 kh0,
           i64 kh1, i64 kw0, i64 kw1, i64 nr) const {
    a->y = yn + (oh * g_.wo + ow) * g_.c_out;
    if (kh1 <= kh0 || kw1 <= kw0) {  // every tap in the padding: the output is the bias
      a->kh_n = 0;
      a->kw_n = 0;
      a->x = xn;
      a->w = w0;
      return;
    }
    const i64 ih = oh * g_.sh - g_.pad_top + kh0 * g_.dh;
    const i64 iw = ow * g_.sw - g_.pad_left + kw0 * g_.dw;
    a->x = xn + (ih * g_.w + iw) * g_.c_in;
    a->w = w0 + (kh0 * g_.kw + kw0) * g_.cig * nr;
    a->kh_n = kh1 - kh0;
    a->kw_n = kw1 - kw0;
  }

  void run_spatial(const float* x, float* y, i64 n, i64 gr, i64 ti, i64 b) const {
    const Tile& t = tiles_[static_cast<std::size_t>(ti)];
    const Geometry& g = g_;
    const i64 r0 = g.ho * b / blocks_;
    const i64 r1 = g.ho * (b + 1) / blocks_;
    const float* xn = x + n * g.h * g.w * g.c_in + gr * g.cig;
    float* yn = y + n * g.ho * g.wo * g.c_out + gr * g.cog + t.c0;
    TileArgs a = base_args(gr, t);
    const float* w0 = a.w;
    const i64 row_x = g.sw * g.c_in;
    const i64 col_x = g.sh * g.w * g.c_in;
    const i64 col_y = g.wo * g.c_out;
    auto border_cols = [&](auto&& body) {
      for (i64 ow = 0; ow < cols_.full_lo; ++ow) body(ow);
      for (i64 ow = cols_.full_hi; ow < g.wo; ++ow) body(ow);
    };
    for (i64 oh = r0; oh < r1; ++oh) {
      const auto r = static_cast<std::size_t>(oh);
      // Interior columns: one line of row tiles with this row's kernel rows.
      if (cols_.full_hi > cols_.full_lo) {
        aim(&a, xn, yn, w0, oh, cols_.full_lo, rows_.lo[r], rows_.hi[r], 0, g.kw, t.nr);
        a.x_pix = row_x;
        a.y_pix = g.c_out;
        line(a, t, cols_.full_hi - cols_.full_lo, t.max_m);
      }
      if (oh >= rows_.full_lo && oh < rows_.full_hi) continue;
      // Border row: its border pixels one by one.
      border_cols([&](i64 ow) {
        const auto c = static_cast<std::size_t>(ow);
        aim(&a, xn, yn, w0, oh, ow, rows_.lo[r], rows_.hi[r], cols_.lo[c], cols_.hi[c], t.nr);
        a.x_pix = row_x;
        a.y_pix = g.c_out;
        a.m = 1;
        t.fn(a);
      });
    }
    // Border columns of the interior rows: tiles down the column.
    const i64 ra = std::max(r0, rows_.full_lo);
    const i64 rb = std::min(r1, rows_.full_hi);
    if (ra >= rb) return;
    border_cols([&](i64 ow) {
      const auto c = static_cast<std::size_t>(ow);
      aim(&a, xn, yn, w0, ra, ow, 0, g.kh, cols_.lo[c], cols_.hi[c], t.nr);
      a.x_pix = col_x;
      a.y_pix = col_y;
      line(a, t, rb - ra, col_cap_);
    });
  }

  Geometry g_;
  std::string name_;
  std::vector<Tile> tiles_;
  i64 group_w_ = 0;  // packed filter floats per group
  i64 group_b_ = 0;  // packed bias floats per group
  AlignedBuffer w_, b_;
  bool flat_ = false;
  i64 col_cap_ = 1;           // pixel_cap of the border columns' tiles (pixels a row apart)
  bool pixel_major_ = false;  // task order (n, block, group, tile), see the constructor
  bool touch_ = false;        // the first task of each block reads its input rows first
  TapRanges rows_, cols_;     // kernel rows / columns inside the input, per output row / column
  i64 blocks_ = 1;
};

}  // namespace

std::unique_ptr<Kernel> make_gemm_conv_kernel(const KernelProblem& p, const char* family) {
  const TileSet& ts = tiles_for(p.isa);
  return std::make_unique<GemmConvKernel>(p, ts, family, to_string(p.isa));
}

}  // namespace wg

std::unique_ptr<Kernel> make_wide_group_kernel(const KernelProblem& p, std::string* why_not) {
  const Geometry& g = *p.g;
  // Narrow groups (both sides <= 16, not both 16) are the narrow_group family's; wider ones,
  // G = 1 included, run as an implicit GEMM here. On AVX-512 CPUs also groups of 9-16
  // outputs (one 16-channel tile; see make_narrow_group_kernel).
  const bool wide = (g.cig >= 16 && g.cog >= 16) || g.cog > 16 || (g.cig > 16 && g.cog >= 8) ||
                    (p.isa == Isa::kAvx512 && g.cog >= 9);
  if (!wide) {
    *why_not =
        "needs Cig >= 16 and Cog >= 16 (or Cog > 16, or Cig > 16 with Cog >= 8, or Cog >= 9 "
        "on AVX-512), got Cig=" +
        std::to_string(g.cig) + ", Cog=" + std::to_string(g.cog);
    return nullptr;
  }
  return wg::make_gemm_conv_kernel(p, "wide_group_igemm");
}

}  // namespace groupconv::detail
