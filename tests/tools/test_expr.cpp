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

TEST(Expr, DeepNestingIsAParseErrorAtTheLimit) {
  // Every way to nest: parentheses, calls, unary minus, the right side of ^.
  const int n = cli::kMaxNesting;
  auto repeat = [](const std::string& s, int k) {
    std::string out;
    for (int i = 0; i < k; ++i) out += s;
    return out;
  };
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"(", ")"}, {"exp(", ")"}, {"sum(", ", 0)"}, {"-", ""}, {"x ^ ", ""}, {"-(", ")"}};
  for (const auto& [open, close] : forms) {
    for (int depth : {n / 4, n + 1, 20000}) {
      const std::string text = repeat(open, depth) + "x" + repeat(close, depth);
      SCOPED_TRACE(open + " x " + std::to_string(depth));
      const int column = error_column(text);
      if (depth < n) {
        EXPECT_EQ(column, -1);
      } else {
        EXPECT_GT(column, 0);
        try {
          cli::parse_expression(text);
        } catch (const cli::ParseError& e) {
          EXPECT_NE(std::string(e.what()).find("nested more than 256 levels"), std::string::npos)
              << e.what();
        }
      }
    }
  }
  // Too long a text is refused before parsing.
  EXPECT_EQ(error_column(std::string(cli::kMaxLength + 1, ' ')),
            static_cast<int>(cli::kMaxLength) + 1);
}

TEST(Expr, LongFlatChainsEvaluateWithoutRecursion) {
  const Tensor x = tensor({1, 2}, {2}, DType::f64);
  const std::map<std::string, Tensor> v = {{"x", x}, {"y", scalar(1.0, DType::f64)}};
  // 200,000 terms: a tree far deeper than any call stack would allow recursion over.
  std::string sum = "x", product = "y", mixed = "x", transposes = "x";
  for (int i = 1; i < 200000; ++i) {
    sum += "+x";
    product += "*y";
    mixed += i % 2 ? "-x" : "+x";
    transposes += ".T";
  }
  expect_close(eval(sum, v), x * 200000.0, 0);
  expect_close(eval(product, v), scalar(1.0, DType::f64), 0);
  expect_close(eval(mixed, v), x * 0.0, 0);
  expect_close(eval(transposes, v), x, 0);
  EXPECT_EQ(cli::variables_of(*cli::parse_expression(sum + "+y")),
            (std::set<std::string>{"x", "y"}));
  // Backward through the chain, as gradcheck does.
  Tensor xr = x.detach().requires_grad_();
  eval(sum, {{"x", xr}}).sum().backward();
  expect_values(xr.grad(), {200000, 200000});
}

TEST(Expr, ShapesWhoseSizeOverflowsAreParseErrors) {
  for (auto [text, col] :
       std::vector<std::pair<std::string, int>>{{"99999999999,99999999999", 13},
                                                {"(4294967296,4294967296)", 13},
                                                {"1000000,1000000,1000000,100", 25}}) {
    try {
      cli::parse_shape(text);
      ADD_FAILURE() << text;
    } catch (const cli::ParseError& e) {
      EXPECT_EQ(e.column, col) << text << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("64 bits"), std::string::npos) << e.what();
    }
  }
  // Large but representable, and a zero anywhere, are fine.
  EXPECT_EQ(cli::parse_shape("3037000499,3037000499"), (Shape{3037000499, 3037000499}));
  EXPECT_EQ(cli::parse_shape("0,99999999999,99999999999"), (Shape{0, 99999999999, 99999999999}));
}
