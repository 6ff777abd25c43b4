#pragma once
// Data-parallel training across processes and machines on MPI: the library ndgrad::distributed
// (target ndgrad_distributed, built when CMake finds MPI; the core library never depends on it).
// Start the program under mpirun (docs/DISTRIBUTED.md):
//
//   ndgrad::distributed::Environment env(&argc, &argv);        // MPI up; down when env goes
//   nn::Sequential model = ...;                               // the same seeds on every rank
//   distributed::DistributedDataParallel ddp(model);          // rank 0's parameters everywhere
//   data::BatchIterator batches(x, y, 64, true, seed, {env.rank(), env.world_size()});
//   for (auto [xb, yb] : batches) {                           // a disjoint shard per rank
//     Tensor loss = nn::cross_entropy(ddp(xb), yb);
//     optimizer.zero_grad();
//     loss.backward();   // gradients averaged over the ranks, reduced while backward runs
//     optimizer.step();  // the same update on every rank
//   }
//
// MPI is not in this header: a program that includes it needs no MPI headers of its own.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ndgrad/error.hpp"
#include "ndgrad/nn.hpp"
#include "ndgrad/tensor.hpp"

namespace ndgrad::distributed {

// A collective that cannot complete or was called inconsistently: tensors whose shapes or
// dtypes differ across ranks (checking mode), a collective that did not complete within the
// timeout, MPI's own errors, a call before an Environment exists.
class DistributedError : public Error {
 public:
  using Error::Error;
};

struct Options {
  // Seconds a collective may wait for the other ranks. Past it, the waiting rank prints which
  // collective on which tensor did not complete and why that happens (another rank failed,
  // exited or is not calling it), then stops every rank (MPI_Abort: a partial collective
  // leaves no state to go on from). 0: wait forever. The environment variable
  // NDGRAD_DISTRIBUTED_TIMEOUT (seconds) overrides the value given.
  double timeout_seconds = 600;
  // Each collective first compares what every rank passes (the op, dtype, shape and root; one
  // small all-gather): a difference is a DistributedError on every rank naming each rank's
  // tensor, where MPI would hang or read out of bounds. NDGRAD_DISTRIBUTED_CHECK=1 turns it on.
  bool check = false;
  // ndgrad's threads in this process (set_num_threads) when the Environment starts; 0: the
  // machine's cores divided by the ranks on it (at least 1), so ranks do not fight for cores.
  int num_threads = 0;
};

// RAII: initializes MPI (threads supported: MPI_THREAD_MULTIPLE when MPI provides it) and
// finalizes it when destroyed; while it lives the collectives below work. One at a time in a
// process; MPI initialized by the program before it is used as it is and not finalized here.
// Also makes checkpoints rank 0's alone (TrainingState::every_rank asks otherwise). Destroyed
// while an exception unwinds out of a collective that failed, it aborts the job (MPI cannot be
// finalized then) after printing the error.
class Environment {
 public:
  explicit Environment(int* argc = nullptr, char*** argv = nullptr, Options options = {});
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  int rank() const;
  int world_size() const;
  // The name MPI gives this process's machine.
  std::string processor_name() const;
};

// Whether an Environment is alive; this process's rank and the number of ranks (0 and 1 when
// none is).
bool is_initialized();
int rank();
int world_size();
// The options in force (the environment variables applied); set_options changes them for the
// collectives that follow (every rank must set the same check).
const Options& options();
void set_options(const Options& options);

// ---- collectives on tensors: every rank calls each, in the same order ----
// Any dtype (bool: sum and max are or, min is and; f16/bf16 reduce in float32 and round once;
// mean needs a floating dtype), any shape, contiguous or not (a contiguous tensor is reduced
// in its own memory; another goes through one contiguous copy). The tensors are written in place
// like copy_: refused on a tensor that requires grad while grad mode is on, and a backward that
// reads a tensor written since the forward is refused. DistributedError without an Environment.

enum class ReduceOp { sum, mean, max, min };
const char* reduce_op_name(ReduceOp op);

// t becomes the elementwise reduction of every rank's t.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum);
// t becomes rank root's t.
void broadcast(Tensor& t, int root = 0);
// Every rank's t stacked along a new first axis: (world_size, *t.shape), rank i's at [i].
Tensor all_gather(const Tensor& t);
// t's first axis, of world_size * k rows, reduced across ranks; this rank gets its block of k
// rows (rank i rows [i k, (i + 1) k)): shape (k, *t.shape[1:]). ShapeError when the first axis
// does not divide by world_size.
Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum);
// Returns once every rank has called it.
void barrier();

// ---- data-parallel training ----

struct DDPOptions {
  // Gradients are reduced in buckets of about this many megabytes (2^20 bytes), parameters in
  // reverse registration order (the order backward finishes them): a bucket is sent as soon as
  // its last gradient is final, while backward goes on with the earlier layers.
  double bucket_cap_mb = 25;
  // The first bucket's cap: small, so that communication starts early (PyTorch's 1 MB).
  double first_bucket_cap_mb = 1;
  // Rank 0's buffers (batch norm's running statistics) are sent to every rank before each
  // forward while the model is in training mode, so that every rank holds the same model.
  bool broadcast_buffers = true;
  // MPI advances a non-blocking reduction only inside MPI calls: without help a bucket sent
  // during backward moves only when a later gradient hook runs. This thread calls into MPI
  // (yielding between calls) while buckets are in flight, so they move while backward's
  // products run. It takes CPU time while it polls: for ranks with a core to spare. Needs
  // MPI_THREAD_MULTIPLE (ignored otherwise).
  bool progress_thread = false;
};

// What the last steps' reductions cost, summed since construction (or reset_stats()).
struct DDPStats {
  int64_t steps = 0;          // backward passes whose gradients were reduced
  int64_t buckets = 0;        // buckets sent
  int64_t bytes = 0;          // gradient bytes reduced (this rank's share of each bucket)
  double wait_seconds = 0;    // time backward's end waited for reductions still in flight
  double reduce_seconds = 0;  // from each bucket's send to its completion, summed
};

// Wraps a model for data-parallel training: makes every rank's parameters and buffers rank 0's
// (at construction), then in every backward pass averages each parameter's gradient over the
// ranks: a bucket of gradients is reduced (non-blocking MPI) as soon as backward has finished
// all of its gradients, overlapping the rest of backward (the last bucket, complete only when
// backward is, with the blocking call, which is faster); the pass waits for every bucket
// before it returns, so optimizer.step() sees the averaged gradients and makes the same update
// on every rank. Parameters that get no gradient in a step on one rank count as zero there; a
// parameter no rank gave a gradient keeps its .grad as it was. Buckets are sent in the same
// order on every rank whatever order backward finishes them in.
// A backward pass that fails (an exception) leaves its gradients unaveraged; the next forward
// through this object waits for what that pass sent and starts afresh. Run the model through this
// object. Its forward is the model's (after the buffers' broadcast); its parameters() are the
// model's,
// named "module.<name>" as PyTorch's. The model must be built the same way on every rank (same
// parameters, shapes and dtypes: checked at construction).
class DistributedDataParallel : public nn::Module {
 public:
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options = {});
  // The model is held by reference: it must outlive this object.
  explicit DistributedDataParallel(nn::Module& module, DDPOptions options = {});
  ~DistributedDataParallel() override;
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  Tensor forward(const Tensor& x) override;
  nn::Module& module() { return *module_; }

  // While false, backward only accumulates local gradients (gradient accumulation over several
  // batches); the first backward with it true again reduces the sums. Every rank must agree.
  void set_gradient_sync(bool on);
  bool gradient_sync() const;
  // The buckets: each one's parameter names, in the order they are sent.
  std::vector<std::vector<std::string>> bucket_names() const;
  DDPStats stats() const;
  void reset_stats();

 private:
  struct Impl;
  void init(DDPOptions options);
  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<Impl> impl_;  // the gradient hooks hold it weakly
};

// Sends rank root's values of every parameter and buffer of module to every rank (what
// DistributedDataParallel does at construction).
void broadcast_parameters(nn::Module& module, int root = 0);

}  // namespace ndgrad::distributed
