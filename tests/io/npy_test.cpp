// The .npy reader and writer: round trips, and every malformed file refused with the right
// code and a message that says what was found, with no output left behind by a failed write.
#include "io/npy.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "groupconv/diagnostics.hpp"
#include "test_util.hpp"

namespace groupconv {
namespace {

using io::NpyArray;

std::string temp_dir() {
  static const std::string dir = [] {
    std::string tmpl = ::testing::TempDir() + "npy_test_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return std::string("/tmp");
    return tmpl;
  }();
  return dir;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A .npy file written by hand (independently of encode_npy): version, dict text, data bytes.
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t len = header.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((len >> 16) & 0xff);
    out += static_cast<char>((len >> 24) & 0xff);
  }
  return out + header + data;
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::string dict_for(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// Expects parse_npy and read_npy (through a file) to refuse `bytes` with `code`, and every
// fragment to appear in the message.
void expect_refused(const std::string& bytes, Code code,
                    const std::vector<std::string>& fragments) {
  const std::string path = temp_dir() + "/bad.npy";
  write_bytes(path, bytes);
  for (int via_file = 0; via_file < 2; ++via_file) {
    try {
      if (via_file != 0) {
        (void)io::read_npy(path);
      } else {
        (void)io::parse_npy(bytes, path);
      }
      ADD_FAILURE() << "accepted (via_file=" << via_file << ")";
    } catch (const ShapeError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << "message must name the file: " << msg;
      EXPECT_NE(msg.find("help:"), std::string::npos) << msg;
      for (const auto& f : fragments) {
        EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in:\n" << msg;
      }
    }
  }
}

TEST(Npy, RoundTripThroughFile) {
  const std::vector<std::vector<std::int64_t>> shapes = {{1, 5, 6, 8}, {3, 3, 2, 4}, {7},
                                                         {},           {0, 4},       {2, 0, 3, 1}};
  for (const auto& shape : shapes) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    const auto data = testing::random_floats(static_cast<std::size_t>(n), 7);
    const std::string path = temp_dir() + "/rt.npy";
    io::write_npy(path, shape, data.data());
    const NpyArray a = io::read_npy(path);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.data, data);
  }
}

TEST(Npy, WriterHeaderIsAlignedAndReadableByHandParser) {
  const std::vector<float> v = {1.5f, -2.0f, 3.25f};
  const std::string bytes = io::encode_npy({3}, v.data());
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(bytes[6], 1);
  // The data starts on a 64-byte boundary and the header ends with '\n'.
  EXPECT_EQ((bytes.size() - 12) % 64, 0u);
  EXPECT_EQ(bytes[bytes.size() - 13], '\n');
  EXPECT_NE(bytes.find("'descr': '<f4'"), std::string::npos);
  EXPECT_NE(bytes.find("'shape': (3,)"), std::string::npos);
  EXPECT_EQ(bytes.substr(bytes.size() - 12), float_bytes(v));
}

TEST(Npy, AcceptsVersions2And3AndOddButValidHeaders) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  for (int major : {1, 2, 3}) {
    const NpyArray a =
        io::parse_npy(make_npy(dict_for("<f4", "(2, 3)"), float_bytes(v), major), "x");
    EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(a.data, v);
  }
  // Keys in another order, double quotes, Python 2 long literals, no trailing comma.
  const NpyArray b =
      io::parse_npy(make_npy("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}",
                             float_bytes(v)),
                    "x");
  EXPECT_EQ(b.shape, (std::vector<std::int64_t>{2, 3}));
  // A 0-d array: shape (), one element.
  const NpyArray s = io::parse_npy(make_npy(dict_for("<f4", "()"), float_bytes({42})), "x");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.data, std::vector<float>{42});
}

TEST(Npy, RefusesTruncatedFiles) {
  const std::string good = make_npy(dict_for("<f4", "(2, 3)"), float_bytes({1, 2, 3, 4, 5, 6}));
  expect_refused(good.substr(0, good.size() - 4), Code::kFile, {"truncated", "(2, 3)", "24"});
  expect_refused(good.substr(0, 40), Code::kFile, {"truncated", "header"});
  expect_refused(good.substr(0, 9), Code::kFile, {"truncated"});
  expect_refused(good.substr(0, 7), Code::kFile, {"truncated"});
  expect_refused("", Code::kFile, {"not a .npy file"});
}

TEST(Npy, RefusesWrongDtypes) {
  expect_refused(make_npy(dict_for("<f8", "(2,)"), std::string(16, '\0')), Code::kDtype,
                 {"'<f8'", "float64", "'<f4'", "np.ascontiguousarray(x, dtype='<f4')"});
  expect_refused(make_npy(dict_for("<i4", "(2,)"), std::string(8, '\0')), Code::kDtype,
                 {"'<i4'", "int32"});
  expect_refused(make_npy(dict_for(">f4", "(2,)"), std::string(8, '\0')), Code::kDtype,
                 {"big-endian", "'>f4'"});
  expect_refused(make_npy(dict_for("|b1", "(2,)"), std::string(2, '\0')), Code::kDtype, {"bool"});
  // Absurd element sizes are named as found, without arithmetic on them.
  expect_refused(make_npy(dict_for("<f99999999999", "(2,)"), std::string(8, '\0')), Code::kDtype,
                 {"'<f99999999999'"});
  expect_refused(make_npy(dict_for("<f2147483647", "(2,)"), std::string(8, '\0')), Code::kDtype,
                 {"'<f2147483647'"});
  expect_refused(make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                          std::string(8, '\0')),
                 Code::kDtype, {"structured"});
}

TEST(Npy, RefusesFortranOrder) {
  expect_refused(make_npy(dict_for("<f4", "(2, 3)", true), std::string(24, '\0')), Code::kFile,
                 {"Fortran", "ascontiguousarray"});
}

TEST(Npy, RefusesHeaderClaimingMoreDataThanTheFile) {
  // The header says 1000x1000 floats; the file holds 16 bytes.
  expect_refused(make_npy(dict_for("<f4", "(1000, 1000)"), std::string(16, '\0')), Code::kFile,
                 {"4000000 bytes", "only 16 bytes"});
  // More data than the header describes is refused too.
  expect_refused(make_npy(dict_for("<f4", "(2,)"), std::string(12, '\0')), Code::kFile,
                 {"more data"});
}

TEST(Npy, RefusesAbsurdDimensionsWithoutAllocating) {
  // Products that overflow 64 bits, byte counts that overflow, and single huge dims: all must
  // fail before any allocation (an attempted allocation would throw bad_alloc instead).
  expect_refused(make_npy(dict_for("<f4", "(4294967296, 4294967296)"), ""), Code::kFile,
                 {"absurdly large"});
  expect_refused(make_npy(dict_for("<f4", "(4611686018427387904,)"), ""), Code::kFile,
                 {"absurdly large"});
  expect_refused(make_npy(dict_for("<f4", "(1000000000000, 1000)"), ""), Code::kFile, {});
  expect_refused(make_npy(dict_for("<f4", "(99999999999999999999999,)"), ""), Code::kFile,
                 {"64 bits"});
  expect_refused(make_npy(dict_for("<f4", "(-3, 2)"), ""), Code::kFile, {"non-negative"});
  expect_refused(make_npy(dict_for("<f4", "(1000000000,)"), std::string(8, '\0')), Code::kFile,
                 {"4000000000 bytes"});
}

TEST(Npy, RefusesGarbageMagicAndVersions) {
  expect_refused("PK\x03\x04 this is a zip file, like .npz", Code::kFile,
                 {"not a .npy file", "magic"});
  expect_refused("1.0, 2.0, 3.0\n", Code::kFile, {"not a .npy file"});
  std::string v9 = make_npy(dict_for("<f4", "(1,)"), std::string(4, '\0'));
  v9[6] = 9;
  expect_refused(v9, Code::kFile, {"version 9.0"});
  // A header length beyond the file.
  std::string long_header = make_npy(dict_for("<f4", "(1,)"), std::string(4, '\0'));
  long_header[8] = '\xff';
  long_header[9] = '\x7f';
  expect_refused(long_header, Code::kFile, {"header"});
  // Version 2 with a 4 GiB header length.
  std::string v2 = make_npy(dict_for("<f4", "(1,)"), std::string(4, '\0'), 2);
  v2[11] = '\x7f';
  expect_refused(v2, Code::kFile, {"header"});
}

TEST(Npy, RefusesBadHeaderDicts) {
  const std::string four(4, '\0');
  const std::vector<std::string> bad = {
      "not a dict at all",
      "{'descr': '<f4', 'fortran_order': False}",
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4 , 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} trailing",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1 1)}",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",
      "",
  };
  for (const auto& dict : bad) {
    SCOPED_TRACE(dict);
    expect_refused(make_npy(dict, four), Code::kFile, {"malformed .npy header"});
  }
}

TEST(Npy, ReadRefusesMissingFilesAndDirectories) {
  try {
    (void)io::read_npy(temp_dir() + "/does_not_exist.npy");
    ADD_FAILURE();
  } catch (const ShapeError& e) {
    EXPECT_EQ(e.code(), Code::kFile);
    EXPECT_NE(std::string(e.what()).find("does_not_exist.npy"), std::string::npos);
  }
  try {
    (void)io::read_npy(temp_dir());
    ADD_FAILURE();
  } catch (const ShapeError& e) {
    EXPECT_EQ(e.code(), Code::kFile);
  }
}

TEST(Npy, FailedWriteLeavesNoFile) {
  const std::vector<float> v = {1, 2};
  // The directory does not exist: nothing may appear anywhere.
  const std::string missing_dir = temp_dir() + "/no/such/dir/y.npy";
  EXPECT_THROW(io::write_npy(missing_dir, {2}, v.data()), ShapeError);
  EXPECT_FALSE(exists(missing_dir));
  // A shape whose size overflows is refused before the file is created.
  const std::string path = temp_dir() + "/overflow.npy";
  EXPECT_THROW(io::write_npy(path, {INT64_MAX, 4}, v.data()), ShapeError);
  EXPECT_FALSE(exists(path));
}

TEST(Npy, AtomicFileRemovesTemporaryWithoutCommit) {
  const std::string path = temp_dir() + "/atomic.txt";
  {
    io::AtomicFile f(path);
    f.write("partial", 7);
  }  // destroyed without commit
  EXPECT_FALSE(exists(path));
  // Nothing else left in the directory but what the other tests wrote deliberately.
  io::write_file_atomically(path, "done\n");
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "done");
}

TEST(Npy, OverwritesAnExistingFileAtomically) {
  const std::string path = temp_dir() + "/over.npy";
  const std::vector<float> a = {1, 2, 3}, b = {4, 5};
  io::write_npy(path, {3}, a.data());
  io::write_npy(path, {2}, b.data());
  EXPECT_EQ(io::read_npy(path).data, b);
}

}  // namespace
}  // namespace groupconv
