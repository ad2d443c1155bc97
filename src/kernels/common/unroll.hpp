// Compile-time loops for the register-blocked kernels: unroll<N>(f) calls f(Int<0>{}), ...,
// f(Int<N-1>{}), so every index inside f is a constant expression and accumulator arrays
// indexed by it stay in registers. Header-only and ISA-neutral: each per-ISA translation unit
// includes it outside its anonymous namespace; the instantiations take the TU-local lambdas
// of that unit, so no AVX-512 code can be shared with (or picked by the linker for) another.
#pragma once

namespace groupconv::detail {

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

}  // namespace groupconv::detail
