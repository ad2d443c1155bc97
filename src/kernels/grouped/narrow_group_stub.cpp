// Placeholder until the narrow_group family lands: declines every geometry.
#include "plan/kernel.hpp"

namespace groupconv::detail {

std::unique_ptr<Kernel> make_narrow_group_kernel(const KernelProblem& /*p*/, std::string* why_not) {
  *why_not = "not implemented yet";
  return nullptr;
}

}  // namespace groupconv::detail
