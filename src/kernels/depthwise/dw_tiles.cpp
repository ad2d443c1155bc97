// The channel-vector depthwise kernel: a row of output pixels is cut into register tiles of
// several pixels x several vectors of 16 channels (dw_tiles.hpp). Padded taps are never
// computed: each output row walks the kernel rows inside the input; its interior columns run
// as tiles with every kernel column, and its border columns one pixel at a time with their
// clipped kernel-column range, except with sliding tiles: at stride 1 the whole row runs as
// tiles whose first and last read zeros for the window columns in the padding, and 7x7 at
// stride 2 runs each side's border pixels as one such edge tile.
//
// Tasks: one block of channel vectors over a tile of output rows of one image, ordered (image,
// row tile, block), or (image, block, row tile) for layers within 2 MiB (see block_major_); a
// task's next output rows read its block's input rows again from L2. Each task writes its own
// output elements in a fixed order: bit-identical for any thread count.
#include "kernels/depthwise/dw_tiles.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/common/built_isa.hpp"
#include "kernels/common/tap_ranges.hpp"
#include "kernels/depthwise/dw_tiles_kernel.hpp"
#include "plan/aligned_buffer.hpp"

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;

// The AVX-512 tile for m pixels of block b (sliding or plain); named only where the AVX-512
// translation unit is built.
template <class Block>
dwt::TileFn tile_fn(bool slide, bool edge, i64 kw, i64 sw, i64 m, const Block& b) {
  if constexpr (kAvx512Kernels) {
    const int nv = static_cast<int>(b.nv);
    return slide ? dwt::avx512_slide(static_cast<int>(kw), static_cast<int>(sw),
                                     static_cast<int>(m), nv, edge)
                 : dwt::avx512_tile(static_cast<int>(m), nv, b.tail != 0);
  }
  return nullptr;
}

class DwTileKernel final : public Kernel {
 public:
  DwTileKernel(const KernelProblem& pr, DwTileMode mode) : g_(*pr.g) {
    const Geometry& g = g_;
    slide_ = mode == DwTileMode::kSlide;  // the factory checked the shape (and whole vectors)
    // Sliding tiles: 2 vectors (128 bytes of each pixel) of up to 10 / 8 / 6 pixels; plain
    // tiles: 4 vectors (256 bytes) of up to 6 pixels. 1T medians over the depthwise sweep, 4
    // -> 3 or 2 plain vectors (8 or 12 pixels): 0.73-1.20x, mostly slower.
    const i64 kv = slide_ ? 2 : dwt::kMaxVectors;
    max_m_ = slide_ ? dwt::slide_max_pixels(static_cast<int>(g.kw)) : 6;
    const i64 vectors = (g.c_out + 15) / 16;
    const i64 nblocks = (vectors + kv - 1) / kv;
    i64 c0 = 0;
    i64 w_off = 0;
    const i64 taps = g.kh * g.kw;
    for (i64 b = 0; b < nblocks; ++b) {
      Block blk;
      blk.c0 = c0;
      blk.nv = std::min(kv, vectors - b * kv);
      const i64 lanes = std::min(blk.nv * 16, g.c_out - c0);
      blk.tail = lanes % 16;
      blk.w_off = w_off;
      for (i64 m = 1; m <= max_m_; ++m) {
        blk.fn[m] = tile_fn(slide_, false, g.kw, g.sw, m, blk);
        blk.edge[m] =
            slide_ && (g.sw == 1 || m <= 3) ? tile_fn(true, true, g.kw, g.sw, m, blk) : nullptr;
      }
      blk.one = tile_fn(false, false, g.kw, g.sw, 1, blk);
      blocks_.push_back(blk);
      c0 += blk.nv * 16;
      w_off += taps * blk.nv * 16;
    }
    // Packed filter [block][kh][kw][nv * 16] and bias [vectors * 16], zero tails.
    w_.reset(static_cast<std::size_t>(w_off) * sizeof(float));
    b_.reset(static_cast<std::size_t>(vectors * 16) * sizeof(float));
    std::fill_n(w_.floats(), w_off, 0.0f);
    std::fill_n(b_.floats(), vectors * 16, 0.0f);
    for (const Block& blk : blocks_) {
      const i64 width = blk.nv * 16;
      for (i64 t = 0; t < taps; ++t) {
        for (i64 j = 0; j < width && blk.c0 + j < g.c_out; ++j) {
          w_.floats()[blk.w_off + t * width + j] = pr.filter_hwio[t * g.c_out + blk.c0 + j];
        }
      }
    }
    if (pr.bias != nullptr) std::copy_n(pr.bias, g.c_out, b_.floats());

    rows_ = tap_ranges(g.ho, g.sh, g.pad_top, g.dh, g.kh, g.h);
    cols_ = tap_ranges(g.wo, g.sw, g.pad_left, g.dw, g.kw, g.w);

    // Enough tasks for both cores at batch 1, never splitting below a row.
    const i64 base = std::max<i64>(1, g.n * nblocks);
    row_tiles_ = std::clamp<i64>((kTargetTasks + base - 1) / base, 1, std::max<i64>(1, g.ho));
    // Layers that fit the two cores' L2 run block by block (each thread its own channels of
    // every row); larger ones row tile by row tile (each thread its own rows, read in address
    // order). 2T medians of 7 interleaved runs against the depthwise kernel, by rows -> by
    // blocks: mnv2_dw4 (28x28x192) 1.08 -> 1.15x, 14x14x384 0.80 -> 0.90x, 14x14x576 0.82 ->
    // 0.96x, convnext_dw3 1.08 -> 1.14x; 1T within 2%; by blocks mnv2_dw3 (3.6 MB) lost.
    block_major_ = (g.input_elements() + g.output_elements()) * 4 <= (2LL << 20);
    name_ = "dwconv_" + std::to_string(g.kh) + "x" + std::to_string(g.kw) + "s" +
            std::to_string(g.sh) + (g.sw != g.sh ? "x" + std::to_string(g.sw) : "") +
            (slide_ ? "_slide_" : "_tiles_") + std::to_string(max_m_) + "x" +
            std::to_string(kv * 16) + "_avx512";
  }

  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] i64 num_tasks() const override {
    return g_.n * row_tiles_ * static_cast<i64>(blocks_.size());
  }

  void run(const float* x, float* y, i64 begin, i64 end, void* /*scratch*/) const override {
    const auto nb = static_cast<i64>(blocks_.size());
    for (i64 task = begin; task < end; ++task) {
      const i64 n = task / (row_tiles_ * nb);
      i64 rt = (task / nb) % row_tiles_;
      i64 bi = task % nb;
      if (block_major_) {
        bi = (task / row_tiles_) % nb;
        rt = task % row_tiles_;
      }
      const i64 r0 = g_.ho * rt / row_tiles_;
      const i64 r1 = g_.ho * (rt + 1) / row_tiles_;
      const Block& blk = blocks_[static_cast<std::size_t>(bi)];
      for (i64 oh = r0; oh < r1; ++oh) run_row(x, y, n, oh, blk);
    }
  }

 private:
  static constexpr i64 kTargetTasks = 32;

  struct Block {
    i64 c0 = 0;    // first channel
    i64 nv = 1;    // vectors
    i64 tail = 0;  // lanes of the last vector (0: 16)
    i64 w_off = 0;
    dwt::TileFn fn[dwt::kMaxPixels + 1] = {};    // interior tiles of m pixels
    dwt::TileFn edge[dwt::kMaxPixels + 1] = {};  // sliding: tiles reaching into the padding
    dwt::TileFn one = nullptr;                   // one pixel, any kernel-column range
  };

  void run_row(const float* x, float* y, i64 n, i64 oh, const Block& blk) const {
    const Geometry& g = g_;
    const auto r = static_cast<std::size_t>(oh);
    const i64 kh0 = rows_.lo[r], kh1 = rows_.hi[r];
    dwt::TileArgs a{};
    a.bias = b_.floats() + blk.c0;
    a.x_pix = g.sw * g.c_in;
    a.y_pix = g.c_out;
    a.x_kh = g.dh * g.w * g.c_in;
    a.x_kw = g.dw * g.c_in;
    a.w_kw = blk.nv * 16;
    a.w_kh = g.kw * a.w_kw;
    a.kh_n = kh1 > kh0 ? kh1 - kh0 : 0;
    a.tail = blk.tail;
    const float* xn = x + n * g.h * g.w * g.c_in + blk.c0;
    float* yrow = y + ((n * g.ho + oh) * g.wo) * g.c_out + blk.c0;
    const float* w0 = w_.floats() + blk.w_off + (a.kh_n > 0 ? kh0 * a.w_kh : 0);
    const i64 ih0 = oh * g.sh - g.pad_top + kh0 * g.dh;
    // Points `a` at output column ow with kernel columns [kw0, kw1).
    auto aim = [&](i64 ow, i64 kw0, i64 kw1) {
      a.y = yrow + ow * g.c_out;
      a.kw_n = kw1 > kw0 ? kw1 - kw0 : 0;
      if (a.kh_n == 0 || a.kw_n == 0) {
        a.kw_n = 0;
        a.x = xn;
        a.w = w0;
        return;
      }
      const i64 iw = ow * g.sw - g.pad_left + kw0 * g.dw;
      a.x = xn + (ih0 * g.w + iw) * g.c_in;
      a.w = w0 + kw0 * a.w_kw;
    };
    auto single = [&](i64 ow) {
      const auto c = static_cast<std::size_t>(ow);
      aim(ow, cols_.lo[c], cols_.hi[c]);
      blk.one(a);
    };
    // Runs `count` pixels from ow0 in balanced tiles of at most max_m_: body(ow, m).
    auto balanced = [&](i64 ow0, i64 count, auto&& body) {
      const i64 tiles = (count + max_m_ - 1) / max_m_;
      i64 done = 0;
      for (i64 i = 1; i <= tiles; ++i) {
        const i64 next = count * i / tiles;
        body(ow0 + done, next - done);
        done = next;
      }
    };
    // Points `a` at the sliding window of m pixels from ow0, every kernel column, with the
    // window's columns in the padding left out; true when there are any (an edge tile).
    auto window = [&](i64 ow0, i64 m) {
      const i64 c0 = ow0 * g.sw - g.pad_left;     // the window's first input column
      const i64 c1 = c0 + (m - 1) * g.sw + g.kw;  // one past its last
      a.lskip = c0 < 0 ? -c0 : 0;
      a.rskip = c1 > g.w ? c1 - g.w : 0;
      a.y = yrow + ow0 * g.c_out;
      a.w = w0;
      a.kw_n = g.kw;
      // No column inside (a map narrower than the padding): the tile reads nothing.
      a.x = a.lskip + a.rskip >= c1 - c0 ? xn : xn + (ih0 * g.w + c0 + a.lskip) * g.c_in;
      return a.lskip > 0 || a.rskip > 0;
    };
    if (slide_ && g.sw == 1 && a.kh_n > 0) {
      // Stride 1: the whole row in balanced tiles; the first and last read zeros for their
      // window's columns in the padding.
      balanced(0, g.wo, [&](i64 ow0, i64 m) { (window(ow0, m) ? blk.edge[m] : blk.fn[m])(a); });
      return;
    }
    // Stride 2, 7x7: the border pixels of each side as one edge tile (at most 3 of them: wider
    // edge tiles spilled at stride 2), the interior as below. 1T medians of 5 alternating
    // processes, one pixel at a time -> edge tiles: 7x7 s2 1.02-1.28x over the sweep's 64-512
    // channels (14x14x512 58 -> 64 GFLOP/s); 5x5 s2 0.82-1.19x, no rule, so 5x5 keeps its
    // single pixels.
    const bool edges = slide_ && g.kw == 7 && a.kh_n > 0 && cols_.full_hi > cols_.full_lo &&
                       cols_.full_lo <= 3 && g.wo - cols_.full_hi <= 3;
    auto edge_tile = [&](i64 ow0, i64 m) {
      window(ow0, m);
      blk.edge[m](a);
    };
    if (edges && cols_.full_lo > 0) {
      edge_tile(0, cols_.full_lo);
    } else {
      for (i64 ow = 0; ow < cols_.full_lo; ++ow) single(ow);
    }
    balanced(cols_.full_lo, cols_.full_hi - cols_.full_lo, [&](i64 ow0, i64 m) {
      aim(ow0, 0, g.kw);
      blk.fn[m](a);
    });
    if (edges && cols_.full_hi < g.wo) {
      edge_tile(cols_.full_hi, g.wo - cols_.full_hi);
    } else {
      for (i64 ow = std::max(cols_.full_hi, cols_.full_lo); ow < g.wo; ++ow) single(ow);
    }
  }

  Geometry g_;
  std::string name_;
  std::vector<Block> blocks_;
  AlignedBuffer w_, b_;
  TapRanges rows_, cols_;  // kernel rows / columns inside the input, per output row / column
  i64 row_tiles_ = 1;
  i64 max_m_ = 6;
  bool slide_ = false;
  bool block_major_ = false;
};

}  // namespace

std::unique_ptr<Kernel> make_dw_tile_kernel(const KernelProblem& p, DwTileMode mode) {
  if constexpr (kAvx512Kernels) {
    const Geometry& g = *p.g;
    const bool slide_ok = g.dw == 1 && (g.sw == 1 || g.sw == 2) &&
                          (g.kw == 3 || g.kw == 5 || g.kw == 7) && g.c_out % 16 == 0;
    if (p.isa == Isa::kAvx512 && g.cig == 1 && g.cog == 1 &&
        (mode == DwTileMode::kTiles || slide_ok)) {
      return std::make_unique<DwTileKernel>(p, mode);
    }
  }
  return nullptr;
}

}  // namespace groupconv::detail
