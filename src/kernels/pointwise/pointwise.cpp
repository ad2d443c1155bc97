// The pointwise family: 1x1 convolutions (any groups, any stride, no padding) as a GEMM per
// group over all pixels, on the implicit-GEMM engine of the wide_group family (one tap, so
// K = Cig; with unit stride the image is a single line of pixels).
#include <string>

#include "kernels/grouped/wide_group_engine.hpp"

namespace groupconv::detail {

std::unique_ptr<Kernel> make_pointwise_kernel(const KernelProblem& p, std::string* why_not) {
  const Geometry& g = *p.g;
  if (g.kh != 1 || g.kw != 1) {
    *why_not = "needs a 1x1 filter, got " + std::to_string(g.kh) + "x" + std::to_string(g.kw);
    return nullptr;
  }
  if (g.pad_top != 0 || g.pad_bottom != 0 || g.pad_left != 0 || g.pad_right != 0) {
    *why_not = "needs zero padding";
    return nullptr;
  }
  if (g.cig < 8 || g.cog < 8) {
    *why_not = "needs Cig >= 8 and Cog >= 8 (narrower 1x1 groups are narrow_group's), got Cig=" +
               std::to_string(g.cig) + ", Cog=" + std::to_string(g.cog);
    return nullptr;
  }
  return wg::make_gemm_conv_kernel(p, "pointwise_gemm");
}

}  // namespace groupconv::detail
