// Grouped filter gradient (Cig >= 1, Cog lanes-compatible): parameters shared by the per-ISA
// translation units. Plain data only.
#pragma once

#include <cstdint>

namespace groupconv::detail {

struct GroupedBwdFilterParams {
  std::int64_t n, h, w, c_in, c_out, ho, wo;
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  std::int64_t cig, cog;
  std::int64_t broadcast;  // 1: a vector's lanes lie in one group (ceil(Cog / lanes) per group)
                           // 0: a vector spans lanes / Cog whole groups (lanes % Cog == 0)
  std::int64_t taps;       // kernel columns per task (T)
  std::int64_t ins;        // input channels per task (Ib)
  // Flattened (n, oh) output rows per pass: a thread runs all its tasks over one block of
  // rows (its x and dy rows stay in L2) before the next; 0 = all rows in one pass.
  std::int64_t block_rows;
};

// Tasks: output-channel vectors x kernel rows x column chunks x input-channel chunks.
std::int64_t grouped_bwd_filter_tasks(const GroupedBwdFilterParams& p, std::int64_t lanes);

using GroupedBwdFilterFn = void (*)(const GroupedBwdFilterParams& p, const float* x,
                                    const float* dy, float* dw, float* db, std::int64_t begin,
                                    std::int64_t end);

void grouped_bwd_filter_avx512(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                               float* dw, float* db, std::int64_t begin, std::int64_t end);
void grouped_bwd_filter_avx2(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                             float* dw, float* db, std::int64_t begin, std::int64_t end);
void grouped_bwd_filter_portable(const GroupedBwdFilterParams& p, const float* x, const float* dy,
                                 float* dw, float* db, std::int64_t begin, std::int64_t end);

}  // namespace groupconv::detail
