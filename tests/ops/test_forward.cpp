// Forward values of the ops against hand computation or naive loops.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/cpu/functors.hpp"
#include "kernels/cpu/op_info.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

TEST(Construction, FactoriesAndInspection) {
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.ndim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::f32);
  EXPECT_TRUE(t.defined());
  EXPECT_FALSE(Tensor().defined());
  EXPECT_EQ(scalar(2.5).ndim(), 0);
  EXPECT_DOUBLE_EQ(scalar(2.5, DType::f64).item(), 2.5);
  expect_values(zeros({2}), {0, 0});
  expect_values(ones({2}, DType::i64), {1, 1});
  expect_values(full({3}, 7.5, DType::f64), {7.5, 7.5, 7.5});
  expect_values(arange(4, DType::i64), {0, 1, 2, 3});
  expect_values(eye(3), {1, 0, 0, 0, 1, 0, 0, 0, 1});
  EXPECT_EQ(arange(3).dtype(), DType::f32);
}

TEST(Construction, RandomIsReproducibleAndPlausible) {
  expect_close(randn({100}, 42), randn({100}, 42), 0);
  EXPECT_NE(randn({100}, 42).to_vector(), randn({100}, 43).to_vector());
  std::vector<double> v = randn({20000}, 7, DType::f64).to_vector();
  double mean = 0, var = 0;
  for (double x : v) mean += x / v.size();
  for (double x : v) var += (x - mean) * (x - mean) / v.size();
  EXPECT_NEAR(mean, 0, 0.03);
  EXPECT_NEAR(var, 1, 0.05);
  std::vector<double> u = rand({20000}, 8).to_vector();
  for (double x : u) ASSERT_TRUE(x >= 0 && x < 1);
}

TEST(Views, ShapeOpsShareStorage) {
  Tensor x = arange(24).reshape({2, 3, 4});
  const float* base = x.data_ptr<float>();
  EXPECT_EQ(x.transpose(0, 2).data_ptr<float>(), base);
  EXPECT_EQ(x.T().shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(x.permute({1, 2, 0}).strides(), (Shape{4, 1, 12}));
  EXPECT_EQ(x.unsqueeze(1).shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).data_ptr<float>(), base);
  EXPECT_EQ(x.reshape({6, -1}).data_ptr<float>(), base);
  EXPECT_EQ(x.reshape({6, -1}).shape(), (Shape{6, 4}));
  Tensor b = tensor({1, 2, 3}, {3}).broadcast_to({4, 3});
  EXPECT_EQ(b.strides(), (Shape{0, 1}));
  expect_values(b, {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  // reshape of a non-contiguous view copies, with the right values.
  Tensor t = arange(6).reshape({2, 3}).T().reshape({6});
  expect_values(t, {0, 3, 1, 4, 2, 5});
  expect_values(arange(6).reshape({2, 3}).T().flatten(), {0, 3, 1, 4, 2, 5});
  EXPECT_FALSE(x.transpose(0, 1).is_contiguous());
  EXPECT_TRUE(x.transpose(0, 1).contiguous().is_contiguous());
}

TEST(Elementwise, ArithmeticAndFunctions) {
  Tensor a = tensor({1, -2, 3, 0.5}, {4}, DType::f64);
  Tensor b = tensor({2, 4, -1, 0.25}, {4}, DType::f64);
  expect_values(a + b, {3, 2, 2, 0.75});
  expect_values(a - b, {-1, -6, 4, 0.25});
  expect_values(a * b, {2, -8, -3, 0.125});
  expect_values(a / b, {0.5, -0.5, -3, 2});
  expect_values(-a, {-1, 2, -3, -0.5});
  expect_values(1.0 - a, {0, 3, -2, 0.5});
  expect_values(2.0 / b, {1, 0.5, -2, 8});
  expect_values(pow(b, 2.0), {4, 16, 1, 0.0625});
  expect_values(pow(abs(b), a), {2, 1.0 / 16, 1, 0.5});
  expect_values(relu(a), {1, 0, 3, 0.5});
  expect_values(abs(a), {1, 2, 3, 0.5});
  expect_values(maximum(a, b), {2, 4, 3, 0.5});
  expect_values(minimum(a, b), {1, -2, -1, 0.25});
  expect_values(sign(a), {1, -1, 1, 1});
  std::vector<double> av = a.to_vector(), e, l, s, t, g;
  for (double x : av) {
    e.push_back(std::exp(x));
    t.push_back(std::tanh(x));
    g.push_back(1 / (1 + std::exp(-x)));
  }
  expect_values(exp(a), e, 1e-14);
  expect_values(tanh(a), t, 1e-14);
  expect_values(sigmoid(a), g, 1e-14);
  expect_values(log(abs(a)), {0, std::log(2.0), std::log(3.0), std::log(0.5)}, 1e-14);
  expect_values(sqrt(abs(a)), {1, std::sqrt(2.0), std::sqrt(3.0), std::sqrt(0.5)}, 1e-14);
  // Sigmoid stays finite at the extremes.
  expect_values(sigmoid(tensor({-1000, 1000}, {2})), {0, 1});
}

// A temporary operand (an rvalue) is written over when its op's derivative does not read it,
// through a chain of temporaries; the values and gradients are those of named operands.
TEST(Elementwise, TemporariesAreWrittenOverAndGiveTheSameResults) {
  const Tensor x = randn({8, 8}, 1).requires_grad_();
  Tensor chained = x, named = x;
  for (int i = 0; i < 3; ++i) {
    Tensor scaled = chained * 1.5;
    const float* memory = scaled.data_ptr<float>();
    Tensor activated = tanh(std::move(scaled) + 0.5);  // add, then tanh, write over scaled
    EXPECT_EQ(activated.data_ptr<float>(), memory);
    chained = std::move(activated) - x;  // tanh saved its output: sub writes a new result
    EXPECT_NE(chained.data_ptr<float>(), memory);
    const Tensor s = named * 1.5, shifted = s + 0.5, t = tanh(shifted);
    named = t - x;
  }
  expect_close(chained, named, 0);
  const Tensor upstream = randn({8, 8}, 2);
  expect_close(grad(chained, {x}, upstream)[0], grad(named, {x}, upstream)[0], 0);
  // mul's derivative reads its operands: a temporary it saves is not written over.
  Tensor a = x * 2.0;
  const Tensor b = x * 2.0;
  Tensor product = (std::move(a) + 1.0) * (x * 3.0);
  const Tensor expected = (b + 1.0) * (x * 3.0);
  expect_close(product, expected, 0);
  expect_close(grad(product, {x}, upstream)[0], grad(expected, {x}, upstream)[0], 0);
  // The same tensor as both operands, one of them moved from: computed in place, correctly.
  Tensor same = randn({5}, 3);
  const Tensor copy = same.clone();
  EXPECT_NE(copy.data_ptr<float>(), same.data_ptr<float>());
  const Tensor sum = std::move(same) + same;
  expect_close(sum, copy * 2.0, 0);
}

TEST(Elementwise, ComparisonsAndWhere) {
  Tensor a = tensor({1, 2, 3}, {3});
  Tensor c = a > 1.5;
  EXPECT_EQ(c.dtype(), DType::boolean);
  expect_values(c, {0, 1, 1});
  expect_values(a == 2.0, {0, 1, 0});
  expect_values(a != 2.0, {1, 0, 1});
  expect_values(a <= 2.0, {1, 1, 0});
  expect_values(a < a, {0, 0, 0});
  expect_values(2.0 >= a, {1, 1, 0});
  expect_values(where(c, a, scalar(-1.0)), {-1, 2, 3});
  Tensor col = tensor({1, 0}, {2, 1}) > 0.5;
  expect_values(where(col, a, -a), {1, 2, 3, -1, -2, -3});
  EXPECT_FALSE((a.detach().requires_grad_() > 1.0).requires_grad());
}

TEST(Elementwise, DTypePromotion) {
  Tensor i = arange(3, DType::i64);
  EXPECT_EQ((i + i).dtype(), DType::i64);
  // A scalar's kind decides, not its value (tests/ops/test_numerics.cpp has every cell).
  EXPECT_EQ((i + 1).dtype(), DType::i64);
  EXPECT_EQ((i + 1.0).dtype(), DType::f32);
  EXPECT_EQ((i * 0.5).dtype(), DType::f32);
  EXPECT_EQ((i + ones({3})).dtype(), DType::f32);
  EXPECT_EQ((ones({3}) + ones({3}, DType::f64)).dtype(), DType::f64);
  // `/` is true division; floor_divide is NumPy's //.
  const Tensor seven = tensor({7, -7}, {2}, DType::i64), two = tensor({2, 2}, {2}, DType::i64);
  expect_values(seven / two, {3.5, -3.5});
  expect_values(floor_divide(seven, two), {3, -4});
  EXPECT_EQ(ones({2}).to(DType::i64).dtype(), DType::i64);
  expect_values(tensor({1.7, -1.7}, {2}).to(DType::i64), {1, -1});
  expect_values((arange(3) > 0.5).sum(), {2});
}

TEST(Reductions, EveryAxisOfRepeatedSizesMatchesNaive) {
  for (const Shape& shape : {Shape{3, 3, 3}, Shape{2, 3, 2}, Shape{2, 3, 4}}) {
    Tensor x = randn(shape, 5, DType::f64);
    std::vector<double> v = x.to_vector();
    for (int64_t axis = 0; axis < 3; ++axis) {
      Shape out = shape;
      out[axis] = 1;
      std::vector<double> s(static_cast<size_t>(out[0] * out[1] * out[2]), 0.0),
          m(s.size(), -INFINITY);
      for (int64_t i = 0; i < shape[0]; ++i)
        for (int64_t j = 0; j < shape[1]; ++j)
          for (int64_t k = 0; k < shape[2]; ++k) {
            std::vector<int64_t> o = {i, j, k};
            o[axis] = 0;
            int64_t f = flat_index(o, out);
            double val = v[flat_index({i, j, k}, shape)];
            s[f] += val;
            m[f] = std::max(m[f], val);
          }
      Tensor kept = x.sum({axis}, true);
      EXPECT_EQ(kept.shape(), out);
      expect_values(kept, s, 1e-12);
      expect_values(x.sum({axis - 3}), s, 1e-12);
      expect_values(x.max({axis}, true), m, 0);
      std::vector<double> mean = s;
      for (auto& e : mean) e /= shape[axis];
      expect_values(x.mean({axis}), mean, 1e-12);
    }
  }
}

TEST(Reductions, AllAxesArgmaxAndLogsumexp) {
  Tensor x = tensor({3, 9, 1, 4, 7, 2}, {2, 3});
  EXPECT_EQ(x.sum().ndim(), 0);
  EXPECT_DOUBLE_EQ(x.sum().item(), 26);
  EXPECT_DOUBLE_EQ(x.max().item(), 9);
  EXPECT_DOUBLE_EQ(x.min().item(), 1);
  EXPECT_EQ(x.sum({}, true).shape(), (Shape{1, 1}));
  Tensor am = x.argmax(1);
  EXPECT_EQ(am.dtype(), DType::i64);
  expect_values(am, {1, 1});
  expect_values(x.argmax(0), {1, 0, 1});
  expect_values(x.argmin(-1), {2, 2});
  expect_values(argmax(x.T(), 0), {1, 1});
  Tensor big = tensor({1000, 1000}, {2}, DType::f64);
  EXPECT_NEAR(logsumexp(big, {0}).item(), 1000 + std::log(2.0), 1e-9);
  expect_values(logsumexp(x.to(DType::f64), {1}),
                {std::log(std::exp(3) + std::exp(9) + std::exp(1)),
                 std::log(std::exp(4) + std::exp(7) + std::exp(2))},
                1e-12);
  expect_values(max(x, {0, 1}), {9});
  expect_values(min(x, {-1}), {1, 2});
  expect_values(mean(x, {0}), {3.5, 8, 1.5});
}

TEST(Matmul, NumpySemanticsMatchNaive) {
  auto naive = [](const Tensor& a, const Tensor& b) {  // (n,k) @ (k,m)
    int64_t n = a.shape()[0], k = a.shape()[1], m = b.shape()[1];
    std::vector<double> av = a.to_vector(), bv = b.to_vector(), c(n * m, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j)
        for (int64_t p = 0; p < k; ++p) c[i * m + j] += av[i * k + p] * bv[p * m + j];
    return tensor(c, {n, m}, DType::f64);
  };
  Tensor A = randn({3, 4}, 1, DType::f64), B = randn({4, 5}, 2, DType::f64);
  expect_close(matmul(A, B), naive(A, B), 1e-12);
  expect_close(matmul(B.T(), A.T()), naive(A, B).T(), 1e-12);  // transposed (col-major) views
  Tensor v = randn({4}, 3, DType::f64);
  Tensor mv = matmul(A, v);
  EXPECT_EQ(mv.shape(), (Shape{3}));
  expect_values(mv, naive(A, v.reshape({4, 1})).to_vector(), 1e-12);
  Tensor vm = matmul(v, B);
  EXPECT_EQ(vm.shape(), (Shape{5}));
  expect_values(vm, naive(v.reshape({1, 4}), B).to_vector(), 1e-12);
  EXPECT_EQ(matmul(v, v).ndim(), 0);
  EXPECT_NEAR(matmul(v, v).item(), (v * v).sum().item(), 1e-12);
  // Batched with broadcast batch dims: (2,1,3,4) @ (5,4,2) -> (2,5,3,2).
  Tensor X = randn({2, 1, 3, 4}, 4, DType::f64), Y = randn({5, 4, 2}, 5, DType::f64);
  Tensor Z = matmul(X, Y);
  ASSERT_EQ(Z.shape(), (Shape{2, 5, 3, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      Tensor xi = X.reshape({2, 3, 4}).permute({0, 1, 2});
      std::vector<double> xv = X.to_vector(), yv = Y.to_vector();
      Tensor xm = tensor(std::vector<double>(xv.begin() + i * 12, xv.begin() + (i + 1) * 12),
                         {3, 4}, DType::f64);
      Tensor ym = tensor(std::vector<double>(yv.begin() + j * 8, yv.begin() + (j + 1) * 8), {4, 2},
                         DType::f64);
      std::vector<double> zv = Z.to_vector();
      std::vector<double> zij(zv.begin() + (i * 5 + j) * 6, zv.begin() + (i * 5 + j + 1) * 6);
      expect_values(naive(xm, ym), zij, 1e-12);
    }
  // float32 through BLAS (or the fallback) agrees with float64.
  Tensor A32 = randn({64, 48}, 6), B32 = randn({48, 33}, 7);
  expect_close(matmul(A32, B32).to(DType::f64), matmul(A32.to(DType::f64), B32.to(DType::f64)),
               1e-4);
  // A broadcast (stride-0) operand inside the matrix dims still works.
  Tensor row = randn({1, 4}, 8, DType::f64).broadcast_to({3, 4});
  expect_close(matmul(row, B), naive(row.contiguous(), B), 1e-12);
}

// einsum: NumPy's semantics against naive loops, the matrix product done by the GEMM, and
// malformed subscripts refused with the reason.
TEST(Contractions, EinsumMatchesLoopsUsesTheGemmAndRefusesBadSubscripts) {
  const Tensor a = randn({3, 4}, 1, DType::f64), b = randn({4, 5}, 2, DType::f64);
  const Tensor c = einsum("ij,jk->ik", {a, b});
  std::vector<double> expected(15, 0.0);
  const auto av = a.to_vector(), bv = b.to_vector();
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k)
      for (int j = 0; j < 4; ++j) expected[i * 5 + k] += av[i * 4 + j] * bv[j * 5 + k];
  expect_values(c, expected, 1e-12);
  const Tensor w = randn({3, 4}, 3).requires_grad_();
  EXPECT_TRUE(ops_in_graph(einsum("ij,jk->ik", {w, b.to(DType::f32)})).count("matmul"));
  // Implicit output: the labels used once, alphabetically; a repeated label is a trace.
  EXPECT_EQ(einsum("ba", {a}).shape(), (Shape{4, 3}));
  const Tensor sq = randn({4, 4}, 4, DType::f64);
  const auto sv = sq.to_vector();
  EXPECT_NEAR(einsum("ii", {sq}).item(), sv[0] + sv[5] + sv[10] + sv[15], 1e-12);
  EXPECT_EQ(einsum("...ij,jk", {randn({2, 3, 4}, 5), randn({4, 5}, 6)}).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(einsum("i,i", {zeros({0}), zeros({0})}).item(), 0.0);  // an empty sum
  expect_error<ValueError>([&] { einsum("ij,jk", {a}); }, {"2 terms for 1 operands"});
  expect_error<ValueError>([&] { einsum("ij,jk->ik", {a, a}); }, {"label 'j'", "4", "3"});
  expect_error<ValueError>([&] { einsum("i1", {a}); }, {"invalid subscript '1'"});
  expect_error<ValueError>([&] { einsum("ijk", {a}); }, {"3 labels", "(3,4)"});
  expect_error<ValueError>([&] { einsum("ij->iz", {a}); }, {"output label 'z'"});
  expect_error<ValueError>([&] { einsum("ij->ii", {a}); }, {"more than once"});
  expect_error<ValueError>([&] { einsum("..i..", {a}); }, {"'...'"});
  expect_error<ValueError>([&] { einsum("ii", {a}); }, {"label 'i' has sizes 3 and 4"});
  expect_error<ValueError>([&] { tensordot(sq, sq, {1, 1}, {0, 1}); }, {"contracted twice"});
  expect_error<ShapeError>([&] { tensordot(a, b, {0}, {0}); }, {"sizes differ"});
  expect_error<ValueError>([&] { tensordot(a, b, 3); }, {"cannot contract 3 axes"});
  expect_error<ShapeError>([&] { vdot(a, b); }, {"different numbers of elements"});
}

// Linear algebra's errors name the op and the batch element; a singular matrix has det 0.
TEST(Linalg, SingularAndIndefiniteMatricesAreNamedByBatchElement) {
  Tensor batch = eye(3, DType::f64).broadcast_to({2, 2, 3, 3}).contiguous();
  {
    const NoGradGuard no_grad;
    batch.index({1, 0, 2}).copy_(zeros({3}, DType::f64));  // element (1, 0): a zero row
  }
  expect_error<LinAlgError>([&] { linalg::solve(batch, ones({3}, DType::f64)); },
                            {"linalg::solve", "batch index (1, 0)", "singular"});
  expect_error<LinAlgError>([&] { linalg::inv(batch); }, {"linalg::inv", "batch index (1, 0)"});
  expect_error<LinAlgError>(
      [&] { linalg::cholesky(batch); },
      {"linalg::cholesky", "batch index (1, 0)", "positive definite", "order 3"});
  const Tensor d = linalg::det(batch);
  expect_values(d, {1, 1, 0, 1});
  const auto [sign, logabs] = linalg::slogdet(batch);
  expect_values(sign, {1, 1, 0, 1});
  EXPECT_TRUE(std::isinf(logabs.to_vector()[2]));
  expect_error<ShapeError>([] { linalg::solve(zeros({3, 4}), zeros({3})); }, {"square"});
  expect_error<ShapeError>([] { linalg::solve(eye(3), zeros({4, 2})); }, {"B needs 3 rows"});
  expect_error<DTypeError>([] { linalg::inv(eye(3).to(DType::i64)); }, {"linalg::inv"});
  // A 2x2 system against its closed form, in f32.
  const Tensor a = tensor({4, 1, 2, 3}, {2, 2}), b = tensor({1, 2}, {2});
  expect_values(linalg::solve(a, b), {0.1, 0.6}, 1e-6);
  expect_values(linalg::det(a).reshape({1}), {10}, 1e-6);
  expect_values(linalg::matrix_power(a, 2), {18, 7, 14, 11}, 1e-6);
}

TEST(Printing, LooksLikeNumpy) {
  std::ostringstream os;
  os << tensor({0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_EQ(os.str(), "tensor([[0. 1. 2.]\n        [3. 4. 5.]], dtype=f32)");
  std::ostringstream os2;
  os2 << tensor({0.5, -1.25}, {2}, DType::f64);
  EXPECT_EQ(os2.str(), "tensor([ 0.5  -1.25], dtype=f64)");  // NumPy pads the fraction too
  std::ostringstream os3;
  os3 << (arange(3) > 0.5) << " " << arange(2, DType::i64) << " " << scalar(3);
  EXPECT_EQ(
      os3.str(),
      "tensor([False  True  True], dtype=bool) tensor([0 1], dtype=i64) tensor(3., dtype=f32)");
}

// Every row of the op table against its functor (kernels/cpu/functors.hpp), in every dtype:
// f64 and f32 results against the functor in double (f64 exactly, f32 within a few ulps of
// the double result rounded), i64 and bool ones against the functor in that type (or, for a
// floating_promote row, an f32 result: the functor in double rounded once), inputs from the
// row's domain; a dtype the row's rule refuses is a DTypeError naming the row.
namespace {

using kernels::DTypeRule;

const DType kDTypes[] = {DType::f64, DType::f32, DType::i64, DType::boolean};

bool unary_takes(DTypeRule rule, DType dt) {
  switch (rule) {
    case DTypeRule::floating:
      return is_floating(dt);
    case DTypeRule::integral:
      return !is_floating(dt);
    case DTypeRule::predicate:
    case DTypeRule::floating_promote:
      return true;
    default:
      return dt != DType::boolean;
  }
}
// Two operands of one dtype; true_divide's non-floating quotients are checked elsewhere
// (TrueDivisionOfIntegersIsRoundedOnce), and so are integer powers (IntegerPowersAreExact).
bool binary_takes(DTypeRule rule, DType dt, bool& skip) {
  skip = (rule == DTypeRule::true_divide || rule == DTypeRule::power) && !is_floating(dt);
  switch (rule) {
    case DTypeRule::floating:
    case DTypeRule::floating_first:
      return is_floating(dt);
    case DTypeRule::integral:
      return !is_floating(dt);
    case DTypeRule::comparison:
    case DTypeRule::true_divide:
    case DTypeRule::floating_promote:
      return true;
    default:
      return dt != DType::boolean;
  }
}

// The functor's value for element v (a value of dtype dt, held as a double), as a double. The
// functor is instantiated only for the element types its rule admits (Rule: the row's).
template <class F, DTypeRule Rule, class... V>
double expected(DType dt, V... v) {
  constexpr bool kFloat = Rule != DTypeRule::integral;
  if constexpr (Rule == DTypeRule::floating_promote)  // an f32 result from f64
    if (!is_floating(dt)) return static_cast<double>(static_cast<float>(F::apply(v...)));
  constexpr bool kInt = Rule != DTypeRule::floating && Rule != DTypeRule::floating_first &&
                        Rule != DTypeRule::floating_promote;
  constexpr bool kBool =
      Rule == DTypeRule::comparison || Rule == DTypeRule::predicate || Rule == DTypeRule::integral;
  if constexpr (kInt)
    if (dt == DType::i64) return static_cast<double>(F::apply(static_cast<int64_t>(v)...));
  if constexpr (kBool)
    if (dt == DType::boolean) return static_cast<double>(F::apply(static_cast<bool>(v)...));
  if constexpr (kFloat) {
    if (dt == DType::f32)  // the double result, rounded to the row's result type
      return static_cast<double>(static_cast<float>(F::apply(v...)));
    if (dt == DType::f64) return static_cast<double>(F::apply(v...));
  }
  ADD_FAILURE() << "no functor type for " << dtype_name(dt);
  return 0;
}

// The row's result dtype for operands of dtype dt.
DType result_dtype(DTypeRule rule, DType dt) {
  if (rule == DTypeRule::predicate || rule == DTypeRule::comparison) return DType::boolean;
  if (rule == DTypeRule::floating_promote && !is_floating(dt)) return DType::f32;
  return dt;
}

void expect_row_values(const std::string& what, DType dt, const std::vector<double>& got,
                       const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " at " << i << ": " << got[i];
    } else if (dt == DType::f32 && std::isfinite(want[i])) {
      EXPECT_NEAR(got[i], want[i], 4e-7 * std::max(1.0, std::fabs(want[i]))) << what << " at " << i;
    } else {
      EXPECT_EQ(got[i], want[i]) << what << " at " << i;
    }
  }
}

}  // namespace

TEST(ForwardRows, EveryRowAgainstItsFunctor) {
  using kernels::BinaryOp;
  using kernels::UnaryOp;
  uint64_t seed = 70000;
  int rows = 0, checked = 0;
#define NDGRAD_UNARY_OP(name, ...)                                                         \
  {                                                                                        \
    ++rows;                                                                                \
    constexpr kernels::OpInfo info = kernels::info(UnaryOp::name);                         \
    const Tensor source = row_input(info.domain, {3, 5}, true, ++seed);                    \
    for (DType dt : kDTypes) {                                                             \
      const std::string what = std::string(#name " on ") + dtype_name(dt);                 \
      const Tensor x = source.to(dt);                                                      \
      if (!unary_takes(info.dtypes, dt)) {                                                 \
        expect_error<DTypeError>([&] { ndgrad::name(x); }, {#name});                       \
        continue;                                                                          \
      }                                                                                    \
      const std::vector<double> xv = x.to_vector();                                        \
      std::vector<double> want;                                                            \
      for (double v : xv) want.push_back(expected<kernels::fn::name, info.dtypes>(dt, v)); \
      const Tensor y = ndgrad::name(x);                                                    \
      EXPECT_EQ(y.dtype(), result_dtype(info.dtypes, dt)) << what;                         \
      expect_row_values(what, y.dtype(), y.to_vector(), want);                             \
      ++checked;                                                                           \
    }                                                                                      \
  }
#define NDGRAD_BINARY_OP(name, ...)                                                     \
  {                                                                                     \
    ++rows;                                                                             \
    constexpr kernels::OpInfo info = kernels::info(BinaryOp::name);                     \
    const Tensor sa = row_input(info.domain, {3, 5}, true, ++seed);                     \
    const Tensor sb = row_input(info.domain, {5}, false, ++seed);                       \
    for (DType dt : kDTypes) {                                                          \
      const std::string what = std::string(#name " on ") + dtype_name(dt);              \
      const Tensor a = sa.to(dt), b = sb.to(dt);                                        \
      bool skip = false;                                                                \
      if (!binary_takes(info.dtypes, dt, skip)) {                                       \
        expect_error<DTypeError>([&] { ndgrad::name(a, b); }, {#name});                 \
        continue;                                                                       \
      }                                                                                 \
      if (skip) continue;                                                               \
      const std::vector<double> av = a.to_vector(), bv = b.to_vector();                 \
      std::vector<double> want;                                                         \
      for (size_t i = 0; i < av.size(); ++i)                                            \
        want.push_back(expected<kernels::fn::name, info.dtypes>(dt, av[i], bv[i % 5])); \
      const Tensor y = ndgrad::name(a, b);                                              \
      EXPECT_EQ(y.dtype(), result_dtype(info.dtypes, dt)) << what;                      \
      expect_row_values(what, y.dtype(), y.to_vector(), want);                          \
      ++checked;                                                                        \
    }                                                                                   \
  }
#include "ndgrad/op_table.def"
  EXPECT_EQ(rows, kernels::kNumUnaryOps + kernels::kNumBinaryOps);
  EXPECT_GE(checked, 2 * rows);  // every row in two dtypes at least
  std::cout << "[ forward rows ] " << rows << " rows, " << checked << " (row, dtype) pairs\n";
}

// The reductions, scans and selections outside the table: dtypes, empties, integers and
// errors that name the op, the axis and the shape (values and gradients: the libtorch test).
// Sorts long enough for the radix sort and selections of many and of few, against std's
// stable sort of the values: ties (-0.0 and 0.0 among them) in input order, NaN the largest,
// along the last axis and along axis 0 (strided rows), every dtype.
TEST(Reductions, LongSortsAndTopkMatchAStableSort) {
  const int64_t n = 1000, rows = 3;
  std::vector<double> vals(static_cast<size_t>(n * rows));
  uint32_t state = 7;
  for (double& v : vals) {
    state = state * 1664525u + 1013904223u;
    const uint32_t r = state >> 8;
    v = double(int(r % 41) - 20) / 4;  // many ties
    if (r % 97 == 0) v = NAN;
    if (r % 89 == 0) v = -0.0;
    if (r % 83 == 0) v = (r & 1) ? INFINITY : -INFINITY;
  }
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::boolean}) {
    Tensor t = tensor(vals, {rows, n}, DType::f64);
    if (dt == DType::i64) t = (nan_to_num(t, 0.0, 1e6, -1e6) * 4.0).to(DType::i64);
    if (dt == DType::boolean) t = (t > 0.0);
    if (dt == DType::f32) t = t.to(DType::f32);
    for (bool transposed : {false, true}) {
      const Tensor x = transposed ? t.T() : t;  // sorted along axis 0 of the transpose
      const int64_t axis = transposed ? 0 : 1;
      const std::vector<double> xv = t.to_vector();  // row r of t is the r-th sorted run
      for (bool descending : {false, true}) {
        const std::vector<double> got = argsort(x, axis, descending).to_vector();
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<int64_t> want(static_cast<size_t>(n));
          for (int64_t k = 0; k < n; ++k) want[k] = k;
          auto key = [&](int64_t k) { return xv[r * n + k]; };
          auto less = [&](int64_t a, int64_t b) {
            const double va = key(a), vb = key(b);
            if (std::isnan(vb)) return !std::isnan(va);
            if (std::isnan(va)) return false;
            return va < vb;
          };
          if (descending)
            std::stable_sort(want.begin(), want.end(),
                             [&](int64_t a, int64_t b) { return less(b, a); });
          else
            std::stable_sort(want.begin(), want.end(), less);
          int bad = 0;
          for (int64_t k = 0; k < n; ++k) {
            const double g = transposed ? got[k * rows + r] : got[r * n + k];
            bad += g != double(want[k]);
          }
          EXPECT_EQ(bad, 0) << dtype_name(dt) << " transposed " << transposed << " descending "
                            << descending << " row " << r;
          for (int64_t k : {int64_t(1), int64_t(10), int64_t(100), n - 1}) {
            const std::vector<double> top = topk(x, k, axis, descending).indices.to_vector();
            int bad_top = 0;
            for (int64_t j = 0; j < k; ++j)
              bad_top += (transposed ? top[j * rows + r] : top[r * k + j]) != double(want[j]);
            EXPECT_EQ(bad_top, 0) << dtype_name(dt) << " topk " << k << " transposed " << transposed
                                  << " largest " << descending << " row " << r;
          }
          // sorted = false: the same positions (ties by position, as sorted), in any order.
          for (int64_t k : {int64_t(1), int64_t(10), int64_t(100), n - 1, n}) {
            const ValuesIndices sel = topk(x, k, axis, descending, /*sorted=*/false);
            const std::vector<double> top = sel.indices.to_vector(), vals = sel.values.to_vector();
            std::vector<int64_t> got_set, want_set(want.begin(), want.begin() + k);
            for (int64_t j = 0; j < k; ++j) {
              const size_t at = static_cast<size_t>(transposed ? j * rows + r : r * k + j);
              got_set.push_back(static_cast<int64_t>(top[at]));
              const double v = vals[at], w = xv[r * n + got_set.back()];
              EXPECT_TRUE(v == w || (std::isnan(v) && std::isnan(w))) << "unsorted topk value";
            }
            std::sort(got_set.begin(), got_set.end());
            std::sort(want_set.begin(), want_set.end());
            EXPECT_EQ(got_set, want_set)
                << dtype_name(dt) << " unsorted topk " << k << " transposed " << transposed
                << " largest " << descending << " row " << r;
          }
        }
      }
    }
  }
}

// var in one pass over each axis choice (rows, columns past one block, non-adjacent axes)
// against two passes in long double, on data with a large offset and a drift, f32 and f64.
TEST(Reductions, VarianceMatchesTwoPassesInLongDouble) {
  const int64_t a = 70, b = 1100, c = 3;
  std::vector<double> vals(static_cast<size_t>(a * b * c));
  for (size_t i = 0; i < vals.size(); ++i)
    vals[i] = 1e4 + 1e-3 * double(i % 1000) + std::sin(double(i)) + (i % 7 == 0 ? 50.0 : 0.0);
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor t = tensor(vals, {a, b, c}, dt);
    const std::vector<double> xv = t.to_vector();
    for (const std::vector<int64_t>& axes :
         std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {0, 1}, {}}) {
      const std::vector<double> got = var(t, axes).to_vector();
      auto reduced = [&](int64_t d) {
        return axes.empty() || std::find(axes.begin(), axes.end(), d) != axes.end();
      };
      const int64_t dims[3] = {a, b, c};
      std::vector<long double> sum(got.size(), 0), sq(got.size(), 0);
      std::vector<int64_t> count(got.size(), 0);
      auto slot = [&](int64_t i, int64_t j, int64_t k) {
        const int64_t idx[3] = {i, j, k};
        int64_t s = 0;
        for (int d = 0; d < 3; ++d)
          if (!reduced(d)) s = s * dims[d] + idx[d];
        return s;
      };
      for (int pass = 0; pass < 2; ++pass)
        for (int64_t i = 0; i < a; ++i)
          for (int64_t j = 0; j < b; ++j)
            for (int64_t k = 0; k < c; ++k) {
              const int64_t s = slot(i, j, k);
              const long double v = xv[(i * b + j) * c + k];
              if (pass == 0) {
                sum[s] += v;
                ++count[s];
              } else {
                const long double d = v - sum[s] / count[s];
                sq[s] += d * d;
              }
            }
      double worst = 0;
      for (size_t s = 0; s < got.size(); ++s) {
        const double want = static_cast<double>(sq[s] / (count[s] - 1));
        worst = std::max(worst, std::fabs(got[s] - want) / want);
      }
      EXPECT_LT(worst, dt == DType::f32 ? 2e-7 : 1e-13)
          << dtype_name(dt) << " axes " << axes.size();
    }
  }
}

// float64 values spread past 1.3e154: the kernel's one-pass block sums (shifted by one of the
// block's values) overflow where the deviations from the mean do not; such blocks are redone
// in two passes. Rows (one block and several) and columns.
TEST(Reductions, VarianceOfHugeFloat64SpreadsIsFinite) {
  const double big = 8e153;
  EXPECT_DOUBLE_EQ(var(tensor({big, -big}, {2}, DType::f64)).to_vector()[0], 2 * big * big);
  std::vector<double> row(5000, 0.0);  // two blocks; the first shifted by -big
  row[0] = -big;
  row[1] = big;
  const double want = 2 * big * big / double(row.size() - 1);
  EXPECT_NEAR(var(tensor(row, {5000}, DType::f64)).to_vector()[0], want, want * 1e-12);
  const Tensor cols = tensor({big, -big, 1.0, -big, big, 2.0}, {2, 3}, DType::f64);
  const std::vector<double> got = var(cols, {0}).to_vector();
  EXPECT_DOUBLE_EQ(got[0], 2 * big * big);
  EXPECT_DOUBLE_EQ(got[1], 2 * big * big);
  EXPECT_DOUBLE_EQ(got[2], 0.5);
}

// A spread 1e7 times smaller than the mean, over several kernel blocks (rows past 4096 values,
// columns past 1024 rows): the blocks' means are merged relative to a common shift, so float64
// keeps its precision (merging the absolute means lost about 3e-10 relative).
TEST(Reductions, VarianceOfTinySpreadsAroundLargeMeans) {
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{10000, 1}, {2500, 3}}) {
    std::vector<double> vals(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = 1e4 + 1e-3 * std::sin(double(i) * 0.7);
    const Tensor t = tensor(vals, {rows, cols}, DType::f64);
    const std::vector<double> got = var(t, {0}).to_vector();
    for (int64_t c = 0; c < cols; ++c) {
      long double sum = 0, sq = 0;
      for (int64_t r = 0; r < rows; ++r) sum += vals[static_cast<size_t>(r * cols + c)];
      const long double mu = sum / rows;
      for (int64_t r = 0; r < rows; ++r) {
        const long double d = vals[static_cast<size_t>(r * cols + c)] - mu;
        sq += d * d;
      }
      const double want = static_cast<double>(sq / (rows - 1));
      EXPECT_NEAR(got[static_cast<size_t>(c)], want, want * 1e-11) << rows << "x" << cols;
    }
  }
}

TEST(Reductions, ScansSelectionsDtypesAndErrors) {
  const Tensor i = tensor({3, -1, 2, 0, 5, 4}, {2, 3}, DType::i64);
  EXPECT_EQ(prod(i).dtype(), DType::i64);
  EXPECT_DOUBLE_EQ(prod(i, {1}).to_vector()[0], -6);
  EXPECT_EQ(prod(zeros({2, 0}), {1}).to_vector(), (std::vector<double>{1, 1}));
  EXPECT_EQ(prod(tensor({1, 0, 1}, {3}, DType::boolean)).dtype(), DType::i64);
  expect_values(cumsum(i, 1), {3, 2, 4, 0, 5, 9});
  EXPECT_EQ(cumsum(i, 1).dtype(), DType::i64);
  expect_values(cumprod(i, 0), {3, -1, 2, 0, -5, 8});
  EXPECT_EQ(cumsum(tensor({1, 1, 0}, {3}, DType::boolean), 0).dtype(), DType::i64);
  expect_values(cumsum(scalar(2.5), 0), {2.5});
  EXPECT_EQ(cumsum(scalar(2.5), -1).ndim(), 0);
  expect_values(count_nonzero(i, {0}), {1, 2, 2});
  expect_values(any(i, {1}), {1, 1});
  expect_values(all(i, {1}, true), {1, 0});
  EXPECT_EQ(all(i, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(any(zeros({0})).item(), 0);
  EXPECT_EQ(all(zeros({0})).item(), 1);
  EXPECT_EQ(any(scalar(NAN)).item(), 1);
  expect_values(argmax(i), {4});
  EXPECT_EQ(argmax(i, None, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(argmin(i, 1, true).shape(), (Shape{2, 1}));
  expect_values(nansum(tensor({1, NAN, 2}, {3})), {3});
  expect_values(nanmean(tensor({1, NAN, 2}, {3})), {1.5});
  EXPECT_TRUE(std::isnan(nanmean(tensor({NAN, NAN}, {2})).item()));
  expect_values(var(tensor({1, 2, 3, 4}, {4}), {}, 0.0), {1.25});
  expect_values(var(tensor({1, 2, 3, 4}, {4})), {5.0 / 3});
  expect_values(ndgrad::std(tensor({1, 2, 3, 4}, {4}), {}, 0.0), {std::sqrt(1.25)});
  expect_values(norm(tensor({3, -4}, {2})), {5});
  expect_values(norm(tensor({3, -4, 0}, {3}), 0.0), {2});
  expect_values(norm(tensor({3, -4}, {2}), INFINITY), {4});
  expect_values(norm(tensor({3, -4}, {2}), -INFINITY), {3});
  expect_values(norm(tensor({3, -4}, {2}), 1.0), {7});
  expect_values(diff(i), {-4, 3, 5, -1});
  expect_values(diff(i, 2, 1), {7, -6});
  expect_values(diff(i, 1, 0), {-3, 6, 2});
  expect_values(diff(tensor({1, 1, 0}, {3}, DType::boolean)), {0, 1});
  const auto [v, ix] = sort(tensor({2, 1, 2, 1}, {4}), 0, true);
  expect_values(v, {2, 2, 1, 1});
  expect_values(ix, {0, 2, 1, 3});
  expect_values(argsort(i, 0), {1, 0, 0, 0, 1, 1});
  expect_values(topk(i, 2).values, {3, 2, 5, 4});
  // topk sorts only its k leading positions; ties keep their input order, as in sort.
  const Tensor tied = tensor({1, 3, 3, 2, 3, 0, 0}, {7});
  expect_values(topk(tied, 2).indices, {1, 2});
  expect_values(topk(tied, 4).indices, {1, 2, 4, 3});
  expect_values(topk(tied, 2, 0, false).indices, {5, 6});
  expect_values(topk(tensor({1, NAN, 2}, {3}), 2).indices, {1, 2});  // NaN is the largest
  {  // sorted = false: the same elements; the gradient reaches each through its index
    Tensor x = tensor({0.5, 3, -1, 3, 2, 7, 3}, {7}, DType::f64);
    x.requires_grad_();
    const ValuesIndices sel = topk(x, 3, 0, true, false);
    std::vector<double> idx = sel.indices.to_vector();
    std::vector<double> sorted_idx = idx;
    std::sort(sorted_idx.begin(), sorted_idx.end());
    EXPECT_EQ(sorted_idx, (std::vector<double>{1, 3, 5}));  // 7 and the first two of three 3s
    (sel.values * tensor({1, 10, 100}, {3}, DType::f64)).sum().backward();
    std::vector<double> want(7, 0.0);
    const std::vector<double> w = {1, 10, 100};
    for (size_t j = 0; j < 3; ++j) want[static_cast<size_t>(idx[j])] = w[j];
    EXPECT_EQ(x.grad().to_vector(), want);
  }
  expect_values(kthvalue(i, 1, 1, true).values, {-1, 0});
  expect_values(median(i), {2});
  expect_values(median(tensor({4, 1, 3, 2}, {4})), {2});  // the lower median
  expect_values(quantile(tensor({4, 1, 3, 2}, {4}, DType::f64), 0.5), {2.5});
  // NumPy's methods on 1..4: q = 0.4 is position 1.2.
  const Tensor four = tensor({4, 1, 3, 2}, {4}, DType::f64);
  expect_values(quantile(four, 0.4, {}, false, "linear"), {2.2});
  expect_values(quantile(four, 0.4, {}, false, "lower"), {2});
  expect_values(quantile(four, 0.4, {}, false, "higher"), {3});
  expect_values(quantile(four, 0.4, {}, false, "nearest"), {2});
  expect_values(quantile(four, 0.5, {}, false, "nearest"), {3});  // position 1.5 to even: 2
  expect_values(quantile(tensor({1, 2, 3, 4, 5, 6}, {6}), 0.5, {}, false, "nearest"), {3});  // 2.5
  expect_values(quantile(four, 0.4, {}, false, "midpoint"), {2.5});
  expect_values(quantile(four, 1.0 / 3, {}, false, "midpoint"), {2});  // exactly position 1
  expect_error<ValueError>([&] { quantile(four, 0.5, {}, false, "cubic"); },
                           {"quantile", "interpolation", "cubic"});
  expect_values(nanquantile(tensor({NAN, 4, 1, NAN, 3, 2}, {6}, DType::f64), 0.4), {2.2});
  EXPECT_EQ(quantile(ones({2, 3}), zeros({0}, DType::f64), 1).shape(), (Shape{0, 2}));
  expect_values(cumsum(tensor({1, 1, 1}, {3}, DType::boolean), 0, DType::f64), {1, 2, 3});
  EXPECT_EQ(cumsum(ones({3}), 0, DType::f64).dtype(), DType::f64);
  EXPECT_EQ(cumprod(ones({3}, DType::i64), 0, DType::f32).dtype(), DType::f32);
  expect_values(logcumsumexp(tensor({0, 0}, {2}, DType::f64), 0), {0, std::log(2.0)});
  const auto [cv, ci] = cummax(tensor({1, 3, 3, 2}, {4}), 0);
  expect_values(cv, {1, 3, 3, 3});
  expect_values(ci, {0, 1, 2, 2});
  // Views, empties and 0-d inputs.
  expect_values(cumsum(i.T(), 0), {3, 0, 2, 5, 4, 9});
  expect_values(sort(i.T(), 1).values, {0, 3, -1, 5, 2, 4});
  EXPECT_EQ(topk(i, 0).values.shape(), (Shape{2, 0}));
  EXPECT_EQ(sort(zeros({2, 0})).values.shape(), (Shape{2, 0}));
  EXPECT_EQ(cumprod(zeros({0, 3}), 0).shape(), (Shape{0, 3}));
  expect_values(median(scalar(4.0), 0).values, {4});
  EXPECT_EQ(kthvalue(scalar(4.0), 1).indices.ndim(), 0);
  // Errors: the op, the axis, the shape.
  expect_error<ValueError>([&] { topk(i, 4, 1); }, {"topk", "k (4)", "axis 1", "(2,3)"});
  expect_error<ValueError>([&] { kthvalue(i, 0); }, {"kthvalue", "k (0)", "axis -1", "(2,3)"});
  expect_error<AxisError>([&] { cumsum(i, 2); }, {"cumsum", "axis 2"});
  expect_error<AxisError>([&] { sort(i, -3); }, {"sort", "axis -3"});
  expect_error<AxisError>([&] { var(i.to(DType::f32), {5}); }, {"var", "axis 5"});
  expect_error<ValueError>([&] { median(zeros({2, 0}), 1); }, {"median", "axis 1", "(2,0)"});
  expect_error<ValueError>([&] { median(zeros({0})); }, {"median", "(0,)"});
  expect_error<ValueError>([&] { argmax(zeros({0})); }, {"argmax", "empty", "axis None"});
  expect_error<ValueError>([&] { quantile(ones({3}), 1.5); }, {"quantile", "[0, 1]"});
  expect_error<ValueError>([&] { norm(ones({3}), "nuc"); }, {"norm", "nuc"});
  expect_error<ValueError>([&] { norm(zeros({0}), INFINITY); }, {"norm", "zero-size"});
  expect_error<DTypeError>([&] { var(i); }, {"var"});
  expect_error<DTypeError>([&] { logcumsumexp(i, 0); }, {"logcumsumexp"});
  expect_error<ValueError>([&] { diff(scalar(1.0)); }, {"diff", "1-d"});
}

// libtorch's member spellings are the free functions: same values, same gradients.
TEST(Members, LibtorchSpellingsAreTheFreeFunctions) {
  const Tensor t = tensor({3, -1, 4, 1, -5, 9, 2, 6, 5, 3, -5, 8}, {3, 4}, DType::f64);
  auto same = [](const Tensor& a, const Tensor& b, const char* what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    ASSERT_EQ(a.dtype(), b.dtype()) << what;
    EXPECT_EQ(a.to_vector(), b.to_vector()) << what;
  };
  same(t.var(), var(t), "var");
  same(t.var({1}, 0.0, true), var(t, {1}, 0.0, true), "var axes");
  same(t.std({0}), ndgrad::std(t, {0}), "std");
  same(t.norm(), norm(t), "norm");
  same(t.norm(1.0, {1}), norm(t, 1.0, {1}), "norm 1");
  same(t.norm("fro"), norm(t, "fro"), "norm fro");
  same(t.logsumexp({1}), logsumexp(t, {1}), "logsumexp");
  same(t.median(), median(t), "median");
  same(t.median(1).indices, median(t, 1).indices, "median axis");
  same(t.quantile(0.3, 0), quantile(t, 0.3, 0), "quantile");
  same(t.cumsum(1), cumsum(t, 1), "cumsum");
  same(t.cumprod(0, DType::f32), cumprod(t, 0, DType::f32), "cumprod dtype");
  same(t.cummax(1).indices, cummax(t, 1).indices, "cummax");
  same(t.logcumsumexp(0), logcumsumexp(t, 0), "logcumsumexp");
  same(t.diff(), diff(t), "diff");
  same(t.sort(0, true).values, sort(t, 0, true).values, "sort");
  same(t.argsort(), argsort(t), "argsort");
  same(t.topk(2).indices, topk(t, 2).indices, "topk");
  same(t.kthvalue(2, 0).values, kthvalue(t, 2, 0).values, "kthvalue");
  same(t.clamp(-1, 4), clamp(t, -1, 4), "clamp");
  same(t.clamp(std::nullopt, 2.5), clamp(t, std::nullopt, 2.5), "clamp max");
  same(t.clip(t * 0.5), clip(t, t * 0.5), "clip tensor");
  same(t.abs().sqrt().log(), log(sqrt(abs(t))), "abs sqrt log");
  same(t.pow(2.0), pow(t, 2.0), "pow");
  same(t.isnan(), isnan(t), "isnan");
  same(t.flip({0}).roll(1, 1), roll(flip(t, {0}), 1, 1), "flip roll");
  const Tensor i = t.to(DType::i64);
  same(i.clamp(0, 5), clamp(i, 0, 5), "clamp of i64 with integer bounds");
  EXPECT_EQ(i.clamp(0, 5).dtype(), DType::i64);
  same(i.exp(), exp(i), "exp of i64");
  // Gradients flow through the members as through the functions.
  Tensor x = t.detach(), y = t.detach();
  x.requires_grad_();
  y.requires_grad_();
  (x.std({1}).sum() + x.cumsum(0).topk(2).values.sum()).backward();
  (ndgrad::std(y, {1}).sum() + topk(cumsum(y, 0), 2).values.sum()).backward();
  same(x.grad(), y.grad(), "gradient");
}
