// What a hostile user tries: sizes past what memory or 64 bits hold, thread counts past the
// system's, writes to tensors that a graph saved, gradients that could share memory, writes
// into views whose elements overlap. Each gets a typed error naming the call, or a result that
// owns its memory.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "core/tensor_impl.hpp"
#include "exec/lazy.hpp"
#include "kernels/cpu/kernels.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// Sizes whose bytes exceed the 47-bit user address space: no system can map them, whatever its
// overcommit policy, so the failure is certain and nothing is touched.
constexpr int64_t kHuge = int64_t(1) << 50;  // elements
constexpr int64_t kSide = int64_t(1) << 25;  // kSide^2 elements

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// Runs body in a child process whose address space is limited to what it has now plus
// extra_bytes; true when the body returned 0. For failures that only resource limits provoke
// (starting threads), without touching the machine's real limits.
bool in_limited_child(size_t extra_bytes, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    std::ifstream statm("/proc/self/statm");
    size_t pages = 0;
    statm >> pages;
    const rlim_t limit = pages * sysconf(_SC_PAGESIZE) + extra_bytes;
    rlimit r{limit, limit};
    if (setrlimit(RLIMIT_AS, &r) != 0) _exit(90);
    int code = 91;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: unexpected exception: %s\n", e.what());
    }
    std::fflush(nullptr);
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status))
    ADD_FAILURE() << "child ended by signal " << WTERMSIG(status);
  else if (WEXITSTATUS(status) != 0)
    ADD_FAILURE() << "child exited with " << WEXITSTATUS(status);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i64, DType::boolean};

}  // namespace

// ---- sizes: checked before anything is allocated, typed errors naming the call and shape ----

TEST(Sizes, ConstructorsRefuseShapesPastSixtyFourBitsWithValueError) {
  for (DType dt : kAllDTypes) {
    expect_error<ValueError>([&] { eye(int64_t(1) << 32, dt); }, {"eye", "64 bits"});
    expect_error<ValueError>(
        [&] {
          zeros({int64_t(1) << 40, int64_t(1) << 40}, dt);
        },
        {"full", "(1099511627776,1099511627776)"});
    expect_error<ValueError>([&] { randn({int64_t(1) << 62, 8}, 1, dt); }, {"randn"});
    expect_error<ValueError>([&] { rand({int64_t(1) << 62, 8}, 1, dt); }, {"rand"});
    expect_error<ValueError>([&] { empty({-1, 3}, dt); }, {"empty", "negative"});
  }
}

TEST(Sizes, ConstructorsRefuseUnallocatableSizesWithMemoryError) {
  for (DType dt : kAllDTypes) {
    const std::string name = dtype_name(dt);
    expect_error<MemoryError>([&] { eye(kSide, dt); }, {"eye", "(33554432,33554432)", name});
    expect_error<MemoryError>([&] { arange(kHuge, dt); }, {"arange", "(1125899906842624,)"});
    expect_error<MemoryError>([&] { randn({kHuge}, 1, dt); }, {"randn", "(1125899906842624,)"});
    expect_error<MemoryError>(
        [&] {
          rand({kSide, kSide}, 1, dt);
        },
        {"rand", "(33554432,33554432)"});
    expect_error<MemoryError>([&] { ones({kHuge}, dt); }, {"full", "bytes"});
    expect_error<MemoryError>([&] { empty({2, kHuge}, dt); }, {"empty", "(2,1125899906842624)"});
  }
}

TEST(Sizes, HugeBroadcastViewsRefuseCopiesWithMemoryError) {
  for (DType dt : kAllDTypes) {
    const Tensor view = scalar(1, dt).broadcast_to({kSide, kSide});  // no memory of its own
    EXPECT_EQ(view.numel(), kSide * kSide);
    expect_error<MemoryError>([&] { view.to_vector(); }, {"to_vector", "(33554432,33554432)"});
    expect_error<MemoryError>([&] { view.contiguous(); }, {"contiguous", "(33554432,33554432)"});
    expect_error<MemoryError>([&] { view.to(dt == DType::f32 ? DType::f64 : DType::f32); },
                              {"to", "(33554432,33554432)"});
    const std::string path = ::testing::TempDir() + "/ndgrad_huge_view.npy";
    save_npy(path, ones({2}, dt));
    expect_error<MemoryError>([&] { save_npy(path, view); }, {"save_npy", "(33554432,33554432)"});
    EXPECT_EQ(load_npy(path).to_vector(), std::vector<double>({1, 1}));  // the old file stays
    std::remove(path.c_str());
  }
}

TEST(Sizes, OpsWithUnallocatableResultsNameTheOp) {
  const Tensor col = zeros({kSide, 1}), row = zeros({1, kSide});
  expect_error<MemoryError>([&] { col + row; }, {"add", "(33554432,33554432)"});
  expect_error<MemoryError>([&] { col* row; }, {"mul", "(33554432,33554432)"});
  expect_error<MemoryError>([&] { maximum(col, row); }, {"maximum", "(33554432,33554432)"});
  expect_error<MemoryError>([&] { col.to(DType::i64) - row.to(DType::i64); },
                            {"sub", "(33554432,33554432)"});
  expect_error<MemoryError>([&] { col < row; }, {"(33554432,33554432)"});
  expect_error<MemoryError>([&] { matmul(col, row); }, {"matmul", "(33554432,33554432)"});
}

// ---- a pending (lazy) result that cannot be computed ----

TEST(Sizes, AnUnallocatableLazyResultFailsAtTheOpAndNeverBlocksItsInputs) {
  for (DType dt : {DType::f32, DType::f64}) {
    const int64_t n = int64_t(1) << 23;  // an outer difference of n^2 = 2^46 elements
    Tensor x = arange(n, dt);
    const int64_t pending_before = lazy::pending_count();
    expect_error<MemoryError>([&] { x.unsqueeze(1) - x.unsqueeze(0); },
                              {"sub", "(8388608,8388608)"});
    expect_error<MemoryError>([&] { x.unsqueeze(1) + x.unsqueeze(0); },
                              {"add", "(8388608,8388608)"});
    expect_error<MemoryError>([&] { x.unsqueeze(1) * x.unsqueeze(0); },
                              {"mul", "(8388608,8388608)"});
    expect_error<MemoryError>([&] { x.unsqueeze(1) / x.unsqueeze(0); },
                              {"div", "(8388608,8388608)"});
    expect_error<MemoryError>(
        [&] {
          -x.unsqueeze(1).broadcast_to({n, n});
        },
        {"neg", "(8388608,8388608)"});
    EXPECT_EQ(lazy::pending_count(), pending_before);
    // x is untouched and every use of it works.
    const double expected = double(n) * double(n - 1) / 2;
    EXPECT_NEAR(x.sum().item(), expected, expected * 1e-5);  // f32 sums round
    EXPECT_EQ(x.to_vector()[n - 1], double(n - 1));
    {
      NoGradGuard no_grad;
      x.copy_(zeros({n}, dt));
    }
    EXPECT_EQ(x.sum().item(), 0.0);
  }
}

TEST(Sizes, PendingResultsReserveAddressSpaceNotCachedOrResidentMemory) {
  const int64_t n = int64_t(1) << 22;      // 16 MiB of f32
  const lazy::EnabledScope lazy_on(true);  // pending results are what this checks
  NoGradGuard no_grad;
  const Tensor a = randn({n}, 1);
  // Freed blocks of the size wait in the cache: a pending result must not take them.
  release_cached_storage();  // room for them, whatever the tests before left there
  std::vector<Tensor> freed;
  for (int i = 0; i < 4; ++i) freed.push_back(full({n}, i));
  freed.clear();
  const size_t cached = cached_storage_bytes();
  std::vector<Tensor> chain{a};
  for (int i = 0; i < 3; ++i) chain.push_back(chain.back() * 1.5 + 0.5);  // one program
  EXPECT_TRUE(lazy::pending(chain.back()));
  EXPECT_EQ(cached_storage_bytes(), cached) << "a pending result took a cached block";
  const double total = chain.back().sum().item();  // fused: no intermediate written
  EXPECT_TRUE(std::isfinite(total));
  EXPECT_EQ(cached_storage_bytes(), cached);
  lazy::compute(chain[2]);  // written now: it takes a cached block, already paged in
  EXPECT_EQ(cached_storage_bytes(), cached - size_t(n) * 4);
  if (!sanitized()) {
    release_cached_storage();
    std::ifstream before_statm("/proc/self/statm");
    int64_t pages = 0, resident_before = 0, resident_after = 0;
    before_statm >> pages >> resident_before;
    std::vector<Tensor> more{a};
    for (int i = 0; i < 3; ++i) more.push_back(more.back() * 0.5 - 1.0);
    EXPECT_TRUE(std::isfinite(more.back().sum().item()));
    std::ifstream after_statm("/proc/self/statm");
    after_statm >> pages >> resident_after;
    EXPECT_LT((resident_after - resident_before) * sysconf(_SC_PAGESIZE), int64_t(8) << 20)
        << "pending results of 16 MiB made memory resident";
    EXPECT_EQ(cached_storage_bytes(), 0u);
  }
}

// ---- thread counts ----

TEST(Threads, SetNumThreadsRefusesCountsOutsideItsRange) {
  const int before = get_num_threads();
  for (int n : {0, -1, -100000, kMaxThreads + 1, 100000, INT32_MAX})
    expect_error<ValueError>([&] { set_num_threads(n); },
                             {"set_num_threads", std::to_string(n), std::to_string(kMaxThreads)});
  EXPECT_EQ(get_num_threads(), before);
}

TEST(Threads, AFailureToStartThreadsLeavesAWorkingPoolAndATypedError) {
  if (sanitized()) GTEST_SKIP() << "sanitizers reserve address space that the limit would break";
  // 1000 threads of 8 MiB stacks need far more than the 256 MiB the child may map.
  EXPECT_TRUE(in_limited_child(size_t(256) << 20, [] {
    set_num_threads(2);
    const Tensor big = ones({1 << 22});
    try {
      set_num_threads(1000);
      std::fprintf(stderr, "child: 1000 threads started under the limit\n");
      return 1;
    } catch (const MemoryError& e) {
      if (std::string(e.what()).find("set_num_threads") == std::string::npos) return 2;
    }
    if (get_num_threads() != 2) return 3;
    if (big.sum().item() != double(1 << 22)) return 4;  // the pool still runs jobs
    set_num_threads(1);
    if (big.sum().item() != double(1 << 22)) return 5;
    set_num_threads(2);
    if ((big * 2.0).sum().item() != double(1 << 23)) return 6;
    return 0;
  }));
}

// Run by AProcessExitsWhileOtherThreadsAreInsideBlas in a process of its own: threads call
// BLAS and LAPACK (float64 products, float32 ones on the reference path, solves) without end
// while the main thread exits the process.
TEST(ExitChild, ThreadsInsideBlas) {
  if (!std::getenv("NDGRAD_TEST_EXIT_CHILD"))
    GTEST_SKIP() << "run by Threads.AProcessExitsWhileOtherThreadsAreInsideBlas";
  set_num_threads(2);
  const Tensor a = randn({400, 400}, 1, DType::f64), b = randn({400, 400}, 2, DType::f32);
  std::thread([a] {
    for (;;) matmul(a, a);
  }).detach();
  std::thread([b] {
    for (;;) matmul(b, b);
  }).detach();
  std::thread([a] {
    for (;;) linalg::solve(a, a);
  }).detach();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::fflush(nullptr);
  std::exit(0);
}

// OpenBLAS's shutdown at exit waits forever for a worker that was inside a call: the exit
// waits for the calls in flight first and sends later ones to the portable paths.
TEST(Threads, AProcessExitsWhileOtherThreadsAreInsideBlas) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  buf[n] = 0;
  const std::string cmd = std::string("NDGRAD_TEST_EXIT_CHILD=1 timeout -k 5 120 '") + buf +
                          "' --gtest_filter=ExitChild.ThreadsInsideBlas > /dev/null 2>&1";
  for (int i = 0; i < 3; ++i) {
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "run " << i << ": the child ended with status " << status
        << (WIFEXITED(status) && WEXITSTATUS(status) == 124 ? " (hung at exit)" : "");
  }
}

// ---- in-place writes to what a graph saved for backward ----

namespace {

using Op = std::function<Tensor(const Tensor&)>;
enum class Write { input, output };

// y = op(x) for x of shape (3,4) that requires grad; then x or y is written in place, and
// backward (recorded or not) must refuse, naming op.
void expect_refused(const char* op, const Op& f, Write what = Write::input,
                    bool create_graph = false) {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = uniform({3, 4}, 5, 0.5, 2.0).to(dt).requires_grad_();
    Tensor y = f(x);
    Tensor loss = y.sum();  // sum saves nothing: the op under test is the one to refuse
    {
      NoGradGuard no_grad;
      Tensor target = what == Write::output ? y : x;
      target.copy_(ones(target.shape(), dt) * 1.5);
    }
    expect_error<AutogradError>([&] { loss.backward(Tensor(), false, create_graph); },
                                {op, "modified in place"});
  }
}

// The same kind of write where the pass does not read what was written: backward runs, and
// its gradient is the one the forward's values give (computed before the write).
void expect_allowed(const Op& f, Write what, bool create_graph, const Op& expected_grad) {
  Tensor x = uniform({3, 4}, 5, 0.5, 2.0).to(DType::f64).requires_grad_();
  const Tensor expected = expected_grad(x.detach());
  Tensor y = f(x);
  {
    NoGradGuard no_grad;
    Tensor target = what == Write::output ? y : x;
    target.copy_(ones(target.shape(), DType::f64) * 1.5);
  }
  y.sum().backward(Tensor(), false, create_graph);
  expect_close(x.grad(), expected, 1e-12);
  x.zero_grad();  // with create_graph, x.grad's history refers back to x: a cycle to break
}

Tensor unary(const std::string& op, const Tensor& x) {
  if (op == "exp") return exp(x);
  if (op == "sqrt") return sqrt(x);
  if (op == "tanh") return tanh(x);
  return sigmoid(x);
}

}  // namespace

TEST(InPlace, WritesToSavedInputsAreDetectedForEveryOpThatReadsThem) {
  expect_refused("mul", [](const Tensor& x) { return x * x; });
  expect_refused("mul", [](const Tensor& x) { return x * (x * 2.0).detach().requires_grad_(); });
  expect_refused("div", [](const Tensor& x) { return 1.0 / x; });
  expect_refused("div", [](const Tensor& x) { return x / x.detach(); });
  expect_refused("pow", [](const Tensor& x) { return pow(x, x); });
  expect_refused("pow", [](const Tensor& x) { return pow(x, 3.0); });
  expect_refused("log", [](const Tensor& x) { return log(x); });
  expect_refused("relu", [](const Tensor& x) { return relu(x); });
  expect_refused("abs", [](const Tensor& x) { return abs(x); });
  expect_refused("maximum", [](const Tensor& x) { return maximum(x, x * 0.5); });
  expect_refused("minimum", [](const Tensor& x) { return minimum(x, x * 0.5); });
  expect_refused("max", [](const Tensor& x) { return x.max({1}); });
  expect_refused("min", [](const Tensor& x) { return x.min({0}, true); });
  expect_refused("matmul", [](const Tensor& x) { return matmul(x, x.T()); });
}

TEST(InPlace, WritesToSavedOutputsAreDetected) {
  // exp/sqrt/tanh/sigmoid: the one derivative reads the output, with or without create_graph.
  for (const char* op : {"exp", "sqrt", "tanh", "sigmoid"}) {
    const Op f = [op](const Tensor& x) { return unary(op, x); };
    for (bool create_graph : {false, true}) expect_refused(op, f, Write::output, create_graph);
  }
  expect_refused(
      "max", [](const Tensor& x) { return x.max({1}, true); }, Write::output);
  expect_refused(
      "pow", [](const Tensor& x) { return pow(x.detach() + 1.0, x); }, Write::output);
}

TEST(InPlace, WritesToWhatTheRuleDoesNotReadAreAllowed) {
  // cross_entropy's derivative reads the forward's softmax, never the logits, also under
  // create_graph (the softmax carries its own history).
  const Tensor labels = tensor({0, 3, 1}, {3}, DType::i64);
  const Tensor onehot = tensor({1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0}, {3, 4}, DType::f64);
  for (bool create_graph : {false, true})
    expect_allowed([labels](const Tensor& x) { return nn::cross_entropy(x, labels); }, Write::input,
                   create_graph,
                   [onehot](const Tensor& x) { return (nn::softmax(x, 1) - onehot) / 3.0; });
  // x * 3 and x @ W read only the other operand for x's gradient.
  expect_allowed([](const Tensor& x) { return x * 3.0; }, Write::input, false,
                 [](const Tensor& x) { return ones_like(x) * 3.0; });
  expect_allowed(
      [](const Tensor& x) {
        return matmul(x, ones({4, 2}, DType::f64));
      },
      Write::input, false, [](const Tensor& x) { return ones_like(x) * 2.0; });
  // exp/tanh/sigmoid/sqrt read their output, never their input.
  for (bool create_graph : {false, true}) {
    const Write written = Write::input;
    expect_allowed([](const Tensor& x) { return exp(x); }, written, create_graph,
                   [](const Tensor& x) { return exp(x); });
    expect_allowed([](const Tensor& x) { return tanh(x); }, written, create_graph,
                   [](const Tensor& x) { return 1.0 - tanh(x) * tanh(x); });
    expect_allowed([](const Tensor& x) { return sigmoid(x); }, written, create_graph,
                   [](const Tensor& x) { return sigmoid(x) * (1.0 - sigmoid(x)); });
    expect_allowed([](const Tensor& x) { return sqrt(x); }, written, create_graph,
                   [](const Tensor& x) { return 0.5 / sqrt(x); });
  }
}

TEST(InPlace, ARefusedBackwardChangesNothing) {
  Tensor x = randn({3}, 1, DType::f64).requires_grad_();
  Tensor a = randn({3}, 2, DType::f64).requires_grad_();
  Tensor loss = (a * 2.0).sum() + (x * x).sum();
  {
    NoGradGuard g;
    x.copy_(zeros({3}, DType::f64));
  }
  for (int attempt = 0; attempt < 2; ++attempt) {  // the same refusal, not "a second time"
    expect_error<AutogradError>([&] { loss.backward(); }, {"mul", "modified in place"});
    EXPECT_FALSE(a.grad().defined()) << "a gradient was delivered by a refused pass";
    EXPECT_FALSE(x.grad().defined());
  }
}

TEST(InPlace, WritesThroughAnotherViewOfTheSameMemoryAreDetected) {
  Tensor w = randn({4, 3}, 2, DType::f64).requires_grad_();
  Tensor loss = (w * w).sum();
  Tensor view = w.detach().T();  // same memory, other shape
  view.copy_(zeros({3, 4}, DType::f64));
  expect_error<AutogradError>([&] { loss.backward(); }, {"mul", "(4,3)", "modified in place"});
}

TEST(InPlace, LargeLazyInputsAreCoveredToo) {
  const int64_t n = lazy::kMinElements;
  Tensor w = randn({n}, 3).requires_grad_();
  Tensor loss = (w * w * 2.0).sum();
  {
    NoGradGuard g;
    w.copy_(zeros({n}));
  }
  expect_error<AutogradError>([&] { loss.backward(); }, {"mul", "modified in place"});
}

TEST(InPlace, AnOptimizerStepBetweenTwoBackwardPassesIsDetected) {
  for (int which = 0; which < 2; ++which) {
    // The first layer's weight gradient reads the second layer's weight, which the step writes.
    nn::Sequential layer(nn::Linear(4, 3, 1), nn::Tanh(), nn::Linear(3, 3, 2));
    std::vector<Tensor> params = layer.parameters();
    std::unique_ptr<optim::Optimizer> opt;
    if (which == 0)
      opt = std::make_unique<optim::SGD>(params, 0.1, 0.9);
    else
      opt = std::make_unique<optim::Adam>(params, 0.01);
    Tensor loss = (layer(randn({5, 4}, 2)) * randn({5, 3}, 3)).sum();
    loss.backward(Tensor(), /*retain_graph=*/true);
    opt->step();
    expect_error<AutogradError>([&] { loss.backward(); }, {"matmul", "modified in place"});
  }
}

TEST(InPlace, WritesToWhatNoNodeSavedAreAllowed) {
  Tensor a = randn({3, 4}, 1, DType::f64).requires_grad_();
  Tensor b = randn({3, 4}, 2, DType::f64).requires_grad_();
  Tensor c = (a + b - a.reshape({4, 3}).T()).sum();  // add, sub, reshape save nothing
  {
    NoGradGuard g;
    a.copy_(zeros({3, 4}, DType::f64));
    b.copy_(zeros({3, 4}, DType::f64));
  }
  c.backward();
  expect_close(a.grad(), zeros({3, 4}, DType::f64));
  expect_close(b.grad(), ones({3, 4}, DType::f64));
}

TEST(InPlace, AnUntouchedGraphBackwardsAsBefore) {
  // The usual loop: backward, then the step writes the parameters; the next step's graph is new.
  nn::Sequential model(nn::Linear(6, 8, 1), nn::ReLU(), nn::Linear(8, 2, 2));
  optim::SGD opt(model.parameters(), 0.1, 0.9);
  const Tensor x = randn({10, 6}, 3), y = (rand({10}, 4, DType::f64) * 2.0).to(DType::i64);
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    Tensor loss = nn::cross_entropy(model(x), y);
    loss.backward(Tensor(), true);
    loss.backward();  // twice through the untouched graph: fine
    opt.step();
  }
}

// ---- gradients never share memory with the upstream gradient or with each other ----

namespace {

void write(Tensor t, double v) {
  NoGradGuard g;
  t.copy_(full(t.shape(), v, t.dtype()));
}

}  // namespace

TEST(GradAliasing, LeafGradientsOwnTheirMemory) {
  for (DType dt : {DType::f32, DType::f64})
    for (int64_t n : {int64_t(4), lazy::kMinElements}) {  // eager and lazy gradients
      Tensor a = randn({n}, 1, dt).requires_grad_();
      Tensor b = randn({n}, 2, dt).requires_grad_();
      Tensor G = randn({n}, 3, dt);
      const std::vector<double> g = G.to_vector();
      (a + b).backward(G);
      write(G, 7);
      EXPECT_EQ(a.grad().to_vector(), g);
      EXPECT_EQ(b.grad().to_vector(), g);
      write(a.grad(), 5);
      EXPECT_EQ(b.grad().to_vector(), g) << "b.grad changed with a.grad";
      EXPECT_NE(a.grad().impl()->storage, b.grad().impl()->storage);
    }
}

TEST(GradAliasing, ViewsOfTheUpstreamGradientAreCopied) {
  Tensor a = randn({3, 4}, 1, DType::f64).requires_grad_();
  Tensor G = randn({4, 3}, 2, DType::f64);
  const std::vector<double> g = G.to_vector();
  a.reshape({4, 3}).backward(G);
  write(G, 0);
  EXPECT_EQ(a.grad().to_vector(), g);
  Tensor b = randn({2, 3}, 3, DType::f64).requires_grad_();
  Tensor H = randn({3, 2}, 4, DType::f64);
  b.T().backward(H);
  EXPECT_EQ(b.grad().to_vector(), H.T().contiguous().to_vector());
  write(H, 0);
  EXPECT_NE(b.grad().to_vector(), H.T().contiguous().to_vector());
}

TEST(GradAliasing, ALeafAsTheRootGetsACopy) {
  Tensor a = randn({3}, 1).requires_grad_();
  Tensor G = randn({3}, 2);
  const std::vector<double> g = G.to_vector();
  a.backward(G);
  write(G, 9);
  EXPECT_EQ(a.grad().to_vector(), g);
  Tensor s = scalar(2.0).requires_grad_();
  s.backward();
  EXPECT_EQ(s.grad().item(), 1.0);
}

TEST(GradAliasing, GradResultsOwnTheirMemory) {
  for (bool create_graph : {false, true}) {
    Tensor a = randn({2, 3}, 1, DType::f64).requires_grad_();
    Tensor b = randn({2, 3}, 2, DType::f64).requires_grad_();
    Tensor G = randn({2, 3}, 3, DType::f64);
    const std::vector<double> g = G.to_vector();
    std::vector<Tensor> r = grad(a + b, {a, b}, G, create_graph);
    write(G, 1);
    EXPECT_EQ(r[0].to_vector(), g);
    write(r[0].detach(), 2);
    EXPECT_EQ(r[1].to_vector(), g);
    // A leaf as the output too.
    std::vector<Tensor> s = grad(a, {a}, G, create_graph);
    write(G, 3);
    EXPECT_EQ(s[0].to_vector(), std::vector<double>(6, 1.0));
  }
}

TEST(GradAliasing, WithCreateGraphTheCopiesStillDifferentiate) {
  Tensor a = randn({3}, 1, DType::f64).requires_grad_();
  Tensor b = randn({3}, 2, DType::f64).requires_grad_();
  Tensor G = (a * a).detach().requires_grad_();  // an upstream gradient that itself requires grad
  (a + b).backward(G, false, true);
  write(G.detach(), 0);
  EXPECT_EQ(a.grad().to_vector(), (a * a).to_vector());
  // d(sum(a.grad))/dG = 1: the copy is recorded as an identity.
  EXPECT_TRUE(a.grad().requires_grad());
  const Tensor dG = grad(a.grad().sum(), {G})[0];
  EXPECT_EQ(dG.to_vector(), std::vector<double>(3, 1.0));
}

// ---- backward(Tensor()) ----

TEST(Backward, AnUndefinedGradientMeansOnesForOneElement) {
  for (Shape s : {Shape{}, Shape{1}, Shape{1, 1}})
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor x = randn(s, 4, dt).requires_grad_();
      (x * 3.0).backward(Tensor());
      expect_values(x.grad(), {3.0});
      Tensor y = randn({2}, 4, dt).requires_grad_();
      (y * y).sum().backward(Tensor(), false, false);
      expect_close(y.grad(), y.detach() * 2.0);
    }
  Tensor v = randn({2, 2}, 5).requires_grad_();
  expect_error<AutogradError>([&] { (v * 2.0).backward(Tensor()); },
                              {"backward", "one-element", "(2,2)"});
}

// ---- writes into views whose elements overlap ----

TEST(Overlap, CopyIntoAViewWithSharedElementsIsRefusedAndWritesNothing) {
  for (DType dt : kAllDTypes) {
    Tensor base = zeros({1, 4}, dt);
    const std::vector<Tensor> views = {
        base.broadcast_to({3, 4}),
        base.broadcast_to({2, 3, 4}),
        base.reshape({4}).unsqueeze(0).broadcast_to({5, 4}).T(),
        base.reshape({4, 1}).broadcast_to({4, 2}),
        zeros({}, dt).broadcast_to({3}),
    };
    for (const Tensor& v : views) {
      expect_error<ValueError>([&] { Tensor(v).copy_(arange(v.numel(), dt).reshape(v.shape())); },
                               {"copy_", "share memory", shape_str(v.shape())});
      expect_error<ValueError>([&] { Tensor(v).copy_(ones({}, dt)); }, {"copy_"});
    }
    EXPECT_EQ(base.to_vector(), std::vector<double>(4, 0.0)) << "something was written";
  }
}

TEST(Overlap, ViewsWithoutSharedElementsStillAcceptCopies) {
  Tensor base = zeros({3, 4});
  base.T().copy_(arange(12).reshape({4, 3}));
  EXPECT_EQ(base.to_vector(), arange(12).reshape({4, 3}).T().contiguous().to_vector());
  Tensor one = zeros({1, 4});
  one.broadcast_to({1, 4}).copy_(ones({4}));  // stride-0 only on size-1 axes: no overlap
  EXPECT_EQ(one.to_vector(), std::vector<double>(4, 1.0));
  Tensor sq = zeros({4, 1, 3});
  sq.squeeze(1).permute({1, 0}).copy_(ones({3, 4}));
  EXPECT_EQ(sq.sum().item(), 12.0);
}

// ---- variants found by an adversarial pass over the above ----

TEST(Sizes, ReductionsAndSelectionsOfHugeViewsNameTheCall) {
  const int64_t big = int64_t(1) << 40;
  const Tensor v = scalar(1).broadcast_to({big, 2});
  expect_error<MemoryError>([&] { v.sum({1}); }, {"sum", "(1099511627776,1)"});
  expect_error<MemoryError>([&] { v.max({1}); }, {"max", "(1099511627776,1)"});
  expect_error<MemoryError>([&] { v.argmax(1); }, {"argmax", "(1099511627776,)"});
  expect_error<MemoryError>(
      [&] { where(scalar(1, DType::boolean).broadcast_to({big}), scalar(1), scalar(2)); },
      {"where", "(1099511627776,)"});
}

TEST(Printing, EmptyTensorsWithHugeAxesPrintTheirShapeOnly) {
  for (Shape s : {Shape{0, int64_t(1) << 40}, Shape{int64_t(1) << 40, 0},
                  Shape{0, int64_t(1) << 62, int64_t(1) << 62}, Shape{int64_t(1) << 24, 0}}) {
    std::ostringstream os;
    os << zeros(s);
    EXPECT_EQ(os.str(), "tensor([], shape=" + shape_str(s) + ", dtype=f32)");
  }
  std::ostringstream os;
  os << zeros({0});
  EXPECT_EQ(os.str(), "tensor([], dtype=f32)");
}

TEST(Numerics, Float32SumsDoNotStallPastTwoToThe24) {
  EXPECT_EQ(ones({(int64_t(1) << 25) + 8}).sum().item(), double((int64_t(1) << 25) + 8));
  EXPECT_EQ(scalar(1).broadcast_to({int64_t(1) << 26}).mean().item(), 1.0);
  const Tensor rows = scalar(1).broadcast_to({2, int64_t(1) << 26}).sum({1});
  EXPECT_EQ(rows.to_vector(), std::vector<double>(2, double(int64_t(1) << 26)));
  const Tensor strided = scalar(1).broadcast_to({int64_t(1) << 25, 3}).T().sum({1});
  EXPECT_EQ(strided.to_vector(), std::vector<double>(3, double(int64_t(1) << 25)));
}

TEST(Numerics, IntegerDividedByAFloatingScalarRoundsOnce) {
  for (int64_t n : {int64_t(4), int64_t(1) << 20}) {  // eager and large
    const Tensor a = full({n}, 33554435.0, DType::i64);
    const std::vector<double> by_int = (a / 7).to_vector(), by_double = (a / 7.0).to_vector();
    EXPECT_EQ(by_int[0], double(float(33554435.0 / 7)));
    EXPECT_EQ(by_double, by_int);
    EXPECT_EQ((a / 7.0).dtype(), DType::f32);
    EXPECT_EQ((7.0 / a).to_vector()[0], double(float(7.0 / 33554435.0)));
  }
}

TEST(Numerics, SoftmaxOverAnEmptyAxisIsEmpty) {
  for (int64_t axis : {0, 1, -1}) {
    const Tensor x = zeros({3, 0}).requires_grad_();
    EXPECT_EQ(nn::softmax(x, axis).shape(), Shape({3, 0}));
    EXPECT_EQ(nn::log_softmax(x, axis).shape(), Shape({3, 0}));
  }
}

TEST(Numerics, MaxAndMinOfBoolTensorsAreBool) {
  const Tensor b = tensor({1, 0, 1, 1}, {2, 2}, DType::boolean);
  EXPECT_EQ(b.max().dtype(), DType::boolean);
  EXPECT_EQ(b.min({1}).dtype(), DType::boolean);
  EXPECT_EQ(b.min({1}).to_vector(), std::vector<double>({0, 1}));
}

TEST(Kernels, AnOpWithoutAKernelForItsDTypeIsAnErrorNotAnUnwrittenResult) {
  // The ops check dtypes before they reach a kernel; a kernel asked for a combination it does
  // not have (a missing case) says so instead of leaving the output as it was.
  Tensor in = arange(4, DType::i64), out = full({4}, 7.0, DType::i64);
  const int64_t one = 1;
  const Dims shape{4};
  const kernels::Operand o{out.impl()->data(), &one, DType::i64};
  const kernels::Operand i{in.impl()->data(), &one, DType::i64};
  expect_error<DTypeError>([&] { kernels::unary(kernels::UnaryOp::exp, shape, o, i); },
                           {"no unary kernel", "i64"});
  Tensor flags = tensor({1, 0, 1, 0}, {4}, DType::boolean);
  const kernels::Operand fb{flags.impl()->data(), &one, DType::boolean};
  expect_error<DTypeError>([&] { kernels::binary(kernels::BinaryOp::add, shape, fb, fb, fb); },
                           {"no binary kernel", "bool"});
  expect_error<DTypeError>([&] { kernels::unary(kernels::UnaryOp::neg, shape, fb, fb); },
                           {"no unary kernel", "bool"});
  EXPECT_EQ(out.to_vector(), std::vector<double>(4, 7.0));
}
