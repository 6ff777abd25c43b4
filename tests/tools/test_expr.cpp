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
  expect_close(eval("cumsum(x, 0) + cumprod(x)", v), cumsum(x, 0) + cumprod(x, -1), 1e-12);
  expect_close(eval("sort(x, 0) + logcumsumexp(x)", v), sort(x, 0).values + logcumsumexp(x, -1),
               1e-12);
  expect_close(eval("var(x, 0) + norm(x, [0, 1], keepdims) + prod(x, 0, keepdims)", v),
               var(x, {0}) + norm(x, 2.0, {0, 1}, true) + prod(x, {0}, true), 1e-12);
  expect_close(
      eval("maximum(exp(x), sqrt(abs(x))) + minimum(log(abs(x)), relu(x)) + sigmoid(x)", v),
      maximum(exp(x), sqrt(abs(x))) + minimum(log(abs(x)), relu(x)) + sigmoid(x), 1e-12);
  EXPECT_EQ(cli::variables_of(*cli::parse_expression("x @ w + b * x")),
            (std::set<std::string>{"b", "w", "x"}));
}

// Functions that are not rows of the op table: parameters as expressions, einsum's subscripts
// as a quoted string, linear algebra.
TEST(Expr, ParameterizedFunctionsEinsumAndLinalg) {
  const Tensor x = randn({3, 4}, 1, DType::f64), w = randn({4, 2}, 2, DType::f64),
               m = randn({3, 3}, 3, DType::f64) + 3.0 * eye(3, DType::f64),
               r = randn({3, 2}, 4, DType::f64);
  const std::map<std::string, Tensor> v = {{"x", x}, {"w", w}, {"m", m}, {"r", r}};
  expect_close(eval("leaky_relu(x, 0.2)", v), leaky_relu(x, 0.2), 0);
  expect_close(eval("leaky_relu(x)", v), leaky_relu(x), 0);
  expect_close(eval("hardtanh(x, -0.5, 2 * 0.25)", v), hardtanh(x, -0.5, 0.5), 0);
  expect_close(eval("elu(x, 0.5)", v), elu(x, 0.5), 0);
  expect_close(eval("clamp(x, -0.1, w[0, 0])", v), clamp(x, -0.1, w.index({0, 0}).item()), 0);
  expect_close(eval("lerp(x, 2 * x, 0.25)", v), lerp(x, 2.0 * x, 0.25), 1e-15);
  expect_close(eval("einsum(\"ij,jk->ik\", x, w)", v), matmul(x, w), 1e-12);
  expect_close(eval("einsum(\"ii\", m)", v), trace(m), 1e-12);
  expect_close(eval("outer(x[0], w[:, 1])", v), outer(x.index({0}), w.index({Slice(), 1})), 0);
  expect_close(eval("solve(m, r)", v), linalg::solve(m, r), 1e-12);
  expect_close(eval("det(inv(m))", v), 1.0 / linalg::det(m), 1e-12);
  expect_close(eval("matrix_power(m, -2)", v), linalg::matrix_power(m, -2), 1e-12);
  expect_close(eval("svdvals(x)", v), linalg::svdvals(x), 1e-12);
  // Errors: too few arguments, a number expected, subscripts not quoted.
  EXPECT_EQ(error_column("clamp(x, 1)"), 11);
  expect_error<cli::ParseError>([&] { eval("leaky_relu(x, 0.1, 0.2)", v); },
                                {"at most 2 arguments"});
  expect_error<ValueError>([&] { eval("leaky_relu(x, w)", v); }, {"expected a number", "(4,2)"});
  EXPECT_EQ(error_column("einsum(ij, x)"), 8);
  EXPECT_EQ(error_column("einsum(\"ij, x)"), 9);
  expect_error<ValueError>([&] { eval("einsum(\"ij,jk\", x, x)", v); }, {"einsum"});
  expect_error<ValueError>([&] { eval("matrix_power(m, 0.5)", v); }, {"integer power"});
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

namespace {

Tensor i64(std::vector<double> values, Shape shape) {
  return tensor(std::move(values), std::move(shape), DType::i64);
}

// The message of the ParseError that text raises, with its column; "" and -1 when none.
std::pair<int, std::string> parse_failure(const std::string& text) {
  try {
    cli::parse_expression(text);
  } catch (const cli::ParseError& e) {
    return {e.column, e.what()};
  }
  return {-1, ""};
}

std::string explain(const std::string& text, const std::map<std::string, Tensor>& vars) {
  return cli::explain_expression(*cli::parse_expression(text), text, vars);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST(Expr, SubscriptsEvaluateLikeIndex) {
  const Tensor x = randn({4, 3}, 7, DType::f64), s = scalar(2.5, DType::f64);
  const std::map<std::string, Tensor> v = {{"x", x}, {"s", s}};
  struct Case {
    std::string text;
    Tensor expected;
    Shape shape;
  };
  const std::vector<Case> cases = {
      {"x[1:3, 0]", x.index({Slice(1, 3), 0}), {2}},
      {"x[:, ::-1]", x.index({Slice(), Slice(None, None, -1)}), {4, 3}},
      {"x[..., None]", x.index({Ellipsis, NewAxis}), {4, 3, 1}},
      {"x[None, 1]", x.index({NewAxis, 1}), {1, 3}},
      {"x[-1]", x.index({-1}), {3}},
      {"x[-1, -3]", x.index({-1, -3}), {}},
      {"x[1:]", x.index({Slice(1, None)}), {3, 3}},
      {"x[:-1]", x.index({Slice(None, -1)}), {3, 3}},
      {"x[::2]", x.index({Slice(None, None, 2)}), {2, 3}},
      {"x[5:0:-2, -2:]", x.index({Slice(5, 0, -2), Slice(-2, None)}), {2, 2}},
      {"x[ 1 : 3 , : ]", x.index({Slice(1, 3), Slice()}), {2, 3}},
      {"x[0,]", x.index({0}), {3}},
      {"x[10:]", x.index({Slice(10, None)}), {0, 3}},  // ends clamp, as NumPy's
      {"x[[0, 2, 2]]", x.index({i64({0, 2, 2}, {3})}), {3, 3}},
      {"x[[0, -1], 1:]", x.index({i64({0, -1}, {2}), Slice(1, None)}), {2, 2}},
      {"x[[[0, 1], [3, 3]], [0, 2]]",
       x.index({i64({0, 1, 3, 3}, {2, 2}), i64({0, 2}, {2})}),
       {2, 2}},
      {"x[[True, False, True, True]]",
       x.index({tensor({1, 0, 1, 1}, {4}, DType::boolean)}),
       {3, 3}},
      {"x[[]]", x.index({i64({}, {0})}), {0, 3}},
      {"x[1][2]", x.index({1, 2}), {}},
      {"x.T[0]", x.T().index({0}), {4}},
      {"x[0].T", x.index({0}), {3}},
      {"(x * 2)[1, :2]", (x * 2.0).index({1, Slice(None, 2)}), {2}},
      {"-x[0] ^ 2", -pow(x.index({0}), 2.0), {3}},
      {"sum(x[1:3], 0)", x.index({Slice(1, 3)}).sum({0}), {3}},
      {"s[None]", s.index({NewAxis}), {1}},
      {"s[...]", s, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const Tensor y = eval(c.text, v);
    EXPECT_EQ(y.shape(), c.shape);
    expect_close(y, c.expected, 0);
  }
  // Gradients flow back through subscripts: a repeated index accumulates.
  Tensor xr = x.detach().requires_grad_();
  eval("sum(x[[0, 0, 2]]) + sum(x[1:3, 0])", {{"x", xr}}).backward();
  expect_values(xr.grad(), {2, 2, 2, 1, 0, 0, 2, 1, 1, 0, 0, 0});
}

TEST(Expr, ListFunctionsJoinTensors) {
  const Tensor x = randn({2, 3}, 1, DType::f64), y = randn({4, 3}, 2, DType::f64),
               z = randn({2, 3}, 3, DType::f64), a = randn({3}, 4, DType::f64);
  const std::map<std::string, Tensor> v = {{"x", x}, {"y", y}, {"z", z}, {"a", a}};
  expect_close(eval("cat([x, y], 0)", v), cat({x, y}, 0), 0);
  expect_close(eval("cat([x, y])", v), cat({x, y}, 0), 0);
  expect_close(eval("concatenate([x, y, x], -2)", v), cat({x, y, x}, -2), 0);
  expect_close(eval("cat([x, z], 1)", v), cat({x, z}, 1), 0);
  expect_close(eval("stack([x, z, x], 1)", v), stack({x, z, x}, 1), 0);
  expect_close(eval("stack([x, z,], -1)", v), stack({x, z}, -1), 0);  // a trailing comma
  expect_close(eval("hstack([a, a])", v), hstack({a, a}), 0);
  expect_close(eval("vstack([a, x])", v), vstack({a, x}), 0);
  expect_close(eval("cat([x * 2, exp(z)], 1)[:, 2:4]", v),
               cat({x * 2.0, exp(z)}, 1).index({Slice(), Slice(2, 4)}), 0);
  EXPECT_EQ(eval("stack([x, y[1:3], z], 1)", v).shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(cli::variables_of(*cli::parse_expression("cat([x, y[0:2]], 1)")),
            (std::set<std::string>{"x", "y"}));
  // An operand listed twice gets both parts of the gradient.
  Tensor xr = x.detach().requires_grad_();
  eval("sum(cat([x, x * 3], 0))", {{"x", xr}}).backward();
  expect_values(xr.grad(), {4, 4, 4, 4, 4, 4});
}

TEST(Expr, SubscriptAndListErrorsPointAtTheColumn) {
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {"x[1:3 0]", 7, "expected ',' or ']' after an index"},
      {"x[1:3", 6, "expected ',' or ']' after an index"},
      {"x[::0]", 5, "a slice step cannot be zero"},
      {"x[1:2:0]", 7, "a slice step cannot be zero"},
      {"x[]", 3, "expected an index: an integer, a slice"},
      {"x[", 3, "expected an index"},
      {"x[,]", 3, "expected an index"},
      {"x[0,,1]", 5, "expected an index"},
      {"x[i]", 3, "expected an index"},
      {"x[1.5]", 3, "an index must be an integer"},
      {"x[1:2.0]", 5, "an index must be an integer"},
      {"x[[0, [1]]]", 7, "an index list must be rectangular"},
      {"x[[[0, 1], [2]]]", 12, "an index list must be rectangular"},
      {"x[[0, True]]", 7, "an index list mixes integers and True/False"},
      {"x[[0, y]]", 7, "expected an integer, True, False or a [list] in the list"},
      {"x[[0 1]]", 6, "expected ',' or ']' in the list"},
      {"x[[0]", 6, "expected ',' or ']' after an index"},
      {"x[9999999999999999]", 3, "integer too large"},
      {"cat(x, y)", 5, "expected '[': cat takes a list of tensors, e.g. cat([x, y], 0)"},
      {"hstack(x)", 8, "hstack([x, y])"},
      {"cat([], 0)", 6, "the list is empty"},
      {"cat([x, y] 0)", 12, "expected ')'"},
      {"cat([x, y], 0", 14, "expected ')'"},
      {"cat([x y], 0)", 8, "expected ',' or ']' in the list"},
      {"cat([x, y], a)", 13, "expected an integer"},
      {"hstack([x, y], 0)", 14, "expected ')'"},
  };
  for (const auto& [text, column, message] : cases) {
    const auto [col, what] = parse_failure(text);
    EXPECT_EQ(col, column) << text << ": " << what;
    EXPECT_TRUE(contains(what, message)) << text << ": " << what;
  }
  // Index lists nest like any other construct: deep ones are a ParseError, not a crash; one
  // with more axes than a tensor can have is a ParseError naming the library's limit.
  std::string deep = "x[";
  for (int i = 0; i < 300; ++i) deep += "[";
  deep += "0";
  for (int i = 0; i < 300; ++i) deep += "]";
  EXPECT_TRUE(contains(parse_failure(deep + "]").second, "nested more than 256 levels"));
  std::string wide = "x[" + std::string(40, '[') + "0" + std::string(40, ']') + "]";
  const auto [col, what] = parse_failure(wide);
  EXPECT_EQ(col, 3);
  EXPECT_TRUE(contains(what, "bad index list")) << what;
}

TEST(Expr, IndexErrorsAreTheLibrarys) {
  const std::map<std::string, Tensor> v = {{"x", ones({4, 3}, DType::f64)},
                                           {"y", ones({2, 3}, DType::f64)}};
  const std::vector<std::pair<std::string, std::string>> index_errors = {
      {"x[4]", "index 4 is out of bounds for axis 0 with size 4"},
      {"x[0, -4]", "index -4 is out of bounds for axis 1 with size 3"},
      {"x[[0, 9]]", "index 9 is out of bounds for axis 0 with size 4"},
      {"x[0, 0, 0]", "too many indices for a tensor of shape (4,3): 3 were given"},
      {"x[..., 0, ...]", "an index can only have one ellipsis"},
      {"x[[0, 1], [0, 1, 2]]", "could not be broadcast together with shapes (2,) (3,)"},
      {"x[[True, False]]", "does not match the indexed tensor along axis 0 with size 4"},
      {"x[0][0][0]", "too many indices"},
  };
  for (const auto& [text, message] : index_errors) {
    try {
      eval(text, v);
      ADD_FAILURE() << text;
    } catch (const IndexError& e) {
      EXPECT_TRUE(contains(e.what(), message)) << text << ": " << e.what();
    }
  }
  EXPECT_THROW(eval("cat([x, y], 1)", v), ShapeError);
  EXPECT_THROW(eval("stack([x, y])", v), ShapeError);
  EXPECT_THROW(eval("cat([x, y], 2)", v), Error);
  EXPECT_THROW(eval("cat([x, 1], 0)", v), ShapeError);  // a number is 0-d
}

TEST(Expr, ExplainShowsWhereASliceScattersItsGradient) {
  const std::map<std::string, Tensor> v = {{"x", ones({4, 3}, DType::f64)}};
  const std::string t = explain("x[1:3, 0]", v);
  SCOPED_TRACE(t);
  for (const char* part : {
           "step 1, x[1:3, 0]: basic indexing (a view) of x (4,3) -> (2,)",
           "backward (graph nodes: index): g (2,) is placed into zeros of shape (4,3)",
           "receives one element of g:    x[1:3, 0] (rows 1..2 of column 0), 2 of 12 elements",
           "receives zero:                x[0, :], x[1:3, 1:3], x[3, :], 10 of 12 elements",
           "dx[1, 0] = g[0]\n",
           "dx[2, 0] = g[1]\n",
       })
    EXPECT_TRUE(contains(t, part)) << part;
  EXPECT_FALSE(contains(t, "accumulates"));
  // Steps, reversed axes, new axes, a 0-d operand.
  const std::string r = explain("x[::2, ::-1]", v);
  EXPECT_TRUE(contains(r, "x[0, :], x[2, :] (rows 0 and 2), 6 of 12 elements")) << r;
  EXPECT_TRUE(contains(r, "dx[0, 0] = g[0, 2]")) << r;
  const std::string n = explain("s[None]", {{"s", scalar(1.0, DType::f64)}});
  EXPECT_TRUE(contains(n, "every element of s, 1 of 1 element")) << n;
  EXPECT_TRUE(contains(n, "ds = g[0]")) << n;
  const std::string e = explain("x[0:0]", v);
  EXPECT_TRUE(contains(e, "receives zero:                every element of x, 12 of 12")) << e;
}

TEST(Expr, ExplainShowsRepeatedIndicesAccumulating) {
  const std::map<std::string, Tensor> v = {{"x", ones({4, 3}, DType::f64)},
                                           {"u", ones({5}, DType::f64)}};
  const std::string t = explain("x[[0, 0, 2]]", v);
  SCOPED_TRACE(t);
  for (const char* part : {
           "step 1, x[[0, 0, 2]]: advanced indexing (a copy) of x (4,3) -> (3,3)",
           "take",  // the library's node for a gather
           "an element read k times accumulates k contributions",
           "accumulates 2 elements of g:  x[0, :] (row 0), 3 of 12 elements",
           "receives one element of g:    x[2, :] (row 2), 3 of 12 elements",
           "receives zero:                x[1, :], x[3, :] (rows 1 and 3), 6 of 12 elements",
           "dx[0, 0] = g[0, 0] + g[1, 0]\n",
           "dx[2, 2] = g[2, 2]\n",
       })
    EXPECT_TRUE(contains(t, part)) << part;
  // What explain says agrees with the gradient the library computes.
  Tensor xr = zeros({4, 3}, DType::f64).requires_grad_();
  eval("sum(x[[0, 0, 2]])", {{"x", xr}}).backward();
  expect_values(xr.grad(), {2, 2, 2, 0, 0, 0, 1, 1, 1, 0, 0, 0});
  // Single elements read many times; terms beyond four are elided.
  const std::string u = explain("u[[1, 1, 1, 1, 1, 3, -1]]", v);
  EXPECT_TRUE(contains(u, "accumulates 5 elements of g:  u[1] (element 1), 1 of 5 elements")) << u;
  EXPECT_TRUE(contains(u, "receives one element of g:    u[3:5] (elements 3..4), 2 of 5")) << u;
  EXPECT_TRUE(contains(u, "du[1] = g[0] + g[1] + g[2] + g[3] + ... (5 terms)")) << u;
  const std::string m = explain("x[[True, False, True, True], 1]", v);
  EXPECT_TRUE(contains(m, "x[0, 1], x[2:4, 1] (rows 0, 2 and 3 of column 1), 3 of 12")) << m;
}

TEST(Expr, ExplainShowsJoinsAndBroadcasts) {
  const std::map<std::string, Tensor> v = {{"x", ones({2, 3}, DType::f64)},
                                           {"y", ones({4, 3}, DType::f64)},
                                           {"b", ones({3}, DType::f64)},
                                           {"c", ones({3, 1}, DType::f64)}};
  const std::string t = explain("cat([x, y], 0)", v);
  EXPECT_TRUE(
      contains(t, "step 1, cat([x, y], 0): joins x (2,3) and y (4,3) along axis 0 -> (6,3)"))
      << t;
  EXPECT_TRUE(contains(t, "graph nodes: cat")) << t;
  EXPECT_TRUE(contains(t, "x (2,3) receives g[0:2]\n    y (4,3) receives g[2:6]\n")) << t;
  const std::string s = explain("stack([x, b[None] * x, x], 1)", v);
  EXPECT_TRUE(contains(s, "along a new axis 1 -> (2,3,3)")) << s;
  EXPECT_TRUE(contains(s, "b[None] * x (2,3) receives g[:, 1]")) << s;
  EXPECT_TRUE(contains(s, "x appears 2 times: its gradient is the sum of its 2 parts")) << s;
  EXPECT_TRUE(contains(s, "b[None] (1,3): sum over axes [0] (keeping axes [0] as size 1)")) << s;
  const std::string k = explain("x[0] * c", v);
  EXPECT_TRUE(contains(k, "step 2, x[0] * c: broadcasts x[0] (3,) and c (3,1) to (3,3)")) << k;
  EXPECT_TRUE(contains(k, "x[0] (3,): sum over axes [0], then drop the 1 leading padded axis"))
      << k;
  EXPECT_TRUE(contains(k, "c (3,1): sum over axes [1] (keeping axes [1] as size 1) -> (3,1)")) << k;
  // Nothing to tell: no subscript, join or stretched input (a number broadcasts, not an input).
  EXPECT_TRUE(contains(explain("exp(x) * 2 + x", v), "Nothing in the expression indexes"));
  // A long chain is cut after 16 steps.
  std::string chain = "x";
  for (int i = 0; i < 20; ++i) chain += "[0:]";
  const std::string c = explain(chain, v);
  EXPECT_TRUE(contains(c, "step 16, ")) << c;
  EXPECT_FALSE(contains(c, "step 17, ")) << c;
  EXPECT_TRUE(contains(c, "... and 4 more steps\n")) << c;
}
