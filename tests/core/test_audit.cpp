// The broadcast audit (every implicit broadcast recorded, grouped by call site, the outer-product
// ones flagged; per leaf, over how many values backward summed each gradient element), strict
// broadcasting's warn level, and call sites named without debug information: this file is
// built with -g0 (tests/CMakeLists.txt), so its frames are named by function, the library's and
// the standard library's frames skipped.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ndgrad/explain.hpp"
#include "ndgrad/nn.hpp"
#include "test_util.hpp"

using namespace ndgrad;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const BroadcastRecord* find(const std::vector<BroadcastRecord>& records, const std::string& op,
                            const std::vector<Shape>& operands) {
  for (const BroadcastRecord& r : records)
    if (r.op == op && r.operands == operands) return &r;
  return nullptr;
}

// A user's functions, named by the call-site tests (noinline: frames of their own).
__attribute__((noinline)) Tensor user_step_through_function(
    const std::function<Tensor(const Tensor&, const Tensor&)>& f, const Tensor& a,
    const Tensor& b) {
  Tensor r = f(a, b);
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
  return r;
}

__attribute__((noinline)) Tensor user_loss_step(const Tensor& probs, const Tensor& target,
                                                const Tensor& weight) {
  Tensor r = nn::binary_cross_entropy(probs, target, weight);
  asm volatile("" ::: "memory");
  return r;
}

__attribute__((noinline)) Tensor user_column_minus_vector(const Tensor& a, const Tensor& b) {
  Tensor r = a - b;
  asm volatile("" ::: "memory");
  return r;
}

}  // namespace

TEST(Audit, RecordsBinaryOpsGroupedPerCallSiteWithCounts) {
  const Tensor x = randn({6, 4}, 1), row = randn({4}, 2), col = randn({6, 1}, 3);
  BroadcastAudit audit;
  for (int i = 0; i < 3; ++i) (void)(x + row);  // one site, three times
  (void)(x * col);                              // another site
  (void)maximum(x, row);                        // a third
  (void)(x + x);                                // equal shapes: no broadcast
  (void)(x * 2.0);                              // 0-d operand: allowed, not recorded
  const auto records = audit.records();
  ASSERT_EQ(records.size(), 3u) << audit.report();
  const BroadcastRecord* add = find(records, "add", {{6, 4}, {4}});
  ASSERT_NE(add, nullptr) << audit.report();
  EXPECT_EQ(add->count, 3);
  EXPECT_EQ(add->result, (Shape{6, 4}));
  EXPECT_EQ(add->stretched, (std::vector<std::vector<int64_t>>{{}, {0}}));
  EXPECT_FALSE(add->suspicious);
  const BroadcastRecord* mul = find(records, "mul", {{6, 4}, {6, 1}});
  ASSERT_NE(mul, nullptr) << audit.report();
  EXPECT_EQ(mul->count, 1);
  EXPECT_EQ(mul->stretched, (std::vector<std::vector<int64_t>>{{}, {1}}));
  ASSERT_NE(find(records, "maximum", {{6, 4}, {4}}), nullptr) << audit.report();
  // Without -g the site is this test's function and an offset; each line its own site.
  for (const BroadcastRecord& r : records)
    EXPECT_NE(r.call_site.find("RecordsBinaryOpsGroupedPerCallSiteWithCounts"), std::string::npos)
        << r.call_site;
  EXPECT_NE(add->call_site, mul->call_site);
  const std::string report = audit.report();
  EXPECT_NE(report.find("5 implicit broadcasts at 3 call sites"), std::string::npos) << report;
  EXPECT_NE(report.find("add (6,4) with (4,) -> (6,4)  x3"), std::string::npos) << report;
  audit.clear();
  EXPECT_TRUE(audit.records().empty());
}

TEST(Audit, FlagsOuterProductBroadcastsOnly) {
  const int64_t n = 7;
  const Tensor column = randn({n, 1}, 4), vector = randn({n}, 5), wide = randn({n, 4}, 6),
               bias = randn({4}, 7);
  BroadcastAudit audit;
  (void)(column - vector);  // (n,1) with (n,) -> (n,n): every pair
  (void)(wide + bias);      // (n,4) with (4,): a bias, the result no larger than wide
  (void)(randn({1, 2}, 8) * randn({2, 1}, 9));    // (1,2) with (2,1) -> (2,2): 2x the largest
  (void)(randn({3, 1}, 10) + randn({1, 4}, 11));  // a column plus a row of other lengths
  const auto records = audit.records();
  const BroadcastRecord* outer = find(records, "sub", {{n, 1}, {n}});
  ASSERT_NE(outer, nullptr) << audit.report();
  EXPECT_TRUE(outer->suspicious);
  EXPECT_EQ(outer->result, (Shape{n, n}));
  EXPECT_EQ(outer->stretched, (std::vector<std::vector<int64_t>>{{1}, {0}}));
  const BroadcastRecord* bias_add = find(records, "add", {{n, 4}, {4}});
  ASSERT_NE(bias_add, nullptr);
  EXPECT_FALSE(bias_add->suspicious);
  const BroadcastRecord* small = find(records, "mul", {{1, 2}, {2, 1}});
  ASSERT_NE(small, nullptr);
  EXPECT_TRUE(small->suspicious);
  const BroadcastRecord* grid = find(records, "add", {{3, 1}, {1, 4}});
  ASSERT_NE(grid, nullptr);
  EXPECT_FALSE(grid->suspicious);
  EXPECT_TRUE(is_outer_product_broadcast({{5, 1}, {5}}, {5, 5}));
  EXPECT_FALSE(is_outer_product_broadcast({{5, 1}, {1, 6}}, {5, 6}));
  EXPECT_FALSE(is_outer_product_broadcast({{5, 4}, {4}}, {5, 4}));
  EXPECT_FALSE(is_outer_product_broadcast({{1, 1}, {1}}, {1, 1}));
  const std::string report = audit.report();
  EXPECT_NE(report.find("SUSPICIOUS sub (7,1) with (7,) -> (7,7)"), std::string::npos) << report;
  EXPECT_NE(report.find("at 4 call sites, 2 suspicious"), std::string::npos) << report;
}

TEST(Audit, WhereAndMatmulBatchDims) {
  const Tensor cond = randn({5, 1}, 1) > 0.0, a = randn({5, 3}, 2), b = randn({3}, 3);
  BroadcastAudit audit;
  (void)where(cond, a, b);
  (void)where(a > 0.0, a, 0.0);  // a 0-d choice and equal shapes: nothing to record
  (void)matmul(randn({2, 1, 3, 4}, 4), randn({5, 4, 6}, 5));  // batch (2,1) with (5,)
  (void)matmul(randn({5, 3, 4}, 6), randn({4, 2}, 7));        // a plain matrix against a batch
  (void)matmul(randn({5, 3, 4}, 6), randn({5, 4, 2}, 7));     // equal batches
  const auto records = audit.records();
  ASSERT_EQ(records.size(), 2u) << audit.report();
  const BroadcastRecord* w = find(records, "where", {{5, 1}, {5, 3}, {3}});
  ASSERT_NE(w, nullptr) << audit.report();
  EXPECT_EQ(w->result, (Shape{5, 3}));
  EXPECT_EQ(w->stretched, (std::vector<std::vector<int64_t>>{{1}, {}, {0}}));
  EXPECT_FALSE(w->suspicious);  // two stretched, but the result is no larger than a
}

TEST(Audit, NothingRecordedInsideBackwardAndLeafSummationFactors) {
  Tensor bias = randn({4}, 1).requires_grad_(), x = randn({128, 4}, 2).requires_grad_();
  Tensor p = randn({1, 3}, 3).requires_grad_();
  const Tensor a53 = randn({5, 3}, 4), a253 = randn({2, 5, 3}, 5);
  BroadcastAudit audit;
  Tensor y = (x + bias) * randn({128, 1}, 6);  // two broadcasts in the forward pass
  Tensor z = (p + a53).sum() + (p * a253).sum();
  ASSERT_EQ(audit.records().size(), 4u) << audit.report();
  y.backward(randn({128, 4}, 7));  // mul's backward broadcasts g against (128,1) and back
  z.backward(randn(Shape{}, 8));
  EXPECT_EQ(audit.records().size(), 4u) << audit.report();
  for (const BroadcastRecord& r : audit.records()) EXPECT_EQ(r.count, 1) << audit.report();
  const auto b = audit.leaf(bias);
  ASSERT_TRUE(b.has_value()) << audit.report();
  ASSERT_EQ(b->contributions.size(), 1u);
  EXPECT_EQ(b->contributions[0].factor, 128);
  EXPECT_EQ(b->contributions[0].gradient, (Shape{128, 4}));
  EXPECT_EQ(b->contributions[0].op, "add");
  EXPECT_EQ(b->shape, (Shape{4}));
  const auto xs = audit.leaf(x);
  ASSERT_TRUE(xs.has_value());
  EXPECT_EQ(xs->max_factor(), 1);
  const auto ps = audit.leaf(p);
  ASSERT_TRUE(ps.has_value());
  ASSERT_EQ(ps->contributions.size(), 2u);
  std::vector<int64_t> factors{ps->contributions[0].factor, ps->contributions[1].factor};
  std::sort(factors.begin(), factors.end());
  EXPECT_EQ(factors, (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(ps->max_factor(), 10);
  // The factors match the gradients: bias's is the column sums of the upstream gradient.
  EXPECT_EQ(bias.grad().shape(), (Shape{4}));
  const std::string report = audit.report();
  EXPECT_NE(report.find("leaf (4,): 128 values (from add (128,4))"), std::string::npos) << report;
  EXPECT_EQ(audit.leaf(a53), std::nullopt);  // no gradient reached it
}

// Leaves are told apart by address and shape, and hold nothing: leaves of other shapes made one
// after another (often at one address) stay apart; the same summation again is counted, not
// listed again (a training loop's report stays one line a leaf).
TEST(Audit, LeavesAreToldApartByShapeAndRepeatsAreCounted) {
  BroadcastAudit audit;
  const Tensor row = randn({1, 4}, 1);
  for (int i = 0; i < 40; ++i) {
    Tensor leaf = randn({i % 2 ? 3 : 2, 1}, uint64_t(10 + i)).requires_grad_();
    (leaf + row).sum().backward();
  }
  Tensor kept = randn({2, 1}, 99).requires_grad_();
  for (int i = 0; i < 5; ++i) (kept + row).sum().backward();
  const std::vector<LeafSummation> leaves = audit.leaves();
  ASSERT_GE(leaves.size(), 2u) << audit.report();
  int64_t passes = 0;
  for (const LeafSummation& l : leaves) {
    ASSERT_EQ(l.contributions.size(), 1u) << audit.report();
    EXPECT_EQ(l.contributions[0].factor, 4);
    EXPECT_EQ(l.contributions[0].gradient, (Shape{l.shape[0], 4}));
    passes += l.contributions[0].count;
  }
  EXPECT_EQ(passes, 45);
  const auto k = audit.leaf(kept);
  ASSERT_TRUE(k.has_value());
  EXPECT_GE(k->contributions[0].count, 5);
  EXPECT_FALSE(audit.leaf(randn({2, 2}, 5)).has_value());
  audit.clear();
  EXPECT_TRUE(audit.leaves().empty());
}

// Under strict mode the refused broadcast is recorded too; explain_grad's own pass is the
// library's broadcasting: never refused, never recorded.
TEST(Audit, StrictRefusalsAreRecordedAndExplainGradIsNot) {
  const Tensor column = randn({4, 1}, 1), vector = randn({4}, 2);
  Tensor x = randn({2, 3}, 3).requires_grad_();
  Tensor loss = nn::softmax(x, 1).sum();  // softmax's backward broadcasts (2,3) against (2,1)
  BroadcastAudit audit;
  {
    StrictBroadcastGuard strict;
    EXPECT_THROW((void)(column - vector), ShapeError);
    const GradExplanation e = explain_grad(loss, x);
    EXPECT_EQ(e.grad.shape(), (Shape{2, 3}));
  }
  const auto records = audit.records();
  ASSERT_EQ(records.size(), 1u) << audit.report();
  EXPECT_EQ(records[0].op, "sub");
}

TEST(Audit, NoRecordWithoutAnAuditAndAfterItEnds) {
  const Tensor x = randn({3, 4}, 1), r = randn({4}, 2);
  std::vector<BroadcastRecord> after;
  {
    BroadcastAudit audit;
    (void)(x + r);
    EXPECT_EQ(audit.records().size(), 1u);
  }
  BroadcastAudit later;
  EXPECT_TRUE(later.records().empty());  // the earlier audit's record is its own
  (void)(x - r);
  EXPECT_EQ(later.records().size(), 1u);
}

TEST(Audit, RecordsFromSeveralThreads) {
  const Tensor x = randn({8, 3}, 1), r = randn({3}, 2);
  BroadcastAudit audit;
  auto work = [&] {
    for (int i = 0; i < 50; ++i) (void)(x + r);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  const auto records = audit.records();
  ASSERT_EQ(records.size(), 1u) << audit.report();  // one site: the lambda
  EXPECT_EQ(records[0].count, 200);
  EXPECT_EQ(records[0].call_site.find("Audit_RecordsFromSeveralThreads_Test::TestBody()::{lambda("),
            0u)
      << records[0].call_site;
}

TEST(StrictWarn, WarnsOncePerCallSiteAndContinues) {
  const Tensor column = randn({4, 1}, 1), vector = randn({4}, 2);
  ::testing::internal::CaptureStderr();
  Tensor first, second;
  {
    StrictBroadcastGuard warn(StrictBroadcast::warn);
    for (int i = 0; i < 3; ++i) first = column - vector;  // warned once
    second = column * vector;                             // another site: warned too
    (void)(column * 2.0);                                 // 0-d: no warning
  }
  (void)(column + vector);  // off again: no warning
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(first.shape(), (Shape{4, 4}));  // the op ran
  EXPECT_EQ(second.shape(), (Shape{4, 4}));
  size_t warnings = 0;
  for (size_t at = err.find("ndgrad warning"); at != std::string::npos;
       at = err.find("ndgrad warning", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 2u) << err;
  EXPECT_NE(err.find("sub: implicit broadcast of (4,1) and (4,) to (4,4) at "), std::string::npos)
      << err;
  EXPECT_NE(err.find("WarnsOncePerCallSiteAndContinues"), std::string::npos) << err;
}

TEST(CallSite, ThroughStdFunctionNamesTheUsersFunction) {
  const Tensor column = randn({3, 1}, 1), vector = randn({3}, 2);
  const std::function<Tensor(const Tensor&, const Tensor&)> direct =
      static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&ndgrad::sub);
  const std::function<Tensor(const Tensor&, const Tensor&)> wrapped =
      [](const Tensor& a, const Tensor& b) { return a - b; };
  // The op called by std::function's invoker: the user's function that called it is named; a
  // lambda, inlined into the invoker: the lambda, inside this test's function.
  for (const auto* f : {&direct, &wrapped}) {
    StrictBroadcastGuard strict;
    try {
      (void)user_step_through_function(*f, column, vector);
      FAIL() << "strict mode let (3,1) - (3,) through";
    } catch (const ShapeError& e) {
      const std::string what = e.what();
      const std::string site = what.substr(what.find(") at ") + 5);
      if (f == &direct)
        EXPECT_NE(site.find("user_step_through_function"), std::string::npos) << what;
      else
        EXPECT_EQ(site.find("CallSite_ThroughStdFunctionNamesTheUsersFunction_Test::TestBody()::"
                            "{lambda("),
                  0u)
            << what;
      // std::function's invoker appears only as where the lambda was inlined
      EXPECT_GE(site.find("_Function_handler"), site.find(" (inside ")) << what;
      EXPECT_EQ(site.find("ndgrad::sub"), std::string::npos) << what;
      EXPECT_NE(site.find("build with -g"), std::string::npos) << what;  // no debug info here
    }
  }
}

TEST(CallSite, FromInsideTheLibraryNamesTheUsersFrame) {
  const Tensor probs = sigmoid(randn({6, 3}, 1)), target = rand({6, 3}, 2), weight = rand({3}, 3);
  {
    BroadcastAudit audit;
    (void)user_loss_step(probs, target, weight);  // nn's l * weight broadcasts the weight
    const auto records = audit.records();
    ASSERT_EQ(records.size(), 1u) << audit.report();
    EXPECT_EQ(records[0].operands, (std::vector<Shape>{{6, 3}, {3}}));
    EXPECT_NE(records[0].call_site.find("user_loss_step"), std::string::npos)
        << records[0].call_site;
    EXPECT_EQ(records[0].call_site.find("binary_cross_entropy"), std::string::npos)
        << records[0].call_site;
  }
  StrictBroadcastGuard strict;
  try {
    (void)user_column_minus_vector(randn({2, 1}, 4), randn({2}, 5));
    FAIL() << "strict mode let (2,1) - (2,) through";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("user_column_minus_vector"), std::string::npos)
        << e.what();
  }
}

// Run by Audit.EnvironmentVariableAuditsTheWholeProcess in a process of its own, with
// NDGRAD_BROADCAST_AUDIT set: broadcasts from the main thread and two others, no audit object.
TEST(AuditChild, Broadcasts) {
  if (!std::getenv("NDGRAD_TEST_AUDIT_CHILD"))
    GTEST_SKIP() << "run by Audit.EnvironmentVariableAuditsTheWholeProcess";
  const Tensor column = randn({9, 1}, 1), vector = randn({9}, 2), wide = randn({9, 4}, 3),
               bias = randn({4}, 4);
  (void)(column - vector);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) (void)(wide * bias);
    });
  for (auto& t : threads) t.join();
}

TEST(Audit, EnvironmentVariableAuditsTheWholeProcess) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  buf[n] = 0;
  const std::string dir = ::testing::TempDir();
  const std::string file = dir + "ndgrad_audit_report.txt", err = dir + "ndgrad_audit_err.txt";
  std::remove(file.c_str());
  for (const std::string& value : {file, std::string("1")}) {
    const std::string cmd = "NDGRAD_TEST_AUDIT_CHILD=1 NDGRAD_BROADCAST_AUDIT='" + value +
                            "' timeout -k 5 120 '" + buf +
                            "' --gtest_filter=AuditChild.Broadcasts > /dev/null 2> '" + err + "'";
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    const std::string report = read_file(value == "1" ? err : file);
    EXPECT_NE(report.find("ndgrad broadcast audit: 41 implicit broadcasts at 2 call sites, "
                          "1 suspicious"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("SUSPICIOUS sub (9,1) with (9,) -> (9,9)  x1"), std::string::npos)
        << report;
    EXPECT_NE(report.find("mul (9,4) with (4,) -> (9,4)  x40"), std::string::npos) << report;
  }
  std::remove(file.c_str());
  std::remove(err.c_str());
}
