// Differential test: every op's forward value and input gradients equal PyTorch's (libtorch),
// in float64, on random inputs with a random upstream gradient, across broadcast pairs.
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <random>
#include <tuple>

#include "kernels/cpu/op_info.hpp"
#include "test_util.hpp"

using namespace ndgrad::testing;
namespace nd = ndgrad;

namespace {

torch::Tensor to_torch(const nd::Tensor& t) {
  std::vector<double> v = t.to_vector();
  std::vector<int64_t> shape = t.shape();
  return torch::tensor(v, torch::kFloat64).reshape(shape).clone();
}

// t in libtorch's counterpart of its dtype (to_torch gives float64).
torch::Tensor to_torch_as(const nd::Tensor& t) {
  switch (t.dtype()) {
    case nd::DType::i64:
      return to_torch(t).to(torch::kLong);
    case nd::DType::boolean:
      return to_torch(t).to(torch::kBool);
    case nd::DType::f32:
      return to_torch(t).to(torch::kFloat32);
    default:
      return to_torch(t);
  }
}

// An index or mask tensor in libtorch's dtype for it.
torch::Tensor to_torch_index(const nd::Tensor& t) {
  return to_torch(t).to(t.dtype() == nd::DType::boolean ? torch::kBool : torch::kLong);
}

void expect_same(const nd::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined()) << what;
  ASSERT_EQ(a.shape(), nd::Shape(b.sizes().begin(), b.sizes().end())) << what;
  torch::Tensor bc = b.contiguous().to(torch::kFloat64);
  std::vector<double> av = a.to_vector();
  const double* bp = bc.data_ptr<double>();
  for (size_t i = 0; i < av.size(); ++i) {
    if (std::isnan(av[i]) && std::isnan(bp[i])) continue;  // both NaN: they agree
    if (std::isinf(bp[i])) {
      ASSERT_EQ(av[i], bp[i]) << what << " at flat index " << i;
      continue;
    }
    ASSERT_NEAR(av[i], bp[i], 1e-10 * (1 + std::fabs(bp[i]))) << what << " at flat index " << i;
  }
}

using NdFn = std::function<nd::Tensor(const std::vector<nd::Tensor>&)>;
using TorchFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

void compare(const std::string& name, const NdFn& f, const TorchFn& g,
             const std::vector<nd::Tensor>& inputs, uint64_t seed) {
  std::vector<nd::Tensor> xs;
  std::vector<torch::Tensor> ts;
  for (const auto& x : inputs) {
    xs.push_back(x.detach().requires_grad_());
    ts.push_back(to_torch(x).requires_grad_(true));
  }
  nd::Tensor y = f(xs);
  torch::Tensor ty = g(ts);
  expect_same(y, ty, name + " forward");
  nd::Tensor upstream = nd::randn(y.shape(), seed, nd::DType::f64);
  y.backward(upstream);
  ty.backward(to_torch(upstream));
  for (size_t i = 0; i < xs.size(); ++i)
    expect_same(xs[i].grad(), ts[i].grad(), name + " gradient of input " + std::to_string(i));
}

const std::vector<nd::Shape>& kShapes = table_shapes();

}  // namespace

// where, and the operators as spellings of their table rows (OpTableRows checks the rows).
TEST(VsTorch, WhereAndOperatorsOverBroadcastPairs) {
  const std::vector<std::tuple<std::string, NdFn, TorchFn>> rows = {
      {"where", [](auto& x) { return nd::where(x[0] > x[1], x[0], x[1] * 2.0); },
       [](auto& x) { return torch::where(x[0] > x[1], x[0], x[1] * 2.0); }},
      {"+", [](auto& x) { return x[0] + x[1]; }, [](auto& x) { return x[0] + x[1]; }},
      {"-", [](auto& x) { return 2.0 - x[0] - x[1]; }, [](auto& x) { return 2.0 - x[0] - x[1]; }},
      {"*", [](auto& x) { return x[0] * x[1] * 3; }, [](auto& x) { return x[0] * x[1] * 3; }},
      {"/", [](auto& x) { return x[0] / x[1] / 2.0; }, [](auto& x) { return x[0] / x[1] / 2.0; }},
  };
  uint64_t seed = 1;
  for (const auto& [name, f, g] : rows)
    for (const auto& [a, b] : broadcast_pairs())
      compare(name + " " + nd::shape_str(a) + " " + nd::shape_str(b), f, g,
              {away_from_zero(a, ++seed), away_from_zero(b, ++seed)}, ++seed);
}

// NumPy's floor division, as torch::div(a, b, "floor"): every sign combination, over broadcast
// pairs, in floating and integer dtypes (no integer divisor of 0: libtorch refuses it).
TEST(VsTorch, FloorDivideOverBroadcastPairs) {
  uint64_t seed = 50;
  for (const auto& [a, b] : broadcast_pairs()) {
    const nd::Tensor x = away_from_zero(a, ++seed) * 7.0, y = away_from_zero(b, ++seed) * 2.0;
    const std::string what = "floor_divide " + nd::shape_str(a) + " " + nd::shape_str(b);
    expect_same(nd::floor_divide(x, y), torch::div(to_torch(x), to_torch(y), "floor"), what);
    const nd::Tensor xi = x.to(nd::DType::i64), yi = y.to(nd::DType::i64);
    const nd::Tensor yi_safe = nd::where(yi == 0, nd::full(yi.shape(), 3.0, nd::DType::i64), yi);
    expect_same(
        nd::floor_divide(xi, yi_safe),
        torch::div(to_torch(xi).to(torch::kLong), to_torch(yi_safe).to(torch::kLong), "floor"),
        what + " i64");
  }
}

// libtorch's spelling of a table row is found by argument-dependent lookup (at::exp for
// exp(x) on torch tensors). Where libtorch's function of that name means something else, these
// overloads, taking non-const references (the rows call them on local copies), are the better
// match and win.
torch::Tensor equal(torch::Tensor& a, torch::Tensor& b) { return torch::eq(a, b); }
torch::Tensor floor_divide(torch::Tensor& a, torch::Tensor& b) { return torch::div(a, b, "floor"); }
torch::Tensor relu_backward(torch::Tensor& g, torch::Tensor& x) {
  return torch::threshold_backward(g, x, 0);
}

torch::Tensor cbrt(torch::Tensor& x) { return torch::sign(x) * torch::pow(torch::abs(x), 1.0 / 3); }
torch::Tensor gelu_tanh(torch::Tensor& x) { return torch::gelu(x, "tanh"); }
// libtorch 1.13's hardsigmoid_backward multiplies by 1.0f / 6.0f in every dtype (3e-8 off in
// float64); relu6(x + 3) / 6 is the same function, its gradient 1/6 exactly and, as
// hardsigmoid's, 0 at -3 and 3 (hardtanh_backward's bounds are excluded).
torch::Tensor hardsigmoid(torch::Tensor& x) { return torch::hardtanh(x + 3, 0, 6) / 6; }

// libtorch shifts with C++'s operators, undefined for counts outside [0, 64); ndgrad's are
// NumPy's there (every bit shifted out). The in-range counts compare as they are.
torch::Tensor left_shift(torch::Tensor& a, torch::Tensor& b) {
  const auto in_range = (b >= 0).logical_and(b < 64);
  return torch::where(in_range, torch::bitwise_left_shift(a, b.clamp(0, 63)), torch::zeros_like(a));
}
torch::Tensor right_shift(torch::Tensor& a, torch::Tensor& b) {
  const auto in_range = (b >= 0).logical_and(b < 64);
  return torch::where(in_range, torch::bitwise_right_shift(a, b.clamp(0, 63)),
                      torch::where(a < 0, -torch::ones_like(a), torch::zeros_like(a)));
}

// Every row of the op table: forward values and (for differentiable rows) gradients equal
// libtorch's, unary rows over every shape, binary rows over every broadcasting pair.
TEST(VsTorch, OpTableRows) {
  using nd::kernels::BinaryOp;
  using nd::kernels::UnaryOp;
  uint64_t seed = 5000;
  auto run = [&](const std::string& name, bool differentiable, const NdFn& f, const TorchFn& g,
                 const std::vector<nd::Tensor>& inputs) {
    if (differentiable) return compare(name, f, g, inputs, ++seed);
    std::vector<torch::Tensor> ts;
    for (const auto& x : inputs) ts.push_back(to_torch_as(x));
    expect_same(f(inputs), g(ts), name + " forward");
  };
#define NDGRAD_UNARY_OP(name, ...)                                                                 \
  for (const auto& s : kShapes) {                                                                  \
    const auto& info = nd::kernels::info(UnaryOp::name);                                           \
    run(                                                                                           \
        #name " " + nd::shape_str(s), info.differentiable, [](auto& x) { return nd::name(x[0]); }, \
        [](auto& x) {                                                                              \
          auto t = x[0];                                                                           \
          return name(t);                                                                          \
        },                                                                                         \
        {row_input(info.domain, s, true, ++seed)});                                                \
  }
#define NDGRAD_BINARY_OP(name, ...)                                                           \
  for (const auto& [a, b] : broadcast_pairs()) {                                              \
    const auto& info = nd::kernels::info(BinaryOp::name);                                     \
    run(                                                                                      \
        #name " " + nd::shape_str(a) + " " + nd::shape_str(b), info.differentiable,           \
        [](auto& x) { return nd::name(x[0], x[1]); },                                         \
        [](auto& x) {                                                                         \
          auto t = x[0], u = x[1];                                                            \
          return name(t, u);                                                                  \
        },                                                                                    \
        {row_input(info.domain, a, true, ++seed), row_input(info.domain, b, false, ++seed)}); \
  }
#include "ndgrad/op_table.def"
}

TEST(VsTorch, UnaryOps) {
  uint64_t seed = 100;
  for (const auto& s : kShapes) {
    compare(
        "exp", [](auto& x) { return nd::exp(x[0]); }, [](auto& x) { return torch::exp(x[0]); },
        {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "tanh", [](auto& x) { return nd::tanh(x[0]); }, [](auto& x) { return torch::tanh(x[0]); },
        {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "sigmoid", [](auto& x) { return nd::sigmoid(x[0]); },
        [](auto& x) { return torch::sigmoid(x[0]); }, {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "relu", [](auto& x) { return nd::relu(x[0]); }, [](auto& x) { return torch::relu(x[0]); },
        {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "abs", [](auto& x) { return nd::abs(x[0]); }, [](auto& x) { return torch::abs(x[0]); },
        {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "neg", [](auto& x) { return -x[0]; }, [](auto& x) { return -x[0]; },
        {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "log", [](auto& x) { return nd::log(x[0]); }, [](auto& x) { return torch::log(x[0]); },
        {uniform(s, ++seed, 0.5, 2)}, ++seed);
    compare(
        "sqrt", [](auto& x) { return nd::sqrt(x[0]); }, [](auto& x) { return torch::sqrt(x[0]); },
        {uniform(s, ++seed, 0.5, 2)}, ++seed);
    compare(
        "pow 2.5", [](auto& x) { return nd::pow(x[0], 2.5); },
        [](auto& x) { return torch::pow(x[0], 2.5); }, {uniform(s, ++seed, 0.5, 2)}, ++seed);
  }
}

// libtorch's reduction for each reduction row of the op table, where its name differs: a row
// without one here does not compile.
namespace torch_reductions {
torch::Tensor sum(const torch::Tensor& x, at::IntArrayRef axes, bool keep) {
  return x.sum(axes, keep);
}
torch::Tensor max(const torch::Tensor& x, at::IntArrayRef axes, bool keep) {
  return torch::amax(x, axes, keep);
}
torch::Tensor min(const torch::Tensor& x, at::IntArrayRef axes, bool keep) {
  return torch::amin(x, axes, keep);
}
// libtorch's prod takes one dim: the axes one at a time, the last first.
torch::Tensor prod(const torch::Tensor& x, at::IntArrayRef axes, bool keep) {
  std::vector<int64_t> a(axes.begin(), axes.end());
  if (a.empty())
    for (int64_t d = 0; d < x.dim(); ++d) a.push_back(d);
  for (auto& d : a)
    if (d < 0) d += x.dim();
  std::sort(a.rbegin(), a.rend());
  torch::Tensor r = x;
  for (int64_t d : a) r = r.prod(d, keep);
  return r;
}
}  // namespace torch_reductions

TEST(VsTorch, Reductions) {
  using Mine = nd::Tensor (*)(const nd::Tensor&, const std::vector<int64_t>&, bool);
  using Theirs = torch::Tensor (*)(const torch::Tensor&, at::IntArrayRef, bool);
  struct Row {
    const char* name;
    Mine mine;
    Theirs theirs;
  };
  const std::vector<Row> rows = {
#define NDGRAD_REDUCTION_OP(name, ...) {#name, &nd::name, &torch_reductions::name},
#include "ndgrad/op_table.def"
      {"mean", &nd::mean,
       [](const torch::Tensor& x, at::IntArrayRef axes, bool keep) { return x.mean(axes, keep); }},
      {"logsumexp",
       [](const nd::Tensor& x, const std::vector<int64_t>& axes, bool keep) {
         return nd::logsumexp(x, axes, keep);
       },
       [](const torch::Tensor& x, at::IntArrayRef axes, bool keep) {
         return torch::logsumexp(x, axes, keep);
       }},
  };
  uint64_t seed = 200;
  const std::vector<std::pair<nd::Shape, std::vector<std::vector<int64_t>>>> cases = {
      {{3, 4}, {{0}, {1}, {-1}, {1, 0}}},
      {{2, 3, 4}, {{0}, {1}, {2}, {2, 0}, {-1, -3}, {0, 1, 2}}},
      {{3, 3, 3}, {{0}, {1}, {2}, {0, 2}}},
      {{2, 3, 2}, {{0}, {1}, {2}, {-1, 0}}},
  };
  for (const Row& row : rows)
    for (const auto& [shape, axes_list] : cases)
      for (const auto& axes : axes_list)
        for (bool keep : {false, true}) {
          const std::string tag = std::string(row.name) + " " + nd::shape_str(shape) + " axes " +
                                  std::to_string(axes.size());
          compare(
              tag, [&](auto& x) { return row.mine(x[0], axes, keep); },
              [&](auto& x) { return row.theirs(x[0], axes, keep); },
              {away_from_zero(shape, ++seed)}, ++seed);
        }
}

// The reductions, scans and selections outside the table: values and gradients (random
// upstream gradients), several shapes, axes and keepdims; indices and bool results as values.
TEST(VsTorch, ReductionsScansAndSelections) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  uint64_t seed = 3000;
  const std::vector<nd::Shape> shapes = {{5}, {3, 4}, {2, 3, 4}, {3, 3, 3}};
  for (const nd::Shape& shape : shapes) {
    const std::string tag = " " + nd::shape_str(shape);
    const int64_t last = static_cast<int64_t>(shape.size()) - 1;
    auto run = [&](const std::string& name, const NdFn& f, const TorchFn& g) {
      compare(name + tag, f, g, {away_from_zero(shape, ++seed)}, ++seed);
    };
    for (bool keep : {false, true}) {
      const std::vector<std::vector<int64_t>> axes_list =
          last == 0 ? std::vector<std::vector<int64_t>>{{0}, {-1}}
                    : std::vector<std::vector<int64_t>>{{0}, {-1}, {0, last}, {}};
      for (const auto& axes : axes_list) {
        const std::vector<int64_t> all_axes = [&] {
          std::vector<int64_t> a;
          for (int64_t d = 0; d <= last; ++d) a.push_back(d);
          return axes.empty() ? a : axes;
        }();
        int64_t count = 1;
        for (int64_t a : all_axes) count *= shape[a < 0 ? a + last + 1 : a];
        for (int64_t c : {0, 1, 2}) {
          if (count - c <= 0) continue;  // a divisor of 0: inf - inf differs in the gradients
          run(
              "var " + std::to_string(c), [&](const V& x) { return nd::var(x[0], axes, c, keep); },
              [&](const TV& x) {
                return torch::var(x[0], at::IntArrayRef(all_axes), c10::optional<int64_t>(c), keep);
              });
          run(
              "std " + std::to_string(c), [&](const V& x) { return nd::std(x[0], axes, c, keep); },
              [&](const TV& x) {
                return torch::std(x[0], at::IntArrayRef(all_axes), c10::optional<int64_t>(c), keep);
              });
        }
        run(
            "nansum",
            [&](const V& x) { return nd::nansum(nd::where(x[0] > 1.0, NAN, x[0]), axes, keep); },
            [&](const TV& x) {
              return torch::nansum(torch::where(x[0] > 1.0, NAN, x[0]), at::IntArrayRef(all_axes),
                                   keep);
            });
        run(
            "nanmean",
            [&](const V& x) { return nd::nanmean(nd::where(x[0] > 1.5, NAN, x[0]), axes, keep); },
            [&](const TV& x) {
              return torch::nanmean(torch::where(x[0] > 1.5, NAN, x[0]), at::IntArrayRef(all_axes),
                                    keep);
            });
        run(
            "sum f64", [&](const V& x) { return nd::sum(x[0], axes, keep, nd::DType::f64); },
            [&](const TV& x) {
              return torch::sum(x[0], at::IntArrayRef(all_axes), keep, torch::kFloat64);
            });
        run(
            "mean f64", [&](const V& x) { return nd::mean(x[0], axes, keep, nd::DType::f64); },
            [&](const TV& x) {
              return torch::mean(x[0], at::IntArrayRef(all_axes), keep, torch::kFloat64);
            });
        for (double p : {0.0, 1.0, 2.0, 3.0, 0.5, 1.5, -1.5, HUGE_VAL, -HUGE_VAL})
          run(
              "norm " + std::to_string(p),
              // libtorch gives p = 0 no gradient (undefined); the added 0 makes it zeros.
              [&](const V& x) { return nd::norm(x[0], p, axes, keep) + (x[0] * 0.0).sum(); },
              [&](const TV& x) {
                return torch::linalg_vector_norm(x[0], p, at::IntArrayRef(all_axes), keep) +
                       (x[0] * 0.0).sum();
              });
        run(
            "norm fro", [&](const V& x) { return nd::norm(x[0], "fro", axes, keep); },
            [&](const TV& x) {
              // libtorch's "fro" takes two dims; over others it is the vector 2-norm.
              return all_axes.size() == 2
                         ? torch::linalg_norm(x[0], "fro", at::IntArrayRef(all_axes), keep)
                         : torch::linalg_vector_norm(x[0], 2, at::IntArrayRef(all_axes), keep);
            });
        const nd::Tensor x = away_from_zero(shape, ++seed);
        expect_same(nd::count_nonzero(nd::where(x > 1.0, 0.0, x), axes, keep),
                    keep ? torch::count_nonzero(torch::where(to_torch(x) > 1.0, 0.0, to_torch(x)),
                                                at::IntArrayRef(all_axes))
                               .reshape(nd::sum(x, axes, true).shape())
                         : torch::count_nonzero(torch::where(to_torch(x) > 1.0, 0.0, to_torch(x)),
                                                at::IntArrayRef(all_axes)),
                    "count_nonzero" + tag);
      }
      for (int64_t axis : {int64_t(0), int64_t(-1)}) {
        const nd::Tensor x = away_from_zero(shape, ++seed);
        const torch::Tensor tx = to_torch(x);
        expect_same(nd::any(x > 1.0, {axis}, keep), torch::any(tx > 1.0, axis, keep), "any" + tag);
        expect_same(nd::all(x > -1.0, {axis}, keep), torch::all(tx > -1.0, axis, keep),
                    "all" + tag);
        expect_same(nd::argmax(x, axis, keep), torch::argmax(tx, axis, keep), "argmax" + tag);
        expect_same(nd::argmin(x, axis, keep), torch::argmin(tx, axis, keep), "argmin" + tag);
        expect_same(nd::argmax(x, nd::None, keep), torch::argmax(tx, c10::nullopt, keep),
                    "argmax flat" + tag);
        expect_same(nd::argmin(x, nd::None, keep), torch::argmin(tx, c10::nullopt, keep),
                    "argmin flat" + tag);
        run(
            "median axis", [&](const V& x) { return nd::median(x[0], axis, keep).values; },
            [&](const TV& x) { return std::get<0>(torch::median(x[0], axis, keep)); });
        expect_same(nd::median(x, axis, keep).indices, std::get<1>(torch::median(tx, axis, keep)),
                    "median indices" + tag);
        run(
            "kthvalue", [&](const V& x) { return nd::kthvalue(x[0], 2, axis, keep).values; },
            [&](const TV& x) { return std::get<0>(torch::kthvalue(x[0], 2, axis, keep)); });
        expect_same(nd::kthvalue(x, 2, axis, keep).indices,
                    std::get<1>(torch::kthvalue(tx, 2, axis, keep)), "kthvalue indices" + tag);
        run(
            "quantile", [&](const V& x) { return nd::quantile(x[0], 0.37, axis, keep); },
            [&](const TV& x) { return torch::quantile(x[0], 0.37, axis, keep); });
        run(
            "quantiles",
            [&](const V& x) {
              return nd::quantile(x[0], nd::tensor({0.0, 0.5, 0.8, 1.0}, {4}, nd::DType::f64), axis,
                                  keep);
            },
            [&](const TV& x) {
              return torch::quantile(x[0], torch::tensor({0.0, 0.5, 0.8, 1.0}, torch::kFloat64),
                                     axis, keep);
            });
      }
      run(
          "quantile all", [&](const V& x) { return nd::quantile(x[0], 0.71, nd::None, keep); },
          [&](const TV& x) { return torch::quantile(x[0], 0.71, c10::nullopt, keep); });
      for (const char* how : {"linear", "lower", "higher", "nearest", "midpoint"})
        for (double q : {0.0, 0.25, 0.5, 0.71, 1.0})
          run(
              std::string("quantile ") + how + " " + std::to_string(q),
              [&](const V& x) { return nd::quantile(x[0], q, -1, keep, how); },
              [&](const TV& x) { return torch::quantile(x[0], q, -1, keep, how); });
    }
    run(
        "median all", [](const V& x) { return nd::median(x[0]); },
        [](const TV& x) { return torch::median(x[0]); });
    for (int64_t axis : {int64_t(0), int64_t(-1)}) {
      const std::string ax = " axis " + std::to_string(axis);
      run(
          "cumsum" + ax, [&](const V& x) { return nd::cumsum(x[0], axis); },
          [&](const TV& x) { return torch::cumsum(x[0], axis); });
      run(
          "cumprod" + ax, [&](const V& x) { return nd::cumprod(x[0], axis); },
          [&](const TV& x) { return torch::cumprod(x[0], axis); });
      run(
          "logcumsumexp" + ax, [&](const V& x) { return nd::logcumsumexp(x[0] * 4.0, axis); },
          [&](const TV& x) { return torch::logcumsumexp(x[0] * 4.0, axis); });
      run(
          "cummax" + ax, [&](const V& x) { return nd::cummax(x[0], axis).values; },
          [&](const TV& x) { return std::get<0>(torch::cummax(x[0], axis)); });
      run(
          "cummin" + ax, [&](const V& x) { return nd::cummin(x[0], axis).values; },
          [&](const TV& x) { return std::get<0>(torch::cummin(x[0], axis)); });
      run(
          "diff" + ax, [&](const V& x) { return nd::diff(x[0], 1, axis); },
          [&](const TV& x) { return torch::diff(x[0], 1, axis); });
      run(
          "diff 2 prepend append" + ax,
          [&](const V& x) {
            return nd::diff(x[0], 2, axis, x[0].narrow(axis, 0, 1) * 2.0, x[0] * x[0]);
          },
          [&](const TV& x) {
            return torch::diff(x[0], 2, axis, x[0].narrow(axis, 0, 1) * 2.0, x[0] * x[0]);
          });
      for (bool desc : {false, true}) {
        run(
            "sort" + ax, [&](const V& x) { return nd::sort(x[0], axis, desc).values; },
            [&](const TV& x) { return std::get<0>(torch::sort(x[0], true, axis, desc)); });
        run(
            "topk" + ax, [&](const V& x) { return nd::topk(x[0], 2, axis, desc).values; },
            [&](const TV& x) { return std::get<0>(torch::topk(x[0], 2, axis, desc)); });
      }
      const nd::Tensor x = away_from_zero(shape, ++seed);
      const torch::Tensor tx = to_torch(x);
      expect_same(nd::cummax(x, axis).indices, std::get<1>(torch::cummax(tx, axis)),
                  "cummax indices" + tag);
      expect_same(nd::cummin(x, axis).indices, std::get<1>(torch::cummin(tx, axis)),
                  "cummin indices" + tag);
      expect_same(nd::argsort(x, axis, true), torch::argsort(tx, axis, true), "argsort" + tag);
      expect_same(nd::topk(x, 2, axis).indices, std::get<1>(torch::topk(tx, 2, axis)),
                  "topk indices" + tag);
    }
  }
  // Ties and NaN: the stable order, cummax's last tie, median's NaN.
  const nd::Tensor ties = nd::tensor({2, 1, 2, NAN, 1, 3, 1, 2}, {8}, nd::DType::f64);
  const torch::Tensor tties = to_torch(ties);
  for (bool desc : {false, true})
    expect_same(nd::sort(ties, 0, desc).indices, std::get<1>(torch::sort(tties, true, 0, desc)),
                "stable sort");
  const nd::Tensor ties_no_nan = nd::where(nd::isnan(ties), 0.0, ties);
  expect_same(nd::cummax(ties_no_nan, 0).indices,
              std::get<1>(torch::cummax(to_torch(ties_no_nan), 0)), "cummax ties");
  expect_same(nd::cummin(ties_no_nan, 0).indices,
              std::get<1>(torch::cummin(to_torch(ties_no_nan), 0)), "cummin ties");
  expect_same(nd::cummax(ties, 0).values, std::get<0>(torch::cummax(tties, 0)), "cummax NaN");
  expect_same(nd::median(ties), torch::median(tties), "median NaN");
  expect_same(nd::median(ties, 0).values, std::get<0>(torch::median(tties, 0)), "median NaN, axis");
  expect_same(nd::quantile(ties, 0.5), torch::quantile(tties, 0.5), "quantile NaN");
  // NaN left out: nanmedian, nanquantile in every interpolation; all-NaN slices give NaN.
  const nd::Tensor holes = nd::tensor(
      {2, NAN, 1, 5, NAN, NAN, NAN, NAN, 4, 3, NAN, 0.5, 7, 1, 2, 9}, {4, 4}, nd::DType::f64);
  const torch::Tensor tholes = to_torch(holes);
  expect_same(nd::nanmedian(holes), torch::nanmedian(tholes), "nanmedian");
  for (int64_t axis : {0, 1}) {
    expect_same(nd::nanmedian(holes, axis).values, std::get<0>(torch::nanmedian(tholes, axis)),
                "nanmedian axis");
    // (The index of an all-NaN slice's NaN is libtorch's selection algorithm's: not compared.)
    const nd::Tensor some = nd::index_select(holes, 0, nd::tensor({0, 2, 3}, {3}, nd::DType::i64));
    expect_same(nd::nanmedian(some, axis, true).indices,
                std::get<1>(torch::nanmedian(to_torch(some), axis, true)), "nanmedian indices");
    for (const char* how : {"linear", "lower", "higher", "nearest", "midpoint"})
      for (double q : {0.0, 0.3, 0.5, 0.9, 1.0}) {
        const std::string tag = std::string(how) + " " + std::to_string(q);
        expect_same(nd::nanquantile(holes, q, axis, false, how),
                    torch::nanquantile(tholes, q, axis, false, how), "nanquantile " + tag);
        expect_same(nd::quantile(holes, q, axis, true, how),
                    torch::quantile(tholes, q, axis, true, how), "quantile NaN " + tag);
      }
  }
  expect_same(nd::nanquantile(holes, 0.4), torch::nanquantile(tholes, 0.4), "nanquantile all");
  expect_same(
      nd::logcumsumexp(nd::tensor({-1000, 0, 1000, -INFINITY}, {4}, nd::DType::f64), 0),
      torch::logcumsumexp(torch::tensor({-1000.0, 0.0, 1000.0, -HUGE_VAL}, torch::kFloat64), 0),
      "logcumsumexp, far apart");
  // Exact zeros: the gradients of prod and cumprod there, one zero and two in a slice.
  const nd::Tensor zeros =
      nd::tensor({0, 1.5, -0.5, 2, 0.7, 0, -1.2, 0, 1.1, 0.4, -0.8, 1.3}, {3, 4}, nd::DType::f64);
  compare(
      "prod with zeros", [](const V& x) { return nd::prod(x[0], {1}); },
      [](const TV& x) { return x[0].prod(1); }, {zeros}, ++seed);
  compare(
      "prod with zeros, axis 0", [](const V& x) { return nd::prod(x[0], {0}, true); },
      [](const TV& x) { return x[0].prod(0, true); }, {zeros}, ++seed);
  compare(
      "prod with zeros, all",
      [](const V& x) { return nd::prod(x[0]) + nd::prod(x[0].narrow(0, 0, 1)); },
      [](const TV& x) { return x[0].prod() + x[0].narrow(0, 0, 1).prod(); }, {zeros}, ++seed);
  for (int64_t axis : {0, 1})
    compare(
        "cumprod with zeros", [axis](const V& x) { return nd::cumprod(x[0], axis); },
        [axis](const TV& x) { return torch::cumprod(x[0], axis); }, {zeros}, ++seed);
  // Second derivatives at the zeros: libtorch's (exact) double backward.
  for (int64_t axis : {0, 1}) {
    const std::vector<std::pair<NdFn, TorchFn>> fns = {
        {[axis](const V& x) { return nd::cumprod(x[0], axis); },
         [axis](const TV& x) { return torch::cumprod(x[0], axis); }},
        {[axis](const V& x) { return nd::prod(x[0], {axis}); },
         [axis](const TV& x) { return x[0].prod(axis); }},
    };
    for (const auto& [f, g] : fns) {
      const nd::Tensor x = zeros.detach().requires_grad_();
      const torch::Tensor tx = to_torch(zeros).requires_grad_(true);
      const nd::Tensor y = f({x});
      const torch::Tensor ty = g({tx});
      const nd::Tensor u = nd::randn(y.shape(), ++seed, nd::DType::f64);
      const nd::Tensor r = nd::randn(x.shape(), ++seed, nd::DType::f64);
      const nd::Tensor gx = nd::grad(y, {x}, u, /*create_graph=*/true)[0];
      const torch::Tensor tgx =
          torch::autograd::grad({ty}, {tx}, {to_torch(u)}, /*retain_graph=*/true, true)[0];
      expect_same(gx, tgx, "prod/cumprod at zeros, first order");
      (gx * r).sum().backward();
      (tgx * to_torch(r)).sum().backward();
      expect_same(x.grad(), tx.grad(), "prod/cumprod at zeros, second order");
    }
  }
  // At a zero norm and a zero spread: PyTorch's gradients (0, not NaN).
  const nd::Tensor flat = nd::tensor({0, 0, 0, 1.5, 1.5, 1.5}, {2, 3}, nd::DType::f64);
  for (double p : {2.0, 3.0, 1.5, 0.5})
    compare(
        "norm at zero " + std::to_string(p), [p](const V& x) { return nd::norm(x[0], p, {1}); },
        [p](const TV& x) { return torch::linalg_vector_norm(x[0], p, at::IntArrayRef{1}); }, {flat},
        ++seed);
  compare(
      "std at zero", [](const V& x) { return nd::std(x[0], {1}); },
      [](const TV& x) { return torch::std(x[0], at::IntArrayRef{1}); }, {flat}, ++seed);
}

TEST(VsTorch, IndexingAndJoining) {
  // libtorch has no negative slice steps; NumPy's are checked in tests/ops/test_index.cpp.
  using torch::indexing::Ellipsis;
  using torch::indexing::None;
  using torch::indexing::Slice;
  uint64_t seed = 600;
  for (const nd::Shape& shape : std::vector<nd::Shape>{{4, 5, 6}, {3, 7, 2}, {6, 2, 9}}) {
    const std::string tag = nd::shape_str(shape);
    compare(
        "index " + tag,
        [](auto& x) {
          return x[0].index({1, nd::Slice(1, nd::None, 2), nd::NewAxis, -1});
        },
        [](auto& x) {
          return x[0].index({1, Slice(1, None, 2), None, -1});
        },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "index ellipsis " + tag,
        [](auto& x) {
          return x[0].index({nd::Ellipsis, nd::Slice(-2, nd::None), 0});
        },
        [](auto& x) {
          return x[0].index({Ellipsis, Slice(-2, None), 0});
        },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "select narrow slice " + tag,
        [](auto& x) { return x[0].select(1, -1) * x[0].narrow(1, 0, 1).squeeze(1) + x[0][0][0]; },
        [](auto& x) { return x[0].select(1, -1) * x[0].narrow(1, 0, 1).squeeze(1) + x[0][0][0]; },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "slice step " + tag, [](auto& x) { return x[0].slice(2, 1, nd::None, 3); },
        [](auto& x) { return x[0].slice(2, 1, c10::nullopt, 3); }, {away_from_zero(shape, ++seed)},
        ++seed);
    for (int64_t axis : {0, 1, -1}) {
      nd::Shape other = shape;
      other[axis < 0 ? other.size() - 1 : axis] = 2;
      compare(
          "cat " + tag + " axis " + std::to_string(axis),
          [axis](auto& x) {
            return nd::cat({x[0], x[1] * x[1]}, axis);
          },
          [axis](auto& x) {
            return torch::cat({x[0], x[1] * x[1]}, axis);
          },
          {away_from_zero(shape, ++seed), away_from_zero(other, ++seed)}, ++seed);
      compare(
          "stack " + tag + " axis " + std::to_string(axis),
          [axis](auto& x) {
            return nd::stack({x[0], x[1]}, axis);
          },
          [axis](auto& x) {
            return torch::stack({x[0], x[1]}, axis);
          },
          {away_from_zero(shape, ++seed), away_from_zero(shape, ++seed)}, ++seed);
      compare(
          "split chunk unbind " + tag + " axis " + std::to_string(axis),
          [axis](auto& x) {
            auto p = nd::split(x[0], 2, axis);
            auto c = nd::chunk(x[0], 3, axis);
            auto u = nd::unbind(x[0], axis);
            return p.back().sum() * 2.0 + c[0].sum() * c.back().sum() + u[1] * 3.0;
          },
          [axis](auto& x) {
            auto p = torch::split(x[0], 2, axis);
            auto c = torch::chunk(x[0], 3, axis);
            auto u = torch::unbind(x[0], axis);
            return p.back().sum() * 2.0 + c[0].sum() * c.back().sum() + u[1] * 3.0;
          },
          {away_from_zero(shape, ++seed)}, ++seed);
    }
  }
}

TEST(VsTorch, FlipRollAndAxisMoves) {
  uint64_t seed = 800;
  for (const nd::Shape& shape : std::vector<nd::Shape>{{3, 4, 5}, {2, 6, 3}}) {
    const std::string tag = nd::shape_str(shape);
    compare(
        "flip " + tag,
        [](auto& x) {
          return nd::flip(x[0], {0, 2}) * nd::flip(x[0]);
        },
        [](auto& x) {
          return torch::flip(x[0], {0, 2}) * torch::flip(x[0], {0, 1, 2});
        },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "roll " + tag, [](auto& x) { return nd::roll(x[0], -7, 1) + nd::roll(x[0], 5); },
        [](auto& x) { return torch::roll(x[0], -7, 1) + torch::roll(x[0], 5); },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "moveaxis " + tag, [](auto& x) { return nd::moveaxis(x[0], 0, 2); },
        [](auto& x) { return torch::moveaxis(x[0], 0, 2); }, {away_from_zero(shape, ++seed)},
        ++seed);
    compare(
        "hstack vstack " + tag,
        [](auto& x) {
          return nd::hstack({x[0], x[0]}) + nd::vstack({x[0], x[0]}).sum();
        },
        [](auto& x) {
          return torch::hstack({x[0], x[0]}) + torch::vstack({x[0], x[0]}).sum();
        },
        {away_from_zero(shape, ++seed)}, ++seed);
  }
}

TEST(VsTorch, Pad) {
  namespace F = torch::nn::functional;
  uint64_t seed = 900;
  const nd::Shape shape{2, 3, 5};  // libtorch pads the last axis of (N, C, W) in these modes
  compare(
      "pad constant",
      [](auto& x) {
        return nd::pad(x[0], {{1, 0}, {0, 2}, {3, -1}}, nd::PadMode::constant, 1.5);
      },
      [](auto& x) {
        return torch::constant_pad_nd(x[0], {3, -1, 0, 2, 1, 0}, 1.5);
      },
      {away_from_zero(shape, ++seed)}, ++seed);
  // libtorch's names for the other modes; the same widths on the last axis.
  const std::vector<std::pair<nd::PadMode, F::PadFuncOptions::mode_t>> modes = {
      {nd::PadMode::reflect, torch::kReflect},
      {nd::PadMode::edge, torch::kReplicate},
      {nd::PadMode::wrap, torch::kCircular}};
  for (const auto& [mode, torch_mode] : modes) {
    const int64_t before = mode == nd::PadMode::reflect ? 3 : 4 + (mode == nd::PadMode::wrap);
    const int64_t after = mode == nd::PadMode::edge ? 1 : 2;
    compare(
        "pad mode " + std::to_string(static_cast<int>(mode)),
        [&](auto& x) {
          return nd::pad(x[0], {{0, 0}, {0, 0}, {before, after}}, mode);
        },
        [&](auto& x) {
          return F::pad(x[0], F::PadFuncOptions({before, after}).mode(torch_mode));
        },
        {away_from_zero(shape, ++seed)}, ++seed);
  }
}

TEST(VsTorch, TrilTriu) {
  uint64_t seed = 950;
  for (int64_t k : {-2, 0, 1, 3})
    compare(
        "tril triu k=" + std::to_string(k),
        [k](auto& x) { return nd::tril(x[0], k) + nd::triu(x[0], k) * 2.0; },
        [k](auto& x) { return torch::tril(x[0], k) + torch::triu(x[0], k) * 2.0; },
        {away_from_zero({2, 4, 3}, ++seed)}, ++seed);
}

TEST(VsTorch, AdvancedIndexing) {
  uint64_t seed = 700;
  for (const nd::Shape& shape : std::vector<nd::Shape>{{4, 5}, {3, 6, 2}}) {
    const std::string tag = nd::shape_str(shape);
    // Random indices with repeats, some negative.
    const int64_t n1 = shape[1];
    std::vector<double> iv;
    for (int k = 0; k < 7; ++k) iv.push_back(static_cast<double>((k * 5 + 3) % (2 * n1) - n1));
    const nd::Tensor idx = nd::tensor(iv, {7}, nd::DType::i64);
    const torch::Tensor tidx = to_torch_index(idx);
    compare(
        "index_select " + tag, [&](auto& x) { return nd::index_select(x[0], 1, idx); },
        [&](auto& x) { return torch::index_select(x[0], 1, tidx.remainder(n1)); },
        {away_from_zero(shape, ++seed)}, ++seed);
    compare(
        "take " + tag,
        [&](auto& x) {
          return nd::take(x[0], idx.reshape({7, 1}));
        },
        [&](auto& x) {
          return torch::take(x[0], tidx.reshape({7, 1}));
        },
        {away_from_zero(shape, ++seed)}, ++seed);
    nd::Shape gshape = shape;
    gshape[0] = 2;
    gshape[1] = 3;
    const nd::Tensor gi =
        (nd::rand(gshape, ++seed, nd::DType::f64) * static_cast<double>(n1)).to(nd::DType::i64);
    compare(
        "gather " + tag, [&](auto& x) { return nd::gather(x[0], 1, gi); },
        [&](auto& x) { return torch::gather(x[0], 1, to_torch_index(gi)); },
        {away_from_zero(shape, ++seed)}, ++seed);
    const nd::Tensor mask = nd::rand(shape, ++seed, nd::DType::f64) > 0.5;
    compare(
        "masked_select " + tag, [&](auto& x) { return nd::masked_select(x[0], mask); },
        [&](auto& x) { return torch::masked_select(x[0], to_torch_index(mask)); },
        {away_from_zero(shape, ++seed)}, ++seed);
    const nd::Tensor small_idx = nd::tensor({1, 0, 1}, {3}, nd::DType::i64);
    nd::Shape sshape = shape;
    sshape[0] = 3;
    compare(
        "index_add " + tag, [&](auto& x) { return nd::index_add(x[0], 0, small_idx, x[1] * x[1]); },
        [&](auto& x) { return x[0].index_add(0, to_torch_index(small_idx), x[1] * x[1]); },
        {away_from_zero(shape, ++seed), away_from_zero(sshape, ++seed)}, ++seed);
    compare(
        "scatter_add " + tag, [&](auto& x) { return nd::scatter_add(x[0], 1, gi, x[1]); },
        [&](auto& x) { return x[0].scatter_add(1, to_torch_index(gi), x[1]); },
        {away_from_zero(shape, ++seed), away_from_zero(gshape, ++seed)}, ++seed);
    compare(
        "masked_fill " + tag, [&](auto& x) { return nd::masked_fill(x[0], mask, 2.5); },
        [&](auto& x) { return x[0].masked_fill(to_torch_index(mask), 2.5); },
        {away_from_zero(shape, ++seed)}, ++seed);
    const nd::Tensor nz = nd::nonzero(mask);
    const torch::Tensor tnz = torch::nonzero(to_torch_index(mask));
    ASSERT_EQ(nz.shape(), nd::Shape(tnz.sizes().begin(), tnz.sizes().end())) << tag;
    EXPECT_TRUE(torch::equal(to_torch_index(nz), tnz)) << "nonzero " << tag;
  }
}

namespace {

// A random index for a tensor of shape: basic entries (integers, slices with positive steps:
// libtorch has no negative ones), new axes, at most one ellipsis, i64 tensors of shapes that
// broadcast together (repeats, negative values) and bool masks over one or two axes. (Where
// libtorch departs from NumPy, the index avoids it; the
// Index and AdvancedIndex tests check NumPy's results there.)
struct RandomIndex {
  std::vector<nd::TensorIndex> nd;
  std::vector<torch::indexing::TensorIndex> torch;
  std::string text;
};
RandomIndex random_index(const nd::Shape& shape, std::mt19937_64& rng) {
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  RandomIndex r;
  const int64_t ndim = static_cast<int64_t>(shape.size());
  const nd::Shape common{pick(3) + 1, pick(3) + 1};  // the index tensors' broadcast shape
  int64_t axis = 0;
  bool ellipsis = false, any_tensor = false;
  std::vector<std::pair<int64_t, int64_t>> integers;  // (entry, value)
  const int64_t entries = pick(ndim + 1) + 1;
  for (int64_t e = 0; e < entries && axis <= ndim; ++e) {
    const int64_t kind = pick(7);
    if (kind == 0 && !ellipsis) {  // an ellipsis covers what later entries leave (none, here)
      ellipsis = true;
      r.nd.emplace_back(nd::Ellipsis);
      r.torch.emplace_back(torch::indexing::Ellipsis);
      r.text += "..., ";
      break;  // nothing after it: the axes it covers are the rest
    }
    if (kind == 1 && !any_tensor) {  // libtorch, unlike NumPy, does not let a new axis
                                     // separate advanced entries
      r.nd.emplace_back(nd::NewAxis);
      r.torch.emplace_back(torch::indexing::None);
      r.text += "None, ";
      continue;
    }
    if (axis == ndim) break;
    const int64_t n = shape[axis];
    if (kind == 2) {
      const int64_t i = pick(2 * n) - n;
      integers.push_back({static_cast<int64_t>(r.nd.size()), i});
      r.nd.emplace_back(i);
      r.torch.emplace_back(i);
      r.text += std::to_string(i) + ", ";
    } else if (kind == 3) {
      const int64_t a = pick(n + 2) - 1, b = pick(n + 2), step = pick(2) + 1;
      r.nd.emplace_back(nd::Slice(a, b, step));
      r.torch.emplace_back(torch::indexing::Slice(a, b, step));
      r.text += std::to_string(a) + ":" + std::to_string(b) + ":" + std::to_string(step) + ", ";
    } else if (kind == 4 && axis + 1 < ndim && e == entries - 1) {
      // A mask over two axes, last: libtorch's C++ indexing counts it as one axis when it
      // places the entries after it (NumPy: as many as the mask has).
      const nd::Tensor m = nd::rand({n, shape[axis + 1]}, rng(), nd::DType::f64) > 0.4;
      r.nd.emplace_back(m);
      r.torch.emplace_back(to_torch_index(m));
      r.text += "mask" + nd::shape_str(m.shape()) + ", ";
      ++axis;
      any_tensor = true;
    } else if (kind == 4) {
      const nd::Tensor m = nd::rand({n}, rng(), nd::DType::f64) > 0.5;
      r.nd.emplace_back(m);
      r.torch.emplace_back(to_torch_index(m));
      r.text += "mask" + nd::shape_str(m.shape()) + ", ";
      any_tensor = true;
    } else {  // an index tensor whose shape broadcasts to common
      nd::Shape s = common;
      if (pick(2)) s[0] = 1;
      if (pick(2)) s[1] = 1;
      if (pick(3) == 0) s.erase(s.begin());
      const nd::Tensor i = ((nd::rand(s, rng(), nd::DType::f64) * static_cast<double>(2 * n)) -
                            static_cast<double>(n))
                               .to(nd::DType::i64);
      r.nd.emplace_back(i);
      r.torch.emplace_back(to_torch_index(i));
      r.text += "int" + nd::shape_str(s) + ", ";
      any_tensor = true;
    }
    ++axis;
  }
  // NumPy counts integers as advanced once a tensor is there; libtorch does not (a 0-d tensor
  // too is an integer to it), but does a 1-element tensor, which broadcasts away here (the
  // index tensors are at least 1-d).
  if (any_tensor)
    for (const auto& [e, i] : integers)
      r.torch[static_cast<size_t>(e)] = torch::tensor({i}, torch::kLong);
  return r;
}

}  // namespace

// index() with random mixes of basic and advanced entries, and index_put with those indices
// (accumulating: libtorch leaves the winner of repeated writes unspecified), forward values
// and gradients with respect to the input and the values.
TEST(VsTorch, RandomAdvancedIndexing) {
  std::mt19937_64 rng(2026);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    nd::Shape shape;
    const int64_t ndim = static_cast<int64_t>(rng() % 3) + 2;
    for (int64_t d = 0; d < ndim; ++d) shape.push_back(static_cast<int64_t>(rng() % 4) + 1);
    const RandomIndex ix = random_index(shape, rng);
    const nd::Tensor x = away_from_zero(shape, rng());
    nd::Tensor expect;
    try {
      expect = x.index(ix.nd);
    } catch (const nd::Error&) {
      // Out-of-range values or shapes that do not broadcast: libtorch refuses them too.
      EXPECT_ANY_THROW(to_torch(x).index(ix.torch)) << nd::shape_str(shape) << "[" << ix.text;
      continue;
    }
    const std::string name = "x" + nd::shape_str(shape) + "[" + ix.text + "]";
    SCOPED_TRACE(name);
    try {
      compare(
          name, [&](auto& v) { return v[0].index(ix.nd); },
          [&](auto& v) { return v[0].index(ix.torch); }, {x}, rng());
      const nd::Tensor values = away_from_zero(expect.shape(), rng());
      compare(
          "index_put accumulate " + name,
          [&](auto& v) { return nd::index_put(v[0] * 1.0, ix.nd, v[1] * v[1], true); },
          [&](auto& v) {
            // The positions libtorch's indexing names, as a flat list; the writes add up there.
            const torch::Tensor at =
                torch::arange(x.numel(), torch::kLong).reshape(shape).index(ix.torch).flatten();
            return (v[0] * 1.0)
                .flatten()
                .index_put({at}, (v[1] * v[1]).flatten(), true)
                .reshape(shape);
          },
          {x, values}, rng());
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

// Writing with replacement where every index is distinct (libtorch keeps an unspecified write
// of repeated ones), scatter, repeat/tile, repeat_interleave, diagonals, diag, trace, meshgrid.
TEST(VsTorch, WritingRepeatingAndDiagonals) {
  uint64_t seed = 1200;
  const nd::Tensor rows = nd::tensor({2, 0}, {2}, nd::DType::i64);
  const nd::Tensor cols = nd::tensor({1, 3, 3, 0}, {2, 2}, nd::DType::i64);
  compare(
      "index_put",
      [&](auto& x) {
        return nd::index_put(x[0], {rows, nd::All, 1}, x[1] * 3.0);
      },
      [&](auto& x) {
        torch::Tensor y = x[0].clone();
        y.index_put_({to_torch_index(rows), torch::indexing::Slice(), 1}, x[1] * 3.0);
        return y;
      },
      {away_from_zero({3, 2, 4}, ++seed), away_from_zero({2, 2}, ++seed)}, ++seed);
  const nd::Tensor distinct = nd::tensor({1, 3, 2, 0}, {2, 2}, nd::DType::i64);
  compare(
      "scatter", [&](auto& x) { return nd::scatter(x[0], 1, distinct, x[1]); },
      [&](auto& x) { return x[0].scatter(1, to_torch_index(distinct), x[1]); },
      {away_from_zero({3, 4}, ++seed), away_from_zero({2, 2}, ++seed)}, ++seed);
  // put_along_axis broadcasts the indices over the other axes: libtorch's scatter with them
  // expanded (distinct positions along the axis in each row).
  const nd::Tensor along = nd::tensor({3, 0}, {1, 2}, nd::DType::i64);
  compare(
      "put_along_axis", [&](auto& x) { return nd::put_along_axis(x[0], along, x[1], 1); },
      [&](auto& x) {
        return x[0].scatter(1, to_torch_index(along).expand({3, 2}), x[1].expand({3, 2}));
      },
      {away_from_zero({3, 4}, ++seed), away_from_zero({3, 1}, ++seed)}, ++seed);
  compare(
      "where with numbers",
      [](auto& x) { return nd::where(x[0] > 0.0, x[0], 0.5) * nd::where(x[0] < 0.2, -2, x[0]); },
      [](auto& x) {
        return torch::where(x[0] > 0.0, x[0], torch::full({}, 0.5, torch::kFloat64)) *
               torch::where(x[0] < 0.2, torch::full({}, -2.0, torch::kFloat64), x[0]);
      },
      {away_from_zero({3, 4}, ++seed)}, ++seed);
  const nd::Tensor mask = nd::rand({3, 4}, ++seed, nd::DType::f64) > 0.5;
  compare(
      "masked_fill with a tensor value",
      [&](auto& x) { return nd::masked_fill(x[0], mask, x[1].sum()); },
      [&](auto& x) { return x[0].masked_fill(to_torch_index(mask), x[1].sum()); },
      {away_from_zero({3, 4}, ++seed), away_from_zero({2}, ++seed)}, ++seed);
  compare(
      "tensor_split",
      [](auto& x) {
        const auto p = nd::tensor_split(x[0], 3, 1), q = nd::tensor_split(x[0], {4, 1}, 1);
        return nd::cat({p[2], p[0], q[0] * 2.0, q[2]}, 1);
      },
      [](auto& x) {
        const auto p = torch::tensor_split(x[0], 3, 1), q = torch::tensor_split(x[0], {4, 1}, 1);
        return torch::cat({p[2], p[0], q[0] * 2.0, q[2]}, 1);
      },
      {away_from_zero({2, 7}, ++seed)}, ++seed);
  compare(
      "repeat",
      [](auto& x) {
        return x[0].repeat({2, 1, 3});
      },
      [](auto& x) {
        return x[0].repeat({2, 1, 3});
      },
      {away_from_zero({2, 3}, ++seed)}, ++seed);
  compare(
      "tile",
      [](auto& x) {
        return nd::tile(x[0], {2, 2});
      },
      [](auto& x) {
        return torch::tile(x[0], {2, 2});
      },
      {away_from_zero({2, 1, 3}, ++seed)}, ++seed);
  const nd::Tensor reps = nd::tensor({2, 0, 3}, {3}, nd::DType::i64);
  compare(
      "repeat_interleave",
      [&](auto& x) {
        return nd::repeat_interleave(x[0], reps, 1) +
               nd::repeat_interleave(x[0], 5, 1).narrow(1, 0, 5);
      },
      [&](auto& x) {
        return torch::repeat_interleave(x[0], to_torch_index(reps), 1) +
               torch::repeat_interleave(x[0], 5, 1).narrow(1, 0, 5);
      },
      {away_from_zero({2, 3, 2}, ++seed)}, ++seed);
  for (int64_t offset : {-2, 0, 1, 3})
    compare(
        "diagonal, trace offset " + std::to_string(offset),
        [offset](auto& x) {
          return nd::diagonal(x[0], offset, 2, 0) * 2.0 + nd::trace(x[0].select(1, 1), offset);
        },
        [offset](auto& x) {
          return torch::diagonal(x[0], offset, 2, 0) * 2.0 +
                 torch::trace(x[0].select(1, 1).diagonal(offset).diag());
        },
        {away_from_zero({3, 2, 4}, ++seed)}, ++seed);
  compare(
      "diag", [](auto& x) { return nd::diag(x[0], -1) + nd::diag(nd::diag(x[0], 1)).sum(); },
      [](auto& x) { return torch::diag(x[0], -1) + torch::diag(torch::diag(x[0], 1)).sum(); },
      {away_from_zero({3}, ++seed)}, ++seed);
  compare(
      "meshgrid",
      [](auto& x) {
        const auto g = nd::meshgrid({x[0], x[1]}, "ij");
        return g[0] * g[1];
      },
      [](auto& x) {
        const auto g = torch::meshgrid({x[0], x[1]}, "ij");
        return g[0] * g[1];
      },
      {away_from_zero({3}, ++seed), away_from_zero({2}, ++seed)}, ++seed);
}

TEST(VsTorch, MatmulAndShapeOps) {
  uint64_t seed = 300;
  const auto& cases = matmul_cases();
  for (const auto& [a, b] : cases)
    compare(
        "matmul " + nd::shape_str(a) + " @ " + nd::shape_str(b),
        [](auto& x) { return nd::matmul(x[0], x[1]); },
        [](auto& x) { return torch::matmul(x[0], x[1]); },
        {away_from_zero(a, ++seed), away_from_zero(b, ++seed)}, ++seed);
  const nd::Shape s{2, 3, 4};
  compare(
      "reshape",
      [](auto& x) {
        return x[0].reshape({4, -1});
      },
      [](auto& x) {
        return x[0].reshape({4, -1});
      },
      {away_from_zero(s, ++seed)}, ++seed);
  compare(
      "permute",
      [](auto& x) {
        return x[0].permute({2, 0, 1});
      },
      [](auto& x) {
        return x[0].permute({2, 0, 1});
      },
      {away_from_zero(s, ++seed)}, ++seed);
  compare(
      "transpose", [](auto& x) { return x[0].transpose(0, 2); },
      [](auto& x) { return x[0].transpose(0, 2); }, {away_from_zero(s, ++seed)}, ++seed);
  compare(
      "broadcast_to",
      [](auto& x) {
        return x[0].broadcast_to({2, 3, 4});
      },
      [](auto& x) {
        return x[0].expand({2, 3, 4});
      },
      {away_from_zero({3, 1}, ++seed)}, ++seed);
  compare(
      "squeeze/unsqueeze", [](auto& x) { return x[0].squeeze(1).unsqueeze(0); },
      [](auto& x) { return x[0].squeeze(1).unsqueeze(0); }, {away_from_zero({2, 1, 4}, ++seed)},
      ++seed);
}

// Contractions: values and gradients over every kind of einsum label, and the NumPy-style
// functions against libtorch's spellings of the same contraction.
TEST(VsTorch, EinsumAndContractions) {
  uint64_t seed = 900;
  const std::vector<std::pair<std::string, std::vector<nd::Shape>>> einsums = {
      {"ij,jk->ik", {{3, 4}, {4, 5}}},
      {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}},
      {"ij->ji", {{3, 4}}},
      {"ii->i", {{4, 4}}},
      {"ii", {{4, 4}}},
      {"ij,ij->", {{3, 4}, {3, 4}}},
      {"i,j", {{3}, {4}}},
      {"ba", {{3, 4}}},  // implicit: alphabetical, so a transpose
      {"ijk,k->ij", {{2, 3, 4}, {4}}},
      {"...ij,...jk", {{2, 1, 3, 4}, {5, 4, 2}}},
      {"ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 2}}},
      {"iij,jk->ik", {{3, 3, 2}, {2, 4}}},
      {"ab,cd->", {{2, 3}, {3, 2}}},
      {"i...->...", {{3, 2, 2}}},
      {"bi,bi->b", {{3, 1}, {1, 4}}},
      {"bhqd,bhkd->bhqk", {{2, 2, 3, 4}, {2, 2, 5, 4}}},  // attention scores
      {"Ab,bA->A", {{3, 4}, {4, 3}}}};
  for (const auto& [subscripts, shapes] : einsums) {
    std::vector<nd::Tensor> inputs;
    for (const nd::Shape& sh : shapes) inputs.push_back(away_from_zero(sh, ++seed));
    const std::string sub = subscripts;
    compare(
        "einsum " + sub, [sub](auto& x) { return nd::einsum(sub, x); },
        [sub](auto& x) { return torch::einsum(sub, x); }, inputs, ++seed);
  }
  const auto a = away_from_zero({2, 3, 4}, ++seed), b = away_from_zero({4, 5, 2}, ++seed);
  compare(
      "tensordot pairs",
      [](auto& x) {
        return nd::tensordot(x[0], x[1], {0, 2}, {2, 0});
      },
      [](auto& x) {
        return torch::tensordot(x[0], x[1], {0, 2}, {2, 0});
      },
      {a, b}, ++seed);
  compare(
      "tensordot dims", [](auto& x) { return nd::tensordot(x[0], x[1], 1); },
      [](auto& x) { return torch::tensordot(x[0], x[1], {2}, {0}); }, {a, b}, ++seed);
  compare(
      "dot (n-d, NumPy's rule)", [](auto& x) { return nd::dot(x[0], x[1]); },
      [](auto& x) { return torch::tensordot(x[0], x[1], {-1}, {-2}); },
      {a, away_from_zero({3, 4, 2}, ++seed)}, ++seed);
  const auto u = away_from_zero({5}, ++seed), v = away_from_zero({5}, ++seed);
  compare(
      "dot", [](auto& x) { return nd::dot(x[0], x[1]); },
      [](auto& x) { return torch::dot(x[0], x[1]); }, {u, v}, ++seed);
  compare(
      "vdot",
      [](auto& x) {
        return nd::vdot(x[0].reshape({5, 1}), x[1]);
      },
      [](auto& x) { return torch::vdot(x[0], x[1]); }, {u, v}, ++seed);
  compare(
      "inner", [](auto& x) { return nd::inner(x[0], x[1]); },
      [](auto& x) { return torch::inner(x[0], x[1]); },
      {away_from_zero({2, 3}, ++seed), away_from_zero({4, 3}, ++seed)}, ++seed);
  compare(
      "outer", [](auto& x) { return nd::outer(x[0], x[1]); },
      [](auto& x) { return torch::outer(x[0], x[1]); }, {u, away_from_zero({3}, ++seed)}, ++seed);
  compare(
      "kron", [](auto& x) { return nd::kron(x[0], x[1]); },
      [](auto& x) { return torch::kron(x[0], x[1]); },
      {away_from_zero({2, 3}, ++seed), away_from_zero({3, 1, 2}, ++seed)}, ++seed);
}

// Linear algebra: values and gradients, batched and broadcast, on well-conditioned matrices.
TEST(VsTorch, Linalg) {
  uint64_t seed = 1000;
  auto conditioned = [&](const nd::Shape& s) {
    return away_from_zero(s, ++seed) + 3.0 * nd::eye(s.back(), nd::DType::f64);
  };
  for (const auto& [a, b] : std::vector<std::pair<nd::Shape, nd::Shape>>{{{4, 4}, {4, 2}},
                                                                         {{2, 4, 4}, {4, 3}},
                                                                         {{4, 4}, {2, 1, 4, 3}},
                                                                         {{4, 4}, {4}},
                                                                         {{2, 4, 4}, {2, 4}}})
    compare(
        "solve " + nd::shape_str(a) + " " + nd::shape_str(b),
        [](auto& x) { return nd::linalg::solve(x[0], x[1]); },
        [](auto& x) { return torch::linalg_solve(x[0], x[1]); },
        {conditioned(a), away_from_zero(b, ++seed)}, ++seed);
  compare(
      "inv", [](auto& x) { return nd::linalg::inv(x[0]); },
      [](auto& x) { return torch::linalg_inv(x[0]); }, {conditioned({2, 4, 4})}, ++seed);
  compare(
      "det", [](auto& x) { return nd::linalg::det(x[0]); },
      [](auto& x) { return torch::linalg_det(x[0]); }, {conditioned({3, 4, 4}) * -1.0}, ++seed);
  compare(
      "slogdet", [](auto& x) { return nd::linalg::slogdet(x[0]).second; },
      [](auto& x) { return std::get<1>(torch::linalg_slogdet(x[0])); },
      {conditioned({3, 4, 4}) * -1.0}, ++seed);
  compare(
      "slogdet sign", [](auto& x) { return nd::linalg::slogdet(x[0]).first + x[0].sum() * 0.0; },
      [](auto& x) { return std::get<0>(torch::linalg_slogdet(x[0])) + x[0].sum() * 0.0; },
      {conditioned({3, 4, 4}) * -1.0}, ++seed);
  for (bool upper : {false, true}) {
    compare(
        std::string("cholesky") + (upper ? " upper" : ""),
        [upper](auto& x) {
          return nd::linalg::cholesky(
              nd::matmul(x[0], x[0].mT()) + 3.0 * nd::eye(4, nd::DType::f64), upper);
        },
        [upper](auto& x) {
          return torch::linalg_cholesky(
              torch::matmul(x[0], x[0].mT()) + 3.0 * torch::eye(4, torch::kFloat64), upper);
        },
        {away_from_zero({2, 4, 4}, ++seed)}, ++seed);
    compare(
        std::string("cholesky_solve") + (upper ? " upper" : ""),
        // Through the triangle's mask on both sides: libtorch's gradient for L is that of
        // L L^T with L full, nonzero on the triangle cholesky_solve never reads.
        [upper](auto& x) {
          return nd::linalg::cholesky_solve(x[1], upper ? nd::triu(x[0]) : nd::tril(x[0]), upper);
        },
        [upper](auto& x) {
          return torch::cholesky_solve(x[1], upper ? x[0].triu() : x[0].tril(), upper);
        },
        {upper ? nd::triu(conditioned({4, 4})) : nd::tril(conditioned({4, 4})),
         away_from_zero({2, 4, 3}, ++seed)},
        ++seed);
    for (bool left : {true, false})
      for (bool unit : {false, true})
        compare(
            "solve_triangular",
            [=](auto& x) { return nd::linalg::solve_triangular(x[0], x[1], upper, left, unit); },
            [=](auto& x) { return torch::linalg_solve_triangular(x[0], x[1], upper, left, unit); },
            {conditioned({4, 4}),
             away_from_zero(left ? nd::Shape{2, 4, 3} : nd::Shape{2, 3, 4}, ++seed)},
            ++seed);
  }
  // Order 20: through LAPACK when OpenBLAS is there (the loops in reference mode).
  for (bool upper : {false, true}) {
    compare(
        "order 20: solve, det, cholesky, solve_triangular",
        [upper](auto& x) {
          const nd::Tensor spd = nd::matmul(x[0], x[0].mT()) + 3.0 * nd::eye(20, nd::DType::f64);
          return nd::linalg::solve(x[0], x[1]).sum() + nd::linalg::slogdet(x[0]).second +
                 nd::linalg::cholesky(spd, upper).sum() +
                 nd::linalg::solve_triangular(x[0], x[1], upper).sum();
        },
        [upper](auto& x) {
          const torch::Tensor spd =
              torch::matmul(x[0], x[0].mT()) + 3.0 * torch::eye(20, torch::kFloat64);
          return torch::linalg_solve(x[0], x[1]).sum() + std::get<1>(torch::linalg_slogdet(x[0])) +
                 torch::linalg_cholesky(spd, upper).sum() +
                 torch::linalg_solve_triangular(x[0], x[1], upper).sum();
        },
        {conditioned({2, 20, 20}), away_from_zero({20, 3}, ++seed)}, ++seed);
  }
  for (int64_t n : {-3, 0, 1, 2, 5})
    compare(
        "matrix_power " + std::to_string(n),
        [n](auto& x) { return nd::linalg::matrix_power(x[0], n) + x[0]; },
        [n](auto& x) { return torch::linalg_matrix_power(x[0], n) + x[0]; },
        {conditioned({2, 3, 3}) * 0.3}, ++seed);
}

// The decompositions: QR's factors (the same sign convention as LAPACK's, which libtorch
// calls), and for eigh and svd functions that do not depend on the vectors' signs; orders below
// and above kLapackMin.
TEST(VsTorch, LinalgDecompositions) {
  uint64_t seed = 3000;
  auto nd_flat = [](const std::vector<nd::Tensor>& parts) {
    std::vector<nd::Tensor> f;
    for (const auto& p : parts) f.push_back(p.flatten());
    return nd::cat(f);
  };
  auto t_flat = [](const std::vector<torch::Tensor>& parts) {
    std::vector<torch::Tensor> f;
    for (const auto& p : parts) f.push_back(p.flatten());
    return torch::cat(f);
  };
  const std::vector<nd::Shape> shapes = {{4, 3}, {3, 5}, {2, 4, 4}, {2, 20, 17}, {17, 24}};
  for (const nd::Shape& s : shapes) {
    const int64_t m = s[s.size() - 2], n = s.back(), k = std::min(m, n);
    const std::string dims = " " + nd::shape_str(s);
    for (const std::string mode : {"reduced", "complete"}) {
      if (mode == "complete" && m > n) continue;
      compare(
          "qr " + mode + dims,
          [=](auto& x) {
            const auto [Q, R] = nd::linalg::qr(x[0], mode);
            return nd_flat({Q, R});
          },
          [=](auto& x) {
            const auto [Q, R] = torch::linalg_qr(x[0], mode);
            return t_flat({Q, R});
          },
          {away_from_zero(s, ++seed)}, ++seed);
    }
    for (bool full : {false, true})
      compare(
          std::string("svd") + (full ? " full" : "") + dims,
          [=](auto& x) {
            const auto [U0, S, Vh0] = nd::linalg::svd(x[0], full);
            const nd::Tensor U = U0.narrow(-1, 0, k), Vh = Vh0.narrow(-2, 0, k);
            return nd_flat({S, nd::matmul(U * nd::tanh(S).unsqueeze(-2), Vh),
                            nd::matmul(U * S.unsqueeze(-2), U.mT()),
                            nd::matmul(Vh.mT() * S.unsqueeze(-2), Vh)});
          },
          [=](auto& x) {
            const auto [U0, S, Vh0] = torch::linalg_svd(x[0], full);
            const torch::Tensor U = U0.narrow(-1, 0, k), Vh = Vh0.narrow(-2, 0, k);
            return t_flat({S, torch::matmul(U * torch::tanh(S).unsqueeze(-2), Vh),
                           torch::matmul(U * S.unsqueeze(-2), U.mT()),
                           torch::matmul(Vh.mT() * S.unsqueeze(-2), Vh)});
          },
          {away_from_zero(s, ++seed)}, ++seed);
    compare(
        "svdvals, pinv" + dims,
        [=](auto& x) {
          return nd_flat({nd::linalg::svdvals(x[0]), nd::linalg::pinv(x[0])});
        },
        [=](auto& x) {
          return t_flat({torch::linalg_svdvals(x[0]), torch::linalg_pinv(x[0])});
        },
        {away_from_zero(s, ++seed)}, ++seed);
    nd::Shape b = s;
    b.back() = 3;
    compare(
        "lstsq" + dims, [](auto& x) { return nd::linalg::lstsq(x[0], x[1]); },
        [](auto& x) { return torch::matmul(torch::linalg_pinv(x[0]), x[1]); },
        {away_from_zero(s, ++seed), away_from_zero(b, ++seed)}, ++seed);
  }
  for (int64_t n : {3, 5, 20}) {
    const nd::Shape s = {2, n, n};
    compare(
        "eigh " + std::to_string(n),
        [=](auto& x) {
          const auto [w, V] = nd::linalg::eigh(x[0] + x[0].mT());
          return nd_flat({w, nd::matmul(V * nd::tanh(w).unsqueeze(-2), V.mT()),
                          nd::linalg::eigvalsh(x[0] + x[0].mT(), "U")});
        },
        [=](auto& x) {
          const auto [w, V] = torch::linalg_eigh(x[0] + x[0].mT());
          return t_flat({w, torch::matmul(V * torch::tanh(w).unsqueeze(-2), V.mT()),
                         torch::linalg_eigvalsh(x[0] + x[0].mT(), "U")});
        },
        {away_from_zero(s, ++seed)}, ++seed);
  }
  const double inf = std::numeric_limits<double>::infinity();
  for (const nd::Shape& s : {nd::Shape{2, 3, 4}, nd::Shape{2, 20, 18}}) {
    for (const std::string ord : {"fro", "nuc"})
      compare(
          "matrix_norm " + ord,
          [=](auto& x) {
            return nd::linalg::matrix_norm(x[0], ord, {2, 0});
          },
          [=](auto& x) {
            return torch::linalg_matrix_norm(x[0], ord, {2, 0});
          },
          {away_from_zero(s, ++seed)}, ++seed);
    for (double ord : {2.0, -2.0, 1.0, -1.0, inf, -inf})
      for (bool keep : {false, true})
        compare(
            "matrix_norm " + std::to_string(ord),
            [=](auto& x) {
              return nd::linalg::matrix_norm(x[0], ord, {-2, -1}, keep);
            },
            [=](auto& x) {
              return torch::linalg_matrix_norm(x[0], ord, {-2, -1}, keep);
            },
            {away_from_zero(s, ++seed)}, ++seed);
  }
}

TEST(VsTorch, TwoLayerNetwork) {
  compare(
      "two-layer net",
      [](auto& x) { return nd::matmul(nd::relu(nd::matmul(x[0], x[1]) + x[2]), x[3]) + x[4]; },
      [](auto& x) {
        return torch::matmul(torch::relu(torch::matmul(x[0], x[1]) + x[2]), x[3]) + x[4];
      },
      {away_from_zero({8, 5}, 1), away_from_zero({5, 6}, 2), away_from_zero({6}, 3),
       away_from_zero({6, 3}, 4), away_from_zero({3}, 5)},
      6);
}

// Where the derivative is singular or a kink, ndgrad follows PyTorch's conventions (docs/API.md):
// pow at base 0, abs and relu at 0, ties in maximum and in amax. And softmax of large logits.
TEST(VsTorch, ConventionsAtZerosTiesAndLargeLogits) {
  const nd::DType f64 = nd::DType::f64;
  compare(
      "pow at base 0", [](auto& x) { return nd::pow(x[0], x[1]); },
      [](auto& x) { return torch::pow(x[0], x[1]); },
      {nd::tensor({0, 0, 0, 2, 1.5}, {5}, f64), nd::tensor({0, 1, 2, 0, 0.5}, {5}, f64)}, 401);
  const nd::Tensor kinks = nd::tensor({0, 0, 1, -1}, {4}, f64);
  compare(
      "abs at 0", [](auto& x) { return nd::abs(x[0]); }, [](auto& x) { return torch::abs(x[0]); },
      {kinks}, 402);
  compare(
      "relu at 0", [](auto& x) { return nd::relu(x[0]); },
      [](auto& x) { return torch::relu(x[0]); }, {kinks}, 403);
  compare(
      "maximum ties", [](auto& x) { return nd::maximum(x[0], x[1]); },
      [](auto& x) { return torch::maximum(x[0], x[1]); },
      {nd::tensor({1, 2, 2, 3}, {4}, f64), nd::tensor({1, 3, 2, 0}, {4}, f64)}, 404);
  compare(
      "amax ties", [](auto& x) { return x[0].max({1}); },
      [](auto& x) { return torch::amax(x[0], {1}); }, {nd::tensor({3, 1, 3, 2, 2, 2}, {2, 3}, f64)},
      405);
  const nd::Tensor large = nd::randn({3, 5}, 406, f64) * 3.0 + 1e12;
  compare(
      "softmax of large logits", [](auto& x) { return nd::nn::softmax(x[0], 1); },
      [](auto& x) { return torch::softmax(x[0], 1); }, {large}, 407);
  compare(
      "log_softmax of large logits", [](auto& x) { return nd::nn::log_softmax(x[0], 1); },
      [](auto& x) { return torch::log_softmax(x[0], 1); }, {large}, 408);
}

// The functions with a parameter (ops/activations.cpp) against libtorch's: values and gradients
// over shapes and broadcast bounds, then at their kinks and bounds, where the conventions show.
TEST(VsTorch, ParameterizedFunctions) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const std::vector<std::tuple<std::string, NdFn, TorchFn>> unary = {
      {"leaky_relu", [](const V& x) { return nd::leaky_relu(x[0]); },
       [](const TV& x) { return torch::leaky_relu(x[0]); }},
      {"leaky_relu 0.2", [](const V& x) { return nd::leaky_relu(x[0], 0.2); },
       [](const TV& x) { return torch::leaky_relu(x[0], 0.2); }},
      {"elu", [](const V& x) { return nd::elu(x[0]); },
       [](const TV& x) { return torch::elu(x[0]); }},
      {"elu 0.5", [](const V& x) { return nd::elu(x[0], 0.5); },
       [](const TV& x) { return torch::elu(x[0], 0.5); }},
      {"hardtanh", [](const V& x) { return nd::hardtanh(x[0]); },
       [](const TV& x) { return torch::hardtanh(x[0]); }},
      {"hardtanh -0.5 0.8", [](const V& x) { return nd::hardtanh(x[0], -0.5, 0.8); },
       [](const TV& x) { return torch::hardtanh(x[0], -0.5, 0.8); }},
      {"clamp", [](const V& x) { return nd::clamp(x[0], -0.5, 0.8); },
       [](const TV& x) { return torch::clamp(x[0], -0.5, 0.8); }},
      {"clamp min", [](const V& x) { return nd::clamp(x[0], -0.5); },
       [](const TV& x) { return torch::clamp(x[0], -0.5); }},
      {"clamp max", [](const V& x) { return nd::clamp(x[0], std::nullopt, 0.5); },
       [](const TV& x) { return torch::clamp(x[0], c10::nullopt, 0.5); }},
      {"clamp min > max", [](const V& x) { return nd::clamp(x[0], 0.5, -0.5); },
       [](const TV& x) { return torch::clamp(x[0], 0.5, -0.5); }},
      {"clip", [](const V& x) { return nd::clip(x[0], -1.0, 1.0); },
       [](const TV& x) { return torch::clip(x[0], -1.0, 1.0); }},
      {"lerp 0.3", [](const V& x) { return nd::lerp(x[0], x[0] * x[0], 0.3); },
       [](const TV& x) { return torch::lerp(x[0], x[0] * x[0], 0.3); }},
      {"lerp 0.7", [](const V& x) { return nd::lerp(nd::tanh(x[0]), x[0], 0.7); },
       [](const TV& x) { return torch::lerp(torch::tanh(x[0]), x[0], 0.7); }},
      {"gelu tanh", [](const V& x) { return nd::gelu(x[0], "tanh"); },
       [](const TV& x) { return torch::gelu(x[0], "tanh"); }},
  };
  uint64_t seed = 9000;
  for (const auto& [name, f, g] : unary)
    for (const auto& s : kShapes)
      compare(name + " " + nd::shape_str(s), f, g, {away_from_zero(s, ++seed)}, ++seed);
  const std::vector<std::tuple<std::string, NdFn, TorchFn>> nary = {
      {"clamp tensors", [](const V& x) { return nd::clamp(x[0], x[1], x[2]); },
       [](const TV& x) { return torch::clamp(x[0], x[1], x[2]); }},
      {"clamp tensor min", [](const V& x) { return nd::clamp(x[0], x[1]) * x[2]; },
       [](const TV& x) { return torch::clamp(x[0], x[1]) * x[2]; }},
      {"clip tensor max", [](const V& x) { return nd::clip(x[0], nd::Tensor(), x[1]) * x[2]; },
       [](const TV& x) { return torch::clip(x[0], c10::nullopt, x[1]) * x[2]; }},
      {"lerp tensor weight", [](const V& x) { return nd::lerp(x[0], x[1], x[2]); },
       [](const TV& x) { return torch::lerp(x[0], x[1], x[2]); }},
  };
  for (const auto& [name, f, g] : nary)
    for (const auto& [a, b] : broadcast_pairs())
      compare(name + " " + nd::shape_str(a) + " " + nd::shape_str(b), f, g,
              {away_from_zero(a, ++seed), away_from_zero(b, ++seed), away_from_zero(b, ++seed)},
              ++seed);
}

// Values and gradients at the kinks, bounds and special points of the rows and functions this
// library adds after the founding ones: each follows libtorch's convention there (docs/API.md).
TEST(VsTorch, ConventionsAtKinksBoundsAndSpecialValues) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const nd::DType f64 = nd::DType::f64;
  uint64_t seed = 9500;
  const auto at = [&](const std::string& name, const NdFn& f, const TorchFn& g,
                      const std::vector<double>& values) {
    const int64_t n = static_cast<int64_t>(values.size());
    compare(name, f, g, {nd::tensor(values, {n}, f64)}, ++seed);
  };
  const std::vector<double> zero_and_near = {0.0, -0.0, 0.5, -0.5, 1e-300, -1e-300};
  at(
      "leaky_relu at 0", [](const V& x) { return nd::leaky_relu(x[0], 0.1); },
      [](const TV& x) { return torch::leaky_relu(x[0], 0.1); }, zero_and_near);
  at(
      "elu at 0", [](const V& x) { return nd::elu(x[0], 0.7); },
      [](const TV& x) { return torch::elu(x[0], 0.7); }, zero_and_near);
  at(
      "selu at 0", [](const V& x) { return nd::selu(x[0]); },
      [](const TV& x) { return torch::selu(x[0]); }, zero_and_near);
  at(
      "gelu at 0", [](const V& x) { return nd::gelu(x[0]); },
      [](const TV& x) { return torch::gelu(x[0]); }, zero_and_near);
  at(
      "mish at 0", [](const V& x) { return nd::mish(x[0]); },
      [](const TV& x) { return torch::mish(x[0]); }, zero_and_near);
  const std::vector<double> threes = {-3.0, 3.0, -2.5, 2.5, -4.0, 4.0, 0.0};
  at(
      "hardsigmoid at +-3", [](const V& x) { return nd::hardsigmoid(x[0]); },
      [](const TV& x) {
        auto t = x[0];
        return hardsigmoid(t);  // the overload above
      },
      threes);
  at(
      "hardswish at +-3", [](const V& x) { return nd::hardswish(x[0]); },
      [](const TV& x) { return torch::hardswish(x[0]); }, threes);
  const std::vector<double> bounds = {-1.0, 1.0, -0.5, 0.8, -2.0, 2.0, 0.0};
  at(
      "hardtanh at its bounds", [](const V& x) { return nd::hardtanh(x[0]); },
      [](const TV& x) { return torch::hardtanh(x[0]); }, bounds);
  at(
      "clamp at its bounds", [](const V& x) { return nd::clamp(x[0], -0.5, 0.8); },
      [](const TV& x) { return torch::clamp(x[0], -0.5, 0.8); }, bounds);
  at(
      "clamp min == max", [](const V& x) { return nd::clamp(x[0], 0.8, 0.8); },
      [](const TV& x) { return torch::clamp(x[0], 0.8, 0.8); }, bounds);
  at(
      "clamp min > max", [](const V& x) { return nd::clamp(x[0], 0.8, -0.5); },
      [](const TV& x) { return torch::clamp(x[0], 0.8, -0.5); }, bounds);
  const std::vector<double> integers = {-2.0, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.0, -2.7, 2.7};
  for (const auto& [name, f, g] : std::vector<std::tuple<std::string, NdFn, TorchFn>>{
           {"floor", [](const V& x) { return nd::floor(x[0]); },
            [](const TV& x) { return torch::floor(x[0]); }},
           {"ceil", [](const V& x) { return nd::ceil(x[0]); },
            [](const TV& x) { return torch::ceil(x[0]); }},
           {"round (half to even)", [](const V& x) { return nd::round(x[0]); },
            [](const TV& x) { return torch::round(x[0]); }},
           {"trunc", [](const V& x) { return nd::trunc(x[0]); },
            [](const TV& x) { return torch::trunc(x[0]); }},
           {"frac", [](const V& x) { return nd::frac(x[0]); },
            [](const TV& x) { return torch::frac(x[0]); }},
           {"sign", [](const V& x) { return nd::sign(x[0]); },
            [](const TV& x) { return torch::sign(x[0]); }}})
    at(name + " at integers and halves", f, g, integers);
  // Tensor bounds: ties with t, min == max, min > max; each bound's gradient.
  const auto vec = [&](std::vector<double> v) {
    return nd::tensor(v, {static_cast<int64_t>(v.size())}, f64);
  };
  compare(
      "clamp tensor bounds at ties", [](const V& x) { return nd::clamp(x[0], x[1], x[2]); },
      [](const TV& x) { return torch::clamp(x[0], x[1], x[2]); },
      {vec({0, 1, 2, 0.5, -1, 3, 0.5, 0.2}), vec({0, 0, 0, 1, 1, 1, 0.5, 0.4}),
       vec({1, 1, 1, 0, 0, 0, 0.5, 0.4})},
      ++seed);
  compare(
      "lerp at weight 1/2 and 1", [](const V& x) { return nd::lerp(x[0], x[1], x[2]); },
      [](const TV& x) { return torch::lerp(x[0], x[1], x[2]); },
      {vec({1, 2, 3, -1}), vec({4, -2, 0.5, 7}), vec({0.5, -0.5, 1, 0.4999})}, ++seed);
  // Binary rows at their special points.
  compare(
      "copysign at a == 0", [](const V& x) { return nd::copysign(x[0], x[1]); },
      [](const TV& x) { return torch::copysign(x[0], x[1]); },
      {vec({0, -0.0, 0, 2, -2, 1.5}), vec({1, 1, -1, -0.0, 0, -3})}, ++seed);
  compare(
      "xlogy at x == 0", [](const V& x) { return nd::xlogy(x[0], x[1]); },
      [](const TV& x) { return torch::xlogy(x[0], x[1]); },
      {vec({0, 0, 1.5, -2, 0}), vec({2, 0.5, 3, 0.25, 1})}, ++seed);
  compare(
      "fmod and remainder at exact multiples",
      [](const V& x) { return nd::fmod(x[0], x[1]) * nd::remainder(x[0], x[1]); },
      [](const TV& x) { return torch::fmod(x[0], x[1]) * torch::remainder(x[0], x[1]); },
      {vec({4, -4, 3, -3, 7.5, -7.5}), vec({2, 2, -1.5, 1.5, 2, -2})}, ++seed);
  // nan_to_num: the replaced elements get no gradient.
  compare(
      "nan_to_num",
      [](const V& x) {
        return nd::nan_to_num(x[0] / (x[0] - 1.0), 0.0, 10.0) *
               nd::nan_to_num(x[0] / x[0], 0.5, 2.0, -3.0);
      },
      [](const TV& x) {
        return torch::nan_to_num(x[0] / (x[0] - 1.0), 0.0, 10.0) *
               torch::nan_to_num(x[0] / x[0], 0.5, 2.0, -3.0);
      },
      {vec({0, 1, 2, -1, 0.5})}, ++seed);
}

// The storage dtypes against libtorch's int32, uint8, int8, half and bfloat16: the promotion
// table (libtorch's int16 for i8 with u8 is ndgrad's i32), wrapping integer arithmetic and f16 /
// bf16 arithmetic computed in float and rounded once, bit for bit.
namespace {
constexpr nd::DType kStorageAndCompute[] = {nd::DType::f32,     nd::DType::f64, nd::DType::i64,
                                            nd::DType::boolean, nd::DType::i32, nd::DType::u8,
                                            nd::DType::i8,      nd::DType::f16, nd::DType::bf16};
torch::ScalarType torch_dtype(nd::DType d) {
  switch (d) {
    case nd::DType::f32:
      return torch::kFloat32;
    case nd::DType::f64:
      return torch::kFloat64;
    case nd::DType::i64:
      return torch::kLong;
    case nd::DType::boolean:
      return torch::kBool;
    case nd::DType::i32:
      return torch::kInt;
    case nd::DType::u8:
      return torch::kByte;
    case nd::DType::i8:
      return torch::kChar;
    case nd::DType::f16:
      return torch::kHalf;
    case nd::DType::bf16:
      return torch::kBFloat16;
  }
  return torch::kFloat64;
}
}  // namespace

TEST(VsTorch, StorageDTypesPromoteAsLibtorch) {
  for (nd::DType a : kStorageAndCompute)
    for (nd::DType b : kStorageAndCompute) {
      const torch::ScalarType t = torch::promote_types(torch_dtype(a), torch_dtype(b));
      const nd::DType ours = nd::promote_types(a, b);
      if (t == torch::kShort) {  // i8 with u8
        EXPECT_EQ(ours, nd::DType::i32);
        continue;
      }
      EXPECT_EQ(torch_dtype(ours), t) << nd::dtype_name(a) << " with " << nd::dtype_name(b);
    }
}

TEST(VsTorch, StorageDTypeArithmeticBitForBit) {
  std::mt19937_64 rng(11);
  for (nd::DType d :
       {nd::DType::i32, nd::DType::u8, nd::DType::i8, nd::DType::f16, nd::DType::bf16}) {
    const bool fl = nd::is_floating(d);
    std::vector<double> va, vb;
    for (int i = 0; i < 257; ++i) {
      if (fl) {
        va.push_back(std::ldexp(static_cast<double>(rng() % 20001) - 10000, -8));
        vb.push_back(std::ldexp(static_cast<double>(rng() % 20001) - 10000, -9));
      } else {
        const double lo = d == nd::DType::u8 ? 0 : d == nd::DType::i8 ? -128 : -70000;
        const double span = d == nd::DType::u8 ? 256 : d == nd::DType::i8 ? 256 : 140001;
        va.push_back(lo + static_cast<double>(rng() % static_cast<uint64_t>(span)));
        vb.push_back(lo + static_cast<double>(rng() % static_cast<uint64_t>(span)));
      }
    }
    if (!fl)  // libtorch refuses an integer division by 0 (and -128 // -1 is its undefined case)
      for (double& v : vb)
        if (v == 0 || v == -1) v = 3;
    const nd::Tensor a = nd::tensor(va, {257}, d), b = nd::tensor(vb, {257}, d);
    const torch::Tensor ta = torch::tensor(va, torch::kFloat64).to(torch_dtype(d));
    const torch::Tensor tb = torch::tensor(vb, torch::kFloat64).to(torch_dtype(d));
    const torch::Tensor ta64 = ta.to(torch::kFloat64).contiguous();
    EXPECT_EQ(a.to_vector(),
              std::vector<double>(ta64.data_ptr<double>(), ta64.data_ptr<double>() + 257))
        << nd::dtype_name(d) << " conversion";
    auto check = [&](const char* name, const nd::Tensor& ours, const torch::Tensor& theirs) {
      ASSERT_EQ(torch_dtype(ours.dtype()), theirs.scalar_type())
          << name << " " << nd::dtype_name(d);
      const torch::Tensor t64 = theirs.to(torch::kFloat64).contiguous();
      const std::vector<double> v = ours.to_vector();
      for (size_t i = 0; i < v.size(); ++i) {
        const double w = t64.data_ptr<double>()[i];
        if (std::isnan(w) && std::isnan(v[i])) continue;
        ASSERT_EQ(v[i], w) << name << " " << nd::dtype_name(d) << " at " << i << ": " << va[i]
                           << ", " << vb[i];
      }
    };
    check("add", a + b, ta + tb);
    check("sub", a - b, ta - tb);
    check("mul", a * b, ta * tb);
    check("maximum", nd::maximum(a, b), torch::maximum(ta, tb));
    check("less", a < b, ta < tb);
    check("neg", -a, -ta);
    check("sum", a.sum(), ta.sum());
    if (fl) {
      check("div", a / b, ta / tb);  // (sums above are exact in f32: no order to differ in)
    } else {
      check("floor_divide", nd::floor_divide(a, b), torch::floor_divide(ta, tb));
    }
  }
}

// The floating_promote rows on integer and bool tensors: the result dtype is libtorch's (f32 for
// two non-floating operands, else the floating operand's), the values libtorch's in float64
// rounded once to that dtype (ndgrad computes two non-floating operands in f64); an integer
// with a floating operand is the row on the integer converted to that dtype. Integers in -4..4, so
// that log, atanh, logit, ... meet their poles and NaNs too; u8 wraps the negative ones. Where
// libtorch 1.13 has no kernel (integer hypot, f16 atan2) only the values are compared.
TEST(VsTorch, FloatingPromoteRowsOnIntegerTensors) {
  using nd::kernels::BinaryOp;
  using nd::kernels::DTypeRule;
  using nd::kernels::UnaryOp;
  const nd::DType ints[] = {nd::DType::i64, nd::DType::boolean, nd::DType::i32, nd::DType::u8,
                            nd::DType::i8};
  std::vector<double> va, vb;
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j) va.push_back(i - 4), vb.push_back(j - 4);
  const nd::Tensor sa = nd::tensor(va, {9, 9}, nd::DType::f64);
  const nd::Tensor sb = nd::tensor(vb, {9, 9}, nd::DType::f64);
  int rows = 0;
  // ours (of dtype dt) against libtorch's f64 result rounded to dt.
  auto same_values = [](const nd::Tensor& ours, torch::Tensor theirs64, const std::string& what) {
    expect_same(ours, theirs64.to(torch_dtype(ours.dtype())), what);
  };
#define NDGRAD_UNARY_OP(name, dtypes, ...)                                    \
  if constexpr (DTypeRule::dtypes == DTypeRule::floating_promote) {           \
    ++rows;                                                                   \
    for (nd::DType d : ints) {                                                \
      const std::string what = std::string(#name " on ") + nd::dtype_name(d); \
      const nd::Tensor x = sa.to(d);                                          \
      const nd::Tensor y = nd::name(x);                                       \
      ASSERT_EQ(y.dtype(), nd::DType::f32) << what;                           \
      torch::Tensor tx = to_torch(x).to(torch_dtype(d)), tx64 = to_torch(x);  \
      if (std::string(#name) != "cbrt") /* (libtorch has no cbrt) */          \
        ASSERT_EQ(name(tx).scalar_type(), torch::kFloat32) << what;           \
      same_values(y, name(tx64), what);                                       \
    }                                                                         \
  }
#define NDGRAD_BINARY_OP(name, dtypes, ...)                                                       \
  if constexpr (DTypeRule::dtypes == DTypeRule::floating_promote) {                               \
    ++rows;                                                                                       \
    for (nd::DType da : kStorageAndCompute)                                                       \
      for (nd::DType db : kStorageAndCompute) {                                                   \
        if (nd::is_floating(da) && nd::is_floating(db)) continue;                                 \
        const std::string what =                                                                  \
            std::string(#name " ") + nd::dtype_name(da) + " " + nd::dtype_name(db);               \
        const nd::Tensor a = sa.to(da), b = sb.to(db);                                            \
        const nd::Tensor y = nd::name(a, b);                                                      \
        const nd::DType want = nd::is_floating(da) || nd::is_floating(db)                         \
                                   ? nd::promote_types(da, db)                                    \
                                   : nd::DType::f32;                                              \
        ASSERT_EQ(y.dtype(), want) << what;                                                       \
        torch::Tensor ta = to_torch(a).to(torch_dtype(da)), tb = to_torch(b).to(torch_dtype(db)); \
        try {                                                                                     \
          ASSERT_EQ(name(ta, tb).scalar_type(), torch_dtype(want)) << what;                       \
        } catch (const c10::Error&) { /* no libtorch kernel for these dtypes */                   \
        }                                                                                         \
        torch::Tensor ta64 = to_torch(a), tb64 = to_torch(b);                                     \
        if (nd::is_floating(want) && (nd::is_floating(da) || nd::is_floating(db)))                \
          /* the integer operand converted: the row's floating kernel, as two floating tensors */ \
          expect_same(y, to_torch(nd::name(a.to(want), b.to(want))),                              \
                      what + " as " + nd::dtype_name(want));                                      \
        else                                                                                      \
          same_values(y, name(ta64, tb64), what);                                                 \
        /* a number in place of the floating operand: as its 0-d tensor */                        \
        if (!nd::is_floating(da)) {                                                               \
          const nd::Tensor ys = nd::name(a, 2.5);                                                 \
          ASSERT_EQ(ys.dtype(), nd::DType::f32) << what << " with 2.5";                           \
          torch::Tensor two = torch::full({}, 2.5, torch::kFloat64);                              \
          same_values(ys, name(ta64, two), what + " with 2.5");                                   \
        }                                                                                         \
      }                                                                                           \
  }
#include "ndgrad/op_table.def"
  EXPECT_EQ(rows, 31);
}

// The member spellings against libtorch's members of the same name.
TEST(VsTorch, MemberSpellings) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const nd::Tensor x = away_from_zero({4, 5}, 77);
  const std::vector<std::tuple<std::string, NdFn, TorchFn>> rows = {
      {"var", [](const V& v) { return v[0].var(); }, [](const TV& v) { return v[0].var(); }},
      {"std axis", [](const V& v) { return v[0].std({1}); },
       [](const TV& v) { return v[0].std({1}); }},
      {"norm", [](const V& v) { return v[0].norm(); }, [](const TV& v) { return v[0].norm(); }},
      {"cumsum", [](const V& v) { return v[0].cumsum(0); },
       [](const TV& v) { return v[0].cumsum(0); }},
      {"median", [](const V& v) { return v[0].median(); },
       [](const TV& v) { return v[0].median(); }},
      {"sort", [](const V& v) { return v[0].sort(1, true).values; },
       [](const TV& v) { return std::get<0>(v[0].sort(1, true)); }},
      {"topk", [](const V& v) { return v[0].topk(3).values; },
       [](const TV& v) { return std::get<0>(v[0].topk(3)); }},
      {"clamp", [](const V& v) { return v[0].clamp(-0.5, 0.7); },
       [](const TV& v) { return v[0].clamp(-0.5, 0.7); }},
      {"abs", [](const V& v) { return v[0].abs(); }, [](const TV& v) { return v[0].abs(); }},
  };
  uint64_t seed = 900;
  for (const auto& [name, f, g] : rows) compare("member " + name, f, g, {x}, ++seed);
  expect_same(x.argsort(1), to_torch(x).argsort(int64_t(1), false), "member argsort");
}

// In-place index_put_ with accumulate on every storage dtype, repeated indices included: each
// add rounded (or wrapped) as libtorch's, bit for bit.
TEST(VsTorch, InPlaceIndexPutAccumulateOnStorageDTypes) {
  std::mt19937_64 rng(3);
  std::vector<double> base, vals, idx;
  for (int i = 0; i < 16; ++i) base.push_back(static_cast<double>(rng() % 200) / 8);
  for (int i = 0; i < 64; ++i) {
    vals.push_back(static_cast<double>(rng() % 2000) / 64);
    idx.push_back(static_cast<double>(rng() % 16));
  }
  for (nd::DType d :
       {nd::DType::i32, nd::DType::u8, nd::DType::i8, nd::DType::f16, nd::DType::bf16}) {
    nd::Tensor x = nd::tensor(base, {16}).to(d);
    const nd::Tensor v = nd::tensor(vals, {64}).to(d), i = nd::tensor(idx, {64}, nd::DType::i64);
    torch::Tensor tx = to_torch(x).to(torch_dtype(d)), tv = to_torch(v).to(torch_dtype(d));
    x.index_put_({i}, v, true);
    tx.index_put_({to_torch_index(i)}, tv, true);
    ASSERT_EQ(torch_dtype(x.dtype()), tx.scalar_type());
    expect_same(x, tx.to(torch::kFloat64),
                std::string("index_put_ accumulate ") + nd::dtype_name(d));
  }
}

// pow of integer tensors (non-negative exponents) against libtorch's, bit for bit: exact and
// wrapping in each integer dtype; an integer with a floating operand gives libtorch's dtype.
TEST(VsTorch, IntegerPow) {
  std::mt19937_64 rng(17);
  std::vector<double> a, b;
  for (int i = 0; i < 200; ++i) {
    a.push_back(static_cast<double>(static_cast<int64_t>(rng() % 41) - 20));
    b.push_back(static_cast<double>(rng() % 70));
  }
  for (nd::DType d : {nd::DType::i64, nd::DType::i32, nd::DType::u8, nd::DType::i8}) {
    const nd::Tensor x = nd::tensor(a, {200}).to(d), e = nd::tensor(b, {200}).to(d);
    const torch::Tensor tx = to_torch(x).to(torch_dtype(d)), te = to_torch(e).to(torch_dtype(d));
    const nd::Tensor y = nd::pow(x, e);
    const torch::Tensor ty = torch::pow(tx, te);
    ASSERT_EQ(torch_dtype(y.dtype()), ty.scalar_type()) << nd::dtype_name(d);
    const torch::Tensor ty64 = ty.to(torch::kLong).contiguous();
    const nd::Tensor y64 = y.to(nd::DType::i64);
    for (int64_t i = 0; i < 200; ++i)
      ASSERT_EQ(y64.data_ptr<int64_t>()[i], ty64.data_ptr<int64_t>()[i])
          << nd::dtype_name(d) << " " << a[i] << " ** " << b[i];
    for (nd::DType f : {nd::DType::f32, nd::DType::f64}) {
      const torch::Tensor tf = to_torch(e).to(torch_dtype(f));
      EXPECT_EQ(torch_dtype(nd::pow(x, e.to(f)).dtype()), torch::pow(tx, tf).scalar_type());
      EXPECT_EQ(torch_dtype(nd::pow(e.to(f), x).dtype()), torch::pow(tf, tx).scalar_type());
    }
  }
}

// Convolution (every combination of stride, padding including "same", dilation, groups, bias),
// the transposed convolution, unfold/fold, pooling (padding, dilation, ceil_mode, the count
// rules), the normalizations and embedding: values and gradients against libtorch's.
TEST(VsTorch, ConvolutionPoolingAndNormalization) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  uint64_t seed = 12000;
  auto rnd = [&](const nd::Shape& s) { return nd::randn(s, ++seed, nd::DType::f64); };
  for (int64_t stride : {1, 2})
    for (int64_t pad : {0, 1, 2})
      for (int64_t dil : {1, 2})
        for (int64_t groups : {1, 2})
          for (bool bias : {false, true}) {
            const std::string what = "conv2d stride " + std::to_string(stride) + " padding " +
                                     std::to_string(pad) + " dilation " + std::to_string(dil) +
                                     " groups " + std::to_string(groups) + (bias ? " bias" : "");
            V in = {rnd({2, 4, 7, 6}), rnd({6, 4 / groups, 3, 2})};
            if (bias) in.push_back(rnd({6}));
            compare(
                what,
                [&](const V& x) {
                  return nd::nn::conv2d(x[0], x[1], bias ? x[2] : nd::Tensor(), stride, pad, dil,
                                        groups);
                },
                [&](const TV& x) {
                  return torch::conv2d(x[0], x[1], bias ? x[2] : torch::Tensor(), stride, pad, dil,
                                       groups);
                },
                in, ++seed);
            if (stride == 1 && pad == 0)  // "same", odd and even kernels
              for (int64_t k : {2, 3}) {
                V in2 = {rnd({1, 4, 6, 5}), rnd({2, 4 / groups, k, 3})};
                compare(
                    what + " same k " + std::to_string(k),
                    [&](const V& x) {
                      return nd::nn::conv2d(x[0], x[1], {}, 1, "same", dil, groups);
                    },
                    [&](const TV& x) { return at::conv2d(x[0], x[1], {}, 1, "same", dil, groups); },
                    in2, ++seed);
              }
            // The transposed convolution, with an output_padding below the stride.
            const int64_t op = stride > 1 ? 1 : 0;
            V tin = {rnd({2, 4, 5, 5}), rnd({4, 6 / groups, 3, 2})};
            if (bias) tin.push_back(rnd({6}));
            compare(
                "conv_transpose2d, " + what,
                [&](const V& x) {
                  return nd::nn::conv_transpose2d(x[0], x[1], bias ? x[2] : nd::Tensor(), stride,
                                                  pad, op, groups, dil);
                },
                [&](const TV& x) {
                  return torch::conv_transpose2d(x[0], x[1], bias ? x[2] : torch::Tensor(), stride,
                                                 pad, op, groups, dil);
                },
                tin, ++seed);
          }
  compare(
      "conv1d", [](const V& x) { return nd::nn::conv1d(x[0], x[1], x[2], 2, 1, 2, 2); },
      [](const TV& x) { return torch::conv1d(x[0], x[1], x[2], 2, 1, 2, 2); },
      {rnd({3, 4, 11}), rnd({2, 2, 3}), rnd({2})}, ++seed);
  compare(
      "conv1d same", [](const V& x) { return nd::nn::conv1d(x[0], x[1], {}, 1, "same"); },
      [](const TV& x) { return at::conv1d(x[0], x[1], {}, 1, "same"); },
      {rnd({2, 3, 8}), rnd({4, 3, 4})}, ++seed);
  compare(
      "conv2d unbatched", [](const V& x) { return nd::nn::conv2d(x[0], x[1], x[2], 1, 1); },
      [](const TV& x) { return torch::conv2d(x[0], x[1], x[2], 1, 1); },
      {rnd({3, 5, 5}), rnd({2, 3, 3, 3}), rnd({2})}, ++seed);
  compare(
      "unfold",
      [](const V& x) {
        return nd::nn::unfold(x[0], {2, 3}, {2, 1}, {1, 0}, {1, 2});
      },
      [](const TV& x) {
        return torch::im2col(x[0], {2, 3}, {2, 1}, {1, 0}, {1, 2});
      },
      {rnd({2, 3, 6, 7})}, ++seed);
  compare(
      "fold",
      [](const V& x) {
        return nd::nn::fold(x[0], {5, 6}, {2, 3}, 1, {1, 0}, {2, 1});
      },
      [](const TV& x) {
        return torch::col2im(x[0], {5, 6}, {2, 3}, {1, 1}, {1, 0}, {2, 1});
      },
      {rnd({2, 18, 12})}, ++seed);
  for (bool ceil : {false, true})
    for (int64_t pad : {0, 1})
      for (int64_t dil : {1, 2}) {
        const std::string what = std::string(ceil ? " ceil" : "") + " padding " +
                                 std::to_string(pad) + " dilation " + std::to_string(dil);
        compare(
            "max_pool2d" + what,
            [&](const V& x) {
              return nd::nn::max_pool2d(x[0], 3, nd::nn::Size2(2), pad, dil, ceil);
            },
            [&](const TV& x) { return torch::max_pool2d(x[0], 3, 2, pad, dil, ceil); },
            {rnd({2, 3, 8, 9})}, ++seed);
        if (dil == 1)
          for (bool count_pad : {false, true})
            compare(
                "avg_pool2d" + what + (count_pad ? " count_include_pad" : ""),
                [&](const V& x) {
                  return nd::nn::avg_pool2d(x[0], 3, nd::nn::Size2(2), pad, ceil, count_pad);
                },
                [&](const TV& x) { return torch::avg_pool2d(x[0], 3, 2, pad, ceil, count_pad); },
                {rnd({2, 3, 8, 9})}, ++seed);
      }
  compare(
      "max_pool1d", [](const V& x) { return nd::nn::max_pool1d(x[0], 3, 2, 1, 1, true); },
      [](const TV& x) { return torch::max_pool1d(x[0], 3, 2, 1, 1, true); }, {rnd({2, 3, 10})},
      ++seed);
  compare(
      "avg_pool2d divisor_override",
      [](const V& x) { return nd::nn::avg_pool2d(x[0], 2, std::nullopt, 1, false, true, 3); },
      [](const TV& x) { return torch::avg_pool2d(x[0], 2, {}, 1, false, true, 3); },
      {rnd({1, 2, 5, 5})}, ++seed);
  for (const auto& [oh, ow] : std::vector<std::pair<int64_t, int64_t>>{{3, 2}, {1, 1}, {7, 4}})
    compare(
        "adaptive_avg_pool2d " + std::to_string(oh) + "x" + std::to_string(ow),
        [&](const V& x) {
          return nd::nn::adaptive_avg_pool2d(x[0], {oh, ow});
        },
        [&](const TV& x) {
          return torch::adaptive_avg_pool2d(x[0], {oh, ow});
        },
        {rnd({2, 3, 7, 5})}, ++seed);
  // Normalization: training (batch statistics, and the running ones updated as libtorch's)
  // and evaluation.
  for (const nd::Shape& s : std::vector<nd::Shape>{{4, 3}, {2, 3, 5}, {2, 3, 4, 2}}) {
    const nd::Tensor rm = rnd({3}), rv = nd::abs(rnd({3})) + 0.5;
    nd::Tensor nd_rm = rm.clone(), nd_rv = rv.clone();
    torch::Tensor t_rm = to_torch(rm), t_rv = to_torch(rv);
    compare(
        "batch_norm training " + nd::shape_str(s),
        [&](const V& x) { return nd::nn::batch_norm(x[0], nd_rm, nd_rv, x[1], x[2], true, 0.2); },
        [&](const TV& x) {
          return torch::batch_norm(x[0], x[1], x[2], t_rm, t_rv, true, 0.2, 1e-5, false);
        },
        {rnd(s), rnd({3}), rnd({3})}, ++seed);
    expect_same(nd_rm, t_rm, "batch_norm running_mean " + nd::shape_str(s));
    expect_same(nd_rv, t_rv, "batch_norm running_var " + nd::shape_str(s));
    compare(
        "batch_norm evaluation " + nd::shape_str(s),
        [&](const V& x) { return nd::nn::batch_norm(x[0], rm, rv, x[1], x[2], false); },
        [&](const TV& x) {
          return torch::batch_norm(x[0], x[1], x[2], to_torch(rm), to_torch(rv), false, 0.1, 1e-5,
                                   false);
        },
        {rnd(s), rnd({3}), rnd({3})}, ++seed);
  }
  compare(
      "layer_norm",
      [](const V& x) {
        return nd::nn::layer_norm(x[0], {3, 4}, x[1], x[2]);
      },
      [](const TV& x) {
        return torch::layer_norm(x[0], {3, 4}, x[1], x[2]);
      },
      {rnd({2, 3, 4}), rnd({3, 4}), rnd({3, 4})}, ++seed);
  compare(
      "group_norm", [](const V& x) { return nd::nn::group_norm(x[0], 3, x[1], x[2]); },
      [](const TV& x) { return torch::group_norm(x[0], 3, x[1], x[2]); },
      {rnd({2, 6, 3, 2}), rnd({6}), rnd({6})}, ++seed);
  // embedding with padding_idx: that row gets no gradient (libtorch's), the others accumulate.
  const nd::Tensor idx = nd::tensor({1, 3, 3, 0, 2, 3, 4, 1}, {2, 4}, nd::DType::i64);
  for (std::optional<int64_t> p : {std::optional<int64_t>(), std::optional<int64_t>(3)})
    compare(
        std::string("embedding") + (p ? " padding_idx 3" : ""),
        [&](const V& x) { return nd::nn::embedding(idx, x[0], p); },
        [&](const TV& x) { return torch::embedding(x[0], to_torch_index(idx), p ? *p : -1); },
        {rnd({5, 3})}, ++seed);
}

// The edges an adversarial review found: NaN and inf in adaptive pooling stay in their windows,
// output_padding at or past the stride (below the dilation), ceil_mode windows larger than the
// input, all -inf windows next to padding, empty batches, half dtypes; and bad arguments are
// typed errors, huge ones included.
TEST(VsTorch, ConvolutionAndPoolingEdges) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const double inf = std::numeric_limits<double>::infinity();
  nd::Tensor special = nd::arange(20, nd::DType::f64).reshape({1, 1, 4, 5});
  special.index_put_({0, 0, 0, 0}, NAN);
  special.index_put_({0, 0, 3, 4}, inf);
  for (const auto& [oh, ow] : std::vector<std::pair<int64_t, int64_t>>{{2, 2}, {4, 5}, {3, 4}})
    compare(
        "adaptive_avg_pool2d with NaN and inf " + std::to_string(oh) + "x" + std::to_string(ow),
        [&](const V& x) {
          return nd::nn::adaptive_avg_pool2d(x[0], {oh, ow});
        },
        [&](const TV& x) {
          return torch::adaptive_avg_pool2d(x[0], {oh, ow});
        },
        {special}, 1);
  for (int64_t pad : {0, 1, 2})
    compare(
        "conv_transpose2d output_padding 1 with stride 1, dilation 2, padding " +
            std::to_string(pad),
        [&](const V& x) { return nd::nn::conv_transpose2d(x[0], x[1], x[2], 1, pad, 1, 1, 2); },
        [&](const TV& x) { return torch::conv_transpose2d(x[0], x[1], x[2], 1, pad, 1, 1, 2); },
        {nd::randn({1, 4, 5, 5}, 2, nd::DType::f64), nd::randn({4, 2, 3, 3}, 3, nd::DType::f64),
         nd::randn({2}, 4, nd::DType::f64)},
        5);
  const nd::Tensor small = nd::randn({1, 2, 2, 2}, 6, nd::DType::f64);
  compare(
      "max_pool2d ceil_mode, window larger than the input",
      [](const V& x) { return nd::nn::max_pool2d(x[0], 3, nd::nn::Size2(3), 0, 1, true); },
      [](const TV& x) { return torch::max_pool2d(x[0], 3, 3, 0, 1, true); }, {small}, 7);
  compare(
      "avg_pool2d ceil_mode, window larger than the input",
      [](const V& x) { return nd::nn::avg_pool2d(x[0], 3, nd::nn::Size2(3), 0, true); },
      [](const TV& x) { return torch::avg_pool2d(x[0], 3, 3, 0, true); }, {small}, 8);
  compare(
      "max_pool2d all -inf windows with padding",
      [&](const V& x) { return nd::nn::max_pool2d(x[0] - inf, 3, nd::nn::Size2(1), 1); },
      [&](const TV& x) { return torch::max_pool2d(x[0] - inf, 3, 1, 1); },
      {nd::zeros({1, 1, 3, 3}, nd::DType::f64)}, 9);
  EXPECT_EQ(nd::nn::group_norm(nd::zeros({0, 4, 3}), 2).shape(), (nd::Shape{0, 4, 3}));
  nd::Tensor rm = nd::zeros({3}), rv = nd::ones({3});
  EXPECT_EQ(nd::nn::batch_norm(nd::zeros({0, 3}), rm, rv, {}, {}, true).shape(), (nd::Shape{0, 3}));
  EXPECT_EQ(rm.to_vector(), std::vector<double>(3, 0.0));
  EXPECT_EQ(nd::nn::avg_pool2d(nd::full({1, 1, 64, 64}, 1000, nd::DType::f16), 64).item(), 1000);
  EXPECT_EQ(nd::nn::avg_pool2d(nd::full({1, 1, 17, 17}, 3, nd::DType::bf16), 17).item(), 3);
  // Typed errors.
  const nd::Tensor img = nd::zeros({1, 1, 4, 4});
  expect_error<nd::IndexError>(
      [] {
        nd::nn::embedding(nd::tensor({-1, 0}, {2}, nd::DType::i64), nd::ones({3, 2}), 2);
      },
      {"embedding", "-1"});
  expect_error<nd::DTypeError>(
      [&] {
        nd::nn::conv2d(img.to(nd::DType::i64), nd::ones({1, 1, 2, 2}, nd::DType::i64));
      },
      {"conv2d", "floating"});
  expect_error<nd::DTypeError>(
      [&] {
        nd::nn::conv2d(img, nd::ones({1, 1, 2, 2}, nd::DType::f64));
      },
      {"conv2d", "f64"});
  expect_error<nd::ShapeError>(
      [&] {
        nd::nn::conv2d(img, nd::ones({1, 1, 5, 5}));
      },
      {"conv2d", "kernel (5, 5)"});
  expect_error<nd::ShapeError>([] { nd::nn::max_pool1d(nd::zeros({1, 1, 2}), 3); }, {"max_pool1d"});
  const int64_t huge = int64_t(1) << 32;
  expect_error<nd::ValueError>(
      [&] {
        nd::nn::fold(nd::zeros({1, 4, 1}), {huge, huge}, {huge, huge});
      },
      {"fold"});
  expect_error<nd::ValueError>(
      [&] {
        nd::nn::unfold(nd::zeros({1, 1, 1, 1}), {huge, huge}, 1, {huge / 2, huge / 2},
                       {huge, huge});
      },
      {"unfold"});
  expect_error<nd::ValueError>(
      [] {
        nd::nn::adaptive_avg_pool2d(nd::zeros({1, 1, 4, 4}), {int64_t(1) << 62, 1});
      },
      {"adaptive_avg_pool2d"});
  const std::vector<double> cols =
      nd::nn::unfold(nd::arange(16).reshape({1, 1, 4, 4}), 3, 1, 0, INT64_MAX / 4).to_vector();
  EXPECT_EQ(cols, (std::vector<double>{0, 1, 2, 4, 5, 6, 8, 9, 10}));
}

// conv2d and max_pool2d in float32 run their own kernels (one GEMM an image, the own sgemm; a
// vectorized 2x2 pooling): their values and gradients against libtorch's float64 on the same
// float32 inputs, random upstream gradients, on one thread and two (the images split over
// them), the input with and without a gradient (a first layer needs none).
TEST(VsTorch, ConvolutionAndPoolingFloat32) {
  uint64_t seed = 31000;
  auto close = [](const nd::Tensor& a, const torch::Tensor& b, double tol,
                  const std::string& what) {
    ASSERT_TRUE(a.defined()) << what;
    ASSERT_EQ(a.shape(), nd::Shape(b.sizes().begin(), b.sizes().end())) << what;
    const torch::Tensor bc = b.contiguous().to(torch::kFloat64);
    const std::vector<double> av = a.to_vector();
    const double* bp = bc.data_ptr<double>();
    double scale = 0;
    for (size_t i = 0; i < av.size(); ++i)
      if (std::isfinite(bp[i])) scale = std::max(scale, std::fabs(bp[i]));
    for (size_t i = 0; i < av.size(); ++i) {
      if (std::isnan(bp[i]) || std::isinf(bp[i])) {
        ASSERT_TRUE(std::isnan(bp[i]) ? std::isnan(av[i]) : av[i] == bp[i])
            << what << " at flat index " << i << ": " << av[i] << " vs " << bp[i];
        continue;
      }
      ASSERT_NEAR(av[i], bp[i], tol * (1 + scale)) << what << " at flat index " << i;
    }
  };
  const int threads_before = nd::get_num_threads();
  for (int threads : {1, 2}) {
    nd::set_num_threads(threads);
    struct Case {
      nd::Shape x, w;
      int64_t stride, pad, dil, groups;
      bool bias, x_grad;
    };
    const std::vector<Case> cases = {
        {{5, 8, 9, 10}, {16, 8, 3, 3}, 1, 1, 1, 1, true, true},
        {{5, 8, 9, 10}, {16, 8, 3, 3}, 1, 1, 1, 1, true, false},
        {{3, 1, 12, 11}, {32, 1, 3, 3}, 1, 1, 1, 1, true, false},  // ck < 16
        {{3, 6, 11, 9}, {4, 3, 3, 2}, 2, 1, 2, 2, false, true},    // groups, dilation, stride
        {{4, 12, 7, 8}, {20, 12, 1, 1}, 1, 0, 1, 1, true, true},   // pointwise: no columns
        {{2, 4, 8, 8}, {64, 4, 2, 2}, 2, 0, 1, 1, true, true},     // og > ck >= 16
        {{1, 16, 6, 5}, {8, 4, 3, 3}, 1, 2, 1, 4, true, true},     // one image, 4 groups
        {{2, 5, 20, 37}, {7, 5, 3, 5}, 1, 2, 2, 1, true, true},    // dilation at stride 1
        {{2, 5, 20, 37}, {7, 5, 3, 3}, 1, 2, 2, 1, true, true},    // the same, as wide as x
    };
    for (const Case& c : cases) {
      const std::string what =
          "conv2d f32 x " + nd::shape_str(c.x) + " w " + nd::shape_str(c.w) + " stride " +
          std::to_string(c.stride) + " padding " + std::to_string(c.pad) + " dilation " +
          std::to_string(c.dil) + " groups " + std::to_string(c.groups) + ", " +
          std::to_string(threads) + " thread(s)" + (c.x_grad ? "" : ", x without gradient");
      nd::Tensor x = nd::randn(c.x, ++seed, nd::DType::f32),
                 w = nd::randn(c.w, ++seed, nd::DType::f32),
                 b = nd::randn({c.w[0]}, ++seed, nd::DType::f32);
      if (c.x_grad) x.requires_grad_();
      w.requires_grad_();
      b.requires_grad_();
      torch::Tensor tx = to_torch(x).requires_grad_(c.x_grad),
                    tw = to_torch(w).requires_grad_(true), tb = to_torch(b).requires_grad_(true);
      const nd::Tensor y =
          nd::nn::conv2d(x, w, c.bias ? b : nd::Tensor(), c.stride, c.pad, c.dil, c.groups);
      const torch::Tensor ty =
          torch::conv2d(tx, tw, c.bias ? tb : torch::Tensor(), c.stride, c.pad, c.dil, c.groups);
      close(y, ty, 1e-5, what + " forward");
      const nd::Tensor u = nd::randn(y.shape(), ++seed, nd::DType::f32);
      y.backward(u);
      ty.backward(to_torch(u));
      if (c.x_grad) close(x.grad(), tx.grad(), 1e-5, what + " gradient of x");
      close(w.grad(), tw.grad(), 1e-5, what + " gradient of the weight");
      if (c.bias) close(b.grad(), tb.grad(), 1e-5, what + " gradient of the bias");
    }
    // Max pooling: ties (small integers), NaN, -inf and +inf; rows of windows shorter and longer
    // than a vector (7 and 37 windows) and a leftover row and column; the general windows too.
    for (const nd::Shape& s :
         std::vector<nd::Shape>{{3, 4, 15, 15}, {2, 3, 9, 75}, {2, 2, 28, 28}}) {
      nd::Tensor x = nd::floor(nd::randn(s, ++seed, nd::DType::f32) * 2.0);
      x.index_put_({0, 0, 0, 0}, NAN);
      x.index_put_({0, 0, 1, 1}, NAN);
      x.index_put_({0, 1, 2, 2}, -std::numeric_limits<double>::infinity());
      x.index_put_({0, 1, 2, 3}, -std::numeric_limits<double>::infinity());
      x.index_put_({0, 1, 3, 2}, -std::numeric_limits<double>::infinity());
      x.index_put_({0, 1, 3, 3}, -std::numeric_limits<double>::infinity());
      x.index_put_({1, 0, 4, 5}, std::numeric_limits<double>::infinity());
      x.index_put_({1, 0, 5, 4}, NAN);
      x = x.detach().requires_grad_();
      struct Pool {
        int64_t kernel, stride, pad, dil;
        bool ceil;
      };
      for (const Pool& p : std::vector<Pool>{
               {2, 2, 0, 1, false}, {2, 2, 0, 1, true}, {3, 2, 1, 1, true}, {3, 1, 1, 2, false}}) {
        const std::string what = "max_pool2d f32 " + nd::shape_str(s) + " kernel " +
                                 std::to_string(p.kernel) + " stride " + std::to_string(p.stride) +
                                 " padding " + std::to_string(p.pad) + " dilation " +
                                 std::to_string(p.dil) + (p.ceil ? " ceil" : "");
        x.zero_grad();
        torch::Tensor tx = to_torch(x).to(torch::kFloat32).requires_grad_(true);
        const nd::Tensor y =
            nd::nn::max_pool2d(x, p.kernel, nd::nn::Size2(p.stride), p.pad, p.dil, p.ceil);
        const torch::Tensor ty = torch::max_pool2d(tx, p.kernel, p.stride, p.pad, p.dil, p.ceil);
        close(y, ty, 0, what + " forward");
        const nd::Tensor u = nd::randn(y.shape(), ++seed, nd::DType::f32);
        y.backward(u);
        ty.backward(to_torch(u).to(torch::kFloat32));
        close(x.grad(), tx.grad(), 1e-6, what + " gradient");
      }
    }
  }
  nd::set_num_threads(threads_before);
}

// Second derivatives through conv2d and max_pool2d (their rules under create_graph are the
// unfold/matmul formulas): against libtorch's double backward.
TEST(VsTorch, ConvolutionAndPoolingSecondOrder) {
  uint64_t seed = 32000;
  auto rnd = [&](const nd::Shape& s) { return nd::randn(s, ++seed, nd::DType::f64); };
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const std::vector<std::tuple<std::string, std::function<nd::Tensor(const V&)>,
                               std::function<torch::Tensor(const TV&)>, V>>
      rows = {
          {"conv2d groups 2 stride 2 padding 1 dilation 2",
           [](const V& x) { return nd::nn::conv2d(x[0], x[1], x[2], 2, 1, 2, 2); },
           [](const TV& x) { return torch::conv2d(x[0], x[1], x[2], 2, 1, 2, 2); },
           {rnd({2, 4, 7, 6}), rnd({6, 2, 3, 2}), rnd({6})}},
          {"conv2d padding same",
           [](const V& x) { return nd::nn::conv2d(x[0], x[1], x[2], 1, "same"); },
           [](const TV& x) { return at::conv2d(x[0], x[1], x[2], 1, "same"); },
           {rnd({2, 3, 6, 5}), rnd({4, 3, 3, 3}), rnd({4})}},
          {"max_pool2d 2 then 3 padding 1",
           [](const V& x) {
             return nd::nn::max_pool2d(nd::nn::max_pool2d(x[0] * x[0], 2), 3, nd::nn::Size2(1), 1);
           },
           [](const TV& x) {
             return torch::max_pool2d(torch::max_pool2d(x[0] * x[0], 2), 3, 1, 1);
           },
           {rnd({2, 3, 8, 9})}},
      };
  for (const auto& [name, f, g, inputs] : rows) {
    V xs;
    TV ts;
    for (const nd::Tensor& t : inputs) {
      xs.push_back(t.detach().requires_grad_());
      ts.push_back(to_torch(t).requires_grad_(true));
    }
    const nd::Tensor y = f(xs);
    const torch::Tensor ty = g(ts);
    const nd::Tensor u = rnd(y.shape());
    const std::vector<nd::Tensor> gs = nd::grad(y, xs, u, /*create_graph=*/true);
    const std::vector<torch::Tensor> tgs =
        torch::autograd::grad({ty}, ts, {to_torch(u)}, /*retain_graph=*/true, true);
    nd::Tensor r = nd::zeros({}, nd::DType::f64);
    torch::Tensor tr = torch::zeros({}, torch::kFloat64);
    for (size_t i = 0; i < xs.size(); ++i) {
      expect_same(gs[i], tgs[i], name + " first order, input " + std::to_string(i));
      const nd::Tensor v = rnd(xs[i].shape());
      r = r + (gs[i] * v).sum();
      tr = tr + (tgs[i] * to_torch(v)).sum();
    }
    r.backward();
    tr.backward();
    for (size_t i = 0; i < xs.size(); ++i)
      if (ts[i].grad().defined())
        expect_same(xs[i].grad(), ts[i].grad(), name + " second order, input " + std::to_string(i));
  }
}

// The losses with their options against torch::nn::functional's: reductions, class weights,
// ignore_index, label smoothing, N-d targets, pos_weight, beta/delta, log_target.
TEST(VsTorch, Losses) {
  namespace F = torch::nn::functional;
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  using R = nd::nn::Reduction;
  uint64_t seed = 13000;
  auto rnd = [&](const nd::Shape& s) { return nd::randn(s, ++seed, nd::DType::f64); };
  auto prob = [&](const nd::Shape& s) { return nd::sigmoid(rnd(s)); };
  auto torch_reduction = [](R r) -> std::string {
    return r == R::none ? "none" : r == R::sum ? "sum" : "mean";
  };
  const nd::Tensor t2 =
      nd::tensor({1, 3, -100, 0, 2, 3, 1, -100, 0, 2, 1, 3}, {3, 4}, nd::DType::i64);
  const nd::Tensor t1 = nd::tensor({1, 3, 0, 2, 2}, {5}, nd::DType::i64);
  for (R r : {R::none, R::sum, R::mean}) {
    const std::string rs = torch_reduction(r);
    auto ce_opts = [&](double smoothing, bool) {
      auto o = F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(smoothing);
      o = r == R::none  ? o.reduction(torch::kNone)
          : r == R::sum ? o.reduction(torch::kSum)
                        : o.reduction(torch::kMean);
      return o;
    };
    for (double eps : {0.0, 0.2})
      for (bool weighted : {false, true}) {
        const std::string what = "cross_entropy " + rs + " smoothing " + std::to_string(eps) +
                                 (weighted ? " weighted" : "");
        // (Class weights are constants: libtorch differentiates none of its losses by them.)
        const nd::Tensor w5 = nd::abs(rnd({5})) + 0.1, w4 = nd::abs(rnd({4})) + 0.1;
        compare(
            what + " (B, C, d)",
            [&](const V& x) {
              return nd::nn::cross_entropy(x[0], t2, weighted ? w5 : nd::Tensor(), -100, eps, r);
            },
            [&](const TV& x) {
              auto o = ce_opts(eps, weighted);
              if (weighted) o = o.weight(to_torch(w5));
              return F::cross_entropy(x[0], to_torch_index(t2), o);
            },
            {rnd({3, 5, 4})}, ++seed);
        compare(
            what + " (B, C)",
            [&](const V& x) {
              return nd::nn::cross_entropy(x[0], t1, weighted ? w4 : nd::Tensor(), 2, eps, r);
            },
            [&](const TV& x) {
              auto o = ce_opts(eps, weighted).ignore_index(2);
              if (weighted) o = o.weight(to_torch(w4));
              return F::cross_entropy(x[0], to_torch_index(t1), o);
            },
            {rnd({5, 4})}, ++seed);
      }
    const nd::Tensor w5 = nd::abs(rnd({5})) + 0.1;
    compare(
        "nll_loss weighted " + rs,
        [&](const V& x) { return nd::nn::nll_loss(x[0], t2, w5, -100, r); },
        [&](const TV& x) {
          auto o = F::NLLLossFuncOptions().weight(to_torch(w5)).ignore_index(-100);
          o = r == R::none  ? o.reduction(torch::kNone)
              : r == R::sum ? o.reduction(torch::kSum)
                            : o.reduction(torch::kMean);
          return F::nll_loss(x[0], to_torch_index(t2), o);
        },
        {rnd({3, 5, 4})}, ++seed);
    auto reduction_of = [&](auto o) {
      return r == R::none  ? o.reduction(torch::kNone)
             : r == R::sum ? o.reduction(torch::kSum)
                           : o.reduction(torch::kMean);
    };
    // (Targets and weights constants: libtorch differentiates these losses by the input only.)
    const nd::Tensor target = prob({3, 4}), w = rnd({4}), pw = nd::abs(rnd({4}));
    compare(
        "binary_cross_entropy weighted " + rs,
        [&](const V& x) { return nd::nn::binary_cross_entropy(x[0], target, w, r); },
        [&](const TV& x) {
          return F::binary_cross_entropy(
              x[0], to_torch(target),
              reduction_of(F::BinaryCrossEntropyFuncOptions().weight(to_torch(w))));
        },
        {prob({3, 4})}, ++seed);
    compare(
        "binary_cross_entropy_with_logits pos_weight " + rs,
        [&](const V& x) {
          return nd::nn::binary_cross_entropy_with_logits(x[0] * 8.0, target, w, pw, r);
        },
        [&](const TV& x) {
          return F::binary_cross_entropy_with_logits(
              x[0] * 8.0, to_torch(target),
              reduction_of(F::BinaryCrossEntropyWithLogitsFuncOptions()
                               .weight(to_torch(w))
                               .pos_weight(to_torch(pw))));
        },
        {rnd({3, 4})}, ++seed);
    compare(
        "l1_loss " + rs, [&](const V& x) { return nd::nn::l1_loss(x[0], x[1], r); },
        [&](const TV& x) { return F::l1_loss(x[0], x[1], reduction_of(F::L1LossFuncOptions())); },
        {rnd({3, 4}), rnd({3, 4})}, ++seed);
    compare(
        "mse_loss " + rs, [&](const V& x) { return nd::nn::mse_loss(x[0], x[1], r); },
        [&](const TV& x) { return F::mse_loss(x[0], x[1], reduction_of(F::MSELossFuncOptions())); },
        {rnd({3, 4}), rnd({3, 4})}, ++seed);
    compare(
        "smooth_l1_loss beta 0.5 " + rs,
        [&](const V& x) { return nd::nn::smooth_l1_loss(x[0], x[1], r, 0.5); },
        [&](const TV& x) {
          return F::smooth_l1_loss(x[0], x[1], reduction_of(F::SmoothL1LossFuncOptions()), 0.5);
        },
        {rnd({3, 4}), rnd({3, 4})}, ++seed);
    compare(
        "huber_loss delta 0.7 " + rs,
        [&](const V& x) { return nd::nn::huber_loss(x[0], x[1], r, 0.7); },
        [&](const TV& x) {
          return F::huber_loss(x[0], x[1], reduction_of(F::HuberLossFuncOptions().delta(0.7)));
        },
        {rnd({3, 4}), rnd({3, 4})}, ++seed);
    for (bool log_target : {false, true})
      compare(
          "kl_div " + rs + (log_target ? " log_target" : ""),
          [&](const V& x) { return nd::nn::kl_div(x[0], x[1], r, log_target); },
          [&](const TV& x) {
            return F::kl_div(x[0], x[1],
                             reduction_of(F::KLDivFuncOptions().log_target(log_target)));
          },
          {nd::nn::log_softmax(rnd({3, 4})),
           log_target ? nd::nn::log_softmax(rnd({3, 4})) : nd::nn::softmax(rnd({3, 4}))},
          ++seed);
  }
  compare(
      "kl_div batchmean", [&](const V& x) { return nd::nn::kl_div(x[0], x[1], R::batchmean); },
      [&](const TV& x) {
        return F::kl_div(x[0], x[1], F::KLDivFuncOptions().reduction(torch::kBatchMean));
      },
      {nd::nn::log_softmax(rnd({3, 4})), nd::nn::softmax(rnd({3, 4}))}, ++seed);
  expect_error<nd::IndexError>(
      [&] {
        nd::nn::nll_loss(rnd({2, 3}), nd::tensor({0, 3}, {2}, nd::DType::i64));
      },
      {"nll_loss", "3", "3 classes"});
  expect_error<nd::ShapeError>(
      [&] {
        nd::nn::cross_entropy(rnd({2, 3, 4}), t1, {}, -100, 0.0);
      },
      {"cross_entropy", "(2,4)"});
}

// Gradient clipping against torch::nn::utils': the total norm returned and the gradients scaled
// (or clamped) as libtorch's, for p = 1, 2, 3 and inf, clipping and not.
TEST(VsTorch, GradientClipping) {
  for (double p : {1.0, 2.0, 3.0, std::numeric_limits<double>::infinity()})
    for (double max_norm : {0.5, 100.0}) {
      std::vector<nd::Tensor> ps;
      std::vector<torch::Tensor> ts;
      uint64_t seed = 14000;
      for (const nd::Shape& s : std::vector<nd::Shape>{{3, 4}, {5}, {2, 2, 2}}) {
        nd::Tensor x = nd::randn(s, ++seed, nd::DType::f64).requires_grad_();
        (x * nd::randn(s, ++seed, nd::DType::f64)).sum().backward();
        ps.push_back(x);
        torch::Tensor t = to_torch(x).requires_grad_(true);
        t.mutable_grad() = to_torch(x.grad());
        ts.push_back(t);
      }
      const double got = nd::nn::clip_grad_norm_(ps, max_norm, p);
      const double want = torch::nn::utils::clip_grad_norm_(ts, max_norm, p);
      EXPECT_NEAR(got, want, 1e-12 * want) << p;
      for (size_t i = 0; i < ps.size(); ++i)
        expect_same(ps[i].grad(), ts[i].grad(), "clip_grad_norm_ p " + std::to_string(p));
    }
  nd::Tensor x = nd::randn({10}, 5, nd::DType::f64).requires_grad_();
  (x * 3.0).sum().backward();
  nd::nn::clip_grad_value_({x}, 1.5);
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(10, 1.5));
}

// Every optimizer and option against libtorch's: three f64 parameters in two groups (the second
// with its own lr and weight decay), seven steps of random gradients, the lr and the momentum
// changed between steps as a schedule would; a parameter without a gradient at one step.
TEST(VsTorch, Optimizers) {
  using Make =
      std::function<std::unique_ptr<nd::optim::Optimizer>(std::vector<nd::optim::ParamGroup>)>;
  using MakeT = std::function<std::unique_ptr<torch::optim::Optimizer>(
      std::vector<torch::Tensor>, double lr, double wd, double momentum)>;
  struct Case {
    std::string name;
    Make make;
    MakeT make_torch;  // one a group: libtorch's options for the group's lr, weight decay, momentum
    double lr, wd, momentum;
  };
  namespace o = nd::optim;
  namespace to = torch::optim;
  std::vector<Case> cases;
  for (bool nesterov : {false, true})
    for (double damp : {0.0, 0.3}) {
      if (nesterov && damp != 0) continue;
      cases.push_back(
          {"SGD nesterov " + std::to_string(nesterov) + " dampening " + std::to_string(damp),
           [=](auto g) {
             return std::make_unique<o::SGD>(
                 g, o::SGDOptions(0.1).momentum(0.9).dampening(damp).nesterov(nesterov));
           },
           [=](auto p, double lr, double wd, double mu) {
             return std::make_unique<to::SGD>(
                 p, to::SGDOptions(lr).momentum(mu).dampening(damp).nesterov(nesterov).weight_decay(
                        wd));
           },
           0.1, 0.0, 0.9});
    }
  cases.push_back({"SGD plain",
                   [](auto g) { return std::make_unique<o::SGD>(g, o::SGDOptions(0.2)); },
                   [](auto p, double lr, double wd, double) {
                     return std::make_unique<to::SGD>(p, to::SGDOptions(lr).weight_decay(wd));
                   },
                   0.2, 0.0, 0.0});
  for (bool ams : {false, true}) {
    cases.push_back(
        {std::string("Adam amsgrad ") + (ams ? "on" : "off"),
         [=](auto g) {
           return std::make_unique<o::Adam>(
               g, o::AdamOptions(0.01).beta2(0.99).eps(1e-6).weight_decay(0.05).amsgrad(ams));
         },
         [=](auto p, double lr, double wd, double b1) {
           return std::make_unique<to::Adam>(p, to::AdamOptions(lr)
                                                    .betas(std::make_tuple(b1, 0.99))
                                                    .eps(1e-6)
                                                    .weight_decay(wd)
                                                    .amsgrad(ams));
         },
         0.01, 0.05, 0.9});
    cases.push_back({std::string("AdamW amsgrad ") + (ams ? "on" : "off"),
                     [=](auto g) {
                       return std::make_unique<o::AdamW>(
                           g, o::AdamWOptions(0.01).beta1(0.8).amsgrad(ams));
                     },
                     [=](auto p, double lr, double wd, double b1) {
                       return std::make_unique<to::AdamW>(p, to::AdamWOptions(lr)
                                                                 .betas(std::make_tuple(b1, 0.999))
                                                                 .weight_decay(wd)
                                                                 .amsgrad(ams));
                     },
                     0.01, 0.01, 0.8});
  }
  for (bool centered : {false, true})
    for (double mu : {0.0, 0.5})
      cases.push_back(
          {"RMSprop centered " + std::to_string(centered) + " momentum " + std::to_string(mu),
           [=](auto g) {
             return std::make_unique<o::RMSprop>(
                 g, o::RMSpropOptions(0.01).alpha(0.9).momentum(mu).centered(centered).weight_decay(
                        0.1));
           },
           [=](auto p, double lr, double wd, double m) {
             return std::make_unique<to::RMSprop>(
                 p,
                 to::RMSpropOptions(lr).alpha(0.9).momentum(m).centered(centered).weight_decay(wd));
           },
           0.01, 0.1, mu});
  cases.push_back(
      {"Adagrad",
       [](auto g) {
         return std::make_unique<o::Adagrad>(
             g, o::AdagradOptions(0.1).lr_decay(0.01).initial_accumulator_value(0.2).weight_decay(
                    0.02));
       },
       [](auto p, double lr, double wd, double) {
         return std::make_unique<to::Adagrad>(
             p,
             to::AdagradOptions(lr).lr_decay(0.01).initial_accumulator_value(0.2).weight_decay(wd));
       },
       0.1, 0.02, 0.0});
  uint64_t seed = 15000;
  for (const Case& c : cases) {
    const std::vector<nd::Shape> shapes{{3, 4}, {5}, {2, 3}};
    std::vector<nd::Tensor> ps;
    std::vector<torch::Tensor> ts;
    for (const auto& s : shapes) {
      ps.push_back(nd::randn(s, ++seed, nd::DType::f64).requires_grad_());
      ts.push_back(to_torch(ps.back()).requires_grad_(true));
    }
    // Group 1 (the last two) with its own lr and weight decay.
    const double lr1 = c.lr * 0.5, wd1 = 0.03;
    std::vector<o::ParamGroup> groups{o::ParamGroup({ps[0]})};
    groups.push_back(o::ParamGroup({ps[1], ps[2]}, lr1));
    groups[1].weight_decay = wd1;
    auto opt = c.make(groups);
    auto t0 = c.make_torch({ts[0]}, c.lr, c.wd, c.momentum);
    auto t1 = c.make_torch({ts[1], ts[2]}, lr1, wd1, c.momentum);
    for (int step = 0; step < 7; ++step) {
      if (step == 3) {  // a schedule's changes: every group's lr, the momentum (beta1)
        opt->param_groups()[0].lr = c.lr * 0.3;
        static_cast<to::OptimizerOptions&>(t0->param_groups()[0].options()).set_lr(c.lr * 0.3);
        if (c.momentum > 0 && c.name.rfind("Adagrad", 0) != 0) {
          for (auto& g : opt->param_groups()) g.momentum = c.momentum * 0.9;
          auto set_m = [&](torch::optim::Optimizer& t) {
            auto& op = t.param_groups()[0].options();
            if (auto* s = dynamic_cast<to::SGDOptions*>(&op)) s->momentum(c.momentum * 0.9);
            if (auto* a = dynamic_cast<to::AdamOptions*>(&op))
              a->betas(std::make_tuple(c.momentum * 0.9, std::get<1>(a->betas())));
            if (auto* a = dynamic_cast<to::AdamWOptions*>(&op))
              a->betas(std::make_tuple(c.momentum * 0.9, std::get<1>(a->betas())));
            if (auto* r = dynamic_cast<to::RMSpropOptions*>(&op)) r->momentum(c.momentum * 0.9);
          };
          set_m(*t0);
          set_m(*t1);
        }
      }
      opt->zero_grad();
      t0->zero_grad();
      t1->zero_grad();
      for (size_t i = 0; i < ps.size(); ++i) {
        if (step == 2 && i == 1) {  // no gradient this step: skipped by both
          ts[i].mutable_grad() = torch::Tensor();
          continue;
        }
        const nd::Tensor r = nd::randn(shapes[i], ++seed, nd::DType::f64);
        (ps[i] * r).sum().backward();
        ts[i].mutable_grad() = to_torch(r);
      }
      opt->step();
      t0->step();
      t1->step();
      for (size_t i = 0; i < ps.size(); ++i)
        expect_same(ps[i], ts[i],
                    c.name + ", step " + std::to_string(step) + ", parameter " + std::to_string(i));
    }
  }
}

namespace {

// a and b agree within tol of b's largest magnitude (1 at least): the scale of a sum's rounding.
void expect_close(const nd::Tensor& a, const torch::Tensor& b, double tol,
                  const std::string& what) {
  ASSERT_TRUE(a.defined()) << what;
  ASSERT_EQ(a.shape(), nd::Shape(b.sizes().begin(), b.sizes().end())) << what;
  const torch::Tensor bd = b.detach().contiguous().to(torch::kFloat64);
  const torch::Tensor ad = to_torch(a.detach());
  const double scale = std::max(1.0, bd.abs().max().item<double>());
  const double err = (ad - bd).abs().max().item<double>();
  EXPECT_LE(err, tol * scale) << what << ": largest difference " << err << " at scale " << scale;
}

// Forward values and every input's gradient for a random upstream gradient, x possibly a
// non-contiguous view, in x's dtype on both sides.
void compare_norm(const std::string& name, const NdFn& f, const TorchFn& g,
                  const std::vector<nd::Tensor>& inputs, uint64_t seed, double tol) {
  std::vector<nd::Tensor> xs;
  std::vector<torch::Tensor> ts;
  for (const auto& x : inputs) {
    xs.push_back(x.detach().requires_grad_());
    ts.push_back(to_torch_as(x).requires_grad_(true));
  }
  nd::Tensor y = f(xs);
  torch::Tensor ty = g(ts);
  expect_close(y, ty, tol, name + " forward");
  const nd::Tensor upstream = nd::randn(y.shape(), seed, y.dtype());
  y.backward(upstream);
  ty.backward(to_torch_as(upstream));
  for (size_t i = 0; i < xs.size(); ++i)
    expect_close(xs[i].grad(), ts[i].grad(), tol, name + " gradient of input " + std::to_string(i));
}

nd::Tensor randn_in(const nd::Shape& s, uint64_t seed, nd::DType dt, bool transposed) {
  if (!transposed) return nd::randn(s, seed, dt) * 1.5 + 0.25;
  nd::Shape t = s;  // the same values laid out with the first two axes swapped
  std::swap(t[0], t[1]);
  const nd::Tensor v = (nd::randn(t, seed, dt) * 1.5 + 0.25).transpose(0, 1);
  if (s[0] > 1 && s[1] > 1) EXPECT_FALSE(v.is_contiguous());
  return v;
}

}  // namespace

// batch_norm and layer_norm as ops of their own (ops/norm.hpp): forward, input, weight and bias
// gradients for random upstream gradients against libtorch's, float32 and float64, on 1 and 2
// threads, with and without the affine, training (running statistics compared too) and
// evaluation, odd sizes and non-contiguous inputs.
TEST(VsTorch, FusedBatchAndLayerNorm) {
  using V = std::vector<nd::Tensor>;
  using TV = std::vector<torch::Tensor>;
  const int threads_before = nd::get_num_threads();
  uint64_t seed = 7000;
  for (int threads : {1, 2}) {
    nd::set_num_threads(threads);
    for (nd::DType dt : {nd::DType::f32, nd::DType::f64}) {
      const double tol = dt == nd::DType::f32 ? 2e-4 : 1e-10;
      const std::string tag = std::string(nd::dtype_name(dt)) + ", " + std::to_string(threads) +
                              " thread" + (threads > 1 ? "s " : " ");
      std::vector<nd::Shape> bn_shapes = {{2, 3},       {4, 3},       {2, 3, 5},
                                          {5, 7, 3, 3}, {3, 2, 1, 1}, {2, 4, 33, 17}};
      if (dt == nd::DType::f32 && threads == 1) bn_shapes.push_back({64, 64, 32, 32});
      for (const nd::Shape& s : bn_shapes)
        for (bool affine : {true, false})
          for (bool transposed : {false, true}) {
            const int64_t c = s[1];
            const std::string what = tag + nd::shape_str(s) + (affine ? " affine" : "") +
                                     (transposed ? " transposed" : "");
            const nd::Tensor rm = nd::randn({c}, ++seed, dt),
                             rv = nd::abs(nd::randn({c}, ++seed, dt)) + 0.5;
            nd::Tensor nd_rm = rm.clone(), nd_rv = rv.clone();
            torch::Tensor t_rm = to_torch_as(rm), t_rv = to_torch_as(rv);
            V in = {randn_in(s, ++seed, dt, transposed)};
            if (affine)
              in.push_back(nd::randn({c}, ++seed, dt)), in.push_back(nd::randn({c}, ++seed, dt));
            auto nd_w = [affine](const V& x, size_t i) { return affine ? x[i] : nd::Tensor(); };
            auto t_w = [affine](const TV& x, size_t i) { return affine ? x[i] : torch::Tensor(); };
            compare_norm(
                "batch_norm training " + what,
                [&](const V& x) {
                  return nd::nn::batch_norm(x[0], nd_rm, nd_rv, nd_w(x, 1), nd_w(x, 2), true, 0.2);
                },
                [&](const TV& x) {
                  return torch::batch_norm(x[0], t_w(x, 1), t_w(x, 2), t_rm, t_rv, true, 0.2, 1e-5,
                                           false);
                },
                in, ++seed, tol);
            expect_close(nd_rm, t_rm, tol, "batch_norm running_mean " + what);
            expect_close(nd_rv, t_rv, tol, "batch_norm running_var " + what);
            compare_norm(
                "batch_norm evaluation " + what,
                [&](const V& x) {
                  return nd::nn::batch_norm(x[0], rm, rv, nd_w(x, 1), nd_w(x, 2), false);
                },
                [&](const TV& x) {
                  return torch::batch_norm(x[0], t_w(x, 1), t_w(x, 2), to_torch_as(rm),
                                           to_torch_as(rv), false, 0.1, 1e-5, false);
                },
                in, ++seed, tol);
          }
      // Evaluation with one value a channel.
      for (const nd::Shape& s : std::vector<nd::Shape>{{1, 3}, {1, 4, 1, 1}}) {
        const nd::Tensor rm = nd::randn({s[1]}, ++seed, dt),
                         rv = nd::abs(nd::randn({s[1]}, ++seed, dt)) + 0.5;
        compare_norm(
            "batch_norm evaluation " + tag + nd::shape_str(s),
            [&](const V& x) { return nd::nn::batch_norm(x[0], rm, rv, x[1], x[2], false); },
            [&](const TV& x) {
              return torch::batch_norm(x[0], x[1], x[2], to_torch_as(rm), to_torch_as(rv), false,
                                       0.1, 1e-5, false);
            },
            {nd::randn(s, ++seed, dt), nd::randn({s[1]}, ++seed, dt),
             nd::randn({s[1]}, ++seed, dt)},
            ++seed, tol);
      }
      // layer_norm: (shape, normalized axes) with weight and bias, weight only, neither.
      std::vector<std::pair<nd::Shape, int64_t>> ln = {
          {{2, 3, 4}, 2}, {{7, 1}, 1}, {{3, 5000}, 1}, {{5, 3}, 1}, {{17, 33}, 1}, {{4, 6, 5}, 1}};
      if (dt == nd::DType::f32 && threads == 1) ln.push_back({{4096, 1024}, 1});
      for (const auto& [s, k] : ln)
        for (int affine : {2, 1, 0})
          for (bool transposed : {false, true}) {
            const nd::Shape norm(s.end() - k, s.end());
            const std::string what = tag + nd::shape_str(s) + " over " + nd::shape_str(norm) +
                                     (affine == 2 ? " weight and bias"
                                      : affine    ? " weight"
                                                  : "") +
                                     (transposed ? " transposed" : "");
            V in = {randn_in(s, ++seed, dt, transposed)};
            for (int i = 0; i < affine; ++i) in.push_back(nd::randn(norm, ++seed, dt));
            const std::vector<int64_t> tnorm(norm.begin(), norm.end());
            compare_norm(
                "layer_norm " + what,
                [&](const V& x) {
                  return nd::nn::layer_norm(x[0], norm, affine > 0 ? x[1] : nd::Tensor(),
                                            affine > 1 ? x[2] : nd::Tensor());
                },
                [&](const TV& x) {
                  return torch::layer_norm(x[0], tnorm, affine > 0 ? x[1] : torch::Tensor(),
                                           affine > 1 ? x[2] : torch::Tensor());
                },
                in, ++seed, tol);
          }
    }
  }
  nd::set_num_threads(threads_before);
}

// Under create_graph the nodes write their gradients with differentiable ops: the gradient of
// <grad_x, r> (x, weight and bias) equals libtorch's double backward.
TEST(VsTorch, FusedNormSecondOrder) {
  const nd::Tensor x0 = nd::randn({4, 3, 5}, 1, nd::DType::f64),
                   w0 = nd::randn({3}, 2, nd::DType::f64), b0 = nd::randn({3}, 3, nd::DType::f64),
                   u = nd::randn({4, 3, 5}, 4, nd::DType::f64),
                   r = nd::randn({4, 3, 5}, 5, nd::DType::f64);
  const nd::Tensor lw0 = nd::randn({5}, 6, nd::DType::f64), lb0 = nd::randn({5}, 7, nd::DType::f64);
  for (int op = 0; op < 3; ++op) {
    nd::Tensor x = x0.detach().requires_grad_(), w = (op == 2 ? lw0 : w0).detach().requires_grad_(),
               b = (op == 2 ? lb0 : b0).detach().requires_grad_();
    torch::Tensor tx = to_torch(x0).requires_grad_(true),
                  tw = to_torch(op == 2 ? lw0 : w0).requires_grad_(true),
                  tb = to_torch(op == 2 ? lb0 : b0).requires_grad_(true);
    const nd::Tensor rm = nd::zeros({3}, nd::DType::f64), rv = nd::ones({3}, nd::DType::f64) * 2.0;
    nd::Tensor y;
    torch::Tensor ty;
    if (op == 2) {
      y = nd::nn::layer_norm(x, {5}, w, b);
      ty = torch::layer_norm(tx, {5}, tw, tb);
    } else {
      y = nd::nn::batch_norm(x, rm, rv, w, b, op == 0);
      ty = torch::batch_norm(tx, tw, tb, to_torch(rm), to_torch(rv), op == 0, 0.1, 1e-5, false);
    }
    const std::vector<nd::Tensor> g = nd::grad(y, {x, w}, u, true);
    const nd::Tensor total = (g[0] * r).sum() + (g[1] * g[1]).sum();
    const std::vector<nd::Tensor> h = nd::grad(total, {x, w, b});
    const auto tg = torch::autograd::grad({ty}, {tx, tw}, {to_torch(u)}, true, true);
    const torch::Tensor ttotal = (tg[0] * to_torch(r)).sum() + (tg[1] * tg[1]).sum();
    const auto th = torch::autograd::grad({ttotal}, {tx, tw, tb}, {}, false, false, true);
    const std::string what = op == 2 ? "layer_norm" : op ? "batch_norm evaluation" : "batch_norm";
    for (size_t i = 0; i < 3; ++i) {
      if (!th[i].defined()) {  // no path to this input: ndgrad's gradient is zeros
        EXPECT_EQ(h[i].abs().max().item(), 0.0) << what << " second order, input " << i;
        continue;
      }
      expect_close(h[i], th[i], 1e-9, what + " second order, input " + std::to_string(i));
    }
  }
}
