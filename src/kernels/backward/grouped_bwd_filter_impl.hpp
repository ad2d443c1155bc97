// Grouped filter gradient, written once over a SIMD traits struct `V`, included by each
// per-ISA translation unit inside an anonymous namespace (internal linkage). No includes, no
// include guard.
//
//   dw[kh][kw][i][oc] = sum over n, oh, ow of x[n][ih][iw][g(oc)*Cig + i] * dy[n][oh][ow][oc]
//
// Output channels are the vector lanes. When a vector's lanes lie in one group (Cog a
// multiple of the width), every lane needs the same input value: one broadcast from memory.
// When a vector spans several small groups (the width a multiple of Cog, e.g. ResNeXt's 4 or
// 8 channels per group), the input channels of those groups are loaded as one vector and a
// lane permutation gives each lane "input channel i of my own group" - no lane is wasted on
// padding a group. With four channels a group on both sides (ResNeXt's first stage) the
// permutation is an in-lane splat with an immediate (mode 2), and at stride 1 the row is
// walked by input column, each input vector splat once for the T taps that read it.
// A task owns one output-channel vector x T kernel columns of one kernel row x Ib input
// channels: T*Ib accumulators stay in registers while it sums over a block of N x Ho rows
// (a thread runs all its tasks block by block, so the rows stay in L2); the sums continue
// across blocks in one fixed order (bit-identical for any thread count).
//
// V provides: Reg, Mask, Idx, kLanes, zero(), load(const float*, Mask), loadu(const float*),
// fma(a, b, c), add(a, b), store(float*, Reg, Mask), mask(int n), broadcast(const float*),
// index(const int32_t*), permute(Reg, Idx), splat4<B>(Reg).

using i64 = std::int64_t;
using Reg = typename V::Reg;

struct Task {
  i64 oc0;              // first output channel of the vector
  typename V::Mask m;   // active output lanes
  typename V::Mask xm;  // active input lanes (permute mode)
  i64 xoff;             // first input channel: broadcast mode g*Cig + i0, permute mode g0*Cig
  i64 i0;               // first input channel of the chunk (within the group)
  i64 kh, kw0;
  bool bias;
};

// The task's taps that exist (a kernel-column chunk or input-channel chunk may overhang).
__attribute__((always_inline)) inline float* tap_out(const GroupedBwdFilterParams& p, const Task& t,
                                                     i64 a, i64 b, float* dw) {
  if (t.kw0 + a >= p.kw || t.i0 + b >= p.cig) return nullptr;
  return dw + ((t.kh * p.kw + t.kw0 + a) * p.cig + t.i0 + b) * p.c_out + t.oc0;
}

// Output rows [q0, q1) of the flattened (n, oh) range. The first block starts the sums at
// zero; later ones continue from the values the previous block stored (a float stored and
// loaded back is the same float: the additions are those of one pass over every row).
template <int T, int IB, int MODE>
void task_body(const GroupedBwdFilterParams& p, const Task& t, const typename V::Idx* idx,
               const float* x, const float* dy, float* dw, float* db, i64 q0, i64 q1) {
  Reg acc[T][IB];
  Reg bsum = V::zero();
  unroll<T>([&](auto a) {
    unroll<IB>([&](auto b) {
      const float* o = q0 == 0 ? nullptr : tap_out(p, t, a.value, b.value, dw);
      acc[a.value][b.value] = o == nullptr ? V::zero() : V::load(o, t.m);
    });
  });
  if (t.bias && q0 != 0) bsum = V::load(db + t.oc0, t.m);
  // Pixels whose T taps are all inside the input along W.
  const i64 first = p.pad_left - t.kw0 * p.dw;                     // ow*sw >= first
  const i64 last = p.w - 1 + p.pad_left - (t.kw0 + T - 1) * p.dw;  // ow*sw <= last
  i64 ow_lo = first <= 0 ? 0 : (first + p.sw - 1) / p.sw;
  i64 ow_hi = last < 0 ? 0 : last / p.sw + 1;
  if (ow_hi > p.wo) ow_hi = p.wo;
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  // MODE 2 (Cig = Cog = 4, whole vectors): unmasked loads and in-lane splats, so the T x IB
  // accumulators, the dy vector, the input vector and one splat fit the 16 AVX2 registers
  // (the index vectors and the mask of mode 0 spilled the accumulators to the stack: a
  // store-to-load round trip on every FMA chain).
  auto ld = [&](const float* q, typename V::Mask m) __attribute__((always_inline)) {
    if constexpr (MODE == 2) {
      (void)m;
      return V::loadu(q);
    } else {
      return V::load(q, m);
    }
  };
  auto pixel = [&](const float* xrow, const float* drow, i64 ow, bool check)
      __attribute__((always_inline)) {
    const Reg d = ld(drow + ow * p.c_out, t.m);
    const i64 iw0 = ow * p.sw - p.pad_left + t.kw0 * p.dw;
    unroll<T>([&](auto a) {
      const i64 iw = iw0 + a.value * p.dw;
      if (check && (iw < 0 || iw >= p.w)) return;
      const float* xp = xrow + iw * p.c_in + t.xoff;
      if constexpr (MODE == 1) {
        unroll<IB>([&](auto b) {
          acc[a.value][b.value] = V::fma(V::broadcast(xp + b.value), d, acc[a.value][b.value]);
        });
      } else if constexpr (MODE == 2) {
        const Reg xv = V::loadu(xp);
        unroll<IB>([&](auto b) {
          acc[a.value][b.value] = V::fma(V::template splat4<b.value>(xv), d, acc[a.value][b.value]);
        });
      } else {
        const Reg xv = V::load(xp, t.xm);
        unroll<IB>([&](auto b) {
          acc[a.value][b.value] = V::fma(V::permute(xv, idx[b.value]), d, acc[a.value][b.value]);
        });
      }
    });
  };
  i64 n = q0 / p.ho, oh = q0 % p.ho;  // advanced incrementally
  // MODE 2 with stride and dilation 1 along W walks the row by input column: each input
  // vector is loaded and splat once per input channel, and feeds the T taps that read it
  // (tap a of output column ow reads input column ow + kw0 + a - pad_left). Each accumulator
  // still sums its output columns in ascending order: the same additions as the column walk.
  const i64 base = t.kw0 - p.pad_left;  // input column of tap 0 at output column 0
  const i64 iw_lo = base > 0 ? base : 0;
  const i64 iw_hi = p.wo + base + T - 1 < p.w ? p.wo + base + T - 1 : p.w;
  i64 in_lo = base + T - 1 > iw_lo ? base + T - 1 : iw_lo;  // every tap's column inside
  i64 in_hi = p.wo + base < iw_hi ? p.wo + base : iw_hi;
  if (in_hi < in_lo) in_lo = in_hi = iw_hi;  // no interior: every column checked
  const bool by_input = MODE == 2 && p.sw == 1 && p.dw == 1;
  auto column = [&](const float* xrow, const float* drow, i64 iw, bool check)
      __attribute__((always_inline)) {
    if constexpr (MODE == 2) {
      const Reg xv = V::loadu(xrow + iw * p.c_in + t.xoff);
      unroll<IB>([&](auto b) {
        const Reg sp = V::template splat4<b.value>(xv);
        unroll<T>([&](auto a) {
          const i64 ow = iw - base - a.value;
          if (check && (ow < 0 || ow >= p.wo)) return;
          acc[a.value][b.value] = V::fma(sp, V::loadu(drow + ow * p.c_out), acc[a.value][b.value]);
        });
      });
    } else {
      (void)xrow, (void)drow, (void)iw, (void)check;
    }
  };
  for (i64 q = q0; q < q1; ++q, ++oh) {
    if (oh == p.ho) {
      oh = 0;
      ++n;
    }
    const float* drow = dy + q * p.wo * p.c_out + t.oc0;
    // Bias tasks (kh == 0, first column and input chunk) sum the dy row on a pass of their
    // own, in column order as before: a test per pixel in the main loop cost more.
    if (t.bias) {
      for (i64 ow = 0; ow < p.wo; ++ow) bsum = V::add(bsum, V::load(drow + ow * p.c_out, t.m));
    }
    const i64 ih = oh * p.sh - p.pad_top + t.kh * p.dh;
    if (ih < 0 || ih >= p.h) continue;
    const float* xrow = x + (n * p.h + ih) * p.w * p.c_in;
    if (by_input) {
      for (i64 iw = iw_lo; iw < in_lo; ++iw) column(xrow, drow, iw, true);
      for (i64 iw = in_lo; iw < in_hi; ++iw) column(xrow, drow, iw, false);
      for (i64 iw = in_hi; iw < iw_hi; ++iw) column(xrow, drow, iw, true);
      continue;
    }
    for (i64 ow = 0; ow < ow_lo; ++ow) pixel(xrow, drow, ow, true);
    for (i64 ow = ow_lo; ow < ow_hi; ++ow) pixel(xrow, drow, ow, false);
    for (i64 ow = ow_hi; ow < p.wo; ++ow) pixel(xrow, drow, ow, true);
  }
  unroll<T>([&](auto a) {
    unroll<IB>([&](auto b) {
      float* o = tap_out(p, t, a.value, b.value, dw);
      if (o != nullptr) V::store(o, acc[a.value][b.value], t.m);
    });
  });
  if (t.bias) V::store(db + t.oc0, bsum, t.m);
}

using BodyFn = void (*)(const GroupedBwdFilterParams&, const Task&, const typename V::Idx*,
                        const float*, const float*, float*, float*, i64, i64);

template <int T, int MODE>
BodyFn pick_ib_any(i64 ib) {
  switch (ib) {
    case 1:
      return &task_body<T, 1, MODE>;
    case 2:
      return &task_body<T, 2, MODE>;
    case 3:
      return &task_body<T, 3, MODE>;
    case 4:
      return &task_body<T, 4, MODE>;
    case 6:
      return &task_body<T, 6, MODE>;
    case 8:
      return &task_body<T, 8, MODE>;
    default:
      return nullptr;
  }
}

template <int T, int MODE>
BodyFn pick_ib(i64 ib) {
  if constexpr (MODE == 2) {  // Cig = 4 only: splat4 takes element 0..3 of each group of 4
    return ib == 4 ? &task_body<T, 4, 2> : nullptr;
  } else {
    return pick_ib_any<T, MODE>(ib);
  }
}

template <int MODE>
BodyFn pick(i64 t, i64 ib) {
  switch (t) {
    case 1:
      return pick_ib<1, MODE>(ib);
    case 2:
      return pick_ib<2, MODE>(ib);
    case 3:
      return pick_ib<3, MODE>(ib);
    default:
      return nullptr;
  }
}

void entry(const GroupedBwdFilterParams& p, const float* x, const float* dy, float* dw, float* db,
           i64 begin, i64 end) {
  constexpr i64 L = V::kLanes;
  const i64 col_chunks = (p.kw + p.taps - 1) / p.taps;
  const i64 in_chunks = (p.cig + p.ins - 1) / p.ins;
  const BodyFn body = p.broadcast != 0 ? pick<1>(p.taps, p.ins) : pick<0>(p.taps, p.ins);
  // Four-channel groups on both sides, whole vectors: in-lane splats (see task_body).
  const BodyFn splat =
      p.broadcast == 0 && p.cig == 4 && p.cog == 4 && p.ins == 4 ? pick<2>(p.taps, 4) : nullptr;
  if (body == nullptr) return;  // unreachable: the plan picks taps <= 3, ins in {1,2,3,4,6,8}
  const i64 rows = p.n * p.ho;
  const i64 br = p.block_rows > 0 && p.block_rows < rows ? p.block_rows : rows;
  for (i64 q0 = 0;;) {  // at least one pass: with no rows the tasks still store zeros
    const i64 q1 = q0 + br < rows ? q0 + br : rows;
    for (i64 task = begin; task < end; ++task) {
      i64 r = task;
      const i64 ic = r % in_chunks;
      r /= in_chunks;
      const i64 cc = r % col_chunks;
      r /= col_chunks;
      const i64 kh = r % p.kh;
      const i64 v = r / p.kh;
      Task t{};
      i64 lanes = 0;
      if (p.broadcast != 0) {  // vectors per group: ceil(Cog / L), the last one masked
        const i64 vpg = (p.cog + L - 1) / L;
        const i64 chunk = v % vpg;
        t.oc0 = (v / vpg) * p.cog + chunk * L;
        lanes = p.cog - chunk * L < L ? p.cog - chunk * L : L;
      } else {
        t.oc0 = v * L;
        lanes = p.c_out - t.oc0 < L ? p.c_out - t.oc0 : L;
      }
      t.m = V::mask(static_cast<int>(lanes));
      t.i0 = ic * p.ins;
      t.kh = kh;
      t.kw0 = cc * p.taps;
      t.bias = db != nullptr && kh == 0 && cc == 0 && ic == 0;
      typename V::Idx idx[8];
      if (p.broadcast != 0) {
        t.xoff = (t.oc0 / p.cog) * p.cig + t.i0;
        t.xm = t.m;
      } else {
        const i64 g0 = t.oc0 / p.cog;
        const i64 groups_here = (lanes + p.cog - 1) / p.cog;
        t.xoff = g0 * p.cig;
        t.xm = V::mask(static_cast<int>(groups_here * p.cig));
        for (i64 b = 0; b < p.ins && b < 8; ++b) {
          std::int32_t lane_idx[V::kLanes];
          for (i64 j = 0; j < L; ++j) {
            lane_idx[j] = static_cast<std::int32_t>((j / p.cog) * p.cig + t.i0 + b);
            if (lane_idx[j] >= L) lane_idx[j] = 0;  // lanes past the last group (masked off)
          }
          idx[b] = V::index(lane_idx);
        }
      }
      const bool whole = lanes == L && t.i0 == 0;
      (splat != nullptr && whole ? splat : body)(p, t, idx, x, dy, dw, db, q0, q1);
    }
    q0 = q1;
    if (q0 >= rows) break;
  }
}
