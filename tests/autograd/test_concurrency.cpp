// Several threads at once: independent graphs give the sequential results, and the per-thread
// switches (NoGradGuard, strict broadcasting) stay on their own thread. Built into its own
// binary so the ThreadSanitizer build (make test-tsan) runs exactly these.
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

#if defined(__linux__)
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#endif

#include "core/thread_pool.hpp"
#include "test_util.hpp"

using namespace ndgrad;
using namespace ndgrad::testing;

namespace {

// A small training job: forward, backward and SGD steps on a graph of its own.
std::vector<double> job(uint64_t seed) {
  nn::Sequential model(nn::Linear(8, 16, seed), nn::Tanh(), nn::Linear(16, 4, seed + 1));
  optim::SGD opt(model.parameters(), 0.05, 0.9);
  Tensor x = randn({32, 8}, seed + 2, DType::f32);
  Tensor y = (rand({32}, seed + 3, DType::f64) * 4.0).to(DType::i64);  // labels in [0, 4)
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = nn::cross_entropy(model(x), y) + (model(x) * model(x)).mean() * 0.01;
    loss.backward();
    opt.step();
  }
  std::vector<double> out;
  for (auto& p : model.parameters()) {
    auto v = p.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  // Second derivatives too.
  Tensor z = randn({5}, seed, DType::f64).requires_grad_();
  Tensor g = grad((tanh(z) * z).sum(), {z}, Tensor(), true)[0];
  auto gg = grad(g.sum(), {z})[0].to_vector();
  out.insert(out.end(), gg.begin(), gg.end());
  return out;
}

}  // namespace

TEST(Concurrency, IndependentGraphsOnThreadsMatchSequentialResults) {
  const int kThreads = 4;
  std::vector<std::vector<double>> sequential, parallel(kThreads);
  for (int t = 0; t < kThreads; ++t) sequential.push_back(job(100 * t));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { parallel[t] = job(100 * t); });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(sequential[t], parallel[t]) << "thread " << t;
}

TEST(Concurrency, TrainingWhileAForeignThreadCopiesAndDropsTheSameHandles) {
  // The thread that builds the graphs owns its tensors' reference counts; a foreign thread
  // copies and drops handles to the same tensors (a monitor, a logger) and reads them, all
  // the while. Nothing may be freed early or twice, and the results must be the sequential ones.
  const std::vector<double> expected = job(7);  // parameters first, then second derivatives
  nn::Sequential model(nn::Linear(8, 16, 7), nn::Tanh(), nn::Linear(16, 4, 8));
  optim::SGD opt(model.parameters(), 0.05, 0.9);
  const Tensor x = randn({32, 8}, 9, DType::f32);
  const Tensor y = (rand({32}, 10, DType::f64) * 4.0).to(DType::i64);
  std::atomic<bool> done{false};
  std::atomic<int64_t> seen{0};
  const std::vector<Tensor> params = model.parameters();
  std::thread monitor([&] {
    while (!done.load()) {
      for (const Tensor& p : params) {
        Tensor copy = p;         // a handle the training thread owns, copied here
        Tensor view = copy.T();  // and a view of it made here
        seen += copy.numel() + view.numel() + static_cast<int64_t>(x.sum().item() != 0);
      }
    }
  });
  while (seen.load() == 0) std::this_thread::yield();  // the monitor is running
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = nn::cross_entropy(model(x), y) + (model(x) * model(x)).mean() * 0.01;
    loss.backward();
    opt.step();
  }
  done = true;
  monitor.join();
  std::vector<double> got;
  for (auto& p : model.parameters()) {
    auto v = p.to_vector();
    got.insert(got.end(), v.begin(), v.end());
  }
  got.resize(std::min(got.size(), expected.size()));
  EXPECT_EQ(got, std::vector<double>(expected.begin(), expected.begin() + got.size()));
}

TEST(Concurrency, SharedReadOnlyInputsAcrossThreads) {
  // Several threads read one tensor (and views of it) while building their own graphs.
  const Tensor shared = randn({64, 32}, 1, DType::f64);
  const Tensor expected = tanh(matmul(shared, shared.T())).sum({1});
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        Tensor w = shared.detach().requires_grad_();
        Tensor r = tanh(matmul(w, shared.T())).sum({1});
        r.sum().backward();
        if (r.to_vector() != expected.to_vector()) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, GradModeAndStrictnessArePerThread) {
  std::atomic<bool> other_saw_no_grad{false}, other_saw_strict{false}, other_records{false};
  Tensor x = randn({3}, 1).requires_grad_();
  {
    NoGradGuard no_grad;
    StrictBroadcastGuard strict;
    std::thread t([&] {
      other_saw_no_grad = !is_grad_enabled();
      other_saw_strict = strict_broadcast_level() != StrictBroadcast::off;
      other_records = (x * 2.0).requires_grad();
      EXPECT_NO_THROW(ones({3, 1}) + ones({4}));
    });
    t.join();
    EXPECT_FALSE((x * 2.0).requires_grad());
    EXPECT_THROW(ones({3, 1}) + ones({4}), ShapeError);
  }
  EXPECT_FALSE(other_saw_no_grad.load());
  EXPECT_FALSE(other_saw_strict.load());
  EXPECT_TRUE(other_records.load());
}

// Strict mode's message names the call site from the debug information, which threads read
// through one shared state, first use included.
TEST(Concurrency, StrictCallSitesNamedFromSeveralThreads) {
  std::atomic<int> named{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      StrictBroadcastGuard strict;
      for (int i = 0; i < 3; ++i) try {
          (void)(ones({3, 1}) + ones({4}));
        } catch (const ShapeError& e) {
          if (std::string(e.what()).find("test_concurrency.cpp:") != std::string::npos) ++named;
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(named.load(), 12);
}

TEST(Concurrency, GraphsBuiltOnOneThreadAndFreedOnAnother) {
  std::vector<Tensor> outputs;
  for (int i = 0; i < 8; ++i) {
    Tensor x = randn({4}, i).requires_grad_();
    Tensor y = x;
    for (int k = 0; k < 1000; ++k) y = tanh(y) * 0.9 + x;
    outputs.push_back(y);
  }
  std::thread t([&] {
    for (auto& y : outputs) y.sum().backward();
    outputs.clear();  // the graphs are torn down here, on this thread
  });
  t.join();
  EXPECT_TRUE(outputs.empty());
}

TEST(Concurrency, PendingLargeResultsUsedFromSeveralThreads) {
  // Large elementwise results are computed on first use (exec/lazy.hpp): several threads use
  // the same pending results at once, build new ones from a shared input, and free them.
  const Tensor x = randn({1024, 1100}, 5), b = randn({1100}, 6);
  const Tensor expected = ((x + b) * x).to(DType::f64).sum();
  const Tensor pending = (x + b) * x;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      const Tensor own = (x + b) * x;  // pending, reading x like the shared one
      const Tensor view = t % 2 ? pending.transpose(0, 1) : pending;
      if (view.to(DType::f64).sum().item() != expected.item()) ++mismatches;
      if (own.to(DType::f64).sum().item() != expected.item()) ++mismatches;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

namespace {

// Runs `jobs` parallel jobs of 1-9 tasks, each task `work` additions long; returns the number
// of tasks that did not run exactly once.
int run_jobs(int jobs, int work = 0) {
  int failures = 0;
  for (int j = 0; j < jobs; ++j) {
    const int64_t tasks = 1 + j % 9;
    std::vector<std::atomic<int>> runs(tasks);
    parallel_for(tasks, [&](int64_t t) {
      volatile double x = 0;
      for (int i = 0; i < work; ++i) x = x + i;
      runs[t].fetch_add(1);
    });
    for (auto& r : runs) failures += r.load() != 1;
  }
  return failures;
}

}  // namespace

// The thread pool: back-to-back jobs (the workers still polling), jobs several user threads
// submit at once (one gets the pool, the others run their tasks themselves), and a task's
// exception reaching its caller. Every task of every job runs exactly once.
TEST(Concurrency, PoolRunsEveryTaskOnceUnderBackToBackAndConcurrentJobs) {
  const int before = get_num_threads();
  set_num_threads(2);
  std::atomic<int> failures{run_jobs(2000)};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back([&] { failures.fetch_add(run_jobs(500)); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_THROW(parallel_for(4,
                            [](int64_t t) {
                              if (t == 3) throw ValueError("task 3");
                            }),
               ValueError);
  failures.fetch_add(run_jobs(10));  // the pool still works after a failed job
  EXPECT_EQ(failures.load(), 0);
  set_num_threads(before);
}

#if defined(__linux__)
namespace {

// The pool's worker threads (named "ndgrad-worker"), by thread id.
std::vector<pid_t> pool_workers() {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return tids;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    if (std::getline(comm, name) && name == "ndgrad-worker") tids.push_back(std::stoi(e->d_name));
  }
  closedir(dir);
  return tids;
}

}  // namespace

// The pool's threads confined to one CPU (the worker cannot leave the caller's CPU, so it gives
// its time to the caller instead of polling): every task still runs once and the jobs finish.
TEST(Concurrency, PoolConfinedToOneCpuRunsEveryTaskOnce) {
  const int before = get_num_threads();
  cpu_set_t full, one;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof full, &full), 0);
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
  // A new pool (its size differs from the current one), its workers started from this thread:
  // on its CPU only.
  set_num_threads(before + 1);
  EXPECT_EQ(run_jobs(2000, 200), 0);
  EXPECT_GE(pool_workers().size(), size_t(before));  // a joined pool's may linger a moment
  // The full set back before the next pool starts (at the next parallel job), so that its
  // workers inherit it.
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof full, &full), 0);
  set_num_threads(before);
}

// A thread on the caller's CPU leaves out that CPU alone from its set and moves; it keeps its
// set when it is elsewhere or has nowhere else to go; release() gives the set back.
TEST(Concurrency, WorkerPlacementLeavesTheCallersCpuAndRestoresItsSet) {
  cpu_set_t full;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof full, &full), 0);
  if (CPU_COUNT(&full) < 2) GTEST_SKIP() << "needs two CPUs";
  std::thread([&] {
    auto own_set = [] {
      cpu_set_t s;
      EXPECT_EQ(pthread_getaffinity_np(pthread_self(), sizeof s, &s), 0);
      return s;
    };
    WorkerPlacement place;
    int caller = -1;
    cpu_set_t now = full;
    // The CPU read here is the one avoid() sees unless the thread migrates in between: retry.
    for (int i = 0; i < 1000 && CPU_EQUAL(&now, &full); ++i) {
      caller = sched_getcpu();
      place.avoid(caller);
      now = own_set();
    }
    cpu_set_t expected = full;
    CPU_CLR(caller, &expected);
    EXPECT_TRUE(CPU_EQUAL(&now, &expected));
    EXPECT_NE(sched_getcpu(), caller);
    place.avoid(caller);  // elsewhere now: nothing changes
    now = own_set();
    EXPECT_TRUE(CPU_EQUAL(&now, &expected));
    place.release();
    now = own_set();
    EXPECT_TRUE(CPU_EQUAL(&now, &full));
    // Held to one CPU by the program: it stays there (and yields instead).
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
    const int here = sched_getcpu();
    WorkerPlacement confined;
    confined.avoid(here);
    now = own_set();
    EXPECT_TRUE(CPU_EQUAL(&now, &one));
    EXPECT_EQ(sched_getcpu(), here);
    confined.release();
    now = own_set();
    EXPECT_TRUE(CPU_EQUAL(&now, &one));
  }).join();
}

// With the caller held to one CPU, a worker may narrow its own CPU set while jobs run, but only
// by the caller's CPU, and it has its set back once the pool is idle (asleep).
TEST(Concurrency, PoolWorkerNarrowsItsCpuSetOnlyByTheCallersAndRestoresIt) {
  const int before = get_num_threads();
  cpu_set_t full;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof full, &full), 0);
  if (CPU_COUNT(&full) < 2) GTEST_SKIP() << "needs two CPUs";
  set_num_threads(2);
  run_jobs(10, 200);
  std::vector<pid_t> workers = pool_workers();
  // A joined pool's threads may still be listed for a moment.
  for (int i = 0; i < 1000 && workers.size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    workers = pool_workers();
  }
  ASSERT_EQ(workers.size(), 1u);
  const int cpu = sched_getcpu();
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
  int failures = 0, wrong_sets = 0;
  for (int round = 0; round < 200; ++round) {
    failures += run_jobs(20, 200);
    cpu_set_t now;
    ASSERT_EQ(sched_getaffinity(workers[0], sizeof now, &now), 0);
    cpu_set_t expected_or_narrowed = full;
    CPU_CLR(cpu, &expected_or_narrowed);
    wrong_sets += !CPU_EQUAL(&now, &full) && !CPU_EQUAL(&now, &expected_or_narrowed);
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(wrong_sets, 0);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof full, &full), 0);
  // Idle: the worker polls for 100 us, then sleeps.
  cpu_set_t after;
  bool restored = false;
  for (int i = 0; i < 100 && !restored; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(sched_getaffinity(workers[0], sizeof after, &after), 0);
    restored = CPU_EQUAL(&after, &full);
  }
  EXPECT_TRUE(restored);
  set_num_threads(before);
}
#endif

// Matrix products large enough to be split over the pool, from several threads at once, equal
// the same products computed alone.
TEST(Concurrency, SplitMatrixProductsFromSeveralThreads) {
  const int before = get_num_threads();
  set_num_threads(2);
  std::vector<Tensor> a, b, expected;
  for (int t = 0; t < 3; ++t) {
    a.push_back(randn({96, 200}, 10 + t, DType::f32));
    b.push_back(randn({200, 150}, 20 + t, DType::f32));
    expected.push_back(matmul(a[t], b[t]));
  }
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep)
        if (matmul(a[t], b[t]).to_vector() != expected[t].to_vector()) mismatches.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  set_num_threads(before);
}

// Backward passes on several threads accumulate into the same leaves (shared parameters, as in
// data-parallel training on one machine): each leaf's .grad ends as the sum of every thread's
// gradients, for small parameters and for large ones whose gradients are pending (lazy) and
// summed down from a broadcast, while other threads read .grad and zero_grad runs between
// rounds.
TEST(Concurrency, BackwardFromSeveralThreadsAccumulatesIntoSharedLeaves) {
  const int kThreads = 4, kRounds = 3;
  Tensor w = randn({8, 6}, 1, DType::f64).requires_grad_(),
         c = randn({6}, 2, DType::f64).requires_grad_();
  Tensor big = randn({1024, 1100}, 3).requires_grad_(), b = randn({1100}, 4).requires_grad_();
  std::vector<Tensor> xs;
  for (int t = 0; t < kThreads; ++t) xs.push_back(randn({5, 8}, 10 + t, DType::f64));
  auto small_loss = [&](int t) { return tanh(matmul(xs[t], w) + c).sum(); };
  auto big_loss = [&](int t) { return ((big + b) * (big + b) * (0.5 + 0.25 * t)).sum(); };
  // Expected: the sum over threads of each thread's gradients, computed one at a time.
  std::vector<double> expect_w(48, 0.0), expect_c(6, 0.0), expect_b(1100, 0.0), expect_big;
  for (int t = 0; t < kThreads; ++t) {
    const auto gs = grad(small_loss(t), {w, c});
    const auto gb = grad(big_loss(t), {big, b});
    const auto vw = gs[0].to_vector(), vc = gs[1].to_vector(), vbig = gb[0].to_vector(),
               vb = gb[1].to_vector();
    for (size_t i = 0; i < vw.size(); ++i) expect_w[i] += vw[i];
    for (size_t i = 0; i < vc.size(); ++i) expect_c[i] += vc[i];
    for (size_t i = 0; i < vb.size(); ++i) expect_b[i] += vb[i];
    if (expect_big.empty()) expect_big.assign(vbig.size(), 0.0);
    for (size_t i = 0; i < vbig.size(); ++i) expect_big[i] += vbig[i];
  }
  auto worst = [](const Tensor& got, const std::vector<double>& want) {
    const auto g = got.to_vector();
    double m = 0;
    for (size_t i = 0; i < g.size(); ++i)
      m = std::max(m, std::fabs(g[i] - want[i]) / (1.0 + std::fabs(want[i])));
    return g.size() == want.size() ? m : 1e9;
  };
  for (int round = 0; round < kRounds; ++round) {
    for (Tensor* p : {&w, &c, &big, &b}) p->zero_grad();
    std::atomic<bool> done{false};
    std::thread reader([&] {  // reads the gradients while they are being accumulated
      while (!done.load()) {
        const Tensor g = w.grad();
        if (g.defined()) {
          EXPECT_EQ(g.shape(), (Shape{8, 6}));
        }
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        small_loss(t).backward();
        big_loss(t).backward();
      });
    for (auto& th : threads) th.join();
    done = true;
    reader.join();
    EXPECT_LT(worst(w.grad(), expect_w), 1e-12) << "round " << round;
    EXPECT_LT(worst(c.grad(), expect_c), 1e-12) << "round " << round;
    EXPECT_LT(worst(b.grad(), expect_b), 1e-4) << "round " << round;  // float32 sums
    EXPECT_LT(worst(big.grad(), expect_big), 1e-5) << "round " << round;
  }
}

TEST(Concurrency, SetNumThreadsWhileAnotherThreadRunsParallelOps) {
  const int before = get_num_threads();
  const Tensor big = ones({int64_t(1) << 21}, DType::f64);
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread worker([&] {
    for (int i = 0; i < 200; ++i)
      if ((big * 2.0).sum().item() != double(int64_t(1) << 22)) ++wrong;
    done = true;
  });
  for (int n = 0; !done; n = (n + 1) % 3) set_num_threads(n + 1);  // replaces the pool each time
  worker.join();
  set_num_threads(before);
  EXPECT_EQ(wrong.load(), 0);
}
