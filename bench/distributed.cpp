// ndgrad::distributed's benchmark (W11), run under mpirun (bench/distributed.sh runs 1, 2 and
// 3 ranks and prints the ratios; bench/NOTES.md, docs/DISTRIBUTED.md):
//   allreduce  ndgrad::distributed::all_reduce of a 64 MB float32 tensor against MPI_Allreduce
//              (MPI_IN_PLACE) on the same buffer, interleaved, medians; then all_reduce at
//              several sizes, for the cost model's latency and bandwidth.
//   w11        training throughput of the MLP 784-256-128-10 (SGD momentum 0.9, per-rank batch
//              --batch, synthetic random data, 1 ndgrad thread per rank) through
//              DistributedDataParallel with default options: samples/s of the whole job.
//   overlap    W2's (batch 64) and W7's (batch 128) model: backward alone, the blocking
//              all_reduce of the gradients' bytes, backward with DDP; the fraction of the
//              all-reduce that DDP hides, with the default buckets and with a 0.25 MB first
//              bucket.
// Every rank runs the same sequence; timings are rank 0's, each piece started after a barrier.
#include "ndgrad/distributed.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ndgrad/ndgrad.hpp"

namespace nd = ndgrad;
namespace dist = ndgrad::distributed;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int g_rank = 0, g_world = 1;

template <class... A>
void say(const char* fmt, A... a) {
  if (g_rank == 0) {
    std::printf(fmt, a...);
    std::fflush(stdout);
  }
}

std::shared_ptr<nd::nn::Sequential> mlp() {
  return std::make_shared<nd::nn::Sequential>(nd::nn::Linear(784, 256, 1), nd::nn::ReLU(),
                                              nd::nn::Linear(256, 128, 2), nd::nn::ReLU(),
                                              nd::nn::Linear(128, 10, 3));
}

// Synthetic data: a few batches per rank, different on every rank, used in turn.
struct Batches {
  std::vector<nd::Tensor> x, y;
  Batches(int64_t batch, int count) {
    for (int i = 0; i < count; ++i) {
      const uint64_t seed = 1000 + 100 * uint64_t(g_rank) + uint64_t(i);
      x.push_back(nd::randn({batch, 784}, seed));
      y.push_back((nd::rand({batch}, seed + 50, nd::DType::f64) * 10.0).to(nd::DType::i64));
    }
  }
  size_t size() const { return x.size(); }
};

// ---- a: all_reduce against MPI_Allreduce ----
void bench_allreduce(int reps) {
  const int64_t n = int64_t(16) << 20;  // 64 MB of float32
  const double bytes = double(n) * 4;
  nd::Tensor t = nd::rand({n}, 7 + uint64_t(g_rank));
  float* p = t.data_ptr<float>();
  std::vector<double> ours, theirs;
  for (int r = 0; r < reps + 1; ++r) {  // the first pair is warm-up
    for (int side = 0; side < 2; ++side) {
      const bool mine = (r + side) % 2 == 0;  // alternate which goes first
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      if (mine)
        dist::all_reduce(t);
      else
        MPI_Allreduce(MPI_IN_PLACE, p, int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      const double dt = now() - t0;
      if (r > 0) (mine ? ours : theirs).push_back(dt);
    }
    // Keep the values finite: the sums double at each call.
    for (int64_t i = 0; i < n; ++i) p[i] = 0.5f;
  }
  const double a = median(ours), b = median(theirs);
  say("allreduce 64 MB float32, %d ranks, %d reps: ndgrad %.2f ms (%.2f GB/s), MPI_Allreduce %.2f "
      "ms (%.2f GB/s), ratio %.3f\n",
      g_world, reps, a * 1e3, bytes / a / 1e9, b * 1e3, bytes / b / 1e9, b / a);

  // Sizes for the cost model: t(bytes) = latency term + bytes / bandwidth.
  say("allreduce sizes (ndgrad all_reduce, median of %d):\n", reps);
  std::vector<double> xs, ys;
  for (int64_t elems : {int64_t(1), int64_t(1) << 10, int64_t(1) << 14, int64_t(1) << 16,
                        int64_t(1) << 18, int64_t(1) << 20, int64_t(1) << 22}) {
    nd::Tensor s = nd::full({elems}, 0.5);
    float* q = s.data_ptr<float>();
    std::vector<double> v;
    // Small sizes: 100 calls back to back after a barrier (a barrier's skew is tens of us here),
    // the mean of each such loop; larger ones one call after a barrier.
    const int calls = elems <= (1 << 16) ? 100 : 1;
    for (int r = 0; r < reps * 2 + 2; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      for (int c = 0; c < calls; ++c) dist::all_reduce(s);
      if (r >= 2) v.push_back((now() - t0) / calls);
      std::fill(q, q + elems, 0.5f);
    }
    const double m = median(v);
    say("  %10lld bytes: %9.1f us, %7.3f GB/s\n", (long long)(elems * 4), m * 1e6,
        double(elems * 4) / m / 1e9);
    xs.push_back(double(elems * 4));
    ys.push_back(m);
  }
  // What DDP sends: one non-blocking MPI_Iallreduce per bucket, waited for. Against the blocking
  // call on the MLP's 940,584 gradient bytes (and DDP's 6 flags), alternated.
  {
    const int elems = 235146 + 6;
    std::vector<float> buf(size_t(elems), 0.5f);
    std::vector<double> blocking, nonblocking;
    for (int r = 0; r < 402; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      if (r % 2) {
        MPI_Request q;
        MPI_Iallreduce(MPI_IN_PLACE, buf.data(), elems, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q);
        MPI_Wait(&q, MPI_STATUS_IGNORE);
      } else {
        MPI_Allreduce(MPI_IN_PLACE, buf.data(), elems, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }
      if (r >= 2) (r % 2 ? nonblocking : blocking).push_back(now() - t0);
      if (r % 8 == 0) std::fill(buf.begin(), buf.end(), 0.5f);
    }
    say("  the MLP's gradients (%d floats): MPI_Allreduce %.1f us, MPI_Iallreduce + MPI_Wait %.1f "
        "us\n",
        elems, median(blocking) * 1e6, median(nonblocking) * 1e6);
  }
  // The cost model's inputs (docs/DISTRIBUTED.md): t = 2 (N-1) latency + 2 (N-1)/N bytes / bw.
  // The latency from the 4-byte call, the bandwidth from the 1 MB call (the MLP's gradients are
  // 0.94 MB) less that latency term.
  const double n1 = 2.0 * (g_world - 1), lat = ys[0] / n1;
  const double bw = (n1 / g_world) * xs[5] / (ys[5] - ys[0]);
  say("  model inputs: latency %.1f us per step of the ring, bandwidth %.3f GB/s (from the 4 B "
      "and 1 MB calls)\n",
      lat * 1e6, bw / 1e9);
  say("MODEL_LATENCY_US %.2f\nMODEL_BANDWIDTH_GBS %.4f\n", lat * 1e6, bw / 1e9);
}

// ---- b: W11, training throughput through DDP ----
void bench_w11(int64_t batch, int steps, bool plain) {
  Batches data(batch, 8);
  if (plain) {  // the same steps without DDP (no communication): each rank's compute alone
    auto model = mlp();
    nd::optim::SGD opt(model->parameters(), 0.01, 0.9);
    for (int s = 0; s < 10; ++s) {
      opt.zero_grad();
      nd::nn::cross_entropy((*model)(data.x[0]), data.y[0]).backward();
      opt.step();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = now();
    for (int s = 0; s < steps; ++s) {
      const size_t i = size_t(s) % data.size();
      opt.zero_grad();
      nd::nn::cross_entropy((*model)(data.x[i]), data.y[i]).backward();
      opt.step();
    }
    const double local = now() - t0;
    double slowest = 0;
    MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    say("w11 plain (no DDP, no communication), %d ranks, batch %lld: %.1f us/step on the slowest "
        "rank, %.0f samples/s for the job\n",
        g_world, (long long)batch, slowest / steps * 1e6,
        double(batch) * g_world * steps / slowest);
  }
  auto model = mlp();
  dist::DistributedDataParallel ddp(model);
  nd::optim::SGD opt(ddp.parameters(), 0.01, 0.9);
  for (int s = 0; s < 10; ++s) {
    opt.zero_grad();
    nd::nn::cross_entropy(ddp(data.x[0]), data.y[0]).backward();
    opt.step();
  }
  ddp.reset_stats();
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = now();
  double loss = 0;
  for (int s = 0; s < steps; ++s) {
    const size_t i = size_t(s) % data.size();
    opt.zero_grad();
    nd::Tensor l = nd::nn::cross_entropy(ddp(data.x[i]), data.y[i]);
    l.backward();
    opt.step();
    if (s == steps - 1) loss = l.item();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const double dt = now() - t0;
  const dist::DDPStats st = ddp.stats();
  // One rank reduces nothing (DDP registers no hooks): per-step figures of 0, not 0 / 0.
  const double reduced_steps = double(std::max<int64_t>(st.steps, 1));
  say("w11 ddp, %d ranks, batch %lld per rank, %d steps, synthetic data, 1 thread per rank: "
      "%.1f us/step, %.0f samples/s\n",
      g_world, (long long)batch, steps, dt / steps * 1e6, double(batch) * g_world * steps / dt);
  say("  rank 0: %lld buckets, %.0f KB a step, wait %.1f us/step, reduce %.1f us/step, last "
      "loss %.4f\n",
      (long long)st.buckets, double(st.bytes) / reduced_steps / 1024,
      st.wait_seconds / reduced_steps * 1e6, st.reduce_seconds / reduced_steps * 1e6, loss);
  // Parsed by bench/distributed.sh.
  say("W11_SAMPLES_PER_S %.1f\nW11_US_PER_STEP %.2f\nW11_BYTES_PER_STEP %.0f\n",
      double(batch) * g_world * steps / dt, dt / steps * 1e6, double(st.bytes) / reduced_steps);
}

// ---- c: overlap ----
void bench_overlap(int64_t batch, int reps, double first_cap_mb, bool progress_thread) {
  Batches data(batch, 1);
  auto plain = mlp();
  auto wrapped = mlp();
  dist::DDPOptions o;
  if (first_cap_mb > 0) o.first_bucket_cap_mb = first_cap_mb;
  o.progress_thread = progress_thread;
  dist::DistributedDataParallel ddp(wrapped, o);
  const auto names = ddp.bucket_names();
  // The blocking reductions of the same bytes: one flat tensor, and one per bucket (DDP's
  // buffers also carry one flag per parameter).
  int64_t total = 0;
  std::vector<nd::Tensor> per_bucket;
  {
    auto named = wrapped->named_parameters();
    size_t k = named.size();
    for (const auto& b : names) {
      int64_t n = 0;
      for (size_t j = 0; j < b.size(); ++j) n += named[--k].second.numel();
      total += n;
      per_bucket.push_back(nd::zeros({n + int64_t(b.size())}));
    }
  }
  nd::Tensor flat = nd::zeros({total});
  std::vector<double> t_plain, t_ddp, t_flat, t_buckets;
  for (int r = 0; r < reps + 5; ++r) {
    const bool keep = r >= 5;
    {
      plain->zero_grad();
      nd::Tensor l = nd::nn::cross_entropy((*plain)(data.x[0]), data.y[0]);
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      l.backward();
      if (keep) t_plain.push_back(now() - t0);
    }
    {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      dist::all_reduce(flat);
      if (keep) t_flat.push_back(now() - t0);
      MPI_Barrier(MPI_COMM_WORLD);
      const double t1 = now();
      for (nd::Tensor& b : per_bucket) dist::all_reduce(b);
      if (keep) t_buckets.push_back(now() - t1);
    }
    {
      wrapped->zero_grad();
      nd::Tensor l = nd::nn::cross_entropy(ddp(data.x[0]), data.y[0]);
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = now();
      l.backward();
      if (keep) t_ddp.push_back(now() - t0);
    }
  }
  const double i = median(t_plain), ii = median(t_flat), iib = median(t_buckets),
               iii = median(t_ddp);
  auto hidden = [&](double comm) { return std::clamp(1 - (iii - i) / comm, 0.0, 1.0); };
  std::string bucket_text;
  for (const auto& b : names) {
    bucket_text += " [";
    for (size_t j = 0; j < b.size(); ++j) bucket_text += (j ? " " : "") + b[j];
    bucket_text += "]";
  }
  say("overlap batch %lld, %d ranks, first_bucket_cap_mb %.2f, progress thread %s, %zu "
      "bucket(s):%s\n",
      (long long)batch, g_world, o.first_bucket_cap_mb, o.progress_thread ? "on" : "off",
      names.size(), bucket_text.c_str());
  say("  (i) backward alone %.1f us, (ii) all_reduce of %lld floats %.1f us (per bucket %.1f "
      "us), (iii) backward with DDP %.1f us: hidden %.2f (per-bucket baseline %.2f)\n",
      i * 1e6, (long long)total, ii * 1e6, iib * 1e6, iii * 1e6, hidden(ii), hidden(iib));
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(&argc, &argv);
  g_rank = env.rank();
  g_world = env.world_size();
  nd::set_num_threads(1);
  std::string only;
  int64_t batch = 128;
  int steps = 300, reps = 9;
  bool plain = false;
  for (int a = 1; a < argc; ++a) {
    const std::string s = argv[a];
    if (s == "--only" && a + 1 < argc)
      only = argv[++a];
    else if (s == "--batch" && a + 1 < argc)
      batch = std::atoll(argv[++a]);
    else if (s == "--steps" && a + 1 < argc)
      steps = std::atoi(argv[++a]);
    else if (s == "--reps" && a + 1 < argc)
      reps = std::atoi(argv[++a]);
    else if (s == "--plain")
      plain = true;
    else {
      say("usage: mpirun -np N bench_distributed [--only allreduce|w11|overlap] [--batch 128] "
          "[--steps 300] [--reps 9] [--plain]\n");
      return 2;
    }
  }
  auto want = [&](const char* w) { return only.empty() || only == w; };
  say("bench_distributed: %d rank(s) on %s; 1 ndgrad thread per rank\n", g_world,
      env.processor_name().c_str());
  if (want("allreduce")) {
    if (g_world > 1)
      bench_allreduce(reps);
    else
      say("allreduce: skipped with 1 rank (nothing to reduce)\n");
  }
  if (want("w11")) bench_w11(batch, steps, plain);
  if (want("overlap")) {
    if (g_world > 1) {
      for (int64_t b : {int64_t(64), int64_t(128)}) {
        bench_overlap(b, reps * 20, 0, false);
        bench_overlap(b, reps * 20, 0.25, false);
        bench_overlap(b, reps * 20, 0.25, true);
      }
    } else {
      say("overlap: skipped with 1 rank\n");
    }
  }
  return 0;
}
