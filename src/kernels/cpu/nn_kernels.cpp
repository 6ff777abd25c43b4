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
// overlap. The weight decay term is added only when nonzero (0 * inf would make a NaN).
template <class T>
inline void sgd_loop(int64_t n, T* __restrict p, const T* __restrict g, T* __restrict v, T lr, T mu,
                     T damp, T wd, bool nesterov, bool first) {
  if (!v) {
    if (wd == 0)
      for (int64_t i = 0; i < n; ++i) p[i] -= lr * g[i];
    else
      for (int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
  } else if (first) {
    for (int64_t i = 0; i < n; ++i) {
      const T d = wd == 0 ? g[i] : g[i] + wd * p[i];
      v[i] = d;
      p[i] -= lr * (nesterov ? d + mu * d : d);
    }
  } else if (wd == 0 && damp == 0 && !nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      v[i] = mu * v[i] + g[i];
      p[i] -= lr * v[i];
    }
  } else {
    const T keep = 1 - damp;
    for (int64_t i = 0; i < n; ++i) {
      const T d = wd == 0 ? g[i] : g[i] + wd * p[i];
      v[i] = mu * v[i] + keep * d;
      p[i] -= lr * (nesterov ? d + mu * v[i] : v[i]);
    }
  }
}

// The update streams five arrays through the caches (a parameter and its state, read and
// written, and the gradient); the AVX-512 clone moves them in full cache lines.
NDGRAD_CLONES void sgd_cloned(int64_t n, float* p, const float* g, float* v, float lr, float mu,
                              float damp, float wd, bool nesterov, bool first) {
  sgd_loop(n, p, g, v, lr, mu, damp, wd, nesterov, first);
}
NDGRAD_CLONES void sgd_cloned(int64_t n, double* p, const double* g, double* v, double lr,
                              double mu, double damp, double wd, bool nesterov, bool first) {
  sgd_loop(n, p, g, v, lr, mu, damp, wd, nesterov, first);
}

template <class T>
inline void adam_loop(int64_t n, T* __restrict p, const T* __restrict g, T* __restrict m,
                      T* __restrict v, T* __restrict vmax, T b1, T b2, T step_size, T inv_sqrt_bc2,
                      T eps, T wd, T decay) {
  for (int64_t i = 0; i < n; ++i) {
    if (decay != 1) p[i] *= decay;
    const T gi = wd == 0 ? g[i] : g[i] + wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    T s = v[i];
    if (vmax) {
      // torch.maximum: a NaN on either side stays
      vmax[i] = (vmax[i] > s || vmax[i] != vmax[i]) ? vmax[i] : s;
      s = vmax[i];
    }
    p[i] -= step_size * m[i] / (std::sqrt(s) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace

void sgd_update(DType dtype, int64_t n, char* param, const char* grad, char* velocity, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov,
                bool first_step) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* v = reinterpret_cast<T*>(velocity);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      sgd_cloned(end - begin, p + begin, g + begin, v ? v + begin : nullptr, T(lr), T(momentum),
                 T(dampening), T(weight_decay), nesterov, first_step);
    });
  });
}

void adam_update(DType dtype, int64_t n, char* param, const char* grad, char* m1, char* m2,
                 char* v_max, double lr, double beta1, double beta2, double eps,
                 double weight_decay, bool decoupled, int64_t step) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* m = reinterpret_cast<T*>(m1);
    T* v = reinterpret_cast<T*>(m2);
    T* vmax = reinterpret_cast<T*>(v_max);
    const double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
    const T step_size = T(lr / bc1), inv_sqrt_bc2 = T(1 / std::sqrt(bc2));
    const T wd = decoupled ? T(0) : T(weight_decay);
    const T decay = decoupled ? T(1 - lr * weight_decay) : T(1);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      adam_loop(end - begin, p + begin, g + begin, m + begin, v + begin,
                vmax ? vmax + begin : nullptr, T(beta1), T(beta2), step_size, inv_sqrt_bc2, T(eps),
                wd, decay);
    });
  });
}

void rmsprop_update(DType dtype, int64_t n, char* param, const char* grad, char* square_avg,
                    char* grad_avg, char* buffer, double lr, double alpha, double eps,
                    double weight_decay, double momentum) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* s = reinterpret_cast<T*>(square_avg);
    T* a = reinterpret_cast<T*>(grad_avg);
    T* b = reinterpret_cast<T*>(buffer);
    const T al = T(alpha), wd = T(weight_decay), e = T(eps), mu = T(momentum), r = T(lr);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T gi = wd == 0 ? g[i] : g[i] + wd * p[i];
        s[i] = al * s[i] + (1 - al) * gi * gi;
        T avg = s[i];
        if (a) {
          a[i] = al * a[i] + (1 - al) * gi;
          avg = s[i] - a[i] * a[i];
        }
        const T d = std::sqrt(avg) + e;
        if (b) {
          b[i] = mu * b[i] + gi / d;
          p[i] -= r * b[i];
        } else {
          p[i] -= r * (gi / d);
        }
      }
    });
  });
}

void adagrad_update(DType dtype, int64_t n, char* param, const char* grad, char* sum, double lr,
                    double eps, double weight_decay) {
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(param);
    const T* g = reinterpret_cast<const T*>(grad);
    T* s = reinterpret_cast<T*>(sum);
    const T wd = T(weight_decay), e = T(eps), r = T(lr);
    parallel_range(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T gi = wd == 0 ? g[i] : g[i] + wd * p[i];
        s[i] += gi * gi;
        p[i] -= r * (gi / (std::sqrt(s[i]) + e));
      }
    });
  });
}

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

}  // namespace ndgrad::kernels
