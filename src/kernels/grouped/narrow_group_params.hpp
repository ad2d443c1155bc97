// Narrow-group family: the plain description shared by the factory (narrow_group.cpp) and the
// per-ISA translation units. POD only: this header is included with AVX-512 / AVX2 flags.
#pragma once

#include <cstdint>

namespace groupconv::detail {

// How the inner loop forms "input channel j of my own group" in every output lane.
enum class NarrowMode : std::int32_t {
  kBcast = 0,  // one group per tile: x_j is a scalar broadcast from memory
  kLane2 = 1,  // Cig = Cog = 2: in-128-bit-lane permute with an immediate
  kLane4 = 2,  // Cig = Cog = 4: in-128-bit-lane permute with an immediate
  kPerm1 = 4,  // the tile's input channels fit one vector: variable permute
  kPerm2 = 5,  // they fit two vectors: two-source permute (AVX2: two permutes + blend)
};

struct NarrowParams {
  std::int64_t n, h, w, c_in, c_out, ho, wo;
  std::int64_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
  std::int64_t cig, cog, groups;
  std::int64_t gt;                            // groups per tile (tiles start at group boundaries)
  std::int64_t tiles;                         // ceil(groups / gt)
  std::int64_t vt;                            // vectors per tile (1, or 2 for AVX2 with Cog > 8)
  std::int64_t lanes;                         // floats per vector (16, 8)
  std::int64_t rows_per_task, row_tiles;      // output rows of a task, and how many such
  std::int64_t tiles_per_chunk, tile_chunks;  // channel tiles of a task, and how many such
  NarrowMode mode;
  const float* wpack;       // [tile][kh][kw][cig][vt * lanes]
  const float* bpack;       // [tile][vt * lanes]
  const std::int32_t* idx;  // [cig][lanes] permute indices (kPerm1 / kPerm2)
  // Layers that stream from DRAM: the input rows an output row reads first (those the task's
  // previous row did not read) are read once in address order before its tiles run.
  bool touch;
  std::int64_t xs, xrow;   // input pixel and row strides (floats): c_in, w * c_in
  std::int64_t ypx, yrow;  // output pixel and row strides: c_out, wo * c_out
  // Dilation d along W at stride 1 (AVX kernels): d phases of dilation 1 (see
  // kernels/common/dilation_phases.hpp; xs = d * c_in, ypx = d * c_out), so the fixed-KW
  // paths serve dilated layers too. With phases, w, wo, pad_left and dw = 1 describe phase 0;
  // the full row's are kept below.
  std::int64_t phases;
  std::int64_t full_w, full_wo, full_pad_left;

  [[nodiscard]] std::int64_t num_tasks() const { return n * row_tiles * tile_chunks; }
};

// One per ISA; run tasks [begin, end) (task = (n, row tile, chunk of channel tiles); within a
// task, row by row, every tile of the chunk, so each input line is used while it is hot).
void narrow_group_run_avx512(const NarrowParams& q, const float* x, float* y, std::int64_t begin,
                             std::int64_t end);
void narrow_group_run_avx2(const NarrowParams& q, const float* x, float* y, std::int64_t begin,
                           std::int64_t end);
// The path the AVX kernels take for this geometry ("kw3s1", "kw3s2", "kw5s1", "gen").
const char* narrow_group_path(const NarrowParams& q);

}  // namespace groupconv::detail
