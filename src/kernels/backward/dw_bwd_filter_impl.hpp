// Depthwise filter gradient, written once over a SIMD traits struct `V` and included by each
// per-ISA translation unit inside an anonymous namespace (internal linkage: an AVX-512 copy
// can never be chosen by the linker for the baseline build). No includes, no include guard.
//
//   dw[kh][kw][c] = sum over n, oh, ow of x[n][oh*sh - pt + kh*dh][ow*sw - pl + kw*dw][c]
//                                         * dy[n][oh][ow][c]
//
// Channels are the vector lanes. A task owns a block of `vecs` channel vectors and a chunk of
// `rows` kernel rows, i.e. a disjoint slice of dw, and reduces over every (n, oh) in order:
// for each output row, the R x KW x vecs tap accumulators live in registers while the row is
// swept along W (one dy load feeds R x KW FMAs), then are added to the task's accumulator in
// memory. Along W the interior (every tap inside the input) runs without checks; the few
// border pixels test each tap. The order of additions depends only on the geometry, never
// on the thread count, so results are bit-identical for any split.
//
// V provides: Reg, Mask, kLanes, zero(), load(const float*, Mask), fma(a, b, c),
// add(a, b), store(float*, Reg, Mask), mask(int n).

using i64 = std::int64_t;
using Reg = typename V::Reg;
using Mask = typename V::Mask;

template <int I>
struct Int {
  static constexpr int value = I;
};

template <int N, int I = 0, class F>
__attribute__((always_inline)) inline void unroll(F&& f) {
  if constexpr (I < N) {
    f(Int<I>{});
    unroll<N, I + 1>(f);
  }
}

struct Block {
  const float* x;   // image n, channel c0
  const float* dy;  // image n, channel c0
  Mask m[2];
};

// One output row, R kernel rows starting at input row ih[0..R), KW taps, NV vectors.
// acc_mem: [R][KW][NV][kLanes] task accumulator; bias_mem: [NV][kLanes] or null.
template <int R, int KW, int NV>
__attribute__((always_inline)) inline void row_pass(const DwBwdFilterParams& p, const Block& b,
                                                    const i64* ih, i64 oh, float* acc_mem,
                                                    float* bias_mem) {
  Reg a[R][KW][NV];
  Reg bs[NV];
  unroll<R>([&](auto r) {
    unroll<KW>(
        [&](auto k) { unroll<NV>([&](auto v) { a[r.value][k.value][v.value] = V::zero(); }); });
  });
  unroll<NV>([&](auto v) { bs[v.value] = V::zero(); });
  const float* xrow[R];
  unroll<R>([&](auto r) { xrow[r.value] = b.x + ih[r.value] * p.w * p.c; });
  const float* dyrow = b.dy + oh * p.wo * p.c;
  // Interior: ow with 0 <= ow*sw - pl and ow*sw - pl + (KW-1)*dw < W.
  const i64 lo_num = p.pad_left;
  i64 ow_lo = (lo_num + p.sw - 1) / p.sw;
  const i64 hi_lim = p.w - 1 - (KW - 1) * p.dw + p.pad_left;  // ow*sw <= hi_lim
  i64 ow_hi = hi_lim < 0 ? 0 : hi_lim / p.sw + 1;
  if (ow_hi > p.wo) ow_hi = p.wo;
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  auto pixel = [&](i64 ow, bool check) __attribute__((always_inline)) {
    Reg d[NV];
    unroll<NV>([&](auto v) {
      d[v.value] = V::load(dyrow + ow * p.c + v.value * V::kLanes, b.m[v.value]);
      if (bias_mem != nullptr) bs[v.value] = V::add(bs[v.value], d[v.value]);
    });
    const i64 iw0 = ow * p.sw - p.pad_left;
    unroll<KW>([&](auto k) {
      const i64 iw = iw0 + k.value * p.dw;
      if (check && (iw < 0 || iw >= p.w)) return;
      unroll<R>([&](auto r) {
        const float* xp = xrow[r.value] + iw * p.c;
        unroll<NV>([&](auto v) {
          const Reg xv = V::load(xp + v.value * V::kLanes, b.m[v.value]);
          a[r.value][k.value][v.value] = V::fma(xv, d[v.value], a[r.value][k.value][v.value]);
        });
      });
    });
  };
  for (i64 ow = 0; ow < ow_lo; ++ow) pixel(ow, true);
  for (i64 ow = ow_lo; ow < ow_hi; ++ow) pixel(ow, false);
  for (i64 ow = ow_hi < ow_lo ? ow_lo : ow_hi; ow < p.wo; ++ow) pixel(ow, true);
  unroll<R>([&](auto r) {
    unroll<KW>([&](auto k) {
      unroll<NV>([&](auto v) {
        float* m = acc_mem + ((r.value * KW + k.value) * NV + v.value) * V::kLanes;
        V::store(m, V::add(V::load(m, V::mask(V::kLanes)), a[r.value][k.value][v.value]),
                 V::mask(V::kLanes));
      });
    });
  });
  if (bias_mem != nullptr) {
    unroll<NV>([&](auto v) {
      float* m = bias_mem + v.value * V::kLanes;
      V::store(m, V::add(V::load(m, V::mask(V::kLanes)), bs[v.value]), V::mask(V::kLanes));
    });
  }
}

using RowFn = void (*)(const DwBwdFilterParams&, const Block&, const i64*, i64, float*, float*);

template <int R, int KW, int NV>
void row_fn(const DwBwdFilterParams& p, const Block& b, const i64* ih, i64 oh, float* acc,
            float* bias) {
  row_pass<R, KW, NV>(p, b, ih, oh, acc, bias);
}

// Generic KW: one tap at a time (any width), NV vectors, R = 1.
template <int NV>
void row_generic(const DwBwdFilterParams& p, const Block& b, const i64* ih, i64 oh, float* acc,
                 float* bias) {
  const float* xrow = b.x + ih[0] * p.w * p.c;
  const float* dyrow = b.dy + oh * p.wo * p.c;
  if (bias != nullptr) {
    Reg bs[NV];
    unroll<NV>([&](auto v) { bs[v.value] = V::zero(); });
    for (i64 ow = 0; ow < p.wo; ++ow) {
      unroll<NV>([&](auto v) {
        bs[v.value] =
            V::add(bs[v.value], V::load(dyrow + ow * p.c + v.value * V::kLanes, b.m[v.value]));
      });
    }
    unroll<NV>([&](auto v) {
      float* m = bias + v.value * V::kLanes;
      V::store(m, V::add(V::load(m, V::mask(V::kLanes)), bs[v.value]), V::mask(V::kLanes));
    });
  }
  for (i64 k = 0; k < p.kw; ++k) {
    Reg a[NV];
    unroll<NV>([&](auto v) { a[v.value] = V::zero(); });
    for (i64 ow = 0; ow < p.wo; ++ow) {
      const i64 iw = ow * p.sw - p.pad_left + k * p.dw;
      if (iw < 0 || iw >= p.w) continue;
      unroll<NV>([&](auto v) {
        const Reg d = V::load(dyrow + ow * p.c + v.value * V::kLanes, b.m[v.value]);
        const Reg xv = V::load(xrow + iw * p.c + v.value * V::kLanes, b.m[v.value]);
        a[v.value] = V::fma(xv, d, a[v.value]);
      });
    }
    unroll<NV>([&](auto v) {
      float* m = acc + (k * NV + v.value) * V::kLanes;
      V::store(m, V::add(V::load(m, V::mask(V::kLanes)), a[v.value]), V::mask(V::kLanes));
    });
  }
}

template <int R, int NV>
RowFn pick_kw(i64 kw) {
  switch (kw) {
    case 1:
      return &row_fn<R, 1, NV>;
    case 2:
      return &row_fn<R, 2, NV>;
    case 3:
      return &row_fn<R, 3, NV>;
    case 4:
      return R <= 2 ? &row_fn<R, 4, NV> : nullptr;
    case 5:
      return R <= 2 ? &row_fn<R, 5, NV> : nullptr;
    case 7:
      return R == 1 ? &row_fn<R, 7, NV> : nullptr;
    default:
      return nullptr;
  }
}

template <int NV>
RowFn pick(i64 r, i64 kw) {
  RowFn f = nullptr;
  if (r == 3) f = pick_kw<3, NV>(kw);
  if (r == 2) f = pick_kw<2, NV>(kw);
  if (r == 1) f = pick_kw<1, NV>(kw);
  return f;
}

template <int NV>
void run_tasks(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw, float* db,
               i64 begin, i64 end, float* scratch) {
  constexpr i64 L = V::kLanes;
  const i64 block = NV * L;
  const i64 chunks = (p.kh + p.rows - 1) / p.rows;
  for (i64 task = begin; task < end; ++task) {
    const i64 cb = task / chunks;
    const i64 chunk = task % chunks;
    const i64 c0 = cb * block;
    const i64 width = p.c - c0 < block ? p.c - c0 : block;
    const i64 kh0 = chunk * p.rows;
    const i64 kh1 = kh0 + p.rows < p.kh ? kh0 + p.rows : p.kh;
    const i64 nrows = kh1 - kh0;
    Block b;
    for (int v = 0; v < 2; ++v) {
      const i64 left = width - v * L;
      b.m[v] = V::mask(static_cast<int>(left <= 0 ? 0 : (left > L ? L : left)));
    }
    float* acc = scratch;  // [rows][KW][NV][L]
    float* bias = (chunk == 0 && db != nullptr) ? scratch + nrows * p.kw * NV * L : nullptr;
    const i64 acc_len = nrows * p.kw * NV * L + NV * L;
    for (i64 i = 0; i < acc_len; ++i) scratch[i] = 0.0f;
    const RowFn full = pick<NV>(nrows, p.kw);
    for (i64 n = 0; n < p.n; ++n) {
      b.x = x + n * p.h * p.w * p.c + c0;
      b.dy = dy + n * p.ho * p.wo * p.c + c0;
      for (i64 oh = 0; oh < p.ho; ++oh) {
        i64 ih[3] = {0, 0, 0};
        bool all_in = full != nullptr;
        for (i64 r = 0; r < nrows; ++r) {
          ih[r] = oh * p.sh - p.pad_top + (kh0 + r) * p.dh;
          all_in = all_in && ih[r] >= 0 && ih[r] < p.h;
        }
        if (all_in) {
          full(p, b, ih, oh, acc, bias);
          continue;
        }
        // Border rows (or no specialisation): one kernel row at a time.
        bool bias_done = bias == nullptr;
        for (i64 r = 0; r < nrows; ++r) {
          const i64 one[1] = {ih[r] = oh * p.sh - p.pad_top + (kh0 + r) * p.dh};
          if (one[0] < 0 || one[0] >= p.h) continue;
          float* acc_r = acc + r * p.kw * NV * L;
          const RowFn f1 = pick<NV>(1, p.kw);
          float* bptr = bias_done ? nullptr : bias;
          if (f1 != nullptr) {
            f1(p, b, one, oh, acc_r, bptr);
          } else {
            row_generic<NV>(p, b, one, oh, acc_r, bptr);
          }
          bias_done = true;
        }
        if (!bias_done) {  // no kernel row inside the input: dy still feeds db
          const float* dyrow = b.dy + oh * p.wo * p.c;
          for (i64 ow = 0; ow < p.wo; ++ow) {
            unroll<NV>([&](auto v) {
              float* m = bias + v.value * L;
              V::store(m,
                       V::add(V::load(m, V::mask(L)),
                              V::load(dyrow + ow * p.c + v.value * L, b.m[v.value])),
                       V::mask(L));
            });
          }
        }
      }
    }
    // Write the task's slice: dw[kh][kw][c0 .. c0 + width).
    for (i64 r = 0; r < nrows; ++r) {
      for (i64 k = 0; k < p.kw; ++k) {
        float* out = dw + ((kh0 + r) * p.kw + k) * p.c + c0;
        const float* src = acc + (r * p.kw + k) * NV * L;
        for (i64 j = 0; j < width; ++j) out[j] = src[j];
      }
    }
    if (bias != nullptr) {
      for (i64 j = 0; j < width; ++j) db[c0 + j] = bias[j];
    }
  }
}

void entry(const DwBwdFilterParams& p, const float* x, const float* dy, float* dw, float* db,
           i64 begin, i64 end, float* scratch) {
  if (p.vecs == 2) {
    run_tasks<2>(p, x, dy, dw, db, begin, end, scratch);
  } else {
    run_tasks<1>(p, x, dy, dw, db, begin, end, scratch);
  }
}
