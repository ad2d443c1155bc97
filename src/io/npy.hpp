// NumPy .npy files: the CLI's input and output format.
//
// The reader accepts exactly what the kernels consume: little-endian float32 ('<f4') in C
// order, format versions 1.0, 2.0 and 3.0. Anything else is refused with a ShapeError whose
// diagnostic names the file, what was found, what is expected and the numpy one-liner that
// fixes it (Code::kDtype for the element type or byte order, Code::kFile for everything else).
//
// The header is never trusted: the element count it claims is computed with overflow-checked
// arithmetic and compared with the bytes the file actually holds BEFORE any tensor memory is
// allocated, so a corrupted or hostile header gives a clean error, never a huge allocation.
//
// The writer writes to a temporary file in the destination's directory and renames it into
// place, so the output file appears complete or not at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace groupconv::io {

struct NpyArray {
  std::vector<std::int64_t> shape;  // () for a 0-d array (one element)
  std::vector<float> data;          // C order
};

// Longest header accepted, in bytes. np.save writes a few hundred; numpy's own reader refuses
// headers over 10000 bytes unless told otherwise.
inline constexpr std::size_t kMaxNpyHeaderBytes = 65536;
// Highest rank accepted (numpy's limit is 32 before 2.0, 64 after).
inline constexpr std::size_t kMaxNpyRank = 64;

// Reads a whole .npy file. Throws ShapeError (kFile, kDtype) on anything unreadable or
// unsupported; std::bad_alloc only when a well-formed file does not fit in memory.
NpyArray read_npy(const std::string& path);

// Parses the bytes of a .npy file held in memory; `source` names it in diagnostics.
NpyArray parse_npy(std::string_view bytes, const std::string& source);

// The bytes of a .npy file (version 1.0, or 2.0 when the header needs it) holding `data`
// with `shape` in C order. Throws ShapeError(kOverflow) if the shape's size overflows.
std::string encode_npy(const std::vector<std::int64_t>& shape, const float* data);

// Writes `data` as `path` atomically (temporary file + rename). Throws ShapeError(kFile) when
// the file cannot be written; no file is left behind in that case.
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* data);

// A file that appears under its final name only when commit() succeeds. Until then the bytes
// go to a temporary file in the same directory (so the rename is atomic), which is removed
// if the object is destroyed without a successful commit.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws ShapeError(kFile)
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t bytes);  // throws ShapeError(kFile)
  void commit();                                    // throws ShapeError(kFile)

 private:
  [[noreturn]] void fail_io(const std::string& what, int err);
  void discard() noexcept;

  std::string path_;
  std::string temp_;
  int fd_ = -1;
};

// Writes a small text or binary file atomically (CSV tables, SVG charts).
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace groupconv::io
