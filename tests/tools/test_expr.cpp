// The command-line tool's expression language: good input evaluates like the C++ API, bad input
// is a ParseError pointing at the right column.
#include "expr.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

Tensor eval(const std::string& text, const std::map<std::string, Tensor>& vars) {
  return cli::evaluate(*cli::parse_expression(text), vars);
}

int error_column(const std::string& text) {
  try {
    cli::parse_expression(text);
  } catch (const cli::ParseError& e) {
    return e.column;
  }
  return -1;
}

}  // namespace

TEST(Expr, EvaluatesLikeTheApi) {
  const Tensor x = randn({3, 4}, 1, DType::f64), w = randn({4, 2}, 2, DType::f64),
               b = randn({2}, 3, DType::f64);
  const std::map<std::string, Tensor> v = {{"x", x}, {"w", w}, {"b", b}};
  expect_close(eval("sum(tanh(x @ w + b), 1)", v), tanh(matmul(x, w) + b).sum({1}), 1e-12);
  expect_close(eval("-x * 2 - 1 / (x ^ 2)", v), -x * 2.0 - 1.0 / pow(x, 2.0), 1e-12);
  expect_close(eval("2 * 3 + 1", v), scalar(7.0, DType::f64), 0);    // precedence
  expect_close(eval("2 ^ 3 ^ 2", v), scalar(512.0, DType::f64), 0);  // right-associative
  expect_close(eval("mean(x, [0, -1], keepdims)", v), x.mean({0, -1}, true), 1e-12);
  expect_close(eval("max(x, 1, keepdims)", v), x.max({1}, true), 0);
  expect_close(eval("sum(x)", v), x.sum(), 1e-12);
  expect_close(eval("logsumexp(x, 0)", v), logsumexp(x, {0}), 1e-12);
  expect_close(eval("reshape(x, 2, -1)", v), x.reshape({2, -1}), 0);
  expect_close(eval("broadcast_to(b, [3, 2])", v), b.broadcast_to({3, 2}), 0);
  expect_close(eval("transpose(x, 0, 1)", v), x.T(), 0);
  expect_close(eval("x.T.T", v), x, 0);
  expect_close(eval("permute(reshape(x, 3, 2, 2), [2, 0, 1])", v),
               x.reshape({3, 2, 2}).permute({2, 0, 1}), 0);
  expect_close(eval("softmax(x, 0)", v), nn::softmax(x, 0), 1e-12);
  expect_close(
      eval("maximum(exp(x), sqrt(abs(x))) + minimum(log(abs(x)), relu(x)) + sigmoid(x)", v),
      maximum(exp(x), sqrt(abs(x))) + minimum(log(abs(x)), relu(x)) + sigmoid(x), 1e-12);
  EXPECT_EQ(cli::variables_of(*cli::parse_expression("x @ w + b * x")),
            (std::set<std::string>{"b", "w", "x"}));
}

TEST(Expr, ErrorsPointAtTheColumn) {
  EXPECT_EQ(error_column("x +"), 4);
  EXPECT_EQ(error_column("sum(x, 1"), 9);
  EXPECT_EQ(error_column("x $ y"), 3);
  EXPECT_EQ(error_column("foo(x)"), 1);
  EXPECT_EQ(error_column("(x + y"), 7);
  EXPECT_EQ(error_column("sum(x, [0, a])"), 12);
  EXPECT_EQ(error_column("transpose(x, 1)"), 15);
  EXPECT_EQ(error_column(""), 1);
  EXPECT_EQ(error_column("x y"), 3);
  EXPECT_EQ(error_column("sum(x, 0, 1, keepdims, 2)"), 24);
  try {
    eval("x + y", {{"x", ones({2})}});
    ADD_FAILURE();
  } catch (const cli::ParseError& e) {
    EXPECT_EQ(e.column, 5);
    EXPECT_NE(std::string(e.what()).find("unknown variable 'y'"), std::string::npos);
  }
}

TEST(Expr, Shapes) {
  EXPECT_EQ(cli::parse_shape("3,4"), (Shape{3, 4}));
  EXPECT_EQ(cli::parse_shape("(2,1,5)"), (Shape{2, 1, 5}));
  EXPECT_EQ(cli::parse_shape("4"), (Shape{4}));
  EXPECT_EQ(cli::parse_shape("(4,)"), (Shape{4}));
  EXPECT_EQ(cli::parse_shape("()"), (Shape{}));
  for (auto [text, col] : std::vector<std::pair<std::string, int>>{
           {"3,x", 3}, {"3,,4", 3}, {"-1", 1}, {"(3,4", 5}, {"3;4", 2}, {"99999999999999", 1}}) {
    try {
      cli::parse_shape(text);
      ADD_FAILURE() << text;
    } catch (const cli::ParseError& e) {
      EXPECT_EQ(e.column, col) << text << ": " << e.what();
    }
  }
}
