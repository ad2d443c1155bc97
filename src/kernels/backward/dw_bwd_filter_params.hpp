// Depthwise filter gradient (multiplier 1): parameters shared by the per-ISA translation
// units. Plain data only (see the ODR note in dw_bwd_filter_impl.inc).
#pragma once

#include <cstdint>

namespace groupconv::detail {

struct DwBwdFilterParams {
  std::int64_t n, h, w, c;  // input (NHWC), c = C_in = C_out
  std::int64_t ho, wo;      // output
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  // Decomposition (geometry only, never the thread count): task = tile * groups + group.
  // A tile is `tile_rows` consecutive rows of the flattened (n, oh) range; a group is a
  // contiguous range of channel vectors. Tile t accumulates into its own slice
  // part + t * part_stride ([KH*KW][C] then [C] for db); tiles > 1 are summed afterwards
  // in tile order by dw_bwd_filter_reduce, so the result is the same for any thread count.
  std::int64_t tiles, groups, tile_rows;
  std::int64_t strip_rows;    // rows per register-resident strip inside a tile
  std::int64_t ow_lo, ow_hi;  // interior output columns: every tap inside the input
  float* part;                // tiles > 1: tiles * part_stride floats
  std::int64_t part_stride;   // (KH*KW + 1) * C
  // Layers that stream from DRAM: each strip's new x rows and its dy rows are read once in
  // address order before the strip's passes over the channel vectors (see entry()).
  bool touch;
  // Stride between taps of dw (and of the tiles' partials): C. The passes address x and dy
  // with c as the pixel stride, which differs from acc_c when they run on packed copies.
  std::int64_t acc_c;
  // Pixel strides that fold onto few L1 sets (see init_depthwise): each strip's x rows and
  // dy rows are first copied, 128 bytes of channels at a time, into one contiguous image per
  // channel vector (see entry()).
  bool pack;
  // dy's pixel stride in the passes: c, except on packed x rows whose dy rows are read in
  // place (C; see entry()).
  std::int64_t dyc;
  // With p.pack: copy only the x rows, read the dy rows in place, where one pass over a
  // channel vector covers every kernel row (each dy vector is then read once per strip).
  bool dy_in_place;
};

// Most pixels of a strip's x rows (and of its dy rows) that p.pack copies; larger strips
// run on x and dy themselves.
constexpr std::int64_t kPackPixels = 256;

// Most taps for which a channel tail runs shifted (a full vector ending at C, see entry()).
constexpr std::int64_t kShiftTaps = 49;

// Runs tasks [begin, end). With tiles == 1 the tasks write dw (HWIO [KH][KW][1][C]) and db
// (C values, when non-null) directly; otherwise they fill p.part.
using DwBwdFilterFn = void (*)(const DwBwdFilterParams& p, const float* x, const float* dy,
                               float* dw, float* db, std::int64_t begin, std::int64_t end);

// Sums the tiles' partials in tile order into dw and db, for the element range
// [begin, end) of [0, (KH*KW + 1) * C) (the last C are db; skipped when db is null).
void dw_bwd_filter_reduce(const DwBwdFilterParams& p, float* dw, float* db, std::int64_t begin,
                          std::int64_t end);

// Lanes per vector of each ISA's variant and the variants themselves.
constexpr std::int64_t kDwBwdLanesAvx512 = 16;
constexpr std::int64_t kDwBwdLanesAvx2 = 8;
constexpr std::int64_t kDwBwdLanesPortable = 8;
void dw_bwd_filter_avx512(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                          float* db, std::int64_t begin, std::int64_t end);
void dw_bwd_filter_avx2(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                        float* db, std::int64_t begin, std::int64_t end);
void dw_bwd_filter_portable(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw,
                            float* db, std::int64_t begin, std::int64_t end);

}  // namespace groupconv::detail
