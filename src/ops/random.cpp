// Random numbers (include/ndgrad/random.hpp): Philox4x32-10 blocks, and the transforms from
// them to values. Every value is a pure function of (key, position), so a chunk of a tensor can
// be computed on any thread. The floating transforms use only +, -, *, / and sqrt in double
// (this file is compiled without contraction into fused multiply-adds), so they round the same
// on every IEEE-754 platform: no libm log, sin or cos.
#include "ndgrad/random.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/shape.hpp"
#include "core/tensor_impl.hpp"
#include "core/thread_pool.hpp"
#include "kernels/cpu/kernels.hpp"
#include "ops/ops_common.hpp"

namespace ndgrad {

// ---- Philox4x32-10 ----

PhiloxBlock philox(uint64_t key, uint64_t counter, uint64_t domain) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32),
           c2 = static_cast<uint32_t>(domain), c3 = static_cast<uint32_t>(domain >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{0xD2511F53u} * c0, p1 = uint64_t{0xCD9E8D57u} * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

namespace {

// The two 64-bit values of a block.
inline uint64_t half(const PhiloxBlock& b, int which) {
  return which ? (uint64_t{b.w[3]} << 32 | b.w[2]) : (uint64_t{b.w[1]} << 32 | b.w[0]);
}
inline double unit53(uint64_t u) { return static_cast<double>(u >> 11) * 0x1.0p-53; }  // [0, 1)
inline double unit24(uint64_t u) { return static_cast<double>(u >> 40) * 0x1.0p-24; }  // [0, 1)
// (0, 1]: never 0, for logarithms.
inline double open_unit53(uint64_t u) { return static_cast<double>((u >> 11) + 1) * 0x1.0p-53; }

// ---- transforms with IEEE operations only ----

// Natural logarithm of a positive normal x: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^25 (the next term
// is below 2^-60 of the sum).
double ieee_log(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int e = static_cast<int>((bits >> 52) & 0x7FF) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);  // [1, 2)
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e += 1;
  }
  const double f = m - 1.0, s = f / (2.0 + f), s2 = s * s;
  double p = 1.0 / 25;
  for (int k = 11; k >= 0; --k) p = p * s2 + 1.0 / (2 * k + 1);
  const double ln2_hi = 6.93147180369123816490e-01;  // 32 bits: e * ln2_hi is exact
  const double ln2_lo = 1.90821492927058770002e-10;
  return e * ln2_hi + (e * ln2_lo + 2.0 * s * p);
}

// sin and cos of x in [0, pi/4] by their series (to x^21 and x^20).
// (-1)^k / (2k+1)! and (-1)^k / (2k)!: every factorial here is exact in double, so each
// coefficient is the correctly rounded quotient, the same on every compiler.
constexpr double kSinSeries[11] = {1.0,
                                   -1.0 / 6,
                                   1.0 / 120,
                                   -1.0 / 5040,
                                   1.0 / 362880,
                                   -1.0 / 39916800,
                                   1.0 / 6227020800.0,
                                   -1.0 / 1307674368000.0,
                                   1.0 / 355687428096000.0,
                                   -1.0 / 121645100408832000.0,
                                   1.0 / 51090942171709440000.0};
constexpr double kCosSeries[11] = {1.0,
                                   -1.0 / 2,
                                   1.0 / 24,
                                   -1.0 / 720,
                                   1.0 / 40320,
                                   -1.0 / 3628800,
                                   1.0 / 479001600,
                                   -1.0 / 87178291200.0,
                                   1.0 / 20922789888000.0,
                                   -1.0 / 6402373705728000.0,
                                   1.0 / 2432902008176640000.0};

void sincos_small(double x, double& s, double& c) {
  const double x2 = x * x;
  double ps = 0.0, pc = 0.0;
  for (int k = 10; k >= 0; --k) {
    ps = ps * x2 + kSinSeries[k];
    pc = pc * x2 + kCosSeries[k];
  }
  s = x * ps;
  c = pc;
}

// sin and cos of 2 pi u for u in [0, 1) a multiple of 2^-53: the quadrant and the fraction of it
// are exact, and the angle passed to the series is at most pi/4.
void sincos_turn(double u, double& s, double& c) {
  const double t = u * 4.0;  // exact
  const int q = static_cast<int>(t);
  const double f = t - q;  // exact, [0, 1)
  const bool flip = f > 0.5;
  const double g = flip ? 1.0 - f : f;  // exact
  double sg, cg;
  sincos_small(g * 1.5707963267948966, sg, cg);
  double sf = flip ? cg : sg, cf = flip ? sg : cg;  // sin and cos of f pi/2
  switch (q) {
    case 0:
      s = sf;
      c = cf;
      break;
    case 1:
      s = cf;
      c = -sf;
      break;
    case 2:
      s = -sf;
      c = -cf;
      break;
    default:
      s = -cf;
      c = sf;
      break;
  }
}

// Two N(0, 1) values from a block (Box-Muller).
inline void normal_pair(const PhiloxBlock& b, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * ieee_log(open_unit53(half(b, 0))));
  double s, c;
  sincos_turn(unit53(half(b, 1)), s, c);
  z0 = r * c;
  z1 = r * s;
}

// A uniform integer in [0, range) (range > 0) without bias: Lemire's multiply and reject, with
// the block's two values as the first candidates and further blocks of the same counter in
// domains 1, 2, ... should both be rejected (probability below range^2 / 2^128).
uint64_t bounded(uint64_t key, uint64_t counter, uint64_t range) {
  const uint64_t threshold = (0 - range) % range;  // 2^64 mod range
  PhiloxBlock b = philox(key, counter);
  for (uint64_t domain = 1;; ++domain) {
    for (int which = 0; which < 2; ++which) {
      const unsigned __int128 m = static_cast<unsigned __int128>(half(b, which)) * range;
      if (static_cast<uint64_t>(m) >= threshold) return static_cast<uint64_t>(m >> 64);
    }
    b = philox(key, counter, domain);
  }
}

// Fills t (fresh, contiguous) with value(i) for i in [begin, end), written into out[i - begin]
// as doubles and converted to t's dtype. Chunks run on the pool's threads: the values do not
// depend on which. (Callers allocate t before they reserve blocks: a refused allocation draws
// nothing.)
template <class F>
Tensor fill_values(Tensor t, F value) {
  const DType dtype = t.dtype();
  const int64_t n = t.numel();
  constexpr int64_t kChunk = 2048;  // even: the normal transform makes pairs
  char* dst = t.impl()->data();
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_range(chunks, 8, [&](int64_t c0, int64_t c1) {
    double buf[kChunk];
    const int64_t one = 1;
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t start = c * kChunk, len = std::min(kChunk, n - start);
      value(start, start + len, buf);
      const Dims flat{len};
      kernels::copy(flat, {dst + start * itemsize(dtype), &one, dtype},
                    {reinterpret_cast<char*>(buf), &one, DType::f64});
    }
  });
  return t;
}

void require_floating_dtype(DType dtype, const char* op) {
  if (!is_floating(dtype) || is_storage_only(dtype))
    throw DTypeError(std::string(op) + " makes floating tensors (f32 or f64), got " +
                     dtype_name(dtype) + "; convert its result with .to()");
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// ceil(n / 2) blocks: two values from each.
uint64_t pairs(int64_t n) { return static_cast<uint64_t>(n / 2 + n % 2); }

// The smallest float at or above x.
float above(double x) {
  const float f = static_cast<float>(x);
  return static_cast<double>(f) >= x ? f
                                     : std::nextafter(f, std::numeric_limits<float>::infinity());
}

// The largest value of dtype below high (when rounding a value in [low, high) reached high).
double below(double high, DType dtype) {
  if (dtype == DType::f32)
    return std::nextafter(static_cast<float>(high), -std::numeric_limits<float>::infinity());
  return std::nextafter(high, -std::numeric_limits<double>::infinity());
}

}  // namespace

// ---- Generator ----

Generator::Generator(uint64_t seed) : seed_(seed) {}
Generator::Generator(const Generator& other) {
  const State s = other.get_state();
  seed_ = s.seed;
  offset_ = s.offset;
}
Generator& Generator::operator=(const Generator& other) {
  if (this != &other) set_state(other.get_state());
  return *this;
}
void Generator::manual_seed(uint64_t seed) { set_state({seed, 0}); }
uint64_t Generator::initial_seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}
Generator::State Generator::get_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {seed_, offset_};
}
void Generator::set_state(State state) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = state.seed;
  offset_ = state.offset;
}
Generator::State Generator::reserve(uint64_t blocks) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (blocks > std::numeric_limits<uint64_t>::max() - offset_)
    throw ValueError("Generator: the stream of seed " + std::to_string(seed_) +
                     " has no more blocks (2^64 in all); seed a new generator or split this one");
  const State at{seed_, offset_};
  offset_ += blocks;
  return at;
}
Generator Generator::split() {
  const State at = reserve(1);
  return Generator(half(philox(at.seed, at.offset), 0));
}

Tensor Generator::rand(Shape shape, DType dtype) {
  require_floating_dtype(dtype, "rand");
  Tensor t = make_tensor(shape, dtype, "rand");
  const State at = reserve(pairs(t.numel()));
  const bool f32 = dtype == DType::f32;
  return fill_values(t, [&](int64_t begin, int64_t end, double* out) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t u = half(philox(at.seed, at.offset + i / 2), i % 2);
      out[i - begin] = f32 ? unit24(u) : unit53(u);
    }
  });
}

Tensor Generator::randn(Shape shape, DType dtype) { return normal(0.0, 1.0, shape, dtype); }

Tensor Generator::uniform(double low, double high, Shape shape, DType dtype) {
  require_floating_dtype(dtype, "uniform");
  if (!(low <= high) || !std::isfinite(high - low))
    throw ValueError("uniform: expects finite low <= high, got [" + num(low) + ", " + num(high) +
                     ")");
  const bool f32 = dtype == DType::f32;
  if (f32 && (std::fabs(low) > FLT_MAX || std::fabs(high) > FLT_MAX))
    throw ValueError("uniform: the bounds [" + num(low) + ", " + num(high) +
                     ") are outside f32's range");
  // The values of the dtype in [low, high): the first at or above low, the last below high
  // (low itself when the interval is empty); each value is rounded into them.
  const double first = f32 ? static_cast<double>(above(low)) : low;
  const double last = low < high ? below(high, dtype) : first;
  if (first > last)
    throw ValueError("uniform: no " + std::string(dtype_name(dtype)) + " value lies in [" +
                     num(low) + ", " + num(high) + ")");
  Tensor t = make_tensor(shape, dtype, "uniform");
  const State at = reserve(pairs(t.numel()));
  const double width = high - low;
  return fill_values(t, [&](int64_t begin, int64_t end, double* out) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t u = half(philox(at.seed, at.offset + i / 2), i % 2);
      double v = low + width * (f32 ? unit24(u) : unit53(u));
      if (f32) v = static_cast<double>(static_cast<float>(v));
      out[i - begin] = std::min(std::max(v, first), last);
    }
  });
}

Tensor Generator::normal(double mean, double stddev, Shape shape, DType dtype) {
  require_floating_dtype(dtype, "normal");
  if (!(stddev >= 0.0) || !std::isfinite(stddev) || !std::isfinite(mean))
    throw ValueError("normal: expects a finite mean and a finite std >= 0, got mean " + num(mean) +
                     ", std " + num(stddev));
  Tensor t = make_tensor(shape, dtype, "normal");
  const State at = reserve(pairs(t.numel()));
  return fill_values(t, [&](int64_t begin, int64_t end, double* out) {
    for (int64_t i = begin; i < end;) {  // begin is even: whole pairs except at the end
      double z0, z1;
      normal_pair(philox(at.seed, at.offset + i / 2), z0, z1);
      out[i - begin] = mean + stddev * z0;
      if (++i < end) out[i - begin] = mean + stddev * z1;
      ++i;
    }
  });
}

Tensor Generator::normal(const Tensor& mean, const Tensor& stddev) {
  require_defined_arg(mean, "normal", "the mean");
  require_defined_arg(stddev, "normal", "the std");
  if (is_half(mean.dtype()) || is_half(stddev.dtype())) {  // in f32, rounded once
    const DType out = promote_types(mean.dtype(), stddev.dtype());
    const Tensor r = normal(in_f32_if_half(mean), in_f32_if_half(stddev));
    return is_half(out) ? r.to(out) : r;
  }
  require_floating(mean, "normal");
  require_floating(stddev, "normal");
  const Tensor sd = stddev.detach();
  if (ndgrad::any(logical_not(isfinite(sd))).item() != 0.0 || ndgrad::any(sd < 0.0).item() != 0.0)
    throw ValueError("normal: expects every std >= 0 and finite");
  // (Broadcast by design, before anything is drawn: strict broadcasting has nothing to refuse.)
  const Shape shape = broadcast_shapes(mean.shape(), stddev.shape());
  return mean.broadcast_to(shape) +
         stddev.broadcast_to(shape) * randn(shape, promote_types(mean.dtype(), stddev.dtype()));
}

Tensor Generator::normal(const Tensor& mean, double stddev) {
  require_defined_arg(mean, "normal", "the mean");
  if (is_half(mean.dtype())) return normal(mean.to(DType::f32), stddev).to(mean.dtype());
  require_floating(mean, "normal");
  if (!(stddev >= 0.0) || !std::isfinite(stddev))
    throw ValueError("normal: expects a finite std >= 0, got " + num(stddev));
  return mean + stddev * randn(mean.shape(), mean.dtype());
}

Tensor Generator::randint(int64_t low, int64_t high, Shape shape, DType dtype) {
  if (dtype == DType::boolean) throw DTypeError("randint makes i64, f32 or f64 tensors, got bool");
  if (low >= high)
    throw ValueError("randint: expects low < high, got [" + std::to_string(low) + ", " +
                     std::to_string(high) + ")");
  if (dtype != DType::i64) {  // every value in [low, high) must be exact in the dtype
    double lowest = 0, highest = 0;
    switch (dtype) {
      case DType::f32:
        lowest = -0x1p24;
        highest = 0x1p24;
        break;
      case DType::f64:
        lowest = -0x1p53;
        highest = 0x1p53;
        break;
      case DType::f16:
        lowest = -2048;
        highest = 2048;
        break;
      case DType::bf16:
        lowest = -256;
        highest = 256;
        break;
      case DType::i32:
        lowest = INT32_MIN;
        highest = INT32_MAX;
        break;
      case DType::u8:
        lowest = 0;
        highest = 255;
        break;
      case DType::i8:
        lowest = -128;
        highest = 127;
        break;
      default:
        break;
    }
    if (static_cast<double>(low) < lowest || static_cast<double>(high) - 1 > highest)
      throw ValueError("randint: the bounds [" + std::to_string(low) + ", " + std::to_string(high) +
                       ") hold integers that " + dtype_name(dtype) +
                       " cannot represent (it holds every integer in [" +
                       std::to_string(static_cast<int64_t>(lowest)) + ", " +
                       std::to_string(static_cast<int64_t>(highest)) + "]); draw i64");
  }
  Tensor t = make_tensor(shape, DType::i64, "randint");
  const int64_t n = t.numel();
  const State at = reserve(static_cast<uint64_t>(n));
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  int64_t* out = reinterpret_cast<int64_t*>(t.impl()->data());
  parallel_range(n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] =
          static_cast<int64_t>(static_cast<uint64_t>(low) + bounded(at.seed, at.offset + i, range));
  });
  return dtype == DType::i64 ? t : t.to(dtype);
}

Tensor Generator::bernoulli(const Tensor& p) {
  require_defined_arg(p, "bernoulli", "the probabilities");
  if (is_half(p.dtype())) return bernoulli(p.to(DType::f32)).to(p.dtype());  // 0s and 1s
  require_floating(p, "bernoulli");
  const Tensor probs = p.detach().contiguous().to(DType::f64);
  const double* pv = reinterpret_cast<const double*>(probs.impl()->read_data());
  const int64_t n = probs.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!(pv[i] >= 0.0 && pv[i] <= 1.0))
      throw ValueError("bernoulli: expects probabilities in [0, 1], got " + num(pv[i]) +
                       " at flat index " + std::to_string(i));
  Tensor t = make_tensor(p.shape(), p.dtype(), "bernoulli");
  const State at = reserve(pairs(n));
  return fill_values(t, [&](int64_t begin, int64_t end, double* out) {
    for (int64_t i = begin; i < end; ++i)
      out[i - begin] = unit53(half(philox(at.seed, at.offset + i / 2), i % 2)) < pv[i];
  });
}

Tensor Generator::bernoulli(double p, Shape shape, DType dtype) {
  if (!(p >= 0.0 && p <= 1.0))
    throw ValueError("bernoulli: expects a probability in [0, 1], got " + num(p));
  Tensor t = make_tensor(shape, dtype, "bernoulli");
  const State at = reserve(pairs(t.numel()));
  return fill_values(t, [&](int64_t begin, int64_t end, double* out) {
    for (int64_t i = begin; i < end; ++i)
      out[i - begin] = unit53(half(philox(at.seed, at.offset + i / 2), i % 2)) < p;
  });
}

Tensor Generator::permutation(int64_t n) {
  if (n < 0) throw ValueError("permutation: n must be >= 0, got " + std::to_string(n));
  Tensor t = make_tensor({n}, DType::i64, "permutation");
  int64_t* v = reinterpret_cast<int64_t*>(t.impl()->data());
  std::iota(v, v + n, int64_t{0});
  if (n < 2) return t;
  const State at = reserve(static_cast<uint64_t>(n - 1));
  for (int64_t i = n - 1, k = 0; i > 0; --i, ++k)  // Fisher-Yates: v[i] from v[0 .. i]
    std::swap(v[i], v[bounded(at.seed, at.offset + k, static_cast<uint64_t>(i) + 1)]);
  return t;
}

Tensor Generator::permutation(const Tensor& t) {
  require_defined_arg(t, "permutation", "the tensor");
  if (t.ndim() == 0)
    throw ShapeError("permutation: expects a tensor with at least one axis, got a 0-d tensor");
  return index_select(t, 0, permutation(t.shape()[0]));
}

Tensor Generator::multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  const char* op = "multinomial";
  require_defined_arg(probs, op, "the probabilities");
  if (!is_half(probs.dtype())) require_floating(probs, op);  // (read as f64 below)
  if (probs.ndim() != 1 && probs.ndim() != 2)
    throw ShapeError(std::string(op) + ": expects probabilities of shape (k) or (rows, k), got " +
                     shape_str(probs.shape()));
  if (num_samples < 0)
    throw ValueError(std::string(op) + ": num_samples must be >= 0, got " +
                     std::to_string(num_samples));
  const int64_t k = probs.shape().back(), rows = probs.ndim() == 2 ? probs.shape()[0] : 1;
  const Tensor w = probs.detach().contiguous().to(DType::f64);
  const double* wv = reinterpret_cast<const double*>(w.impl()->read_data());
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    int64_t nonzero = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double x = wv[r * k + j];
      if (!(x >= 0.0) || !std::isfinite(x))
        throw ValueError(std::string(op) + ": expects finite weights >= 0, got " + num(x) +
                         " in row " + std::to_string(r));
      total += x;
      nonzero += x > 0.0;
    }
    if (!(total > 0.0) || !std::isfinite(total))
      throw ValueError(std::string(op) + ": row " + std::to_string(r) +
                       " has no positive weight (or its sum overflows)");
    if (!replacement && num_samples > nonzero)
      throw ValueError(std::string(op) + ": cannot draw " + std::to_string(num_samples) +
                       " samples without replacement from row " + std::to_string(r) +
                       ", which has " + std::to_string(nonzero) + " nonzero weights");
  }
  Shape shape = probs.ndim() == 2 ? Shape{rows, num_samples} : Shape{num_samples};
  Tensor out = make_tensor(shape, DType::i64, op);
  int64_t* ov = reinterpret_cast<int64_t*>(out.impl()->data());
  if (rows == 0 || num_samples == 0) return out;
  if (replacement) {
    // Each sample: u times the row's total, found in the running sums (a zero weight adds
    // nothing, so it is never found).
    const State at = reserve(pairs(rows * num_samples));
    std::vector<double> cum(static_cast<size_t>(k));
    for (int64_t r = 0; r < rows; ++r) {
      std::partial_sum(wv + r * k, wv + (r + 1) * k, cum.begin());
      int64_t last = k - 1;
      while (wv[r * k + last] == 0.0) --last;
      for (int64_t s = 0; s < num_samples; ++s) {
        const int64_t e = r * num_samples + s;
        const double target = unit53(half(philox(at.seed, at.offset + e / 2), e % 2)) * cum.back();
        const int64_t j = std::upper_bound(cum.begin(), cum.end(), target) - cum.begin();
        ov[e] = std::min(j, last);
      }
    }
    return out;
  }
  // Without replacement: each category's key log(u) / w; the num_samples largest keys, in
  // decreasing order, are distributed as successive draws (Efraimidis and Spirakis).
  const State at = reserve(pairs(rows * k));
  std::vector<std::pair<double, int64_t>> keys;
  for (int64_t r = 0; r < rows; ++r) {
    keys.clear();
    // Weights relative to the row's largest: a key's division cannot overflow for tiny
    // (subnormal) weights, and the keys' order is unchanged otherwise.
    const double top = *std::max_element(wv + r * k, wv + (r + 1) * k);
    for (int64_t j = 0; j < k; ++j) {
      const double x = wv[r * k + j] / top;
      if (x == 0.0) continue;
      const int64_t e = r * k + j;
      keys.emplace_back(ieee_log(open_unit53(half(philox(at.seed, at.offset + e / 2), e % 2))) / x,
                        j);
    }
    std::partial_sort(keys.begin(), keys.begin() + num_samples, keys.end(),
                      [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    for (int64_t s = 0; s < num_samples; ++s) ov[r * num_samples + s] = keys[s].second;
  }
  return out;
}

// ---- the default generator ----

Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

Tensor rand(Shape shape, DType dtype) { return default_generator().rand(std::move(shape), dtype); }
Tensor randn(Shape shape, DType dtype) {
  return default_generator().randn(std::move(shape), dtype);
}
Tensor uniform(double low, double high, Shape shape, DType dtype) {
  return default_generator().uniform(low, high, std::move(shape), dtype);
}
Tensor normal(double mean, double stddev, Shape shape, DType dtype) {
  return default_generator().normal(mean, stddev, std::move(shape), dtype);
}
Tensor normal(const Tensor& mean, const Tensor& stddev) {
  return default_generator().normal(mean, stddev);
}
Tensor normal(const Tensor& mean, double stddev) {
  return default_generator().normal(mean, stddev);
}
Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype) {
  return default_generator().randint(low, high, std::move(shape), dtype);
}
Tensor randint(int64_t high, Shape shape, DType dtype) {
  return default_generator().randint(0, high, std::move(shape), dtype);
}
Tensor bernoulli(const Tensor& p) { return default_generator().bernoulli(p); }
Tensor bernoulli(double p, Shape shape, DType dtype) {
  return default_generator().bernoulli(p, std::move(shape), dtype);
}
Tensor permutation(int64_t n) { return default_generator().permutation(n); }
Tensor permutation(const Tensor& t) { return default_generator().permutation(t); }
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  return default_generator().multinomial(probs, num_samples, replacement);
}

}  // namespace ndgrad
