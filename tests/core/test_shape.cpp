#include <gtest/gtest.h>

#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

TEST(Shape, BroadcastShapes) { EXPECT_EQ(broadcast_shapes({3, 1}, {1, 4}), (Shape{3, 4})); }
