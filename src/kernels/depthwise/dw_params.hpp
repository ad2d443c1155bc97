// Plain data shared by the depthwise factory (depthwise.cpp) and its per-ISA translation
// units (dw_avx512.cpp, dw_avx2.cpp, dw_portable.cpp). POD only: the per-ISA files must not
// pull in STL templates (ODR, see dw_impl.inc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace groupconv::detail::dw {

// Everything a depthwise task needs. Input NHWC [n, h, w, c_in]; output NHWC
// [n, ho, wo, c_out] with c_out = c_in * m; output channel o reads input channel o / m.
struct Params {
  std::int64_t n, h, w, c_in, c_out, m;
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left, ho, wo;
  std::int64_t lanes;          // channels per tile (the ISA's vector width in floats)
  std::int64_t tiles;          // ceil(c_out / lanes)
  std::int64_t group;          // channel tiles per task (128 or 512 bytes of channels)
  std::int64_t groups;         // ceil(tiles / group)
  std::int64_t rows_per_task;  // output rows per task
  std::int64_t row_tiles;      // ceil(ho / rows_per_task)
  std::int64_t bands;          // row bands per image of the cache-resident order (see below)
  std::int64_t bmax;           // widest register block along W (<= the ISA's kMaxBlock)
  std::int64_t strip_blocks;   // blocks of a row per column strip (rows run inside a strip)
  const float* filter;         // packed [tiles][kh][kw][lanes], zero beyond c_out
  const float* bias;           // [tiles][lanes], zeros when the layer has no bias
  bool stream;                 // non-temporal stores allowed (output larger than the caches)
  bool shift_tail;             // the last tile ends at c_out (a full tile), see depthwise.cpp
  bool stage;                  // 8-lane tiles stored through a buffer, streamed in 64-B lines
  bool prefetch;               // software prefetch of the next row tile (DRAM-bound layers)
  // 8-lane blocks (3x3; 5x5 and 7x7 at stride 2) run adjacent channel tiles two at a time
  // (one whole 64-byte line of each input pixel per load pair), kPairBmax pixels wide at most.
  bool pair;
  // Pixel strides that fold onto few L1 sets (see depthwise.cpp): each task copies the input
  // rows of a few output rows, its group's channels only, into a contiguous window (pixel
  // stride group * lanes floats) and runs the blocks on the copy.
  bool pack;
  std::int64_t xs;    // input pixel stride the blocks read with: c_in, or the copy's
  std::int64_t xrow;  // input row stride (floats): w * xs, or the whole row of a phase
  std::int64_t ypx;   // output pixel stride: c_out, or phases * c_out
  std::int64_t yrow;  // output row stride: wo * c_out
  // Dilation d along W at stride 1: the layer runs as d phases of dilation 1 (see
  // kernels/common/dilation_phases.hpp; pixel strides xs = d * c_in and ypx = d * c_out), so
  // the W-specialised blocks serve dilated layers too. phases = 1 otherwise; with phases the
  // fields above (w, wo, pad_left, dw = 1) describe phase 0 and the kernel runs each phase
  // with its own (for_each_phase, from the full ones below).
  std::int64_t phases;
  std::int64_t full_w, full_wo, full_pad_left;
  // Task t = ((img * row_tiles) + row_tile) * groups + group: channel tiles innermost, so
  // the input rows of a row tile are fetched from DRAM once and reused from L2 by every tile.
  // Layers that stay in the caches (no prefetch) order them by image, then row band, then
  // group, then row tile within the band: a thread's consecutive tasks are one group's
  // consecutive rows, which it runs as one task (tile set-up once, strips over all the rows).
  // Band b holds row tiles [row_tiles * b / bands, row_tiles * (b + 1) / bands). With fewer
  // images than threads, bands > 1 gives each thread its own rows: threads that split one
  // band's channel groups write the same pixels at the same time, and ran MobileNetV2's 3x3
  // layers at half their 1-thread speed about one run in three.
};

// First output channel of channel tile t.
inline std::int64_t tile_base(const Params& p, std::int64_t t) {
  return p.shift_tail && t == p.tiles - 1 ? p.c_out - p.lanes : t * p.lanes;
}

// Runs tasks [begin, end). Each writes its own (image, rows, channel tile) block of y.
void run_avx512(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end);
void run_avx2(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end);
void run_portable(const Params& p, const float* x, float* y, std::int64_t begin, std::int64_t end);

// Floats of a task's packed input window (p.pack): at least KH input rows of the group.
inline constexpr std::int64_t kPackFloats = 16384;

// Most channel tiles one task walks per block (p.group <= this).
inline constexpr std::int64_t kMaxGroupTiles = 32;

// Widest W block each ISA instantiates (register budget: block + KW weights + 1 input).
inline constexpr std::int64_t kMaxBlockAvx512 = 16;
inline constexpr std::int64_t kMaxBlockAvx2 = 12;
inline constexpr std::int64_t kMaxBlockPortable = 12;
// Widest W block of a tile pair: 2 x 4 accumulators + 2 x 3 taps + 2 input columns (5x5 and
// 7x7 pairs keep the accumulators and inputs in registers and read the taps from memory).
inline constexpr int kPairBmax = 4;

// Widest W block for a geometry: the specialised path holds KW taps + the block + one input
// column, the generic one a tap + the block + an input (+ the permutation for m > 1); with
// 16 registers (AVX2, SSE) that caps the block, with 32 (AVX-512) kMaxBlockAvx512 does.
constexpr int spec_bmax(std::int64_t lanes, std::int64_t kw) {
  return lanes >= 16 ? static_cast<int>(kMaxBlockAvx512) : kw == 3 ? 11 : kw == 5 ? 9 : 7;
}
constexpr int generic_bmax(std::int64_t lanes, std::int64_t m) {
  return lanes >= 16 ? static_cast<int>(kMaxBlockAvx512) : m == 1 ? 12 : 10;
}
// A row is cut into ceil(wo / bmax) near-equal blocks, so every block is at least
// block_min(bmax) wide; a row narrower than that runs one block of block_min(bmax) pixels
// that stores only the first wo. Only widths [block_min(bmax), bmax] are instantiated.
constexpr int block_min(std::int64_t bmax) { return static_cast<int>((bmax + 1) / 2); }

// True when the W-specialised path (dilation 1, KW in {3, 5, 7}, stride 1 or 2, m == 1)
// serves this geometry; otherwise the generic register-blocked path runs.
inline bool specialised(const Params& p) {
  return p.m == 1 && p.dw == 1 && (p.kw == 3 || p.kw == 5 || p.kw == 7) && (p.sw == 1 || p.sw == 2);
}

}  // namespace groupconv::detail::dw
