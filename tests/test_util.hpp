#pragma once
// Helpers the tests share: random inputs, closeness checks, naive references.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "graph/node.hpp"
#include "kernels/cpu/op_info.hpp"
#include "ndgrad/ndgrad.hpp"

namespace ndgrad::testing {

// Runs f, expects an exception of type E whose message contains every fragment; returns the
// message.
template <class E, class F>
std::string expect_error(F f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& frag : fragments)
      EXPECT_NE(what.find(frag), std::string::npos) << "'" << frag << "' missing from: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  return "";
}

// float64 normal values kept away from 0 by at least 0.2, so kinks (relu, abs) and
// near-zero divisors never sit within a finite-difference step.
inline Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  std::vector<double> v = randn(shape, seed, DType::f64).to_vector();
  for (auto& x : v) x = (x < 0 ? -1 : 1) * (0.2 + std::fabs(x));
  return tensor(v, shape, DType::f64);
}

// float64 values in [lo, hi).
inline Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi) {
  std::vector<double> v = rand(shape, seed, DType::f64).to_vector();
  for (auto& x : v) x = lo + (hi - lo) * x;
  return tensor(v, shape, DType::f64);
}

// Inputs from an op table row's domain column (kernels::Domain; op_table.def gives the
// values): first says which operand of a binary row. The gradient table, the libtorch rows and
// the forward rows all draw from here, so a row's domain means the same to each.
inline Tensor row_input(kernels::Domain domain, const Shape& shape, bool first, uint64_t seed) {
  using kernels::Domain;
  const auto map = [&](const Tensor& t, auto f) {
    std::vector<double> v = t.to_vector();
    for (size_t i = 0; i < v.size(); ++i) v[i] = f(v[i], i);
    return tensor(v, shape, DType::f64);
  };
  switch (domain) {
    case Domain::positive:
      return uniform(shape, seed, 0.5, 2.0);
    case Domain::positive_first:
    case Domain::positive_second:
      if (first == (domain == Domain::positive_first)) return uniform(shape, seed, 0.5, 2.0);
      return away_from_zero(shape, seed);
    case Domain::apart:  // the second shifted, so that maximum/minimum never tie
      return first ? away_from_zero(shape, seed) : away_from_zero(shape, seed) + 0.05;
    case Domain::unit:
      return uniform(shape, seed, -0.9, 0.9);
    case Domain::small:
      return uniform(shape, seed, -1.2, 1.2);
    case Domain::above_one:
      return uniform(shape, seed, 1.2, 3.0);
    case Domain::probability:
      return uniform(shape, seed, 0.05, 0.95);
    case Domain::off_integers:  // spread over a few integers, 0.05 or more from n and n + 1/2
      return map(away_from_zero(shape, seed) * 2.0, [](double x, size_t) {
        const double n = std::floor(2 * x), f = 2 * x - n;  // f: the position in a half
        return (n + std::min(std::max(f, 0.1), 0.9)) / 2;
      });
    case Domain::off_three:  // spread over -6..6, 0.2 or more from -3 and 3
      return map(away_from_zero(shape, seed) * 2.5, [](double x, size_t) {
        const double d = std::fabs(x) - 3;
        return std::fabs(d) >= 0.2 ? x : std::copysign(3 + std::copysign(0.2, d), x);
      });
    case Domain::fractional_ratio:  // |a| in (n + 0.3, n + 0.8), |b| in [1, 1.05]: a / b
                                    // stays strictly between n and n + 1
      return map(uniform(shape, seed, 0, 1), [first, seed](double u, size_t i) {
        const double sign = (seed + i * 7) % 3 == 1 ? -1.0 : 1.0;
        if (!first) return sign * (1 + 0.05 * u);
        return sign * (static_cast<double>((seed + i) % 3) + 0.3 + 0.5 * u);
      });
    case Domain::integers:
      return map(uniform(shape, seed, -8, 9), [](double x, size_t) { return std::floor(x); })
          .to(DType::i64);
    case Domain::specials:  // NaN, +-inf and 0 among finite values
      return map(away_from_zero(shape, seed), [seed](double x, size_t i) {
        switch ((seed + i) % 6) {
          case 0:
            return std::nan("");
          case 1:
            return HUGE_VAL;
          case 2:
            return -HUGE_VAL;
          case 3:
            return 0.0;
          default:
            return x;
        }
      });
    case Domain::any:
      break;
  }
  return away_from_zero(shape, seed);
}

inline void expect_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  std::vector<double> got = t.to_vector();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], tol * (1 + std::fabs(expected[i]))) << "at flat index " << i;
}

inline void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-6) {
  ASSERT_TRUE(a.defined());
  ASSERT_TRUE(b.defined());
  ASSERT_EQ(a.shape(), b.shape());
  expect_values(a, b.to_vector(), tol);
}

// Names of the ops recorded in the graph behind t.
inline std::set<std::string> ops_in_graph(const Tensor& t) {
  std::set<std::string> names;
  std::vector<Node*> stack;
  std::set<Node*> seen;
  if (t.impl()->grad_fn) stack.push_back(t.impl()->grad_fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    names.insert(n->name());
    for (auto& e : n->edges)
      if (e.fn) stack.push_back(e.fn.get());
  }
  return names;
}

// The shapes every gradient and differential test runs over: distinct and repeated sizes,
// 0-d, size-1 axes, rank promotion.
inline const std::vector<Shape>& table_shapes() {
  static const std::vector<Shape> shapes = {{},     {1},    {4},       {3, 1},
                                            {1, 4}, {3, 4}, {2, 1, 4}, {2, 3, 4}};
  return shapes;
}

// Every pair of table_shapes() that broadcasts together (the library's
// broadcasting_combinations, which gradcheck_broadcasting's users share).
inline const std::vector<std::pair<Shape, Shape>>& broadcast_pairs() {
  static const std::vector<std::pair<Shape, Shape>> pairs = [] {
    std::vector<std::pair<Shape, Shape>> out;
    for (const std::vector<Shape>& p : broadcasting_combinations(table_shapes(), 2))
      out.emplace_back(p[0], p[1]);
    return out;
  }();
  return pairs;
}

// matmul operand shapes: 1-D promotion on either side, batch dims that broadcast, square.
inline const std::vector<std::pair<Shape, Shape>>& matmul_cases() {
  static const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 2}},
      {{4}, {4, 2}},
      {{3, 4}, {4}},
      {{4}, {4}},
      {{2, 3, 4}, {4, 5}},
      {{4}, {2, 4, 3}},
      {{2, 1, 3, 4}, {5, 4, 2}},
      {{1, 3, 4}, {2, 4, 2}},
      {{3, 3}, {3, 3}},
  };
  return cases;
}

// Flat index of a multi-index in a row-major shape.
inline int64_t flat_index(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}

}  // namespace ndgrad::testing
