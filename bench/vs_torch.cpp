// ndgrad against libtorch on the benchmark workloads, interleaved in one process
// (A B A B ..., warm-up first, medians of many repetitions), float32. Each A or B is a round of
// calls lasting about --round-ms (default 10; 0 alternates single calls).
//
// libtorch runs at its best: OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS 0.3.21 does not
// recognise this CPU otherwise), OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the thread count,
// OMP_WAIT_POLICY=PASSIVE. The program re-executes itself once to put those in its environment
// before either library loads.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "machine_limits.hpp"
#include "ndgrad/ndgrad.hpp"

namespace nd = ndgrad;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(const std::function<void()>& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string name, unit;
  double nd, torch;  // medians in the unit
  std::string note;
};
std::vector<Row> rows;

// Milliseconds each side runs before the other takes over (--round-ms; 0: alternate single
// calls). Each library's idle threads keep spinning for a while after its calls (OpenBLAS's
// workers, and ndgrad's for 100 us) and a call evicts the other side's caches: rounds let each
// side run as a program using it alone would, and the disturbance falls on the start of a round.
double round_ms = 10;

// A physical limit of the machine, measured in the same rounds as a workload, so that ndgrad's
// figure is reported as a fraction of what the machine gave in those minutes (its speed drifts
// up to 2x on a shared host; a limit measured earlier in another program does not describe the
// minutes the workload ran in).
struct Limit {
  std::string name;          // "the triad", ...
  std::function<void()> fn;  // one call
  double amount;             // bytes or flops one call of fn moves or does
  double nd_amount;          // the same for one call of the workload: the least it must move or do
  std::string unit;          // "GB/s" or "GFLOP/s" (amount / 1e9 per second)
  double target;             // the fraction of the limit the performance issue asks on 1 thread
};

// STREAM-like triad a = b + 3c over 64M floats (12 bytes an element, far beyond the caches), on
// ndgrad's threads; the arrays are made on first use.
Limit triad_limit(double nd_bytes, double target) {
  constexpr int64_t n = 64 << 20;
  static std::vector<float> a, b, c;
  if (a.empty()) a.assign(n, 0.0f), b.assign(n, 1.0f), c.assign(n, 2.0f);
  auto fn = [] { nd::bench::triad(a.data(), b.data(), c.data(), n); };
  return {"the triad", fn, 12.0 * n, nd_bytes, "GB/s", target};
}

// OpenBLAS sgemm 2048^3 with its AVX-512 kernels, on as many threads as the run: the machine's
// GEMM speed (the "peak"). Nothing when ndgrad found no BLAS.
std::optional<Limit> sgemm_limit(double nd_flops, double target) {
  if (!nd::kernels::blas().loaded()) return std::nullopt;
  constexpr int m = 2048;
  static std::vector<float> x, y, z;
  if (x.empty())
    x.assign(size_t(m) * m, 1.0f), y.assign(size_t(m) * m, 1.0f), z.assign(size_t(m) * m, 0.0f);
  auto fn = [] { nd::bench::sgemm_square(m, x.data(), y.data(), z.data()); };
  return Limit{"OpenBLAS sgemm 2048^3", fn, 2.0 * m * m * m, nd_flops, "GFLOP/s", target};
}

// Runs both sides reps times (calls), interleaved in rounds after warm-up; records the medians
// over rounds of the mean time per call, scaled to unit. With a limit, one call of the limit
// runs just before and one just after each round of ndgrad, and ndgrad's rate in the round is
// taken as a fraction of the mean of those two: the printed fraction is the median over rounds
// of these paired fractions (the machine's speed drifts within seconds, so a limit measured
// next to the workload describes the same minutes better than medians over all rounds).
void compare(const std::string& name, const std::function<void()>& nd_fn,
             const std::function<void()>& torch_fn, int reps, double scale, const std::string& unit,
             const std::string& note = "", const Limit* limit = nullptr) {
  // Warm-up: at least two calls and 200 ms per pair of sides (pools, caches, the CPU's clock).
  double one = 0;
  const auto warm_start = Clock::now();
  for (int i = 0; i < 2 || Clock::now() - warm_start < std::chrono::milliseconds(200); ++i) {
    one = seconds(nd_fn);
    torch_fn();
  }
  const int per_round = std::max(1, static_cast<int>(round_ms * 1e-3 / std::max(one, 1e-9)));
  const int rounds = std::max(7, reps / per_round);
  auto round = [&](const std::function<void()>& f) {
    const auto t0 = Clock::now();
    for (int i = 0; i < per_round; ++i) f();
    return std::chrono::duration<double>(Clock::now() - t0).count() / per_round;
  };
  std::vector<double> a, b, lim, fractions;
  if (limit) limit->fn();  // its first call pays for first touches
  for (int i = 0; i < rounds; ++i) {
    const double before = limit ? seconds(limit->fn) : 0;
    a.push_back(round(nd_fn) * scale);
    if (limit) {
      const double after = seconds(limit->fn);
      lim.push_back(before);
      lim.push_back(after);
      const double lim_rate = limit->amount * (1 / before + 1 / after) / 2;
      fractions.push_back(limit->nd_amount / (a.back() / scale) / lim_rate);
    }
    b.push_back(round(torch_fn) * scale);
  }
  rows.push_back({name, unit, median(a), median(b), note});
  std::printf("%-34s ndgrad %10.3f %-8s libtorch %10.3f %-8s torch/ndgrad %6.2fx %s\n",
              name.c_str(), rows.back().nd, unit.c_str(), rows.back().torch, unit.c_str(),
              rows.back().torch / rows.back().nd, note.c_str());
  if (limit) {
    const double nd_rate = limit->nd_amount / (rows.back().nd / scale) / 1e9;
    const double lim_rate = limit->amount / median(lim) / 1e9;
    std::printf(
        "   ndgrad %.1f %s = %.2f of %s (median of paired rounds; the limit's median %.1f %s; "
        "the 1-thread target: %.2f)\n",
        nd_rate, limit->unit.c_str(), median(fractions), limit->name.c_str(), lim_rate,
        limit->unit.c_str(), limit->target);
  }
  std::fflush(stdout);
}

// Another part of the program, on a thread of its own: asleep (a GUI or a server between
// events) or busy with arithmetic on the other core. Neither library is used on it.
class ForeignThread {
 public:
  enum Mode { idle, busy };
  explicit ForeignThread(Mode mode)
      : thread_([this, mode] {
          std::unique_lock<std::mutex> lock(mu_);
          if (mode == idle) return cv_.wait(lock, [this] { return stop_; });
          lock.unlock();
          volatile double x = 1;
          while (!stop_flag_.load(std::memory_order_relaxed)) x = x * 1.0000001 + 1e-9;
        }) {}
  ~ForeignThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    stop_flag_ = true;
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> stop_flag_{false};
  std::thread thread_;
};

void w1() {  // 25 x (mul, add, tanh, sub) on 8x8, then sum and backward: per-op cost
  nd::Tensor x = nd::randn({8, 8}, 1).requires_grad_();
  torch::Tensor tx = torch::randn({8, 8}).requires_grad_(true);
  auto nd_fn = [&] {
    nd::Tensor y = x;
    for (int i = 0; i < 25; ++i) y = nd::tanh(y * 1.0001 + 0.5) - x;
    y.sum().backward();
    x.zero_grad();
  };
  auto torch_fn = [&] {
    torch::Tensor y = tx;
    for (int i = 0; i < 25; ++i) y = torch::tanh(y * 1.0001 + 0.5) - tx;
    y.sum().backward();
    tx.mutable_grad().reset();
  };
  // First in a process with no other thread (with --threads 1), then with one foreign thread,
  // as in most real programs.
  compare("W1 per op (8x8, fwd+bwd)", nd_fn, torch_fn, 20000, 1e6 / 101, "us/op");
  const Row alone = rows.back();
  Row with[2];
  for (ForeignThread::Mode mode : {ForeignThread::idle, ForeignThread::busy}) {
    ForeignThread foreign(mode);
    compare(mode == ForeignThread::idle ? "W1, a foreign thread idle" : "W1, a foreign thread busy",
            nd_fn, torch_fn, 20000, 1e6 / 101, "us/op");
    with[mode] = rows.back();
  }
  std::printf(
      "   with a foreign thread / alone: ndgrad %.2f (idle) %.2f (busy); libtorch %.2f (idle) "
      "%.2f (busy)\n",
      with[0].nd / alone.nd, with[1].nd / alone.nd, with[0].torch / alone.torch,
      with[1].torch / alone.torch);
  auto nd_fwd = [&] {
    nd::NoGradGuard g;
    nd::Tensor y = x;
    for (int i = 0; i < 25; ++i) y = nd::tanh(y * 1.0001 + 0.5) - x;
  };
  auto torch_fwd = [&] {
    torch::NoGradGuard g;
    torch::Tensor y = tx;
    for (int i = 0; i < 25; ++i) y = torch::tanh(y * 1.0001 + 0.5) - tx;
  };
  compare("W1 per op (8x8, no-grad fwd)", nd_fwd, torch_fwd, 20000, 1e6 / 100, "us/op");
}

// Embedding-style row gather: 4096 random rows (with repeats) of a 100,000 x 256 table,
// forward and backward (the rows' gradients added into the table's).
void gather_rows() {
  nd::Tensor table = nd::randn({100000, 256}, 5).requires_grad_();
  std::vector<double> rows;
  uint64_t state = 12345;
  for (int i = 0; i < 4096; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    rows.push_back(static_cast<double>((state >> 33) % 100000));
  }
  const nd::Tensor idx = nd::tensor(rows, {4096}, nd::DType::i64);
  torch::Tensor ttable = torch::randn({100000, 256}).requires_grad_(true);
  const torch::Tensor tidx = torch::tensor(rows, torch::kFloat64).to(torch::kLong);
  auto nd_fn = [&] {
    nd::index_select(table, 0, idx).sum().backward();
    table.zero_grad();
  };
  auto torch_fn = [&] {
    torch::index_select(ttable, 0, tidx).sum().backward();
    ttable.mutable_grad().reset();
  };
  compare("I1 embedding rows 4096 of 100000x256", nd_fn, torch_fn, 200, 1e3, "ms");
}

// Joining and padding large tensors (forward: each reads its input and writes its output
// once, the least it must move) against the triad's bandwidth, and a boolean-mask select of
// half of a 4M-element tensor.
// #22's math rows: unary functions over 4M floats and reductions/scans over an axis of 4096^2
// against the triad (each reads its input and writes its output once), sort and topk of 1M.
void math_rows() {
  const int64_t n4 = 4 << 20;
  const nd::Tensor x = nd::randn({n4}, 50);
  const torch::Tensor tx = torch::randn({n4});
  const Limit unary_triad = triad_limit(8.0 * n4, 0.70);
  compare(
      "M1 sin 4M", [&] { nd::sin(x); }, [&] { torch::sin(tx); }, 30, 1e3, "ms", "", &unary_triad);
  compare(
      "M1 cos 4M", [&] { nd::cos(x); }, [&] { torch::cos(tx); }, 30, 1e3, "ms", "", &unary_triad);
  compare(
      "M1 erf 4M", [&] { nd::erf(x); }, [&] { torch::erf(tx); }, 30, 1e3, "ms", "", &unary_triad);
  compare(
      "M1 gelu 4M", [&] { nd::gelu(x); }, [&] { torch::gelu(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  const nd::Tensor xp = nd::abs(x) + 0.5;
  const torch::Tensor txp = torch::abs(tx) + 0.5;
  compare(
      "M1 log 4M", [&] { nd::log(xp); }, [&] { torch::log(txp); }, 30, 1e3, "ms", "", &unary_triad);
  compare(
      "M1 tanh 4M", [&] { nd::tanh(x); }, [&] { torch::tanh(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 silu 4M", [&] { nd::silu(x); }, [&] { torch::silu(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 softplus 4M", [&] { nd::softplus(x); }, [&] { torch::softplus(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 sigmoid 4M", [&] { nd::sigmoid(x); }, [&] { torch::sigmoid(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 exp2 4M", [&] { nd::exp2(x); }, [&] { torch::exp2(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 atan 4M", [&] { nd::atan(x); }, [&] { torch::atan(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 mish 4M", [&] { nd::mish(x); }, [&] { torch::mish(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  compare(
      "M1 abs 4M", [&] { nd::abs(x); }, [&] { torch::abs(tx); }, 30, 1e3, "ms", "", &unary_triad);
  compare(
      "M1 floor 4M", [&] { nd::floor(x); }, [&] { torch::floor(tx); }, 30, 1e3, "ms", "",
      &unary_triad);
  const nd::Tensor a = nd::randn({4096, 4096}, 51);
  const torch::Tensor ta = torch::randn({4096, 4096});
  const Limit read_triad = triad_limit(4.0 * 4096 * 4096, 0.70);
  compare(
      "M2 var axis 0 of 4096^2", [&] { nd::var(a, {0}); }, [&] { torch::var(ta, {0}); }, 30, 1e3,
      "ms", "", &read_triad);
  compare(
      "M2 std axis 1 of 4096^2", [&] { nd::std(a, {1}); }, [&] { torch::std(ta, {1}); }, 30, 1e3,
      "ms", "", &read_triad);
  compare(
      "M2 norm axis 1 of 4096^2", [&] { nd::norm(a, 2.0, {1}); }, [&] { torch::norm(ta, 2, {1}); },
      30, 1e3, "ms", "", &read_triad);
  const Limit scan_triad = triad_limit(8.0 * 4096 * 4096, 0.50);
  compare(
      "M3 cumsum axis 0 of 4096^2", [&] { nd::cumsum(a, 0); }, [&] { torch::cumsum(ta, 0); }, 30,
      1e3, "ms", "", &scan_triad);
  compare(
      "M3 cumsum axis 1 of 4096^2", [&] { nd::cumsum(a, 1); }, [&] { torch::cumsum(ta, 1); }, 30,
      1e3, "ms", "", &scan_triad);
  const nd::Tensor v = nd::randn({1 << 20}, 52);
  const torch::Tensor tv = torch::randn({1 << 20});
  compare(
      "M4 sort 1M", [&] { nd::sort(v); }, [&] { torch::sort(tv); }, 30, 1e3, "ms");
  compare(
      "M4 topk 10 of 1M", [&] { nd::topk(v, 10); }, [&] { torch::topk(tv, 10); }, 30, 1e3, "ms");
}

// Linear algebra (#22's rows): solve and cholesky of one 512x512 matrix and of a batch of
// 64 32x32 ones, f64 and f32; and an einsum that is a batched matrix product against matmul.
void linalg_rows() {
  for (nd::DType dt : {nd::DType::f64, nd::DType::f32}) {
    const auto tdt = dt == nd::DType::f64 ? torch::kFloat64 : torch::kFloat32;
    const char* name = dt == nd::DType::f64 ? "f64" : "f32";
    for (const auto& [batch, n] : std::vector<std::pair<int64_t, int64_t>>{{1, 512}, {64, 32}}) {
      const nd::Shape s = batch == 1 ? nd::Shape{n, n} : nd::Shape{batch, n, n};
      const nd::Tensor a = nd::randn(s, 40, dt) + double(n) * nd::eye(n, dt);
      const nd::Tensor b = nd::randn(batch == 1 ? nd::Shape{n, 8} : nd::Shape{batch, n, 8}, 41, dt);
      const nd::Tensor spd = nd::matmul(a, a.mT());
      const torch::Tensor ta = torch::randn(s, tdt) + double(n) * torch::eye(n, tdt);
      const torch::Tensor tb = torch::randn(b.shape(), tdt), tspd = torch::matmul(ta, ta.mT());
      const std::string shape = batch == 1 ? "512^2" : "64 x 32^2";
      compare(
          "L1 solve " + shape + " " + name, [&] { nd::linalg::solve(a, b); },
          [&] { torch::linalg_solve(ta, tb); }, 30, 1e3, "ms");
      compare(
          "L2 cholesky " + shape + " " + name, [&] { nd::linalg::cholesky(spd); },
          [&] { torch::linalg_cholesky(tspd); }, 30, 1e3, "ms");
      // U, S and Vh (square: full and reduced are the same), gesdd on both sides.
      compare(
          "L4 svd " + shape + " " + name, [&] { nd::linalg::svd(a); },
          [&] { torch::linalg_svd(ta); }, 30, 1e3, "ms");
    }
  }
  const nd::Tensor q = nd::randn({16, 128, 64}, 42), k = nd::randn({16, 128, 64}, 43);
  compare(
      "L3 einsum bqd,bkd->bqk vs matmul",
      [&] {
        nd::einsum("bqd,bkd->bqk", {q, k});
      },
      [&] { nd::matmul(q, k.mT()); }, 30, 1e3, "ms", "(the second column is ndgrad's matmul)");
}

void joins() {
  std::vector<nd::Tensor> parts;
  std::vector<torch::Tensor> tparts;
  for (int i = 0; i < 4; ++i) {
    parts.push_back(nd::randn({2048, 1024}, 20 + i));
    tparts.push_back(torch::randn({2048, 1024}));
  }
  const double moved = 2.0 * 4 * 4 * 2048 * 1024;
  const Limit triad = triad_limit(moved, 0.70);
  compare(
      "I2 cat 4 x (2048,1024) axis 0", [&] { nd::cat(parts, 0); }, [&] { torch::cat(tparts, 0); },
      30, 1e3, "ms", "", &triad);
  compare(
      "I2 cat 4 x (2048,1024) axis 1", [&] { nd::cat(parts, 1); }, [&] { torch::cat(tparts, 1); },
      30, 1e3, "ms", "", &triad);
  compare(
      "I2 stack 4 x (2048,1024) axis 1", [&] { nd::stack(parts, 1); },
      [&] { torch::stack(tparts, 1); }, 30, 1e3, "ms", "", &triad);
  const nd::Tensor x = nd::randn({4096, 1024}, 30);
  const torch::Tensor tx = torch::randn({4096, 1024});
  const Limit pad_triad = triad_limit(4.0 * (4096 * 1024 + 4112 * 1040), 0.70);
  compare(
      "I3 pad (4096,1024) by 8, constant",
      [&] {
        nd::pad(x, {{8, 8}, {8, 8}});
      },
      [&] {
        torch::nn::functional::pad(tx, torch::nn::functional::PadFuncOptions({8, 8, 8, 8}));
      },
      30, 1e3, "ms", "", &pad_triad);
  compare(
      "I3 pad (4096,1024) by 8, reflect",
      [&] {
        nd::pad(x, {{8, 8}, {8, 8}}, nd::PadMode::reflect);
      },
      [&] {
        torch::nn::functional::pad(
            tx.unsqueeze(0),
            torch::nn::functional::PadFuncOptions({8, 8, 8, 8}).mode(torch::kReflect));
      },
      30, 1e3, "ms", "", &pad_triad);
  // Basic slicing is a view: its time does not depend on the tensor's size.
  for (int64_t n : {64, 4096}) {
    const nd::Tensor s = nd::zeros({n, n});
    const torch::Tensor ts = torch::zeros({n, n});
    using torch::indexing::Slice;
    compare(
        "I5 x[1:-1:2, 3], x " + std::to_string(n) + "^2",
        [&] {
          s.index({nd::Slice(1, -1, 2), 3});
        },
        [&] {
          ts.index({Slice(1, -1, 2), 3});
        },
        20000, 1e6, "us");
  }
  const nd::Tensor mask = nd::rand({4096, 1024}, 31, nd::DType::f64) > 0.5;
  const torch::Tensor tmask = torch::rand({4096, 1024}) > 0.5;
  compare(
      "I4 masked_select half of 4M", [&] { nd::masked_select(x, mask); },
      [&] { torch::masked_select(tx, tmask); }, 30, 1e3, "ms");
}

void w2() {  // one SGD step of an MLP 784-256-128-10, batch 64
  nd::nn::Sequential model(nd::nn::Linear(784, 256, 1), nd::nn::ReLU(), nd::nn::Linear(256, 128, 2),
                           nd::nn::ReLU(), nd::nn::Linear(128, 10, 3));
  nd::optim::SGD opt(model.parameters(), 0.01, 0.9);
  nd::Tensor x = nd::randn({64, 784}, 4);
  nd::Tensor y = (nd::rand({64}, 5, nd::DType::f64) * 10.0).to(nd::DType::i64);
  torch::nn::Sequential tm(torch::nn::Linear(784, 256), torch::nn::ReLU(),
                           torch::nn::Linear(256, 128), torch::nn::ReLU(),
                           torch::nn::Linear(128, 10));
  torch::optim::SGD topt(tm->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  torch::Tensor tx = torch::randn({64, 784});
  torch::Tensor ty = torch::randint(0, 10, {64}, torch::kLong);
  compare(
      "W2 MLP step, batch 64",
      [&] {
        opt.zero_grad();
        nd::nn::cross_entropy(model(x), y).backward();
        opt.step();
      },
      [&] {
        topt.zero_grad();
        torch::nn::functional::cross_entropy(tm->forward(tx), ty).backward();
        topt.step();
      },
      200, 1e6, "us");
}

// One SGD step of the CNN conv(1->32, 3x3, pad 1)-relu-maxpool2-conv(32->64, 3x3, pad 1)-relu-
// maxpool2-linear(3136->128)-relu-linear(10), batch 128 (3.2 GFLOP of products: 1.1 forward,
// about twice that backward). libtorch's convolution is oneDNN's.
void w8() {
  auto block = [](int64_t in, int64_t out, uint64_t seed) {
    return std::make_shared<nd::nn::Conv2d>(in, out, 3, 1, 1, 1, 1, true, seed);
  };
  nd::nn::Sequential model;
  model.push_back(block(1, 32, 1));
  model.push_back(std::make_shared<nd::nn::ReLU>());
  model.push_back(std::make_shared<nd::nn::MaxPool2d>(2));
  model.push_back(block(32, 64, 2));
  model.push_back(std::make_shared<nd::nn::ReLU>());
  model.push_back(std::make_shared<nd::nn::MaxPool2d>(2));
  model.push_back(std::make_shared<nd::nn::Flatten>());
  model.push_back(std::make_shared<nd::nn::Linear>(64 * 7 * 7, 128, 3));
  model.push_back(std::make_shared<nd::nn::ReLU>());
  model.push_back(std::make_shared<nd::nn::Linear>(128, 10, 4));
  nd::optim::SGD opt(model.parameters(), 0.01, 0.9);
  nd::Tensor x = nd::randn({128, 1, 28, 28}, 5);
  nd::Tensor y = (nd::rand({128}, 6, nd::DType::f64) * 10.0).to(nd::DType::i64);
  torch::nn::Sequential tm(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)), torch::nn::ReLU(),
      torch::nn::MaxPool2d(2), torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)),
      torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
      torch::nn::Linear(64 * 7 * 7, 128), torch::nn::ReLU(), torch::nn::Linear(128, 10));
  torch::optim::SGD topt(tm->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  torch::Tensor tx = torch::randn({128, 1, 28, 28});
  torch::Tensor ty = torch::randint(0, 10, {128}, torch::kLong);
  // The step's products: each layer forward, the weight's gradient, and the input's gradient
  // but for the first convolution's (its input needs none).
  const double conv1 = 2.0 * 128 * 28 * 28 * 32 * 9, conv2 = 2.0 * 128 * 14 * 14 * 64 * 32 * 9;
  const double fc = 2.0 * 128 * (3136.0 * 128 + 128 * 10);
  const double flop = 2 * conv1 + 3 * conv2 + 3 * fc;
  const std::optional<Limit> peak = sgemm_limit(flop, 0.45);
  compare(
      "W8 CNN step, batch 128",
      [&] {
        opt.zero_grad();
        nd::nn::cross_entropy(model(x), y).backward();
        opt.step();
      },
      [&] {
        topt.zero_grad();
        torch::nn::functional::cross_entropy(tm->forward(tx), ty).backward();
        topt.step();
      },
      10, 1e3, "ms", "", peak ? &*peak : nullptr);
  std::printf("   %.2f GFLOP a step: ndgrad %.1f GFLOP/s, libtorch %.1f GFLOP/s\n", flop / 1e9,
              flop / rows.back().nd / 1e6, flop / rows.back().torch / 1e6);
}

// One convolution alone, forward and backward (the input's, the weight's and the bias's
// gradients): x (64, 32, 28, 28), 64 channels out, 3x3, padding 1. Three products of
// 2 * 64 * 784 * 64 * 288 flop each.
void conv_row() {
  nd::Tensor x = nd::randn({64, 32, 28, 28}, 40).requires_grad_(),
             w = (nd::randn({64, 32, 3, 3}, 41) * 0.05).requires_grad_(),
             b = nd::randn({64}, 42).requires_grad_();
  nd::Tensor g = nd::randn({64, 64, 28, 28}, 43);
  torch::Tensor tx = torch::randn({64, 32, 28, 28}).requires_grad_(true),
                tw = (torch::randn({64, 32, 3, 3}) * 0.05).requires_grad_(true),
                tb = torch::randn({64}).requires_grad_(true);
  torch::Tensor tg = torch::randn({64, 64, 28, 28});
  const double flop = 3 * 2.0 * 64 * 784 * 64 * 288;
  const std::optional<Limit> peak = sgemm_limit(flop, 0.45);
  compare(
      "C1 conv2d 64x32x28x28->64 3x3 f+b",
      [&] {
        nd::nn::conv2d(x, w, b, 1, 1).backward(g);
        x.zero_grad();
        w.zero_grad();
        b.zero_grad();
      },
      [&] {
        torch::conv2d(tx, tw, tb, 1, 1).backward(tg);
        tx.mutable_grad().reset();
        tw.mutable_grad().reset();
        tb.mutable_grad().reset();
      },
      20, 1e3, "ms", "", peak ? &*peak : nullptr);
  rows.back().note = "ndgrad " + std::to_string(int(flop / rows.back().nd / 1e6)) +
                     " GFLOP/s, libtorch " + std::to_string(int(flop / rows.back().torch / 1e6)) +
                     " GFLOP/s";
  std::printf("   %s\n", rows.back().note.c_str());
}

// Normalization forward and backward on 4M floats (an upstream gradient of the same size):
// the least they move is x read by each pass, y written, the upstream gradient read and x's
// gradient written (5 x 16 MB), against the triad's bandwidth.
void norm_rows() {
  constexpr int64_t n = 4096 * 1024;
  const Limit triad = triad_limit(5.0 * 4 * n, 0.60);
  {
    nd::Tensor x = nd::randn({64, 64, 32, 32}, 44).requires_grad_(),
               w = nd::randn({64}, 45).requires_grad_(), b = nd::randn({64}, 46).requires_grad_();
    nd::Tensor rm = nd::zeros({64}), rv = nd::ones({64});
    nd::Tensor g = nd::randn({64, 64, 32, 32}, 47);
    torch::Tensor tx = torch::randn({64, 64, 32, 32}).requires_grad_(true),
                  tw = torch::randn({64}).requires_grad_(true),
                  tb = torch::randn({64}).requires_grad_(true);
    torch::Tensor trm = torch::zeros({64}), trv = torch::ones({64});
    torch::Tensor tg = torch::randn({64, 64, 32, 32});
    compare(
        "N1 batch_norm 4M (64x64x32x32) f+b",
        [&] {
          nd::nn::batch_norm(x, rm, rv, w, b, true, 0.1).backward(g);
          x.zero_grad();
          w.zero_grad();
          b.zero_grad();
        },
        [&] {
          torch::batch_norm(tx, tw, tb, trm, trv, true, 0.1, 1e-5, false).backward(tg);
          tx.mutable_grad().reset();
          tw.mutable_grad().reset();
          tb.mutable_grad().reset();
        },
        30, 1e3, "ms", "", &triad);
  }
  {
    nd::Tensor x = nd::randn({4096, 1024}, 48).requires_grad_(),
               w = nd::randn({1024}, 49).requires_grad_(),
               b = nd::randn({1024}, 50).requires_grad_();
    nd::Tensor g = nd::randn({4096, 1024}, 51);
    torch::Tensor tx = torch::randn({4096, 1024}).requires_grad_(true),
                  tw = torch::randn({1024}).requires_grad_(true),
                  tb = torch::randn({1024}).requires_grad_(true);
    torch::Tensor tg = torch::randn({4096, 1024});
    compare(
        "N2 layer_norm 4M (4096x1024) f+b",
        [&] {
          nd::nn::layer_norm(x, {1024}, w, b).backward(g);
          x.zero_grad();
          w.zero_grad();
          b.zero_grad();
        },
        [&] {
          torch::layer_norm(tx, {1024}, tw, tb).backward(tg);
          tx.mutable_grad().reset();
          tw.mutable_grad().reset();
          tb.mutable_grad().reset();
        },
        30, 1e3, "ms", "", &triad);
  }
}

void w3() {  // ((X + b) * (X + b)).sum().backward(), X (4096,1024)
  nd::Tensor X = nd::randn({4096, 1024}, 6).requires_grad_(),
             b = nd::randn({1024}, 7).requires_grad_();
  // The least a forward and a backward pass move: X read by each, X.grad written once.
  const Limit triad = triad_limit(3.0 * 4 * X.numel(), 0.60);
  torch::Tensor tX = torch::randn({4096, 1024}).requires_grad_(true),
                tb = torch::randn({1024}).requires_grad_(true);
  compare(
      "W3 ((X+b)*(X+b)).sum() fwd+bwd",
      [&] {
        ((X + b) * (X + b)).sum().backward();
        X.zero_grad();
        b.zero_grad();
      },
      [&] {
        ((tX + tb) * (tX + tb)).sum().backward();
        tX.mutable_grad().reset();
        tb.mutable_grad().reset();
      },
      30, 1e3, "ms", "", &triad);
}

void w4() {  // reductions of A (4096,4096) over each axis, forward and backward
  nd::Tensor A = nd::randn({4096, 4096}, 8).requires_grad_();
  torch::Tensor tA = torch::randn({4096, 4096}).requires_grad_(true);
  for (int axis : {0, 1}) {
    compare(
        "W4 A.sum({" + std::to_string(axis) + "},true).sum() fwd+bwd",
        [&] {
          A.sum({axis}, true).sum().backward();
          A.zero_grad();
        },
        [&] {
          tA.sum({axis}, true).sum().backward();
          tA.mutable_grad().reset();
        },
        30, 1e3, "ms");
    compare(
        "W4 A.sum({" + std::to_string(axis) + "}) forward",
        [&] {
          nd::NoGradGuard g;
          A.sum({axis}, true);
        },
        [&] {
          torch::NoGradGuard g;
          tA.sum({axis}, true);
        },
        30, 1e3, "ms");
  }
}

void w5() {  // 1024^3 matmul forward and backward: 3 GEMMs
  nd::Tensor A = nd::randn({1024, 1024}, 9).requires_grad_(),
             B = nd::randn({1024, 1024}, 10).requires_grad_();
  nd::Tensor G = nd::randn({1024, 1024}, 11);
  torch::Tensor tA = torch::randn({1024, 1024}).requires_grad_(true),
                tB = torch::randn({1024, 1024}).requires_grad_(true);
  torch::Tensor tG = torch::randn({1024, 1024});
  const double flop = 3 * 2.0 * 1024 * 1024 * 1024;
  // 120 GFLOP/s against the 140 OpenBLAS's 2048^3 product reaches here in quieter hours.
  const std::optional<Limit> peak = sgemm_limit(flop, 120.0 / 140.0);
  compare(
      "W5 matmul 1024^3 fwd+bwd",
      [&] {
        nd::matmul(A, B).backward(G);
        A.zero_grad();
        B.zero_grad();
      },
      [&] {
        torch::matmul(tA, tB).backward(tG);
        tA.mutable_grad().reset();
        tB.mutable_grad().reset();
      },
      20, 1e3, "ms", "", peak ? &*peak : nullptr);
  rows.back().note = "ndgrad " + std::to_string(int(flop / rows.back().nd / 1e6)) +
                     " GFLOP/s, libtorch " + std::to_string(int(flop / rows.back().torch / 1e6)) +
                     " GFLOP/s";
  std::printf("   %s\n", rows.back().note.c_str());
}

void w7(const std::string& data_dir) {  // one epoch of the Fashion-MNIST MLP, batch 128
  nd::data::Dataset train, test;
  try {
    train = nd::data::load_mnist_like(data_dir, true);
    test = nd::data::load_mnist_like(data_dir, false);
  } catch (const nd::IOError& e) {
    std::printf("W7 skipped: %s\n", e.what());
    return;
  }
  const nd::Tensor x = (train.images / 255.0 - 0.2860) / 0.3530;
  const nd::Tensor tx_test_nd = (test.images / 255.0 - 0.2860) / 0.3530;
  auto to_torch = [](const nd::Tensor& t) {
    auto v = t.contiguous();
    std::vector<int64_t> shape = t.shape();
    return t.dtype() == nd::DType::i64
               ? torch::from_blob(v.data_ptr<int64_t>(), shape, torch::kLong).clone()
               : torch::from_blob(v.data_ptr<float>(), shape, torch::kFloat).clone();
  };
  const torch::Tensor tx = to_torch(x), ty = to_torch(train.labels);
  const torch::Tensor tx_test = to_torch(tx_test_nd), ty_test = to_torch(test.labels);
  const int64_t n = x.shape()[0], B = 128;
  // The timed calls train; the model of the last one is evaluated on the test set afterwards.
  std::shared_ptr<nd::nn::Sequential> nd_model;
  torch::nn::Sequential torch_model;
  uint64_t epoch = 0;
  auto nd_epoch = [&] {
    auto model = std::make_shared<nd::nn::Sequential>(nd::nn::Linear(784, 256, 1), nd::nn::ReLU(),
                                                      nd::nn::Linear(256, 128, 2), nd::nn::ReLU(),
                                                      nd::nn::Linear(128, 10, 3));
    nd::optim::SGD opt(model->parameters(), 0.05, 0.9);
    nd::data::BatchIterator batches(x, train.labels, B, true, ++epoch);
    nd::Tensor bx, by;
    while (batches.next(bx, by)) {
      opt.zero_grad();
      nd::nn::cross_entropy((*model)(bx), by).backward();
      opt.step();
    }
    nd_model = std::move(model);
  };
  auto torch_epoch = [&] {
    torch::nn::Sequential tm(torch::nn::Linear(784, 256), torch::nn::ReLU(),
                             torch::nn::Linear(256, 128), torch::nn::ReLU(),
                             torch::nn::Linear(128, 10));
    torch::optim::SGD topt(tm->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    torch::Tensor perm = torch::randperm(n, torch::kLong);
    for (int64_t s = 0; s < n; s += B) {
      torch::Tensor idx = perm.slice(0, s, std::min(n, s + B));
      topt.zero_grad();
      torch::nn::functional::cross_entropy(tm->forward(tx.index_select(0, idx)),
                                           ty.index_select(0, idx))
          .backward();
      topt.step();
    }
    torch_model = tm;
  };
  // The products of an epoch's training steps (the input needs no gradient: the first layer
  // runs two products, the others three): 60.4 GFLOP. 0.6 s on 1 thread is 70% of the
  // 140 GFLOP/s OpenBLAS's 2048^3 product reaches here in quieter hours.
  const double macs = 784.0 * 256 * 2 + (256.0 * 128 + 128.0 * 10) * 3;
  const std::optional<Limit> peak = sgemm_limit(2.0 * macs * double(n), 0.70);
  compare("W7 Fashion-MNIST epoch, batch 128", nd_epoch, torch_epoch, 5, 1.0, "s", "",
          peak ? &*peak : nullptr);
  double nd_acc = 0, torch_acc = 0;
  {
    nd::NoGradGuard g;
    nd_acc = ((*nd_model)(tx_test_nd).argmax(1) == test.labels).sum().item() /
             double(test.labels.numel());
  }
  {
    torch::NoGradGuard g;
    torch_acc = torch_model->forward(tx_test).argmax(1).eq(ty_test).sum().item<double>() /
                double(ty_test.numel());
  }
  char note[128];
  std::snprintf(note, sizeof note, "test accuracy after one epoch: ndgrad %.4f, libtorch %.4f",
                nd_acc, torch_acc);
  rows.back().note = note;
  std::printf("   %s\n", note);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::string only, data_dir = "/usr/share/datasets/fashion-mnist";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (flag == "--only")
      only = argv[i + 1];
    else if (flag == "--data")
      data_dir = argv[i + 1];
    else if (flag == "--round-ms")
      round_ms = std::atof(argv[i + 1]);
  }
  if (!std::getenv("NDGRAD_BENCH_ENV_SET")) {  // put libtorch's best settings in place, once
    const std::string t = std::to_string(threads);
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    setenv("OMP_NUM_THREADS", t.c_str(), 1);
    setenv("OPENBLAS_NUM_THREADS", t.c_str(), 1);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    setenv("NDGRAD_BENCH_ENV_SET", "1", 1);
    execv("/proc/self/exe", argv);
    std::perror("execv");
    return 1;
  }
  torch::set_num_threads(threads);
  nd::set_num_threads(threads);
  std::printf(
      "ndgrad vs libtorch %s, float32, %d thread%s (OPENBLAS_CORETYPE=%s), rounds of %g ms\n",
      TORCH_VERSION, threads, threads == 1 ? "" : "s", std::getenv("OPENBLAS_CORETYPE"), round_ms);
  auto want = [&](const char* w) { return only.empty() || only.find(w) != std::string::npos; };
  if (want("W1")) w1();
  if (want("W2")) w2();
  if (want("I1")) gather_rows();
  if (want("I2")) joins();
  if (want("L1")) linalg_rows();
  if (want("M1")) math_rows();
  if (want("W3")) w3();
  if (want("W4")) w4();
  if (want("W5")) w5();
  if (want("W7")) w7(data_dir);
  if (want("W8")) w8();
  if (want("C1")) conv_row();
  if (want("N1") || want("N2")) norm_rows();
  return 0;
}
