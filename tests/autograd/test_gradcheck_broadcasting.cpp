// gradcheck_broadcasting: the shape variants, a correct function passing every one, and wrong
// custom ops caught by exactly the variants that expose them (distinct sizes, a size-1 axis, a
// dropped leading axis), with the failing variants and their shapes in the report.
#include <algorithm>

#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

using V = std::vector<Tensor>;
using Status = BroadcastVariantResult::Status;

bool has_kind(const std::vector<ShapeVariant>& vs, const std::string& fragment) {
  return std::any_of(vs.begin(), vs.end(), [&](const ShapeVariant& v) {
    return v.kind.find(fragment) != std::string::npos;
  });
}

std::vector<const BroadcastVariantResult*> with_status(const GradcheckBroadcastingResult& r,
                                                       Status s) {
  std::vector<const BroadcastVariantResult*> out;
  for (const auto& v : r.variants)
    if (v.status == s) out.push_back(&v);
  return out;
}

}  // namespace

TEST(BroadcastVariants, CoverEveryKindAndStillBroadcast) {
  const std::vector<Shape> given = {{2, 3, 4}, {3, 1}};
  const std::vector<ShapeVariant> vs = broadcast_variants(given);
  ASSERT_FALSE(vs.empty());
  EXPECT_EQ(vs[0].shapes, given);
  EXPECT_EQ(vs[0].kind, "as given");
  std::set<std::vector<Shape>> seen;
  for (const auto& v : vs) {
    EXPECT_TRUE(seen.insert(v.shapes).second) << "duplicate " << v.kind;
    ASSERT_EQ(v.shapes.size(), 2u);
    EXPECT_NO_THROW(broadcast_shapes(v.shapes[0], v.shapes[1])) << v.kind;
  }
  // Distinct sizes per axis position, and the all-equal trap.
  EXPECT_TRUE(seen.count({{2, 3, 4}, {3, 1}}));
  EXPECT_TRUE(seen.count({{3, 3, 3}, {3, 1}}));
  EXPECT_TRUE(has_kind(vs, "equal sizes"));
  // (2,3,4) has distinct sizes already; (3,3,3) gets them.
  const std::vector<ShapeVariant> from_equal = broadcast_variants({{3, 3, 3}, {3, 1}});
  ASSERT_GT(from_equal.size(), 1u);
  EXPECT_EQ(from_equal[1].kind, "distinct sizes");
  EXPECT_EQ(from_equal[1].shapes, given);
  // A size-1 axis on each input, dropped leading axes on each, crossed size-1 axes.
  EXPECT_TRUE(seen.count({{2, 1, 4}, {3, 1}}));
  EXPECT_TRUE(seen.count({{2, 3, 4}, {1, 1}}));
  EXPECT_TRUE(seen.count({{3, 4}, {3, 1}}));
  EXPECT_TRUE(seen.count({{2, 3, 4}, {1}}));
  EXPECT_TRUE(seen.count({{2, 3, 4}, {}}));
  EXPECT_TRUE(has_kind(vs, "crossed"));
  // (2,3,4) with (2,1) does not broadcast: never a variant of shapes that do.
  EXPECT_FALSE(seen.count({{2, 3, 4}, {2, 1}}));
  // The cap keeps the first ones, in order.
  const std::vector<ShapeVariant> few = broadcast_variants(given, 5);
  ASSERT_EQ(few.size(), 5u);
  for (size_t i = 0; i < few.size(); ++i) EXPECT_EQ(few[i].shapes, vs[i].shapes);
  expect_error<ValueError>([] { broadcast_variants({{2, -1}}); }, {"negative"});
  expect_error<ValueError>([&] { broadcast_variants(given, 0); }, {"max_variants"});
}

TEST(BroadcastVariants, CombinationsAreTheGradientTablePairs) {
  // The gradient table's pairs come from broadcasting_combinations: the same pairs, in the same
  // order, as every pair of table_shapes() that broadcasts.
  std::vector<std::pair<Shape, Shape>> expected;
  for (const Shape& a : table_shapes())
    for (const Shape& b : table_shapes()) try {
        broadcast_shapes(a, b);
        expected.emplace_back(a, b);
      } catch (const ShapeError&) {
      }
  EXPECT_EQ(broadcast_pairs(), expected);
  const auto triples = broadcasting_combinations({{3}, {4}, {1}}, 3);
  EXPECT_EQ(triples.size(), 8u + 8u - 1u);  // from {3},{1} or from {4},{1}; (1,)x3 in both
  for (const auto& t : triples) {
    const bool has3 = std::count(t.begin(), t.end(), Shape{3}) > 0;
    const bool has4 = std::count(t.begin(), t.end(), Shape{4}) > 0;
    EXPECT_FALSE(has3 && has4);
  }
}

TEST(GradcheckBroadcasting, CorrectCompositePassesEveryVariant) {
  const auto f = [](const V& x) { return tanh(x[0] * x[1] + x[2]).sum({-1}) * 0.5; };
  const auto r = gradcheck_broadcasting(f, {{2, 3, 4}, {4}, {3, 1}});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_EQ(r.failed, 0u);
  EXPECT_GE(r.passed, 20u);
  EXPECT_EQ(r.passed + r.skipped, r.variants.size());
  EXPECT_NE(r.report.find("gradcheck_broadcasting passed"), std::string::npos) << r.report;
}

TEST(GradcheckBroadcasting, AxesFormCoversKeepdimsAndNegativeAxes) {
  const auto f = [](const V& x, const AxesChoice& a) {
    return (x[0] * x[1]).sum(a.axes, a.keepdims) * x[0].mean(a.axes, a.keepdims);
  };
  const auto r = gradcheck_broadcasting(f, {{2, 3, 4}, {3, 1}}, {{0}, {2, 1}}, {});
  EXPECT_TRUE(r.ok) << r.report;
  bool neg_keep = false, pos_plain = false, lower_rank = false;
  for (const auto& v : r.variants) {
    ASSERT_TRUE(v.has_axes);
    if (!v.axes.axes.empty() && v.axes.axes[0] < 0 && v.axes.keepdims) neg_keep = true;
    if (!v.axes.axes.empty() && v.axes.axes[0] >= 0 && !v.axes.keepdims) pos_plain = true;
    if (v.shapes[0].size() == 2 && v.axes.axes == std::vector<int64_t>{1, 0}) lower_rank = true;
  }
  EXPECT_TRUE(neg_keep && pos_plain && lower_rank);
  // Axis 0 of (2,3,4) is -3: a variant of rank 2 has no such axis and leaves that set out.
  for (const auto& v : r.variants) {
    if (std::max(v.shapes[0].size(), v.shapes[1].size()) != 2) continue;
    for (int64_t a : v.axes.axes) EXPECT_TRUE(a == -2 || a == -1 || a == 0 || a == 1);
  }
  expect_error<AxisError>(
      [&] {
        gradcheck_broadcasting(f, {{2, 3}}, {{2}});
      },
      {"gradcheck_broadcasting", "axis 2"});
}

// The mean over the last axis whose backward divides by the size of the first: right whenever
// the two sizes are equal, as in the shape it is written for.
TEST(GradcheckBroadcasting, CatchesABugOnlyDistinctSizesShow) {
  CustomOp row_mean{
      "row_mean", [](const V& x) { return x[0].mean({-1}); },
      [](const V& x, const Tensor&, const Tensor& g) {
        return V{g.unsqueeze(-1).broadcast_to(x[0].shape()) / static_cast<double>(x[0].size(0))};
      }};
  const auto f = [&](const V& x) { return row_mean({x[0]}); };
  ASSERT_TRUE(gradcheck(f, {away_from_zero({3, 3}, 1)}).ok);  // hidden at (3,3)
  const auto r = gradcheck_broadcasting(f, {{3, 3}});
  EXPECT_FALSE(r.ok);
  ASSERT_GT(r.failed, 0u) << r.report;
  for (const auto* v : with_status(r, Status::failed)) {
    const Shape& s = v->shapes[0];
    ASSERT_EQ(s.size(), 2u) << v->kind;
    EXPECT_NE(s[0], s[1]) << v->kind;  // only where the sizes differ
    EXPECT_EQ(v->failing_inputs, std::vector<size_t>{0});
    EXPECT_GT(v->max_abs_error, 1e-3);
  }
  for (const auto* v : with_status(r, Status::passed)) {
    const Shape& s = v->shapes[0];
    EXPECT_TRUE(s.size() < 2 || s[0] == s[1]) << v->kind;
  }
  const auto failed = with_status(r, Status::failed);
  EXPECT_TRUE(std::any_of(failed.begin(), failed.end(), [](const BroadcastVariantResult* v) {
    return v->kind == "distinct sizes";
  }));
  EXPECT_NE(r.report.find("FAILED shapes (3,4) [distinct sizes]"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("input 0 (3,4): max abs error"), std::string::npos) << r.report;
}

// a * b whose backward for b sums the gradient down by flattening the leading axes: right when
// b's shape is a trailing part of the result's, wrong for a size-1 axis inside it.
TEST(GradcheckBroadcasting, CatchesABugOnlyASizeOneAxisShows) {
  CustomOp mul{"flat_mul", [](const V& x) { return x[0] * x[1]; },
               [](const V& x, const Tensor&, const Tensor& g) {
                 const Tensor gb = g * x[0];
                 return V{g * x[1], gb.reshape({-1, x[1].numel()}).sum({0}).reshape(x[1].shape())};
               }};
  const auto f = [&](const V& x) { return mul({x[0], x[1]}); };
  const auto r = gradcheck_broadcasting(f, {{2, 3}, {2, 3}});
  EXPECT_FALSE(r.ok);
  ASSERT_GT(r.failed, 0u) << r.report;
  for (const auto* v : with_status(r, Status::failed)) {
    EXPECT_NE(v->kind.find("-> 1"), std::string::npos) << v->kind;
    EXPECT_EQ(v->failing_inputs, std::vector<size_t>{1}) << v->kind;
    // b has a size-1 axis that is not leading, facing a larger size.
    const Shape& b = v->shapes[1];
    EXPECT_TRUE(b.size() == 2 && b[1] == 1) << v->kind;
  }
  for (const auto* v : with_status(r, Status::passed))
    EXPECT_TRUE(v->shapes[1].size() < 2 || v->shapes[1][1] != 1 || v->shapes[0][1] == 1) << v->kind;
  for (const auto& v : r.variants) {
    if (v.kind == "as given" || v.kind == "distinct sizes" || v.kind == "equal sizes" ||
        v.kind.find("drops") != std::string::npos) {
      EXPECT_EQ(v.status, Status::passed) << v.kind;
    }
  }
  EXPECT_NE(r.report.find("FAILED shapes (2,3), (2,1)"), std::string::npos) << r.report;
  // gradcheck's own lines name the input by its place in f's inputs.
  EXPECT_NE(r.report.find("    input 1 (2,1): 2 elements, 2 MISMATCHED"), std::string::npos)
      << r.report;
  EXPECT_EQ(r.report.find("input 0 (2,1)"), std::string::npos) << r.report;
}

// a + b whose backward for b aligns b's axes with the gradient's from the left: right while
// the ranks are equal, wrong once b drops a leading axis.
TEST(GradcheckBroadcasting, CatchesABugOnlyADroppedLeadingAxisShows) {
  CustomOp add{"left_add", [](const V& x) { return x[0] + x[1]; },
               [](const V& x, const Tensor&, const Tensor& g) {
                 Tensor gb = g;
                 for (int64_t d = 0; d < x[1].ndim(); ++d)
                   if (x[1].size(d) == 1 && gb.size(d) != 1) gb = gb.sum({d}, true);
                 return V{g, gb};
               }};
  const auto f = [&](const V& x) { return add({x[0], x[1]}); };
  const auto r = gradcheck_broadcasting(f, {{2, 3, 4}, {2, 3, 1}});
  EXPECT_FALSE(r.ok);
  ASSERT_GT(r.failed, 0u) << r.report;
  for (const auto* v : with_status(r, Status::failed)) {
    EXPECT_NE(v->kind.find("input 1 drops"), std::string::npos) << v->kind;
    EXPECT_EQ(v->failing_inputs, std::vector<size_t>{1});
  }
  for (const auto& v : r.variants)
    if (v.shapes[0].size() == v.shapes[1].size()) {
      EXPECT_EQ(v.status, Status::passed) << v.kind;
    }
  EXPECT_NE(r.report.find("FAILED shapes (2,3,4), (3,1) [input 1 drops 1 leading axis]"),
            std::string::npos)
      << r.report;
}

TEST(GradcheckBroadcasting, ShapesFRejectsAreSkippedNotFailed) {
  // matmul's operands do not broadcast: every variant is tried and f decides (a ShapeError for
  // inner sizes that differ, a ValueError for a 0-d operand).
  const auto f = [](const V& x) { return matmul(x[0], x[1]); };
  const auto r = gradcheck_broadcasting(f, {{3, 4}, {4, 2}});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_GT(r.skipped, 0u);
  EXPECT_GT(r.passed, 3u);
  EXPECT_NE(r.report.find("skipped shapes "), std::string::npos) << r.report;
  for (const auto* v : with_status(r, Status::skipped))
    EXPECT_NE(v->message.find("matmul"), std::string::npos) << v->message;
  EXPECT_NE(r.report.find("skipped shapes (), (4,2) [input 0 drops 2 leading axes]: matmul"),
            std::string::npos)
      << r.report;
  // The shapes as given must be taken.
  expect_error<ShapeError>(
      [&] {
        gradcheck_broadcasting(f, {{3, 4}, {3, 2}});
      },
      {"gradcheck_broadcasting: f rejects the shapes as given", "(3,4), (3,2)"});
}

TEST(GradcheckBroadcasting, CapsTheChecksAndValidatesItsArguments) {
  const auto f = [](const V& x) { return x[0] * x[1]; };
  GradcheckBroadcastingOptions o;
  o.max_variants = 4;
  const auto r = gradcheck_broadcasting(f, {{2, 3}, {3}}, o);
  EXPECT_EQ(r.variants.size(), 4u);
  EXPECT_GT(r.left_out, 0u);
  EXPECT_NE(r.report.find("left out (max_variants 4)"), std::string::npos) << r.report;
  // Inputs from the caller's function.
  o.max_variants = 64;
  size_t calls = 0;
  o.make_input = [&](const Shape& s, size_t, uint64_t seed) {
    ++calls;
    return uniform(s, seed, 0.5, 1.5);
  };
  EXPECT_TRUE(
      gradcheck_broadcasting([](const V& x) { return log(x[0]) * x[1]; }, {{2, 3}, {3}}, o).ok);
  EXPECT_GT(calls, 10u);
  o.max_variants = 0;
  expect_error<ValueError>([&] { gradcheck_broadcasting(f, {{2}}, o); }, {"max_variants"});
  expect_error<ValueError>([&] { gradcheck_broadcasting(f, {}); }, {"no input shapes"});
}
