// Bad input gets the error type API.md names, a message that names the op and the offending
// shapes or values, and changes nothing.
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(Errors, AllDeriveFromError) {
  static_assert(std::is_base_of_v<std::runtime_error, Error>);
  static_assert(std::is_base_of_v<Error, ShapeError>);
  static_assert(std::is_base_of_v<Error, AxisError>);
  static_assert(std::is_base_of_v<Error, AutogradError>);
  static_assert(std::is_base_of_v<Error, DTypeError>);
  static_assert(std::is_base_of_v<Error, IOError>);
  static_assert(std::is_base_of_v<Error, ValueError>);
  EXPECT_THROW(ones({2}) + ones({3}), Error);
}

TEST(Errors, BroadcastMismatchReadsLikeNumpy) {
  expect_error<ShapeError>(
      [] {
        broadcast_shapes({3, 4}, {2, 1, 5});
      },
      {"operands could not be broadcast together with shapes (3,4) (2,1,5)"});
  expect_error<ShapeError>(
      [] {
        ones({3, 4}) * ones({2, 1, 5});
      },
      {"mul", "operands could not be broadcast together with shapes (3,4) (2,1,5)"});
  expect_error<ShapeError>([] { ones({4}) + ones({3}); }, {"add", "(4,) (3,)"});
  expect_error<ShapeError>([] { where(ones({2}) > 0.0, ones({3}), ones({1})); }, {"where"});
  expect_error<ShapeError>(
      [] {
        ones({3, 1}).broadcast_to({3});
      },
      {"broadcast_to", "(3,1)", "(3,)"});
  expect_error<ShapeError>(
      [] {
        ones({3}).broadcast_to({3, 2});
      },
      {"broadcast_to", "(3,)", "(3,2)"});
  expect_error<ShapeError>([] { sum_to(ones({3, 4}), {2}); }, {"sum_to", "(3,4)", "(2,)"});
}

TEST(Errors, MatmulShapes) {
  expect_error<ShapeError>(
      [] {
        matmul(ones({3, 4}), ones({5, 2}));
      },
      {"matmul", "(3,4)", "(5,2)", "4 != 5"});
  expect_error<ShapeError>([] { matmul(ones({4}), ones({3})); }, {"matmul", "(4,)", "(3,)"});
  expect_error<ShapeError>(
      [] {
        matmul(ones({2, 3, 4}), ones({3, 4, 2}));
      },
      {"matmul", "(2,)", "(3,)"});
  expect_error<ValueError>([] { matmul(scalar(1), ones({3})); }, {"matmul", "0-d"});
}

TEST(Errors, ReshapeAndSqueeze) {
  expect_error<ShapeError>([] { arange(12).reshape({5, -1}); }, {"reshape", "size 12", "(5,-1)"});
  expect_error<ShapeError>([] { arange(12).reshape({5, 3}); }, {"reshape", "size 12", "(5,3)"});
  expect_error<ShapeError>([] { arange(12).reshape({-1, -1}); }, {"reshape", "one unknown"});
  expect_error<ShapeError>([] { arange(12).reshape({-2, 6}); }, {"reshape", "-2"});
  expect_error<ShapeError>([] { ones({2, 3}).squeeze(1); }, {"squeeze", "(2,3)", "axis 1"});
}

TEST(Errors, Axes) {
  expect_error<AxisError>([] { ones({2, 3}).sum({2}); }, {"sum", "axis 2", "dimension 2"});
  expect_error<AxisError>([] { ones({2, 3}).mean({-3}); }, {"mean", "axis -3"});
  expect_error<AxisError>([] { ones({2, 3}).sum({0, -2}); }, {"sum", "repeated"});
  expect_error<AxisError>([] { ones({2, 3}).max({1, 1}); }, {"max", "repeated"});
  expect_error<AxisError>([] { ones({2, 3}).transpose(0, 2); }, {"transpose", "axis 2"});
  expect_error<AxisError>([] { ones({2, 3}).permute({0}); }, {"permute"});
  expect_error<AxisError>([] { ones({2, 3}).permute({0, 0}); }, {"permute", "repeated"});
  expect_error<AxisError>([] { ones({2, 3}).squeeze(5); }, {"squeeze", "axis 5"});
  expect_error<AxisError>([] { ones({2, 3}).unsqueeze(3); }, {"unsqueeze", "axis 3"});
  expect_error<AxisError>([] { ones({2, 3}).argmax(2); }, {"argmax", "axis 2"});
  expect_error<AxisError>([] { logsumexp(ones({2}), {1}); }, {"logsumexp"});
}

TEST(Errors, Values) {
  expect_error<ValueError>([] { zeros({2, -3}); }, {"negative dimension -3", "(2,-3)"});
  expect_error<ValueError>([] { zeros({INT64_MAX / 2, 4}); }, {"more elements than fit"});
  expect_error<MemoryError>([] { zeros({int64_t(1) << 50}); }, {"allocate"});
  expect_error<ValueError>([] { ones({3}).item(); }, {"item", "(3,)"});
  expect_error<ValueError>([] { zeros({0, 3}).max({0}); }, {"max", "zero-size", "(0,3)"});
  expect_error<ValueError>([] { zeros({2, 0}).argmax(1); }, {"argmax", "empty"});
  expect_error<ValueError>([] { arange(-1); }, {"arange", "-1"});
  expect_error<ShapeError>([] { tensor({1, 2, 3}, {2, 2}); }, {"tensor", "3 values", "(2,2)"});
  expect_error<ValueError>([] { Tensor() + ones({1}); }, {"add", "undefined"});
  expect_error<ValueError>(
      [] { gradcheck([](const std::vector<Tensor>& x) { return x[0]; }, {ones({1})}, 0.0); },
      {"gradcheck", "eps"});
}

TEST(Errors, DTypes) {
  Tensor b = ones({3}) > 0.0;
  expect_error<DTypeError>([&] { gelu(b); }, {"gelu", "bool"});  // (exp(b) is f32: PyTorch's)
  expect_error<DTypeError>([&] { softplus(arange(3, DType::i64)); }, {"softplus", "i64"});
  expect_error<DTypeError>([&] { b + b; }, {"add", "bool"});
  expect_error<DTypeError>([&] { where(ones({3}), ones({3}), ones({3})); }, {"where", "bool"});
  expect_error<DTypeError>([] { arange(3, DType::i64).requires_grad_(); },
                           {"requires_grad_", "i64"});
  expect_error<DTypeError>([] { ones({2}).data_ptr<double>(); }, {"data_ptr", "f32"});
  expect_error<DTypeError>([&] { matmul(b, b); }, {"matmul", "bool"});
}

TEST(Errors, Autograd) {
  Tensor x = randn({3}, 1).requires_grad_();
  expect_error<AutogradError>([&] { (x * 2.0).backward(); }, {"backward", "(3,)"});
  expect_error<AutogradError>([&] { ones({1}).backward(); }, {"backward", "does not require grad"});
  expect_error<AutogradError>([&] { (x * 2.0).backward(ones({2})); }, {"backward", "(2,)", "(3,)"});
  expect_error<AutogradError>([&] { grad((x * x).sum(), {ones({3})}); }, {"grad", "input 0"});
  expect_error<AutogradError>([&] { grad(x * x, {x}); }, {"grad", "grad_output", "(3,)"});
  expect_error<AutogradError>([&] { (x * 2.0).requires_grad_(false); }, {"requires_grad_", "mul"});
  EXPECT_FALSE(x.grad().defined());  // none of the failures wrote a gradient
}

TEST(Errors, FailedOpsLeaveOperandsUnchanged) {
  Tensor a = randn({3, 4}, 1).requires_grad_();
  std::vector<double> before = a.to_vector();
  EXPECT_THROW(a + ones({5}), ShapeError);
  EXPECT_THROW(a.reshape({5, 5}), ShapeError);
  EXPECT_THROW(a.sum({7}), AxisError);
  EXPECT_EQ(a.to_vector(), before);
  EXPECT_EQ(a.shape(), (Shape{3, 4}));
  EXPECT_TRUE(a.is_leaf());
  EXPECT_FALSE(a.grad().defined());
}

TEST(Errors, NanAndInfPropagateAsIeeeSays) {
  Tensor x = tensor({NAN, INFINITY, -INFINITY, 0}, {4}, DType::f64);
  std::vector<double> s = (x * 0.0).to_vector();
  EXPECT_TRUE(std::isnan(s[0]) && std::isnan(s[1]) && std::isnan(s[2]));
  EXPECT_TRUE(std::isnan(x.sum().item()));
  EXPECT_TRUE(std::isnan(x.max().item()));
  EXPECT_TRUE(std::isnan(maximum(x, zeros({4}, DType::f64)).to_vector()[0]));
  EXPECT_EQ(x.argmax(0).item(), 0);
  EXPECT_TRUE(std::isinf((ones({1}, DType::f64) / zeros({1}, DType::f64)).item()));
  EXPECT_TRUE(std::isnan(log(scalar(-1.0, DType::f64)).item()));
}
