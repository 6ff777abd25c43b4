// explain_grad (the chain rule for one leaf, edge by edge), backward_rule's coverage, and
// to_dot's gradient labels.
#include <cmath>
#include <regex>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

const GradEdge* find_edge(const GradExplanation& e, const std::string& op, size_t input) {
  for (const GradEdge& g : e.edges)
    if (g.op == op && g.input == input) return &g;
  return nullptr;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double frobenius(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

}  // namespace

TEST(BackwardRules, EveryRecordedOpHasOne) {
  for (const std::string& op : differentiable_ops())
    EXPECT_FALSE(backward_rule(op).empty()) << "op '" << op << "' has no backward rule text";
  // The op table's rows give their own derivative column.
  EXPECT_TRUE(contains(backward_rule("mul", 0), "g * b")) << backward_rule("mul", 0);
  EXPECT_TRUE(contains(backward_rule("mul", 1), "g * a")) << backward_rule("mul", 1);
  EXPECT_TRUE(contains(backward_rule("matmul", 1), "a.mT @ g"));
  EXPECT_EQ(backward_rule("no_such_op"), "");
}

TEST(ExplainGrad, BroadcastBiasNamesTheSummedAxisAndCount) {
  Tensor x = randn({4, 3}, 1, DType::f64).requires_grad_();
  Tensor b = randn({3}, 2, DType::f64).requires_grad_();
  Tensor y = x + b;
  const Tensor g = randn({4, 3}, 3, DType::f64);
  GradExplanation e = explain_grad(y, b, g);
  ASSERT_EQ(e.edges.size(), 1u) << e.text;
  const GradEdge& edge = e.edges[0];
  EXPECT_EQ(edge.op, "add");
  EXPECT_EQ(edge.input, 1u);
  EXPECT_EQ(edge.rule_shape, (Shape{4, 3}));
  EXPECT_EQ(edge.shape, (Shape{3}));
  EXPECT_EQ(edge.summed_axes, (std::vector<int64_t>{0}));
  EXPECT_EQ(edge.values_summed, 4);
  EXPECT_TRUE(contains(e.text, "summed over axis [0]: 4 values added into each element")) << e.text;
  EXPECT_EQ(e.paths, 1);
  y.backward(g);
  expect_close(e.grad, b.grad(), 1e-12);
  expect_close(edge.grad, g.sum({0}), 1e-12);
  // The numbers for small tensors: b's gradient, as the text prints it.
  EXPECT_TRUE(contains(e.text, "gives (3,) = [")) << e.text;
}

TEST(ExplainGrad, IndexingScatterCountsZeroOneAndAccumulated) {
  Tensor x = randn({5}, 4, DType::f64).requires_grad_();
  Tensor loss = (x.index({tensor({0, 0, 3}, {3}, DType::i64)}) * randn({3}, 5, DType::f64)).sum();
  GradExplanation e = explain_grad(loss, x);
  // A 1-d integer index is recorded as take; either scatters.
  const GradEdge* edge = find_edge(e, "take", 0);
  if (!edge) edge = find_edge(e, "index", 0);
  ASSERT_NE(edge, nullptr) << e.text;
  EXPECT_EQ(edge->scatter_zero, 3);  // elements 1, 2, 4
  EXPECT_EQ(edge->scatter_one, 1);   // element 3
  EXPECT_EQ(edge->scatter_many, 1);  // element 0, read twice
  EXPECT_TRUE(contains(e.text, "3 of 5 receive zero, 1 receive one element of g, 1 accumulate"))
      << e.text;
  loss.backward();
  expect_close(e.grad, x.grad(), 1e-12);
  EXPECT_EQ(x.grad().to_vector()[1], 0.0);
}

TEST(ExplainGrad, TwoPathsJoinAtTheLeafAndAtAnOp) {
  Tensor x = randn({2, 3}, 6, DType::f64).requires_grad_();
  Tensor y = x * x;
  const Tensor g = randn({2, 3}, 7, DType::f64);
  GradExplanation e = explain_grad(y, x, g);
  ASSERT_EQ(e.edges.size(), 2u);
  EXPECT_EQ(e.paths, 2);
  EXPECT_EQ(e.edges[0].joins, 2);
  EXPECT_TRUE(contains(e.text, "the sum of steps [1] and [2]")) << e.text;
  expect_close(e.grad, 2.0 * x.detach() * g, 1e-12);

  // exp(x) used twice: the paths join at exp, whose g is the sum of both.
  Tensor z = exp(x);
  Tensor loss = (z * z + z).sum();
  GradExplanation j = explain_grad(loss, x);
  EXPECT_EQ(j.paths, 3);  // z*z's two operands, and z itself
  EXPECT_TRUE(contains(j.text, "paths join here: g is the sum of the gradients from steps"))
      << j.text;
  const GradEdge* through_exp = find_edge(j, "exp", 0);
  ASSERT_NE(through_exp, nullptr);
  const Tensor zd = z.detach();
  expect_close(through_exp->upstream, 2.0 * zd + 1.0, 1e-12);
  loss.backward();
  expect_close(j.grad, x.grad(), 1e-12);
}

TEST(ExplainGrad, MatmulEdgeWithBatchBroadcast) {
  Tensor a = randn({2, 3, 4}, 8, DType::f64).requires_grad_();
  Tensor w = randn({4, 5}, 9, DType::f64).requires_grad_();
  Tensor y = matmul(a, w);
  const Tensor g = randn({2, 3, 5}, 10, DType::f64);
  GradExplanation e = explain_grad(y, w, g);
  const GradEdge* edge = find_edge(e, "matmul", 1);
  ASSERT_NE(edge, nullptr) << e.text;
  EXPECT_TRUE(contains(edge->rule, "a.mT @ g")) << edge->rule;
  EXPECT_EQ(edge->rule_shape, (Shape{2, 4, 5}));
  EXPECT_EQ(edge->summed_axes, (std::vector<int64_t>{0}));
  EXPECT_EQ(edge->values_summed, 2);
  y.backward(g);
  expect_close(edge->grad, w.grad(), 1e-10);
  expect_close(edge->grad, matmul(a.detach().mT(), g).sum({0}), 1e-10);
}

TEST(ExplainGrad, RefusesAFreedGraphAndNonLeaves) {
  Tensor x = randn({3}, 11).requires_grad_();
  Tensor y = exp(x);
  Tensor loss = y.sum();
  EXPECT_THROW(explain_grad(loss, y), ValueError);
  EXPECT_THROW(explain_grad(loss, randn({3}, 12)), ValueError);
  loss.backward();
  try {
    explain_grad(loss, x);
    ADD_FAILURE() << "no error";
  } catch (const AutogradError& err) {
    EXPECT_TRUE(contains(err.what(), "retain_graph")) << err.what();
  }
  // With the graph retained, it runs, and leaves .grad alone.
  Tensor loss2 = exp(x).sum();
  const Tensor before = x.grad().detach().contiguous();
  loss2.backward(Tensor(), true);
  GradExplanation e = explain_grad(loss2, x);
  expect_close(e.grad, exp(x.detach()), 1e-6);
  expect_close(x.grad(), before + exp(x.detach()), 1e-6);
  // No path: a leaf the loss does not read.
  Tensor other = randn({2}, 13).requires_grad_();
  GradExplanation none = explain_grad(exp(x).sum(), other);
  EXPECT_TRUE(none.edges.empty());
  EXPECT_TRUE(contains(none.text, "No path")) << none.text;
}

TEST(ToDot, GradientLabelsAreTheNormsOfTheActualGradients) {
  Tensor x = randn({4, 3}, 14, DType::f64).requires_grad_();
  Tensor w = randn({3}, 15, DType::f64).requires_grad_();
  Tensor b = randn({3}, 16, DType::f64).requires_grad_();
  Tensor y = tanh(x * w + b);
  const Tensor g = randn({4, 3}, 17, DType::f64);
  DotOptions options;
  options.gradients = true;
  options.upstream = g;
  const std::string dot = to_dot(y, options);
  y.backward(g);
  // Each leaf gets its total; the edges into w and b undo a broadcast, drawn red with the norm
  // before and after the sum.
  for (const Tensor* leaf : {&x, &w, &b}) {
    const std::string shape = shape_str(leaf->shape());
    std::smatch m;
    const std::regex leaf_label("leaf " +
                                std::regex_replace(shape, std::regex(R"([(),])"), R"(\$&)") +
                                R"(\\ngrad \|\|g\|\| ([0-9.e+-]+))");
    std::string rest = dot;
    std::vector<double> norms;
    while (std::regex_search(rest, m, leaf_label)) {
      norms.push_back(std::stod(m[1]));
      rest = m.suffix();
    }
    ASSERT_FALSE(norms.empty()) << dot;
    const double want = frobenius(leaf->grad());
    bool matched = false;
    for (double n : norms) matched = matched || std::abs(n - want) <= 1e-5 * (1 + want);
    EXPECT_TRUE(matched) << shape << " want " << want << "\n" << dot;
  }
  // The edge into b: summed from (4,3) to (3,), the norm after the sum is ||b.grad||.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      dot, m,
      std::regex(
          R"(sum axes \[0\][^"]*\|\|g\|\| ([0-9.e+-]+) summed to ([0-9.e+-]+)\", color=red3)")))
      << dot;
  const double summed = std::stod(m[2]), bn = frobenius(b.grad()), wn = frobenius(w.grad());
  EXPECT_TRUE(std::abs(summed - bn) <= 1e-5 * (1 + bn) || std::abs(summed - wn) <= 1e-5 * (1 + wn))
      << summed << " vs " << bn << ", " << wn;
  EXPECT_GT(std::stod(m[1]), 0.0);
  EXPECT_TRUE(contains(dot, "n0 -> output [label=\"(4,3)\\n||g|| ")) << dot;
  // Without gradients, no norms.
  Tensor y2 = tanh(x * w + b);
  EXPECT_FALSE(contains(to_dot(y2), "||g||"));
}
