// Everyday conveniences: integer axes, in-place operators, tensors from C++ values,
// from_blob over contiguous memory, item(index) and printing shapes.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <type_traits>

#include "test_util.hpp"

using namespace ndgrad;
using ndgrad::testing::expect_close;
using ndgrad::testing::expect_error;

namespace {

template <class T, class = void>
struct sums_with : std::false_type {};
template <class T>
struct sums_with<T, std::void_t<decltype(std::declval<Tensor>().sum(std::declval<T>()))>>
    : std::true_type {};

}  // namespace

TEST(Comfort, AnIntegerAxisMeansThatOneAxisAndBracesStillMeanTheList) {
  const Tensor x = randn({3, 4, 5}, 11);
  // Each form against the list form, for int, int64_t, long and unsigned axes.
  expect_close(x.sum(1), x.sum({1}), 0);
  expect_close(x.sum(int64_t{-1}, true), x.sum({-1}, true), 0);
  expect_close(x.mean(-1, true), x.mean({-1}, true), 0);
  expect_close(x.max(2L), x.max({2}), 0);
  expect_close(x.min(0u), x.min({0}), 0);
  expect_close(x.prod(1, true), x.prod({1}, true), 0);
  expect_close(x.logsumexp(2), x.logsumexp({2}), 0);
  expect_close(x.nansum(0), x.nansum({0}), 0);
  expect_close(x.nanmean(1), x.nanmean({1}), 0);
  expect_close(x.var(1), x.var({1}), 0);
  expect_close(x.var(1, 0.0, true), x.var({1}, 0.0, true), 0);
  expect_close(x.std(-2), x.std({-2}), 0);
  expect_close((x > 0).any(1), (x > 0).any({1}), 0);
  expect_close((x > 0).all(-1, true), (x > 0).all({-1}, true), 0);
  expect_close((x > 0).count_nonzero(2), (x > 0).count_nonzero({2}), 0);
  expect_close(x.norm(2, 1), x.norm(2, {1}), 0);
  expect_close(x.norm("fro", 0), x.norm("fro", {0}), 0);
  // The free functions.
  expect_close(sum(x, 1), sum(x, {1}), 0);
  expect_close(mean(x, -1, true), mean(x, {-1}, true), 0);
  expect_close(max(x, 0), max(x, {0}), 0);
  expect_close(var(x, 2, 0.0), var(x, {2}, 0.0), 0);
  expect_close(norm(x, 1.0, 2), norm(x, 1.0, {2}), 0);
  expect_close(logsumexp(x, 1, true), logsumexp(x, {1}, true), 0);
  // sum(x, 1) is not the dtype form: the dtype stays f32 (DType(1) would be f64).
  EXPECT_EQ(sum(x, 1).dtype(), DType::f32);
  EXPECT_EQ(x.sum(1).shape(), (Shape{3, 5}));
  EXPECT_EQ(sum(x, 1, true, DType::f64).dtype(), DType::f64);
  EXPECT_EQ(sum(x, 1, true, DType::f64).shape(), (Shape{3, 1, 5}));
  // x.sum() and x.sum({}) are over every axis (a 0-d result), x.sum({1}) over axis 1.
  EXPECT_EQ(x.sum().shape(), Shape{});
  EXPECT_EQ(x.sum({}).shape(), Shape{});
  EXPECT_EQ(sum(x, {}).shape(), Shape{});
  EXPECT_EQ(x.mean({}, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(x.sum({1}).shape(), (Shape{3, 5}));
  EXPECT_EQ(x.sum({0, 2}).shape(), Shape{4});
  // x.norm(1) stays the 1-norm of every element (the order comes first).
  EXPECT_NEAR(x.norm(1).item(), x.abs().sum().item(), 1e-3);
  EXPECT_EQ(x.norm(1).shape(), Shape{});
  // A bool is not an axis; a number that is not an integer neither.
  static_assert(sums_with<int>::value && sums_with<int64_t>::value && sums_with<unsigned>::value);
  static_assert(!sums_with<bool>::value && !sums_with<double>::value);
  // The gradient flows through the integer form as through the list form.
  Tensor a = randn({3, 4}, 12, DType::f64).requires_grad_();
  const Tensor g = randn({3, 1}, 13, DType::f64);
  a.mean(1, true).backward(g);
  expect_close(a.grad(), (g / 4.0).broadcast_to({3, 4}), 1e-12);
  expect_error<AxisError>([&] { (void)x.sum(3); }, {"3"});
}

TEST(Comfort, InPlaceOperatorsWriteIntoTheTensorBroadcastingTheRightSide) {
  const Tensor a0 = randn({3, 4}, 21, DType::f64), b = randn({4}, 22, DType::f64);
  Tensor a = a0.clone();
  Tensor view = a.select(0, 1);  // shares a's memory: sees the writes
  const void* memory = a.data_ptr<double>();
  a += b;
  expect_close(a, a0 + b, 0);
  EXPECT_EQ(a.data_ptr<double>(), memory);
  expect_close(view, (a0 + b).select(0, 1), 0);
  a -= b.reshape({1, 4});
  expect_close(a, a0 + b - b, 0);
  a *= 2.5;
  expect_close(a, (a0 + b - b) * 2.5, 0);
  a /= b;
  expect_close(a, (a0 + b - b) * 2.5 / b, 0);
  a += 3;  // an int
  expect_close(a, (a0 + b - b) * 2.5 / b + 3, 0);
  a -= 1.5f;
  expect_close(a, (a0 + b - b) * 2.5 / b + 3 - 1.5, 0);
  EXPECT_EQ(a.shape(), (Shape{3, 4}));
  EXPECT_EQ(a.dtype(), DType::f64);
  // Into a view: only its elements change.
  Tensor c = a0.clone();
  Tensor row = c.select(0, 2);
  row *= 0;
  EXPECT_EQ(c.select(0, 2).abs().sum().item(), 0);
  expect_close(c.narrow(0, 0, 2), a0.narrow(0, 0, 2), 0);
  // Integers keep their dtype with integer operands.
  Tensor i = arange(6, DType::i64);
  i *= 3;
  i -= tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  EXPECT_EQ(i.to_vector(), (std::vector<double>{-1, 1, 3, 5, 7, 9}));
  EXPECT_EQ(i.dtype(), DType::i64);
  // A large tensor (computed lazily elsewhere) reading itself on the right.
  Tensor big = randn({1 << 18}, 23);
  const Tensor before = big.clone();
  big += big * 2.0;
  expect_close(big, before * 3.0, 1e-6);
}

TEST(Comfort, InPlaceOperatorsRefuseBadInputAndChangeNothing) {
  const Tensor a0 = randn({2, 3}, 31);
  Tensor a = a0.clone();
  // The right side must broadcast to a's shape; a's shape never grows.
  expect_error<ShapeError>([&] { a += randn({4}, 32); }, {"+=", "(4,)", "(2,3)"});
  expect_error<ShapeError>([&] { a *= randn({3, 2, 3}, 33); }, {"*=", "(3,2,3)"});
  expect_error<ShapeError>([&] { a -= randn({2, 1, 1}, 34); }, {"-=", "(2,3)"});
  // The result's dtype must be a's.
  Tensor i = arange(6, DType::i64);
  expect_error<DTypeError>([&] { i += 1.5; }, {"+=", "f32", "i64"});
  expect_error<DTypeError>([&] { i /= 2; }, {"/=", "i64"});
  expect_error<DTypeError>([&] { i += a0.reshape({6}); }, {"+="});
  EXPECT_EQ(i.to_vector(), arange(6, DType::i64).to_vector());
  expect_close(a, a0, 0);
  // A leaf that requires grad: refused in grad mode as copy_ refuses, allowed in a NoGradGuard.
  Tensor w = a0.clone().requires_grad_();
  const std::string copy_msg =
      expect_error<AutogradError>([&] { w.copy_(a0); }, {"requires grad", "NoGradGuard"});
  const std::string msg =
      expect_error<AutogradError>([&] { w += 1.0; }, {"+=", "requires grad", "NoGradGuard"});
  EXPECT_EQ(copy_msg.substr(copy_msg.find(':')), msg.substr(msg.find(':')));
  expect_close(w.detach(), a0, 0);
  {
    NoGradGuard no_grad;
    w -= 0.5;
  }
  expect_close(w.detach(), a0 - 0.5, 0);
  EXPECT_TRUE(w.is_leaf() && w.requires_grad());
  // A right side that requires grad: the write would not be recorded.
  Tensor plain = a0.clone();
  expect_error<AutogradError>([&] { plain += w; }, {"+=", "requires grad"});
  expect_close(plain, a0, 0);
  // A broadcast view cannot be written.
  Tensor bv = scalar(1.0).broadcast_to({3});
  expect_error<ValueError>([&] { bv += 1.0; }, {"share memory"});
}

TEST(Comfort, InPlaceOperatorsBumpTheVersionSoSavedTensorsAreCaught) {
  Tensor w = randn({3}, 41).requires_grad_();
  Tensor h = w * 2.0;        // not a leaf
  Tensor y = (h * h).sum();  // saves h
  {
    NoGradGuard no_grad;
    h += 1.0;
  }
  expect_error<AutogradError>([&] { y.backward(); }, {"modified"});
  // Without the write the same graph runs.
  Tensor h2 = w * 2.0;
  (h2 * h2).sum().backward();
  expect_close(w.grad(), w.detach() * 8.0, 1e-5);
}

TEST(Comfort, TensorsFromVectorsAndBracedListsTakeTheirDTypeFromTheElements) {
  EXPECT_EQ(tensor(std::vector<float>{1.5f, 2}).dtype(), DType::f32);
  EXPECT_EQ(tensor(std::vector<double>{1.5, 2}).dtype(), DType::f64);
  EXPECT_EQ(tensor(std::vector<int>{1, 2}).dtype(), DType::i32);
  EXPECT_EQ(tensor(std::vector<int64_t>{1, 2}).dtype(), DType::i64);
  EXPECT_EQ(tensor(std::vector<bool>{true, false, true}).dtype(), DType::boolean);
  EXPECT_EQ(tensor(std::vector<bool>{true, false, true}).to_vector(),
            (std::vector<double>{1, 0, 1}));
  // i64 exactly, past 2^53.
  const int64_t big = (int64_t(1) << 60) + 1;
  const Tensor b = tensor(std::vector<int64_t>{big, -big});
  EXPECT_EQ(b.data_ptr<int64_t>()[0], big);
  EXPECT_EQ(b.data_ptr<int64_t>()[1], -big);
  EXPECT_EQ(tensor({1.5, 2.5}).dtype(), DType::f64);
  EXPECT_EQ(tensor({1.5f, 2.5f}).dtype(), DType::f32);
  EXPECT_EQ(tensor({1, 2, 3}).dtype(), DType::i32);
  EXPECT_EQ(tensor({true, false}).dtype(), DType::boolean);
  const Tensor m = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_EQ(m.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  const Tensor cube = tensor({{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}});
  EXPECT_EQ(cube.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(cube.dtype(), DType::f64);
  EXPECT_EQ(cube.item({1, 0, 1}), 6);
  for (int64_t k = -8; k < 8; ++k)  // one integer on another rank: a flat index, as NumPy's
    EXPECT_EQ(cube.item({k}), double(k < 0 ? k + 9 : k + 1));
  expect_error<IndexError>([&] { (void)cube.item({8}); }, {"flat index 8", "(2,2,2)"});
  // The shaped form is unchanged: values as doubles, a shape, f32 by default.
  const Tensor shaped = tensor({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(shaped.dtype(), DType::f32);
  EXPECT_EQ(shaped.shape(), (Shape{2, 2}));
  expect_error<ValueError>([&] { (void)tensor({{1, 2}, {3, 4, 5}}); }, {"ragged", "row 1", "3"});
  expect_error<ValueError>(
      [&] {
        (void)tensor({{{1, 2}}, {{3, 4}, {5, 6}}});
      },
      {"ragged", "block 1"});
  expect_error<ValueError>(
      [&] {
        (void)tensor({{{1, 2}, {3, 4}}, {{5, 6}, {7}}});
      },
      {"ragged", "row 3"});
}

TEST(Comfort, FromBlobOverContiguousMemoryReleasesOnceWhenTheLastReferenceGoes) {
  float* memory = new float[6]{0, 1, 2, 3, 4, 5};
  int released = 0;
  {
    Tensor t = from_blob(memory, {2, 3}, DType::f32, [&] {
      ++released;
      delete[] memory;
    });
    EXPECT_EQ(t.strides(), (Shape{3, 1}));
    EXPECT_EQ(t.data_ptr<float>(), memory);  // no copy
    EXPECT_EQ(t.item({1, 2}), 5);
    Tensor v = t.T();
    t = Tensor();
    EXPECT_EQ(released, 0);
    memory[1] = 10;  // the owner's write is seen through the view
    EXPECT_EQ(v.item({1, 0}), 10);
    Tensor w = v;
    v = Tensor();
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
  int none = 0;
  float x[2] = {1, 2};
  EXPECT_THROW(from_blob(x, {-1}, DType::f32, [&] { ++none; }), ValueError);
  EXPECT_EQ(none, 0);
}

TEST(Comfort, ItemReadsOneElementWithNegativeIndices) {
  const Tensor x = randn({3, 4}, 51, DType::f64);
  const std::vector<double> v = x.to_vector();
  for (int64_t i = -3; i < 3; ++i)
    for (int64_t j = -4; j < 4; ++j) EXPECT_EQ(x.item({i, j}), v[((i + 3) % 3) * 4 + (j + 4) % 4]);
  EXPECT_EQ(x.T().item({2, 1}), v[1 * 4 + 2]);
  EXPECT_EQ(scalar(2.5).item({}), 2.5);
  // Reads one element of a huge broadcast view.
  EXPECT_EQ(scalar(7.0).broadcast_to({int64_t(1) << 20, int64_t(1) << 20}).item({-1, 5}), 7);
  expect_error<IndexError>([&] { (void)x.item({3, 0}); }, {"item", "axis 0", "3", "size 3"});
  expect_error<IndexError>([&] { (void)x.item({0, -5}); }, {"item", "axis 1", "-5", "size 4"});
  EXPECT_EQ(x.item({5}), v[5]);  // one integer on a 2-d tensor: a flat index (NumPy's)
  expect_error<IndexError>([&] { (void)x.item({0, 0, 0}); }, {"item", "(3,4)"});
}

TEST(Comfort, ShapesPrintAsTuples) {
  std::ostringstream os;
  os << Shape{2, 3} << " " << Shape{4} << " " << Shape{} << " " << randn({5, 1, 2}, 1).shape();
  EXPECT_EQ(os.str(), "(2, 3) (4,) () (5, 1, 2)");
}
