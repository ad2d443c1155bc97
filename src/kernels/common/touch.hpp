// Sequential reads that pull a range into the caches for kernels whose own access pattern the
// hardware prefetchers do not follow (a pass that reads one 64-byte line of every pixel):
// read once in address order, the range is streamed into L2 at the memory's bandwidth, and
// the passes then find it there. Compiled once for the baseline ISA (touch.cpp), so the
// per-ISA translation units share no inline code with it.
#pragma once

#include <cstdint>

namespace groupconv::detail {

// Loads one word of every 64-byte line of [p, p + n) (n floats), in address order.
void touch_lines(const float* p, std::int64_t n);

}  // namespace groupconv::detail
