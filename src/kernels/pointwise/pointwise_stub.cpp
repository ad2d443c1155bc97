// Placeholder until the pointwise family lands: declines every geometry.
#include "plan/kernel.hpp"

namespace groupconv::detail {

std::unique_ptr<Kernel> make_pointwise_kernel(const KernelProblem& /*p*/, std::string* why_not) {
  *why_not = "not implemented yet";
  return nullptr;
}

}  // namespace groupconv::detail
