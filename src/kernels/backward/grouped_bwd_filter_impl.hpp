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
// padding a group. A task owns one output-channel vector x T kernel columns of one kernel row
// x Ib input channels: T*Ib accumulators stay in registers for the whole reduction over
// N x Ho x Wo, which runs in one fixed order (bit-identical for any thread count).
//
// V provides: Reg, Mask, Idx, kLanes, zero(), load(const float*, Mask), fma(a, b, c),
// add(a, b), store(float*, Reg, Mask), mask(int n), broadcast(const float*),
// index(const int32_t*), permute(Reg, Idx).

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

template <int T, int IB, bool BCAST>
void task_body(const GroupedBwdFilterParams& p, const Task& t, const typename V::Idx* idx,
               const float* x, const float* dy, float* dw, float* db) {
  Reg acc[T][IB];
  Reg bsum = V::zero();
  unroll<T>([&](auto a) { unroll<IB>([&](auto b) { acc[a.value][b.value] = V::zero(); }); });
  // Pixels whose T taps are all inside the input along W.
  const i64 first = p.pad_left - t.kw0 * p.dw;                     // ow*sw >= first
  const i64 last = p.w - 1 + p.pad_left - (t.kw0 + T - 1) * p.dw;  // ow*sw <= last
  i64 ow_lo = first <= 0 ? 0 : (first + p.sw - 1) / p.sw;
  i64 ow_hi = last < 0 ? 0 : last / p.sw + 1;
  if (ow_hi > p.wo) ow_hi = p.wo;
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  auto pixel = [&](const float* xrow, const float* drow, i64 ow, bool check)
      __attribute__((always_inline)) {
    const Reg d = V::load(drow + ow * p.c_out, t.m);
    if (t.bias) bsum = V::add(bsum, d);
    const i64 iw0 = ow * p.sw - p.pad_left + t.kw0 * p.dw;
    unroll<T>([&](auto a) {
      const i64 iw = iw0 + a.value * p.dw;
      if (check && (iw < 0 || iw >= p.w)) return;
      const float* xp = xrow + iw * p.c_in + t.xoff;
      if constexpr (BCAST) {
        unroll<IB>([&](auto b) {
          acc[a.value][b.value] = V::fma(V::broadcast(xp + b.value), d, acc[a.value][b.value]);
        });
      } else {
        const Reg xv = V::load(xp, t.xm);
        unroll<IB>([&](auto b) {
          acc[a.value][b.value] = V::fma(V::permute(xv, idx[b.value]), d, acc[a.value][b.value]);
        });
      }
    });
  };
  for (i64 n = 0; n < p.n; ++n) {
    for (i64 oh = 0; oh < p.ho; ++oh) {
      const float* drow = dy + ((n * p.ho + oh) * p.wo) * p.c_out + t.oc0;
      const i64 ih = oh * p.sh - p.pad_top + t.kh * p.dh;
      if (ih < 0 || ih >= p.h) {
        if (t.bias) {
          for (i64 ow = 0; ow < p.wo; ++ow) bsum = V::add(bsum, V::load(drow + ow * p.c_out, t.m));
        }
        continue;
      }
      const float* xrow = x + (n * p.h + ih) * p.w * p.c_in;
      for (i64 ow = 0; ow < ow_lo; ++ow) pixel(xrow, drow, ow, true);
      for (i64 ow = ow_lo; ow < ow_hi; ++ow) pixel(xrow, drow, ow, false);
      for (i64 ow = ow_hi; ow < p.wo; ++ow) pixel(xrow, drow, ow, true);
    }
  }
  unroll<T>([&](auto a) {
    if (t.kw0 + a.value >= p.kw) return;
    unroll<IB>([&](auto b) {
      if (t.i0 + b.value >= p.cig) return;
      float* out =
          dw + ((t.kh * p.kw + t.kw0 + a.value) * p.cig + t.i0 + b.value) * p.c_out + t.oc0;
      V::store(out, acc[a.value][b.value], t.m);
    });
  });
  if (t.bias) V::store(db + t.oc0, bsum, t.m);
}

using BodyFn = void (*)(const GroupedBwdFilterParams&, const Task&, const typename V::Idx*,
                        const float*, const float*, float*, float*);

template <int T, bool BCAST>
BodyFn pick_ib(i64 ib) {
  switch (ib) {
    case 1:
      return &task_body<T, 1, BCAST>;
    case 2:
      return &task_body<T, 2, BCAST>;
    case 3:
      return &task_body<T, 3, BCAST>;
    case 4:
      return &task_body<T, 4, BCAST>;
    case 6:
      return &task_body<T, 6, BCAST>;
    case 8:
      return &task_body<T, 8, BCAST>;
    default:
      return nullptr;
  }
}

template <bool BCAST>
BodyFn pick(i64 t, i64 ib) {
  switch (t) {
    case 1:
      return pick_ib<1, BCAST>(ib);
    case 2:
      return pick_ib<2, BCAST>(ib);
    case 3:
      return pick_ib<3, BCAST>(ib);
    default:
      return nullptr;
  }
}

void entry(const GroupedBwdFilterParams& p, const float* x, const float* dy, float* dw, float* db,
           i64 begin, i64 end) {
  constexpr i64 L = V::kLanes;
  const i64 col_chunks = (p.kw + p.taps - 1) / p.taps;
  const i64 in_chunks = (p.cig + p.ins - 1) / p.ins;
  const BodyFn body = p.broadcast != 0 ? pick<true>(p.taps, p.ins) : pick<false>(p.taps, p.ins);
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
    body(p, t, idx, x, dy, dw, db);
  }
}
