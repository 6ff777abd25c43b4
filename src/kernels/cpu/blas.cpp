#include "kernels/cpu/blas.hpp"

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <thread>

#include "kernels/cpu/clones.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::kernels {

namespace {

// The calls admitted and not yet ended, all threads together and this thread's own; whether
// the process is exiting. Sequentially consistent on both sides: a call either sees the exit
// and backs out, or the exit sees the call and waits for it.
std::atomic<int64_t> calls_in_flight{0};
thread_local int64_t own_calls = 0;
std::atomic<bool> exiting{false};

// Registered by load() once OpenBLAS is open, so it runs before the library's own destructor
// (the dynamic loader's finalizers run after every atexit handler). Calls this thread holds
// (an exit from inside one) are not waited for.
void close_at_exit() {
  exiting.store(true);
  while (calls_in_flight.load() > own_calls)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void sync_threads() {
  static std::atomic<int> applied{0};
  const int n = get_num_threads();
  if (applied.load(std::memory_order_relaxed) == n) return;
  applied.store(n, std::memory_order_relaxed);
  if (blas().set_num_threads) blas().set_num_threads(n);
}

Blas load() {
  Blas b;
#ifdef NDGRAD_USE_BLAS
  if (std::getenv("NDGRAD_NO_BLAS")) return b;
  // OpenBLAS reads OPENBLAS_CORETYPE once, while it loads. On a CPU with the SkylakeX feature
  // set, ask for those kernels unless the user chose; OpenBLAS 0.3.21 falls back to SSE3 ones on
  // CPUs it does not know (measured: 30 against 140 GFLOP/s on this machine kind).
  bool set_coretype = false;
  if (!std::getenv("OPENBLAS_CORETYPE") && cpu().avx512) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    set_coretype = true;
  }
  void* h = nullptr;
  for (const char* name : {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"})
    if ((h = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
  if (set_coretype) unsetenv("OPENBLAS_CORETYPE");  // leave the environment as it was
  if (!h) return b;
  b.handle = h;
  std::atexit(close_at_exit);
  b.sgemm = reinterpret_cast<Blas::Sgemm>(dlsym(h, "cblas_sgemm"));
  b.dgemm = reinterpret_cast<Blas::Dgemm>(dlsym(h, "cblas_dgemm"));
  b.set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
  b.corename = reinterpret_cast<const char* (*)()>(dlsym(h, "openblas_get_corename"));
#endif
  return b;
}

}  // namespace

const Blas& blas() {
  static const Blas b = load();
  return b;
}

bool BlasCall::begin() {
  if (held_) return true;
  if (!blas().handle) return false;
  calls_in_flight.fetch_add(1);
  if (exiting.load()) {
    calls_in_flight.fetch_sub(1);
    return false;
  }
  held_ = true;
  ++own_calls;
  sync_threads();
  return true;
}

BlasCall::~BlasCall() {
  if (!held_) return;
  --own_calls;
  calls_in_flight.fetch_sub(1);
}

const char* blas_corename() { return blas().corename ? blas().corename() : "none"; }

}  // namespace ndgrad::kernels
