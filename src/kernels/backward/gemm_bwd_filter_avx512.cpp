// AVX-512 build of the packed-GEMM filter gradient (see gemm_bwd_filter_params.hpp; the body
// is gemm_bwd_filter_impl.inc): the same 8-lane vectors (a Zen 4 ymm FMA runs at the zmm
// FLOP rate), with AVX-512VL's 32 registers for GEMM tiles of up to 24 accumulators.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "kernels/backward/gemm_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

constexpr int kMaxAcc = 24;

#include "kernels/backward/gemm_bwd_filter_impl.inc"

}  // namespace

void gemm_bwd_filter_avx512(const GemmBwdFilterParams& p, float* dw, float* db, float* scratch,
                            std::int64_t begin, std::int64_t end) {
  gemm_bwd_filter_run(p, dw, db, scratch, begin, end);
}

}  // namespace groupconv::detail
