// The depthwise family (one input channel per group, any channel multiplier m = Cog): the
// factory, the packed filter and the task plan. The loops themselves are in dw_impl.inc,
// compiled once per ISA (dw_avx512.cpp, dw_avx2.cpp, dw_portable.cpp).
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/common/built_isa.hpp"
#include "kernels/common/cache_sets.hpp"
#include "kernels/common/dilation_phases.hpp"
#include "kernels/depthwise/dw_params.hpp"
#include "kernels/depthwise/dw_tiles_kernel.hpp"
#include "plan/aligned_buffer.hpp"
#include "plan/copy_shape.hpp"
#include "plan/kernel.hpp"

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;
using RunFn = void (*)(const dw::Params&, const float*, float*, i64, i64);

// Output bytes beyond which stores bypass the caches (the suite's batch-16 layers; batch-1
// layers stay below and keep their output in L2/L3 for the next layer).
constexpr i64 kStreamBytes = 16LL << 20;
// Input rows of one row tile (all channels) should stay in L2 while every channel tile of
// the row tile reads them.
constexpr i64 kRowTileBytes = 256LL << 10;
// DRAM-bound layers also prefetch the next row tile's new input rows while the tile runs:
// the current tile and those rows together stay within this much of L2 (512 KiB on Zen 2/3).
// 8 input rows per tile (256 KiB) ran mnv2_dw3_b16 about 20% slower than 6 (192 KiB).
constexpr i64 kPrefetchTileBytes = 320LL << 10;
// Enough tasks that two threads stay balanced even at batch 1.
constexpr i64 kMinTasks = 32;

// Blocks per column strip. A task walks its rows strip by strip, so the KH input rows under
// a strip are read again by the next output rows while still in L1. The budget is half of a
// 32 KiB, 8-way, 64-set L1 (the other half for the output lines, the filter and the rest),
// counted in the sets that the pixel stride actually reaches: a pixel stride of xs * 4
// bytes (c_in * 4, or a W-dilated layer's phases * c_in * 4) that is a multiple of 64 lines up with
// only 64 / gcd(stride / 64, 64) sets (a 1536-byte stride, 384 channels, reaches 8 of the 64), and
// rows of the strip may share them.
i64 strip_blocks(const dw::Params& p, i64 bmax, i64 group_bytes) {
  const i64 sets = l1_sets_reached(p.xs * 4);
  const i64 lines_per_px = std::max<i64>(1, (group_bytes + 63) / 64);
  const i64 blocks = (p.wo + bmax - 1) / std::max<i64>(1, bmax);
  // At most two lines a pixel, stride 1, at most 9 taps (the first depthwise layers of
  // MobileNets: 16-32 channels on 112-pixel rows): whole rows, whose KH input rows stay in
  // L2, ran 7-20% faster than the L1-sized strips (mnv2_dw1 1T 52 -> 63 GFLOP/s), which
  // walk each output row in pieces; on wider pixels, strides or larger kernels the strips
  // were as fast or faster.
  if (lines_per_px <= 2 && p.sw == 1 && p.kh * p.kw <= 9) return blocks;
  const i64 budget = sets * 8 / 2;
  const i64 cols = budget / (p.kh * lines_per_px);  // input columns per strip row
  const i64 px = std::max<i64>(1, (cols - (p.kw - 1) * p.dw) / std::max<i64>(1, p.sw));
  const i64 width = std::max<i64>(1, (p.wo + blocks - 1) / std::max<i64>(1, blocks));
  return std::max<i64>(1, px / width);
}

// On an AVX-512 machine, whether the AVX2 kernel (8-lane tiles, blocks of at most 7-11
// pixels, edge blocks compiled per padding mix, tile pairs) beats the 16-lane one. Zen 4 runs a
// zmm FMA as two ymm halves, so both have the same FLOP peak; what differs is the blocking.
// 1T A/B over bench/layers_dw_sweep.csv (146 layers, medians of 3 interleaved runs, 16 -> 8
// lanes):
// - output rows of at most 8 pixels: 1.18-1.94x on all 32 such layers (3x3 / 5x5 / 7x7 at
//   stride 1 on 7x7 maps, 3x3 stride 2 on 14x14). The 16-lane kernel's narrowest block is 8
//   pixels (wider rows are cut into 8-16-pixel blocks), so a 7-pixel row computes 8 through a
//   buffer, and its border blocks take the table of column addresses;
// - 3x3 at stride 2 on pixel strides that reach at most 4 of L1's 64 sets (256 channels and
//   multiples), where the AVX2 kernel runs tile pairs: 0.97-1.34x on 14-28-pixel rows, 6x on
//   56x56x512 (3.4 -> 20.6 GFLOP/s: 16-pixel blocks at stride 2 read 33 columns x 3 rows that
//   all fall into 2 sets);
// - 3x3 at stride 1 on 56x56x512 (2 sets, pairs): 13.3 -> 24.0.
// Elsewhere the 16-lane kernel was as fast or faster (7x7 stride 2: 16 -> 8 lanes 0.57-0.86x).
bool prefer_8_lanes(const dw::Params& p) {
  if (!dw::specialised(p)) return false;
  if (p.wo <= 8) return true;
  const i64 sets = l1_sets_reached(p.xs * 4);
  if (p.kw == 3 && p.sw == 2 && p.c_out >= 16 && sets <= 4) return true;
  return p.kh == 3 && p.kw == 3 && p.sw == 1 && !p.prefetch && sets == 2 && p.wo >= 28;
}

// On AVX-512 CPUs, layers (multiplier 1, dilation 1) that run faster as channel-vector tiles
// (dw_tiles.hpp): several vectors of each pixel in one register tile, every line fetched used
// whole, and the sliding tiles load each input vector once per kernel row. 1T medians of 4-5
// interleaved runs over the 146 layers of the depthwise sweep, this kernel -> plain tiles
// (4 vectors x 6 pixels) / sliding tiles (2 vectors x 10, 8 or 6 pixels):
// - stride 1, sliding: 3x3 on rows of >= 28 outputs 1.08-1.38x, on 14-pixel rows 1.13-1.18x
//   where the pixel stride reaches at most 4 L1 sets (256, 512 channels; MobileNetV1's
//   14x14x512 1.17) and 0.99-1.02x elsewhere (at 2T 0.80-0.96x: left out), 7-pixel rows
//   0.84-1.10x;
//   5x5 1.08-1.92x on rows of >= 14, 1.07-1.10x on 7-pixel rows of >= 128 channels (64:
//   0.94); 7x7 1.03-1.65x on rows of >= 14 (7-pixel rows 0.83-0.93). Suite: mnv2_dw1 1.25,
//   mnv2_dw3 1.23, mnv2_dw4 1.16, convnext_dw1-3 1.05-1.11.
// - stride 2: 3x3 on pixel strides reaching at most 4 L1 sets (256, 512, 768 channels), plain
//   tiles: 1.12-1.48x (MobileNetV1's 28x28x256 1.27); other 3x3 sliding on rows of >= 28
//   outputs 1.01-1.13x (narrower 0.79-1.21); 5x5 and 7x7 sliding 1.05-2.12x, with 0.89-0.98x
//   on three 384- and 512-channel layers.
// - 1024 channels (4 KiB pixel stride, one L1 set): 3x3 plain tiles 1.06-1.29x at stride 1 on
//   rows of >= 14 (7-pixel rows 0.76x) and 1.29x at stride 2; 5x5 and 7x7 lost 0.41-0.85x
//   either way and keep this kernel.
// The sliding tiles take whole vectors only (C % 16 == 0). Layers whose input and output
// pass kStreamBytes keep this kernel's prefetches and streaming stores (convnext_dw2_b16:
// 0.87x as tiles); exact_isa keeps it too, so the ISA tests still run its AVX-512 code on
// these shapes.
std::optional<DwTileMode> tile_mode(const KernelProblem& p) {
  const Geometry& g = *p.g;
  if (p.isa != Isa::kAvx512 || p.exact_isa || g.cog != 1 || g.dh != 1 || g.dw != 1 ||
      g.kh != g.kw || g.sh != g.sw ||
      (g.input_elements() + g.output_elements()) * 4 > kStreamBytes) {
    return std::nullopt;
  }
  const i64 sets = l1_sets_reached(g.c_in * 4);
  if (g.kw == 3 && ((sets <= 1 && g.sw == 1 && g.wo >= 14) || (sets <= 4 && g.sw == 2))) {
    return DwTileMode::kTiles;
  }
  if (sets <= 1 || g.c_in % 16 != 0) return std::nullopt;
  bool slide = false;
  if (g.sw == 1) {
    slide = g.kw == 3   ? g.wo >= 28 || (g.wo >= 14 && sets <= 4)
            : g.kw == 7 ? g.wo >= 14
                        : g.kw == 5 && (g.wo >= 14 || g.c_in >= 128);
  } else if (g.sw == 2) {
    slide = g.kw == 5 || g.kw == 7 || (g.kw == 3 && g.wo >= 28);
  }
  return slide ? std::optional<DwTileMode>(DwTileMode::kSlide) : std::nullopt;
}

class DepthwiseKernel final : public Kernel {
 public:
  DepthwiseKernel(const KernelProblem& pr, Isa isa) : isa_(isa) {
    const Geometry& g = *pr.g;
    dw::Params& p = p_;
    copy_shape(g, p);
    init_strides(p);
    // Dilation d along W at stride 1, on kernels the W-specialised blocks serve: d phases of
    // dilation 1 (see dw::Params::phases), where every phase has columns. The generic blocks
    // (a tap at a time, each input column loaded once per tap) ran these layers at 0.37-0.58x
    // oneDNN (28x28x256 3x3 d2: 21 against 43 GFLOP/s).
    if (g.dw > 1 && g.sw == 1 && g.cog == 1 && (g.kw == 3 || g.kw == 5 || g.kw == 7) &&
        g.w >= g.dw && g.wo >= g.dw) {
      use_phases(p);
    }
    p.m = g.cog;
    p.prefetch = (g.input_elements() + g.output_elements()) * 4 > kStreamBytes;
    if (isa == Isa::kAvx512 && !pr.exact_isa && prefer_8_lanes(p)) isa_ = isa = Isa::kAvx2;
    i64 lanes = 4;
    run_ = &dw::run_portable;
    if constexpr (kAvx512Kernels) {
      if (isa == Isa::kAvx512) {
        lanes = 16;
        run_ = &dw::run_avx512;
      }
    }
    if (isa == Isa::kAvx2) {
      lanes = 8;
      run_ = &dw::run_avx2;
    }
    p.lanes = lanes;
    p.tiles = (g.c_out + lanes - 1) / lanes;
    // Tiles per task, split evenly: about 128 bytes of channels (two 64-byte lines), or 512
    // for kernels of at most 9 taps that stay in the caches. One line per task (the first
    // choice) ran 5-10% slower on MobileNetV2's 3x3 layers. A 3x3 tap does little work per
    // byte it loads, and 512-byte runs of each pixel ran those layers 5-20% faster (mnv2_dw7
    // 49 -> 59 GFLOP/s, ShuffleNetV2's 116 channels 45 -> 52) than 128; on 5x5 and 7x7
    // kernels 128 bytes was as fast or faster. DRAM-bound layers keep 128 (see stage).
    const bool long_groups = !p.prefetch && g.kh * g.kw <= 9;
    {
      // AVX-512 3x3 at stride 2 with 6 tiles or more: 256 bytes. 1T medians of 3-5
      // interleaved runs, 512 -> 256: mnv2_dw2_s2 46.5 -> 49.2 GFLOP/s (2T 89.8 -> 95.7),
      // 28-56-pixel rows at 96-192 channels 1.02-1.07x; 72 channels (5 tiles, cut 3 + 2)
      // 46.9 -> 43.9.
      const i64 bytes = !long_groups ? 128 : lanes == 16 && g.sw == 2 && p.tiles >= 6 ? 256 : 512;
      const i64 want = std::max<i64>(1, bytes / (4 * lanes));
      const i64 ng = (p.tiles + want - 1) / want;
      p.group = std::min<i64>(dw::kMaxGroupTiles, (p.tiles + ng - 1) / ng);
    }
    p.groups = (p.tiles + p.group - 1) / p.group;
    // Pixel strides that fold onto at most 8 of L1's 64 sets (128, 256, 384, 512, 1024
    // channels: a block's KH input rows share those sets with each other and with its output
    // pixels, and are re-read from L2): each task copies its group's input rows into a
    // contiguous window first (see dw::Params::pack). The group shrinks until the window
    // holds the kernel's rows for three output rows. A copy is a load and a store per input
    // vector, repaid by 25 taps or more, or by 3x3 where the stride reaches 1 or 2 sets (1T,
    // one process, medians, copies off -> on): convnext_dw3 42.6 -> 62.3 GFLOP/s (2T 82 ->
    // 117), convnext_dw4 56.9 -> 66.9, 14x14x512 5x5 21 -> 43, 56x56x128 7x7 30.8 -> 37.8,
    // 7x7x1024 3x3 11.6 -> 25.8, 14x14x512 3x3 17.4 -> 23.3; 3x3 at 128, 256 and 384
    // channels ran 10-50% slower with copies (the halo rows copied again per window).
    const i64 sets = l1_sets_reached(p.xs * 4);
    // Tile pairs (see dw::Params::pair): AVX2 tiles of the W-specialised blocks only.
    const bool can_pair = lanes == 8 && dw::specialised(p);
    // 3x3 at stride 1 where the stride reaches 2 sets (512 channels) on rows of 14 pixels or
    // more: tile pairs (below) in place of the copy, which took half the samples of
    // mnv1_dw_512. 1T medians of 5-7 interleaved runs, copy -> pairs: mnv1_dw_512 25.8 ->
    // 34.6 GFLOP/s (2T 50.3 -> 57.0), 28x28x512 20.6 -> 27.7 (2T 60.1 -> 69.7), 14x20x512
    // 32.2 -> 37.3, 14x14x1536 34.5 -> 35.3. Not taken: 1 set (1024 channels: mnv1_dw_1024
    // 29.0 -> 26.6, 14x14x1024 36.1 -> 26.8), and rows narrower than 14 (10x10x512 46.0 ->
    // 38.7, 7x7x512 49.5 -> 42.9), where 4-pixel blocks load 30% more per FMA.
    const bool pair_s1 =
        can_pair && g.kh == 3 && g.kw == 3 && g.sw == 1 && !p.prefetch && sets == 2 && p.wo >= 14;
    // 3x3 stride 2 on pixel strides that reach at most 4 of L1's 64 sets (256, 512, 768, 1024
    // channels): a block of single 8-lane tiles reads (2B + 1) x 3 half lines that all fall
    // into those sets, more than they hold, so the second half of each line was gone again
    // when the next tile came to read it. 1T A/B, single -> pairs (medians of 3 interleaved
    // runs): mnv1_dw_256_s2 16.9 -> 24.7 GFLOP/s, 56x56x256 s2 14.6 -> 18.2, 14x14x256 s2
    // 20.4 -> 23.5; stride 1 at 256 channels (30% more loads per FMA with 4-pixel blocks)
    // 32.4 -> 27.8, and at 96-144 channels (no folding) 20-30% slower. Pairs, never the copy:
    // at stride 2 each copied vector feeds only about a quarter of the taps it feeds at
    // stride 1. 1T medians of 3 interleaved runs, copy -> pairs: 14x14x512 s2 (MobileNetV1)
    // 9.9 -> 20.9 GFLOP/s, 28x28x512 s2 8.2 -> 18.4, 56x56x512 s2 2.2 -> 19.1, 14x14x1024 s2
    // 11.7 -> 15.7, 28x28x1024 s2 9.1 -> 13.3, 14x14x1536 s2 11.2 -> 20.2. At 8 sets (384
    // channels) pairs were slower (24.4 -> 21.6), so those keep single tiles.
    const bool pair_s2 = can_pair && g.kw == 3 && g.sw == 2 && g.c_out >= 2 * lanes && sets <= 4;
    // 5x5 and 7x7 at stride 2 on 4-8 sets (128-384 channels, or multiples): tile pairs, the
    // taps read from memory (2 x 4 accumulators). A 7-pixel block of one tile reads 7 rows x
    // 19 columns, 133 lines, on 8 sets whose 64 ways the rows, 28 or 56 pixels apart, share;
    // the next tile then read each line's other half again (28x28 7x7 s2: 21.4 GFLOP/s at 128
    // channels, 29.5-31.2 at 120, 136 and 144). 1T medians of 3 interleaved runs, single ->
    // pairs: 28x28x128 7x7 s2 20.6 -> 29.8, 56x56x128 7x7 s2 21.6 -> 29.5, 28x28x256 5x5 s2
    // 20.9 -> 27.8, 56x56x128 5x5 s2 24.0 -> 32.2, 28x28x384 5x5 s2 19.4 -> 22.7, 56x56x256
    // 7x7 s2 15.5 -> 22.0, 14x14x384 7x7 s2 34.6 -> 44.9. On 1-2 sets (copied) pairs lost:
    // 14x14x1024 5x5 s2 34.0 -> 17.1, 28x28x512 7x7 s2 36.4 -> 24.4.
    const bool pair_big = can_pair && (g.kw == 5 || g.kw == 7) && g.sw == 2 &&
                          g.c_out >= 2 * lanes && !p.prefetch && sets >= 4 && sets <= 8;
    const bool pair = pair_s1 || pair_s2 || pair_big;
    // Strided 5x5 and 7x7 copy only where the stride reaches 1 or 2 sets. 1T medians of 3,
    // copy -> in place: 28x28x256 5x5 s2 (4 sets) 18.0 -> 21.8, 56x56x128 7x7 s2 (8 sets)
    // 16.2 -> 21.8, but 14x14x512 5x5 s2 (2 sets) 19.0 -> 13.5.
    const bool strided = g.sh > 1 || g.sw > 1;
    p.pack = g.cog == 1 && !p.prefetch && sets <= 8 &&
             (g.kh * g.kw >= 25 ? !strided || sets <= 2 : sets <= 2) && !pair;
    if (p.pack) {
      const i64 win_rows = (g.kh - 1) * g.dh + 1 + 2 * g.sh;
      const i64 fit = dw::kPackFloats / std::max<i64>(1, win_rows * p.w * lanes);
      if (fit < 1) {
        p.pack = false;
      } else if (fit < p.group) {
        p.group = fit;
        p.groups = (p.tiles + p.group - 1) / p.group;
      }
    }
    p.bmax = dw::specialised(p) ? dw::spec_bmax(lanes, g.kw) : dw::generic_bmax(lanes, g.cog);
    p.pair = pair;
    if (p.pair) {
      p.bmax = dw::kPairBmax;
      // Whole pixels per task (up to kMaxGroupTiles, 1 KB): each pass over the rows then
      // reads them in address order, where two 512-byte groups each read every other half of
      // every pixel. 1T / 2T medians of 9 interleaved runs, 512 B -> 1 KB groups:
      // mnv1_dw_256_s2 19.3 -> 20.9 / 35.4 -> 38.7 GFLOP/s, 56x56x256 s2 19.0 -> 19.9 /
      // 37.9 -> 39.2, 14x14x256 s2 24.1 -> 25.2 / 36.3 -> 37.3; 28x28x768 s2 (7 runs)
      // 20.0 -> 21.9 / 40.0 -> 42.3.
      p.group = std::min<i64>(dw::kMaxGroupTiles, p.tiles);
      p.groups = (p.tiles + p.group - 1) / p.group;
    }

    // A channel tail where masks are costly (AVX2's vmaskmovps store, the portable
    // emulation): the last tile is moved back to end at c_out and runs as a full tile. Its
    // first lanes recompute channels of the tile before it, in the same task (the last group
    // holds both) and in the same order of operations, so they store the same bits again.
    // With a multiplier the tail keeps its masks (lane permutation).
    p.shift_tail = isa != Isa::kAvx512 && g.cog == 1 && g.c_out % lanes != 0 && g.c_out > lanes &&
                   p.tiles - (p.groups - 1) * p.group >= 2;

    // Row tiles: the input rows of a tile (all channels) fit in L2, with the next tile's new
    // rows too where they are prefetched, and enough tasks overall.
    const i64 row_bytes = std::max<i64>(1, g.w * g.c_in * 4);
    const i64 budget = p.prefetch ? kPrefetchTileBytes : kRowTileBytes;
    const i64 in_rows = std::max<i64>(1, budget / row_bytes - (g.kh - 1) * g.dh);
    i64 rows = std::max<i64>(1, in_rows / (p.prefetch ? 2 * g.sh : g.sh));
    const i64 per_image = std::max<i64>(1, g.n * p.groups);
    const i64 want_row_tiles = (kMinTasks + per_image - 1) / per_image;
    rows = std::min(rows, std::max<i64>(1, (g.ho + want_row_tiles - 1) / want_row_tiles));
    rows = std::min(rows, std::max<i64>(1, g.ho));
    p.strip_blocks = strip_blocks(p, p.bmax, lanes * p.group * 4);
    // Row bands (the cache-resident task order, see dw::Params) where the channel groups are
    // long: with fewer images than threads, each thread gets rows of its own. Two threads
    // running the two or three 512-byte groups of one row at once ran mnv2_dw3-5 at half
    // their 1-thread speed, both threads slow, about one run in three; rows of their own ran
    // them 10-40% faster than the good runs too. With 128-byte groups (7x7 kernels) the
    // threads' groups lie far apart and bands only cost (halo rows read twice, uneven bands).
    p.bands = 1;
    if (long_groups && pr.threads > 1 && g.n < pr.threads) {
      // One-row tiles: a thread still runs its consecutive rows of a group as one task (see
      // run_tasks), and the split between threads falls within a row of the even share.
      rows = 1;
      p.bands = std::clamp<i64>((pr.threads + g.n - 1) / std::max<i64>(1, g.n), 1,
                                std::max<i64>(1, g.ho));
    }
    p.rows_per_task = rows;
    p.row_tiles = (g.ho + rows - 1) / rows;
    // Only whole 64-byte lines are streamed: narrower tiles would write half lines, which the
    // write-combining buffers flush partially (an 8-lane AVX2 tile ran 30x slower so).
    const bool large = g.output_elements() * 4 > kStreamBytes;
    p.stream = lanes == 16 && large;
    // 8-lane tiles stream through a staging buffer that holds whole lines of every pixel
    // (+10% on convnext_dw2_b16, +30% on mnv2_dw3_b16): the channel groups must cover whole
    // 64-byte lines (16 channels), with no channel tail.
    p.stage = lanes == 8 && large && g.c_out % 16 == 0 && p.group % 2 == 0;
    if (p.stage) p.pack = false;

    // Packed filter [tile][kh][kw][lanes] (HWIO with I = 1 is [kh][kw][c_out]) and bias
    // [tile][lanes], from each tile's first output channel (dw::tile_base); zero tails.
    const i64 taps = g.kh * g.kw;
    filter_.reset(static_cast<std::size_t>(p.tiles * taps * lanes) * sizeof(float));
    bias_.reset(static_cast<std::size_t>(p.tiles * lanes) * sizeof(float));
    float* f = filter_.floats();
    float* b = bias_.floats();
    std::fill_n(f, p.tiles * taps * lanes, 0.0f);
    std::fill_n(b, p.tiles * lanes, 0.0f);
    for (i64 t = 0; t < p.tiles; ++t) {
      const i64 o0 = dw::tile_base(p, t);
      for (i64 j = 0; j < lanes && o0 + j < g.c_out; ++j) {
        for (i64 k = 0; k < taps; ++k) {
          f[(t * taps + k) * lanes + j] = pr.filter_hwio[k * g.c_out + o0 + j];
        }
        if (pr.bias != nullptr) b[t * lanes + j] = pr.bias[o0 + j];
      }
    }
    p.filter = filter_.floats();
    p.bias = bias_.floats();
  }

  [[nodiscard]] std::string name() const override {
    const dw::Params& p = p_;
    std::string s = "dwconv_";
    if (!dw::specialised(p)) s += "any_";
    s += std::to_string(p.kh) + "x" + std::to_string(p.kw) + "s" + std::to_string(p.sh);
    if (p.sw != p.sh) s += "x" + std::to_string(p.sw);
    const i64 dil_w = p.phases > 1 ? p.phases : p.dw;
    if (p.dh != 1 || dil_w != 1) {
      s += "d" + std::to_string(p.dh);
      if (dil_w != p.dh) s += "x" + std::to_string(dil_w);
    }
    if (p.m != 1) s += "_m" + std::to_string(p.m);
    s += "_" + std::to_string(p.lanes) + "c_";
    if (p.pair) s += "pairs_";
    s += to_string(isa_);
    return s;
  }
  [[nodiscard]] i64 num_tasks() const override { return p_.n * p_.row_tiles * p_.groups; }
  // Row bands give each thread rows of its own (see dw::Params). With several channel groups
  // a thread taking over the end of another's band (the last group's last rows) writes pixels
  // near the rows that thread is writing, in the neighbouring channels: 2-thread A/B on
  // MobileNetV2's 3x3 layers (balanced / static, medians of 5-7 interleaved runs, three
  // batches) ranged 0.73-1.38, no better on the whole. With one group it takes rows far
  // from the owner's (mnv2_dw1: 1.17-1.32).
  [[nodiscard]] bool balanced() const override { return p_.bands == 1 || p_.groups == 1; }
  void run(const float* x, float* y, i64 begin, i64 end, void* /*scratch*/) const override {
    for_each_phase(p_, x, y, [&](const dw::Params& q, const float* xq, float* yq) {
      run_(q, xq, yq, begin, end);
    });
  }

 private:
  Isa isa_;
  RunFn run_ = nullptr;
  dw::Params p_{};
  AlignedBuffer filter_;
  AlignedBuffer bias_;
};

}  // namespace

std::unique_ptr<Kernel> make_depthwise_kernel(const KernelProblem& p, std::string* why_not) {
  const Geometry& g = *p.g;
  if (g.cig != 1) {
    *why_not = "needs 1 input channel per group, got " + std::to_string(g.cig);
    return nullptr;
  }
  if (g.output_elements() == 0 && g.n != 0) {
    *why_not = "empty output";
    return nullptr;
  }
  if (const auto mode = tile_mode(p)) {
    if (auto k = make_dw_tile_kernel(p, *mode)) return k;
  }
  return std::make_unique<DepthwiseKernel>(p, p.isa);
}

}  // namespace groupconv::detail
