// AVX2 packed-GEMM filter gradient for groups with at least 8 output channels (see
// gemm_bwd_filter_params.hpp; the body is gemm_bwd_filter_impl.inc): GEMM tiles of at most
// 12 accumulators (16 registers).
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "kernels/backward/gemm_bwd_filter_params.hpp"
#include "kernels/common/unroll.hpp"

namespace groupconv::detail {
namespace {

constexpr int kMaxAcc = 12;

#include "kernels/backward/gemm_bwd_filter_impl.inc"

}  // namespace

void gemm_bwd_filter_avx2(const GemmBwdFilterParams& p, float* dw, float* db, float* scratch,
                          std::int64_t begin, std::int64_t end) {
  gemm_bwd_filter_run(p, dw, db, scratch, begin, end);
}

}  // namespace groupconv::detail
