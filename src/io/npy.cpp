// .npy reading and writing. Format reference: numpy's NEP 1 ("A simple file format for NumPy
// arrays"): magic "\x93NUMPY", major and minor version bytes, a little-endian header length
// (uint16 in 1.0, uint32 in 2.0 and 3.0), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n', then the raw data.
#include "io/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "groupconv/diagnostics.hpp"

namespace groupconv::io {
namespace {

using i64 = std::int64_t;
using u64 = std::uint64_t;

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr const char* kFix = "np.save(path, np.ascontiguousarray(x, dtype='<f4'))";

std::string shape_text(const std::vector<i64>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

// A short, printable excerpt of untrusted text for a diagnostic.
std::string excerpt(std::string_view s, std::size_t limit = 60) {
  std::string out;
  for (char c : s.substr(0, limit)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

[[noreturn]] void fail(Code code, const std::string& source, const std::string& summary,
                       const std::string& expected, const std::string& found,
                       const std::string& help, std::vector<std::string> context = {}) {
  Diagnostic d;
  d.code = code;
  d.summary = source + ": " + summary;
  d.context = std::move(context);
  d.expected = expected;
  d.found = found;
  d.help = help;
  throw ShapeError(std::move(d));
}

[[noreturn]] void fail_file(const std::string& source, const std::string& summary,
                            const std::string& found, const std::string& help = {}) {
  fail(Code::kFile, source, summary,
       "a NumPy .npy file (format 1.0, 2.0 or 3.0) of float32 '<f4' in C order", found,
       help.empty() ? std::string("write the array with ") + kFix : help);
}

// The element size of a dtype string in bits ("4" -> 32), or 0 when it is not a small number.
int bits(std::string_view digits) {
  int v = 0;
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || v <= 0 || v > 64) return 0;
  return 8 * v;
}

// "float" + "8" -> "float64"; empty when the size is not a small number.
std::string sized(const char* kind, std::string_view digits) {
  const int b = bits(digits);
  return b == 0 ? std::string() : kind + std::to_string(b);
}

// What a dtype string means, for the message.
std::string describe_descr(std::string_view d) {
  if (d.size() < 2) return "dtype '" + excerpt(d) + "'";
  const char order = d[0];
  std::string_view rest = d;
  if (order == '<' || order == '>' || order == '|' || order == '=') rest = d.substr(1);
  std::string name;
  if (!rest.empty()) {
    const std::string_view size = rest.substr(1);
    switch (rest[0]) {
      case 'f':
        name = sized("float", size);
        break;
      case 'i':
        name = sized("int", size);
        break;
      case 'u':
        name = sized("uint", size);
        break;
      case 'c':
        name = sized("complex", size);
        break;
      case 'b':
        name = "bool";
        break;
      case 'O':
        name = "object (pickled Python objects)";
        break;
      case 'U':
        name = "unicode string";
        break;
      case 'S':
        name = "byte string";
        break;
      case 'M':
        name = "datetime64";
        break;
      case 'm':
        name = "timedelta64";
        break;
      case 'V':
        name = "raw bytes (void)";
        break;
      default:
        break;
    }
  }
  std::string out = "dtype '" + excerpt(d) + "'";
  if (!name.empty()) out += " (" + name + (order == '>' ? ", big-endian" : "") + ")";
  return out;
}

// ---- header dict parser -------------------------------------------------------------------
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<i64> shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& source) : t_(text), source_(source) {}

  Header parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{', "the header to start with '{'");
    for (;;) {
      skip_ws();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = string_literal("a quoted key");
      skip_ws();
      expect(':', "':' after the key '" + excerpt(key) + "'");
      skip_ws();
      if (key == "descr") {
        if (have_descr) bad("the key 'descr' appears twice");
        have_descr = true;
        if (peek() == '[') {
          fail(Code::kDtype, source_, "structured (record) dtype is not supported",
               "dtype '<f4' (float32, little-endian)", "a structured dtype " + excerpt(rest()),
               std::string("save a plain float32 array: ") + kFix);
        }
        h.descr = string_literal("a quoted dtype string such as '<f4'");
      } else if (key == "fortran_order") {
        if (have_order) bad("the key 'fortran_order' appears twice");
        have_order = true;
        if (consume_word("True")) {
          h.fortran_order = true;
        } else if (consume_word("False")) {
          h.fortran_order = false;
        } else {
          bad("'fortran_order' must be True or False, found '" + excerpt(rest(), 20) + "'");
        }
      } else if (key == "shape") {
        if (have_shape) bad("the key 'shape' appears twice");
        have_shape = true;
        h.shape = shape_tuple();
      } else {
        bad("unexpected key '" + excerpt(key) +
            "' (a .npy header has exactly 'descr', "
            "'fortran_order' and 'shape')");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        bad("expected ',' or '}' after the value of '" + key + "', found '" + excerpt(rest(), 20) +
            "'");
      }
    }
    skip_ws();
    if (pos_ != t_.size()) bad("unexpected text after the header dict: '" + excerpt(rest()) + "'");
    if (!have_descr || !have_order || !have_shape) {
      std::string missing;
      if (!have_descr) missing += " 'descr'";
      if (!have_order) missing += " 'fortran_order'";
      if (!have_shape) missing += " 'shape'";
      bad("the header lacks" + missing);
    }
    return h;
  }

 private:
  std::string_view t_;
  const std::string& source_;
  std::size_t pos_ = 0;

  [[nodiscard]] char peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
  [[nodiscard]] std::string_view rest() const { return t_.substr(pos_); }
  void skip_ws() {
    while (pos_ < t_.size() &&
           (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) {
      ++pos_;
    }
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail_file(
        source_, "malformed .npy header: " + what, "header '" + excerpt(t_, 120) + "'",
        std::string("the file is damaged or was not written by numpy; re-create it with ") + kFix);
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) bad("expected " + what + ", found '" + excerpt(rest(), 20) + "'");
    ++pos_;
  }
  bool consume_word(std::string_view w) {
    if (t_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  std::string string_literal(const std::string& what) {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected " + what + ", found '" + excerpt(rest(), 20) + "'");
    ++pos_;
    const std::size_t end = t_.find(q, pos_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string s(t_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::vector<i64> shape_tuple() {
    expect('(', "'(' to open the shape tuple");
    std::vector<i64> dims;
    for (;;) {
      skip_ws();
      if (peek() == ')') {
        ++pos_;
        return dims;
      }
      if (peek() < '0' || peek() > '9') {
        bad("shape entries must be non-negative integers, found '" + excerpt(rest(), 20) + "'");
      }
      i64 v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v)) {
          fail_file(source_, "a dimension of the shape does not fit in 64 bits",
                    "shape entry '" + excerpt(rest(), 30) + "'");
        }
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal, as old numpy wrote it
      dims.push_back(v);
      if (dims.size() > kMaxNpyRank) {
        fail_file(source_, "the shape has more than " + std::to_string(kMaxNpyRank) + " dims",
                  "a shape tuple with more than " + std::to_string(kMaxNpyRank) + " entries");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        bad("expected ',' or ')' in the shape, found '" + excerpt(rest(), 20) + "'");
      }
    }
  }
};

// Where the header is and how long: parsed from the first bytes of the file.
struct Preamble {
  std::size_t header_offset = 0;
  std::size_t header_len = 0;
  int major = 0, minor = 0;
};

Preamble parse_preamble(std::string_view first, u64 file_size, const std::string& source) {
  const std::string size_note = "file of " + std::to_string(file_size) + " bytes";
  if (first.size() < kMagicLen ||
      first.substr(0, kMagicLen) != std::string_view(kMagic, kMagicLen)) {
    fail_file(source, "not a .npy file (the magic string \\x93NUMPY is missing)",
              size_note + " starting with '" + excerpt(first.substr(0, 8)) + "'",
              std::string("the CLI reads NumPy .npy files (not .npz, text or raw bytes); "
                          "write one with ") +
                  kFix);
  }
  if (first.size() < 8) fail_file(source, "truncated .npy file (no version)", size_note);
  Preamble p;
  p.major = static_cast<unsigned char>(first[6]);
  p.minor = static_cast<unsigned char>(first[7]);
  std::size_t len_bytes = 0;
  if (p.major == 1 && p.minor == 0) {
    len_bytes = 2;
  } else if ((p.major == 2 || p.major == 3) && p.minor == 0) {
    len_bytes = 4;
  } else {
    fail_file(source,
              "unsupported .npy format version " + std::to_string(p.major) + "." +
                  std::to_string(p.minor),
              "version " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                  " (this reader knows 1.0, 2.0 and 3.0)");
  }
  if (first.size() < 8 + len_bytes) {
    fail_file(source, "truncated .npy file (the header length is missing)", size_note);
  }
  u64 len = 0;
  for (std::size_t i = 0; i < len_bytes; ++i) {
    len |= static_cast<u64>(static_cast<unsigned char>(first[8 + i])) << (8 * i);
  }
  p.header_offset = 8 + len_bytes;
  if (len > kMaxNpyHeaderBytes) {
    fail_file(source, "the .npy header claims " + std::to_string(len) + " bytes",
              "header length " + std::to_string(len) + " (at most " +
                  std::to_string(kMaxNpyHeaderBytes) + " accepted)",
              std::string("the file is damaged or not a plain array; re-create it with ") + kFix);
  }
  if (len > file_size - p.header_offset) {
    fail_file(source, "truncated .npy file (the header is cut off)",
              size_note + ", header claims " + std::to_string(len) + " bytes after byte " +
                  std::to_string(p.header_offset),
              std::string("the file was cut short (interrupted copy or download?); re-create "
                          "it with ") +
                  kFix);
  }
  p.header_len = static_cast<std::size_t>(len);
  return p;
}

// Validates the parsed header and returns the number of data bytes it describes.
u64 check_header(const Header& h, const std::string& source, u64 data_bytes_available) {
  if (h.descr != "<f4") {
    const bool big_f4 = h.descr == ">f4";
    fail(Code::kDtype, source,
         big_f4 ? "big-endian float32 is not supported" : "the array is not float32",
         "dtype '<f4' (float32, little-endian)", describe_descr(h.descr),
         big_f4 ? std::string("convert the byte order: ") + kFix
                : std::string("convert the array to float32: ") + kFix);
  }
  if (h.fortran_order) {
    fail_file(source, "the array is stored in Fortran (column-major) order",
              "fortran_order: True, shape " + shape_text(h.shape),
              std::string("store it in C order: ") + kFix);
  }
  u64 count = 1;
  for (i64 d : h.shape) {
    if (__builtin_mul_overflow(count, static_cast<u64>(d), &count)) {
      fail_file(source, "the shape " + shape_text(h.shape) + " is absurdly large",
                "shape " + shape_text(h.shape) + ": its element count overflows 64 bits",
                std::string("the header is corrupted; re-create the file with ") + kFix);
    }
  }
  u64 bytes = 0;
  if (__builtin_mul_overflow(count, u64{4}, &bytes) || count > static_cast<u64>(INT64_MAX) / 4) {
    fail_file(source, "the shape " + shape_text(h.shape) + " is absurdly large",
              "shape " + shape_text(h.shape) + " = " + std::to_string(count) +
                  " elements: its byte count overflows",
              std::string("the header is corrupted; re-create the file with ") + kFix);
  }
  if (bytes > data_bytes_available) {
    fail_file(
        source, "truncated .npy file: the header promises more data than the file holds",
        "shape " + shape_text(h.shape) + " = " + std::to_string(count) +
            " float32 = " + std::to_string(bytes) + " bytes, but only " +
            std::to_string(data_bytes_available) + " bytes follow the header",
        std::string("the file was cut short or its header is wrong; re-create it with ") + kFix);
  }
  if (bytes < data_bytes_available) {
    fail_file(source, "the .npy file holds more data than its header describes",
              "shape " + shape_text(h.shape) + " = " + std::to_string(bytes) + " bytes, but " +
                  std::to_string(data_bytes_available) + " bytes follow the header",
              std::string("the header does not match the data (edited by hand, or two files "
                          "concatenated?); re-create it with ") +
                  kFix);
  }
  return bytes;
}

void to_native(std::vector<float>& v) {
  if constexpr (std::endian::native == std::endian::big) {
    for (float& f : v) {
      std::uint32_t u = 0;
      std::memcpy(&u, &f, 4);
      u = __builtin_bswap32(u);
      std::memcpy(&f, &u, 4);
    }
  }
}

std::string errno_text(int err) { return std::strerror(err); }

// The directory part of a path, for the temporary file ("." when there is none).
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

// ---- reading --------------------------------------------------------------------------------
NpyArray parse_npy(std::string_view bytes, const std::string& source) {
  const Preamble p = parse_preamble(bytes.substr(0, 12), bytes.size(), source);
  const Header h = HeaderParser(bytes.substr(p.header_offset, p.header_len), source).parse();
  const std::size_t data_offset = p.header_offset + p.header_len;
  const u64 n_bytes = check_header(h, source, bytes.size() - data_offset);
  NpyArray a;
  a.shape = h.shape;
  a.data.resize(static_cast<std::size_t>(n_bytes / 4));
  if (n_bytes != 0) std::memcpy(a.data.data(), bytes.data() + data_offset, n_bytes);
  to_native(a.data);
  return a;
}

NpyArray read_npy(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail(Code::kFile, path, "cannot open the file: " + errno_text(err), "a readable .npy file",
         errno_text(err), "check the path and its permissions");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(Code::kFile, path, "not a regular file", "a .npy file",
         S_ISDIR(st.st_mode) ? "a directory" : "not a regular file",
         "pass the path of a .npy file");
  }
  const u64 size = static_cast<u64>(st.st_size);
  // Reads exactly n bytes at the current offset or fails (the file may have shrunk).
  auto read_exact = [&](void* dst, std::size_t n) {
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::read(fd, out, n);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fail_file(path, got < 0 ? "read error: " + errno_text(errno) : "the file ended early",
                  "file of " + std::to_string(size) + " bytes changed or could not be read");
      }
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  };
  std::string first(static_cast<std::size_t>(std::min<u64>(size, 12)), '\0');
  read_exact(first.data(), first.size());
  const Preamble p = parse_preamble(first, size, path);
  // The header starts at 10 (v1) or 12 (v2, v3); we may have read 2 bytes of it already.
  std::string header = first.substr(p.header_offset);
  if (header.size() > p.header_len) {
    header.resize(p.header_len);
    if (::lseek(fd, static_cast<off_t>(p.header_offset + p.header_len), SEEK_SET) < 0) {
      fail_file(path, "seek error: " + errno_text(errno), "unseekable file");
    }
  } else {
    const std::size_t have = header.size();
    header.resize(p.header_len);
    read_exact(header.data() + have, p.header_len - have);
  }
  const Header h = HeaderParser(header, path).parse();
  const u64 data_offset = p.header_offset + p.header_len;
  const u64 n_bytes = check_header(h, path, size - data_offset);
  // Only now, with the size checked against the file, is tensor memory allocated.
  NpyArray a;
  a.shape = h.shape;
  a.data.resize(static_cast<std::size_t>(n_bytes / 4));
  read_exact(a.data.data(), static_cast<std::size_t>(n_bytes));
  to_native(a.data);
  return a;
}

// ---- writing --------------------------------------------------------------------------------
namespace {

// The header of a .npy file for `shape` (version 1.0, or 2.0 when it needs more than 64 KiB),
// padded so the data starts on a 64-byte boundary; *data_bytes receives the data size.
std::string encode_header(const std::vector<std::int64_t>& shape, std::size_t* data_bytes) {
  u64 count = 1;
  for (i64 d : shape) {
    if (d < 0 || __builtin_mul_overflow(count, static_cast<u64>(d), &count) ||
        count > static_cast<u64>(INT64_MAX) / 4) {
      fail(Code::kOverflow, "npy", "the shape " + shape_text(shape) + " cannot be written",
           "non-negative dims whose byte count fits in 64 bits", "shape " + shape_text(shape),
           "check the shape");
    }
  }
  *data_bytes = static_cast<std::size_t>(count) * 4;
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  std::size_t prefix = 10;
  if (dict.size() + 1 + 64 > 65535) prefix = 12;  // version 2.0: 4-byte header length
  const std::size_t unpadded = prefix + dict.size() + 1;
  const std::size_t padded = (unpadded + 63) / 64 * 64;
  dict.append(padded - unpadded, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(prefix == 10 ? 1 : 2);
  out += '\0';
  const std::size_t hlen = dict.size();
  for (std::size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((hlen >> (8 * i)) & 0xff);
  return out + dict;
}

void append_little_endian(std::string& out, const float* data, std::size_t bytes) {
  const std::size_t offset = out.size();
  out.resize(offset + bytes);
  if (bytes == 0) return;
  std::memcpy(out.data() + offset, data, bytes);
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = offset; i < out.size(); i += 4) {
      std::swap(out[i], out[i + 3]);
      std::swap(out[i + 1], out[i + 2]);
    }
  }
}

}  // namespace

std::string encode_npy(const std::vector<std::int64_t>& shape, const float* data) {
  std::size_t bytes = 0;
  std::string out = encode_header(shape, &bytes);
  append_little_endian(out, data, bytes);
  return out;
}

void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* data) {
  // The header is built (and the shape validated) before the file is created.
  std::size_t bytes = 0;
  const std::string header = encode_header(shape, &bytes);
  AtomicFile f(path);
  f.write(header.data(), header.size());
  if constexpr (std::endian::native == std::endian::big) {
    std::string swapped;
    append_little_endian(swapped, data, bytes);
    f.write(swapped.data(), swapped.size());
  } else if (bytes != 0) {
    f.write(data, bytes);
  }
  f.commit();
}

// ---- atomic files ---------------------------------------------------------------------------
AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  static std::atomic<unsigned> counter{0};
  const auto [dir, base] = split_path(path_);
  if (base.empty()) {
    io::fail(Code::kFile, path_, "the output path names a directory", "a file name",
             "'" + path_ + "'", "give the output a file name, e.g. " + path_ + "y.npy");
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_ = (dir == "/" ? "" : dir) + "/." + base + ".tmp-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter.fetch_add(1));
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) break;
  }
  const int err = errno;
  temp_.clear();
  io::fail(Code::kFile, path_, "cannot create the output file: " + errno_text(err),
           "a writable directory '" + dir + "'", errno_text(err),
           "check that the directory exists and is writable");
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

void AtomicFile::fail_io(const std::string& what, int err) {
  discard();
  groupconv::io::fail(Code::kFile, path_, what + ": " + errno_text(err), "a writable file",
                      errno_text(err), "check the free space and permissions of the directory");
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  if (fd_ < 0) fail_io("the file is already closed", EBADF);
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_io("cannot write the output file", n < 0 ? errno : EIO);
    p += n;
    bytes -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) fail_io("the file is already closed", EBADF);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_io("cannot write the output file", errno);
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    fail_io("cannot rename the output into place", errno);
  temp_.clear();
}

void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content.data(), content.size());
  f.commit();
}

}  // namespace groupconv::io
