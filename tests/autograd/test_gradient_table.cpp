// One table over every differentiable op: float64 gradcheck (central differences, random
// inputs, random upstream gradient inside gradcheck) across shapes with distinct and repeated
// sizes, negative and unsorted axes, keepdims both ways. The last test fails when an op with a
// backward rule has no row here.
#include <functional>
#include <limits>

#include "kernels/cpu/op_info.hpp"
#include "ndgrad/function_table.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

const std::vector<Shape>& kShapes = table_shapes();

std::set<std::string>& covered() {
  static std::set<std::string> names;
  return names;
}

std::string describe(const std::vector<Tensor>& inputs) {
  std::string s;
  for (const auto& t : inputs) s += shape_str(t.shape()) + " ";
  return s;
}

// Runs gradcheck and records which ops the checked graph contained.
void check(const std::string& row, const Fn& f, const std::vector<Tensor>& inputs,
           double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4) {
  std::vector<Tensor> probe;
  for (const auto& t : inputs) {
    Tensor c = t.detach();
    if (is_floating(c.dtype())) c.requires_grad_();
    probe.push_back(c);
  }
  Tensor y = f(probe);
  ASSERT_TRUE(y.requires_grad()) << row << ": the output does not depend on the inputs";
  for (const auto& name : ops_in_graph(y)) covered().insert(name);
  GradcheckResult r = gradcheck(f, inputs, eps, atol, rtol);
  EXPECT_TRUE(r.ok) << row << " with shapes " << describe(inputs) << "\n" << r.report;
}

uint64_t seed_counter = 1000;
Tensor any_input(const Shape& s) { return away_from_zero(s, ++seed_counter); }
Tensor positive_input(const Shape& s) { return uniform(s, ++seed_counter, 0.5, 2.0); }

// Inputs from a table row's domain column (test_util.hpp).
Tensor input_for(kernels::Domain domain, const Shape& s, bool first) {
  return row_input(domain, s, first, ++seed_counter);
}

// The second derivative through f: the gradient of <grad f(x) . r> for a random upstream
// gradient u of f and a random r, checked by gradcheck. The first derivative runs recorded
// (create_graph), so this checks the derivative of each op's derivative formula.
void check_second_order(const std::string& row, const Fn& f, const std::vector<Tensor>& inputs) {
  const Tensor probe = f(inputs);
  const Tensor u = uniform(probe.shape(), ++seed_counter, -1.0, 1.0).to(DType::f64);
  std::vector<Tensor> r;
  for (const Tensor& t : inputs)
    r.push_back(uniform(t.shape(), ++seed_counter, -1.0, 1.0).to(DType::f64));
  const Fn h = [f, u, r](const std::vector<Tensor>& x) {
    const std::vector<Tensor> g = grad(f(x), x, u, /*create_graph=*/true);
    Tensor total = (g[0] * r[0]).sum();
    for (size_t i = 1; i < g.size(); ++i) total = total + (g[i] * r[i]).sum();
    return total;
  };
  // The rules' own ops (index_backward, ...) appear in the gradient's graph.
  std::vector<Tensor> probes;
  for (const Tensor& t : inputs) probes.push_back(t.detach().requires_grad_());
  for (const auto& name : ops_in_graph(h(probes))) covered().insert(name);
  GradcheckResult res = gradcheck(h, inputs, 1e-6, 1e-6, 1e-4);
  EXPECT_TRUE(res.ok) << row << " (second order) with shapes " << describe(inputs) << "\n"
                      << res.report;
}

}  // namespace

// Every differentiable row of the op table (include/ndgrad/op_table.def), from its own columns:
// unary ones over every shape, binary ones over every broadcasting pair of shapes, inputs from
// the row's domain; first order everywhere, second order on a few shapes and pairs.
void rows_OpTable() {
  using kernels::BinaryOp;
  using kernels::UnaryOp;
  const std::vector<Shape> second_order_shapes = {{}, {3, 1}, {2, 3}};
#define NDGRAD_UNARY_OP(name, ...)                                                           \
  if constexpr (kernels::info(UnaryOp::name).differentiable) {                               \
    const Fn f = [](const std::vector<Tensor>& x) { return name(x[0]); };                    \
    const kernels::Domain d = kernels::info(UnaryOp::name).domain;                           \
    for (const Shape& s : kShapes) check(#name, f, {input_for(d, s, true)});                 \
    /* an incoming gradient made by another rule: offered to the op reading it */            \
    check(#name " under mul", [](const std::vector<Tensor>& x) { return name(x[0]) * 1.5; }, \
          {input_for(d, {2, 3}, true)});                                                     \
    for (const Shape& s : second_order_shapes)                                               \
      check_second_order(#name, f, {input_for(d, s, true)});                                 \
  }
#define NDGRAD_BINARY_OP(name, ...)                                                              \
  if constexpr (kernels::info(BinaryOp::name).differentiable) {                                  \
    const Fn f = [](const std::vector<Tensor>& x) { return name(x[0], x[1]); };                  \
    const kernels::Domain d = kernels::info(BinaryOp::name).domain;                              \
    for (const auto& [a, b] : broadcast_pairs())                                                 \
      check(#name, f, {input_for(d, a, true), input_for(d, b, false)});                          \
    /* one operand constant: the gradient made by mul is offered to the one rule that runs */    \
    const Tensor c1 = input_for(d, {2, 3}, true), c2 = input_for(d, {2, 3}, false);              \
    check(#name " under mul, first",                                                             \
          [c2](const std::vector<Tensor>& x) { return name(x[0], c2) * 1.5; },                   \
          {input_for(d, {3}, true)});                                                            \
    check(#name " under mul, second",                                                            \
          [c1](const std::vector<Tensor>& x) { return name(c1, x[0]) * 1.5; },                   \
          {input_for(d, {3}, false)});                                                           \
    for (const auto& [a, b] :                                                                    \
         std::vector<std::pair<Shape, Shape>>{{{}, {2, 3}}, {{3, 1}, {1, 4}}, {{2, 3}, {2, 3}}}) \
      check_second_order(#name, f, {input_for(d, a, true), input_for(d, b, false)});             \
  }
#include "ndgrad/op_table.def"
}

void rows_BinaryOpsOverEveryBroadcastPair() {
  // where is not a table row: its condition is a bool tensor.
  const Fn f = [](const std::vector<Tensor>& x) { return where(x[0] * x[1] > 0.0, x[0], x[1]); };
  ASSERT_GT(broadcast_pairs().size(), 40u);
  for (const auto& [a, b] : broadcast_pairs()) check("where", f, {any_input(a), any_input(b)});
  check_second_order("where", f, {any_input({3, 1}), any_input({1, 4})});
}

void rows_ScalarOperandForms() {
  check("tensor+double", [](const std::vector<Tensor>& x) { return 2.5 + x[0] + 1.0; },
        {any_input({3, 4})});
  check("double-tensor", [](const std::vector<Tensor>& x) { return 2.5 - x[0] - 1.0; },
        {any_input({3, 4})});
  check("double*tensor", [](const std::vector<Tensor>& x) { return 2.5 * x[0] * -3.0; },
        {any_input({3, 4})});
  check("double/tensor", [](const std::vector<Tensor>& x) { return 2.5 / x[0] / 4.0; },
        {any_input({3, 4})});
  check("neg", [](const std::vector<Tensor>& x) { return -x[0]; }, {any_input({2, 3, 4})});
  for (double p : {2.0, 3.0, 0.5, -1.5, 1.0, 0.0})
    check("pow", [p](const std::vector<Tensor>& x) { return pow(x[0], p); },
          {positive_input({2, 3})});
  check("pow", [](const std::vector<Tensor>& x) { return pow(x[0], 3.0); }, {any_input({3, 4})});
  check_second_order("pow", [](const std::vector<Tensor>& x) { return pow(x[0], 3.0); },
                     {any_input({3, 4})});
  // A number in place of either operand of a binary row, and of where's choices.
  const std::vector<std::pair<std::string, Fn>> forms = {
      {"maximum(t, 0.0)", [](const std::vector<Tensor>& x) { return maximum(x[0], 0.0); }},
      {"minimum(0.0, t)", [](const std::vector<Tensor>& x) { return minimum(0.0, x[0]); }},
      {"pow(2.0, t)", [](const std::vector<Tensor>& x) { return pow(2.0, x[0]); }},
      {"atan2(t, 1.0)", [](const std::vector<Tensor>& x) { return atan2(x[0], 1.0); }},
      {"atan2(-2, t)", [](const std::vector<Tensor>& x) { return atan2(-2, x[0]); }},
      {"hypot(t, 0.5)", [](const std::vector<Tensor>& x) { return hypot(x[0], 0.5); }},
      {"copysign(t, -1.0)", [](const std::vector<Tensor>& x) { return copysign(x[0], -1.0); }},
      {"xlogy(t, 3.0)", [](const std::vector<Tensor>& x) { return xlogy(x[0], 3.0); }},
      {"fmod(t, 0.7)", [](const std::vector<Tensor>& x) { return fmod(x[0], 0.7); }},
      {"remainder(t, -0.7)", [](const std::vector<Tensor>& x) { return remainder(x[0], -0.7); }},
      {"where(mask, t, 0.0)",
       [](const std::vector<Tensor>& x) { return where(x[0] > 0.5, x[0], 0.0); }},
      {"where(mask, 2, t)",
       [](const std::vector<Tensor>& x) { return where(x[0] > 0.5, 2, x[0]); }},
  };
  for (const auto& [name, f] : forms) {
    check(name, f, {any_input({3, 4})});
    check_second_order(name, [f = f](const std::vector<Tensor>& x) { return tanh(f(x)); },
                       {any_input({2, 3})});
  }
}

// The functions with a parameter (ops/activations.cpp), written with the table's rows: first
// and second order, one and several operands (tensor bounds and weights broadcasting).
void rows_Parameterized() {
  using V = std::vector<Tensor>;
  const std::vector<std::pair<std::string, Fn>> unary = {
      {"leaky_relu", [](const V& x) { return leaky_relu(x[0]); }},
      {"leaky_relu 0.2", [](const V& x) { return leaky_relu(x[0], 0.2); }},
      {"elu", [](const V& x) { return elu(x[0]); }},
      {"elu 0.5", [](const V& x) { return elu(x[0], 0.5) * x[0]; }},
      {"hardtanh", [](const V& x) { return hardtanh(x[0]); }},
      {"hardtanh -0.5 0.8", [](const V& x) { return hardtanh(x[0], -0.5, 0.8) * x[0]; }},
      {"clamp", [](const V& x) { return clamp(x[0], -0.5, 0.8); }},
      {"clamp min", [](const V& x) { return clamp(x[0], -0.5) * x[0]; }},
      {"clamp max", [](const V& x) { return clamp(x[0], std::nullopt, 0.5) * x[0]; }},
      {"clamp min > max", [](const V& x) { return clamp(x[0], 0.5, -0.5) + x[0]; }},
      {"clip", [](const V& x) { return clip(x[0], -1.0, 1.0) * x[0]; }},
      {"lerp 0.3", [](const V& x) { return lerp(x[0], x[0] * x[0], 0.3); }},
      {"lerp 0.7", [](const V& x) { return lerp(tanh(x[0]), x[0], 0.7) * x[0]; }},
      {"nan_to_num",
       [](const V& x) {  // x above 0.5; -inf, NaN and inf below (no gradient reaches them)
         const Tensor specials =
             where(x[0] < -1.0, -HUGE_VAL,
                   where(x[0] < -0.5, std::nan(""), full(x[0].shape(), HUGE_VAL, DType::f64)));
         return nan_to_num(where(x[0] > 0.5, x[0], specials), 0.5, 2.0, -3.0) * x[0];
       }},
      {"gelu tanh", [](const V& x) { return gelu(x[0], "tanh"); }},
  };
  for (const auto& [name, f] : unary) {
    for (const Shape& s : std::vector<Shape>{{}, {4}, {3, 4}, {2, 3, 4}})
      check(name, f, {any_input(s)});
    check_second_order(name, f, {any_input({2, 3})});
  }
  const std::vector<std::pair<std::string, Fn>> nary = {
      {"clamp tensors", [](const V& x) { return clamp(x[0], x[1], x[2]); }},
      {"clamp tensor min", [](const V& x) { return clamp(x[0], x[1]) * x[2]; }},
      {"clamp tensor max", [](const V& x) { return clip(x[0], Tensor(), x[1]) * x[2]; }},
      {"lerp tensor weight", [](const V& x) { return lerp(x[0], x[1], x[2]); }},
      {"lerp tensor weight, squared", [](const V& x) { return lerp(x[0], x[1], x[2] * x[2]); }},
  };
  for (const auto& [name, f] : nary) {
    check(name, f, {any_input({3, 4}), any_input({4}), any_input({3, 1})});
    check(name, f, {any_input({}), any_input({2, 1}), any_input({2, 3})});
    check_second_order(name, f, {any_input({2, 3}), any_input({3}), any_input({2, 1})});
  }
}

// Every reduction row of the op table, as a member and as a free function, then the reductions
// written with them (mean, logsumexp): first order over every axes choice, keepdims both ways;
// second order under a non-linear op, so that the row's derivative is differentiated again.
void rows_ReductionsOverAxesAndKeepdims() {
  using Member = Tensor (Tensor::*)(const std::vector<int64_t>&, bool) const;
  using Free = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);
  struct Row {
    const char* name;
    Member member;
    Free free;
  };
  const std::vector<Row> rows = {
#define NDGRAD_REDUCTION_OP(name, ...) {#name, &Tensor::name, &name},
#include "ndgrad/op_table.def"
      {"mean", &Tensor::mean, &mean},
      {"logsumexp", nullptr,
       [](const Tensor& t, const std::vector<int64_t>& axes, bool keep) {
         return logsumexp(t, axes, keep);
       }},
  };
  const std::vector<std::pair<Shape, std::vector<std::vector<int64_t>>>> cases = {
      {{}, {{}}},
      {{4}, {{}, {0}, {-1}}},
      {{3, 4}, {{}, {0}, {1}, {-1}, {1, 0}, {-2, -1}}},
      {{2, 3, 4}, {{}, {0}, {1}, {2}, {-1}, {2, 0}, {-1, -3}, {0, 1, 2}}},
      {{3, 3, 3}, {{0}, {1}, {2}, {0, 2}, {2, 1}}},  // repeated sizes
      {{2, 3, 2}, {{0}, {1}, {2}, {-1, 0}}},         // repeated sizes
  };
  for (const Row& row : rows) {
    for (const auto& [shape, axes_list] : cases)
      for (const auto& axes : axes_list)
        for (bool keepdims : {false, true}) {
          auto ax = axes;
          if (row.member)
            check(row.name,
                  [row, ax, keepdims](const std::vector<Tensor>& x) {
                    return (x[0].*row.member)(ax, keepdims);
                  },
                  {any_input(shape)});
          check(std::string("free ") + row.name,
                [row, ax, keepdims](const std::vector<Tensor>& x) {
                  return row.free(x[0], ax, keepdims) * 2.0;
                },
                {any_input(shape)});
        }
    for (const auto& [shape, axes] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
             {{4}, {}}, {{3, 4}, {1}}, {{2, 3, 4}, {2, 0}}})
      for (bool keepdims : {false, true})
        check_second_order(row.name,
                           [row, axes = axes, keepdims](const std::vector<Tensor>& x) {
                             return tanh(row.free(x[0] * x[0], axes, keepdims));
                           },
                           {any_input(shape)});
  }
}

// The reductions, scans and selections written outside the table (ops/statistics.cpp,
// ops/scan.cpp): first order over shapes, axes and keepdims, second order under a non-linear
// op. Inputs stay away from zero and from ties (the sort-like ops' order, |x| for the inf-norms);
// prod and cumprod are also checked with exact zeros, to second order (both are polynomials,
// linear in each element, so central differences are exact there).
void rows_ReductionsAndScans() {
  using V = std::vector<Tensor>;
  struct Case {
    std::string name;
    Fn f;
    std::vector<Shape> shapes;
  };
  const std::vector<Shape> any_rank = {{}, {4}, {3, 4}, {2, 3, 4}};
  const std::vector<Shape> rank2 = {{3, 4}, {2, 3, 4}};
  std::vector<Case> cases = {
      {"sum dtype", [](const V& x) { return sum(x[0], {-1}, true, DType::f64); }, rank2},
      {"mean dtype", [](const V& x) { return mean(x[0], {0}, false, DType::f64); }, rank2},
      {"var", [](const V& x) { return var(x[0]); }, {{4}, {3, 4}, {2, 3, 4}}},
      {"var axes",
       [](const V& x) {
         return var(x[0], {-1, 0}, 1.0, true);
       },
       rank2},
      {"var correction 0", [](const V& x) { return var(x[0], {1}, 0.0); }, rank2},
      {"var correction 2", [](const V& x) { return var(x[0], {1}, 2.0, true); }, rank2},
      {"std", [](const V& x) { return ndgrad::std(x[0], {}, 1.0); }, {{4}, {3, 4}, {2, 3, 4}}},
      {"std axes", [](const V& x) { return ndgrad::std(x[0], {1}, 0.0, true); }, rank2},
      {"nansum", [](const V& x) { return nansum(where(x[0] > 1.0, NAN, x[0]), {0}); }, rank2},
      {"nanmean",
       [](const V& x) { return nanmean(where(x[0] > 1.2, NAN, x[0] * x[0]), {-1}, true); }, rank2},
      {"nanmean all", [](const V& x) { return nanmean(x[0]); }, any_rank},
      {"prod all", [](const V& x) { return prod(x[0]); }, any_rank},
      {"norm 2", [](const V& x) { return norm(x[0]); }, any_rank},
      {"norm 2 axes", [](const V& x) { return norm(x[0], 2.0, {0}, true); }, rank2},
      {"norm 1", [](const V& x) { return norm(x[0], 1.0, {-1}); }, rank2},
      {"norm 3", [](const V& x) { return norm(x[0], 3.0, {1}); }, rank2},
      {"norm 0.5", [](const V& x) { return norm(x[0], 0.5); }, any_rank},
      {"norm 1.5",
       [](const V& x) {
         return norm(x[0], 1.5, {0, -1});
       },
       rank2},
      {"norm -1.5", [](const V& x) { return norm(x[0], -1.5, {1}, true); }, rank2},
      {"norm inf", [](const V& x) { return norm(x[0], INFINITY, {1}); }, rank2},
      {"norm -inf", [](const V& x) { return norm(x[0], -INFINITY); }, any_rank},
      {"norm 0", [](const V& x) { return norm(x[0], 0.0, {0}) + x[0].sum(); }, rank2},
      {"norm fro",
       [](const V& x) {
         return norm(x[0], "fro", {-2, -1});
       },
       rank2},
      {"cumsum", [](const V& x) { return cumsum(x[0], 0); }, any_rank},
      {"cumsum -1", [](const V& x) { return cumsum(x[0], -1); }, rank2},
      {"cumprod", [](const V& x) { return cumprod(x[0], 0); }, any_rank},
      {"cumprod -1", [](const V& x) { return cumprod(x[0], -1); }, rank2},
      {"logcumsumexp", [](const V& x) { return logcumsumexp(x[0] * 3.0, -1); }, any_rank},
      {"logcumsumexp 0", [](const V& x) { return logcumsumexp(x[0], 0); }, rank2},
      {"cummax", [](const V& x) { return cummax(x[0], -1).values; }, any_rank},
      {"cummin", [](const V& x) { return cummin(x[0], 0).values; }, rank2},
      {"diff", [](const V& x) { return diff(x[0]); }, {{4}, {3, 4}, {2, 3, 4}}},
      {"diff 2, axis 0, prepend, append",
       [](const V& x) { return diff(x[0], 2, 0, x[0].narrow(0, 0, 1) * 2.0, x[0]); }, rank2},
      {"sort", [](const V& x) { return sort(x[0]).values; }, any_rank},
      {"sort descending, axis 0", [](const V& x) { return sort(x[0], 0, true).values; }, rank2},
      {"topk", [](const V& x) { return topk(x[0], 2).values; }, {{4}, {3, 4}, {2, 3, 4}}},
      {"topk smallest, axis 0", [](const V& x) { return topk(x[0], 1, 0, false).values; }, rank2},
      {"kthvalue", [](const V& x) { return kthvalue(x[0], 2).values; }, {{4}, {3, 4}, {2, 3, 4}}},
      {"kthvalue keepdims", [](const V& x) { return kthvalue(x[0], 2, 0, true).values; }, rank2},
      {"median", [](const V& x) { return median(x[0]); }, any_rank},
      {"median axis", [](const V& x) { return median(x[0], -1).values; }, any_rank},
      {"median axis keepdims", [](const V& x) { return median(x[0], 0, true).values; }, rank2},
      {"quantile", [](const V& x) { return quantile(x[0], 0.3); }, any_rank},
      {"quantile axis",
       [](const V& x) {
         return quantile(x[0], tensor({0.0, 0.25, 0.9, 1.0}, {4}, DType::f64), -1);
       },
       rank2},
      {"quantile keepdims", [](const V& x) { return quantile(x[0], 0.6, 0, true); }, rank2},
      {"quantile lower", [](const V& x) { return quantile(x[0], 0.6, 0, true, "lower"); }, rank2},
      {"quantile higher", [](const V& x) { return quantile(x[0], 0.3, -1, false, "higher"); },
       rank2},
      {"quantile nearest", [](const V& x) { return quantile(x[0], 0.45, {}, false, "nearest"); },
       any_rank},
      {"quantile midpoint", [](const V& x) { return quantile(x[0], 0.7, 0, false, "midpoint"); },
       rank2},
      {"nanquantile", [](const V& x) { return nanquantile(x[0], 0.35, -1); }, rank2},
      {"nanmedian", [](const V& x) { return nanmedian(x[0]); }, any_rank},
      {"nanmedian axis", [](const V& x) { return nanmedian(x[0], -1).values; }, any_rank},
  };
  for (const Case& c : cases) {
    for (const Shape& s : c.shapes) check(c.name, c.f, {any_input(s)});
    check_second_order(c.name, [f = c.f](const V& x) { return tanh(f(x)); },
                       {any_input(c.shapes.back())});
  }
  // Exact zeros: one zero in some slices, two in others.
  const Tensor zeros =
      tensor({0, 1.5, -0.5, 2, 0.7, 0, -1.2, 0, 1.1, 0.4, -0.8, 1.3}, {3, 4}, DType::f64);
  for (const auto& [name, f] : std::vector<std::pair<std::string, Fn>>{
           {"prod with zeros", [](const V& x) { return prod(x[0], {1}); }},
           {"prod with zeros, axis 0", [](const V& x) { return prod(x[0], {0}, true); }},
           {"prod with zeros, all", [](const V& x) { return prod(x[0].narrow(0, 0, 1)); }},
           {"cumprod with zeros", [](const V& x) { return cumprod(x[0], 1); }},
           {"cumprod with zeros, axis 0", [](const V& x) { return cumprod(x[0], 0); }},
       }) {
    check(name, f, {zeros});
    check_second_order(name, f, {zeros});
  }
}

// Basic indexing (every kind of index, steps that skip and reverse), joining and splitting:
// first order, and second order under a non-linear op (the view's gradient, embedded into
// zeros, is indexed again).
void rows_Indexing() {
  const std::vector<std::vector<TensorIndex>> indices = {
      {1},
      {-1, Slice(1, None)},
      {Slice(), 0},
      {Ellipsis, -1},
      {Slice(None, None, -1)},
      {0, Slice(None, None, -2), Slice(1, 4, 2)},
      {NewAxis, Slice(1, 2), NewAxis, Ellipsis, Slice(-3, None)},
      {Slice(5, 1)},  // empty
      {Slice(None, None, -3), Ellipsis, Slice(4, 0, -2)},
  };
  for (const auto& ix : indices) {
    check("index", [ix](const std::vector<Tensor>& x) { return x[0].index(ix); },
          {any_input({2, 3, 5})});
    check_second_order("index",
                       [ix](const std::vector<Tensor>& x) { return tanh(x[0] * x[0]).index(ix); },
                       {any_input({2, 3, 5})});
  }
  // A value used through several overlapping views accumulates.
  check("index, overlapping views",
        [](const std::vector<Tensor>& x) {
          return x[0][0] * x[0].select(1, 2).index({NewAxis}).T() +
                 x[0].narrow(1, 1, 2).sum({1}, true) + x[0].slice(0, None, None, -1)[1];
        },
        {any_input({3, 4})});
  check("select, narrow, slice",
        [](const std::vector<Tensor>& x) {
          return x[0].select(-1, 1) * x[0].narrow(2, 2, 1).squeeze(2) +
                 x[0].slice(1, 2, None, -1).sum({2});
        },
        {any_input({2, 3, 4})});
  const Fn joined = [](const std::vector<Tensor>& x) {
    return cat({x[0], x[1] * x[1], x[2]}, 1) * stack({x[0][0], x[0][1]}, 0).sum({1}, true);
  };
  check("cat, stack", joined, {any_input({2, 3}), any_input({2, 1}), any_input({2, 0})});
  check_second_order("cat, stack", joined,
                     {any_input({2, 3}), any_input({2, 1}), any_input({2, 2})});
  // An f32 part: cat is linear, so a wide finite-difference step is exact but for f32 rounding.
  check(
      "cat, mixed dtypes",
      [](const std::vector<Tensor>& x) {
        return cat({x[0], x[1].to(DType::f32)}, -1);
      },
      {any_input({3, 2}), any_input({3, 1})}, 1e-2, 1e-4, 1e-4);
  // Advanced indexing: repeated, negative and skipped indices; the gradient of a repeated
  // index accumulates.
  const Tensor rep = tensor({2, 0, 2, -1, 1}, {5}, DType::i64);
  const Fn advanced = [rep](const std::vector<Tensor>& x) {
    const Tensor mask = x[0] > 0.0;
    return index_select(x[0], 1, rep).sum({1}) * take(x[0], rep.reshape({5, 1})).sum() +
           gather(x[0], 0, tensor({2, 0, 0, 1, 1, 1}, {2, 3}, DType::i64)).sum({0}) +
           take_along_axis(x[0], tensor({1, 1}, {1, 2}, DType::i64), 1).sum({1}, true).T() +
           masked_select(x[0], mask).sum();
  };
  check("index_select, take, gather, take_along_axis, masked_select", advanced,
        {any_input({3, 3})});
  check_second_order("index_select, take, gather, take_along_axis, masked_select",
                     [advanced](const std::vector<Tensor>& x) { return tanh(advanced(x)); },
                     {any_input({3, 3})});
  // Writing through indices: gradients reach both the input and the source.
  const Fn written = [](const std::vector<Tensor>& x) {
    const Tensor idx = tensor({2, 0, 2}, {3}, DType::i64);
    const Tensor sidx = tensor({1, 1, 0, 2, 2, 2}, {2, 3}, DType::i64);
    return index_add(x[0], 0, idx, x[1] * x[1]) * scatter_add(x[0], 1, sidx, x[1].T()) +
           masked_fill(x[0], x[0] > 0.0, 0.5);
  };
  check("index_add, scatter_add, masked_fill", written, {any_input({3, 3}), any_input({3, 3})});
  check_second_order("index_add, scatter_add, masked_fill",
                     [written](const std::vector<Tensor>& x) { return tanh(written(x)); },
                     {any_input({3, 3}), any_input({3, 3})});
  for (PadMode mode : {PadMode::constant, PadMode::reflect, PadMode::edge, PadMode::wrap}) {
    const Fn padded = [mode](const std::vector<Tensor>& x) {
      return pad(x[0], {{1, 2}, {-1, 2}}, mode, 0.5);
    };
    check("pad", padded, {any_input({3, 4})});
    check_second_order("pad", [padded](const std::vector<Tensor>& x) { return tanh(padded(x)); },
                       {any_input({3, 4})});
  }
  // Index tensors and masks inside index(): repeated, negative, reversed and broadcast index
  // tensors, separated (their axes first) and adjacent, and masks over one or two axes.
  const auto i64 = [](std::vector<double> v, Shape s) { return tensor(v, s, DType::i64); };
  const Tensor mask2 =
      tensor({1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1}, {3, 5}, DType::boolean);
  const std::vector<std::vector<TensorIndex>> advanced_indices = {
      {i64({1, 0, 1, -1}, {4})},
      {All, i64({2, 2, -3, 0}, {2, 2}), Slice(None, None, -2)},
      {i64({0, 1}, {2, 1}), All, i64({4, 0, 4}, {3})},
      {1, All, i64({3, 3}, {2})},
      {Ellipsis, i64({0, -1, 0}, {3})},
      {All, mask2},
      {mask2.index({0}).index({NewAxis}).broadcast_to({2, 5}).reshape({2, 1, 5}).broadcast_to(
          {2, 3, 5})},
      {Slice(None, None, -1), tensor({0, 1, 1}, {3}, DType::boolean), NewAxis, i64({2}, {1})},
  };
  for (const auto& ix : advanced_indices) {
    check("index, tensors", [ix](const std::vector<Tensor>& x) { return x[0].index(ix); },
          {any_input({2, 3, 5})});
    check_second_order("index, tensors",
                       [ix](const std::vector<Tensor>& x) { return tanh(x[0] * x[0]).index(ix); },
                       {any_input({2, 3, 5})});
  }
  // index_put keeps the last of repeated writes: the overwritten values get no gradient.
  const Fn put = [i64](const std::vector<Tensor>& x) {
    const Tensor rows = i64({2, 0, 2}, {3});
    return index_put(x[0], {rows}, x[1] * x[1]) +
           index_put(x[0], {All, i64({1, 1}, {2})}, x[1].narrow(0, 0, 2).T(), true) +
           scatter(x[0], 1, i64({0, 0, 1, 2, 2, 2}, {2, 3}), x[1]) +
           put_along_axis(x[0], i64({2, 0}, {1, 2}), x[1].select(0, 1).narrow(0, 0, 2), 1) +
           index_put(x[0], {x[0].detach() > 10.0}, x[1][0][0]) +
           where(x[0].detach() > 0.0, x[1] * 2.0, 0.5) +
           masked_fill(x[1], x[0].detach() < 0.0, x[0][1][1]);
  };
  check("index_put, scatter, put_along_axis", put, {any_input({3, 3}), any_input({3, 3})});
  // Values of another dtype: converted by a recorded cast (f32 rounding in the step's size).
  check(
      "index_put, f32 values",
      [](const std::vector<Tensor>& x) {
        return index_put(x[0], {tensor({1, 0}, {2}, DType::i64)}, x[1].to(DType::f32));
      },
      {any_input({3, 2}), any_input({2, 2})}, 1e-2, 1e-4, 1e-4);
  check_second_order("index_put, scatter, put_along_axis",
                     [put](const std::vector<Tensor>& x) { return tanh(put(x)); },
                     {any_input({3, 3}), any_input({3, 3})});
  const Fn repeated = [i64](const std::vector<Tensor>& x) {
    const auto sections = tensor_split(x[0], 2, 1), pieces = tensor_split(x[0], {1, -1}, 1);
    return cat({sections[1], sections[0], pieces[2] * pieces[0], pieces[1].repeat({1, 2})}, 1) +
           x[0].repeat({2, 1, 2}).sum({0}) * tile(x[0].select(1, 0).reshape({2, 1}), {1, 6}) +
           repeat_interleave(x[0], 2, 1) + repeat_interleave(x[0], i64({0, 3, 3}, {3}), 1) +
           repeat_interleave(x[0], 2).reshape({2, 6});
  };
  check("repeat, tile, repeat_interleave, tensor_split", repeated, {any_input({2, 3})});
  check_second_order("repeat, tile, repeat_interleave, tensor_split",
                     [repeated](const std::vector<Tensor>& x) { return tanh(repeated(x)); },
                     {any_input({2, 3})});
  const Fn diagonals = [](const std::vector<Tensor>& x) {
    const auto grid = meshgrid({x[1], x[1].narrow(0, 0, 2), x[1][0]});
    return diagonal(x[0], 1, 2, 0).sum({0}) * trace(x[0], -1, 1, 2).sum() +
           diag(diag(x[0][0], -1) * 2.0).sum() + diag(x[1], 1).diagonal(1).sum() +
           grid[0].sum({2}) * grid[1].sum({2}) + grid[2].sum();
  };
  check("diagonal, diag, trace, meshgrid", diagonals, {any_input({2, 3, 4}), any_input({3})});
  check_second_order("diagonal, diag, trace, meshgrid",
                     [diagonals](const std::vector<Tensor>& x) { return tanh(diagonals(x)); },
                     {any_input({2, 3, 4}), any_input({3})});
  const Fn triangles = [](const std::vector<Tensor>& x) {
    return tril(x[0], 1) * triu(x[0], -1) + tril(x[0].index({NewAxis}), -2)[0];
  };
  check("tril, triu", triangles, {any_input({3, 4})});
  check_second_order("tril, triu",
                     [triangles](const std::vector<Tensor>& x) { return tanh(triangles(x)); },
                     {any_input({3, 4})});
  const Fn moved = [](const std::vector<Tensor>& x) {
    return flip(x[0], {0}) * roll(x[0], 2, 1) + moveaxis(swapaxes(x[0], 0, 1), 0, 1) +
           vstack({x[0][0], x[0][1]}) * hstack({x[0].narrow(1, 0, 1), x[0].narrow(1, 1, 3)});
  };
  check("flip, roll, moveaxis, swapaxes, vstack, hstack", moved, {any_input({2, 4})});
  check_second_order("flip, roll, moveaxis, swapaxes, vstack, hstack",
                     [moved](const std::vector<Tensor>& x) { return tanh(moved(x)); },
                     {any_input({2, 4})});
  check("split, chunk, unbind",
        [](const std::vector<Tensor>& x) {
          const auto p = split(x[0], 2, 1);
          const auto q = split(x[0], std::vector<int64_t>{1, 3, 1}, 1);
          const auto c = chunk(x[0], 2, 0);
          const auto u = unbind(x[0], 0);
          return p[0].sum() * 2.0 + p[2].sum() + q[1] * q[1] + c[1].sum() + u[2].sum() * 3.0;
        },
        {any_input({3, 5})});
}

void rows_ShapeOps() {
  auto f = [](std::function<Tensor(const Tensor&)> g) {
    return [g](const std::vector<Tensor>& x) { return g(x[0]); };
  };
  check("reshape", f([](const Tensor& t) {
          return t.reshape({4, -1}) * 1.5;
        }),
        {any_input({2, 3, 4})});
  check("reshape of a transpose", f([](const Tensor& t) { return t.T().reshape({-1}); }),
        {any_input({3, 4})});
  check("flatten", f([](const Tensor& t) { return t.flatten(); }), {any_input({2, 3, 4})});
  check("transpose", f([](const Tensor& t) { return t.transpose(0, -1); }), {any_input({2, 3, 4})});
  check("T", f([](const Tensor& t) { return t.T(); }), {any_input({2, 3, 4})});
  check("mT", f([](const Tensor& t) { return t.mT(); }), {any_input({2, 3, 4})});
  check("permute", f([](const Tensor& t) {
          return t.permute({1, -1, 0});
        }),
        {any_input({2, 3, 4})});
  check("squeeze", f([](const Tensor& t) { return t.squeeze(1); }), {any_input({2, 1, 4})});
  check("squeeze", f([](const Tensor& t) { return t.squeeze(-1); }), {any_input({3, 1})});
  check("unsqueeze", f([](const Tensor& t) { return t.unsqueeze(0) * t.unsqueeze(-1); }),
        {any_input({4})});
  check("broadcast_to", f([](const Tensor& t) {
          return t.broadcast_to({2, 3, 4});
        }),
        {any_input({3, 1})});
  check("broadcast_to", f([](const Tensor& t) {
          return t.broadcast_to({3, 3, 3}) * t;
        }),
        {any_input({3, 1, 3})});
  check("sum_to", f([](const Tensor& t) { return sum_to(t, {3, 1}); }), {any_input({2, 3, 4})});
  check("contiguous", f([](const Tensor& t) { return t.T().contiguous(); }), {any_input({3, 4})});
  check("contiguous", f([](const Tensor& t) { return t.clone() * t; }), {any_input({3, 4})});
  // f64 -> f32 -> f64 loses precision, so this row takes a wider step.
  check("to", f([](const Tensor& t) { return t.to(DType::f32).to(DType::f64) * 2.0; }),
        {any_input({3, 4})}, 1e-2, 1e-4, 1e-3);
}

void rows_Matmul() {
  const auto& cases = matmul_cases();
  for (const auto& [a, b] : cases) {
    check("matmul", [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); },
          {any_input(a), any_input(b)});
    check("matmul of transposed views",
          [](const std::vector<Tensor>& x) { return matmul(x[0].T().T(), x[1]); },
          {any_input(a), any_input(b)});
  }
  check("Tensor::matmul", [](const std::vector<Tensor>& x) { return x[0].matmul(x[1].mT()); },
        {any_input({3, 4}), any_input({2, 4})});
  // Contractions: einsum over each kind of label (batch, contracted, summed alone, repeated,
  // broadcast "..."), to first and second order; the others are written with it or tensordot.
  const std::vector<std::pair<std::string, std::vector<Shape>>> einsums = {
      {"ij,jk->ik", {{3, 4}, {4, 2}}},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 2}}},
      {"ij->ji", {{3, 4}}},
      {"ii->i", {{3, 3}}},
      {"ii", {{3, 3}}},
      {"ij,ij->", {{3, 4}, {3, 4}}},
      {"i,j", {{3}, {4}}},
      {"ijk,k->ij", {{2, 3, 4}, {4}}},
      {"...ij,...jk", {{2, 1, 3, 4}, {3, 4, 2}}},
      {"ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 2}}},
      {"iij,jk->ik", {{3, 3, 2}, {2, 4}}},
      {"ab,cd->", {{2, 3}, {3, 2}}},
      {"i...->...", {{3, 2, 2}}},
      {"bi,bi->b", {{3, 1}, {1, 4}}}};
  for (const auto& [subscripts, shapes] : einsums) {
    const std::string sub = subscripts;
    auto fn = [sub](const std::vector<Tensor>& x) { return einsum(sub, x); };
    std::vector<Tensor> inputs;
    for (const Shape& sh : shapes) inputs.push_back(any_input(sh));
    check("einsum " + sub, fn, inputs);
    check_second_order(
        "einsum " + sub, [fn](const std::vector<Tensor>& x) { return tanh(fn(x)); }, inputs);
  }
  check("tensordot",
        [](const std::vector<Tensor>& x) {
          return tensordot(x[0], x[1], {0, 2}, {2, 0});
        },
        {any_input({2, 3, 4}), any_input({4, 5, 2})});
  check("tensordot dims", [](const std::vector<Tensor>& x) { return tensordot(x[0], x[1], 1); },
        {any_input({2, 3}), any_input({3, 4, 2})});
  check("dot", [](const std::vector<Tensor>& x) { return dot(x[0], x[1]); },
        {any_input({2, 3, 4}), any_input({5, 4, 2})});
  check("dot of vectors", [](const std::vector<Tensor>& x) { return dot(x[0], x[1]); },
        {any_input({4}), any_input({4})});
  check("vdot", [](const std::vector<Tensor>& x) { return vdot(x[0], x[1]); },
        {any_input({2, 3}), any_input({3, 2})});
  check("inner", [](const std::vector<Tensor>& x) { return inner(x[0], x[1]); },
        {any_input({2, 3}), any_input({4, 3})});
  check("outer", [](const std::vector<Tensor>& x) { return outer(x[0], x[1]); },
        {any_input({3}), any_input({2, 2})});
  check("kron", [](const std::vector<Tensor>& x) { return kron(x[0], x[1]); },
        {any_input({2, 3}), any_input({3, 1, 2})});
  check_second_order("kron", [](const std::vector<Tensor>& x) { return tanh(kron(x[0], x[1])); },
                     {any_input({2, 2}), any_input({2, 3})});
}

// The decompositions, through functions of their results that do not depend on the signs of the
// eigenvectors and singular vectors: w and V diag(f(w)) V^T for eigh (of x + x^T, symmetric);
// S, U diag(f(S)) Vh, U diag(S) U^T and V diag(S) Vh for svd. QR's factors are unique given
// LAPACK's sign convention, smooth for these inputs.
void rows_LinalgDecompositions() {
  using V = std::vector<Tensor>;
  auto flat = [](const V& parts) {
    V f;
    for (const Tensor& p : parts) f.push_back(p.flatten());
    return cat(f);
  };
  auto both_orders = [](const std::string& row, const Fn& fn, const V& inputs) {
    check(row, fn, inputs);
    check_second_order(
        row, [fn](const V& x) { return tanh(fn(x)); }, inputs);
  };
  for (const Shape& s : {Shape{4, 3}, Shape{3, 3}, Shape{3, 5}, Shape{2, 4, 3}, Shape{2, 3, 5}})
    for (const std::string mode : {"reduced", "r", "complete"}) {
      if (mode == "complete" && s[s.size() - 2] > s.back()) continue;
      both_orders("linalg::qr " + mode,
                  [flat, mode](const V& x) {
                    const auto [Q, R] = linalg::qr(x[0], mode);
                    return mode == "r" ? R : flat({Q, R});
                  },
                  {any_input(s)});
    }
  auto sym = [](const Tensor& x) { return x + x.mT(); };
  for (const Shape& s : {Shape{3, 3}, Shape{2, 4, 4}}) {
    both_orders("linalg::eigh",
                [flat, sym](const V& x) {
                  const auto [w, Vec] = linalg::eigh(sym(x[0]));
                  return flat({w, matmul(Vec * tanh(w).unsqueeze(-2), Vec.mT())});
                },
                {any_input(s)});
    both_orders("linalg::eigh upper",
                [flat, sym](const V& x) {
                  const auto [w, Vec] = linalg::eigh(sym(x[0]), "U");
                  return flat({w * 2.0, matmul(Vec * w.unsqueeze(-2), Vec.mT())});
                },
                {any_input(s)});
    both_orders("linalg::eigvalsh", [sym](const V& x) { return linalg::eigvalsh(sym(x[0])); },
                {any_input(s)});
  }
  for (const Shape& s : {Shape{4, 3}, Shape{3, 3}, Shape{3, 5}, Shape{2, 4, 3}, Shape{2, 3, 4}})
    for (bool full : {false, true}) {
      const int64_t k = std::min(s[s.size() - 2], s.back());
      both_orders(std::string("linalg::svd") + (full ? " full" : ""),
                  [flat, full, k](const V& x) {
                    const auto [U0, S, Vh0] = linalg::svd(x[0], full);
                    const Tensor U = U0.narrow(-1, 0, k), Vh = Vh0.narrow(-2, 0, k);
                    return flat({S, matmul(U * tanh(S).unsqueeze(-2), Vh),
                                 matmul(U * S.unsqueeze(-2), U.mT()),
                                 matmul(Vh.mT() * S.unsqueeze(-2), Vh)});
                  },
                  {any_input(s)});
    }
  for (const Shape& s : {Shape{4, 3}, Shape{3, 5}, Shape{2, 3, 3}}) {
    both_orders("linalg::svdvals", [](const V& x) { return linalg::svdvals(x[0]); },
                {any_input(s)});
    both_orders("linalg::pinv", [](const V& x) { return linalg::pinv(x[0]); }, {any_input(s)});
  }
  for (const auto& [a, b] : std::vector<std::pair<Shape, Shape>>{
           {{4, 3}, {4, 2}}, {{3, 5}, {3, 2}}, {{2, 4, 3}, {4}}, {{4, 4}, {2, 4, 3}}})
    both_orders("linalg::lstsq", [](const V& x) { return linalg::lstsq(x[0], x[1]); },
                {any_input(a), any_input(b)});
  const double inf = std::numeric_limits<double>::infinity();
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{-2, -1}, {2, 0}}) {
    for (const std::string ord : {"fro", "nuc"})
      both_orders("linalg::matrix_norm " + ord,
                  [ord, dims](const V& x) { return linalg::matrix_norm(x[0], ord, dims); },
                  {any_input({2, 3, 4})});
    for (double ord : {2.0, -2.0, 1.0, -1.0, inf, -inf})
      both_orders("linalg::matrix_norm " + std::to_string(ord),
                  [ord, dims](const V& x) { return linalg::matrix_norm(x[0], ord, dims, true); },
                  {any_input({2, 3, 4})});
  }
}

// Linear algebra on well-conditioned matrices (a random matrix plus a multiple of the
// identity); Cholesky of M M^T + n I, so that a perturbation of M keeps the input symmetric.
void rows_Linalg() {
  auto conditioned = [](const Shape& s) { return any_input(s) + 3.0 * eye(s.back(), DType::f64); };
  using V = std::vector<Tensor>;
  for (const auto& [a, b] : std::vector<std::pair<Shape, Shape>>{
           {{3, 3}, {3, 2}}, {{2, 3, 3}, {3, 2}}, {{3, 3}, {2, 1, 3, 4}}, {{3, 3}, {3}}}) {
    check("linalg::solve", [](const V& x) { return linalg::solve(x[0], x[1]); },
          {conditioned(a), any_input(b)});
    check_second_order("linalg::solve", [](const V& x) { return tanh(linalg::solve(x[0], x[1])); },
                       {conditioned(a), any_input(b)});
  }
  check("linalg::inv", [](const V& x) { return linalg::inv(x[0]); }, {conditioned({2, 3, 3})});
  check_second_order("linalg::inv", [](const V& x) { return tanh(linalg::inv(x[0])); },
                     {conditioned({3, 3})});
  check("linalg::det", [](const V& x) { return linalg::det(x[0]); }, {conditioned({2, 3, 3})});
  check_second_order("linalg::det", [](const V& x) { return tanh(linalg::det(x[0]) * 0.01); },
                     {conditioned({3, 3})});
  check("linalg::slogdet", [](const V& x) { return linalg::slogdet(x[0]).second; },
        {conditioned({2, 3, 3}) * -1.0});
  check_second_order("linalg::slogdet",
                     [](const V& x) { return tanh(linalg::slogdet(x[0]).second); },
                     {conditioned({3, 3})});
  auto spd = [](const Tensor& m) { return matmul(m, m.mT()) + 3.0 * eye(m.size(-1), DType::f64); };
  for (bool upper : {false, true}) {
    check("linalg::cholesky",
          [spd, upper](const V& x) { return linalg::cholesky(spd(x[0]), upper); },
          {any_input({2, 3, 3})});
    check_second_order(
        "linalg::cholesky",
        [spd, upper](const V& x) { return tanh(linalg::cholesky(spd(x[0]), upper)); },
        {any_input({3, 3})});
    check("linalg::cholesky_solve",
          [spd, upper](const V& x) {
            return linalg::cholesky_solve(x[1], linalg::cholesky(spd(x[0]), upper), upper);
          },
          {any_input({3, 3}), any_input({3, 2})});
    for (bool left : {true, false})
      for (bool unit : {false, true}) {
        const Shape b = left ? Shape{2, 3, 2} : Shape{2, 2, 3};
        auto fn = [upper, left, unit](const V& x) {
          return linalg::solve_triangular(x[0], x[1], upper, left, unit);
        };
        check("linalg::solve_triangular", fn, {conditioned({3, 3}), any_input(b)});
        check_second_order("linalg::solve_triangular", [fn](const V& x) { return tanh(fn(x)); },
                           {conditioned({3, 3}), any_input(b)});
      }
  }
  for (int64_t n : {-2, 0, 1, 3})
    check("linalg::matrix_power", [n](const V& x) { return linalg::matrix_power(x[0], n) + x[0]; },
          {conditioned({2, 3, 3})});
  rows_LinalgDecompositions();
}

// The function table's rows (ndgrad/function_table.def) as test data: each case's arguments.
namespace fn_table {

using namespace functions::cases;  // Arg, Case and the cases column's S, N, C, I, M, K, Str

// The domain column: op_table.def's value domains, and the matrix domains, which the check
// maps its inputs onto (so that a perturbation stays a symmetric, SPD or triangular matrix).
enum class Matrix { none, conditioned, symmetric, spd, triangular_second };
struct RowDomain {
  kernels::Domain values;
  Matrix matrix;
};
namespace domains {
using kernels::Domain;
constexpr RowDomain any{Domain::any, Matrix::none}, positive{Domain::positive, Matrix::none},
    unit{Domain::unit, Matrix::none}, small{Domain::small, Matrix::none},
    above_one{Domain::above_one, Matrix::none}, probability{Domain::probability, Matrix::none},
    off_integers{Domain::off_integers, Matrix::none}, off_three{Domain::off_three, Matrix::none},
    integers{Domain::integers, Matrix::none}, specials{Domain::specials, Matrix::none},
    conditioned{Domain::any, Matrix::conditioned}, symmetric{Domain::any, Matrix::symmetric},
    spd{Domain::any, Matrix::spd}, triangular_second{Domain::any, Matrix::triangular_second};
}  // namespace domains

struct Row {
  const functions::Function* fn;
  RowDomain domain;
  std::vector<Case> cases;
};
const std::vector<Row>& rows() {
  static const std::vector<Row> out = [] {
    std::vector<Row> r;
    size_t i = 0;
#define NDGRAD_UNPAREN(...) \
  { __VA_ARGS__ }
#define NDGRAD_FUNCTION(name, form, domain, gradient, fuzz, cases, ...) \
  r.push_back(                                                          \
      {&functions::kFunctions[i++], domains::domain, std::vector<Case> NDGRAD_UNPAREN cases});
#include "ndgrad/function_table.def"
#undef NDGRAD_UNPAREN
    return r;
  }();
  return out;
}

// One call of a row: its checked inputs and the function of them (the constants inside).
struct Prepared {
  std::string name;
  std::vector<Tensor> inputs;
  Fn f;
};
// The axes, axis and keepdims choices a form is checked over, for an input of rank ndim.
std::vector<functions::Call> axis_choices(functions::Form::Kind form, int64_t ndim) {
  using functions::Form;
  std::vector<functions::Call> out(1);  // no axis
  auto with = [&](std::vector<int64_t> ints, bool keepdims) {
    functions::Call c;
    c.ints = std::move(ints);
    c.has_ints = true;
    c.keepdims = keepdims;
    out.push_back(c);
  };
  if (form == Form::axes) {
    out.back().keepdims = true;
    out.emplace_back();
    for (bool keep : {false, true}) {
      if (ndim >= 1) with({-1}, keep);
      if (ndim >= 2) with({0, -1}, keep);
    }
  } else if (form == Form::axis) {
    if (ndim >= 1) {
      with({0}, false);
      with({-1}, false);
    }
  } else if (form == Form::axis_keepdims) {
    for (bool keep : {false, true})
      if (ndim >= 1) {
        with({0}, keep);
        with({-1}, keep);
      }
  }
  return out;
}
std::vector<Prepared> prepare(const Row& row, const Case& cs) {
  functions::Call base;
  std::vector<size_t> slots;  // where each checked input goes in base.x
  std::vector<Tensor> inputs;
  std::string text;
  for (const Arg& a : cs) {
    switch (a.kind) {
      case Arg::input: {
        const bool first = inputs.empty();
        Tensor t = input_for(row.domain.values, a.shape, first);
        if (row.domain.matrix == Matrix::conditioned && first && !a.shape.empty())
          t = t + 3.0 * eye(a.shape.back(), DType::f64);
        slots.push_back(base.x.size());
        base.x.push_back(Tensor());
        inputs.push_back(t);
        text += " " + shape_str(a.shape);
        break;
      }
      case Arg::number:
        base.x.push_back(scalar(a.values[0], DType::f64));
        text += " " + std::to_string(a.values[0]);
        break;
      case Arg::constant:
        base.x.push_back(tensor(a.values, {static_cast<int64_t>(a.values.size())}, DType::f64));
        text += " [constant]";
        break;
      case Arg::indices:
      case Arg::mask: {
        int64_t numel = 1;
        for (int64_t d : a.shape) numel *= d;
        std::vector<double> v;
        for (int64_t i = 0; i < numel; ++i)  // repeated indices; masks with both values
          v.push_back(a.kind == Arg::indices ? static_cast<double>((i * 5 + 2) % a.n)
                                             : static_cast<double>(i % 3 != 1));
        base.x.push_back(tensor(v, a.shape, a.kind == Arg::indices ? DType::i64 : DType::boolean));
        text += " " + shape_str(a.shape) + (a.kind == Arg::indices ? " indices" : " mask");
        break;
      }
      case Arg::ints:
        for (double v : a.values) base.ints.push_back(static_cast<int64_t>(v));
        base.has_ints = true;
        text += " ints";
        break;
      case Arg::text:
        base.text = a.s;
        text += " \"" + a.s + "\"";
        break;
    }
  }
  const int64_t ndim = inputs.empty() ? 0 : inputs[0].ndim();
  std::vector<Prepared> out;
  for (const functions::Call& choice : axis_choices(row.fn->form.kind, ndim)) {
    functions::Call c = base;
    std::string name = std::string(row.fn->name) + text;
    if (choice.has_ints || choice.keepdims) {
      c.ints = choice.ints;
      c.has_ints = choice.has_ints;
      c.keepdims = choice.keepdims;
      name += " axes";
      for (int64_t a : choice.ints) name += " " + std::to_string(a);
      if (choice.keepdims) name += " keepdims";
    }
    const functions::Function* fn = row.fn;
    const Matrix matrix = row.domain.matrix;
    Fn f = [fn, c, slots, matrix](const std::vector<Tensor>& in) {
      functions::Call call = c;
      for (size_t k = 0; k < slots.size(); ++k) {
        Tensor t = in[k];
        if (matrix == Matrix::symmetric && k == 0) t = t + t.mT();
        if (matrix == Matrix::spd && k == 0)
          t = matmul(t, t.mT()) + 3.0 * eye(t.size(-1), DType::f64);
        if (matrix == Matrix::triangular_second && k == 1)
          t = tril(t) + 3.0 * eye(t.size(-1), DType::f64);
        call.x[slots[k]] = t;
      }
      return fn->call(call);
    };
    out.push_back({name, inputs, f});
  }
  return out;
}

}  // namespace fn_table

// Every row of the function table (include/ndgrad/function_table.def), from its own columns:
// each case (over the axes and keepdims the form takes) to first and second order, inputs from
// the row's domain and random upstream gradients; the second order through sin, so that a linear
// function's rule is differentiated too. A no_grad row's result must not require grad.
void rows_FunctionTable() {
  ASSERT_EQ(fn_table::rows().size(), functions::kNumFunctions);
  size_t checked = 0;
  for (const fn_table::Row& row : fn_table::rows()) {
    ASSERT_FALSE(row.cases.empty()) << row.fn->name;
    for (const fn_table::Case& cs : row.cases)
      for (const fn_table::Prepared& p : fn_table::prepare(row, cs)) {
        if (!row.fn->differentiable) {
          std::vector<Tensor> probes;
          for (const Tensor& t : p.inputs) probes.push_back(t.detach().requires_grad_());
          EXPECT_FALSE(p.f(probes).requires_grad()) << p.name << ": a no_grad row's result";
          continue;
        }
        check(p.name, p.f, p.inputs);
        ++checked;
        const Fn f = p.f;
        check_second_order(
            p.name, [f](const std::vector<Tensor>& x) { return sin(f(x)); }, p.inputs);
      }
  }
  EXPECT_GT(checked, 2 * functions::kNumFunctions);
}

void rows_Composites() {
  // A two-layer network with its bias broadcasts: the founding texts' model.
  check("two-layer net",
        [](const std::vector<Tensor>& x) {
          Tensor h1 = relu(matmul(x[0], x[1]) + x[2]);
          return matmul(h1, x[3]) + x[4];
        },
        {any_input({5, 4}), any_input({4, 3}), any_input({3}), any_input({3, 2}), any_input({2})});
  const Tensor labels = tensor({2, 0, 3, 1, 3}, {5}, DType::i64);
  check("cross_entropy",
        [labels](const std::vector<Tensor>& x) { return nn::cross_entropy(x[0] * x[1], labels); },
        {any_input({5, 4}), any_input({4})});
  // Its one derivative reads the forward's softmax, which carries its own history.
  check_second_order(
      "cross_entropy",
      [labels](const std::vector<Tensor>& x) { return nn::cross_entropy(x[0] * x[1], labels); },
      {any_input({5, 4}), any_input({4})});
  check(
      "log_softmax and softmax",
      [](const std::vector<Tensor>& x) { return nn::log_softmax(x[0], 0) * nn::softmax(x[0], -1); },
      {any_input({3, 4})});
  check("mse_loss", [](const std::vector<Tensor>& x) { return nn::mse_loss(x[0], x[1] * 2.0); },
        {any_input({3, 4}), any_input({3, 4})});
  check("softmax-like",
        [](const std::vector<Tensor>& x) { return exp(x[0] - logsumexp(x[0], {-1}, true)); },
        {any_input({3, 4})});
}

TEST(GradientTable, OpTableRowsToFirstAndSecondOrder) { rows_OpTable(); }
TEST(GradientTable, BinaryOpsOverEveryBroadcastPair) { rows_BinaryOpsOverEveryBroadcastPair(); }
TEST(GradientTable, ScalarOperandForms) { rows_ScalarOperandForms(); }
TEST(GradientTable, Parameterized) { rows_Parameterized(); }
TEST(GradientTable, ReductionsOverAxesAndKeepdims) { rows_ReductionsOverAxesAndKeepdims(); }
TEST(GradientTable, ShapeOps) { rows_ShapeOps(); }
TEST(GradientTable, ReductionsAndScans) { rows_ReductionsAndScans(); }
TEST(GradientTable, Indexing) { rows_Indexing(); }
TEST(GradientTable, Matmul) { rows_Matmul(); }
TEST(GradientTable, Linalg) { rows_Linalg(); }
TEST(GradientTable, Composites) { rows_Composites(); }
TEST(GradientTable, FunctionTableRowsToFirstAndSecondOrder) { rows_FunctionTable(); }

// Runs every row, then checks that every op with a backward rule appeared in a checked graph.
TEST(GradientTable, EveryDifferentiableOpHasARow) {
  covered().clear();
  rows_OpTable();
  rows_BinaryOpsOverEveryBroadcastPair();
  rows_ScalarOperandForms();
  rows_Parameterized();
  rows_ReductionsOverAxesAndKeepdims();
  rows_ReductionsAndScans();
  rows_ShapeOps();
  rows_Indexing();
  rows_Matmul();
  rows_Linalg();
  rows_Composites();
  rows_FunctionTable();
  for (const std::string& name : differentiable_ops())
    EXPECT_TRUE(covered().count(name)) << "op '" << name << "' has a backward rule but no row in "
                                       << "the gradient table";
  EXPECT_GE(differentiable_ops().size(), 25u);
}
