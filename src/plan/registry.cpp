#include <iterator>

#include "plan/kernel.hpp"

namespace groupconv::detail {

// Best first. Each family declines with a reason when the geometry is not its own; the
// generic kernel accepts everything and the reference kernel is the last resort.
const KernelEntry* kernel_registry(std::size_t* count) {
  static const KernelEntry entries[] = {
      {"depthwise", &make_depthwise_kernel},       {"pointwise", &make_pointwise_kernel},
      {"narrow_group", &make_narrow_group_kernel}, {"wide_group", &make_wide_group_kernel},
      {"generic", &make_generic_kernel},           {"reference", &make_reference_kernel},
  };
  *count = std::size(entries);
  return entries;
}

}  // namespace groupconv::detail
