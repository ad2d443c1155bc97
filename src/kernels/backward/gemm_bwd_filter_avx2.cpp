// AVX2 packed-GEMM filter gradient for groups with at least 8 output channels (see
// gemm_bwd_filter_params.hpp). Register tile: MR broadcast input values x NV vectors of 8
// output channels, MR * NV <= 12 accumulators; per output pixel NV loads of packed dy, MR
// broadcasts of packed x and MR * NV FMAs.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "kernels/backward/gemm_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

using i64 = std::int64_t;
using P = GemmBwdFilterParams;

inline __m256i lane_mask(i64 n) {
  const int k = n < 0 ? 0 : (n > 8 ? 8 : static_cast<int>(n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

struct Tile {
  i64 kh, kw, i0, v0;  // i0, v0: offsets inside the packed chunk's channels / vectors
  float* out;          // dw of the tile's first input channel and first output channel
  i64 lanes;           // valid output channels from v0 (the last vector may be partial)
};

// One reduction chunk: packed rows of x ([ih - ih0][W][xw]) and dy ([oh - oh0][Wo][dyw]).
struct Chunk {
  const float* xs;
  const float* ds;
  i64 xw, dyw, ih0, oh0, oh1;
};

// Reduces one chunk of one tile into dw (zeroed first when `first`).
// TAIL: the tile's last vector is partial (Cog not a multiple of 8): masked dw stores.
template <int MR, int NV, bool TAIL>
void tile_body(const P& p, const Tile& t, const Chunk& c, bool first) {
  __m256 acc[MR][NV];
  const __m256i msk = lane_mask(t.lanes - (NV - 1) * 8);
  if (first) {
    unroll<MR>(
        [&](auto m) { unroll<NV>([&](auto v) { acc[m.value][v.value] = _mm256_setzero_ps(); }); });
  } else {
    unroll<MR>([&](auto m) {
      unroll<NV>([&](auto v) {
        const float* o = t.out + m.value * p.c_out + v.value * 8;
        acc[m.value][v.value] =
            TAIL && v.value == NV - 1 ? _mm256_maskload_ps(o, msk) : _mm256_loadu_ps(o);
      });
    });
  }
  // Output columns whose input column is inside the image for this tap.
  const i64 off = t.kw * p.dw - p.pad_left;  // iw = ow * sw + off
  i64 ow_lo = off >= 0 ? 0 : (-off + p.sw - 1) / p.sw;
  const i64 last = p.w - 1 - off;
  i64 ow_hi = last < 0 ? 0 : last / p.sw + 1;
  if (ow_hi > p.wo) ow_hi = p.wo;
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  const i64 cnt = ow_hi - ow_lo;
  const i64 astep = p.sw * c.xw;
  const i64 bstep = c.dyw;
  if (cnt > 0) {
    for (i64 oh = c.oh0; oh < c.oh1; ++oh) {
      const i64 ih = oh * p.sh - p.pad_top + t.kh * p.dh;
      if (ih < 0 || ih >= p.h) continue;
      const float* a = c.xs + ((ih - c.ih0) * p.w + ow_lo * p.sw + off) * c.xw + t.i0;
      const float* b = c.ds + ((oh - c.oh0) * p.wo + ow_lo) * bstep + t.v0 * 8;
      for (i64 j = 0; j < cnt; ++j) {
        __m256 bv[NV];
        unroll<NV>([&](auto v) { bv[v.value] = _mm256_loadu_ps(b + v.value * 8); });
        unroll<MR>([&](auto m) {
          const __m256 av = _mm256_broadcast_ss(a + m.value);
          unroll<NV>([&](auto v) {
            acc[m.value][v.value] = _mm256_fmadd_ps(av, bv[v.value], acc[m.value][v.value]);
          });
        });
        a += astep;
        b += bstep;
      }
    }
  }
  unroll<MR>([&](auto m) {
    unroll<NV>([&](auto v) {
      float* o = t.out + m.value * p.c_out + v.value * 8;
      if (TAIL && v.value == NV - 1) {
        _mm256_maskstore_ps(o, msk, acc[m.value][v.value]);
      } else {
        _mm256_storeu_ps(o, acc[m.value][v.value]);
      }
    });
  });
}

using BodyFn = void (*)(const P&, const Tile&, const Chunk&, bool);

template <int MR, int NV, bool TAIL>
constexpr BodyFn body_or_null() {
  if constexpr (MR * NV <= 12) {
    return &tile_body<MR, NV, TAIL>;
  } else {
    return nullptr;
  }
}

template <int NV, bool TAIL, std::size_t... M>
constexpr std::array<BodyFn, 13> row_table(std::index_sequence<M...>) {
  return {nullptr, body_or_null<static_cast<int>(M) + 1, NV, TAIL>()...};
}

template <bool TAIL>
constexpr std::array<std::array<BodyFn, 13>, 4> table() {
  return {std::array<BodyFn, 13>{}, row_table<1, TAIL>(std::make_index_sequence<12>{}),
          row_table<2, TAIL>(std::make_index_sequence<12>{}),
          row_table<3, TAIL>(std::make_index_sequence<12>{})};
}

constexpr std::array<std::array<BodyFn, 13>, 4> kBodies[2] = {table<false>(), table<true>()};

// Transposed tile for Cog <= 8 with Cig a multiple of 8 (ResNeXt's 8 per group): the 8 input
// channels are the lanes, T kernel columns x NC output channels are the accumulators. Per
// output pixel: T vector loads of packed x (zero-padded columns, so no clipping), NC
// broadcasts of packed dy, T * NC FMAs.
template <int T, int NC>
void ttile_body(const P& p, const Tile& t, const Chunk& c, bool first) {
  __m256 acc[T][NC];
  unroll<T>(
      [&](auto a) { unroll<NC>([&](auto b) { acc[a.value][b.value] = _mm256_setzero_ps(); }); });
  const i64 astep = p.sw * c.xw;
  const i64 tstep = p.dw * c.xw;
  for (i64 oh = c.oh0; oh < c.oh1; ++oh) {
    const i64 ih = oh * p.sh - p.pad_top + t.kh * p.dh;
    if (ih < 0 || ih >= p.h) continue;
    const float* a = c.xs + ((ih - c.ih0) * p.wp + t.kw * p.dw) * c.xw + t.i0;
    const float* b = c.ds + (oh - c.oh0) * p.wo * c.dyw + t.v0;
    for (i64 j = 0; j < p.wo; ++j) {
      __m256 xv[T];
      unroll<T>([&](auto k) { xv[k.value] = _mm256_loadu_ps(a + k.value * tstep); });
      unroll<NC>([&](auto o) {
        const __m256 d = _mm256_broadcast_ss(b + o.value);
        unroll<T>([&](auto k) {
          acc[k.value][o.value] = _mm256_fmadd_ps(xv[k.value], d, acc[k.value][o.value]);
        });
      });
      a += astep;
      b += c.dyw;
    }
  }
  // acc[k][o] lane l -> dw[kh][kw + k][i0 + l][oc0 + o]: scatter through a small buffer.
  alignas(32) float buf[T][NC][8];
  unroll<T>([&](auto k) {
    unroll<NC>([&](auto o) { _mm256_store_ps(buf[k.value][o.value], acc[k.value][o.value]); });
  });
  const i64 nc = t.lanes < NC ? t.lanes : NC;
  for (int k = 0; k < T; ++k) {
    for (int l = 0; l < 8; ++l) {
      float* out = t.out + (k * p.cig + l) * p.c_out;
      for (i64 o = 0; o < nc; ++o) out[o] = first ? buf[k][o][l] : out[o] + buf[k][o][l];
    }
  }
}

template <int T, int NC>
constexpr BodyFn tbody_or_null() {
  if constexpr (T * NC <= 12) {
    return &ttile_body<T, NC>;
  } else {
    return nullptr;
  }
}

template <int T, std::size_t... C>
constexpr std::array<BodyFn, 13> trow_table(std::index_sequence<C...>) {
  return {nullptr, tbody_or_null<T, static_cast<int>(C) + 1>()...};
}

constexpr std::array<std::array<BodyFn, 13>, 4> kTBodies = {
    std::array<BodyFn, 13>{}, trow_table<1>(std::make_index_sequence<12>{}),
    trow_table<2>(std::make_index_sequence<12>{}), trow_table<3>(std::make_index_sequence<12>{})};

// Input rows [ih0, ih1) of image n that output rows [oh0, oh1) read through any kernel row.
void input_rows(const P& p, i64 oh0, i64 oh1, i64* ih0, i64* ih1) {
  i64 lo = oh0 * p.sh - p.pad_top;
  i64 hi = (oh1 - 1) * p.sh - p.pad_top + (p.kh - 1) * p.dh + 1;
  lo = lo < 0 ? 0 : lo;
  hi = hi > p.h ? p.h : hi;
  *ih0 = lo;
  *ih1 = hi > lo ? hi : lo;
}

// Copies `cnt` pixels of `w` channels (source stride `stride`) into rows of `wp` floats,
// zero-filling [w, wp). The source pixels lie a whole channel row apart: they are
// prefetched kAhead pixels ahead (the hardware prefetchers do not follow this stride far).
inline void copy_pixels(float* __restrict dst, const float* src, i64 cnt, i64 w, i64 wp,
                        i64 stride) {
  constexpr i64 kAhead = 12;
  for (i64 q = 0; q < cnt; ++q) {
    const float* s = src + q * stride;
    _mm_prefetch(reinterpret_cast<const char*>(s + kAhead * stride), _MM_HINT_T0);
    if (w * 4 > 64) {
      _mm_prefetch(reinterpret_cast<const char*>(s + kAhead * stride + w - 1), _MM_HINT_T0);
    }
    float* d = dst + q * wp;
    i64 k = 0;
    for (; k + 8 <= w; k += 8) {
      _mm256_storeu_ps(d + k, _mm256_loadu_ps(s + k));
      __asm__("" : "+r"(k));  // keeps GCC from turning this into a memcpy call per pixel
    }
    if (k < w) {
      const __m256i m = lane_mask(w - k);
      _mm256_maskstore_ps(d + k, m, _mm256_maskload_ps(s + k, m));
      k += 8;
    }
    for (; k < wp; k += 8) _mm256_storeu_ps(d + k, _mm256_setzero_ps());
  }
}

// bg[o] += rows[q * stride + o] for q = 0, 1, ..., cnt - 1 and o < n, each lane in that order
// (the bits of the scalar loop), four vectors of lanes at a time in registers: through memory
// each add waited on the previous one's store (a fifth of tutorial_g4's filter gradient).
inline void add_rows(float* bg, const float* rows, i64 cnt, i64 n, i64 stride) {
  for (i64 o = 0; o < n; o += 32) {
    __m256i m[4];
    __m256 s[4];
    unroll<4>([&](auto v) {
      m[v.value] = lane_mask(n - o - v.value * 8);
      s[v.value] = _mm256_maskload_ps(bg + o + v.value * 8, m[v.value]);
    });
    const float* r = rows + o;
    if (n - o >= 32) {
      for (i64 q = 0; q < cnt; ++q, r += stride) {
        unroll<4>([&](auto v) {
          s[v.value] = _mm256_add_ps(s[v.value], _mm256_loadu_ps(r + v.value * 8));
        });
      }
    } else {
      for (i64 q = 0; q < cnt; ++q, r += stride) {
        unroll<4>([&](auto v) {
          s[v.value] = _mm256_add_ps(s[v.value], _mm256_maskload_ps(r + v.value * 8, m[v.value]));
        });
      }
    }
    unroll<4>([&](auto v) { _mm256_maskstore_ps(bg + o + v.value * 8, m[v.value], s[v.value]); });
  }
}

}  // namespace

void gemm_bwd_filter_avx2(const GemmBwdFilterParams& p, float* dw, float* db, float* scratch,
                          std::int64_t begin, std::int64_t end) {
  const i64 vg = (p.cog + 7) / 8;
  const i64 cib = (p.cig + p.mr - 1) / p.mr;
  const i64 cob = (vg + p.nv - 1) / p.nv;
  const i64 chunks_per_image = (p.ho + p.chunk_rows - 1) / p.chunk_rows;
  for (i64 task = begin; task < end; ++task) {
    const i64 part = task % p.parts;
    const i64 g = task / p.parts * p.gpt;  // first group of the task
    // This part's input-channel blocks [ib0, ib1) and output-vector blocks [ob0, ob1).
    i64 ib0 = 0, ib1 = cib, ob0 = 0, ob1 = cob;
    if (p.split_co != 0) {
      ob0 = cob * part / p.parts;
      ob1 = cob * (part + 1) / p.parts;
    } else {
      ib0 = cib * part / p.parts;
      ib1 = cib * (part + 1) / p.parts;
    }
    const i64 i_lo = ib0 * p.mr, i_hi = ib1 * p.mr < p.cig ? ib1 * p.mr : p.cig;
    const i64 v_lo = ob0 * p.nv, v_hi = ob1 * p.nv < vg ? ob1 * p.nv : vg;
    const i64 co_lo = v_lo * 8, co_hi = v_hi * 8 < p.cog ? v_hi * 8 : p.cog;
    Chunk c{};
    // gpt > 1 (whole groups only): the packed rows hold gpt groups' channels side by side.
    c.xw = p.gpt > 1 ? p.gpt * p.cig : i_hi - i_lo;
    c.dyw = p.gpt > 1 ? p.gpt * p.cog : (v_hi - v_lo) * 8;
    const i64 dcopy = p.gpt > 1 ? c.dyw : co_hi - co_lo;
    float* xs = scratch;
    float* ds = scratch + p.scratch_x;
    c.xs = xs;
    c.ds = ds;
    const bool bias = db != nullptr && ib0 == 0;
    float* __restrict bg = bias ? db + g * p.cog + co_lo : nullptr;
    if (bias) {
      for (i64 o = 0; o < dcopy; ++o) bg[o] = 0.0f;
    }
    const float* xg = p.x + g * p.cig + i_lo;
    const float* dg = p.dy + g * p.cog + co_lo;
    const i64 chunks = p.n * chunks_per_image;
    // In place: the chunk's x and dy are read where they lie (dy only when this task's
    // output channels are whole vectors: a padded one would read past the tensor's end).
    const bool direct = p.direct != 0 && p.tmode == 0 && p.gpt == 1 && dcopy == c.dyw;
    for (i64 ci = 0; ci < chunks || ci == 0; ++ci) {
      const bool any = ci < chunks;
      if (any) {
        const i64 n = ci / chunks_per_image;
        c.oh0 = (ci % chunks_per_image) * p.chunk_rows;
        c.oh1 = c.oh0 + p.chunk_rows < p.ho ? c.oh0 + p.chunk_rows : p.ho;
        i64 ih1 = 0;
        input_rows(p, c.oh0, c.oh1, &c.ih0, &ih1);
        const float* xsrc = xg + (n * p.h + c.ih0) * p.w * p.c_in;
        const float* dsrc = dg + (n * p.ho + c.oh0) * p.wo * p.c_out;
        const i64 xcnt = (ih1 - c.ih0) * p.w, dcnt = (c.oh1 - c.oh0) * p.wo;
        if (direct) {
          c.xs = xsrc;
          c.ds = dsrc;
          c.xw = p.c_in;
          c.dyw = p.c_out;
        } else if (p.tmode != 0) {  // rows of wp columns, column iw + pad_left, zeros outside
          const i64 cols = p.w < p.wp - p.pad_left ? p.w : p.wp - p.pad_left;
          for (i64 r = 0; r < ih1 - c.ih0; ++r) {
            float* dst = xs + r * p.wp * c.xw;
            for (i64 k = 0; k < p.pad_left * c.xw; ++k) dst[k] = 0.0f;
            copy_pixels(dst + p.pad_left * c.xw, xsrc + r * p.w * p.c_in, cols, c.xw, c.xw, p.c_in);
            for (i64 k = (p.pad_left + cols) * c.xw; k < p.wp * c.xw; ++k) dst[k] = 0.0f;
          }
        } else {
          copy_pixels(xs, xsrc, xcnt, c.xw, c.xw, p.c_in);
        }
        if (!direct) copy_pixels(ds, dsrc, dcnt, dcopy, c.dyw, p.c_out);
        if (bias) add_rows(bg, c.ds, dcnt, dcopy, c.dyw);
      } else {  // no pixels (N = 0): the tiles store zeros
        c.oh0 = c.oh1 = c.ih0 = 0;
      }
      if (p.tmode != 0) {
        const i64 nc = gemmt_outputs(p.taps, co_hi - co_lo);
        for (i64 j = 0; j < p.gpt; ++j)
          for (i64 kh = 0; kh < p.kh; ++kh) {
            for (i64 kw = 0; kw < p.kw; kw += p.taps) {
              for (i64 ib = ib0; ib < ib1; ++ib) {
                for (i64 o0 = co_lo; o0 < co_hi; o0 += nc) {
                  Tile t{};
                  t.kh = kh;
                  t.kw = kw;
                  t.i0 = ib * 8 - i_lo + j * p.cig;
                  t.v0 = o0 - co_lo + j * p.cog;
                  t.out = dw + ((kh * p.kw + kw) * p.cig + ib * 8) * p.c_out + (g + j) * p.cog + o0;
                  t.lanes = co_hi - o0;
                  const i64 nt = p.kw - kw < p.taps ? p.kw - kw : p.taps;
                  const i64 ncc = co_hi - o0 < nc ? co_hi - o0 : nc;
                  kTBodies[static_cast<std::size_t>(nt)][static_cast<std::size_t>(ncc)](p, t, c,
                                                                                        ci == 0);
                }
              }
            }
          }
        continue;
      }
      for (i64 kh = 0; kh < p.kh; ++kh) {
        for (i64 kw = 0; kw < p.kw; ++kw) {
          for (i64 ib = ib0; ib < ib1; ++ib) {
            for (i64 ob = ob0; ob < ob1; ++ob) {
              Tile t{};
              t.kh = kh;
              t.kw = kw;
              const i64 i0 = ib * p.mr, v0 = ob * p.nv;
              t.i0 = i0 - i_lo;
              t.v0 = v0 - v_lo;
              t.out = dw + ((kh * p.kw + kw) * p.cig + i0) * p.c_out + g * p.cog + v0 * 8;
              t.lanes = p.cog - v0 * 8;
              const i64 mr = p.cig - i0 < p.mr ? p.cig - i0 : p.mr;
              const i64 nv = vg - v0 < p.nv ? vg - v0 : p.nv;
              const bool tail = (v0 + nv) * 8 > p.cog;
              kBodies[tail ? 1 : 0][static_cast<std::size_t>(nv)][static_cast<std::size_t>(mr)](
                  p, t, c, ci == 0);
            }
          }
        }
      }
    }
  }
}

}  // namespace groupconv::detail
