// The depthwise kernel body, written once over a SIMD traits struct `V` and included by each
// per-ISA translation unit INSIDE an anonymous namespace (after its own <immintrin.h> /
// <cstdint> includes), so every function here has internal linkage and an AVX-512 copy can
// never be picked by the linker for the baseline build (ODR). No includes and no include
// guard on purpose.
//
// V provides:
//   Reg, Mask, Idx                 vector of kLanes floats, lane mask, lane permutation
//   kLanes                         floats per vector
//   kMaxBlock                      widest output block along W that is instantiated
//   Reg load(const float*, Mask)   masked load (lanes outside the mask read as 0, not touched)
//   Reg load_aligned(const float*) full aligned load (packed filter / bias)
//   Reg zero()
//   Reg loadu(const float*)        full unaligned load
//   void storeu(float*, Reg)       full unaligned store
//   kCheapMasks                    masked loads/stores cost what plain ones do
//   Reg fma(a, b, c)               a * b + c
//   void store(float*, Reg, Mask)  masked store
//   void stream(float*, Reg)       full non-temporal store (address aligned to the vector)
//   void fence()                   orders the non-temporal stores
//   Mask mask(int n)               first n lanes
//   Idx index(const std::int32_t*) lane permutation from kLanes indices
//   Reg permute(Reg, Idx)          r[j] = v[idx[j]]
//
// Work decomposition (see dw_params.hpp): task = (image, tile of output rows, group of
// channel tiles, 128 or 512 bytes of each pixel).
// For each output row only the kernel rows that fall inside the input are visited. Along W the
// whole row, border pixels included, is cut into ceil(wo / bmax) near-equal blocks whose
// accumulators live in registers, so only widths [block_min(bmax), bmax] are instantiated (a
// row narrower than that is one block that stores only its wo pixels). When the geometry
// allows (KW in {3,5,7}, stride 1|2, dilation 1, m == 1) the specialised block keeps the KW
// taps of the current kernel row in registers and loads each input column of the block once,
// feeding every (pixel, tap) pair that reads it; blocks inside the input run with no test at
// all; blocks that reach into the padding read a zero vector for those columns through a
// per-kernel-row table of column addresses. The
// generic path (any KW, stride, dilation, multiplier) walks taps with the valid pixel range of
// each tap computed up front. A multiplier m > 1 is served by one lane permutation per loaded
// input vector (output lane j of the tile reads input channel (o0 + j) / m), never by a
// broadcast per output channel.
//
// Every output element is accumulated in the same order (bias, then kernel rows, then kernel
// columns) whatever the thread count: tasks are fixed, so the result is bit-identical.

using i64 = std::int64_t;
using Reg = typename V::Reg;

inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }

// What border blocks read for input columns in the padding.
alignas(64) constexpr float kZeros[16] = {};

// One channel tile of one image.
struct Tile {
  const float* x;  // input image + first input channel of the tile
  const float* w;  // packed taps of the tile [kh][kw][kLanes]
  typename V::Mask in_mask;
  typename V::Mask out_mask;
  typename V::Idx idx;
  Reg bias;
  i64 o0;  // first output channel
  bool stream;
};

// One output row of one tile: which kernel rows are inside the input.
struct Row {
  i64 ih0;  // input row of kernel row 0
  i64 kh_lo, kh_hi;
  float* y;  // output row, or the staging buffer
  // Pixel (ow0) channel (o0) lands at y + (o0 - o_off) + (ow0 - ow_off) * ys: the output row
  // itself (offsets 0, ys = c_out) or a block's staging buffer (see run_tasks).
  i64 ys, o_off, ow_off;
};

// Computes the B pixels of a block from ow0 for each of the nt tiles and stores the first n
// (n < B only for a row narrower than the narrowest instantiated block). The tiles of a group
// share one call: on narrow maps the call and its set-up cost as much as the FMAs.
using BlockFn = void (*)(const Params&, const Tile*, i64 nt, const Row&, i64 ow0, i64 n);

// Hides a pointer's value from the optimiser, so that a walk `q += stride` stays one add per
// step instead of KW..kJ loop-invariant offsets that spill general registers.
template <class T>
__attribute__((always_inline)) inline void opaque(T& q) {
  __asm__("" : "+r"(q));
}

template <int B, bool Full>
__attribute__((always_inline)) inline void store_block(const Tile& t, const Row& r, i64 ow0, i64 n,
                                                       const Reg* acc) {
  const i64 co = r.ys;
  float* yp = r.y + (t.o0 - r.o_off) + (ow0 - r.ow_off) * co;
  if ((Full || V::kCheapMasks) && t.stream) {  // stream is only set on full tiles
    unroll<B>([&](auto bc) {
      constexpr int b = decltype(bc)::value;
      if (b < n) V::stream(yp, acc[b]);
      yp += co;
      opaque(yp);
    });
  } else {
    unroll<B>([&](auto bc) {
      constexpr int b = decltype(bc)::value;
      if (b < n) {
        if constexpr (Full) {
          V::storeu(yp, acc[b]);
        } else {
          V::store(yp, acc[b], t.out_mask);
        }
      }
      yp += co;
      opaque(yp);
    });
  }
}

// Specialised block: B output pixels from ow0, KW taps per row, stride S along W, dilation 1.
// Interior and border blocks are separate functions: sharing one accumulator array between
// both paths made GCC keep it on the stack.
template <int KW, int S, int B, bool Full, bool Checked, int PL = 0, int PR = 0>
__attribute__((always_inline)) inline void spec_tile(const Params& p, const Tile& t, const Row& r,
                                                     i64 ow0, i64 n) {
  constexpr int kJ = (B - 1) * S + KW;  // input columns the block reads
  constexpr i64 L = V::kLanes;
  const i64 c = p.c_in;
  const i64 w = p.w;
  const i64 dh = p.dh;
  const float* const x = t.x;
  const float* const wt = t.w;
  const i64 iw0 = ow0 * S - p.pad_left;
  Reg acc[B];
  unroll<B>([&](auto bc) { acc[decltype(bc)::value] = t.bias; });
  auto taps = [&](const Reg& xv, const Reg* wv, auto jc) {
    constexpr int j = decltype(jc)::value;
    unroll<KW>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      constexpr int d = j - k;
      if constexpr (d >= 0 && d % S == 0 && d / S < B) {
        acc[d / S] = V::fma(xv, wv[k], acc[d / S]);
      }
    });
  };
  auto load_taps = [&](i64 kh, Reg* wv) {
    const float* wr = wt + kh * KW * L;
    unroll<KW>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      wv[k] = V::load_aligned(wr + k * L);
    });
  };
  if constexpr (!Checked) {
    // Interior block (PL = PR = 0): every column inside the input, no test, one pointer walk
    // per row. An edge block whose first PL / last PR columns are padding (known at compile
    // time) walks the same way over the columns in between and skips the padded ones.
    for (i64 kh = r.kh_lo; kh < r.kh_hi; ++kh) {
      Reg wv[KW];
      load_taps(kh, wv);
      const float* xp = x + ((r.ih0 + kh * dh) * w + iw0 + PL) * c;
      unroll<kJ>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        if constexpr (j >= PL && j < kJ - PR) {
          const Reg xv = Full ? V::loadu(xp) : V::load(xp, t.in_mask);
          xp += c;
          opaque(xp);
          taps(xv, wv, jc);
        }
      });
    }
  } else {
    // Border block: columns outside the input (padding) read a zero vector. The column
    // addresses of each kernel row go through a small table, so the unrolled body is the
    // interior one plus a pointer load per column: a select per column (or a branch) made GCC
    // turn the body into a branchy walk with register copies between the FMAs.
    const i64 jlo = min64(kJ, iw0 < 0 ? -iw0 : 0);
    const i64 jhi = min64(kJ, w - iw0);
    for (i64 kh = r.kh_lo; kh < r.kh_hi; ++kh) {
      Reg wv[KW];
      load_taps(kh, wv);
      const float* col[kJ];
      // Every column's address from one walk (as integers: the padding ones lie outside the
      // input), then the few padding columns (at most KW - 1 at each end) redirected.
      const std::uintptr_t a0 = reinterpret_cast<std::uintptr_t>(x + (r.ih0 + kh * dh) * w * c);
      const std::uintptr_t step = static_cast<std::uintptr_t>(c) * sizeof(float);
      std::uintptr_t a = a0 + static_cast<std::uintptr_t>(iw0) * step;
      unroll<kJ>([&](auto jc) {
        col[decltype(jc)::value] = reinterpret_cast<const float*>(a);
        a += step;
      });
      // Scalar stores (opaque index): vector stores here made the pointer loads below miss
      // store-to-load forwarding.
      for (i64 j = 0; j < jlo; ++j) {
        opaque(j);
        col[j] = kZeros;
      }
      for (i64 j = jhi < jlo ? jlo : jhi; j < kJ; ++j) {
        opaque(j);
        col[j] = kZeros;
      }
      const float* const* cp = col;
      opaque(cp);  // the table is read back, not folded into selects between the FMAs
      unroll<kJ>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        const float* const xp = cp[j];
        const Reg xv = Full ? V::loadu(xp) : V::load(xp, t.in_mask);
        taps(xv, wv, jc);
      });
    }
  }
  store_block<B, Full>(t, r, ow0, n, acc);
}

template <int KW, int S, int B, bool Full, bool Checked, int PL = 0, int PR = 0>
__attribute__((noinline)) void block_spec_body(const Params& p, const Tile* ts, i64 nt,
                                               const Row& r, i64 ow0, i64 n) {
  for (i64 k = 0; k < nt; ++k) spec_tile<KW, S, B, Full, Checked, PL, PR>(p, ts[k], r, ow0, n);
}

// Edge blocks (pl / pr padded columns at the left / right, not both 0) that run the interior
// walk with the padded columns skipped at compile time. On maps 7 to 28 pixels wide most blocks
// are edge blocks, and the address table cost them 2x. 3x3: every mix of 0 or 1 column. AVX2
// only (AVX-512 has blocks of 8-16 pixels, so fewer edge blocks per row, and these variants
// tripled the compile time of dw_avx512.cpp and dw_portable.cpp under ASan, to 3.5 min):
// 5x5 at stride 2 every mix of 0 to 2 (EfficientNet's SAME pads 1 + 2 or 2 + 1), and 5x5 /
// 7x7 at stride 1 KW/2 at one end or both (SAME).
template <int KW, int S>
constexpr bool edge_walk(int pl, int pr) {
  constexpr int P = KW / 2;
  if (pl + pr == 0 || pl > P || pr > P) return false;
  if (KW == 3) return true;
  if (V::kLanes != 8) return false;
  if (KW == 5 && S == 2) return true;
  return S == 1 && (pl == 0 || pl == P) && (pr == 0 || pr == P);
}

// The compiled edge walk for (pl, pr), or null: a compile-time search over the variants.
template <int KW, int S, int B, bool Full, int PL = 0, int PR = 0>
BlockFn edge_fn(i64 pl, i64 pr) {
  if constexpr (PL > KW / 2) {
    return nullptr;
  } else if constexpr (PR > KW / 2) {
    return edge_fn<KW, S, B, Full, PL + 1, 0>(pl, pr);
  } else {
    if constexpr (edge_walk<KW, S>(PL, PR)) {
      if (pl == PL && pr == PR) return &block_spec_body<KW, S, B, Full, false, PL, PR>;
    }
    return edge_fn<KW, S, B, Full, PL, PR + 1>(pl, pr);
  }
}

template <int KW, int S, int B, bool Full>
void block_spec(const Params& p, const Tile* ts, i64 nt, const Row& r, i64 ow0, i64 n) {
  constexpr int kJ = (B - 1) * S + KW;
  const i64 iw0 = ow0 * S - p.pad_left;
  const i64 pl = iw0 < 0 ? -iw0 : 0;                   // padded columns at the left
  const i64 pr = iw0 + kJ > p.w ? iw0 + kJ - p.w : 0;  // and at the right
  if (pl == 0 && pr == 0) {
    block_spec_body<KW, S, B, Full, false>(p, ts, nt, r, ow0, n);
    return;
  }
  // An edge block with a compiled walk (see edge_walk) skips its padded columns at compile
  // time; any other takes the table of column addresses.
  if (pl <= KW / 2 && pr <= KW / 2) {
    if (const BlockFn f = edge_fn<KW, S, B, Full>(pl, pr)) {
      f(p, ts, nt, r, ow0, n);
      return;
    }
  }
  block_spec_body<KW, S, B, Full, true>(p, ts, nt, r, ow0, n);
}

// Generic block: any KW, stride, dilation and multiplier; B output pixels from ow0.
template <int B, bool Perm, bool Full>
__attribute__((always_inline)) inline void generic_tile(const Params& p, const Tile& t,
                                                        const Row& r, i64 ow0, i64 n) {
  constexpr i64 L = V::kLanes;
  const i64 c = p.c_in;
  const i64 s = p.sw;
  const i64 sc = s * c;
  const i64 iw0 = ow0 * s - p.pad_left;
  Reg acc[B];
  unroll<B>([&](auto bc) { acc[decltype(bc)::value] = t.bias; });
  auto ld = [&](const float* q) {
    // With a multiplier the tile reads fewer input channels than lanes: always masked.
    const Reg v = (Full && !Perm) ? V::loadu(q) : V::load(q, t.in_mask);
    if constexpr (Perm) {
      return V::permute(v, t.idx);
    } else {
      return v;
    }
  };
  for (i64 kh = r.kh_lo; kh < r.kh_hi; ++kh) {
    const i64 row = (r.ih0 + kh * p.dh) * p.w;
    const float* wr = t.w + kh * p.kw * L;
    for (i64 kw = 0; kw < p.kw; ++kw) {
      const i64 iwk = iw0 + kw * p.dw;  // input column of pixel 0 for this tap
      // Pixels b in [blo, bhi) read inside the input (no division for strides 1 and 2).
      i64 blo = 0, bhi = 0;
      if (s == 1) {
        blo = iwk < 0 ? -iwk : 0;
        bhi = min64(B, p.w - iwk);
      } else if (s == 2) {
        blo = iwk < 0 ? (1 - iwk) >> 1 : 0;
        bhi = iwk >= p.w ? 0 : min64(B, ((p.w - 1 - iwk) >> 1) + 1);
      } else {
        blo = iwk < 0 ? (-iwk + s - 1) / s : 0;
        bhi = iwk >= p.w ? 0 : min64(B, (p.w - 1 - iwk) / s + 1);
      }
      bhi = min64(bhi, n);
      if (blo >= bhi) continue;
      const Reg wv = V::load_aligned(wr + kw * L);
      const i64 base = (row + iwk) * c;
      if (blo == 0 && bhi == B) {
        const float* xp = t.x + base;
        unroll<B>([&](auto bc) {
          constexpr int b = decltype(bc)::value;
          acc[b] = V::fma(ld(xp), wv, acc[b]);
          xp += sc;
          opaque(xp);
        });
      } else {
        unroll<B>([&](auto bc) {
          constexpr int b = decltype(bc)::value;
          if (b >= blo && b < bhi) acc[b] = V::fma(ld(t.x + (base + b * sc)), wv, acc[b]);
        });
      }
    }
  }
  store_block<B, Full>(t, r, ow0, n, acc);
}

// Only the widths a row cut can ask for (see block_min) are instantiated.
template <int B, bool Perm, bool Full>
void block_generic(const Params& p, const Tile* ts, i64 nt, const Row& r, i64 ow0, i64 n) {
  for (i64 k = 0; k < nt; ++k) generic_tile<B, Perm, Full>(p, ts[k], r, ow0, n);
}

template <int KW, int S, bool Full, int B = block_min(spec_bmax(V::kLanes, KW))>
void fill_spec(BlockFn* table) {
  table[B] = &block_spec<KW, S, B, Full>;
  if constexpr (B < spec_bmax(V::kLanes, KW)) fill_spec<KW, S, Full, B + 1>(table);
}

// The generic blocks also serve the channel tail of specialised layers (AVX2, SSE), whose
// rows are cut for the specialised widths: down to the narrowest of those.
constexpr int kGenericMin = block_min(spec_bmax(V::kLanes, 7));
template <bool Perm, bool Full, int B = kGenericMin>
void fill_generic(BlockFn* table) {
  table[B] = &block_generic<B, Perm, Full>;
  if constexpr (B < generic_bmax(V::kLanes, 1)) fill_generic<Perm, Full, B + 1>(table);
}

template <int S, bool Full>
void fill_spec_kw(BlockFn* table, i64 kw) {
  if (kw == 3) fill_spec<3, S, Full>(table);
  if (kw == 5) fill_spec<5, S, Full>(table);
  if (kw == 7) fill_spec<7, S, Full>(table);
}

// Block functions for full tiles and for the channel tail. Where masks are free (AVX-512)
// one masked instantiation serves both. Where masked memory operations are slow (AVX2
// maskstore), full tiles run unmasked code and the tail tile takes the generic path.
template <bool Full>
void fill_tables(const Params& p, BlockFn* table) {
  constexpr bool kFull = Full && !V::kCheapMasks;
  if (p.m == 1) {
    fill_generic<false, kFull>(table);
  } else {
    fill_generic<true, kFull>(table);
  }
  if constexpr (Full || V::kCheapMasks) {
    if (specialised(p)) {
      if (p.sw == 1) fill_spec_kw<1, kFull>(table, p.kw);
      if (p.sw == 2) fill_spec_kw<2, kFull>(table, p.kw);
    }
  }
}

void run_tasks(const Params& p, const float* x, float* y, i64 begin, i64 end) {
  BlockFn full[V::kMaxBlock + 1] = {};
  BlockFn tail[V::kMaxBlock + 1] = {};
  fill_tables<true>(p, full);
  fill_tables<false>(p, tail);
  constexpr i64 L = V::kLanes;
  constexpr i64 kMaxGroup = kMaxGroupTiles;
  static_assert(V::kMaxBlock >= generic_bmax(V::kLanes, 1));
  const i64 bmax = min64(p.bmax, V::kMaxBlock);
  const i64 bmin = block_min(bmax);
  // The row is cut into near-equal blocks of at most bmax pixels, the border pixels (whose
  // taps reach into the padding) included: a block of its own for them would be a chain of
  // dependent FMAs per pixel. Blocks that touch the padding run the checked body.
  const i64 blocks = (p.wo + bmax - 1) / bmax;
  const i64 base = p.wo / blocks;
  const i64 extra = p.wo % blocks;
  const bool aligned = reinterpret_cast<std::uintptr_t>(y) % (L * sizeof(float)) == 0;
  // Staged stores (p.stage, 8-lane tiles on DRAM-bound layers): a block's tiles write to a
  // buffer in L1, which is then streamed out pixel by pixel, whole 64-byte lines at a time.
  // Streaming each 32-byte tile directly left half lines in the write-combining buffers.
  const bool stage = L == 8 && p.stage && reinterpret_cast<std::uintptr_t>(y) % 64 == 0;
  constexpr i64 kStageFloats = L == 8 ? V::kMaxBlock * kMaxGroup * L : 1;
  alignas(64) float stage_buf[kStageFloats];
  bool streamed = stage;
  for (i64 task = begin; task < end;) {
    i64 grp = 0, rest = 0, rt = 0, img = 0, span = 1;
    if (!p.prefetch) {
      // Rows innermost (see Params): consecutive tasks of one (image, channel group) are
      // consecutive row tiles; they run as one, so the tiles are set up once and the strips
      // walk all their rows. (`rest` is only read by the prefetch path.)
      const i64 per_image = p.groups * p.row_tiles;
      img = task / per_image;
      const i64 r = task - img * per_image;
      i64 band = 0;  // the band holding r: bands are few (about the thread count)
      while (band + 1 < p.bands && p.groups * (p.row_tiles * (band + 1) / p.bands) <= r) ++band;
      const i64 rt0 = p.row_tiles * band / p.bands;
      const i64 nb = p.row_tiles * (band + 1) / p.bands - rt0;
      const i64 q = r - p.groups * rt0;
      grp = q / nb;
      rt = rt0 + q % nb;
      span = min64(end - task, nb - q % nb);
    } else {
      grp = task % p.groups;
      rest = task / p.groups;
      rt = rest % p.row_tiles;
      img = rest / p.row_tiles;
    }
    task += span;
    // The tiles of a group share cache lines: they run block by block, back to back.
    Tile tiles[kMaxGroup];  // every field read is set below (no zero-fill per task)
    const BlockFn* table[kMaxGroup];
    const i64 count = min64(min64(p.group, kMaxGroup), p.tiles - grp * p.group);
    for (i64 k = 0; k < count; ++k) {
      const i64 ct = grp * p.group + k;
      const i64 o0 = tile_base(p, ct);
      const i64 nout = min64(L, p.c_out - o0);
      Tile& t = tiles[k];
      i64 c0 = o0;
      if (p.m > 1) {
        // Lane j of the tile reads input channel (o0 + j) / m. Only multipliers need the
        // permutation (and its divisions): with m == 1 it is never read, and the input
        // channels are the output ones (no division per tile: on 7- and 14-pixel maps a task
        // is a few hundred cycles of FMAs, and the set-up, three divisions per tile among it,
        // took a third of the samples).
        c0 = o0 / p.m;
        std::int32_t idx[V::kLanes];
        for (i64 j = 0; j < L; ++j) {
          idx[j] = j < nout ? static_cast<std::int32_t>((o0 + j) / p.m - c0) : 0;
        }
        t.idx = V::index(idx);
        const i64 nin = min64(p.c_in - c0, (o0 + nout - 1) / p.m - c0 + 1);
        t.in_mask = V::mask(static_cast<int>(nin));
        t.out_mask = V::mask(static_cast<int>(nout));
      } else if (V::kCheapMasks || nout < L) {
        // Full tiles of ISAs with costly masks run unmasked code and never read the masks.
        t.in_mask = t.out_mask = V::mask(static_cast<int>(nout));
      }
      t.x = x + img * p.h * p.w * p.c_in + c0;
      t.w = p.filter + ct * p.kh * p.kw * L;
      t.bias = V::load_aligned(p.bias + ct * L);
      t.o0 = o0;
      t.stream = p.stream && aligned && nout == L && p.c_out % L == 0;
      table[k] = nout == L ? full : tail;
      streamed = streamed || t.stream;
    }
    const i64 oh_begin = rt * p.rows_per_task;
    const i64 oh_end = min64(p.ho, oh_begin + span * p.rows_per_task);
    // DRAM-bound layers: each task prefetches its share (1 / groups) of the input and output
    // rows of the next row tile, spread over its blocks, as one ascending range so the
    // hardware stream prefetchers join in. Without it the strided tile walks are latency-bound.
    const char* pf_in = nullptr;
    const char* pf_out = nullptr;
    i64 pf_in_lines = 0, pf_out_lines = 0, pf_step = 0;
    if (p.prefetch && rest + 1 < p.n * p.row_tiles) {
      const i64 nimg = (rest + 1) / p.row_tiles;
      const i64 nrt = (rest + 1) % p.row_tiles;
      const i64 o_lo = nrt * p.rows_per_task;
      const i64 o_hi = min64(p.ho, o_lo + p.rows_per_task);
      i64 i_lo = o_lo * p.sh - p.pad_top;
      i64 i_hi = (o_hi - 1) * p.sh - p.pad_top + (p.kh - 1) * p.dh + 1;
      i_lo = i_lo < 0 ? 0 : i_lo;
      i_hi = min64(i_hi, p.h);
      const i64 in_row = p.w * p.c_in * 4;
      const i64 out_row = p.wo * p.c_out * 4;
      const i64 in_len = i_hi > i_lo ? (i_hi - i_lo) * in_row : 0;
      const i64 out_len = p.stream || stage ? 0 : (o_hi - o_lo) * out_row;
      const i64 in0 = (nimg * p.h + i_lo) * in_row + in_len * grp / p.groups;
      const i64 out0 = (nimg * p.ho + o_lo) * out_row + out_len * grp / p.groups;
      pf_in = reinterpret_cast<const char*>(x) + in0;
      pf_out = reinterpret_cast<const char*>(y) + out0;
      pf_in_lines = (in_len * (grp + 1) / p.groups - in_len * grp / p.groups) / 64;
      pf_out_lines = (out_len * (grp + 1) / p.groups - out_len * grp / p.groups) / 64;
      const i64 steps = (oh_end - oh_begin) * blocks;
      pf_step = (pf_in_lines + pf_out_lines + steps - 1) / steps;
    }
    // Column strips of whole blocks (p.strip_blocks per strip): the KH input rows a strip
    // reads stay in L1 while the next output rows read them again.
    for (i64 sb = 0; sb < blocks; sb += p.strip_blocks) {
      const i64 se = min64(blocks, sb + p.strip_blocks);
      const i64 strip_ow0 = sb * base + min64(sb, extra);
      for (i64 oh = oh_begin; oh < oh_end; ++oh) {
        Row r{};
        r.ih0 = oh * p.sh - p.pad_top;
        if (p.dh == 1) {  // no division per row
          r.kh_lo = r.ih0 < 0 ? -r.ih0 : 0;
          r.kh_hi = r.ih0 >= p.h ? 0 : min64(p.kh, p.h - r.ih0);
        } else {
          r.kh_lo = r.ih0 < 0 ? (-r.ih0 + p.dh - 1) / p.dh : 0;
          r.kh_hi = r.ih0 >= p.h ? 0 : min64(p.kh, (p.h - 1 - r.ih0) / p.dh + 1);
        }
        r.y = y + (img * p.ho + oh) * p.wo * p.c_out;
        r.ys = p.c_out;
        Row rs = r;  // the staging buffer: [pixel][count * L]
        if constexpr (L == 8) {
          rs.y = stage_buf;
          rs.ys = count * L;
          rs.o_off = grp * p.group * L;
        }
        i64 ow0 = strip_ow0;
        for (i64 b = sb; b < se; ++b) {
          const i64 width = base + (b < extra ? 1 : 0);
          for (i64 q = 0; q < pf_step; ++q) {
            if (pf_in_lines > 0) {
              __builtin_prefetch(pf_in, 0, 2);
              pf_in += 64;
              --pf_in_lines;
            } else if (pf_out_lines > 0) {
              __builtin_prefetch(pf_out, 1, 2);
              pf_out += 64;
              --pf_out_lines;
            }
          }
          const i64 wb = width < bmin ? bmin : width;
          // Consecutive tiles with the same block functions (all but a channel tail) run in
          // one call: on narrow maps the call and its set-up cost as much as the FMAs.
          rs.ow_off = ow0;
          for (i64 k = 0; k < count;) {
            i64 run = 1;
            while (k + run < count && table[k + run] == table[k]) ++run;
            table[k][wb](p, tiles + k, run, stage ? rs : r, ow0, width);
            k += run;
          }
          if (stage) {
            float* yp = r.y + ow0 * p.c_out + grp * p.group * L;
            const float* sp = stage_buf;
            for (i64 px = 0; px < width; ++px) {
              for (i64 j = 0; j < count * L; j += L) V::stream(yp + j, V::load_aligned(sp + j));
              yp += p.c_out;
              sp += count * L;
            }
          }
          ow0 += width;
        }
      }
    }
  }
  if (streamed) V::fence();
}
