// User-defined ops (CustomOp) and gradient hooks (Tensor::register_hook): they take part in
// backward, grad(), create_graph, gradcheck and to_dot like built-in ops, with any number of
// inputs.
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// softplus(x) = log(1 + e^x), derivative sigmoid(x): written by a user.
const CustomOp kSoftplus{"softplus",
                         [](const std::vector<Tensor>& x) { return log(1.0 + exp(x[0])); },
                         [](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
                           return std::vector<Tensor>{g * sigmoid(x[0])};
                         }};

// w0 x0 + w1 x1 + ... over broadcasting inputs, with a rule for every input: any number of them.
CustomOp weighted_sum(size_t n) {
  return CustomOp{"weighted_sum",
                  [n](const std::vector<Tensor>& x) {
                    Tensor total = x[0] * x[n];
                    for (size_t i = 1; i < n; ++i) total = total + x[i] * x[n + i];
                    return total;
                  },
                  [n](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
                    std::vector<Tensor> grads(2 * n);
                    for (size_t i = 0; i < n; ++i) {
                      grads[i] = g * x[n + i];  // broadcast shape: the engine sums it down
                      grads[n + i] = g * x[i];
                    }
                    return grads;
                  }};
}

}  // namespace

TEST(CustomOp, UserSoftplusPassesGradcheckToFirstAndSecondOrder) {
  const Tensor x = away_from_zero({3, 4}, 1);
  const auto f = [](const std::vector<Tensor>& in) { return kSoftplus({in[0]}) * in[0]; };
  GradcheckResult r = gradcheck(f, {x});
  EXPECT_TRUE(r.ok) << r.report;
  // Second order: the rule is written with ndgrad ops, so create_graph differentiates it.
  const Tensor u = uniform({3, 4}, 2, -1, 1).to(DType::f64);
  const auto first = [u](const std::vector<Tensor>& in) {
    return grad(kSoftplus({in[0]}), {in[0]}, u, true)[0].sum();
  };
  GradcheckResult r2 = gradcheck(first, {x});
  EXPECT_TRUE(r2.ok) << r2.report;
  // And it equals the built-in composition's second derivative.
  Tensor xa = x.detach().requires_grad_(), xb = x.detach().requires_grad_();
  Tensor ga = grad(kSoftplus({xa}), {xa}, u, true)[0];
  Tensor gb = grad(log(1.0 + exp(xb)), {xb}, u, true)[0];
  expect_close(grad(ga.sum(), {xa})[0], grad(gb.sum(), {xb})[0], 1e-12);
}

TEST(CustomOp, AnyNumberOfBroadcastingInputs) {
  for (size_t n : {1u, 2u, 3u, 7u}) {
    const CustomOp op = weighted_sum(n);
    std::vector<Tensor> inputs;
    const std::vector<Shape> shapes = {{2, 3}, {3}, {2, 1}, {}, {1, 3}, {2, 3}, {1}};
    for (size_t i = 0; i < 2 * n; ++i) inputs.push_back(away_from_zero(shapes[i % 7], 10 + i));
    GradcheckResult r = gradcheck([&](const std::vector<Tensor>& x) { return op(x); }, inputs);
    EXPECT_TRUE(r.ok) << n << " pairs\n" << r.report;
  }
}

TEST(CustomOp, ShowsInTheGraphAndItsDot) {
  Tensor x = away_from_zero({2, 2}, 3).requires_grad_();
  Tensor y = kSoftplus({x * 2.0}).sum();
  EXPECT_STREQ(kSoftplus({x}).grad_fn_name(), "softplus");
  EXPECT_NE(to_dot(y).find("softplus"), std::string::npos);
  // Inputs that need no gradient get none; a leaf that does gets its own.
  Tensor c = away_from_zero({2, 2}, 4);
  Tensor z = weighted_sum(1)({x, c});
  z.backward(ones({2, 2}, DType::f64));
  expect_close(x.grad(), c, 0);
}

TEST(CustomOp, ErrorsNameTheOp) {
  Tensor x = away_from_zero({3}, 5).requires_grad_();
  const CustomOp wrong_count{"two_for_one", [](const std::vector<Tensor>& v) { return v[0] * 1.0; },
                             [](const std::vector<Tensor>&, const Tensor&, const Tensor& g) {
                               return std::vector<Tensor>{g, g};
                             }};
  expect_error<AutogradError>([&] { wrong_count({x}).sum().backward(); },
                              {"two_for_one", "2 gradients for 1 inputs"});
  const CustomOp wrong_shape{"bad_shape", [](const std::vector<Tensor>& v) { return v[0] * 1.0; },
                             [](const std::vector<Tensor>&, const Tensor&, const Tensor&) {
                               return std::vector<Tensor>{ones({4}, DType::f64)};
                             }};
  expect_error<AutogradError>([&] { wrong_shape({x}).sum().backward(); }, {"bad_shape", "(4,)"});
  expect_error<ValueError>([&] { CustomOp{"empty", nullptr, nullptr}({x}); }, {"empty"});
  expect_error<ValueError>([&] { kSoftplus({Tensor()}); }, {"softplus", "input 0"});
}

TEST(CustomOp, ForwardReturningItsInputLeavesTheInputAlone) {
  Tensor x = away_from_zero({3}, 6).requires_grad_();
  const CustomOp identity{"identity", [](const std::vector<Tensor>& v) { return v[0]; },
                          [](const std::vector<Tensor>&, const Tensor&, const Tensor& g) {
                            return std::vector<Tensor>{g * 2.0};
                          }};
  Tensor y = identity({x});
  EXPECT_TRUE(x.is_leaf());
  y.backward(ones({3}, DType::f64));
  expect_close(x.grad(), full({3}, 2.0, DType::f64), 0);
}

TEST(CustomOp, WritesToWhatItSavedAreRefused) {
  Tensor x = away_from_zero({3}, 7).requires_grad_();
  Tensor y = kSoftplus({x});
  {
    NoGradGuard no_grad;
    x.copy_(zeros({3}, DType::f64));
  }
  expect_error<AutogradError>([&] { y.sum().backward(); }, {"softplus", "modified in place"});
}

TEST(GradHook, ALeafHookSeesTheTotalOverItsUsesAndCanReplaceIt) {
  Tensor x = away_from_zero({2, 3}, 8).requires_grad_();
  Tensor seen;
  int calls = 0;
  x.register_hook([&](const Tensor& g) {
    ++calls;
    seen = g.detach();
    return g * 10.0;
  });
  Tensor y = (x * 2.0 + x * 3.0).sum();  // two uses: the hook sees 5 once
  y.backward();
  EXPECT_EQ(calls, 1);
  expect_close(seen, full({2, 3}, 5.0, DType::f64), 0);
  expect_close(x.grad(), full({2, 3}, 50.0, DType::f64), 0);
  // grad() runs it too, and leaves .grad alone.
  const Tensor g = grad((x * 4.0).sum(), {x})[0];
  expect_close(g, full({2, 3}, 40.0, DType::f64), 0);
  EXPECT_EQ(calls, 2);
}

TEST(GradHook, ANonLeafHookChangesWhatFlowsOn) {
  Tensor x = away_from_zero({4}, 9).requires_grad_();
  Tensor h = x * 3.0;
  const Tensor upstream = uniform({4}, 10, -1, 1).to(DType::f64);
  Tensor observed;
  h.register_hook([&](const Tensor& g) {
    observed = g.detach();
    return Tensor();  // keep the gradient
  });
  h.register_hook([](const Tensor& g) { return g + 1.0; });  // runs second, sees the first's
  (h * h).backward(upstream);
  expect_close(observed, upstream * 2.0 * h.detach(), 1e-12);
  expect_close(x.grad(), (upstream * 2.0 * h.detach() + 1.0) * 3.0, 1e-12);
}

TEST(GradHook, ErrorsAreClear) {
  Tensor c = ones({3});
  expect_error<AutogradError>([&] { c.register_hook([](const Tensor& g) { return g; }); },
                              {"register_hook", "does not require grad"});
  Tensor x = away_from_zero({3}, 11).requires_grad_();
  x.register_hook([](const Tensor&) { return ones({2}, DType::f64); });
  expect_error<AutogradError>([&] { (x * 2.0).sum().backward(); }, {"hook", "(2,)", "(3,)"});
}

// Temporaries (rvalues) lend their memory to the op that consumes them, unless anything else
// holds it or the op's gradient reads them.
TEST(Temporaries, AResultIsWrittenOverAnUnsharedTemporary) {
  const Tensor x = uniform({4, 5}, 12, -1, 1);
  Tensor t = x * 2.0;
  const double* p = t.data_ptr<double>();
  Tensor r = std::move(t) + 1.0;
  EXPECT_EQ(r.data_ptr<double>(), p);
  expect_close(r, x * 2.0 + 1.0, 0);
  Tensor u = tanh(x * 3.0);  // a nested temporary
  expect_close(u, tanh(Tensor(x * 3.0)), 0);
}

TEST(Temporaries, SharedOrReadMemoryIsNeverTaken) {
  const Tensor x = uniform({4, 5}, 13, -1, 1);
  Tensor t = x * 2.0;
  const Tensor keep = t;                // another handle
  const Tensor view = t.reshape({20});  // another view of its memory
  Tensor r = std::move(t) + 1.0;
  EXPECT_NE(r.data_ptr<double>(), keep.data_ptr<double>());
  expect_close(keep, x * 2.0, 0);
  expect_close(view, (x * 2.0).reshape({20}), 0);
  // The gradient of mul reads its operands: a temporary it saves keeps its values.
  Tensor w = uniform({4, 5}, 14, -1, 1).to(DType::f64).requires_grad_();
  Tensor a = w * 2.0;
  Tensor y = std::move(a) * w;  // 2 w^2: d/dw = 4 w, read from the saved 2w and w
  y.sum().backward();
  expect_close(w.grad(), w.detach() * 4.0, 1e-12);
}

TEST(Temporaries, RecordedOpsOnTemporariesKeepTheirGradients) {
  Tensor x = uniform({3, 4}, 15, -1, 1).to(DType::f64).requires_grad_();
  Tensor t = x * 2.0;
  Tensor y = tanh(std::move(t) + 0.5) - x;  // add and tanh take their temporaries
  const Tensor up = uniform({3, 4}, 16, -1, 1).to(DType::f64);
  y.backward(up);
  const Tensor z = tanh(x.detach() * 2.0 + 0.5);
  expect_close(x.grad(), up * (1.0 - z * z) * 2.0 - up, 1e-12);
  // A leaf that requires grad is never taken: its gradient still arrives.
  Tensor leaf = uniform({3}, 17, -1, 1).to(DType::f64).requires_grad_();
  Tensor handle = leaf;
  Tensor q = std::move(leaf) * 3.0;
  q.sum().backward();
  expect_close(handle.grad(), full({3}, 3.0, DType::f64), 0);
}

// A pass with many leaves (past the few that are looked up by a scan), each used twice, some
// broadcast: every leaf gets exactly its own total.
TEST(GradHook, ManyLeavesEachGetTheirOwnTotal) {
  std::vector<Tensor> leaves;
  Tensor y = zeros({3}, DType::f64);
  for (int i = 0; i < 40; ++i) {
    leaves.push_back(full(i % 2 ? Shape{3} : Shape{1}, 1.0 + i, DType::f64).requires_grad_());
    y = y + leaves.back() * (i + 1.0) + leaves.back();
  }
  y.sum().backward();
  for (int i = 0; i < 40; ++i)
    expect_close(leaves[i].grad(), full(leaves[i].shape(), (i + 2.0) * (i % 2 ? 1 : 3), DType::f64),
                 1e-12);
}

// backward(create_graph = true) keeps the forward graph even when retain_graph is false: the
// recorded gradients refer to the outputs their rules read (exp's, tanh's), which come back
// linked to the forward nodes.
TEST(GradHook, CreateGraphKeepsTheForwardGraphForSecondDerivatives) {
  Tensor x = uniform({3}, 20, -1, 1).to(DType::f64).requires_grad_();
  exp(x).sum().backward(Tensor(), /*retain_graph=*/false, /*create_graph=*/true);
  Tensor g = x.grad();
  x.zero_grad();
  g.sum().backward();  // d/dx of exp(x) is exp(x) again
  expect_close(x.grad(), exp(x.detach()), 1e-12);
  x.zero_grad();
}

TEST(GradHook, AHookMayRegisterAnotherAndAFormerLeafLendsNothingStale) {
  Tensor x = uniform({3}, 21, -1, 1).to(DType::f64).requires_grad_();
  int calls = 0;
  x.register_hook([&](const Tensor&) {
    if (++calls < 20) x.register_hook([](const Tensor&) { return Tensor(); });
    return Tensor();
  });
  (x * 2.0).sum().backward();
  EXPECT_EQ(calls, 1);
  // x, no longer requiring grad, passed as a temporary: its result carries no old gradient.
  x.requires_grad_(false);
  Tensor y = exp(std::move(x));
  EXPECT_FALSE(y.grad().defined());
  EXPECT_FALSE(y.requires_grad());
}

// Reentrant backward: a rule that recomputes its forward with a graph and differentiates it
// (checkpointing) runs a pass inside the pass that called it.
TEST(Reentrant, ACheckpointedOpRecomputesAndDifferentiatesInsideBackward) {
  auto f = [](const Tensor& x) { return tanh(x * x + 0.5) * x; };
  int recomputed = 0;
  const CustomOp checkpointed{"checkpointed", [&](const std::vector<Tensor>& x) { return f(x[0]); },
                              [&](const std::vector<Tensor>& x, const Tensor&, const Tensor& g) {
                                const AutoGradMode recording(true);
                                const Tensor again = x[0].detach().requires_grad_();
                                ++recomputed;
                                return std::vector<Tensor>{grad(f(again), {again}, g)[0]};
                              }};
  const Tensor x = randn({4, 5}, 1).requires_grad_(), upstream = randn({4, 5}, 2);
  const Tensor w = randn({4, 5}, 3).requires_grad_();
  (checkpointed({x * w}) * w).backward(upstream);
  EXPECT_EQ(recomputed, 1);
  const Tensor x2 = x.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  (f(x2 * w2) * w2).backward(upstream);
  expect_close(x.grad(), x2.grad(), 1e-6);
  expect_close(w.grad(), w2.grad(), 1e-6);
  EXPECT_TRUE(is_grad_enabled());  // the rule's AutoGradMode ended with it
}

// A hook that runs a pass over nodes of the running pass: the running pass's bookkeeping is set
// aside and given back, so both passes give the gradients they give alone.
TEST(Reentrant, AHookMayRunAPassOverTheGraphBeingDifferentiated) {
  const Tensor x = randn({3, 4}, 4).requires_grad_(), w = randn({3, 4}, 5);
  const Tensor up = randn({3, 4}, 6);
  const Tensor h = tanh(x * w);
  const Tensor y = h * h;  // h's node is shared by the outer pass and the inner one
  Tensor inner;
  bool inside = false;  // the hook runs in the inner pass too (it reaches h): once is enough
  h.register_hook([&](const Tensor& g) {
    if (inside) return g;
    inside = true;
    const AutoGradMode recording(true);  // hooks run without a graph unless create_graph
    inner = grad((h * 3.0).sum(), {x}, Tensor(), /*create_graph=*/true)[0];  // keeps the graph
    return g;
  });
  (y * up).sum().backward();
  const Tensor x2 = x.detach().requires_grad_();
  const Tensor h2 = tanh(x2 * w);
  const auto alone = grad((h2 * h2 * up).sum(), {x2});
  expect_close(x.grad(), alone[0], 1e-6);
  expect_close(inner, grad((tanh(x2 * w) * 3.0).sum(), {x2})[0], 1e-6);
  // An inner pass that frees the saved values the running pass still needs: a clear error.
  const Tensor x3 = randn({3}, 7).requires_grad_();
  const Tensor h3 = tanh(x3 * 2.0);
  bool inside3 = false;
  h3.register_hook([&](const Tensor& g) {
    if (inside3) return g;
    inside3 = true;
    const AutoGradMode recording(true);
    (void)grad((h3 * 3.0).sum(), {x3});  // frees tanh's and mul's saved values
    return g;
  });
  expect_error<AutogradError>([&] { (h3 * h3).sum().backward(); },
                              {"backward pass run inside this one freed", "retain_graph"});
}
