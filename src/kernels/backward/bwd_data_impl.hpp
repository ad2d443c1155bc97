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

// Depthwise, stride 2 and 3 taps along W, dilation 1, C a multiple of the vector width (the
// strided 3x3 layers of MobileNet, EfficientNet, ...): the transposed convolution written
// per dy column instead of per dx column. With u = iw + pad_left = 2 ow + kw, an odd u reads
// dy column (u - 1) / 2 through tap 1, an even u reads column u/2 - 1 through tap 2 and
// column u/2 through tap 0. A block owns the 2B dx columns from an even u0 and
// loads each of the B + 1 dy columns it reads once per kernel row, feeding up to three
// accumulators: 3 FMAs per dy load, where the gather above loads a dy and a tap per FMA.
// Per dx value the sum runs over the row taps (kh ascending), then kw = 2 before kw = 0: a
// fixed order, so the result does not depend on the thread count.
constexpr int kS2Block = 5;  // 10 accumulators + 3 taps + 1 dy column of the 16 AVX2 registers

inline bool dw_s2k3(const BwdDataParams& p) {
  return p.cig == 1 && p.cog == 1 && p.sw == 2 && p.kw == 3 && p.dw == 1 && p.c_in % V::kLanes == 0;
}

template <bool Checked>
__attribute__((always_inline)) inline void dw_s2k3_block(const BwdDataParams& p, const float* dyn,
                                                         float* dxrow, const i64* rt, i64 nrt,
                                                         i64 iw0, i64 c0) {
  constexpr int B = kS2Block;
  const i64 C = p.c_in;
  const i64 ow_first = (iw0 + p.pad_left) / 2 - 1;  // dy column of j = 0
  Reg acc[2 * B];
  unroll<2 * B>([&](auto ic) { acc[decltype(ic)::value] = V::zero(); });
  for (i64 r = 0; r < nrt; ++r) {
    const float* wr = p.wpk + rt[2 * r] * 3 * C + c0;
    const Reg w0 = V::loadu(wr), w1 = V::loadu(wr + C), w2 = V::loadu(wr + 2 * C);
    const float* dyr = dyn + (rt[2 * r + 1] * p.wo + ow_first) * C + c0;
    unroll<B + 1>([&](auto jc) {
      constexpr int j = decltype(jc)::value;
      if constexpr (Checked) {
        const i64 ow = ow_first + j;
        if (ow < 0 || ow >= p.wo) return;
      }
      const Reg d = V::loadu(dyr + j * C);
      if constexpr (j <= B - 1) acc[2 * j] = V::fma(d, w2, acc[2 * j]);
      if constexpr (j >= 1) {
        acc[2 * j - 2] = V::fma(d, w0, acc[2 * j - 2]);
        acc[2 * j - 1] = V::fma(d, w1, acc[2 * j - 1]);
      }
    });
  }
  float* out = dxrow + iw0 * C + c0;
  unroll<2 * B>([&](auto ic) {
    constexpr int i = decltype(ic)::value;
    if (!Checked || (iw0 + i >= 0 && iw0 + i < p.w)) V::storeu(out + i * C, acc[i]);
  });
}

void depthwise_row_s2k3(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt,
                        i64 nrt) {
  constexpr i64 L = V::kLanes;
  constexpr i64 B = kS2Block;
  const i64 C = p.c_in;
  // The first block starts at an even u0: dx column 0, or -1 (not stored) for an odd pad.
  for (i64 iw0 = -(p.pad_left % 2); iw0 < p.w; iw0 += 2 * B) {
    const i64 ow_first = (iw0 + p.pad_left) / 2 - 1;
    const bool inside = iw0 >= 0 && iw0 + 2 * B <= p.w && ow_first >= 0 && ow_first + B < p.wo;
    for (i64 c0 = 0; c0 < C; c0 += L) {
      if (inside) {
        dw_s2k3_block<false>(p, dyn, dxrow, rt, nrt, iw0, c0);
      } else {
        dw_s2k3_block<true>(p, dyn, dxrow, rt, nrt, iw0, c0);
      }
    }
  }
}

// Grouped, same stride-2 3-tap W geometry, Cig a multiple of the vector width (ResNeXt's
// strided 3x3 layers): the block layout of dw_s2k3_block with a group's Cig input channels
// as lanes. For each row tap and output channel o of the group the three taps' filter
// vectors (over i) stay in registers while every dy column of the block broadcasts its
// value o into up to three dx accumulators: 3 FMAs per broadcast, where the gather loads a
// filter vector and a broadcast per FMA. Per dx value the sum runs over the row taps (kh
// ascending), then o, then kw = 2 before kw = 0: a fixed order.
inline bool gconv_s2k3(const BwdDataParams& p) {
  return p.cig >= 2 && p.sw == 2 && p.kw == 3 && p.dw == 1 && p.cig % V::kLanes == 0;
}

template <bool Checked>
__attribute__((always_inline)) inline void gconv_s2k3_block(const BwdDataParams& p,
                                                            const float* dyn, float* dxrow,
                                                            const i64* rt, i64 nrt, i64 iw0, i64 gr,
                                                            i64 i0) {
  constexpr int B = kS2Block;
  const i64 cig = p.cig, cog = p.cog;
  const i64 tap_stride = p.groups * cog * cig;  // packed [KH*KW][G][Cog][Cig]
  const i64 ow_first = (iw0 + p.pad_left) / 2 - 1;
  Reg acc[2 * B];
  unroll<2 * B>([&](auto ic) { acc[decltype(ic)::value] = V::zero(); });
  for (i64 r = 0; r < nrt; ++r) {
    const float* wr = p.wpk + rt[2 * r] * 3 * tap_stride + gr * cog * cig + i0;
    const float* dyr = dyn + (rt[2 * r + 1] * p.wo + ow_first) * p.c_out + gr * cog;
    for (i64 o = 0; o < cog; ++o) {
      const Reg w0 = V::loadu(wr + o * cig);
      const Reg w1 = V::loadu(wr + tap_stride + o * cig);
      const Reg w2 = V::loadu(wr + 2 * tap_stride + o * cig);
      unroll<B + 1>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        if constexpr (Checked) {
          const i64 ow = ow_first + j;
          if (ow < 0 || ow >= p.wo) return;
        }
        const Reg d = V::set1(dyr[j * p.c_out + o]);
        if constexpr (j <= B - 1) acc[2 * j] = V::fma(d, w2, acc[2 * j]);
        if constexpr (j >= 1) {
          acc[2 * j - 2] = V::fma(d, w0, acc[2 * j - 2]);
          acc[2 * j - 1] = V::fma(d, w1, acc[2 * j - 1]);
        }
      });
    }
  }
  float* out = dxrow + iw0 * p.c_in + gr * cig + i0;
  unroll<2 * B>([&](auto ic) {
    constexpr int i = decltype(ic)::value;
    if (!Checked || (iw0 + i >= 0 && iw0 + i < p.w)) V::storeu(out + i * p.c_in, acc[i]);
  });
}

void grouped_row_s2k3(const BwdDataParams& p, const float* dyn, float* dxrow, const i64* rt,
                      i64 nrt) {
  constexpr i64 L = V::kLanes;
  constexpr i64 B = kS2Block;
  for (i64 iw0 = -(p.pad_left % 2); iw0 < p.w; iw0 += 2 * B) {
    const i64 ow_first = (iw0 + p.pad_left) / 2 - 1;
    const bool inside = iw0 >= 0 && iw0 + 2 * B <= p.w && ow_first >= 0 && ow_first + B < p.wo;
    for (i64 gr = 0; gr < p.groups; ++gr) {
      for (i64 i0 = 0; i0 < p.cig; i0 += L) {
        if (inside) {
          gconv_s2k3_block<false>(p, dyn, dxrow, rt, nrt, iw0, gr, i0);
        } else {
          gconv_s2k3_block<true>(p, dyn, dxrow, rt, nrt, iw0, gr, i0);
        }
      }
    }
  }
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
  for (i64 task = begin; task < end; ++task) {
    const i64 n = task / p.h;
    const i64 ih = task % p.h;
    const i64 nrt = row_taps(p, ih, scratch);
    const float* dyn = dy + n * p.ho * p.wo * p.c_out;
    float* dxrow = dx + (n * p.h + ih) * p.w * p.c_in;
    if (dw_s2k3(p)) {
      depthwise_row_s2k3(p, dyn, dxrow, scratch, nrt);
    } else if (p.cig == 1 && p.cog == 1) {
      depthwise_row(p, dyn, dxrow, scratch, nrt);
    } else if (gconv_s2k3(p)) {
      grouped_row_s2k3(p, dyn, dxrow, scratch, nrt);
    } else {
      grouped_row(p, dyn, dxrow, scratch, nrt);
    }
  }
}
