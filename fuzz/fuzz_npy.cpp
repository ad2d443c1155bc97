// Fuzzes the .npy reader: any bytes must either parse into a consistent array or raise
// ShapeError with a rendered diagnostic; never crash, leak, hit UB, or allocate beyond what the
// file holds. The same bytes go through the file reader (a memfd, so no disk I/O) and must
// give the same answer.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "groupconv/diagnostics.hpp"
#include "io/npy.hpp"

namespace {

using groupconv::ShapeError;
using groupconv::io::NpyArray;

struct Outcome {
  std::optional<NpyArray> array;
  int code = 0;
};

template <typename F>
Outcome attempt(F&& f) {
  Outcome o;
  try {
    o.array = f();
  } catch (const ShapeError& e) {
    o.code = static_cast<int>(e.code());
    const std::string text = e.diagnostic().render();
    if (e.diagnostic().summary.empty() || text.find("error[GC") != 0) __builtin_trap();
  }
  return o;
}

bool same(const NpyArray& a, const NpyArray& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         (a.data.empty() || std::memcmp(a.data.data(), b.data.data(), a.data.size() * 4) == 0);
}

int memfd = -1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Outcome mem = attempt([&] { return groupconv::io::parse_npy(bytes, "fuzz.npy"); });
  if (mem.array) {
    const NpyArray& a = *mem.array;
    std::uint64_t n = 1;
    for (auto d : a.shape) {
      if (d < 0) __builtin_trap();
      n *= static_cast<std::uint64_t>(d);
    }
    if (n != a.data.size() || n * 4 > size) __builtin_trap();
    // Writing it back and reading again gives the same array.
    const std::string again = groupconv::io::encode_npy(a.shape, a.data.data());
    if (!same(groupconv::io::parse_npy(again, "again.npy"), a)) __builtin_trap();
  }
  // The file reader on the same bytes.
  if (memfd < 0) memfd = ::memfd_create("fuzz_npy", 0);
  if (memfd >= 0 && ::ftruncate(memfd, 0) == 0 &&
      ::pwrite(memfd, data, size, 0) == static_cast<ssize_t>(size)) {
    const std::string path = "/proc/self/fd/" + std::to_string(memfd);
    const Outcome file = attempt([&] { return groupconv::io::read_npy(path); });
    if (file.code != mem.code || file.array.has_value() != mem.array.has_value()) {
      std::fprintf(stderr, "memory and file readers disagree: code %d vs %d\n", mem.code,
                   file.code);
      __builtin_trap();
    }
    if (file.array && !same(*file.array, *mem.array)) __builtin_trap();
  }
  return 0;
}
