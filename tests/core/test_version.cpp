// The version header (written by CMake) against project(VERSION) and against the library.
#include <gtest/gtest.h>

#include <string>

#include "ndgrad/ndgrad.hpp"

TEST(Version, HeaderMatchesTheProjectVersion) {
  EXPECT_STREQ(NDGRAD_VERSION, NDGRAD_PROJECT_VERSION);
  std::string parts = std::to_string(NDGRAD_VERSION_MAJOR) + "." +
                      std::to_string(NDGRAD_VERSION_MINOR) + "." +
                      std::to_string(NDGRAD_VERSION_PATCH);
  EXPECT_EQ(parts, NDGRAD_VERSION);
}

TEST(Version, LibraryReportsTheHeadersVersion) {
  ASSERT_NE(ndgrad::version(), nullptr);
  EXPECT_STREQ(ndgrad::version(), NDGRAD_VERSION);
}
