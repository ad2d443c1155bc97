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

struct TileCtx {
  const float* w;  // this tile's packed weights [kh][kw][cig][vt * L]
  const float* b;  // [vt * L]
  const std::int32_t* idx;
  i64 in_base, out_base;
  Vec::M in0, in1;    // input lanes of the tile (first / second vector)
  Vec::M out0, out1;  // output lanes
};

// ---- sources: how x_j is formed -------------------------------------------------------

struct SrcBcast {
  static constexpr int kCig = 0;
  using Prep = const float*;
  static Prep prep(const float* p, const TileCtx&) { return p; }
  static Vec::R get(Prep p, int j, const TileCtx&) { return Vec::bcast(p + j); }
};

template <int CIG>
struct SrcLane {  // CIG = 2 or 4
  static constexpr int kCig = CIG;
  using Prep = Vec::R;
  static Prep prep(const float* p, const TileCtx& t) { return Vec::loadm(p, t.in0); }
  static Vec::R get(Prep v, int j, const TileCtx&) {
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

#if defined(NARROW_HAS_LANE8)
struct SrcLane8 {
  static constexpr int kCig = 8;
  struct Prep {
    Vec::R lo, hi;
  };
  static Prep prep(const float* p, const TileCtx& t) {
    const Vec::R v = Vec::loadm(p, t.in0);
    return {Vec::dup_even_blocks(v), Vec::dup_odd_blocks(v)};
  }
  static Vec::R get(const Prep& q, int j, const TileCtx&) {
    switch (j) {
      case 0:
        return Vec::lperm<0x00>(q.lo);
      case 1:
        return Vec::lperm<0x55>(q.lo);
      case 2:
        return Vec::lperm<0xAA>(q.lo);
      case 3:
        return Vec::lperm<0xFF>(q.lo);
      case 4:
        return Vec::lperm<0x00>(q.hi);
      case 5:
        return Vec::lperm<0x55>(q.hi);
      case 6:
        return Vec::lperm<0xAA>(q.hi);
      default:
        return Vec::lperm<0xFF>(q.hi);
    }
  }
};
#endif

struct SrcPerm1 {
  static constexpr int kCig = 0;
  using Prep = Vec::R;
  static Prep prep(const float* p, const TileCtx& t) { return Vec::loadm(p, t.in0); }
  static Vec::R get(Prep v, int j, const TileCtx& t) { return Vec::perm1(t.idx + j * Vec::L, v); }
};

struct SrcPerm2 {
  static constexpr int kCig = 0;
  struct Prep {
    Vec::R a, b;
  };
  static Prep prep(const float* p, const TileCtx& t) {
    return {Vec::loadm(p, t.in0), Vec::loadm(p + Vec::L, t.in1)};
  }
  static Vec::R get(const Prep& q, int j, const TileCtx& t) {
    return Vec::perm2(t.idx + j * Vec::L, q.a, q.b);
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
      Vec::storem(y + p * c_out, acc[p][0], t.out0);
      if constexpr (VT == 2) Vec::storem(y + p * c_out + Vec::L, acc[p][1], t.out1);
    }
  }
}

// Fixed kernel width KW, stride SW, dilation 1: column-major over the block's input columns.
template <class S, int VT, int KW, int SW, int P, bool EDGE>
void block_fixed(const NarrowParams& q, const TileCtx& t, const float* x_img, float* y_px, i64 oh,
                 i64 ow0, int np) {
  constexpr int NC = (P - 1) * SW + KW;
  const int ncig = S::kCig != 0 ? S::kCig : static_cast<int>(q.cig);
  const int last_col = (np - 1) * SW + KW - 1;
  Vec::R acc[P][VT];
  init_acc<VT, P>(acc, t);
  const i64 iw0 = ow0 * SW - q.pad_left;
  for (i64 kh = 0; kh < q.kh; ++kh) {
    const i64 ih = oh * q.sh - q.pad_top + kh * q.dh;
    if (ih < 0 || ih >= q.h) continue;
    const float* xr = x_img + ih * q.w * q.c_in + t.in_base;
    const float* wk = t.w + kh * KW * ncig * VT * Vec::L;
#pragma GCC unroll 64
    for (int c = 0; c < NC; ++c) {
      const i64 iw = iw0 + c;
      if (EDGE && (iw < 0 || iw >= q.w || c > last_col)) continue;
      const auto pr = S::prep(xr + iw * q.c_in, t);
#pragma GCC unroll 16
      for (int j = 0; j < ncig; ++j) {
        const Vec::R xj = S::get(pr, j, t);
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; ++kw) {
          const int d = c - kw;
          if (d < 0 || d % SW != 0 || d / SW >= P) continue;
          const int p = d / SW;
          if (EDGE && p >= np) continue;
          const float* wp = wk + (kw * ncig + j) * VT * Vec::L;
          acc[p][0] = Vec::fma(xj, Vec::load(wp), acc[p][0]);
          if constexpr (VT == 2) acc[p][1] = Vec::fma(xj, Vec::load(wp + Vec::L), acc[p][1]);
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
#pragma GCC unroll 32
      for (int p = 0; p < P; ++p) {
        const i64 iw = iwk + p * q.sw;
        if (EDGE && (p >= np || iw < 0 || iw >= q.w)) continue;
        const auto pr = S::prep(xr + iw * q.c_in, t);
#pragma GCC unroll 16
        for (int j = 0; j < ncig; ++j) {
          const Vec::R xj = S::get(pr, j, t);
          const float* wp = wk + j * VT * Vec::L;
          acc[p][0] = Vec::fma(xj, Vec::load(wp), acc[p][0]);
          if constexpr (VT == 2) acc[p][1] = Vec::fma(xj, Vec::load(wp + Vec::L), acc[p][1]);
        }
      }
    }
  }
  store_acc<VT, P>(acc, y_px, q.c_out, np, t);
}

using BlockFn = void (*)(const NarrowParams&, const TileCtx&, const float*, float*, i64, i64, int);

struct RowFns {
  BlockFn interior, edge;
  int p;
};

template <class S, int VT, int P>
RowFns pick_row_fns(const NarrowParams& q) {
  if (q.dw == 1 && q.kw == 3 && q.sw == 1) {
    return {&block_fixed<S, VT, 3, 1, P, false>, &block_fixed<S, VT, 3, 1, P, true>, P};
  }
  if (q.dw == 1 && q.kw == 3 && q.sw == 2) {
    return {&block_fixed<S, VT, 3, 2, P, false>, &block_fixed<S, VT, 3, 2, P, true>, P};
  }
  if (q.dw == 1 && q.kw == 5 && q.sw == 1) {
    return {&block_fixed<S, VT, 5, 1, P, false>, &block_fixed<S, VT, 5, 1, P, true>, P};
  }
  return {&block_generic<S, VT, P, false>, &block_generic<S, VT, P, true>, P};
}

inline TileCtx make_tile(const NarrowParams& q, i64 tile) {
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
  t.in0 = Vec::mask(span);
  t.in1 = Vec::mask(span - Vec::L);
  t.out0 = Vec::mask(lanes);
  t.out1 = Vec::mask(lanes - Vec::L);
  return t;
}

template <class S, int VT, int P>
void run_tasks(const NarrowParams& q, const float* x, float* y, i64 begin, i64 end) {
  const RowFns f = pick_row_fns<S, VT, P>(q);
  // Output pixels whose taps all lie inside the row: [ow_lo, ow_hi).
  const i64 ow_lo = (q.pad_left + q.sw - 1) / q.sw;
  const i64 reach = q.w - 1 + q.pad_left - (q.kw - 1) * q.dw;
  const i64 ow_hi = reach < 0 ? 0 : reach / q.sw + 1;
  for (i64 task = begin; task < end; ++task) {
    const i64 tile = task % q.tiles;
    const i64 rest = task / q.tiles;
    const i64 rt = rest % q.row_tiles;
    const i64 n = rest / q.row_tiles;
    const TileCtx t = make_tile(q, tile);
    const float* x_img = x + n * q.h * q.w * q.c_in;
    const i64 oh_end = (rt + 1) * q.rows_per_task < q.ho ? (rt + 1) * q.rows_per_task : q.ho;
    for (i64 oh = rt * q.rows_per_task; oh < oh_end; ++oh) {
      float* y_row = y + (n * q.ho + oh) * q.wo * q.c_out + t.out_base;
      for (i64 ow = 0; ow < q.wo; ow += f.p) {
        const int np = static_cast<int>(q.wo - ow < f.p ? q.wo - ow : f.p);
        const bool inside = np == f.p && ow >= ow_lo && ow + np <= ow_hi;
        (inside ? f.interior : f.edge)(q, t, x_img, y_row + ow * q.c_out, oh, ow, np);
      }
    }
  }
}

}  // namespace
