// Depthwise filter gradient, written once over a SIMD traits struct `V` and included by each
// per-ISA translation unit inside an anonymous namespace (internal linkage: an AVX-512 copy
// can never be chosen by the linker for the baseline build). No includes, no include guard.
//
//   dw[kh][kw][c] = sum over n, oh, ow of x[n][oh*sh - pt + kh*dh][ow*sw - pl + kw*dw][c]
//                                         * dy[n][oh][ow][c]
//
// Channels are the vector lanes. A task owns a tile of output rows (of the flattened n*Ho
// range) and a group of channel vectors, and accumulates into its tile's slice of dw. The
// tile is walked in strips of a few rows (their x rows stay in L2); for each strip, channel
// vector and chunk of R kernel rows, the R x KW tap accumulators live in registers across
// the strip's rows while each row is swept along W, U output columns at a time: U dy vectors are
// loaded once, and each x vector of the window is loaded once and feeds every tap that reads it
// (with stride S the window is (U-1)*S + KW columns), so a 3x3 pass does 36 FMAs for 22 loads.
// Border columns (where taps fall into the padding) test each tap and skip the padded ones; kernel
// rows outside the input are skipped. The order of additions depends only on the geometry, never on
// the thread count.
//
// V provides: Reg, Mask, kLanes, zero(), load(const float*, Mask), loadu(const float*),
// fma(a, b, c), add(a, b), store(float*, Reg, Mask), storeu(float*, Reg), mask(int n).

using i64 = std::int64_t;
using Reg = typename V::Reg;
using Mask = typename V::Mask;

template <bool Tail>
__attribute__((always_inline)) inline Reg ld(const float* q, Mask m) {
  if constexpr (Tail) {
    return V::load(q, m);
  } else {
    (void)m;
    return V::loadu(q);
  }
}

template <bool Tail>
__attribute__((always_inline)) inline void acc_add(float* q, Reg a, Mask m) {
  if constexpr (Tail) {
    V::store(q, V::add(V::load(q, m), a), m);
  } else {
    V::storeu(q, V::add(V::loadu(q), a));
  }
}

// Columns per block: what the registers hold next to the R*KW accumulators.
constexpr int block_cols(int r, int kw) {
  const int u = 13 - r * kw;
  return u < 2 ? 2 : (u > 6 ? 6 : u);
}

// One output row dyr (channel c0) into the tap accumulators a: kernel rows whose input rows
// start at xr[0..R) (only those whose bit is set in vm: the others fall outside the input),
// KW taps. S = 1 or 2: compile-time stride with dilation 1 (x window
// shared between taps); S = 0: the params' stride and dilation (one x load per tap).
// AllRows: every kernel row is inside the input (vm is all ones), known at compile time.
template <int R, int KW, int S, bool Tail, bool Bias, bool AllRows>
__attribute__((always_inline)) inline void sweep(const DwBwdFilterParams& p, const float* const* xr,
                                                 const float* dyr, Reg (&a)[R][KW], Reg& bsum,
                                                 unsigned vm, Mask m) {
  constexpr int U = block_cols(R, KW);
  auto row_in = [&](int r) __attribute__((always_inline)) {
    return AllRows || ((vm >> r) & 1u) != 0;
  };
  const i64 C = p.c;
  const i64 sw = S != 0 ? S : p.sw;
  const i64 dil = S != 0 ? 1 : p.dw;
  auto checked = [&](i64 ow) __attribute__((always_inline)) {
    const Reg d = ld<Tail>(dyr + ow * C, m);
    if constexpr (Bias) bsum = V::add(bsum, d);
    const i64 iw0 = ow * sw - p.pad_left;
    unroll<KW>([&](auto k) {
      const i64 iw = iw0 + k.value * dil;
      if (iw < 0 || iw >= p.w) return;
      unroll<R>([&](auto r) {
        if (!row_in(r.value)) return;
        a[r.value][k.value] = V::fma(ld<Tail>(xr[r.value] + iw * C, m), d, a[r.value][k.value]);
      });
    });
  };
  auto single = [&](i64 ow) __attribute__((always_inline)) {
    const Reg d = ld<Tail>(dyr + ow * C, m);
    if constexpr (Bias) bsum = V::add(bsum, d);
    const i64 iw0 = ow * sw - p.pad_left;
    unroll<KW>([&](auto k) {
      const i64 iw = iw0 + k.value * dil;
      unroll<R>([&](auto r) {
        if (!row_in(r.value)) return;
        a[r.value][k.value] = V::fma(ld<Tail>(xr[r.value] + iw * C, m), d, a[r.value][k.value]);
      });
    });
  };
  const i64 lo = p.ow_lo, hi = p.ow_hi;
  for (i64 ow = 0; ow < lo; ++ow) checked(ow);
  i64 ow = lo;
  for (; ow + U <= hi; ow += U) {
    Reg d[U];
    const float* dp = dyr + ow * C;
    unroll<U>([&](auto j) { d[j.value] = ld<Tail>(dp + j.value * C, m); });
    if constexpr (Bias) {  // one add on the loop-carried chain per block
      Reg t = d[0];
      unroll<U - 1>([&](auto j) { t = V::add(t, d[j.value + 1]); });
      bsum = V::add(bsum, t);
    }
    const i64 iw0 = ow * sw - p.pad_left;
    if constexpr (S != 0) {
      constexpr int kCols = (U - 1) * S + KW;
      unroll<R>([&](auto r) {
        if (!row_in(r.value)) return;
        const float* xb = xr[r.value] + iw0 * C;
        unroll<kCols>([&](auto col) {
          Reg xv = ld<Tail>(xb + col.value * C, m);
          V::pin(xv);
          unroll<U>([&](auto j) {
            constexpr int k = col.value - j.value * S;
            if constexpr (k >= 0 && k < KW) a[r.value][k] = V::fma(xv, d[j.value], a[r.value][k]);
          });
        });
      });
    } else {
      const i64 js = sw * C, ks = dil * C;
      unroll<R>([&](auto r) {
        if (!row_in(r.value)) return;
        const float* xb = xr[r.value] + iw0 * C;
        unroll<U>([&](auto j) {
          unroll<KW>([&](auto k) {
            a[r.value][k.value] = V::fma(ld<Tail>(xb + j.value * js + k.value * ks, m), d[j.value],
                                         a[r.value][k.value]);
          });
        });
      });
    }
  }
  for (; ow < hi; ++ow) single(ow);
  for (ow = hi > lo ? hi : lo; ow < p.wo; ++ow) checked(ow);
}

template <int R, int KW, bool Tail>
__attribute__((always_inline)) inline void flush(const DwBwdFilterParams& p, Reg (&a)[R][KW],
                                                 float* acc, Mask m) {
  unroll<R>([&](auto r) {
    unroll<KW>([&](auto k) {
      acc_add<Tail>(acc + (r.value * KW + k.value) * p.c, a[r.value][k.value], m);
    });
  });
}

// Output rows [q0, q1) of the flattened (n, oh) range, kernel rows kh0 .. kh0+R-1, channels
// at c0: the accumulators stay in registers across the strip's rows; kernel rows outside
// the input (top and bottom borders) are skipped.
// Bias: also bias[0..L) += the rows' dy (summed in the same sweep).
template <int R, int KW, int S, bool Tail, bool Bias>
__attribute__((flatten)) void strip(const DwBwdFilterParams& p, const float* x, const float* dy,
                                    i64 c0, i64 q0, i64 q1, i64 kh0, float* acc, float* bias,
                                    Mask m) {
  Reg a[R][KW];
  unroll<R>([&](auto r) { unroll<KW>([&](auto k) { a[r.value][k.value] = V::zero(); }); });
  Reg bsum = V::zero();
  const i64 C = p.c;
  i64 n = q0 / p.ho, oh = q0 % p.ho;  // advanced incrementally (no division per row)
  for (i64 q = q0; q < q1; ++q, ++oh) {
    if (oh == p.ho) {
      oh = 0;
      ++n;
    }
    const float* xn = x + n * p.h * p.w * C + c0;
    const float* dyr = dy + q * p.wo * C + c0;
    const i64 ih0 = oh * p.sh - p.pad_top + kh0 * p.dh;
    const float* xr[R];
    unsigned vm = 0;
    unroll<R>([&](auto r) {
      const i64 ih = ih0 + r.value * p.dh;
      const bool in = ih >= 0 && ih < p.h;
      if (in) vm |= 1u << r.value;
      xr[r.value] = in ? xn + ih * p.w * C : xn;
    });
    if (vm != 0) {
      // Rows whose R kernel rows are all inside the input (all but the first and last few)
      // run a sweep without the per-row tests: with them GCC turned the border columns into
      // a branchy walk with spilled registers.
      if constexpr (R == 1) {
        sweep<R, KW, S, Tail, Bias, true>(p, xr, dyr, a, bsum, vm, m);
      } else if (vm == (1u << R) - 1) {
        sweep<R, KW, S, Tail, Bias, true>(p, xr, dyr, a, bsum, vm, m);
      } else {
        sweep<R, KW, S, Tail, Bias, false>(p, xr, dyr, a, bsum, vm, m);
      }
    } else if constexpr (Bias) {
      for (i64 ow = 0; ow < p.wo; ++ow) bsum = V::add(bsum, ld<Tail>(dyr + ow * C, m));
    }
  }
  flush<R, KW, Tail>(p, a, acc, m);
  if constexpr (Bias) {
    acc_add<Tail>(bias, bsum, m);
  } else {
    (void)bias;
  }
}

// Any KW, one kernel row: tap by tap over its valid columns, 4 interleaved accumulators.
template <bool Tail>
__attribute__((flatten)) void pass_generic(const DwBwdFilterParams& p, const float* const* xr,
                                           const float* dyr, float* acc, Mask m) {
  const i64 C = p.c;
  for (i64 k = 0; k < p.kw; ++k) {
    // Valid columns: 0 <= ow*sw - pl + k*dw < W.
    const i64 off = p.pad_left - k * p.dw;  // iw = ow*sw - off
    i64 lo = off <= 0 ? 0 : (off + p.sw - 1) / p.sw;
    const i64 top = p.w - 1 + off;
    i64 hi = top < 0 ? 0 : top / p.sw + 1;
    if (hi > p.wo) hi = p.wo;
    if (lo > hi) lo = hi;
    Reg a[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
    const float* xb = xr[0] - off * C;
    const i64 xs = p.sw * C;
    i64 ow = lo;
    for (; ow + 4 <= hi; ow += 4) {
      unroll<4>([&](auto j) {
        const i64 o = ow + j.value;
        a[j.value] = V::fma(ld<Tail>(xb + o * xs, m), ld<Tail>(dyr + o * C, m), a[j.value]);
      });
    }
    for (; ow < hi; ++ow) a[0] = V::fma(ld<Tail>(xb + ow * xs, m), ld<Tail>(dyr + ow * C, m), a[0]);
    acc_add<Tail>(acc + k * C, V::add(V::add(a[0], a[1]), V::add(a[2], a[3])), m);
  }
}

// db slice += sum of the dy rows [q0, q1) (two interleaved sums).
template <bool Tail>
__attribute__((flatten)) void bias_rows(const DwBwdFilterParams& p, const float* dy, i64 q0, i64 q1,
                                        float* out, Mask m) {
  const i64 C = p.c;
  Reg sum[2] = {V::zero(), V::zero()};
  for (i64 q = q0; q < q1; ++q) {
    const float* dyr = dy + q * p.wo * C;
    i64 ow = 0;
    for (; ow + 2 <= p.wo; ow += 2) {
      sum[0] = V::add(sum[0], ld<Tail>(dyr + ow * C, m));
      sum[1] = V::add(sum[1], ld<Tail>(dyr + (ow + 1) * C, m));
    }
    if (ow < p.wo) sum[0] = V::add(sum[0], ld<Tail>(dyr + ow * C, m));
  }
  acc_add<Tail>(out, V::add(sum[0], sum[1]), m);
}

// Any KW: one kernel row per call (pass_generic) over the strip's rows.
template <bool Tail>
void strip_generic(const DwBwdFilterParams& p, const float* x, const float* dy, i64 c0, i64 q0,
                   i64 q1, i64 kh0, float* acc, float* bias, Mask m) {
  const i64 C = p.c;
  if (bias != nullptr) bias_rows<Tail>(p, dy + c0, q0, q1, bias, m);
  for (i64 q = q0; q < q1; ++q) {
    const i64 n = q / p.ho, oh = q % p.ho;
    const i64 ih = oh * p.sh - p.pad_top + kh0 * p.dh;
    if (ih < 0 || ih >= p.h) continue;
    const float* one[1] = {x + (n * p.h + ih) * p.w * C + c0};
    pass_generic<Tail>(p, one, dy + q * p.wo * C + c0, acc, m);
  }
}

using StripFn = void (*)(const DwBwdFilterParams&, const float*, const float*, i64, i64, i64, i64,
                         float*, float*, Mask);

// Kernel rows per pass for a kernel width (the accumulators take R*KW registers).
constexpr int max_rows(i64 kw) { return kw <= 3 ? 3 : (kw <= 5 ? 2 : 1); }

template <int R, int KW, bool Tail, bool Bias>
StripFn pick_s(i64 s) {
  if constexpr (!Tail) {
    if (s == 1) return &strip<R, KW, 1, false, Bias>;
    if (s == 2) return &strip<R, KW, 2, false, Bias>;
  }
  (void)s;
  return &strip<R, KW, 0, Tail, Bias>;
}

// r: max_rows(KW) or 1 (only those two are instantiated).
template <int KW, bool Tail, bool Bias>
StripFn pick_r(i64 r, i64 s) {
  if constexpr (max_rows(KW) > 1) {
    if (r == max_rows(KW)) return pick_s<max_rows(KW), KW, Tail, Bias>(s);
  }
  return pick_s<1, KW, Tail, Bias>(s);
}

// s: the compile-time stride to use (1, 2) or 0 for the params' stride and dilation.
template <bool Tail, bool Bias>
StripFn pick(i64 r, i64 kw, i64 s) {
  switch (kw) {
    case 1:
      return pick_r<1, Tail, Bias>(r, s);
    case 2:
      return pick_r<2, Tail, Bias>(r, s);
    case 3:
      return pick_r<3, Tail, Bias>(r, s);
    case 4:
      return pick_r<4, Tail, Bias>(r, s);
    case 5:
      return pick_r<5, Tail, Bias>(r, s);
    case 6:
      return pick_r<6, Tail, Bias>(r, s);
    case 7:
      return pick_r<7, Tail, Bias>(r, s);
    default:
      return &strip_generic<Tail>;
  }
}

void entry(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw, float* db,
           i64 begin, i64 end) {
  constexpr i64 L = V::kLanes;
  const i64 C = p.c;
  const i64 taps = p.kh * p.kw;
  const i64 blocks = (C + L - 1) / L;
  const i64 rmax = p.kw <= 7 && p.kh >= max_rows(p.kw) ? max_rows(p.kw) : 1;
  const i64 s = p.dw == 1 && (p.sw == 1 || p.sw == 2) ? p.sw : 0;
  // [tail][bias]: the first kernel-row chunk (always rmax rows) also sums db.
  const StripFn full[2][2] = {{pick<false, false>(rmax, p.kw, s), pick<false, true>(rmax, p.kw, s)},
                              {pick<true, false>(rmax, p.kw, 0), pick<true, true>(rmax, p.kw, 0)}};
  const StripFn one[2] = {pick<false, false>(1, p.kw, s), pick<true, false>(1, p.kw, 0)};
  const Mask all = V::mask(static_cast<int>(L));
  const Mask tail = V::mask(static_cast<int>(C - (blocks - 1) * L));
  const i64 rows_total = p.n * p.ho;
  for (i64 task = begin; task < end; ++task) {
    const i64 t = task / p.groups, grp = task % p.groups;
    const i64 b0 = grp * blocks / p.groups, b1 = (grp + 1) * blocks / p.groups;
    const i64 c0 = b0 * L, c1 = b1 * L < C ? b1 * L : C;
    float* tdw = p.tiles > 1 ? p.part + t * p.part_stride : dw;
    float* tdb = db == nullptr ? nullptr : (p.tiles > 1 ? tdw + taps * C : db);
    for (i64 i = 0; i < taps; ++i) {
      for (i64 c = c0; c < c1; ++c) tdw[i * C + c] = 0.0f;
    }
    if (tdb != nullptr) {
      for (i64 c = c0; c < c1; ++c) tdb[c] = 0.0f;
    }
    const i64 q0 = t * p.tile_rows;
    const i64 q1 = q0 + p.tile_rows < rows_total ? q0 + p.tile_rows : rows_total;
    for (i64 qs = q0; qs < q1; qs += p.strip_rows) {
      const i64 qe = qs + p.strip_rows < q1 ? qs + p.strip_rows : q1;
      for (i64 cb = b0; cb < b1; ++cb) {
        const i64 cc = cb * L;
        const bool is_tail = cc + L > C;
        const Mask m = is_tail ? tail : all;
        for (i64 kh = 0; kh < p.kh;) {
          const i64 cnt = p.kh - kh < rmax ? p.kh - kh : rmax;
          if (cnt == rmax) {
            float* b = kh == 0 && tdb != nullptr ? tdb + cc : nullptr;
            full[is_tail][b != nullptr](p, x, dy, cc, qs, qe, kh, tdw + kh * p.kw * C + cc, b, m);
          } else {
            for (i64 r = 0; r < cnt; ++r) {
              one[is_tail](p, x, dy, cc, qs, qe, kh + r, tdw + (kh + r) * p.kw * C + cc, nullptr,
                           m);
            }
          }
          kh += cnt;
        }
      }
    }
  }
}
