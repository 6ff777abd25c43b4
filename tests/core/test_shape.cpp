#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "core/dims.hpp"
#include "core/inline_list.hpp"
#include "ndgrad/ndgrad.hpp"

using namespace ndgrad;

TEST(Shape, BroadcastShapes) { EXPECT_EQ(broadcast_shapes({3, 1}, {1, 4}), (Shape{3, 4})); }

// An empty tensor whose other sizes multiply past 64 bits once the 0 is moved last: its
// element count stays 0 in every order, and ops on it produce empty results.
TEST(Shape, EmptyTensorWithHugeSizesHasNoElementsInAnyOrder) {
  const int64_t huge = int64_t(1) << 40;
  const Tensor t = zeros({0, huge, huge});
  EXPECT_EQ(t.numel(), 0);
  const Tensor p = t.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{huge, huge, 0}));
  EXPECT_EQ(p.numel(), 0);
  const Tensor q = p * 2.0f + p;
  EXPECT_EQ(q.shape(), (Shape{huge, huge, 0}));
  EXPECT_EQ(q.numel(), 0);
  EXPECT_EQ(p.sum().item(), 0.0);
}

// Dims: the in-place small vector behind tensors' shapes and strides.
TEST(Dims, GrowsPastItsInlineValuesAndKeepsThemAll) {
  Dims d;
  std::vector<int64_t> expected;
  for (int64_t v = 0; v < 20; ++v) {  // inline capacity 6, then the heap
    d.push_back(v * 3);
    expected.push_back(v * 3);
    ASSERT_EQ(d, Shape(expected));
  }
  Dims copy = d;  // heap copy
  Dims moved = std::move(d);
  EXPECT_EQ(copy, moved);
  EXPECT_TRUE(d.empty());  // NOLINT: a moved-from Dims is empty and usable
  d.push_back(7);
  EXPECT_EQ(d, (Shape{7}));
  Dims small{1, 2, 3};  // inline copy and move
  Dims small_copy = small, small_moved = std::move(small);
  EXPECT_EQ(small_copy, small_moved);
  EXPECT_EQ(Shape(small_moved), (Shape{1, 2, 3}));
  small_copy = copy;  // inline <- heap
  EXPECT_EQ(small_copy, copy);
  copy = Dims{4};  // heap <- inline
  EXPECT_EQ(copy, (Shape{4}));
}

TEST(Dims, InsertEraseResizeAndCompareWithShape) {
  Dims d{1, 2, 3, 4, 5, 6};  // exactly the inline capacity
  d.insert(d.begin() + 2, 9);
  EXPECT_EQ(d, (Shape{1, 2, 9, 3, 4, 5, 6}));
  d.erase(d.begin());
  EXPECT_EQ(d, (Shape{2, 9, 3, 4, 5, 6}));
  d.insert(d.end(), 8);
  EXPECT_EQ(d.back(), 8);
  d.resize(9, -1);
  EXPECT_EQ(d, (Shape{2, 9, 3, 4, 5, 6, 8, -1, -1}));
  d.resize(2);
  EXPECT_EQ(d, (Shape{2, 9}));
  EXPECT_NE(d, (Shape{2, 9, 1}));
  EXPECT_NE((Shape{2, 8}), d);
  EXPECT_EQ(Dims(4, 7), (Shape{7, 7, 7, 7}));
  Dims from_shape = Shape{5, 6};
  EXPECT_EQ(from_shape.size(), 2u);
  EXPECT_EQ(from_shape[1], 6);
}

// Tensor memory is 64-byte aligned whatever its size: small values live inside the storage
// object (aligned within it), larger ones in blocks of their own; both are kept apart from
// each other and from the storage's other fields.
// Every value constructed is destroyed exactly once, moves leave the source empty, and values
// past the inline capacity move to a heap block (a node with any number of inputs).
TEST(InlineList, ConstructsDestroysAndMovesEachValueOnce) {
  static int alive = 0;
  struct Counted {
    int v;
    explicit Counted(int x) : v(x) { ++alive; }
    Counted(Counted&& o) noexcept : v(o.v) { ++alive; }
    ~Counted() { --alive; }
  };
  {
    InlineList<Counted, 2> a;
    a.emplace_back(1);
    a.emplace_back(2);
    EXPECT_EQ(alive, 2);
    InlineList<Counted, 2> b(std::move(a));
    EXPECT_EQ(a.size(), 0u);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[0].v + 10 * b[1].v, 21);
    EXPECT_EQ(alive, 2);
    {
      InlineList<Counted, 2> many;
      for (int i = 0; i < 37; ++i) many.emplace_back(i);  // past the inline two, growing twice+
      EXPECT_EQ(alive, 39);
      InlineList<Counted, 2> moved(std::move(many));  // the heap block changes hands
      EXPECT_EQ(many.size(), 0u);
      ASSERT_EQ(moved.size(), 37u);
      for (int i = 0; i < 37; ++i) EXPECT_EQ(moved[i].v, i);
      many.emplace_back(100);  // the moved-from list is usable again, inline
      EXPECT_EQ(alive, 40);
    }
    EXPECT_EQ(alive, 2);
    InlineList<Counted, 2> c;
    c.emplace_back(7);
    c = std::move(b);
    EXPECT_EQ(alive, 2);
    EXPECT_EQ(c[1].v, 2);
    c.clear();
    EXPECT_EQ(alive, 0);
    c.emplace_back(5);
  }
  EXPECT_EQ(alive, 0);
}

TEST(Storage, SmallAndLargeTensorsAre64ByteAlignedAndDistinct) {
  std::vector<Tensor> keep;
  std::set<const void*> seen;
  for (int64_t n : {1, 3, 16, 63, 64, 65, 200, 1000}) {
    for (int rep = 0; rep < 3; ++rep) {
      Tensor t = full({n}, double(n), DType::f32);
      const float* p = t.data_ptr<float>();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
      EXPECT_TRUE(seen.insert(p).second) << "two live tensors share memory, n = " << n;
      keep.push_back(t);
    }
  }
  for (const Tensor& t : keep)  // nothing overwrote another tensor's values
    for (double v : t.to_vector()) ASSERT_EQ(v, double(t.numel()));
}
