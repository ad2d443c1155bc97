#include <gtest/gtest.h>

#include "groupconv/geometry.hpp"

namespace groupconv {
namespace {

TEST(Geometry, SpecExampleCheckFailsWithCode001) {
  ConvDesc d;
  d.groups = 4;
  Diagnostic diag;
  EXPECT_FALSE(try_resolve(d, {{1, 28, 28, 33}, {3, 3, 8, 16}, std::nullopt}, &diag));
  EXPECT_EQ(diag.code, Code::kCinNotDivisible);
  const std::string text = diag.render();
  EXPECT_NE(text.find("33"), std::string::npos) << text;
  EXPECT_NE(text.find("32"), std::string::npos) << text;
  EXPECT_NE(text.find("36"), std::string::npos) << text;
}

}  // namespace
}  // namespace groupconv
