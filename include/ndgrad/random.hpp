#pragma once
// Random numbers: a seeded, splittable Generator and a process-wide default one.
//
// A Generator is Philox4x32-10 (a counter-based generator: block k of its stream is a keyed
// bijection of k), so every value is a pure function of (seed, position). The same seed gives
// the same values on every platform, with any number of threads: the integer stream is
// specified bit for bit, and the transforms to floating values (Box-Muller's log, sin and cos
// included) use only IEEE-754 double additions, multiplications, divisions and square roots,
// never the platform's libm (docs/API.md, "Random numbers", gives the exact recipes).
//
// Each call reserves the blocks it draws from: calls on one generator from several threads are
// safe and each gets values of its own (which ones depends on the order of the calls).
//
// The seeded functions of tensor.hpp (`randn(shape, seed)`, `rand(shape, seed)`) are unchanged
// and keep their values; the functions here draw from the default generator or a given one.
#include <cstdint>
#include <mutex>

#include "ndgrad/tensor.hpp"

namespace ndgrad {

class Generator {
 public:
  // seed is the Philox key; the stream starts at block 0.
  explicit Generator(uint64_t seed = 0);
  Generator(const Generator& other);  // a copy continues from the same position on its own
  Generator& operator=(const Generator& other);

  // Restarts the stream of seed.
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const;

  // A generator of its own for a worker, a layer or a data loader: its seed is drawn from this
  // one's stream (one block), so splits are reproducible and unrelated to each other and to
  // the parent's later values.
  Generator split();

  // The position, to save and restore (a checkpoint): the key and the blocks used so far.
  struct State {
    uint64_t seed;
    uint64_t offset;
  };
  State get_state() const;
  void set_state(State state);

  // Reserves `blocks` 128-bit blocks of the stream and returns the key and the first block's
  // index; the caller computes them with philox() below. A stream has 2^64 blocks: running
  // past the end is a ValueError.
  State reserve(uint64_t blocks);

  // --- sampling (the free functions below use the default generator) ---
  Tensor rand(Shape shape, DType dtype = DType::f32);                              // U[0, 1)
  Tensor randn(Shape shape, DType dtype = DType::f32);                             // N(0, 1)
  Tensor uniform(double low, double high, Shape shape, DType dtype = DType::f32);  // U[low, high)
  Tensor normal(double mean, double stddev, Shape shape, DType dtype = DType::f32);
  // mean + stddev * N(0, 1) in the broadcast shape of the two: differentiable in mean and stddev
  // (the reparameterization; PyTorch's normal(Tensor, Tensor) passes zero gradients).
  Tensor normal(const Tensor& mean, const Tensor& stddev);
  Tensor normal(const Tensor& mean, double stddev);
  // Integers uniform in [low, high), without bias; dtype i64, f32 or f64.
  Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype = DType::i64);
  // 1 with probability p (each element's), else 0, in p's dtype (floating); p in [0, 1].
  Tensor bernoulli(const Tensor& p);
  Tensor bernoulli(double p, Shape shape, DType dtype = DType::f32);
  // A random ordering of 0 ... n-1 (i64), every ordering equally likely.
  Tensor permutation(int64_t n);
  // t with its first axis shuffled (a copy).
  Tensor permutation(const Tensor& t);
  // Category indices (i64) drawn with probabilities proportional to the weights: probs (k) gives
  // (num_samples), probs (rows, k) gives (rows, num_samples), each row on its own. Without
  // replacement, a category is drawn at most once (num_samples <= the nonzero weights), in the
  // order of drawing.
  Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The four 32-bit words of block `counter` of the stream keyed by `key` (Philox4x32-10, the
// 128-bit counter's low 64 bits counter, its high 64 bits `domain`).
struct PhiloxBlock {
  uint32_t w[4];
};
PhiloxBlock philox(uint64_t key, uint64_t counter, uint64_t domain = 0);

// The process's default generator: seed 0 at start, so that a program without a seed is
// reproducible too; manual_seed(s) restarts it from s.
Generator& default_generator();
void manual_seed(uint64_t seed);

// The default generator's sampling (libtorch's and NumPy's names).
Tensor rand(Shape shape, DType dtype = DType::f32);
Tensor randn(Shape shape, DType dtype = DType::f32);
Tensor uniform(double low, double high, Shape shape, DType dtype = DType::f32);
Tensor normal(double mean, double stddev, Shape shape, DType dtype = DType::f32);
Tensor normal(const Tensor& mean, const Tensor& stddev);
Tensor normal(const Tensor& mean, double stddev);
Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype = DType::i64);
Tensor randint(int64_t high, Shape shape, DType dtype = DType::i64);  // [0, high)
Tensor bernoulli(const Tensor& p);
Tensor bernoulli(double p, Shape shape, DType dtype = DType::f32);
Tensor permutation(int64_t n);
Tensor permutation(const Tensor& t);
inline Tensor randperm(int64_t n) { return permutation(n); }
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);

}  // namespace ndgrad
