// Fused loops for training: softmax + cross-entropy, and the optimizers' updates.
#include <cmath>

#include "core/thread_pool.hpp"
#include "kernels/cpu/clones.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fast_math.hpp"
#include "kernels/cpu/kernels.hpp"

namespace ndgrad::kernels {

double softmax_cross_entropy(DType dtype, int64_t rows, int64_t cols, const char* logits,
                             const int64_t* labels, char* probs) {
  double total = 0;
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = reinterpret_cast<const T*>(logits);
    T* p = reinterpret_cast<T*>(probs);
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * cols;
      T m = xr[0];
      for (int64_t c = 1; c < cols; ++c) m = xr[c] > m ? xr[c] : m;
      double s = 0;
      if (p) {
        T* pr = p + r * cols;
        for (int64_t c = 0; c < cols; ++c) {
          pr[c] = std::exp(xr[c] - m);
          s += pr[c];
        }
        const T inv = T(1 / s);
        for (int64_t c = 0; c < cols; ++c) pr[c] *= inv;
      } else {
        for (int64_t c = 0; c < cols; ++c) s += std::exp(xr[c] - m);
      }
      // The label's shifted logit first: log(s) + m would round log(s) away next to a large m.
      total += std::log(s) + (double(m) - double(xr[labels[r]]));
    }
  });
  return total;
}

namespace {

// Parameters at least twice this long are updated by all threads, each on its own piece.
constexpr int64_t kUpdateGrain = 1 << 15;

// Restrict-qualified so the loops vectorize: a parameter, its gradient and its state never
// overlap.
template <class T>
inline void sgd_loop(int64_t n, T* __restrict p, const T* __restrict g, T* __restrict v, T lr, T mu,
                     T wd, bool first) {
  if (!v) {
    if (wd == 0)
      for (int64_t i = 0; i < n; ++i) p[i] -= lr * g[i];
    else
      for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
  } else if (first) {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = g[i] + wd * p[i];
      p[i] -= lr * v[i];
    }
  } else if (wd == 0) {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = mu * v[i] + g[i];
      p[i] -= lr * v[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = mu * v[i] + g[i] + wd * p[i];
      p[i] -= lr * v[i];
    }
  }
}

// The update streams five arrays through the caches (a parameter and its state, read and
// written, and the gradient); the AVX-512 clone moves them in full cache lines.
NDGRAD_CLONES void sgd_cloned(int64_t n, float* p, const float* g, float* v, float lr, float mu,
                              float wd, bool first) {
  sgd_loop(n, p, g, v, lr, mu, wd, first);
}
NDGRAD_CLONES void sgd_cloned(int64_t n, double* p, const double* g, double* v, double lr,
                              double mu, double wd, bool first) {
  sgd_loop(n, p, g, v, lr, mu, wd, first);
}

}  // namespace

void accumulate(DType dtype, int64_t n, char* acc, const char* grad, bool subtract) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* a = reinterpret_cast<T*>(acc);
    const T* g = reinterpret_cast<const T*>(grad);
    auto loop = [&](int64_t begin, int64_t end) {
      add_to(a + begin, g + begin, end - begin, subtract);
    };
    if (n < 2 * kUpdateGrain)
      loop(0, n);  // most gradients: no threads to ask about
    else
      parallel_range(n, kUpdateGrain, loop);
  });
}

void sgd_update(DType dtype, int64_t n, char* param, const char* grad, char* velocity, double lr,
                double momentum, double weight_decay, bool first_step) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* v = reinterpret_cast<T*>(velocity);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      sgd_cloned(end - begin, p + begin, g + begin, v ? v + begin : nullptr, T(lr), T(momentum),
                 T(weight_decay), first_step);
    });
  });
}

void adam_update(DType dtype, int64_t n, char* param, const char* grad, char* m1, char* m2,
                 double lr, double beta1, double beta2, double eps, int64_t step) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* m = reinterpret_cast<T*>(m1);
    T* v = reinterpret_cast<T*>(m2);
    const double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
    const T b1 = T(beta1), b2 = T(beta2), step_size = T(lr / bc1),
            inv_sqrt_bc2 = T(1 / std::sqrt(bc2));
    const T e = T(eps);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + e);
      }
    });
  });
}

}  // namespace ndgrad::kernels
