// The storage dtypes (i32, u8, i8, f16, bf16): their conversions, arithmetic, result dtypes
// (every cell of the promotion table against NumPy's, recorded here), gradients and refusals.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <utility>

#include "kernels/cpu/half.hpp"
#include "ndgrad/data.hpp"
#include "ndgrad/io.hpp"
#include "ndgrad/linalg.hpp"
#include "ndgrad/nn.hpp"
#include "ndgrad/optim.hpp"
#include "ndgrad/random.hpp"
#include "test_util.hpp"

namespace ndgrad {
namespace {

using kernels::bfloat16_t;
using kernels::float16_t;
using testing::expect_error;

constexpr DType kAll[] = {DType::f32, DType::f64, DType::i64, DType::boolean, DType::i32,
                          DType::u8,  DType::i8,  DType::f16, DType::bf16};

uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
float bits_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// ---- float16 and bfloat16 ----

TEST(Half, EveryF16BitPatternRoundTripsThroughFloatAndDouble) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float16_t x = float16_t::from_bits(static_cast<uint16_t>(h));
    const double d = static_cast<double>(x);
    const float f = static_cast<float>(x);
    if (std::isnan(d)) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_TRUE(std::isnan(static_cast<double>(float16_t(d)))) << h;
      EXPECT_EQ(float16_t(d).bits >> 15, h >> 15) << "the sign of NaN " << h;
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), d) << h;  // exact in float as in double
    EXPECT_EQ(float16_t(d).bits, h) << "double " << d;
    EXPECT_EQ(float16_t(static_cast<double>(f)).bits, h) << "float " << f;
  }
}

TEST(Half, EveryBF16BitPatternRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const bfloat16_t x = bfloat16_t::from_bits(static_cast<uint16_t>(h));
    const float f = static_cast<float>(x);
    EXPECT_EQ(float_bits(f), h << 16) << h;  // a float's top half
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(bfloat16_t(f)))) << h;
      continue;
    }
    EXPECT_EQ(bfloat16_t(f).bits, h) << f;
  }
}

// The reference rounding: the nearest of all finite f16 values (ties to the even bit pattern);
// past the largest, infinity from 65520 (the largest plus half an ulp) on.
uint16_t f16_reference(double x) {
  static const std::vector<std::pair<double, uint16_t>> table = [] {
    std::vector<std::pair<double, uint16_t>> t;
    for (uint32_t h = 0; h < 0x7c00; ++h)
      t.push_back({static_cast<double>(float16_t::from_bits(static_cast<uint16_t>(h))),
                   static_cast<uint16_t>(h)});
    return t;
  }();
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (a >= 65520.0) return sign | 0x7c00;
  auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(a, uint16_t(0)));
  if (it == table.end()) return sign | 0x7bff;
  if (it->first == a) return sign | it->second;
  const auto lo = it - 1;
  const double dlo = a - lo->first, dhi = it->first - a;
  if (dlo < dhi) return sign | lo->second;
  if (dhi < dlo) return sign | it->second;
  return sign | ((lo->second & 1) ? it->second : lo->second);
}

// The reference bfloat16 rounding of a finite float: the usual add-and-truncate on its bits.
uint16_t bf16_reference(float f) {
  const uint32_t b = float_bits(f);
  return static_cast<uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

TEST(Half, RoundingMatchesTheReferenceForManyFloats) {
  std::mt19937_64 rng(7);
  std::vector<float> values = {0.0f,  -0.0f,  1.0f,          65504.0f, 65519.99f, 65520.0f,
                               1e-8f, 3e-8f,  5.9604645e-8f, 2.98e-8f, 6.1e-5f,   6.104e-5f,
                               1e30f, -1e30f, 3.4e38f,       1e-45f,   0.1f,      1.0f / 3};
  for (int i = 0; i < 400000; ++i) {
    uint32_t b = static_cast<uint32_t>(rng());
    // Half of them near the f16 range (exponents -30 .. 17), the rest anywhere.
    if (i % 2) b = (b & 0x807fffffu) | ((97u + static_cast<uint32_t>(rng() % 48)) << 23);
    const float f = bits_float(b);
    if (!std::isnan(f)) values.push_back(f);
  }
  for (float f : values) {
    ASSERT_EQ(float16_t(static_cast<double>(f)).bits, f16_reference(f)) << f;
    ASSERT_EQ(bfloat16_t(static_cast<double>(f)).bits, bf16_reference(f)) << f;
  }
  // And doubles between floats round once (no double rounding through float).
  for (int i = 0; i < 100000; ++i) {
    const double d =
        std::ldexp(static_cast<double>(rng() >> 11), -53 - static_cast<int>(rng() % 40));
    ASSERT_EQ(float16_t(d).bits, f16_reference(d)) << d;
  }
}

TEST(Half, SpecialValues) {
  EXPECT_EQ(float16_t(65504.0).bits, 0x7bff);
  EXPECT_EQ(float16_t(65519.0).bits, 0x7bff);
  EXPECT_EQ(float16_t(65520.0).bits, 0x7c00);  // overflow to inf
  EXPECT_EQ(float16_t(-1e10).bits, 0xfc00);
  EXPECT_EQ(float16_t(-0.0).bits, 0x8000);
  EXPECT_EQ(float16_t(std::ldexp(1.0, -24)).bits, 0x0001);  // the smallest subnormal
  EXPECT_EQ(float16_t(std::ldexp(1.0, -25)).bits, 0x0000);  // half of it: a tie, to even
  EXPECT_EQ(float16_t(std::ldexp(1.5, -25)).bits, 0x0001);
  EXPECT_EQ(float16_t(std::ldexp(3.0, -25)).bits, 0x0002);     // 1.5 ulps: a tie, to even
  EXPECT_EQ(float16_t(std::ldexp(1023.5, -24)).bits, 0x0400);  // up to the smallest normal
  EXPECT_EQ(float16_t(1.0 / 3).bits, 0x3555);
  EXPECT_TRUE(std::isnan(static_cast<double>(float16_t(std::nan("")))));
  EXPECT_EQ(bfloat16_t(1.0 + 0x1p-8).bits, bfloat16_t(1.0).bits);  // a tie, to even
  EXPECT_EQ(bfloat16_t(3.5e38).bits, 0x7f80);                      // past bf16's largest
  EXPECT_EQ(static_cast<float>(bfloat16_t(1.0 / 3)), 0.333984375f);
}

// ---- conversions between tensors ----

std::vector<double> as(const std::vector<double>& v, DType from, DType to) {
  return tensor(v, {static_cast<int64_t>(v.size())}, from).to(to).to_vector();
}

TEST(DTypes, NamesSizesAndKinds) {
  const char* names[] = {"f32", "f64", "i64", "bool", "i32", "u8", "i8", "f16", "bf16"};
  const int64_t sizes[] = {4, 8, 8, 1, 4, 1, 1, 2, 2};
  for (int i = 0; i < kNumDTypes; ++i) {
    EXPECT_STREQ(dtype_name(kAll[i]), names[i]);
    EXPECT_EQ(itemsize(kAll[i]), sizes[i]);
    EXPECT_EQ(zeros({3}, kAll[i]).dtype(), kAll[i]);
  }
  EXPECT_TRUE(is_floating(DType::f16) && is_floating(DType::bf16));
  EXPECT_FALSE(is_floating(DType::u8) || is_floating(DType::i32) || is_floating(DType::i8));
  EXPECT_EQ(compute_dtype(DType::f16), DType::f32);
  EXPECT_EQ(compute_dtype(DType::bf16), DType::f32);
  EXPECT_EQ(compute_dtype(DType::u8), DType::i64);
  EXPECT_EQ(compute_dtype(DType::i32), DType::i64);
  EXPECT_EQ(compute_dtype(DType::f64), DType::f64);
}

TEST(DTypes, FloatToIntegerSaturatesAndNaNIsZero) {
  const double nan = std::nan(""), inf = INFINITY;
  EXPECT_EQ(as({-1.5, 0.4, 255.6, 300, nan, inf, -inf, 7.9}, DType::f64, DType::u8),
            (std::vector<double>{0, 0, 255, 255, 0, 255, 0, 7}));
  EXPECT_EQ(as({-128.5, 127.9, -0.9, 1e10, nan, -7.5}, DType::f32, DType::i8),
            (std::vector<double>{-128, 127, 0, 127, 0, -7}));
  EXPECT_EQ(as({3e9, -3e9, nan, 65504}, DType::f64, DType::i32),
            (std::vector<double>{2147483647, -2147483648.0, 0, 65504}));
  EXPECT_EQ(as({65504, inf, -inf}, DType::f16, DType::i32),
            (std::vector<double>{65504, 2147483647, -2147483648.0}));
}

TEST(DTypes, IntegerToNarrowerIntegerWraps) {
  EXPECT_EQ(as({300, -1, 256, 255}, DType::i64, DType::u8), (std::vector<double>{44, 255, 0, 255}));
  EXPECT_EQ(as({200, -129, 128}, DType::i64, DType::i8), (std::vector<double>{-56, 127, -128}));
  EXPECT_EQ(as({4294967301.0, 2147483648.0}, DType::i64, DType::i32),
            (std::vector<double>{5, -2147483648.0}));
  EXPECT_EQ(as({-1, 5}, DType::i8, DType::u8), (std::vector<double>{255, 5}));
  EXPECT_EQ(as({0, 3, 1}, DType::u8, DType::boolean), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(as({0, 1}, DType::boolean, DType::i8), (std::vector<double>{0, 1}));
}

TEST(DTypes, ToHalvesRoundsToNearestEven) {
  const double nan = std::nan("");
  std::vector<double> h =
      as({1.0 / 3, 65520, -65520, 1e-8, 2049, 2051, -0.0, nan}, DType::f64, DType::f16);
  EXPECT_EQ(h[0], 0.333251953125);
  EXPECT_EQ(h[1], INFINITY);
  EXPECT_EQ(h[2], -INFINITY);
  EXPECT_EQ(h[3], std::ldexp(1.0, -24) * std::round(1e-8 / std::ldexp(1.0, -24)));  // subnormal
  EXPECT_EQ(h[4], 2048);  // a tie: to even
  EXPECT_EQ(h[5], 2052);
  EXPECT_TRUE(h[6] == 0 && std::signbit(h[6]));
  EXPECT_TRUE(std::isnan(h[7]));
  std::vector<double> b = as({1.0 / 3, 257, 259, 3.5e38, -0.0}, DType::f64, DType::bf16);
  EXPECT_EQ(b[0], 0.333984375);
  EXPECT_EQ(b[1], 256);
  EXPECT_EQ(b[2], 260);
  EXPECT_EQ(b[3], INFINITY);
  EXPECT_TRUE(std::signbit(b[4]));
  // Every dtype to every other, through the values all of them hold.
  for (DType from : kAll)
    for (DType to : kAll) {
      const Tensor t = tensor({0, 1, 1, 0}, {2, 2}, from);
      EXPECT_EQ(t.to(to).dtype(), to);
      EXPECT_EQ(t.to(to).to_vector(), (std::vector<double>{0, 1, 1, 0}))
          << dtype_name(from) << " -> " << dtype_name(to);
      EXPECT_EQ(t.T().to(to).to_vector(), (std::vector<double>{0, 1, 1, 0}));
    }
}

// ---- arithmetic ----

void expect_tensor(const Tensor& t, DType dtype, const std::vector<double>& values) {
  EXPECT_EQ(t.dtype(), dtype) << dtype_name(t.dtype()) << " != " << dtype_name(dtype);
  EXPECT_EQ(t.to_vector(), values);
}

TEST(DTypes, NarrowIntegersWrapAsNumPy) {
  const Tensor a = tensor({200, 5, 16}, {3}, DType::u8), b = tensor({100, 10, 16}, {3}, DType::u8);
  expect_tensor(a + b, DType::u8, {44, 15, 32});
  expect_tensor(a - b, DType::u8, {100, 251, 0});
  expect_tensor(a * b, DType::u8, {32, 50, 0});
  expect_tensor(a + int64_t(100), DType::u8, {44, 105, 116});
  expect_tensor(-a, DType::u8, {56, 251, 240});
  expect_tensor(floor_divide(a, b), DType::u8, {2, 0, 1});
  expect_tensor(a / b, DType::f32, {2, 0.5, 1});
  expect_tensor(a > b, DType::boolean, {1, 0, 0});
  expect_tensor(a < int64_t(300), DType::boolean, {1, 1, 1});  // exact: compared in i64
  expect_error<ValueError>([&] { (void)(a + int64_t(300)); }, {"add", "300", "u8"});
  const Tensor m = tensor({-128, -7, 7, 127}, {4}, DType::i8);
  expect_tensor(floor_divide(m, tensor({-1, 2, -2, -1}, {4}, DType::i8)), DType::i8,
                {-128, -4, -4, -127});
  expect_tensor(abs(m), DType::i8, {-128, 7, 7, 127});
  expect_tensor(m + int64_t(1), DType::i8, {-127, -6, 8, -128});
  expect_tensor(bitwise_not(m), DType::i8, {127, 6, -8, -128});
  const Tensor i = tensor({2147483647, -5}, {2}, DType::i32);
  expect_tensor(i + int64_t(1), DType::i32, {-2147483648.0, -4});
  expect_tensor(i * i, DType::i32, {1, 25});
}

TEST(DTypes, HalvesComputeInF32AndRoundOnce) {
  const Tensor one = tensor({1, 2, 65504}, {3}, DType::f16);
  const Tensor three = tensor({3, 3, 2}, {3}, DType::f16);
  expect_tensor(one / three, DType::f16, {0.333251953125, 0.66650390625, 32752});
  expect_tensor(one * three, DType::f16, {3, 6, INFINITY});
  expect_tensor(one + 0.0004, DType::f16, {1, 2, 65504});  // 0.0004 is under half an ulp of 1
  expect_tensor(exp(tensor({0, 1}, {2}, DType::f16)), DType::f16, {1, 2.71875});
  expect_tensor(sqrt(tensor({2}, {1}, DType::bf16)), DType::bf16, {1.4140625});
  expect_tensor(tensor({1}, {1}, DType::bf16) / 3.0, DType::bf16, {0.333984375});
  expect_tensor(tensor({1, 1}, {2}, DType::bf16) + tensor({0x1p-8, 0x1p-7}, {2}, DType::bf16),
                DType::bf16, {1, 1.0078125});
  // A sum accumulates in f32 and rounds once: 10 x 10000 = 100000 is past f16's range.
  expect_tensor(full({10}, 10000, DType::f16).sum(), DType::f16, {INFINITY});
  expect_tensor(full({10}, 10000, DType::f16).mean(), DType::f16, {10000});
  expect_tensor(full({3}, 0.1, DType::f16).sum(), DType::f16, {0.2998046875});
  expect_tensor(isnan(tensor({NAN, 1}, {2}, DType::f16)), DType::boolean, {1, 0});
}

TEST(DTypes, MixedOperandsFollowThePromotionTable) {
  const Tensor u = tensor({200}, {1}, DType::u8), s = tensor({-1}, {1}, DType::i8);
  expect_tensor(u + s, DType::i32, {199});
  expect_tensor(u + tensor({0.5}, {1}, DType::f16), DType::f16, {200.5});
  expect_tensor(u + tensor({0.5}, {1}, DType::f32), DType::f32, {200.5});
  expect_tensor(u * 2.5, DType::f32, {500});
  expect_tensor(tensor({1.5}, {1}, DType::f16) * 2.5, DType::f16, {3.75});
  expect_tensor(tensor({1}, {1}, DType::f16) + tensor({1}, {1}, DType::bf16), DType::f32, {2});
  expect_tensor(tensor({7}, {1}, DType::i32) + tensor({0.5}, {1}, DType::f32), DType::f32, {7.5});
  expect_tensor(u + tensor({1}, {1}, DType::boolean), DType::u8, {201});
  expect_tensor(tensor({1}, {1}, DType::boolean) + int64_t(2), DType::i64, {3});
}

TEST(DTypes, ReductionsScansAndSorts) {
  const Tensor u = tensor({200, 7, 250}, {3}, DType::u8);
  expect_tensor(u.sum(), DType::i64, {457});  // small integers sum in i64, as NumPy's int
  expect_tensor(u.max(), DType::u8, {250});
  expect_tensor(u.min(), DType::u8, {7});
  expect_tensor(u.mean(), DType::f32, {152.33332824707031});
  expect_tensor(u.argmax(), DType::i64, {2});
  expect_tensor(cumsum(u, 0), DType::i64, {200, 207, 457});
  expect_tensor(sum(u, {0}, false, DType::u8), DType::u8, {201});  // 457 wrapped, as NumPy's
  expect_tensor(sum(u, {0}, false, DType::f16), DType::f16, {457});
  ValuesIndices sorted = sort(tensor({3, -128, 127, 0}, {4}, DType::i8), 0);
  expect_tensor(sorted.values, DType::i8, {-128, 0, 3, 127});
  expect_tensor(sorted.indices, DType::i64, {1, 3, 0, 2});
  const Tensor h = tensor({0.5, -2, 3}, {3}, DType::f16);
  expect_tensor(h.max(), DType::f16, {3});
  expect_tensor(cumsum(h, 0), DType::f16, {0.5, -1.5, 1.5});
  expect_tensor(argsort(tensor({0.5, -2, 3}, {3}, DType::bf16), 0), DType::i64, {1, 0, 2});
  expect_tensor(topk(u, 2, 0).values, DType::u8, {250, 200});
}

TEST(DTypes, MatmulWhereAndMovingOpsKeepTheDtype) {
  const Tensor a = tensor({100, 2, 3, 4}, {2, 2}, DType::i8);
  expect_tensor(matmul(a, a), DType::i8, {22, -48, 56, 22});  // 10006, 208, 312 wrap
  const Tensor h = tensor({1, 2, 3, 4}, {2, 2}, DType::f16);
  expect_tensor(matmul(h, h), DType::f16, {7, 10, 15, 22});
  const Tensor mask = tensor({1, 0, 0, 1}, {2, 2}, DType::boolean);
  const Tensor u = tensor({1, 2, 3, 4}, {2, 2}, DType::u8);
  expect_tensor(where(mask, u, int64_t(9)), DType::u8, {1, 9, 9, 4});
  expect_tensor(where(mask, h, 0.5), DType::f16, {1, 0.5, 0.5, 4});
  expect_tensor(u.T().contiguous(), DType::u8, {1, 3, 2, 4});
  expect_tensor(u.reshape({4}), DType::u8, {1, 2, 3, 4});
  expect_tensor(cat({u, u}, 0).reshape({8}), DType::u8, {1, 2, 3, 4, 1, 2, 3, 4});
  expect_tensor(stack({h, h}, 0).sum(), DType::f16, {20});
  expect_tensor(cat({u, a}, 1).reshape({8}), DType::i32, {1, 2, 100, 2, 3, 4, 3, 4});
  expect_tensor(masked_select(u, mask), DType::u8, {1, 4});
  expect_tensor(u.clone().masked_fill_(mask, 255).reshape({4}), DType::u8, {255, 2, 3, 255});
  expect_tensor(h.narrow(0, 1, 1).reshape({2}), DType::f16, {3, 4});
  EXPECT_EQ(tensor({2.5}, {1}, DType::f16).item(), 2.5);
  EXPECT_EQ(tensor({-3}, {}, DType::i8).item(), -3);
}

TEST(DTypes, RandomHalvesStayBelowOne) {
  for (DType d : {DType::f16, DType::bf16}) {
    const Tensor r = rand({20000}, 3, d);
    EXPECT_EQ(r.dtype(), d);
    EXPECT_LT(r.max().item(), 1.0);
    EXPECT_GE(r.min().item(), 0.0);
  }
}

// Every op on a storage dtype gives the values it gives on the same values in f64 (within an
// f16 tolerance for f16 and bf16), or refuses with a DTypeError naming the dtype: never a wrong
// result, a crash or an internal error. Small values, so that no integer result wraps.
TEST(DTypes, EveryOpWorksOrRefusesByName) {
  using F = std::function<Tensor(const Tensor&)>;
  const Tensor idx = tensor({2, 0}, {2}, DType::i64);
  const Tensor idx2 = tensor({3, 0, 1, 2, 0, 0}, {3, 2}, DType::i64);
  const Tensor mask = tensor({1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0}, {3, 4}, DType::boolean);
  const std::vector<std::pair<const char*, F>> ops = {
      {"clamp", [](const Tensor& x) { return clamp(x, 2.0, 9.0); }},
      {"flip", [](const Tensor& x) { return flip(x, {1}); }},
      {"roll", [](const Tensor& x) { return roll(x, 1, 0); }},
      {"pad",
       [](const Tensor& x) {
         return pad(x, {{1, 0}, {0, 2}}, PadMode::constant, 3.0);
       }},
      {"pad reflect",
       [](const Tensor& x) {
         return pad(x, {{1, 1}, {2, 0}}, PadMode::reflect);
       }},
      {"tril", [](const Tensor& x) { return tril(x); }},
      {"triu", [](const Tensor& x) { return triu(x, 1); }},
      {"tile",
       [](const Tensor& x) {
         return tile(x, {2, 1});
       }},
      {"repeat_interleave", [](const Tensor& x) { return repeat_interleave(x, 2, 1); }},
      {"diag", [](const Tensor& x) { return diag(x); }},
      {"trace", [](const Tensor& x) { return trace(x); }},
      {"take", [&](const Tensor& x) { return take(x, idx); }},
      {"index_select", [&](const Tensor& x) { return index_select(x, 0, idx); }},
      {"gather", [&](const Tensor& x) { return gather(x, 1, idx2); }},
      {"take_along_axis", [&](const Tensor& x) { return take_along_axis(x, idx2, 1); }},
      {"index_add", [&](const Tensor& x) { return index_add(x, 0, idx, x.narrow(0, 0, 2)); }},
      {"scatter_add", [&](const Tensor& x) { return scatter_add(x, 1, idx2, x); }},
      {"scatter", [&](const Tensor& x) { return scatter(x, 1, idx2, x); }},
      {"scatter value", [&](const Tensor& x) { return scatter(x, 1, idx2, 4.0); }},
      {"put_along_axis",
       [&](const Tensor& x) { return put_along_axis(x, idx2, x.narrow(1, 0, 2), 1); }},
      {"masked_fill", [&](const Tensor& x) { return masked_fill(x, mask, 5.0); }},
      {"masked_select", [&](const Tensor& x) { return masked_select(x, mask); }},
      {"index_put", [&](const Tensor& x) { return index_put(x, {idx}, x.narrow(0, 1, 2)); }},
      {"any", [](const Tensor& x) { return any(x, {1}); }},
      {"all", [](const Tensor& x) { return all(x, {0}); }},
      {"count_nonzero", [](const Tensor& x) { return count_nonzero(x); }},
      {"nonzero", [](const Tensor& x) { return nonzero(x); }},
      {"var", [](const Tensor& x) { return var(x); }},
      {"std", [](const Tensor& x) { return ndgrad::std(x); }},
      {"norm", [](const Tensor& x) { return norm(x); }},
      {"quantile", [](const Tensor& x) { return quantile(x, 0.5); }},
      {"median", [](const Tensor& x) { return median(x, 1).values; }},
      {"kthvalue", [](const Tensor& x) { return kthvalue(x, 2, 1).values; }},
      {"nansum", [](const Tensor& x) { return nansum(x); }},
      {"nanmean", [](const Tensor& x) { return nanmean(x); }},
      {"diff", [](const Tensor& x) { return diff(sort(x, 1).values); }},  // (>= 0: no wrap)
      {"cumsum", [](const Tensor& x) { return cumsum(x, 0); }},
      {"cumprod", [](const Tensor& x) { return cumprod(x, 1); }},
      {"cummax", [](const Tensor& x) { return cummax(x, 1).values; }},
      {"cummin", [](const Tensor& x) { return cummin(x, 0).indices; }},
      {"logcumsumexp", [](const Tensor& x) { return logcumsumexp(x, 0); }},
      {"sort", [](const Tensor& x) { return sort(x, 1).values; }},
      {"topk", [](const Tensor& x) { return topk(x, 2, 0).indices; }},
      {"argmin", [](const Tensor& x) { return x.argmin(1); }},
      {"prod", [](const Tensor& x) { return x.narrow(1, 0, 2).prod({1}); }},
      {"mean", [](const Tensor& x) { return x.mean({0}); }},
      {"max", [](const Tensor& x) { return x.max({1}); }},
      {"sum_to",
       [](const Tensor& x) {
         return sum_to(x, {1, 4});
       }},
      {"softmax", [](const Tensor& x) { return nn::softmax(x); }},
      {"log_softmax", [](const Tensor& x) { return nn::log_softmax(x); }},
      {"mse_loss", [](const Tensor& x) { return nn::mse_loss(x, x * 0.5); }},
      {"logsumexp", [](const Tensor& x) { return logsumexp(x, {1}); }},
      {"einsum", [](const Tensor& x) { return einsum("ij->j", {x}); }},
      {"outer", [](const Tensor& x) { return outer(x.narrow(0, 0, 1).reshape({4}), diag(x)); }},
      {"kron", [](const Tensor& x) { return kron(x.narrow(0, 0, 1), diag(x)); }},
      {"dot", [](const Tensor& x) { return dot(diag(x), diag(x)); }},
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }},
      {"elu", [](const Tensor& x) { return elu(x - 5.0, 0.5); }},
      {"hardtanh", [](const Tensor& x) { return hardtanh(x); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"abs sign floor", [](const Tensor& x) { return abs(x) + sign(x) + floor(x); }},
      {"pow", [](const Tensor& x) { return pow(x, 2.0); }},
      {"remainder", [](const Tensor& x) { return remainder(x, int64_t(3)); }},
      {"fmod", [](const Tensor& x) { return fmod(x, x + int64_t(1)); }},
      {"maximum", [](const Tensor& x) { return maximum(x, flip(x, {0})); }},
      {"logical", [](const Tensor& x) { return logical_and(x, logical_not(x > 5.0)); }},
      {"where", [](const Tensor& x) { return where(x > int64_t(5), x, int64_t(0)); }},
      {"nan_to_num", [](const Tensor& x) { return nan_to_num(x); }},
      {"cat",
       [](const Tensor& x) {
         return cat({x, x.T().narrow(0, 0, 3)}, 1);
       }},
      {"stack",
       [](const Tensor& x) {
         return stack({x, x}, 2);
       }},
      {"hstack vstack",
       [](const Tensor& x) {
         return vstack({hstack({x, x}), hstack({x, x})});
       }},
      {"split", [](const Tensor& x) { return split(x, 2, 1)[1]; }},
      {"unbind", [](const Tensor& x) { return unbind(x, 1)[2]; }},
      {"swapaxes", [](const Tensor& x) { return swapaxes(x, 0, 1).contiguous(); }},
      {"diagonal", [](const Tensor& x) { return diagonal(x, 1); }},
      {"clone", [](const Tensor& x) { return x.T().clone(); }},
  };
  const std::vector<double> values = {5, 3, 11, 0, 7, 1, 9, 2, 4, 10, 6, 8};
  std::vector<std::string> refused;
  int gradients = 0;
  for (DType d : {DType::i32, DType::u8, DType::i8, DType::f16, DType::bf16}) {
    const Tensor x = tensor(values, {3, 4}, d), x64 = x.to(DType::f64);
    for (const auto& [name, f] : ops) {
      Tensor got;
      try {
        got = f(x);
      } catch (const DTypeError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(dtype_name(d)), std::string::npos) << name << ": " << what;
        EXPECT_EQ(what.find("internal"), std::string::npos) << name << ": " << what;
        refused.push_back(std::string(name) + " " + dtype_name(d));
        continue;
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " on " << dtype_name(d) << ": " << e.what();
        continue;
      }
      const Tensor want = f(x64);
      ASSERT_EQ(got.shape(), want.shape()) << name << " on " << dtype_name(d);
      const std::vector<double> g = got.to_vector(), w = want.to_vector();
      const double tol = is_floating(d) ? 1e-2 : 1e-6;
      for (size_t i = 0; i < g.size(); ++i)
        EXPECT_NEAR(g[i], w[i], tol * (1 + std::fabs(w[i])))
            << name << " on " << dtype_name(d) << " at " << i;
      if (is_floating(got.dtype()) && !is_floating(d)) {
        EXPECT_EQ(got.dtype(), DType::f32) << name << " on " << dtype_name(d);
      }
      if (!is_floating(d) || !is_floating(got.dtype())) continue;
      // f16 and bf16 also differentiate as f64 does.
      auto grad_of = [&](const Tensor& input) {
        Tensor leaf = input.detach();
        leaf.requires_grad_();
        const Tensor y = f(leaf);
        if (!y.requires_grad()) return Tensor();
        const Tensor up = (arange(y.numel(), DType::f64) - 3.0).reshape(y.shape()).to(y.dtype());
        (y * up).sum().backward();
        return leaf.grad();
      };
      const Tensor gh = grad_of(x), g64 = grad_of(x64);
      ASSERT_EQ(gh.defined(), g64.defined()) << name;
      if (!gh.defined()) continue;
      EXPECT_EQ(gh.dtype(), d) << name;
      ++gradients;
      const std::vector<double> a = gh.to_vector(), b = g64.to_vector();
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 2e-2 * (1 + std::fabs(b[i])))
            << name << "'s gradient on " << dtype_name(d) << " at " << i;
    }
  }
  EXPECT_GT(gradients, 100);  // f16 and bf16 each differentiated through most of the ops
  std::string list;
  for (const auto& r : refused) list += r + "; ";
  std::cout << "refused: " << list << "\n";
}

TEST(DTypes, HalvesThroughOpsWrittenForF32ComputeInF32) {
  const Tensor logits = tensor({1, 2, 3, -1, 0, 1}, {2, 3}, DType::f16);
  const Tensor p = nn::softmax(logits);
  EXPECT_EQ(p.dtype(), DType::f16);
  // softmax([1, 2, 3]) = 0.09003, 0.24473, 0.66524, each rounded once to f16.
  expect_tensor(p.narrow(0, 0, 1).reshape({3}), DType::f16,
                {1475 * 0x1p-14, 2005 * 0x1p-13, 1362 * 0x1p-11});
  Tensor l = logits.detach();
  l.requires_grad_();
  const Tensor loss = nn::cross_entropy(l, tensor({2, 0}, {2}, DType::i64));
  EXPECT_EQ(loss.dtype(), DType::f16);
  EXPECT_NEAR(loss.item(), (0.40761 + 2.40761) / 2, 1e-3);
  loss.backward();
  EXPECT_EQ(l.grad().dtype(), DType::f16);
  EXPECT_NEAR(l.grad().to_vector()[2], (0.66524 - 1) / 2, 1e-3);
  expect_tensor(var(tensor({1, 2, 3, 4}, {4}, DType::bf16)), DType::bf16, {1.6640625});
}

TEST(DTypes, NarrowIntegerIndicesAndLabels) {
  const Tensor x = tensor({10, 11, 12, 13, 14, 15}, {2, 3}, DType::f32);
  expect_tensor(take(x, tensor({5, 0}, {2}, DType::u8)), DType::f32, {15, 10});
  expect_tensor(index_select(x, 1, tensor({2, -1}, {2}, DType::i8)), DType::f32, {12, 12, 15, 15});
  expect_tensor(gather(x, 1, tensor({1, 0, 2, 2}, {2, 2}, DType::i32)), DType::f32,
                {11, 10, 15, 15});
  expect_tensor(x.index({tensor({1, 0}, {2}, DType::u8)}).reshape({6}), DType::f32,
                {13, 14, 15, 10, 11, 12});
  expect_tensor(repeat_interleave(tensor({1, 2}, {2}, DType::u8), tensor({2, 1}, {2}, DType::i32)),
                DType::u8, {1, 1, 2});
  const Tensor logits = tensor({2, 0, 0, 0, 0, 3}, {2, 3}, DType::f32);
  EXPECT_EQ(nn::cross_entropy(logits, tensor({0, 2}, {2}, DType::u8)).item(),
            nn::cross_entropy(logits, tensor({0, 2}, {2}, DType::i64)).item());
  expect_error<IndexError>([&] { (void)x.index({tensor({1}, {1}, DType::f16)}); },
                           {"i64 or bool", "f16"});
}

TEST(DTypes, Printing) {
  std::ostringstream os;
  os << tensor({1, 255}, {2}, DType::u8) << " " << tensor({-1.5, 1.0 / 3}, {2}, DType::f16) << " "
     << tensor({2}, {1}, DType::bf16);
  EXPECT_EQ(os.str(),
            "tensor([  1 255], dtype=u8) tensor([-1.5     0.3333], dtype=f16) "
            "tensor([2.], dtype=bf16)");
}

TEST(DTypes, DataPointersNanToNumAndIdx) {
  Tensor u = tensor({1, 2, 250}, {3}, DType::u8);
  EXPECT_EQ(u.data_ptr<uint8_t>()[2], 250);
  EXPECT_EQ(tensor({-3}, {1}, DType::i8).data_ptr<int8_t>()[0], -3);
  EXPECT_EQ(tensor({70000}, {1}, DType::i32).data_ptr<int32_t>()[0], 70000);
  expect_error<DTypeError>([&] { (void)u.data_ptr<int8_t>(); }, {"u8", "i8"});
  expect_tensor(nan_to_num(tensor({NAN, INFINITY, -INFINITY, 2}, {4}, DType::f16)), DType::f16,
                {0, 65504, -65504, 2});
  expect_tensor(nan_to_num(tensor({INFINITY}, {1}, DType::bf16)), DType::bf16, {0x1.fep127});
  // An IDX file of uint8 images (big-endian header: 0, 0, type 0x08, 3 dims), kept as u8.
  const std::string path = ::testing::TempDir() + "/dtypes_images.idx";
  {
    std::ofstream f(path, std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2};
    const unsigned char pixels[] = {0, 255, 128, 7};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
    f.write(reinterpret_cast<const char*>(pixels), sizeof pixels);
  }
  expect_tensor(data::load_idx(path, DType::u8).reshape({4}), DType::u8, {0, 255, 128, 7});
  expect_tensor(data::load_idx(path, DType::f16).reshape({4}), DType::f16, {0, 255, 128, 7});
}

// ---- gradients ----

TEST(DTypes, F16GradientsMatchF32WithinF16Tolerance) {
  const Tensor x32 = tensor({0.5, -1.25, 2, 0.75, -0.3, 1.1}, {2, 3}, DType::f32);
  auto f = [](const Tensor& x) {
    return (x * x * 0.5 + sin(x) * x.sum({1}, true) + matmul(x, x.T()).sum()).mean();
  };
  Tensor a = x32.detach();
  a.requires_grad_();
  f(a).backward();
  Tensor h = x32.to(DType::f16).detach();
  h.requires_grad_();
  Tensor y = f(h);
  EXPECT_EQ(y.dtype(), DType::f16);
  y.backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_EQ(h.grad().dtype(), DType::f16);
  const auto g32 = a.grad().to_vector(), g16 = h.grad().to_vector();
  for (size_t i = 0; i < g32.size(); ++i)
    EXPECT_NEAR(g16[i], g32[i], 1e-2 * (1 + std::fabs(g32[i]))) << i;
  // Through a conversion: f32 -> bf16 -> f32 passes the gradient in f32.
  Tensor c = x32.detach();
  c.requires_grad_();
  (c.to(DType::bf16) * 3.0).sum().backward();
  EXPECT_EQ(c.grad().dtype(), DType::f32);
  EXPECT_EQ(c.grad().to_vector(), std::vector<double>(6, 3.0));
}

TEST(DTypes, IntegerTensorsCannotRequireGrad) {
  for (DType d : {DType::u8, DType::i8, DType::i32})
    expect_error<DTypeError>([&] { zeros({2}, d).requires_grad_(); }, {dtype_name(d)});
}

// The floating_promote rows (exp, log, sin, ..., atan2, hypot, copysign, xlogy): an integer or
// bool tensor gives f32, its f64 result rounded once (PyTorch's dtype, NumPy's values in f32);
// with a floating operand the promoted dtype. The other floating rows still refuse integers, as
// PyTorch does (gelu, silu, softplus, frac, ...).
TEST(DTypes, FloatingPromoteRowsGiveF32ForIntegerAndBoolTensors) {
  const std::vector<double> big = {16777217, -3, 0, 1, 2, 5, 33554435};  // past 2^24 too
  for (DType d : {DType::i64, DType::boolean, DType::i32, DType::u8, DType::i8}) {
    const Tensor x = tensor(big, {7}, DType::i64).to(d), x64 = x.to(DType::f64);
    const std::string name = dtype_name(d);
    auto check = [&](const char* what, const Tensor& got, const Tensor& f64_result) {
      ASSERT_EQ(got.dtype(), DType::f32) << what << " on " << name;
      const std::vector<double> g = got.to_vector(), w = f64_result.to(DType::f32).to_vector();
      for (size_t i = 0; i < g.size(); ++i)
        if (!(std::isnan(g[i]) && std::isnan(w[i])))
          EXPECT_EQ(g[i], w[i]) << what << " on " << name << " at " << i;
    };
    check("exp", exp(x), exp(x64));
    check("log", log(x), log(x64));
    check("sqrt", sqrt(x), sqrt(x64));
    check("sigmoid", sigmoid(x), sigmoid(x64));
    check("reciprocal", reciprocal(x), reciprocal(x64));
    check("cbrt", cbrt(x), cbrt(x64));
    const Tensor next = x + int64_t(1);  // (u8 255 + 1 wraps)
    check("atan2", atan2(x, next), atan2(x64, next.to(DType::f64)));
    check("hypot", hypot(x, x), hypot(x64, x64));
    check("copysign", copysign(x, int64_t(-1)), copysign(x64, -1.0));
    check("xlogy", xlogy(x, x), xlogy(x64, x64));
    check("atan2 scalar", atan2(x, 3.0), atan2(x64, 3.0));  // 3.0 and 3 agree
    check("atan2 integer scalar", atan2(x, int64_t(3)), atan2(x64, 3.0));
    check("atan2 scalar first", atan2(3.0, x), atan2(3.0, x64));
    // With a floating tensor: the promoted dtype.
    EXPECT_EQ(atan2(x, ones({7}, DType::f64)).dtype(), DType::f64);
    EXPECT_EQ(atan2(ones({7}, DType::f32), x).dtype(), DType::f32);
    EXPECT_EQ(hypot(x, ones({7}, DType::f16)).dtype(), DType::f16);
    EXPECT_EQ(xlogy(ones({7}, DType::bf16), x).dtype(), DType::bf16);
    for (const auto& refused : std::vector<std::pair<const char*, std::function<Tensor()>>>{
             {"gelu", [&] { return gelu(x); }},
             {"silu", [&] { return silu(x); }},
             {"softplus", [&] { return softplus(x); }},
             {"frac", [&] { return frac(x); }},
             {"hardswish", [&] { return hardswish(x); }},
             {"tanh_backward", [&] { return tanh_backward(x, x); }}})
      expect_error<DTypeError>([&] { (void)refused.second(); }, {refused.first, dtype_name(d)});
  }
  // An i32, u8 or i8 tensor with an integer scalar outside its range: exact in f64.
  expect_tensor(atan2(tensor({0, 1}, {2}, DType::u8), int64_t(300)), DType::f32,
                {0, double(float(std::atan2(1.0, 300.0)))});
}

// ---- refusals ----

TEST(DTypes, UnsupportedOpsAreDTypeErrorsNamingOpAndDtype) {
  const Tensor h = ones({2, 2}, DType::f16), u = ones({2, 2}, DType::u8);
  expect_error<DTypeError>([&] { (void)gelu(u); }, {"gelu", "u8"});
  expect_error<DTypeError>([&] { (void)linalg::inv(h); }, {"inv", "f16"});
  expect_tensor(index_put(zeros({3}, DType::f16), {tensor({0, 0}, {2}, DType::i64)},
                          ones({2}, DType::f16), true),
                DType::f16, {2, 0, 0});
  expect_error<DTypeError>([&] { (void)var(u); }, {"var", "u8"});
  expect_error<DTypeError>([&] { (void)bitwise_and(h, h); }, {"bitwise_and", "f16"});
  expect_error<DTypeError>([&] { save_npy("/nonexistent/x.npy", h.to(DType::bf16)); },
                           {"save_npy", "bf16"});
}

// lerp, the samplers' tensor arguments, matrix_power and the cheap matrix norms, the optimizers
// and index_put_ with accumulate take f16 and bf16: computed in f32, stored rounded once. The
// decompositions and solvers refuse them, as libtorch's CPU linalg does, naming op and dtype.
TEST(DTypes, HalvesComputeInF32WhereLibtorchTakesThemAndAreRefusedWhereItDoesNot) {
  const Tensor a32 = tensor({0.1, -2, 3.3, 7, 0.25, -1.5}, {2, 3}),
               b32 = tensor({1, 5.5, -3, 2, 0.75, 9}, {2, 3});
  const Tensor w32 = tensor({0.2, 0.9, -0.3, 0.5, 1.2, 0.45}, {2, 3});
  for (DType d : {DType::f16, DType::bf16}) {
    const std::string dn = dtype_name(d);
    const Tensor a = a32.to(d), b = b32.to(d), w = w32.to(d);
    expect_tensor(lerp(a, b, 0.3), d,
                  lerp(a.to(DType::f32), b.to(DType::f32), 0.3).to(d).to_vector());
    expect_tensor(lerp(a, b, w), d,
                  lerp(a.to(DType::f32), b.to(DType::f32), w.to(DType::f32)).to(d).to_vector());
    EXPECT_EQ(lerp(a, b32, 0.3).dtype(), DType::f32);  // the promoted dtype
    {  // differentiable: the gradient in the operand's dtype
      Tensor x = a.detach();
      x.requires_grad_();
      lerp(x, b, w).sum().backward();
      EXPECT_EQ(x.grad().dtype(), d);
      expect_tensor(x.grad(), d, (1.0 - w.to(DType::f32)).to(d).to_vector());
    }
    // The samplers: the f32 draw with the same stream, rounded once.
    Generator g1(5), g2(5);
    expect_tensor(g1.normal(a, abs(b)), d,
                  g2.normal(a.to(DType::f32), abs(b).to(DType::f32)).to(d).to_vector());
    expect_tensor(g1.normal(a, 2.0), d, g2.normal(a.to(DType::f32), 2.0).to(d).to_vector());
    const Tensor p = tensor({0, 0.25, 0.5, 1, 0.9, 0.1}, {2, 3}).to(d);
    expect_tensor(g1.bernoulli(p), d, g2.bernoulli(p.to(DType::f32)).to(d).to_vector());
    EXPECT_EQ(g1.multinomial(p, 2).to_vector(), g2.multinomial(p.to(DType::f32), 2).to_vector());
    // linalg: matrix_power and the 1, inf and Frobenius norms compute; the rest refuse.
    const Tensor m = (tensor({1, 0.5, 0, -0.25, 2, 0.75, 0.5, 0, 1.5}, {3, 3})).to(d);
    const Tensor m32 = m.to(DType::f32);
    expect_tensor(linalg::matrix_power(m, 3), d, linalg::matrix_power(m32, 3).to(d).to_vector());
    for (double ord : {1.0, -1.0, double(INFINITY), -double(INFINITY)})
      expect_tensor(linalg::matrix_norm(m, ord), d,
                    linalg::matrix_norm(m32, ord).to(d).to_vector());
    EXPECT_EQ(linalg::matrix_norm(m).dtype(), d);
    const std::vector<std::pair<const char*, std::function<void()>>> refused = {
        {"inv", [&] { linalg::inv(m); }},
        {"det", [&] { linalg::det(m); }},
        {"solve", [&] { linalg::solve(m, m); }},
        {"cholesky", [&] { linalg::cholesky(m); }},
        {"qr", [&] { linalg::qr(m); }},
        {"eigh", [&] { linalg::eigh(m); }},
        {"svd", [&] { linalg::svd(m); }},
        {"pinv", [&] { linalg::pinv(m); }},
        {"lstsq", [&] { linalg::lstsq(m, m); }},
        {"matrix_power", [&] { linalg::matrix_power(m, -1); }},
        {"matrix_norm", [&] { linalg::matrix_norm(m, "nuc"); }},
        {"matrix_norm", [&] { linalg::matrix_norm(m, 2.0); }},
    };
    for (const auto& [op, f] : refused) expect_error<DTypeError>(f, {op, dn});
  }
}

// f16 and bf16 parameters: the update computed in f32 with f32 state, the parameter rounded
// once a step: as an f32 parameter rounded to the half dtype after every step.
TEST(DTypes, OptimizersUpdateHalfParametersInF32) {
  const Tensor c = tensor({0.5, -1.25, 3, 0.0625}, {4});  // the gradient: exact in f16 and bf16
  for (DType d : {DType::f16, DType::bf16})
    for (int which = 0; which < 3; ++which) {
      Tensor ph = tensor({1, -2, 0.3, 40}, {4}).to(d), p32 = ph.to(DType::f32);
      ph.requires_grad_();
      p32.requires_grad_();
      auto make = [&](Tensor& p) -> std::unique_ptr<optim::Optimizer> {
        if (which == 0) return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, 0.1);
        if (which == 1) return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, 0.1, 0.9, 0.01);
        return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, 0.05);
      };
      auto oh = make(ph), o32 = make(p32);
      for (int step = 0; step < 5; ++step) {
        oh->zero_grad();
        o32->zero_grad();
        (ph * c.to(d)).sum().backward();
        (p32 * c).sum().backward();
        oh->step();
        o32->step();
        {
          NoGradGuard no_grad;
          p32.copy_(p32.to(d));  // rounded, as the half parameter is
        }
        ASSERT_EQ(ph.dtype(), d);
        EXPECT_EQ(ph.to_vector(), p32.to_vector())
            << dtype_name(d) << " optimizer " << which << " step " << step;
      }
    }
}

// index_put_ with accumulate on the storage dtypes: each add in order, stored back at once.
TEST(DTypes, InPlaceIndexPutAccumulatesStorageDTypes) {
  const Tensor idx = tensor({0, 0, 0, 2}, {4}, DType::i64);
  Tensor h = zeros({3}, DType::f16);
  h.index_put_({idx}, tensor({1, 0x1p-11, 0x1p-11, 5}, {4}).to(DType::f16), true);
  expect_tensor(h, DType::f16, {1, 0, 5});  // 1 + 2^-11 rounds to 1, twice (a sum first: 1 + 2^-10)
  Tensor u = tensor({250, 1, 2}, {3}, DType::u8);
  u.index_put_({idx}, tensor({5, 5, 1, 7}, {4}, DType::u8), true);
  expect_tensor(u, DType::u8, {5, 1, 9});  // 261 wraps to 5, as NumPy's add.at
  Tensor i8 = tensor({100, 0, -100}, {3}, DType::i8);
  i8.index_put_({tensor({0, 2}, {2}, DType::i64)}, tensor({100, -100}, {2}, DType::i8), true);
  expect_tensor(i8, DType::i8, {-56, 0, 56});
}

// ---- the promotion table ----

// NumPy's np.promote_types over the dtypes NumPy and ndgrad share (NumPy 1.24 and 2 agree),
// written down here, not computed by NumPy at test time. "i16" is NumPy's int16, which ndgrad
// lacks.
const char* const kNumPyNames[] = {"f32", "f64", "i64", "bool", "i32", "u8", "i8", "f16"};
const char* const kNumPyTable[8][8] = {
    //        f32    f64    i64    bool    i32    u8     i8     f16
    /*f32 */ {"f32", "f64", "f64", "f32", "f64", "f32", "f32", "f32"},
    /*f64 */ {"f64", "f64", "f64", "f64", "f64", "f64", "f64", "f64"},
    /*i64 */ {"f64", "f64", "i64", "i64", "i64", "i64", "i64", "f64"},
    /*bool*/ {"f32", "f64", "i64", "bool", "i32", "u8", "i8", "f16"},
    /*i32 */ {"f64", "f64", "i64", "i32", "i32", "i32", "i32", "f64"},
    /*u8  */ {"f32", "f64", "i64", "u8", "i32", "u8", "i16", "f16"},
    /*i8  */ {"f32", "f64", "i64", "i8", "i32", "i16", "i8", "f16"},
    /*f16 */ {"f32", "f64", "f64", "f16", "f64", "f16", "f16", "f16"},
};
// ndgrad's documented deviations (docs/API.md), each for both orders: a floating dtype with an
// integer dtype keeps the floating dtype (PyTorch's rule); i8 with u8, NumPy's i16, is i32.
const std::map<std::pair<std::string, std::string>, std::string> kDeviations = {
    {{"i64", "f32"}, "f32"}, {{"i32", "f32"}, "f32"}, {{"i64", "f16"}, "f16"},
    {{"i32", "f16"}, "f16"}, {{"u8", "i8"}, "i32"},
};
// bf16 is not in NumPy: PyTorch's (and ml_dtypes') answers.
const char* const kBF16Row[9] = {"f32",  "f64",  "bf16", "bf16", "bf16",
                                 "bf16", "bf16", "f32",  "bf16"};

TEST(Promotion, EveryCellIsNumPysOrADocumentedDeviation) {
  int deviations = 0;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      const std::string a = kNumPyNames[i], b = kNumPyNames[j];
      std::string want = kNumPyTable[i][j];
      auto dev = kDeviations.find({a, b});
      if (dev == kDeviations.end()) dev = kDeviations.find({b, a});
      if (dev != kDeviations.end()) {
        EXPECT_NE(want, dev->second) << "a listed deviation that is not one: " << a << ", " << b;
        want = dev->second;
        ++deviations;
      }
      EXPECT_EQ(dtype_name(promote_types(kAll[i], kAll[j])), want) << a << " with " << b;
    }
  EXPECT_EQ(deviations, 10);  // five pairs, both orders
  for (int j = 0; j < 9; ++j) {
    EXPECT_STREQ(dtype_name(promote_types(DType::bf16, kAll[j])), kBF16Row[j]) << j;
    EXPECT_STREQ(dtype_name(promote_types(kAll[j], DType::bf16)), kBF16Row[j]) << j;
  }
}

TEST(Promotion, OperatorsGiveTheTablesDtypeForEveryPair) {
  for (DType a : kAll)
    for (DType b : kAll) {
      const Tensor x = ones({2}, a), y = ones({2}, b);
      if (a == DType::boolean && b == DType::boolean) {
        expect_error<DTypeError>([&] { (void)(x + y); }, {"bool"});
        continue;
      }
      const DType want = promote_types(a, b);
      const Tensor s = x + y;
      EXPECT_EQ(s.dtype(), want) << dtype_name(a) << " + " << dtype_name(b);
      EXPECT_EQ(s.to_vector(), (std::vector<double>{2, 2}));
      EXPECT_EQ((x * y).dtype(), want);
      EXPECT_EQ((x == y).dtype(), DType::boolean);
      EXPECT_EQ(where(x > 0.0, x, y).dtype(), want);
      EXPECT_EQ((x / y).dtype(), is_floating(want) ? want : DType::f32);
    }
}

// NumPy 2's rules for Python scalars (NEP 50), recorded: an integer scalar takes an integer
// tensor's dtype (bool's: NumPy's default int, i64) and a floating tensor's; a floating scalar
// takes a floating tensor's dtype, and with integer and bool tensors gives NumPy's default
// float, f64, where ndgrad's default float f32 is the documented deviation.
TEST(Promotion, ScalarsFollowNumPy2) {
  const char* const int_scalar[9] = {"f32", "f64", "i64", "i64", "i32", "u8", "i8", "f16", "bf16"};
  const char* const float_scalar_numpy[9] = {"f32", "f64", "f64", "f64", "f64",
                                             "f64", "f64", "f16", "bf16"};
  for (int i = 0; i < 9; ++i) {
    const Tensor t = ones({2}, kAll[i]);
    EXPECT_STREQ(dtype_name((t + int64_t(1)).dtype()), int_scalar[i]) << i;
    EXPECT_STREQ(dtype_name((int64_t(1) * t).dtype()), int_scalar[i]) << i;
    const std::string numpy = float_scalar_numpy[i];
    const std::string want = is_floating(kAll[i]) ? numpy : "f32";  // the default float
    EXPECT_STREQ(dtype_name((t + 1.5).dtype()), want.c_str()) << i;
    EXPECT_STREQ(dtype_name((1.5 * t).dtype()), want.c_str()) << i;
  }
}

// ---- .npy ----

TEST(DTypes, NpyRoundTripsTheStorageDtypes) {
  const std::string dir = ::testing::TempDir();
  const std::map<std::string, Tensor> arrays = {
      {"i32", tensor({-5, 2147483647}, {2}, DType::i32)},
      {"u8", tensor({0, 255, 7}, {3}, DType::u8)},
      {"i8", tensor({-128, 127}, {2}, DType::i8)},
      {"f16", tensor({0.333251953125, -65504, INFINITY}, {3}, DType::f16)},
  };
  for (const auto& [name, t] : arrays) {
    const std::string path = dir + "/dtypes_" + name + ".npy";
    save_npy(path, t);
    const Tensor back = load_npy(path);
    EXPECT_EQ(back.dtype(), t.dtype()) << name;
    EXPECT_EQ(back.to_vector(), t.to_vector()) << name;
  }
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) return;
  const std::string script = dir + "/dtypes_check.py";
  std::ofstream(script) << "import numpy as np, sys\n"
                           "d = sys.argv[1] + '/dtypes_'\n"
                           "assert np.load(d + 'i32.npy').dtype == np.int32\n"
                           "assert list(np.load(d + 'u8.npy')) == [0, 255, 7]\n"
                           "assert np.load(d + 'u8.npy').dtype == np.uint8\n"
                           "assert np.load(d + 'i8.npy').dtype == np.int8\n"
                           "h = np.load(d + 'f16.npy')\n"
                           "assert h.dtype == np.float16 and h[0] == np.float16(1.0 / 3), h\n"
                           "np.save(d + 'theirs.npy', np.array([1.5, -0.0, 65504], np.float16))\n";
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir).c_str()), 0);
  const Tensor theirs = load_npy(dir + "/dtypes_theirs.npy");
  EXPECT_EQ(theirs.dtype(), DType::f16);
  EXPECT_EQ(theirs.to_vector(), (std::vector<double>{1.5, -0.0, 65504}));
}

}  // namespace
}  // namespace ndgrad
