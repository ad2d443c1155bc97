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
//   Reg fma(a, b, c)               a * b + c
//   void store(float*, Reg, Mask)  masked store
//   void stream(float*, Reg)       full non-temporal store (address aligned to the vector)
//   void fence()                   orders the non-temporal stores
//   Mask mask(int n)               first n lanes
//   Idx index(const std::int32_t*) lane permutation from kLanes indices
//   Reg permute(Reg, Idx)          r[j] = v[idx[j]]
//
// Work decomposition (see dw_params.hpp): task = (image, tile of output rows, channel tile).
// For each output row only the kernel rows that fall inside the input are visited. Along W the
// row is cut into near-equal blocks of at most bmax pixels whose accumulators live in
// registers. The specialised path (KW in {3,5,7}, stride 1|2, dilation 1, m == 1) keeps the
// KW taps of the current kernel row in registers and loads each input column of the block
// once, feeding every (pixel, tap) pair that reads it; columns outside the input are skipped
// with one test per column, so padded taps cost nothing and no code is border-specific. The
// generic path (any KW, stride, dilation, multiplier) walks taps with the valid pixel range of
// each tap computed up front. A multiplier m > 1 is served by one lane permutation per loaded
// input vector (output lane j of the tile reads input channel (o0 + j) / m), never by a
// broadcast per output channel.
//
// Every output element is accumulated in the same order (bias, then kernel rows, then kernel
// columns) whatever the thread count: tasks are fixed, so the result is bit-identical.

using i64 = std::int64_t;
using Reg = typename V::Reg;

template <int I>
struct Int {
  static constexpr int value = I;
};

// Calls f(Int<0>), ..., f(Int<N-1>): a compile-time loop, so every index below is a constant
// and accumulator arrays are kept in registers.
template <int N, int I = 0, class F>
__attribute__((always_inline)) inline void unroll(F&& f) {
  if constexpr (I < N) {
    f(Int<I>{});
    unroll<N, I + 1>(f);
  }
}

inline i64 min64(i64 a, i64 b) { return a < b ? a : b; }

// One channel tile of one image.
struct Tile {
  const float* x;  // input image + first input channel of the tile
  const float* w;  // packed taps of the tile [kh][kw][kLanes]
  typename V::Mask in_mask;
  typename V::Mask out_mask;
  typename V::Idx idx;
  Reg bias;
  bool stream;
};

// One output row of one tile: which kernel rows are inside the input.
struct Row {
  i64 ih0;  // input row of kernel row 0
  i64 kh_lo, kh_hi;
  float* y;  // output row + first output channel of the tile
};

using BlockFn = void (*)(const Params&, const Tile&, const Row&, i64 ow0);

template <int B>
__attribute__((always_inline)) inline void store_block(const Params& p, const Tile& t, const Row& r,
                                                       i64 ow0, const Reg* acc) {
  float* yp = r.y + ow0 * p.c_out;
  if (t.stream) {
    unroll<B>([&](auto bc) {
      constexpr int b = decltype(bc)::value;
      V::stream(yp + b * p.c_out, acc[b]);
    });
  } else {
    unroll<B>([&](auto bc) {
      constexpr int b = decltype(bc)::value;
      V::store(yp + b * p.c_out, acc[b], t.out_mask);
    });
  }
}

// Specialised block: B output pixels from ow0, KW taps per row, stride S along W, dilation 1.
template <int KW, int S, int B>
void block_spec(const Params& p, const Tile& t, const Row& r, i64 ow0) {
  constexpr int kJ = (B - 1) * S + KW;  // input columns the block reads
  constexpr i64 L = V::kLanes;
  const i64 c = p.c_in;
  const i64 iw0 = ow0 * S - p.pad_left;
  const i64 jlo = iw0 < 0 ? -iw0 : 0;
  const i64 jhi = min64(kJ, p.w - iw0);
  Reg acc[B];
  unroll<B>([&](auto bc) { acc[decltype(bc)::value] = t.bias; });
  for (i64 kh = r.kh_lo; kh < r.kh_hi; ++kh) {
    // Offset of (row, column iw0); only columns in [jlo, jhi) are dereferenced.
    const i64 base = ((r.ih0 + kh * p.dh) * p.w + iw0) * c;
    const float* wr = t.w + kh * KW * L;
    Reg wv[KW];
    unroll<KW>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      wv[k] = V::load_aligned(wr + k * L);
    });
    unroll<kJ>([&](auto jc) {
      constexpr int j = decltype(jc)::value;
      if (j < jlo || j >= jhi) return;
      const Reg xv = V::load(t.x + (base + j * c), t.in_mask);
      unroll<KW>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        constexpr int d = j - k;
        if constexpr (d >= 0 && d % S == 0 && d / S < B) {
          acc[d / S] = V::fma(xv, wv[k], acc[d / S]);
        }
      });
    });
  }
  store_block<B>(p, t, r, ow0, acc);
}

// Generic block: any KW, stride, dilation and multiplier; B output pixels from ow0.
template <int B, bool Perm>
void block_generic(const Params& p, const Tile& t, const Row& r, i64 ow0) {
  constexpr i64 L = V::kLanes;
  const i64 c = p.c_in;
  const i64 s = p.sw;
  const i64 iw0 = ow0 * s - p.pad_left;
  Reg acc[B];
  unroll<B>([&](auto bc) { acc[decltype(bc)::value] = t.bias; });
  auto ld = [&](i64 off) {
    const Reg v = V::load(t.x + off, t.in_mask);
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
      const i64 blo = iwk < 0 ? (-iwk + s - 1) / s : 0;
      const i64 bhi = iwk >= p.w ? 0 : min64(B, (p.w - 1 - iwk) / s + 1);
      if (blo >= bhi) continue;
      const Reg wv = V::load_aligned(wr + kw * L);
      const i64 base = (row + iwk) * c;
      if (blo == 0 && bhi == B) {
        unroll<B>([&](auto bc) {
          constexpr int b = decltype(bc)::value;
          acc[b] = V::fma(ld(base + b * s * c), wv, acc[b]);
        });
      } else {
        unroll<B>([&](auto bc) {
          constexpr int b = decltype(bc)::value;
          if (b >= blo && b < bhi) acc[b] = V::fma(ld(base + b * s * c), wv, acc[b]);
        });
      }
    }
  }
  store_block<B>(p, t, r, ow0, acc);
}

template <int KW, int S, int B = 1>
void fill_spec(BlockFn* table) {
  table[B] = &block_spec<KW, S, B>;
  if constexpr (B < V::kMaxBlock) fill_spec<KW, S, B + 1>(table);
}

template <bool Perm, int B = 1>
void fill_generic(BlockFn* table) {
  table[B] = &block_generic<B, Perm>;
  if constexpr (B < V::kMaxBlock) fill_generic<Perm, B + 1>(table);
}

template <int S>
void fill_spec_kw(BlockFn* table, i64 kw) {
  if (kw == 3) fill_spec<3, S>(table);
  if (kw == 5) fill_spec<5, S>(table);
  if (kw == 7) fill_spec<7, S>(table);
}

void run_tasks(const Params& p, const float* x, float* y, i64 begin, i64 end) {
  BlockFn table[V::kMaxBlock + 1] = {};
  if (specialised(p)) {
    if (p.sw == 1) fill_spec_kw<1>(table, p.kw);
    if (p.sw == 2) fill_spec_kw<2>(table, p.kw);
  } else if (p.m == 1) {
    fill_generic<false>(table);
  } else {
    fill_generic<true>(table);
  }
  constexpr i64 L = V::kLanes;
  const i64 bmax = min64(p.bmax, V::kMaxBlock);
  const i64 blocks = (p.wo + bmax - 1) / bmax;
  const i64 bbase = p.wo / blocks;
  const i64 bextra = p.wo % blocks;
  const bool aligned = reinterpret_cast<std::uintptr_t>(y) % (L * sizeof(float)) == 0;
  bool streamed = false;
  for (i64 task = begin; task < end; ++task) {
    const i64 ct = task % p.tiles;
    const i64 rest = task / p.tiles;
    const i64 rt = rest % p.row_tiles;
    const i64 img = rest / p.row_tiles;
    const i64 o0 = ct * L;
    const i64 c0 = o0 / p.m;
    const i64 nout = min64(L, p.c_out - o0);
    const i64 nin = min64(p.c_in - c0, (o0 + nout - 1) / p.m - c0 + 1);
    std::int32_t idx[V::kLanes];
    for (i64 j = 0; j < L; ++j) {
      idx[j] = j < nout ? static_cast<std::int32_t>((o0 + j) / p.m - c0) : 0;
    }
    Tile t{};
    t.idx = V::index(idx);
    t.x = x + img * p.h * p.w * p.c_in + c0;
    t.w = p.filter + ct * p.kh * p.kw * L;
    t.in_mask = V::mask(static_cast<int>(nin));
    t.out_mask = V::mask(static_cast<int>(nout));
    t.bias = V::load_aligned(p.bias + o0);
    t.stream = p.stream && aligned && nout == L && p.c_out % L == 0;
    streamed = streamed || t.stream;
    const i64 oh_end = min64(p.ho, (rt + 1) * p.rows_per_task);
    for (i64 oh = rt * p.rows_per_task; oh < oh_end; ++oh) {
      Row r{};
      r.ih0 = oh * p.sh - p.pad_top;
      r.kh_lo = r.ih0 < 0 ? (-r.ih0 + p.dh - 1) / p.dh : 0;
      r.kh_hi = r.ih0 >= p.h ? 0 : min64(p.kh, (p.h - 1 - r.ih0) / p.dh + 1);
      r.y = y + (img * p.ho + oh) * p.wo * p.c_out + o0;
      i64 ow0 = 0;
      for (i64 b = 0; b < blocks; ++b) {
        const i64 width = bbase + (b < bextra ? 1 : 0);
        table[width](p, t, r, ow0);
        ow0 += width;
      }
    }
  }
  if (streamed) V::fence();
}
