// Printing as NumPy prints: one format per tensor, summarizing, wrapping, print options.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include "test_util.hpp"

using namespace ndgrad;
using ndgrad::testing::expect_error;

namespace {

std::string printed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

// Sets options for one test and puts the previous ones back.
struct OptionsScope {
  explicit OptionsScope(const PrintOptions& o) : saved(get_printoptions()) { set_printoptions(o); }
  ~OptionsScope() { set_printoptions(saved); }
  PrintOptions saved;
};

}  // namespace

// The expected texts are NumPy 1.24's np.array2string of the same values (prefix "tensor(",
// suffix ","), followed by the dtype.
TEST(Printing, FloatsShareOneFormatChosenAsNumpyChooses) {
  // Fixed: the fewest digits that tell each value apart (at most 8), padded to a common width.
  EXPECT_EQ(printed(tensor(std::vector<float>{1.5f, 2.25f, 3.0f})),
            "tensor([1.5  2.25 3.  ], dtype=f32)");
  EXPECT_EQ(printed(tensor(std::vector<float>{0.1f, 0.2f, 0.3f})),
            "tensor([0.1 0.2 0.3], dtype=f32)");  // the float's shortest digits, not the double's
  EXPECT_EQ(printed(tensor({-1.5, 1.0 / 3}, {2}, DType::f16)),
            "tensor([-1.5     0.3333], dtype=f16)");
  EXPECT_EQ(printed(tensor({1.5, 200.0})), "tensor([  1.5 200. ], dtype=f64)");
  // Scientific when a value is >= 1e8 or < 1e-4, or the range passes 1000.
  EXPECT_EQ(printed(tensor({1e-5, 1.5, 1e3})), "tensor([1.0e-05 1.5e+00 1.0e+03], dtype=f64)");
  EXPECT_EQ(printed(tensor({{1e10, 1.0}, {2.0, -3.5}})),
            "tensor([[ 1.0e+10  1.0e+00]\n        [ 2.0e+00 -3.5e+00]], dtype=f64)");
  EXPECT_EQ(printed(tensor({123456.789, 0.5})),
            "tensor([1.23456789e+05 5.00000000e-01], dtype=f64)");
  // NaN and infinities take the common width.
  EXPECT_EQ(printed(tensor(std::vector<double>{1.0, NAN, -INFINITY, 2.5})),
            "tensor([ 1.   nan -inf  2.5], dtype=f64)");
  EXPECT_EQ(printed(scalar(2.5, DType::f64)), "tensor(2.5, dtype=f64)");
  EXPECT_EQ(printed(scalar(1, DType::boolean)), "tensor(True, dtype=bool)");
  EXPECT_EQ(printed(tensor({true, false})), "tensor([ True False], dtype=bool)");
  // Integers right-aligned, exact past 2^53.
  EXPECT_EQ(printed(tensor(std::vector<int64_t>{(int64_t(1) << 60) + 1, -3})),
            "tensor([1152921504606846977                  -3], dtype=i64)");
}

TEST(Printing, LongRowsWrapAtTheLineWidth) {
  EXPECT_EQ(printed(arange(100, DType::i64)),
            "tensor([ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21\n"
            "        22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43\n"
            "        44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65\n"
            "        66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87\n"
            "        88 89 90 91 92 93 94 95 96 97 98 99], dtype=i64)");
  EXPECT_EQ(printed(arange(12, DType::f64) / 7.0),
            "tensor([0.         0.14285714 0.28571429 0.42857143 0.57142857 0.71428571\n"
            "        0.85714286 1.         1.14285714 1.28571429 1.42857143 1.57142857],\n"
            "       dtype=f64)");
  PrintOptions narrow;
  narrow.linewidth = 20;
  OptionsScope scope(narrow);
  EXPECT_EQ(printed(arange(12, DType::f64).reshape({3, 4}) * 1.5),
            "tensor([[ 0.\n          1.5\n          3.\n          4.5]\n"
            "        [ 6.\n          7.5\n          9.\n         10.5]\n"
            "        [12.\n         13.5\n         15.\n         16.5]],\n"
            "       dtype=f64)");
  // The dtype goes to a line of its own when it would pass the width (NumPy's repr).
  narrow.linewidth = 30;
  set_printoptions(narrow);
  EXPECT_EQ(printed(arange(6, DType::i64)), "tensor([0 1 2 3 4 5],\n       dtype=i64)");
}

TEST(Printing, OptionsSetPrecisionThresholdEdgeItemsAndNotation) {
  const PrintOptions defaults;
  EXPECT_EQ(get_printoptions().precision, 8);
  EXPECT_EQ(get_printoptions().threshold, 1000);
  EXPECT_EQ(get_printoptions().edgeitems, 3);
  EXPECT_EQ(get_printoptions().linewidth, 75);
  EXPECT_FALSE(get_printoptions().sci_mode.has_value());
  {
    PrintOptions o;
    o.precision = 3;
    OptionsScope scope(o);
    EXPECT_EQ(get_printoptions().precision, 3);
    EXPECT_EQ(printed(tensor({M_PI, M_E})), "tensor([3.142 2.718], dtype=f64)");
    EXPECT_EQ(printed(tensor({M_PI, 1e-6})), "tensor([3.142e+00 1.000e-06], dtype=f64)");
    o.sci_mode = true;
    set_printoptions(o);
    EXPECT_EQ(printed(tensor({1.5, 20.0})), "tensor([1.5e+00 2.0e+01], dtype=f64)");
    o.sci_mode = false;
    set_printoptions(o);
    EXPECT_EQ(printed(tensor({1e-5, 1e9})), "tensor([         0. 1000000000.], dtype=f64)");
    o.precision = 6;
    set_printoptions(o);
    EXPECT_EQ(printed(tensor({0.5, 1e-5})), "tensor([0.5     0.00001], dtype=f64)");
    o.threshold = 5;
    o.edgeitems = 2;
    set_printoptions(o);
    EXPECT_EQ(printed(arange(20, DType::i64)), "tensor([ 0  1 ... 18 19], dtype=i64)");
    EXPECT_EQ(printed(arange(5, DType::i64)), "tensor([0 1 2 3 4], dtype=i64)");
  }
  EXPECT_EQ(get_printoptions().precision, defaults.precision);
  EXPECT_EQ(printed(tensor({M_PI})), "tensor([3.14159265], dtype=f64)");
  // Bad options are refused and change nothing.
  PrintOptions bad;
  bad.precision = -1;
  expect_error<ValueError>([&] { set_printoptions(bad); }, {"set_printoptions", "precision"});
  bad = PrintOptions();
  bad.linewidth = 0;
  expect_error<ValueError>([&] { set_printoptions(bad); }, {"linewidth"});
  EXPECT_EQ(get_printoptions().precision, 8);
  EXPECT_EQ(get_printoptions().linewidth, 75);
}

// A 2^40-element view copied whole would need terabytes: printing reads the printed elements.
TEST(Printing, HugeBroadcastViewsPrintSummarized) {
  const Tensor huge = scalar(0.25).broadcast_to({int64_t(1) << 40});
  EXPECT_EQ(printed(huge), "tensor([0.25 0.25 0.25 ... 0.25 0.25 0.25], dtype=f32)");
  const Tensor wide = scalar(1.5, DType::f64).broadcast_to({int64_t(1) << 20, int64_t(1) << 20});
  const std::string text = printed(wide);
  EXPECT_EQ(text.substr(0, 38), "tensor([[1.5 1.5 1.5 ... 1.5 1.5 1.5]\n");
}

// Edge items past an axis's length print the whole axis (2 * edgeitems must not overflow).
TEST(Printing, EdgeItemsBeyondTheAxisPrintItWhole) {
  PrintOptions o = get_printoptions();
  o.edgeitems = int64_t(1) << 62;
  OptionsScope scope(o);
  const std::string text = printed(arange(2000, DType::i64));
  for (const char* value : {" 998", " 999", " 1000", " 1001", " 1999]"})
    EXPECT_NE(text.find(value), std::string::npos) << value << " in " << text.substr(0, 200);
  EXPECT_EQ(text.find("..."), std::string::npos);
  const std::string huge = printed(scalar(2.0).broadcast_to({int64_t(1) << 40}));
  EXPECT_NE(huge.find("..."), std::string::npos);  // still summarized: too many to print
}
