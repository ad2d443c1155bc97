// Narrow-group kernel body, shared by the AVX-512 and AVX2 translation units. Each includes
// <immintrin.h>, defines `struct Vec` (vector width, masked loads/stores, permutes) in its
// own anonymous namespace, then includes this file: every function here gets internal
// linkage and is compiled once per ISA.
//
// A tile is `gt` whole groups: gt * Cog output lanes (one vector, or two for AVX2 with Cog > 8)
// fed by gt * Cig contiguous input channels. For every input pixel the loop forms, for each j
// < Cig, the vector "input channel j of the lane's own group" (broadcast, in-lane permute,
// block shuffle + permute or variable permute, see NarrowMode) and multiplies it by the packed
// per-lane weights of every tap that reads that pixel. An output block is P pixels along W
// held in registers; in the fixed paths (KW, SW known, dilation 1) each input column of the
// block is loaded and permuted once and reused by every tap that reads it. Blocks that touch
// the padding or the row's end run the same code with the out-of-range columns and pixels
// skipped, so padded taps cost nothing.
#pragma once

namespace {

using i64 = std::int64_t;
using groupconv::detail::NarrowMode;
using groupconv::detail::NarrowParams;

// Read instead of the columns outside the input in edge blocks (two vectors for kPerm2).
alignas(64) constexpr float kZeros[2 * Vec::L] = {};

struct TileCtx {
  const float* w;  // this tile's packed weights [kh][kw][cig][vt * L]
  const float* b;  // [vt * L]
  const std::int32_t* idx;
  i64 in_base, out_base;
  bool full_in;       // a whole vector from in_base stays inside the pixel: plain loads
  bool full_out;      // every lane of the tile's vectors is an output of this tile
  Vec::M in0, in1;    // input lanes of the tile (first / second vector)
  Vec::M out0, out1;  // output lanes
};

inline Vec::R load_in(const float* p, Vec::M m, bool full) {
  return full ? Vec::loadu(p) : Vec::loadm(p, m);
}

// ---- sources: how x_j ("input channel j of the lane's own group") is formed --------------

// get(): any tile; get_full(): tiles whose vector loads stay inside the pixel (t.full_in).
struct SrcBcast {
  static constexpr int kCig = 0;
  static Vec::R get(const float* p, int j, const TileCtx&) { return Vec::bcast(p + j); }
  static Vec::R get_full(const float* p, int j, const TileCtx&) { return Vec::bcast(p + j); }
};

template <int CIG>
struct SrcLane {  // Cig = Cog = CIG = 2 or 4: in-128-bit-lane permute with an immediate
  static constexpr int kCig = CIG;
  static Vec::R get(const float* p, int j, const TileCtx& t) {
    return pick(load_in(p, t.in0, t.full_in), j);
  }
  static Vec::R get_full(const float* p, int j, const TileCtx&) { return pick(Vec::loadu(p), j); }
  static Vec::R pick(Vec::R v, int j) {
    if constexpr (CIG == 4) {
      switch (j) {
        case 0:
          return Vec::lperm<0x00>(v);
        case 1:
          return Vec::lperm<0x55>(v);
        case 2:
          return Vec::lperm<0xAA>(v);
        default:
          return Vec::lperm<0xFF>(v);
      }
    } else {
      return j == 0 ? Vec::lperm<0xA0>(v) : Vec::lperm<0xF5>(v);
    }
  }
};

struct SrcPerm1 {
  static constexpr int kCig = 0;
  static Vec::R get(const float* p, int j, const TileCtx& t) {
    return Vec::perm1(t.idx + j * Vec::L, load_in(p, t.in0, t.full_in));
  }
  static Vec::R get_full(const float* p, int j, const TileCtx& t) {
    return Vec::perm1(t.idx + j * Vec::L, Vec::loadu(p));
  }
};

struct SrcPerm2 {
  static constexpr int kCig = 0;
  static Vec::R get(const float* p, int j, const TileCtx& t) {
    return Vec::perm2(t.idx + j * Vec::L, load_in(p, t.in0, t.full_in),
                      Vec::loadm(p + Vec::L, t.in1));
  }
  static Vec::R get_full(const float* p, int j, const TileCtx& t) {
    return Vec::perm2(t.idx + j * Vec::L, Vec::loadu(p), Vec::loadm(p + Vec::L, t.in1));
  }
};

// ---- one block of up to P output pixels -------------------------------------------------

template <int VT, int P>
inline void init_acc(Vec::R (&acc)[P][VT], const TileCtx& t) {
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 2
    for (int v = 0; v < VT; ++v) acc[p][v] = Vec::load(t.b + v * Vec::L);
  }
}

template <int VT, int P>
inline void store_acc(const Vec::R (&acc)[P][VT], float* y, i64 c_out, int np, const TileCtx& t) {
#pragma GCC unroll 32
  for (int p = 0; p < P; ++p) {
    if (p < np) {
      if (t.full_out) {
        Vec::storeu(y + p * c_out, acc[p][0]);
        if constexpr (VT == 2) Vec::storeu(y + p * c_out + Vec::L, acc[p][1]);
      } else {
        Vec::storem(y + p * c_out, acc[p][0], t.out0);
        if constexpr (VT == 2) Vec::storem(y + p * c_out + Vec::L, acc[p][1], t.out1);
      }
    }
  }
}

// Fixed kernel width KW, stride SW, dilation 1. For each input channel j of the group, the
// KW weight vectors stay in registers while the block's input columns stream past: each
// column is loaded and permuted once per j and feeds every tap that reads it.
template <class S, int VT, int KW, int SW, int P, bool EDGE>
void block_fixed(const NarrowParams& q, const TileCtx& t, const float* x_img, float* y_px, i64 oh,
                 i64 ow0, int np) {
  constexpr int NC = (P - 1) * SW + KW;
  const int ncig = S::kCig != 0 ? S::kCig : static_cast<int>(q.cig);
  static_assert(NC <= 32, "column mask is 32 bits");
  Vec::R acc[P][VT];
  init_acc<VT, P>(acc, t);
  const i64 iw0 = ow0 * SW - q.pad_left;
  // Edge blocks: the columns inside the row that some pixel < np reads; the others read a
  // zero vector instead (branch-free; the padded taps of the block's border pixels cost
  // FMAs, the rest of the row none). Pixels >= np are computed but never stored.
  std::uint32_t cols = 0;
  if constexpr (EDGE) {
    const i64 last_col = (np - 1) * SW + KW - 1;
    for (int c = 0; c < NC; ++c) {
      if (iw0 + c >= 0 && iw0 + c < q.w && c <= last_col) cols |= 1u << c;
    }
  }
  for (i64 kh = 0; kh < q.kh; ++kh) {
    const i64 ih = oh * q.sh - q.pad_top + kh * q.dh;
    if (ih < 0 || ih >= q.h) continue;
    const float* xr = x_img + (ih * q.w + iw0) * q.c_in + t.in_base;
    const float* wk = t.w + kh * KW * ncig * VT * Vec::L;
#pragma GCC unroll 4
    for (int j = 0; j < ncig; ++j) {
      // Opaque to the optimiser: the column loads stay inside this loop instead of being
      // hoisted (and spilled) as loop invariants.
      const float* xc = xr;
      __asm__ volatile("" : "+r"(xc));
      Vec::R w[KW][VT];
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        const float* wp = wk + (kw * ncig + j) * VT * Vec::L;
        w[kw][0] = Vec::load(wp);
        if constexpr (VT == 2) w[kw][1] = Vec::load(wp + Vec::L);
      }
#pragma GCC unroll 64
      for (int c = 0; c < NC; ++c) {
        const float* xp = xc + c * q.c_in;
        if (EDGE) xp = ((cols >> c) & 1u) != 0 ? xp : kZeros;
        const Vec::R xj = S::get_full(xp, j, t);
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; ++kw) {
          const int d = c - kw;
          if (d < 0 || d % SW != 0 || d / SW >= P) continue;
          const int p = d / SW;
          acc[p][0] = Vec::fma(xj, w[kw][0], acc[p][0]);
          if constexpr (VT == 2) acc[p][1] = Vec::fma(xj, w[kw][1], acc[p][1]);
        }
      }
    }
  }
  store_acc<VT, P>(acc, y_px, q.c_out, np, t);
}

// Any kernel width, stride and dilation: tap-major, one permute per tap and pixel.
template <class S, int VT, int P, bool EDGE>
void block_generic(const NarrowParams& q, const TileCtx& t, const float* x_img, float* y_px, i64 oh,
                   i64 ow0, int np) {
  const int ncig = S::kCig != 0 ? S::kCig : static_cast<int>(q.cig);
  Vec::R acc[P][VT];
  init_acc<VT, P>(acc, t);
  const i64 iw0 = ow0 * q.sw - q.pad_left;
  for (i64 kh = 0; kh < q.kh; ++kh) {
    const i64 ih = oh * q.sh - q.pad_top + kh * q.dh;
    if (ih < 0 || ih >= q.h) continue;
    const float* xr = x_img + ih * q.w * q.c_in + t.in_base;
    for (i64 kw = 0; kw < q.kw; ++kw) {
      const float* wk = t.w + (kh * q.kw + kw) * ncig * VT * Vec::L;
      const i64 iwk = iw0 + kw * q.dw;
#pragma GCC unroll 1
      for (int j = 0; j < ncig; ++j) {
        const float* wp = wk + j * VT * Vec::L;
        const Vec::R w0 = Vec::load(wp);
        const Vec::R w1 = VT == 2 ? Vec::load(wp + Vec::L) : w0;
#pragma GCC unroll 32
        for (int p = 0; p < P; ++p) {
          const i64 iw = iwk + p * q.sw;
          if (EDGE && (p >= np || iw < 0 || iw >= q.w)) continue;
          const Vec::R xj = S::get(xr + iw * q.c_in, j, t);
          acc[p][0] = Vec::fma(xj, w0, acc[p][0]);
          if constexpr (VT == 2) acc[p][1] = Vec::fma(xj, w1, acc[p][1]);
        }
      }
    }
  }
  store_acc<VT, P>(acc, y_px, q.c_out, np, t);
}

using BlockFn = void (*)(const NarrowParams&, const TileCtx&, const float*, float*, i64, i64, int);

struct RowFns {
  BlockFn interior, edge;  // fixed path (generic when the geometry has none)
  int p;
  BlockFn slow;  // tiles whose vector loads would leave the pixel: masked loads
  int p_slow;
};

// P3: block for the 3-wide fixed paths, P5: 5-wide, PG: generic.
template <class S, int VT, int P3, int P5, int PG>
RowFns pick_row_fns(const NarrowParams& q) {
  if (q.dw == 1 && q.kw == 3 && q.sw == 1) {
    return {&block_fixed<S, VT, 3, 1, P3, false>, &block_fixed<S, VT, 3, 1, P3, true>, P3,
            &block_generic<S, VT, PG, true>, PG};
  }
  if (q.dw == 1 && q.kw == 3 && q.sw == 2) {
    return {&block_fixed<S, VT, 3, 2, P3, false>, &block_fixed<S, VT, 3, 2, P3, true>, P3,
            &block_generic<S, VT, PG, true>, PG};
  }
  if (q.dw == 1 && q.kw == 5 && q.sw == 1) {
    return {&block_fixed<S, VT, 5, 1, P5, false>, &block_fixed<S, VT, 5, 1, P5, true>, P5,
            &block_generic<S, VT, PG, true>, PG};
  }
  return {&block_generic<S, VT, PG, false>, &block_generic<S, VT, PG, true>, PG,
          &block_generic<S, VT, PG, true>, PG};
}

// tile_end: end of the task's chunk. A tile may store whole vectors even when its lanes end
// early, as long as the extra lanes are channels of later tiles of the same chunk: those
// tiles run later in the same task and rewrite them, so the result stays exact and
// deterministic, and slow masked stores (AVX2 vmaskmovps) are left to the chunk's end.
inline TileCtx make_tile(const NarrowParams& q, i64 tile, i64 tile_end) {
  TileCtx t{};
  const i64 per = q.kh * q.kw * q.cig * q.vt * Vec::L;
  t.w = q.wpack + tile * per;
  t.b = q.bpack + tile * q.vt * Vec::L;
  t.idx = q.idx;
  const i64 g0 = tile * q.gt;
  const i64 gn = q.groups - g0 < q.gt ? q.groups - g0 : q.gt;
  t.in_base = g0 * q.cig;
  t.out_base = g0 * q.cog;
  const i64 span = gn * q.cig;
  const i64 lanes = gn * q.cog;
  t.full_in = t.in_base + Vec::L <= q.c_in;
  const i64 chunk_out_end = tile_end * q.gt * q.cog < q.c_out ? tile_end * q.gt * q.cog : q.c_out;
  t.full_out = lanes == q.vt * Vec::L || t.out_base + q.vt * Vec::L <= chunk_out_end;
  t.in0 = Vec::mask(span);
  t.in1 = Vec::mask(span - Vec::L);
  t.out0 = Vec::mask(lanes);
  t.out1 = Vec::mask(lanes - Vec::L);
  return t;
}

template <class S, int VT, int P3, int P5, int PG>
void run_tasks(const NarrowParams& q, const float* x, float* y, i64 begin, i64 end) {
  const RowFns f = pick_row_fns<S, VT, P3, P5, PG>(q);
  // Output pixels whose taps all lie inside the row: [ow_lo, ow_hi).
  const i64 ow_lo = (q.pad_left + q.sw - 1) / q.sw;
  const i64 reach = q.w - 1 + q.pad_left - (q.kw - 1) * q.dw;
  const i64 ow_hi = reach < 0 ? 0 : reach / q.sw + 1;
  for (i64 task = begin; task < end; ++task) {
    const i64 chunk = task % q.tile_chunks;
    const i64 rest = task / q.tile_chunks;
    const i64 rt = rest % q.row_tiles;
    const i64 n = rest / q.row_tiles;
    const float* x_img = x + n * q.h * q.w * q.c_in;
    const i64 tile_end =
        (chunk + 1) * q.tiles_per_chunk < q.tiles ? (chunk + 1) * q.tiles_per_chunk : q.tiles;
    const i64 oh_end = (rt + 1) * q.rows_per_task < q.ho ? (rt + 1) * q.rows_per_task : q.ho;
    for (i64 oh = rt * q.rows_per_task; oh < oh_end; ++oh) {
      for (i64 tile = chunk * q.tiles_per_chunk; tile < tile_end; ++tile) {
        const TileCtx t = make_tile(q, tile, tile_end);
        float* y_row = y + (n * q.ho + oh) * q.wo * q.c_out + t.out_base;
        if (!t.full_in) {
          for (i64 ow = 0; ow < q.wo; ow += f.p_slow) {
            const int np = static_cast<int>(q.wo - ow < f.p_slow ? q.wo - ow : f.p_slow);
            f.slow(q, t, x_img, y_row + ow * q.c_out, oh, ow, np);
          }
          continue;
        }
        for (i64 ow = 0; ow < q.wo; ow += f.p) {
          i64 o = ow;
          int np = static_cast<int>(q.wo - ow < f.p ? q.wo - ow : f.p);
          // A short last block whose full-width copy ending at wo lies inside the row runs
          // that copy instead, as an interior block: its first pixels are computed again
          // (the same operations in the same order, so the same bits) rather than the edge
          // body computing pixels past the row and testing every column against it.
          if (np < f.p && q.wo >= f.p && q.wo - f.p >= ow_lo && q.wo <= ow_hi) {
            o = q.wo - f.p;
            np = f.p;
          }
          const bool inside = np == f.p && o >= ow_lo && o + np <= ow_hi;
          (inside ? f.interior : f.edge)(q, t, x_img, y_row + o * q.c_out, oh, o, np);
        }
      }
    }
  }
}

}  // namespace
