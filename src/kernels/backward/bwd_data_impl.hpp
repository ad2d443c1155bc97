// Input gradient by direct gather, written once over a SIMD traits struct `V` and included by
// each per-ISA translation unit inside an anonymous namespace. No includes, no include guard.
//
//   dx[n][ih][iw][ci] = sum over taps (kh, kw) whose forward output position (oh, ow) lies on
//                       the stride grid and inside the output of dy[n][oh][ow][co] * w[..]
//
// One task per input row writes that whole row; each dx value is a sum in a fixed tap order
// (kh, then kw, then output channel), so the result never depends on the thread count. The
// valid (kh, oh) of the row are found once per task, the valid (kw, ow) of each column come
// from a plan-time table: no bounds tests in the inner loops.
//
// Depthwise (multiplier 1): channels as lanes, four vectors at a time.
// Grouped: a group's input channels as lanes (masked when Cig is not a multiple of the
// width); each output channel's dy value is broadcast and multiplies a packed filter row; two
// accumulators (even/odd output channels) halve the FMA dependency chain.
//
// V provides: Reg, Mask, kLanes, zero(), set1(float), loadu(const float*),
// load(const float*, Mask), fma(a, b, c), add(a, b), storeu(float*, Reg),
// store(float*, Reg, Mask), mask(int n).

using i64 = std::int64_t;
using Reg = typename V::Reg;
using Mask = typename V::Mask;

inline i64 row_taps(const BwdDataParams& p, i64 ih, i64* tap) {
  i64 cnt = 0;
  for (i64 kh = 0; kh < p.kh; ++kh) {
    const i64 v = ih + p.pad_top - kh * p.dh;
    if (v < 0 || v % p.sh != 0) continue;
    const i64 oh = v / p.sh;
    if (oh >= p.ho) continue;
    tap[2 * cnt] = kh;
    tap[2 * cnt + 1] = oh;
    ++cnt;
  }
  return cnt;
}

void depthwise_row(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt, i64 nrt) {
  constexpr i64 L = V::kLanes;
  const i64 C = p.c_in;
  const i64 full4 = C / (4 * L) * (4 * L);
  for (i64 iw = 0; iw < p.w; ++iw) {
    const std::int32_t e0 = p.col_off[iw], e1 = p.col_off[iw + 1];
    float* out = dxrow + iw * C;
    for (i64 c0 = 0; c0 < full4; c0 += 4 * L) {
      Reg a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      for (i64 r = 0; r < nrt; ++r) {
        const float* dyr = dyn + rt[2 * r + 1] * p.wo * C + c0;
        const float* wr = p.wpk + rt[2 * r] * p.kw * C + c0;
        for (std::int32_t e = e0; e < e1; ++e) {
          const float* d = dyr + p.col_tap[2 * e + 1] * C;
          const float* wt = wr + p.col_tap[2 * e] * C;
          a0 = V::fma(V::loadu(d), V::loadu(wt), a0);
          a1 = V::fma(V::loadu(d + L), V::loadu(wt + L), a1);
          a2 = V::fma(V::loadu(d + 2 * L), V::loadu(wt + 2 * L), a2);
          a3 = V::fma(V::loadu(d + 3 * L), V::loadu(wt + 3 * L), a3);
        }
      }
      V::storeu(out + c0, a0);
      V::storeu(out + c0 + L, a1);
      V::storeu(out + c0 + 2 * L, a2);
      V::storeu(out + c0 + 3 * L, a3);
    }
    for (i64 c0 = full4; c0 < C; c0 += L) {
      const Mask m = V::mask(static_cast<int>(C - c0 < L ? C - c0 : L));
      Reg a = V::zero();
      for (i64 r = 0; r < nrt; ++r) {
        const float* dyr = dyn + rt[2 * r + 1] * p.wo * C + c0;
        const float* wr = p.wpk + rt[2 * r] * p.kw * C + c0;
        for (std::int32_t e = e0; e < e1; ++e) {
          a = V::fma(V::load(dyr + p.col_tap[2 * e + 1] * C, m),
                     V::load(wr + p.col_tap[2 * e] * C, m), a);
        }
      }
      V::store(out + c0, a, m);
    }
  }
}

// Strided input gradients along W by dy columns ("dycols"): the transposed convolution
// written per dy column instead of per dx column, for stride S in {1, 2} and KW in {3, 5, 7}
// along W with dilation 1 (any stride and dilation along H: the row taps). With
// u = iw + pad_left = S*ow + kw, a block owns the S*B dx columns [u0, u0 + S*B) from a
// multiple u0 of S; they read the B + D dy columns from u0/S - D (D = (KW-1)/S), dy column j
// reaching dx column S*(j - D) + kw through tap kw. Each dy vector is loaded (depthwise) or
// broadcast (grouped, per output channel o) once per kernel row and feeds up to KW dx
// accumulators from the KW tap vectors held in registers, where the gather loads a dy and a
// tap per FMA. Per dx value the sum runs over the row taps (kh ascending), then (grouped) o,
// then j ascending: a fixed order, so the result does not depend on the thread count.
//
// Blocks per (S, KW): S*B accumulators + KW taps + 1 dy vector within 15 of the 16 AVX2
// registers (AVX-512 uses the same blocks).
constexpr int dycols_block(int s, int kw) { return (15 - kw - 1) / s; }

// One block of one channel vector (depthwise; Tail: the last, partial vector, masked).
template <int S, int KW, bool Checked, bool Tail>
__attribute__((always_inline)) inline void dw_dycols_block(const BwdDataParams& p, const float* dyn,
                                                           float* dxrow, const i64* rt, i64 nrt,
                                                           i64 iw0, i64 c0, Mask m) {
  constexpr int B = dycols_block(S, KW);
  constexpr int D = (KW - 1) / S;
  const i64 C = p.c_in;
  const i64 ow_first = (iw0 + p.pad_left) / S - D;
  auto ld = [&](const float* q) __attribute__((always_inline)) {
    if constexpr (Tail) {
      return V::load(q, m);
    } else {
      return V::loadu(q);
    }
  };
  Reg acc[S * B];
  unroll<S * B>([&](auto ic) { acc[decltype(ic)::value] = V::zero(); });
  for (i64 r = 0; r < nrt; ++r) {
    const float* wr = p.wpk + rt[2 * r] * KW * C + c0;
    Reg wv[KW];
    unroll<KW>([&](auto kc) { wv[decltype(kc)::value] = ld(wr + decltype(kc)::value * C); });
    const float* dyr = dyn + (rt[2 * r + 1] * p.wo + ow_first) * C + c0;
    unroll<B + D>([&](auto jc) {
      constexpr int j = decltype(jc)::value;
      if constexpr (Checked) {
        const i64 ow = ow_first + j;
        if (ow < 0 || ow >= p.wo) return;
      }
      const Reg d = ld(dyr + j * C);
      unroll<KW>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        constexpr int idx = S * (j - D) + k;
        if constexpr (idx >= 0 && idx < S * B) acc[idx] = V::fma(d, wv[k], acc[idx]);
      });
    });
  }
  float* out = dxrow + iw0 * C + c0;
  unroll<S * B>([&](auto ic) {
    constexpr int i = decltype(ic)::value;
    if (!Checked || (iw0 + i >= 0 && iw0 + i < p.w)) {
      if constexpr (Tail) {
        V::store(out + i * C, acc[i], m);
      } else {
        V::storeu(out + i * C, acc[i]);
      }
    }
  });
}

// Calls f(iw0, inside) for each block of a dx row: blocks of S*B columns from the first
// multiple of S (dx column 0, or a negative one that is not stored); inside: every column
// and every dy column the block reads is in range (no tests needed).
template <int S, int KW, class F>
__attribute__((always_inline)) inline void dycols_blocks(const BwdDataParams& p, F&& f) {
  constexpr i64 B = dycols_block(S, KW);
  constexpr i64 D = (KW - 1) / S;
  for (i64 iw0 = -(p.pad_left % S); iw0 < p.w; iw0 += S * B) {
    const i64 ow_first = (iw0 + p.pad_left) / S - D;
    f(iw0, iw0 >= 0 && iw0 + S * B <= p.w && ow_first >= 0 && ow_first + B + D <= p.wo);
  }
}

template <int S, int KW>
void depthwise_row_dycols(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt,
                          i64 nrt) {
  constexpr i64 L = V::kLanes;
  const i64 C = p.c_in;
  const i64 full = C / L * L;
  const Mask all = V::mask(static_cast<int>(L));
  const Mask tail = V::mask(static_cast<int>(C - full));
  dycols_blocks<S, KW>(
      p, [&](i64 iw0, bool inside) __attribute__((always_inline)) {
        for (i64 c0 = 0; c0 < full; c0 += L) {
          if (inside) {
            dw_dycols_block<S, KW, false, false>(p, dyn, dxrow, rt, nrt, iw0, c0, all);
          } else {
            dw_dycols_block<S, KW, true, false>(p, dyn, dxrow, rt, nrt, iw0, c0, all);
          }
        }
        if (full < C) dw_dycols_block<S, KW, true, true>(p, dyn, dxrow, rt, nrt, iw0, full, tail);
      });
}

// One block of one vector of a group's input channels (grouped).
template <int S, int KW, bool Checked>
__attribute__((always_inline)) inline void gconv_dycols_block(const BwdDataParams& p,
                                                              const float* dyn, float* dxrow,
                                                              const i64* rt, i64 nrt, i64 iw0,
                                                              i64 gr, i64 i0) {
  constexpr int B = dycols_block(S, KW);
  constexpr int D = (KW - 1) / S;
  const i64 cig = p.cig, cog = p.cog;
  const i64 tap_stride = p.groups * cog * cig;  // packed [KH*KW][G][Cog][Cig]
  const i64 ow_first = (iw0 + p.pad_left) / S - D;
  Reg acc[S * B];
  unroll<S * B>([&](auto ic) { acc[decltype(ic)::value] = V::zero(); });
  for (i64 r = 0; r < nrt; ++r) {
    const float* wr = p.wpk + rt[2 * r] * KW * tap_stride + gr * cog * cig + i0;
    const float* dyr = dyn + (rt[2 * r + 1] * p.wo + ow_first) * p.c_out + gr * cog;
    for (i64 o = 0; o < cog; ++o) {
      Reg wv[KW];
      unroll<KW>([&](auto kc) {
        wv[decltype(kc)::value] = V::loadu(wr + decltype(kc)::value * tap_stride + o * cig);
      });
      unroll<B + D>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        if constexpr (Checked) {
          const i64 ow = ow_first + j;
          if (ow < 0 || ow >= p.wo) return;
        }
        const Reg d = V::set1(dyr[j * p.c_out + o]);
        unroll<KW>([&](auto kc) {
          constexpr int k = decltype(kc)::value;
          constexpr int idx = S * (j - D) + k;
          if constexpr (idx >= 0 && idx < S * B) acc[idx] = V::fma(d, wv[k], acc[idx]);
        });
      });
    }
  }
  float* out = dxrow + iw0 * p.c_in + gr * cig + i0;
  unroll<S * B>([&](auto ic) {
    constexpr int i = decltype(ic)::value;
    if (!Checked || (iw0 + i >= 0 && iw0 + i < p.w)) V::storeu(out + i * p.c_in, acc[i]);
  });
}

template <int S, int KW>
void grouped_row_dycols(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt,
                        i64 nrt) {
  constexpr i64 L = V::kLanes;
  dycols_blocks<S, KW>(
      p, [&](i64 iw0, bool inside) __attribute__((always_inline)) {
        for (i64 gr = 0; gr < p.groups; ++gr) {
          for (i64 i0 = 0; i0 < p.cig; i0 += L) {
            if (inside) {
              gconv_dycols_block<S, KW, false>(p, dyn, dxrow, rt, nrt, iw0, gr, i0);
            } else {
              gconv_dycols_block<S, KW, true>(p, dyn, dxrow, rt, nrt, iw0, gr, i0);
            }
          }
        }
      });
}

using RowFn = void (*)(const BwdDataParams&, const float*, float*, const i64*, i64);

template <bool Grouped>
RowFn dycols_row(i64 s, i64 kw) {
  if (s == 1) {
    if (kw == 3) return Grouped ? &grouped_row_dycols<1, 3> : &depthwise_row_dycols<1, 3>;
    if (kw == 5) return Grouped ? &grouped_row_dycols<1, 5> : &depthwise_row_dycols<1, 5>;
    return Grouped ? &grouped_row_dycols<1, 7> : &depthwise_row_dycols<1, 7>;
  }
  if (kw == 3) return Grouped ? &grouped_row_dycols<2, 3> : &depthwise_row_dycols<2, 3>;
  if (kw == 5) return Grouped ? &grouped_row_dycols<2, 5> : &depthwise_row_dycols<2, 5>;
  return Grouped ? &grouped_row_dycols<2, 7> : &depthwise_row_dycols<2, 7>;
}

void grouped_row(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt, i64 nrt) {
  constexpr i64 L = V::kLanes;
  const i64 G = p.groups, cig = p.cig, cog = p.cog;
  const i64 tap_stride = G * cog * cig;
  for (i64 iw = 0; iw < p.w; ++iw) {
    const std::int32_t e0 = p.col_off[iw], e1 = p.col_off[iw + 1];
    float* out = dxrow + iw * p.c_in;
    for (i64 gr = 0; gr < G; ++gr) {
      for (i64 i0 = 0; i0 < cig; i0 += L) {
        const bool full = cig - i0 >= L;
        const Mask m = V::mask(static_cast<int>(full ? L : cig - i0));
        Reg a0 = V::zero(), a1 = V::zero();
        for (i64 r = 0; r < nrt; ++r) {
          const float* dyr = dyn + rt[2 * r + 1] * p.wo * p.c_out + gr * cog;
          const float* wr = p.wpk + rt[2 * r] * p.kw * tap_stride + gr * cog * cig + i0;
          for (std::int32_t e = e0; e < e1; ++e) {
            const float* d = dyr + p.col_tap[2 * e + 1] * p.c_out;
            const float* wt = wr + p.col_tap[2 * e] * tap_stride;
            i64 o = 0;
            if (full) {
              for (; o + 1 < cog; o += 2) {
                a0 = V::fma(V::set1(d[o]), V::loadu(wt + o * cig), a0);
                a1 = V::fma(V::set1(d[o + 1]), V::loadu(wt + (o + 1) * cig), a1);
              }
              if (o < cog) a0 = V::fma(V::set1(d[o]), V::loadu(wt + o * cig), a0);
            } else {
              for (; o + 1 < cog; o += 2) {
                a0 = V::fma(V::set1(d[o]), V::load(wt + o * cig, m), a0);
                a1 = V::fma(V::set1(d[o + 1]), V::load(wt + (o + 1) * cig, m), a1);
              }
              if (o < cog) a0 = V::fma(V::set1(d[o]), V::load(wt + o * cig, m), a0);
            }
          }
        }
        if (full) {
          V::storeu(out + gr * cig + i0, V::add(a0, a1));
        } else {
          V::store(out + gr * cig + i0, V::add(a0, a1), m);
        }
      }
    }
  }
}

void entry(const BwdDataParams& p, const float* dy, float* dx, i64 begin, i64 end, i64* scratch) {
  RowFn dycols = nullptr;
  if (bwd_data_dycols(p.sw, p.kw, p.dw, p.cig, p.cog, V::kLanes)) {
    dycols = p.cig == 1 ? dycols_row<false>(p.sw, p.kw) : dycols_row<true>(p.sw, p.kw);
  }
  for (i64 task = begin; task < end; ++task) {
    const i64 n = task / p.h;
    const i64 ih = task % p.h;
    const i64 nrt = row_taps(p, ih, scratch);
    const float* dyn = dy + n * p.ho * p.wo * p.c_out;
    float* dxrow = dx + (n * p.h + ih) * p.w * p.c_in;
    if (dycols != nullptr) {
      dycols(p, dyn, dxrow, scratch, nrt);
    } else if (p.cig == 1 && p.cog == 1) {
      depthwise_row(p, dyn, dxrow, scratch, nrt);
    } else {
      grouped_row(p, dyn, dxrow, scratch, nrt);
    }
  }
}
