// Basic indexing (views), joining and splitting: values against NumPy's rules worked by hand,
// memory shared with the base, and the errors.
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// 0 .. 23 in shape (2, 3, 4): element (i, j, k) is 12 i + 4 j + k.
Tensor x234() { return arange(24, DType::f64).reshape({2, 3, 4}); }

void expect_view(const Tensor& v, const Shape& shape, const std::vector<double>& values) {
  EXPECT_EQ(v.shape(), shape);
  expect_values(v, values);
}

}  // namespace

TEST(Index, IntegersSlicesNewAxesAndEllipsisFollowNumPy) {
  const Tensor x = x234();
  expect_view(x.index({1}), {3, 4}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  expect_view(x.index({Slice(), 0}), {2, 4}, {0, 1, 2, 3, 12, 13, 14, 15});
  expect_view(x.index({All, All, -1}), {2, 3}, {3, 7, 11, 15, 19, 23});
  expect_view(x.index({Ellipsis, -1}), {2, 3}, {3, 7, 11, 15, 19, 23});
  expect_view(x.index({1, Ellipsis}), {3, 4}, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  expect_view(x.index({0, Slice(None, None, -2), Slice(1, 3)}), {2, 2}, {9, 10, 1, 2});
  expect_view(x.index({NewAxis, 1, NewAxis, Slice(1, None)}), {1, 1, 2, 4},
              {16, 17, 18, 19, 20, 21, 22, 23});
  expect_view(x.index({Slice(None, None, -1), 2, Slice(None, None, -3)}), {2, 2}, {23, 20, 11, 8});
  expect_view(x.index({Ellipsis, NewAxis}).index({0, 0, 0}), {1}, {0});
  expect_view(x.index({}), {2, 3, 4}, x.to_vector());
  // Slices clamp; an empty slice is a (0, ...) view.
  expect_view(x.index({Slice(-10, 10), 0, 0}), {2}, {0, 12});
  EXPECT_EQ(x.index({Slice(5, 1)}).shape(), (Shape{0, 3, 4}));
  EXPECT_EQ(x.index({Slice(1, 1)}).numel(), 0);
  expect_view(x.index({Slice(1, None, -1), 0, 0}), {2}, {12, 0});
  expect_view(x.index({Slice(None, -3, -1), 0, 0}), {2}, {12, 0});  // [0, 1][:-3:-1]
  expect_view(x.index({0, 0, Slice(3, 0, -1)}), {3}, {3, 2, 1});
  expect_view(x.index({0, 0, Slice(-1, -5, -2)}), {2}, {3, 1});
  // 0-d results and 0-d tensors.
  expect_view(x.index({1, 2, 3}), {}, {23});
  expect_view(scalar(5.0).index({NewAxis}), {1}, {5});
  expect_view(scalar(5.0).index({Ellipsis}), {}, {5});
}

TEST(Index, MembersSelectSliceNarrowAndSubscript) {
  const Tensor x = x234();
  expect_view(x[1][2], {4}, {20, 21, 22, 23});
  expect_view(x[-1][0], {4}, {12, 13, 14, 15});
  expect_view(x.select(-1, 0), {2, 3}, {0, 4, 8, 12, 16, 20});
  expect_view(x.slice(2, 1, None, 2).select(0, 0), {3, 2}, {1, 3, 5, 7, 9, 11});
  expect_view(x.slice(1, None, None, -1).select(0, 1).select(1, 0), {3}, {20, 16, 12});
  expect_view(x.narrow(1, 1, 2).select(0, 0), {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  expect_view(x.narrow(2, -2, 2).select(0, 1).select(0, 0), {2}, {14, 15});
  EXPECT_EQ(x.narrow(1, 3, 0).shape(), (Shape{2, 0, 4}));
}

TEST(Index, ViewsShareTheBaseMemoryInConstantTime) {
  Tensor x = zeros({1000, 1000}, DType::f64);
  Tensor row = x[7];
  Tensor col = x.index({Slice(), 3});
  EXPECT_EQ(row.data_ptr<double>(), x.data_ptr<double>() + 7000);
  EXPECT_EQ(col.strides(), (Shape{1000}));
  row.copy_(full({1000}, 2.0, DType::f64));
  EXPECT_EQ(x.index({7, 999}).item(), 2.0);
  EXPECT_EQ(col.to_vector()[7], 2.0);
  EXPECT_EQ(col.to_vector()[8], 0.0);
  // Reversed views read backwards through the same memory.
  const Tensor r = x.index({Slice(None, None, -1), 0});
  EXPECT_EQ(r.to_vector()[992], 2.0);
}

TEST(Index, BadIndicesAreTypedErrorsNamingTheAxis) {
  const Tensor x = x234();
  expect_error<IndexError>([&] { x.index({2}); },
                           {"index 2 is out of bounds for axis 0 with size 2"});
  expect_error<IndexError>([&] { x.index({0, -4}); }, {"axis 1 with size 3"});
  expect_error<IndexError>([&] { x.index({0, 0, 0, 0}); }, {"too many indices"});
  expect_error<IndexError>([&] { x.index({Ellipsis, 0, Ellipsis}); }, {"one ellipsis"});
  expect_error<ValueError>([&] { x.index({Slice(0, 2, 0)}); }, {"step cannot be zero"});
  expect_error<IndexError>([&] { x[5]; }, {"out of bounds"});
  expect_error<IndexError>([&] { scalar(1.0)[0]; }, {"0-d"});
  expect_error<IndexError>([&] { x.select(2, 4); }, {"axis 2 with size 4"});
  expect_error<AxisError>([&] { x.select(3, 0); }, {"select"});
  expect_error<IndexError>([&] { x.narrow(1, 2, 2); }, {"do not fit axis 1 with size 3"});
  expect_error<IndexError>([&] { x.narrow(1, 0, -1); }, {"narrow"});
  expect_error<ValueError>([&] { Tensor().index({0}); }, {"index"});
}

TEST(Join, CatStackAndTheirShapes) {
  const Tensor a = arange(6, DType::f64).reshape({2, 3});
  const Tensor b = (arange(3, DType::f64) + 10.0).reshape({1, 3});
  expect_view(cat({a, b}), {3, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12});
  expect_view(cat({a, a}, -1), {2, 6}, {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  expect_view(concatenate({b, zeros({0, 3}, DType::f64), b}), {2, 3}, {10, 11, 12, 10, 11, 12});
  EXPECT_EQ(cat({a, b.to(DType::f32)}).dtype(), DType::f64);  // promoted
  EXPECT_EQ(cat({arange(2, DType::i64), arange(2, DType::f32)}).dtype(), DType::f32);
  expect_view(stack({b[0], b[0] * 2.0}), {2, 3}, {10, 11, 12, 20, 22, 24});
  expect_view(stack({b[0], b[0] * 2.0}, 1), {3, 2}, {10, 20, 11, 22, 12, 24});
  expect_view(stack({b[0], b[0]}, -1), {3, 2}, {10, 10, 11, 11, 12, 12});
  expect_view(stack({scalar(1.0), scalar(2.0)}), {2}, {1, 2});
}

TEST(Join, SplitChunkAndUnbindAreViews) {
  const Tensor x = arange(10, DType::f64);
  auto p = split(x, 4);
  ASSERT_EQ(p.size(), 3u);
  expect_values(p[0], {0, 1, 2, 3});
  expect_values(p[2], {8, 9});
  EXPECT_EQ(p[1].data_ptr<double>(), x.data_ptr<double>() + 4);
  auto q = split(x, std::vector<int64_t>{2, 0, 8});
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].numel(), 0);
  expect_values(q[2], {2, 3, 4, 5, 6, 7, 8, 9});
  auto c = chunk(x, 3);  // ceil(10 / 3) = 4: 4, 4, 2
  ASSERT_EQ(c.size(), 3u);
  expect_values(c[2], {8, 9});
  EXPECT_EQ(chunk(arange(6), 4).size(), 3u);  // pieces of 2: libtorch's rule
  auto u = unbind(arange(6, DType::f64).reshape({2, 3}), 1);
  ASSERT_EQ(u.size(), 3u);
  expect_values(u[1], {1, 4});
}

TEST(Join, BadInputIsATypedErrorNamingTheTensors) {
  const Tensor a = zeros({2, 3}), b = zeros({2, 4});
  expect_error<ValueError>([&] { cat({}); }, {"non-empty"});
  expect_error<ShapeError>([&] { cat({a, b}); }, {"tensor 1 has shape (2,4)"});
  expect_error<ShapeError>([&] { cat({a, zeros({2, 3, 1})}); }, {"tensor 1"});
  expect_error<ShapeError>([&] { cat({scalar(1.0), scalar(2.0)}); }, {"0-d"});
  expect_error<AxisError>([&] { cat({a, a}, 2); }, {"cat"});
  expect_error<ShapeError>([&] { stack({a, b}); }, {"one shape"});
  expect_error<ValueError>([&] { stack({}); }, {"non-empty"});
  expect_error<ValueError>([&] { cat({a, Tensor()}); }, {"tensor 1"});
  expect_error<ValueError>([&] { split(a, 0, 1); }, {"positive"});
  expect_error<ValueError>([&] { split(a, std::vector<int64_t>{1, 1}, 1); }, {"do not add up"});
  expect_error<ValueError>([&] { split(a, std::vector<int64_t>{4, -1}, 1); }, {"do not add up"});
  expect_error<ValueError>([&] { chunk(a, 0); }, {"positive"});
}

TEST(AdvancedIndex, TakeIndexSelectGatherMaskedSelectNonzero) {
  const Tensor x = x234();
  const Tensor i = tensor({2, 0, 2, -1}, {4}, DType::i64);
  expect_view(take(x, tensor({0, 23, -1, 5}, {2, 2}, DType::i64)), {2, 2}, {0, 23, 23, 5});
  expect_view(index_select(x, 1, i).select(0, 0).select(1, 0), {4}, {8, 0, 8, 8});
  expect_view(index_select(x, 0, tensor({1}, {1}, DType::i64)).select(1, 0), {1, 4},
              {12, 13, 14, 15});
  expect_view(index_select(x, 2, scalar(3, DType::i64)).select(0, 1), {3, 1}, {15, 19, 23});
  const Tensor g = tensor({1, 0, 2, 2}, {2, 2}, DType::i64);
  expect_view(gather(x[0], 1, g), {2, 2}, {1, 0, 6, 6});
  expect_view(gather(x[0], 0, tensor({2, 0}, {1, 2}, DType::i64)), {1, 2}, {8, 1});
  expect_view(take_along_axis(x[0], tensor({3, 0, 1}, {3, 1}, DType::i64), 1), {3, 1}, {3, 4, 9});
  // NumPy's broadcasting of the other axes: one index row for every row.
  expect_view(take_along_axis(x[0], tensor({3, 0}, {1, 2}, DType::i64), 1), {3, 2},
              {3, 0, 7, 4, 11, 8});
  expect_view(masked_select(x[0][0], tensor({1, 0, 0, 1}, {4}, DType::boolean)), {2}, {0, 3});
  expect_view(masked_select(x[0], tensor({0, 1, 1, 0}, {4}, DType::boolean)), {6},
              {1, 2, 5, 6, 9, 10});  // the mask broadcasts over the rows
  const Tensor nz = nonzero(tensor({0, 3, 0, 0, 0, 5}, {2, 3}));
  EXPECT_EQ(nz.dtype(), DType::i64);
  expect_view(nz, {2, 2}, {0, 1, 1, 2});
  EXPECT_EQ(argwhere(zeros({2, 2})).shape(), (Shape{0, 2}));
  // An empty axis after the selected one: nothing to copy (and nothing read).
  EXPECT_EQ(index_select(zeros({3, 0}), 0, tensor({2, 0}, {2}, DType::i64)).shape(), (Shape{2, 0}));
}

TEST(AdvancedIndex, BadIndicesAreTypedErrors) {
  const Tensor x = x234();
  expect_error<IndexError>([&] { take(x, tensor({24}, {1}, DType::i64)); }, {"24", "24 elements"});
  expect_error<DTypeError>([&] { take(x, tensor({1}, {1})); }, {"take", "i64"});
  expect_error<IndexError>([&] { index_select(x, 1, tensor({3}, {1}, DType::i64)); },
                           {"index_select", "axis 1 with size 3"});
  expect_error<ShapeError>([&] { index_select(x, 1, zeros({1, 1}, DType::i64)); }, {"0-d or 1-d"});
  expect_error<ShapeError>([&] { gather(x, 1, zeros({2, 2}, DType::i64)); }, {"gather", "rank"});
  expect_error<ShapeError>([&] { gather(x[0], 1, zeros({4, 1}, DType::i64)); }, {"gather"});
  expect_error<IndexError>(
      [&] {
        gather(x[0], 1, full({1, 1}, 4, DType::i64));
      },
      {"axis 1 with size 4"});
  expect_error<DTypeError>([&] { masked_select(x, ones({4})); }, {"bool"});
  expect_error<ShapeError>([&] { masked_select(x, ones({5}, DType::boolean)); }, {"broadcast"});
}

TEST(Join, HstackVstackFlipRollAndAxisMoves) {
  const Tensor a = arange(3, DType::f64), b = arange(3, DType::f64) + 3.0;
  expect_view(hstack({a, b}), {6}, {0, 1, 2, 3, 4, 5});
  expect_view(vstack({a, b}), {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_view(hstack({a.reshape({3, 1}), b.reshape({3, 1})}), {3, 2}, {0, 3, 1, 4, 2, 5});
  expect_view(vstack({scalar(1.0, DType::f64), scalar(2.0, DType::f64)}), {2, 1}, {1, 2});
  const Tensor x = arange(6, DType::f64).reshape({2, 3});
  expect_view(flip(x), {2, 3}, {5, 4, 3, 2, 1, 0});
  expect_view(flip(x, {1}), {2, 3}, {2, 1, 0, 5, 4, 3});
  EXPECT_EQ(flip(x, {0}).data_ptr<double>(), x.data_ptr<double>() + 3);  // a view
  expect_view(roll(x, 1, 1), {2, 3}, {2, 0, 1, 5, 3, 4});
  expect_view(roll(x, -4, 1), {2, 3}, {1, 2, 0, 4, 5, 3});
  expect_view(roll(x, 2), {2, 3}, {4, 5, 0, 1, 2, 3});  // flattened
  expect_view(roll(x, 3, 0), {2, 3}, {3, 4, 5, 0, 1, 2});
  const Tensor y = zeros({2, 3, 4});
  EXPECT_EQ(moveaxis(y, 0, -1).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(moveaxis(y, -1, 0).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(swapaxes(y, 0, 2).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(expand_dims(y, -1).shape(), (Shape{2, 3, 4, 1}));
  expect_error<AxisError>([&] { flip(x, {2}); }, {"flip"});
  expect_error<AxisError>([&] { moveaxis(y, 3, 0); }, {"moveaxis"});
  expect_error<AxisError>([&] { roll(x, 1, 2); }, {"roll"});
  expect_error<ValueError>([&] { hstack({}); }, {"non-empty"});
}

TEST(AdvancedIndex, IndexAddScatterAddMaskedFill) {
  const Tensor x = zeros({3, 4}, DType::f64);
  const Tensor src = arange(8, DType::f64).reshape({2, 4}) + 1.0;
  // Row 2 twice: accumulated.
  expect_view(index_add(x, 0, tensor({2, -1}, {2}, DType::i64), src), {3, 4},
              {0, 0, 0, 0, 0, 0, 0, 0, 6, 8, 10, 12});
  expect_view(
      index_add(x, 1, tensor({0, 0}, {2}, DType::i64), src.T().narrow(0, 0, 3)).select(0, 1), {4},
      {2 + 6, 0, 0, 0});
  expect_view(scatter_add(x, 1, tensor({3, 3, 0, 1}, {2, 2}, DType::i64), src), {3, 4},
              {0, 0, 0, 3, 5, 6, 0, 0, 0, 0, 0, 0});
  expect_view(masked_fill(src, tensor({1, 0, 0, 1}, {4}, DType::boolean), -1.0), {2, 4},
              {-1, 2, 3, -1, -1, 6, 7, -1});
  EXPECT_EQ(x.sum().item(), 0.0);  // the input is unchanged
  expect_error<ShapeError>([&] { index_add(x, 0, tensor({0}, {1}, DType::i64), src); },
                           {"index_add", "expected (1,4)"});
  expect_error<IndexError>(
      [&] {
        index_add(x, 0, tensor({3, 0}, {2}, DType::i64), src);
      },
      {"axis 0 with size 3"});
  expect_error<DTypeError>(
      [&] {
        index_add(zeros({3, 4}, DType::i64), 0, zeros({2}, DType::i64), src);
      },
      {"floating"});
  expect_error<ShapeError>(
      [&] {
        scatter_add(x, 1, zeros({3, 2}, DType::i64), src);
      },
      {"scatter_add"});
  expect_error<ShapeError>(
      [&] {
        masked_fill(src, ones({2, 1, 4}, DType::boolean), 0.0);
      },
      {"masked_fill", "does not broadcast"});
  expect_error<DTypeError>([&] { masked_fill(src, ones({4}), 0.0); }, {"bool"});
}

TEST(Join, PadInEveryModeAndCropping) {
  const Tensor x = arange(3, DType::f64) + 1.0;  // 1 2 3
  expect_view(pad(x, {{2, 1}}), {6}, {0, 0, 1, 2, 3, 0});
  expect_view(pad(x, {{1, 2}}, PadMode::constant, -1.0), {6}, {-1, 1, 2, 3, -1, -1});
  expect_view(pad(x, {{2, 2}}, PadMode::reflect), {7}, {3, 2, 1, 2, 3, 2, 1});
  expect_view(pad(x, {{2, 1}}, PadMode::edge), {6}, {1, 1, 1, 2, 3, 3});
  expect_view(pad(x, {{3, 2}}, PadMode::wrap), {8}, {1, 2, 3, 1, 2, 3, 1, 2});
  expect_view(pad(x, {{-1, 1}}), {3}, {2, 3, 0});  // a negative width crops
  const Tensor m = arange(4, DType::f64).reshape({2, 2});
  expect_view(pad(m, {{1, 0}, {0, 1}}, PadMode::edge), {3, 3}, {0, 1, 1, 0, 1, 1, 2, 3, 3});
  expect_view(pad(m, {{0, 0}, {0, 0}}), {2, 2}, {0, 1, 2, 3});
  expect_error<ValueError>([&] { pad(m, {{1, 1}}); }, {"pad", "one per axis"});
  expect_error<ValueError>([&] { pad(x, {{3, 0}}, PadMode::reflect); }, {"reflect", "size - 1"});
  expect_error<ValueError>([&] { pad(x, {{0, 4}}, PadMode::wrap); }, {"wrap"});
  expect_error<ValueError>([&] { pad(x, {{-2, -2}}); }, {"cropping 4"});
}

TEST(Join, TrilTriu) {
  const Tensor m = arange(9, DType::f64).reshape({3, 3}) + 1.0;
  expect_view(tril(m), {3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9});
  expect_view(triu(m, 1), {3, 3}, {0, 2, 3, 0, 0, 6, 0, 0, 0});
  expect_view(tril(m, -1), {3, 3}, {0, 0, 0, 4, 0, 0, 7, 8, 0});
  expect_view(triu(arange(6, DType::f64).reshape({1, 2, 3}), -1), {1, 2, 3}, {0, 1, 2, 3, 4, 5});
  expect_view(tril(arange(6, DType::i64).reshape({3, 2})), {3, 2}, {0, 0, 2, 3, 4, 5});
  expect_error<ShapeError>([&] { tril(arange(3)); }, {"tril", "2 dimensions"});
}

namespace {
Tensor ints(const std::vector<double>& v, const Shape& shape) {
  return tensor(v, shape, DType::i64);
}
Tensor ints(const std::vector<double>& v) {
  return tensor(v, {static_cast<int64_t>(v.size())}, DType::i64);
}
Tensor bools(const std::vector<double>& v, const Shape& shape) {
  return tensor(v, shape, DType::boolean);
}
}  // namespace

// Expected values computed by NumPy 1.24 on np.arange(24.).reshape(2, 3, 4).
TEST(AdvancedIndex, TensorsInsideIndexFollowNumPy) {
  const Tensor x = x234();
  expect_view(x.index({ints({1, 0, 1})}).select(2, 0), {3, 3}, {12, 16, 20, 0, 4, 8, 12, 16, 20});
  expect_view(x.index({All, ints({2, 0}), Slice(1, 3)}), {2, 2, 2}, {9, 10, 1, 2, 21, 22, 13, 14});
  // Index tensors broadcast together; separated by a slice, their axes come first.
  expect_view(x.index({ints({0, 1}, {2, 1}), All, ints({3, -1})}), {2, 2, 3},
              {3, 7, 11, 3, 7, 11, 15, 19, 23, 15, 19, 23});
  // An integer counts as advanced once a tensor is there.
  expect_view(x.index({0, All, ints({1, 2})}), {2, 3}, {1, 5, 9, 2, 6, 10});
  expect_view(x.index({1, ints({0, 2}), Slice(1, None)}), {2, 3}, {13, 14, 15, 21, 22, 23});
  const Tensor m = bools({1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0}, {3, 4});
  expect_view(x.index({All, m}), {2, 4}, {0, 3, 6, 9, 12, 15, 18, 21});
  expect_view(x.index({m.reshape({1, 3, 4}).broadcast_to({2, 3, 4})}), {8},
              {0, 3, 6, 9, 12, 15, 18, 21});
  expect_view(x.index({Ellipsis, ints({0, 3})}), {2, 3, 2},
              {0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23});
  // An ellipsis (or a new axis) between advanced entries separates them.
  expect_view(x.index({ints({0}), Ellipsis, ints({1})}), {1, 3}, {1, 5, 9});
  expect_view(x.index({NewAxis, ints({1}), 2}), {1, 1, 4}, {20, 21, 22, 23});
  // A 0-d bool adds an axis of size 1 (true) or 0 (false).
  expect_view(x.index({All, scalar(1, DType::boolean), ints({0})}), {2, 1, 4},
              {0, 1, 2, 3, 12, 13, 14, 15});
  EXPECT_EQ(x.index({scalar(0, DType::boolean)}).shape(), (Shape{0, 2, 3, 4}));
  expect_view(x.index({0, All, scalar(1, DType::boolean)}), {1, 3, 4}, x[0].to_vector());
  expect_view(x.index({ints({1, -2}), ints({2, 0}), ints({3, 1})}), {2}, {23, 1});
  // A mask covers as many axes as it has; a new axis separates advanced entries.
  expect_view(x.index({bools({1, 0, 1, 0, 1, 0}, {2, 3}), Slice(1, 3)}), {3, 2},
              {1, 2, 9, 10, 17, 18});
  expect_view(x.index({NewAxis, ints({1, 0}, {2, 1}), NewAxis, 2}), {2, 1, 1, 1, 4},
              {20, 21, 22, 23, 8, 9, 10, 11});
  expect_view(x.index({Slice(None, None, -1), ints({0, 0})}), {2, 2, 4},
              {12, 13, 14, 15, 12, 13, 14, 15, 0, 1, 2, 3, 0, 1, 2, 3});
  // Empty index tensors give empty results.
  EXPECT_EQ(x.index({All, zeros({0}, DType::i64)}).shape(), (Shape{2, 0, 4}));
  // A copy: writing to it leaves x alone.
  Tensor c = x.index({ints({0})});
  c.index_put_({0, 0, 0}, 100.0);
  EXPECT_EQ(x.index({0, 0, 0}).item(), 0.0);
}

TEST(AdvancedIndex, BadTensorIndicesAreTypedErrorsChangingNothing) {
  const Tensor x = x234();
  expect_error<IndexError>(
      [&] {
        x.index({ints({0, 1}), ints({0, 1, 2})});
      },
      {"index", "could not be broadcast", "(2,) (3,)"});
  expect_error<IndexError>(
      [&] {
        x.index({bools({1, 0}, {2, 1})});
      },
      {"boolean index of shape (2,1)", "axis 1 with size 3"});
  expect_error<IndexError>([&] { x.index({All, ints({3})}); }, {"index 3", "axis 1 with size 3"});
  expect_error<IndexError>([&] { x.index({ints({0}), 0, 0, 0}); }, {"too many indices"});
  expect_error<IndexError>([&] { x.index({All, tensor({1.0}, {1})}); }, {"i64 or bool", "f32"});
  expect_error<IndexError>([&] { x.index({Ellipsis, ints({0}), Ellipsis}); }, {"one ellipsis"});
  expect_error<IndexError>([&] { x.index({5, ints({0})}); }, {"index 5", "axis 0 with size 2"});
  expect_error<IndexError>([&] { x.index(std::vector<TensorIndex>(30, NewAxis)); },
                           {"33 dimensions", "32"});
  Tensor y = x.detach().contiguous();
  const std::vector<double> before = y.to_vector();
  expect_error<IndexError>([&] { y.index_put_({ints({0, 9})}, 1.0); }, {"index_put_", "index 9"});
  expect_error<ShapeError>([&] { y.index_put_({ints({0})}, zeros({2})); },
                           {"index_put_", "values of shape (2,)", "indexed shape (1,3,4)"});
  EXPECT_EQ(y.to_vector(), before);
}

TEST(AdvancedIndex, IndexPutReplacesOrAccumulates) {
  const Tensor x = x234();
  // Row (0, 1) named twice: the last write stays (NumPy's y[[0,0],[1,1]] = v).
  Tensor put =
      index_put(x, {ints({0, 0}), ints({1, 1})}, arange(8, DType::f64).reshape({2, 4}) + 1.0);
  expect_view(put.select(0, 0), {3, 4}, {0, 1, 2, 3, 5, 6, 7, 8, 8, 9, 10, 11});
  expect_view(index_put(x, {ints({0, 0}), ints({1, 1})}, ones({4}, DType::f64), true).select(0, 0),
              {3, 4}, {0, 1, 2, 3, 6, 7, 8, 9, 8, 9, 10, 11});
  // Basic indices, a mask and a broadcast scalar value.
  expect_view(index_put(x, {1, Slice(1, None), 0}, scalar(-1.0, DType::f64)).select(0, 1), {3, 4},
              {12, 13, 14, 15, -1, 17, 18, 19, -1, 21, 22, 23});
  const Tensor m = x > 20.0;
  expect_view(index_put(x, {m}, zeros({1}, DType::f64)).select(0, 1).select(0, 2), {4},
              {20, 0, 0, 0});
  EXPECT_EQ(x.index({1, 2, 3}).item(), 23.0);  // functional: x is unchanged
  // In place: the same elements, the version bumped, views see it.
  Tensor y = x.detach().contiguous();
  const Tensor row = y[1];
  y.index_put_({ints({1}), ints({2}), ints({3, 0})}, tensor({7, 8}, {2}, DType::f64));
  expect_view(row[2], {4}, {8, 21, 22, 7});
  y.index_put_({0, 0}, ones({4}, DType::f64), true);
  expect_view(y[0][0], {4}, {1, 2, 3, 4});
  y.masked_fill_(y > 20.0, 0.5);
  expect_view(y[1][2], {4}, {8, 0.5, 0.5, 7});
  // Through a strided view into its base.
  Tensor z = zeros({3, 4}, DType::i64);
  z.T().index_put_({ints({3}), ints({1})}, 9.0);
  expect_view(z[1], {4}, {0, 0, 0, 9});
  // Integer and bool tensors too; values converted to the tensor's dtype.
  expect_view(index_put(zeros({3}, DType::boolean), {ints({1})}, ones({1})), {3}, {0, 1, 0});
}

TEST(AdvancedIndex, InPlaceWritesAreRefusedWhereTheyWouldBreakGradients) {
  Tensor w = randn({3, 4}, 1, DType::f64).requires_grad_();
  expect_error<AutogradError>([&] { w.index_put_({0}, 1.0); }, {"index_put_", "requires grad"});
  expect_error<AutogradError>([&] { w.masked_fill_(w > 0.0, 1.0); }, {"masked_fill_"});
  Tensor y = zeros({3, 4}, DType::f64);
  expect_error<AutogradError>([&] { y.index_put_({0}, w[1]); }, {"values require grad"});
  expect_error<ValueError>(
      [&] {
        y[0].broadcast_to({3, 4}).index_put_({0}, 1.0);
      },
      {"share memory"});
  {
    NoGradGuard no_grad;
    w.index_put_({0, 0}, 5.0);
  }
  EXPECT_EQ(w.index({0, 0}).item(), 5.0);
  // A tensor saved for backward and then written in place is caught by its version.
  Tensor a = randn({3}, 2, DType::f64).requires_grad_();
  Tensor b = ones({3}, DType::f64);
  Tensor loss = (a * b).sum();
  b.index_put_({0}, 2.0);
  expect_error<AutogradError>([&] { loss.backward(); }, {"modified"});
}

TEST(AdvancedIndex, ScatterPutAlongAxisAndScalarWhere) {
  const Tensor x = zeros({3, 4}, DType::f64);
  const Tensor src = arange(8, DType::f64).reshape({2, 4}) + 1.0;
  // (0, 3) written twice: the last value (2) stays; scatter_add adds both.
  expect_view(scatter(x, 1, ints({3, 3, 0, 1}, {2, 2}), src), {3, 4},
              {0, 0, 0, 2, 5, 6, 0, 0, 0, 0, 0, 0});
  expect_view(scatter(x, 0, ints({2, 0}, {1, 2}), 7.0), {3, 4},
              {0, 7, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0});
  const Tensor a = arange(6, DType::f64).reshape({2, 3});
  expect_view(put_along_axis(a, ints({2, 0}, {2, 1}), scalar(-1.0, DType::f64), 1), {2, 3},
              {0, 1, -1, -1, 4, 5});
  // The indices broadcast over the other axes (NumPy's rule).
  expect_view(put_along_axis(a, ints({1}, {1, 1}), tensor({9, 8}, {2, 1}, DType::f64), 1), {2, 3},
              {0, 9, 2, 3, 8, 5});
  expect_view(where(a > 2.0, a, 0.0), {2, 3}, {0, 0, 0, 3, 4, 5});
  expect_view(where(a > 2.0, -1, a), {2, 3}, {0, 1, 2, -1, -1, -1});
  EXPECT_EQ(where(a > 2.0, a.to(DType::i64), 0).dtype(), DType::i64);
  EXPECT_EQ(where(a > 2.0, a.to(DType::f32), 0.5).dtype(), DType::f32);
  expect_view(masked_fill(a, a > 3.0, scalar(2.5, DType::f64)), {2, 3}, {0, 1, 2, 3, 2.5, 2.5});
  expect_error<ShapeError>(
      [&] {
        put_along_axis(a, ints({0, 1}, {1, 2}), a, 0);
      },
      {"put_along_axis", "broadcast"});
  expect_error<ShapeError>([&] { scatter(x, 1, ints({0}, {1, 1}), zeros({0})); }, {"scatter"});
  expect_error<ShapeError>([&] { masked_fill(a, a > 3.0, zeros({1})); }, {"0-d"});
}

TEST(Join, RepeatTileRepeatInterleave) {
  const Tensor a = arange(4, DType::f64).reshape({2, 2});
  expect_view(a.repeat({1, 2}), {2, 4}, {0, 1, 0, 1, 2, 3, 2, 3});
  expect_view(a.repeat({2, 1, 1}).select(0, 1), {2, 2}, {0, 1, 2, 3});
  EXPECT_EQ(a.repeat({2, 1, 3}).shape(), (Shape{2, 2, 6}));
  expect_view(tile(a, {2}), {2, 4}, {0, 1, 0, 1, 2, 3, 2, 3});  // reps padded with ones
  expect_view(tile(arange(2, DType::f64), {2, 2}), {2, 4}, {0, 1, 0, 1, 0, 1, 0, 1});
  EXPECT_EQ(tile(a, {0, 3}).shape(), (Shape{0, 6}));
  expect_view(repeat_interleave(a, 2), {8}, {0, 0, 1, 1, 2, 2, 3, 3});
  expect_view(repeat_interleave(a, 2, 0), {4, 2}, {0, 1, 0, 1, 2, 3, 2, 3});
  expect_view(repeat_interleave(a, ints({1, 2}), 1), {2, 3}, {0, 1, 1, 2, 3, 3});
  expect_view(repeat_interleave(a, ints({0, 3}), -2), {3, 2}, {2, 3, 2, 3, 2, 3});
  expect_view(repeat_interleave(scalar(4.0, DType::f64), 3), {3}, {4, 4, 4});
  expect_error<ValueError>([&] { a.repeat({2}); }, {"repeat", "one per axis"});
  expect_error<ValueError>([&] { tile(a, {-1, 1}); }, {"non-negative"});
  expect_error<ShapeError>([&] { repeat_interleave(a, ints({1, 2, 3}), 0); }, {"3 repeats"});
  expect_error<ValueError>([&] { repeat_interleave(a, ints({1, -2}), 0); }, {"non-negative"});
  expect_error<DTypeError>([&] { repeat_interleave(a, ones({2}), 0); }, {"i64"});
}

TEST(Join, DiagonalDiagTraceMeshgrid) {
  const Tensor x = x234();
  expect_view(x[0].diagonal(), {3}, {0, 5, 10});
  expect_view(x[0].diagonal(1), {3}, {1, 6, 11});
  expect_view(x[0].diagonal(-1), {2}, {4, 9});
  EXPECT_EQ(x[0].diagonal(5).shape(), (Shape{0}));
  expect_view(diagonal(x, 0, 1, 2), {2, 3}, {0, 5, 10, 12, 17, 22});  // the diagonal last
  expect_view(diagonal(x, 1, 2, 0), {3, 1}, {12, 16, 20});
  EXPECT_EQ(x[0].diagonal().data_ptr<double>(), x.data_ptr<double>());  // a view
  expect_view(diag(tensor({1, 2}, {2}, DType::f64), 1), {3, 3}, {0, 1, 0, 0, 0, 2, 0, 0, 0});
  expect_view(diag(tensor({1, 2}, {2}, DType::f64), -1), {3, 3}, {0, 0, 0, 1, 0, 0, 0, 2, 0});
  expect_view(diag(x[1]), {3}, {12, 17, 22});
  EXPECT_EQ(trace(x[0]).item(), 15.0);
  expect_view(trace(x, 0, 1, 2), {2}, {15, 51});
  const auto g = meshgrid({arange(3, DType::f64), arange(2, DType::f64) + 10.0});
  expect_view(g[0], {2, 3}, {0, 1, 2, 0, 1, 2});
  expect_view(g[1], {2, 3}, {10, 10, 10, 11, 11, 11});
  const auto ij = meshgrid({arange(3, DType::f64), arange(2, DType::f64)}, "ij");
  EXPECT_EQ(ij[0].shape(), (Shape{3, 2}));
  expect_view(ij[1], {3, 2}, {0, 1, 0, 1, 0, 1});
  expect_error<ShapeError>([&] { diagonal(arange(3)); }, {"2 dimensions"});
  expect_error<ValueError>([&] { diagonal(x, 0, 1, -2); }, {"same axis"});
  expect_error<ShapeError>([&] { diag(x); }, {"1-d or 2-d"});
  expect_error<ValueError>([&] { meshgrid({arange(2)}, "yx"); }, {"indexing"});
  expect_error<ShapeError>([&] { meshgrid({x}); }, {"0-d or 1-d"});
}

// pad writes its result in one pass when nothing is recorded, and by one cat per axis when a
// gradient is: both give the same elements, for every mode, with crops, on views.
TEST(Join, PadWithoutGradientsEqualsTheRecordedForm) {
  uint64_t seed = 40;
  for (PadMode mode : {PadMode::constant, PadMode::reflect, PadMode::edge, PadMode::wrap})
    for (const Shape& shape : std::vector<Shape>{{5}, {3, 4}, {2, 3, 4}, {4, 1, 3}}) {
      const Tensor base = randn(shape, ++seed, DType::f64);
      for (int trial = 0; trial < 6; ++trial) {
        std::vector<std::pair<int64_t, int64_t>> widths;
        for (int64_t n : shape) {
          const int64_t limit = mode == PadMode::reflect    ? n - 1
                                : mode == PadMode::constant ? 3
                                                            : n;
          widths.emplace_back((trial + n) % (limit + 2) - 1, (trial * 3 + 1) % (limit + 2) - 1);
        }
        for (const Tensor& x : {base, base.T()}) {
          Tensor plain, recorded;
          try {
            plain = pad(x, widths, mode, 0.25);
          } catch (const ValueError&) {
            expect_error<ValueError>([&] { pad(x.detach().requires_grad_(), widths, mode, 0.25); },
                                     {"pad"});
            continue;
          }
          recorded = pad(x.detach().requires_grad_(), widths, mode, 0.25);
          ASSERT_EQ(plain.shape(), recorded.shape());
          EXPECT_EQ(plain.to_vector(), recorded.to_vector()) << static_cast<int>(mode);
        }
      }
    }
}

// Expected pieces from NumPy's np.array_split(np.arange(7), 3) and np.split(x, [2, 1, -1]).
TEST(Join, TensorSplitBySectionsOrIndices) {
  const Tensor x = arange(7, DType::f64);
  const auto parts = tensor_split(x, 3);
  ASSERT_EQ(parts.size(), 3u);
  expect_view(parts[0], {3}, {0, 1, 2});
  expect_view(parts[1], {2}, {3, 4});
  expect_view(parts[2], {2}, {5, 6});
  EXPECT_EQ(parts[1].data_ptr<double>(), x.data_ptr<double>() + 3);  // views
  const auto at = tensor_split(x, {2, 1, -1});
  ASSERT_EQ(at.size(), 4u);
  expect_view(at[0], {2}, {0, 1});
  EXPECT_EQ(at[1].numel(), 0);
  expect_view(at[2], {5}, {1, 2, 3, 4, 5});
  expect_view(at[3], {1}, {6});
  EXPECT_EQ(tensor_split(x, 9).back().numel(), 0);  // more sections than elements
  EXPECT_EQ(tensor_split(zeros({2, 5}), {3}, -1)[1].shape(), (Shape{2, 2}));
  expect_error<ValueError>([&] { tensor_split(x, 0); }, {"tensor_split", "positive"});
  expect_error<AxisError>([&] { tensor_split(x, 2, 1); }, {"tensor_split"});
}

// Sizes at the edges: empty results are not built element by element, overflowing ones are
// typed errors, many axes are fine.
TEST(AdvancedIndex, EmptyHugeAndManyAxedSelections) {
  const Tensor idx = tensor({0, 1}, {2}, DType::i64);
  EXPECT_EQ(index_select(zeros({1 << 30, 2, 0}), 1, idx).shape(), (Shape{1 << 30, 2, 0}));
  Tensor wide = zeros({1 << 20, 1 << 20, 0});
  wide.index_put_({Slice()}, 1.0);  // nothing to write
  EXPECT_EQ(wide.index({All, All, zeros({0}, DType::i64)}).shape(), (Shape{1 << 20, 1 << 20, 0}));
  EXPECT_EQ(wide.index({zeros({3}, DType::i64), 0}).shape(), (Shape{3, 0}));
  // An empty axis that an index tensor selects from: an IndexError, as in NumPy.
  expect_error<IndexError>([&] { zeros({0, 3}).index({idx}); }, {"axis 0 with size 0"});
  const Tensor x = zeros({1, 1, 1});
  auto i64 = [](const Shape& s) { return zeros(s, DType::i64); };
  expect_error<ValueError>(
      [&] {
        x.index({i64({1 << 22, 1, 1}), i64({1, 1 << 22, 1}), i64({1, 1, 1 << 22})});
      },
      {"index", "more elements than fit"});
  expect_error<MemoryError>(
      [&] {
        x.index({i64({1 << 21, 1, 1}), i64({1, 1 << 21, 1}), i64({1, 1, 1 << 20})});
      },
      {"index", "positions"});
  expect_error<ShapeError>(
      [&] {
        repeat_interleave(tensor({1, 2}, {2}), tensor({5e18, 5e18}, {2}, DType::i64));
      },
      {"too large"});
  // tile and repeat add no axis for a repeat of 1: 17 axes are fine.
  EXPECT_EQ(tile(zeros(Shape(17, 1)), {2}).shape().back(), 2);
  // put_along_axis: an input axis of size 1 broadcasts against the indices (NumPy).
  expect_view(put_along_axis(zeros({1, 3}), zeros({2, 1}, DType::i64), scalar(1.0), 1), {1, 3},
              {1, 0, 0});
  // masked_fill_ through a transposed view.
  Tensor z = zeros({2, 3});
  z.T().masked_fill_(tensor({1, 0}, {2}, DType::boolean), 4.0);
  expect_view(z, {2, 3}, {4, 4, 4, 0, 0, 0});
}
