// DistributedDataParallel: gradients averaged over the ranks in buckets, each sent (a
// non-blocking all-reduce) from the post-accumulate hook that finishes it, all waited for by a
// callback at the end of the backward pass.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "distributed/mpi_util.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/distributed.hpp"

namespace ndgrad::distributed {

using detail::check_mpi;
using detail::require;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A hash of the names, shapes and dtypes of the parameters, to compare models across ranks.
int64_t model_signature(const std::vector<std::pair<std::string, Tensor>>& named) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  for (const auto& [name, t] : named) {
    for (char c : name) mix(uint64_t(uint8_t(c)));
    mix(uint64_t(t.dtype()));
    for (int64_t s : t.shape()) mix(uint64_t(s));
    mix(uint64_t(t.requires_grad()));
  }
  return int64_t(h >> 1);
}

}  // namespace

struct DistributedDataParallel::Impl {
  struct Bucket {
    std::vector<size_t> params;  // indices into Impl::params
    std::vector<int64_t> offsets;
    int64_t numel = 0;  // gradient elements; one flag a parameter follows them
    DType dtype = DType::f32;
    Tensor buffer;
    int pending = 0;
    bool launched = false, done = false;
    MPI_Request request = MPI_REQUEST_NULL;
    double sent_at = 0;
  };

  DDPOptions options;
  int world = 1;
  std::vector<Tensor> params;
  std::vector<std::string> names;
  std::vector<size_t> bucket_of;  // per parameter
  std::vector<size_t> slot_of;    // its position in its bucket
  std::vector<Bucket> buckets;
  std::vector<char> ready;
  size_t next = 0;  // the first bucket not yet sent
  bool in_step = false, sync = true;
  DDPStats stats;

  // The progress thread (DDPOptions::progress_thread) and the buckets in flight it serves.
  std::thread progress_thread;
  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  bool progress_stop = false;
  int in_flight = 0;

  ~Impl() {
    if (progress_thread.joinable()) {
      {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress_stop = true;
      }
      progress_cv.notify_one();
      progress_thread.join();
    }
    wait_all(false);
  }

  void start_progress_thread() {
    progress_thread = std::thread([this] {
      std::unique_lock<std::mutex> lock(progress_mutex);
      while (!progress_stop) {
        if (in_flight == 0) {
          progress_cv.wait(lock);
          continue;
        }
        lock.unlock();
        // Any MPI call runs MPI's progress engine, which advances every non-blocking
        // collective; a probe on this process's own communicator touches nothing else.
        int flag = 0;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_SELF, &flag, MPI_STATUS_IGNORE);
        std::this_thread::yield();
        lock.lock();
      }
    });
  }
  void set_in_flight(int n) {
    if (!progress_thread.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(progress_mutex);
      in_flight = n;
    }
    progress_cv.notify_one();
  }

  void build(const std::vector<std::pair<std::string, Tensor>>& named) {
    for (const auto& [name, t] : named) {
      if (!t.requires_grad()) continue;
      params.push_back(t);
      names.push_back(name);
    }
    bucket_of.assign(params.size(), 0);
    slot_of.assign(params.size(), 0);
    ready.assign(params.size(), 0);
    // Reverse registration order: the order backward finishes the gradients in.
    std::vector<long> open(kNumDTypes, -1);
    for (size_t k = params.size(); k-- > 0;) {
      const DType d = detail::reduction_dtype(params[k].dtype());
      long& b = open[size_t(d)];
      if (b >= 0) {
        const double cap = (size_t(b) == 0 ? options.first_bucket_cap_mb : options.bucket_cap_mb) *
                           1024.0 * 1024.0;
        const Bucket& cur = buckets[size_t(b)];
        if (double((cur.numel + params[k].numel()) * itemsize(d)) > cap) b = -1;
      }
      if (b < 0) {
        b = long(buckets.size());
        buckets.emplace_back();
        buckets.back().dtype = d;
      }
      Bucket& bucket = buckets[size_t(b)];
      bucket_of[k] = size_t(b);
      slot_of[k] = bucket.params.size();
      bucket.params.push_back(k);
      bucket.offsets.push_back(bucket.numel);
      bucket.numel += params[k].numel();
    }
    for (Bucket& b : buckets) {
      b.buffer = zeros({b.numel + int64_t(b.params.size())}, b.dtype);
      if (b.numel + int64_t(b.params.size()) > int64_t(std::numeric_limits<int>::max()))
        throw ValueError("DistributedDataParallel: a bucket of " + std::to_string(b.numel) +
                         " elements is more than one MPI call takes; lower bucket_cap_mb");
    }
  }

  void begin_step(const std::shared_ptr<Impl>& self) {
    in_step = true;
    next = 0;
    std::fill(ready.begin(), ready.end(), 0);
    for (Bucket& b : buckets) {
      b.pending = int(b.params.size());
      b.launched = b.done = false;
    }
    std::weak_ptr<Impl> weak = self;
    queue_callback([weak] {
      if (auto s = weak.lock()) s->finish();
    });
  }

  // A backward pass that failed after its first hook left its step open (its callback never
  // runs): the reductions it sent are waited for (every rank that failed alike sent the same)
  // and the step is dropped, so the next pass starts a step of its own.
  void abandon_step() {
    if (!in_step) return;
    wait_all(true);
    in_step = false;
  }

  // Parameter k's gradient is final: into its bucket; a bucket complete is sent (in order).
  void on_ready(size_t k, const std::shared_ptr<Impl>& self) {
    if (!sync) return;
    if (!in_step) begin_step(self);
    if (ready[k]) return;
    ready[k] = 1;
    Bucket& b = buckets[bucket_of[k]];
    const size_t j = slot_of[k];
    const Tensor g = params[k].grad();
    const Tensor src = (g.dtype() == b.dtype ? g : g.to(b.dtype)).contiguous();
    copy_in(b, j, src, true);
    if (--b.pending == 0)
      launch_ready(false);
    else
      progress();
  }

  // Parameter j of bucket b's gradient into the bucket (zeros when unused), and its flag.
  template <class T>
  void copy_in_as(Bucket& b, size_t j, const Tensor& src, bool used) {
    const int64_t n = params[b.params[j]].numel(), off = b.offsets[j];
    T* p = b.buffer.data_ptr<T>();
    if (used)
      std::memcpy(p + off, src.data_ptr<T>(), size_t(n) * sizeof(T));
    else
      std::fill(p + off, p + off + n, T(0));
    p[b.numel + int64_t(j)] = used ? T(1) : T(0);
  }
  void copy_in(Bucket& b, size_t j, const Tensor& src, bool used) {
    if (b.dtype == DType::f64)
      copy_in_as<double>(b, j, src, used);
    else
      copy_in_as<float>(b, j, src, used);
  }

  // The bucket's sums over the ranks, divided by their number, into the gradient g.
  template <class T>
  void average_into(const Bucket& b, int64_t off, int64_t n, const Tensor& g) const {
    const T* src = b.buffer.data_ptr<T>() + off;
    T* dst = g.data_ptr<T>();
    const T w = T(world);
    for (int64_t e = 0; e < n; ++e) dst[e] = src[e] / w;
  }

  // The last bucket is sent only at the end of backward (at_end), with the blocking call:
  // nothing is left to overlap it with, and OpenMPI's non-blocking schedule is slower.
  void launch_ready(bool at_end) {
    detail::State& s = require("DistributedDataParallel");
    if (buckets.empty()) return;
    const size_t limit = at_end ? buckets.size() : buckets.size() - 1;
    while (next < limit && buckets[next].pending == 0) {
      Bucket& b = buckets[next++];
      void* data = b.dtype == DType::f64 ? static_cast<void*>(b.buffer.data_ptr<double>())
                                         : static_cast<void*>(b.buffer.data_ptr<float>());
      if (at_end && next == buckets.size()) {
        wait_all(true);  // the earlier buckets first: the same order on every rank
        std::unique_ptr<detail::Watch> watch = std::make_unique<detail::Watch>(
            "DistributedDataParallel's gradient all_reduce", &b.buffer, "(last bucket)");
        std::unique_lock<std::mutex> lock = s.mpi_lock();
        const double t0 = now_seconds();
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, int(b.buffer.numel()),
                                detail::mpi_type(b.dtype), MPI_SUM, MPI_COMM_WORLD),
                  "DistributedDataParallel");
        b.launched = b.done = true;
        stats.reduce_seconds += now_seconds() - t0;
        ++stats.buckets;
        stats.bytes += b.numel * itemsize(b.dtype);
        continue;
      }
      std::unique_lock<std::mutex> lock = s.mpi_lock();
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, int(b.buffer.numel()), detail::mpi_type(b.dtype),
                               MPI_SUM, MPI_COMM_WORLD, &b.request),
                "DistributedDataParallel");
      b.launched = true;
      b.sent_at = now_seconds();
      set_in_flight(in_flight + 1);
      ++stats.buckets;
      stats.bytes += b.numel * itemsize(b.dtype);
    }
  }

  // Lets MPI advance the reductions in flight (progress happens inside MPI calls).
  void progress() {
    detail::State& s = require("DistributedDataParallel");
    for (size_t i = 0; i < next; ++i) {
      Bucket& b = buckets[i];
      if (!b.launched || b.done) continue;
      int flag = 0;
      std::unique_lock<std::mutex> lock = s.mpi_lock();
      check_mpi(MPI_Test(&b.request, &flag, MPI_STATUS_IGNORE), "DistributedDataParallel");
      if (flag) {
        b.done = true;
        stats.reduce_seconds += now_seconds() - b.sent_at;
      }
    }
  }

  void wait_all(bool watched) {
    if (!detail::state) return;
    detail::State& s = *detail::state;
    for (size_t i = 0; i < next && i < buckets.size(); ++i) {
      Bucket& b = buckets[i];
      if (!b.launched || b.done) continue;
      std::unique_ptr<detail::Watch> watch;
      if (watched)
        watch = std::make_unique<detail::Watch>("DistributedDataParallel's gradient all_reduce",
                                                &b.buffer,
                                                ("(bucket " + std::to_string(i) + ")").c_str());
      std::unique_lock<std::mutex> lock = s.mpi_lock();
      const int code = MPI_Wait(&b.request, MPI_STATUS_IGNORE);
      b.done = true;
      stats.reduce_seconds += now_seconds() - b.sent_at;
      if (watched) check_mpi(code, "DistributedDataParallel");
    }
    set_in_flight(0);
  }

  // The end of the backward pass: the buckets not complete (parameters without a gradient on
  // this rank count as zero) are sent, every reduction is waited for, and the averages go into
  // the gradients.
  void finish() {
    in_step = false;
    for (Bucket& b : buckets) {
      if (b.pending == 0) continue;
      for (size_t j = 0; j < b.params.size(); ++j)
        if (!ready[b.params[j]]) copy_in(b, j, Tensor(), false);
      b.pending = 0;
    }
    const double start = now_seconds();
    launch_ready(true);
    wait_all(true);
    stats.wait_seconds += now_seconds() - start;
    ++stats.steps;
    for (Bucket& b : buckets) {
      for (size_t j = 0; j < b.params.size(); ++j) {
        const Tensor& p = params[b.params[j]];
        const int64_t n = p.numel(), off = b.offsets[j];
        const double used = b.buffer.item({b.numel + int64_t(j)});
        if (!(used > 0)) continue;  // no rank gave it a gradient: .grad stays as it was
        Tensor g = p.grad();
        if (g.defined() && g.dtype() == b.dtype && g.is_contiguous()) {
          if (b.dtype == DType::f64)
            average_into<double>(b, off, n, g);
          else
            average_into<float>(b, off, n, g);
        } else {
          NoGradGuard no_grad;
          Tensor avg = b.buffer.slice(0, off, off + n).reshape(p.shape()) / double(world);
          p.set_grad(avg.dtype() == p.dtype() ? avg.contiguous() : avg.to(p.dtype()));
        }
      }
    }
  }
};

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 DDPOptions options)
    : module_(std::move(module)) {
  if (!module_) throw ValueError("DistributedDataParallel: the module is null");
  init(options);
}

DistributedDataParallel::DistributedDataParallel(nn::Module& module, DDPOptions options)
    : module_(std::shared_ptr<nn::Module>(&module, [](nn::Module*) {})) {
  init(options);
}

DistributedDataParallel::~DistributedDataParallel() = default;

void DistributedDataParallel::init(DDPOptions options) {
  detail::State& s = require("DistributedDataParallel");
  if (!(options.bucket_cap_mb > 0) || !(options.first_bucket_cap_mb > 0))
    throw ValueError("DistributedDataParallel: bucket caps must be positive, got " +
                     std::to_string(options.bucket_cap_mb) + " and " +
                     std::to_string(options.first_bucket_cap_mb) + " MB");
  register_module("module", module_);
  // Every rank must hold the same model: compared before anything is sent.
  const auto named = module_->named_parameters();
  {
    int64_t mine[2] = {int64_t(named.size()), model_signature(named)};
    std::vector<int64_t> all(size_t(2 * s.world));
    detail::Watch watch("DistributedDataParallel's model check", nullptr, nullptr);
    check_mpi(MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, MPI_COMM_WORLD),
              "DistributedDataParallel");
    for (int r = 1; r < s.world; ++r)
      if (all[size_t(2 * r)] != all[0] || all[size_t(2 * r + 1)] != all[1]) {
        std::string text =
            "DistributedDataParallel: the ranks' models differ (parameter names, shapes, dtypes "
            "or requires_grad):";
        for (int q = 0; q < s.world; ++q)
          text += std::string(q ? ";" : "") + " rank " + std::to_string(q) + " has " +
                  std::to_string(all[size_t(2 * q)]) + " parameters (signature " +
                  std::to_string(all[size_t(2 * q + 1)]) + ")";
        throw DistributedError(text);
      }
  }
  broadcast_parameters(*module_, 0);
  impl_ = std::make_shared<Impl>();
  impl_->options = options;
  impl_->world = s.world;
  impl_->build(named);
  if (s.world == 1) return;  // one rank: its gradients are the average already
  if (options.progress_thread && s.thread_level >= MPI_THREAD_MULTIPLE)
    impl_->start_progress_thread();
  std::weak_ptr<Impl> weak = impl_;
  for (size_t k = 0; k < impl_->params.size(); ++k)
    impl_->params[k].register_post_accumulate_grad_hook([weak, k](const Tensor&) {
      if (auto impl = weak.lock()) impl->on_ready(k, impl);
    });
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  impl_->abandon_step();
  if (impl_->options.broadcast_buffers && module_->is_training() && impl_->world > 1) {
    NoGradGuard no_grad;
    for (auto& [name, b] : module_->named_buffers()) {
      Tensor t = b;
      broadcast(t, 0);
    }
  }
  return module_->forward(x);
}

void DistributedDataParallel::set_gradient_sync(bool on) { impl_->sync = on; }
bool DistributedDataParallel::gradient_sync() const { return impl_->sync; }

std::vector<std::vector<std::string>> DistributedDataParallel::bucket_names() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& b : impl_->buckets) {
    out.emplace_back();
    for (size_t k : b.params) out.back().push_back("module." + impl_->names[k]);
  }
  return out;
}

DDPStats DistributedDataParallel::stats() const { return impl_->stats; }
void DistributedDataParallel::reset_stats() { impl_->stats = DDPStats(); }

void broadcast_parameters(nn::Module& module, int root) {
  NoGradGuard no_grad;
  for (auto& [name, p] : module.named_parameters()) {
    Tensor t = p;
    broadcast(t, root);
  }
  for (auto& [name, b] : module.named_buffers()) {
    Tensor t = b;
    broadcast(t, root);
  }
}

}  // namespace ndgrad::distributed
